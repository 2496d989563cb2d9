import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as oidc from 'openid-client';
import { startTestServer, discover, loginThroughForm, createUser, type TestServer } from './helpers/server.ts';
import { Browser, alertText } from './helpers/cookie-fetch.ts';
import { deployAction, bindActions, latestExecution } from './helpers/actions.ts';

/*
 * ACTIONS.md "Triggers" and "Rules that protect users": what a failing action does to the flow
 * it runs in. Non-blocking triggers (post-user-registration, post-change-password) never hold
 * up or undo what committed; a blocking one (pre-user-registration) fails closed; and
 * api.multifactor.enable('none') later in a post-login chain takes back an earlier enable('any').
 */

// Not a loopback address: what this file tests does not depend on how a redirect to this device is treated.
const CB = 'https://failures.app.example/cb';
const PASSWORD = 'trigger-failures-password-1';

let ts: TestServer;
let config: oidc.Configuration;
// A request an action makes here waits until the test lets it go: an action that is still
// running, without a timing assumption.
const held: ServerResponse[] = [];
const gate = createServer((_req, res) => { held.push(res); });
const release = () => { for (const res of held.splice(0)) res.end('go'); };

before(async () => {
  await new Promise<void>((r) => gate.listen(0, '127.0.0.1', r));
  ts = await startTestServer({ actions: { fetchAllow: [`127.0.0.1:${(gate.address() as AddressInfo).port}`] } });
  const spa = await ts.ctx.clients.create({ name: 'Failures SPA', app_type: 'spa', callbacks: [CB] });
  config = await discover(ts, spa.client_id);
});
after(async () => { release(); await ts?.close(); gate.close(); });

const usersWithEmail = async (email: string) => ts.ctx.db('users').where({ email }).count({ n: '*' }).then(([r]) => Number(r.n));

/** The standalone sign-up form, posted with `email`. */
async function signUp(email: string) {
  const b = new Browser();
  const pageUrl = new URL(`${ts.base}/signup`);
  const html = await (await b.request(pageUrl)).text();
  const res = await b.submit(pageUrl, html, { email, password: PASSWORD });
  return { res, body: await res.text() };
}

/** Waits (bounded, not a timing assertion) for an execution of `trigger` other than `seen`. */
async function nextExecution(trigger: string, seen: string | undefined) {
  for (let i = 0; i < 150; i++) {
    const exe = await latestExecution(ts, trigger);
    if (exe && exe.id !== seen) return exe;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`${trigger} never recorded an execution`);
}

test('a post-user-registration action that is still running, then throws, neither holds up nor undoes the sign-up', async () => {
  await deployAction(ts, { name: 'slow-thrower', trigger: 'post-user-registration', code: `
    exports.onExecutePostUserRegistration = async (event) => {
      console.log('slow start', event.user.email);
      await fetch(${JSON.stringify(`http://127.0.0.1:${(gate.address() as AddressInfo).port}/hold`)});
      throw new Error('post-registration blew up');
    };` });
  await bindActions(ts, 'post-user-registration', ['slow-thrower']);
  try {
    const seen = (await latestExecution(ts, 'post-user-registration'))?.id;
    const r = await signUp('slow.post@failures.example');
    assert.equal(r.res.status, 200, r.body.slice(0, 500));
    assert.match(r.body, /Account created/);
    assert.equal(await usersWithEmail('slow.post@failures.example'), 1, 'the user exists as soon as the sign-up answers');
    // The sign-up answered while the action still waited at the gate.
    for (let i = 0; i < 100 && held.length === 0; i++) await new Promise((r) => setTimeout(r, 50));
    assert.equal(held.length, 1, 'the action is still running');
    release();

    // The action did run, and failed, after the answer; the user stays.
    const exe = await nextExecution('post-user-registration', seen);
    assert.equal(exe.results[0].action_name, 'slow-thrower');
    assert.equal(exe.results[0].status, 'runtime', JSON.stringify(exe.results[0]));
    assert.match(exe.results[0].error.message, /post-registration blew up/);
    assert.match(exe.results[0].logs, /slow start slow\.post@failures\.example/);
    assert.equal(await usersWithEmail('slow.post@failures.example'), 1, 'the failed action did not undo the sign-up');
    const [u] = (await ts.api('GET', '/users?q=email:"slow.post@failures.example"')).body;
    assert.ok(u?.user_id, 'the Management API finds the user');
  } finally {
    await bindActions(ts, 'post-user-registration', []);
  }
});

test('a post-change-password action that throws does not stop an admin password change', async () => {
  await deployAction(ts, { name: 'pcp-thrower', trigger: 'post-change-password', code: `
    exports.onExecutePostChangePassword = async () => { throw new Error('post-change-password blew up'); };` });
  await bindActions(ts, 'post-change-password', ['pcp-thrower']);
  try {
    const u = await createUser(ts, 'pcp.thrower@failures.example', PASSWORD);
    const seen = (await latestExecution(ts, 'post-change-password'))?.id;
    const r = await ts.api('PATCH', `/users/${encodeURIComponent(u.user_id)}`, { password: 'the-new-password-2' });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const exe = await nextExecution('post-change-password', seen);
    assert.equal(exe.results[0].status, 'runtime', JSON.stringify(exe.results[0]));
    assert.match(exe.results[0].error.message, /post-change-password blew up/);
    // The new password is the one that signs in.
    const old = await loginThroughForm(config, { redirectUri: CB, email: 'pcp.thrower@failures.example', password: PASSWORD });
    assert.equal(old.callbackUrl, undefined, 'the old password no longer signs in');
    const now = await loginThroughForm(config, { redirectUri: CB, email: 'pcp.thrower@failures.example', password: 'the-new-password-2' });
    assert.ok(now.callbackUrl?.searchParams.get('code'), `the new password signs in: ${now.status} ${now.loginPage?.slice(0, 300)}`);
  } finally {
    await bindActions(ts, 'post-change-password', []);
  }
});

test('a pre-user-registration action that throws fails closed: the sign-up is refused with a message and no user is written', async () => {
  await deployAction(ts, { name: 'pre-thrower', trigger: 'pre-user-registration', code: `
    exports.onExecutePreUserRegistration = async () => { throw new Error('pre-registration blew up'); };` });
  await bindActions(ts, 'pre-user-registration', ['pre-thrower']);
  try {
    const seen = (await latestExecution(ts, 'pre-user-registration'))?.id;
    const r = await signUp('pre.thrower@failures.example');
    assert.ok(r.res.status >= 400, `refused: ${r.res.status}`);
    assert.doesNotMatch(r.body, /Account created/);
    const message = alertText(r.body);
    assert.ok(message && message.length > 0, `a message says why: ${r.body.slice(0, 500)}`);
    assert.doesNotMatch(message, /blew up/, 'the action\'s own error stays out of the page');
    assert.equal(await usersWithEmail('pre.thrower@failures.example'), 0, 'no user was written');
    const exe = await nextExecution('pre-user-registration', seen);
    assert.equal(exe.status, 'failed');
    assert.equal(exe.results[0].status, 'runtime');
  } finally {
    await bindActions(ts, 'pre-user-registration', []);
  }
  // Unbound, the same sign-up goes through: the refusal above was the action's.
  const ok = await signUp('pre.thrower@failures.example');
  assert.equal(ok.res.status, 200, ok.body.slice(0, 500));
  assert.equal(await usersWithEmail('pre.thrower@failures.example'), 1);
});

test('api.multifactor.enable(\'none\') after enable(\'any\') in a chain lets the login reach the callback without a second factor', async () => {
  await deployAction(ts, { name: 'mfa-any', trigger: 'post-login', code: "exports.onExecutePostLogin = async (event, api) => { api.multifactor.enable('any'); };" });
  await deployAction(ts, { name: 'mfa-none', trigger: 'post-login', code: "exports.onExecutePostLogin = async (event, api) => { api.multifactor.enable('none'); };" });
  await createUser(ts, 'mfa.any@failures.example', PASSWORD);
  await createUser(ts, 'mfa.none@failures.example', PASSWORD);
  try {
    // enable('any') alone: the user (not enrolled) is stopped at the MFA step, no code.
    await bindActions(ts, 'post-login', ['mfa-any']);
    const stopped = await loginThroughForm(config, { redirectUri: CB, email: 'mfa.any@failures.example', password: PASSWORD });
    assert.equal(stopped.callbackUrl, undefined, 'enable(\'any\') alone asks for a second factor');
    assert.ok(stopped.url && /\/interaction\/[^/]+\/mfa$/.test(stopped.url.pathname), `expected the MFA step, got ${stopped.url?.href}`);

    // enable('any') then enable('none'): the later call wins, the login completes on the password.
    await bindActions(ts, 'post-login', ['mfa-any', 'mfa-none']);
    const r = await loginThroughForm(config, { redirectUri: CB, email: 'mfa.none@failures.example', password: PASSWORD });
    assert.ok(r.callbackUrl, `the login reached the callback: ${r.url?.href} ${r.loginPage?.slice(0, 300)}`);
    assert.equal(r.callbackUrl.searchParams.get('error'), null, r.callbackUrl.searchParams.get('error_description') ?? '');
    const tokens = await oidc.authorizationCodeGrant(config, r.callbackUrl, { pkceCodeVerifier: r.verifier, expectedState: r.state });
    assert.deepEqual(tokens.claims()!.amr, ['pwd'], 'no second factor was done');
    const exe = await latestExecution(ts, 'post-login');
    assert.deepEqual(exe.results.map((x: { action_name: string; status: string }) => [x.action_name, x.status]), [['mfa-any', 'ok'], ['mfa-none', 'ok']]);
  } finally {
    await bindActions(ts, 'post-login', []);
  }
});
