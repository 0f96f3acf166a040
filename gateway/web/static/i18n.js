/* The control room's texts (zh-CN first, English on the toggle) and the helpers that format for the
 * reader: times, dates, shares, grades, reasons. Every text a user sees comes from TEXT. */
"use strict";

// ---- i18n ------------------------------------------------------------------------------------------------

const TEXT = {
  zh: {
    brand: "消防物联网关 · 控制室", "nav.board": "小区看板", "nav.alarms": "报警", "nav.hazards": "隐患",
    "nav.reports": "报表", loading: "加载中…", logout: "退出", "sound.on": "🔔 声音开", "sound.off": "🔕 声音关",
    district: "区县", street: "街道", all: "全部", grade: "等级", reasons: "原因", "open hazards": "未销号隐患",
    offline: "离线设备", alarms: "报警", estates: "小区", map: "地图", devices: "设备", "grade history": "等级变化",
    acknowledge: "确认", dispatch: "出警", on_scene: "到场", "close as": "关闭为", real_fire: "真实火警",
    false_alarm: "误报", test: "测试", fault: "设备故障", elapsed: "已过", "no open alarms": "当前无未处理报警",
    "file hazard": "上报隐患", criterion: "判定条目", location: "位置", description: "描述", photo: "照片",
    reporter: "上报人", submit: "提交", deadline: "整改期限", state: "状态", overdue: "已逾期", source: "来源",
    responsible: "责任单位", reason: "说明", evidence: "整改凭证", actions: "操作", history: "处理记录",
    actor: "操作人", time: "时间", "only open": "仅未销号", "only overdue": "仅逾期", device: "设备", kind: "类型",
    online: "在线", signals: "当前信号", "clock wrong": "设备时钟有误（按接收时间存储），偏差", seconds: "秒", "last messages": "最近消息", "state history": "状态历史",
    "rejected payloads": "被拒绝的报文", pressure: "水压 (MPa)", battery: "电量 (%)", signal: "信号 (dBm)",
    placard: "公示牌", "monthly report": "月度报表", month: "月份", company: "物业公司", download: "下载",
    username: "用户名", password: "密码", login: "登录", "login failed": "登录失败", "session.ended.disabled": "账号已被停用，实时推送已断开", "session.ended.role_changed": "账号角色或范围已变更，请重新登录", "session.ended.ended": "会话已结束（已退出或被撤销），请重新登录", "session.ended.expired": "会话已过期，请重新登录", since: "自",
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
    login: "Log in", "login failed": "Login failed", "session.ended.disabled": "This account was disabled; the live feed stopped", "session.ended.role_changed": "This account's role or scope changed; sign in again", "session.ended.ended": "The session was ended (signed out or revoked); sign in again", "session.ended.expired": "The session expired; sign in again", since: "since",
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
  const text = reasonText(r);
  if (!codes) return text;
  return r.codes.length === 1 && text.startsWith(r.codes[0]) ? text : `${codes}: ${text}`;
}
/** "监测覆盖 95%（2 台维护中）" beside the grade. */
function coverageText(grade) {
  if (!grade || grade.coverage == null) return `${t("coverage")} — (${t("nothing monitored")})`;
  const faults = grade.monitoring_faults || 0;
  return `${t("coverage")} ${pct(grade.coverage)}` + (faults ? (lang === "zh" ? `（${faults} ${t("in maintenance")}）` : ` (${faults} ${t("in maintenance")})`) : "");
}

// ---- what the server names, in words: signals, events, sources, operators, roles, rejected inputs -----------
// The server sends identifiers (``hydrant_low_pressure``, ``device``, ``system``); people read these names.
// Signal names match rules/texts.py SIGNAL_NAMES (the server's sentences say more: value and threshold).

Object.assign(TEXT.zh, {
  "signal.offline": "离线", "signal.device_fault": "设备故障", "signal.tamper": "探测器被拆除",
  "signal.low_battery": "低电量未更换", "signal.comm_fault": "通信中断", "signal.hydrant_low_pressure": "水压不足",
  "signal.hydrant_high_pressure": "水压过高", "signal.hydrant_pressure_drop": "水压骤降",
  "signal.hydrant_sensor_fault": "水压传感器故障", "signal.hydrant_leak": "漏水",
  "signal.fire_lane_occupied": "消防车通道被占用", "signal.evacuation_blocked": "疏散通道或楼梯被堵塞",
  "signal.ebike_in_lift": "电动自行车进入电梯或门厅",
  "event.heartbeat": "心跳", "event.alarm": "火警报警", "event.alarm_clear": "报警解除", "event.fault": "故障",
  "event.fault_clear": "故障恢复", "event.low_battery": "低电量", "event.tamper": "被拆除", "event.tamper_clear": "拆除恢复",
  "event.self_test": "自检", "event.mute": "消音", "event.shielded": "屏蔽", "event.online": "上线", "event.offline": "离线",
  "event.comm_fault": "通信中断", "event.comm_restored": "通信恢复", "event.fire_lane_occupied": "消防车通道占用",
  "event.evacuation_blocked": "疏散通道堵塞", "event.ebike_in_lift": "电动车进电梯",
  "reject.malformed": "报文无法解析", "reject.schema": "报文字段缺失或类型错误", "reject.out_of_range": "数值超出物理范围",
  "reject.too_large": "报文过大", "reject.unknown_event": "未知事件代码", "reject.unknown_device": "设备未登记",
  "reject.no_decoder": "主题未配置解码器", "reject.modbus_exception": "Modbus 异常应答", "reject.modbus_timeout": "Modbus 无应答",
  "reject.modbus_disconnected": "Modbus 网关连接中断", "reject.sink_rejected": "存储拒收",
  "source.device": "设备自动发现", "source.manual": "人工上报", "source.complaint": "投诉举报", "source.recheck": "回头看",
  "actor.system": "系统", "actor.device": "设备",
  "role.brigade": "消防救援大队", "role.office": "街道/社区", "role.property": "物业公司", "role.grid": "网格员", "role.viewer": "只读",
  "close.verified": "验收销号", "close.auto": "设备恢复自动销号", "close.closed": "直接关闭",
  "live.title": "实时推送连接状态", "chart.min": "下限", "chart.max": "上限",
  "window.reason hint": "月度测试报警 / 消火栓放水试验",
});
Object.assign(TEXT.en, {
  "signal.offline": "offline", "signal.device_fault": "device fault", "signal.tamper": "detector removed",
  "signal.low_battery": "low battery not replaced", "signal.comm_fault": "no communication",
  "signal.hydrant_low_pressure": "low water pressure", "signal.hydrant_high_pressure": "water pressure too high",
  "signal.hydrant_pressure_drop": "sudden pressure drop", "signal.hydrant_sensor_fault": "pressure sensor fault",
  "signal.hydrant_leak": "leak", "signal.fire_lane_occupied": "fire lane occupied",
  "signal.evacuation_blocked": "evacuation route or stairs blocked", "signal.ebike_in_lift": "e-bike taken into the lift or lobby",
  "event.heartbeat": "heartbeat", "event.alarm": "fire alarm", "event.alarm_clear": "alarm cleared", "event.fault": "fault",
  "event.fault_clear": "fault cleared", "event.low_battery": "low battery", "event.tamper": "removed", "event.tamper_clear": "put back",
  "event.self_test": "self-test", "event.mute": "muted", "event.shielded": "shielded", "event.online": "online", "event.offline": "offline",
  "event.comm_fault": "no communication", "event.comm_restored": "communication restored", "event.fire_lane_occupied": "fire lane occupied",
  "event.evacuation_blocked": "evacuation route blocked", "event.ebike_in_lift": "e-bike in the lift",
  "reject.malformed": "unreadable payload", "reject.schema": "a field missing or of the wrong type", "reject.out_of_range": "a value out of its physical range",
  "reject.too_large": "payload too large", "reject.unknown_event": "unknown event code", "reject.unknown_device": "device not in the registry",
  "reject.no_decoder": "no decoder for the topic", "reject.modbus_exception": "Modbus exception", "reject.modbus_timeout": "Modbus unit not answering",
  "reject.modbus_disconnected": "Modbus gateway disconnected", "reject.sink_rejected": "refused by the store",
  "source.device": "device", "source.manual": "filed by a person", "source.complaint": "complaint", "source.recheck": "re-check",
  "actor.system": "system", "actor.device": "device",
  "role.brigade": "fire brigade", "role.office": "street office", "role.property": "property company", "role.grid": "grid worker", "role.viewer": "read only",
  "close.verified": "verified and closed", "close.auto": "closed automatically (device recovered)", "close.closed": "closed",
  "live.title": "live feed", "chart.min": "min", "chart.max": "max",
  "window.reason hint": "monthly alarm test / hydrant flow test",
});

/** The key's text, or ``fallback`` when the catalogue has no such key (a value this version does not know). */
const tOr = (key, fallback) => (TEXT[lang][key] !== undefined || TEXT.en[key] !== undefined ? t(key) : fallback);
/** Who did it: 系统 for the gateway's own steps, a person's name as it is. */
const actorName = (actor) => tOr("actor." + actor, actor);
const roleName = (role) => tOr("role." + role, role);
/** A grade reason's text in the reader's language (the server sends both). */
const reasonText = (r) => (lang === "en" && r.text_en) || r.text || "";
/** What decided the colour, in the reader's language. */
const ruleText = (grade) => (grade ? (lang === "zh" ? grade.rule : grade.rule_en || grade.rule) : "");
/** Failed devices within the policy's tolerance, in the reader's language. */
const toleratedTexts = (grade) => (grade ? (lang === "en" && (grade.tolerated_en || []).length ? grade.tolerated_en : grade.tolerated || []) : []);
/** A hazard's description: a device hazard's in the reader's language (its signal's name where the server
 * sent no English), a person's words as written. */
function hazardText(h) {
  if (h.description_text) return pick(h.description_text);
  if (lang === "en" && h.source === "device" && h.signal) return `${h.device_id || ""}: ${tOr("signal." + h.signal, h.signal)}`;
  return h.description || "";
}
/** A history line (hazard or alarm transition): the server's sentence in the reader's language. */
const historyText = (s) => (s.text ? pick(s.text) : s.reason || "");
