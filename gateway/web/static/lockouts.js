/* Sign-in lock-outs (登录锁定): #/lockouts, on GET /api/auth/lockouts (gateway/auth/throttle.py).
 *
 * A colleague who typed a wrong password five times is locked out for 15 minutes, doubling; the office that
 * runs the area (or the brigade, or an admin) ends the lock here, once the person has been reached and the
 * password is known to be theirs. Offices see the accounts working in their area; the brigade and admins also
 * see names nobody has (someone guessing) and client addresses (all sign-ins from one place). Each unlock is
 * audited by the gateway; the lock-outs and unlocks are also in `firegw users lockouts`.
 * The nav link shows only for accounts that may unlock (``[data-needs]``, core.js applyStaticText).
 */
"use strict";

Object.assign(TEXT.zh, {
  "nav.lockouts": "登录锁定", "lo.title": "登录锁定", "lo.intro": "连续输错密码的账号和来源地址会被暂时锁定。确认是本人后可提前解锁；每次解锁都会记录操作人。",
  "lo.kind": "类型", "lo.kind.account": "账号", "lo.kind.address": "来源地址", "lo.name": "账号 / 地址", "lo.who": "姓名",
  "lo.until": "锁定至", "lo.times": "连续锁定次数", "lo.unlock": "解锁", "lo.none": "当前没有被锁定的账号或地址",
  "lo.unknown": "不存在的账号（可能有人在猜测）", "lo.done": "已解锁：{name}", "lo.confirm": "确认已联系到本人，解锁 {name}？",
});
Object.assign(TEXT.en, {
  "nav.lockouts": "Lock-outs", "lo.title": "Sign-in lock-outs", "lo.intro": "Accounts and client addresses that typed wrong passwords too often are locked for a while. Once you know it was the person themselves, end the lock here; every unlock is recorded with your name.",
  "lo.kind": "Kind", "lo.kind.account": "account", "lo.kind.address": "client address", "lo.name": "Account / address", "lo.who": "Name",
  "lo.until": "Locked until", "lo.times": "Locks in a row", "lo.unlock": "Unlock", "lo.none": "No account or address is locked",
  "lo.unknown": "no such account (someone guessing?)", "lo.done": "Unlocked: {name}", "lo.confirm": "You have reached the person: unlock {name}?",
});

addNavLink("lockouts", { needs: "unlock_accounts" });

EXTRA_VIEWS.lockouts = async () => {
  const locks = await api("/api/auth/lockouts");
  const row = (l) => {
    const who = l.kind === "address" ? "" : l.known ? esc(l.display_name) : `<span class="muted">${esc(t("lo.unknown"))}</span>`;
    return `<tr data-lock="${esc(l.kind)}:${esc(l.name)}"><td>${esc(t("lo.kind." + l.kind))}</td><td>${esc(l.name)}</td><td>${who}</td>
      <td>${esc(fmtTime(l.locked_until))}</td><td>${l.lockouts}</td>
      <td><button type="button" data-unlock-kind="${esc(l.kind)}" data-unlock-name="${esc(l.name)}">${esc(t("lo.unlock"))}</button></td></tr>`;
  };
  view().innerHTML = `<h1>${esc(t("lo.title"))}</h1><p class="muted">${esc(t("lo.intro"))}</p>
    <p id="lo-result" role="status"></p>
    ${locks.length ? `<table data-testid="lockouts"><tr><th>${esc(t("lo.kind"))}</th><th>${esc(t("lo.name"))}</th><th>${esc(t("lo.who"))}</th>
      <th>${esc(t("lo.until"))}</th><th>${esc(t("lo.times"))}</th><th></th></tr>${locks.map(row).join("")}</table>`
      : `<p data-testid="lockouts-none">${esc(t("lo.none"))}</p>`}`;
  view().querySelectorAll("[data-unlock-name]").forEach((button) => {
    button.onclick = async () => {
      const { unlockKind: kind, unlockName: name } = button.dataset;
      if (!window.confirm(tf("lo.confirm", { name }))) return;
      const path = kind === "address" ? `/api/auth/addresses/${encodeURIComponent(name)}/unlock` : `/api/auth/users/${encodeURIComponent(name)}/unlock`;
      try {
        await api(path, { method: "POST" });
        await EXTRA_VIEWS.lockouts();
        $("#lo-result").textContent = tf("lo.done", { name });
      } catch (err) { showError("#lo-result", err); }
    };
  });
};
