/* Responsible parties (责任单位): #/parties and #/parties/ID, on /api/parties (issue 16).
 *
 * Hazards are dispatched to a party serving their estate, so the office that dispatches keeps the list right
 * here: every signed-in account reads the parties serving its estates (filter by estate, kind, state); accounts
 * with `manage_parties` (office, brigade) add one, edit one, deactivate or reactivate one with a reason, and
 * see the channel addresses (webhook URLs carry keys, so others see only how many there are). #/parties/ID is
 * one party with its version history (who changed what, when and why). Runs in app.js's global scope and uses
 * its helpers (api, esc, t, tf, can, view, ...); refusals are shown as the API's own sentence.
 */
"use strict";

const PARTY_KINDS = ["property_company", "community", "street", "maintenance_company", "owners_committee", "district", "brigade"];
const PARTY_FIELDS = ["kind", "name", "contact", "phone", "channels", "estate_ids", "active"];

Object.assign(TEXT.zh, {
  "nav.parties": "责任单位", "pt.title": "责任单位", "pt.kind": "类型", "pt.name": "名称", "pt.contact": "联系人",
  "pt.phone": "电话", "pt.channels": "通知渠道", "pt.channels.input": "通知渠道地址（每行一个：企业微信/钉钉机器人 Webhook、Apprise 地址或邮箱）",
  "pt.estates": "服务小区", "pt.state": "状态", "pt.active": "有效", "pt.inactive": "已停用", "pt.all": "全部",
  "pt.open": "查看", "pt.none": "没有符合条件的责任单位", "pt.add": "添加责任单位", "pt.edit": "修改责任单位",
  "pt.save": "保存", "pt.create": "添加", "pt.reason": "修改说明（记入版本记录）", "pt.nothing": "没有修改任何内容",
  "pt.deactivate": "停用", "pt.reactivate": "恢复启用",
  "pt.state.title": "停用或恢复", "pt.state.reason": "原因（必填，例如：合同到期、重新签约）",
  "pt.state.why deactivate": "停用后不能再向该单位派单，已派的隐患不变。", "pt.state.why reactivate": "恢复后可以再向该单位派单。",
  "pt.versions": "版本记录", "pt.v.at": "时间", "pt.v.actor": "操作人", "pt.v.action": "操作", "pt.v.changed": "变更内容",
  "pt.v.reason": "说明", "pt.v.became": "变更后", "pt.v.create": "创建", "pt.v.update": "修改", "pt.back": "返回责任单位列表",
  "pt.count": "{n} 个", "pt.saved": "已保存", "pt.read only": "只读：街道/社区或消防救援大队账号可以添加和修改责任单位",
  "pkind.property_company": "物业公司", "pkind.community": "社区", "pkind.street": "街道",
  "pkind.maintenance_company": "维保公司", "pkind.owners_committee": "业主委员会", "pkind.district": "区消安委",
  "pkind.brigade": "消防救援大队", "pf.kind": "类型", "pf.name": "名称", "pf.contact": "联系人", "pf.phone": "电话",
  "pf.channels": "通知渠道", "pf.estate_ids": "服务小区", "pf.active": "状态",
});
Object.assign(TEXT.en, {
  "nav.parties": "Parties", "pt.title": "Responsible parties", "pt.kind": "Kind", "pt.name": "Name", "pt.contact": "Contact",
  "pt.phone": "Phone", "pt.channels": "Channels", "pt.channels.input": "Channel addresses, one per line (WeCom/DingTalk robot webhook, Apprise URL or e-mail)",
  "pt.estates": "Estates served", "pt.state": "State", "pt.active": "active", "pt.inactive": "inactive", "pt.all": "All",
  "pt.open": "Open", "pt.none": "No party matches", "pt.add": "Add a party", "pt.edit": "Edit the party",
  "pt.save": "Save", "pt.create": "Add", "pt.reason": "Why (kept with the version)", "pt.nothing": "Nothing was changed",
  "pt.deactivate": "Deactivate", "pt.reactivate": "Reactivate",
  "pt.state.title": "Deactivate or reactivate", "pt.state.reason": "Reason (required, e.g. contract ended, signed again)",
  "pt.state.why deactivate": "Once inactive, no hazard can be dispatched to it; hazards already dispatched stay.", "pt.state.why reactivate": "Once active, hazards can be dispatched to it again.",
  "pt.versions": "Version history", "pt.v.at": "When", "pt.v.actor": "By", "pt.v.action": "Action", "pt.v.changed": "Changed",
  "pt.v.reason": "Why", "pt.v.became": "As it became", "pt.v.create": "created", "pt.v.update": "changed", "pt.back": "Back to the parties",
  "pt.count": "{n}", "pt.saved": "Saved", "pt.read only": "Read only: street/community office and fire brigade accounts add and change parties",
  "pkind.property_company": "Property company", "pkind.community": "Community", "pkind.street": "Street office",
  "pkind.maintenance_company": "Maintenance company", "pkind.owners_committee": "Owners' committee", "pkind.district": "District fire-safety committee",
  "pkind.brigade": "Fire brigade", "pf.kind": "kind", "pf.name": "name", "pf.contact": "contact", "pf.phone": "phone",
  "pf.channels": "channels", "pf.estate_ids": "estates", "pf.active": "state",
});

(function addPartiesLink() {
  addNavLink("parties", { after: "hazards" });
  const style = document.createElement("style");
  style.textContent = `.pick-list { display: grid; grid-template-columns: repeat(auto-fill, minmax(190px, 1fr)); gap: 2px 10px;
      max-height: 180px; overflow: auto; border: 1px solid var(--line); border-radius: 4px; padding: 6px; }
    .pick-list label { white-space: nowrap; } form.stack .pick-list input { width: auto; }
    tr.party-inactive td { color: var(--muted); }`;
  document.head.appendChild(style);
})();

const partyKind = (kind) => t("pkind." + kind);
const partyState = (p) => (p.active ? esc(t("pt.active")) : `<b class="error">${esc(t("pt.inactive"))}</b>`);
const estateName = (estates, id) => { const e = estates.find((x) => x.id === id); return e ? `${id} ${e.name}` : id; };
const partyEstates = (p, estates) => p.estate_ids.map((id) => `<a href="#/estate/${encodeURIComponent(id)}">${esc(estateName(estates, id))}</a>`).join("、");

/** The channel addresses to managers (one a line), their count to everyone else. */
function partyChannels(p) {
  const count = esc(tf("pt.count", { n: p.channel_count }));
  if (!p.channels) return count;
  return `${count}${p.channels.map((c) => `<br><span class="muted">${esc(c)}</span>`).join("")}`;
}

function partyTable(parties, estates) {
  if (!parties.length) return `<p class="muted" data-testid="parties-none">${esc(t("pt.none"))}</p>`;
  const head = ["pt.kind", "pt.name", "pt.contact", "pt.phone", "pt.channels", "pt.estates", "pt.state", ""].map((k) => `<th>${k ? esc(t(k)) : ""}</th>`).join("");
  return `<table data-testid="parties"><tr>${head}</tr>${parties.map((p) => `<tr data-party-row="${p.id}" data-active="${p.active}" class="${p.active ? "" : "party-inactive"}">
    <td>${esc(partyKind(p.kind))}</td><td><b>${esc(p.name)}</b></td><td>${esc(p.contact)}</td><td>${esc(p.phone)}</td>
    <td data-channels="${p.channel_count}">${partyChannels(p)}</td><td>${partyEstates(p, estates)}</td><td>${partyState(p)}</td>
    <td><a href="#/parties/${p.id}">${esc(t("pt.open"))}</a></td></tr>`).join("")}</table>`;
}

/** The add form (``p`` null) or the edit form of ``p``: a label on every input, estates picked from the scope. */
function partyForm(p, estates) {
  const v = p || { kind: "property_company", name: "", contact: "", phone: "", channels: [], estate_ids: [] };
  const picked = new Set(v.estate_ids);
  const input = (key, attrs = "") => `<label for="pf-${key}">${esc(t("pt." + key))}</label><input id="pf-${key}" value="${esc(v[key])}" ${attrs}>`;
  return `<form class="stack card" id="party-form" data-testid="party-form">
    <label for="pf-kind">${esc(t("pt.kind"))}</label><select id="pf-kind">${PARTY_KINDS.map((k) => `<option value="${k}" ${k === v.kind ? "selected" : ""}>${esc(partyKind(k))}</option>`).join("")}</select>
    ${input("name", 'required maxlength="256"')}${input("contact", 'maxlength="128"')}${input("phone", 'maxlength="32" placeholder="13800138000 / 010-12345678"')}
    <label for="pf-channels">${esc(t("pt.channels.input"))}</label><textarea id="pf-channels" rows="3">${esc((v.channels || []).join("\n"))}</textarea>
    <span id="pf-estates-label">${esc(t("pt.estates"))}</span><div class="pick-list" role="group" aria-labelledby="pf-estates-label" id="pf-estates">
      ${estates.map((e) => `<label><input type="checkbox" value="${esc(e.id)}" ${picked.has(e.id) ? "checked" : ""}> ${esc(e.id)} ${esc(e.name)}</label>`).join("")}</div>
    <label for="pf-reason">${esc(t("pt.reason"))}</label><input id="pf-reason" maxlength="2000">
    <div class="full"><button class="primary" type="submit">${esc(t(p ? "pt.save" : "pt.create"))}</button> <span data-form-result></span></div></form>`;
}

function readPartyForm() {
  return {
    kind: $("#pf-kind").value,
    name: $("#pf-name").value.trim(),
    contact: $("#pf-contact").value.trim(),
    phone: $("#pf-phone").value.trim(),
    channels: $("#pf-channels").value.split("\n").map((line) => line.trim()).filter(Boolean),
    estate_ids: [...document.querySelectorAll("#pf-estates input:checked")].map((box) => box.value),
  };
}

/** Submit a party form: ``send(body)`` returns the party the API answered with, or throws its refusal. */
function wirePartyForm(formId, send) {
  const form = document.getElementById(formId);
  if (!form) return;
  const result = form.querySelector("[data-form-result]");
  form.addEventListener("input", () => { formsDirty = true; });
  form.onsubmit = async (ev) => {
    ev.preventDefault();
    try {
      const party = await send();
      formsDirty = false;
      if (party === null) { result.innerHTML = `<span class="muted">${esc(t("pt.nothing"))}</span>`; return; }
      if (location.hash === `#/parties/${party.id}`) await route(); else location.hash = `#/parties/${party.id}`;
    } catch (err) { result.innerHTML = `<span class="error">${esc(err.message)}</span>`; }
  };
}

async function viewParties() {
  const params = new URLSearchParams(location.hash.split("?")[1] || "");
  const filter = { estate_id: params.get("estate") || "", kind: params.get("kind") || "", active: params.get("active") || "" };
  const query = new URLSearchParams(Object.entries(filter).filter(([, value]) => value)).toString();
  const [parties, estates] = await Promise.all([api(`/api/parties?${query}`), api("/api/estates")]);
  const manages = can("manage_parties");
  const options = (values, chosen, label) => [["", t("pt.all")], ...values.map((value) => [value, label(value)])]
    .map(([value, text]) => `<option value="${esc(value)}" ${value === chosen ? "selected" : ""}>${esc(text)}</option>`).join("");
  view().innerHTML = `<h1>${esc(t("pt.title"))} <span class="muted" data-testid="parties-count">${parties.length}</span></h1>
    <div class="filters">
      <label>${esc(t("estates"))} <select id="pf-f-estate">${options(estates.map((e) => e.id), filter.estate_id, (id) => estateName(estates, id))}</select></label>
      <label>${esc(t("pt.kind"))} <select id="pf-f-kind">${options(PARTY_KINDS, filter.kind, partyKind)}</select></label>
      <label>${esc(t("pt.state"))} <select id="pf-f-active">${options(["true", "false"], filter.active, (a) => t(a === "true" ? "pt.active" : "pt.inactive"))}</select></label></div>
    ${partyTable(parties, estates)}
    ${manages ? `<details class="formbox" id="party-add" ${parties.length ? "" : "open"}><summary>${esc(t("pt.add"))}</summary>${partyForm(null, estates)}</details>`
      : `<p class="muted">${esc(t("pt.read only"))}</p>`}`;
  const refilter = () => {
    const next = new URLSearchParams({ estate: $("#pf-f-estate").value, kind: $("#pf-f-kind").value, active: $("#pf-f-active").value });
    location.hash = `#/parties?${new URLSearchParams([...next].filter(([, value]) => value))}`;
  };
  ["#pf-f-estate", "#pf-f-kind", "#pf-f-active"].forEach((sel) => { $(sel).onchange = refilter; });
  wirePartyForm("party-form", async () => {
    return api("/api/parties", { json: { ...readPartyForm(), reason: $("#pf-reason").value.trim() } });
  });
}

/** What an update changed, in the reader's words (a creation says so in its action column). */
const versionChanged = (v) => (v.action === "create" ? "—" : v.changed.map((f) => esc(t("pf." + f))).join("、") || "—");

function versionTable(versions, estates) {
  return `<table data-testid="party-versions"><tr><th>${esc(t("pt.v.at"))}</th><th>${esc(t("pt.v.actor"))}</th><th>${esc(t("pt.v.action"))}</th>
    <th>${esc(t("pt.v.changed"))}</th><th>${esc(t("pt.v.reason"))}</th><th>${esc(t("pt.v.became"))}</th></tr>
    ${versions.slice().reverse().map((v) => { const p = v.party; return `<tr data-version-action="${esc(v.action)}"><td>${esc(fmtTime(v.at))}</td><td>${esc(pick(v.actor_text) || v.actor)}</td>
      <td>${esc(t("pt.v." + v.action))}</td><td>${versionChanged(v)}</td><td>${esc(pick(v.reason_text) || v.reason)}</td>
      <td>${esc(partyKind(p.kind))} · ${esc(p.name)} · ${esc([p.contact, p.phone].filter(Boolean).join(" ")) || "—"} · ${partyEstates(p, estates) || "—"} · ${partyState(p)}</td></tr>`; }).join("")}</table>`;
}

/** Deactivate (or reactivate) with a reason: what it means for dispatch is said beside the button. */
function partyStateForm(p) {
  const action = p.active ? "pt.deactivate" : "pt.reactivate";
  return `<form class="stack card" id="party-state-form" data-testid="party-state-form">
    <span class="full muted">${esc(t(p.active ? "pt.state.why deactivate" : "pt.state.why reactivate"))}</span>
    <label for="ps-reason">${esc(t("pt.state.reason"))}</label><input id="ps-reason" required maxlength="2000">
    <div class="full"><button type="submit" class="${p.active ? "" : "primary"}" id="ps-submit">${esc(t(action))}</button> <span data-form-result></span></div></form>`;
}

async function viewParty(id) {
  const [versions, estates] = await Promise.all([api(`/api/parties/${encodeURIComponent(id)}/versions`), api("/api/estates")]);
  const p = versions[versions.length - 1].party;
  const manages = can("manage_parties");
  const row = (key, html) => `<tr><th>${esc(t(key))}</th><td>${html}</td></tr>`;
  view().innerHTML = `<p><a href="#/parties">${esc(t("pt.back"))}</a></p>
    <h1>${esc(t("pt.title"))} #${p.id} · ${esc(p.name)} <span class="muted">${esc(partyKind(p.kind))}</span></h1>
    <table class="checks card" data-testid="party-detail" data-active="${p.active}">
      ${row("pt.kind", esc(partyKind(p.kind)))}${row("pt.name", esc(p.name))}${row("pt.contact", esc(p.contact))}${row("pt.phone", esc(p.phone))}
      ${row("pt.channels", partyChannels(p))}${row("pt.estates", partyEstates(p, estates))}${row("pt.state", partyState(p))}</table>
    ${manages ? `<h2>${esc(t("pt.edit"))}</h2>${partyForm(p, estates)}<h2>${esc(t("pt.state.title"))}</h2>${partyStateForm(p)}` : ""}
    <h2>${esc(t("pt.versions"))}</h2>${versionTable(versions, estates)}`;
  const patch = (body) => api(`/api/parties/${p.id}`, { method: "PATCH", json: body });
  wirePartyForm("party-form", async () => {
    const now = readPartyForm();
    const changes = Object.fromEntries(PARTY_FIELDS.filter((f) => f in now && JSON.stringify(now[f]) !== JSON.stringify(p[f])).map((f) => [f, now[f]]));
    if (!Object.keys(changes).length) return null;
    return patch({ ...changes, reason: $("#pf-reason").value.trim() });
  });
  wirePartyForm("party-state-form", () => patch({ active: !p.active, reason: $("#ps-reason").value.trim() }));
}

EXTRA_VIEWS.parties = async (id) => (id ? viewParty(id) : viewParties());
