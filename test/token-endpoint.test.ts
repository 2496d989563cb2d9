import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from './helpers/server.ts';
import { basic, jwtPayload } from './helpers/oidc-assert.ts';

// POST /oauth/token as Auth0's SDKs and curl users send it: `audience=` instead of `resource=`,
// JSON bodies, client_credentials without `scope` (all the client grant allows), and what must
// still be refused (duplicates, both names at once, bodies that do not parse or are too large).

let ts: TestServer;
let client: { client_id: string; client_secret: string };
const API = 'https://token-endpoint.example/api';
before(async () => {
  ts = await startTestServer();
  const rs = await ts.api('POST', '/resource-servers', { name: 'te', identifier: API, scopes: ['read:a', 'write:a', 'admin:a'].map((value) => ({ value, description: value })) });
  assert.equal(rs.status, 201, JSON.stringify(rs.body));
  const c = await ts.api('POST', '/clients', { name: 'te-m2m', app_type: 'non_interactive' });
  assert.equal(c.status, 201, JSON.stringify(c.body));
  client = c.body;
  const g = await ts.api('POST', '/client-grants', { client_id: client.client_id, audience: API, scope: ['read:a', 'write:a'] });
  assert.equal(g.status, 201, JSON.stringify(g.body));
});
after(async () => { await ts?.close(); });

async function token(body: string, headers: Record<string, string>) {
  const res = await fetch(`${ts.base}/oauth/token`, { method: 'POST', headers, body });
  const text = await res.text();
  let json: Record<string, any> = {};
  try { json = JSON.parse(text); } catch { /* not JSON: kept as text below */ }
  return { status: res.status, body: json, text, headers: res.headers };
}
const form = { 'content-type': 'application/x-www-form-urlencoded' };
const auth = () => ({ authorization: basic(client.client_id, client.client_secret) });
const scopesOf = (t: string) => String(jwtPayload(t).scope).split(' ').sort();

test('audience= and resource= give the same token; without scope the grant\'s scopes are issued', async () => {
  for (const key of ['audience', 'resource']) {
    const r = await token(`grant_type=client_credentials&${key}=${encodeURIComponent(API)}`, { ...form, ...auth() });
    assert.equal(r.status, 200, `${key}: ${r.text}`);
    assert.equal(jwtPayload(r.body.access_token).aud, API);
    assert.deepEqual(scopesOf(r.body.access_token), ['read:a', 'write:a'], key);
    assert.equal(r.headers.get('cache-control'), 'no-store');
    assert.equal(r.headers.get('x-content-type-options'), 'nosniff');
  }
});

test('a requested scope narrows the token; one outside the grant is not issued', async () => {
  const r = await token(`grant_type=client_credentials&audience=${encodeURIComponent(API)}&scope=read%3Aa`, { ...form, ...auth() });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(scopesOf(r.body.access_token), ['read:a']);
  const wider = await token(`scope=admin%3Aa+read%3Aa&grant_type=client_credentials&audience=${encodeURIComponent(API)}`, { ...form, ...auth() });
  assert.equal(wider.status, 200, wider.text);
  assert.deepEqual(scopesOf(wider.body.access_token), ['read:a']);
  assert.equal(wider.body.scope, 'read:a', 'the answer says what was issued (RFC 6749 5.1)');
  // Nothing of what was asked is granted: refused, as on Auth0. Regression (outside probe): a token
  // with no scope at all was issued, and the answer did not say so.
  const none = await token(`scope=admin%3Aa&grant_type=client_credentials&audience=${encodeURIComponent(API)}`, { ...form, ...auth() });
  assert.equal(none.status, 400, none.text);
  assert.equal(none.body.error, 'access_denied');
  assert.equal(none.body.error_description, 'Client has not been granted scopes: admin:a');
  assert.equal(none.body.access_token, undefined);
});

test('client_credentials without an audience is refused, as on Auth0, not an opaque token no API accepts', async () => {
  // Regression (outside probe): an opaque access token for no API was issued, which introspection called active.
  for (const body of ['grant_type=client_credentials', 'grant_type=client_credentials&scope=read%3Aa']) {
    const r = await token(body, { ...form, ...auth() });
    assert.equal(r.status, 400, `${body}: ${r.text}`);
    assert.equal(r.body.error, 'access_denied');
    assert.match(r.body.error_description, /No audience parameter was provided/);
    assert.equal(r.body.access_token, undefined);
  }
});

test('the client may authenticate in the body, and keys may be percent-encoded', async () => {
  const body = new URLSearchParams({ grant_type: 'client_credentials', client_id: client.client_id, client_secret: client.client_secret });
  // `%61udience` is `audience`: it must be read as a name, not compared as bytes. Without
  // scope, the grant is found by the client_id in the body.
  const r = await token(`${body}&%61udience=${encodeURIComponent(API)}`, form);
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(scopesOf(r.body.access_token), ['read:a', 'write:a']);
  const basicOnly = await token(`grant_type=client_credentials&%61udience=${encodeURIComponent(API)}`, { ...form, ...auth() });
  assert.equal(basicOnly.status, 200, basicOnly.text);
  assert.equal(jwtPayload(basicOnly.body.access_token).aud, API);
  assert.deepEqual(scopesOf(basicOnly.body.access_token), ['read:a', 'write:a']);
});

test('a JSON body, as Auth0\'s SDKs send it, works like the form', async () => {
  const r = await token(JSON.stringify({ grant_type: 'client_credentials', client_id: client.client_id, client_secret: client.client_secret, audience: API }), { 'content-type': 'application/json' });
  assert.equal(r.status, 200, r.text);
  assert.equal(jwtPayload(r.body.access_token).aud, API);
  assert.deepEqual(scopesOf(r.body.access_token), ['read:a', 'write:a']);
  const ok = await token(JSON.stringify({ grant_type: 'client_credentials', audience: API, scope: 'write:a', extra: 1 }), { 'content-type': 'application/json; charset=utf-8', ...auth() });
  assert.equal(ok.status, 200, ok.text);
  assert.deepEqual(scopesOf(ok.body.access_token), ['write:a']);
});

test('a JSON body member that is an array or an object is refused, as a repeated form parameter is', async () => {
  // Regression: non-string members were dropped, so `"audience": [a, b]` gave an opaque token
  // with no audience, and a `scope` array one with every scope the client grant allows.
  for (const [name, value] of [['audience', [API, 'https://other.example/']], ['scope', ['write:a']], ['resource', { a: API }]] as const) {
    const r = await token(JSON.stringify({ grant_type: 'client_credentials', ...(name === 'audience' ? {} : { audience: API }), [name]: value }), { 'content-type': 'application/json', ...auth() });
    assert.equal(r.status, 400, `${name}: ${r.text}`);
    assert.equal(r.body.error, 'invalid_request');
    assert.equal(r.body.error_description, `'${name}' parameter must be a string`);
    assert.equal(r.body.access_token, undefined);
  }
  // A lone surrogate (no UTF-8 form) in a value or a name: 400, not a server error (regression of a review).
  for (const body of [`{"grant_type":"client_credentials","audience":"${API}","x":"\\ud800"}`, `{"grant_type":"client_credentials","audience":"${API}","\\udc00":"x"}`]) {
    const r = await token(body, { 'content-type': 'application/json', ...auth() });
    assert.equal(r.status, 400, r.text);
    assert.equal(r.body.error, 'invalid_request');
    assert.match(r.body.error_description, /well-formed Unicode/);
  }
  const notObject = await token('["grant_type", "client_credentials"]', { 'content-type': 'application/json', ...auth() });
  assert.equal(notObject.status, 400);
  assert.equal(notObject.body.error, 'invalid_request');
});

test('repeated parameters are refused; nothing is issued', async () => {
  const a = encodeURIComponent(API);
  for (const [body, error] of [
    // Regression: a repeated audience used to be dropped, and an opaque token without any
    // audience was issued.
    [`grant_type=client_credentials&audience=${a}&audience=${a}`, 'invalid_request'],
    [`grant_type=client_credentials&audience=${a}&%61udience=${a}`, 'invalid_request'],
    [`grant_type=client_credentials&resource=${a}&resource=https%3A%2F%2Fother.example%2F`, 'invalid_target'],
    [`grant_type=client_credentials&grant_type=client_credentials&audience=${a}`, 'invalid_request'],
  ]) {
    const r = await token(body, { ...form, ...auth() });
    assert.equal(r.status, 400, `${body}: ${r.text}`);
    assert.equal(r.body.error, error, `${body}: ${r.text}`);
    if (body.includes('udience=') && body.split('udience=').length > 2) assert.match(r.body.error_description, /'audience' parameter must not be provided twice/);
    assert.equal(r.body.access_token, undefined);
  }
  // The same resource twice is one resource (oidc-provider's reading), with the grant's scopes.
  const same = await token(`grant_type=client_credentials&resource=${a}&resource=${a}`, { ...form, ...auth() });
  assert.equal(same.status, 200, same.text);
  assert.deepEqual(scopesOf(same.body.access_token), ['read:a', 'write:a']);
  // In a JSON body too (regression of a review: JSON.parse kept the last, so a proxy or a log
  // reading the first saw another request than the one served), however the name is spelt.
  for (const body of [
    `{"grant_type":"client_credentials","audience":"https://other.example/","audience":"${API}"}`,
    `{"grant_type":"client_credentials","audience":"https://other.example/", "\\u0061udience" ${' '.repeat(100)}: "${API}"}`,
  ]) {
    const json = await token(body, { 'content-type': 'application/json', ...auth() });
    assert.equal(json.status, 400, json.text);
    assert.equal(json.body.error, 'invalid_request');
    assert.equal(json.body.error_description, "'audience' parameter must not be provided twice");
    assert.equal(json.body.access_token, undefined);
  }
  // A value that looks like a member is a value.
  const lookalike = await token(JSON.stringify({ grant_type: 'client_credentials', audience: API, note: '"audience": "x"' }), { 'content-type': 'application/json', ...auth() });
  assert.equal(lookalike.status, 200, lookalike.text);
  // Both names at once: resource= wins, as oidc-provider reads it; audience= is dropped.
  const both = await token(`grant_type=client_credentials&resource=${a}&audience=https%3A%2F%2Fother.example%2F`, { ...form, ...auth() });
  assert.equal(both.status, 200, both.text);
  assert.equal(jwtPayload(both.body.access_token).aud, API);
});

test('bodies that do not parse, or are too large, get a clear OAuth error', async () => {
  const bad = await token('{"grant_type":', { 'content-type': 'application/json', ...auth() });
  assert.equal(bad.status, 400);
  assert.equal(bad.body.error, 'invalid_request');
  const arr = await token('["grant_type"]', { 'content-type': 'application/json', ...auth() });
  assert.equal(arr.status, 400);
  const big = await token(`grant_type=client_credentials&audience=${'x'.repeat(80 * 1024)}`, { ...form, ...auth() });
  assert.equal(big.status, 413);
  assert.equal(big.body.error, 'invalid_request');
  const unknownAudience = await token('grant_type=client_credentials&audience=https%3A%2F%2Fnope.example%2F', { ...form, ...auth() });
  assert.equal(unknownAudience.status, 400);
  assert.equal(unknownAudience.body.error, 'invalid_target');
});

test('token requests are counted in /metrics by route and status', async () => {
  const count = async (status: number) => {
    const text = await (await fetch(`${ts.base}/metrics`)).text();
    const m = text.match(new RegExp(`gatehouse_http_requests_total\\{route="/oauth/token",status="${status}"\\} (\\d+)`));
    return m ? Number(m[1]) : 0;
  };
  const [ok0, bad0] = [await count(200), await count(400)];
  await token(`grant_type=client_credentials&audience=${encodeURIComponent(API)}`, { ...form, ...auth() });
  await token('grant_type=client_credentials&audience=https%3A%2F%2Fnope.example%2F', { ...form, ...auth() });
  assert.equal(await count(200), ok0 + 1);
  assert.equal(await count(400), bad0 + 1);
});

test('a client change applies from the next token request (the built Client is not kept past it)', async () => {
  const c = await ts.api('POST', '/clients', { name: 'te-changing', app_type: 'non_interactive' });
  assert.equal(c.status, 201, JSON.stringify(c.body));
  const g = await ts.api('POST', '/client-grants', { client_id: c.body.client_id, audience: API, scope: ['read:a'] });
  assert.equal(g.status, 201, JSON.stringify(g.body));
  const viaBasic = () => token(`grant_type=client_credentials&audience=${encodeURIComponent(API)}`, { ...form, authorization: basic(c.body.client_id, c.body.client_secret) });
  assert.equal((await viaBasic()).status, 200);

  // No more client_credentials: refused at once.
  let p = await ts.api('PATCH', `/clients/${c.body.client_id}`, { grant_types: ['authorization_code'], callbacks: ['https://changing.example/cb'] });
  assert.equal(p.status, 200, JSON.stringify(p.body));
  const refused = await viaBasic();
  assert.equal(refused.status, 400, refused.text);
  assert.match(refused.body.error, /unauthorized_client|invalid_request/);

  // Allowed again (oidc-provider takes the secret in the header or the body alike).
  p = await ts.api('PATCH', `/clients/${c.body.client_id}`, { grant_types: ['client_credentials'] });
  assert.equal(p.status, 200, JSON.stringify(p.body));
  const back = await viaBasic();
  assert.equal(back.status, 200, back.text);
  assert.deepEqual(scopesOf(back.body.access_token), ['read:a']);

  // Deleted: the next request does not authenticate.
  assert.equal((await ts.api('DELETE', `/clients/${c.body.client_id}`)).status, 204);
  const gone = await token(new URLSearchParams({ grant_type: 'client_credentials', audience: API, client_id: c.body.client_id, client_secret: c.body.client_secret }).toString(), form);
  assert.equal(gone.status, 401, gone.text);
});

test('an action bound right after a token answered "nothing bound" runs from the next request', async () => {
  const before = await token(`grant_type=client_credentials&audience=${encodeURIComponent(API)}`, { ...form, ...auth() });
  assert.equal(before.status, 200);
  assert.equal(jwtPayload(before.body.access_token)['https://te.example/bound'], undefined);
  const created = await ts.api('POST', '/actions/actions', {
    name: 'te-bound', supported_triggers: [{ id: 'credentials-exchange', version: 'v2' }],
    code: "exports.onExecuteCredentialsExchange = async (event, api) => { api.accessToken.setCustomClaim('https://te.example/bound', true); };",
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  assert.equal((await ts.api('POST', `/actions/actions/${created.body.id}/deploy`)).status, 202);
  const bound = await ts.api('PATCH', '/actions/triggers/credentials-exchange/bindings', { bindings: [{ ref: { type: 'action_name', value: 'te-bound' } }] });
  assert.equal(bound.status, 200, JSON.stringify(bound.body));
  try {
    const after = await token(`grant_type=client_credentials&audience=${encodeURIComponent(API)}`, { ...form, ...auth() });
    assert.equal(after.status, 200, after.text);
    assert.equal(jwtPayload(after.body.access_token)['https://te.example/bound'], true);
  } finally {
    await ts.api('PATCH', '/actions/triggers/credentials-exchange/bindings', { bindings: [] });
  }
});
