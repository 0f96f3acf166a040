/* Alarms list, hazards list and one hazard's page with the closed-loop actions. */
"use strict";

async function viewAlarms() {
  const list = await api("/api/alarms?limit=200");
  view().innerHTML = `<h1>${esc(t("nav.alarms"))}</h1><p class="muted">${esc(t("targets"))}</p>
    <table><tr><th>#</th><th>${esc(t("time"))}</th><th>${esc(t("device"))}</th><th>${esc(t("location"))}</th><th>${esc(t("state"))}</th>
      <th>${esc(t("alarm.act.acknowledge"))}</th><th>${esc(t("alarm.act.on_scene"))}</th><th>${esc(t("alarm.act.close"))}</th></tr>
    ${list.map((a) => `<tr><td>${a.id}</td><td>${esc(fmtTime(a.received_at))}</td><td>${esc(alarmDevice(a))}</td>
      <td>${esc(alarmWhere(a))}</td><td>${esc(alarmStateText(a))}
        ${a.test ? `<span class="badge g-window">${esc(t("in window"))}</span>` : ""}</td>
      <td>${a.ack_s != null ? hms(a.ack_s) : ""}</td><td>${a.on_scene_s != null ? hms(a.on_scene_s) : ""}</td><td>${a.close_s != null ? hms(a.close_s) : ""}</td></tr>`).join("")}</table>`;
}

async function ensurePolicy() {
  if (!session.policy) session.policy = await api("/api/policy");
  return session.policy;
}

Object.assign(TEXT.zh, {
  "hz.file": "＋ 上报隐患", "hz.camera": "拍照或选择照片", "hz.estate": "所属小区",
  "hz.need reason": "请先在“说明”中写明原因：{action}必须说明原因。",
  "hz.confirm close": "关闭隐患 #{id}（{estate}）：不经整改和验收直接销号，只用于误报、重复上报等情况。原因“{reason}”将记入处理记录。\n确定关闭？",
  "hz.confirm reject": "验收不通过：隐患 #{id}（{estate}）将退回责任单位{party}重新整改，原因“{reason}”将记入处理记录。\n确定退回？",
  "hz.reason hint": "例如：整改照片不清楚 / 重复上报",
});
Object.assign(TEXT.en, {
  "hz.file": "+ File a hazard", "hz.camera": "Take or choose a photo", "hz.estate": "Estate",
  "hz.need reason": "Write the reason under \"Reason\" first: {action} needs one.",
  "hz.confirm close": "Close hazard #{id} ({estate}) without rectification or verification: only for a false report or a duplicate. The reason \"{reason}\" goes into its history.\nClose it?",
  "hz.confirm reject": "Reject: hazard #{id} ({estate}) goes back to {party} for rectification, with the reason \"{reason}\" in its history.\nSend it back?",
  "hz.reason hint": "e.g. the after-photo is unclear / a duplicate",
});

async function viewHazards() {
  const params = new URLSearchParams(location.hash.split("?")[1] || "");
  const openOnly = params.get("open") !== "false";
  const overdue = params.get("overdue") === "true";
  const fileFor = params.get("file"); // #/hazards?file=E001: the form open, for that estate (from its page)
  const [hazards, policy, estates] = await Promise.all([
    api(`/api/hazards?open=${openOnly}&overdue=${overdue}&limit=500`), ensurePolicy(), api("/api/estates"),
  ]);
  const criteria = policy.criteria.map((c) => `<option value="${esc(c.code)}">${esc(c.code)} ${esc(pick(c))}</option>`).join("");
  const estateOptions = estates.map((e) => `<option value="${esc(e.id)}" ${e.id === fileFor ? "selected" : ""}>${esc(e.name)} (${esc(e.id)})</option>`).join("");
  const canFile = can("file_hazard");
  view().innerHTML = `<div class="page-head"><h1>${esc(t("nav.hazards"))}</h1>
      ${canFile ? `<button type="button" class="primary" id="h-open-form" data-testid="file-hazard">${esc(t("hz.file"))}</button>` : ""}</div>
    <div class="filters"><label><input type="checkbox" id="f-open" ${openOnly ? "checked" : ""}> ${esc(t("only open"))}</label>
      <label><input type="checkbox" id="f-overdue" ${overdue ? "checked" : ""}> ${esc(t("only overdue"))}</label></div>
    ${hazardTable(hazards, { estate: true })}
    ${canFile ? `<h2 id="file-hazard">${esc(t("file hazard"))}</h2>
    <form class="stack card" id="hazard-form">
      <label for="h-estate">${esc(t("hz.estate"))}</label><select id="h-estate" name="estate_id">${estateOptions}</select>
      <label for="h-criterion">${esc(t("criterion"))}</label><select id="h-criterion" name="criterion">${criteria}</select>
      <label for="h-location">${esc(t("location"))}</label><input id="h-location" name="location">
      <label for="h-description">${esc(t("description"))}</label><textarea id="h-description" name="description" required></textarea>
      <label for="h-photo">${esc(t("photo"))}</label>
      <label class="camera" data-testid="camera"><span>${esc(t("hz.camera"))}</span>
        <input id="h-photo" type="file" accept="image/*" capture="environment"></label>
      ${session.me ? "" : `<label for="h-reporter">${esc(t("reporter"))}</label><input id="h-reporter" name="reporter" required>`}
      <div class="full"><button class="primary" type="submit">${esc(t("submit"))}</button> <span id="h-result"></span></div>
    </form>` : ""}`;
  const reload = () => { location.hash = `#/hazards?open=${$("#f-open").checked}&overdue=${$("#f-overdue").checked}`; };
  $("#f-open").onchange = reload;
  $("#f-overdue").onchange = reload;
  const form = $("#hazard-form");
  if (!form) return;
  form.addEventListener("input", () => { formsDirty = true; });
  const toForm = () => { $("#file-hazard").scrollIntoView({ block: "start" }); $("#h-location").focus({ preventScroll: true }); };
  $("#h-open-form").onclick = toForm;
  if (fileFor) toForm();
  const photo = $("#h-photo");
  photo.onchange = () => { photo.previousElementSibling.textContent = photo.files[0] ? photo.files[0].name : t("hz.camera"); };
  form.onsubmit = async (ev) => {
    ev.preventDefault();
    const body = { estate_id: $("#h-estate").value, criterion: $("#h-criterion").value, location: $("#h-location").value, description: $("#h-description").value };
    if ($("#h-reporter")) body.reporter = $("#h-reporter").value;
    try {
      const file = photo.files[0];
      if (file) {
        const up = await fetch("/api/uploads", { method: "POST", body: file, headers: { "Content-Type": file.type }, credentials: "same-origin" });
        if (!up.ok) throw new ApiError(up.status, await up.json().catch(() => null));
        body.photo = (await up.json()).photo;
      }
      const created = await api("/api/hazards", { json: body });
      formsDirty = false;
      location.hash = `#/hazard/${created.id}`;
    } catch (err) { $("#h-result").innerHTML = `<span class="error">${esc(err.message)}</span>`; }
  };
}

const ACTION_PERMISSION = {
  dispatch: "dispatch_hazard", start: "rectify_hazard", rectified: "rectify_hazard", verify: "verify_hazard",
  reject: "verify_hazard", close: "verify_hazard", note: "note_hazard",
};  // the re-check (复查) has its own section: recheck.js

/** The step that moves a hazard on, in the order of the loop: shown as the page's primary button. */
const NEXT_ACTIONS = ["dispatch", "start", "rectified", "verify"];
/** Steps that undo work or end the loop early: red, apart from the others, confirmed first. */
const DESTRUCTIVE_ACTIONS = ["reject", "close"];

async function viewHazard(id) {
  const h = await api(`/api/hazards/${encodeURIComponent(id)}`);
  // auto_close and escalate are the gateway's own steps; people get the rest, as their role allows.
  const actions = h.allowed_actions.filter((a) => ACTION_PERMISSION[a] && can(ACTION_PERMISSION[a]));
  // Dispatch (派单) picks one of the estate's active parties, never free text.
  const parties = actions.includes("dispatch")
    ? await api(`/api/parties?estate_id=${encodeURIComponent(h.estate_id)}&active=true`).catch(() => []) : [];
  const next = NEXT_ACTIONS.find((a) => actions.includes(a));
  const others = actions.filter((a) => a !== next && !DESTRUCTIVE_ACTIONS.includes(a));
  const destructive = actions.filter((a) => DESTRUCTIVE_ACTIONS.includes(a));
  const button = (a, cls) => `<button type="button" class="${cls}" data-hazard-action="${esc(a)}"${cls === "danger" ? " data-destructive" : ""}>${esc(t("act." + a))}</button>`;
  const field = (forId, label, control) => `<label for="${forId}">${esc(label)}</label>${control}`;
  view().innerHTML = `<h1>#${h.id} ${esc(h.criterion === "maint" ? t("maint") : h.criterion)} ${esc(pick(h.criterion_text))}</h1>
    <p class="hazard-estate" data-testid="hazard-estate">${estateNameLink(h.estate_id, h.estate_name)} · ${esc(h.location)}</p>
    <div class="card" data-testid="hazard-detail" data-state="${esc(h.state)}">
      <p><b>${esc(t("state"))}:</b> <span id="hazard-state" class="state-pill">${esc(t("state." + h.state))}</span> ${h.overdue ? `<b class="error">${esc(t("overdue"))}</b>` : ""}
        · <b>${esc(t("deadline"))}:</b> ${esc(fmtTime(h.deadline)) || "—"}
        · <b>${esc(t("responsible"))}:</b> ${esc(h.responsible) || "—"}</p>
      <p>${esc(hazardText(h))}</p>
      ${h.photo ? `<p><img src="/api/${esc(h.photo)}" alt="${esc(t("photo"))}" style="max-width:320px;border-radius:6px"></p>` : ""}
      ${HAZARD_SECTIONS.map((section) => section.html(h)).join("")}
      ${actions.length ? `<div class="hazard-act" id="hazard-actions">
        <div class="act-fields">
          ${field("a-reason", t("reason"), `<input id="a-reason" placeholder="${esc(t("hz.reason hint"))}">`)}
          ${actions.includes("dispatch") ? field("a-party", t("party"), partySelect(parties)) : ""}
          ${actions.includes("start") ? field("a-deadline", t("deadline"), `<input id="a-deadline" type="datetime-local">`) : ""}
          ${actions.includes("rectified") ? field("a-evidence", t("evidence"), `<input id="a-evidence">`) : ""}
          ${!session.me ? field("a-actor", t("actor"), `<input id="a-actor" value="control room">`) : ""}
        </div>
        <div class="act-buttons">
          ${next ? button(next, "primary big") : ""}${others.map((a) => button(a, "secondary")).join("")}
          ${destructive.length ? `<span class="danger-zone">${destructive.map((a) => button(a, "danger")).join("")}</span>` : ""}
        </div>
        <div id="a-result" role="status"></div>
      </div>` : ""}
    </div>
    <h2>${esc(t("history"))}</h2>
    <table class="cards"><thead><tr><th>${esc(t("time"))}</th><th>${esc(t("actions"))}</th><th>${esc(t("state"))}</th><th>${esc(t("actor"))}</th><th>${esc(t("reason"))}</th></tr></thead>
      <tbody>${h.history.map((s) => `<tr><td>${esc(fmtTime(s.at))}</td><td>${esc(t("act." + s.action))}</td>
        <td>${esc(t("state." + s.to_state))}</td><td>${esc(pick(s.actor_text) || actorName(s.actor))}</td>
        <td>${esc(historyText(s))}</td></tr>`).join("")}</tbody></table>`;
  HAZARD_SECTIONS.forEach((section) => section.wire && section.wire(h, view()));
  document.querySelectorAll("[data-hazard-action]").forEach((el) => {
    el.onclick = async () => {
      const action = el.dataset.hazardAction;
      const body = { action, reason: $("#a-reason").value.trim() };
      if (DESTRUCTIVE_ACTIONS.includes(action)) {
        if (!body.reason) {
          $("#a-result").innerHTML = `<span class="error">${esc(tf("hz.need reason", { action: t("act." + action) }))}</span>`;
          $("#a-reason").focus();
          return;
        }
        const party = h.responsible || "";
        if (!window.confirm(tf("hz.confirm " + action, { id: h.id, estate: h.estate_name || h.estate_id, reason: body.reason, party }))) return;
      }
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
  return `<select id="a-party" data-testid="party-select">${parties.map((p) =>
    `<option value="${p.id}">${esc(p.name)} · ${esc(partyKind(p.kind))}${p.contact ? " · " + esc(p.contact) : ""}${p.phone ? " " + esc(p.phone) : ""}</option>`).join("")}</select>`;
}
