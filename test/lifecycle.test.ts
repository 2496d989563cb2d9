import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { codeAt } from './helpers/mfa.ts';
import { request as httpRequest } from 'node:http';
import * as oidc from 'openid-client';
import { discover, loginThroughForm, authorizationRequest, createUser, type TestServer, startTestServer } from './helpers/server.ts';
import { Browser, alertText, parseForm } from './helpers/cookie-fetch.ts';
import { startServerWithSink, linkIn, type SmtpSink } from './helpers/smtp-sink.ts';
import { deployAction, bindActions, waitForExecution } from './helpers/actions.ts';
import { expectOAuthError } from './helpers/oidc-assert.ts';
import { MailAddressError } from '../src/mail/mailer.ts';

/*
 * E-mail verification and password reset through the real server over HTTP, with a real SMTP
 * server (smtp-server on 127.0.0.1) receiving the mails (SECURITY 3.6, B10, B19, B21, B22).
 */

const CB = 'https://app-5181.example/cb';
let ts: TestServer;
let sink: SmtpSink;
let spaConfig: oidc.Configuration;

before(async () => {
  ({ ts, sink } = await startServerWithSink());
  const spa = await ts.ctx.clients.create({ name: 'Lifecycle SPA', app_type: 'spa', callbacks: [CB] });
  spaConfig = await discover(ts, spa.client_id);
});
after(async () => { await ts?.close(); });

const mailsTo = (email: string) => sink.received.filter((m) => m.to.includes(email));
const auditTypes = async (userId: string) => (await ts.ctx.db('audit_logs').where({ user_id: userId }).select('type')).map((r) => r.type as string);
const stripCsrf = (html: string) => html.replace(/name="_csrf" value="[^"]*"/g, 'name="_csrf" value=""');

async function page(browser: Browser, path: string) {
  const url = new URL(`${ts.base}${path}`);
  const res = await browser.request(url);
  return { url, res, html: await res.text() };
}

async function requestReset(email: string, browser = new Browser(), headers: Record<string, string> = {}) {
  const p = await page(browser, '/password/reset');
  assert.equal(p.res.status, 200);
  const res = await browser.submit(p.url, p.html, { email }, { headers });
  return { res, html: await res.text() };
}

test('signup sends a verification mail; the link shows a confirm page, verifies once, and email_verified reaches the ID token', async () => {
  const email = 'verify.me@example.com';
  const b = new Browser();
  const signup = await page(b, '/signup');
  const created = await b.submit(signup.url, signup.html, { email: 'Verify.Me@Example.com', password: 'a long enough password' });
  assert.equal(created.status, 200);
  const [user] = (await ts.api('GET', `/users?q=email:"${email}"`)).body;
  assert.equal(user.email_verified, false);

  const mail = await sink.waitFor((m) => m.to.includes(email), 'the verification mail');
  assert.deepEqual(mail.to, [email], 'sent only to the stored canonical address');
  assert.match(mail.subject, /Verify your email/);
  const link = linkIn(mail, '/verify-email');
  assert.equal(link.origin, ts.base, 'built from the configured issuer');
  assert.ok(mail.html.includes(link.searchParams.get('token')!), 'the HTML part carries the same link');

  // Scanners prefetch links: GETs must not verify anything.
  const visitor = new Browser();
  for (let i = 0; i < 2; i++) {
    const shown = await visitor.request(link);
    assert.equal(shown.status, 200);
    assert.equal(shown.headers.get('referrer-policy'), 'no-referrer');
    const html = await shown.text();
    assert.match(html, /<button type="submit">Verify email address<\/button>/);
    if (i === 1) {
      assert.equal((await ts.api('GET', `/users/${encodeURIComponent(user.user_id)}`)).body.email_verified, false, 'a GET changes nothing');
      const done = await visitor.submit(link, html, {});
      assert.equal(done.status, 200);
      assert.match(await done.text(), /Email verified/);
      // Posting the same token again: already used, said clearly, with a way forward.
      const again = await visitor.submit(link, html, {});
      assert.equal(again.status, 410);
      const againHtml = await again.text();
      assert.match(alertText(againHtml)!, /already used/);
      assert.match(againHtml, /href="\/verify-email\/resend"/);
    }
  }
  assert.equal((await ts.api('GET', `/users/${encodeURIComponent(user.user_id)}`)).body.email_verified, true);
  const usedGet = await visitor.request(link);
  assert.equal(usedGet.status, 410);
  assert.ok((await auditTypes(user.user_id)).includes('sv'));
  assert.ok((await auditTypes(user.user_id)).includes('svr'));

  const r = await loginThroughForm(spaConfig, { redirectUri: CB, email, password: 'a long enough password', scope: 'openid email' });
  assert.ok(r.callbackUrl, r.loginPage);
  const tokens = await oidc.authorizationCodeGrant(spaConfig, r.callbackUrl, { pkceCodeVerifier: r.verifier, expectedState: r.state });
  assert.equal(tokens.claims()?.email_verified, true);
});

test('verification marks the address verified only while it is still the one the link was sent to', async () => {
  // The last step of a verification link: an address changed between the link's checks and this
  // write must not come out verified (the write used to set the flag whatever the address was).
  const u = await createUser(ts, 'verify.race@example.com', 'verify race password 1');
  assert.equal(await ts.ctx.users.markVerified(u.user_id, 'someone.else@example.com'), false);
  assert.equal((await ts.api('GET', `/users/${encodeURIComponent(u.user_id)}`)).body.email_verified, false);
  assert.equal(await ts.ctx.users.markVerified(u.user_id, 'verify.race@example.com'), true);
  assert.equal((await ts.api('GET', `/users/${encodeURIComponent(u.user_id)}`)).body.email_verified, true);
});

test('an expired verification link says so and links to the resend page; resend answers alike for any address and replaces older links', async () => {
  const email = 'late.verifier@example.com';
  const user = await createUser(ts, email, 'a long enough password');
  const b = new Browser();
  const resend = async (address: string) => {
    const p = await page(b, '/verify-email/resend');
    const res = await b.submit(p.url, p.html, { email: address });
    return { status: res.status, html: await res.text() };
  };
  const unknown = await resend('nobody.here@example.com');
  const known = await resend(email);
  assert.equal(unknown.status, 200);
  assert.equal(known.status, unknown.status);
  assert.equal(stripCsrf(known.html), stripCsrf(unknown.html), 'the same page whether or not the address exists');
  const first = linkIn(await sink.waitFor((m) => m.to.includes(email), 'the resent link'), '/verify-email');
  await ts.ctx.mail.idle();
  assert.equal(mailsTo('nobody.here@example.com').length, 0, 'nothing is sent to an unknown address');

  // Expire it in the database (no waiting): the page says so, with a resend link.
  const n = await ts.ctx.db('email_tokens').where({ user_id: user.user_id, purpose: 'verify_email' }).whereNull('used_at').update({ expires_at: Date.now() - 1000 });
  assert.equal(n, 1);
  const expired = await b.request(first);
  assert.equal(expired.status, 410);
  const expiredHtml = await expired.text();
  assert.match(alertText(expiredHtml)!, /expired/);
  assert.match(expiredHtml, /href="\/verify-email\/resend"/);

  // Two new links: the newer one invalidates the older.
  await resend(email);
  await sink.waitFor(() => mailsTo(email).length === 2, 'a second link');
  await resend(email);
  await sink.waitFor(() => mailsTo(email).length === 3, 'a third link');
  const [, second, third] = mailsTo(email).map((m) => linkIn(m, '/verify-email'));
  assert.equal((await b.request(second)).status, 410, 'replaced by the newer link');
  const ok = await b.request(third);
  assert.equal(ok.status, 200);
  assert.equal((await b.submit(third, await ok.text(), {})).status, 200);
  assert.equal((await ts.api('GET', `/users/${encodeURIComponent(user.user_id)}`)).body.email_verified, true);

  // Garbage tokens are refused before any lookup, clearly.
  const bad = await b.request(`${ts.base}/verify-email?token=${encodeURIComponent("' OR 1=1 --")}`);
  assert.equal(bad.status, 400);
  assert.match(alertText(await bad.text())!, /not valid/);
});

test('password reset: one answer for known and unknown addresses, a single-use link, sessions and refresh tokens revoked, post-change-password, notice mail, no login', async () => {
  await deployAction(ts, {
    name: 'pcp-reset', trigger: 'post-change-password', version: 'v3',
    code: 'exports.onExecutePostChangePassword = async (event) => { console.log("password changed for", event.user.email); };',
  });
  await bindActions(ts, 'post-change-password', ['pcp-reset']);

  const email = 'forgetful@example.com';
  const user = await createUser(ts, email, 'my old password 1');
  const r = await loginThroughForm(spaConfig, { redirectUri: CB, email, password: 'my old password 1', scope: 'openid email offline_access', params: { prompt: 'consent' } });
  assert.ok(r.callbackUrl, r.loginPage);
  const tokens = await oidc.authorizationCodeGrant(spaConfig, r.callbackUrl, { pkceCodeVerifier: r.verifier, expectedState: r.state });
  assert.ok(tokens.refresh_token, 'offline_access + prompt=consent gives a refresh token');

  const unknown = await requestReset('not.registered@example.com');
  const known = await requestReset(email, r.browser);
  assert.equal(known.res.status, unknown.res.status);
  assert.equal(known.res.status, 200);
  assert.equal(stripCsrf(known.html), stripCsrf(unknown.html), 'same body apart from the CSRF token');
  assert.match(known.html, /role="status"/);

  const mail = await sink.waitFor((m) => m.to.includes(email) && /Reset your/.test(m.subject), 'the reset mail');
  await ts.ctx.mail.idle();
  assert.equal(mailsTo('not.registered@example.com').length, 0, 'no mail for an unknown address');
  const link = linkIn(mail, '/password/reset');
  assert.equal(link.origin, ts.base);

  const b = new Browser();
  const form = await b.request(link);
  assert.equal(form.status, 200);
  assert.equal(form.headers.get('referrer-policy'), 'no-referrer');
  const formHtml = await form.text();
  assert.match(formHtml, /name="new_password"/);

  // The policy applies: common and short passwords are refused, and the link survives that.
  for (const weak of ['password123', 'Qwerty123456', 'short']) {
    const res = await b.submit(link, formHtml, { new_password: weak });
    assert.equal(res.status, 400, weak);
    assert.ok(alertText(await res.text()), weak);
  }
  const done = await b.submit(link, formHtml, { new_password: 'my brand new password 2' });
  assert.equal(done.status, 200);
  const doneHtml = await done.text();
  assert.match(doneHtml, /Password changed/);
  assert.match(doneHtml, /log in/);
  assert.equal(done.headers.get('location'), null, 'no redirect: not signed in');
  assert.ok(!done.headers.getSetCookie().some((c) => /^_session/.test(c)), 'no session cookie: no automatic login');

  // Single use.
  const reused = await b.submit(link, formHtml, { new_password: 'yet another password 3' });
  assert.equal(reused.status, 410);
  assert.match(alertText(await reused.text())!, /already used/);
  assert.equal((await b.request(link)).status, 410);

  // Auth0's last_password_reset says when (it was never kept).
  const resetAt = (await ts.api('GET', `/users/${encodeURIComponent(user.user_id)}`)).body.last_password_reset;
  assert.ok(typeof resetAt === 'string' && Date.now() - Date.parse(resetAt) < 60_000, String(resetAt));
  // Everything the user held is gone: the refresh token fails, the old password too.
  await expectOAuthError(oidc.refreshTokenGrant(spaConfig, tokens.refresh_token), 'invalid_grant', 400);
  const oldPw = await loginThroughForm(spaConfig, { redirectUri: CB, email, password: 'my old password 1' });
  assert.equal(oldPw.callbackUrl, undefined);
  // The login session in the browser that signed in before the reset ended too: a new
  // authorization from it shows the login form instead of going straight back to the app.
  const { url: authUrl } = await authorizationRequest(spaConfig, { redirectUri: CB, scope: 'openid' });
  const back = await r.browser.follow(authUrl, {}, (u) => u.href.startsWith(CB));
  assert.ok(!back.url.href.startsWith(CB), 'the old login session must not sign the user in');
  assert.match(await back.res.text(), /name="password"/);
  const again = await loginThroughForm(spaConfig, { browser: r.browser, redirectUri: CB, email, password: 'my brand new password 2' });
  assert.ok(again.callbackUrl, again.loginPage);

  const notice = await sink.waitFor((m) => m.to.includes(email) && /was changed/.test(m.subject), 'the password-changed notice');
  assert.doesNotMatch(notice.text, /token=/, 'the notice carries no token');

  const exe = await waitForExecution(ts, 'post-change-password');
  assert.match(exe.results[0].logs, /password changed for forgetful@example\.com/);
  await bindActions(ts, 'post-change-password', []);

  const types = await auditTypes(user.user_id);
  assert.ok(types.includes('scpr'), 'reset request audited');
  assert.ok(types.includes('scp'), 'reset audited');
  assert.ok(types.includes('fcp'), 'refused weak passwords audited');
  const tokenValue = link.searchParams.get('token')!;
  assert.ok(!ts.logs.some((l) => l.includes(tokenValue)), 'the token never reaches the log');
  assert.equal(Number((await ts.ctx.db('audit_logs').where('details', 'like', `%${tokenValue}%`).count({ n: '*' }))[0].n), 0);
});

test('a reset never bypasses MFA: the authenticator stays, verified address or not, and the next login asks for it (B23)', async () => {
  // Regression: a reset that was the first proof of an unverified address removed the account's
  // authenticators, so whoever could read that mailbox took over an MFA-protected account.
  const resetWith = async (email: string, password: string) => {
    const b = new Browser();
    await requestReset(email, b);
    const mail = await sink.waitFor((m) => m.to.includes(email) && /Reset your/.test(m.subject), 'the reset mail');
    const link = linkIn(mail, '/password/reset');
    const formHtml = await (await b.request(link)).text();
    const done = await b.submit(link, formHtml, { new_password: password });
    assert.equal(done.status, 200);
    assert.doesNotMatch(done.url, /\/cb\?/, 'a reset does not log in');
    assert.doesNotMatch(done.headers.get('set-cookie') ?? '', /_session=/, 'nor does it start an OIDC session');
  };
  // MFA for enrolled users, the Auth0 way (the policy here is the default, never).
  await deployAction(ts, { name: 'mfa-if-enrolled', trigger: 'post-login', version: 'v3', code: `
    exports.onExecutePostLogin = async (event, api) => {
      if (event.user.multifactor.length > 0) api.authentication.challengeWith({ type: 'otp' });
    };` });
  await bindActions(ts, 'post-login', ['mfa-if-enrolled']);
  try {
    for (const [email, verified] of [['unverified.mfa@example.com', false], ['verified.mfa@example.com', true]] as const) {
      const u = await createUser(ts, email, 'first password 1');
      if (verified) await ts.api('PATCH', `/users/${encodeURIComponent(u.user_id)}`, { email_verified: true });
      const e = await ts.ctx.mfa.beginEnrollment(u.user_id, email, 'test');
      assert.equal((await ts.ctx.mfa.confirmEnrollment(u.user_id, 'test', await codeAt(e.secret))).ok, true);
      await resetWith(email, 'the new password 2');
      assert.equal(await ts.ctx.mfa.isEnrolled(u.user_id), true, `${email}: the authenticator survives the reset`);
      assert.equal((await auditTypes(u.user_id)).includes('gd_unenroll'), false);
      const r = await loginThroughForm(spaConfig, { redirectUri: CB, email, password: 'the new password 2' });
      assert.equal(r.callbackUrl, undefined, `${email}: the new password alone does not log in`);
      assert.match(r.url?.pathname ?? '', /\/mfa$/, `${email}: the login stops at the second factor`);
    }
  } finally {
    await bindActions(ts, 'post-login', []);
  }
});

test('twenty reset requests for one address at once send five mails (the hourly limit), not twenty', async () => {
  // Regression: the limit was a count and then a separate insert, so a burst of requests could
  // all pass the count (a flooded inbox).
  const email = 'burst.reset@example.com';
  const u = await createUser(ts, email, 'burst reset password 1');
  await Promise.all(Array.from({ length: 20 }, () => requestReset(email)));
  await ts.ctx.mail.idle();
  const issued = await ts.ctx.db('email_tokens').where({ user_id: u.user_id, purpose: 'reset_password' }).count({ n: '*' }).first();
  assert.equal(Number(issued!.n), 5);
  assert.equal(mailsTo(email).filter((m) => /Reset your/.test(m.subject)).length, 5);
  assert.ok((await auditTypes(u.user_id)).filter((t) => t === 'fcpr').length >= 15);
});

test('reset links: a newer one replaces the older, expiry is clear, and any password change voids an outstanding link', async () => {
  const email = 'many.resets@example.com';
  const user = await createUser(ts, email, 'first password 123');
  await requestReset(email);
  await sink.waitFor(() => mailsTo(email).length === 1, 'the first reset mail');
  await requestReset(email);
  await sink.waitFor(() => mailsTo(email).length === 2, 'the second reset mail');
  const [first, second] = mailsTo(email).map((m) => linkIn(m, '/password/reset'));
  const b = new Browser();
  const old = await b.request(first);
  assert.equal(old.status, 410, 'the newer link replaced the older');

  await ts.ctx.db('email_tokens').where({ user_id: user.user_id, purpose: 'reset_password' }).whereNull('used_at').update({ expires_at: Date.now() - 1 });
  const expired = await b.request(second);
  assert.equal(expired.status, 410);
  const expiredHtml = await expired.text();
  assert.match(alertText(expiredHtml)!, /expired/);
  assert.match(expiredHtml, /href="\/password\/reset"/);

  await requestReset(email);
  await sink.waitFor(() => mailsTo(email).length === 3, 'the third reset mail');
  const third = linkIn(mailsTo(email)[2], '/password/reset');
  const form = await b.request(third);
  assert.equal(form.status, 200);
  const formHtml = await form.text();
  // An admin sets the password meanwhile: the link was issued for the old password and dies.
  assert.equal((await ts.api('PATCH', `/users/${encodeURIComponent(user.user_id)}`, { password: 'admin chose this 456' })).status, 200);
  const late = await b.submit(third, formHtml, { new_password: 'attacker wants this 789' });
  assert.equal(late.status, 410);
  assert.match(alertText(await late.text())!, /password was changed|no longer valid/);
  const r = await loginThroughForm(spaConfig, { redirectUri: CB, email, password: 'admin chose this 456' });
  assert.ok(r.callbackUrl, 'the admin-set password still stands');
});

test('a reset link sent before the user was blocked no longer opens or completes', async () => {
  // Regression (outside probe): a blocked user could still finish a link sent before the block,
  // which set the password, marked the address verified and cleared the brute-force counters.
  const email = 'blocked.later@example.com';
  const user = await createUser(ts, email, 'first password 123');
  await requestReset(email);
  await sink.waitFor(() => mailsTo(email).length === 1, 'the reset mail');
  const link = linkIn(mailsTo(email)[0], '/password/reset');
  const b = new Browser();
  const form = await b.request(link);
  assert.equal(form.status, 200);
  const formHtml = await form.text();
  const id = encodeURIComponent(user.user_id);
  assert.equal((await ts.api('PATCH', `/users/${id}`, { blocked: true })).status, 200);
  assert.equal((await b.request(link)).status, 410, 'the link does not open');
  const late = await b.submit(link, formHtml, { new_password: 'blocked user sets this 789' });
  assert.equal(late.status, 410, 'the form does not complete');
  // Unblocked, the old password still stands and the link stays spent.
  assert.equal((await ts.api('PATCH', `/users/${id}`, { blocked: false })).status, 200);
  assert.equal((await b.request(link)).status, 410, 'the refused completion spent the link');
  const r = await loginThroughForm(spaConfig, { redirectUri: CB, email, password: 'first password 123' });
  assert.ok(r.callbackUrl, 'the password was not changed');
});

test('B21: Host and X-Forwarded-Host do not steer the reset link; B19: CR/LF in an address never reaches nodemailer', async () => {
  const email = 'host.header@example.com';
  await createUser(ts, email, 'host header password');
  const b = new Browser();
  const p = await page(b, '/password/reset');
  const form = parseForm(p.html);
  const cookie = b.cookieHeader(p.url);
  const body = new URLSearchParams({ ...form.fields, email }).toString();
  const status = await new Promise<number>((resolve, reject) => {
    const req = httpRequest({
      host: '127.0.0.1', port: new URL(ts.base).port, method: 'POST', path: '/password/reset',
      headers: { host: 'evil.com', 'x-forwarded-host': 'evil.com', 'x-forwarded-proto': 'https', cookie, 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body) },
    }, (res) => { res.resume(); res.on('end', () => resolve(res.statusCode!)); });
    req.on('error', reject);
    req.end(body);
  });
  assert.equal(status, 200);
  const mail = await sink.waitFor((m) => m.to.includes(email), 'the reset mail');
  const link = linkIn(mail, '/password/reset');
  assert.equal(link.origin, ts.base);
  assert.doesNotMatch(mail.raw, /evil\.com/);

  // CR/LF (header injection) and other ambiguous addresses are refused at the form...
  for (const bad of [`${email}\r\nBcc: thief@evil.example`, `${email}\nBcc: thief@evil.example`, `"${email} x"@evil.example`, `${email}(x)evil.example`]) {
    const res = await requestReset(bad);
    assert.equal(res.res.status, 400, JSON.stringify(bad));
    assert.match(alertText(res.html)!, /valid email/);
  }
  // ...and by the mailer itself, before nodemailer parses anything.
  const content = { subject: 'x', text: 'x', html: '<p>x</p>' };
  await assert.rejects(ts.ctx.mail.send({ to: `${email}\r\nBcc: thief@evil.example`, ...content }), MailAddressError);
  await assert.rejects(ts.ctx.mail.send({ to: 'Host.Header@Example.com', ...content }), MailAddressError, 'only canonical stored addresses');
  await assert.rejects(ts.ctx.mail.send({ to: email, ...content, subject: 'hi\r\nBcc: thief@evil.example' }), MailAddressError);
  await ts.ctx.mail.idle();
  assert.ok(!sink.received.some((m) => m.to.some((t) => /evil/.test(t))), 'nothing went to the injected address');
});

test('the common-password list applies at signup and in the Management API', async () => {
  const api = await ts.api('POST', '/users', { email: 'common.api@example.com', password: 'Password123' });
  assert.equal(api.status, 400);
  assert.match(api.body.message, /too common/);
  const created = await createUser(ts, 'common.patch@example.com', 'an uncommon password 7');
  const patch = await ts.api('PATCH', `/users/${encodeURIComponent(created.user_id)}`, { password: 'qwertyuiop' });
  assert.equal(patch.status, 400);
  assert.match(patch.body.message, /too common/);

  const b = new Browser();
  const p = await page(b, '/signup');
  const res = await b.submit(p.url, p.html, { email: 'common.signup@example.com', password: 'iloveyou123' });
  assert.equal(res.status, 400);
  assert.match(alertText(await res.text())!, /too common/);
  assert.equal((await ts.api('GET', '/users?q=email:"common.signup@example.com"')).body.length, 0);
});

test('per-address limits: resets, verification links and sign-ups from one address stop at the hourly cap with a 429 that says nothing of the account', async () => {
  // Regression (outside probe): one address had Gatehouse send 72 reset mails to 24 accounts;
  // each account's own cap (5 an hour) was the only limit, and sign-ups had none.
  const limited = await startTestServer({ bruteForce: { mailRequestsPerIpPerHour: 3, signupsPerIpPerHour: 2 } });
  try {
    const p = async (b: Browser, path: string, fields: Record<string, string>) => {
      const url = new URL(`${limited.base}${path}`);
      const form = await (await b.request(url)).text();
      const res = await b.submit(url, form, fields);
      return { status: res.status, retry: res.headers.get('retry-after'), alert: alertText(await res.text()) };
    };
    const b = new Browser();
    await limited.api('POST', '/users', { email: 'known@limits.example', password: 'limits password 123' });
    // The caps count per clock hour (src/users/request-limits.ts keys each count by the end of its
    // hour): requests that straddled xx:00:00 would be counted afresh from there and the request
    // that must be refused would pass. Close to the end of an hour, start in the next one.
    const leftInHour = 3600_000 - (Date.now() % 3600_000);
    if (leftInHour < 30_000) await new Promise((r) => setTimeout(r, leftInHour + 100));
    // Reset and resend share one count per address: three pass, then both are refused.
    assert.equal((await p(b, '/password/reset', { email: 'known@limits.example' })).status, 200);
    assert.equal((await p(b, '/password/reset', { email: 'nobody@limits.example' })).status, 200);
    assert.equal((await p(b, '/verify-email/resend', { email: 'known@limits.example' })).status, 200);
    for (const email of ['known@limits.example', 'nobody@limits.example']) {
      const r = await p(b, '/password/reset', { email });
      assert.equal(r.status, 429, email);
      assert.match(r.alert ?? '', /Too many requests from your network/);
      assert.ok(Number(r.retry) > 0 && Number(r.retry) <= 3600);
    }
    assert.equal((await p(b, '/verify-email/resend', { email: 'known@limits.example' })).status, 429);
    // Sign-ups have their own count.
    assert.equal((await p(b, '/signup', { email: 'new1@limits.example', password: 'limits password 123' })).status, 200);
    assert.equal((await p(b, '/signup', { email: 'new2@limits.example', password: 'limits password 123' })).status, 200);
    const third = await p(b, '/signup', { email: 'new3@limits.example', password: 'limits password 123' });
    assert.equal(third.status, 429);
    assert.equal((await limited.api('GET', '/users-by-email?email=new3@limits.example')).body.length, 0, 'no account made');
    const refused = await limited.ctx.db('audit_logs').where('description', 'like', '%too many from this address%').count({ n: '*' });
    assert.equal(Number(refused[0].n), 4, 'each refusal audited');
  } finally {
    await limited.close();
  }
});
