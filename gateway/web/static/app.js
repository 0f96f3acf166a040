/* firegw control room: a single page on the gateway's HTTP API and its Server-Sent Events feed.
 *
 * No framework and no build step, so it can be read file by file and served from a closed network: classic
 * scripts sharing one global scope, listed in order by index.html (core.js in the head, then i18n.js, alarms.js,
 * charts.js, board.js, estate.js, hazards.js, pages.js, then the pages that register themselves, then this one).
 * Every action goes through the API (and its permission checks); the page only decides what to show.
 * Views are functions of the URL hash: #/ board, #/estate/ID, #/alarms, #/hazards, #/hazard/ID,
 * #/device/ID, #/reports, #/todo, #/login, and those in EXTRA_VIEWS. This file routes and starts.
 */
"use strict";

// ---- router ------------------------------------------------------------------------------------------------

async function route() {
  formsDirty = false;
  routeGen += 1; // reads still outstanding for the page shown before are dropped (core.js api)
  const hash = location.hash || "#/";
  const [path] = hash.slice(1).split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  applyStaticText();
  refreshTodo();
  try {
    if (parts[0] === "login" || (session.authEnabled && !session.me)) return viewLogin();
    if (!parts.length) return await viewBoard();
    if (parts[0] === "estate") return await viewEstate(parts[1]);
    if (parts[0] === "alarms") return await viewAlarms();
    if (parts[0] === "hazards") return await viewHazards();
    if (parts[0] === "hazard") return await viewHazard(parts[1]);
    if (parts[0] === "device") return await viewDevice(parts[1]);
    if (parts[0] === "reports") return await viewReports();
    if (parts[0] === "todo") return await viewTodo();
    if (EXTRA_VIEWS[parts[0]]) return await EXTRA_VIEWS[parts[0]](...parts.slice(1));
    view().innerHTML = `<p class="error">404</p>`;
  } catch (err) {
    if (err.status !== 401) view().innerHTML = `<p class="error">${esc(err.message)}</p>`;
  }
}

// Live updates. The board patches the one tile an event concerns (no refetch: a wall of control-room
// screens must not turn every alarm into a request storm); other pages refetch, at most every 2 s, and only
// when the event concerns what they show. The board is also asked again once a minute for device counts, and
// patched the same way (board.js refreshBoard).
let pending = null;
/** Set while someone types in a form of the page: a live re-render would throw away what they typed. */
let formsDirty = false;
function rerenderSoon() {
  if (pending) return;
  pending = setTimeout(() => {
    pending = null;
    if (formsDirty || (document.activeElement && document.activeElement.closest && document.activeElement.closest("#view form"))) return;
    const h = location.hash || "#/";
    if (!h.startsWith("#/hazard/") && !h.startsWith("#/login") && !h.startsWith("#/reports") && !h.startsWith("#/hazards")) route();
  }, 2000);
}

const onBoard = () => ["", "#", "#/"].includes(location.hash);

function patchTile(estateId, change) {
  const estate = boardEstates.find((e) => e.id === estateId);
  if (!estate) return;
  change(estate);
  const tile = document.querySelector(`[data-testid="tile-${CSS.escape(estateId)}"]`);
  if (tile) replaceTile(tile, estate);
  updateEstate(estate); // its dot on the map (map.js)
  const counts = $("#board-counts");
  if (counts) counts.innerHTML = boardCounts(boardShown());
}

function onLive(kind, data) {
  const estateId = data.estate;
  if (onBoard()) {
    if (kind === "grade") patchTile(estateId, (e) => { e.grade = data; });
    if (kind === "alarm" && (data.action === "raise" || data.state === "closed")) {
      patchTile(estateId, (e) => { e.active_alarms = Math.max(0, e.active_alarms + (data.action === "raise" ? 1 : -1)); });
    }
    if (kind === "hazard" && (data.action === "report" || data.state === "closed")) {
      patchTile(estateId, (e) => { e.open_hazards = Math.max(0, e.open_hazards + (data.action === "report" ? 1 : -1)); });
    }
    return;
  }
  const h = location.hash;
  if (h.startsWith("#/overview")) return; // it patches itself (overview.js)
  if (h.startsWith("#/estate/") && decodeURIComponent(h.split("/")[2] || "") !== estateId) return;
  if (h.startsWith("#/alarms") && kind !== "alarm") return;
  rerenderSoon();
}
listeners.grade.push((d) => onLive("grade", d));
listeners.hazard.push((d) => onLive("hazard", d));
listeners.alarm.push((d) => onLive("alarm", d));
listeners.hazard.push(() => refreshTodoSoon());
listeners.alarm.push(() => refreshTodoSoon());
setInterval(refreshTodo, 30000);
setInterval(() => { if (onBoard() && !pending) refreshBoard(); }, 60000);

document.addEventListener("click", (ev) => {
  const button = ev.target.closest("[data-alarm]");
  if (button) alarmAction(button.dataset.alarm, button.dataset.action);
});
$("#lang-toggle").onclick = () => { lang = lang === "zh" ? "en" : "zh"; localStorage.setItem("firegw.lang", lang); route(); renderAlarmBar(); };
$("#logout").onclick = async () => { await api("/api/auth/logout", { method: "POST" }).catch(() => null); session.me = null; location.hash = "#/login"; await loadSession(); };
window.addEventListener("hashchange", route);
setInterval(tickAlarmBar, 1000);
setInterval(beepLoop, 1500);
setInterval(refreshAlarms, 30000);

(async function start() {
  // The page's other scripts (index.html lists them after this one) register their views first.
  if (document.readyState === "loading") await new Promise((ok) => document.addEventListener("DOMContentLoaded", ok, { once: true }));
  applyStaticText();
  try { await loadSession(); } catch (err) { view().innerHTML = `<p class="error">${esc(err.message)}</p>`; return; }
  if (session.me || !session.authEnabled) { connectLive(); refreshAlarms(); } // in parallel with the first view
  await route();
})();
