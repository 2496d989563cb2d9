import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { startTestServer, discover, type TestServer } from './helpers/server.ts';
import { Browser, alertText, parseForm } from './helpers/cookie-fetch.ts';
import { expectOAuthError, postForm } from './helpers/oidc-assert.ts';
import { bindActions, deployAction } from './helpers/actions.ts';
import { activate as activateAt, enterCode as enterCodeAt } from './helpers/device.ts';

/*
 * The device authorization grant (RFC 8628) at Auth0's paths: a native client asks
 * /oauth/device/code, the user enters the code on /activate in a browser, confirms, signs in
 * through the real login form, and the device's polling (openid-client's) gets the tokens.
 */

const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
const API = 'https://api.device.example';
const PASSWORD = 'correct horse battery';
const USER_CODE = /^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/;

let ts: TestServer;
let tv: { client_id: string };
let config: oidc.Configuration;

before(async () => {
  // A one-second polling interval keeps the polls short; the defaults are Auth0's 5 s and 15 minutes.
  ts = await startTestServer({ deviceFlow: { interval: 1, userCodeFailuresPerIpPerHour: 4 } });
  tv = await ts.ctx.clients.create({ name: 'Living-room TV', app_type: 'native', grant_types: [DEVICE_GRANT, 'refresh_token'] });
  await ts.ctx.resourceServers.create({ name: 'Device API', identifier: API, scopes: [{ value: 'read:things', description: '' }] });
  for (const email of ['tv.viewer@example.com', 'refused.viewer@example.com']) await ts.ctx.users.create({ email, password: PASSWORD });
  config = await discover(ts, tv.client_id);
  // What post-login sees of a device sign-in, in the tokens; and a deny for one user.
  await deployAction(ts, {
    name: 'device-claims', trigger: 'post-login',
    code: `exports.onExecutePostLogin = async (event, api) => {
      if (event.user.email === 'refused.viewer@example.com') return api.access.deny('No TV for this account');
      api.idToken.setCustomClaim('https://device.example/protocol', event.transaction.protocol);
      api.accessToken.setCustomClaim('https://device.example/can_redirect', api.redirect.canRedirect());
    };`,
  });
  await bindActions(ts, 'post-login', ['device-claims']);
});
after(async () => { await ts?.close(); });

const enterCode = (browser: Browser, userCode: string) => enterCodeAt(ts, browser, userCode);
const activate = (userCode: string, email: string, o: { typed?: string } = {}) => activateAt(ts, { userCode, clientName: 'Living-room TV', email, password: PASSWORD, ...o });

test('discovery names the device authorization endpoint at Auth0\'s path', () => {
  const m = config.serverMetadata();
  assert.equal(m.device_authorization_endpoint, `${ts.base}/oauth/device/code`);
  assert.ok(m.grant_types_supported?.includes(DEVICE_GRANT));
});

test('a device signs in: code entered and confirmed in a browser, tokens to the polling device, post-login ran', async () => {
  const da = await oidc.initiateDeviceAuthorization(config, { scope: 'openid email offline_access read:things', audience: API });
  assert.match(da.user_code, USER_CODE);
  assert.equal(da.verification_uri, `${ts.base}/activate`);
  assert.equal(da.verification_uri_complete, `${ts.base}/activate?user_code=${encodeURIComponent(da.user_code)}`);
  assert.equal(da.interval, 1);
  assert.equal(da.expires_in, 900);

  const polling = oidc.pollDeviceAuthorizationGrant(config, da);
  // Typed as people type it: lower case, without the dash.
  const done = await activate(da.user_code, 'tv.viewer@example.com', { typed: da.user_code.replace('-', '').toLowerCase() });
  assert.equal(done.status, 200);
  assert.match(done.html, /Device connected/);
  assert.match(done.html, /Living-room TV/);

  const tokens = await polling;
  const jwks = createRemoteJWKSet(new URL(`${ts.base}/.well-known/jwks.json`));
  const id = (await jwtVerify(tokens.id_token!, jwks, { issuer: ts.issuer, audience: tv.client_id })).payload;
  assert.equal(id.email, 'tv.viewer@example.com');
  assert.equal(id['https://device.example/protocol'], 'oauth2-device-code');
  const at = (await jwtVerify(tokens.access_token, jwks, { issuer: ts.issuer, audience: API })).payload;
  assert.ok(String(at.scope).split(' ').includes('read:things'), String(at.scope));
  assert.equal(at['https://device.example/can_redirect'], true, 'the user is at a browser: redirects are possible');
  assert.ok(tokens.refresh_token, 'offline_access gives the device a refresh token');

  // The refresh token works, and post-login runs for it as for any refresh.
  const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token!);
  const at2 = (await jwtVerify(refreshed.access_token, jwks, { issuer: ts.issuer, audience: API })).payload;
  assert.equal(at2.sub, at.sub);
  assert.ok(refreshed.refresh_token && refreshed.refresh_token !== tokens.refresh_token, 'rotated');

  // The code is spent: entered again, the page says so.
  const again = await enterCode(new Browser(), da.user_code);
  assert.equal(again.status, 400);
  assert.match(alertText(await again.text()) ?? '', /already entered in a browser/);
});

test('polling: pending until the user answers, slow_down when too fast, and no audit record for either', async () => {
  const da = await oidc.initiateDeviceAuthorization(config, { scope: 'openid' });
  const poll = () => postForm(`${ts.base}/oauth/token`, { grant_type: DEVICE_GRANT, device_code: da.device_code, client_id: tv.client_id });
  const first = await poll();
  assert.equal(first.status, 400);
  assert.equal(first.body.error, 'authorization_pending');
  const second = await poll();
  assert.equal(second.status, 400);
  assert.equal(second.body.error, 'slow_down', 'polled again at once');
  await new Promise((r) => setTimeout(r, 1100));
  assert.equal((await poll()).body.error, 'authorization_pending', 'after the interval: pending again');
  const rows = await ts.ctx.db('audit_logs').where({ client_id: tv.client_id }).whereIn('type', ['fede', 'feacft']);
  assert.deepEqual(rows, [], 'waiting is not a failure');

  // Another client cannot poll this device code.
  const other = await ts.ctx.clients.create({ name: 'Other TV', app_type: 'native', grant_types: [DEVICE_GRANT] });
  const stolen = await postForm(`${ts.base}/oauth/token`, { grant_type: DEVICE_GRANT, device_code: da.device_code, client_id: other.client_id });
  assert.equal(stolen.body.error, 'invalid_grant');
});

test('the user cancels on the confirmation page: the device gets access_denied', async () => {
  const da = await oidc.initiateDeviceAuthorization(config, { scope: 'openid' });
  const browser = new Browser();
  const confirm = await enterCode(browser, da.user_code);
  const page = await browser.submit(new URL(`${ts.base}/activate`), await confirm.text(), { abort: 'yes' });
  assert.match(alertText(await page.text()) ?? '', /cancelled/);
  const denied = await expectOAuthError(oidc.pollDeviceAuthorizationGrant(config, da), 'access_denied');
  assert.match(denied.error_description ?? '', /aborted/i);
});

test('a post-login deny reaches the device with its reason, and the page says it', async () => {
  const da = await oidc.initiateDeviceAuthorization(config, { scope: 'openid' });
  const polling = expectOAuthError(oidc.pollDeviceAuthorizationGrant(config, da), 'access_denied');
  const done = await activate(da.user_code, 'refused.viewer@example.com');
  assert.match(alertText(done.html) ?? '', /refused: No TV for this account/);
  const denied = await polling;
  assert.equal(denied.error_description, 'No TV for this account');
  const rows = await ts.ctx.db('audit_logs').where({ client_id: tv.client_id, type: 'fede' }).where('description', 'like', '%No TV for this account%');
  assert.equal(rows.length, 1, 'the refused exchange is audited');
});

test('an expired code: the page says expired (not "not valid", and it is not counted as wrong), the device gets expired_token', async (t) => {
  const da = await oidc.initiateDeviceAuthorization(config, { scope: 'openid' });
  const realNow = Date.now;
  Date.now = () => realNow() + 901 * 1000;
  t.after(() => { Date.now = realNow; });
  const before = await ts.ctx.db('login_failures').where('key', 'like', 'rate:user_code:%').sum({ n: 'failures' }).first();
  const page = await enterCode(new Browser(), da.user_code);
  assert.equal(page.status, 400);
  assert.match(alertText(await page.text()) ?? '', /has expired/);
  const afterwards = await ts.ctx.db('login_failures').where('key', 'like', 'rate:user_code:%').sum({ n: 'failures' }).first();
  assert.equal(Number(afterwards?.n ?? 0), Number(before?.n ?? 0), 'a code that existed is not a wrong one');
  const poll = await postForm(`${ts.base}/oauth/token`, { grant_type: DEVICE_GRANT, device_code: da.device_code, client_id: tv.client_id });
  assert.equal(poll.status, 400);
  assert.equal(poll.body.error, 'expired_token');
});

test('api.refreshToken.setExpiresAt in a device sign-in: the device\'s refresh token ends then', async (t) => {
  await deployAction(ts, {
    name: 'device-rt-end', trigger: 'post-login',
    code: `exports.onExecutePostLogin = async (event, api) => {
      if (event.transaction.protocol === 'oauth2-device-code') api.refreshToken.setExpiresAt(Date.now() + 15 * 60 * 1000);
    };`,
  });
  await bindActions(ts, 'post-login', ['device-claims', 'device-rt-end']);
  t.after(() => bindActions(ts, 'post-login', ['device-claims']));
  const da = await oidc.initiateDeviceAuthorization(config, { scope: 'openid offline_access' });
  const polling = oidc.pollDeviceAuthorizationGrant(config, da);
  const at = Date.now();
  await activate(da.user_code, 'tv.viewer@example.com');
  const tokens = await polling;
  assert.ok(tokens.refresh_token);
  const sub = String(tokens.claims()!.sub);
  const listed = await ts.api('GET', `/users/${encodeURIComponent(sub)}/refresh-tokens`);
  assert.equal(listed.status, 200, JSON.stringify(listed.body));
  const mine = (listed.body.tokens as { client_id: string; expires_at: string }[]).filter((x) => x.client_id === tv.client_id);
  assert.ok(mine.length >= 1);
  const ends = mine.map((x) => Date.parse(x.expires_at));
  assert.ok(ends.some((e) => Math.abs(e - (at + 15 * 60 * 1000)) < 60_000), `one ends in 15 minutes: ${mine.map((x) => x.expires_at).join(', ')}`);
});

test('only native applications take the device grant; a client without it is refused at /oauth/device/code', async () => {
  const spa = await ts.api('POST', '/clients', { name: 'SPA with device', app_type: 'spa', grant_types: ['authorization_code', DEVICE_GRANT], callbacks: ['https://app-5173.example/cb'] });
  assert.equal(spa.status, 400);
  assert.match(spa.body.message, /native/);
  const native = await ts.api('POST', '/clients', { name: 'CLI', app_type: 'native', grant_types: [DEVICE_GRANT, 'refresh_token'] });
  assert.equal(native.status, 201, JSON.stringify(native.body));
  assert.deepEqual(native.body.grant_types, [DEVICE_GRANT, 'refresh_token']);
  const plain = await ts.ctx.clients.create({ name: 'Plain native', app_type: 'native', callbacks: ['com.example.app:/cb'] });
  const r = await postForm(`${ts.base}/oauth/device/code`, { client_id: plain.client_id, scope: 'openid' });
  assert.equal(r.status, 400);
  assert.equal(r.body.error, 'invalid_request');
  assert.match(String(r.body.error_description), /device_code is not allowed for this client/);
});

test('the pages: a form that works without script, errors in role=alert, the forms protected by the provider\'s xsrf value', async () => {
  const browser = new Browser();
  const res = await browser.request(`${ts.base}/activate`);
  const html = await res.text();
  assert.doesNotMatch(html, /<script/);
  // The confirmation must not be framed (a framed "Continue" is a click someone else chose) nor cached.
  assert.match(res.headers.get('content-security-policy') ?? '', /frame-ancestors 'none'/);
  assert.match(res.headers.get('cache-control') ?? '', /no-store/);
  // What an admin named the application is shown escaped.
  const odd = await ts.ctx.clients.create({ name: '<img src=x onerror=alert(1)>', app_type: 'native', grant_types: [DEVICE_GRANT] });
  const da = await oidc.initiateDeviceAuthorization(await discover(ts, odd.client_id), { scope: 'openid' });
  const confirm = await (await enterCode(new Browser(), da.user_code)).text();
  assert.match(confirm, /&lt;img src=x onerror=alert\(1\)&gt;/);
  assert.doesNotMatch(confirm, /<img src=x/);
  const form = parseForm(html);
  assert.ok(form.fields.xsrf, 'the form carries the xsrf value');
  // verification_uri_complete: oidc-provider's page that posts the code at once (a button without script).
  const complete = await new Browser().request(`${ts.base}/activate?user_code=BCDF-GHJK`);
  const completeHtml = await complete.text();
  assert.match(completeHtml, /<noscript>[\s\S]*<button[^>]*type="submit"/);
  const csp = complete.headers.get('content-security-policy') ?? '';
  assert.match(csp, /script-src 'sha256-[^']+'/, 'the auto-submit script is allowed by its hash');
  assert.doesNotMatch(csp, /script-src 'none'/, 'without a \'none\' beside it (Chromium logs that as an error)');
  const empty = await browser.submit(new URL(`${ts.base}/activate`), html, { user_code: '' });
  assert.equal(empty.status, 400, ts.logs.filter((l) => /"level":(50|40)/.test(l)).join('\n'));
  assert.match(alertText(await empty.text()) ?? '', /Enter the code/);
  // Without the session's xsrf value the post is refused.
  const forged = await new Browser().request(`${ts.base}/activate`, { method: 'POST', body: new URLSearchParams({ xsrf: form.fields.xsrf, user_code: 'BCDF-GHJK' }), headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  assert.equal(forged.status, 400);
  const forgedPage = await forged.text();
  assert.doesNotMatch(forgedPage, /Confirm the device/);
  assert.match(alertText(forgedPage) ?? '', /expired or was opened in another browser/, 'a page that says what to do, not a bare 500');
  // With the session but a wrong xsrf value: refused on the form again.
  const wrongXsrf = await browser.request(`${ts.base}/activate`, { method: 'POST', body: new URLSearchParams({ xsrf: 'not-the-value', user_code: 'BCDF-GHJK' }), headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  assert.equal(wrongXsrf.status, 400);
  const wrongXsrfPage = await wrongXsrf.text();
  assert.doesNotMatch(wrongXsrfPage, /Confirm the device/);
  assert.match(alertText(wrongXsrfPage) ?? '', /This form has expired/);
  // ...and the form it shows again works.
  const retried = await browser.submit(new URL(`${ts.base}/activate`), wrongXsrfPage, { user_code: 'BCDF-GHJK' });
  assert.match(alertText(await retried.text()) ?? '', /not valid/);
});

test('wrong user codes are counted per address: past the limit even a right code waits (RFC 8628 §5.1)', async () => {
  // The limit here is 4 wrong codes an hour. Right codes are not held against the address.
  // (The tests before this one entered wrong codes too, from the same address: counted from zero here.)
  await ts.ctx.db('login_failures').where('key', 'like', 'rate:user_code:%').delete();
  const da = await oidc.initiateDeviceAuthorization(config, { scope: 'openid' });
  for (let i = 0; i < 3; i++) assert.equal((await enterCode(new Browser(), da.user_code)).status, 200, 'a right code');
  for (let i = 0; i < 4; i++) {
    const wrong = await enterCode(new Browser(), 'BCDF-GHJK');
    assert.equal(wrong.status, 400);
    const html = await wrong.text();
    assert.match(alertText(html) ?? '', /not valid/);
    assert.match(html, /value="BCDF-GHJK"/, 'what was typed stays in the field');
    assert.match(html, /<input id="user_code"[^>]* aria-invalid="true" aria-describedby="error"/, 'the field points at its error');
  }
  const blocked = await enterCode(new Browser(), da.user_code);
  assert.equal(blocked.status, 429);
  assert.ok(Number(blocked.headers.get('retry-after')) > 0);
  const blockedPage = await blocked.text();
  assert.match(alertText(blockedPage) ?? '', /Too many wrong codes/);
  assert.doesNotMatch(blockedPage, /Confirm the device/, 'the right code was not looked up');
  // Every spelling oidc-provider's router takes for the page is counted alike (regression: only
  // the exact path was, and /activate/ or /ACTIVATE looked codes up without limit).
  const browser = new Browser();
  let page = await (await browser.request(`${ts.base}/activate`)).text();
  for (const path of ['/activate/', '/ACTIVATE', '/Activate/']) {
    // (Each answer carries a new xsrf value: the next post takes it from there.)
    const r = await browser.request(`${ts.base}${path}`, { method: 'POST', body: new URLSearchParams({ ...parseForm(page).fields, user_code: da.user_code }), headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    page = await r.text();
    assert.equal(r.status, 429, `${path}: ${alertText(page)}`);
    assert.equal(r.headers.get('cache-control'), 'no-store', path);
  }
});
