import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { ManagementClient } from 'auth0';
import { startTestServer, ADMIN_ID, ADMIN_SECRET, type TestServer } from './helpers/server.ts';

/*
 * Auth0's own Node SDK (auth0 v7, ManagementClient) driving the Management API, as a team
 * moving from Auth0 would: the calls an outside probe found failing (400s on checkpoint
 * paging, a bindings list that never ended, a rollback that replaced the draft, fields ignored,
 * names and verify_email refused, no key revocation) now work through the SDK itself. The SDK
 * builds https://{domain} URLs; its documented `fetch` option sends them to the test server.
 */

let ts: TestServer;
let mc: ManagementClient;
before(async () => {
  ts = await startTestServer();
  const host = new URL(ts.base).host;
  mc = new ManagementClient({
    domain: host, clientId: ADMIN_ID, clientSecret: ADMIN_SECRET, audience: `${ts.base}/api/v2/`, maxRetries: 0,
    fetch: ((url: string | URL | Request, init?: RequestInit) => fetch(String(url instanceof Request ? url.url : url).replace(`https://${host}`, ts.base), init)) as typeof fetch,
  });
});
after(async () => { await ts?.close(); });

const PASSWORD = 'sdk client password 1';
const CONNECTION = 'Username-Password-Authentication';

test('users and roles through the SDK: names, fields, verify_email, role members paged with take/from', async () => {
  const u = await mc.users.create({ connection: CONNECTION, email: 'ada@sdk-client.example', password: PASSWORD, given_name: 'Ada', family_name: 'Lovelace', verify_email: false });
  assert.equal(u.given_name, 'Ada');
  const slim = await mc.users.get(u.user_id!, { fields: 'email,user_id', include_fields: true });
  assert.deepEqual(Object.keys(slim).sort(), ['email', 'user_id']);

  const role = await mc.roles.create({ name: 'sdk-members', description: 'members' });
  const ids = [u.user_id!];
  for (const e of ['b', 'c', 'd']) ids.push((await mc.users.create({ connection: CONNECTION, email: `${e}@sdk-client.example`, password: PASSWORD })).user_id!);
  await mc.roles.users.assign(role.id!, { users: ids });
  const members: string[] = [];
  for await (const m of await mc.roles.users.list(role.id!, { take: 3 })) members.push(m.email!);
  assert.deepEqual(members, ['ada@sdk-client.example', 'b@sdk-client.example', 'c@sdk-client.example', 'd@sdk-client.example']);

  // An error surfaces as the SDK's own, with Auth0's fields.
  await assert.rejects(mc.users.get('auth0|nope'), (e: { statusCode?: number; body?: { errorCode?: string } }) => e.statusCode === 404 && e.body?.errorCode === 'inexistent_user');
});

test('client grants and logs through the SDK: list by audience, get one, search', async () => {
  const api = await mc.resourceServers.create({ name: 'SDK client API', identifier: 'https://sdk-client.example/api', scopes: [{ value: 'read:x', description: 'r' }], skip_consent_for_verifiable_first_party_clients: true, allow_offline_access: true });
  const found: string[] = [];
  for await (const x of await mc.resourceServers.list({ identifiers: [api.identifier!] })) found.push(x.identifier!);
  assert.deepEqual(found, [api.identifier]);
  const c = await mc.clients.create({ name: 'SDK client M2M', app_type: 'non_interactive', oidc_conformant: true });
  const g = await mc.clientGrants.create({ client_id: c.client_id!, audience: api.identifier!, scope: ['read:x'] });
  const listed: string[] = [];
  for await (const x of await mc.clientGrants.list({ audience: api.identifier })) listed.push(x.id!);
  assert.deepEqual(listed, [g.id]);
  assert.equal((await mc.clientGrants.get(g.id!)).audience, api.identifier);
  assert.deepEqual(c.jwt_configuration, { alg: 'ES256', lifetime_in_seconds: 36000, secret_encoded: false });

  const logs = await mc.logs.list({ search: 'type:sapi', per_page: 100 });
  assert.ok(logs.data.length > 0 && logs.data.every((l) => l.type === 'sapi'));
});

test('actions through the SDK: bindings listed to the end, rollback that keeps the draft', async () => {
  const code = (v: string) => `exports.onExecuteCredentialsExchange = async (event, api) => { api.accessToken.setCustomClaim('https://sdk/v', '${v}'); };`;
  const a = await mc.actions.create({ name: 'sdk-client-action', supported_triggers: [{ id: 'credentials-exchange', version: 'v2' }], code: code('one') });
  const v1 = await mc.actions.deploy(a.id!);
  await mc.actions.update(a.id!, { code: code('two') });
  await mc.actions.deploy(a.id!);
  await mc.actions.update(a.id!, { code: code('draft') });
  await mc.actions.versions.deploy(a.id!, v1.id!, { update_draft: false });
  assert.equal((await mc.actions.get(a.id!)).code, code('draft'), 'the undeployed draft survives the rollback');

  await mc.actions.triggers.bindings.updateMany('credentials-exchange', { bindings: [{ ref: { type: 'action_id', value: a.id! }, display_name: 'mine' }] });
  const seen: string[] = [];
  for await (const b of await mc.actions.triggers.bindings.list('credentials-exchange')) {
    seen.push(b.action!.name!);
    assert.ok(seen.length < 10, 'the SDK stops paging');
  }
  assert.deepEqual(seen, ['sdk-client-action']);
  await mc.actions.triggers.bindings.updateMany('credentials-exchange', { bindings: [] });
});

test('signing keys through the SDK: rotate, then revoke the previous key', async () => {
  const before = await mc.keys.signing.list();
  const old = before.find((k) => k.current)!;
  await mc.keys.signing.rotate();
  await mc.keys.signing.revoke(old.kid!);
  const jwks = await (await fetch(`${ts.base}/.well-known/jwks.json`)).json() as { keys: { kid: string }[] };
  assert.ok(!jwks.keys.some((k) => k.kid === old.kid), 'the revoked key left the JWKS');
});
