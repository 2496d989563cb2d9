import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase, type Db } from '../src/db/knex.ts';
import { migrateDown, migrateLatest, migrateRollbackAll, migrationStatus } from '../src/db/migrate.ts';

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

test('20261124120000 repairs metadata jsonb would refuse (NUL, lone surrogates, in values and keys) and leaves the rest as it was', async () => {
  const d = openDatabase(`sqlite:${join(dir, 'metadata-repair.sqlite')}`);
  try {
    await migrateLatest(d);
    const row = (id: string, app: unknown, user: unknown) => ({ id, email: `${id}@example.com`, email_verified: false, connection: 'Username-Password-Authentication', app_metadata: JSON.stringify(app), user_metadata: JSON.stringify(user), blocked: false, logins_count: 0, created_at: '2024-01-01T00:00:00.000Z', updated_at: '2024-01-01T00:00:00.000Z' });
    await d('users').insert([
      row('auth0|bad', { plan: 'p\u0000ro', list: ['ok', 'x\ud800'], ['k\u0000ey']: 1 }, { note: '\udc00' }),
      row('auth0|good', { plan: 'pro', emoji: '\ud83d\ude00' }, {}),
      // A repaired key that becomes a clean one gives way to it, wherever it stands (review).
      row('auth0|clash', JSON.parse('{"a\\u0000":"junk","a":"real"}'), {}),
    ]);
    const before = await d('users').where({ id: 'auth0|good' }).first();
    const m = await import('../migrations/20261124120000_metadata_jsonb_safe.ts');
    await m.up(d);
    const bad = await d('users').where({ id: 'auth0|bad' }).first();
    assert.deepEqual(JSON.parse(bad.app_metadata), { plan: 'pro', list: ['ok', 'x\ufffd'], key: 1 });
    assert.deepEqual(JSON.parse(bad.user_metadata), { note: '\ufffd' });
    assert.deepEqual(await d('users').where({ id: 'auth0|good' }).first(), before, 'a row without them is not touched (a surrogate pair is fine)');
    assert.deepEqual(JSON.parse((await d('users').where({ id: 'auth0|clash' }).first()).app_metadata), { a: 'real' });
  } finally {
    await d.destroy();
  }
});

test('stepping down the newest migrations one at a time keeps users\' roles, authenticators, links and sessions (SQLite)', async () => {
  // Regression: a down() that dropped a column of `users` made knex rebuild the table inside
  // the migration's transaction, where SQLite ignores turning foreign keys off: dropping the
  // old table cascaded, and one step down emptied user_roles, mfa_factors, recovery codes,
  // email tokens and account sessions (the users themselves stayed).
  const d = openDatabase(`sqlite:${join(dir, 'with-data.sqlite')}`);
  try {
    await migrateLatest(d);
    const now = Date.now();
    await d('users').insert({ id: 'auth0|u1', email: 'u1@example.com', created_at: 'x', updated_at: 'x' });
    await d('roles').insert({ id: 'rol_1', name: 'admin', created_at: 'x' });
    await d('user_roles').insert({ user_id: 'auth0|u1', role_id: 'rol_1' });
    await d('mfa_factors').insert({ id: 'f1', user_id: 'auth0|u1', type: 'otp', secret_sealed: 's', confirmed: true, created_at: now });
    await d('account_sessions').insert({ id_hash: 'h1', user_id: 'auth0|u1', expires_at: now + 60_000, created_at: now });
    const counts = async () => Object.fromEntries(await Promise.all(['users', 'user_roles', 'mfa_factors', 'account_sessions'].map(async (t) => [t, Number((await d(t).count({ n: '*' }))[0].n)])));
    const before = await counts();
    assert.deepEqual(before, { users: 1, user_roles: 1, mfa_factors: 1, account_sessions: 1 });
    // Down to the first migration that added account_sessions (its own down drops that table).
    const newest = FILES.length - FILES.indexOf('20261123110000_account_lifecycle.ts') - 1;
    assert.deepEqual(await migrateDown(d, newest), FILES.slice(-newest).reverse());
    assert.deepEqual(await counts(), before, 'nothing of the users went with the columns');
    assert.deepEqual(await migrateLatest(d), FILES.slice(-newest));
    assert.deepEqual(await counts(), before);
  } finally {
    await d.destroy();
  }
});

/** The refresh-token families migration and every one after it. */
const FROM_FAMILIES = FILES.slice(FILES.indexOf('20261125090000_refresh_token_families.ts'));

test('SQLite: a migration run killed half-way leaves nothing the next start refuses (the families backfill)', async () => {
  // Regression (review): the refresh-token families migration opts out of knex's transaction for
  // PostgreSQL; on SQLite knex then took its lock row in a transaction of its own, and a process
  // killed mid-way left it taken: every later start failed with "Migration table is already locked".
  const { spawn } = await import('node:child_process');
  const { writeFileSync } = await import('node:fs');
  const file = join(dir, 'killed.sqlite');
  const d = openDatabase(`sqlite:${file}`);
  try {
    await migrateLatest(d);
    // Down to before the families migration (and the ones after it), then its backfill killed.
    assert.deepEqual(await migrateDown(d, FROM_FAMILIES.length), [...FROM_FAMILIES].reverse());
    for (let i = 0; i < 150_000; i += 400) {
      await d('oidc_payloads').insert(Array.from({ length: 400 }, (_, j) => ({ id: `legacy-${String(i + j).padStart(7, '0')}`, type: 'RefreshToken', payload: '{}', grant_id: null, user_code: null, uid: null, account_id: null, expires_at: Date.now() + 3_600_000, consumed_at: null })));
    }
  } finally {
    await d.destroy();
  }
  const script = join(dir, 'migrate-child.ts');
  const root = join(import.meta.dirname, '..');
  writeFileSync(script, `import { openDatabase } from ${JSON.stringify(join(root, 'src/db/knex.ts'))};
import { migrateLatest } from ${JSON.stringify(join(root, 'src/db/migrate.ts'))};
const db = openDatabase(${JSON.stringify(`sqlite:${file}`)});
console.log('start');
await migrateLatest(db);
console.log('done');
`);
  const child = spawn(process.execPath, ['--no-node-snapshot', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  await new Promise<void>((resolve) => child.stdout.on('data', (b: Buffer) => { out += b.toString(); if (out.includes('start')) resolve(); }));
  // Killed while it works (the backfill of 150,000 rows takes longer than this).
  await new Promise((r) => setTimeout(r, 400));
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));
  const again = openDatabase(`sqlite:${file}`);
  try {
    const applied = await migrateLatest(again);
    if (out.includes('done')) assert.deepEqual(applied, [], 'the child finished before it was killed');
    else assert.deepEqual(applied, FROM_FAMILIES);
    assert.equal(Number((await again('oidc_payloads').where({ type: 'RefreshToken' }).whereNull('uid').count({ n: '*' }))[0].n), 0);
  } finally {
    await again.destroy();
  }
});
