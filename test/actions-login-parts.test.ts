import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import { decodeJwt } from 'jose';
import { createUser, discover, loginThroughForm, startTestServer, type TestServer } from './helpers/server.ts';
import { bindActions, deployAction, startContinueBounce } from './helpers/actions.ts';

/*
 * A post-login chain paused by a redirect goes on after /continue as one chain: the later part's
 * claim and scope calls follow the earlier part's in order, as within one run (regressions of a
 * review: the parts were merged afterwards, so the 16 KB claims cap could be passed, an addScope
 * after a removeScope lost, and a claim removed after the redirect was still issued).
 */
const CB = 'https://parts.example/cb';
const PASSWORD = 'review parts password 1';
const API = 'https://parts.example.com';
let ts: TestServer;
let config: oidc.Configuration;
let bounce: Awaited<ReturnType<typeof startContinueBounce>>;

before(async () => {
  ts = await startTestServer();
  await ts.api('POST', '/resource-servers', { name: 'Parts API', identifier: API, scopes: [{ value: 'read:x', description: 'x' }, { value: 'read:y', description: 'y' }] });
  const spa = (await ts.api('POST', '/clients', { name: 'Parts SPA', app_type: 'spa', callbacks: [CB] })).body;
  config = await discover(ts, spa.client_id);
  bounce = await startContinueBounce(() => ts.issuer);
});
after(async () => { await ts?.close(); await bounce?.close(); });

async function login(email: string, params?: Record<string, string>, scope?: string) {
  const r = await loginThroughForm(config, { redirectUri: CB, email, password: PASSWORD, params, scope });
  assert.ok(r.callbackUrl, `no callback: ${r.status} ${r.loginPage?.slice(0, 300)}`);
  assert.equal(r.callbackUrl.searchParams.get('error'), null, r.callbackUrl.searchParams.get('error_description') ?? '');
  return oidc.authorizationCodeGrant(config, r.callbackUrl, { pkceCodeVerifier: r.verifier, expectedState: r.state });
}

test('custom-claims cap (16 KB per token) holds across a redirect', async () => {
  await deployAction(ts, { name: 'big-a', trigger: 'post-login', code: `exports.onExecutePostLogin = async (event, api) => {
    api.idToken.setCustomClaim('https://x/a', 'a'.repeat(15000));
    api.redirect.sendUserTo(${JSON.stringify(bounce.url)});
  };
  exports.onContinuePostLogin = async (event, api) => {
    api.idToken.setCustomClaim('https://x/b', 'b'.repeat(15000));
  };` });
  await deployAction(ts, { name: 'big-c', trigger: 'post-login', code: `exports.onExecutePostLogin = async (event, api) => {
    api.idToken.setCustomClaim('https://x/c', 'c'.repeat(15000));
  };` });
  await bindActions(ts, 'post-login', ['big-a', 'big-c']);
  await createUser(ts, 'cap@example.com', PASSWORD);
  const t = await login('cap@example.com');
  const c = t.claims()!;
  const custom = ['https://x/a', 'https://x/b', 'https://x/c'].filter((k) => c[k] !== undefined);
  // The first fits; each of the others would pass the cap and is refused, before or after the redirect.
  assert.deepEqual(custom, ['https://x/a']);
  const bytes = custom.reduce((n, k) => n + JSON.stringify(c[k]).length + k.length, 0);
  assert.ok(bytes <= 16 * 1024, `ID token carries ${bytes} bytes of custom claims, over the 16 KB cap`);
});

test('removeScope before a redirect, addScope after it: the later call wins', async () => {
  await deployAction(ts, { name: 'scope-a', trigger: 'post-login', code: `exports.onExecutePostLogin = async (event, api) => {
    api.accessToken.removeScope('read:x');
    api.redirect.sendUserTo(${JSON.stringify(bounce.url)});
  };
  exports.onContinuePostLogin = async (event, api) => {};` });
  await deployAction(ts, { name: 'scope-b', trigger: 'post-login', code: `exports.onExecutePostLogin = async (event, api) => {
    api.accessToken.addScope('read:x');
  };` });
  // Control: the same two calls in one part.
  await deployAction(ts, { name: 'scope-a2', trigger: 'post-login', code: `exports.onExecutePostLogin = async (event, api) => {
    api.accessToken.removeScope('read:x');
  };` });
  await createUser(ts, 'scope@example.com', PASSWORD);
  await bindActions(ts, 'post-login', ['scope-a2', 'scope-b']);
  const t1 = await login('scope@example.com', { audience: API }, 'openid read:x read:y');
  const s1 = String(decodeJwt(t1.access_token).scope);
  await bindActions(ts, 'post-login', ['scope-a', 'scope-b']);
  const t2 = await login('scope@example.com', { audience: API }, 'openid read:x read:y');
  const s2 = String(decodeJwt(t2.access_token).scope);
  assert.ok(s1.split(' ').includes('read:x'), 'control: one part keeps read:x');
  assert.ok(s2.split(' ').includes('read:x'), `across a redirect, the later addScope lost: ${s2}`);
});

test('a claim set before a redirect and removed (undefined) after it is gone', async () => {
  await deployAction(ts, { name: 'rm-a', trigger: 'post-login', code: `exports.onExecutePostLogin = async (event, api) => {
    api.idToken.setCustomClaim('https://x/temp', 'before');
    api.redirect.sendUserTo(${JSON.stringify(bounce.url)});
  };
  exports.onContinuePostLogin = async (event, api) => {
    api.idToken.setCustomClaim('https://x/temp', undefined);
  };` });
  await deployAction(ts, { name: 'rm-one-part', trigger: 'post-login', code: `exports.onExecutePostLogin = async (event, api) => {
    api.idToken.setCustomClaim('https://x/temp', 'before');
    api.idToken.setCustomClaim('https://x/temp', undefined);
  };` });
  await createUser(ts, 'rm@example.com', PASSWORD);
  await bindActions(ts, 'post-login', ['rm-one-part']);
  const c1 = (await login('rm@example.com')).claims()!;
  await bindActions(ts, 'post-login', ['rm-a']);
  const c2 = (await login('rm@example.com')).claims()!;
  assert.equal(c1['https://x/temp'], undefined, 'control');
  assert.equal(c2['https://x/temp'], undefined, 'removed after the redirect, still in the ID token');
});
