/* The to-do list (待办) with its header badge, a device's page, reports, and the sign-in form. */
"use strict";

// ---- to-do (待办): counts in the header of every page, and the list page ---------------------------------------

/** The "待办 N" badge in the header: a link to #/todo, made here so that every page has it. */
function todoBadge() {
  let badge = $("#todo-badge");
  if (!badge) {
    const nav = $("#top nav");
    if (!nav) return null;
    badge = document.createElement("a");
    badge.id = "todo-badge";
    badge.href = "#/todo";
    badge.dataset.testid = "todo-badge";
    nav.after(badge); // beside the menu, not in it: on a phone the menu folds away and the badge stays
  }
  return badge;
}

// ---- the header's menu on a phone (app.css folds the links and buttons into it below 700 px) --------------

/** A phone-sized screen (app.css's phone layout): filters start folded, tables are cards. */
const phoneLayout = () => window.matchMedia("(max-width: 700px)").matches;

/** Each cell of the page's tables gets its column's name (data-label), shown in front of it when app.css lays
 * a table out as cards on a phone. Every table once, when it appears. */
function labelCells(root) {
  root.querySelectorAll("table:not([data-labelled])").forEach((table) => {
    table.dataset.labelled = "1";
    const head = table.querySelector("tr");
    if (!head || !head.querySelector("th")) return;
    const names = [...head.children].map((cell) => (cell.textContent.trim() === "#" ? "" : cell.textContent.trim()));
    table.querySelectorAll("tr").forEach((row) => {
      if (row !== head) [...row.children].forEach((cell, i) => { if (names[i] && cell.tagName === "TD") cell.dataset.label = names[i]; });
    });
  });
}
new MutationObserver(() => { if (phoneLayout()) labelCells(view()); }).observe($("#view"), { childList: true, subtree: true });

function toggleMenu(open = !document.body.classList.contains("menu-open")) {
  document.body.classList.toggle("menu-open", open);
  const button = $("#menu-toggle");
  if (button) button.setAttribute("aria-expanded", String(open));
}
if ($("#menu-toggle")) $("#menu-toggle").onclick = () => toggleMenu();
window.addEventListener("hashchange", () => toggleMenu(false));

async function refreshTodo() {
  const badge = todoBadge();
  if (!badge) return;
  if (session.authEnabled && !session.me) { badge.hidden = true; return; }
  try {
    const c = await api("/api/todo/counts", { quiet401: true, background: true });
    badge.hidden = false;
    badge.dataset.count = String(c.total);
    badge.textContent = `${t("todo")} ${c.total}`;
    badge.classList.toggle("error", c.unacknowledged_alarms > 0);
  } catch (err) { badge.hidden = true; }
}

let todoTimer = null;
function refreshTodoSoon() {
  if (todoTimer) return;
  todoTimer = setTimeout(() => { todoTimer = null; refreshTodo(); }, 1500);
}

Object.assign(TEXT.zh, {
  "pg.act": "处理", "pg.alarm act": "去处理", "pg.last message": "最后消息", "pg.values": "数值",
  "pg.reading": "定时上报", "pg.raw": "原始报文", "pg.menu": "菜单", "pg.signal change": "状态变化",
  "pg.became active": "出现", "pg.resolved": "恢复", filters: "筛选",
  "m.battery_pct": "电量", "m.signal_dbm": "信号", "m.pressure_mpa": "水压", "m.temperature_c": "温度",
  "m.smoke_obscuration": "烟雾浓度", "m.uptime_s": "运行时长", "m.fault_code": "故障码", "m.company": "厂家代码",
  "m.sensor_fault": "传感器故障", "m.leak": "漏水", "m.cover_open": "箱门/阀门打开", "m.low_battery": "电量低",
  "m.device_clock_offset_s": "设备时钟偏差", "m.confidence": "置信度", "m.object": "目标", "m.alive": "在线",
  "m.state": "状态", "m.start": "开始", "m.end": "结束",
  "chart.pressure_mpa": "水压 (MPa)", "chart.battery_pct": "电量 (%)", "chart.signal_dbm": "信号 (dBm)",
  "m.vehicle": "车辆", "m.debris": "杂物", "m.ebike": "电动自行车", "m.person": "人员", estate: "小区",
});
Object.assign(TEXT.en, {
  "pg.act": "Open", "pg.alarm act": "Handle", "pg.last message": "Last message", "pg.values": "Values",
  "pg.reading": "periodic report", "pg.raw": "Raw payload", "pg.menu": "Menu", "pg.signal change": "State change",
  "pg.became active": "started", "pg.resolved": "ended", filters: "Filters",
  "m.battery_pct": "battery", "m.signal_dbm": "signal", "m.pressure_mpa": "pressure", "m.temperature_c": "temperature",
  "m.smoke_obscuration": "smoke", "m.uptime_s": "uptime", "m.fault_code": "fault code", "m.company": "maker code",
  "m.sensor_fault": "sensor fault", "m.leak": "leak", "m.cover_open": "cabinet/valve open", "m.low_battery": "battery low",
  "m.device_clock_offset_s": "device clock off by", "m.confidence": "confidence", "m.object": "object", "m.alive": "alive",
  "m.state": "state", "m.start": "start", "m.end": "end",
  "chart.pressure_mpa": "Pressure (MPa)", "chart.battery_pct": "Battery (%)", "chart.signal_dbm": "Signal (dBm)",
  "m.vehicle": "vehicle", "m.debris": "debris", "m.ebike": "e-bike", "m.person": "person", estate: "Estate",
});

async function viewTodo() {
  const todo = await api("/api/todo");
  // One card per row on a phone (table.cards): what, where, how urgent, and the button that opens it.
  const hazardRow = (h) => `<tr data-todo-hazard="${h.id}" class="${h.overdue ? "overdue" : ""}">
    <td class="id"><a href="#/hazard/${h.id}">#${h.id}</a> · ${estateNameLink(h.estate_id, h.estate_name)}</td>
    <td><b>${esc(hazardText(h))}</b><div class="muted">${esc(h.location)}</div><div class="muted">${hazardCriterion(h)}</div></td>
    <td>${esc(t("state." + h.state))}${h.overdue ? ` <b class="error">${esc(t("overdue"))}</b>` : ""}</td><td>${esc(h.responsible)}</td>
    <td>${esc(fmtTime(h.deadline || h.recheck_due))}</td>
    <td class="act"><a class="button primary" href="#/hazard/${h.id}">${esc(t("pg.act"))}</a></td></tr>`;
  const alarmRow = (a) => `<tr data-todo-alarm="${a.id}"><td class="id"><a href="#/alarms">#${a.id}</a> · ${estateNameLink(a.estate, a.estate_name)}</td>
    <td>${esc(a.location || a.device)}</td>
    <td>${esc(alarmState(a.state))}</td><td colspan="2">${esc(fmtTime(a.received_at))}</td>
    <td class="act"><a class="button primary" href="#/alarms">${esc(t("pg.alarm act"))}</a></td></tr>`;
  const section = (l) => `<section class="card" data-todo-list="${esc(l.key)}"><h2>${esc(lang === "zh" ? l.zh : l.en)} <span class="badge" data-count="${l.count}">${l.count}</span></h2>
    ${l.count ? `<table class="cards"><tbody>${l.hazards.map(hazardRow).join("")}${l.alarms.map(alarmRow).join("")}</tbody></table>` : `<p class="muted">—</p>`}</section>`;
  view().innerHTML = `<h1>${esc(t("todo"))} <span class="muted">${todo.total}</span></h1>
    ${todo.total ? "" : `<p class="muted">${esc(t("todo.none"))}</p>`}${todo.lists.map(section).join("")}`;
}

// ---- one device: its state in words, charts, last messages, state history ---------------------------------

/** Charts per device kind: field and hours shown. */
const DEVICE_CHARTS = {
  hydrant: [["pressure_mpa", 24], ["battery_pct", 168]],
  smoke_detector: [["battery_pct", 168], ["signal_dbm", 168]],
};
const METRIC_UNITS = { battery_pct: "%", signal_dbm: " dBm", pressure_mpa: " MPa", temperature_c: " °C", smoke_obscuration: " %/m", uptime_s: " s", device_clock_offset_s: " s", confidence: "" };
/** Stored fields that say nothing to a person (a count of 1 per event, an id, a time in seconds). */
const HIDDEN_FIELDS = new Set(["count", "event_id", "since_s", "snapshot", "active", "value", "detail"]);

/** A message's or a device's values in words: "电量 11% · 信号 -106 dBm"; a true flag by its name. */
function metricsText(fields) {
  return Object.entries(fields || {}).filter(([k, v]) => !HIDDEN_FIELDS.has(k) && v !== false && v != null).map(([k, v]) => {
    const name = t("m." + k);
    if (v === true) return name;
    if (typeof v === "number") return `${name} ${Number.isInteger(v) ? v : v.toFixed(k === "pressure_mpa" ? 3 : 1)}${METRIC_UNITS[k] ?? ""}`;
    return `${name} ${t("m." + v) === "m." + v ? v : t("m." + v)}`;
  }).join(" · ");
}

/** What a stored message was: an event by name, a rule's state change, or a periodic report. */
function messageKind(p) {
  if (p.event) return t("event." + p.event);
  if (p.signal) return `${t("signal." + p.signal)} ${t(p.fields.active ? "pg.became active" : "pg.resolved")}`;
  return t("pg.reading");
}

const signalText = (s) => [t("signal." + s.signal), pick(s.detail_text)].filter(Boolean).join("：");

async function viewDevice(id) {
  const d = await api(`/api/devices/${encodeURIComponent(id)}`);
  const [recent, windows, estate] = await Promise.all([
    api(`/api/devices/${encodeURIComponent(id)}/recent?limit=20`),
    api(`/api/windows?estate_id=${encodeURIComponent(d.estate_id)}&active=true`).catch(() => []),
    api(`/api/estates/${encodeURIComponent(d.estate_id)}`).catch(() => null),
  ]);
  const w = coveredBy(d, windows);
  const charts = DEVICE_CHARTS[d.kind] || [];
  view().innerHTML = `<h1>${esc(t("kind." + d.kind))} ${esc(d.id)} ${w ? windowMark(w) : ""}</h1>
    <p class="hazard-estate">${estateNameLink(d.estate_id, estate && estate.name)} · ${esc(d.location)}</p>
    <div class="card device-state" data-testid="device-state"><b>${esc(t("online"))}:</b> ${d.online === false ? `<b class="error">✗</b>` : "✓"}
      · <b>${esc(t("pg.last message"))}:</b> ${esc(fmtTime(d.last_seen)) || "—"}
      · <span data-testid="device-metrics" data-battery="${esc(d.metrics.battery_pct ?? "")}">${esc(metricsText(d.metrics)) || "—"}</span>
      <div><b>${esc(t("signals"))}:</b> ${d.active_signals.map((s) => esc(signalText(s))).join("；") || "—"}</div>
      ${d.clock_offset_s == null ? "" : `<div class="error" id="clock-wrong">${esc(t("clock wrong"))} ${esc(Math.round(d.clock_offset_s).toLocaleString())} ${esc(t("seconds"))}</div>`}</div>
    ${charts.length ? `<div class="grid2">${charts.map(([field]) => `<div><h2>${esc(t("chart." + field))}</h2><div id="dchart-${field}" data-testid="chart-${field}"></div></div>`).join("")}</div>` : ""}
    <div class="grid2"><div><h2>${esc(t("last messages"))}</h2>
      <table data-testid="recent" class="cards"><thead><tr><th>${esc(t("time"))}</th><th>${esc(t("kind"))}</th><th>${esc(t("pg.values"))}</th></tr></thead>
        <tbody>${recent.map((p) => `<tr data-recent data-battery="${esc(p.fields.battery_pct ?? "")}"><td>${esc(fmtTime(p.time))}</td><td>${esc(messageKind(p))}</td><td>${esc(metricsText(p.fields))}</td></tr>`).join("")}</tbody></table></div>
    <div><h2>${esc(t("state history"))}</h2>
      <table class="cards"><thead><tr><th>${esc(t("time"))}</th><th>${esc(t("pg.signal change"))}</th></tr></thead><tbody>${d.signal_history.map((s) => `<tr><td>${esc(fmtTime(s.at))}</td>
        <td>${esc(t("signal." + s.signal))} ${esc(t(s.active ? "pg.became active" : "pg.resolved"))}
        ${s.window_id != null ? `<span class="badge g-window" data-window="${s.window_id}">${esc(t("in window"))}</span>` : ""}</td></tr>`).join("")}</tbody></table></div></div>
    ${d.rejected.length ? `<h2>${esc(t("rejected payloads"))}</h2>
    <table class="cards"><thead><tr><th>${esc(t("time"))}</th><th>${esc(t("reason"))}</th><th>${esc(t("pg.raw"))}</th></tr></thead><tbody>${d.rejected.map((r) => `<tr><td>${esc(fmtTime(r.received_at))}</td>
      <td>${esc(tOr("reject." + r.reason, r.reason))}</td>
      <td>${r.payload || r.detail ? `<details><summary>${esc(t("pg.raw"))}</summary><p class="muted">${esc(r.detail)}</p>${r.payload ? `<pre class="payload">${esc(r.payload)}</pre>` : ""}</details>` : ""}</td></tr>`).join("")}</tbody></table>` : ""}
    <h2>${esc(t("open hazards"))}</h2>${hazardTable(d.hazards.filter((h) => h.state !== "closed"))}`;
  charts.forEach(([field]) => drawDeviceChart(`#dchart-${field}`, d, field));
}

async function viewReports() {
  const now = new Date();
  const month = `${now.getFullYear()}-${String(now.getMonth() + 1).padStart(2, "0")}`;
  const estates = await api("/api/estates");
  const districts = [...new Set(estates.map((e) => e.district).filter(Boolean))].sort();
  const companies = [...new Set(estates.map((e) => e.property_company).filter(Boolean))].sort();
  view().innerHTML = `<h1>${esc(t("monthly report"))}</h1>
    <form class="stack card" id="report-form">
      <label for="r-month">${esc(t("month"))}</label><input id="r-month" type="month" value="${month}">
      <label for="r-district">${esc(t("district"))}</label><select id="r-district"><option value="">${esc(t("all"))}</option>${districts.map((d) => `<option>${esc(d)}</option>`).join("")}</select>
      <label for="r-company">${esc(t("company"))}</label><select id="r-company"><option value="">${esc(t("all"))}</option>${companies.map((c) => `<option>${esc(c)}</option>`).join("")}</select>
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
  // Why the last session ended (the live feed said so): shown until the next sign-in, whatever re-renders
  // this form meanwhile (a request answered 401 does too).
  if (session.endedBecause) {
    $("#l-result").innerHTML = `<span class="error" data-testid="session-ended">${esc(t("session.ended." + session.endedBecause))}</span>`;
  }
  $("#login-form").onsubmit = async (ev) => {
    ev.preventDefault();
    try {
      await api("/api/auth/login", { json: { username: $("#l-user").value, password: $("#l-pass").value } });
      session.endedBecause = null;
      await loadSession();
      connectLive();
      refreshAlarms();
      if (!location.hash || location.hash === "#/" || location.hash === "#/login") {
        if (location.hash === "#/login") location.hash = "#/"; else await route();
      } else await route();
    } catch (err) { $("#l-result").innerHTML = `<span class="error">${esc(t("login failed"))}: ${esc(err.message)}</span>`; }
  };
}
