import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { startTestServer, discover, loginThroughForm, authorizationRequest, type TestServer } from './helpers/server.ts';
import { Browser } from './helpers/cookie-fetch.ts';
import { bindActions, deployAction } from './helpers/actions.ts';

/*
 * Auth0's organizations: the Management API (organizations, members, member roles) and signing
 * in to one: `organization=` at /authorize (an id or a name) for an application that allows it,
 * membership checked, `org_id` in the ID and access tokens and through refreshes, and
 * event.organization for post-login actions.
 */

const CB = 'https://b2b.example/callback';
const API = 'https://api.b2b.example';
const PASSWORD = 'correct horse battery';
let ts: TestServer;
let app: { client_id: string; client_secret?: string };
let config: oidc.Configuration;
let acme: { id: string; name: string };
let member: string;
let outsider: string;

before(async () => {
  ts = await startTestServer();
  await ts.api('POST', '/resource-servers', { name: 'B2B API', identifier: API, scopes: [{ value: 'read:things', description: '' }] });
  app = (await ts.api('POST', '/clients', { name: 'B2B app', app_type: 'regular_web', callbacks: [CB], organization_usage: 'allow', organization_require_behavior: 'no_prompt' })).body;
  config = await discover(ts, app.client_id, app.client_secret);
  member = (await ts.api('POST', '/users', { email: 'member@acme.example', password: PASSWORD })).body.user_id;
  outsider = (await ts.api('POST', '/users', { email: 'outsider@other.example', password: PASSWORD })).body.user_id;
});
after(async () => { await ts?.close(); });

const signIn = (email: string, params: Record<string, string>, browser = new Browser()) =>
  loginThroughForm(config, { browser, redirectUri: CB, email, password: PASSWORD, scope: 'openid email offline_access', params: { prompt: 'consent', ...params } });

test('the Management API: organizations by id and name, members, member roles; Auth0\'s names, scopes and refusals', async () => {
  const made = await ts.api('POST', '/organizations', { name: 'acme', display_name: 'Acme Corp', metadata: { tier: 'gold' }, branding: { logo_url: 'https://acme.example/logo.png' } });
  assert.equal(made.status, 201, JSON.stringify(made.body));
  acme = made.body;
  assert.match(acme.id, /^org_/);
  assert.deepEqual((await ts.api('GET', '/organizations/name/acme')).body, made.body);
  assert.equal((await ts.api('POST', '/organizations', { name: 'acme' })).status, 409);
  assert.equal((await ts.api('POST', '/organizations', { name: 'Acme Corp' })).status, 400, 'Auth0\'s name rules');
  assert.equal((await ts.api('POST', `/organizations/${acme.id}/members`, { members: [member] })).status, 204);
  assert.equal((await ts.api('POST', `/organizations/${acme.id}/members`, { members: ['auth0|nobody'] })).status, 400);
  const members = await ts.api('GET', `/organizations/${acme.id}/members?include_totals=true`);
  assert.deepEqual(members.body.members.map((m: { user_id: string }) => m.user_id), [member]);
  assert.equal(members.body.total, 1);
  const role = (await ts.api('POST', '/roles', { name: 'acme-admin' })).body;
  assert.equal((await ts.api('POST', `/organizations/${acme.id}/members/${encodeURIComponent(member)}/roles`, { roles: [role.id] })).status, 204);
  assert.deepEqual((await ts.api('GET', `/organizations/${acme.id}/members/${encodeURIComponent(member)}/roles`)).body.map((r: { name: string }) => r.name), ['acme-admin']);
  assert.equal((await ts.api('POST', `/organizations/${acme.id}/members/${encodeURIComponent(outsider)}/roles`, { roles: [role.id] })).status, 400, 'roles only for members');
  assert.deepEqual((await ts.api('GET', `/users/${encodeURIComponent(member)}/organizations`)).body.map((o: { id: string }) => o.id), [acme.id]);
  const listed = await ts.api('GET', '/organizations?take=1');
  assert.deepEqual(listed.body.organizations.map((o: { id: string }) => o.id), [acme.id]);
  const readOnly = await ts.adminToken('read:organizations');
  assert.equal((await ts.api('POST', '/organizations', { name: 'nope' }, readOnly)).status, 403);
  assert.equal((await ts.api('GET', `/organizations/${acme.id}/members`, undefined, readOnly)).status, 403, 'members have scopes of their own');
  // Auth0's three behaviours for an application that requires an organization its request does
  // not name (the prompts: test/organizations-prompts.test.ts); nothing else.
  const prompt = await ts.api('POST', '/clients', { name: 'Prompting', app_type: 'regular_web', organization_usage: 'require', organization_require_behavior: 'pre_login_prompt' });
  assert.equal(prompt.status, 201, JSON.stringify(prompt.body));
  assert.equal(prompt.body.organization_require_behavior, 'pre_login_prompt');
  assert.equal((await ts.api('GET', `/clients/${prompt.body.client_id}`)).body.organization_require_behavior, 'pre_login_prompt');
  const patched = await ts.api('PATCH', `/clients/${prompt.body.client_id}`, { organization_require_behavior: 'post_login_prompt' });
  assert.equal(patched.body.organization_require_behavior, 'post_login_prompt');
  const bad = await ts.api('POST', '/clients', { name: 'Asking', app_type: 'regular_web', organization_usage: 'require', organization_require_behavior: 'ask' });
  assert.equal(bad.status, 400);
  assert.match(bad.body.message, /organization_require_behavior/);
  assert.equal((await ts.api('GET', `/clients/${app.client_id}`)).body.organization_require_behavior, 'no_prompt', 'the default');
});

test('signing in to an organization: a member gets org_id in the ID and access tokens, by id or by name, and through a refresh; event.organization', async () => {
  await deployAction(ts, {
    name: 'org-claims', trigger: 'post-login',
    code: `exports.onExecutePostLogin = async (event, api) => {
      if (event.organization) api.idToken.setCustomClaim('https://b2b.example/org', event.organization.name + '/' + event.organization.metadata.tier);
    };`,
  });
  await bindActions(ts, 'post-login', ['org-claims']);
  const jwks = createRemoteJWKSet(new URL(`${ts.base}/.well-known/jwks.json`));
  for (const org of [acme.id, 'acme']) {
    const r = await signIn('member@acme.example', { organization: org, audience: API });
    assert.ok(r.callbackUrl, r.loginPage?.slice(0, 300));
    assert.equal(r.callbackUrl.searchParams.get('error'), null, r.callbackUrl.searchParams.get('error_description') ?? '');
    const t = await oidc.authorizationCodeGrant(config, r.callbackUrl, { pkceCodeVerifier: r.verifier, expectedState: r.state });
    assert.equal(t.claims()?.org_id, acme.id);
    assert.equal(t.claims()?.['https://b2b.example/org'], 'acme/gold');
    const at = (await jwtVerify(t.access_token, jwks, { issuer: ts.issuer, audience: API })).payload;
    assert.equal(at.org_id, acme.id);
    const refreshed = await oidc.refreshTokenGrant(config, t.refresh_token!);
    assert.equal(refreshed.claims()?.org_id, acme.id, 'a refresh keeps the organization');
    assert.equal((await jwtVerify(refreshed.access_token, jwks, { issuer: ts.issuer, audience: API })).payload.org_id, acme.id);
  }
  // The application stops taking organization logins: the tokens issued in one stop refreshing.
  const before = await signIn('member@acme.example', { organization: acme.id });
  const bt = await oidc.authorizationCodeGrant(config, before.callbackUrl!, { pkceCodeVerifier: before.verifier, expectedState: before.state });
  assert.equal((await ts.api('PATCH', `/clients/${app.client_id}`, { organization_usage: 'deny' })).status, 200);
  await assert.rejects(oidc.refreshTokenGrant(config, bt.refresh_token!), (e: { error?: string }) => e.error === 'invalid_grant');
  assert.equal((await ts.api('PATCH', `/clients/${app.client_id}`, { organization_usage: 'allow' })).status, 200);
  // Without the parameter: no organization in the tokens.
  const plain = await signIn('member@acme.example', {});
  const t = await oidc.authorizationCodeGrant(config, plain.callbackUrl!, { pkceCodeVerifier: plain.verifier, expectedState: plain.state });
  assert.equal(t.claims()?.org_id, undefined);
  await bindActions(ts, 'post-login', []);
});

test('refusals: a non-member (access_denied, before any action runs), an unknown organization, an application that denies or requires organizations; a member removed cannot redeem or refresh', async () => {
  // A non-member is refused before a second factor or any post-login action (regression: the
  // chain ran, with event.organization set, and the login counted as a success, before the refusal).
  await deployAction(ts, { name: 'org-witness', trigger: 'post-login', code: `exports.onExecutePostLogin = async (event, api) => { api.user.setAppMetadata('seen_org', event.organization ? event.organization.id : null); };` });
  await bindActions(ts, 'post-login', ['org-witness']);
  const outsiderTry = await signIn('outsider@other.example', { organization: acme.id });
  assert.equal(outsiderTry.callbackUrl?.searchParams.get('error'), 'access_denied');
  assert.match(outsiderTry.callbackUrl?.searchParams.get('error_description') ?? '', /not a member/);
  const seen = (await ts.api('GET', `/users/${encodeURIComponent(outsider)}`)).body;
  assert.equal(seen.app_metadata?.seen_org, undefined, 'no action ran for the outsider');
  assert.equal(seen.logins_count ?? 0, 0, 'not counted as a login');
  const refusal = await ts.ctx.db('audit_logs').where({ user_id: outsider, type: 'f' }).first();
  assert.match(refusal.description, /not a member of organization/);
  // A sign-up on the organization's sign-in page makes an account that is nobody's member: refused as a login would be.
  const { url: orgUrl } = await authorizationRequest(config, { redirectUri: CB, scope: 'openid', params: { organization: acme.id } });
  const b = new Browser();
  const login = await b.follow(orgUrl, {}, (u) => u.href.startsWith(CB));
  const loginHtml = await login.res.text();
  const signupHref = /href="([^"]*\/signup\?interaction=[^"]*)"/.exec(loginHtml)?.[1]?.replace(/&amp;/g, '&');
  assert.ok(signupHref, 'the login page links the sign-up');
  const signupUrl = new URL(signupHref, ts.base);
  const form = await (await b.request(signupUrl)).text();
  const made = await b.submit(signupUrl, form, { email: 'newcomer@acme.example', password: PASSWORD });
  assert.equal(made.status, 303);
  const end = await b.follow(new URL(made.headers.get('location')!, ts.base), {}, (u) => u.href.startsWith(CB));
  assert.equal(end.url.searchParams.get('error'), 'access_denied');
  const newcomer = (await ts.api('GET', `/users-by-email?email=${encodeURIComponent('newcomer@acme.example')}`)).body[0];
  assert.equal(newcomer.app_metadata?.seen_org, undefined, 'no action ran for the new non-member either');
  await bindActions(ts, 'post-login', []);
  // An organization whose name begins with org_ is found by its name too.
  const odd = (await ts.api('POST', '/organizations', { name: 'org_named' })).body;
  await ts.api('POST', `/organizations/${odd.id}/members`, { members: [member] });
  const byOddName = await signIn('member@acme.example', { organization: 'org_named' });
  assert.equal(byOddName.callbackUrl?.searchParams.get('error'), null, byOddName.callbackUrl?.searchParams.get('error_description') ?? '');
  // Memberships are the organizations' to show: read:organizations, not read:users.
  assert.equal((await ts.api('GET', `/users/${encodeURIComponent(member)}/organizations`, undefined, await ts.adminToken('read:users'))).status, 403);

  const url = (params: Record<string, string>, c = config) => oidc.buildAuthorizationUrl(c, { redirect_uri: CB, scope: 'openid', code_challenge: 'x'.repeat(43), code_challenge_method: 'S256', ...params });
  const errorOf = async (u: URL) => {
    const res = await new Browser().request(u);
    const to = new URL(res.headers.get('location') ?? 'http://x/', u);
    return { error: to.searchParams.get('error'), description: to.searchParams.get('error_description') ?? '' };
  };
  assert.deepEqual(await errorOf(url({ organization: 'org_nope' })), { error: 'invalid_request', description: 'no organization found by that id or name' });
  const denying = (await ts.api('POST', '/clients', { name: 'No orgs', app_type: 'regular_web', callbacks: [CB] })).body;
  assert.equal(denying.organization_usage, 'deny', 'Auth0\'s default');
  const denyConfig = await discover(ts, denying.client_id, denying.client_secret);
  assert.match((await errorOf(url({ organization: acme.id }, denyConfig))).description, /does not take organization logins/);
  assert.equal((await ts.api('PATCH', `/clients/${denying.client_id}`, { organization_usage: 'require' })).status, 200);
  assert.match((await errorOf(url({}, denyConfig))).description, /organization parameter is required/);

  // Taken out of the organization: the refresh token issued in it stops there, before it is spent,
  // and a code issued before the removal no longer redeems (regression: it gave tokens with org_id).
  const r = await signIn('member@acme.example', { organization: acme.id });
  const t = await oidc.authorizationCodeGrant(config, r.callbackUrl!, { pkceCodeVerifier: r.verifier, expectedState: r.state });
  const pending = await signIn('member@acme.example', { organization: acme.id });
  assert.equal((await ts.api('DELETE', `/organizations/${acme.id}/members`, { members: [member] })).status, 204);
  await assert.rejects(oidc.refreshTokenGrant(config, t.refresh_token!), (e: { error?: string }) => e.error === 'invalid_grant');
  await assert.rejects(oidc.authorizationCodeGrant(config, pending.callbackUrl!, { pkceCodeVerifier: pending.verifier, expectedState: pending.state }), (e: { error?: string }) => e.error === 'invalid_grant');
  const why = await ts.ctx.db('audit_logs').where({ client_id: app.client_id, type: 'fertft' }).orderBy('seq', 'desc').first();
  assert.match(why.description, /no longer a member/, 'the audit says why');
  assert.deepEqual((await ts.api('GET', `/users/${encodeURIComponent(member)}/organizations`)).body.map((o: { name: string }) => o.name), ['org_named']);
  // Deleting the organization takes its memberships and member roles along.
  await ts.api('POST', `/organizations/${acme.id}/members`, { members: [member] });
  assert.equal((await ts.api('DELETE', `/organizations/${acme.id}`)).status, 204);
  assert.equal(Number((await ts.ctx.db('organization_members').where({ org_id: acme.id }).count({ n: '*' }))[0].n), 0);
});

test('signed in to an organization, the roles that apply are the member\'s there: event.authorization.roles and the access token\'s permissions, through a refresh', async () => {
  const RBAC = 'https://rbac.b2b.example';
  assert.equal((await ts.api('POST', '/resource-servers', {
    name: 'B2B RBAC API', identifier: RBAC, enforce_policies: true, token_dialect: 'access_token_authz',
    scopes: [{ value: 'read:own', description: '' }, { value: 'read:org', description: '' }],
  })).status, 201);
  const perm = (p: string) => ({ resource_server_identifier: RBAC, permission_name: p });
  const ownRole = (await ts.api('POST', '/roles', { name: 'own-role' })).body.id;
  const orgRole = (await ts.api('POST', '/roles', { name: 'org-role' })).body.id;
  await ts.api('POST', `/roles/${ownRole}/permissions`, { permissions: [perm('read:own')] });
  await ts.api('POST', `/roles/${orgRole}/permissions`, { permissions: [perm('read:org')] });
  const user = (await ts.api('POST', '/users', { email: 'roles@beta.example', password: PASSWORD })).body.user_id;
  const beta = (await ts.api('POST', '/organizations', { name: 'beta' })).body;
  assert.equal((await ts.api('POST', `/organizations/${beta.id}/members`, { members: [user] })).status, 204);
  assert.equal((await ts.api('POST', `/users/${encodeURIComponent(user)}/roles`, { roles: [ownRole] })).status, 204);
  assert.equal((await ts.api('POST', `/organizations/${beta.id}/members/${encodeURIComponent(user)}/roles`, { roles: [orgRole] })).status, 204);
  await deployAction(ts, { name: 'roles-claim', trigger: 'post-login', code: `exports.onExecutePostLogin = async (event, api) => { api.idToken.setCustomClaim('https://b2b.example/roles', event.authorization.roles); };` });
  await bindActions(ts, 'post-login', ['roles-claim']);
  const login = async (params: Record<string, string>) => {
    const r = await loginThroughForm(config, { redirectUri: CB, email: 'roles@beta.example', password: PASSWORD, scope: 'openid offline_access read:own read:org', params: { prompt: 'consent', audience: RBAC, ...params } });
    assert.equal(r.callbackUrl?.searchParams.get('error'), null, r.callbackUrl?.searchParams.get('error_description') ?? r.loginPage?.slice(0, 300));
    return oidc.authorizationCodeGrant(config, r.callbackUrl!, { pkceCodeVerifier: r.verifier, expectedState: r.state });
  };
  const at = (t: { access_token: string }) => JSON.parse(Buffer.from(t.access_token.split('.')[1], 'base64url').toString()) as { permissions?: string[]; scope?: string; org_id?: string };
  try {
    const plain = await login({});
    assert.deepEqual(plain.claims()?.['https://b2b.example/roles'], ['own-role']);
    assert.deepEqual(at(plain).permissions, ['read:own']);
    assert.doesNotMatch(at(plain).scope ?? '', /read:org/);
    // The organization by name: the member's roles there, and only theirs.
    const inOrg = await login({ organization: 'beta' });
    assert.deepEqual(inOrg.claims()?.['https://b2b.example/roles'], ['org-role']);
    assert.deepEqual(at(inOrg).permissions, ['read:org']);
    assert.match(at(inOrg).scope ?? '', /read:org/);
    assert.doesNotMatch(at(inOrg).scope ?? '', /read:own/);
    assert.equal(at(inOrg).org_id, beta.id);
    const refreshed = await oidc.refreshTokenGrant(config, inOrg.refresh_token!);
    assert.deepEqual(at(refreshed).permissions, ['read:org'], 'a refresh reads the organization\'s roles again');
    // The member role taken away: the next refresh carries nothing of it (the user's own role does not stand in).
    assert.equal((await ts.api('DELETE', `/organizations/${beta.id}/members/${encodeURIComponent(user)}/roles`, { roles: [orgRole] })).status, 204);
    const after = await oidc.refreshTokenGrant(config, refreshed.refresh_token!);
    assert.deepEqual(at(after).permissions, []);
    assert.doesNotMatch(at(after).scope ?? '', /read:(own|org)/);
  } finally {
    await bindActions(ts, 'post-login', []);
  }
});

test('an organization login the session answers, by name, gets the member roles\' scopes; logins in and out of an organization in one browser keep each other\'s refresh tokens whole', async () => {
  // Regressions (review): on /authorize the RBAC answer came before the organization's name was
  // made an id (no scopes for a silent login by name); and the session's one grant, narrowed by
  // each login to its own context, took the other context's scopes from its refresh tokens.
  const RBAC = 'https://rbac2.b2b.example';
  assert.equal((await ts.api('POST', '/resource-servers', {
    name: 'B2B RBAC API 2', identifier: RBAC, enforce_policies: true, token_dialect: 'access_token_authz',
    scopes: [{ value: 'read:own', description: '' }, { value: 'read:org', description: '' }],
  })).status, 201);
  const perm = (p: string) => ({ resource_server_identifier: RBAC, permission_name: p });
  const ownRole = (await ts.api('POST', '/roles', { name: 'own-role-2' })).body.id;
  const orgRole = (await ts.api('POST', '/roles', { name: 'org-role-2' })).body.id;
  await ts.api('POST', `/roles/${ownRole}/permissions`, { permissions: [perm('read:own')] });
  await ts.api('POST', `/roles/${orgRole}/permissions`, { permissions: [perm('read:org')] });
  const EMAIL = 'roles@gamma.example';
  const user = (await ts.api('POST', '/users', { email: EMAIL, password: PASSWORD })).body.user_id;
  const gamma = (await ts.api('POST', '/organizations', { name: 'gamma' })).body;
  await ts.api('POST', `/organizations/${gamma.id}/members`, { members: [user] });
  await ts.api('POST', `/users/${encodeURIComponent(user)}/roles`, { roles: [ownRole] });
  await ts.api('POST', `/organizations/${gamma.id}/members/${encodeURIComponent(user)}/roles`, { roles: [orgRole] });
  const SCOPE = 'openid offline_access read:own read:org';
  const at = (t: { access_token: string }) => JSON.parse(Buffer.from(t.access_token.split('.')[1], 'base64url').toString()) as { permissions?: string[]; scope?: string };
  const formLogin = async (browser: Browser, params: Record<string, string>) => {
    const r = await loginThroughForm(config, { browser, redirectUri: CB, email: EMAIL, password: PASSWORD, scope: SCOPE, params: { prompt: 'consent', audience: RBAC, ...params } });
    assert.equal(r.callbackUrl?.searchParams.get('error'), null, r.callbackUrl?.searchParams.get('error_description') ?? r.loginPage?.slice(0, 300));
    return oidc.authorizationCodeGrant(config, r.callbackUrl!, { pkceCodeVerifier: r.verifier, expectedState: r.state });
  };
  const silentLogin = async (browser: Browser, params: Record<string, string>) => {
    const { url, verifier, state } = await authorizationRequest(config, { redirectUri: CB, scope: SCOPE, params: { audience: RBAC, prompt: 'none', ...params } });
    const { url: cb } = await browser.follow(url, {}, (u) => u.href.startsWith(CB));
    assert.equal(cb.searchParams.get('error'), null, cb.searchParams.get('error_description') ?? '');
    return oidc.authorizationCodeGrant(config, cb, { pkceCodeVerifier: verifier, expectedState: state });
  };
  const scopes = (t: { access_token: string }) => (at(t).scope ?? '').split(' ').filter((x) => x.startsWith('read:')).sort();

  const b1 = new Browser();
  const first = await formLogin(b1, { organization: gamma.id });
  assert.deepEqual(scopes(first), ['read:org']);
  const byName = await silentLogin(b1, { organization: 'gamma' });
  assert.deepEqual([scopes(byName), at(byName).permissions], [['read:org'], ['read:org']], 'by name as by id');

  // A plain login's refresh token after an organization login in the same browser, and the other way round.
  const b2 = new Browser();
  const plain = await formLogin(b2, {});
  assert.deepEqual(scopes(plain), ['read:own']);
  assert.deepEqual(scopes(await silentLogin(b2, { organization: gamma.id })), ['read:org']);
  const plainRefreshed = await oidc.refreshTokenGrant(config, plain.refresh_token!);
  assert.deepEqual([scopes(plainRefreshed), at(plainRefreshed).permissions], [['read:own'], ['read:own']]);
  const b3 = new Browser();
  const inOrg = await formLogin(b3, { organization: gamma.id });
  assert.deepEqual(scopes(await silentLogin(b3, {})), ['read:own']);
  const orgRefreshed = await oidc.refreshTokenGrant(config, inOrg.refresh_token!);
  assert.deepEqual([scopes(orgRefreshed), at(orgRefreshed).permissions], [['read:org'], ['read:org']]);
  // What a refresh gives is still cut to what is held now, in the token's own context.
  await ts.api('DELETE', `/users/${encodeURIComponent(user)}/roles`, { roles: [ownRole] });
  const cut = await oidc.refreshTokenGrant(config, plainRefreshed.refresh_token!);
  assert.deepEqual([scopes(cut), at(cut).permissions], [[], []]);
});
