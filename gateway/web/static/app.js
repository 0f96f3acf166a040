/* firegw control room: a single page on the gateway's HTTP API and its Server-Sent Events feed.
 *
 * No framework and no build step, so it can be read top to bottom and served from a closed network.
 * Every action goes through the API (and its permission checks); the page only decides what to show.
 * Views are functions of the URL hash: #/ board, #/estate/ID, #/alarms, #/hazards, #/hazard/ID,
 * #/device/ID, #/reports, #/login.
 */
"use strict";

// ---- i18n ------------------------------------------------------------------------------------------------

const TEXT = {
  zh: {
    brand: "消防物联网关 · 控制室", "nav.board": "小区看板", "nav.alarms": "报警", "nav.hazards": "隐患",
    "nav.reports": "报表", loading: "加载中…", logout: "退出", "sound.on": "🔔 声音开", "sound.off": "🔕 声音关",
    district: "区县", street: "街道", all: "全部", grade: "等级", reasons: "原因", "open hazards": "未销号隐患",
    offline: "离线设备", alarms: "报警", estates: "小区", map: "地图", devices: "设备", "grade history": "等级变化",
    acknowledge: "确认", dispatch: "派遣", on_scene: "到场", "close as": "关闭为", real_fire: "真实火警",
    false_alarm: "误报", test: "测试", fault: "设备故障", elapsed: "已过", "no open alarms": "当前无未处理报警",
    "file hazard": "上报隐患", criterion: "判定条目", location: "位置", description: "描述", photo: "照片",
    reporter: "上报人", submit: "提交", deadline: "整改期限", state: "状态", overdue: "已逾期", source: "来源",
    responsible: "责任单位", reason: "说明", evidence: "整改凭证", actions: "操作", history: "处理记录",
    actor: "操作人", time: "时间", "only open": "仅未销号", "only overdue": "仅逾期", device: "设备", kind: "类型",
    online: "在线", signals: "当前信号", "clock wrong": "设备时钟有误（按接收时间存储），偏差", seconds: "秒", "last messages": "最近消息", "state history": "状态历史",
    "rejected payloads": "被拒绝的报文", pressure: "水压 (MPa)", battery: "电量 (%)", signal: "信号 (dBm)",
    placard: "公示牌", "monthly report": "月度报表", month: "月份", company: "物业公司", download: "下载",
    username: "用户名", password: "密码", login: "登录", "login failed": "登录失败", since: "自",
    "grade.red": "红色", "grade.yellow": "黄色", "grade.green": "绿色", "grade.grey": "灰色", "grade.unknown": "未知",
    "state.reported": "已上报", "state.dispatched": "已分流", "state.rectifying": "整改中", "state.rectified": "已整改",
    "state.closed": "已销号", "state.open": "未确认", "state.acknowledged": "已确认", "state.on_scene": "已到场",
    "act.dispatch": "分流派遣", "act.start": "开始整改", "act.rectified": "整改完成", "act.verify": "验收销号",
    "act.reject": "验收不通过", "act.close": "关闭", "act.note": "备注", "act.recheck": "回头看",
    "act.report": "上报", "act.escalate": "逾期督办", "act.auto_close": "设备恢复自动销号",
    "kind.smoke_detector": "烟感", "kind.hydrant": "消火栓水压", "kind.camera": "摄像头",
    "targets": "目标：1 分钟确认 · 3 分钟到场 · 5 分钟处置", "saved": "已保存", "yes": "是", "no": "否",
    "fire alarm": "火警", "tolerated": "容忍范围内", "stale": "数据过旧", "rule": "判定依据", "open": "未关闭", "all alarms": "全部报警",
  },
  en: {
    brand: "firegw · control room", "nav.board": "Estates", "nav.alarms": "Alarms", "nav.hazards": "Hazards",
    "nav.reports": "Reports", loading: "Loading…", logout: "Log out", "sound.on": "🔔 Sound on",
    "sound.off": "🔕 Sound off", district: "District", street: "Street", all: "All", grade: "Grade",
    reasons: "Reasons", "open hazards": "Open hazards", offline: "Offline devices", alarms: "Alarms",
    estates: "Estates", map: "Map", devices: "Devices", "grade history": "Grade history",
    acknowledge: "Acknowledge", dispatch: "Dispatch", on_scene: "On scene", "close as": "Close as",
    real_fire: "Real fire", false_alarm: "False alarm", test: "Test", fault: "Device fault", elapsed: "Elapsed",
    "no open alarms": "No open alarms", "file hazard": "File a hazard", criterion: "Criterion",
    location: "Location", description: "Description", photo: "Photo", reporter: "Reporter", submit: "Submit",
    deadline: "Deadline", state: "State", overdue: "Overdue", source: "Source", responsible: "Responsible party",
    reason: "Reason", evidence: "Evidence", actions: "Actions", history: "History", actor: "Actor", time: "Time",
    "only open": "Open only", "only overdue": "Overdue only", device: "Device", kind: "Kind", online: "Online",
    signals: "Active signals", "clock wrong": "Device clock wrong (stored at receive time), off by", seconds: "s",
    "last messages": "Last messages", "state history": "State history",
    "rejected payloads": "Rejected payloads", pressure: "Pressure (MPa)", battery: "Battery (%)",
    signal: "Signal (dBm)", placard: "Placard", "monthly report": "Monthly report", month: "Month",
    company: "Property company", download: "Download", username: "Username", password: "Password",
    login: "Log in", "login failed": "Login failed", since: "since",
    "grade.red": "Red", "grade.yellow": "Yellow", "grade.green": "Green", "grade.grey": "Grey",
    "grade.unknown": "Unknown", "state.reported": "Reported", "state.dispatched": "Dispatched",
    "state.rectifying": "Rectifying", "state.rectified": "Rectified", "state.closed": "Closed",
    "state.open": "Open", "state.acknowledged": "Acknowledged", "state.on_scene": "On scene",
    "act.dispatch": "Dispatch", "act.start": "Start rectification", "act.rectified": "Rectified",
    "act.verify": "Verify and close", "act.reject": "Reject", "act.close": "Close", "act.note": "Note",
    "act.recheck": "Re-check", "act.report": "Reported", "act.escalate": "Escalated (overdue)",
    "act.auto_close": "Closed automatically (device recovered)", "kind.smoke_detector": "Smoke detector", "kind.hydrant": "Hydrant",
    "kind.camera": "Camera", targets: "Targets: acknowledge 1 min · on scene 3 min · handled 5 min",
    "fire alarm": "FIRE", saved: "Saved", yes: "yes", no: "no", tolerated: "Tolerated", stale: "Inputs too old", rule: "Decided by",
    open: "Open", "all alarms": "All alarms",
  },
};
let lang = localStorage.getItem("firegw.lang") || "zh";
const t = (key) => (TEXT[lang] && TEXT[lang][key]) || TEXT.en[key] || key;
const esc = (v) => String(v ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
const $ = (sel, root = document) => root.querySelector(sel);
const fmtTime = (iso) => (iso ? new Date(iso).toLocaleString(lang === "zh" ? "zh-CN" : "en-GB", { hour12: false }) : "");
const gradeBadge = (g) => `<span class="badge g-${esc(g)}" data-grade="${esc(g)}">${esc(t("grade." + g))}</span>`;

function applyStaticText() {
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  document.title = t("brand");
  document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
  $("#lang-toggle").textContent = lang === "zh" ? "EN" : "中文";
  $("#sound-toggle").textContent = t(sound.enabled ? "sound.on" : "sound.off");
}

// ---- API -------------------------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, body) { super(body && body.detail ? body.detail : `HTTP ${status}`); this.status = status; }
}

async function api(path, options = {}) {
  const init = { credentials: "same-origin", headers: {}, ...options };
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

const session = { me: null, authEnabled: true, policy: null };

async function loadSession() {
  try {
    session.me = await api("/api/auth/me", { quiet401: true });
    session.authEnabled = true;
  } catch (err) {
    session.me = null;
    if (err.status === 404) session.authEnabled = false; // accounts disabled on this gateway
    else if (err.status !== 401) throw err; // 401: not signed in yet
  }
  $("#whoami").textContent = session.me ? `${session.me.display_name || session.me.username} (${session.me.role})` : "";
  $("#logout").hidden = !session.me;
}

const can = (permission) => !session.authEnabled || !session.me || (session.me.permissions || []).includes(permission);

// ---- live feed and alarms ----------------------------------------------------------------------------------

const alarms = new Map(); // id -> alarm
const shownAt = new Map(); // id -> Date.now() when the alarm first appeared on screen
window.firegwAlarmLog = []; // the same, as a list bench/ui_bench.py reads (alarm on screen vs. device message)
const sound = { enabled: false, ctx: null, timer: null };

function beepLoop() {
  const unacked = [...alarms.values()].some((a) => a.state === "open");
  if (!sound.enabled || !unacked || !sound.ctx) return;
  const osc = sound.ctx.createOscillator();
  const gain = sound.ctx.createGain();
  osc.frequency.value = 880;
  gain.gain.value = 0.15;
  osc.connect(gain).connect(sound.ctx.destination);
  osc.start();
  osc.stop(sound.ctx.currentTime + 0.35);
}

async function refreshAlarms() {
  try {
    const open = await api("/api/alarms?open=true");
    alarms.clear();
    open.forEach((a) => alarms.set(a.id, stamp(a)));
  } catch (err) { return; }
  renderAlarmBar();
}

/** Elapsed time runs on the gateway's clock (which a demo accelerates): its figure plus real time since. */
function stamp(alarm) { alarm._fetched = Date.now(); return alarm; }
const elapsedOf = (a) => (a.elapsed_s || 0) + (Date.now() - a._fetched) / 1000;

function elapsedClass(seconds, alarm) {
  if (alarm.state === "open" && seconds > 60) return "late1";
  if (seconds > 300) return "late5";
  if (seconds > 180) return "late3";
  return "";
}

function mmss(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  return `${String(Math.floor(s / 60)).padStart(2, "0")}:${String(s % 60).padStart(2, "0")}`;
}

function renderAlarmBar() {
  const bar = $("#alarm-bar");
  if (!alarms.size) { bar.hidden = true; bar.innerHTML = ""; return; }
  bar.hidden = false;
  bar.innerHTML = [...alarms.values()].sort((a, b) => a.id - b.id).map((a) => {
    const since = elapsedOf(a);
    const where = [a.estate, a.building, a.floor != null ? `${a.floor}F` : "", a.location].filter(Boolean).join(" · ");
    const buttons = [];
    if (can("handle_alarm")) {
      if (a.state === "open") buttons.push(["acknowledge", t("acknowledge")]);
      if (a.state === "acknowledged") buttons.push(["dispatch", t("dispatch")]);
      if (a.state === "dispatched") buttons.push(["on_scene", t("on_scene")]);
      if (a.state !== "open") {
        for (const outcome of ["real_fire", "false_alarm", "test", "fault"]) buttons.push([`close:${outcome}`, `${t("close as")} ${t(outcome)}`]);
      }
    }
    if (!shownAt.has(a.id)) {
      shownAt.set(a.id, Date.now());
      window.firegwAlarmLog.push({ id: a.id, device: a.device, shownAt: shownAt.get(a.id) });
    }
    return `<div class="alarm ${a.state === "open" ? "unacked" : ""}" data-testid="alarm-${a.id}" data-state="${esc(a.state)}"
        data-device="${esc(a.device)}" data-received="${esc(a.received_at)}" data-shown-at="${shownAt.get(a.id)}">
      <span class="badge g-red">${esc(t("fire alarm"))}</span>
      <span class="where">${esc(where)}</span>
      <span class="muted">${esc(a.device)} · ${esc(t("state." + a.state))}</span>
      <span class="elapsed ${elapsedClass(since, a)}" data-alarm-elapsed="${a.id}" title="${esc(t("targets"))}">${mmss(since)}</span>
      <span class="actions">${buttons.map(([act, label]) => `<button type="button" data-alarm="${a.id}" data-action="${esc(act)}">${esc(label)}</button>`).join("")}</span>
    </div>`;
  }).join("");
}

/** Once a second: only the elapsed clocks change (a full re-render could swallow a click in progress). */
function tickAlarmBar() {
  document.querySelectorAll("[data-alarm-elapsed]").forEach((el) => {
    const a = alarms.get(Number(el.dataset.alarmElapsed));
    if (!a) return;
    const since = elapsedOf(a);
    el.textContent = mmss(since);
    el.className = `elapsed ${elapsedClass(since, a)}`;
  });
}

async function alarmAction(id, action) {
  const [act, outcome] = action.split(":");
  const body = { action: act };
  if (!session.me) body.actor = "control room";
  if (outcome) body.outcome = outcome;
  try {
    await api(`/api/alarms/${id}/transitions`, { json: body });
  } catch (err) { alert(err.message); }
  await refreshAlarms();
}

const listeners = { grade: [], hazard: [], alarm: [], device_event: [] };
let source = null;

function connectLive() {
  if (source) source.close();
  source = new EventSource("/api/live");
  source.addEventListener("open", () => { $("#live-status").className = "live-on"; });
  source.addEventListener("error", () => { $("#live-status").className = "live-off"; });
  source.addEventListener("alarm", (ev) => {
    const data = JSON.parse(ev.data);
    if (data.state === "closed") alarms.delete(data.id); else alarms.set(data.id, stamp(data));
    renderAlarmBar();
    listeners.alarm.forEach((fn) => fn(data));
  });
  for (const kind of ["grade", "hazard", "device_event"]) {
    source.addEventListener(kind, (ev) => listeners[kind].forEach((fn) => fn(JSON.parse(ev.data))));
  }
}

// ---- charts and map (inline SVG) -------------------------------------------------------------------------

function lineChart(points, { width = 640, height = 180, min = null, max = null, lines = [] } = {}) {
  if (!points.length) return `<p class="muted">—</p>`;
  const xs = points.map((p) => new Date(p[0]).getTime());
  const ys = points.map((p) => p[1]);
  const lo = Math.min(...ys, ...lines.map((l) => l.value), min ?? Infinity);
  const hi = Math.max(...ys, ...lines.map((l) => l.value), max ?? -Infinity);
  const pad = 28, x0 = Math.min(...xs), x1 = Math.max(...xs) || x0 + 1, span = (hi - lo) || 1;
  const X = (x) => pad + ((x - x0) / ((x1 - x0) || 1)) * (width - 2 * pad);
  const Y = (y) => height - pad - ((y - lo) / span) * (height - 2 * pad);
  const path = points.map((p, i) => `${i ? "L" : "M"}${X(xs[i]).toFixed(1)},${Y(p[1]).toFixed(1)}`).join(" ");
  const guides = lines.map((l) => `<line x1="${pad}" x2="${width - pad}" y1="${Y(l.value)}" y2="${Y(l.value)}" stroke="${l.color}" stroke-dasharray="4 3"/>
      <text x="${width - pad}" y="${Y(l.value) - 3}" font-size="10" text-anchor="end" fill="${l.color}">${esc(l.label)}</text>`).join("");
  return `<svg class="chart" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">
    <text x="4" y="${Y(hi) + 4}" font-size="10">${hi.toFixed(2)}</text><text x="4" y="${Y(lo)}" font-size="10">${lo.toFixed(2)}</text>
    <text x="${pad}" y="${height - 6}" font-size="10">${esc(fmtTime(points[0][0]))}</text>
    <text x="${width - pad}" y="${height - 6}" font-size="10" text-anchor="end">${esc(fmtTime(points[points.length - 1][0]))}</text>
    ${guides}<path d="${path}" fill="none" stroke="#1565c0" stroke-width="1.6"/></svg>`;
}

function estateMap(estates) {
  const placed = estates.filter((e) => e.latitude != null && e.longitude != null);
  if (!placed.length) return "";
  const w = 640, h = 360, pad = 20;
  const lats = placed.map((e) => e.latitude), lons = placed.map((e) => e.longitude);
  const [la0, la1, lo0, lo1] = [Math.min(...lats), Math.max(...lats), Math.min(...lons), Math.max(...lons)];
  const X = (lon) => pad + ((lon - lo0) / ((lo1 - lo0) || 1)) * (w - 2 * pad);
  const Y = (lat) => h - pad - ((lat - la0) / ((la1 - la0) || 1)) * (h - 2 * pad);
  const dots = placed.map((e) => {
    const g = e.grade ? e.grade.grade : "unknown";
    return `<a href="#/estate/${encodeURIComponent(e.id)}"><circle cx="${X(e.longitude)}" cy="${Y(e.latitude)}" r="8" class="dot" fill="var(--${g})" stroke="#fff" stroke-width="2"><title>${esc(e.name)} ${esc(t("grade." + g))}</title></circle></a>`;
  }).join("");
  return `<h2>${esc(t("map"))}</h2><svg class="map" width="${w}" height="${h}" data-testid="estate-map">${dots}</svg>`;
}

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
  // Worst first: red, yellow, unknown, then green, so what needs attention is on the first screen.
  const rank = { red: 0, yellow: 1, grey: 2, unknown: 3, green: 4 };
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
  return `${["red", "yellow", "green", "unknown"].map((g) => `<span>${gradeBadge(g)} ${count(g)}</span>`).join("")}
    <span>${esc(t("estates"))} ${shown.length}</span>`;
}

function tileHtml(e) {
  const g = e.grade ? e.grade.grade : "unknown";
  const reasons = e.grade ? e.grade.reasons.slice(0, 3).map((r) => `${r.codes.join(", ")}: ${r.text}`) : [];
  return `<a class="tile g-${esc(g)}" href="#/estate/${encodeURIComponent(e.id)}" data-testid="tile-${esc(e.id)}" data-grade="${esc(g)}">
    <div class="name">${esc(e.name)} <span class="muted" style="color:inherit;opacity:.8">${esc(e.id)}</span></div>
    <div class="grade">${esc(t("grade." + g))} · ${esc([e.district, e.street].filter(Boolean).join(" "))}</div>
    <div class="reasons">${reasons.map(esc).join("<br>")}</div>
    <div class="counts"><span>${esc(t("open hazards"))} ${e.open_hazards}</span><span>${esc(t("offline"))} ${e.devices.offline}</span>
      ${e.active_alarms ? `<span class="alarmcount">${esc(t("fire alarm"))} ${e.active_alarms}</span>` : ""}</div></a>`;
}

async function viewEstate(id) {
  const [estate, history, hazards, devices] = await Promise.all([
    api(`/api/estates/${encodeURIComponent(id)}`),
    api(`/api/estates/${encodeURIComponent(id)}/grade-history?limit=50`),
    api(`/api/hazards?open=true&estate_id=${encodeURIComponent(id)}`),
    api(`/api/devices?estate_id=${encodeURIComponent(id)}`),
  ]);
  const g = estate.grade ? estate.grade.grade : "unknown";
  const label = estate.grade ? (lang === "zh" ? estate.grade.meaning.zh : estate.grade.meaning.en) : "";
  const hydrants = devices.filter((d) => d.kind === "hydrant");
  view().innerHTML = `
    <h1>${esc(estate.name)} <span class="muted">${esc(estate.id)} · ${esc(estate.district)} ${esc(estate.street)} · ${esc(estate.property_company)}</span></h1>
    <div class="gradebox card" data-testid="estate-grade" data-grade="${esc(g)}">
      <span class="big g-${esc(g)}">${esc(t("grade." + g))}</span>
      <div><div>${esc(label)}</div><div class="muted">${esc(t("rule"))}: ${esc(estate.grade ? estate.grade.rule : "")}</div>
        <div class="muted">${estate.grade && estate.grade.tolerated.length ? esc(t("tolerated") + ": " + estate.grade.tolerated.join("; ")) : ""}</div></div>
      <span class="spacer"></span>
      <a href="/api/estates/${encodeURIComponent(id)}/placard.pdf">${esc(t("placard"))} PDF</a>
      <a href="/api/estates/${encodeURIComponent(id)}/placard.png">PNG</a>
    </div>
    <h2>${esc(t("reasons"))}</h2>
    <ul>${(estate.grade ? estate.grade.reasons : []).map((r) => `<li><b>${esc(r.codes.join(", "))}</b> ${esc(r.text)}</li>`).join("") || "<li class='muted'>—</li>"}</ul>
    <h2>${esc(t("open hazards"))} (${hazards.length})</h2>${hazardTable(hazards)}
    <div class="grid2">
      <div><h2>${esc(t("pressure"))}</h2>
        <select id="chart-device">${hydrants.map((d) => `<option value="${esc(d.id)}">${esc(d.id)} ${esc(d.location)}</option>`).join("")}</select>
        <div id="chart-pressure"></div><h2>${esc(t("battery"))}</h2><div id="chart-battery"></div></div>
      <div><h2>${esc(t("grade history"))}</h2>
        <table><tr><th>${esc(t("time"))}</th><th>${esc(t("grade"))}</th><th>${esc(t("reasons"))}</th></tr>
        ${history.map((h) => `<tr><td>${esc(fmtTime(h.at))}</td><td>${h.previous ? gradeBadge(h.previous) + " → " : ""}${gradeBadge(h.grade)}</td>
          <td>${h.reasons.map((r) => esc(r.codes.join(", ") + ": " + r.text)).join("<br>")}</td></tr>`).join("")}</table></div>
    </div>
    <h2>${esc(t("devices"))} (${devices.length})</h2>${deviceTable(devices)}`;
  const draw = async () => {
    const deviceId = $("#chart-device") && $("#chart-device").value;
    if (!deviceId) return;
    const device = hydrants.find((d) => d.id === deviceId);
    const [p, b] = await Promise.all([
      api(`/api/devices/${encodeURIComponent(deviceId)}/series?field=pressure_mpa&hours=24`),
      api(`/api/devices/${encodeURIComponent(deviceId)}/series?field=battery_pct&hours=168`),
    ]);
    const limits = (device && device.limits) || {};
    const guides = [];
    if (limits.pressure_min_mpa != null) guides.push({ value: limits.pressure_min_mpa, label: `min ${limits.pressure_min_mpa}`, color: "#c62828" });
    if (limits.pressure_max_mpa != null) guides.push({ value: limits.pressure_max_mpa, label: `max ${limits.pressure_max_mpa}`, color: "#ef6c00" });
    $("#chart-pressure").innerHTML = lineChart(p.points, { lines: guides });
    $("#chart-battery").innerHTML = lineChart(b.points, { min: 0, max: 100 });
  };
  if ($("#chart-device")) { $("#chart-device").onchange = draw; draw(); }
}

function hazardTable(hazards) {
  if (!hazards.length) return `<p class="muted">—</p>`;
  return `<table data-testid="hazard-table"><tr><th>#</th><th>${esc(t("criterion"))}</th><th>${esc(t("description"))}</th><th>${esc(t("state"))}</th>
    <th>${esc(t("deadline"))}</th><th>${esc(t("source"))}</th></tr>
    ${hazards.map((h) => `<tr class="${h.overdue ? "overdue" : ""}" data-hazard="${h.id}"><td><a href="#/hazard/${h.id}">${h.id}</a></td>
      <td><b>${esc(h.criterion)}</b> ${esc(h.criterion_text ? (lang === "zh" ? h.criterion_text.zh : h.criterion_text.en) : "")}</td>
      <td>${esc(h.description)}</td><td>${esc(t("state." + h.state))}</td>
      <td>${esc(fmtTime(h.deadline))}${h.overdue ? ` <b class="error">${esc(t("overdue"))}</b>` : ""}</td><td>${esc(h.source)}</td></tr>`).join("")}</table>`;
}

function deviceTable(devices) {
  return `<table><tr><th>${esc(t("device"))}</th><th>${esc(t("kind"))}</th><th>${esc(t("location"))}</th><th>${esc(t("online"))}</th><th>${esc(t("signals"))}</th></tr>
    ${devices.map((d) => `<tr><td><a href="#/device/${encodeURIComponent(d.id)}">${esc(d.id)}</a></td><td>${esc(t("kind." + d.kind))}</td>
      <td>${esc(d.location)}</td><td>${d.online === false ? `<b class="error">✗</b>` : "✓"}</td>
      <td>${d.active_signals.map((s) => esc(s.signal + (s.detail ? " (" + s.detail + ")" : ""))).join("<br>")}</td></tr>`).join("")}</table>`;
}

async function viewAlarms() {
  const list = await api("/api/alarms?limit=200");
  view().innerHTML = `<h1>${esc(t("nav.alarms"))}</h1><p class="muted">${esc(t("targets"))}</p>
    <table><tr><th>#</th><th>${esc(t("time"))}</th><th>${esc(t("device"))}</th><th>${esc(t("location"))}</th><th>${esc(t("state"))}</th>
      <th>${esc(t("acknowledge"))}</th><th>${esc(t("on_scene"))}</th><th>${esc(t("close as"))}</th></tr>
    ${list.map((a) => `<tr><td>${a.id}</td><td>${esc(fmtTime(a.received_at))}</td><td>${esc(a.device)}</td>
      <td>${esc([a.estate, a.building, a.location].filter(Boolean).join(" · "))}</td><td>${esc(t("state." + a.state))} ${a.outcome ? esc(t(a.outcome)) : ""}</td>
      <td>${a.ack_s != null ? mmss(a.ack_s) : ""}</td><td>${a.on_scene_s != null ? mmss(a.on_scene_s) : ""}</td><td>${a.close_s != null ? mmss(a.close_s) : ""}</td></tr>`).join("")}</table>`;
}

async function ensurePolicy() {
  if (!session.policy) session.policy = await api("/api/policy");
  return session.policy;
}

async function viewHazards() {
  const params = new URLSearchParams(location.hash.split("?")[1] || "");
  const openOnly = params.get("open") !== "false";
  const overdue = params.get("overdue") === "true";
  const [hazards, policy, estates] = await Promise.all([
    api(`/api/hazards?open=${openOnly}&overdue=${overdue}&limit=500`), ensurePolicy(), api("/api/estates"),
  ]);
  const criteria = policy.criteria.map((c) => `<option value="${esc(c.code)}">${esc(c.code)} ${esc(lang === "zh" ? c.zh : c.en)}</option>`).join("");
  view().innerHTML = `<h1>${esc(t("nav.hazards"))}</h1>
    <div class="filters"><label><input type="checkbox" id="f-open" ${openOnly ? "checked" : ""}> ${esc(t("only open"))}</label>
      <label><input type="checkbox" id="f-overdue" ${overdue ? "checked" : ""}> ${esc(t("only overdue"))}</label></div>
    ${hazardTable(hazards)}
    ${can("file_hazard") ? `<h2>${esc(t("file hazard"))}</h2>
    <form class="stack card" id="hazard-form">
      <label for="h-estate">${esc(t("estates"))}</label><select id="h-estate" name="estate_id">${estates.map((e) => `<option value="${esc(e.id)}">${esc(e.id)} ${esc(e.name)}</option>`).join("")}</select>
      <label for="h-criterion">${esc(t("criterion"))}</label><select id="h-criterion" name="criterion">${criteria}</select>
      <label for="h-location">${esc(t("location"))}</label><input id="h-location" name="location">
      <label for="h-description">${esc(t("description"))}</label><textarea id="h-description" name="description" required></textarea>
      <label for="h-photo">${esc(t("photo"))}</label><input id="h-photo" type="file" accept="image/jpeg,image/png,image/webp">
      ${session.me ? "" : `<label for="h-reporter">${esc(t("reporter"))}</label><input id="h-reporter" name="reporter" required>`}
      <div class="full"><button class="primary" type="submit">${esc(t("submit"))}</button> <span id="h-result"></span></div>
    </form>` : ""}`;
  const reload = () => { location.hash = `#/hazards?open=${$("#f-open").checked}&overdue=${$("#f-overdue").checked}`; };
  $("#f-open").onchange = reload;
  $("#f-overdue").onchange = reload;
  const form = $("#hazard-form");
  if (form) form.onsubmit = async (ev) => {
    ev.preventDefault();
    const body = { estate_id: $("#h-estate").value, criterion: $("#h-criterion").value, location: $("#h-location").value, description: $("#h-description").value };
    if ($("#h-reporter")) body.reporter = $("#h-reporter").value;
    try {
      const file = $("#h-photo").files[0];
      if (file) {
        const up = await fetch("/api/uploads", { method: "POST", body: file, headers: { "Content-Type": file.type }, credentials: "same-origin" });
        if (!up.ok) throw new ApiError(up.status, await up.json().catch(() => null));
        body.photo = (await up.json()).photo;
      }
      const created = await api("/api/hazards", { json: body });
      location.hash = `#/hazard/${created.id}`;
    } catch (err) { $("#h-result").innerHTML = `<span class="error">${esc(err.message)}</span>`; }
  };
}

const ACTION_PERMISSION = {
  dispatch: "dispatch_hazard", start: "rectify_hazard", rectified: "rectify_hazard", verify: "verify_hazard",
  reject: "verify_hazard", close: "verify_hazard", recheck: "verify_hazard", note: "note_hazard",
};

async function viewHazard(id) {
  const h = await api(`/api/hazards/${encodeURIComponent(id)}`);
  // auto_close and escalate are the gateway's own steps; people get the rest, as their role allows.
  const actions = h.allowed_actions.filter((a) => ACTION_PERMISSION[a] && can(ACTION_PERMISSION[a]));
  view().innerHTML = `<h1>#${h.id} ${esc(h.criterion)} ${esc(h.criterion_text ? (lang === "zh" ? h.criterion_text.zh : h.criterion_text.en) : "")}</h1>
    <div class="card" data-testid="hazard-detail" data-state="${esc(h.state)}">
      <p><b>${esc(t("state"))}:</b> <span id="hazard-state">${esc(t("state." + h.state))}</span> ${h.overdue ? `<b class="error">${esc(t("overdue"))}</b>` : ""}
        · <b>${esc(t("estates"))}:</b> <a href="#/estate/${encodeURIComponent(h.estate_id)}">${esc(h.estate_id)}</a>
        · <b>${esc(t("location"))}:</b> ${esc(h.location)} · <b>${esc(t("deadline"))}:</b> ${esc(fmtTime(h.deadline))}
        · <b>${esc(t("responsible"))}:</b> ${esc(h.responsible)}</p>
      <p>${esc(h.description)}</p>
      ${h.photo ? `<p><img src="/api/${esc(h.photo)}" alt="photo" style="max-width:320px;border-radius:6px"></p>` : ""}
      <div class="actions-row" id="hazard-actions">
        <input id="a-reason" placeholder="${esc(t("reason"))}">
        ${actions.includes("dispatch") ? `<input id="a-responsible" placeholder="${esc(t("responsible"))}">` : ""}
        ${actions.includes("start") ? `<input id="a-deadline" type="datetime-local" title="${esc(t("deadline"))}">` : ""}
        ${actions.includes("rectified") ? `<input id="a-evidence" placeholder="${esc(t("evidence"))}">` : ""}
        ${!session.me ? `<input id="a-actor" placeholder="${esc(t("actor"))}" value="control room">` : ""}
        ${actions.map((a) => `<button type="button" class="primary" data-hazard-action="${esc(a)}">${esc(t("act." + a))}</button>`).join("")}
        <span id="a-result"></span>
      </div>
    </div>
    <h2>${esc(t("history"))}</h2>
    <table><tr><th>${esc(t("time"))}</th><th>${esc(t("actions"))}</th><th>${esc(t("state"))}</th><th>${esc(t("actor"))}</th><th>${esc(t("reason"))}</th></tr>
      ${h.history.map((s) => `<tr><td>${esc(fmtTime(s.at))}</td><td>${esc(t("act." + s.action))}</td>
        <td>${esc(t("state." + s.to_state))}</td><td>${esc(s.actor)}</td><td>${esc(s.reason)} ${esc(Object.values(s.data || {}).join(" "))}</td></tr>`).join("")}</table>`;
  document.querySelectorAll("[data-hazard-action]").forEach((button) => {
    button.onclick = async () => {
      const action = button.dataset.hazardAction;
      const body = { action, reason: $("#a-reason").value };
      if ($("#a-actor")) body.actor = $("#a-actor").value;
      if (action === "dispatch") body.responsible = $("#a-responsible").value;
      if (action === "start" && $("#a-deadline").value) body.deadline = new Date($("#a-deadline").value).toISOString();
      if (action === "rectified") body.evidence = $("#a-evidence").value;
      try {
        await api(`/api/hazards/${h.id}/transitions`, { json: body });
        await viewHazard(h.id);
      } catch (err) { $("#a-result").innerHTML = `<span class="error">${esc(err.message)}</span>`; }
    };
  });
}

async function viewDevice(id) {
  const d = await api(`/api/devices/${encodeURIComponent(id)}`);
  const recent = await api(`/api/devices/${encodeURIComponent(id)}/recent?limit=20`);
  view().innerHTML = `<h1>${esc(d.id)} <span class="muted">${esc(t("kind." + d.kind))} · <a href="#/estate/${encodeURIComponent(d.estate_id)}">${esc(d.estate_id)}</a> · ${esc(d.location)}</span></h1>
    <div class="card"><b>${esc(t("online"))}:</b> ${d.online === false ? `<b class="error">✗</b>` : "✓"}
      · ${esc(t("signals"))}: ${d.active_signals.map((s) => esc(`${s.signal} ${s.detail}`)).join("; ") || "—"}
      · ${esc(fmtTime(d.last_seen))} · ${esc(JSON.stringify(d.metrics))}
      ${d.clock_offset_s == null ? "" : `<div class="error" id="clock-wrong">${esc(t("clock wrong"))} ${esc(Math.round(d.clock_offset_s).toLocaleString())} ${esc(t("seconds"))}</div>`}</div>
    <div class="grid2"><div><h2>${esc(t("last messages"))}</h2>
      <table><tr><th>${esc(t("time"))}</th><th></th><th></th></tr>${recent.map((p) => `<tr><td>${esc(fmtTime(p.time))}</td><td>${esc(p.measurement)}</td><td>${esc(JSON.stringify(p.fields))}</td></tr>`).join("")}</table></div>
    <div><h2>${esc(t("state history"))}</h2>
      <table><tr><th>${esc(t("time"))}</th><th></th><th></th></tr>${d.signal_history.map((s) => `<tr><td>${esc(fmtTime(s.at))}</td><td>${esc(s.signal)} ${s.active ? "▲" : "▼"}</td><td>${esc(s.detail)}</td></tr>`).join("")}</table></div></div>
    <h2>${esc(t("rejected payloads"))}</h2>
    <table><tr><th>${esc(t("time"))}</th><th>${esc(t("reason"))}</th><th></th></tr>${d.rejected.map((r) => `<tr><td>${esc(fmtTime(r.received_at))}</td><td>${esc(r.reason)}<br><span class="muted">${esc(r.detail)}</span></td><td><pre class="payload">${esc(r.payload)}</pre></td></tr>`).join("")}</table>
    <h2>${esc(t("open hazards"))}</h2>${hazardTable(d.hazards.filter((h) => h.state !== "closed"))}`;
}

async function viewReports() {
  const now = new Date();
  const month = `${now.getFullYear()}-${String(now.getMonth() + 1).padStart(2, "0")}`;
  const estates = await api("/api/estates");
  const districts = [...new Set(estates.map((e) => e.district).filter(Boolean))].sort();
  const companies = [...new Set(estates.map((e) => e.property_company).filter(Boolean))].sort();
  view().innerHTML = `<h1>${esc(t("monthly report"))}</h1>
    <form class="stack card" id="report-form">
      <label>${esc(t("month"))}</label><input id="r-month" type="month" value="${month}">
      <label>${esc(t("district"))}</label><select id="r-district"><option value="">${esc(t("all"))}</option>${districts.map((d) => `<option>${esc(d)}</option>`).join("")}</select>
      <label>${esc(t("company"))}</label><select id="r-company"><option value="">${esc(t("all"))}</option>${companies.map((c) => `<option>${esc(c)}</option>`).join("")}</select>
      <div class="full" id="r-links"></div></form>`;
  const links = () => {
    const q = new URLSearchParams({ month: $("#r-month").value });
    if ($("#r-district").value) q.set("district", $("#r-district").value);
    if ($("#r-company").value) q.set("company", $("#r-company").value);
    $("#r-links").innerHTML = ["pdf", "xlsx", "csv"].map((f) => `<a href="/api/reports/monthly?${q}&format=${f}">${esc(t("download"))} ${f.toUpperCase()}</a>`).join(" · ");
  };
  ["#r-month", "#r-district", "#r-company"].forEach((s) => { $(s).onchange = links; });
  links();
}

function viewLogin() {
  view().innerHTML = `<form class="stack card login" id="login-form">
    <label for="l-user">${esc(t("username"))}</label><input id="l-user" autocomplete="username" required>
    <label for="l-pass">${esc(t("password"))}</label><input id="l-pass" type="password" autocomplete="current-password" required>
    <div class="full"><button class="primary" type="submit">${esc(t("login"))}</button> <span id="l-result"></span></div></form>`;
  $("#login-form").onsubmit = async (ev) => {
    ev.preventDefault();
    try {
      await api("/api/auth/login", { json: { username: $("#l-user").value, password: $("#l-pass").value } });
      await loadSession();
      connectLive();
      refreshAlarms();
      if (!location.hash || location.hash === "#/" || location.hash === "#/login") {
        if (location.hash === "#/login") location.hash = "#/"; else await route();
      } else await route();
    } catch (err) { $("#l-result").innerHTML = `<span class="error">${esc(t("login failed"))}: ${esc(err.message)}</span>`; }
  };
}

// ---- router ------------------------------------------------------------------------------------------------

async function route() {
  const hash = location.hash || "#/";
  const [path] = hash.slice(1).split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  applyStaticText();
  try {
    if (parts[0] === "login" || (session.authEnabled && !session.me)) return viewLogin();
    if (!parts.length) return await viewBoard();
    if (parts[0] === "estate") return await viewEstate(parts[1]);
    if (parts[0] === "alarms") return await viewAlarms();
    if (parts[0] === "hazards") return await viewHazards();
    if (parts[0] === "hazard") return await viewHazard(parts[1]);
    if (parts[0] === "device") return await viewDevice(parts[1]);
    if (parts[0] === "reports") return await viewReports();
    view().innerHTML = `<p class="error">404</p>`;
  } catch (err) {
    if (err.status !== 401) view().innerHTML = `<p class="error">${esc(err.message)}</p>`;
  }
}

// Live updates. The board patches the one tile an event concerns (no refetch: a wall of control-room
// screens must not turn every alarm into a request storm); other pages refetch, at most every 2 s, and only
// when the event concerns what they show. The board is also refetched once a minute for device counts.
let pending = null;
function rerenderSoon() {
  if (pending) return;
  pending = setTimeout(() => {
    pending = null;
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
  if (tile) tile.outerHTML = tileHtml(estate);
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
  if (h.startsWith("#/estate/") && decodeURIComponent(h.split("/")[2] || "") !== estateId) return;
  if (h.startsWith("#/alarms") && kind !== "alarm") return;
  rerenderSoon();
}
listeners.grade.push((d) => onLive("grade", d));
listeners.hazard.push((d) => onLive("hazard", d));
listeners.alarm.push((d) => onLive("alarm", d));
setInterval(() => { if (onBoard() && !pending) viewBoard(); }, 60000);

document.addEventListener("click", (ev) => {
  const button = ev.target.closest("[data-alarm]");
  if (button) alarmAction(button.dataset.alarm, button.dataset.action);
});
$("#lang-toggle").onclick = () => { lang = lang === "zh" ? "en" : "zh"; localStorage.setItem("firegw.lang", lang); route(); renderAlarmBar(); };
$("#sound-toggle").onclick = () => {
  sound.enabled = !sound.enabled;
  if (sound.enabled && !sound.ctx) sound.ctx = new (window.AudioContext || window.webkitAudioContext)();
  applyStaticText();
};
$("#logout").onclick = async () => { await api("/api/auth/logout", { method: "POST" }).catch(() => null); session.me = null; location.hash = "#/login"; await loadSession(); };
window.addEventListener("hashchange", route);
setInterval(tickAlarmBar, 1000);
setInterval(beepLoop, 1500);
setInterval(refreshAlarms, 30000);

(async function start() {
  applyStaticText();
  try { await loadSession(); } catch (err) { view().innerHTML = `<p class="error">${esc(err.message)}</p>`; return; }
  if (session.me || !session.authEnabled) { connectLive(); refreshAlarms(); } // in parallel with the first view
  await route();
})();
