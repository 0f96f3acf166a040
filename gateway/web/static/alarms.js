/* The live feed (Server-Sent Events) and the alarm bar (domain.md "Alarms in a control room"): an alarm
 * appears the moment the gateway has it and grows more urgent the longer nobody acknowledges it. Colour, size
 * and motion step up at the targets the API gives (1 minute to acknowledge, 3 to be on scene): red and
 * pulsing, then larger and faster, then a full-width flashing banner with a flashing frame round the screen.
 * An acknowledged alarm calms down but its clock keeps running against the next target. Sound is on from the
 * first click (the sign-in counts), repeats while any alarm waits unacknowledged, and a mute lasts MUTE_S and
 * says how long is left. Each alarm names the estate, building, floor, room, device and the phones to call,
 * most urgent first. */
"use strict";

Object.assign(TEXT.zh, {
  "alarm.fire": "火警", "alarm.test": "测试/维护中",
  "alarm.state.open": "未确认", "alarm.state.acknowledged": "已确认", "alarm.state.dispatched": "已出警",
  "alarm.state.on_scene": "已到场", "alarm.state.closed": "处置完毕",
  "alarm.act.acknowledge": "确认", "alarm.act.dispatch": "出警", "alarm.act.on_scene": "到场", "alarm.act.close": "处置完毕",
  "alarm.act.close_test": "处置完毕（测试）",
  "alarm.target.ack": "须 {limit}内确认", "alarm.late.ack": "超过确认时限 {over}",
  "alarm.target.on_scene": "须 {limit}内到场", "alarm.late.on_scene": "超过到场时限 {over}",
  "alarm.target.close": "须 {limit}内处置完毕", "alarm.late.close": "超过处置时限 {over}",
  "alarm.minutes": "{n} 分钟", "alarm.floor": "{n}层", "alarm.waiting": "已等待",
  "alarm.control room": "值班室", "alarm.property": "物业",
  "alarm.more": "另有 {n} 起报警（其中未确认 {open} 起）", "alarm.show all": "全部显示", "alarm.show fewer": "收起",
  "devkind.smoke_detector": "烟感", "devkind.hydrant": "消火栓", "devkind.camera": "摄像头",
  "alarm.sound.on": "报警声音：开", "alarm.sound.muted": "静音 {left}", "alarm.sound.locked": "点击启用报警声音",
  "alarm.sound.on.title": "点击静音 {min} 分钟；到时或有新报警时自动恢复",
  "alarm.sound.muted.title": "静音中，点击立即恢复声音", "alarm.sound.locked.title": "浏览器要求先点击一次页面才能播放报警声音",
  "close.title": "处置完毕", "close.outcome": "处置结果", "close.pick outcome": "请选择处置结果",
  "close.cause": "误报原因", "close.cause_text": "说明（选“其他”时必填）",
  "close.confirm": "我确认这是一起真实火灾（计入小区等级）", "close.fatal": "是否有人员死亡（亡人）？",
  "close.high_impact": "是否造成较大影响？", "close.cancel": "取消",
  "cause.cooking_smoke": "烹饪油烟", "cause.steam": "水蒸气", "cause.dust": "灰尘", "cause.insects": "昆虫",
  "cause.device_fault": "设备故障", "cause.test": "测试", "cause.other": "其他",
});
Object.assign(TEXT.en, {
  "alarm.fire": "FIRE", "alarm.test": "testing / maintenance",
  "alarm.state.open": "unacknowledged", "alarm.state.acknowledged": "acknowledged", "alarm.state.dispatched": "dispatched",
  "alarm.state.on_scene": "on scene", "alarm.state.closed": "closed",
  "alarm.act.acknowledge": "Acknowledge", "alarm.act.dispatch": "Dispatch", "alarm.act.on_scene": "On scene", "alarm.act.close": "Close",
  "alarm.act.close_test": "Close (test)",
  "alarm.target.ack": "acknowledge within {limit}", "alarm.late.ack": "acknowledgement late by {over}",
  "alarm.target.on_scene": "on scene within {limit}", "alarm.late.on_scene": "on scene late by {over}",
  "alarm.target.close": "handled within {limit}", "alarm.late.close": "handling late by {over}",
  "alarm.minutes": "{n} min", "alarm.floor": "floor {n}", "alarm.waiting": "waiting",
  "alarm.control room": "Control room", "alarm.property": "Property",
  "alarm.more": "{n} more alarms ({open} unacknowledged)", "alarm.show all": "Show all", "alarm.show fewer": "Show fewer",
  "devkind.smoke_detector": "smoke detector", "devkind.hydrant": "hydrant", "devkind.camera": "camera",
  "alarm.sound.on": "Alarm sound: on", "alarm.sound.muted": "Muted {left}", "alarm.sound.locked": "Click to enable alarm sound",
  "alarm.sound.on.title": "Click to mute for {min} minutes; sound comes back then, or with a new alarm",
  "alarm.sound.muted.title": "Muted: click to turn the sound back on", "alarm.sound.locked.title": "The browser plays sound only after a click on the page",
  "close.title": "Close", "close.outcome": "Outcome", "close.pick outcome": "Choose the outcome",
  "close.cause": "Cause", "close.cause_text": "What it was (required for Other)",
  "close.confirm": "I confirm this was a real fire (it counts toward the grade)", "close.fatal": "Was anyone killed?",
  "close.high_impact": "Was it high impact?", "close.cancel": "Cancel",
  "cause.cooking_smoke": "Cooking smoke", "cause.steam": "Steam", "cause.dust": "Dust", "cause.insects": "Insects",
  "cause.device_fault": "Device fault", "cause.test": "Test", "cause.other": "Other",
});

// ---- times and words -----------------------------------------------------------------------------------------

const pad2 = (n) => String(n).padStart(2, "0");
/** A duration as h:mm:ss ("2:47:26", never "167:26"). */
function hms(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  return `${Math.floor(s / 3600)}:${pad2(Math.floor((s % 3600) / 60))}:${pad2(s % 60)}`;
}
/** A short countdown as m:ss ("4:59"). */
const mss = (seconds) => { const s = Math.max(0, Math.ceil(seconds)); return `${Math.floor(s / 60)}:${pad2(s % 60)}`; };
const alarmState = (state) => t("alarm.state." + state);
/** "已到场 · 误报" for the alarms list and history. */
const alarmStateText = (a) => [alarmState(a.state), a.outcome ? t(a.outcome) : ""].filter(Boolean).join(" · ");
const deviceKindName = (kind) => (kind ? t("devkind." + kind) : "");
/** Building, floor and room: the registry's location ("1号楼 17层 1702室"), with what it leaves out. */
function alarmPlace(a) {
  const loc = a.location || "";
  const parts = [];
  if (a.building_name && !loc.includes(a.building_name)) parts.push(a.building_name);
  if (a.floor != null && !loc.includes(`${a.floor}层`)) parts.push(tf("alarm.floor", { n: a.floor }));
  if (loc) parts.push(loc);
  return parts.join(" ") || a.building || "";
}
/** Estate and place in one line (the alarms list); the device as its kind and id. */
const alarmWhere = (a) => [a.estate_name || a.estate, alarmPlace(a)].filter(Boolean).join(" · ");
const alarmDevice = (a) => `${deviceKindName(a.device_kind)} ${a.device}`.trim();

// ---- state -----------------------------------------------------------------------------------------------------

const alarms = new Map(); // id -> alarm
const shownAt = new Map(); // id -> Date.now() when the alarm first appeared on screen
window.firegwAlarmLog = []; // the same, as a list bench/ui_bench.py reads (alarm on screen vs. device message)
/** What the API says besides the alarms: the targets (s from arrival) and the control room's phone. */
const alarmScreen = { targets: { ack: 60, on_scene: 180, close: 300 }, phone: "", loaded: false, rendered: false };
const MAX_CARDS = 6; // more are behind "另有 N 起"
let showAllAlarms = false;

/** Elapsed time runs on the gateway's clock (which a demo accelerates): its figure plus real time since. */
function stamp(alarm) { alarm._fetched = Date.now(); return alarm; }
const elapsedOf = (a) => (a.elapsed_s || 0) + (Date.now() - a._fetched) / 1000;
const waiting = (a) => a.state === "open" && !a.test; // what sounds and escalates

/** 1 (red, pulsing) below the acknowledgement target, 2 (larger, faster) up to the on-scene target, 3 (the
 * flashing banner) after it; "calm" once acknowledged. A test alarm in a maintenance window stays at 1. */
function alarmLevel(a, since) {
  if (a.state !== "open") return "calm";
  if (a.test) return "1";
  if (since >= alarmScreen.targets.on_scene) return "3";
  return since >= alarmScreen.targets.ack ? "2" : "1";
}
/** The target the clock runs against now: acknowledgement, then being on scene, then handling. */
const nextTarget = (a) => (a.state === "open" ? "ack" : a.state === "on_scene" ? "close" : "on_scene");
const isLate = (a, since) => since >= alarmScreen.targets[nextTarget(a)];
function dueText(a, since) {
  const key = nextTarget(a);
  const limit = alarmScreen.targets[key];
  return !isLate(a, since)
    ? tf("alarm.target." + key, { limit: tf("alarm.minutes", { n: Math.round(limit / 6) / 10 }) })
    : tf("alarm.late." + key, { over: hms(since - limit) });
}
/** Most urgent first: real alarms before tests, unacknowledged before acknowledged, the oldest first. */
const urgencyOrder = (a, b) => (a.test - b.test) || ((a.state !== "open") - (b.state !== "open")) || (elapsedOf(b) - elapsedOf(a)) || (a.id - b.id);

async function loadAlarmScreen() {
  try {
    const s = await api("/api/alarms/screen", { background: true });
    Object.assign(alarmScreen.targets, s.targets_s);
    alarmScreen.phone = s.control_room_phone || "";
    alarmScreen.loaded = true;
  } catch (err) { /* the defaults above until the next refresh */ }
}

/** What the bar shows of an alarm besides its clock: the same for all of them, and the bar is left alone (a
 * re-render could swallow a click in progress). */
const alarmsShown = () => [...alarms.values()].map((a) => [a.id, a.state, a.estate_name, a.property_phone, a.repeats].join(":")).sort().join("|");

async function refreshAlarms() {
  const before = alarmsShown();
  try {
    const [open] = await Promise.all([api("/api/alarms?open=true", { background: true }), alarmScreen.loaded ? null : loadAlarmScreen()]);
    const known = new Set(alarms.keys());
    alarms.clear();
    open.forEach((a) => { if (!known.has(a.id)) noteNewAlarm(a); alarms.set(a.id, stamp(a)); });
  } catch (err) { return; }
  if (alarmsShown() === before && alarmScreen.rendered) tickAlarmBar(); else renderAlarmBar();
}

// ---- the bar ---------------------------------------------------------------------------------------------------

function alarmButtons(a) {
  if (!can("handle_alarm")) return [];
  const next = { open: "acknowledge", acknowledged: "dispatch", dispatched: "on_scene" }[a.state];
  const buttons = next ? [[next, t("alarm.act." + next)]] : [];
  if (a.state !== "open") {
    if (a.test) buttons.push(["close:test", t("alarm.act.close_test")]);
    buttons.push(["close", t("alarm.act.close")]);
  }
  return buttons;
}

function alarmCard(a) {
  const since = elapsedOf(a);
  const level = alarmLevel(a, since);
  if (!shownAt.has(a.id)) {
    shownAt.set(a.id, Date.now());
    window.firegwAlarmLog.push({ id: a.id, device: a.device, shownAt: shownAt.get(a.id) });
  }
  const phones = [
    alarmScreen.phone ? `${t("alarm.control room")} <b data-phone="control-room">${esc(alarmScreen.phone)}</b>` : "",
    a.property_company || a.property_phone ? `${t("alarm.property")} ${esc(a.property_company)} ${a.property_phone ? `<b data-phone="property">${esc(a.property_phone)}</b>` : ""}` : "",
  ].filter(Boolean);
  const classes = ["alarm", `lvl-${level}`, a.state === "open" ? "unacked" : "", a.test ? "test" : ""].filter(Boolean).join(" ");
  return `<div class="${classes}" data-testid="alarm-${a.id}" data-alarm-card="${a.id}" data-state="${esc(a.state)}" data-level="${level}"
      data-device="${esc(a.device)}" data-received="${esc(a.received_at)}" data-shown-at="${shownAt.get(a.id)}">
    <div class="a-what">
      <span class="a-tag">${esc(t("alarm.fire"))}</span>
      ${a.test ? `<span class="a-tag a-test" data-alarm-test="${a.id}">${esc(t("alarm.test"))}</span>` : ""}
      <span class="a-estate" data-alarm-estate>${esc(a.estate_name || a.estate)}</span>
      <span class="a-place" data-alarm-place>${esc(alarmPlace(a))}</span>
      <span class="a-device">${esc(deviceKindName(a.device_kind))} <span class="a-id">${esc(a.device)}</span></span>
    </div>
    ${phones.length ? `<div class="a-phones" data-alarm-phones>☎ ${phones.join(" · ")}</div>` : ""}
    <div class="a-clock">
      <span class="a-state" data-alarm-state>${esc(alarmState(a.state))}</span>
      <span class="a-elapsed" data-alarm-elapsed="${a.id}" title="${esc(t("alarm.waiting"))}">${hms(since)}</span>
      <span class="a-due" data-alarm-due="${a.id}" data-late="${isLate(a, since)}">${esc(dueText(a, since))}</span>
    </div>
    <div class="actions">${alarmButtons(a).map(([act, label]) =>
      `<button type="button" data-alarm="${a.id}" data-action="${esc(act)}">${esc(label)}</button>`).join("")}</div>
  </div>`;
}

function renderAlarmBar() {
  alarmScreen.rendered = alarmScreen.loaded;
  const bar = $("#alarm-bar");
  const targets = alarmScreen.targets;
  Object.assign(bar.dataset, { ackS: targets.ack, onSceneS: targets.on_scene, closeS: targets.close });
  if (!alarms.size) { bar.hidden = true; bar.innerHTML = ""; markScreenLevel(); return; }
  bar.hidden = false;
  const ordered = [...alarms.values()].sort(urgencyOrder);
  const shown = showAllAlarms ? ordered : ordered.slice(0, MAX_CARDS);
  const rest = ordered.slice(shown.length);
  const more = ordered.length > MAX_CARDS
    ? `<div class="a-more" data-alarm-more="${rest.length}">${rest.length ? esc(tf("alarm.more", { n: rest.length, open: rest.filter((a) => a.state === "open").length })) : ""}
        <button type="button" data-alarm-show-all>${esc(t(showAllAlarms ? "alarm.show fewer" : "alarm.show all"))}</button></div>`
    : "";
  bar.innerHTML = `<button type="button" class="sound-unlock" data-sound-unlock hidden></button>${shown.map(alarmCard).join("")}${more}`;
  bar.querySelector("[data-alarm-show-all]")?.addEventListener("click", () => { showAllAlarms = !showAllAlarms; renderAlarmBar(); });
  markScreenLevel();
  renderSoundButton();
}

/** The most urgent level on screen, on the body: level 3 flashes a frame round the whole screen. */
function markScreenLevel() {
  let top = 0;
  for (const a of alarms.values()) {
    const level = Number(alarmLevel(a, elapsedOf(a))) || 0;
    if (level > top) top = level;
  }
  document.body.dataset.alarmLevel = String(top);
  document.body.classList.toggle("alarm-lvl-3", top === 3);
}

/** Once a second: the clocks, and the level of each card as it crosses a target (a full re-render could
 * swallow a click in progress). */
function tickAlarmBar() {
  document.querySelectorAll("[data-alarm-card]").forEach((card) => {
    const a = alarms.get(Number(card.dataset.alarmCard));
    if (!a) return;
    const since = elapsedOf(a);
    card.querySelector("[data-alarm-elapsed]").textContent = hms(since);
    const due = card.querySelector("[data-alarm-due]");
    due.textContent = dueText(a, since);
    due.dataset.late = String(isLate(a, since));
    const level = alarmLevel(a, since);
    if (card.dataset.level !== level) {
      card.classList.replace(`lvl-${card.dataset.level}`, `lvl-${level}`);
      card.dataset.level = level;
    }
  });
  markScreenLevel();
  renderSoundButton();
}

async function alarmAction(id, action) {
  const alarm = alarms.get(Number(id));
  if (action === "close") { closeDialog(Number(id), alarm); return; }
  const [act, outcome] = action.split(":");
  const body = { action: act };
  if (!session.me) body.actor = "control room";
  if (outcome) body.outcome = outcome;
  try {
    await api(`/api/alarms/${id}/transitions`, { json: body });
  } catch (err) { alert(err.message); }
  await refreshAlarms();
}

// -- closing (处置完毕): the outcome, then what it needs: a false alarm's cause (误报原因), a real fire's
// -- confirmation and answers --------------------------------------------------------------------------------

const CLOSE_OUTCOMES = ["false_alarm", "real_fire", "test", "fault"];
const FALSE_ALARM_CAUSES = ["cooking_smoke", "steam", "dust", "insects", "device_fault", "test", "other"];

/** Ask the outcome and what it needs, then send it; the API's sentence is shown when it refuses. Nothing is
 * defaulted (but a test alarm's outcome): an unanswered question is sent unanswered and the API says what
 * is missing. */
function closeDialog(id, alarm) {
  const radio = (name, value, label) => `<label><input type="radio" name="${name}" value="${value}"> ${esc(label)}</label>`;
  const yesNo = (name) => `<fieldset data-question="${name}"><legend>${esc(t("close." + name))}</legend>
    ${radio(name, "true", t("yes"))} ${radio(name, "false", t("no"))}</fieldset>`;
  const dialog = document.createElement("dialog");
  dialog.className = "alarm-close";
  dialog.dataset.testid = `close-dialog-${id}`;
  dialog.innerHTML = `<form method="dialog"><h3>${esc(t("close.title"))} #${id}</h3>
    ${alarm ? `<p class="a-close-where">${esc(alarmWhere(alarm))} · ${esc(alarmDevice(alarm))}</p>` : ""}
    <fieldset data-question="outcome"><legend>${esc(t("close.outcome"))}</legend>
      ${CLOSE_OUTCOMES.map((o) => radio("outcome", o, t(o))).join(" ")}</fieldset>
    <div data-for="false_alarm" hidden>
      <fieldset data-question="cause"><legend>${esc(t("close.cause"))}</legend>
        ${FALSE_ALARM_CAUSES.map((c) => radio("cause", c, t("cause." + c))).join(" ")}</fieldset>
      <label data-question="cause_text" hidden>${esc(t("close.cause_text"))} <input type="text" name="cause_text" maxlength="500"></label>
    </div>
    <div data-for="real_fire" hidden>
      <label><input type="checkbox" name="confirm"> ${esc(t("close.confirm"))}</label>${yesNo("fatal")}${yesNo("high_impact")}
    </div>
    <p class="error" data-close-error></p>
    <div class="actions-row"><button type="submit" class="primary" data-close-submit>${esc(t("close.title"))}</button>
      <button type="button" data-close-cancel>${esc(t("close.cancel"))}</button></div></form>`;
  document.body.appendChild(dialog);
  const form = dialog.querySelector("form");
  const outcome = () => form.elements.outcome.value;
  const show = () => {
    dialog.querySelectorAll("[data-for]").forEach((el) => { el.hidden = el.dataset.for !== outcome(); });
    dialog.querySelector('[data-question="cause_text"]').hidden = form.elements.cause.value !== "other";
  };
  if (alarm && alarm.test) form.elements.outcome.value = "test";
  show();
  form.addEventListener("change", show);
  dialog.querySelector("[data-close-cancel]").onclick = () => dialog.close();
  dialog.addEventListener("close", () => dialog.remove());
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const error = dialog.querySelector("[data-close-error]");
    if (!outcome()) { error.textContent = t("close.pick outcome"); return; }
    const sent = { action: "close", outcome: outcome() };
    if (!session.me) sent.actor = "control room";
    if (sent.outcome === "real_fire") {
      sent.confirm = form.elements.confirm.checked;
      for (const name of ["fatal", "high_impact"]) {
        const value = form.elements[name].value;
        if (value) sent[name] = value === "true";
      }
    } else if (sent.outcome === "false_alarm") {
      if (form.elements.cause.value) sent.cause = form.elements.cause.value;
      const text = form.elements.cause_text.value.trim();
      if (text) sent.cause_text = text;
    }
    try {
      await api(`/api/alarms/${id}/transitions`, { json: sent });
      dialog.close();
      await refreshAlarms();
    } catch (err) { error.textContent = err.message; }
  });
  dialog.showModal();
}

// ---- sound -------------------------------------------------------------------------------------------------------

const MUTE_S = 300;
/** ``ctx`` runs once the browser allows it (after a click or a key on the page: the sign-in counts). */
const sound = { ctx: null, mutedUntil: Number(localStorage.getItem("firegw.mutedUntil")) || 0, beeps: 0, ticks: 0, lockedAtPress: false };

function soundState() {
  if (!sound.ctx || sound.ctx.state !== "running") return "locked";
  return Date.now() < sound.mutedUntil ? "muted" : "on";
}

function unlockSound() {
  const Context = window.AudioContext || window.webkitAudioContext;
  if (!Context) return;
  if (!sound.ctx) {
    sound.ctx = earlyAudio || new Context(); // made by core.js while the page loaded
    sound.ctx.onstatechange = renderSoundButton;
  }
  if (sound.ctx.state !== "running") sound.ctx.resume().catch(() => {}).finally(renderSoundButton);
  renderSoundButton();
}

function setMutedUntil(until) {
  sound.mutedUntil = until;
  if (until) localStorage.setItem("firegw.mutedUntil", String(until)); else localStorage.removeItem("firegw.mutedUntil");
  renderSoundButton();
}

/** A new alarm ends a mute: muting silences the alarms one has seen, not the next one. */
function noteNewAlarm(a) {
  if (waiting(a) && sound.mutedUntil) setMutedUntil(0);
}

function renderSoundButton() {
  const state = soundState();
  const button = $("#sound-toggle");
  const left = (sound.mutedUntil - Date.now()) / 1000;
  button.textContent = state === "muted" ? tf("alarm.sound.muted", { left: mss(left) }) : t("alarm.sound." + state);
  button.title = tf(`alarm.sound.${state}.title`, { min: MUTE_S / 60 });
  Object.assign(button.dataset, { sound: state, beeps: String(sound.beeps) });
  const urgent = [...alarms.values()].some(waiting);
  button.classList.toggle("attention", state === "locked" && urgent);
  button.classList.toggle("muted", state === "muted");
  const unlock = $("#alarm-bar [data-sound-unlock]");
  if (unlock) {
    unlock.hidden = state !== "locked" || !urgent;
    unlock.textContent = t("alarm.sound.locked");
  }
}

function tone(frequency, start, length) {
  const osc = sound.ctx.createOscillator();
  const gain = sound.ctx.createGain();
  osc.frequency.value = frequency;
  gain.gain.value = 0.18;
  osc.connect(gain).connect(sound.ctx.destination);
  osc.start(sound.ctx.currentTime + start);
  osc.stop(sound.ctx.currentTime + start + length);
}

/** Every 1.5 s while an alarm waits unacknowledged: level 1 a beep every 3 s, level 2 two beeps every
 * 1.5 s, level 3 a two-tone siren. */
function beepLoop() {
  sound.ticks += 1;
  const level = Number(document.body.dataset.alarmLevel || 0);
  if (soundState() !== "on" || ![...alarms.values()].some(waiting)) return;
  if (level >= 3) { tone(960, 0, 0.35); tone(640, 0.4, 0.35); tone(960, 0.8, 0.35); }
  else if (level === 2) { tone(880, 0, 0.2); tone(880, 0.3, 0.2); }
  else if (sound.ticks % 2) tone(880, 0, 0.3);
  else return;
  sound.beeps += 1;
  $("#sound-toggle").dataset.beeps = String(sound.beeps);
}

// Any click or key on the page lets the browser play sound: the sign-in click turns it on.
for (const kind of ["pointerdown", "keydown"]) {
  document.addEventListener(kind, () => {
    sound.lockedAtPress = soundState() === "locked";
    if (sound.lockedAtPress) unlockSound();
  }, { capture: true });
}
$("#sound-toggle").onclick = () => {
  if (sound.lockedAtPress) { sound.lockedAtPress = false; return; } // this click turned the sound on
  setMutedUntil(soundState() === "muted" ? 0 : Date.now() + MUTE_S * 1000);
};
unlockSound(); // runs at once where the browser allows it; else waits for the first click

// ---- the live feed ---------------------------------------------------------------------------------------------

const listeners = { grade: [], hazard: [], alarm: [], device_event: [] };
let source = null;

function connectLive() {
  if (source) source.close();
  source = new EventSource("/api/live");
  source.addEventListener("open", () => { $("#live-status").className = "live-on"; });
  source.addEventListener("error", () => { $("#live-status").className = "live-off"; });
  source.addEventListener("alarm", (ev) => {
    const data = JSON.parse(ev.data);
    if (data.state === "closed") alarms.delete(data.id);
    else {
      if (!alarms.has(data.id)) noteNewAlarm(data);
      alarms.set(data.id, stamp(data));
    }
    renderAlarmBar();
    listeners.alarm.forEach((fn) => fn(data));
  });
  for (const kind of ["grade", "hazard", "device_event"]) {
    source.addEventListener(kind, (ev) => listeners[kind].forEach((fn) => fn(JSON.parse(ev.data))));
  }
  // The gateway ends the feed when the session no longer holds (signed out elsewhere, disabled, role changed,
  // expired): stop reconnecting, say why, and ask for a new sign-in.
  source.addEventListener("ended", (ev) => {
    source.close();
    source = null;
    $("#live-status").className = "live-off";
    alarms.clear();
    renderAlarmBar();
    session.me = null;
    session.endedBecause = JSON.parse(ev.data).code;
    location.hash = "#/login";
    route();
  });
}
