import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as oidc from 'openid-client';
import { createUser, discover, loginThroughForm, loginWithRefreshToken, startTestServer, type TestServer } from './helpers/server.ts';
import { bindActions, deployAction, latestExecution, startContinueBounce } from './helpers/actions.ts';
import { expectOAuthError } from './helpers/oidc-assert.ts';
import { up as backfillFamilies, down as forgetFamilies } from '../migrations/20261125090000_refresh_token_families.ts';

/*
 * Auth0's refresh-token metadata: api.refreshToken.setMetadata / deleteMetadata / evictMetadata
 * in post-login (at a login, for the refresh token its code issues; on a refresh, for the token
 * it issues), event.refresh_token.metadata on a refresh, and the Management API's refresh tokens
 * (GET /users/{id}/refresh-tokens, GET / PATCH / DELETE /refresh-tokens/{id},
 * DELETE /users/{id}/refresh-tokens). A rotating token keeps its id and its metadata.
 */

const API = 'https://rtm.api.example';
const CB = 'https://app-5193.example/cb';
const PASSWORD = 'refresh token metadata password 1';
let ts: TestServer;
let config: oidc.Configuration;
let bounce: Awaited<ReturnType<typeof startContinueBounce>>;

before(async () => {
  ts = await startTestServer();
  await ts.api('POST', '/resource-servers', { name: 'RTM API', identifier: API, scopes: [{ value: 'read:things', description: 'r' }] });
  const spa = (await ts.api('POST', '/clients', { name: 'RTM SPA', app_type: 'spa', callbacks: [CB] })).body;
  config = await discover(ts, spa.client_id);
  bounce = await startContinueBounce(() => ts.issuer);
});
after(async () => { await ts?.close(); await bounce?.close(); });

const login = (email: string) => loginWithRefreshToken(config, { redirectUri: CB, email, password: PASSWORD, audience: API });
const appMetadata = async (userId: string) => (await ts.api('GET', `/users/${encodeURIComponent(userId)}`)).body.app_metadata;
const tokensOf = async (userId: string) => {
  const r = await ts.api('GET', `/users/${encodeURIComponent(userId)}/refresh-tokens`);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.tokens as { id: string; refresh_token_metadata: Record<string, string>; [k: string]: unknown }[];
};

test('set at a login, kept by the token its code issues; a refresh sees it, changes it, and the next action sees that at once', async (t) => {
  t.after(() => bindActions(ts, 'post-login', []));
  await deployAction(ts, { name: 'rtm-writer', trigger: 'post-login', code: `
    exports.onExecutePostLogin = async (event, api) => {
      if (event.transaction.protocol !== 'oauth2-refresh-token') {
        api.user.setAppMetadata('at_login', event.refresh_token ?? 'none');
        api.refreshToken.setMetadata('device_name', 'Work phone').refreshToken.setMetadata('first-seen', 'login');
        return;
      }
      api.user.setAppMetadata('writer_saw', { id: event.refresh_token.id, metadata: event.refresh_token.metadata });
      const n = Number(event.refresh_token.metadata.refreshes ?? '0') + 1;
      api.refreshToken.setMetadata('refreshes', String(n));
      if (n === 2) api.refreshToken.deleteMetadata('first-seen');
    };` });
  await deployAction(ts, { name: 'rtm-reader', trigger: 'post-login', code: `
    exports.onExecutePostLogin = async (event, api) => {
      if (event.refresh_token) api.user.setAppMetadata('reader_saw', event.refresh_token.metadata);
    };` });
  await bindActions(ts, 'post-login', ['rtm-writer', 'rtm-reader']);
  const user = await createUser(ts, 'phone@rtm.example', PASSWORD);
  const { tokens } = await login('phone@rtm.example');
  assert.equal((await appMetadata(user.user_id)).at_login, 'none', 'a login has no refresh token yet: metadata is only written');

  const [listed] = await tokensOf(user.user_id);
  assert.match(listed.id, /^rt_[A-Za-z0-9_-]{22}$/);
  assert.deepEqual(listed.refresh_token_metadata, { device_name: 'Work phone', 'first-seen': 'login' });
  assert.equal(listed.client_id, config.clientMetadata().client_id);
  assert.equal(listed.user_id, user.user_id);
  assert.equal(listed.rotating, true);
  assert.deepEqual(listed.resource_servers, [{ audience: API, scopes: 'read:things' }]);
  assert.ok(!JSON.stringify(listed).includes(tokens.refresh_token!), 'never the token itself');
  const one = await ts.api('GET', `/refresh-tokens/${listed.id}`);
  assert.equal(one.status, 200);
  assert.deepEqual(one.body, listed);

  const first = await oidc.refreshTokenGrant(config, tokens.refresh_token!);
  let md = await appMetadata(user.user_id);
  assert.deepEqual(md.writer_saw, { id: listed.id, metadata: { device_name: 'Work phone', 'first-seen': 'login' } }, 'the refresh sees what the login set, under the id the Management API shows');
  assert.deepEqual(md.reader_saw, { device_name: 'Work phone', 'first-seen': 'login', refreshes: '1' }, 'the next action sees the change at once');

  // Rotated: the same id, the metadata kept with the change; the consumed token is not listed.
  const afterOne = await tokensOf(user.user_id);
  assert.equal(afterOne.length, 1);
  assert.equal(afterOne[0].id, listed.id, 'a rotating token keeps its id');
  assert.deepEqual(afterOne[0].refresh_token_metadata, { device_name: 'Work phone', 'first-seen': 'login', refreshes: '1' });
  assert.ok(afterOne[0].last_exchanged_at, 'and shows its last exchange');

  await oidc.refreshTokenGrant(config, first.refresh_token!);
  md = await appMetadata(user.user_id);
  assert.deepEqual(md.writer_saw.metadata, { device_name: 'Work phone', 'first-seen': 'login', refreshes: '1' });
  assert.deepEqual((await tokensOf(user.user_id))[0].refresh_token_metadata, { device_name: 'Work phone', refreshes: '2' });
});

test('keys and values Auth0 refuses throw where they are set; at most 25 keys; a denied refresh changes nothing', async (t) => {
  t.after(() => bindActions(ts, 'post-login', []));
  await deployAction(ts, { name: 'rtm-bad', trigger: 'post-login', code: `
    exports.onExecutePostLogin = async (event, api) => {
      if (event.transaction.protocol === 'oauth2-refresh-token') {
        api.refreshToken.setMetadata('changed', 'yes');
        if (event.user.app_metadata.deny_refresh) api.access.deny('not now');
        return;
      }
      const tries = [['n', 1], ['o', { a: 1 }], ['', 'x'], ['has space', 'x'], ['dot.ted', 'x'], ['__proto__', 'x'], ['long', 'x'.repeat(256)], ['k'.repeat(256), 'x'], ['nul', 'a\\u0000b'], ['lone', '\\ud800']];
      const out = tries.map(([k, v]) => { try { api.refreshToken.setMetadata(k, v); return 'set'; } catch (e) { return e.name; } });
      for (let i = 0; i < 25; i++) api.refreshToken.setMetadata('k' + i, String(i));
      let over; try { api.refreshToken.setMetadata('k25', 'x'); over = 'set'; } catch (e) { over = e.name; }
      api.refreshToken.deleteMetadata('k24');
      api.refreshToken.setMetadata('k25', 'room again');
      api.user.setAppMetadata('rtm_bad', { out, over });
    };` });
  await bindActions(ts, 'post-login', ['rtm-bad']);
  const user = await createUser(ts, 'bad@rtm.example', PASSWORD);
  const { tokens } = await login('bad@rtm.example');
  const bad = (await appMetadata(user.user_id)).rtm_bad;
  assert.deepEqual(bad.out, ['TypeError', 'TypeError', 'TypeError', 'TypeError', 'TypeError', 'TypeError', 'RangeError', 'TypeError', 'TypeError', 'TypeError']);
  assert.equal(bad.over, 'RangeError');
  const [tok] = await tokensOf(user.user_id);
  assert.equal(Object.keys(tok.refresh_token_metadata).length, 25);
  assert.equal(tok.refresh_token_metadata.k25, 'room again');
  assert.equal(tok.refresh_token_metadata.k24, undefined);

  // A denied refresh issues nothing and changes nothing: the token keeps what it had.
  await ts.api('PATCH', `/users/${encodeURIComponent(user.user_id)}`, { app_metadata: { deny_refresh: true } });
  await expectOAuthError(oidc.refreshTokenGrant(config, tokens.refresh_token!), 'access_denied', 400);
  const [still] = await tokensOf(user.user_id);
  assert.equal(still.refresh_token_metadata.changed, undefined);
  assert.equal(Object.keys(still.refresh_token_metadata).length, 25);
});

test('the engine counts keys over the whole chain: the 26th is refused and named in the execution record', async (t) => {
  t.after(() => bindActions(ts, 'post-login', []));
  // At a login there is no event.refresh_token to show the second action the first one's keys,
  // so its own api lets 6 more through; the engine, which counts for the chain, refuses the 26th.
  await deployAction(ts, { name: 'rtm-fill-a', trigger: 'post-login', code: `
    exports.onExecutePostLogin = async (event, api) => { for (let i = 0; i < 20; i++) api.refreshToken.setMetadata('a' + i, 'x'); };` });
  await deployAction(ts, { name: 'rtm-fill-b', trigger: 'post-login', code: `
    exports.onExecutePostLogin = async (event, api) => { for (let i = 0; i < 6; i++) api.refreshToken.setMetadata('b' + i, 'y'); };` });
  await bindActions(ts, 'post-login', ['rtm-fill-a', 'rtm-fill-b']);
  const user = await createUser(ts, 'forged@rtm.example', PASSWORD);
  await login('forged@rtm.example');
  const exe = await latestExecution(ts, 'post-login');
  assert.deepEqual(exe.results[1].rejected_commands, ['refresh token metadata "b5" refused: at most 25 keys']);
  const [tok] = await tokensOf(user.user_id);
  assert.equal(Object.keys(tok.refresh_token_metadata).length, 25);
  assert.equal(tok.refresh_token_metadata.b5, undefined);
});

test('a login that redirects and resumes keeps what each part set; evictMetadata in a later part drops the earlier', async (t) => {
  t.after(() => bindActions(ts, 'post-login', []));
  await deployAction(ts, { name: 'rtm-redirect', trigger: 'post-login', code: `
    exports.onExecutePostLogin = async (event, api) => {
      if (event.transaction.protocol === 'oauth2-refresh-token') return;
      api.refreshToken.setMetadata('before', 'redirect');
      api.redirect.sendUserTo(${JSON.stringify(bounce.url)}, { query: { who: event.user.email } });
    };
    exports.onContinuePostLogin = async (event, api) => {
      if (event.user.app_metadata.evict) api.refreshToken.evictMetadata();
      api.refreshToken.setMetadata('after', 'continue');
    };` });
  await bindActions(ts, 'post-login', ['rtm-redirect']);
  const user = await createUser(ts, 'parts@rtm.example', PASSWORD);
  await login('parts@rtm.example');
  assert.deepEqual((await tokensOf(user.user_id))[0].refresh_token_metadata, { before: 'redirect', after: 'continue' });
  await ts.api('DELETE', `/users/${encodeURIComponent(user.user_id)}/refresh-tokens`);
  await ts.api('PATCH', `/users/${encodeURIComponent(user.user_id)}`, { app_metadata: { evict: true } });
  await login('parts@rtm.example');
  assert.deepEqual((await tokensOf(user.user_id))[0].refresh_token_metadata, { after: 'continue' });
});

test('the key limit holds across the parts of a login: the 26th key after a redirect is refused and named', async (t) => {
  // Regression (review): the part after the redirect counted from zero, and the merged change was
  // cut to 25 keys without a word.
  t.after(() => bindActions(ts, 'post-login', []));
  await deployAction(ts, { name: 'rtm-parts-cap', trigger: 'post-login', code: `
    exports.onExecutePostLogin = async (event, api) => {
      for (let i = 0; i < 25; i++) api.refreshToken.setMetadata('before' + i, 'x');
      api.redirect.sendUserTo(${JSON.stringify(bounce.url)}, { query: { who: event.user.email } });
    };
    exports.onContinuePostLogin = async (event, api) => {
      api.refreshToken.deleteMetadata('before0');
      api.refreshToken.setMetadata('after1', 'fits');
      api.refreshToken.setMetadata('after2', 'does not');
    };` });
  await bindActions(ts, 'post-login', ['rtm-parts-cap']);
  const user = await createUser(ts, 'cap-parts@rtm.example', PASSWORD);
  await login('cap-parts@rtm.example');
  const exe = await latestExecution(ts, 'post-login');
  assert.deepEqual(exe.results[0].rejected_commands, ['refresh token metadata "after2" refused: at most 25 keys']);
  const [tok] = await tokensOf(user.user_id);
  assert.equal(Object.keys(tok.refresh_token_metadata).length, 25);
  assert.equal(tok.refresh_token_metadata.after1, 'fits');
  assert.equal(tok.refresh_token_metadata.before0, undefined);
});

test('Management API: PATCH replaces the metadata (bad input refused, nothing changed); scopes; DELETE ends the token', async (t) => {
  t.after(() => bindActions(ts, 'post-login', []));
  await deployAction(ts, { name: 'rtm-seen', trigger: 'post-login', code: `
    exports.onExecutePostLogin = async (event, api) => { if (event.refresh_token) api.user.setAppMetadata('seen', event.refresh_token.metadata); };` });
  await bindActions(ts, 'post-login', ['rtm-seen']);
  const user = await createUser(ts, 'admin@rtm.example', PASSWORD);
  const { tokens } = await login('admin@rtm.example');
  const [tok] = await tokensOf(user.user_id);
  const path = `/refresh-tokens/${tok.id}`;

  for (const body of [{ refresh_token_metadata: { 'bad key': 'x' } }, { refresh_token_metadata: { k: 'x'.repeat(256) } }, { refresh_token_metadata: { k: 1 } },
    { refresh_token_metadata: Object.fromEntries(Array.from({ length: 26 }, (_, i) => [`k${i}`, 'v'])) }, { refresh_token_metadata: {}, user_id: 'x' }, { refresh_token_metadata: { k: 'a\u0000b' } }]) {
    const r = await ts.api('PATCH', path, body);
    assert.equal(r.status, 400, JSON.stringify(body));
    assert.match(r.body.message, /refresh_token_metadata|user_id/);
  }
  // The rule is said (it was "Invalid key in record").
  assert.match((await ts.api('PATCH', path, { refresh_token_metadata: { 'a.b': 'x' } })).body.message, /"a\.b": keys are 1 to 255 letters, digits, _ or -/);
  assert.deepEqual((await ts.api('GET', path)).body.refresh_token_metadata, {}, 'nothing changed');

  const readOnly = await ts.adminToken('read:refresh_tokens');
  assert.equal((await ts.api('PATCH', path, { refresh_token_metadata: { k: 'v' } }, readOnly)).status, 403);
  assert.equal((await ts.api('DELETE', path, undefined, readOnly)).status, 403);
  assert.equal((await ts.api('GET', path, undefined, await ts.adminToken('read:users'))).status, 403);

  const patched = await ts.api('PATCH', path, { refresh_token_metadata: { org: 'acme', tier: 'gold' } });
  assert.equal(patched.status, 200, JSON.stringify(patched.body));
  assert.deepEqual(patched.body.refresh_token_metadata, { org: 'acme', tier: 'gold' });
  const next = await oidc.refreshTokenGrant(config, tokens.refresh_token!);
  assert.deepEqual((await appMetadata(user.user_id)).seen, { org: 'acme', tier: 'gold' }, 'the next refresh\'s actions see it');
  assert.deepEqual((await ts.api('PATCH', path, { refresh_token_metadata: null })).body.refresh_token_metadata, {}, 'null empties it');

  assert.equal((await ts.api('GET', '/refresh-tokens/rt_doesnotexist0000000000')).status, 404);
  assert.equal((await ts.api('DELETE', path)).status, 202);
  assert.equal((await ts.api('GET', path)).status, 404);
  await expectOAuthError(oidc.refreshTokenGrant(config, next.refresh_token!), 'invalid_grant', 400);
  const logs = (await ts.api('GET', `/users/${encodeURIComponent(user.user_id)}/logs`)).body as { description?: string }[];
  assert.ok(logs.some((l) => l.description === 'Delete a refresh token'), 'the deletion is audited');
});

test('DELETE /users/{id}/refresh-tokens ends every one of the user\'s tokens and no one else\'s', async () => {
  const a = await createUser(ts, 'many-a@rtm.example', PASSWORD);
  const b = await createUser(ts, 'many-b@rtm.example', PASSWORD);
  const a1 = await login('many-a@rtm.example');
  const a2 = await login('many-a@rtm.example');
  const b1 = await login('many-b@rtm.example');
  assert.equal((await tokensOf(a.user_id)).length, 2);
  const page = await ts.api('GET', `/users/${encodeURIComponent(a.user_id)}/refresh-tokens?take=1`);
  assert.equal(page.body.tokens.length, 1);
  assert.ok(page.body.next);
  // The other token rotates between the two pages: it is still on the next one, and only once.
  // Regression (review): paged by expiry, a token rotated meanwhile moved to the front and was skipped.
  const other = (await tokensOf(a.user_id)).find((x) => x.id !== page.body.tokens[0].id)!;
  const familyOf = async (token: string) => (await ts.ctx.db('oidc_payloads').where({ type: 'RefreshToken', id: token }).first('uid')).uid;
  const otherLogin = (await familyOf(a1.tokens.refresh_token!)) === other.id ? a1 : a2;
  otherLogin.tokens = await oidc.refreshTokenGrant(config, otherLogin.tokens.refresh_token!);
  const rest = await ts.api('GET', `/users/${encodeURIComponent(a.user_id)}/refresh-tokens?take=1&from=${page.body.next}`);
  assert.equal(rest.body.tokens.length, 1);
  assert.equal(rest.body.tokens[0].id, other.id);
  assert.equal(rest.body.next, undefined);
  // Auth0's fields / include_fields; a `from` this endpoint did not give is refused.
  const ids = await ts.api('GET', `/users/${encodeURIComponent(a.user_id)}/refresh-tokens?fields=id,client_id`);
  assert.deepEqual(Object.keys(ids.body.tokens[0]).sort(), ['client_id', 'id']);
  assert.deepEqual(Object.keys((await ts.api('GET', `/refresh-tokens/${other.id}?fields=refresh_token_metadata&include_fields=false`)).body).includes('refresh_token_metadata'), false);
  assert.equal((await ts.api('GET', `/users/${encodeURIComponent(a.user_id)}/refresh-tokens?from=0junk`)).status, 400);
  assert.equal((await ts.api('DELETE', `/users/${encodeURIComponent(a.user_id)}/refresh-tokens`)).status, 202);
  assert.deepEqual(await tokensOf(a.user_id), []);
  await expectOAuthError(oidc.refreshTokenGrant(config, a1.tokens.refresh_token!), 'invalid_grant', 400);
  await expectOAuthError(oidc.refreshTokenGrant(config, a2.tokens.refresh_token!), 'invalid_grant', 400);
  assert.ok((await oidc.refreshTokenGrant(config, b1.tokens.refresh_token!)).access_token, 'another user\'s token still works');
  assert.equal((await tokensOf(b.user_id)).length, 1);
  assert.equal((await ts.api('GET', '/users/auth0%7Cnobody/refresh-tokens')).status, 404);
});

/** Makes a user's refresh token look as one written before families were kept (or by a node of that version): no family, no uid. */
async function asLegacy(token: string) {
  const db = ts.ctx.db;
  const row = await db('oidc_payloads').where({ type: 'RefreshToken', id: token }).first('id', 'payload');
  const p = JSON.parse(row.payload);
  delete p.ghFamily;
  await db('oidc_payloads').where({ type: 'RefreshToken', id: row.id }).update({ payload: JSON.stringify(p), uid: null });
  return `rt_${createHash('sha256').update(row.id).digest('base64url').slice(0, 22)}`;
}

test('a token issued before families were kept, or written by a node of that version: listed and found by the id its event shows, and keeps it when rotated', async () => {
  // Regression (review): such a row (no uid) was left out of the list and GET by its id was a 404.
  const user = await createUser(ts, 'legacy@rtm.example', PASSWORD);
  const { tokens } = await login('legacy@rtm.example');
  const id = await asLegacy(tokens.refresh_token!);
  assert.equal((await ts.api('GET', `/refresh-tokens/${id}`)).status, 200, 'found by its id, and filed under it');
  await oidc.refreshTokenGrant(config, tokens.refresh_token!);
  const [tok] = await tokensOf(user.user_id);
  assert.equal(tok.id, id, 'the rotated token carries the family\'s id on');
  assert.equal((await ts.api('GET', `/refresh-tokens/${id}`)).status, 200);
  // Another, listed before anything looked it up by id.
  const second = await login('legacy@rtm.example');
  const secondId = await asLegacy(second.tokens.refresh_token!);
  assert.deepEqual((await tokensOf(user.user_id)).map((x) => x.id).sort(), [id, secondId].sort());
});

test('the families migration down and up again: every family keeps its id, consumed tokens with their live one', async () => {
  // Regression (review): up gave each row a digest of its own id, ignoring the family its payload names.
  const user = await createUser(ts, 'downup@rtm.example', PASSWORD);
  const { tokens } = await login('downup@rtm.example');
  await oidc.refreshTokenGrant(config, tokens.refresh_token!);
  const [before] = await tokensOf(user.user_id);
  const db = ts.ctx.db;
  // A pre-family token whose metadata (set by a PATCH) has a key named ghFamily: not its family.
  // Regression (second review): a pattern over the payload took that value as the row's family.
  await createUser(ts, 'downup-legacy@rtm.example', PASSWORD);
  const legacyId = await asLegacy((await login('downup-legacy@rtm.example')).tokens.refresh_token!);
  const forged = (await ts.api('PATCH', `/refresh-tokens/${legacyId}`, { refresh_token_metadata: { ghFamily: before.id } })).body;
  assert.equal(forged.id, legacyId);
  await forgetFamilies(db);
  await backfillFamilies(db);
  assert.equal((await ts.api('GET', `/refresh-tokens/${before.id}`)).status, 200);
  const uids = (await db('oidc_payloads').where({ type: 'RefreshToken', account_id: user.user_id }).select('uid')).map((r: { uid: string }) => r.uid);
  assert.deepEqual(uids, [before.id, before.id], 'the consumed token and the live one');
  assert.equal((await ts.api('GET', `/refresh-tokens/${legacyId}`)).body.refresh_token_metadata.ghFamily, before.id, 'the legacy token keeps its own id');
  assert.equal((await tokensOf(user.user_id)).length, 1, 'and is not filed under the other family');
});

/**
 * Runs `fn` inside the next refresh token's consume in oidc-provider's refresh grant, `before` or
 * `after` the consume itself: the moments a request racing a refresh can land.
 */
async function duringNextConsume<T>(when: 'before' | 'after', fn: () => Promise<unknown>, refresh: () => Promise<T>): Promise<T> {
  const RefreshToken = (ts.ctx.provider as unknown as { RefreshToken: { prototype: { consume(): Promise<void> } } }).RefreshToken;
  const consume = RefreshToken.prototype.consume;
  RefreshToken.prototype.consume = async function (this: unknown) {
    RefreshToken.prototype.consume = consume;
    if (when === 'before') await fn();
    await consume.call(this);
    if (when === 'after') await fn();
  };
  try {
    return await refresh();
  } finally {
    RefreshToken.prototype.consume = consume;
  }
}

test('a PATCH while a refresh of the token is under way: kept by the token it issues, or written onto that token', async () => {
  // Regression (second review): a PATCH that landed after the refresh loaded the token and before
  // it consumed it answered 200 and was lost: the new token carried the copy loaded first.
  const user = await createUser(ts, 'race@rtm.example', PASSWORD);
  const { tokens } = await login('race@rtm.example');
  const [tok] = await tokensOf(user.user_id);
  let patched: { status: number } | undefined;
  await duringNextConsume('before', async () => { patched = await ts.api('PATCH', `/refresh-tokens/${tok.id}`, { refresh_token_metadata: { org: 'acme' } }); },
    () => oidc.refreshTokenGrant(config, tokens.refresh_token!));
  assert.equal(patched?.status, 200);
  assert.deepEqual((await tokensOf(user.user_id))[0].refresh_token_metadata, { org: 'acme' });
});

test('a DELETE while a refresh of the token is under way: the family ends, the token being issued with it', async () => {
  // Regression (second review): between the consume and the save of the next token the family had
  // no live token, so DELETE answered 404 and the family went on.
  const user = await createUser(ts, 'race-delete@rtm.example', PASSWORD);
  const { tokens } = await login('race-delete@rtm.example');
  const [tok] = await tokensOf(user.user_id);
  let deleted: { status: number } | undefined;
  // Consumed, the next token not saved yet: the whole DELETE happens then, and the refresh goes
  // on. The token it was issuing is refused as it is saved: no tokens for this refresh.
  await duringNextConsume('after', async () => { deleted = await ts.api('DELETE', `/refresh-tokens/${tok.id}`); },
    () => expectOAuthError(oidc.refreshTokenGrant(config, tokens.refresh_token!), 'invalid_grant', 400));
  assert.equal(deleted?.status, 202);
  assert.deepEqual(await tokensOf(user.user_id), []);
  // Another family of the same user, same grant or not, is not touched.
  const other = await login('race-delete@rtm.example');
  assert.ok((await oidc.refreshTokenGrant(config, other.tokens.refresh_token!)).access_token);
});

test('blocking the user, or deleting them, while a refresh is under way: the token it was issuing is refused too', async () => {
  // Regression (sixth review): the refresh answered 200 with new tokens, and its refresh token
  // stayed listed as live (under a grant that was gone) until it expired.
  for (const [email, revoke] of [
    ['race-block@rtm.example', (id: string) => ts.api('PATCH', `/users/${encodeURIComponent(id)}`, { blocked: true })],
    ['race-gone@rtm.example', (id: string) => ts.api('DELETE', `/users/${encodeURIComponent(id)}`)],
  ] as const) {
    const user = await createUser(ts, email, PASSWORD);
    const { tokens } = await login(email);
    let status = 0;
    await duringNextConsume('after', async () => { status = (await revoke(user.user_id)).status; },
      () => expectOAuthError(oidc.refreshTokenGrant(config, tokens.refresh_token!), 'invalid_grant', 400));
    assert.ok(status === 200 || status === 204, `${email}: ${status}`);
    assert.equal(Number((await ts.ctx.db('oidc_payloads').where({ type: 'RefreshToken', account_id: user.user_id }).count({ n: '*' }))[0].n), 0, `${email}: no token row left`);
  }
});

test('a token whose grant is gone is not listed, and the pages go on past it', async () => {
  // Regression (seventh review): a page whose only token was left out ended the list (no `next`).
  const user = await createUser(ts, 'gone-grant@rtm.example', PASSWORD);
  await login('gone-grant@rtm.example');
  await login('gone-grant@rtm.example');
  const ids = (await tokensOf(user.user_id)).map((x) => x.id).sort();
  const first = await ts.ctx.db('oidc_payloads').where({ type: 'RefreshToken', uid: ids[0] }).first('grant_id');
  await ts.ctx.db('oidc_payloads').where({ type: 'Grant', id: first.grant_id }).delete();
  const page = (await ts.api('GET', `/users/${encodeURIComponent(user.user_id)}/refresh-tokens?take=1`)).body;
  assert.deepEqual(page.tokens, []);
  assert.ok(page.next, 'the list goes on');
  const rest = (await ts.api('GET', `/users/${encodeURIComponent(user.user_id)}/refresh-tokens?take=1&from=${page.next}`)).body;
  assert.deepEqual(rest.tokens.map((x: { id: string }) => x.id), [ids[1]]);
  assert.equal((await ts.api('GET', `/refresh-tokens/${ids[0]}`)).status, 404);
});

test('a login that issues no refresh token keeps nothing, and the request goes on', async (t) => {
  t.after(() => bindActions(ts, 'post-login', []));
  await deployAction(ts, { name: 'rtm-no-rt', trigger: 'post-login', code: `
    exports.onExecutePostLogin = async (event, api) => { api.refreshToken.setMetadata('k', 'v'); };` });
  await bindActions(ts, 'post-login', ['rtm-no-rt']);
  const user = await createUser(ts, 'nort@rtm.example', PASSWORD);
  const r = await loginThroughForm(config, { redirectUri: CB, email: 'nort@rtm.example', password: PASSWORD });
  assert.equal(r.callbackUrl?.searchParams.get('error'), null);
  const got = await oidc.authorizationCodeGrant(config, r.callbackUrl!, { pkceCodeVerifier: r.verifier, expectedState: r.state });
  assert.equal(got.refresh_token, undefined);
  assert.deepEqual(await tokensOf(user.user_id), []);
});

test('an action reads and changes the user\'s refresh tokens through ManagementClient (v4 and v5 call styles)', async (t) => {
  t.after(() => bindActions(ts, 'post-login', []));
  const m2m = (await ts.api('POST', '/clients', { name: 'RTM M2M', app_type: 'non_interactive' })).body;
  assert.equal((await ts.api('POST', '/client-grants', { client_id: m2m.client_id, audience: `${ts.base}/api/v2/`, scope: ['read:refresh_tokens', 'update:refresh_tokens', 'delete:refresh_tokens'] })).status, 201);
  const secrets = [{ name: 'DOMAIN', value: new URL(ts.issuer).host }, { name: 'CLIENT_ID', value: m2m.client_id }, { name: 'CLIENT_SECRET', value: m2m.client_secret }];
  await deployAction(ts, { name: 'rtm-sdk', trigger: 'post-login', secrets, code: `
const { ManagementClient } = require('auth0');
exports.onExecutePostLogin = async (event, api) => {
  if (!event.refresh_token) return;
  const management = new ManagementClient({ domain: event.secrets.DOMAIN, clientId: event.secrets.CLIENT_ID, clientSecret: event.secrets.CLIENT_SECRET });
  const v4 = (await management.users.getRefreshTokens({ user_id: event.user.user_id })).data.tokens.map((x) => x.id);
  const v5 = [];
  for await (const x of await management.users.refreshToken.list(event.user.user_id)) v5.push(x.id);
  const one = await management.refreshTokens.get(event.refresh_token.id);
  // Single-device policy: end the user's other refresh tokens, and label this one.
  for (const id of v5) if (id !== event.refresh_token.id) await management.refreshTokens.delete(id);
  await management.refreshTokens.update(event.refresh_token.id, { refresh_token_metadata: { policy: 'single-device' } });
  console.log(JSON.stringify({ v4: v4.length, v5: v5.length, same: one.id === event.refresh_token.id }));
};` });
  await bindActions(ts, 'post-login', ['rtm-sdk']);
  const user = await createUser(ts, 'sdk@rtm.example', PASSWORD);
  const a = await login('sdk@rtm.example');
  const b = await login('sdk@rtm.example');
  const next = await oidc.refreshTokenGrant(config, b.tokens.refresh_token!);
  const exe = await latestExecution(ts, 'post-login');
  assert.ok(!exe.results[0].error, JSON.stringify(exe.results[0].error));
  assert.deepEqual(JSON.parse(exe.results[0].logs.trim()), { v4: 2, v5: 2, same: true });
  await expectOAuthError(oidc.refreshTokenGrant(config, a.tokens.refresh_token!), 'invalid_grant', 400);
  const left = await tokensOf(user.user_id);
  assert.equal(left.length, 1);
  // The update reached the token being exchanged; this refresh's issue carried it on (it set nothing itself).
  assert.deepEqual(left[0].refresh_token_metadata, { policy: 'single-device' });
  assert.ok((await oidc.refreshTokenGrant(config, next.refresh_token!)).access_token);
});
