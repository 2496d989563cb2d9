import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import knexFactory from 'knex';
import { ADMIN_URL, databaseUrl, postgresReachable } from './helpers/postgres.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';
import { apiIndicator } from '../src/shared/urls.ts';

/*
 * GET /grants?audience= pages in SQL over an exact search of the grants' payloads (regressions
 * of a review: identifiers with LIKE's special characters, quotes and non-ASCII, on both
 * databases; and on SQLite, whose LIKE ignores ASCII case, a page that came back short or empty
 * while the API had grants).
 */
const DB_NAME = `gatehouse_grants_${process.pid}_${Date.now()}`;
const available = await postgresReachable();
const admin = available ? knexFactory({ client: 'pg', connection: ADMIN_URL, pool: { min: 0, max: 1 } }) : undefined;
const servers: TestServer[] = [];
const DB_NAMES = [DB_NAME, `${DB_NAME}_r`];
before(async () => { if (admin) for (const n of DB_NAMES) await admin.raw(`create database "${n}"`); });
after(async () => {
  for (const s of servers) await s.close();
  if (admin) { for (const n of DB_NAMES) await admin.raw(`drop database if exists "${n}" with (force)`); await admin.destroy(); }
});

const IDS = ['https://a.example/p%25_x', 'https://a.example/pX25Yx', 'https://a.example/q\\r', 'https://a.example/"quoted"', "https://a.example/it's", 'my_api%1', 'myXapi%1', 'https://A.example/case', 'https://a.example/case', 'urn:gatehouse:api:literal', 'https://a.example/ünï'];

async function run(ts: TestServer) {
  const rows = IDS.flatMap((id, k) => [0, 1].map((j) => ({
    id: `g-${k}-${j}`, type: 'Grant', grant_id: null, user_code: null, uid: null, account_id: `auth0|g-${k}-${j}`, consumed_at: null, expires_at: Date.now() + 86_400_000,
    payload: JSON.stringify({ accountId: `auth0|g-${k}-${j}`, clientId: 'g-app', resources: { [apiIndicator(id)]: 'read:x' }, iat: 1 }),
  })));
  await ts.ctx.db('oidc_payloads').insert(rows);
  const out: Record<string, unknown> = {};
  for (const [k, id] of IDS.entries()) {
    const r = await ts.api('GET', `/grants?audience=${encodeURIComponent(id)}&include_totals=true`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    out[id] = { ids: r.body.grants.map((g: { id: string }) => g.id).sort(), total: r.body.total };
    assert.deepEqual(out[id], { ids: [`g-${k}-0`, `g-${k}-1`], total: 2 }, `audience ${id}`);
  }
}

test('SQLite: grants by audience with LIKE-special identifiers', async () => {
  const ts = await startTestServer(); servers.push(ts);
  await run(ts);
});
test('PostgreSQL: grants by audience with LIKE-special identifiers', { skip: available ? false : 'no PostgreSQL' }, async () => {
  const ts = await startTestServer({ databaseUrl: databaseUrl(DB_NAME) }); servers.push(ts);
  await run(ts);
});

test('SQLite: a page of grants by audience is the API\'s own, whatever the case of another API\'s identifier', async () => {
  const ts = await startTestServer(); servers.push(ts);
  const mk = (id: string, aud: string, exp: number) => ({ id, type: 'Grant', grant_id: null, user_code: null, uid: null, account_id: `auth0|${id}`, consumed_at: null, expires_at: exp,
    payload: JSON.stringify({ accountId: `auth0|${id}`, clientId: 'g-app', resources: { [aud]: 'read:x' }, iat: 1 }) });
  const now = Date.now() + 86_400_000;
  await ts.ctx.db('oidc_payloads').insert([mk('upper-1', 'https://api.example/Orders', now + 3), mk('upper-2', 'https://api.example/Orders', now + 2), mk('lower-1', 'https://api.example/orders', now + 1)]);
  const r = await ts.api('GET', `/grants?audience=${encodeURIComponent('https://api.example/orders')}&per_page=2&include_totals=true`);
  assert.deepEqual({ ids: r.body.grants.map((g: { id: string }) => g.id), total: r.body.total }, { ids: ['lower-1'], total: 1 });
});

/*
 * A grant whose payload names the API only among its rejected scopes (a post-login action's
 * removeScope on another API's grant leaves `rejected.resources` naming it) does not hold the
 * API: it is neither listed nor counted, and takes no place in a page.
 */
async function rejectedOnly(ts: TestServer) {
  const aud = apiIndicator('https://api.example/held');
  const mk = (id: string, payload: object, exp: number) => ({ id, type: 'Grant', grant_id: null, user_code: null, uid: null, account_id: `auth0|${id}`, consumed_at: null, expires_at: exp,
    payload: JSON.stringify({ accountId: `auth0|${id}`, clientId: 'g-app', iat: 1, ...payload }) });
  const now = Date.now() + 86_400_000;
  await ts.ctx.db('oidc_payloads').insert([
    mk('stray-1', { resources: { 'https://other.example/': 'read:x' }, rejected: { resources: { [aud]: 'read:x' } } }, now + 4),
    mk('stray-2', { openid: { scope: 'openid' }, rejected: { resources: { [aud]: 'read:x write:x' } } }, now + 3),
    mk('held-1', { resources: { [aud]: 'read:x write:x' }, rejected: { resources: { [aud]: 'write:x' } } }, now + 2),
    mk('held-2', { resources: { [aud]: 'read:x' } }, now + 1),
  ]);
  const r = await ts.api('GET', `/grants?audience=${encodeURIComponent('https://api.example/held')}&per_page=2&include_totals=true`);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.deepEqual({ ids: r.body.grants.map((g: { id: string }) => g.id), total: r.body.total }, { ids: ['held-1', 'held-2'], total: 2 });
  assert.deepEqual(r.body.grants[0].scope, ['read:x']);
  // The userinfo audience: the grants for no API (no `resources`, or an empty one), paged in SQL.
  await ts.ctx.db('oidc_payloads').insert([
    mk('openid-1', { openid: { scope: 'openid email' } }, now - 1),
    mk('openid-2', { openid: { scope: 'openid' }, resources: {} }, now - 2),
    mk('openid-3', { openid: { scope: 'openid' }, rejected: { resources: { [aud]: 'read:x' } } }, now - 3),
  ]);
  const userinfo = `${ts.issuer}/userinfo`;
  const p1 = await ts.api('GET', `/grants?audience=${encodeURIComponent(userinfo)}&per_page=2&include_totals=true`);
  const p2 = await ts.api('GET', `/grants?audience=${encodeURIComponent(userinfo)}&per_page=2&page=1&include_totals=true`);
  assert.deepEqual([p1.body.grants.map((g: { id: string }) => g.id), p1.body.total, p2.body.grants.map((g: { id: string }) => g.id), p2.body.total],
    [['stray-2', 'openid-1'], 4, ['openid-2', 'openid-3'], 4]);
  assert.ok([...p1.body.grants, ...p2.body.grants].every((g: { audience: string }) => g.audience === userinfo));
}
test('SQLite: a grant naming the API only among its rejected scopes is not counted; the userinfo audience pages in SQL', async () => {
  const ts = await startTestServer(); servers.push(ts);
  await rejectedOnly(ts);
});
test('PostgreSQL: a grant naming the API only among its rejected scopes is not counted; the userinfo audience pages in SQL', { skip: available ? false : 'no PostgreSQL' }, async () => {
  const ts = await startTestServer({ databaseUrl: databaseUrl(`${DB_NAME}_r`) }); servers.push(ts);
  await rejectedOnly(ts);
});
