import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { join } from 'node:path';
import * as oidc from 'openid-client';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { startTestServer, discover, loginThroughForm, type TestServer } from './helpers/server.ts';

/*
 * Signing keys: ES256 by default, RS256 per client (and for SPAs, whose Auth0 SDK accepts
 * only RS256); `gatehouse keys rotate` from the CLI adds keys while the server runs, and
 * tokens signed before still verify against the published JWKS.
 */
let ts: TestServer;
const CB = 'http://localhost:5190/cb';
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
