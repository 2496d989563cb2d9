import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import { discover, authorizationRequest, loginAt, type TestServer } from './helpers/server.ts';
import { Browser, alertText } from './helpers/cookie-fetch.ts';
import { startServerWithSink, linkIn, type SmtpSink } from './helpers/smtp-sink.ts';
import { generate } from 'otplib';

/*
 * SECURITY F8: the clock jumps. The server runs in this process, so moving `Date.now` here
 * moves its clock: sign-in sessions (1 h), password-reset links (30 min) and TOTP windows
 * (one 30 s step either side) must end when their time is up, and never stretch.
 */

const CB = 'https://app-5191.example/cb';
const PASSWORD = 'the clock is ticking loudly';
let ts: TestServer;
let sink: SmtpSink;
let config: oidc.Configuration;

before(async () => {
  ({ ts, sink } = await startServerWithSink());
  const spa = await ts.ctx.clients.create({ name: 'Clock SPA', app_type: 'spa', callbacks: [CB] });
  config = await discover(ts, spa.client_id);
});
after(async () => { await ts?.close(); });

/** Runs `fn` with the clock of this process (and so of the server) stopped at `at`. */
async function withClockAt<T>(at: number, fn: () => Promise<T>): Promise<T> {
  const real = Date.now;
  Date.now = () => at;
  try { return await fn(); } finally { Date.now = real; }
}

/** Runs `fn` with the clock of this process (and so of the server) moved by `ms`. */
async function withClockMoved<T>(ms: number, fn: () => Promise<T>): Promise<T> {
  const real = Date.now;
  Date.now = () => real() + ms;
  try { return await fn(); } finally { Date.now = real; }
}

test('a login page left open past the 1 h interaction lifetime cannot sign in; a new authorization can', async () => {
  const email = 'slow.typist@example.com';
  await ts.ctx.users.create({ email, password: PASSWORD });
  const browser = new Browser();
  const { url } = await authorizationRequest(config, { redirectUri: CB, scope: 'openid' });
  const opened = await browser.follow(url, {}, (u) => u.href.startsWith(CB));
  const html = await opened.res.text();
  assert.match(html, /name="password"/);

  const posted = await withClockMoved(61 * 60_000, () => browser.submit(opened.url, html, { email, password: PASSWORD }));
  assert.equal(posted.status, 400);
  assert.match(alertText(await posted.text()) ?? '', /expired/i, 'the page says the sign-in session expired');

  // With the clock back where it was, a fresh authorization signs in. (Expiry is a comparison
  // with the clock: moved back inside the hour, the old page would be within its time again.)
  const r = await loginAt((await authorizationRequest(config, { redirectUri: CB, scope: 'openid' })).url, { browser: new Browser(), redirectUri: CB, email, password: PASSWORD });
  assert.ok(r.callbackUrl);
});

test('a password-reset link is refused once its 30 minutes are up, and works inside them', async () => {
  const email = 'forgetful@example.com';
  await ts.ctx.users.create({ email, password: PASSWORD });
  const b = new Browser();
  const formUrl = new URL(`${ts.base}/password/reset`);
  const form = await b.request(formUrl);
  await b.submit(formUrl, await form.text(), { email });
  await ts.ctx.mail.idle();
  const link = linkIn(await sink.waitFor((m) => m.to.includes(email), 'the reset mail'), '/password/reset');

  const late = await withClockMoved(31 * 60_000, async () => { const res = await new Browser().request(link); return { status: res.status, html: await res.text() }; });
  assert.doesNotMatch(late.html, /name="new_password"/, 'no new-password form for an expired link');
  assert.match(late.html, /expired|no longer valid|invalid/i);

  const inTime = await withClockMoved(29 * 60_000, async () => { const res = await new Browser().request(link); return res.text(); });
  assert.match(inTime, /name="new_password"/, 'the link works until its time is up');
});

test('TOTP: a code is accepted one step either side and refused beyond, however the clock jumps', async () => {
  // A fixed clock in the middle of a 30 s step, so no real step boundary falls inside the test.
  const T0 = Math.floor(Date.now() / 30_000) * 30_000 + 15_000;
  const codeFor = (step: number) => generate({ secret, epoch: T0 / 1000 + step * 30 });
  const user = await ts.ctx.users.create({ email: 'ticking@example.com', password: PASSWORD });
  const { secret } = await ts.ctx.mfa.beginEnrollment(user.user_id, 'ticking@example.com', 'clock-test');
  const confirmed = await withClockAt(T0, async () => ts.ctx.mfa.confirmEnrollment(user.user_id, 'clock-test', await codeFor(0)));
  assert.ok(confirmed.ok, JSON.stringify(confirmed));

  // The authenticator shows step 1's code. The server's clock 2 minutes fast or slow refuses it.
  const step1 = await codeFor(1);
  assert.equal((await withClockAt(T0 + 150_000, () => ts.ctx.mfa.verify(user.user_id, step1))).ok, false, 'server clock 4 steps ahead of the code');
  assert.equal((await withClockAt(T0 - 90_000, () => ts.ctx.mfa.verify(user.user_id, step1))).ok, false, 'server clock 4 steps behind the code');
  // C4: two steps off either way, or a code for a year from now, is refused too.
  assert.equal((await withClockAt(T0 + 90_000, () => ts.ctx.mfa.verify(user.user_id, step1))).ok, false, 'server clock 2 steps ahead of the code');
  assert.equal((await withClockAt(T0 - 30_000, () => ts.ctx.mfa.verify(user.user_id, step1))).ok, false, 'server clock 2 steps behind the code');
  const nextYear = await codeFor(365 * 24 * 120);
  assert.equal((await withClockAt(T0, () => ts.ctx.mfa.verify(user.user_id, nextYear))).ok, false, 'a code for next year');
  // Five wrong codes lock the step (C7, tested elsewhere): start this part afresh.
  await ts.ctx.db('login_failures').where('key', 'like', `%${user.user_id}%`).delete();
  // One step of drift is tolerated (RFC 6238 §5.2).
  assert.equal((await withClockAt(T0 + 60_000, () => ts.ctx.mfa.verify(user.user_id, step1))).ok, true, 'server clock one step ahead of the code');
  // A step already used, or an older one, is refused even when the clock jumps back to it.
  assert.equal((await withClockAt(T0 + 30_000, () => ts.ctx.mfa.verify(user.user_id, step1))).ok, false, 'no replay of the used step');
  assert.equal((await withClockAt(T0, async () => ts.ctx.mfa.verify(user.user_id, await codeFor(0)))).ok, false, 'no older step after a backward jump');
  // And the next step's code works on time.
  assert.equal((await withClockAt(T0 + 60_000, async () => ts.ctx.mfa.verify(user.user_id, await codeFor(2)))).ok, true);
});
