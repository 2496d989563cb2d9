import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as oidc from 'openid-client';
import { SignJWT, jwtVerify, decodeJwt } from 'jose';
import { generate } from 'otplib';
import { startTestServer, discover, loginThroughForm, type TestServer } from './helpers/server.ts';
import { createAction, deployVersion, bindActions, latestExecution, type ActionSecret } from './helpers/actions.ts';

/*
 * Auth0's own Actions examples (test/fixtures/auth0-actions, copied in the shape Auth0's
 * documentation gives them) deployed UNCHANGED through the Management API and driven through
 * real flows: the promise that an Action written for Auth0 runs here as it is.
 */

const API = 'https://fixtures.api.example';
const CB = 'https://app-5175.example/cb';
const PASSWORD = 'fixture-password-1';
const REDIRECT_SECRET = 'consent-page-shared-secret-0123456789';

let ts: TestServer;
let spa: { client_id: string };
let config: oidc.Configuration;

const fixture = (file: string) => readFileSync(new URL(`./fixtures/auth0-actions/${file}`, import.meta.url), 'utf8');

/** Creates and deploys one action from a fixture file, byte for byte. */
async function deployFixture(name: string, trigger: string, file: string, secrets?: ActionSecret[]) {
  const code = fixture(file);
  const created = await createAction(ts, { name, trigger, code, secrets });
  assert.equal(created.code, code, 'the stored code is the fixture, unchanged');
  await deployVersion(ts, created.id);
  return created.id;
}
async function user(email: string, roles: string[] = []) {
  const u = (await ts.api('POST', '/users', { email, password: PASSWORD })).body;
  assert.ok(u.user_id, JSON.stringify(u));
  for (const name of roles) {
    const existing = (await ts.api('GET', `/roles?name_filter=${encodeURIComponent(name)}`)).body;
    const role = (Array.isArray(existing) ? existing : existing.roles ?? []).find((r: { name: string }) => r.name === name)
      ?? (await ts.api('POST', '/roles', { name })).body;
    const r = await ts.api('POST', `/users/${encodeURIComponent(u.user_id)}/roles`, { roles: [role.id] });
    assert.ok(r.status < 300, JSON.stringify(r.body));
  }
  return u as { user_id: string; email: string };
}
async function loginAndRedeem(email: string, params: Record<string, string> = {}, scope = 'openid email') {
  const r = await loginThroughForm(config, { redirectUri: CB, email, password: PASSWORD, params, scope });
  assert.ok(r.callbackUrl, `no callback: ${r.status} ${r.loginPage?.slice(0, 400)}`);
  assert.equal(r.callbackUrl.searchParams.get('error'), null, r.callbackUrl.searchParams.get('error_description') ?? '');
  return oidc.authorizationCodeGrant(config, r.callbackUrl, { pkceCodeVerifier: r.verifier, expectedState: r.state });
}

/**
 * A billing system's API on loopback, for the axios example (the server's fetch allow list names
 * it): plans by email, 404 for an unknown customer, 503 for one address; it keeps what it got.
 */
const billingSeen: { method: string; url: string; auth: string | undefined; type: string | undefined; ua: string | undefined; body: string }[] = [];
const billing: Server = createServer((req, res) => {
  let body = '';
  req.on('data', (c: Buffer) => { body += c.toString(); });
  req.on('end', () => {
    billingSeen.push({ method: req.method!, url: req.url!, auth: req.headers.authorization, type: req.headers['content-type'], ua: req.headers['user-agent'], body });
    const url = new URL(req.url!, 'http://127.0.0.1');
    if (req.headers.authorization !== 'Bearer billing-token-0123456789') { res.writeHead(401).end(); return; }
    const email = url.searchParams.get('email');
    if (url.pathname === '/v1/customers' && email === 'paying@billing.example') res.writeHead(200, { 'content-type': 'application/json' }).end('{"plan":"pro"}');
    else if (url.pathname === '/v1/customers' && email === 'outage@billing.example') res.writeHead(503, { 'content-type': 'text/plain' }).end('maintenance');
    else if (url.pathname === '/v1/customers') res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"no such customer"}');
    else res.writeHead(201, { 'content-type': 'application/json' }).end('{}');
  });
});

before(async () => {
  await new Promise<void>((r) => billing.listen(0, '127.0.0.1', r));
  ts = await startTestServer({ actions: { fetchAllow: [`127.0.0.1:${(billing.address() as AddressInfo).port}`] } });
  await ts.api('POST', '/resource-servers', { name: 'Fixtures API', identifier: API, scopes: [{ value: 'read:things', description: 'r' }] });
  // The deny example only applies to the application named "My SPA".
  spa = (await ts.api('POST', '/clients', { name: 'My SPA', app_type: 'spa', callbacks: [CB] })).body;
  config = await discover(ts, spa.client_id);
});
after(async () => {
  await ts?.close();
  // (g) closes it; when a name pattern skips (g), this does, or the run never ends.
  if (billing.listening) { billing.closeAllConnections(); await new Promise<void>((r) => billing.close(() => r())); }
});

test('(a) add user roles to ID and access tokens: the namespaced roles claim is in both', async () => {
  await deployFixture('auth0-roles', 'post-login', 'add-roles-to-tokens.js');
  await bindActions(ts, 'post-login', ['auth0-roles']);
  await user('roles.user@roles.example', ['editor', 'viewer']);
  const t = await loginAndRedeem('roles.user@roles.example', { audience: API }, 'openid email read:things');
  assert.deepEqual([...(t.claims()!['https://my-app.example.com/roles'] as string[])].sort(), ['editor', 'viewer']);
  assert.deepEqual([...(decodeJwt(t.access_token)['https://my-app.example.com/roles'] as string[])].sort(), ['editor', 'viewer']);

  // No roles: the claim is an empty list, as on Auth0.
  await user('noroles.user@roles.example');
  const t2 = await loginAndRedeem('noroles.user@roles.example');
  assert.deepEqual(t2.claims()!['https://my-app.example.com/roles'], []);
  await bindActions(ts, 'post-login', []);
});

test('(b) deny by e-mail domain: the denied domain gets access_denied at the redirect_uri, others log in', async () => {
  await deployFixture('auth0-deny-domain', 'post-login', 'deny-by-email-domain.js');
  await bindActions(ts, 'post-login', ['auth0-deny-domain']);
  await user('blocked@example.com');
  const denied = await loginThroughForm(config, { redirectUri: CB, email: 'blocked@example.com', password: PASSWORD });
  assert.ok(denied.callbackUrl, denied.loginPage);
  assert.equal(denied.callbackUrl.searchParams.get('error'), 'access_denied');
  assert.equal(denied.callbackUrl.searchParams.get('error_description'), 'Access to My SPA is not allowed.');
  assert.equal(denied.callbackUrl.searchParams.get('code'), null);
  assert.equal(denied.callbackUrl.searchParams.get('state'), denied.state);
  assert.equal((await latestExecution(ts, 'post-login')).status, 'denied');

  await user('welcome@elsewhere.example');
  const ok = await loginAndRedeem('welcome@elsewhere.example');
  assert.equal(ok.claims()!.email, 'welcome@elsewhere.example');
  await bindActions(ts, 'post-login', []);
});

test('(c) MFA for admins: an admin gets no code before a second factor, the record shows the MFA call; enrolling completes the login; others log in', async () => {
  await deployFixture('auth0-mfa-admins', 'post-login', 'mfa-for-admins.js');
  await bindActions(ts, 'post-login', ['auth0-mfa-admins']);
  await user('boss@mfa.example', ['admin']);
  const r = await loginThroughForm(config, { redirectUri: CB, email: 'boss@mfa.example', password: PASSWORD });
  // Fails closed: the flow stops at the enrollment step (not enrolled yet), no code reaches the client.
  assert.equal(r.callbackUrl, undefined, 'an admin must not get a code on the password alone');
  assert.ok(r.url && /\/interaction\/[^/]+\/mfa$/.test(r.url.pathname), `expected the MFA step, got ${r.url?.href}`);
  const secret = /data-secret="([A-Z2-7]+)"/.exec(r.loginPage ?? '')?.[1];
  assert.ok(secret, 'the enrollment page shows the authenticator key');
  const exe = await latestExecution(ts, 'post-login');
  assert.equal(exe.results[0].action_name, 'auth0-mfa-admins');
  assert.equal(exe.results[0].status, 'ok');
  assert.deepEqual(exe.results[0].commands, [{ type: 'multifactor.enable', args: ['any'] }]);

  // Enrolling an authenticator (first code, then the recovery codes page) lets the login finish.
  const enrolled = await r.browser.submit(r.url, r.loginPage!, { code: await generate({ secret }) });
  assert.equal(enrolled.status, 200);
  const done = await r.browser.submit(r.url, await enrolled.text(), {}, { actionIncludes: '/mfa/done' });
  assert.equal(done.status, 303);
  const back = await r.browser.follow(new URL(done.headers.get('location')!, r.url), {}, (u) => u.href.startsWith(CB));
  assert.ok(back.url.href.startsWith(CB), `expected the callback, got ${back.url.href}`);
  assert.equal(back.url.searchParams.get('error'), null, back.url.searchParams.get('error_description') ?? '');
  const t = await oidc.authorizationCodeGrant(config, back.url, { pkceCodeVerifier: r.verifier, expectedState: r.state });
  assert.equal(t.claims()!.email, 'boss@mfa.example');

  await user('staff@mfa.example', ['editor']);
  const staff = await loginAndRedeem('staff@mfa.example');
  assert.equal(staff.claims()!.email, 'staff@mfa.example');
  assert.deepEqual((await latestExecution(ts, 'post-login')).results[0].commands, []);
  await bindActions(ts, 'post-login', []);
});

/**
 * The "consent page" of the redirect example: a real HTTP server on loopback. It checks the
 * token the action sent, then sends the browser back to /continue with a token of its own,
 * signed with the shared secret (or, in `forge` mode, with another one) and bound to the state.
 */
function consentPage() {
  const seen: { sessionToken: Record<string, unknown>; state: string }[] = [];
  const sent: string[] = [];
  let mode: 'sign' | 'forge' = 'sign';
  const server: Server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url!, 'http://127.0.0.1');
      const state = url.searchParams.get('state') ?? '';
      const incoming = url.searchParams.get('session_token') ?? '';
      const { payload } = await jwtVerify(incoming, new TextEncoder().encode(REDIRECT_SECRET), { algorithms: ['HS256'] });
      seen.push({ sessionToken: payload as Record<string, unknown>, state });
      const key = new TextEncoder().encode(mode === 'sign' ? REDIRECT_SECRET : 'not-the-shared-secret-at-all-000000');
      const answer = await new SignJWT({ state, favorite_color: 'teal' })
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).setSubject(String(payload.sub)).setIssuedAt().setExpirationTime('2m').sign(key);
      const back = `${ts.issuer}/continue?state=${encodeURIComponent(state)}&session_token=${encodeURIComponent(answer)}`;
      sent.push(back);
      res.writeHead(302, { location: back }).end();
    })().catch((e: unknown) => { res.writeHead(400, { 'content-type': 'text/plain' }).end(`consent page refused: ${String(e)}`); });
  });
  return {
    seen, sent, server,
    set mode(m: 'sign' | 'forge') { mode = m; },
    async start() {
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      return `http://127.0.0.1:${(server.address() as AddressInfo).port}/consent`;
    },
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}

test('multifactor.enable(\'guardian\') asks for the authenticator app, as \'any\' does (marketplace templates ask for Guardian)', async () => {
  // Regression (outside probe): 'guardian' was refused as a provider, so the login failed closed
  // for every user the action meant to protect with a second factor.
  const a = await createAction(ts, { name: 'guardian-mfa', trigger: 'post-login', code: "exports.onExecutePostLogin = async (event, api) => { api.multifactor.enable('guardian', { allowRememberBrowser: false }); };" });
  await deployVersion(ts, a.id);
  await bindActions(ts, 'post-login', ['guardian-mfa']);
  await user('guardian.user@mfa.example');
  const r = await loginThroughForm(config, { redirectUri: CB, email: 'guardian.user@mfa.example', password: PASSWORD });
  assert.equal(r.callbackUrl, undefined, 'no code on the password alone');
  assert.ok(r.url && /\/interaction\/[^/]+\/mfa$/.test(r.url.pathname), `expected the MFA step, got ${r.url?.href}`);
  const exe = await latestExecution(ts, 'post-login');
  assert.equal(exe.results[0].status, 'ok', JSON.stringify(exe.results));
  assert.deepEqual(exe.results[0].rejected_commands, []);
  assert.equal(exe.results[0].commands[0].args[0], 'guardian');
  await bindActions(ts, 'post-login', []);
});

test('(d) redirect to a consent page and resume: /continue runs onContinuePostLogin then the rest of the chain; single use; a forged token is denied', async (t) => {
  const page = consentPage();
  const consentUrl = await page.start();
  t.after(() => page.close());
  await deployFixture('auth0-redirect', 'post-login', 'redirect-consent.js', [
    { name: 'MY_REDIRECT_SECRET', value: REDIRECT_SECRET }, { name: 'CONSENT_URL', value: consentUrl },
  ]);
  // The roles example bound after the redirect: it only runs once the flow resumed.
  await bindActions(ts, 'post-login', ['auth0-redirect', 'auth0-roles']);
  const u = await user('consenting@redirect.example', ['member']);

  const r = await loginThroughForm(config, { redirectUri: CB, email: u.email, password: PASSWORD });
  assert.ok(r.callbackUrl, `no callback: ${r.status} ${r.loginPage?.slice(0, 400)}`);
  assert.equal(r.callbackUrl.searchParams.get('error'), null, r.callbackUrl.searchParams.get('error_description') ?? '');
  // The browser went through the consent page with a session token the action signed.
  assert.equal(page.seen.length, 1);
  assert.equal(page.seen[0].sessionToken.email, u.email);
  assert.equal(page.seen[0].sessionToken.externalUserId, 1234);
  assert.equal(page.seen[0].sessionToken.sub, u.user_id);
  assert.equal(page.seen[0].sessionToken.state, page.seen[0].state, 'the action\'s token is bound to the redirect state');
  const tokens = await oidc.authorizationCodeGrant(config, r.callbackUrl, { pkceCodeVerifier: r.verifier, expectedState: r.state });
  assert.equal(tokens.claims()!.color, 'teal', 'onContinuePostLogin read the page\'s token');
  assert.deepEqual(tokens.claims()!['https://my-app.example.com/roles'], ['member'], 'the rest of the chain ran after /continue');
  assert.equal((await ts.api('GET', `/users/${encodeURIComponent(u.user_id)}`)).body.user_metadata.favorite_color, 'teal');

  // The same /continue link again: the state was used once and is gone.
  const replay = await r.browser.request(page.sent[0]);
  assert.equal(replay.status, 400);
  assert.match(await replay.text(), /expired or was already used/);

  // A token the page signed with the wrong secret: validateToken throws, the login fails closed.
  page.mode = 'forge';
  const forged = await loginThroughForm(config, { redirectUri: CB, email: u.email, password: PASSWORD });
  assert.ok(forged.callbackUrl, forged.loginPage);
  assert.equal(forged.callbackUrl.searchParams.get('error'), 'access_denied');
  assert.equal(forged.callbackUrl.searchParams.get('code'), null);
  const exe = await latestExecution(ts, 'post-login');
  assert.equal(exe.status, 'failed');
  assert.equal(exe.results[0].action_name, 'auth0-redirect');
  assert.equal(exe.results[0].status, 'runtime');
  assert.match(exe.results[0].error.message, /bad signature/);
  assert.equal(exe.results.length, 1, 'nothing after the failed action ran');
  await bindActions(ts, 'post-login', []);
});

test('(e) credentials exchange: the M2M access token carries the documented custom claim', async () => {
  await deployFixture('auth0-m2m-claim', 'credentials-exchange', 'm2m-custom-claim.js');
  await bindActions(ts, 'credentials-exchange', ['auth0-m2m-claim']);
  const m2m = (await ts.api('POST', '/clients', { name: 'Fixtures M2M', app_type: 'non_interactive' })).body;
  await ts.api('POST', '/client-grants', { client_id: m2m.client_id, audience: API, scope: ['read:things'] });
  const m2mConfig = await discover(ts, m2m.client_id, m2m.client_secret);
  const tok = await oidc.clientCredentialsGrant(m2mConfig, { audience: API } as never);
  const claims = decodeJwt(tok.access_token);
  assert.match(String(claims['https://my-api.exampleco.com/request-ip']), /^(::ffff:)?127\.0\.0\.1$/);
  assert.equal(claims.sub, m2m.client_id);
  assert.equal((await latestExecution(ts, 'credentials-exchange')).results[0].status, 'ok');
  await bindActions(ts, 'credentials-exchange', []);
});

test('(f) Node.js built-ins: an Intercom user hash with require(\'crypto\'), a Gravatar MD5 and a Buffer base64, as on Auth0', async () => {
  const secrets = [
    { name: 'INTERCOM_SECRET', value: 'intercom-identity-secret-0123456789' },
    { name: 'CRM_CLIENT_ID', value: 'crm-client' },
    { name: 'CRM_CLIENT_SECRET', value: 'crm-secret-ÿ-0123' },
  ];
  await deployFixture('intercom-user-hash', 'post-login', 'intercom-user-hash.js', secrets);
  await bindActions(ts, 'post-login', ['intercom-user-hash']);
  const u = await user('Intercom.User@Fixtures.example');
  const t = await loginAndRedeem('intercom.user@fixtures.example');
  const c = t.claims()!;
  assert.equal(c['https://my-app.example.com/intercom_user_hash'], createHmac('sha256', secrets[0].value).update(u.user_id).digest('hex'));
  assert.equal(c['https://my-app.example.com/picture'], `https://www.gravatar.com/avatar/${createHash('md5').update('intercom.user@fixtures.example').digest('hex')}?d=identicon`);
  assert.equal(c['https://my-app.example.com/crm_auth_length'], `Basic ${Buffer.from(`${secrets[1].value}:${secrets[2].value}`).toString('base64')}`.length);
  assert.equal((await latestExecution(ts, 'post-login')).results[0].status, 'ok');
  await bindActions(ts, 'post-login', []);
});

test('(g) axios: a billing plan from an external API (params, a Bearer header, JSON), a 404 handled, a 503 denies', async (t) => {
  t.after(() => new Promise<void>((r) => { billing.closeAllConnections(); billing.close(() => r()); }));
  const base = `http://127.0.0.1:${(billing.address() as AddressInfo).port}/v1/`;
  await deployFixture('billing-plan-axios', 'post-login', 'billing-plan-axios.js', [
    { name: 'BILLING_API', value: base }, { name: 'BILLING_TOKEN', value: 'billing-token-0123456789' },
  ]);
  await bindActions(ts, 'post-login', ['billing-plan-axios']);
  const paying = await user('paying@billing.example');
  await user('newcomer@billing.example');
  await user('outage@billing.example');

  assert.equal((await loginAndRedeem('paying@billing.example')).claims()!['https://my-app.example.com/plan'], 'pro');
  const [lookup, record] = billingSeen.splice(0);
  assert.deepEqual(lookup, { method: 'GET', url: '/v1/customers?email=paying%40billing.example', auth: 'Bearer billing-token-0123456789', type: undefined, ua: lookup.ua, body: '' });
  assert.match(lookup.ua ?? '', /^axios\//);
  assert.equal(record.method, 'POST');
  assert.equal(record.url, '/v1/logins');
  assert.equal(record.type, 'application/json');
  assert.deepEqual(JSON.parse(record.body), { user_id: paying.user_id, plan: 'pro' });

  assert.equal((await loginAndRedeem('newcomer@billing.example')).claims()!['https://my-app.example.com/plan'], 'none', 'a 404 is the action\'s to handle');
  billingSeen.length = 0;

  const r = await loginThroughForm(config, { redirectUri: CB, email: 'outage@billing.example', password: PASSWORD });
  assert.equal(r.callbackUrl?.searchParams.get('error'), 'access_denied');
  assert.equal(r.callbackUrl?.searchParams.get('error_description'), 'Billing is unavailable, please try again later');
  const exe = await latestExecution(ts, 'post-login');
  assert.equal(exe.results[0].status, 'denied');
  assert.match(exe.results[0].logs, /billing lookup failed: ERR_BAD_RESPONSE Request failed with status code 503/);
  await bindActions(ts, 'post-login', []);
});

test('(h) auth0 ManagementClient: a default role assigned through the Management API on the first login, read from the event after', async () => {
  const m2m = (await ts.api('POST', '/clients', { name: 'Default role M2M', app_type: 'non_interactive' })).body;
  const grant = await ts.api('POST', '/client-grants', { client_id: m2m.client_id, audience: `${ts.base}/api/v2/`, scope: ['create:role_members'] });
  assert.equal(grant.status, 201, JSON.stringify(grant.body));
  const role = (await ts.api('POST', '/roles', { name: 'reader' })).body;
  await deployFixture('assign-default-role', 'post-login', 'assign-default-role.js', [
    { name: 'domain', value: new URL(ts.issuer).host }, { name: 'clientId', value: m2m.client_id }, { name: 'clientSecret', value: m2m.client_secret },
    { name: 'defaultRoleId', value: role.id }, { name: 'defaultRoleName', value: 'reader' },
  ]);
  await bindActions(ts, 'post-login', ['assign-default-role']);
  const u = await user('newbie@roles.example');

  assert.deepEqual((await loginAndRedeem('newbie@roles.example')).claims()!['https://my-app.example.com/roles'], ['reader']);
  const first = await latestExecution(ts, 'post-login');
  assert.equal(first.results[0].status, 'ok');
  assert.equal(first.results[0].logs, '', 'the role was assigned without an error');
  const stored = (await ts.api('GET', `/users/${encodeURIComponent(u.user_id)}/roles`)).body;
  assert.deepEqual(stored.map((r: { name: string }) => r.name), ['reader']);

  // The second login finds the role in event.authorization and does not call the API again.
  assert.deepEqual((await loginAndRedeem('newbie@roles.example')).claims()!['https://my-app.example.com/roles'], ['reader']);
  await bindActions(ts, 'post-login', []);
});

test('(i) npm packages run from their own code: lodash, uuid and moment, declared as dependencies as Auth0\'s Deploy CLI sends them', async () => {
  const code = fixture('profile-claims-lodash.js');
  const created = await ts.api('POST', '/actions/actions', {
    name: 'profile-claims-lodash', supported_triggers: [{ id: 'post-login', version: 'v3' }], code, runtime: 'node18',
    dependencies: [{ name: 'lodash', version: '4.17.21' }, { name: 'uuid', version: '9.0.1' }, { name: 'moment', version: '2.29.4' }],
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  await deployVersion(ts, created.body.id);
  await bindActions(ts, 'post-login', ['profile-claims-lodash']);
  const u = await user('lodash@fixtures.example');
  await ts.api('PATCH', `/users/${encodeURIComponent(u.user_id)}`, { user_metadata: { plan: 'pro', team: 'blue', secret_note: 'not copied' } });

  const claims = (await loginAndRedeem('lodash@fixtures.example')).claims()!;
  assert.deepEqual(claims['https://my-app.example.com/profile'], { userPlan: 'pro', userTeam: 'blue' });
  const id1 = claims['https://my-app.example.com/request_id'] as string;
  assert.match(id1, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  const again = (await loginAndRedeem('lodash@fixtures.example')).claims()!;
  assert.notEqual(again['https://my-app.example.com/request_id'], id1, 'a new id per login');

  // A user who signed up 8 days ago and never verified is asked to (moment's date arithmetic).
  const old = await user('unverified@fixtures.example');
  const eightDaysAgo = Date.now() - 8 * 86_400_000;
  assert.equal(await ts.ctx.db('users').where({ id: old.user_id }).update({ created_at: new Date(eightDaysAgo).toISOString(), email_verified: false }), 1);
  const r = await loginThroughForm(config, { redirectUri: CB, email: 'unverified@fixtures.example', password: PASSWORD, scope: 'openid email' });
  assert.equal(r.callbackUrl?.searchParams.get('error'), 'access_denied');
  const when = new Date(eightDaysAgo);
  const month = when.toLocaleString('en-US', { month: 'long', timeZone: 'UTC' });
  assert.equal(r.callbackUrl?.searchParams.get('error_description'), `Please verify your e-mail address (signed up ${month} ${when.getUTCDate()}, ${when.getUTCFullYear()}).`);
  await bindActions(ts, 'post-login', []);
});

test('(j) a Rule migrated by Auth0\'s tool: api.rules.wasExecuted answers false (there are no Rules), so the action runs', async () => {
  await deployFixture('migrated-rule', 'post-login', 'migrated-rule.js');
  await bindActions(ts, 'post-login', ['migrated-rule']);
  await user('migrated@fixtures.example');
  const claims = (await loginAndRedeem('migrated@fixtures.example')).claims()!;
  assert.equal(claims['https://my-app.example.com/country'], 'unknown', 'no GeoIP headers in this test: the action ran to its end');
  const exe = await latestExecution(ts, 'post-login');
  assert.deepEqual(exe.results[0].commands.map((c: { type: string; args: unknown[] }) => [c.type, c.args[0]]), [['idToken.setCustomClaim', 'https://my-app.example.com/country']], 'wasExecuted records nothing');
  await bindActions(ts, 'post-login', []);
});

