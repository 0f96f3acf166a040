/* Shift handover (交接班): #/handover and #/handover/ID, on /api/handovers.
 *
 * A control room is the scope of the accounts that work it (gateway/casework/handover.py). The page shows what
 * a handover of the room would record now (the gateway's own snapshot), the form to hand over with a note, the
 * pending handover for the incoming operator to sign with their own account, and the log with both
 * signatures. #/handover/ID is one record laid out for printing (the header, the alarm bar and the buttons are
 * left off the paper). Runs in app.js's global scope and uses its helpers (api, esc, t, tf, can, view, ...).
 */
"use strict";

Object.assign(TEXT.zh, {
  "nav.handover": "交接班", "ho.title": "交接班记录", "ho.room": "值班室",
  "ho.current": "当前未结事项（交班时由网关记录）", "ho.pending": "待接班签收", "ho.waiting": "已交班，等待接班人用本人账号签收",
  "ho.hand over": "交班", "ho.outgoing note": "交班说明（未尽事项、需要注意的情况）", "ho.sign": "签收接班",
  "ho.incoming note": "接班说明", "ho.log": "交接班日志", "ho.outgoing": "交班人", "ho.incoming": "接班人",
  "ho.started": "交班时间", "ho.signed": "签收时间", "ho.state.pending": "待签收", "ho.state.signed": "已签收",
  "ho.print": "打印", "ho.none": "无", "ho.alarms": "未关闭报警", "ho.hazards": "未销号隐患",
  "ho.devices": "离线或故障设备", "ho.estates": "红色、黄色小区", "ho.age": "已持续", "ho.taken": "快照时间",
  "ho.truncated": "列表过长，只列出前 {n} 条（计数为全部）", "ho.no log": "尚无交接班记录", "ho.your name": "姓名",
  "ho.signature": "签名", "ho.open": "查看", "ho.back": "返回交接班", "ho.offline": "离线", "ho.monitoring": "监测故障",
  "ho.snapshot": "交班时的未结事项", "ho.age.hm": "{h} 小时 {m} 分", "ho.age.dh": "{d} 天 {h} 小时",
  "ho.counts": "报警 {alarms}（未确认 {unacknowledged}）· 隐患 {hazards}（逾期 {overdue}）· 异常设备 {devices}（离线 {offline}）· 维护窗口 {windows} · 红黄小区 {estates}",
  "ho.read only": "只读：只有本值班室的账号可以交班和签收",
});
Object.assign(TEXT.en, {
  "nav.handover": "Handover", "ho.title": "Shift handover log", "ho.room": "Control room",
  "ho.current": "Open now (what a handover records)", "ho.pending": "Waiting for the incoming signature",
  "ho.waiting": "Handed over; the incoming operator signs with their own account", "ho.hand over": "Hand over",
  "ho.outgoing note": "Handover note (what is unfinished, what to watch)", "ho.sign": "Sign and take over",
  "ho.incoming note": "Note on taking over", "ho.log": "Handover log", "ho.outgoing": "Outgoing", "ho.incoming": "Incoming",
  "ho.started": "Handed over", "ho.signed": "Signed", "ho.state.pending": "pending", "ho.state.signed": "signed",
  "ho.print": "Print", "ho.none": "none", "ho.alarms": "Open alarms", "ho.hazards": "Open hazards",
  "ho.devices": "Devices offline or failing", "ho.estates": "Red and yellow estates", "ho.age": "Age", "ho.taken": "Snapshot taken",
  "ho.truncated": "List cut at {n} items (the counts are whole)", "ho.no log": "No handover recorded yet", "ho.your name": "Your name",
  "ho.signature": "Signature", "ho.open": "Open", "ho.back": "Back to handover", "ho.offline": "offline", "ho.monitoring": "monitoring fault",
  "ho.snapshot": "Open at handover", "ho.age.hm": "{h} h {m} min", "ho.age.dh": "{d} d {h} h",
  "ho.counts": "alarms {alarms} ({unacknowledged} unacknowledged) · hazards {hazards} ({overdue} overdue) · devices {devices} ({offline} offline) · windows {windows} · red/yellow estates {estates}",
  "ho.read only": "Read only: only the room's own accounts hand over and sign",
});

(function addHandoverLink() {
  addNavLink("handover", { after: "reports" });
  // On paper only the record: no header, alarm bar, forms or buttons (the page is marked .handover-page).
  const style = document.createElement("style");
  style.textContent = `.handover-page > section, .handover-page > form { margin: 12px 0; }
    @media print {
      body:has(.handover-page) header#top, body:has(.handover-page) #alarm-bar,
      .handover-page .no-print, .handover-page button { display: none !important; }
      .handover-page .card { break-inside: avoid; border-color: #999; }
      .handover-page table { font-size: 11px; } body:has(.handover-page) { background: #fff; }
    }`;
  document.head.appendChild(style);
})();

function handoverAge(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 3600) return hms(s);
  if (s < 86400) return tf("ho.age.hm", { h: Math.floor(s / 3600), m: Math.floor((s % 3600) / 60) });
  return tf("ho.age.dh", { d: Math.floor(s / 86400), h: Math.floor((s % 86400) / 3600) });
}

const handoverPlace = (item) => [item.estate_id, item.building_id, item.floor != null ? `${item.floor}F` : "", item.location].filter(Boolean).join(" · ");

/** One list of a snapshot: a heading with its count, the rows, or "无". */
function snapshotList(key, title, count, head, rows) {
  return `<h3 data-snapshot-list="${key}">${esc(title)} <span class="badge g-grey" data-count="${count}">${count}</span></h3>
    ${rows.length ? `<table data-snapshot="${key}"><tr>${head.map((h) => `<th>${esc(h)}</th>`).join("")}</tr>${rows.join("")}</table>` : `<p class="muted">${esc(t("ho.none"))}</p>`}`;
}

/** What a snapshot holds, in the order a control room reads it: alarms first, unacknowledged on top. */
function snapshotHtml(s) {
  const c = s.counts;
  const alarms = s.alarms.map((a) => `<tr data-alarm-row="${a.id}" class="${a.acknowledged ? "" : "overdue"}"><td>#${a.id}</td>
    <td>${esc(handoverPlace(a))}</td><td>${esc(a.device_id)}</td>
    <td>${a.acknowledged ? esc(alarmState(a.state)) : `<b class="error">${esc(alarmState(a.state))}</b>`}
      ${a.test ? `<span class="badge g-window">${esc(t("in window"))}</span>` : ""}</td>
    <td>${esc(fmtTime(a.received_at))}</td><td>${esc(handoverAge(a.age_s))}</td></tr>`);
  const hazards = s.hazards.map((h) => `<tr data-hazard-row="${h.id}" class="${h.overdue ? "overdue" : ""}"><td><a href="#/hazard/${h.id}">#${h.id}</a></td>
    <td>${esc(h.estate_id)}</td><td><b>${esc(h.criterion === "maint" ? t("maint") : h.criterion)}</b></td><td>${esc(hazardText(h))} <span class="muted">${esc(h.location)}</span></td>
    <td>${esc(t("state." + h.state))}</td><td>${esc(fmtTime(h.deadline))}${h.overdue ? ` <b class="error" data-overdue="${h.id}">${esc(t("overdue"))}</b>` : ""}</td></tr>`);
  const devices = s.devices.map((d) => `<tr data-device-row="${esc(d.id)}"><td><a href="#/device/${encodeURIComponent(d.id)}">${esc(d.id)}</a></td>
    <td>${esc(d.estate_id)}</td><td>${esc(t("kind." + d.kind))}</td><td>${esc(d.location)}</td>
    <td>${d.offline ? `<b class="error">${esc(t("ho.offline"))}</b> ` : ""}${d.signals.filter((g) => g.signal !== "offline").map((g) =>
      `${esc(tOr("signal." + g.signal, g.signal))}${g.monitoring ? ` <span class="badge g-maint">${esc(t("ho.monitoring"))}</span>` : ""}`).join("<br>")}
      ${d.window_id != null ? `<span class="badge g-window">${esc(t("in window"))}</span>` : ""}</td></tr>`);
  const windows = s.windows.map((w) => `<tr data-window-row="${w.id}"><td>#${w.id}</td><td>${esc(w.estate_id)}</td>
    <td>${esc(t("scope." + w.scope))} ${esc(w.target_id)}</td><td>${esc(fmtTime(w.starts_at))} – ${esc(fmtTime(w.ends_at))}</td>
    <td>${esc(w.declared_by)}</td><td>${esc(w.reason)}</td></tr>`);
  const estates = s.estates.map((e) => `<tr data-estate-row="${esc(e.id)}"><td><a href="#/estate/${encodeURIComponent(e.id)}">${esc(e.name || e.id)}</a></td>
    <td><span class="badge g-${esc(e.grade)}">${esc(lang === "zh" ? e.label_zh : e.label_en)}</span></td><td>${esc((lang === "en" && e.why_en) || e.why)}</td></tr>`);
  return `<p class="muted">${esc(t("ho.taken"))} ${esc(fmtTime(s.taken_at))} · <span data-snapshot-counts>${esc(tf("ho.counts", c))}</span></p>
    ${s.truncated.length ? `<p class="error">${esc(tf("ho.truncated", { n: 500 }))}: ${esc(s.truncated.join(", "))}</p>` : ""}
    ${snapshotList("alarms", t("ho.alarms"), c.alarms, ["#", t("location"), t("device"), t("state"), t("time"), t("ho.age")], alarms)}
    ${snapshotList("hazards", t("ho.hazards"), c.hazards, ["#", t("estates"), t("criterion"), t("description"), t("state"), t("deadline")], hazards)}
    ${snapshotList("devices", t("ho.devices"), c.devices, [t("device"), t("estates"), t("kind"), t("location"), t("signals")], devices)}
    ${snapshotList("windows", t("windows"), c.windows, ["#", t("estates"), t("scope"), t("time"), t("by"), t("reason")], windows)}
    ${snapshotList("estates", t("ho.estates"), c.estates, [t("estates"), t("grade"), t("reasons")], estates)}`;
}

/** The two signatures of a handover, side by side. */
function signaturesHtml(h) {
  const half = (title, name, at, note, testid) => `<div class="card" data-testid="${testid}"><b>${esc(title)}</b>
    <p>${esc(t("ho.signature"))}: <b>${esc(name || "—")}</b> · ${esc(fmtTime(at) || "—")}</p><p>${esc(note || "")}</p></div>`;
  return `<div class="grid2">${half(t("ho.outgoing"), h.outgoing_name, h.started_at, h.outgoing_note, "sig-outgoing")}
    ${half(t("ho.incoming"), h.incoming_name, h.signed_at, h.incoming_note, "sig-incoming")}</div>`;
}

const nameField = (id) => (session.me ? "" : `<label>${esc(t("ho.your name"))}</label><input id="${id}" required>`);

function noteForm(id, label, button) {
  return `<form class="stack card no-print" id="${id}" data-testid="${id}">${nameField(`${id}-by`)}
    <label for="${id}-note">${esc(label)}</label><textarea id="${id}-note" rows="3" maxlength="4000"></textarea>
    <div class="full"><button class="primary" type="submit">${esc(button)}</button> <span data-form-result></span></div></form>`;
}

/** Send a note form's body to ``path``; the API's sentence is shown when it refuses. */
function wireNoteForm(id, path) {
  const form = document.getElementById(id);
  if (!form) return;
  form.addEventListener("input", () => { formsDirty = true; });
  form.onsubmit = async (ev) => {
    ev.preventDefault();
    const body = { note: $(`#${id}-note`).value };
    if ($(`#${id}-by`)) body.by = $(`#${id}-by`).value;
    try {
      await api(path, { json: body });
      formsDirty = false;
      await route();
    } catch (err) { form.querySelector("[data-form-result]").innerHTML = `<span class="error">${esc(err.message)}</span>`; }
  };
}

function logHtml(log) {
  if (!log.length) return `<p class="muted">${esc(t("ho.no log"))}</p>`;
  return `<table data-testid="handover-log"><tr><th>#</th><th>${esc(t("ho.outgoing"))}</th><th>${esc(t("ho.started"))}</th>
    <th>${esc(t("ho.incoming"))}</th><th>${esc(t("ho.signed"))}</th><th>${esc(t("state"))}</th><th></th></tr>
    ${log.map((h) => `<tr data-handover-row="${h.id}" data-state="${esc(h.state)}"><td>${h.id}</td>
      <td>${esc(h.outgoing_name)}<br><span class="muted">${esc(h.outgoing_note)}</span></td><td>${esc(fmtTime(h.started_at))}</td>
      <td>${esc(h.incoming_name || "")}<br><span class="muted">${esc(h.incoming_note || "")}</span></td><td>${esc(fmtTime(h.signed_at))}</td>
      <td>${h.state === "pending" ? `<b class="error">${esc(t("ho.state.pending"))}</b>` : esc(t("ho.state.signed"))}
        <br><span class="muted">${esc(tf("ho.counts", h.counts))}</span></td>
      <td><a href="#/handover/${h.id}">${esc(t("ho.open"))}</a></td></tr>`).join("")}</table>`;
}

async function viewHandoverRoom() {
  const room = new URLSearchParams(location.hash.split("?")[1] || "").get("room");
  const q = room ? `room=${encodeURIComponent(room)}&` : "";
  const [rooms, current, log] = await Promise.all([
    api("/api/handovers/rooms"), api(`/api/handovers/current?${q}`), api(`/api/handovers?${q}limit=50`),
  ]);
  const r = current.room;
  const pending = current.pending;
  const works = r.works;
  const outgoing = pending && (session.me ? pending.outgoing_account === session.me.username : false);
  const roomSelect = rooms.length > 1 ? `<select id="ho-room" class="no-print" title="${esc(t("ho.room"))}">${rooms.map((x) =>
    `<option value="${esc(x.key)}" ${x.key === r.key ? "selected" : ""}>${esc(lang === "zh" ? x.zh : x.en)}${x.pending_id ? " · " + esc(t("ho.state.pending")) : ""}</option>`).join("")}</select>` : "";
  let pendingHtml = "";
  if (pending) {
    const action = !works ? "" : outgoing ? `<p class="muted" data-testid="handover-waiting">${esc(t("ho.waiting"))}</p>`
      : noteForm("sign-form", t("ho.incoming note"), t("ho.sign"));
    pendingHtml = `<section class="card" data-testid="handover-pending" data-handover="${pending.id}"><h2>${esc(t("ho.pending"))} #${pending.id}</h2>
      ${signaturesHtml(pending)}${action}<details><summary>${esc(t("ho.snapshot"))} · ${esc(tf("ho.counts", pending.counts))}</summary>${snapshotHtml(pending.snapshot)}</details></section>`;
  }
  view().innerHTML = `<div class="handover-page"><h1>${esc(t("ho.title"))} · <span data-testid="handover-room">${esc(lang === "zh" ? r.zh : r.en)}</span>
      ${roomSelect} <button type="button" id="ho-print">${esc(t("ho.print"))}</button></h1>
    ${works ? "" : `<p class="muted no-print">${esc(t("ho.read only"))}</p>`}
    ${pendingHtml}
    ${works && !pending ? noteForm("handover-form", t("ho.outgoing note"), t("ho.hand over")) : ""}
    <section class="card" data-testid="handover-current"><h2>${esc(t("ho.current"))}</h2>${snapshotHtml(current.snapshot)}</section>
    <h2>${esc(t("ho.log"))}</h2>${logHtml(log)}</div>`;
  if ($("#ho-room")) $("#ho-room").onchange = () => { location.hash = `#/handover?room=${encodeURIComponent($("#ho-room").value)}`; };
  $("#ho-print").onclick = () => window.print();
  wireNoteForm("handover-form", "/api/handovers");
  if (pending) wireNoteForm("sign-form", `/api/handovers/${pending.id}/sign`);
}

async function viewHandoverOne(id) {
  const h = await api(`/api/handovers/${encodeURIComponent(id)}`);
  view().innerHTML = `<div class="handover-page" data-testid="handover-record" data-state="${esc(h.state)}">
    <p class="no-print"><a href="#/handover?room=${encodeURIComponent(h.room)}">${esc(t("ho.back"))}</a> <button type="button" id="ho-print">${esc(t("ho.print"))}</button></p>
    <h1>${esc(t("ho.title"))} #${h.id} · ${esc(lang === "zh" ? h.room_zh : h.room_en)} ·
      ${h.state === "pending" ? `<b class="error">${esc(t("ho.state.pending"))}</b>` : esc(t("ho.state.signed"))}</h1>
    ${signaturesHtml(h)}<section class="card"><h2>${esc(t("ho.snapshot"))}</h2>${snapshotHtml(h.snapshot)}</section></div>`;
  $("#ho-print").onclick = () => window.print();
}

EXTRA_VIEWS.handover = async (id) => (id ? viewHandoverOne(id) : viewHandoverRoom());
