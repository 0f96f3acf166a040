/* The board (小区看板): one tile per estate with its grade, patched in place by live events. */
"use strict";

// ---- views -----------------------------------------------------------------------------------------------

const view = () => $("#view");
let boardFilter = { district: "", street: "" };

async function viewBoard() {
  performance.mark("board-fetch");
  const hash = location.hash;
  const estates = await api("/api/estates"); // on a first load, asked while the page started (core.js)
  if (location.hash !== hash) return; // the page moved on while the estates were asked
  performance.mark("board-fetched");
  const districts = [...new Set(estates.map((e) => e.district).filter(Boolean))].sort();
  const streets = [...new Set(estates.filter((e) => !boardFilter.district || e.district === boardFilter.district).map((e) => e.street).filter(Boolean))].sort();
  boardEstates = estates;
  const shown = boardShown();
  // Worst first: a fire alarm, then red, yellow, not assessed, unknown, out of use, then green, so what needs
  // attention is on the first screen.
  const rank = { red: 0, yellow: 1, not_assessed: 2, unknown: 3, grey: 4, green: 5 };
  const ordered = [...shown].sort((a, b) => (b.active_alarms > 0) - (a.active_alarms > 0) ||
    (rank[a.grade ? a.grade.grade : "unknown"] ?? 3) - (rank[b.grade ? b.grade.grade : "unknown"] ?? 3) || a.id.localeCompare(b.id));
  const option = (v, sel) => `<option value="${esc(v)}" ${v === sel ? "selected" : ""}>${esc(v || t("all"))}</option>`;
  view().innerHTML = `
    <h1>${esc(t("nav.board"))}</h1>
    <details class="filters-box" ${phoneLayout() && !boardFilter.district ? "" : "open"}><summary>${esc(t("filters"))}</summary><div class="filters">
      <label>${esc(t("district"))} <select id="f-district">${["", ...districts].map((d) => option(d, boardFilter.district)).join("")}</select></label>
      <label>${esc(t("street"))} <select id="f-street">${["", ...streets].map((s) => option(s, boardFilter.street)).join("")}</select></label>
    </div></details>
    <div class="summary-counts" id="board-counts">${boardCounts(shown)}</div>
    <div class="tiles" id="tiles">${ordered.slice(0, FIRST_SCREEN).map(tileHtml).join("")}</div>
    <div id="board-map"></div>`;
  performance.mark("board-rendered");
  // The first screen of tiles (worst estates first) is painted from this; the rest of a large city follows in
  // chunks once it is, so the first screen is not waiting for 2,000 tiles, nor for the map.
  const token = (boardToken += 1);
  const more = (from) => {
    const el = $("#tiles");
    if (!el || token !== boardToken) return;
    if (from < ordered.length) {
      el.insertAdjacentHTML("beforeend", ordered.slice(from, from + 400).map(tileHtml).join(""));
      setTimeout(() => more(from + 400), 0);
      return;
    }
    afterPaint(() => {
      performance.mark("board-painted");
      // The map (map.js: ECharts, 1 MB of script, loaded then) comes after every tile is painted.
      const map = $("#board-map");
      if (map && token === boardToken) estateMap(map, shown, { heading: t("map") });
    });
  };
  afterPaint(() => more(FIRST_SCREEN));
  $("#f-district").onchange = (e) => { boardFilter = { district: e.target.value, street: "" }; viewBoard(); };
  $("#f-street").onchange = (e) => { boardFilter.street = e.target.value; viewBoard(); };
}

/** Once a minute (a device going offline has no live event of its own): the estates asked again, and only the
 * tiles whose estate changed drawn again (app.js patchTile); an estate added or removed draws the board anew. */
async function refreshBoard() {
  const estates = await api("/api/estates", { background: true }).catch(() => null);
  if (!estates || !onBoard()) return;
  const shown = new Map(boardEstates.map((e) => [e.id, e]));
  if (estates.length !== shown.size || estates.some((e) => !shown.has(e.id))) { viewBoard(); return; }
  for (const e of estates) {
    if (JSON.stringify(e) !== JSON.stringify(shown.get(e.id))) patchTile(e.id, (old) => Object.assign(old, e));
  }
}

let boardEstates = [];
let boardToken = 0; // a newer render of the board stops an older one's chunks
const FIRST_SCREEN = 120;
const boardShown = () => boardEstates.filter((e) => (!boardFilter.district || e.district === boardFilter.district) && (!boardFilter.street || e.street === boardFilter.street));

function boardCounts(shown) {
  const count = (g) => shown.filter((e) => (e.grade ? e.grade.grade : "unknown") === g).length;
  const colours = ["red", "yellow", "green", "not_assessed", "unknown"];
  if (count("grey")) colours.push("grey");
  const fires = shown.filter((e) => e.active_alarms > 0).length;
  return `${fires ? `<span data-count="fire" class="count-fire">${esc(t("tile.fire estates"))} ${fires}</span>` : ""}
    ${colours.map((g) => `<span data-count="${g}">${gradeBadge(g)} ${count(g)}</span>`).join("")}
    <span>${esc(t("estates"))} ${shown.length}</span>`;
}

Object.assign(TEXT.zh, { "tile.more": "另有 {n} 项", "tile.fire": "火警 {n}", "tile.fire estates": "火警小区" });
Object.assign(TEXT.en, { "tile.more": "{n} more", "tile.fire": "FIRE {n}", "tile.fire estates": "Estates with a fire alarm" });

/** Lines of what decided the colour a tile shows; the rest is a count ("另有 N 项") and the estate page. */
const TILE_LINES = 3;

/** A grade reason as the physical problem, in one line: what is wrong, then where ("消火栓 水压不足 · 2号楼
 * 30层"), however many criteria it holds; a counted record, a condition or a floor by its sentence. */
function problemLine(r) {
  if (r.signal) {
    const kind = r.device_kind && r.device_kind !== "camera" ? `${deviceKindName(r.device_kind)} ` : "";
    return [kind + tOr("signal." + r.signal, r.signal), r.place].filter(Boolean).join(" · ");
  }
  if (r.detail) return [r.detail, r.place].filter(Boolean).join(" · ");
  return reasonText(r);
}

/** The decisive problems first (none on a green tile: nothing there decided it, and a yellow item's words
 * would read as a problem), then how many more there are. */
function tileLines(grade) {
  const reasons = grade ? grade.reasons || [] : [];
  const decisive = reasons.filter((r) => r.decisive);
  const lead = grade && grade.grade === "green" ? [] : decisive.length ? decisive : reasons;
  const lines = [...new Set(lead.map(problemLine))].slice(0, TILE_LINES);
  const all = new Set(reasons.map(problemLine));
  return { lines, more: Math.max(0, all.size - lines.length) };
}

function tileHtml(e) {
  const g = e.grade ? e.grade.grade : "unknown";
  const { lines, more } = tileLines(e.grade);
  const fire = e.active_alarms > 0;
  return `<a class="tile g-${esc(g)}${fire ? " fire" : ""}" href="#/estate/${encodeURIComponent(e.id)}" data-testid="tile-${esc(e.id)}" data-grade="${esc(g)}" data-fire="${e.active_alarms}">
    ${fire ? `<div class="tile-fire" data-tile-fire>${esc(tf("tile.fire", { n: e.active_alarms }))}</div>` : ""}
    <div class="name">${esc(e.name)} <span class="tile-code">${esc(e.id)}</span></div>
    <div class="grade">${esc(t("grade." + g))} · ${esc([e.district, e.street].filter(Boolean).join(" "))}</div>
    <ul class="problems">${lines.map((line) => `<li data-problem>${esc(line)}</li>`).join("")}
      ${more ? `<li class="more" data-more="${more}">${esc(tf("tile.more", { n: more }))}</li>` : ""}</ul>
    <div class="counts"><span>${esc(t("open hazards"))} ${e.open_hazards}</span><span>${esc(t("offline"))} ${e.devices.offline}</span>
      ${e.grade && e.grade.coverage != null ? `<span title="${esc(coverageText(e.grade))}">${esc(t("coverage"))} ${esc(pct(e.grade.coverage))}</span>` : ""}</div></a>`;
}

/** A live change to one tile, in place; a new fire alarm also moves it to the front, where nobody misses it. */
function replaceTile(tile, estate) {
  const wasFire = tile.classList.contains("fire");
  tile.insertAdjacentHTML("beforebegin", tileHtml(estate));
  const fresh = tile.previousElementSibling;
  tile.remove();
  if (estate.active_alarms > 0 && !wasFire) fresh.parentElement.prepend(fresh);
}
