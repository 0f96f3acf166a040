/* What every page uses: the static texts of the header, the registries other scripts add pages and
 * hazard-page sections to, the API client and the signed-in session. */
"use strict";

function applyStaticText() {
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  document.title = t("brand");
  document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
  document.querySelectorAll("[data-i18n-title]").forEach((el) => { el.title = t(el.dataset.i18nTitle); });
  showWhoami();
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

async function api(path, options = {}) {
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
  if (!response.ok) {
    if (response.status === 401 && !options.quiet401 && !path.startsWith("/api/auth/login")) { location.hash = "#/login"; }
    throw new ApiError(response.status, body);
  }
  return body;
}

// ---- session ---------------------------------------------------------------------------------------------

const session = { me: null, authEnabled: true, policy: null, endedBecause: null };

async function loadSession() {
  try {
    session.me = await api("/api/auth/me", { quiet401: true });
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

const can = (permission) => !session.authEnabled || !session.me || (session.me.permissions || []).includes(permission);
