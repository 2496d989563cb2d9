import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import { createUser, discover, loginThroughForm, startTestServer, type TestServer } from './helpers/server.ts';
import { bindActions, deployAction, latestExecution, startContinueBounce } from './helpers/actions.ts';

/*
 * Auth0's transaction metadata (api.transaction.setMetadata, event.transaction.metadata):
 * seen at once by the action that sets it and by the actions after it, kept across a
 * redirect and /continue, new for each login; wrong values throw where they are set.
 */

const CB = 'https://app-5187.example/cb';
const PASSWORD = 'transaction metadata 1';
let ts: TestServer;
let config: oidc.Configuration;
let bounce: Awaited<ReturnType<typeof startContinueBounce>>;
let bounceUrl = '';

before(async () => {
  ts = await startTestServer();
  const spa = (await ts.api('POST', '/clients', { name: 'Tx SPA', app_type: 'spa', callbacks: [CB] })).body;
  config = await discover(ts, spa.client_id);
  // A page an action sends the user to, which sends them straight back to /continue.
  bounce = await startContinueBounce(() => ts.issuer);
  bounceUrl = bounce.url;
});
after(async () => {
  await ts?.close();
  await bounce?.close();
});

async function login(email: string) {
  const r = await loginThroughForm(config, { redirectUri: CB, email, password: PASSWORD });
  assert.ok(r.callbackUrl, `no callback: ${r.status} ${r.loginPage?.slice(0, 300)}`);
  assert.equal(r.callbackUrl.searchParams.get('error'), null, r.callbackUrl.searchParams.get('error_description') ?? '');
  return (await oidc.authorizationCodeGrant(config, r.callbackUrl, { pkceCodeVerifier: r.verifier, expectedState: r.state })).claims()!;
}

test('set in one action, seen at once and by the next; null removes; each login starts empty', async () => {
  await deployAction(ts, { name: 'tx-writer', trigger: 'post-login', code: `exports.onExecutePostLogin = async (event, api) => {
    api.idToken.setCustomClaim('https://x/before', event.transaction.metadata);
    api.transaction.setMetadata('customer', 'c-42').transaction.setMetadata('tier', 3);
    api.transaction.setMetadata('beta', true);
    api.transaction.setMetadata('gone', 'soon');
    api.transaction.setMetadata('gone', null);
    api.idToken.setCustomClaim('https://x/at-once', event.transaction.metadata);
  };` });
  await deployAction(ts, { name: 'tx-reader', trigger: 'post-login', code: `exports.onExecutePostLogin = async (event, api) => {
    api.idToken.setCustomClaim('https://x/next', event.transaction.metadata);
  };` });
  await bindActions(ts, 'post-login', ['tx-writer', 'tx-reader']);
  await createUser(ts, 'tx.one@example.com', PASSWORD);
  const expected = { customer: 'c-42', tier: 3, beta: true };
  for (let i = 0; i < 2; i++) {
    const claims = await login('tx.one@example.com');
    assert.deepEqual(claims['https://x/before'], {}, 'a new login starts with none');
    assert.deepEqual(claims['https://x/at-once'], expected);
    assert.deepEqual(claims['https://x/next'], expected);
  }
  await bindActions(ts, 'post-login', []);
});

test('kept across a redirect: onContinuePostLogin and the actions after it see what was set before', async () => {
  await deployAction(ts, { name: 'tx-redirect', trigger: 'post-login', code: `exports.onExecutePostLogin = async (event, api) => {
    api.transaction.setMetadata('step', 'before redirect');
    api.redirect.sendUserTo(${JSON.stringify(bounceUrl)});
  };
  exports.onContinuePostLogin = async (event, api) => {
    api.idToken.setCustomClaim('https://x/on-continue', event.transaction.metadata.step);
    api.transaction.setMetadata('resumed', true);
  };` });
  await deployAction(ts, { name: 'tx-after', trigger: 'post-login', code: `exports.onExecutePostLogin = async (event, api) => {
    api.idToken.setCustomClaim('https://x/after', event.transaction.metadata);
  };` });
  await bindActions(ts, 'post-login', ['tx-redirect', 'tx-after']);
  await createUser(ts, 'tx.two@example.com', PASSWORD);
  const claims = await login('tx.two@example.com');
  assert.equal(claims['https://x/on-continue'], 'before redirect');
  assert.deepEqual(claims['https://x/after'], { step: 'before redirect', resumed: true });
  await bindActions(ts, 'post-login', []);
});

test('objects, arrays, bad keys, long values and a 21st key throw where they are set; nothing of them is kept', async () => {
  await deployAction(ts, { name: 'tx-bad', trigger: 'post-login', code: `exports.onExecutePostLogin = async (event, api) => {
    const tries = [['obj', { a: 1 }], ['arr', [1]], ['', 'x'], ['__proto__', 'x'], ['long', 'x'.repeat(1025)], ['nan', NaN], ['undef', undefined]];
    const out = tries.map(([k, v]) => { try { api.transaction.setMetadata(k, v); return 'set'; } catch (e) { return e.name; } });
    for (let i = 0; i < 20; i++) api.transaction.setMetadata('k' + i, i);
    let over; try { api.transaction.setMetadata('k20', 20); over = 'set'; } catch (e) { over = e.name + ': ' + e.message; }
    api.transaction.setMetadata('k0', 'replaced within the limit');
    api.idToken.setCustomClaim('https://x/bad', { out, over, keys: Object.keys(event.transaction.metadata).length, k0: event.transaction.metadata.k0 });
  };` });
  await bindActions(ts, 'post-login', ['tx-bad']);
  await createUser(ts, 'tx.three@example.com', PASSWORD);
  const bad = (await login('tx.three@example.com'))['https://x/bad'] as { out: string[]; over: string; keys: number; k0: string };
  assert.deepEqual(bad.out, ['TypeError', 'TypeError', 'TypeError', 'TypeError', 'RangeError', 'TypeError', 'TypeError']);
  assert.match(bad.over, /^RangeError: .*at most 20 keys/);
  assert.equal(bad.keys, 20);
  assert.equal(bad.k0, 'replaced within the limit');
  const exe = await latestExecution(ts, 'post-login');
  assert.equal(exe.results[0].status, 'ok');
  assert.equal(exe.results[0].commands.filter((c: { type: string }) => c.type === 'transaction.setMetadata').length, 21, 'only the valid calls were recorded');
  await bindActions(ts, 'post-login', []);
});

test('review: the key count cannot be passed by emptying the event, control characters are refused, and a call not recorded changes nothing', async () => {
  // Regression (security review): the guest counted keys in the action's own (writable) event,
  // accepted keys with control characters the server refuses, and applied a call its record refused.
  await deployAction(ts, { name: 'tx-review', trigger: 'post-login', code: `exports.onExecutePostLogin = async (event, api) => {
    for (let i = 0; i < 20; i++) api.transaction.setMetadata('k' + i, i);
    for (const k of Object.keys(event.transaction.metadata)) delete event.transaction.metadata[k];
    let emptied; try { api.transaction.setMetadata('risk', 'high'); emptied = 'set'; } catch (e) { emptied = e.name; }
    let ctl; try { api.transaction.setMetadata('ctl\\u2028', 'x'); ctl = 'set'; } catch (e) { ctl = e.name; }
    api.idToken.setCustomClaim('https://x/review', { emptied, ctl });
  };` });
  await deployAction(ts, { name: 'tx-review-next', trigger: 'post-login', code: `exports.onExecutePostLogin = async (event, api) => {
    api.idToken.setCustomClaim('https://x/review-next', Object.keys(event.transaction.metadata).length);
  };` });
  await bindActions(ts, 'post-login', ['tx-review', 'tx-review-next']);
  await createUser(ts, 'tx.review@example.com', PASSWORD);
  const claims = await login('tx.review@example.com');
  assert.deepEqual(claims['https://x/review'], { emptied: 'RangeError', ctl: 'TypeError' });
  assert.equal(claims['https://x/review-next'], 20);
  await bindActions(ts, 'post-login', []);

  const small = await startTestServer({ actions: { resultBytes: 4096 } });
  try {
    const spa = (await small.api('POST', '/clients', { name: 'Small', app_type: 'spa', callbacks: [CB] })).body;
    const cfg = await discover(small, spa.client_id);
    await deployAction(small, { name: 'tx-full', trigger: 'post-login', code: `exports.onExecutePostLogin = async (event, api) => {
      const out = [];
      for (let i = 0; i < 6; i++) { try { api.transaction.setMetadata('big' + i, 'x'.repeat(1000)); out.push('set'); } catch (e) { out.push(e.name); } }
      api.idToken.setCustomClaim('https://x/full', { out, keys: Object.keys(event.transaction.metadata) });
    };` });
    await bindActions(small, 'post-login', ['tx-full']);
    await createUser(small, 'tx.full@example.com', PASSWORD);
    const r = await loginThroughForm(cfg, { redirectUri: CB, email: 'tx.full@example.com', password: PASSWORD });
    const full = (await oidc.authorizationCodeGrant(cfg, r.callbackUrl!, { pkceCodeVerifier: r.verifier, expectedState: r.state })).claims()!['https://x/full'] as { out: string[]; keys: string[] };
    const refused = full.out.indexOf('RangeError');
    assert.ok(refused > 0, JSON.stringify(full));
    assert.deepEqual(full.keys, Array.from({ length: refused }, (_, i) => `big${i}`), 'only what was recorded is in the event');
  } finally {
    await small.close();
  }
});
