import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import { startTestServer, discover, loginThroughForm, type TestServer } from './helpers/server.ts';

let ts: TestServer;
before(async () => { ts = await startTestServer(); });
after(async () => { await ts?.close(); });

test('SPA login through the form and an M2M token', async () => {
  const spa = await ts.ctx.clients.create({ name: 'SPA', app_type: 'spa', callbacks: ['https://app-5173.example/cb'], web_origins: ['http://localhost:5173'] });
  await ts.ctx.users.create({ email: 'alice@example.com', password: 'correct horse battery' });
  const config = await discover(ts, spa.client_id);
  const r = await loginThroughForm(config, { redirectUri: 'https://app-5173.example/cb', email: 'Alice@Example.COM', password: 'correct horse battery' });
  assert.ok(r.callbackUrl, `login did not reach the callback: ${r.loginPage?.slice(0, 500)}`);
  const tokens = await oidc.authorizationCodeGrant(config, r.callbackUrl, { pkceCodeVerifier: r.verifier, expectedState: r.state });
  assert.equal(tokens.claims()?.email, 'alice@example.com');
  const m2m = await ts.ctx.clients.create({ name: 'M2M', app_type: 'non_interactive' });
  await ts.ctx.resourceServers.create({ name: 'API', identifier: 'https://api.example.com', scopes: [{ value: 'read:things', description: '' }] });
  await ts.ctx.resourceServers.grants.create({ client_id: m2m.client_id, audience: 'https://api.example.com', scope: ['read:things'] });
  const c2 = await discover(ts, m2m.client_id, m2m.client_secret);
  const cc = await oidc.clientCredentialsGrant(c2, { audience: 'https://api.example.com' } as never);
  const payload = JSON.parse(Buffer.from(cc.access_token.split('.')[1], 'base64url').toString());
  assert.equal(payload.aud, 'https://api.example.com');
  assert.equal(payload.scope, 'read:things');
});

test('start-up messages: a local issuer on another port than the server listens on is warned about (PORT does not move the issuer); a first start logs its migrations', async () => {
  // Regression (README walk-through): PORT=3100 left the issuer on :3000, so discovery pointed
  // at a port nothing listened on, and nothing said why.
  const off = await startTestServer({ issuer: 'http://localhost:1' });
  try {
    assert.ok(off.logs.some((l) => /names another port than this server listens on .*set GATEHOUSE_ISSUER to match PORT/.test(l)), 'warned');
  } finally {
    await off.close();
  }
  assert.ok(!ts.logs.some((l) => /names another port/.test(l)), 'no warning when they match');
  // A first start says it migrated the database (the README promises it does).
  assert.ok(ts.logs.some((l) => /database migrated: applied \d+ migrations/.test(l)), 'the first start logs its migrations');
});
