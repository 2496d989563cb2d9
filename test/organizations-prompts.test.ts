import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import { startTestServer, discover, authorizationRequest, type TestServer } from './helpers/server.ts';
import { Browser, alertText } from './helpers/cookie-fetch.ts';
import { bindActions, deployAction } from './helpers/actions.ts';

/*
 * Auth0's organization prompts: an application that requires an organization (organization_usage
 * `require`) but does not know which one asks the user, for its name before the login
 * (`pre_login_prompt`) or to pick one of theirs after the password (`post_login_prompt`). The
 * organization chosen is the authorization's from then on: membership checked, org_id in the
 * tokens, event.organization for post-login actions.
 */

const CB = 'https://prompts.example/callback';
const PASSWORD = 'correct horse battery';
let ts: TestServer;
let pre: oidc.Configuration;
let post: oidc.Configuration;
let acme: { id: string; name: string };
let globex: { id: string; name: string };

before(async () => {
  ts = await startTestServer();
  const mk = async (name: string, behavior: string) => {
    const c = (await ts.api('POST', '/clients', { name, app_type: 'regular_web', callbacks: [CB], organization_usage: 'require', organization_require_behavior: behavior })).body;
    return discover(ts, c.client_id, c.client_secret);
  };
  pre = await mk('Pre App', 'pre_login_prompt');
  post = await mk('Post App', 'post_login_prompt');
  acme = (await ts.api('POST', '/organizations', { name: 'acme', display_name: 'Acme Corp' })).body;
  globex = (await ts.api('POST', '/organizations', { name: 'globex', display_name: 'Globex' })).body;
  const user = async (email: string, orgs: { id: string }[]) => {
    const u = (await ts.api('POST', '/users', { email, password: PASSWORD })).body;
    for (const o of orgs) assert.equal((await ts.api('POST', `/organizations/${o.id}/members`, { members: [u.user_id] })).status, 204);
    return u.user_id as string;
  };
  await user('both@prompts.example', [acme, globex]);
  await user('acme@prompts.example', [acme]);
  await user('none@prompts.example', []);
  await deployAction(ts, { name: 'org-seen', trigger: 'post-login', code: `exports.onExecutePostLogin = async (event, api) => {
    api.idToken.setCustomClaim('https://prompts.example/org', event.organization ? event.organization.name : null);
  };` });
  await bindActions(ts, 'post-login', ['org-seen']);
});
after(async () => { await ts?.close(); });

const atCallback = (u: URL) => u.href.startsWith(CB);
/** Follows `url` in `b` and answers the page it rests on, or the callback. */
async function open(b: Browser, url: URL) {
  const r = await b.follow(url, {}, atCallback);
  return { url: r.url, status: r.res.status, html: atCallback(r.url) ? '' : await r.res.text() };
}
/** Submits the page's form with `fields` and follows on. */
async function send(b: Browser, at: { url: URL; html: string }, fields: Record<string, string>, actionIncludes?: string) {
  const posted = await b.submit(at.url, at.html, fields, actionIncludes ? { actionIncludes } : {});
  if (posted.status < 300 || posted.status >= 400) return { url: at.url, status: posted.status, html: await posted.text() };
  return open(b, new URL(posted.headers.get('location')!, at.url));
}
async function tokensAt(cfg: oidc.Configuration, url: URL, req: { verifier: string; state: string }) {
  return oidc.authorizationCodeGrant(cfg, url, { pkceCodeVerifier: req.verifier, expectedState: req.state });
}
const orgButtons = (html: string) => [...html.matchAll(/<button type="submit" class="secondary" name="organization" value="([^"]+)">([^<]+)<\/button>/g)].map((m) => [m[1], m[2]]);

test('pre_login_prompt: the organization\'s name first (an unknown one is said so), then the login; org_id and event.organization', async () => {
  const req = await authorizationRequest(pre, { redirectUri: CB, scope: 'openid email' });
  const b = new Browser();
  const asked = await open(b, req.url);
  assert.equal(asked.status, 200);
  assert.match(asked.html, /Enter your organization/);
  assert.match(asked.html, /<label for="organization">Organization name<input id="organization" name="organization"/);
  const unknown = await send(b, asked, { organization: 'initech' });
  assert.equal(unknown.status, 400);
  assert.match(alertText(unknown.html) ?? '', /No organization goes by that name/);
  assert.match(unknown.html, /value="initech"/, 'what was typed stays');
  const login = await send(b, unknown, { organization: 'ACME ' });
  assert.match(login.html, /name="password"/, 'the login page, once the organization is known');
  const done = await send(b, login, { email: 'acme@prompts.example', password: PASSWORD });
  assert.ok(atCallback(done.url) && done.url.searchParams.get('code'), done.url.href);
  const t = await tokensAt(pre, done.url, req);
  assert.equal(t.claims()!.org_id, acme.id);
  assert.equal(t.claims()!['https://prompts.example/org'], 'acme');
});

test('pre_login_prompt: a user who is not a member of the organization named gets access_denied; prompt=none gets interaction_required', async () => {
  const req = await authorizationRequest(pre, { redirectUri: CB, scope: 'openid' });
  const b = new Browser();
  const login = await send(b, await open(b, req.url), { organization: 'globex' });
  const done = await send(b, login, { email: 'acme@prompts.example', password: PASSWORD });
  assert.equal(done.url.searchParams.get('error'), 'access_denied');
  assert.equal(done.url.searchParams.get('code'), null);
  const silent = await authorizationRequest(pre, { redirectUri: CB, scope: 'openid', params: { prompt: 'none' } });
  const s = await open(new Browser(), silent.url);
  assert.equal(s.url.searchParams.get('error'), 'interaction_required');
});

test('post_login_prompt: after the password the user picks one of their organizations; the actions run in it; a forged pick is refused', async () => {
  const req = await authorizationRequest(post, { redirectUri: CB, scope: 'openid email' });
  const b = new Browser();
  const login = await open(b, req.url);
  assert.match(login.html, /name="password"/, 'the login comes first');
  const picker = await send(b, login, { email: 'both@prompts.example', password: PASSWORD });
  assert.match(picker.html, /Choose an organization/);
  assert.deepEqual(orgButtons(picker.html), [[acme.id, 'Acme Corp'], [globex.id, 'Globex']]);
  // An organization of someone else's (or none at all) is not a choice.
  const other = (await ts.api('POST', '/organizations', { name: 'initech' })).body;
  const forged = await send(b, picker, { organization: other.id });
  assert.equal(forged.status, 400);
  assert.match(alertText(forged.html) ?? '', /Choose one of your organizations/);
  const done = await send(b, forged, { organization: globex.id });
  assert.ok(atCallback(done.url) && done.url.searchParams.get('code'), done.url.href);
  const t = await tokensAt(post, done.url, req);
  assert.equal(t.claims()!.org_id, globex.id);
  assert.equal(t.claims()!['https://prompts.example/org'], 'globex', 'the post-login action ran in the organization picked');

  // The session answers the next authorization: the picker again (no password), then a code.
  const again = await authorizationRequest(post, { redirectUri: CB, scope: 'openid' });
  const sso = await open(b, again.url);
  assert.match(sso.html, /Choose an organization/);
  assert.doesNotMatch(sso.html, /name="password"/);
  const ssoDone = await send(b, sso, { organization: acme.id });
  const t2 = await tokensAt(post, ssoDone.url, again);
  assert.equal(t2.claims()!.org_id, acme.id);
  assert.equal(t2.claims()!['https://prompts.example/org'], 'acme');
  // Silently, nobody can pick: interaction_required.
  const silent = await authorizationRequest(post, { redirectUri: CB, scope: 'openid', params: { prompt: 'none' } });
  assert.equal((await open(b, silent.url)).url.searchParams.get('error'), 'interaction_required');
});

test('post_login_prompt: someone in no organization gets access_denied, audited; the picker is not reachable without a password checked', async () => {
  const req = await authorizationRequest(post, { redirectUri: CB, scope: 'openid' });
  const b = new Browser();
  const login = await open(b, req.url);
  const uid = login.url.pathname.split('/').at(-1)!;
  // Straight to the picker, before any password: nothing to choose.
  const early = await b.request(new URL(`/interaction/${uid}/organization`, ts.base));
  assert.equal(early.status, 400);
  const done = await send(b, login, { email: 'none@prompts.example', password: PASSWORD });
  assert.equal(done.url.searchParams.get('error'), 'access_denied');
  assert.match(done.url.searchParams.get('error_description') ?? '', /not a member of any organization/);
  const logs = (await ts.api('GET', '/logs?q=type:f')).body as { description: string; user_name?: string }[];
  assert.ok(logs.some((l) => /not a member of any organization/.test(l.description)), JSON.stringify(logs.slice(0, 3)));
});

test('a device still has to name the organization (no prompt there); naming one needs no prompt', async () => {
  const dev = (await ts.api('POST', '/clients', { name: 'Device App', app_type: 'native', grant_types: ['urn:ietf:params:oauth:grant-type:device_code', 'refresh_token'], organization_usage: 'require', organization_require_behavior: 'post_login_prompt' })).body;
  const r = await fetch(`${ts.base}/oauth/device/code`, { method: 'POST', body: new URLSearchParams({ client_id: dev.client_id, scope: 'openid' }) });
  assert.equal(r.status, 400);
  assert.match(((await r.json()) as { error_description: string }).error_description, /organization parameter is required/);
  // The browser application that names it goes straight to the login.
  const req = await authorizationRequest(post, { redirectUri: CB, scope: 'openid', params: { organization: 'acme' } });
  const b = new Browser();
  const done = await send(b, await open(b, req.url), { email: 'acme@prompts.example', password: PASSWORD });
  assert.equal((await tokensAt(post, done.url, req)).claims()!.org_id, acme.id);
});

test('post_login_prompt: a password changed while the user is at the picker ends that login', async () => {
  const u = (await ts.api('POST', '/users', { email: 'changed@prompts.example', password: PASSWORD })).body;
  await ts.api('POST', `/organizations/${acme.id}/members`, { members: [u.user_id] });
  const req = await authorizationRequest(post, { redirectUri: CB, scope: 'openid' });
  const b = new Browser();
  const picker = await send(b, await open(b, req.url), { email: 'changed@prompts.example', password: PASSWORD });
  assert.match(picker.html, /Choose an organization/);
  assert.equal((await ts.api('PATCH', `/users/${encodeURIComponent(u.user_id)}`, { password: 'another password 4321' })).status, 200);
  const done = await send(b, picker, { organization: acme.id });
  assert.equal(done.url.searchParams.get('code'), null, done.url.href);
  assert.equal(done.status, 400);
  assert.match(alertText(done.html) ?? '', /start again/);
});

test('post_login_prompt with a session and the login asked for again (prompt=login, max_age=0): the password first, then the pick', async () => {
  // Regression of a review: the picker came before the login, listing the session's user's
  // organizations (and binding the next login to one of them), or refusing outright.
  const b = new Browser();
  const first = await authorizationRequest(post, { redirectUri: CB, scope: 'openid' });
  const picked = await send(b, await send(b, await open(b, first.url), { email: 'both@prompts.example', password: PASSWORD }), { organization: acme.id });
  assert.ok(picked.url.searchParams.get('code'));
  const asks: Record<string, string>[] = [{ prompt: 'login' }, { max_age: '0' }];
  for (const params of asks) {
    const req = await authorizationRequest(post, { redirectUri: CB, scope: 'openid', params });
    const login = await open(b, req.url);
    assert.match(login.html, /name="password"/, `${JSON.stringify(params)}: the login first`);
    const picker = await send(b, login, { email: 'both@prompts.example', password: PASSWORD });
    assert.deepEqual(orgButtons(picker.html).map(([id]) => id), [acme.id, globex.id]);
    const done = await send(b, picker, { organization: globex.id });
    assert.equal((await tokensAt(post, done.url, req)).claims()!.org_id, globex.id);
  }
  // A session of someone in no organization, asked to log in again: the login form, not a refusal.
  const c = new Browser();
  const none = await send(c, await open(c, (await authorizationRequest(post, { redirectUri: CB, scope: 'openid' })).url), { email: 'none@prompts.example', password: PASSWORD });
  assert.equal(none.url.searchParams.get('error'), 'access_denied');
  const again = await open(c, (await authorizationRequest(post, { redirectUri: CB, scope: 'openid', params: { prompt: 'login' } })).url);
  assert.match(again.html, /name="password"/);
});

test('the picker lists organizations by display name; past 100 it says how many more; the refusal of someone in none names them in the audit log', async () => {
  const u = (await ts.api('POST', '/users', { email: 'many@prompts.example', password: PASSWORD })).body;
  const names = Array.from({ length: 101 }, (_, i) => `org-many-${String(i).padStart(3, '0')}`);
  for (const name of [...names].reverse()) {
    const o = (await ts.api('POST', '/organizations', { name, display_name: name.toUpperCase() })).body;
    await ts.api('POST', `/organizations/${o.id}/members`, { members: [u.user_id] });
  }
  const b = new Browser();
  const picker = await send(b, await open(b, (await authorizationRequest(post, { redirectUri: CB, scope: 'openid' })).url), { email: 'many@prompts.example', password: PASSWORD });
  const shown = orgButtons(picker.html).map(([, label]) => label);
  assert.deepEqual(shown, names.slice(0, 100).map((n) => n.toUpperCase()));
  assert.match(picker.html, /and 1 more, not listed here/);
  const logs = (await ts.api('GET', '/logs?q=type:f')).body as { description: string; user_name?: string }[];
  const refusal = logs.find((l) => /not a member of any organization/.test(l.description));
  assert.equal(refusal?.user_name, 'none@prompts.example');
});

test('PATCH organization_require_behavior: null is the default, as Auth0\'s schema allows', async () => {
  const c = (await ts.api('POST', '/clients', { name: 'Null App', app_type: 'regular_web', callbacks: [CB], organization_usage: 'require', organization_require_behavior: 'pre_login_prompt' })).body;
  const r = await ts.api('PATCH', `/clients/${c.client_id}`, { organization_require_behavior: null });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.organization_require_behavior, 'no_prompt');
});

test('the picker orders by the name shown (the display name, else the name), whatever its case', async () => {
  // Regression of a review: the SQL ordered by the raw display name, so one without a display
  // name came first and, on SQLite, "Charlie" before "beta corp".
  const u = (await ts.api('POST', '/users', { email: 'order@prompts.example', password: PASSWORD })).body;
  for (const [name, display_name] of [['zeta', ''], ['charlie', 'Charlie'], ['beta', 'beta corp'], ['alpha', 'Alpha'], ['esc', '<b>&"q"']]) {
    const o = (await ts.api('POST', '/organizations', { name: `order-${name}`, ...(display_name ? { display_name } : {}) })).body;
    await ts.api('POST', `/organizations/${o.id}/members`, { members: [u.user_id] });
  }
  const b = new Browser();
  const picker = await send(b, await open(b, (await authorizationRequest(post, { redirectUri: CB, scope: 'openid' })).url), { email: 'order@prompts.example', password: PASSWORD });
  assert.deepEqual(orgButtons(picker.html).map(([, label]) => label), ['&lt;b&gt;&amp;&quot;q&quot;', 'Alpha', 'beta corp', 'Charlie', 'order-zeta']);
});

test('past 100 organizations the picker shows the first 100 in the order it shows them (numbers and accents as a person reads them)', async () => {
  // Regression of a review: the page of 100 was chosen in SQL, which orders text its own way
  // (Team 100 before Team 95; on SQLite, É after Z), then sorted by the browser's rules.
  const u = (await ts.api('POST', '/users', { email: 'teams@prompts.example', password: PASSWORD })).body;
  const labels = [...Array.from({ length: 104 }, (_, i) => `Team ${i + 1}`), 'Éclair'];
  for (const [i, label] of labels.entries()) {
    const o = (await ts.api('POST', '/organizations', { name: `teams-${i}`, display_name: label })).body;
    await ts.api('POST', `/organizations/${o.id}/members`, { members: [u.user_id] });
  }
  const b = new Browser();
  const picker = await send(b, await open(b, (await authorizationRequest(post, { redirectUri: CB, scope: 'openid' })).url), { email: 'teams@prompts.example', password: PASSWORD });
  const shown = orgButtons(picker.html).map(([, label]) => label);
  assert.deepEqual(shown, ['Éclair', ...labels.slice(0, 99)]);
  assert.match(picker.html, /and 5 more, not listed here/);
});
