/* Photos of each step of a hazard (issue 16, "Evidence"): the hazard page's photo section.
 *
 * Before (整改前: what was found, the photo given at filing first) and after (整改后) side by side, the latest
 * of each; every other photo (earlier ones, re-check, other) as a thumbnail below. The upload form offers the
 * steps the account may add (POST /api/hazards/{id}/photos) and shows the API's sentence when an upload is
 * refused (not an image, too large, the daily quota, the hazard's cap). While the hazard is being rectified
 * without an after-photo, the rectify button carries the hint that one is needed first.
 * Runs in app.js's global scope and uses its helpers (api, esc, t, tf, can, fmtTime, session, viewHazard).
 */
"use strict";

Object.assign(TEXT.zh, {
  "ph.title": "照片证据", "ph.before": "整改前", "ph.after": "整改后", "ph.recheck": "复查", "ph.other": "其他",
  "ph.none": "暂无照片", "ph.step": "照片类型", "ph.file": "照片文件", "ph.note": "说明（可选）", "ph.upload": "上传照片",
  "ph.filed": "上报时附带", "ph.located": "已去除位置信息", "ph.uploading": "上传中…", "ph.no file": "请选择照片文件",
  "ph.need after": "需先上传整改后照片（整改开始后拍摄），才能点“整改完成”", "ph.more": "其他照片",
  "ph.open": "查看原图",
});
Object.assign(TEXT.en, {
  "ph.title": "Photo evidence", "ph.before": "Before", "ph.after": "After rectification", "ph.recheck": "Re-check",
  "ph.other": "Other", "ph.none": "No photo yet", "ph.step": "Photo of", "ph.file": "Photo file", "ph.note": "Note (optional)",
  "ph.upload": "Upload photo", "ph.filed": "given when filed", "ph.located": "location removed", "ph.uploading": "Uploading…",
  "ph.no file": "Choose a photo file", "ph.need after": "Upload an after-photo (taken since rectification started) before 'Rectified'",
  "ph.more": "Other photos", "ph.open": "open the full photo",
});

/** The permission each step needs (gateway/auth/principal.py, PHOTO_STEP_PERMISSIONS). */
const PHOTO_STEPS = { before: "file_hazard", after: "rectify_hazard", recheck: "recheck_hazard", other: "note_hazard" };

(function addPhotoStyle() {
  const style = document.createElement("style");
  style.textContent = `.photo-pair { display: grid; grid-template-columns: 1fr 1fr; gap: 12px; }
    .photo-pair figure { margin: 0; } .photo-pair figcaption { font-weight: 600; margin-bottom: 4px; }
    .photo-pair img { width: 100%; max-height: 360px; object-fit: contain; background: #f3f4f6; border-radius: 6px; }
    .photo-thumbs { display: flex; flex-wrap: wrap; gap: 8px; margin-top: 8px; }
    .photo-thumbs figure { margin: 0; font-size: .8rem; } .photo-thumbs img { width: 112px; height: 84px; object-fit: cover; border-radius: 4px; }
    .photo-meta { color: #5a626e; font-size: .85rem; }
    @media (max-width: 640px) { .photo-pair { grid-template-columns: 1fr; } }`;
  document.head.appendChild(style);
})();

function photoMeta(p) {
  const parts = [p.added_by, fmtTime(p.added_at)];
  if (p.filed) parts.push(t("ph.filed"));
  if (p.location_removed) parts.push(t("ph.located"));
  return `<div class="photo-meta">${esc(parts.filter(Boolean).join(" · "))}${p.note ? `<br>${esc(p.note)}` : ""}</div>`;
}

function photoImage(p) {
  return `<a href="/api/${esc(p.photo)}" target="_blank" rel="noopener" title="${esc(t("ph.open"))}">
    <img src="/api/${esc(p.photo)}" alt="${esc(t("ph." + p.step))}" loading="lazy"></a>`;
}

/** The latest photo of a step (the list is oldest first). */
const latestOf = (photos, step) => photos.filter((p) => p.step === step).at(-1);

function photoForm(h) {
  const steps = Object.keys(PHOTO_STEPS).filter((s) => can(PHOTO_STEPS[s]));
  if (!steps.length) return "";
  const preferred = ["rectifying", "rectified"].includes(h.state) ? "after" : h.state === "closed" ? "recheck" : "before";
  const chosen = steps.includes(preferred) ? preferred : steps[0];
  return `<form id="photo-form" class="actions-row">
      <label for="photo-step">${esc(t("ph.step"))}</label>
      <select id="photo-step" name="step">${steps.map((s) => `<option value="${s}" ${s === chosen ? "selected" : ""}>${esc(t("ph." + s))}</option>`).join("")}</select>
      <label for="photo-file">${esc(t("ph.file"))}</label>
      <input id="photo-file" name="photo" type="file" accept="image/jpeg,image/png,image/webp">
      <label for="photo-note">${esc(t("ph.note"))}</label><input id="photo-note" name="note" maxlength="2000">
      ${session.authEnabled ? "" : `<label for="photo-actor">${esc(t("actor"))}</label><input id="photo-actor" required>`}
      <button type="submit">${esc(t("ph.upload"))}</button> <span data-testid="photo-error"></span>
    </form>`;
}

HAZARD_SECTIONS.push({
  html(h) {
    const photos = h.photos || [];
    const shown = ["before", "after"].map((step) => latestOf(photos, step));
    const sides = ["before", "after"].map((step, i) => `<figure data-photo-side="${step}">
        <figcaption>${esc(t("ph." + step))}</figcaption>
        ${shown[i] ? photoImage(shown[i]) + photoMeta(shown[i]) : `<p class="muted">${esc(t("ph.none"))}</p>`}</figure>`);
    const others = photos.filter((p) => !shown.includes(p));
    return `<section data-testid="hazard-photos" class="hazard-photos">
      <h2>${esc(t("ph.title"))} (${photos.length})</h2>
      <div class="photo-pair">${sides.join("")}</div>
      ${others.length ? `<p class="photo-meta">${esc(t("ph.more"))}</p><div class="photo-thumbs">${others.map((p) => `<figure data-photo-step="${esc(p.step)}">
        ${photoImage(p)}<figcaption>${esc(t("ph." + p.step))} · ${esc(fmtTime(p.added_at))}</figcaption></figure>`).join("")}</div>` : ""}
      ${photoForm(h)}
    </section>`;
  },
  wire(h, root) {
    // The photo given at filing is the first before-photo here: app.js's own copy of it would show it twice.
    if (h.photo) root.querySelectorAll('[data-testid="hazard-detail"] > p > img').forEach((img) => img.parentElement.remove());
    const rectify = root.querySelector('[data-hazard-action="rectified"]');
    if (rectify && h.after_photo_missing) {
      rectify.title = h.after_photo_missing;
      rectify.insertAdjacentHTML("afterend", ` <span class="error" data-testid="rectify-hint">${esc(t("ph.need after"))}</span>`);
    }
    const form = $("#photo-form", root);
    if (!form) return;
    form.onsubmit = async (ev) => {
      ev.preventDefault();
      const out = $('[data-testid="photo-error"]', form);
      const file = $("#photo-file", form).files[0];
      if (!file) { out.innerHTML = `<span class="error">${esc(t("ph.no file"))}</span>`; return; }
      const body = new FormData();
      body.append("photo", file);
      body.append("step", $("#photo-step", form).value);
      body.append("note", $("#photo-note", form).value);
      if ($("#photo-actor", form)) body.append("actor", $("#photo-actor", form).value);
      const button = $("button[type=submit]", form);
      button.disabled = true;
      out.textContent = t("ph.uploading");
      try {
        await api(`/api/hazards/${h.id}/photos`, { method: "POST", body });
        await viewHazard(h.id);
      } catch (err) {
        out.innerHTML = `<span class="error">${esc(err.message)}</span>`;
        button.disabled = false;
      }
    };
  },
});
