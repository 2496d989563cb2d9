import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import type { TestServer } from './helpers/server.ts';
import { Browser, alertText } from './helpers/cookie-fetch.ts';
import { startServerWithSink, type SmtpSink } from './helpers/smtp-sink.ts';
import { codeAt, recoveryCodesIn } from './helpers/mfa.ts';

/*
 * The authenticator app on /account: enroll (QR code, #totp-secret, first code, recovery codes
 * once); then the account sign-in asks for a code; new recovery codes and removal each need a
 * current code, and each change is mailed to the user.
 */
let ts: TestServer;
let sink: SmtpSink;
const PASSWORD = 'account mfa password 1';
before(async () => {
  ({ ts, sink } = await startServerWithSink());
});
after(async () => { await ts?.close(); });

const accountUrl = () => new URL(`${ts.base}/account`);

async function signIn(b: Browser, email: string) {
  const page = await (await b.request(accountUrl())).text();
  const r = await b.submit(accountUrl(), page, { email, password: PASSWORD }, { actionIncludes: '/account/login' });
  return r;
}

test('enroll on /account, then removing or new recovery codes need a current code; changes are mailed', async () => {
  const email = 'acct.mfa@example.com';
  const u = (await ts.api('POST', '/users', { email, password: PASSWORD })).body;
  const b = new Browser();
  assert.equal((await signIn(b, email)).status, 303);
  let page = await (await b.request(accountUrl())).text();
  assert.match(page, /<section id="mfa"/);
  assert.match(page, /Set up authenticator app/);
  // The default policy (never) asks for the code only where a second factor is required: the
  // page says so, and does not promise that the password alone stops working.
  assert.doesNotMatch(page, /stolen password/);
  assert.match(page, /applications that ask for a second factor will then ask you for a code/);
  const enroll = await b.submit(accountUrl(), page, {}, { actionIncludes: '/account/mfa/enroll' });
  assert.equal(enroll.status, 200);
  const enrollHtml = await enroll.text();
  const secret = /id="totp-secret"[^>]*>([A-Z2-7]+)<\/code>/.exec(enrollHtml)![1];
  assert.match(enrollHtml, /<svg/);
  const bad = await b.submit(accountUrl(), enrollHtml, { code: '12345' });
  assert.equal(bad.status, 400);
  const codes = await b.submit(accountUrl(), await bad.text(), { code: await codeAt(secret) });
  assert.equal(codes.status, 200);
  const recovery = recoveryCodesIn(await codes.text());
  assert.equal(recovery.length, 10);
  assert.equal((await ts.api('GET', `/users/${encodeURIComponent(u.user_id)}/authentication-methods`)).body.length, 1);
  const mail = await sink.waitFor((m) => m.to.includes(email) && /two-step verification changed/.test(m.subject));
  assert.match(mail.text, /authenticator app was added/i);

  // The account sign-in now asks for a code too.
  const b2 = new Browser();
  const step = await signIn(b2, email);
  const stepPage = step.status === 303 ? await (await b2.request(new URL(step.headers.get('location')!, accountUrl()))).text() : await step.text();
  assert.match(stepPage, /name="code"/);

  // New recovery codes need a current code; a wrong one is refused and nothing changes.
  page = await (await b.request(accountUrl())).text();
  assert.match(page, /You are asked for a code when an application requires a second factor/);
  const wrong = await b.submit(accountUrl(), page, { code: '000000' === await codeAt(secret, 1) ? '111111' : '000000' }, { actionIncludes: '/account/mfa/recovery-codes' });
  assert.equal(wrong.status, 400);
  assert.match(alertText(await wrong.text()) ?? '', /not valid/);
  page = await (await b.request(accountUrl())).text();
  const used = await codeAt(secret, 1);
  const regen = await b.submit(accountUrl(), page, { code: used }, { actionIncludes: '/account/mfa/recovery-codes' });
  assert.equal(regen.status, 200);
  const fresh = recoveryCodesIn(await regen.text());
  assert.equal(fresh.length, 10);
  assert.equal((await ts.ctx.mfa.verify(u.user_id, recovery[0])).ok, false, 'the old set stopped working');
  assert.equal((await ts.ctx.mfa.verify(u.user_id, fresh[0])).ok, true);
  // The same code again is a replay: refused, and the owner is told (ASVS 4 2.8.5; regression: only audited).
  page = await (await b.request(accountUrl())).text();
  // The very code used above (not computed again: a step boundary in between would give the next, unused one).
  const reused = await b.submit(accountUrl(), page, { code: used }, { actionIncludes: '/account/mfa/recovery-codes' });
  assert.equal(reused.status, 400);
  const reusedMail = await sink.waitFor((m) => m.to.includes(email) && /a sign-in code was used twice/.test(m.subject), 'the reused-code notice');
  assert.match(reusedMail.text, /was sent again for your Gatehouse account acct\.mfa@example\.com/);
  assert.ok(!reusedMail.text.includes(used) && !reusedMail.html.includes(used), 'the notice carries no code');

  // Removal with a recovery code (the authenticator may be lost).
  page = await (await b.request(accountUrl())).text();
  const removed = await b.submit(accountUrl(), page, { code: fresh[1] }, { actionIncludes: '/account/mfa/remove' });
  assert.equal(removed.status, 303);
  assert.equal((await ts.api('GET', `/users/${encodeURIComponent(u.user_id)}/authentication-methods`)).body.length, 0);
  page = await (await b.request(accountUrl())).text();
  assert.match(page, /Set up authenticator app/);
  const audit = await ts.ctx.db('audit_logs').where({ user_id: u.user_id }).select('type');
  for (const t of ['gd_enrollment_complete', 'gd_recovery_rotate', 'gd_unenroll']) assert.ok(audit.some((a) => a.type === t), `audit ${t}`);
});

test('admins reset a user\'s factors through the Management API; the secret never appears', async () => {
  const email = 'acct.reset@example.com';
  const u = (await ts.api('POST', '/users', { email, password: PASSWORD })).body;
  const e = await ts.ctx.mfa.beginEnrollment(u.user_id, email, 'test');
  assert.equal((await ts.ctx.mfa.confirmEnrollment(u.user_id, 'test', await codeAt(e.secret))).ok, true);
  const list = await ts.api('GET', `/users/${encodeURIComponent(u.user_id)}/authentication-methods`);
  assert.equal(list.body.length, 1);
  assert.ok(!JSON.stringify(list.body).includes(e.secret));
  assert.equal((await ts.api('GET', `/users/${encodeURIComponent(u.user_id)}/authentication-methods`, undefined, await ts.adminToken('read:roles'))).status, 403);
  assert.equal((await ts.api('DELETE', `/users/${encodeURIComponent(u.user_id)}/authentication-methods`)).status, 204);
  assert.equal(await ts.ctx.mfa.isEnrolled(u.user_id), false);
  const row = await ts.ctx.db('mfa_factors').where({ user_id: u.user_id }).first();
  assert.equal(row, undefined);
  // The owner is told (SECURITY C9; regression: an admin's removal sent nothing).
  const notice = await sink.waitFor((m) => m.to.includes(email) && /An administrator removed the authenticator app/.test(m.text), 'the removal notice');
  assert.ok(!notice.text.includes(e.secret));
});

test('an admin\'s password or address change is mailed to the owner (at the address they had)', async () => {
  // Regression: changes made through the Management API sent no notice (ASVS 5 6.3.7).
  const u = (await ts.api('POST', '/users', { email: 'admin.changed@example.com', password: PASSWORD })).body;
  const id = encodeURIComponent(u.user_id);
  assert.equal((await ts.api('PATCH', `/users/${id}`, { password: 'a new password set by admin 2' })).status, 200);
  const pw = await sink.waitFor((m) => m.to.includes('admin.changed@example.com') && /password was changed/.test(m.subject), 'the password notice');
  assert.match(pw.text, /changed by an administrator/);
  assert.ok(!pw.text.includes('a new password set by admin 2'), 'the password is never mailed');
  assert.equal((await ts.api('PATCH', `/users/${id}`, { email: 'moved@example.com' })).status, 200);
  const moved = await sink.waitFor((m) => m.to.includes('admin.changed@example.com') && /email address of your/.test(m.subject), 'the address notice');
  assert.match(moved.text, /from admin\.changed@example\.com to moved@example\.com/);
});

test('with the if-enrolled policy the account page says an enrolled authenticator is asked for at every sign-in', async () => {
  const { ts: ts2 } = await startServerWithSink({ mfa: { policy: 'if-enrolled' } });
  try {
    const email = 'policy.copy@example.com';
    await ts2.api('POST', '/users', { email, password: PASSWORD });
    const b = new Browser();
    const url = new URL(`${ts2.base}/account`);
    const login = await (await b.request(url)).text();
    assert.equal((await b.submit(url, login, { email, password: PASSWORD }, { actionIncludes: '/account/login' })).status, 303);
    const page = await (await b.request(url)).text();
    assert.match(page, /so a stolen password is not enough to sign in/);
  } finally {
    await ts2.close();
  }
});
