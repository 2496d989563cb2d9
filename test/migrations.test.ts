import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase, type Db } from '../src/db/knex.ts';
import { migrateLatest, migrateRollbackAll, migrationStatus } from '../src/db/migrate.ts';

/*
 * Migrations are append-only and reversible (DESIGN style rule 7): up → down → up on an empty
 * SQLite database, with knex_migrations naming every file, and two runs at once (F9) apply
 * each migration exactly once.
 */

const FILES = readdirSync(join(import.meta.dirname, '..', 'migrations')).filter((f) => /^\d{14}_[\w-]+\.ts$/.test(f)).sort();
const CORE_TABLES = ['users', 'roles', 'user_roles', 'clients', 'resource_servers', 'client_grants', 'signing_keys', 'oidc_payloads', 'audit_logs', 'login_failures', 'settings'];

let dir: string;
let db: Db;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-migrations-'));
  db = openDatabase(`sqlite:${join(dir, 'empty.sqlite')}`);
});
after(async () => {
  await db?.destroy();
  rmSync(dir, { recursive: true, force: true });
});

/** Our tables (not SQLite's own, not knex's bookkeeping). */
async function tables(d: Db): Promise<string[]> {
  const rows = await d.raw("select name from sqlite_master where type = 'table' and name not like 'sqlite_%' and name not like 'knex_%' order by name");
  return (rows as { name: string }[]).map((r) => r.name);
}

test('up, down, up on an empty SQLite database; knex_migrations lists the files', async () => {
  assert.ok(FILES.length >= 1);
  assert.deepEqual(await tables(db), []);

  assert.deepEqual(await migrateLatest(db), FILES);
  const created = await tables(db);
  for (const t of CORE_TABLES) assert.ok(created.includes(t), `${t} exists after up`);
  const recorded = (await db('knex_migrations').select('name').orderBy('id')).map((r) => r.name);
  assert.deepEqual(recorded, FILES);
  assert.deepEqual(await migrationStatus(db), { done: FILES, pending: [] });
  assert.deepEqual(await migrateLatest(db), [], 'a second run has nothing to do');

  // The schema works: the canonical e-mail is unique.
  const row = { id: 'auth0|1', email: 'a@example.com', created_at: 'x', updated_at: 'x' };
  await db('users').insert(row);
  await assert.rejects(db('users').insert({ ...row, id: 'auth0|2' }), /UNIQUE/);

  assert.deepEqual((await migrateRollbackAll(db)).sort(), [...FILES].sort());
  assert.deepEqual(await tables(db), [], 'down removes every table up created');
  assert.equal(Number((await db('knex_migrations').count({ n: '*' }))[0].n), 0);
  assert.deepEqual((await migrationStatus(db)).pending, FILES);

  assert.deepEqual(await migrateLatest(db), FILES);
  assert.deepEqual((await tables(db)).sort(), created.sort());
  assert.deepEqual((await db('knex_migrations').select('name').orderBy('id')).map((r) => r.name), FILES);
});

test('two migration runs at once on a fresh database apply each file once (F9)', async () => {
  const file = `sqlite:${join(dir, 'concurrent.sqlite')}`;
  const a = openDatabase(file);
  const b = openDatabase(file);
  try {
    const results = await Promise.allSettled([migrateLatest(a), migrateLatest(b)]);
    assert.ok(results.some((r) => r.status === 'fulfilled'), JSON.stringify(results.map((r) => r.status === 'rejected' ? String(r.reason) : 'ok')));
    // The loser fails on knex's migration lock, or, on a brand-new file, earlier: knex creates
    // its bookkeeping tables with a check-then-create that two runs can both pass. Either way it
    // stops before applying anything.
    for (const r of results) {
      if (r.status === 'rejected') assert.match(String(r.reason), /lock|busy|knex_migrations\S* already exists/i, 'the loser fails cleanly');
    }
    // Whoever lost can simply run again.
    await migrateLatest(a);
    const names = (await a('knex_migrations').select('name')).map((r) => r.name).sort();
    assert.deepEqual(names, FILES);
  } finally {
    await a.destroy();
    await b.destroy();
  }
});

test('20261124000000 gives existing oidc records their account_id from the payload, and the adapter writes it', async () => {
  const d = openDatabase(`sqlite:${join(dir, 'account-backfill.sqlite')}`);
  try {
    await migrateLatest(d);
    const m = await import('../migrations/20261124000000_oidc_payloads_account.ts');
    await m.down(d);
    await d('oidc_payloads').insert([
      { id: 'g1', type: 'Grant', payload: JSON.stringify({ accountId: 'auth0|u1', clientId: 'c1' }) },
      { id: 's1', type: 'Session', payload: JSON.stringify({ accountId: 'auth0|u2', uid: 'x' }) },
      { id: 'i1', type: 'Interaction', payload: JSON.stringify({ params: {} }) },
      { id: 'n1', type: 'Grant', payload: JSON.stringify({ accountId: 42 }) },
    ]);
    await m.up(d);
    const rows = await d('oidc_payloads').select('id', 'account_id').orderBy('id');
    assert.deepEqual(rows, [{ id: 'g1', account_id: 'auth0|u1' }, { id: 'i1', account_id: null }, { id: 'n1', account_id: null }, { id: 's1', account_id: 'auth0|u2' }]);
    const { createAdapterFactory } = await import('../src/oidc/adapter.ts');
    const Adapter = createAdapterFactory(d, { findClientMetadata: () => undefined });
    await new Adapter('RefreshToken').upsert('r1', { accountId: 'auth0|u1', grantId: 'g1' }, 60);
    assert.equal((await d('oidc_payloads').where({ type: 'RefreshToken', id: 'r1' }).first())?.account_id, 'auth0|u1');
  } finally {
    await d.destroy();
  }
});
