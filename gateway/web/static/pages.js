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
    nav.appendChild(badge);
  }
  return badge;
}

async function refreshTodo() {
  const badge = todoBadge();
  if (!badge) return;
  if (session.authEnabled && !session.me) { badge.hidden = true; return; }
  try {
    const c = await api("/api/todo/counts", { quiet401: true });
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

async function viewTodo() {
  const todo = await api("/api/todo");
  const hazardRow = (h) => `<tr data-todo-hazard="${h.id}" class="${h.overdue ? "overdue" : ""}"><td><a href="#/hazard/${h.id}">#${h.id}</a></td>
    <td><a href="#/estate/${encodeURIComponent(h.estate_id)}">${esc(h.estate_id)}</a></td><td>${esc(h.criterion)}</td>
    <td>${esc(t("state." + h.state))}</td><td>${esc(h.responsible)}</td><td>${esc(fmtTime(h.deadline || h.recheck_due))}</td></tr>`;
  const alarmRow = (a) => `<tr data-todo-alarm="${a.id}"><td><a href="#/alarms">#${a.id}</a></td>
    <td><a href="#/estate/${encodeURIComponent(a.estate)}">${esc(a.estate)}</a></td><td>${esc(a.location || a.device)}</td>
    <td>${esc(t("state." + a.state))}</td><td colspan="2">${esc(fmtTime(a.received_at))}</td></tr>`;
  const section = (l) => `<section class="card" data-todo-list="${esc(l.key)}"><h2>${esc(lang === "zh" ? l.zh : l.en)} <span class="badge" data-count="${l.count}">${l.count}</span></h2>
    ${l.count ? `<table>${l.hazards.map(hazardRow).join("")}${l.alarms.map(alarmRow).join("")}</table>` : `<p class="muted">—</p>`}</section>`;
  view().innerHTML = `<h1>${esc(t("todo"))} <span class="muted">${todo.total}</span></h1>
    ${todo.total ? "" : `<p class="muted">${esc(t("todo.none"))}</p>`}${todo.lists.map(section).join("")}`;
}

async function viewDevice(id) {
  const d = await api(`/api/devices/${encodeURIComponent(id)}`);
  const [recent, windows] = await Promise.all([
    api(`/api/devices/${encodeURIComponent(id)}/recent?limit=20`),
    api(`/api/windows?estate_id=${encodeURIComponent(d.estate_id)}&active=true`).catch(() => []),
  ]);
  const w = coveredBy(d, windows);
  view().innerHTML = `<h1>${esc(d.id)} <span class="muted">${esc(t("kind." + d.kind))} · <a href="#/estate/${encodeURIComponent(d.estate_id)}">${esc(d.estate_id)}</a> · ${esc(d.location)}</span> ${w ? windowMark(w) : ""}</h1>
    <div class="card"><b>${esc(t("online"))}:</b> ${d.online === false ? `<b class="error">✗</b>` : "✓"}
      · ${esc(t("signals"))}: ${d.active_signals.map((s) => esc(`${s.signal} ${s.detail}`)).join("; ") || "—"}
      · ${esc(fmtTime(d.last_seen))} · ${esc(JSON.stringify(d.metrics))}
      ${d.clock_offset_s == null ? "" : `<div class="error" id="clock-wrong">${esc(t("clock wrong"))} ${esc(Math.round(d.clock_offset_s).toLocaleString())} ${esc(t("seconds"))}</div>`}</div>
    <div class="grid2"><div><h2>${esc(t("last messages"))}</h2>
      <table><tr><th>${esc(t("time"))}</th><th></th><th></th></tr>${recent.map((p) => `<tr><td>${esc(fmtTime(p.time))}</td><td>${esc(p.measurement)}</td><td>${esc(JSON.stringify(p.fields))}</td></tr>`).join("")}</table></div>
    <div><h2>${esc(t("state history"))}</h2>
      <table><tr><th>${esc(t("time"))}</th><th></th><th></th></tr>${d.signal_history.map((s) => `<tr><td>${esc(fmtTime(s.at))}</td><td>${esc(s.signal)} ${s.active ? "▲" : "▼"}
        ${s.window_id != null ? `<span class="badge g-window" data-window="${s.window_id}">${esc(t("in window"))}</span>` : ""}</td><td>${esc(s.detail)}</td></tr>`).join("")}</table></div></div>
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
