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
before(async () => { if (admin) await admin.raw(`create database "${DB_NAME}"`); });
after(async () => { for (const s of servers) await s.close(); if (admin) { await admin.raw(`drop database if exists "${DB_NAME}" with (force)`); await admin.destroy(); } });

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
