import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { createConnection } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as oidc from 'openid-client';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { startTestServer, discover, freePort, loginAt, loginThroughForm, authorizationRequest, silentAuthorization, type TestServer } from './helpers/server.ts';
import { Browser } from './helpers/cookie-fetch.ts';
import { expectOAuthError } from './helpers/oidc-assert.ts';

/*
 * Hostile protocol inputs from the security checklist (table A, and B26) that no other suite
 * covers: bad redirect URIs through the Management API, a code past its lifetime, a hostile
 * `state` in a form_post response, `alg: none`, `max_age=0`, a restart, huge headers.
 */

const CB = 'https://app-5190.example/cb';
const EMAIL = 'hostile.protocol@example.com';
const PASSWORD = 'a long and boring password';
let ts: TestServer;
let spa: { client_id: string };
let config: oidc.Configuration;

before(async () => {
  ts = await startTestServer();
  spa = await ts.ctx.clients.create({ name: 'Hostile SPA', app_type: 'spa', callbacks: [CB] });
  config = await discover(ts, spa.client_id);
  await ts.ctx.users.create({ email: EMAIL, password: PASSWORD });
});
after(async () => { await ts?.close(); });

const claimsOf = (jwt: string) => JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString()) as Record<string, unknown>;

test('A3: redirect URIs that are scripts, data, plain http off loopback, wildcards or carry a fragment are refused by the Management API', async () => {
  const bad = [
    'javascript:alert(1)',
    'data:text/html,<script>alert(1)</script>',
    'http://app.example.com/callback',
    'https://*.example.com/callback',
    'https://app.example.com/callback#fragment',
    'not a url',
  ];
  for (const uri of bad) {
    for (const type of ['spa', 'regular_web'] as const) {
      const res = await ts.api('POST', '/clients', { name: 'bad redirect', app_type: type, callbacks: [uri] });
      assert.equal(res.status, 400, `${type} ${uri}: ${JSON.stringify(res.body)}`);
      const body = res.body as { message: string; errorCode: string };
      assert.match(body.message, /callbacks|redirect/i, `${uri}: the field is named (${body.message})`);
    }
    // Nor can an existing client be changed to one.
    const created = await ts.api('POST', '/clients', { name: 'good redirect', app_type: 'spa', callbacks: ['https://app.example.com/callback'] });
    assert.equal(created.status, 201);
    const patched = await ts.api('PATCH', `/clients/${(created.body as { client_id: string }).client_id}`, { callbacks: [uri] });
    assert.equal(patched.status, 400, `PATCH ${uri}`);
  }
  // What is allowed: https anywhere, http on loopback (local development), custom schemes for native apps.
  for (const [type, uri] of [['spa', 'https://app.example.com/cb'], ['spa', 'http://localhost:3000/cb'], ['spa', 'http://127.0.0.1:8080/cb'], ['native', 'com.example.app:/callback']] as const) {
    const res = await ts.api('POST', '/clients', { name: 'ok redirect', app_type: type, callbacks: [uri] });
    assert.equal(res.status, 201, `${type} ${uri}: ${JSON.stringify(res.body)}`);
  }
});

test('A8: an authorization code used after its 60 s lifetime is invalid_grant', async () => {
  const r = await loginThroughForm(config, { redirectUri: CB, email: EMAIL, password: PASSWORD, scope: 'openid email' });
  assert.ok(r.callbackUrl);
  const realNow = Date.now;
  Date.now = () => realNow() + 61_000;
  try {
    await expectOAuthError(oidc.authorizationCodeGrant(config, r.callbackUrl, { pkceCodeVerifier: r.verifier, expectedState: r.state }), 'invalid_grant', 400);
  } finally {
    Date.now = realNow;
  }
  // The clock back where it was, the code is still unused: expiry refused it, nothing consumed it.
  const tokens = await oidc.authorizationCodeGrant(config, r.callbackUrl, { pkceCodeVerifier: r.verifier, expectedState: r.state });
  assert.ok(tokens.id_token);
});

test('A14: a 2 kB state full of markup comes back exactly, HTML-escaped, in the form_post page', async () => {
  const state = `"><script>alert(document.domain)</script><img src=x onerror=alert(1)>'&${'x'.repeat(2000)}`;
  const { url, verifier } = await authorizationRequest(config, { redirectUri: CB, scope: 'openid', params: { response_mode: 'form_post', state } });
  const r = await loginAt(url, { redirectUri: CB, email: EMAIL, password: PASSWORD });
  const html = r.loginPage ?? '';
  assert.match(html, /<form[^>]+method="post"[^>]+action="https:\/\/app-5190.example\/cb"|<form[^>]+action="https:\/\/app-5190.example\/cb"[^>]+method="post"/, 'the form_post page posts to the callback');
  assert.ok(!html.includes('<script>alert(document.domain)'), 'the markup in state is not live');
  assert.ok(!html.includes('<img src=x'), 'the markup in state is not live');
  const field = /<input type="hidden" name="state" value="([^"]*)"/.exec(html);
  assert.ok(field, 'state is a hidden field');
  const decoded = field[1].replace(/&quot;/g, '"').replace(/&#x27;|&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
  assert.equal(decoded, state, 'echoed exactly');
  // And the code in it works for the client that sent that state.
  const code = /<input type="hidden" name="code" value="([^"]*)"/.exec(html)?.[1];
  assert.ok(code);
  const cb = new URL(CB);
  cb.searchParams.set('code', code);
  cb.searchParams.set('state', state);
  cb.searchParams.set('iss', ts.issuer);
  const tokens = await oidc.authorizationCodeGrant(config, cb, { pkceCodeVerifier: verifier, expectedState: state });
  assert.ok(tokens.id_token);
});

test("A19: alg 'none' is refused for ID tokens and for request objects", async () => {
  const res = await ts.api('POST', '/clients', { name: 'none alg', app_type: 'regular_web', callbacks: ['https://app.example.com/cb'], id_token_signed_response_alg: 'none' });
  assert.equal(res.status, 400);
  assert.match((res.body as { message: string }).message, /id_token_signed_response_alg/);
  const auth0Shape = await ts.api('POST', '/clients', { name: 'none alg', app_type: 'regular_web', callbacks: ['https://app.example.com/cb'], jwt_configuration: { alg: 'none' } });
  assert.equal(auth0Shape.status, 400);
  const discovery = await (await fetch(`${ts.base}/.well-known/openid-configuration`)).json() as Record<string, string[] | undefined>;
  assert.ok(!(discovery.id_token_signing_alg_values_supported ?? []).includes('none'));
  assert.ok(!(discovery.request_object_signing_alg_values_supported ?? []).includes('none'));

  // An unsigned request object: refused, and nobody is asked to log in.
  const unsigned = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${Buffer.from(JSON.stringify({
    iss: spa.client_id, aud: ts.issuer, client_id: spa.client_id, response_type: 'code', redirect_uri: CB, scope: 'openid email', state: 's',
  })).toString('base64url')}.`;
  const { url } = await authorizationRequest(config, { redirectUri: CB, scope: 'openid', params: { request: unsigned } });
  const browser = new Browser();
  const { res: end, url: at } = await browser.follow(url, {}, (u) => u.href.startsWith(CB));
  const html = at.href.startsWith(CB) ? '' : await end.text();
  assert.ok(!/name="password"/.test(html), 'no login page for a request carrying an unsigned request object');
  const error = at.href.startsWith(CB) ? at.searchParams.get('error') : /request_not_supported|invalid_request_object/.exec(html)?.[0];
  assert.match(String(error), /request_not_supported|invalid_request_object/);
});

test('A26: max_age=0 asks for the password again, and auth_time moves forward', async () => {
  const browser = new Browser();
  const first = await loginThroughForm(config, { browser, redirectUri: CB, email: EMAIL, password: PASSWORD, scope: 'openid' });
  const t1 = await oidc.authorizationCodeGrant(config, first.callbackUrl!, { pkceCodeVerifier: first.verifier, expectedState: first.state });
  const authTime1 = Number(claimsOf(t1.id_token!).auth_time);
  assert.ok(authTime1 > 0, 'auth_time is in the ID token');
  // Signed in: without max_age the session answers at once.
  await silentAuthorization(config, browser, CB);
  await new Promise((r) => setTimeout(r, 1100)); // auth_time has a resolution of one second

  const again = await authorizationRequest(config, { redirectUri: CB, scope: 'openid', params: { max_age: '0' } });
  const r = await loginAt(again.url, { browser, redirectUri: CB, email: EMAIL, password: PASSWORD });
  assert.ok(r.posted, 'the login form was shown and posted: max_age=0 did not ride on the session');
  assert.ok(r.callbackUrl);
  const t2 = await oidc.authorizationCodeGrant(config, r.callbackUrl, { pkceCodeVerifier: again.verifier, expectedState: again.state, maxAge: 0 });
  assert.ok(Number(claimsOf(t2.id_token!).auth_time) > authTime1, 'auth_time is the new authentication');

  // max_age=0 with prompt=none cannot be answered silently.
  const silent = await authorizationRequest(config, { redirectUri: CB, scope: 'openid', params: { max_age: '0', prompt: 'none' } });
  await new Promise((res) => setTimeout(res, 1100));
  const { url: at } = await browser.follow(silent.url, {}, (u) => u.href.startsWith(CB));
  assert.equal(at.searchParams.get('error'), 'login_required');
});

test('A31: after a restart, old ID tokens verify, the browser session holds, and refresh tokens work', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-restart-'));
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  let first: TestServer | undefined = await startTestServer({}, { at: { dir, port } });
  let second: TestServer | undefined;
  try {
    const app = await first.ctx.clients.create({ name: 'Restart SPA', app_type: 'spa', callbacks: [CB] });
    await first.ctx.users.create({ email: EMAIL, password: PASSWORD });
    const cfg1 = await discover(first, app.client_id);
    const browser = new Browser();
    const r = await loginThroughForm(cfg1, { browser, redirectUri: CB, email: EMAIL, password: PASSWORD, scope: 'openid email offline_access', params: { prompt: 'consent' } });
    const tokens = await oidc.authorizationCodeGrant(cfg1, r.callbackUrl!, { pkceCodeVerifier: r.verifier, expectedState: r.state });
    assert.ok(tokens.id_token && tokens.refresh_token);
    await first.close();
    first = undefined;
    // Let fetch's pool see the old server's keep-alive sockets close before the next requests.
    await new Promise((r) => setTimeout(r, 100));

    second = await startTestServer({}, { at: { dir, port } });
    const jwks = createRemoteJWKSet(new URL(`${issuer}/.well-known/jwks.json`));
    const verified = await jwtVerify(tokens.id_token, jwks, { issuer, audience: app.client_id });
    assert.equal(verified.payload.email, EMAIL, 'the old ID token verifies against the restarted server\'s keys');
    const cfg2 = await discover(second, app.client_id);
    await silentAuthorization(cfg2, browser, CB); // the session cookie still opens the session
    const refreshed = await oidc.refreshTokenGrant(cfg2, tokens.refresh_token);
    assert.ok(refreshed.access_token && refreshed.refresh_token, 'the old refresh token still works');
  } finally {
    await first?.close();
    await second?.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('B26: a 64 kB header is refused with 431 and the server goes on', async () => {
  const status = await new Promise<number | string>((resolve) => {
    const req = httpRequest({ host: '127.0.0.1', port: new URL(ts.base).port, path: '/healthz', headers: { 'x-padding': 'a'.repeat(64 * 1024) } }, (res) => { res.resume(); resolve(res.statusCode ?? 0); });
    req.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
    req.end();
  });
  assert.ok(status === 431 || status === 'ECONNRESET', `got ${status}`);
  const ok = await fetch(`${ts.base}/healthz`);
  assert.equal(ok.status, 200);
});

/** Writes `head` then `drip` one byte every 200 ms; resolves with what the server said and when it closed. */
function slowClient(port: number, head: string, drip: string): Promise<{ closedAfterMs: number; response: string; sentAll: boolean }> {
  return new Promise((resolve) => {
    const t0 = Date.now();
    let response = '';
    let i = 0;
    const socket = createConnection({ host: '127.0.0.1', port }, () => socket.write(head));
    const timer = setInterval(() => { if (i < drip.length && !socket.destroyed) socket.write(drip[i++]); }, 200);
    socket.on('data', (d) => { response += d.toString('latin1'); });
    socket.on('error', () => {});
    socket.on('close', () => { clearInterval(timer); resolve({ closedAfterMs: Date.now() - t0, response, sentAll: i >= drip.length }); });
  });
}

test('B26: slowloris and a trickled body are cut off at the configured deadlines, and the server goes on', async () => {
  const slow = await startTestServer({ http: { bodyLimitBytes: 102400, trustProxy: false, headersTimeoutMs: 1500, requestTimeoutMs: 3000 } });
  try {
    const port = Number(new URL(slow.base).port);
    // Headers one byte at a time, never finished (40 s of drip if the server let it).
    const headers = await slowClient(port, 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n', 'X-Slow: ' + 'a'.repeat(200));
    assert.equal(headers.sentAll, false, 'the server did not wait for the whole drip');
    assert.ok(headers.closedAfterMs < 8000, `closed after ${headers.closedAfterMs} ms (headers deadline 1.5 s, checked every second)`);
    assert.match(headers.response, /^HTTP\/1\.1 408|^$/, 'a 408 or a plain close');
    // Headers at once, then a body that trickles: the whole-request deadline ends it.
    const body = await slowClient(port, 'POST /oauth/token HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 200\r\n\r\n', 'g'.repeat(200));
    assert.equal(body.sentAll, false);
    assert.ok(body.closedAfterMs < 10_000, `closed after ${body.closedAfterMs} ms (request deadline 3 s)`);
    assert.equal((await fetch(`${slow.base}/healthz`)).status, 200, 'the server goes on');
    // The cut-off request is a line in the server's log (a warning: the client caused it), not a stack on stderr.
    assert.match(slow.logs.join('\n'), /ERR_HTTP_REQUEST_TIMEOUT[^\n]*request ended early|request ended early[^\n]*ERR_HTTP_REQUEST_TIMEOUT/);
  } finally {
    await slow.close();
  }
});

test('a native app is shown the consent page every time, first party or not: another app may own its redirect (RFC 8252 §8.6)', async () => {
  // Regression: first-party clients were consented on a plain GET, native ones too, so an app
  // that registered the same custom scheme (or listened on a loopback port) got a code for
  // the user's session without the user seeing anything.
  const NATIVE_CB = 'com.example.gatehouse.test:/callback';
  const app = await ts.ctx.clients.create({ name: 'Native App', app_type: 'native', callbacks: [NATIVE_CB] });
  assert.equal(app.is_first_party, true);
  const cfg = await discover(ts, app.client_id);
  const atCallback = (u: URL) => u.href.startsWith(NATIVE_CB);
  const r = await loginThroughForm(cfg, { redirectUri: NATIVE_CB, email: EMAIL, password: PASSWORD, scope: 'openid' });
  assert.equal(r.callbackUrl, undefined, 'no code before the user confirms');
  assert.match(r.loginPage ?? '', /\/confirm"/, 'the consent page');
  const confirmed = await r.browser.submit(r.url!, r.loginPage!, {}, { actionIncludes: '/confirm' });
  const done = await r.browser.follow(new URL(confirmed.headers.get('location')!, r.url), {}, atCallback);
  assert.ok(done.url.searchParams.get('code'), done.url.href);
  // The session answers a new authorization: still the consent page, not a code.
  const { url } = await authorizationRequest(cfg, { redirectUri: NATIVE_CB, scope: 'openid' });
  const again = await r.browser.follow(url, {}, atCallback);
  assert.ok(!atCallback(again.url), `a code without the user: ${again.url.href}`);
  assert.match(await again.res.text(), /\/confirm"/);
  // A first-party SPA is still consented without a page.
  const spaAgain = await authorizationRequest(config, { redirectUri: CB, scope: 'openid' });
  const s = await r.browser.follow(spaAgain.url, {}, (u) => u.href.startsWith(CB));
  assert.ok(s.url.href.startsWith(CB) && s.url.searchParams.get('code'), `SPA: no consent page (${s.url.href})`);
});

test('a first-party application whose callback is on localhost is shown the consent page every time; prompt=none gets consent_required (RFC 8252 §8.6, as Auth0 does)', async () => {
  // Regression of a review: a first-party SPA with a localhost callback was consented without a
  // page, so any program listening on that port got the signed-in user's code (with its own
  // PKCE pair) silently with prompt=none, and a refresh token with offline_access.
  for (const LOOP_CB of ['http://localhost:5193/callback', 'http://127.0.0.1:5194/callback', 'http://[::1]:5195/callback', 'https://localhost.:5196/callback', 'https://[::ffff:7f00:1]:5197/callback']) {
    const spa = await ts.ctx.clients.create({ name: 'Loopback SPA', app_type: 'spa', callbacks: [LOOP_CB] });
    assert.equal(spa.is_first_party, true);
    const cfg = await discover(ts, spa.client_id);
    const atCallback = (u: URL) => u.href.startsWith(LOOP_CB);
    const r = await loginThroughForm(cfg, { redirectUri: LOOP_CB, email: EMAIL, password: PASSWORD, scope: 'openid email' });
    assert.equal(r.callbackUrl, undefined, `${LOOP_CB}: no code before the user confirms`);
    assert.match(r.loginPage ?? '', /Authorize Loopback SPA/);
    assert.match(r.loginPage ?? '', /<li>openid<\/li>/, 'the consent page lists what is asked');
    const confirmed = await r.browser.submit(r.url!, r.loginPage!, {}, { actionIncludes: '/confirm' });
    const done = await r.browser.follow(new URL(confirmed.headers.get('location')!, r.url), {}, atCallback);
    assert.ok(done.url.searchParams.get('code'), done.url.href);
    // Another program on the device, with the user's session: no code without the user.
    const silent = await authorizationRequest(cfg, { redirectUri: LOOP_CB, scope: 'openid email offline_access', params: { prompt: 'none' } });
    const s = await r.browser.follow(silent.url, {}, atCallback);
    assert.equal(s.url.searchParams.get('code'), null, s.url.href);
    assert.equal(s.url.searchParams.get('error'), 'consent_required');
    const interactive = await authorizationRequest(cfg, { redirectUri: LOOP_CB, scope: 'openid email offline_access', params: { prompt: 'consent' } });
    const again = await r.browser.follow(interactive.url, {}, atCallback);
    assert.ok(!atCallback(again.url), `a code without the user: ${again.url.href}`);
    assert.match(await again.res.text(), /\/confirm"/);
  }
});

/** GET `path` with these headers (node:http, so Host can be set), answering status and body. */
function getWithHeaders(base: string, path: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port: new URL(base).port, path, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('a Host, X-Forwarded-Host, absolute request line or client-sent X-Forwarded-Proto never reaches a URL: discovery, JWKS location and the logout form use the issuer', async () => {
  // Regression (outside probe): discovery listed http://evil.example/authorize and a jwks_uri there,
  // which a cache in front could keep and serve to every app.
  const check = async (server: TestServer, headers: Record<string, string>) => {
    const d = await getWithHeaders(server.base, '/.well-known/openid-configuration', headers);
    assert.equal(d.status, 200);
    const doc = JSON.parse(d.body) as Record<string, unknown>;
    const urls = Object.entries(doc).filter(([, v]) => typeof v === 'string' && /^https?:/.test(v));
    assert.ok(urls.length >= 6, 'discovery lists its endpoints');
    for (const [k, v] of urls) assert.ok((v as string).startsWith(server.issuer.replace(/\/$/, '')), `${k}: ${v as string}`);
    const logout = await getWithHeaders(server.base, '/oidc/logout', headers);
    assert.doesNotMatch(logout.body, /evil\.example/);
    assert.match(logout.body, /<form[^>]+action="http:\/\/(localhost|127\.0\.0\.1):\d+\/oidc\/logout\/confirm"/);
  };
  await check(ts, { host: 'evil.example' });
  // The request line in absolute form, which an origin server must accept (RFC 9112 3.2.2).
  for (const target of ['http://evil.example/.well-known/openid-configuration', 'https://evil.example/.well-known/openid-configuration']) {
    const raw = await rawRequest(ts.base, `GET ${target} HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n`);
    assert.match(raw, /^HTTP\/1\.1 200/);
    assert.doesNotMatch(raw, /evil\.example/, target);
  }
  // Targets that are no path at all: refused, and the server goes on. Regression (review): `foo://x`
  // gave Koa a null path, and the metrics listener's throw on it ended the process.
  for (const target of ['foo://evil.example', 'http://evil.example:99999/.well-known/openid-configuration', '*', 'mailto:a@b.example']) {
    const raw = await rawRequest(ts.base, `GET ${target} HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n`);
    assert.match(raw, /^HTTP\/1\.1 400/, target);
  }
  // A fragment sent Koa's URL parser down a path where `//a@b#x` had no path: a 500 (review).
  for (const target of ['//a@b#x', '//a@b?q=1#x', '/healthz#frag']) {
    const raw = await rawRequest(ts.base, `GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    assert.doesNotMatch(raw, /^HTTP\/1\.1 5/, target);
  }
  assert.equal((await fetch(`${ts.base}/healthz`)).status, 200, 'still serving');
  const proxied = await startTestServer({ http: { bodyLimitBytes: 102400, trustProxy: 1, headersTimeoutMs: 15000, requestTimeoutMs: 30000 } });
  try {
    await check(proxied, { 'x-forwarded-host': 'evil.example', host: 'evil.example' });
    // A proxy that appends to X-Forwarded-Proto: the client's own value comes first and is not the scheme.
    for (const proto of ['evil, http', 'gopher', 'https, http']) {
      const d = JSON.parse((await getWithHeaders(proxied.base, '/.well-known/openid-configuration', { 'x-forwarded-proto': proto })).body) as Record<string, string>;
      assert.ok(d.jwks_uri.startsWith('http://'), `${proto}: ${d.jwks_uri}`);
    }
    const tls = JSON.parse((await getWithHeaders(proxied.base, '/.well-known/openid-configuration', { 'x-forwarded-proto': 'evil, https' })).body) as Record<string, string>;
    assert.ok(tls.jwks_uri.startsWith('https://'), 'the value the trusted proxy added counts');
  } finally {
    await proxied.close();
  }
});

/** Sends `text` as it is over a new connection; resolves with everything the server answered. */
function rawRequest(base: string, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: '127.0.0.1', port: Number(new URL(base).port) }, () => socket.write(text));
    let out = '';
    socket.setEncoding('utf8');
    socket.on('data', (c: string) => { out += c; });
    socket.on('end', () => resolve(out));
    socket.on('error', reject);
  });
}
