import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import { discover, createUser, authorizationRequest, loginThroughForm, silentAuthorization, type TestServer } from './helpers/server.ts';
import { Browser } from './helpers/cookie-fetch.ts';
import { startServerWithSink, linkIn, type SmtpSink } from './helpers/smtp-sink.ts';

/*
 * A login that got past the password form waits in its interaction until the browser follows the
 * redirect to resume the authorization. A password change, a block or a deletion meanwhile ends
 * it (regressions of a review: someone who had the old password could park logins and finish
 * them after the owner changed it, each one a new session and refresh token; a block ended such
 * a login on a server error).
 */
let ts: TestServer; let sink: SmtpSink; let config: oidc.Configuration;
const CB = 'https://inflight.example/cb';
before(async () => {
  ({ ts, sink } = await startServerWithSink());
  const spa = await ts.ctx.clients.create({ name: 'Inflight SPA', app_type: 'spa', callbacks: [CB] });
  config = await discover(ts, spa.client_id);
});
after(async () => { await ts?.close(); });

/** Posts the login form and stops before following the redirect that resumes the authorization. */
async function parkLogin(email: string, password: string, scope = 'openid email') {
  const req = await authorizationRequest(config, { redirectUri: CB, scope });
  const b = new Browser();
  const { res, url: loginUrl } = await b.follow(req.url);
  const posted = await b.submit(loginUrl, await res.text(), { email, password });
  assert.equal(posted.status, 303);
  return { b, req, resume: new URL(posted.headers.get('location')!, loginUrl) };
}
async function resumeRefused(p: Awaited<ReturnType<typeof parkLogin>>) {
  const r = await p.b.follow(p.resume, {}, (x) => x.href.startsWith(CB));
  assert.equal(r.url.searchParams.get('code'), null, 'no code after the change');
  assert.equal(r.res.status, 400);
  assert.match(await r.res.text(), /expired/i);
}

test('a parked login is a working one when nothing changed (control)', async () => {
  const email = 'inflight-control@example.com';
  await createUser(ts, email, 'old password 1234');
  const p = await parkLogin(email, 'old password 1234');
  const r = await p.b.follow(p.resume, {}, (x) => x.href.startsWith(CB));
  const tokens = await oidc.authorizationCodeGrant(config, r.url, { pkceCodeVerifier: p.req.verifier, expectedState: p.req.state });
  assert.ok(tokens.access_token && tokens.id_token);
});

test('an admin changing the password ends a login parked with the old one', async () => {
  const email = 'inflight@example.com';
  const u = await createUser(ts, email, 'old password 1234');
  const p = await parkLogin(email, 'old password 1234');
  assert.equal((await ts.api('PATCH', `/users/${encodeURIComponent(u.user_id)}`, { password: 'brand new password 99' })).status, 200);
  await resumeRefused(p);
  // The new password signs in.
  await loginThroughForm(config, { redirectUri: CB, email, password: 'brand new password 99' });
});

test('the owner resetting the password by mail ends a parked login', async () => {
  const email = 'inflight-reset@example.com';
  await createUser(ts, email, 'old password 1234');
  const p = await parkLogin(email, 'old password 1234');
  const owner = new Browser();
  const rp = await owner.request(`${ts.base}/password/reset`);
  await owner.submit(new URL(`${ts.base}/password/reset`), await rp.text(), { email });
  const link = linkIn(await sink.waitFor((m) => m.to.includes(email) && /token=/.test(m.text), 'reset mail'), '/password/reset');
  const form = await owner.request(link);
  assert.equal((await owner.submit(new URL(link), await form.text(), { new_password: 'owner new password 77' })).status, 200);
  await resumeRefused(p);
});

test('the owner changing the password on /account ends a parked login', async () => {
  const email = 'inflight-account@example.com';
  await createUser(ts, email, 'old password 1234');
  const p = await parkLogin(email, 'old password 1234');
  const owner = new Browser(); const acc = new URL(`${ts.base}/account`);
  await owner.submit(acc, await (await owner.request(acc)).text(), { email, password: 'old password 1234' }, { actionIncludes: '/account/login' });
  assert.equal((await owner.submit(acc, await (await owner.request(acc)).text(), { password: 'old password 1234', new_password: 'owner new password 77' }, { actionIncludes: '/account/password' })).status, 200);
  await resumeRefused(p);
});

test('blocking or deleting the user ends a parked login, without a server error', async () => {
  for (const how of ['block', 'delete'] as const) {
    const email = `inflight-${how}@example.com`;
    const u = await createUser(ts, email, 'old password 1234');
    const p = await parkLogin(email, 'old password 1234');
    const r = how === 'block'
      ? await ts.api('PATCH', `/users/${encodeURIComponent(u.user_id)}`, { blocked: true })
      : await ts.api('DELETE', `/users/${encodeURIComponent(u.user_id)}`);
    assert.ok(r.status === 200 || r.status === 204, `${how}: ${r.status}`);
    await resumeRefused(p);
  }
  assert.ok(!ts.logs.some((l) => /oidc server error/.test(l)), 'no server error logged');
});

test('a session whose account was blocked without ending it asks for a login again, not a server error', async () => {
  const email = 'inflight-session@example.com';
  const u = await createUser(ts, email, 'old password 1234');
  const first = await loginThroughForm(config, { redirectUri: CB, email, password: 'old password 1234' });
  // Blocked in the database directly: the session stays (the Management API would end it).
  await ts.ctx.db('users').where({ id: u.user_id }).update({ blocked: true });
  const silent = await silentAuthorization(config, first.browser, CB);
  assert.equal(silent.searchParams.get('error'), 'login_required');
  const { url } = await authorizationRequest(config, { redirectUri: CB, scope: 'openid' });
  const r = await first.browser.follow(url, {}, (x) => x.href.startsWith(CB));
  assert.equal(r.res.status, 200);
  assert.match(await r.res.text(), /name="password"/);
  assert.ok(!ts.logs.some((l) => /oidc server error/.test(l)), 'no server error logged');
});

test('a login that checked the old password while an admin\'s change was being hashed ends too', async () => {
  // Regression of a review: the change was timed before argon2 hashed the new password, so a
  // login checked meanwhile (against the old hash, still stored) looked newer than the change.
  const email = 'inflight-race@example.com';
  const u = await createUser(ts, email, 'old password 1234');
  const hasher = ts.ctx.hasher as { hash(p: string): Promise<string> };
  const hash = hasher.hash;
  let reached!: () => void; let release!: () => void;
  const atHasher = new Promise<void>((r) => { reached = r; });
  const gate = new Promise<void>((r) => { release = r; });
  hasher.hash = async (p: string) => { reached(); await gate; return hash.call(hasher, p); };
  try {
    const change = ts.api('PATCH', `/users/${encodeURIComponent(u.user_id)}`, { password: 'brand new password 99' });
    await atHasher;
    const p = await parkLogin(email, 'old password 1234');
    release();
    assert.equal((await change).status, 200);
    await resumeRefused(p);
  } finally {
    hasher.hash = hash;
    release();
  }
});
