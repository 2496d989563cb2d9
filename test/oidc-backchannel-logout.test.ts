import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import * as oidc from 'openid-client';
import { createRemoteJWKSet, jwtVerify, decodeJwt } from 'jose';
import { startTestServer, discover, loginThroughForm, freePort, type TestServer } from './helpers/server.ts';
import { Browser } from './helpers/cookie-fetch.ts';
import { sweepExpired } from '../src/oidc/adapter.ts';

/*
 * OpenID Connect Back-Channel Logout 1.0 with Auth0's client setting (`oidc_logout`): a real HTTP
 * server stands in for each application's back-channel endpoint and records the logout tokens it
 * gets, which are verified against the published JWKS. Ends: a logout at /oidc/logout
 * (rp-logout, always), the Management API ending sessions (session-revoked), a password change,
 * a block, an expiry found by the sweep, each only for the applications that chose it.
 */

const PASSWORD = 'correct horse battery';
const WEB_CB = 'https://web.bcl.example/callback';
const OTHER_CB = 'https://other.bcl.example/callback';
const LOGGED_OUT = 'https://web.bcl.example/bye';

interface Received { path: string; token: string }
let receiver: Server;
let receiverBase = '';
let received: Received[] = [];
let waiters: (() => void)[] = [];
/** What the receiver answers (a broken application answers 500). */
let answer = 200;
/** /slow answers only once the test opens this gate. */
let openSlow: () => void = () => {};
let slowGate: Promise<void> = Promise.resolve();

let ts: TestServer;
let all: { client_id: string; client_secret?: string };
let plain: { client_id: string; client_secret?: string };
let allConfig: oidc.Configuration;
let plainConfig: oidc.Configuration;
/** An application with every initiator that the session is asked for but never answers. */
let never: { client_id: string; client_secret?: string };

before(async () => {
  receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      const token = new URLSearchParams(body).get('logout_token') ?? '';
      received.push({ path: req.url ?? '', token });
      res.statusCode = req.url === '/broken' ? 500 : answer;
      void (req.url === '/slow' ? slowGate : Promise.resolve()).then(() => res.end());
      for (const w of waiters.splice(0)) w();
    });
  });
  const port = await freePort();
  await new Promise<void>((r) => receiver.listen(port, '127.0.0.1', r));
  receiverBase = `http://127.0.0.1:${port}`;
  // The stand-ins listen on loopback, which oidc-provider's SSRF guard refuses unless allowed.
  ts = await startTestServer({ backchannelLogout: { allowHosts: [`127.0.0.1:${port}`] } });
  const made = await ts.api('POST', '/clients', {
    name: 'Every end', app_type: 'regular_web', callbacks: [WEB_CB], allowed_logout_urls: [LOGGED_OUT],
    oidc_logout: { backchannel_logout_urls: [`${receiverBase}/all`], backchannel_logout_initiators: { mode: 'all' } },
  });
  assert.equal(made.status, 201, JSON.stringify(made.body));
  all = made.body;
  const made2 = await ts.api('POST', '/clients', { name: 'Logouts only', app_type: 'regular_web', callbacks: [OTHER_CB], oidc_logout: { backchannel_logout_urls: [`${receiverBase}/plain`] } });
  assert.equal(made2.status, 201, JSON.stringify(made2.body));
  plain = made2.body;
  never = (await ts.api('POST', '/clients', { name: 'Never signed in', app_type: 'regular_web', callbacks: ['https://never.bcl.example/cb'], oidc_logout: { backchannel_logout_urls: [`${receiverBase}/never`], backchannel_logout_initiators: { mode: 'all' } } })).body;
  allConfig = await discover(ts, all.client_id, all.client_secret);
  plainConfig = await discover(ts, plain.client_id, plain.client_secret);
});
after(async () => {
  await ts?.close();
  await new Promise((r) => receiver?.close(r));
});

/** Waits until `n` logout tokens arrived in all (not a timing assertion: it only bounds a hang). */
async function arrivals(n: number, what: string): Promise<Received[]> {
  const deadline = Date.now() + 10_000;
  while (received.length < n) {
    if (Date.now() > deadline) assert.fail(`${what}: ${received.length} of ${n} logout tokens arrived`);
    await new Promise<void>((r) => { waiters.push(r); setTimeout(r, 200); });
  }
  return received.splice(0);
}

/** The applications' audit records of deliveries, by initiator. */
async function deliveries(initiator: string) {
  return ts.ctx.db('audit_logs').whereIn('type', ['oidc_backchannel_logout_succeeded', 'oidc_backchannel_logout_failed']).andWhere('description', 'like', `%(${initiator})%`).select('type', 'client_id', 'description');
}

/** Waits until `n` deliveries for `initiator` are audited (they are written once the application answered); bounds a hang only. */
async function audited(initiator: string, n: number) {
  const deadline = Date.now() + 10_000;
  let rows = await deliveries(initiator);
  while (rows.length < n && Date.now() < deadline) { await new Promise((r) => setTimeout(r, 50)); rows = await deliveries(initiator); }
  return rows;
}

/** Signs `email` in to both applications in one browser (single sign-on): the ID tokens. */
async function signedInToBoth(email: string) {
  const browser = new Browser({ accept: 'text/html' });
  const a = await loginThroughForm(allConfig, { browser, redirectUri: WEB_CB, email, password: PASSWORD });
  assert.ok(a.callbackUrl, a.loginPage?.slice(0, 300));
  const ta = await oidc.authorizationCodeGrant(allConfig, a.callbackUrl, { pkceCodeVerifier: a.verifier, expectedState: a.state });
  const b = await loginThroughForm(plainConfig, { browser, redirectUri: OTHER_CB, email, password: PASSWORD });
  assert.ok(b.callbackUrl, 'the session answers the second application');
  const tb = await oidc.authorizationCodeGrant(plainConfig, b.callbackUrl, { pkceCodeVerifier: b.verifier, expectedState: b.state });
  // A third application asks the session, and is refused (max_age=0 wants a new sign-in, prompt=none
  // forbids one): oidc-provider lists it in the session all the same, with no sign-in ever done.
  const neverConfig = await discover(ts, never.client_id, never.client_secret);
  const refused = await browser.follow(oidc.buildAuthorizationUrl(neverConfig, { redirect_uri: 'https://never.bcl.example/cb', scope: 'openid', prompt: 'none', max_age: '0' }), {}, (u) => u.href.startsWith('https://never.bcl.example/'));
  assert.equal(refused.url.searchParams.get('error'), 'login_required');
  return { browser, all: ta.id_token!, plain: tb.id_token! };
}

async function verifyLogoutToken(token: string, clientId: string) {
  const jwks = createRemoteJWKSet(new URL(`${ts.base}/.well-known/jwks.json`));
  const { payload, protectedHeader } = await jwtVerify(token, jwks, { issuer: ts.issuer, audience: clientId });
  assert.equal(protectedHeader.typ, 'logout+jwt');
  assert.deepEqual(payload.events, { 'http://schemas.openid.net/event/backchannel-logout': {} });
  assert.equal(payload.nonce, undefined, 'a logout token has no nonce (OIDC Back-Channel Logout §2.4)');
  assert.ok(payload.jti && payload.iat);
  return payload;
}

test('the setting: Auth0\'s oidc_logout shape, its defaults, one https URL, known initiators; discovery says it is supported', async () => {
  const got = await ts.api('GET', `/clients/${plain.client_id}`);
  assert.deepEqual(got.body.oidc_logout, { backchannel_logout_urls: [`${receiverBase}/plain`], backchannel_logout_initiators: { mode: 'custom', selected_initiators: ['rp-logout', 'idp-logout'] } });
  const two = await ts.api('POST', '/clients', { name: 'Two', app_type: 'regular_web', oidc_logout: { backchannel_logout_urls: ['https://a.example/l', 'https://b.example/l'] } });
  assert.equal(two.status, 400);
  assert.match(two.body.message, /one URL/);
  const plainHttp = await ts.api('POST', '/clients', { name: 'Http', app_type: 'regular_web', oidc_logout: { backchannel_logout_urls: ['http://app.example/logout'] } });
  assert.equal(plainHttp.status, 400);
  assert.match(plainHttp.body.message, /oidc_logout\.backchannel_logout_urls: .*https/);
  const unknown = await ts.api('POST', '/clients', { name: 'Odd', app_type: 'regular_web', oidc_logout: { backchannel_logout_urls: ['https://a.example/l'], backchannel_logout_initiators: { mode: 'custom', selected_initiators: ['mfa-phone-unenrolled'] } } });
  assert.equal(unknown.status, 400);
  assert.match(unknown.body.message, /mfa-phone-unenrolled.*is not one Gatehouse sends/);
  // null turns it off.
  const off = await ts.api('POST', '/clients', { name: 'Off later', app_type: 'regular_web', oidc_logout: { backchannel_logout_urls: ['https://a.example/l'] } });
  const patched = await ts.api('PATCH', `/clients/${off.body.client_id}`, { oidc_logout: null });
  assert.equal(patched.status, 200);
  assert.equal(patched.body.oidc_logout, undefined);
  const meta = allConfig.serverMetadata();
  assert.equal(meta.backchannel_logout_supported, true);
  assert.equal(meta.backchannel_logout_session_supported, true);
});

test('rp-logout: a logout at /oidc/logout posts a signed logout token naming the user and the session (the sid of the ID token) to each application of the session', async () => {
  await ts.ctx.users.create({ email: 'rp@bcl.example', password: PASSWORD });
  const s = await signedInToBoth('rp@bcl.example');
  const idClaims = decodeJwt(s.all);
  assert.ok(typeof idClaims.sid === 'string', 'an application with a back-channel URL gets sid in its ID tokens');
  const url = oidc.buildEndSessionUrl(allConfig, { id_token_hint: s.all, post_logout_redirect_uri: LOGGED_OUT });
  const page = await s.browser.follow(url);
  const done = await s.browser.submit(page.url, await page.res.text(), { logout: 'yes' }, { actionIncludes: '/oidc/logout/confirm' });
  assert.equal(done.status, 303);
  const got = await arrivals(2, 'rp-logout');
  const byPath = Object.fromEntries(got.map((r) => [r.path, r.token]));
  assert.deepEqual(Object.keys(byPath).sort(), ['/all', '/plain'], 'not the application the session never answered');
  const p = await verifyLogoutToken(byPath['/all'], all.client_id);
  assert.equal(p.sub, idClaims.sub);
  assert.equal(p.sid, idClaims.sid);
  const q = await verifyLogoutToken(byPath['/plain'], plain.client_id);
  assert.equal(q.sid, decodeJwt(s.plain).sid);
  assert.equal((await audited('rp-logout', 2)).filter((r) => r.type === 'oidc_backchannel_logout_succeeded').length, 2);
});

test('session-revoked and password-changed: only the applications that chose them hear of it', async () => {
  const u = await ts.ctx.users.create({ email: 'revoked@bcl.example', password: PASSWORD });
  const s = await signedInToBoth('revoked@bcl.example');
  const del = await ts.api('DELETE', `/users/${encodeURIComponent(u.user_id)}/sessions`);
  assert.equal(del.status, 202, JSON.stringify(del.body));
  const got = await arrivals(1, 'session-revoked');
  assert.equal(got[0].path, '/all');
  const p = await verifyLogoutToken(got[0].token, all.client_id);
  assert.equal(p.sid, decodeJwt(s.all).sid);
  const told = await audited('session-revoked', 1);
  assert.deepEqual(told.map((r) => r.client_id), [all.client_id], 'neither the application that kept the default, nor one never signed in to, was told');

  const again = await signedInToBoth('revoked@bcl.example');
  const changed = await ts.api('PATCH', `/users/${encodeURIComponent(u.user_id)}`, { password: 'a new password 456' });
  assert.equal(changed.status, 200);
  const got2 = await arrivals(1, 'password-changed');
  assert.equal(got2[0].path, '/all');
  assert.equal((await verifyLogoutToken(got2[0].token, all.client_id)).sid, decodeJwt(again.all).sid);
});

test('session-expired: the sweep that removes an expired session tells the applications, once', async (t) => {
  await ts.ctx.users.create({ email: 'expired@bcl.example', password: PASSWORD });
  const s = await signedInToBoth('expired@bcl.example');
  const realNow = Date.now;
  t.after(() => { Date.now = realNow; });
  // Past the session's absolute lifetime (30 days by default).
  Date.now = () => realNow() + 31 * 86400_000;
  const signedInSessions = Number((await ts.ctx.db('oidc_payloads').where({ type: 'Session' }).whereNotNull('account_id').count({ n: '*' }))[0].n);
  assert.ok(signedInSessions >= 1);
  let reported = 0;
  const report = (x: Record<string, unknown>[]) => { reported += x.length; ts.ctx.backchannel.sessionsEnded(x, 'session-expired'); };
  await Promise.all([sweepExpired(ts.ctx.db, report), sweepExpired(ts.ctx.db, report)]);
  assert.equal(reported, signedInSessions, 'two sweeps at once report each session once');
  const got = await arrivals(1, 'session-expired');
  Date.now = realNow;
  assert.equal(got[0].path, '/all');
  assert.equal(decodeJwt(got[0].token).sid, decodeJwt(s.all).sid);
  assert.equal((await audited('session-expired', 1)).length, 1);
});

test('an application that answers 500, or a URL outside the allowed hosts on a private address: the flow goes on, the failure is audited', async () => {
  const broken = (await ts.api('POST', '/clients', {
    name: 'Broken', app_type: 'regular_web', callbacks: ['https://broken.bcl.example/cb'],
    oidc_logout: { backchannel_logout_urls: [`${receiverBase}/broken`], backchannel_logout_initiators: { mode: 'custom', selected_initiators: ['account-deactivated'] } },
  })).body;
  // The receiver itself, by a name allowHosts does not list: it must get nothing.
  const unlisted = receiverBase.replace('127.0.0.1', 'localhost');
  const guarded = (await ts.api('POST', '/clients', {
    name: 'Guarded', app_type: 'regular_web', callbacks: ['https://guarded.bcl.example/cb'],
    oidc_logout: { backchannel_logout_urls: [`${unlisted}/guarded`], backchannel_logout_initiators: { mode: 'all' } },
  })).body;
  const pwOnly = (await ts.api('POST', '/clients', {
    name: 'Password changes only', app_type: 'regular_web', callbacks: ['https://pw.bcl.example/cb'],
    oidc_logout: { backchannel_logout_urls: [`${receiverBase}/pw`], backchannel_logout_initiators: { selected_initiators: ['password-changed'] } },
  })).body;
  const u = await ts.ctx.users.create({ email: 'blocked@bcl.example', password: PASSWORD });
  const browser = new Browser({ accept: 'text/html' });
  for (const c of [broken, guarded, pwOnly]) {
    const config = await discover(ts, c.client_id, c.client_secret);
    const r = await loginThroughForm(config, { browser, redirectUri: c.callbacks[0], email: 'blocked@bcl.example', password: PASSWORD });
    assert.ok(r.callbackUrl);
  }
  // A block and a new password at once: each application hears once, for whichever it chose.
  const blocked = await ts.api('PATCH', `/users/${encodeURIComponent(u.user_id)}`, { blocked: true, password: 'another password 789' });
  assert.equal(blocked.status, 200, 'the block does not wait for, or fail with, the applications');
  const got = await arrivals(2, 'account-deactivated, password-changed');
  assert.deepEqual(got.map((x) => x.path).sort(), ['/broken', '/pw']);
  assert.ok((await audited('password-changed', 2)).some((x) => x.client_id === pwOnly.client_id), 'told as a password change');
  const rows = await audited('account-deactivated', 2);
  const byClient = Object.fromEntries(rows.map((r) => [r.client_id, r]));
  assert.equal(byClient[broken.client_id]?.type, 'oidc_backchannel_logout_failed');
  assert.match(byClient[broken.client_id].description, /answered HTTP 500/);
  assert.equal(byClient[guarded.client_id]?.type, 'oidc_backchannel_logout_failed', 'loopback is refused unless allowed');
  assert.match(byClient[guarded.client_id].description, /special-use/, `says why: ${byClient[guarded.client_id].description}`);
  assert.ok(!received.some((x) => x.path === '/guarded'), 'nothing reached the receiver by the unlisted name');
});

test('a logout does not wait for an application\'s server: the logout page answers while the delivery is still under way', async () => {
  const slow = (await ts.api('POST', '/clients', {
    name: 'Slow', app_type: 'regular_web', callbacks: ['https://slow.bcl.example/cb'], allowed_logout_urls: ['https://slow.bcl.example/bye'],
    oidc_logout: { backchannel_logout_urls: [`${receiverBase}/slow`] },
  })).body;
  const config = await discover(ts, slow.client_id, slow.client_secret);
  await ts.ctx.users.create({ email: 'slow@bcl.example', password: PASSWORD });
  const browser = new Browser({ accept: 'text/html' });
  const r = await loginThroughForm(config, { browser, redirectUri: 'https://slow.bcl.example/cb', email: 'slow@bcl.example', password: PASSWORD });
  assert.ok(r.callbackUrl);
  const t = await oidc.authorizationCodeGrant(config, r.callbackUrl, { pkceCodeVerifier: r.verifier, expectedState: r.state });
  slowGate = new Promise((resolve) => { openSlow = resolve; });
  const page = await browser.follow(oidc.buildEndSessionUrl(config, { id_token_hint: t.id_token!, post_logout_redirect_uri: 'https://slow.bcl.example/bye' }));
  // The application holds its answer until the gate opens: a logout that waited for it would end
  // only when oidc-provider gives up (2.5 s), and the delivery would then be audited as failed.
  const done = await browser.submit(page.url, await page.res.text(), { logout: 'yes' }, { actionIncludes: '/oidc/logout/confirm' });
  assert.equal(done.status, 303);
  openSlow();
  await arrivals(1, 'slow');
  const rows = await audited('rp-logout', 3);
  assert.equal(rows.find((x) => x.client_id === slow.client_id)?.type, 'oidc_backchannel_logout_succeeded');
});
