import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import { startTestServer, discover, loginThroughForm, type TestServer } from './helpers/server.ts';
import { deployAction, bindActions } from './helpers/actions.ts';

/*
 * What Auth0's Node SDK (v7) sends that Gatehouse used to refuse, found by an outside probe that
 * drove the SDK against the server: checkpoint paging (`take`, `from`) on the lists where Auth0
 * offers it, `GET /client-grants/{id}`, and `search` for the log query. Requests are written
 * here as the SDK sends them.
 */

let ts: TestServer;
before(async () => { ts = await startTestServer(); });
after(async () => { await ts?.close(); });

/** Follows `next` with `take` until the answer has none; every page's items under `key`. */
async function allPages(path: string, key: string, take: number) {
  const pages: unknown[][] = [];
  let from: string | undefined;
  for (let i = 0; i < 20; i++) {
    const sep = path.includes('?') ? '&' : '?';
    const r = await ts.api('GET', `${path}${sep}include_totals=true&take=${take}${from ? `&from=${encodeURIComponent(from)}` : ''}`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.deepEqual(Object.keys(r.body).filter((k) => k !== key && k !== 'next'), [], 'checkpoint answers are {<key>, next}');
    pages.push(r.body[key]);
    from = r.body.next;
    if (from === undefined) return pages;
  }
  throw new Error('paging did not end');
}

test('client grants: checkpoint paging with take/from, as the SDK lists them; GET /client-grants/{id}', async () => {
  const api = 'https://sdk-grants.example';
  assert.equal((await ts.api('POST', '/resource-servers', { name: 'SDK grants', identifier: api, scopes: [{ value: 'read:x', description: 'r' }] })).status, 201);
  const ids: string[] = [];
  for (let i = 0; i < 5; i++) {
    const c = (await ts.api('POST', '/clients', { name: `sdk m2m ${i}`, app_type: 'non_interactive' })).body;
    const g = await ts.api('POST', '/client-grants', { client_id: c.client_id, audience: api, scope: ['read:x'] });
    assert.equal(g.status, 201);
    ids.push(g.body.id);
  }
  const q = `/client-grants?audience=${encodeURIComponent(api)}`;
  const pages = await allPages(q, 'client_grants', 2);
  assert.deepEqual(pages.map((p) => p.length), [2, 2, 1]);
  assert.deepEqual(pages.flat().map((g) => (g as { id: string }).id).sort(), [...ids].sort(), 'each grant once');
  assert.deepEqual((await allPages(q, 'client_grants', 50)).map((p) => p.length), [5], 'the SDK\'s default take');
  // page/per_page answers as before.
  assert.equal((await ts.api('GET', `${q}&per_page=2&page=2`)).body.length, 1);

  assert.equal((await ts.api('GET', `${q}&take=2&page=1`)).status, 400, 'the two kinds of paging do not mix');
  assert.equal((await ts.api('GET', `${q}&take=0`)).status, 400);
  assert.equal((await ts.api('GET', `${q}&take=2&from=not-a-cursor`)).status, 400);
  // A cursor or a parameter with a NUL: a 400, not PostgreSQL's refusal as a 500 (regression, review).
  assert.equal((await ts.api('GET', `${q}&take=2&from=${Buffer.from(JSON.stringify(['a\u0000b', 'x'])).toString('base64url')}`)).status, 400);
  assert.equal((await ts.api('GET', '/users?email=a%00b')).status, 400);

  const one = await ts.api('GET', `/client-grants/${ids[0]}`);
  assert.equal(one.status, 200);
  assert.deepEqual({ id: one.body.id, audience: one.body.audience, scope: one.body.scope }, { id: ids[0], audience: api, scope: ['read:x'] });
  const none = await ts.api('GET', '/client-grants/cgr_nope');
  assert.equal(none.status, 404);
  assert.equal(none.body.errorCode, 'inexistent_client_grant');
  assert.equal((await ts.api('GET', `/client-grants/${ids[0]}`, undefined, await ts.adminToken('read:clients'))).status, 403);
});

test('role members: checkpoint paging with take/from, as the SDK lists them', async () => {
  const role = (await ts.api('POST', '/roles', { name: 'sdk-paged', description: 'paged' })).body;
  const emails = ['c@sdk.example', 'a@sdk.example', 'e@sdk.example', 'b@sdk.example', 'd@sdk.example'];
  const users: string[] = [];
  for (const email of emails) users.push((await ts.api('POST', '/users', { email, password: 'sdk paging password 1' })).body.user_id);
  assert.equal((await ts.api('POST', `/roles/${role.id}/users`, { users })).status, 204);
  const pages = await allPages(`/roles/${role.id}/users`, 'users', 2);
  assert.deepEqual(pages.map((p) => (p as { email: string }[]).map((u) => u.email)), [['a@sdk.example', 'b@sdk.example'], ['c@sdk.example', 'd@sdk.example'], ['e@sdk.example']]);
  assert.equal((await ts.api('GET', `/roles/${role.id}/users?take=2&per_page=2`)).status, 400);
  assert.equal((await ts.api('GET', `/roles/${role.id}/users?take=101`)).status, 400);
});

test('logs: `search` is read as `q` (what the SDK sends); both at once must agree', async () => {
  const byQ = await ts.api('GET', '/logs?q=type:sapi&per_page=100');
  const bySearch = await ts.api('GET', '/logs?search=type:sapi&per_page=100');
  assert.equal(bySearch.status, 200);
  assert.ok(bySearch.body.length > 0);
  assert.ok(bySearch.body.every((l: { type: string }) => l.type === 'sapi'));
  assert.deepEqual(bySearch.body.map((l: { log_id: string }) => l.log_id), byQ.body.map((l: { log_id: string }) => l.log_id));
  assert.equal((await ts.api('GET', '/logs?search=type:sapi&q=type:sapi')).status, 200);
  assert.equal((await ts.api('GET', '/logs?search=type:sapi&q=type:s')).status, 400);
  assert.equal((await ts.api('GET', '/logs?search=name:"x"')).status, 400, 'the same query rules as q');
});

test('fields and include_fields: only (or all but) the named fields, on users, clients and logs', async () => {
  const u = (await ts.api('POST', '/users', { email: 'fields@sdk.example', password: 'sdk fields password 1', name: 'Fields' })).body;
  const id = encodeURIComponent(u.user_id);
  assert.deepEqual((await ts.api('GET', `/users/${id}?fields=user_id,email&include_fields=true`)).body, { user_id: u.user_id, email: 'fields@sdk.example' });
  const without = (await ts.api('GET', `/users/${id}?fields=app_metadata,user_metadata&include_fields=false`)).body;
  assert.equal(without.app_metadata, undefined);
  assert.equal(without.email, 'fields@sdk.example');
  assert.deepEqual((await ts.api('GET', `/users/${id}?fields=`)).body, (await ts.api('GET', `/users/${id}`)).body, 'empty: every field');
  const listed = (await ts.api('GET', `/users?q=${encodeURIComponent('email:"fields@sdk.example"')}&fields=email&include_totals=true`)).body;
  assert.deepEqual(listed.users, [{ email: 'fields@sdk.example' }]);
  assert.deepEqual((await ts.api('GET', '/users-by-email?email=fields@sdk.example&fields=user_id')).body, [{ user_id: u.user_id }]);

  const c = (await ts.api('POST', '/clients', { name: 'fields spa', app_type: 'spa', callbacks: ['https://app-5999.example/cb'] })).body;
  assert.deepEqual((await ts.api('GET', `/clients/${c.client_id}?fields=client_id,name`)).body, { client_id: c.client_id, name: 'fields spa' });
  const clients = (await ts.api('GET', '/clients?fields=client_id')).body as Record<string, unknown>[];
  assert.ok(clients.length >= 1 && clients.every((x) => Object.keys(x).join() === 'client_id'));
  const logs = (await ts.api('GET', '/logs?fields=type,date&per_page=3')).body as Record<string, unknown>[];
  assert.ok(logs.length > 0 && logs.every((l) => Object.keys(l).sort().join() === 'date,type'));

  assert.equal((await ts.api('GET', `/users/${id}?fields=email;drop`)).status, 400);
  assert.equal((await ts.api('GET', `/users/${id}?include_fields=maybe`)).status, 400);
  assert.equal((await ts.api('GET', `/users/${id}?unknown=1`)).status, 400, 'other parameters are still refused');
});

test('clients: jwt_configuration is the ID token alg in effect and its lifetime, as Auth0 shows it', async () => {
  const spa = (await ts.api('POST', '/clients', { name: 'jwt spa', app_type: 'spa', callbacks: ['https://app-5998.example/cb'] })).body;
  assert.deepEqual(spa.jwt_configuration, { alg: 'RS256', lifetime_in_seconds: 36000, secret_encoded: false }, 'SPAs get RS256 (what their SDKs accept)');
  const web = (await ts.api('POST', '/clients', { name: 'jwt web', app_type: 'regular_web', callbacks: ['https://app-5997.example/cb'] })).body;
  assert.equal(web.jwt_configuration.alg, 'ES256', 'the configured default');
  const chosen = (await ts.api('PATCH', `/clients/${web.client_id}`, { jwt_configuration: { alg: 'RS256' } })).body;
  assert.equal(chosen.jwt_configuration.alg, 'RS256');
  assert.equal((await ts.api('GET', `/clients/${web.client_id}`)).body.jwt_configuration.alg, 'RS256');
  // What GET answers can be sent back as it is (tools that read a client and write it back do).
  // Regression (review): only {alg} was accepted.
  const read = (await ts.api('GET', `/clients/${spa.client_id}`)).body;
  const back = await ts.api('PATCH', `/clients/${spa.client_id}`, { jwt_configuration: read.jwt_configuration });
  assert.equal(back.status, 200, JSON.stringify(back.body));
  assert.deepEqual(back.body.jwt_configuration, read.jwt_configuration);
  const other = await ts.api('PATCH', `/clients/${spa.client_id}`, { jwt_configuration: { ...read.jwt_configuration, lifetime_in_seconds: 60 } });
  assert.equal(other.status, 400);
  assert.match(other.body.message, /lifetime_in_seconds: ID token lifetimes are set for the whole server \(36000 s\)/);
  assert.equal((await ts.api('PATCH', `/clients/${spa.client_id}`, { jwt_configuration: { secret_encoded: true } })).status, 400);
  assert.equal((await ts.api('POST', '/clients', { name: 'jwt copy', app_type: 'spa', callbacks: ['https://app-5995.example/cb'], jwt_configuration: read.jwt_configuration })).status, 201);
  // Sent back, the default in effect pins nothing: the client still follows its app type (review).
  const plain = (await ts.api('POST', '/clients', { name: 'jwt plain', app_type: 'regular_web', callbacks: ['https://app-5994.example/cb'] })).body;
  assert.equal((await ts.api('PATCH', `/clients/${plain.client_id}`, { jwt_configuration: plain.jwt_configuration })).status, 200);
  const spaNow = await ts.api('PATCH', `/clients/${plain.client_id}`, { app_type: 'spa', token_endpoint_auth_method: 'none' });
  assert.equal(spaNow.status, 200, JSON.stringify(spaNow.body));
  assert.equal(spaNow.body.jwt_configuration.alg, 'RS256', 'an SPA now: RS256, the default was not pinned');
  // Changing the type and naming an alg in one PATCH: the alg is compared with the new type's default (review).
  const toWeb = await ts.api('PATCH', `/clients/${plain.client_id}`, { app_type: 'regular_web', token_endpoint_auth_method: 'client_secret_basic', jwt_configuration: { alg: 'RS256' } });
  assert.equal(toWeb.status, 200, JSON.stringify(toWeb.body));
  assert.equal(toWeb.body.jwt_configuration.alg, 'RS256', 'asked for explicitly, kept');
});

test('users: verify_email true mails the new user a verification link; false or absent mails nothing', async () => {
  const { readdirSync, readFileSync } = await import('node:fs');
  const { join } = await import('node:path');
  const mailsTo = (email: string) => { try { return readdirSync(join(ts.dir, 'outbox')).map((f) => readFileSync(join(ts.dir, 'outbox', f), 'utf8')).filter((m) => m.includes(`To: ${email}`)); } catch { return []; } };
  const create = (email: string, extra: Record<string, unknown>) => ts.api('POST', '/users', { email, password: 'sdk verify password 1', ...extra });
  assert.equal((await create('verify-yes@sdk.example', { verify_email: true })).status, 201);
  assert.equal((await create('verify-no@sdk.example', { verify_email: false })).status, 201);
  assert.equal((await create('verify-absent@sdk.example', {})).status, 201);
  assert.equal((await create('verify-verified@sdk.example', { verify_email: true, email_verified: true })).status, 201);
  assert.equal((await create('verify-blocked@sdk.example', { verify_email: true, blocked: true })).status, 201);
  assert.equal((await create('verify-bad@sdk.example', { verify_email: 'yes' })).status, 400);
  for (let i = 0; i < 50 && mailsTo('verify-yes@sdk.example').length === 0; i++) await new Promise((r) => setTimeout(r, 100));
  const [mail] = mailsTo('verify-yes@sdk.example');
  assert.ok(mail, 'the verification mail');
  assert.match(mail, /\/verify-email\?token=/);
  await new Promise((r) => setTimeout(r, 300));
  for (const e of ['verify-no@sdk.example', 'verify-absent@sdk.example', 'verify-verified@sdk.example', 'verify-blocked@sdk.example']) assert.equal(mailsTo(e).length, 0, e);
});

test('users: given_name and family_name, as on Auth0: stored, cleared with null, in the profile scope\'s claims and in event.user', async () => {
  const created = await ts.api('POST', '/users', { email: 'ada@sdk.example', password: 'sdk names password 1', given_name: 'Ada', family_name: 'Lovelace' });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  assert.equal(created.body.given_name, 'Ada');
  assert.equal(created.body.family_name, 'Lovelace');
  const plain = (await ts.api('POST', '/users', { email: 'plain@sdk.example', password: 'sdk names password 1' })).body;
  assert.ok(!('given_name' in plain) && !('family_name' in plain), 'left out when not set, as Auth0 does');
  assert.equal((await ts.api('POST', '/users', { email: 'bad@sdk.example', password: 'sdk names password 1', given_name: 'x'.repeat(151) })).status, 400);
  assert.equal((await ts.api('POST', '/users', { email: 'bad2@sdk.example', password: 'sdk names password 1', given_name: 'Ev\u202eil' })).status, 400);

  const cb = 'https://app-5996.example/cb';
  const spa = (await ts.api('POST', '/clients', { name: 'names spa', app_type: 'spa', callbacks: [cb] })).body;
  const config = await discover(ts, spa.client_id);
  await deployAction(ts, { name: 'names-event', trigger: 'post-login', code: "exports.onExecutePostLogin = async (event, api) => { api.idToken.setCustomClaim('https://sdk/names', [event.user.given_name, event.user.family_name]); api.idToken.setCustomClaim('given_name', 'spoofed'); };" });
  await bindActions(ts, 'post-login', ['names-event']);
  try {
    const claimsFor = async (scope: string) => {
      const r = await loginThroughForm(config, { redirectUri: cb, email: 'ada@sdk.example', password: 'sdk names password 1', scope });
      return (await oidc.authorizationCodeGrant(config, r.callbackUrl!, { pkceCodeVerifier: r.verifier, expectedState: r.state })).claims()!;
    };
    const withProfile = await claimsFor('openid profile');
    assert.equal(withProfile.given_name, 'Ada', 'the profile scope carries it; an action cannot set it');
    assert.equal(withProfile.family_name, 'Lovelace');
    assert.deepEqual(withProfile['https://sdk/names'], ['Ada', 'Lovelace'], 'event.user has them');
    const without = await claimsFor('openid');
    assert.equal(without.given_name, undefined);

    const id = encodeURIComponent(created.body.user_id);
    const cleared = await ts.api('PATCH', `/users/${id}`, { family_name: null, given_name: 'Augusta' });
    assert.equal(cleared.status, 200);
    assert.equal(cleared.body.given_name, 'Augusta');
    assert.ok(!('family_name' in cleared.body));
    const after = await claimsFor('openid profile');
    assert.equal(after.given_name, 'Augusta');
    assert.equal(after.family_name, undefined);
  } finally {
    await bindActions(ts, 'post-login', []);
  }
});

test('Auth0 settings that always hold here: accepted as true and shown, refused as false with the reason; identifiers and connection filters', async () => {
  const rs = await ts.api('POST', '/resource-servers', { name: 'Fixed', identifier: 'https://fixed.sdk.example', allow_offline_access: true, skip_consent_for_verifiable_first_party_clients: true });
  assert.equal(rs.status, 201, JSON.stringify(rs.body));
  assert.equal(rs.body.allow_offline_access, true);
  assert.equal(rs.body.skip_consent_for_verifiable_first_party_clients, true);
  const off = await ts.api('PATCH', `/resource-servers/${rs.body.id}`, { allow_offline_access: false });
  assert.equal(off.status, 400);
  assert.match(off.body.message, /allow_offline_access: is always true here: refresh tokens/);
  assert.equal((await ts.api('PATCH', `/resource-servers/${rs.body.id}`, { skip_consent_for_verifiable_first_party_clients: true })).status, 200);
  await ts.api('POST', '/resource-servers', { name: 'Other', identifier: 'https://other.sdk.example' });
  const one = (await ts.api('GET', '/resource-servers?identifiers=https%3A%2F%2Ffixed.sdk.example')).body;
  assert.deepEqual(one.map((x: { identifier: string }) => x.identifier), ['https://fixed.sdk.example']);
  const two = (await ts.api('GET', '/resource-servers?identifiers=https%3A%2F%2Ffixed.sdk.example&identifiers=https%3A%2F%2Fother.sdk.example')).body;
  assert.equal(two.length, 2, 'identifiers may repeat, as Auth0 defines it');
  assert.equal((await ts.api('GET', '/resource-servers?per_page=1&per_page=2')).status, 400, 'other parameters still may not');

  const c = await ts.api('POST', '/clients', { name: 'conformant', app_type: 'non_interactive', oidc_conformant: true });
  assert.equal(c.status, 201);
  assert.equal(c.body.oidc_conformant, true);
  assert.equal((await ts.api('PATCH', `/clients/${c.body.client_id}`, { oidc_conformant: false })).status, 400);

  assert.equal((await ts.api('GET', '/users?connection=Username-Password-Authentication')).status, 200);
  assert.equal((await ts.api('GET', '/users?connection=google-oauth2')).status, 400);
});
