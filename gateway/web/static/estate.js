/* One estate: its grade and why, green conditions and their evidence, placards, windows, complaints,
 * devices and hazards, and the forms that record them. */
"use strict";

async function viewEstate(id) {
  const q = encodeURIComponent(id);
  const [estate, history, hazards, devices, policy, health] = await Promise.all([
    api(`/api/estates/${q}`),
    api(`/api/estates/${q}/grade-history?limit=50&changes=${estatePrefs.allHistory ? "false" : "true"}`),
    api(`/api/hazards?open=true&estate_id=${q}`),
    api(`/api/devices?estate_id=${q}`),
    ensurePolicy(),
    api("/api/health").catch(() => null),
  ]);
  // The gateway's clock (a demo or test may run it faster than the wall clock): "days left" and windows.
  const now = new Date(health && health.now ? health.now : Date.now());
  const [windows, records, complaints] = await Promise.all([
    api(`/api/windows?estate_id=${q}&since=${encodeURIComponent(now.toISOString())}`).catch(() => []),
    api(`/api/estates/${q}/assessments`).catch(() => []),
    api(`/api/complaints?estate_id=${q}`).catch(() => []),
  ]);
  const grade = estate.grade;
  const g = grade ? grade.grade : "unknown";
  const label = grade ? pick(grade.meaning) : "";
  const rule = ruleText(grade);
  const hydrants = devices.filter((d) => d.kind === "hydrant");
  const batteryDevices = devices.filter((d) => BATTERY_KINDS.includes(d.kind))
    .sort((a, b) => (batteryOf(a) ?? 101) - (batteryOf(b) ?? 101) || a.id.localeCompare(b.id));
  // The charts open on what is failing: the hydrant with a pressure signal or an open hazard, the device
  // with the lowest battery.
  const shownHydrant = failingFirst(hydrants, hazards)[0];
  const active = windows.filter((w) => w.state === "active");
  const shownWindows = windows.filter((w) => w.state === "active" || w.state === "scheduled");
  const tasks = hazards.filter((h) => h.criterion === "maint");
  const items = hazards.filter((h) => h.criterion !== "maint");
  const reasons = grade ? grade.reasons : [];
  const decisive = reasons.filter((r) => r.decisive);
  // A green condition's own reason (no evidence, due, not met) is in the conditions table below, unless it
  // decided the colour.
  const greenCodes = new Set(policy.criteria.filter((c) => c.category === "green").map((c) => c.code));
  const conditionOnly = (r) => r.codes.length === 1 && !(r.hazards || []).length && greenCodes.has(r.codes[0]);
  const others = reasons.filter((r) => !r.decisive && !conditionOnly(r));
  view().innerHTML = `
    <h1>${esc(estate.name)} <small class="code">${esc(estate.id)}</small> <span class="muted">${esc(estate.district)} ${esc(estate.street)} · ${esc(estate.property_company)}</span></h1>
    <div class="gradebox card" data-testid="estate-grade" data-grade="${esc(g)}">
      <span class="big g-${esc(g)}">${esc(gradeLabel(g, grade))}</span>
      <div><div>${esc(label)}</div><div class="muted" data-testid="grade-rule">${esc(t("rule"))}: ${grade && grade.policy_name ? `${esc(lang === "zh" ? `《${pick(grade.policy_name)}》` : pick(grade.policy_name))} · ` : ""}${esc(rule)}</div>
        <div class="muted">${toleratedTexts(grade).length ? esc(t("tolerated") + ": " + toleratedTexts(grade).join("; ")) : ""}</div></div>
      <div class="beside">
        <div data-testid="coverage" class="${grade && grade.coverage != null && grade.coverage < 0.95 ? "warn" : ""}">${esc(coverageText(grade))}</div>
        <div data-testid="assessment">${assessmentText(grade, now)}</div>
      </div>
      <span class="spacer"></span>
      ${active.length ? `<div class="window-note" data-testid="active-windows">${active.map((w) => `${windowMark(w)} ${esc(w.target_id)} → ${esc(fmtTime(w.ends_at))}`).join("<br>")}</div>` : ""}
      <a href="/api/estates/${q}/placard.pdf">${esc(t("placard"))} PDF</a>
      <a href="/api/estates/${q}/placard.png">PNG</a>
    </div>
    <h2>${esc(t("reasons"))}</h2>
    <ul class="reasons" data-testid="reasons">${decisive.map((r) => `<li class="decisive"><span class="tag">${esc(t("decisive"))}</span> ${esc(reasonLine(r))}</li>`).join("")}
      ${others.map((r) => `<li>${esc(reasonLine(r))}</li>`).join("")}${decisive.length || others.length ? "" : "<li class='muted'>—</li>"}</ul>
    <div class="page-head"><h2>${esc(t("open hazards"))} (${items.length})</h2>
      ${can("file_hazard") ? `<a class="button" href="#/hazards?file=${q}" data-testid="file-hazard-here">${esc(t("hz.file"))}</a>` : ""}</div>${hazardTable(items)}
    <h2>${esc(t("maintenance tasks"))} (${tasks.length})</h2><div data-testid="maintenance-tasks">${hazardTable(tasks)}</div>
    <div class="grid2">
      <div>${hydrants.length ? `<h2>${esc(t("pressure"))}</h2>
        <label class="chart-pick" for="chart-device">${esc(t("ep.hydrant"))}
          <select id="chart-device">${hydrants.map((d) => deviceOption(d, shownHydrant, hazards)).join("")}</select></label>
        <div id="chart-pressure" data-testid="chart-pressure"></div>` : ""}
        ${batteryDevices.length ? `<h2>${esc(t("battery"))}</h2>
        <label class="chart-pick" for="battery-device">${esc(t("device"))}
          <select id="battery-device">${batteryDevices.map((d) => deviceOption(d, batteryDevices[0], hazards)).join("")}</select></label>
        <div id="chart-battery" data-testid="chart-battery"></div>` : ""}</div>
      <div><h2>${esc(t("grade history"))}</h2>
        <label class="inline-check"><input type="checkbox" id="history-all" ${estatePrefs.allHistory ? "checked" : ""}> ${esc(t("ep.history all"))}</label>
        ${gradeHistoryTable(history)}</div>
    </div>
    <h2>${esc(t("green conditions"))}</h2>${conditionsTable(grade, policy, now)}
    ${assessmentForm(policy, g === "not_assessed")}
    ${recordsTable(records, policy)}
    <h2>${esc(t("windows"))}</h2>${windowsTable(shownWindows, devices)}
    ${windowForm(estate, devices)}
    <h2>${esc(t("complaints"))} (${complaints.length})</h2>${complaintsTable(complaints)}
    ${statusControl(grade)}
    <div id="placard-postings" data-testid="placard-postings"></div>
    <h2>${esc(t("devices"))} (${devices.length})</h2>${deviceTable(devices, active)}`;
  wireEstateForms(estate, policy, devices, now);
  placardPostings(estate.id);
  $("#history-all").onchange = (ev) => { estatePrefs.allHistory = ev.target.checked; viewEstate(estate.id); };
  const pressure = $("#chart-device");
  if (pressure) {
    pressure.onchange = () => drawDeviceChart("#chart-pressure", hydrants.find((d) => d.id === pressure.value), "pressure_mpa");
    pressure.onchange();
  }
  const battery = $("#battery-device");
  if (battery) {
    battery.onchange = () => drawDeviceChart("#chart-battery", batteryDevices.find((d) => d.id === battery.value), "battery_pct");
    battery.onchange();
  }
}

// ---- charts and grade history ---------------------------------------------------------------------------

Object.assign(TEXT.zh, {
  "ep.hydrant": "消火栓", "ep.history all": "显示全部记录（含颜色和决定原因未变的）", "ep.added": "新增", "ep.removed": "消除",
  "ep.same colour": "颜色未变，决定原因变化", "ep.first": "首次评定", "ep.failing": "异常", "ep.no change": "无变化",
  "ep.what changed": "变化",
});
Object.assign(TEXT.en, {
  "ep.hydrant": "Hydrant", "ep.history all": "Show every row (also those where neither the colour nor the deciding reason changed)",
  "ep.added": "new", "ep.removed": "gone", "ep.same colour": "same colour, deciding reason changed", "ep.first": "first grade",
  "ep.failing": "failing", "ep.no change": "no change", "ep.what changed": "What changed",
});

/** Kept while the page is open: the grade history's "every row" choice. */
const estatePrefs = { allHistory: false };
/** Device kinds with a battery (charts: /api/devices/{id}/series?field=battery_pct). */
const BATTERY_KINDS = ["smoke_detector", "hydrant"];
const batteryOf = (d) => (typeof d.metrics.battery_pct === "number" ? d.metrics.battery_pct : null);
/** Signals about the water itself come first: they are what makes a hydrant fail, not its sensor. */
const PRESSURE_SIGNALS = ["hydrant_low_pressure", "hydrant_high_pressure", "hydrant_leak", "hydrant_pressure_drop"];

/** Devices, the failing ones first: a pressure signal, then an open hazard, another signal, offline. */
function failingFirst(devices, hazards) {
  const withHazard = new Set(hazards.map((h) => h.device_id).filter(Boolean));
  const rank = (d) => {
    if (d.active_signals.some((s) => PRESSURE_SIGNALS.includes(s.signal))) return 0;
    if (withHazard.has(d.id)) return 1;
    if (d.active_signals.length) return 2;
    return d.online === false ? 3 : 4;
  };
  return [...devices].sort((a, b) => rank(a) - rank(b) || a.id.localeCompare(b.id));
}

function deviceOption(d, selected, hazards) {
  const failing = d.active_signals.length || d.online === false || hazards.some((h) => h.device_id === d.id);
  const battery = batteryOf(d);
  const text = [d.id, d.location, battery != null ? `${battery}%` : "", failing ? `⚠ ${t("ep.failing")}` : ""].filter(Boolean).join(" · ");
  return `<option value="${esc(d.id)}" ${selected && d.id === selected.id ? "selected" : ""} data-failing="${failing ? "1" : "0"}">${esc(text)}</option>`;
}

/** One stored field of a device as a line chart in ``where`` (a hydrant's pressure with its limits). */
async function drawDeviceChart(where, device, field) {
  const box = $(where);
  if (!box || !device) return;
  const pressure = field === "pressure_mpa";
  try {
    const series = await api(`/api/devices/${encodeURIComponent(device.id)}/series?field=${field}&hours=${pressure ? 24 : 168}`);
    const limits = device.limits || {};
    const guides = [];
    if (pressure && limits.pressure_min_mpa != null) guides.push({ value: limits.pressure_min_mpa, label: `${t("chart.min")} ${limits.pressure_min_mpa}`, color: "#c62828" });
    if (pressure && limits.pressure_max_mpa != null) guides.push({ value: limits.pressure_max_mpa, label: `${t("chart.max")} ${limits.pressure_max_mpa}`, color: "#ef6c00" });
    box.dataset.points = String(series.points.length);
    box.dataset.device = device.id;
    box.innerHTML = lineChart(series.points, pressure ? { lines: guides } : field === "battery_pct" ? { min: 0, max: 100 } : {});
  } catch (err) { box.innerHTML = `<p class="error">${esc(err.message)}</p>`; }
}

/** The grade history, each row with what changed: the colour, and the deciding reasons that came or went. */
function gradeHistoryTable(history) {
  if (!history.length) return `<p class="muted">—</p>`;
  const lines = (list, key, cls) => list.map((r) => `<div class="${cls}"><span class="tag">${esc(t(key))}</span> ${esc(reasonLine(r))}</div>`).join("");
  return `<table data-testid="grade-history"><tr><th>${esc(t("time"))}</th><th>${esc(t("grade"))}</th><th>${esc(t("ep.what changed"))}</th></tr>
    ${history.map((h) => {
      const colour = h.colour_changed && h.previous ? `${gradeBadge(h.previous)} → ${gradeBadge(h.grade)}` : gradeBadge(h.grade);
      const note = !h.previous ? t("ep.first") : h.colour_changed ? "" : h.added.length || h.removed.length ? t("ep.same colour") : t("ep.no change");
      return `<tr data-history-row data-grade="${esc(h.grade)}" data-previous="${esc(h.previous || "")}">
        <td>${esc(fmtTime(h.at))}</td><td class="nowrap">${colour}${note ? `<div class="muted">${esc(note)}</div>` : ""}</td>
        <td>${lines(h.added, "ep.added", "hist-added")}${lines(h.removed, "ep.removed", "hist-removed")}</td></tr>`;
    }).join("")}</table>`;
}

// ---- placard postings (公示牌张贴): who posted which placard, when, with a photo; still current? ----------

const zhEn = (zh, en) => (lang === "zh" ? zh : en);

/** The estate's placard postings and the "张贴公示牌" form (photo + note), in #placard-postings. */
async function placardPostings(estateId) {
  const box = $("#placard-postings");
  if (!box) return;
  const url = `/api/estates/${encodeURIComponent(estateId)}/placard-postings`;
  let postings = [];
  try { postings = await api(url); } catch (err) { showError("#placard-postings", err); return; }
  const rows = postings.map((p) => `<tr data-testid="placard-posting">
      <td>${esc(fmtTime(p.posted_at))}</td><td>${esc(p.posted_by)}</td><td>${gradeBadge(p.colour)}</td>
      <td>${esc(fmtDate(p.graded_at))}</td>
      <td class="${p.current ? "ok" : "error"}" data-current="${p.current}">${esc(p.current ? zhEn("当前", "current") : zhEn("已过期，需更换", "out of date: replace it"))}</td>
      <td>${p.photo ? `<a href="/api/${esc(p.photo)}" target="_blank" rel="noopener">${esc(t("photo"))}</a>` : "—"}</td>
      <td>${esc(p.note)}</td><td><a href="${esc(p.check_url)}" target="_blank" rel="noopener">${esc(zhEn("核验页", "check page"))}</a></td></tr>`);
  const form = can("post_placard") ? `<form id="placard-form" class="card" data-testid="placard-form">
      <label>${esc(t("photo"))} <input type="file" id="pp-photo" name="photo" accept="image/jpeg,image/png,image/webp"></label>
      <label>${esc(zhEn("备注", "Note"))} <input id="pp-note" name="note" maxlength="2000"></label>
      ${session.authEnabled ? "" : `<label>${esc(t("actor"))} <input id="pp-by" name="posted_by" required></label>`}
      <button type="submit">${esc(zhEn("张贴公示牌", "Record posting"))}</button> <span id="pp-result"></span></form>` : "";
  box.innerHTML = `<h2>${esc(zhEn("公示牌张贴", "Placard postings"))} (${postings.length})</h2>${form}
    ${postings.length ? `<table><tr><th>${esc(zhEn("张贴时间", "Posted"))}</th><th>${esc(zhEn("张贴人", "By"))}</th>
      <th>${esc(zhEn("牌面颜色", "Colour on it"))}</th><th>${esc(zhEn("评定日期", "Graded on"))}</th><th>${esc(zhEn("是否最新", "Current?"))}</th>
      <th>${esc(t("photo"))}</th><th>${esc(zhEn("备注", "Note"))}</th><th></th></tr>${rows.join("")}</table>` : `<p class="muted">${esc(zhEn("尚无张贴记录", "no posting recorded yet"))}</p>`}`;
  const el = $("#placard-form");
  if (!el) return;
  el.onsubmit = async (ev) => {
    ev.preventDefault();
    const body = new FormData();
    const file = $("#pp-photo").files[0];
    if (file) body.append("photo", file);
    body.append("note", $("#pp-note").value);
    if ($("#pp-by")) body.append("posted_by", $("#pp-by").value);
    try {
      await api(url, { method: "POST", body });
      await placardPostings(estateId);
      const result = $("#pp-result");
      if (result) result.innerHTML = `<span class="ok">${esc(t("saved"))}</span>`;
    } catch (err) { showError("#pp-result", err); }
  };
}

const DAY_MS = 86400000;
/** "剩 12 天" / "已过期 3 天" from the gateway's clock. */
function daysLeft(iso, now) {
  if (!iso) return "";
  const days = Math.floor((new Date(iso).getTime() - now.getTime()) / DAY_MS);
  return days >= 0 ? tf("days left", { n: days }) : tf("days over", { n: -days });
}

function assessmentText(grade, now) {
  if (!grade || !grade.assessed_at) return `${esc(t("assessed"))}: <b class="error">${esc(t("not assessed yet"))}</b>`;
  const until = grade.assessment_valid_until;
  const over = until && new Date(until) <= now;
  return `${esc(t("assessed"))} ${esc(fmtDate(grade.assessed_at))} · ${esc(t("valid until"))} ${esc(fmtDate(until))}
    <span class="${over ? "error" : "muted"}">${esc(lang === "zh" ? `（${daysLeft(until, now)}）` : `(${daysLeft(until, now)})`)}</span>`;
}

const criterionName = (policy, code) => {
  const c = policy.criteria.find((x) => x.code === code);
  return c ? pick(c) : code;
};

function conditionsTable(grade, policy, now) {
  const rows = grade ? grade.conditions || [] : [];
  if (!rows.length) return `<p class="muted">—</p>`;
  return `<table data-testid="conditions"><tr><th>${esc(t("condition"))}</th><th>${esc(t("state"))}</th><th>${esc(t("evidence kind"))}</th>
      <th>${esc(t("date"))}</th><th>${esc(t("by"))}</th><th>${esc(t("valid until"))}</th></tr>
    ${rows.map((c) => {
      const source = policy.conditions && policy.conditions[c.code] ? pick(policy.conditions[c.code].source) : "";
      const against = c.contradicted_by && c.contradicted_by.length ? (lang === "zh" ? `（${c.contradicted_by.join("、")}）` : ` (${c.contradicted_by.join(", ")})`) : "";
      const expiry = c.valid_until ? `${esc(fmtDate(c.valid_until))} <span class="${new Date(c.valid_until) <= now ? "error" : "muted"}">${esc(daysLeft(c.valid_until, now))}</span>` : "—";
      return `<tr data-condition="${esc(c.code)}" data-state="${esc(c.state)}" class="cond-${esc(c.state)}">
        <td><b>${esc(c.code)}</b> ${esc(criterionName(policy, c.code))}</td>
        <td><span class="cstate s-${esc(c.state)}">${esc(t("cond." + c.state))}${esc(against)}</span></td>
        <td>${c.evidence_kind ? esc(t("ev." + c.evidence_kind)) + (c.record_id != null ? ` <span class="muted">#${c.record_id}</span>` : "") : "—"}</td>
        <td>${esc(fmtDate(c.at)) || "—"}</td><td>${esc(c.by) || "—"}</td>
        <td title="${esc(source)}">${expiry}</td></tr>`;
    }).join("")}</table>`;
}

const EVIDENCE_KINDS = ["assessment", "patrol", "drill", "maintenance_report", "duty_roster"];
const kindAllowed = (kind) => (kind === "assessment" ? can("record_assessment") : can("record_evidence"));

function assessmentForm(policy, open) {
  const kinds = EVIDENCE_KINDS.filter(kindAllowed);
  if (!kinds.length) return "";
  const greens = policy.criteria.filter((c) => c.category === "green");
  return `<details class="card formbox" id="assessment-box" ${open ? "open" : ""}><summary><b>${esc(t("record assessment"))}</b></summary>
    <form class="stack" id="assessment-form">
      <label for="as-kind">${esc(t("record kind"))}</label>
      <select id="as-kind" name="kind">${kinds.map((k) => `<option value="${k}">${esc(t("ev." + k))}</option>`).join("")}</select>
      <label for="as-at">${esc(t("at (empty: now)"))}</label><input id="as-at" name="at" type="datetime-local">
      <div class="full"><table class="checks" data-testid="assessment-conditions"><tr><th>${esc(t("condition"))}</th><th>${esc(t("met"))}</th><th>${esc(t("not met"))}</th></tr>
        ${greens.map((c) => `<tr data-code="${esc(c.code)}"><td><b>${esc(c.code)}</b> ${esc(pick(c))}</td>
          <td><input type="checkbox" name="met" value="${esc(c.code)}" aria-label="${esc(c.code)} ${esc(t("met"))}"></td>
          <td><input type="checkbox" name="not_met" value="${esc(c.code)}" aria-label="${esc(c.code)} ${esc(t("not met"))}"></td></tr>`).join("")}</table></div>
      <label for="as-note">${esc(t("note"))}</label><textarea id="as-note" name="note"></textarea>
      ${session.me ? "" : `<label for="as-by">${esc(t("by"))}</label><input id="as-by" name="by" required>`}
      <div class="full"><button class="primary" type="submit">${esc(t("submit"))}</button> <span id="as-result" data-testid="assessment-result"></span></div>
    </form></details>`;
}

/** Which conditions a kind of record may evidence (an assessment: every one; "not met" only an assessment). */
function syncAssessmentForm(policy) {
  const kind = $("#as-kind").value;
  document.querySelectorAll("#assessment-form tr[data-code]").forEach((row) => {
    const condition = policy.conditions ? policy.conditions[row.dataset.code] : null;
    const accepts = kind === "assessment" || !condition || (condition.evidence || []).includes(kind);
    const met = row.querySelector('[name="met"]');
    const notMet = row.querySelector('[name="not_met"]');
    met.disabled = !accepts;
    notMet.disabled = kind !== "assessment";
    if (met.disabled) met.checked = false;
    if (notMet.disabled) notMet.checked = false;
    row.classList.toggle("muted", !accepts);
  });
}

function recordsTable(records, policy) {
  if (!records.length) return "";
  const canVoid = can("record_assessment");
  return `<h2>${esc(t("records"))} (${records.length})</h2><table data-testid="records"><tr><th>#</th><th>${esc(t("record kind"))}</th><th>${esc(t("date"))}</th>
      <th>${esc(t("met"))}</th><th>${esc(t("not met"))}</th><th>${esc(t("by"))}</th><th>${esc(t("note"))}</th><th></th></tr>
    ${records.map((r) => `<tr class="${r.voided ? "voided" : ""}" data-record="${r.id}"><td>${r.id}</td><td>${esc(t("ev." + r.kind))}</td><td>${esc(fmtTime(r.at))}</td>
      <td>${esc(r.met.join(" "))}</td><td>${esc(r.not_met.join(" "))}</td><td>${esc(r.recorded_by)}</td>
      <td>${esc(r.note)}${r.voided ? ` <b class="error">${esc(t("voided"))}</b> <span class="muted">${esc(r.voided_by || "")}: ${esc(r.void_reason || "")}</span>` : ""}</td>
      <td>${canVoid && !r.voided ? `<button type="button" class="danger" data-destructive data-void-record="${r.id}">${esc(t("void"))}</button>` : ""}</td></tr>`).join("")}</table>`;
}

function coveredBy(device, windows) {
  return windows.find((w) => w.scope === "estate" || (w.scope === "building" && w.target_id === device.building_id) || (w.scope === "device" && w.target_id === device.id));
}

const windowMark = (w) => `<span class="badge g-window" data-window="${w.id}" title="${esc(w.reason)}">${esc(w.mark ? pick(w.mark) : t("in window"))}</span>`;

function windowsTable(windows, devices) {
  if (!windows.length) return `<p class="muted" data-testid="windows">${esc(t("no windows"))}</p>`;
  const canEnd = can("declare_window");
  return `<table data-testid="windows"><tr><th>#</th><th>${esc(t("scope"))}</th><th>${esc(t("target"))}</th><th>${esc(t("time"))}</th>
      <th>${esc(t("reason"))}</th><th>${esc(t("by"))}</th><th>${esc(t("state"))}</th><th></th></tr>
    ${windows.map((w) => `<tr data-window-row="${w.id}" data-state="${esc(w.state)}"><td>${w.id}</td><td>${esc(t("scope." + w.scope))}</td><td>${esc(w.target_id)}</td>
      <td>${esc(fmtTime(w.starts_at))} — ${esc(fmtTime(w.ends_at))}</td><td>${esc(w.reason)}</td><td>${esc(w.declared_by)}</td>
      <td>${w.state === "active" ? windowMark(w) : esc(t("window." + w.state))}</td>
      <td>${canEnd ? `<button type="button" data-end-window="${w.id}">${esc(t("end window"))}</button>` : ""}</td></tr>`).join("")}</table>`;
}

function windowForm(estate, devices) {
  if (!can("declare_window")) return "";
  const buildings = [...new Set(devices.map((d) => d.building_id).filter(Boolean))].sort();
  const durations = [[30, "30 " + t("minutes")], [60, "1 " + t("hours")], [120, "2 " + t("hours")], [240, "4 " + t("hours")], [480, "8 " + t("hours")], [1440, "24 " + t("hours")]];
  return `<details class="card formbox" id="window-box"><summary><b>${esc(t("declare window"))}</b></summary>
    <form class="stack" id="window-form" data-estate="${esc(estate.id)}">
      <label for="w-scope">${esc(t("scope"))}</label>
      <select id="w-scope"><option value="estate">${esc(t("scope.estate"))}</option><option value="building">${esc(t("scope.building"))}</option><option value="device">${esc(t("scope.device"))}</option></select>
      <label for="w-building">${esc(t("scope.building"))}</label><select id="w-building" disabled>${buildings.map((b) => `<option>${esc(b)}</option>`).join("")}</select>
      <label for="w-device">${esc(t("scope.device"))}</label><select id="w-device" disabled>${devices.map((d) => `<option value="${esc(d.id)}">${esc(d.id)} ${esc(d.location)}</option>`).join("")}</select>
      <label for="w-start">${esc(t("from"))}</label><input id="w-start" type="datetime-local">
      <label for="w-duration">${esc(t("duration"))}</label><select id="w-duration">${durations.map(([m, text]) => `<option value="${m}" ${m === 120 ? "selected" : ""}>${esc(text)}</option>`).join("")}</select>
      <label for="w-reason">${esc(t("reason"))}</label><input id="w-reason" placeholder="${esc(t("window.reason hint"))}">
      ${session.me ? "" : `<label for="w-by">${esc(t("by"))}</label><input id="w-by" required>`}
      <div class="full"><button class="primary" type="submit">${esc(t("submit"))}</button> <span id="w-result" data-testid="window-result"></span></div>
    </form></details>`;
}

function complaintsTable(complaints) {
  if (!complaints.length) return `<p class="muted">—</p>`;
  const canVoid = can("void_complaint");
  return `<table data-testid="complaints"><tr>${canVoid ? "<th></th>" : ""}<th>#</th><th>${esc(t("received"))}</th><th>${esc(t("channel"))}</th><th>${esc(t("description"))}</th>
      <th>${esc(t("reporter"))}</th><th>${esc(t("state"))}</th>${canVoid ? "<th></th>" : ""}</tr>
    ${complaints.map((c) => {
      const state = c.state || "counted";
      const counted = state === "counted";
      return `<tr data-complaint="${c.id}" data-state="${esc(state)}" class="${counted ? "" : "voided"}">
        ${canVoid ? `<td>${counted ? `<input type="checkbox" data-merge="${c.id}" aria-label="#${c.id}">` : ""}</td>` : ""}
        <td>${c.id}</td><td>${esc(fmtTime(c.received_at))}</td><td>${esc(c.channel)}</td><td>${esc(c.description)}</td><td>${esc(c.reporter)}</td>
        <td>${esc(t("c." + state))}${state === "merged" && c.merged_into != null ? esc(String(c.merged_into)) : ""}</td>
        ${canVoid ? `<td>${counted ? `<button type="button" class="danger" data-destructive data-void-complaint="${c.id}">${esc(t("void"))}</button>` : ""}</td>` : ""}</tr>`;
    }).join("")}</table>
    ${canVoid ? `<div class="actions-row"><button type="button" id="merge-complaints">${esc(t("merge selected"))}</button> <span id="c-result" data-testid="complaint-result"></span></div>` : ""}`;
}

function statusControl(grade) {
  if (!can("set_estate_status") || !grade) return "";
  const out = !!grade.out_of_use;
  return `<div class="actions-row"><span>${out ? `<b>${esc(t("out of use"))}</b>` : ""}</span>
    <button type="button" id="estate-status" data-out="${out ? "0" : "1"}">${esc(t(out ? "back in use" : "set out of use"))}</button> <span id="s-result"></span></div>`;
}

/** What a prompt returned, trimmed; null when cancelled. */
function ask(question) {
  const answer = window.prompt(question);
  return answer == null ? null : answer.trim();
}

Object.assign(TEXT.zh, {
  "ep.void record": "作废排查登记 #{id}：它将不再作为绿色条件的证明，小区等级随之重新判定（记录保留，标为已作废）。\n请填写作废原因（必填）：",
  "ep.void complaint": "作废投诉 #{id}：它将不再计入投诉次数（Y14/R6），小区等级随之重新判定（记录保留，标为已作废）。\n请填写作废原因（必填）：",
});
Object.assign(TEXT.en, {
  "ep.void record": "Void record #{id}: it stops counting as evidence for the green conditions and the estate is graded again (the record stays, marked void).\nWhy is it void? (required)",
  "ep.void complaint": "Void complaint #{id}: it stops counting towards Y14/R6 and the estate is graded again (the record stays, marked void).\nWhy is it void? (required)",
});

function showError(where, err) {
  const el = $(where);
  if (el) el.innerHTML = `<span class="error">${esc(err.message)}</span>`;
}

function wireEstateForms(estate, policy, devices, now) {
  const q = encodeURIComponent(estate.id);
  const reload = async () => { formsDirty = false; await viewEstate(estate.id); };
  document.querySelectorAll("#view form").forEach((form) => {
    form.addEventListener("input", () => { formsDirty = true; });
  });
  const form = $("#assessment-form");
  if (form) {
    $("#as-kind").onchange = () => syncAssessmentForm(policy);
    syncAssessmentForm(policy);
    form.onsubmit = async (ev) => {
      ev.preventDefault();
      const checked = (name) => [...form.querySelectorAll(`[name="${name}"]:checked`)].map((el) => el.value);
      const body = { kind: $("#as-kind").value, met: checked("met"), not_met: checked("not_met"), note: $("#as-note").value };
      if ($("#as-at").value) body.at = new Date($("#as-at").value).toISOString();
      if ($("#as-by")) body.by = $("#as-by").value;
      try {
        await api(`/api/estates/${q}/assessments`, { json: body });
        await reload();
        const result = $("#as-result");
        if (result) result.innerHTML = `<span class="ok">${esc(t("saved"))}</span>`;
      } catch (err) { showError("#as-result", err); }
    };
  }
  document.querySelectorAll("[data-void-record]").forEach((button) => {
    button.onclick = async () => {
      const reason = ask(tf("ep.void record", { id: button.dataset.voidRecord }));
      if (reason == null) return;
      try {
        await api(`/api/assessments/${button.dataset.voidRecord}/void`, { json: session.me ? { reason } : { reason, by: "control room" } });
        await reload();
      } catch (err) { alert(err.message); }
    };
  });
  const wform = $("#window-form");
  if (wform) {
    const sync = () => {
      $("#w-building").disabled = $("#w-scope").value !== "building";
      $("#w-device").disabled = $("#w-scope").value !== "device";
    };
    $("#w-scope").onchange = sync;
    sync();
    wform.onsubmit = async (ev) => {
      ev.preventDefault();
      const body = { estate_id: estate.id, reason: $("#w-reason").value };
      if ($("#w-scope").value === "building") body.building_id = $("#w-building").value;
      if ($("#w-scope").value === "device") body.device_id = $("#w-device").value;
      try {
        // From the gateway's clock, fetched now: the browser's may differ (a demo runs the gateway faster).
        // background: a step of a write, answered even if the page moves on meanwhile (core.js api).
        const health = await api("/api/health", { background: true }).catch(() => null);
        const gatewayNow = new Date(health && health.now ? health.now : Date.now());
        const start = $("#w-start").value ? new Date($("#w-start").value) : gatewayNow;
        if ($("#w-start").value) body.starts_at = start.toISOString();
        body.ends_at = new Date(start.getTime() + Number($("#w-duration").value) * 60000).toISOString();
        if ($("#w-by")) body.declared_by = $("#w-by").value;
        await api("/api/windows", { json: body });
        await reload();
      } catch (err) { showError("#w-result", err); }
    };
  }
  document.querySelectorAll("[data-end-window]").forEach((button) => {
    button.onclick = async () => {
      const reason = ask(t("end reason"));
      if (reason == null) return;
      try {
        await api(`/api/windows/${button.dataset.endWindow}/end`, { json: session.me ? { reason } : { reason, by: "control room" } });
        await reload();
      } catch (err) { alert(err.message); }
    };
  });
  document.querySelectorAll("[data-void-complaint]").forEach((button) => {
    button.onclick = async () => {
      const reason = ask(tf("ep.void complaint", { id: button.dataset.voidComplaint }));
      if (reason == null) return;
      try {
        await api(`/api/complaints/${button.dataset.voidComplaint}/void`, { json: session.me ? { reason } : { reason, by: "control room" } });
        await reload();
      } catch (err) { showError("#c-result", err); }
    };
  });
  const merge = $("#merge-complaints");
  if (merge) {
    merge.onclick = async () => {
      const ids = [...document.querySelectorAll("[data-merge]:checked")].map((el) => Number(el.dataset.merge)).sort((a, b) => a - b);
      if (ids.length < 2) { $("#c-result").innerHTML = `<span class="error">${esc(t("select two"))}</span>`; return; }
      const reason = ask(t("merge reason"));
      if (reason == null) return;
      const body = { into: ids[0], complaint_ids: ids.slice(1), reason };
      if (!session.me) body.by = "control room";
      try {
        await api("/api/complaints/merge", { json: body });
        await reload();
      } catch (err) { showError("#c-result", err); }
    };
  }
  const status = $("#estate-status");
  if (status) {
    status.onclick = async () => {
      const reason = ask(t("status reason"));
      if (reason == null) return;
      const body = { out_of_use: status.dataset.out === "1", reason };
      if (!session.me) body.by = "control room";
      try {
        await api(`/api/estates/${q}/status`, { json: body });
        await reload();
      } catch (err) { showError("#s-result", err); }
    };
  }
}

/** An estate by its name, with its code small beside it: a link to its page. */
const estateNameLink = (id, name) =>
  `<a href="#/estate/${encodeURIComponent(id)}" class="estate-name">${esc(name || id)}</a>${name ? ` <small class="code">${esc(id)}</small>` : ""}`;

/** A hazard's criterion in words: its code and text, or a maintenance task and the signal behind it. */
const hazardCriterion = (h) => (h.criterion === "maint"
  ? `<span class="badge g-maint">${esc(t("maint"))}</span> ${esc(h.signal ? t("signal." + h.signal) : "")}`
  : `<b>${esc(h.criterion)}</b> ${esc(pick(h.criterion_text))}`);

/** Hazards as a table; ``estate``: with the estate's name (lists across estates). On a phone each row is a
 * card (app.css, table.cards). */
function hazardTable(hazards, { estate = false } = {}) {
  if (!hazards.length) return `<p class="muted">—</p>`;
  return `<table data-testid="hazard-table" class="cards"><thead><tr><th>#</th>${estate ? `<th>${esc(t("estate"))}</th>` : ""}<th>${esc(t("criterion"))}</th>
    <th>${esc(t("description"))}</th><th>${esc(t("state"))}</th><th>${esc(t("deadline"))}</th><th>${esc(t("source"))}</th></tr></thead>
    <tbody>${hazards.map((h) => `<tr class="${h.overdue ? "overdue" : ""}" data-hazard="${h.id}"><td class="id"><a href="#/hazard/${h.id}">#${h.id}</a></td>
      ${estate ? `<td data-testid="hazard-estate">${estateNameLink(h.estate_id, h.estate_name)}</td>` : ""}
      <td>${hazardCriterion(h)}</td><td>${esc(hazardText(h))}</td><td>${esc(t("state." + h.state))}</td>
      <td>${esc(fmtTime(h.deadline))}${h.overdue ? ` <b class="error">${esc(t("overdue"))}</b>` : ""}</td><td>${esc(t("source." + h.source))}</td></tr>`).join("")}</tbody></table>`;
}

function deviceTable(devices, windows = []) {
  return `<table data-testid="devices"><tr><th>${esc(t("device"))}</th><th>${esc(t("kind"))}</th><th>${esc(t("location"))}</th><th>${esc(t("online"))}</th><th>${esc(t("signals"))}</th></tr>
    ${devices.map((d) => {
      const w = coveredBy(d, windows);
      return `<tr data-device-row="${esc(d.id)}" class="${w ? "in-window" : ""}"><td><a href="#/device/${encodeURIComponent(d.id)}">${esc(d.id)}</a> ${w ? windowMark(w) : ""}</td><td>${esc(t("kind." + d.kind))}</td>
      <td>${esc(d.location)}</td><td>${d.online === false ? `<b class="error">✗</b>` : d.online == null ? "—" : "✓"}</td>
      <td>${d.active_signals.map((s) => esc(t("signal." + s.signal))).join("<br>")}${w && d.active_signals.length ? " " + windowMark(w) : ""}</td></tr>`;
    }).join("")}</table>`;
}
