/* The live feed (Server-Sent Events) and the alarm bar: alarms appear the moment the gateway has them,
 * with their timers, sound, and the buttons that step them. */
"use strict";

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
