/* The board (小区看板): one tile per estate with its grade, patched in place by live events. */
"use strict";

// ---- views -----------------------------------------------------------------------------------------------

const view = () => $("#view");
let boardFilter = { district: "", street: "" };

// The board is the first page most people open: ask for it while the page is still starting.
let boardPrefetch = ["", "#/", "#"].includes(location.hash) ? api("/api/estates").catch(() => null) : null;

async function viewBoard() {
  performance.mark("board-fetch");
  let estates = boardPrefetch ? await boardPrefetch : null;
  boardPrefetch = null;
  if (!estates) estates = await api("/api/estates");
  performance.mark("board-fetched");
  const districts = [...new Set(estates.map((e) => e.district).filter(Boolean))].sort();
  const streets = [...new Set(estates.filter((e) => !boardFilter.district || e.district === boardFilter.district).map((e) => e.street).filter(Boolean))].sort();
  boardEstates = estates;
  const shown = boardShown();
  // Worst first: red, yellow, not assessed, unknown, out of use, then green, so what needs attention is on
  // the first screen.
  const rank = { red: 0, yellow: 1, not_assessed: 2, unknown: 3, grey: 4, green: 5 };
  const ordered = [...shown].sort((a, b) =>
    (rank[a.grade ? a.grade.grade : "unknown"] ?? 3) - (rank[b.grade ? b.grade.grade : "unknown"] ?? 3) || a.id.localeCompare(b.id));
  const option = (v, sel) => `<option value="${esc(v)}" ${v === sel ? "selected" : ""}>${esc(v || t("all"))}</option>`;
  view().innerHTML = `
    <h1>${esc(t("nav.board"))}</h1>
    <div class="filters">
      <label>${esc(t("district"))} <select id="f-district">${["", ...districts].map((d) => option(d, boardFilter.district)).join("")}</select></label>
      <label>${esc(t("street"))} <select id="f-street">${["", ...streets].map((s) => option(s, boardFilter.street)).join("")}</select></label>
    </div>
    <div class="summary-counts" id="board-counts">${boardCounts(shown)}</div>
    <div class="tiles" id="tiles">${ordered.slice(0, FIRST_SCREEN).map(tileHtml).join("")}</div>
    <div id="board-map"></div>`;
  performance.mark("board-rendered");
  // The frame after this one is the first with the first screen of tiles painted (worst estates first).
  requestAnimationFrame(() => setTimeout(() => performance.mark("board-first-painted"), 0));
  // The rest of a large city follows in chunks, so the first screen is not waiting for 2,000 tiles.
  const token = (boardToken += 1);
  const more = (from) => {
    const el = $("#tiles");
    if (!el || token !== boardToken) return;
    if (from < ordered.length) {
      el.insertAdjacentHTML("beforeend", ordered.slice(from, from + 400).map(tileHtml).join(""));
      setTimeout(() => more(from + 400), 0);
      return;
    }
    requestAnimationFrame(() => setTimeout(() => performance.mark("board-painted"), 0));
    // The map (an SVG dot per estate) comes after the tiles are on screen.
    const map = $("#board-map");
    if (map) map.innerHTML = estateMap(shown);
  };
  setTimeout(() => more(FIRST_SCREEN), 0);
  $("#f-district").onchange = (e) => { boardFilter = { district: e.target.value, street: "" }; viewBoard(); };
  $("#f-street").onchange = (e) => { boardFilter.street = e.target.value; viewBoard(); };
}

let boardEstates = [];
let boardToken = 0; // a newer render of the board stops an older one's chunks
const FIRST_SCREEN = 120;
const boardShown = () => boardEstates.filter((e) => (!boardFilter.district || e.district === boardFilter.district) && (!boardFilter.street || e.street === boardFilter.street));

function boardCounts(shown) {
  const count = (g) => shown.filter((e) => (e.grade ? e.grade.grade : "unknown") === g).length;
  const colours = ["red", "yellow", "green", "not_assessed", "unknown"];
  if (count("grey")) colours.push("grey");
  return `${colours.map((g) => `<span data-count="${g}">${gradeBadge(g)} ${count(g)}</span>`).join("")}
    <span>${esc(t("estates"))} ${shown.length}</span>`;
}

function tileHtml(e) {
  const g = e.grade ? e.grade.grade : "unknown";
  // What decided the colour; the rest is on the estate page.
  const all = e.grade ? e.grade.reasons : [];
  const decisive = all.filter((r) => r.decisive);
  const reasons = (decisive.length ? decisive : all).slice(0, 3).map(reasonLine);
  return `<a class="tile g-${esc(g)}" href="#/estate/${encodeURIComponent(e.id)}" data-testid="tile-${esc(e.id)}" data-grade="${esc(g)}">
    <div class="name">${esc(e.name)} <span class="muted" style="color:inherit;opacity:.8">${esc(e.id)}</span></div>
    <div class="grade">${esc(t("grade." + g))} · ${esc([e.district, e.street].filter(Boolean).join(" "))}</div>
    <div class="reasons">${reasons.map(esc).join("<br>")}</div>
    <div class="counts"><span>${esc(t("open hazards"))} ${e.open_hazards}</span><span>${esc(t("offline"))} ${e.devices.offline}</span>
      ${e.grade && e.grade.coverage != null ? `<span title="${esc(coverageText(e.grade))}">${esc(t("coverage"))} ${esc(pct(e.grade.coverage))}</span>` : ""}
      ${e.active_alarms ? `<span class="alarmcount">${esc(t("fire alarm"))} ${e.active_alarms}</span>` : ""}</div></a>`;
}
