/* The hazard page's escalation line and re-check (复查) section (issue 16).
 *
 * Escalation: where the last escalation went (street, district, brigade) and how many there were.
 * Re-check: a verified hazard comes back for its re-check on `recheck_due`; before that day the section says
 * when, from it on an office or grid account records the outcome. A failed re-check opens a new hazard
 * linked to this one; both pages link to each other.
 */
"use strict";

Object.assign(TEXT.zh, {
  "recheck.title": "复查", "recheck.due": "复查日期", "recheck.not_yet": "未到复查日期，{date} 起可复查",
  "recheck.outcome": "复查结果", "recheck.passed": "通过：整改保持有效", "recheck.failed": "未通过：问题复现",
  "recheck.found": "复查情况说明", "recheck.submit": "记录复查", "recheck.done": "已复查",
  "recheck.reopened_as": "复查未通过，已重新立案为隐患", "recheck.reopened_from": "由隐患复查未通过而重新立案：",
  "escalation.line": "已督办 {n} 次，当前至：{level}", "level.community": "社区", "level.street": "街道",
  "level.district": "区（县）", "level.brigade": "消防救援大队",
});
Object.assign(TEXT.en, {
  "recheck.title": "Re-check", "recheck.due": "Re-check due", "recheck.not_yet": "Not due yet: re-check from {date}",
  "recheck.outcome": "Outcome", "recheck.passed": "Passed: the fix has lasted", "recheck.failed": "Failed: the problem is back",
  "recheck.found": "What was found", "recheck.submit": "Record the re-check", "recheck.done": "Re-checked",
  "recheck.reopened_as": "Re-check failed; reopened as hazard", "recheck.reopened_from": "Reopened after a failed re-check of hazard",
  "escalation.line": "Escalated {n} time(s), now at: {level}", "level.community": "community", "level.street": "street office",
  "level.district": "district", "level.brigade": "fire brigade",
});

const hazardLink = (id) => `<a href="#/hazard/${encodeURIComponent(id)}">#${esc(id)}</a>`;

HAZARD_SECTIONS.push({
  html(h) {
    const parts = [];
    if (h.escalations) {
      parts.push(`<p class="error" data-testid="escalation">${esc(tf("escalation.line", { n: h.escalations, level: t("level." + h.escalation_level) }))}</p>`);
    }
    if (h.reopened_from) parts.push(`<p data-testid="reopened-from">${esc(t("recheck.reopened_from"))} ${hazardLink(h.reopened_from)}</p>`);
    if (h.reopened_as) parts.push(`<p class="error" data-testid="reopened-as">${esc(t("recheck.reopened_as"))} ${hazardLink(h.reopened_as)}</p>`);
    if (h.state === "closed" && h.recheck_due) {
      const due = new Date(h.recheck_due);
      const ready = due <= new Date();
      const allowed = can("recheck_hazard");
      parts.push(`<fieldset class="card" data-testid="recheck" data-due="${ready ? "due" : "later"}">
        <legend>${esc(t("recheck.title"))}</legend>
        <p><b>${esc(t("recheck.due"))}:</b> ${esc(fmtTime(h.recheck_due))}
          ${ready ? "" : `<span class="muted">${esc(tf("recheck.not_yet", { date: fmtDate(h.recheck_due) }))}</span>`}</p>
        ${ready && allowed ? `<div class="actions-row">
          <label>${esc(t("recheck.outcome"))}
            <select id="recheck-outcome"><option value="passed">${esc(t("recheck.passed"))}</option>
              <option value="failed">${esc(t("recheck.failed"))}</option></select></label>
          <label>${esc(t("recheck.found"))} <input id="recheck-reason"></label>
          <button type="button" class="primary" id="recheck-submit">${esc(t("recheck.submit"))}</button>
          <span id="recheck-result"></span></div>` : ""}
      </fieldset>`);
    }
    return parts.join("");
  },
  wire(h) {
    const button = $("#recheck-submit");
    if (!button) return;
    button.onclick = async () => {
      const body = { action: "recheck", outcome: $("#recheck-outcome").value, reason: $("#recheck-reason").value };
      try {
        const after = await api(`/api/hazards/${h.id}/transitions`, { json: body });
        if (after.reopened_as) location.hash = `#/hazard/${after.reopened_as}`;
        else await viewHazard(h.id);
      } catch (err) { $("#recheck-result").innerHTML = `<span class="error">${esc(err.message)}</span>`; }
    };
  },
});
