/* What every page uses: the static texts of the header, the registries other scripts add pages and
 * hazard-page sections to, the API client and the signed-in session. */
"use strict";

function applyStaticText() {
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  document.title = t("brand");
  document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
  document.querySelectorAll("[data-i18n-title]").forEach((el) => { el.title = t(el.dataset.i18nTitle); });
  showWhoami();
  // Links to pages only some accounts may use (lockouts.js): shown to those signed in with the permission.
  document.querySelectorAll("[data-needs]").forEach((el) => {
    el.hidden = !session.me || !(session.me.admin || (session.me.permissions || []).includes(el.dataset.needs));
  });
  $("#lang-toggle").textContent = lang === "zh" ? "EN" : "中文";
  renderSoundButton();
}

/** Pages that live in their own script (gateway/web/static/*.js, loaded after this one by index.html):
 * ``EXTRA_VIEWS.name = async (...parts) => {...}`` serves ``#/name/...``; their texts go into ``TEXT``. */
const EXTRA_VIEWS = {};
/** Sections other scripts add to the hazard page: ``{ html: (hazard) => html, wire: (hazard, root) => {} }``,
 * drawn after the description and wired once the page is in the document. */
const HAZARD_SECTIONS = [];

// ---- API -------------------------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, body) { super(body && body.detail ? body.detail : `HTTP ${status}`); this.status = status; }
}

/** Bumped by every route (app.js): which page the URL shows now. */
let routeGen = 0;
/** What a view's read answers once the page has moved on: a promise that never settles, so the view that
 * asked stops where it waits and never draws over the page shown now (its `.catch` fallbacks do not run
 * either). Reads that are not a view's (the alarm bar, the to-do badge, live patches, the session) pass
 * ``background: true`` and are always answered. */
const MOVED_ON = () => new Promise(() => {});

async function api(path, options = {}) {
  const read = !options.method && options.json === undefined;
  const gen = routeGen;
  const movedOn = () => read && !options.background && gen !== routeGen;
  const early = read && takeEarly(path);
  if (early) {
    const { body, err } = await early;
    if (movedOn()) return MOVED_ON();
    if (!err) return body; // else asked again like any request (a sign-in may have come in between)
  }
  // X-Requested-With: the proof a write signed in by the session cookie comes from these pages (CSRF).
  const init = { credentials: "same-origin", ...options, headers: { "X-Requested-With": "firegw", ...(options.headers || {}) } };
  if (options.json !== undefined) {
    init.body = JSON.stringify(options.json);
    init.headers["Content-Type"] = "application/json";
    init.method = init.method || "POST";
  }
  const response = await fetch(path, init);
  if (response.status === 204) return null;
  const body = await response.json().catch(() => null);
  if (movedOn()) return MOVED_ON();
  if (!response.ok) {
    if (response.status === 401 && !options.quiet401 && !path.startsWith("/api/auth/login")) { location.hash = "#/login"; }
    throw new ApiError(response.status, body);
  }
  return body;
}

// ---- the first view's data, asked while the page's other scripts load ------------------------------------

/** What the first view of a route asks for (board.js, overview.js), by the route's first part (#/ -> "",
 * #/overview -> "overview"): asked as this script runs, answered when the view asks (``api`` takes it, once,
 * within 10 s). The session (GET /api/auth/me) is asked earlier still, by a preload in index.html. */
const FIRST_ASKS = {
  "": ["/api/estates"],
  overview: ["/api/overview", "/api/estates", "/api/overview/trends?hours=24", "/api/map"],
};
const earlyAsks = new Map();
for (const path of FIRST_ASKS[location.hash.slice(2).split(/[/?]/)[0]] || []) {
  earlyAsks.set(path, api(path, { quiet401: true, background: true }).then((body) => ({ body }), (err) => ({ err })));
  setTimeout(() => earlyAsks.delete(path), 10000);
}
function takeEarly(path) {
  const asked = earlyAsks.get(path);
  earlyAsks.delete(path);
  return asked;
}

// ---- session ---------------------------------------------------------------------------------------------

const session = { me: null, authEnabled: true, policy: null, endedBecause: null };

/** Who is signed in, asked as soon as this script runs (index.html preloads the answer, so the request is on
 * its way before any script): the first view waits for it. Taken by the first ``loadSession``. */
let sessionAsked = api("/api/auth/me", { quiet401: true, background: true }).then((me) => ({ me }), (err) => ({ err }));

/** The alarm sound's audio context (alarms.js unlockSound), made now, while the page waits for its other files:
 * making one takes 50-150 ms of the main thread, which the first paint would otherwise wait for. */
const earlyAudio = (() => { try { return window.AudioContext ? new AudioContext() : null; } catch (err) { return null; } })();

/** ``fn`` once the browser has painted what the page just drew (the frame after this one), or within half a
 * second where it paints no frame (a hidden tab): what can wait (the map) does not delay the first paint. */
function afterPaint(fn) {
  let done = false;
  const go = () => { if (!done) { done = true; fn(); } };
  requestAnimationFrame(() => setTimeout(go, 0));
  setTimeout(go, 500);
}

async function loadSession() {
  const asked = sessionAsked;
  sessionAsked = null;
  try {
    if (asked) {
      const { me, err } = await asked;
      if (err) throw err;
      session.me = me;
    } else session.me = await api("/api/auth/me", { quiet401: true, background: true });
    session.authEnabled = true;
  } catch (err) {
    session.me = null;
    if (err.status === 404) session.authEnabled = false; // accounts disabled on this gateway
    else if (err.status !== 401) throw err; // 401: not signed in yet
  }
  showWhoami();
  $("#logout").hidden = !session.me;
}

/** "值班员 王（消防救援大队）": the signed-in name and role, in the reader's language. */
function showWhoami() {
  const me = session.me;
  const role = me ? roleName(me.role) : "";
  $("#whoami").textContent = me ? `${me.display_name || me.username}${lang === "zh" ? `（${role}）` : ` (${role})`}` : "";
}

/** A link to a page of its own script in the header's nav (``#/name``, its text ``nav.name``), after the
 * link to ``after`` when there is one; ``needs``: shown only to accounts with that permission. */
function addNavLink(name, { after = "", needs = "" } = {}) {
  const nav = document.querySelector("#top nav");
  if (!nav || nav.querySelector(`a[href="#/${name}"]`)) return;
  const link = document.createElement("a");
  link.href = `#/${name}`;
  link.dataset.i18n = `nav.${name}`;
  link.textContent = t(`nav.${name}`);
  if (needs) { link.dataset.needs = needs; link.hidden = true; }
  const before = after && nav.querySelector(`a[href="#/${after}"]`);
  if (before) before.after(link); else nav.appendChild(link);
}

const can = (permission) => !session.authEnabled || !session.me || (session.me.permissions || []).includes(permission);
