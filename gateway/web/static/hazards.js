/* Alarms list, hazards list and one hazard's page with the closed-loop actions. */
"use strict";

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
  reject: "verify_hazard", close: "verify_hazard", note: "note_hazard",
};  // the re-check (复查) has its own section: recheck.js

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
