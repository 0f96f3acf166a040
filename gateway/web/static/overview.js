/* The duty overview (值班总览 / 大屏): what needs attention, where, at a glance, for a wall screen (1920×1080,
 * 3840×2160) or the ordinary screen: open fire alarms by age against the 1/3/5-minute targets, devices per kind,
 * hazards, estates per colour, the map, the last 24 hours. Drawn once; then patched in place:
 * - alarms from the live feed's list (alarms.js ``alarms``), every second, so an alarm moves up the age bands
 *   as it waits; its estate pulses on the map at once;
 * - a grade change recolours its dot at once; the figures (GET /api/overview, a few milliseconds) are asked
 *   again shortly after any live event and every 15 s (a device going offline has no event of its own);
 * - the trends (GET /api/overview/trends) every minute and shortly after an alarm or a hazard.
 * Only the numbers and bars that changed are touched. */
"use strict";

Object.assign(TEXT.zh, {
  "nav.overview": "值班总览", "ov.title": "值班总览", "ov.wall": "大屏模式", "ov.wall.exit": "退出大屏",
  "ov.updated": "数据更新", "ov.k.unacked": "未确认火警", "ov.k.inhand": "处置中火警", "ov.k.oldest": "最久未确认",
  "ov.k.hazards": "未销号隐患", "ov.k.overdue": "逾期隐患", "ov.k.online": "设备在线率", "ov.k.red": "红色小区",
  "ov.k.yellow": "黄色小区", "ov.k.none": "无", "ov.k.offline": "离线 {n}", "ov.k.fault": "故障 {n}",
  "ov.k.maint": "维保任务 {n}", "ov.k.fire estates": "涉及 {n} 个小区", "ov.k.of": "共 {n} 个小区",
  "ov.devices": "设备状态", "ov.units": "台", "ov.d.online": "在线", "ov.d.offline": "离线", "ov.d.fault": "故障",
  "ov.d.in_window": "维护中", "ov.d.not_heard": "未上报",
  "ov.hazards": "隐患闭环", "ov.h.state.reported": "待派单", "ov.h.state.dispatched": "待整改",
  "ov.h.state.rectifying": "整改中", "ov.h.state.rectified": "待验收",
  "ov.alarms": "火警处置时长", "ov.a.targets": "目标：1 分钟确认 · 3 分钟到场 · 5 分钟处置",
  "ov.a.band.under_ack": "1 分钟内", "ov.a.band.under_on_scene": "1–3 分钟", "ov.a.band.under_close": "3–5 分钟",
  "ov.a.band.over_close": "超过 5 分钟", "ov.a.unacked": "未确认", "ov.a.inhand": "处置中", "ov.a.none": "当前无未处理火警",
  "ov.a.test": "其中测试/维护中 {n} 起",
  "ov.estates": "小区等级", "ov.map": "小区分布",
  "ov.trends": "近 24 小时", "ov.t.alarms": "火警（起/小时）", "ov.t.hazards": "隐患 新增 / 销号（项/小时）",
  "ov.t.offline": "离线设备（台）", "ov.t.opened": "新增", "ov.t.closed": "销号",
});
Object.assign(TEXT.en, {
  "nav.overview": "Duty overview", "ov.title": "Duty overview", "ov.wall": "Wall screen", "ov.wall.exit": "Leave wall screen",
  "ov.updated": "Figures of", "ov.k.unacked": "Unacknowledged fire alarms", "ov.k.inhand": "Fire alarms in hand",
  "ov.k.oldest": "longest waiting", "ov.k.hazards": "Open hazards", "ov.k.overdue": "Overdue hazards",
  "ov.k.online": "Devices online", "ov.k.red": "Red estates", "ov.k.yellow": "Yellow estates", "ov.k.none": "none",
  "ov.k.offline": "{n} offline", "ov.k.fault": "{n} in fault", "ov.k.maint": "{n} maintenance tasks",
  "ov.k.fire estates": "estates involved: {n}", "ov.k.of": "of {n} estates",
  "ov.devices": "Devices", "ov.units": "units", "ov.d.online": "online", "ov.d.offline": "offline", "ov.d.fault": "fault",
  "ov.d.in_window": "in maintenance", "ov.d.not_heard": "not heard yet",
  "ov.hazards": "Hazards", "ov.h.state.reported": "to dispatch", "ov.h.state.dispatched": "dispatched",
  "ov.h.state.rectifying": "rectifying", "ov.h.state.rectified": "to verify",
  "ov.alarms": "Fire alarms by waiting time", "ov.a.targets": "Targets: acknowledge 1 min · on scene 3 min · handled 5 min",
  "ov.a.band.under_ack": "under 1 min", "ov.a.band.under_on_scene": "1–3 min", "ov.a.band.under_close": "3–5 min",
  "ov.a.band.over_close": "over 5 min", "ov.a.unacked": "unacknowledged", "ov.a.inhand": "in hand",
  "ov.a.none": "No open fire alarm", "ov.a.test": "{n} of them tests / maintenance",
  "ov.estates": "Estate grades", "ov.map": "Estates on the map",
  "ov.trends": "Last 24 hours", "ov.t.alarms": "Fire alarms per hour", "ov.t.hazards": "Hazards opened / closed per hour",
  "ov.t.offline": "Devices offline", "ov.t.opened": "opened", "ov.t.closed": "closed",
});

const OV_GRADES = ["red", "yellow", "green", "not_assessed", "unknown", "grey"];
const OV_STATES = ["reported", "dispatched", "rectifying", "rectified"];
const OV_BANDS = ["under_ack", "under_on_scene", "under_close", "over_close"];
const ov = { token: 0, data: null, alarmCounts: new Map(), trendCharts: [], refreshTimer: null, trendsTimer: null, resized: null };
const onOverview = () => (location.hash || "").startsWith("#/overview");
const num = (n) => Number(n || 0).toLocaleString(lang === "zh" ? "zh-CN" : "en-GB");
const share = (part, whole) => (whole ? (part / whole) * 100 : 0);

EXTRA_VIEWS.overview = async () => {
  const token = (ov.token += 1);
  document.body.classList.add("ov-mode");
  const [data, estates, trends, place] = await Promise.all([
    api("/api/overview"), api("/api/estates"), api("/api/overview/trends?hours=24"), api("/api/map").catch(() => ({ city: "" })),
  ]);
  if (token !== ov.token || !onOverview()) return;
  ov.data = data;
  ov.alarmCounts = new Map(estates.filter((e) => e.active_alarms > 0).map((e) => [e.id, e.active_alarms]));
  disposeTrends();
  view().innerHTML = overviewHtml(data, place.city);
  patchFigures(data);
  tickOverview();
  fitOverview();
  if (!ov.resized) { // one for the page's life: the type is fitted again whenever the view changes size
    ov.resized = new ResizeObserver(() => { if (onOverview()) requestAnimationFrame(fitOverview); });
    ov.resized.observe($("#view"));
  }
  $("#ov-wall").onclick = toggleWall;
  afterPaint(() => { // the figures first; then the map and the trends (ECharts, 1 MB of script, loaded then)
    if (token !== ov.token || !onOverview()) return;
    estateMap($("#ov-map"), estates, { dark: true, scale: ovScale() });
    drawTrends(trends, token);
  });
};

// ---- drawn once --------------------------------------------------------------------------------------------

function kpi(key, label, extra = "") {
  return `<div class="ov-kpi" data-kpi="${key}"><div class="ov-kpi-label">${esc(label)}</div>
    <div class="ov-kpi-value" data-ov="${key}"></div><div class="ov-kpi-sub" data-ov="${key}.sub">${extra}</div></div>`;
}

function overviewHtml(data, city) {
  const kinds = data.devices.map((d) => `<div class="ov-kind" data-kind="${esc(d.kind)}">
      <div class="ov-kind-head"><span class="ov-kind-name">${esc(deviceKindName(d.kind))}</span>
        <span class="ov-kind-total"><b data-ov="dev.${esc(d.kind)}.total"></b> ${esc(t("ov.units"))}</span>
        <span class="ov-kind-rate" data-ov="dev.${esc(d.kind)}.rate"></span></div>
      <div class="ov-bar">${["online", "fault", "offline", "not_heard"].map((f) => `<i class="b-${f}" data-bar="dev.${esc(d.kind)}.${f}"></i>`).join("")}</div>
      <div class="ov-kind-figs">${["online", "offline", "fault", "in_window", "not_heard"].map((f) =>
        `<span class="f-${f}" data-fig="dev.${esc(d.kind)}.${f}">${esc(t("ov.d." + f))} <b data-ov="dev.${esc(d.kind)}.${f}"></b></span>`).join("")}</div>
    </div>`).join("");
  const states = OV_STATES.map((s) => `<div class="ov-state"><span>${esc(t("ov.h.state." + s))}</span>
      <span class="ov-bar"><i class="b-state" data-bar="haz.${s}"></i></span><b data-ov="haz.${s}"></b></div>`).join("");
  const bands = OV_BANDS.map((b, i) => `<div class="ov-band level${i}" data-band="${b}"><span class="ov-band-name">${esc(t("ov.a.band." + b))}</span>
      <span class="ov-chip unacked" title="${esc(t("ov.a.unacked"))}" data-ov="band.${b}.unacked"></span>
      <span class="ov-chip inhand" title="${esc(t("ov.a.inhand"))}" data-ov="band.${b}.inhand"></span></div>`).join("");
  const grades = OV_GRADES.map((g) => `<div class="ov-grade" data-grade-row="${g}">${gradeBadge(g)}
      <b data-ov="est.${g}"></b><span class="muted" data-ov="est.${g}.pct"></span></div>`).join("");
  return `<div class="ov" data-testid="overview">
    <div class="ov-head"><h1>${esc([city, t("ov.title")].filter(Boolean).join(" · "))}</h1>
      <span class="spacer"></span>
      <span class="ov-updated">${esc(t("ov.updated"))} <b data-ov="updated"></b></span>
      <span class="ov-clock" data-ov="clock"></span>
      <button type="button" id="ov-wall">${esc(t(document.body.classList.contains("ov-wall") ? "ov.wall.exit" : "ov.wall"))}</button></div>
    <div class="ov-kpis">
      ${kpi("k.unacked", t("ov.k.unacked"))}${kpi("k.inhand", t("ov.k.inhand"))}${kpi("k.hazards", t("ov.k.hazards"))}
      ${kpi("k.overdue", t("ov.k.overdue"))}${kpi("k.online", t("ov.k.online"))}${kpi("k.red", t("ov.k.red"))}
    </div>
    <section class="ov-card ov-devices"><h2>${esc(t("ov.devices"))}</h2>${kinds}</section>
    <section class="ov-card ov-hazards"><h2>${esc(t("ov.hazards"))}</h2>
      <div class="ov-pair"><span>${esc(t("ov.k.hazards"))} <b data-ov="haz.open"></b></span>
        <span class="ov-overdue">${esc(t("overdue"))} <b data-ov="haz.overdue"></b></span>
        <span class="muted" data-ov="haz.maint"></span></div>${states}</section>
    <section class="ov-card ov-map"><h2>${esc(t("ov.map"))}</h2><div id="ov-map"></div></section>
    <section class="ov-card ov-alarms" data-testid="ov-alarms"><h2>${esc(t("ov.alarms"))}</h2>
      <div class="muted ov-targets">${esc(t("ov.a.targets"))}</div>
      <div class="ov-legend"><span class="ov-chip unacked">${esc(t("ov.a.unacked"))}</span><span class="ov-chip inhand">${esc(t("ov.a.inhand"))}</span></div>
      ${bands}<div class="ov-alarm-note" data-ov="alarm.note"></div></section>
    <section class="ov-card ov-estates"><h2>${esc(t("ov.estates"))}</h2>
      <div class="ov-bar ov-gradebar">${OV_GRADES.map((g) => `<i class="g-${g}" data-bar="est.${g}"></i>`).join("")}</div>${grades}</section>
    <section class="ov-card ov-trends"><h2>${esc(t("ov.trends"))}</h2>
      <div class="ov-trend-row">${["alarms", "hazards", "offline"].map((k) =>
        `<div class="ov-trend"><div class="ov-trend-title">${esc(t("ov.t." + k))}</div><div class="ov-trend-chart" id="ov-trend-${k}"></div></div>`).join("")}</div></section>
  </div>`;
}

// ---- patched -------------------------------------------------------------------------------------------------

/** Set a number (or text) where it differs, and let it flash once so a change catches the eye. */
function setOv(key, value) {
  const el = document.querySelector(`[data-ov="${key}"]`);
  const text = String(value);
  if (!el || el.textContent === text) return;
  const first = el.textContent === "";
  el.textContent = text;
  if (!first) { el.classList.remove("ov-changed"); void el.offsetWidth; el.classList.add("ov-changed"); }
}

function setBar(key, percent) {
  const el = document.querySelector(`[data-bar="${key}"]`);
  const width = `${percent.toFixed(2)}%`;
  if (el && el.style.width !== width) el.style.width = width;
}

function patchFigures(data) {
  ov.data = data;
  let total = 0, online = 0, offline = 0, fault = 0;
  for (const d of data.devices) {
    const k = `dev.${d.kind}`;
    total += d.total; online += d.online; offline += d.offline; fault += d.fault;
    setOv(`${k}.total`, num(d.total));
    setOv(`${k}.rate`, `${share(d.online, d.total).toFixed(1)}%`);
    for (const f of ["online", "offline", "fault", "in_window", "not_heard"]) {
      setOv(`${k}.${f}`, num(d[f]));
      const fig = document.querySelector(`[data-fig="${k}.${f}"]`);
      if (fig) fig.classList.toggle("zero", !d[f]);
    }
    // The bar is a partition of the devices: fault ones among the online ones, then offline, then silent.
    setBar(`${k}.online`, share(d.online - Math.min(d.fault, d.online), d.total));
    setBar(`${k}.fault`, share(Math.min(d.fault, d.online), d.total));
    setBar(`${k}.offline`, share(d.offline, d.total));
    setBar(`${k}.not_heard`, share(d.not_heard, d.total));
  }
  setOv("k.online", `${share(online, total).toFixed(1)}%`);
  setOv("k.online.sub", `${tf("ov.k.offline", { n: num(offline) })} · ${tf("ov.k.fault", { n: num(fault) })}`);
  const h = data.hazards;
  setOv("k.hazards", num(h.open));
  setOv("k.hazards.sub", tf("ov.k.maint", { n: num(h.maintenance) }));
  setOv("k.overdue", num(h.overdue));
  document.querySelector('[data-kpi="k.overdue"]')?.classList.toggle("alert", h.overdue > 0);
  setOv("haz.open", num(h.open));
  setOv("haz.overdue", num(h.overdue));
  setOv("haz.maint", tf("ov.k.maint", { n: num(h.maintenance) }));
  const most = Math.max(1, ...OV_STATES.map((s) => h.by_state[s] || 0));
  for (const s of OV_STATES) { setOv(`haz.${s}`, num(h.by_state[s] || 0)); setBar(`haz.${s}`, share(h.by_state[s] || 0, most)); }
  const e = data.estates;
  for (const g of OV_GRADES) {
    const n = e.by_grade[g] || 0;
    setOv(`est.${g}`, num(n));
    setOv(`est.${g}.pct`, e.total ? `${share(n, e.total).toFixed(0)}%` : "");
    setBar(`est.${g}`, share(n, e.total));
    const row = document.querySelector(`[data-grade-row="${g}"]`);
    if (row) row.hidden = g === "grey" && !n;
  }
  setOv("k.red", num(e.by_grade.red || 0));
  setOv("k.red.sub", `${t("ov.k.yellow")} ${num(e.by_grade.yellow || 0)} · ${tf("ov.k.of", { n: num(e.total) })}`);
  document.querySelector('[data-kpi="k.red"]')?.classList.toggle("alert", (e.by_grade.red || 0) > 0);
  setOv("updated", new Date().toLocaleTimeString(lang === "zh" ? "zh-CN" : "en-GB", { hour12: false }));
}

/** The type size that fits: as large as the screen's width allows (14 px at 1920, 28 px at 3840), smaller
 * while a panel would cut off what it holds (a tall alarm bar above, a short window). */
function fitOverview() {
  const root = $(".ov");
  if (!root) return;
  if (window.innerWidth <= 1100) { root.style.fontSize = ""; return; } // one scrolling column (overview.css)
  const overflows = () => root.scrollHeight > root.clientHeight + 1 ||
    [...root.querySelectorAll(".ov-card, .ov-kpi")].some((c) => c.scrollHeight > c.clientHeight + 1);
  let [low, high] = [9, Math.max(12, Math.min(32, window.innerWidth * 0.0074))];
  root.style.fontSize = `${high}px`;
  if (!overflows()) return;
  while (high - low > 0.25) { // halving: a few layouts, not one per step
    const mid = (low + high) / 2;
    root.style.fontSize = `${mid}px`;
    if (overflows()) high = mid; else low = mid;
  }
  root.style.fontSize = `${low}px`;
}

/** Once a second: the clock, the alarm bands and KPIs from the live list of open alarms, their estates' dots. */
function tickOverview() {
  if (!onOverview() || !ov.data || !document.querySelector('[data-testid="overview"]')) return;
  setOv("clock", new Date().toLocaleString(lang === "zh" ? "zh-CN" : "en-GB", { hour12: false }));
  const targets = ov.data.targets_s;
  const limits = [targets.ack, targets.on_scene, targets.close, Infinity];
  const bands = OV_BANDS.map(() => [0, 0]);
  let unacked = 0, inHand = 0, tests = 0, oldest = null;
  const perEstate = new Map();
  for (const a of alarms.values()) {
    const age = elapsedOf(a);
    const open = a.state === "open";
    bands[limits.findIndex((limit) => age < limit)][open ? 0 : 1] += 1;
    if (open) { unacked += 1; if (oldest === null || age > oldest) oldest = age; } else inHand += 1;
    if (a.test) tests += 1;
    perEstate.set(a.estate, (perEstate.get(a.estate) || 0) + 1);
  }
  OV_BANDS.forEach((b, i) => {
    setOv(`band.${b}.unacked`, bands[i][0]);
    setOv(`band.${b}.inhand`, bands[i][1]);
    const row = document.querySelector(`[data-band="${b}"]`);
    if (row) { row.classList.toggle("has-unacked", bands[i][0] > 0); row.classList.toggle("empty", !bands[i][0] && !bands[i][1]); }
  });
  setOv("k.unacked", num(unacked));
  setOv("k.unacked.sub", oldest === null ? t("ov.k.none") : `${t("ov.k.oldest")} ${hms(oldest)}`);
  document.querySelector('[data-kpi="k.unacked"]')?.classList.toggle("ov-firing", unacked > 0);
  setOv("k.inhand", num(inHand));
  setOv("k.inhand.sub", tf("ov.k.fire estates", { n: num(perEstate.size) }));
  setOv("alarm.note", alarms.size ? (tests ? tf("ov.a.test", { n: tests }) : "") : t("ov.a.none"));
  for (const id of new Set([...perEstate.keys(), ...ov.alarmCounts.keys()])) {
    if ((perEstate.get(id) || 0) !== (ov.alarmCounts.get(id) || 0)) updateEstate({ id, active_alarms: perEstate.get(id) || 0 });
  }
  ov.alarmCounts = perEstate;
}

async function refreshFigures() {
  ov.refreshTimer = null;
  if (!onOverview()) return;
  const data = await api("/api/overview", { background: true }).catch(() => null);
  if (data && onOverview()) patchFigures(data);
}

function refreshSoon() {
  if (!ov.refreshTimer) ov.refreshTimer = setTimeout(refreshFigures, 1500);
}

// ---- the last 24 hours ----------------------------------------------------------------------------------------

/** How much larger than the 14 px of a 1920 screen the overview's type is (the charts' type follows). */
const ovScale = () => Math.max(1, parseFloat(getComputedStyle($(".ov")).fontSize) / 14);

function trendOption(trends, kind) {
  const k = ovScale(), px = (n) => Math.round(n * k);
  const hours = trends.starts.map((s) => new Date(s).toLocaleTimeString(lang === "zh" ? "zh-CN" : "en-GB", { hour: "2-digit", minute: "2-digit", hour12: false }));
  const base = {
    grid: { left: px(36), right: px(10), top: px(22), bottom: px(22) }, tooltip: { trigger: "axis" },
    textStyle: { color: "#9cc3ea", fontSize: px(11) },
    xAxis: { type: "category", data: hours, axisLine: { lineStyle: { color: "#3b6ea3" } }, axisLabel: { color: "#8fb3d9", interval: 5, fontSize: px(11) } },
    yAxis: { type: "value", minInterval: 1, splitLine: { lineStyle: { color: "#1c3550" } }, axisLabel: { color: "#8fb3d9", fontSize: px(11) } },
  };
  if (kind === "alarms") return { ...base, series: [{ id: "alarms", name: t("ov.t.alarms"), type: "bar", data: trends.alarms, itemStyle: { color: "#ff5252" } }] };
  if (kind === "hazards") {
    return { ...base, legend: { top: 0, right: 0, textStyle: { color: "#9cc3ea", fontSize: px(11) }, itemHeight: px(8), itemWidth: px(20) },
      series: [{ id: "opened", name: t("ov.t.opened"), type: "bar", data: trends.hazards_opened, itemStyle: { color: "#ffb300" } },
        { id: "closed", name: t("ov.t.closed"), type: "bar", data: trends.hazards_closed, itemStyle: { color: "#43a047" } }] };
  }
  return { ...base, series: [{ id: "offline", name: t("ov.t.offline"), type: "line", data: trends.devices_offline, smooth: true, symbol: "none",
    lineStyle: { color: "#90a4ae", width: 2 }, areaStyle: { color: "rgba(144,164,174,.25)" } }] };
}

async function drawTrends(trends, token) {
  await loadEcharts().catch(() => null);
  if (!window.echarts || !onOverview() || token !== ov.token) return;
  disposeTrends();
  ov.trendCharts = ["alarms", "hazards", "offline"].map((kind) => {
    const el = $(`#ov-trend-${kind}`);
    if (!el) return null;
    const chart = echarts.init(el, null, { renderer: "canvas" });
    chart.setOption(trendOption(trends, kind));
    const resized = new ResizeObserver(() => chart.resize());
    resized.observe(el);
    return { kind, chart, el, resized };
  }).filter(Boolean);
}

async function refreshTrends() {
  ov.trendsTimer = null;
  if (!onOverview() || !ov.trendCharts.length) return;
  const trends = await api("/api/overview/trends?hours=24", { background: true }).catch(() => null);
  if (!trends || !onOverview()) return;
  for (const { kind, chart, el } of ov.trendCharts) if (el.isConnected) chart.setOption(trendOption(trends, kind));
}

function disposeTrends() {
  for (const { chart, resized } of ov.trendCharts) { resized.disconnect(); chart.dispose(); }
  ov.trendCharts = [];
}

// ---- the wall screen ------------------------------------------------------------------------------------------

/** 大屏: the whole screen (the browser's full screen where allowed), without the page header; the alarm bar
 * stays, it is the most urgent thing on any screen. */
function toggleWall() {
  const wall = !document.body.classList.contains("ov-wall");
  document.body.classList.toggle("ov-wall", wall);
  if (wall && document.documentElement.requestFullscreen) document.documentElement.requestFullscreen().catch(() => null);
  if (!wall && document.fullscreenElement) document.exitFullscreen().catch(() => null);
  $("#ov-wall").textContent = t(wall ? "ov.wall.exit" : "ov.wall");
}

document.addEventListener("fullscreenchange", () => {
  if (!document.fullscreenElement && document.body.classList.contains("ov-wall")) toggleWall();
});
window.addEventListener("hashchange", () => {
  if (onOverview()) return;
  document.body.classList.remove("ov-mode", "ov-wall");
  disposeTrends();
});

listeners.alarm.push(() => { if (onOverview()) { tickOverview(); refreshSoon(); if (!ov.trendsTimer) ov.trendsTimer = setTimeout(refreshTrends, 10000); } });
listeners.grade.push((g) => { if (onOverview()) { updateEstate({ id: g.estate, grade: g }); refreshSoon(); } });
listeners.hazard.push(() => { if (onOverview()) { refreshSoon(); if (!ov.trendsTimer) ov.trendsTimer = setTimeout(refreshTrends, 10000); } });
listeners.device_event.push(() => { if (onOverview()) refreshSoon(); });
setInterval(tickOverview, 1000);
setInterval(() => { if (onOverview()) refreshFigures(); }, 15000);
setInterval(() => { if (onOverview()) refreshTrends(); }, 60000);
