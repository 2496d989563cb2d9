import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as oidc from 'openid-client';
import { decodeJwt } from 'jose';
import { startTestServer, discover, loginThroughForm, type TestServer } from './helpers/server.ts';
import { deployAction, bindActions, latestExecution, type ActionBinding, type ActionSecret } from './helpers/actions.ts';

/*
 * SECURITY.md table D through the real server: each hostile action is deployed and bound
 * through the Management API and hit by a real login (or token request). It must fail closed
 * or be contained, and the NEXT ordinary login must still work: one bad action never takes the
 * server, the sandbox pool or other actions down with it.
 */

const CB = 'https://app-5177.example/cb';
const PASSWORD = 'hostile-password-1';
// Short limits so the timeout cases end quickly; the assertions are on outcomes, never on durations.
const LIMITS = { actionTimeoutMs: 500, chainTimeoutMs: 2000, memoryMb: 32 };

let ts: TestServer;
let config: oidc.Configuration;
let userId: string;
let n = 0;

/** A bare create request, for the code that must be refused at deploy time. */
async function create(name: string, trigger: string, code: string) {
  return ts.api('POST', '/actions/actions', { name, supported_triggers: [{ id: trigger }], code, secrets: [] });
}
/** Creates and deploys one action (post-login unless `trigger`) and binds it alone, or in the chain `chain` builds around it. */
async function deployAndBind(code: string, opts: { trigger?: string; secrets?: ActionSecret[]; chain?: (self: string) => ActionBinding[]; server?: TestServer } = {}) {
  const server = opts.server ?? ts;
  const trigger = opts.trigger ?? 'post-login';
  const name = `hostile-${++n}`;
  await deployAction(server, { name, trigger, code, secrets: opts.secrets });
  await bindActions(server, trigger, opts.chain ? opts.chain(name) : [name]);
  return name;
}

/** A real login through the form; returns where the browser landed at the client. */
async function login(cfg = config, server = ts) {
  const r = await loginThroughForm(cfg, { redirectUri: CB, email: 'target@hostile.example', password: PASSWORD });
  assert.ok(r.callbackUrl, `the login did not come back to the client: ${r.status} ${r.loginPage?.slice(0, 300)}`);
  return { ...r, callbackUrl: r.callbackUrl, server };
}
/** A login that must fail closed: access_denied at the redirect_uri, no code. */
async function loginFailsClosed() {
  const r = await login();
  assert.equal(r.callbackUrl.searchParams.get('error'), 'access_denied', r.callbackUrl.href);
  assert.equal(r.callbackUrl.searchParams.get('code'), null);
  return r.callbackUrl.searchParams.get('error_description');
}
/** A login that must succeed; returns the tokens. */
async function loginSucceeds(cfg = config, server = ts) {
  const r = await login(cfg, server);
  assert.equal(r.callbackUrl.searchParams.get('error'), null, r.callbackUrl.searchParams.get('error_description') ?? '');
  return oidc.authorizationCodeGrant(cfg, r.callbackUrl, { pkceCodeVerifier: r.verifier, expectedState: r.state });
}

const GOOD = `exports.onExecutePostLogin = async (event, api) => { api.idToken.setCustomClaim('https://h/good', event.user.email); };`;
/** The next ordinary request after a hostile one: a well-behaved action runs and the login completes. */
async function nextLoginIsHealthy() {
  await deployAndBind(GOOD);
  const t = await loginSucceeds();
  assert.equal(t.claims()!['https://h/good'], 'target@hostile.example');
  await bindActions(ts, 'post-login', []);
}

before(async () => {
  ts = await startTestServer({ actions: { ...LIMITS, redirectAllow: ['consent.hostile.example', 'partner.example:8443'] } });
  const spa = (await ts.api('POST', '/clients', { name: 'Hostile SPA', app_type: 'spa', callbacks: [CB] })).body;
  config = await discover(ts, spa.client_id);
  userId = (await ts.api('POST', '/users', { email: 'target@hostile.example', password: PASSWORD })).body.user_id;
});
after(async () => { await ts?.close(); });

test('D1/D20: while(true) at top level is refused at deploy time', async () => {
  const r = await create('top-level-loop', 'post-login', 'while (true) {}\nexports.onExecutePostLogin = async () => {};');
  assert.equal(r.status, 400);
  assert.match(r.body.message, /time limit/i);
  const thrown = await create('top-level-throw', 'post-login', 'throw new Error("nope");\nexports.onExecutePostLogin = async () => {};');
  assert.equal(thrown.status, 400);
  await nextLoginIsHealthy();
});

test('D1: while(true) in the handler: the login fails closed, the next login works', async () => {
  await deployAndBind('exports.onExecutePostLogin = async () => { while (true) {} };');
  assert.equal(await loginFailsClosed(), 'Login was stopped because a post-login action failed');
  const exe = await latestExecution(ts, 'post-login');
  assert.equal(exe.status, 'failed');
  assert.equal(exe.results[0].status, 'timeout');
  await nextLoginIsHealthy();
});

test('D2: a promise that never settles (with and without a pending timer) ends in a timeout, not a hang', async () => {
  await deployAndBind('exports.onExecutePostLogin = async () => { await new Promise(() => {}); };');
  await loginFailsClosed();
  assert.equal((await latestExecution(ts, 'post-login')).results[0].status, 'timeout');
  // A timer keeps the sandbox waiting for the wall clock itself.
  await deployAndBind('exports.onExecutePostLogin = async () => { setInterval(() => {}, 20); await new Promise(() => {}); };');
  await loginFailsClosed();
  assert.equal((await latestExecution(ts, 'post-login')).results[0].status, 'timeout');
  await nextLoginIsHealthy();
});

test('D5: a memory bomb is stopped (oom), the login fails closed, the next login works', async () => {
  await deployAndBind('exports.onExecutePostLogin = async () => { const a = []; for (;;) a.push(new Array(1e6).fill(1)); };');
  await loginFailsClosed();
  const exe = await latestExecution(ts, 'post-login');
  assert.equal(exe.results[0].status, 'oom');
  assert.match(exe.results[0].error.message, /memory/i);
  await nextLoginIsHealthy();
});

test('D3/D6: a looping message getter, a looping prepareStackTrace and long BigInt work end (the worker is recycled when needed)', async () => {
  const cases: [string, string[]][] = [
    ['exports.onExecutePostLogin = async () => { throw { get message() { while (true) {} } }; };', ['timeout']],
    // The sandbox never reads `stack`, so the hook may not even run: either way the call ends.
    ['exports.onExecutePostLogin = async () => { Error.prepareStackTrace = () => { while (true) {} }; const e = new Error("x"); void e.stack; throw e; };', ['timeout', 'runtime']],
    // Long single BigInt operations (isolated-vm #202: its timeout may not interrupt them; the pool's kill does).
    ['exports.onExecutePostLogin = async () => { for (;;) String(3n ** 3000000n); };', ['timeout']],
  ];
  for (const [code, statuses] of cases) {
    await deployAndBind(code);
    await loginFailsClosed();
    const exe = await latestExecution(ts, 'post-login');
    assert.equal(exe.status, 'failed', code);
    assert.ok(statuses.includes(exe.results[0].status), `${code}: ${exe.results[0].status} ${JSON.stringify(exe.results[0].error)}`);
  }
  await nextLoginIsHealthy();
});

test('D8: require(\'fs\'), process.exit(), import(\'fs\') are runtime errors in the execution record; the server lives on', async () => {
  const cases: [string, RegExp][] = [
    ["exports.onExecutePostLogin = async () => { require('fs').readFileSync('/etc/passwd'); };", /require\('fs'\) is not available/],
    ['exports.onExecutePostLogin = async () => { process.exit(1); };', /process is not defined/],
    // isolated-vm rejects a dynamic import with a bare "Not supported".
    ["exports.onExecutePostLogin = async () => { const fs = await import('fs'); fs.readFileSync('/etc/passwd'); };", /not supported|not available/i],
  ];
  for (const [code, message] of cases) {
    await deployAndBind(code);
    await loginFailsClosed();
    const exe = await latestExecution(ts, 'post-login');
    assert.equal(exe.results[0].status, 'runtime', code);
    assert.match(exe.results[0].error.message, message, code);
  }
  await nextLoginIsHealthy();
});

test('D8/D9: escape probes find nothing of the host', async () => {
  await deployAndBind(`
    exports.onExecutePostLogin = async function (event, api) {
      const probe = (f) => { try { const v = f(); return v === undefined ? 'undefined' : typeof v; } catch (e) { return 'threw ' + (e && e.name); } };
      api.idToken.setCustomClaim('https://h/probes', {
        ctorProcess: probe(() => this.constructor.constructor('return process')()),
        globalCtorProcess: probe(() => globalThis.constructor.constructor('return typeof process')() === 'undefined' ? undefined : 'process'),
        apiCtorProcess: probe(() => api.idToken.setCustomClaim.constructor('return process')()),
        apiFunctionIsLocal: Object.getPrototypeOf(api.idToken.setCustomClaim) === Function.prototype,
        globalProcess: typeof globalThis.process,
        ghBridge: typeof globalThis.__gh + '/' + typeof globalThis.__gh_host,
        requireFs: probe(() => require('fs')),
        sharedMemory: typeof SharedArrayBuffer + '/' + typeof Atomics + '/' + typeof WebAssembly,
        recursion: probe(() => { const f = () => f(); return f(); }),
      });
    };`);
  const t = await loginSucceeds();
  assert.deepEqual(t.claims()!['https://h/probes'], {
    ctorProcess: 'threw ReferenceError', globalCtorProcess: 'undefined', apiCtorProcess: 'threw ReferenceError', apiFunctionIsLocal: true,
    globalProcess: 'undefined', ghBridge: 'undefined/undefined', requireFs: 'threw Error', sharedMemory: 'undefined/undefined/undefined',
    recursion: 'threw RangeError',
  });
  await bindActions(ts, 'post-login', []);
});

test('D11/D12: prototype pollution stays inside the polluting action: later actions, other triggers and the host see nothing', async () => {
  const polluter = await deployAndBind(`
    exports.onExecutePostLogin = async (event, api) => {
      Object.prototype.polluted = 'yes';
      Array.prototype.polluted = 'yes';
      globalThis.leaked = 'from the polluter';
      api.idToken.setCustomClaim('https://h/polluter_sees', ({}).polluted);
      // Claim values and names that would reach a prototype on a naive merge.
      api.idToken.setCustomClaim('https://h/proto', JSON.parse('{"__proto__":{"isAdmin":true}}'));
      api.idToken.setCustomClaim('__proto__', { isAdmin: true });
      api.idToken.setCustomClaim('constructor', { prototype: { x: 1 } });
      api.user.setAppMetadata('__proto__', { isAdmin: true });
    };`);
  await deployAndBind(`
    exports.onExecutePostLogin = async (event, api) => {
      api.idToken.setCustomClaim('https://h/next_sees', {
        polluted: ({}).polluted === undefined ? null : ({}).polluted, array: [].polluted === undefined ? null : [].polluted,
        leaked: typeof globalThis.leaked, appIsAdmin: event.user.app_metadata.isAdmin === undefined ? null : true,
      });
    };`, { chain: (self) => [{ name: polluter }, { name: self }] });
  await deployAndBind(`
    exports.onExecuteCredentialsExchange = async (event, api) => {
      api.accessToken.setCustomClaim('https://h/cx_sees', ({}).polluted === undefined ? 'clean' : 'polluted');
    };`, { trigger: 'credentials-exchange' });

  for (let i = 0; i < 2; i++) { // twice: the second run reuses the warm (already polluted) isolates
    const t = await loginSucceeds();
    const c = t.claims()!;
    assert.equal(c['https://h/polluter_sees'], 'yes', 'the polluter only pollutes itself');
    assert.deepEqual(c['https://h/next_sees'], { polluted: null, array: null, leaked: 'undefined', appIsAdmin: null });
    assert.equal(c['https://h/proto'], undefined, 'a value with a __proto__ key is refused');
    assert.equal((c as Record<string, unknown>).isAdmin, undefined);
    assert.equal(Object.hasOwn(c, '__proto__'), false);
    assert.equal(Object.hasOwn(c, 'constructor'), false);
  }
  const exe = await latestExecution(ts, 'post-login');
  assert.equal(exe.results[0].rejected_commands.length, 4, JSON.stringify(exe.results[0].rejected_commands));
  const user = (await ts.api('GET', `/users/${encodeURIComponent(userId)}`)).body;
  assert.equal(user.app_metadata.isAdmin, undefined);

  const m2m = (await ts.api('POST', '/clients', { name: 'Hostile M2M', app_type: 'non_interactive' })).body;
  await ts.api('POST', '/resource-servers', { name: 'Hostile API', identifier: 'https://hostile.api.example', scopes: [{ value: 'x', description: 'x' }] });
  await ts.api('POST', '/client-grants', { client_id: m2m.client_id, audience: 'https://hostile.api.example', scope: ['x'] });
  const tok = await oidc.clientCredentialsGrant(await discover(ts, m2m.client_id, m2m.client_secret), { audience: 'https://hostile.api.example' } as never);
  assert.equal(decodeJwt(tok.access_token)['https://h/cx_sees'], 'clean');
  // The server runs in this process: its Object.prototype is untouched.
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  assert.equal(([] as unknown as Record<string, unknown>).polluted, undefined);
  await bindActions(ts, 'post-login', []);
  await bindActions(ts, 'credentials-exchange', []);
});

test('D13: reserved claims are refused on both tokens; the ID token sub and iat stay the server\'s', async () => {
  // The JWT/OIDC claims, and the ones Auth0 restricts besides (roles, permissions, org_id…: an
  // action setting them gets the token it would get on Auth0, without them).
  const reserved = ['sub', 'iss', 'aud', 'exp', 'iat', 'nbf', 'jti', 'nonce', 'auth_time', 'acr', 'amr', 'azp', 'at_hash', 'c_hash', 's_hash', 'sid', 'cnf', 'client_id', 'scope',
    'roles', 'permissions', 'groups', 'org_id', 'org_name', 'kid', 'x5t#S256'];
  await deployAndBind(`
    exports.onExecutePostLogin = async (event, api) => {
      for (const name of ${JSON.stringify(reserved)}) {
        api.idToken.setCustomClaim(name, name === 'iat' || name === 'exp' || name === 'auth_time' ? 1 : 'forged');
        api.accessToken.setCustomClaim(name, 'forged');
      }
      api.idToken.setCustomClaim('https://h/ok', 'allowed');
    };`);
  const t = await loginSucceeds();
  const c = t.claims()!;
  assert.equal(c.sub, userId);
  assert.notEqual(c.iat, 1);
  assert.notEqual(c.exp, 1);
  assert.equal(c.iss, ts.issuer);
  for (const name of reserved) assert.notEqual(c[name], 'forged', name);
  assert.equal(c['https://h/ok'], 'allowed');
  const exe = await latestExecution(ts, 'post-login');
  assert.equal(exe.results[0].rejected_commands.length, reserved.length * 2);
  assert.ok(exe.results[0].rejected_commands.every((m: string) => /reserved/.test(m)));
  await bindActions(ts, 'post-login', []);
});

test('profile claims (email, name…) cannot be set in the ID token: refused with a reason, never sent in the profile\'s place', async () => {
  // Regression (compatibility probe): setCustomClaim('email', …) was recorded as accepted; with
  // scope email the profile's value silently won, and without it the action's went out instead.
  const profile = ['email', 'email_verified', 'name', 'nickname', 'given_name', 'family_name', 'picture', 'updated_at'];
  await deployAndBind(`
    exports.onExecutePostLogin = async (event, api) => {
      for (const name of ${JSON.stringify(profile)}) api.idToken.setCustomClaim(name, 'spoofed');
      api.idToken.setCustomClaim('https://h/email', 'namespaced is fine');
    };`);
  for (const scope of ['openid', 'openid email profile']) {
    const r = await loginThroughForm(config, { redirectUri: CB, email: 'target@hostile.example', password: PASSWORD, scope });
    const tokens = await oidc.authorizationCodeGrant(config, r.callbackUrl!, { pkceCodeVerifier: r.verifier, expectedState: r.state });
    const c = tokens.claims()!;
    // A stored claims row that holds a profile claim anyway (written before these were refused)
    // does not fill in where the scope left it out: userinfo reads that row.
    await ts.ctx.db('action_login_claims').where({ account_id: userId }).update({ id_token: JSON.stringify({ email: 'stored-spoof@example.org', 'https://h/kept': 1 }) });
    const info = await oidc.fetchUserInfo(config, tokens.access_token, c.sub);
    assert.notEqual(info.email, 'stored-spoof@example.org', `${scope}: userinfo`);
    for (const name of profile) assert.notEqual(c[name], 'spoofed', `${scope}: ${name}`);
    if (scope.includes('email')) assert.equal(c.email, 'target@hostile.example');
    assert.equal(c['https://h/email'], 'namespaced is fine');
    const exe = await latestExecution(ts, 'post-login');
    assert.equal(exe.results[0].rejected_commands.length, profile.length, scope);
    assert.ok(exe.results[0].rejected_commands.every((m: string) => /comes from the user's profile/.test(m)));
  }
  await bindActions(ts, 'post-login', []);
});

test('D14: oversized claims are refused and the login still completes without them', async () => {
  // Over the per-token custom-claims cap (16 KB) but within the sandbox's result budget.
  await deployAndBind(`
    exports.onExecutePostLogin = async (event, api) => {
      api.idToken.setCustomClaim('https://h/big', 'x'.repeat(20 * 1024));
      api.idToken.setCustomClaim('https://h/small', 'kept');
      // Within the cap: the cap is per token, and setting a claim again replaces it.
      api.idToken.setCustomClaim('https://h/nine', 'n'.repeat(9 * 1024));
      api.accessToken.setCustomClaim('https://h/nine', 'n'.repeat(9 * 1024));
      api.idToken.setCustomClaim('https://h/five', 'draft'.repeat(1024));
      api.idToken.setCustomClaim('https://h/five', 'final'.repeat(1024));
    };`);
  const t = await loginSucceeds();
  assert.equal(t.claims()!['https://h/big'], undefined);
  assert.equal(t.claims()!['https://h/small'], 'kept');
  assert.equal((t.claims()!['https://h/nine'] as string).length, 9 * 1024);
  assert.equal(t.claims()!['https://h/five'], 'final'.repeat(1024));
  const rejected: string[] = (await latestExecution(ts, 'post-login')).results[0].rejected_commands;
  assert.equal(rejected.length, 1, rejected.join('\n'));
  assert.match(rejected[0], /https:\/\/h\/big.*(larger than|exceed)/);
  await bindActions(ts, 'post-login', []);
});

// Past the sandbox's result budget (100 KB of recorded calls) just that call is refused, with a
// line in the execution log; the action goes on and the login completes without the claim.
for (const [label, size] of [['200 KB', 200 * 1024], ['10 MB', 10 * 1024 * 1024]] as const) {
  test(`D14: a ${label} claim is refused and the login still completes without it`, async (t) => {
    t.after(() => bindActions(ts, 'post-login', []));
    await deployAndBind(`
      exports.onExecutePostLogin = async (event, api) => {
        api.idToken.setCustomClaim('https://h/small', 'kept');
        try { api.idToken.setCustomClaim('https://h/huge', 'x'.repeat(${size})); } catch (e) { console.log('refused:', e.message); }
        api.idToken.setCustomClaim('https://h/after', 'kept too');
      };`);
    const r = await login();
    assert.equal(r.callbackUrl.searchParams.get('error'), null, `the login failed: ${r.callbackUrl.searchParams.get('error_description')}; execution: ${JSON.stringify((await latestExecution(ts, 'post-login')).results[0])}`);
    const tokens = await oidc.authorizationCodeGrant(config, r.callbackUrl, { pkceCodeVerifier: r.verifier, expectedState: r.state });
    assert.equal(tokens.claims()!['https://h/huge'], undefined);
    assert.equal(tokens.claims()!['https://h/small'], 'kept');
    assert.equal(tokens.claims()!['https://h/after'], 'kept too');
    await bindActions(ts, 'post-login', []);
    await nextLoginIsHealthy();
  });
}

test('D17: refused redirect targets fail the login closed; the browser never goes there and the rest of the chain does not run', async () => {
  // This server lists the hosts redirects may go to (actions.redirectAllow): an https host off the
  // list is refused too (regression: any https host was accepted, an open redirect for phishing).
  const targets = ['javascript:alert(1)', 'http://evil.example/consent', '//evil.example/consent', 'https://evil.example/x\r\nSet-Cookie: a=b', 'https://user:pw@evil.example/',
    'https://evil.example/phish', 'https://consent.hostile.example.evil.example/', 'https://partner.example/no-port', 'https://consent.hostile.example:444/'];
  const after = await deployAndBind("exports.onExecutePostLogin = async (event, api) => { api.idToken.setCustomClaim('https://h/after_redirect', true); };");
  for (const target of targets) {
    await deployAndBind('exports.onExecutePostLogin = async (event, api) => { api.redirect.sendUserTo(event.secrets.TARGET, { query: { a: "b" } }); };',
      { secrets: [{ name: 'TARGET', value: target }], chain: (self) => [{ name: self }, { name: after }] });
    const description = await loginFailsClosed();
    assert.match(description ?? '', /failed/, target);
    const exe = await latestExecution(ts, 'post-login');
    assert.equal(exe.status, 'failed', target);
    assert.match(exe.results[0].rejected_commands.join('\n'), /redirect URL|redirect host/, target);
    assert.equal(exe.results.length, 1, 'the action after the refused redirect did not run');
  }
  // The listed hosts are reached.
  for (const target of ['https://consent.hostile.example/step', 'https://partner.example:8443/step']) {
    await deployAndBind('exports.onExecutePostLogin = async (event, api) => { api.redirect.sendUserTo(event.secrets.TARGET); };', { secrets: [{ name: 'TARGET', value: target }] });
    const r = await loginThroughForm(config, { redirectUri: CB, email: 'target@hostile.example', password: PASSWORD, stop: (u) => u.origin === new URL(target).origin });
    assert.equal(r.url?.origin, new URL(target).origin, target);
    assert.equal(r.url?.pathname, '/step');
  }
  await bindActions(ts, 'post-login', []);
  await nextLoginIsHealthy();
});

test('an invalid deny or an MFA request this server cannot honour fails closed instead of being dropped', async () => {
  const cases = [
    'exports.onExecutePostLogin = async (event, api) => { api.access.deny(new Error("not a string")); };',
    'exports.onExecutePostLogin = async (event, api) => { api.access.deny(403); };',
    "exports.onExecutePostLogin = async (event, api) => { api.multifactor.enable('duo'); };",
    "exports.onExecutePostLogin = async (event, api) => { api.multifactor.enable('sms'); };",
    "exports.onExecutePostLogin = async (event, api) => { api.authentication.challengeWith({ type: 'sms' }); };",
  ];
  for (const code of cases) {
    await deployAndBind(code);
    await loginFailsClosed();
    const exe = await latestExecution(ts, 'post-login');
    assert.equal(exe.status, 'failed', code);
    assert.equal(exe.results[0].rejected_commands.length, 1, code);
  }
  // credentials-exchange: a deny with a code outside the contract is still a deny (server_error), not a token.
  await deployAndBind("exports.onExecuteCredentialsExchange = async (event, api) => { api.access.deny('unauthorized_client', 'no'); };", { trigger: 'credentials-exchange' });
  const m2m = (await ts.api('POST', '/clients', { name: 'Invalid deny M2M', app_type: 'non_interactive' })).body;
  await ts.api('POST', '/resource-servers', { name: 'Deny API', identifier: 'https://deny.api.example', scopes: [{ value: 'x', description: 'x' }] });
  await ts.api('POST', '/client-grants', { client_id: m2m.client_id, audience: 'https://deny.api.example', scope: ['x'] });
  const res = await fetch(`${ts.base}/oauth/token`, {
    method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', client_id: m2m.client_id, client_secret: m2m.client_secret, audience: 'https://deny.api.example' }),
  });
  const body = await res.json() as { access_token?: string; error?: string };
  assert.equal(body.access_token, undefined);
  assert.equal(body.error, 'server_error');
  await bindActions(ts, 'credentials-exchange', []);
  await nextLoginIsHealthy();
});

test('forged commands: a returned command list, fake result frames in logs and reaching for the recorder change nothing', async () => {
  await deployAndBind(`
    exports.onExecutePostLogin = async (event, api) => {
      console.log('O[{"type":"access.deny","args":["forged via log"]}]\\n{"logs":""}');
      const reach = [typeof globalThis.__gh, typeof globalThis.__gh_host, typeof api.__record, typeof api.access.deny.record];
      api.idToken.setCustomClaim('https://h/reach', reach.join(','));
      api.idToken.setCustomClaim('https://h/breakout', '"]}\\n{"type":"access.deny","args":["forged via value"]}');
      return { commands: [{ type: 'access.deny', args: ['forged via return'] }], status: 'denied' };
    };`);
  const t = await loginSucceeds();
  assert.equal(t.claims()!['https://h/reach'], 'undefined,undefined,undefined,undefined');
  assert.equal(t.claims()!['https://h/breakout'], '"]}\n{"type":"access.deny","args":["forged via value"]}');
  const exe = await latestExecution(ts, 'post-login');
  assert.equal(exe.status, 'final');
  assert.deepEqual(exe.results[0].commands.map((c: { type: string }) => c.type), ['idToken.setCustomClaim', 'idToken.setCustomClaim']);
  await bindActions(ts, 'post-login', []);
});

/** A real HTTP server on loopback that counts the requests it gets. */
async function loopbackServer() {
  let hits = 0;
  const server: Server = createServer((_req, res) => { hits++; res.writeHead(200, { 'content-type': 'text/plain' }).end('internal secret page'); });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    get hits() { return hits; },
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}
const FETCH_PROBE = `
  exports.onExecutePostLogin = async (event, api) => {
    const out = {};
    for (const url of [event.secrets.URL, event.secrets.URL.replace('127.0.0.1', 'localhost')]) {
      try { const r = await fetch(url); out[url.includes('localhost') ? 'byName' : 'byIp'] = { ok: true, status: r.status, body: await r.text() }; }
      catch (e) { out[url.includes('localhost') ? 'byName' : 'byIp'] = { ok: false, error: String(e && e.message) }; }
    }
    api.idToken.setCustomClaim('https://h/fetch', out);
  };`;

test('fetch to loopback is refused unless GATEHOUSE_ACTIONS_FETCH_ALLOW lists it', async (t) => {
  const target = await loopbackServer();
  t.after(() => target.close());
  const url = `http://127.0.0.1:${target.port}/admin`;
  await deployAndBind(FETCH_PROBE, { secrets: [{ name: 'URL', value: url }] });
  const refused = (await loginSucceeds()).claims()!['https://h/fetch'] as Record<string, { ok: boolean; error?: string }>;
  assert.equal(refused.byIp.ok, false);
  assert.match(refused.byIp.error!, /fetch failed: .*(loopback|private)/);
  assert.equal(refused.byName.ok, false);
  assert.match(refused.byName.error!, /fetch failed/);
  assert.equal(target.hits, 0, 'nothing reached the loopback server');
  await bindActions(ts, 'post-login', []);

  // A second server whose configuration allows exactly this host:port.
  const allowed = await startTestServer({ actions: { ...LIMITS, fetchAllow: [`127.0.0.1:${target.port}`] } });
  t.after(() => allowed.close());
  const spa = (await allowed.api('POST', '/clients', { name: 'Allowed SPA', app_type: 'spa', callbacks: [CB] })).body;
  await allowed.api('POST', '/users', { email: 'target@hostile.example', password: PASSWORD });
  await deployAndBind(FETCH_PROBE, { secrets: [{ name: 'URL', value: url }], server: allowed });
  const fetched = (await loginSucceeds(await discover(allowed, spa.client_id), allowed)).claims()!['https://h/fetch'] as Record<string, { ok: boolean; status?: number; body?: string }>;
  assert.deepEqual(fetched.byIp, { ok: true, status: 200, body: 'internal secret page' });
  assert.equal(fetched.byName.ok, false, 'only the listed host:port is allowed, not another name for it');
  assert.equal(target.hits, 1);
});

test('D10: throw null, throw 42 and a throwing Proxy are recorded with safe messages; each login fails closed', async () => {
  const cases: [string, string][] = [
    ['throw null;', 'Action threw null'],
    ['throw 42;', 'Action threw 42'],
    ['throw new Proxy({}, { get() { throw 1; }, getPrototypeOf() { throw 1; } });', 'Action threw an unreadable value'],
    ['throw Symbol("s");', 'Action threw a Symbol'],
    ['throw { get message() { throw new Error("gotcha"); } };', 'Action threw an unreadable value'],
  ];
  for (const [stmt, message] of cases) {
    await deployAndBind(`exports.onExecutePostLogin = async () => { ${stmt} };`);
    await loginFailsClosed();
    const exe = await latestExecution(ts, 'post-login');
    assert.equal(exe.results[0].status, 'runtime', stmt);
    assert.equal(exe.results[0].error.message, message, stmt);
  }
  await nextLoginIsHealthy();
});

test('on_error: allow skips a failing action and the chain goes on (a later deny still applies); block fails closed', async () => {
  const failing = await deployAndBind("exports.onExecutePostLogin = async (event, api) => { api.idToken.setCustomClaim('https://h/from_failed', 1); api.user.setAppMetadata('from_failed', 1); throw new Error('enrichment service down'); };");
  const later = await deployAndBind(`exports.onExecutePostLogin = async (event, api) => {
    if (event.user.app_metadata.deny_next) return api.access.deny('denied by a later action');
    api.idToken.setCustomClaim('https://h/later', { ran: true, sawFailedWrite: event.user.app_metadata.from_failed !== undefined });
  };`, { chain: (self) => [{ name: failing, on_error: 'allow' }, { name: self }] });

  const t = await loginSucceeds();
  assert.deepEqual(t.claims()!['https://h/later'], { ran: true, sawFailedWrite: false });
  assert.equal(t.claims()!['https://h/from_failed'], undefined, 'a skipped action contributes nothing');
  let exe = await latestExecution(ts, 'post-login');
  assert.deepEqual(exe.results.map((r: { status: string }) => r.status), ['runtime', 'ok']);
  assert.equal((await ts.api('GET', `/users/${encodeURIComponent(userId)}`)).body.app_metadata.from_failed, undefined);

  // Skipping a failed action must not skip a deny after it (that would fail open).
  assert.equal((await ts.api('PATCH', `/users/${encodeURIComponent(userId)}`, { app_metadata: { deny_next: true } })).status, 200);
  const denied = await login();
  assert.equal(denied.callbackUrl.searchParams.get('error'), 'access_denied');
  assert.equal(denied.callbackUrl.searchParams.get('error_description'), 'denied by a later action');
  assert.equal((await ts.api('PATCH', `/users/${encodeURIComponent(userId)}`, { app_metadata: { deny_next: null } })).status, 200);

  // The same chain with the default (block): the failure stops the login.
  await bindActions(ts, 'post-login', [failing, later]);
  await loginFailsClosed();
  exe = await latestExecution(ts, 'post-login');
  assert.equal(exe.status, 'failed');
  assert.deepEqual(exe.results.map((r: { status: string }) => r.status), ['runtime']);
  await nextLoginIsHealthy();
});

test('on_error: allow does not drop a deny the action made before it failed', async () => {
  // Regression: a failed action contributed nothing, its deny included, so a failure after
  // the deny (an audit fetch that timed out, say) turned the deny into a login.
  await deployAndBind(`exports.onExecutePostLogin = async (event, api) => {
    api.idToken.setCustomClaim('https://h/dropped', 1);
    api.access.deny('not from this network');
    throw new Error('audit service down');
  };`, { chain: (self) => [{ name: self, on_error: 'allow' }] });
  const denied = await login();
  assert.equal(denied.callbackUrl.searchParams.get('error'), 'access_denied');
  assert.equal(denied.callbackUrl.searchParams.get('error_description'), 'not from this network');
  const exe = await latestExecution(ts, 'post-login');
  assert.deepEqual(exe.results.map((r: { status: string }) => r.status), ['runtime']);
  await nextLoginIsHealthy();
});

test('D22: a million console lines are capped; the action itself completes', async () => {
  await deployAndBind(`exports.onExecutePostLogin = async (event, api) => {
    for (let i = 0; i < 1e6; i++) console.log('line', i, 'x'.repeat(100));
    api.idToken.setCustomClaim('https://h/logged', true);
  };`);
  const t = await loginSucceeds();
  assert.equal(t.claims()!['https://h/logged'], true);
  const logs: string = (await latestExecution(ts, 'post-login')).results[0].logs;
  assert.ok(Buffer.byteLength(logs) <= 4096, `logs are ${Buffer.byteLength(logs)} bytes`);
  assert.match(logs, /^line 0 x+\n/);
  assert.match(logs, /truncated/);
  await bindActions(ts, 'post-login', []);
});

test('D24: a worker killed in a later on_error=allow action does not drop what the earlier actions decided: their lost results fail the login closed', async () => {
  const first = await deployAndBind("exports.onExecutePostLogin = async (event, api) => { api.multifactor.enable('any'); api.idToken.setCustomClaim('https://h/first', 1); };");
  // Stalls V8 in GC past isolated-vm's timeout: the pool kills the worker mid-chain.
  await deployAndBind('exports.onExecutePostLogin = async () => { Array(1e9).fill(0); };', { chain: (self) => [first, { name: self, on_error: 'allow' }] });
  await loginFailsClosed();
  const exe = await latestExecution(ts, 'post-login');
  assert.equal(exe.status, 'failed');
  assert.notEqual(exe.results[0].status, 'ok', 'a result the sandbox lost is not a success');
  assert.match(exe.results[0].error?.message ?? '', /result lost/);
  await nextLoginIsHealthy();
});

test('D21: an action never sees what another action cached (same chain or a later login); its own entries survive a redeploy', async () => {
  const owner = await deployAndBind(`exports.onExecutePostLogin = async (event, api) => {
    const had = api.cache.get('m2m_token');
    if (!had) api.cache.set('m2m_token', 'token-fetched-with-' + event.secrets.CLIENT_SECRET.slice(0, 4));
    api.idToken.setCustomClaim('https://h/owner_had', had ? had.value : null);
  };`, { secrets: [{ name: 'CLIENT_SECRET', value: 'owner-client-secret-0123' }] });
  const snoop = await deployAndBind(`exports.onExecutePostLogin = async (event, api) => {
    const seen = api.cache.get('m2m_token');
    api.idToken.setCustomClaim('https://h/snoop_saw', seen ? seen.value : null);
  };`, { chain: (self) => [owner, self] });
  const t1 = await loginSucceeds();
  assert.equal(t1.claims()!['https://h/owner_had'], null);
  assert.equal(t1.claims()!['https://h/snoop_saw'], null, 'a later action in the same chain read the entry');
  const t2 = await loginSucceeds();
  assert.equal(t2.claims()!['https://h/owner_had'], 'token-fetched-with-owne', 'the owner reads its own entry back');
  assert.equal(t2.claims()!['https://h/snoop_saw'], null, 'another action read the stored entry');
  // A new version of the owner still finds its entries (the cache is per action, not per version).
  const id = (await ts.api('GET', `/actions/actions?actionName=${owner}`)).body.actions[0].id;
  assert.equal((await ts.api('POST', `/actions/actions/${id}/deploy`)).status, 202);
  const t3 = await loginSucceeds();
  assert.equal(t3.claims()!['https://h/owner_had'], 'token-fetched-with-owne');
  assert.equal(t3.claims()!['https://h/snoop_saw'], null);
  assert.ok(snoop);
  await bindActions(ts, 'post-login', []);
});

test('D15/D16: claim values that are not JSON data, and unusable claim names, are dealt with deterministically', async () => {
  await deployAndBind(`
    exports.onExecutePostLogin = async (event, api) => {
      const tries = {
        bigint: () => api.idToken.setCustomClaim('https://h/bigint', 10n),
        cycle: () => { const o = {}; o.o = o; api.idToken.setCustomClaim('https://h/cycle', o); },
        nan: () => api.idToken.setCustomClaim('https://h/nan', NaN),
        infinity: () => api.idToken.setCustomClaim('https://h/infinity', Infinity),
        undef: () => api.idToken.setCustomClaim('https://h/undef', undefined),
        fn: () => api.idToken.setCustomClaim('https://h/fn', () => 1),
        symbol: () => api.idToken.setCustomClaim('https://h/symbol', Symbol('s')),
        date: () => api.idToken.setCustomClaim('https://h/date', new Date(0)),
        map: () => api.idToken.setCustomClaim('https://h/map', new Map([[1, 2]])),
        nested: () => api.idToken.setCustomClaim('https://h/nested', { a: NaN, b: undefined, c: [undefined, () => 1] }),
        emptyName: () => api.idToken.setCustomClaim('', 1),
        proto: () => api.idToken.setCustomClaim('__proto__', 1),
        ctor: () => api.idToken.setCustomClaim('constructor', 1),
        longName: () => api.idToken.setCustomClaim('https://h/' + 'n'.repeat(10240), 1),
        control: () => api.idToken.setCustomClaim('https://h/a\\u0000b', 1),
        symbolName: () => api.idToken.setCustomClaim(Symbol('n'), 1),
        // undefined after a value removes the claim (as assigning undefined in a claims object would).
        override: () => { api.idToken.setCustomClaim('https://h/override', 'admin'); api.idToken.setCustomClaim('https://h/override', undefined); },
        reservedUndef: () => api.idToken.setCustomClaim('sub', undefined),
      };
      const out = {};
      for (const [k, f] of Object.entries(tries)) { try { f(); out[k] = 'called'; } catch (e) { out[k] = 'threw ' + String(e && e.message).slice(0, 60); } }
      api.idToken.setCustomClaim('https://h/outcomes', out);
    };`);
  const t = await loginSucceeds();
  const c = t.claims()!;
  const outcomes = c['https://h/outcomes'] as Record<string, string>;
  // BigInt and cycles cannot be serialised: the call throws in the action (which may catch it).
  assert.match(outcomes.bigint, /^threw .*BigInt/);
  assert.match(outcomes.cycle, /^threw .*circular/);
  assert.ok(!('https://h/bigint' in c) && !('https://h/cycle' in c));
  // Otherwise JSON's own rules, as for any claims object: NaN and Infinity are null, undefined,
  // functions and Symbols leave the claim out, a Date is its ISO string, a Map an empty object.
  assert.equal(c['https://h/nan'], null);
  assert.equal(c['https://h/infinity'], null);
  for (const k of ['undef', 'fn', 'symbol', 'override']) assert.ok(!(`https://h/${k}` in c), `${k} leaves the claim out`);
  assert.equal(c['https://h/date'], '1970-01-01T00:00:00.000Z');
  assert.deepEqual(c['https://h/map'], {});
  assert.deepEqual(c['https://h/nested'], { a: null, c: [null, null] });
  // Unusable names: refused by the server, each with its reason; none reaches the token.
  for (const k of ['', '__proto__', 'constructor']) assert.ok(!Object.hasOwn(c, k), `claim "${k}"`);
  assert.ok(!Object.keys(c).some((k) => k.length > 1000 || k.includes('\u0000')));
  const exe = (await latestExecution(ts, 'post-login')).results[0];
  assert.deepEqual(exe.rejected_commands.sort(), [
    'claim "sub" is reserved and cannot be set by an action',
    'claim name "__proto__" is not allowed', 'claim name "constructor" is not allowed', 'claim name contains control characters',
    'claim name is longer than 256 characters', 'claim name must be a non-empty string', 'claim name must be a non-empty string',
  ]);
  assert.equal(c.sub, userId, 'sub stays the server\'s');
  await bindActions(ts, 'post-login', []);
  await nextLoginIsHealthy();
});
