/* The quarterly assessment of property companies (季度考核): #/quarterly[/2026Q4[/company]].
 *
 * One request, GET /api/reports/quarterly (JSON, the caller's scope), drawn as: the rankings per street and
 * per district (the order they are ranked in is the report's own words), each company's figures, and links
 * to the same report as PDF and XLSX. A rate is a bar with its number; "—" where there is no rate.
 * Runs in app.js's scope (api, esc, t, tf, tOr, $, view, pick, EXTRA_VIEWS, TEXT; alarm causes: cause.*).
 */
"use strict";

Object.assign(TEXT.zh, {
  "nav.quarterly": "季度考核", "q.title": "物业企业季度考核", quarter: "季度", "q.all companies": "全部物业企业",
  "q.in progress": "本季度尚未结束（进行中），数据截至 {at}", "q.previous": "对比 {q}", "q.period": "统计期间",
  "q.by street": "按街道排名", "q.by district": "按区排名", "q.companies": "各物业企业", "q.total": "合计（本报表范围）",
  "q.rank": "名次", "q.company": "物业企业", "q.estates": "小区", "q.rect": "隐患整改率", "q.intact": "设施完好率",
  "q.overdue": "季末逾期", "q.ack": "1 分钟内确认", "q.change": "较上季度", "q.same": "持平", "q.pp": "{v} 个百分点",
  "q.rect detail": "按期整改销号 {on_time} / 到期 {due}；逾期销号 {late}；未整改 {not_rectified}（其中待验收 {awaiting}）",
  "q.apart": "另列（不计入整改率）：设备恢复自动销号 {auto}；撤销 {withdrawn}；维保任务 新增 {opened}、季末未完成 {open}",
  "q.overdue detail": "季末未销号 {open}，季末逾期 {overdue}，本季度督办升级 {escalated} 项（{escalations} 次）",
  "q.hours": "受监测 {monitored} 设施·小时，不完好 {failed}，监测故障（不计入）{unmonitored}",
  "q.response": "接警响应", "q.step": "环节", "q.eligible": "应计", "q.within": "目标内", "q.alarms": "报警 {n} 起，真实火警 {fires}，火灾记录 {records}，误报 {false}",
  "q.causes": "误报原因", "q.cause.unknown": "未记录", "q.definitions": "口径说明", "q.order": "排名顺序",
  "q.no companies": "本范围内没有物业企业", "q.none": "无",
});
Object.assign(TEXT.en, {
  "nav.quarterly": "Quarterly", "q.title": "Quarterly assessment of property companies", quarter: "Quarter", "q.all companies": "All companies",
  "q.in progress": "Quarter in progress: figures up to {at}", "q.previous": "against {q}", "q.period": "Period",
  "q.by street": "Ranking by street", "q.by district": "Ranking by district", "q.companies": "Companies", "q.total": "Total (this report's scope)",
  "q.rank": "Rank", "q.company": "Company", "q.estates": "Estates", "q.rect": "Rectification rate", "q.intact": "Facility intact rate",
  "q.overdue": "Overdue at end", "q.ack": "Acknowledged ≤ 1 min", "q.change": "Against previous", "q.same": "same", "q.pp": "{v} pp",
  "q.rect detail": "verified by the deadline {on_time} of {due} due; verified late {late}; not rectified {not_rectified} (awaiting verification {awaiting})",
  "q.apart": "Apart (not in the rate): closed by the device {auto}; withdrawn {withdrawn}; maintenance tasks opened {opened}, open at end {open}",
  "q.overdue detail": "open at end {open}, overdue at end {overdue}, escalated in the quarter {escalated} ({escalations} escalations)",
  "q.hours": "{monitored} facility-hours monitored, {failed} failed, {unmonitored} not monitored (left out)",
  "q.response": "Alarm response", "q.step": "Step", "q.eligible": "Counted", "q.within": "Within target", "q.alarms": "{n} alarms, {fires} real fires, {records} fires recorded, {false} false alarms",
  "q.causes": "False-alarm causes", "q.cause.unknown": "not recorded", "q.definitions": "Definitions", "q.order": "Ranking order",
  "q.no companies": "No property company in this scope", "q.none": "none",
});

(function quarterlyStyle() {
  const style = document.createElement("style");
  style.textContent = `
    .q-rate { display: inline-flex; align-items: center; gap: 6px; white-space: nowrap; }
    .q-bar { display: inline-block; width: 110px; height: 10px; background: #e6ebf1; border-radius: 5px; overflow: hidden; }
    .q-bar > span { display: block; height: 100%; background: #1565c0; }
    .q-up { color: var(--green); font-weight: 600; } .q-down { color: var(--red); font-weight: 600; }
    .q-progress { color: #e65100; font-weight: 600; }
    .q-group { margin-bottom: 12px; } .q-group h3 { font-size: 14px; margin: 0 0 6px; }
    .q-company { margin-bottom: 12px; } .q-company p { margin: 4px 0; }
    .q-defs p { font-size: 12px; color: var(--muted); }`;
  document.head.appendChild(style);
})();

addNavLink("quarterly", { after: "reports" });

/** "2026Q4" of a date, and the quarters before it, newest first. */
const quarterOf = (d) => `${d.getFullYear()}Q${Math.floor(d.getMonth() / 3) + 1}`;
function recentQuarters(count) {
  const out = [];
  const d = new Date();
  d.setDate(1);
  for (let i = 0; i < count; i++) { out.push(quarterOf(d)); d.setMonth(d.getMonth() - 3); }
  return out;
}

/** A rate as the report prints and ranks it: to 0.1 %, rounded half up. */
const rateText = (share) => (share == null ? "—" : `${(Math.floor(share * 1000 + 0.5) / 10).toFixed(1)}%`);
const rateBar = (share) => (share == null ? `<span class="q-rate muted" data-rate="">—</span>`
  : `<span class="q-rate" data-rate="${share}"><span class="q-bar" aria-hidden="true"><span style="width:${Math.min(100, share * 100).toFixed(1)}%"></span></span>${esc(rateText(share))}</span>`);
const hoursText = (h) => Number(h).toLocaleString(lang === "zh" ? "zh-CN" : "en-GB", { maximumFractionDigits: 1 });
const stepShare = (alarms, step) => { const s = alarms.steps.find((x) => x.step === step); return s ? s.share_within : null; };

function pointsText(difference) {
  if (difference == null) return "—";
  const v = (difference * 100).toFixed(1);
  return tf("q.pp", { v: difference > 0 ? `+${v}` : v });
}

function placesText(rank) {
  if (rank == null) return "—";
  if (rank === 0) return esc(t("q.same"));
  return rank > 0 ? `<span class="q-up">↑${rank}</span>` : `<span class="q-down">↓${-rank}</span>`;
}

function rankingTable(group) {
  const where = group.level === "street" ? `${group.district} · ${group.street}` : group.district;
  const row = (r) => { const f = r.figures; return `<tr data-company="${esc(r.company)}" data-rank="${r.rank}">
    <td>${r.rank}/${group.ranked}</td><td>${esc(r.company)}</td><td>${f.estates.map(esc).join(" ")}</td>
    <td>${rateBar(f.rectification.rate)} <span class="muted">${f.rectification.on_time}/${f.rectification.due}</span></td>
    <td>${rateBar(f.facilities.rate)}</td><td>${f.overdue.overdue_at_end}</td><td>${rateBar(stepShare(f.alarms, "ack"))}</td>
    <td>${placesText(r.change.rank)} · ${esc(pointsText(r.change.rectification_rate))}</td></tr>`; };
  return `<section class="card q-group" data-ranking="${esc(group.level)}:${esc(group.district)}:${esc(group.street)}">
    <h3>${esc(where)}</h3><table><tr><th>${esc(t("q.rank"))}</th><th>${esc(t("q.company"))}</th><th>${esc(t("q.estates"))}</th>
    <th>${esc(t("q.rect"))}</th><th>${esc(t("q.intact"))}</th><th>${esc(t("q.overdue"))}</th><th>${esc(t("q.ack"))}</th>
    <th>${esc(t("q.change"))}</th></tr>${group.rows.map(row).join("")}</table></section>`;
}

function causesText(causes) {
  const text = Object.entries(causes).sort((a, b) => b[1] - a[1])
    .map(([cause, n]) => `${tOr("cause." + cause, t("q.cause." + cause))} ${n}`).join(lang === "zh" ? "，" : ", ");
  return text || t("q.none");
}

function figuresHtml(f, previous) {
  const r = f.rectification;
  const kinds = f.facilities.by_kind.map((k) => `<tr data-kind="${esc(k.kind)}"><td>${esc(pick(k))}</td><td>${rateBar(k.intact_rate)}</td>
    <td class="muted">${esc(tf("q.hours", { monitored: hoursText(k.monitored_hours), failed: hoursText(k.failed_hours), unmonitored: hoursText(k.unmonitored_hours) }))}</td></tr>`).join("");
  const steps = f.alarms.steps.map((s) => `<tr data-step="${esc(s.step)}"><td>${esc(pick(s))} ≤ ${s.target_s / 60} ${esc(t("minutes"))}</td>
    <td>${s.eligible}</td><td>${rateBar(s.share_within)}</td><td>${s.p50_s == null ? "—" : `${Math.round(s.p50_s)} ${esc(t("seconds"))}`}</td>
    <td>${s.p90_s == null ? "—" : `${Math.round(s.p90_s)} ${esc(t("seconds"))}`}</td></tr>`).join("");
  const a = f.alarms;
  return `<p><b>${esc(t("q.rect"))}</b> ${rateBar(r.rate)} <span class="muted">${esc(t("q.change"))} ${esc(pointsText(previous && r.rate != null && previous.rectification.rate != null ? r.rate - previous.rectification.rate : null))}</span></p>
    <p data-detail="rectification">${esc(tf("q.rect detail", { on_time: r.on_time, due: r.due, late: r.late, not_rectified: r.not_rectified, awaiting: r.awaiting_verification }))}</p>
    <p class="muted" data-detail="apart">${esc(tf("q.apart", { auto: r.auto_closed, withdrawn: r.withdrawn, opened: f.maintenance.opened, open: f.maintenance.open_at_end }))}</p>
    <p data-detail="overdue">${esc(tf("q.overdue detail", { open: f.overdue.open_at_end, overdue: f.overdue.overdue_at_end, escalated: f.overdue.escalated, escalations: f.overdue.escalations }))}</p>
    <p><b>${esc(t("q.intact"))}</b> ${rateBar(f.facilities.rate)}</p><table>${kinds}</table>
    <p><b>${esc(t("q.response"))}</b> <span data-detail="alarms">${esc(tf("q.alarms", { n: a.received, fires: a.real_fires, records: a.fires, false: a.false_alarms }))}</span>
      · ${esc(t("q.causes"))}: ${esc(causesText(a.false_alarm_causes))}</p>
    <table><tr><th>${esc(t("q.step"))}</th><th>${esc(t("q.eligible"))}</th><th>${esc(t("q.within"))}</th><th>p50</th><th>p90</th></tr>${steps}</table>`;
}

EXTRA_VIEWS.quarterly = async (quarter, company) => {
  const quarters = recentQuarters(8);
  quarter = quarter || quarters[0];
  if (!quarters.includes(quarter)) quarters.unshift(quarter);
  const q = new URLSearchParams({ quarter });
  if (company) q.set("company", company);
  const report = await api(`/api/reports/quarterly?${q}`);
  const everyone = company ? null : report.companies.map((c) => c.company);
  const options = (everyone || [company]).map((c) => `<option ${c === company ? "selected" : ""}>${esc(c)}</option>`).join("");
  const go = () => {
    const c = $("#q-company").value;
    location.hash = `#/quarterly/${encodeURIComponent($("#q-quarter").value)}` + (c ? `/${encodeURIComponent(c)}` : "");
  };
  const groups = (list) => list.map(rankingTable).join("") || `<p class="muted">${esc(t("q.no companies"))}</p>`;
  view().innerHTML = `<h1>${esc(t("q.title"))} <span class="muted">${esc(pick(report.title))}</span></h1>
    <div class="filters">
      <label>${esc(t("quarter"))} <select id="q-quarter">${quarters.map((x) => `<option ${x === quarter ? "selected" : ""}>${esc(x)}</option>`).join("")}</select></label>
      <label>${esc(t("company"))} <select id="q-company"><option value="">${esc(t("q.all companies"))}</option>${options}</select></label>
      <span id="q-links">${["pdf", "xlsx"].map((f) => `<a href="/api/reports/quarterly?${q}&format=${f}" data-format="${f}">${esc(t("download"))} ${f.toUpperCase()}</a>`).join(" · ")}</span>
    </div>
    <p class="muted">${esc(t("q.period"))} ${esc(report.period)} · ${esc(tf("q.previous", { q: report.previous_quarter }))}</p>
    ${report.in_progress ? `<p class="q-progress" id="q-in-progress">${esc(tf("q.in progress", { at: fmtTime(report.cutoff) }))}</p>` : ""}
    <p class="muted" id="q-order"><b>${esc(t("q.order"))}</b>: ${esc(pick(report.order))} ${esc(pick(report.scope_note))}</p>
    <h2>${esc(t("q.by street"))}</h2>${groups(report.streets)}
    <h2>${esc(t("q.by district"))}</h2>${groups(report.districts)}
    <h2>${esc(t("q.companies"))}</h2>
    ${report.companies.map((c) => `<section class="card q-company" data-company-card="${esc(c.company)}"><h3>${esc(c.company)}
      <span class="muted">${c.figures.estates.map(esc).join(" ")}</span></h3>${figuresHtml(c.figures, c.previous)}</section>`).join("")}
    <section class="card q-company" data-company-card=""><h3>${esc(t("q.total"))}</h3>${figuresHtml(report.total, report.previous_total)}</section>
    <details class="q-defs"><summary>${esc(t("q.definitions"))}</summary>${report.definitions.map((d) => `<p><b>${esc(d.term)}</b>: ${esc(d.text)}</p>`).join("")}</details>`;
  $("#q-quarter").onchange = go;
  $("#q-company").onchange = go;
};
