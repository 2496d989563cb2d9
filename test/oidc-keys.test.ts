import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { join } from 'node:path';
import * as oidc from 'openid-client';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { startTestServer, discover, loginThroughForm, ADMIN_ID, ADMIN_SECRET, type TestServer } from './helpers/server.ts';

/*
 * Signing keys: ES256 by default, RS256 per client (and for SPAs, whose Auth0 SDK accepts
 * only RS256); `gatehouse keys rotate` from the CLI adds keys while the server runs, and
 * tokens signed before still verify against the published JWKS.
 */
let ts: TestServer;
const CB = 'https://app-5190.example/cb';
before(async () => { ts = await startTestServer(); });
after(async () => { await ts?.close(); });

async function idTokenOf(client: { client_id: string; client_secret?: string }) {
  const config = await discover(ts, client.client_id, client.client_secret);
  const r = await loginThroughForm(config, { redirectUri: CB, email: 'keys@example.com', password: 'keys-password-1' });
  const t = await oidc.authorizationCodeGrant(config, r.callbackUrl!, { pkceCodeVerifier: r.verifier, expectedState: r.state });
  return t.id_token!;
}

test('ID tokens: ES256 by default, RS256 for SPAs and for clients that ask; the CLI rotates keys and old tokens still verify', async () => {
  await ts.ctx.users.create({ email: 'keys@example.com', password: 'keys-password-1' });
  const web = await ts.ctx.clients.create({ name: 'web', app_type: 'regular_web', callbacks: [CB] });
  const spa = await ts.ctx.clients.create({ name: 'spa', app_type: 'spa', callbacks: [CB] });
  const rsWeb = await ts.ctx.clients.create({ name: 'rs web', app_type: 'regular_web', callbacks: [CB], id_token_signed_response_alg: 'RS256' });
  const before = await idTokenOf(web);
  assert.equal(decodeProtectedHeader(before).alg, 'ES256');
  assert.equal(decodeProtectedHeader(await idTokenOf(spa)).alg, 'RS256');
  assert.equal(decodeProtectedHeader(await idTokenOf(rsWeb)).alg, 'RS256');

  // Rotate from the CLI against the running server's database, as an operator would.
  const env = { ...process.env, GATEHOUSE_DATABASE_URL: `sqlite:${join(ts.dir, 'gatehouse.sqlite')}`, GATEHOUSE_DATA_DIR: ts.dir, GATEHOUSE_ISSUER: ts.issuer, NODE_ENV: 'test' };
  const { stdout } = await promisify(execFile)(process.execPath, ['--no-node-snapshot', join(import.meta.dirname, '..', 'src', 'cli', 'main.ts'), 'keys', 'rotate', '--json'], { env });
  const added = JSON.parse(stdout).added as { kid: string; alg: string }[];
  assert.deepEqual(added.map((k) => k.alg).sort(), ['ES256', 'RS256']);
  await ts.ctx.refreshKeys();
  const after = await idTokenOf(web);
  assert.equal(decodeProtectedHeader(after).kid, added.find((k) => k.alg === 'ES256')!.kid, 'new tokens use the new key');
  const jwks = createRemoteJWKSet(new URL(`${ts.base}/.well-known/jwks.json`));
  await jwtVerify(before, jwks, { issuer: ts.issuer });
  await jwtVerify(after, jwks, { issuer: ts.issuer });
});

test('PUT /keys/signing/{kid}/revoke: a previous key leaves the JWKS at once and its tokens stop working; the current key cannot be revoked', async () => {
  const fresh = await startTestServer();
  try {
    const jwks = async () => ((await (await fetch(`${fresh.base}/.well-known/jwks.json`)).json()) as { keys: { kid: string }[] }).keys.map((k) => k.kid);
    const oldToken = await fresh.adminToken('read:users');
    const oldKid = decodeProtectedHeader(oldToken).kid!;
    const refused = await fresh.api('PUT', `/keys/signing/${oldKid}/revoke`);
    assert.equal(refused.status, 400, 'the current key signs now: rotate first');
    assert.match(refused.body.message, /rotate/);
    assert.equal((await fresh.api('PUT', '/keys/signing/no-such-kid/revoke')).status, 404);

    assert.equal((await fresh.api('POST', '/keys/signing/rotate', {})).status, 201);
    assert.ok((await jwks()).includes(oldKid), 'after a rotation the old key is still published');
    assert.equal((await fresh.api('GET', '/users', undefined, oldToken)).status, 200, 'and its tokens still work');

    // A fresh token, signed with the key that is current now (fresh.adminToken caches the old one).
    const res = await fetch(`${fresh.base}/oauth/token`, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${ADMIN_ID}:${ADMIN_SECRET}`).toString('base64')}` },
      body: new URLSearchParams({ grant_type: 'client_credentials', audience: `${fresh.base}/api/v2/` }),
    });
    const admin = ((await res.json()) as { access_token: string }).access_token;
    assert.notEqual(decodeProtectedHeader(admin).kid, oldKid);
    const revoked = await fresh.api('PUT', `/keys/signing/${oldKid}/revoke`, undefined, admin);
    assert.equal(revoked.status, 200, JSON.stringify(revoked.body));
    assert.deepEqual(revoked.body, { kid: oldKid, revoked: true });
    assert.ok(!(await jwks()).includes(oldKid), 'gone from the JWKS');
    assert.equal((await fresh.api('GET', '/users', undefined, oldToken)).status, 401, 'a Management API token it signed is refused at once');
    assert.equal((await fresh.api('PUT', `/keys/signing/${oldKid}/revoke`, undefined, admin)).status, 404, 'once');
    const log = (await fresh.api('GET', '/logs?q=type:sapi&per_page=100', undefined, admin)).body.find((l: { description: string }) => l.description === 'Revoke a signing key');
    assert.ok(log, 'audited');
    assert.equal((await fresh.api('PUT', `/keys/signing/${oldKid}/revoke`, undefined, await fresh.adminToken('read:signing_keys'))).status, 403, 'needs update:signing_keys');
  } finally {
    await fresh.close();
  }
});
