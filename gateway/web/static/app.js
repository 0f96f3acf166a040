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
    "grade.red": "红色", "grade.yellow": "黄色", "grade.green": "绿色", "grade.grey": "灰色·停租停用", "grade.unknown": "未知",
    "state.reported": "已上报", "state.dispatched": "已分流", "state.rectifying": "整改中", "state.rectified": "已整改",
    "state.closed": "已销号", "state.open": "未确认", "state.acknowledged": "已确认", "state.on_scene": "已到场",
    "act.dispatch": "分流派遣", "act.start": "开始整改", "act.rectified": "整改完成", "act.verify": "验收销号",
    "act.reject": "验收不通过", "act.close": "关闭", "act.note": "备注", "act.recheck": "回头看",
    "act.report": "上报", "act.escalate": "逾期督办", "act.auto_close": "设备恢复自动销号",
    "kind.smoke_detector": "烟感", "kind.hydrant": "消火栓水压", "kind.camera": "摄像头",
    "targets": "目标：1 分钟确认 · 3 分钟到场 · 5 分钟处置", "saved": "已保存", "yes": "是", "no": "否",
    "fire alarm": "火警", "tolerated": "容忍范围内", "stale": "数据过旧", "rule": "判定依据", "open": "未关闭", "all alarms": "全部报警",
    "grade.not_assessed": "未评定", "decisive": "决定颜色", "other reasons": "其他情况",
    coverage: "监测覆盖", "in maintenance": "台维护中", "nothing monitored": "无监测设备",
    assessed: "排查登记", "not assessed yet": "尚未排查登记", "valid until": "有效至", "days left": "剩 {n} 天", "days over": "已过期 {n} 天",
    "green conditions": "绿色条件", condition: "条件", "evidence kind": "证明", date: "日期", by: "记录人",
    "cond.holds": "满足", "cond.due": "到期", "cond.missing": "无证明", "cond.not_met": "不满足", "cond.contradicted": "被否定",
    "ev.assessment": "排查登记", "ev.patrol": "巡查记录", "ev.drill": "演练记录", "ev.maintenance_report": "维保检测报告", "ev.duty_roster": "值班记录",
    "record assessment": "录入排查登记或证明", "record kind": "记录类型", met: "满足", "not met": "不满足", note: "备注",
    "at (empty: now)": "时间（空＝现在）", "records": "排查登记与证明记录", void: "作废", voided: "已作废", "void reason": "作废原因（必填）",
    "maintenance tasks": "维保任务（监测故障）", "maint": "维保任务",
    windows: "测试/维护窗口", "in window": "测试/维护中", "declare window": "登记测试/维护窗口", scope: "范围",
    "scope.estate": "整个小区", "scope.building": "楼栋", "scope.device": "设备", target: "对象", from: "开始（空＝现在）",
    duration: "时长", until: "结束", "end window": "提前结束", "end reason": "结束原因", "window.scheduled": "待开始",
    "window.active": "进行中", "window.ended": "已提前结束", "window.expired": "已到期", "no windows": "当前无测试/维护窗口",
    complaints: "投诉举报", channel: "渠道", received: "收到时间", "c.counted": "计入", "c.voided": "已作废", "c.merged": "已合并到 #",
    "merge selected": "合并所选为同一事件", "merge reason": "合并原因（同一事件）", "select two": "请至少勾选两条投诉",
    "out of use": "停租停用", "set out of use": "设为停租停用", "back in use": "恢复使用", "status reason": "原因（必填）",
    "hours": "小时", "minutes": "分钟",
    todo: "待办", "todo.none": "当前没有待办事项", party: "责任单位（派单对象）", "no party": "该小区尚无责任单位，请先由街道/社区或消防救援大队添加",
    unacknowledged: "未确认",
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
    "grade.red": "Red", "grade.yellow": "Yellow", "grade.green": "Green", "grade.grey": "Grey (out of use)",
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
    "grade.not_assessed": "Not assessed", decisive: "decided the colour", "other reasons": "Other findings",
    coverage: "Monitoring coverage", "in maintenance": "in maintenance", "nothing monitored": "nothing monitored",
    assessed: "Assessed", "not assessed yet": "not yet assessed", "valid until": "valid until", "days left": "{n} days left", "days over": "expired {n} days ago",
    "green conditions": "Green conditions", condition: "Condition", "evidence kind": "Evidence", date: "Date", by: "By",
    "cond.holds": "holds", "cond.due": "due", "cond.missing": "no evidence", "cond.not_met": "not met", "cond.contradicted": "contradicted",
    "ev.assessment": "assessment", "ev.patrol": "patrol record", "ev.drill": "drill record", "ev.maintenance_report": "maintenance/testing report", "ev.duty_roster": "duty roster",
    "record assessment": "Record an assessment or evidence", "record kind": "Kind of record", met: "holds", "not met": "does not hold", note: "Note",
    "at (empty: now)": "When (empty: now)", records: "Assessments and evidence", void: "Void", voided: "voided", "void reason": "Why is it void? (required)",
    "maintenance tasks": "Maintenance tasks (monitoring faults)", maint: "maintenance task",
    windows: "Test / maintenance windows", "in window": "testing / maintenance", "declare window": "Declare a test / maintenance window", scope: "Scope",
    "scope.estate": "whole estate", "scope.building": "building", "scope.device": "device", target: "Target", from: "From (empty: now)",
    duration: "Duration", until: "Until", "end window": "End now", "end reason": "Why end it now?", "window.scheduled": "scheduled",
    "window.active": "active", "window.ended": "ended early", "window.expired": "expired", "no windows": "No test or maintenance window now",
    complaints: "Complaints", channel: "Channel", received: "Received", "c.counted": "counted", "c.voided": "voided", "c.merged": "merged into #",
    "merge selected": "Merge selected into one incident", "merge reason": "Why are they one incident?", "select two": "Select at least two complaints",
    "out of use": "Out of use", "set out of use": "Set out of use", "back in use": "Back in use", "status reason": "Reason (required)",
    hours: "hours", minutes: "minutes",
    todo: "To do", "todo.none": "Nothing waits for you", party: "Responsible party (dispatch to)", "no party": "This estate has no responsible party yet: an office or brigade account adds one",
    unacknowledged: "unacknowledged",
  },
};
let lang = localStorage.getItem("firegw.lang") || "zh";
const t = (key) => (TEXT[lang] && TEXT[lang][key]) || TEXT.en[key] || key;
const esc = (v) => String(v ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
const $ = (sel, root = document) => root.querySelector(sel);
const fmtTime = (iso) => (iso ? new Date(iso).toLocaleString(lang === "zh" ? "zh-CN" : "en-GB", { hour12: false }) : "");
const gradeBadge = (g) => `<span class="badge g-${esc(g)}" data-grade="${esc(g)}">${esc(t("grade." + g))}</span>`;
/** A grade colour's name: ours (未评定, 未知, 绿色...), else the policy's own label. */
function gradeLabel(g, grade) {
  const key = "grade." + g;
  const text = t(key);
  return text === key && grade && grade.label ? pick(grade.label) : text;
}
/** A text with {name} placeholders filled in. */
const tf = (key, values) => t(key).replace(/\{(\w+)\}/g, (_, k) => String(values[k] ?? ""));
const pick = (text) => (text ? (lang === "zh" ? text.zh : text.en) || text.zh || "" : "");
const fmtDate = (iso) => (iso ? new Date(iso).toLocaleDateString(lang === "zh" ? "zh-CN" : "en-GB") : "");
const pct = (share) => (share == null ? "—" : `${(share * 100).toFixed(share >= 0.995 || share === 0 ? 0 : 1)}%`);
/** A grade reason as one line: its codes, then its text (without the code when the text starts with it). */
function reasonLine(r) {
  const codes = (r.codes || []).join(", ");
  const text = r.text || "";
  if (!codes) return text;
  return r.codes.length === 1 && text.startsWith(r.codes[0]) ? text : `${codes}: ${text}`;
}
/** "监测覆盖 95%（2 台维护中）" beside the grade. */
function coverageText(grade) {
  if (!grade || grade.coverage == null) return `${t("coverage")} — (${t("nothing monitored")})`;
  const faults = grade.monitoring_faults || 0;
  return `${t("coverage")} ${pct(grade.coverage)}` + (faults ? (lang === "zh" ? `（${faults} ${t("in maintenance")}）` : ` (${faults} ${t("in maintenance")})`) : "");
}

function applyStaticText() {
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  document.title = t("brand");
  document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
  $("#lang-toggle").textContent = lang === "zh" ? "EN" : "中文";
  $("#sound-toggle").textContent = t(sound.enabled ? "sound.on" : "sound.off");
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
        const outcomes = a.test ? ["test", "real_fire", "false_alarm", "fault"] : ["real_fire", "false_alarm", "test", "fault"];
        for (const outcome of outcomes) buttons.push([`close:${outcome}`, `${t("close as")} ${t(outcome)}`]);
      }
    }
    if (!shownAt.has(a.id)) {
      shownAt.set(a.id, Date.now());
      window.firegwAlarmLog.push({ id: a.id, device: a.device, shownAt: shownAt.get(a.id) });
    }
    const classes = ["alarm", a.state === "open" ? "unacked" : "", a.test ? "test" : ""].filter(Boolean).join(" ");
    return `<div class="${classes}" data-testid="alarm-${a.id}" data-state="${esc(a.state)}"
        data-device="${esc(a.device)}" data-received="${esc(a.received_at)}" data-shown-at="${shownAt.get(a.id)}">
      <span class="badge g-red">${esc(t("fire alarm"))}</span>
      ${a.test ? `<span class="badge g-window" data-alarm-test="${a.id}">${esc(t("in window"))}</span>` : ""}
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
  if (outcome === "false_alarm" || outcome === "real_fire") { closeDialog(id, body); return; }
  try {
    await api(`/api/alarms/${id}/transitions`, { json: body });
  } catch (err) { alert(err.message); }
  await refreshAlarms();
}

// -- the alarm close dialog: a false alarm's cause (误报原因), a real fire's confirmation and answers ---------

const CLOSE_TEXT = {
  zh: {
    false_alarm: "关闭为误报", real_fire: "确认真实火警", cause: "误报原因", cause_text: "说明（选“其他”时必填）",
    confirm: "我确认这是一起真实火灾（计入小区等级）", fatal: "是否有人员死亡（亡人）？", high_impact: "是否造成较大影响？",
    yes: "是", no: "否", submit: "提交", cancel: "取消",
    causes: { cooking_smoke: "烹饪油烟", steam: "水蒸气", dust: "灰尘", insects: "昆虫", device_fault: "设备故障", test: "测试", other: "其他" },
  },
  en: {
    false_alarm: "Close as false alarm", real_fire: "Confirm real fire", cause: "Cause", cause_text: "What it was (required for Other)",
    confirm: "I confirm this was a real fire (it counts toward the grade)", fatal: "Was anyone killed?", high_impact: "Was it high impact?",
    yes: "Yes", no: "No", submit: "Submit", cancel: "Cancel",
    causes: { cooking_smoke: "Cooking smoke", steam: "Steam", dust: "Dust", insects: "Insects", device_fault: "Device fault", test: "Test", other: "Other" },
  },
};

/** Ask what closing as ``body.outcome`` needs, then send it; the API's sentence is shown when it refuses. Nothing
 * is defaulted: an unanswered question is sent unanswered and the API says what is missing. */
function closeDialog(id, body) {
  const c = CLOSE_TEXT[lang] || CLOSE_TEXT.zh;
  const fire = body.outcome === "real_fire";
  const yesNo = (name) => `<fieldset data-question="${name}"><legend>${esc(c[name])}</legend>
    <label><input type="radio" name="${name}" value="true"> ${esc(c.yes)}</label>
    <label><input type="radio" name="${name}" value="false"> ${esc(c.no)}</label></fieldset>`;
  const fields = fire
    ? `<label><input type="checkbox" name="confirm"> ${esc(c.confirm)}</label>${yesNo("fatal")}${yesNo("high_impact")}`
    : `<fieldset data-question="cause"><legend>${esc(c.cause)}</legend>${Object.entries(c.causes).map(([value, label]) =>
        `<label><input type="radio" name="cause" value="${value}"> ${esc(label)}</label>`).join(" ")}</fieldset>
      <label data-question="cause_text" hidden>${esc(c.cause_text)} <input type="text" name="cause_text" maxlength="500"></label>`;
  const dialog = document.createElement("dialog");
  dialog.className = "alarm-close";
  dialog.dataset.testid = `close-dialog-${id}`;
  dialog.innerHTML = `<form method="dialog"><h3>${esc(fire ? c.real_fire : c.false_alarm)} #${esc(String(id))}</h3>${fields}
    <p class="error" data-close-error></p>
    <div class="actions-row"><button type="submit" value="submit" data-close-submit>${esc(fire ? c.real_fire : c.false_alarm)}</button>
      <button type="button" data-close-cancel>${esc(c.cancel)}</button></div></form>`;
  document.body.appendChild(dialog);
  const form = dialog.querySelector("form");
  const other = dialog.querySelector('[data-question="cause_text"]');
  form.addEventListener("change", () => { if (other) other.hidden = form.elements.cause.value !== "other"; });
  dialog.querySelector("[data-close-cancel]").onclick = () => dialog.close();
  dialog.addEventListener("close", () => dialog.remove());
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const sent = { ...body };
    if (fire) {
      sent.confirm = form.elements.confirm.checked;
      for (const name of ["fatal", "high_impact"]) {
        const value = form.elements[name].value;
        if (value) sent[name] = value === "true";
      }
    } else {
      if (form.elements.cause.value) sent.cause = form.elements.cause.value;
      const text = form.elements.cause_text.value.trim();
      if (text) sent.cause_text = text;
    }
    try {
      await api(`/api/alarms/${id}/transitions`, { json: sent });
      dialog.close();
      await refreshAlarms();
    } catch (err) { dialog.querySelector("[data-close-error]").textContent = err.message; }
  });
  dialog.showModal();
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
    const stroke = g === "not_assessed" ? `stroke="#546e7a" stroke-dasharray="3 2"` : `stroke="#fff"`;
    return `<a href="#/estate/${encodeURIComponent(e.id)}"><circle cx="${X(e.longitude)}" cy="${Y(e.latitude)}" r="8" class="dot" data-grade="${esc(g)}" fill="var(--${g}, var(--unknown))" ${stroke} stroke-width="2"><title>${esc(e.name)} ${esc(t("grade." + g))}</title></circle></a>`;
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

async function viewEstate(id) {
  const q = encodeURIComponent(id);
  const [estate, history, hazards, devices, policy, health] = await Promise.all([
    api(`/api/estates/${q}`),
    api(`/api/estates/${q}/grade-history?limit=50`),
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
  const rule = grade ? (lang === "zh" ? grade.rule : grade.rule_en || grade.rule) : "";
  const hydrants = devices.filter((d) => d.kind === "hydrant");
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
    <h1>${esc(estate.name)} <span class="muted">${esc(estate.id)} · ${esc(estate.district)} ${esc(estate.street)} · ${esc(estate.property_company)}</span></h1>
    <div class="gradebox card" data-testid="estate-grade" data-grade="${esc(g)}">
      <span class="big g-${esc(g)}">${esc(gradeLabel(g, grade))}</span>
      <div><div>${esc(label)}</div><div class="muted">${esc(t("rule"))}: ${esc(rule)}</div>
        <div class="muted">${grade && grade.tolerated.length ? esc(t("tolerated") + ": " + grade.tolerated.join("; ")) : ""}</div></div>
      <div class="beside">
        <div data-testid="coverage" class="${grade && grade.coverage != null && grade.coverage < 0.95 ? "warn" : ""}">${esc(coverageText(grade))}</div>
        <div data-testid="assessment">${assessmentText(grade, now)}</div>
      </div>
      <span class="spacer"></span>
      ${active.length ? `<div class="window-note" data-testid="active-windows">${active.map((w) => `${windowMark(w)} ${esc(w.target_id)} → ${esc(fmtTime(w.ends_at))}`).join("<br>")}</div>` : ""}
      <a href="/api/estates/${q}/placard.pdf">${esc(t("placard"))} PDF</a>
      <a href="/api/estates/${q}/placard.png">PNG</a>
    </div>
    <div id="placard-postings" data-testid="placard-postings"></div>
    <h2>${esc(t("reasons"))}</h2>
    <ul class="reasons" data-testid="reasons">${decisive.map((r) => `<li class="decisive"><span class="tag">${esc(t("decisive"))}</span> ${esc(reasonLine(r))}</li>`).join("")}
      ${others.map((r) => `<li>${esc(reasonLine(r))}</li>`).join("")}${decisive.length || others.length ? "" : "<li class='muted'>—</li>"}</ul>
    <h2>${esc(t("green conditions"))}</h2>${conditionsTable(grade, policy, now)}
    ${assessmentForm(policy, g === "not_assessed")}
    ${recordsTable(records, policy)}
    <h2>${esc(t("open hazards"))} (${items.length})</h2>${hazardTable(items)}
    <h2>${esc(t("maintenance tasks"))} (${tasks.length})</h2><div data-testid="maintenance-tasks">${hazardTable(tasks)}</div>
    <h2>${esc(t("windows"))}</h2>${windowsTable(shownWindows, devices)}
    ${windowForm(estate, devices)}
    <div class="grid2">
      <div><h2>${esc(t("pressure"))}</h2>
        <select id="chart-device">${hydrants.map((d) => `<option value="${esc(d.id)}">${esc(d.id)} ${esc(d.location)}</option>`).join("")}</select>
        <div id="chart-pressure"></div><h2>${esc(t("battery"))}</h2><div id="chart-battery"></div></div>
      <div><h2>${esc(t("grade history"))}</h2>
        <table><tr><th>${esc(t("time"))}</th><th>${esc(t("grade"))}</th><th>${esc(t("reasons"))}</th></tr>
        ${history.map((h) => `<tr><td>${esc(fmtTime(h.at))}</td><td>${h.previous ? gradeBadge(h.previous) + " → " : ""}${gradeBadge(h.grade)}</td>
          <td>${h.reasons.map((r) => (r.decisive ? "<b>" : "") + esc(reasonLine(r)) + (r.decisive ? "</b>" : "")).join("<br>")}</td></tr>`).join("")}</table></div>
    </div>
    <h2>${esc(t("complaints"))} (${complaints.length})</h2>${complaintsTable(complaints)}
    ${statusControl(grade)}
    <h2>${esc(t("devices"))} (${devices.length})</h2>${deviceTable(devices, active)}`;
  wireEstateForms(estate, policy, devices, now);
  placardPostings(estate.id);
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
      <td>${canVoid && !r.voided ? `<button type="button" data-void-record="${r.id}">${esc(t("void"))}</button>` : ""}</td></tr>`).join("")}</table>`;
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
      <label for="w-reason">${esc(t("reason"))}</label><input id="w-reason" placeholder="月度测试报警 / 消火栓放水试验">
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
        ${canVoid ? `<td>${counted ? `<button type="button" data-void-complaint="${c.id}">${esc(t("void"))}</button>` : ""}</td>` : ""}</tr>`;
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
      const reason = ask(t("void reason"));
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
        const health = await api("/api/health").catch(() => null);
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
      const reason = ask(t("void reason"));
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

function hazardTable(hazards) {
  if (!hazards.length) return `<p class="muted">—</p>`;
  return `<table data-testid="hazard-table"><tr><th>#</th><th>${esc(t("criterion"))}</th><th>${esc(t("description"))}</th><th>${esc(t("state"))}</th>
    <th>${esc(t("deadline"))}</th><th>${esc(t("source"))}</th></tr>
    ${hazards.map((h) => `<tr class="${h.overdue ? "overdue" : ""}" data-hazard="${h.id}"><td><a href="#/hazard/${h.id}">${h.id}</a></td>
      <td>${h.criterion === "maint" ? `<span class="badge g-maint">${esc(t("maint"))}</span> ${esc(h.signal || "")}` : `<b>${esc(h.criterion)}</b> ${esc(h.criterion_text ? (lang === "zh" ? h.criterion_text.zh : h.criterion_text.en) : "")}`}</td>
      <td>${esc(h.description)}</td><td>${esc(t("state." + h.state))}</td>
      <td>${esc(fmtTime(h.deadline))}${h.overdue ? ` <b class="error">${esc(t("overdue"))}</b>` : ""}</td><td>${esc(h.source)}</td></tr>`).join("")}</table>`;
}

function deviceTable(devices, windows = []) {
  return `<table data-testid="devices"><tr><th>${esc(t("device"))}</th><th>${esc(t("kind"))}</th><th>${esc(t("location"))}</th><th>${esc(t("online"))}</th><th>${esc(t("signals"))}</th></tr>
    ${devices.map((d) => {
      const w = coveredBy(d, windows);
      return `<tr data-device-row="${esc(d.id)}" class="${w ? "in-window" : ""}"><td><a href="#/device/${encodeURIComponent(d.id)}">${esc(d.id)}</a> ${w ? windowMark(w) : ""}</td><td>${esc(t("kind." + d.kind))}</td>
      <td>${esc(d.location)}</td><td>${d.online === false ? `<b class="error">✗</b>` : d.online == null ? "—" : "✓"}</td>
      <td>${d.active_signals.map((s) => esc(s.signal + (s.detail ? " (" + s.detail + ")" : ""))).join("<br>")}${w && d.active_signals.length ? " " + windowMark(w) : ""}</td></tr>`;
    }).join("")}</table>`;
}

async function viewAlarms() {
  const list = await api("/api/alarms?limit=200");
  view().innerHTML = `<h1>${esc(t("nav.alarms"))}</h1><p class="muted">${esc(t("targets"))}</p>
    <table><tr><th>#</th><th>${esc(t("time"))}</th><th>${esc(t("device"))}</th><th>${esc(t("location"))}</th><th>${esc(t("state"))}</th>
      <th>${esc(t("acknowledge"))}</th><th>${esc(t("on_scene"))}</th><th>${esc(t("close as"))}</th></tr>
    ${list.map((a) => `<tr><td>${a.id}</td><td>${esc(fmtTime(a.received_at))}</td><td>${esc(a.device)}</td>
      <td>${esc([a.estate, a.building, a.location].filter(Boolean).join(" · "))}</td><td>${esc(t("state." + a.state))} ${a.outcome ? esc(t(a.outcome)) : ""}
        ${a.test ? `<span class="badge g-window">${esc(t("in window"))}</span>` : ""}</td>
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
  // Dispatch (派单) picks one of the estate's active parties, never free text.
  const parties = actions.includes("dispatch")
    ? await api(`/api/parties?estate_id=${encodeURIComponent(h.estate_id)}&active=true`).catch(() => []) : [];
  view().innerHTML = `<h1>#${h.id} ${esc(h.criterion)} ${esc(h.criterion_text ? (lang === "zh" ? h.criterion_text.zh : h.criterion_text.en) : "")}</h1>
    <div class="card" data-testid="hazard-detail" data-state="${esc(h.state)}">
      <p><b>${esc(t("state"))}:</b> <span id="hazard-state">${esc(t("state." + h.state))}</span> ${h.overdue ? `<b class="error">${esc(t("overdue"))}</b>` : ""}
        · <b>${esc(t("estates"))}:</b> <a href="#/estate/${encodeURIComponent(h.estate_id)}">${esc(h.estate_id)}</a>
        · <b>${esc(t("location"))}:</b> ${esc(h.location)} · <b>${esc(t("deadline"))}:</b> ${esc(fmtTime(h.deadline))}
        · <b>${esc(t("responsible"))}:</b> ${esc(h.responsible)}</p>
      <p>${esc(h.description)}</p>
      ${h.photo ? `<p><img src="/api/${esc(h.photo)}" alt="photo" style="max-width:320px;border-radius:6px"></p>` : ""}
      ${HAZARD_SECTIONS.map((section) => section.html(h)).join("")}
      <div class="actions-row" id="hazard-actions">
        <input id="a-reason" placeholder="${esc(t("reason"))}">
        ${actions.includes("dispatch") ? partySelect(parties) : ""}
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
  HAZARD_SECTIONS.forEach((section) => section.wire && section.wire(h, view()));
  document.querySelectorAll("[data-hazard-action]").forEach((button) => {
    button.onclick = async () => {
      const action = button.dataset.hazardAction;
      const body = { action, reason: $("#a-reason").value };
      if ($("#a-actor")) body.actor = $("#a-actor").value;
      if (action === "dispatch") body.party_id = $("#a-party").value ? Number($("#a-party").value) : null;
      if (action === "start" && $("#a-deadline").value) body.deadline = new Date($("#a-deadline").value).toISOString();
      if (action === "rectified") body.evidence = $("#a-evidence").value;
      try {
        await api(`/api/hazards/${h.id}/transitions`, { json: body });
        await viewHazard(h.id);
      } catch (err) { $("#a-result").innerHTML = `<span class="error">${esc(err.message)}</span>`; }
    };
  });
}

function partySelect(parties) {
  if (!parties.length) return `<span class="error" id="a-party-none">${esc(t("no party"))}</span><select id="a-party" hidden></select>`;
  return `<select id="a-party" title="${esc(t("party"))}" data-testid="party-select">${parties.map((p) =>
    `<option value="${p.id}">${esc(p.name)} · ${esc(lang === "zh" ? p.kind_zh : p.kind)}${p.contact ? " · " + esc(p.contact) : ""}${p.phone ? " " + esc(p.phone) : ""}</option>`).join("")}</select>`;
}

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

// ---- router ------------------------------------------------------------------------------------------------

async function route() {
  formsDirty = false;
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
// when the event concerns what they show. The board is also refetched once a minute for device counts.
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
listeners.hazard.push(() => refreshTodoSoon());
listeners.alarm.push(() => refreshTodoSoon());
setInterval(refreshTodo, 30000);
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
  // The page's other scripts (index.html lists them after this one) register their views first.
  if (document.readyState === "loading") await new Promise((ok) => document.addEventListener("DOMContentLoaded", ok, { once: true }));
  applyStaticText();
  try { await loadSession(); } catch (err) { view().innerHTML = `<p class="error">${esc(err.message)}</p>`; return; }
  if (session.me || !session.authEnabled) { connectLive(); refreshAlarms(); } // in parallel with the first view
  await route();
})();
