import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomUUID, type KeyObject } from 'node:crypto';
import * as oidc from 'openid-client';
import { SignJWT, createRemoteJWKSet, jwtVerify } from 'jose';
import { startTestServer, type TestServer } from './helpers/server.ts';
import { postForm, basic } from './helpers/oidc-assert.ts';

/*
 * Private Key JWT client authentication (RFC 7523) with Auth0's Management API shape: an
 * application registers public keys (/clients/{id}/credentials), names the ones it authenticates
 * with (client_authentication_methods), and then gets tokens with a client assertion signed by its
 * private key, here through openid-client's PrivateKeyJwt and hand-made assertions.
 */

const API = 'https://api.pkjwt.example';
let ts: TestServer;
let m2m: { client_id: string; client_secret: string };
const rsa = () => generateKeyPairSync('rsa', { modulusLength: 2048 });
const pemOf = (k: KeyObject) => k.export({ format: 'pem', type: 'spki' }).toString();
let keys: ReturnType<typeof rsa>;

before(async () => {
  ts = await startTestServer();
  await ts.api('POST', '/resource-servers', { name: 'PK API', identifier: API, scopes: [{ value: 'read:things', description: '' }] });
  m2m = (await ts.api('POST', '/clients', { name: 'Signed worker', app_type: 'non_interactive' })).body;
  assert.equal((await ts.api('POST', '/client-grants', { client_id: m2m.client_id, audience: API, scope: ['read:things'] })).status, 201);
  keys = rsa();
});
after(async () => { await ts?.close(); });

/** A client assertion for the worker, signed with `key` (RFC 7523 §3). */
function assertion(key: KeyObject, o: { alg?: string; aud?: string; jti?: string; exp?: string | number; iat?: number } = {}) {
  return new SignJWT({}).setProtectedHeader({ alg: o.alg ?? 'RS256' }).setIssuer(m2m.client_id).setSubject(m2m.client_id)
    .setAudience(o.aud ?? `${ts.issuer}/`).setJti(o.jti ?? randomUUID()).setIssuedAt(o.iat).setExpirationTime(o.exp ?? '2m').sign(key);
}
const tokenWith = async (clientAssertion: string) => postForm(`${ts.base}/oauth/token`, {
  grant_type: 'client_credentials', audience: API, client_id: m2m.client_id,
  client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: clientAssertion,
});
const enable = (...ids: string[]) => ts.api('PATCH', `/clients/${m2m.client_id}`, { token_endpoint_auth_method: null, client_authentication_methods: { private_key_jwt: { credentials: ids.map((id) => ({ id })) } } });

test('credentials: public RSA keys of 2048 bits or more, two per application, never shown back; bad keys are refused with the reason', async () => {
  const made = await ts.api('POST', `/clients/${m2m.client_id}/credentials`, { credential_type: 'public_key', name: 'first', pem: pemOf(keys.publicKey) });
  assert.equal(made.status, 201, JSON.stringify(made.body));
  assert.match(made.body.id, /^cred_/);
  assert.equal(made.body.alg, 'RS256');
  assert.equal(made.body.credential_type, 'public_key');
  assert.ok(made.body.kid);
  assert.equal(made.body.pem, undefined, 'the key is not shown back');
  const listed = await ts.api('GET', `/clients/${m2m.client_id}/credentials`);
  assert.deepEqual(listed.body.map((c: { id: string }) => c.id), [made.body.id]);

  const refuse = async (body: Record<string, unknown>, re: RegExp, clientId = m2m.client_id) => {
    const r = await ts.api('POST', `/clients/${clientId}/credentials`, { credential_type: 'public_key', ...body });
    assert.equal(r.status, 400, JSON.stringify(r.body));
    assert.match(r.body.message, re);
  };
  await refuse({ pem: pemOf(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey) }, /RSA key is needed/);
  await refuse({ pem: pemOf(generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey) }, /1024 bits; at least 2048/);
  await refuse({ pem: keys.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString() }, /private key/);
  await refuse({ pem: 'not a key' }, /not a PEM public key/);
  // A small public exponent makes signatures forgeable (regression: e=1 and e=3 were taken).
  await refuse({ pem: pemOf(generateKeyPairSync('rsa', { modulusLength: 2048, publicExponent: 3 }).publicKey) }, /public exponent 3 is unsafe/);
  await refuse({ pem: pemOf(rsa().publicKey) }, /system client/, 'bootstrap-admin');
  await refuse({ pem: pemOf(keys.publicKey) }, /already a credential/);
  await refuse({ pem: pemOf(rsa().publicKey), alg: 'HS256' }, /alg/);
  await refuse({ pem: pemOf(rsa().publicKey), expires_at: new Date(Date.now() - 1000).toISOString() }, /already have ended/);
  const spa = (await ts.api('POST', '/clients', { name: 'SPA', app_type: 'spa', callbacks: ['https://app-5173.example/cb'] })).body;
  await refuse({ pem: pemOf(rsa().publicKey) }, /public: Private Key JWT is for/, spa.client_id);
  assert.equal((await ts.api('POST', `/clients/${m2m.client_id}/credentials`, { credential_type: 'public_key', pem: pemOf(rsa().publicKey), alg: 'PS256' })).status, 201);
  await refuse({ pem: pemOf(rsa().publicKey) }, /at most 2 credentials/);
  // Scopes of their own.
  const readOnly = await ts.adminToken('read:clients');
  assert.equal((await ts.api('GET', `/clients/${m2m.client_id}/credentials`, undefined, readOnly)).status, 403);
});

test('Private Key JWT on: a token for a signed assertion (openid-client\'s PrivateKeyJwt too), the secret refused, replays and wrong keys refused', async () => {
  const creds = (await ts.api('GET', `/clients/${m2m.client_id}/credentials`)).body as { id: string; alg: string }[];
  const rs256 = creds.find((c) => c.alg === 'RS256')!;
  const on = await enable(rs256.id);
  assert.equal(on.status, 200, JSON.stringify(on.body));
  assert.equal(on.body.token_endpoint_auth_method, null);
  assert.deepEqual(on.body.client_authentication_methods, { private_key_jwt: { credentials: [{ id: rs256.id }] } });
  assert.equal(on.body.client_secret, undefined);

  const config = await oidc.discovery(new URL(ts.issuer), m2m.client_id, {}, oidc.PrivateKeyJwt(keys.privateKey.toCryptoKey({ name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, false, ['sign'])), { execute: [oidc.allowInsecureRequests] });
  const meta = config.serverMetadata();
  assert.ok(meta.token_endpoint_auth_methods_supported?.includes('private_key_jwt'));
  assert.deepEqual(meta.token_endpoint_auth_signing_alg_values_supported, ['RS256', 'RS384', 'PS256']);
  const t = await oidc.clientCredentialsGrant(config, { audience: API });
  const at = (await jwtVerify(t.access_token, createRemoteJWKSet(new URL(`${ts.base}/.well-known/jwks.json`)), { issuer: ts.issuer, audience: API })).payload;
  assert.equal(at.client_id, m2m.client_id);

  // Auth0's SDKs address the assertion to the issuer with a trailing slash; without one works too.
  assert.equal((await tokenWith(await assertion(keys.privateKey, { aud: `${ts.issuer}/` }))).status, 200);
  assert.equal((await tokenWith(await assertion(keys.privateKey, { aud: ts.issuer }))).status, 200);
  const once = await assertion(keys.privateKey);
  assert.equal((await tokenWith(once)).status, 200);
  const replay = await tokenWith(once);
  assert.equal(replay.status, 401);
  assert.equal(replay.body.error, 'invalid_client');
  const stranger = await tokenWith(await assertion(rsa().privateKey));
  assert.equal(stranger.body.error, 'invalid_client');
  // At most 5 minutes of life (Auth0's limit): one made to last a year is refused, however it is spelled.
  const now = Math.floor(Date.now() / 1000);
  assert.equal((await tokenWith(await assertion(keys.privateKey, { exp: '1y' }))).body.error, 'invalid_client');
  assert.equal((await tokenWith(await assertion(keys.privateKey, { exp: now + 200, iat: now - 400 }))).body.error, 'invalid_client', 'exp - iat over 5 minutes');
  assert.equal((await tokenWith(await assertion(keys.privateKey, { exp: 1e16 }))).status, 401, 'not a 500 for an exp past any column');
  // One assertion sent many times at once: one token (regression: a lookup then a save let several through).
  const racing = await assertion(keys.privateKey);
  const statuses = (await Promise.all(Array.from({ length: 12 }, () => tokenWith(racing)))).map((r) => r.status);
  assert.deepEqual(statuses.filter((s) => s === 200).length, 1, statuses.join(','));
  // The other credential (PS256) is not enabled, and an RS256 assertion never passes for a PS256 key.
  const old = await postForm(`${ts.base}/oauth/token`, { grant_type: 'client_credentials', audience: API }, { authorization: basic(m2m.client_id, m2m.client_secret) });
  assert.equal(old.status, 401, 'the secret no longer works');
  const rotate = await ts.api('POST', `/clients/${m2m.client_id}/rotate-secret`);
  assert.equal(rotate.status, 400);
  assert.match(rotate.body.message, /Private Key JWT/);
});

test('an algorithm is pinned to its credential; a credential in use cannot be deleted; going back to a secret gives a new one', async () => {
  const creds = (await ts.api('GET', `/clients/${m2m.client_id}/credentials`)).body as { id: string; alg: string }[];
  const rs256 = creds.find((c) => c.alg === 'RS256')!;
  const ps256 = creds.find((c) => c.alg === 'PS256')!;
  const inUse = await ts.api('DELETE', `/clients/${m2m.client_id}/credentials/${rs256.id}`);
  assert.equal(inUse.status, 400);
  assert.equal(inUse.body.errorCode, 'credential_in_use');
  // Enabling the PS256 credential instead: an RS256-signed assertion with the old key is now refused.
  assert.equal((await enable(ps256.id)).status, 200);
  assert.equal((await tokenWith(await assertion(keys.privateKey))).body.error, 'invalid_client');
  const both = await ts.api('PATCH', `/clients/${m2m.client_id}`, { token_endpoint_auth_method: 'client_secret_post', client_authentication_methods: { private_key_jwt: { credentials: [{ id: ps256.id }] } } });
  assert.equal(both.status, 400, 'a secret method and Private Key JWT at once');
  assert.match(both.body.message, /exclude each other/);
  const unknown = await enable('cred_nope');
  assert.equal(unknown.status, 400);
  assert.match(unknown.body.message, /not a credential of this application/);
  const back = await ts.api('PATCH', `/clients/${m2m.client_id}`, { token_endpoint_auth_method: 'client_secret_post', client_authentication_methods: null });
  assert.equal(back.status, 200, JSON.stringify(back.body));
  assert.equal(back.body.token_endpoint_auth_method, 'client_secret_post');
  assert.equal(back.body.client_authentication_methods, undefined);
  assert.ok(back.body.client_secret, 'a new secret, shown once');
  const withSecret = await postForm(`${ts.base}/oauth/token`, { grant_type: 'client_credentials', audience: API, client_id: m2m.client_id, client_secret: back.body.client_secret });
  assert.equal(withSecret.status, 200);
  assert.equal((await ts.api('DELETE', `/clients/${m2m.client_id}/credentials/${rs256.id}`)).status, 204);
  assert.equal((await ts.api('GET', `/clients/${m2m.client_id}/credentials/${rs256.id}`)).status, 404);
  m2m.client_secret = back.body.client_secret;
});

test('a credential that has ended no longer signs in, without a restart', async (t) => {
  const pair = rsa();
  const made = await ts.api('POST', `/clients/${m2m.client_id}/credentials`, { credential_type: 'public_key', pem: pemOf(pair.publicKey), expires_at: new Date(Date.now() + 60_000).toISOString() });
  assert.equal(made.status, 201, JSON.stringify(made.body));
  assert.equal((await enable(made.body.id)).status, 200);
  assert.equal((await tokenWith(await assertion(pair.privateKey))).status, 200);
  const realNow = Date.now;
  t.after(() => { Date.now = realNow; });
  Date.now = () => realNow() + 120_000;
  const ended = await tokenWith(await assertion(pair.privateKey));
  assert.equal(ended.status, 401, JSON.stringify(ended.body));
  assert.equal(ended.body.error, 'invalid_client');
});
