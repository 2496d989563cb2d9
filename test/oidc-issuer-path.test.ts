import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as oidc from 'openid-client';
import { startTestServer, freePort, loginThroughForm, authorizationRequest } from './helpers/server.ts';
import { Browser } from './helpers/cookie-fetch.ts';

/*
 * An issuer with a path (https://example.com/auth): oidc-provider is mounted under it, as
 * Gatehouse's own pages are, so discovery, the login, the token endpoint (form and JSON),
 * userinfo and logout all answer there, and the pages link their stylesheet under it
 * (regression of a review: the provider's routes answered 404 under the path, and the pages
 * linked /assets/style.css at the site's root).
 */
test('under an issuer with a path: discovery, a login with PKCE, tokens, userinfo and the pages\' assets all live under it', async () => {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-prefix-'));
  const ts = await startTestServer({ issuer: `http://127.0.0.1:${port}/auth` }, { at: { dir, port } });
  try {
    const base = `http://127.0.0.1:${port}/auth`;
    const meta = await (await fetch(`${base}/.well-known/openid-configuration`)).json() as Record<string, string>;
    assert.equal(meta.issuer, base);
    assert.equal(meta.authorization_endpoint, `${base}/authorize`);
    assert.equal(meta.token_endpoint, `${base}/oauth/token`);
    assert.equal((await fetch(meta.jwks_uri)).status, 200);
    assert.equal((await fetch(`http://127.0.0.1:${port}/authorize`)).status, 404, 'nothing outside the path');

    const CB = 'https://prefixed.example/cb';
    const spa = await ts.ctx.clients.create({ name: 'Prefixed SPA', app_type: 'spa', callbacks: [CB] });
    await ts.ctx.users.create({ email: 'prefixed@example.com', password: 'a long enough password' });
    // (The test server's own `issuer` field is its origin: discover from the issuer itself.)
    const config = await oidc.discovery(new URL(base), spa.client_id, {}, oidc.None(), { execute: [oidc.allowInsecureRequests] });
    const r = await loginThroughForm(config, { redirectUri: CB, email: 'prefixed@example.com', password: 'a long enough password', scope: 'openid email' });
    assert.ok(r.callbackUrl, `no code: ${r.status} ${r.loginPage?.slice(0, 300)}`);
    const tokens = await oidc.authorizationCodeGrant(config, r.callbackUrl, { pkceCodeVerifier: r.verifier, expectedState: r.state });
    assert.equal(tokens.claims()!.iss, base);
    assert.equal((await oidc.fetchUserInfo(config, tokens.access_token, tokens.claims()!.sub)).email, 'prefixed@example.com');

    // A JSON token request (the token endpoint's own path) under the mount too.
    const m2m = await ts.ctx.clients.create({ name: 'Prefixed M2M', app_type: 'non_interactive' });
    await ts.ctx.resourceServers.create({ name: 'Prefixed API', identifier: 'https://api.prefixed.example', scopes: [{ value: 'read:x', description: 'x' }] });
    await ts.ctx.resourceServers.grants.create({ client_id: m2m.client_id, audience: 'https://api.prefixed.example', scope: ['read:x'] });
    const cc = await fetch(`${base}/oauth/token`, { method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ grant_type: 'client_credentials', client_id: m2m.client_id, client_secret: m2m.client_secret, audience: 'https://api.prefixed.example' }) });
    assert.equal(cc.status, 200, await cc.clone().text());

    // The pages link their stylesheet and icon under the path, and it is served there.
    const loginPage = (await authorizationRequest(config, { redirectUri: CB, scope: 'openid' })).url;
    for (const url of [`${base}/password/reset`, `${base}/continue`, loginPage.href]) {
      const { res } = await new Browser().follow(url);
      const html = await res.text();
      const links = [...html.matchAll(/<link rel="(stylesheet|icon)" href="([^"]+)">/g)].map((m) => m[2]);
      assert.deepEqual(links, ['/auth/assets/style.css', '/auth/favicon.ico'], url);
    }
    assert.equal((await fetch(`${base}/assets/style.css`)).status, 200);
    // /metrics (at the root, with /healthz) counts the routes by their names below the mount.
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    assert.match(metrics, /route="\/oauth\/token",status="200"/);
    assert.match(metrics, /route="\/interaction",status="200"/);
    assert.match(metrics, /route="\/authorize",status="303"/);
  } finally {
    await ts.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('/metrics names the provider\'s routes under an issuer whose path is the start of one of them (/oauth, /oidc)', async () => {
  // Regression of a review: the mount was taken off twice, so under /oauth the revocation counted
  // as 'other', and under /oidc the logout.
  for (const mount of ['/oauth', '/oidc']) {
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-mount-'));
    const ts = await startTestServer({ issuer: `http://127.0.0.1:${port}${mount}` }, { at: { dir, port } });
    try {
      const base = `http://127.0.0.1:${port}${mount}`;
      const form = { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'token=x&client_id=nope' };
      const revoke = await fetch(`${base}/oauth/revoke`, form);
      const logout = await fetch(`${base}/oidc/logout`, { redirect: 'manual' });
      const introspect = await fetch(`${base}/oauth/token/introspection`, form);
      const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      assert.match(metrics, new RegExp(`route="/oauth/revoke",status="${revoke.status}"`), mount);
      assert.match(metrics, new RegExp(`route="/oidc/logout",status="${logout.status}"`), mount);
      assert.match(metrics, new RegExp(`route="/oauth/token/introspection",status="${introspect.status}"`), mount);
    } finally {
      await ts.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }
});
