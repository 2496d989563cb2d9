/**
 * What one SQL statement costs on the login path: the same oidc_payloads lookup and upsert the
 * adapter (src/oidc/adapter.ts) runs, through knex as it does, and as a better-sqlite3
 * prepared statement compiled once. Runs in-process against a migrated temp database;
 * batches of both alternate so machine noise hits both alike.
 *
 * Also the Actions execution record (src/actions/engine/engine.ts `record`): one
 * `action_executions` row per chain through knex as the engine writes it, as a prepared
 * statement, and buffered (50 rows per transaction, prepared), the fixes bench/actions.ts
 * points to.
 *
 *   node --no-node-snapshot bench/knex-cost.ts [--n 2000]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { openDatabase } from '../src/db/knex.ts';
import { migrateLatest } from '../src/db/migrate.ts';

const { values } = parseArgs({ options: { n: { type: 'string', default: '2000' } } });
const n = Math.min(100_000, Math.max(100, Number(values.n)));
const dir = mkdtempSync(join(tmpdir(), 'gatehouse-knex-cost-'));
const db = openDatabase(`sqlite:${join(dir, 'db.sqlite')}`);
try {
  await migrateLatest(db);
  const payload = JSON.stringify({ accountId: 'auth0|x', clientId: 'c', kind: 'Session', exp: 9e9, data: 'x'.repeat(300) });
  const ids = Array.from({ length: 500 }, (_, i) => `id-${i}`);
  for (const id of ids) await db('oidc_payloads').insert({ id, type: 'Session', payload, grant_id: null, user_code: null, uid: null, expires_at: Date.now() + 1e9, consumed_at: null });

  // The one connection knex holds (pool of one); raw statements prepared once on it.
  const conn = await db.client.acquireConnection() as { prepare(sql: string): { get(...a: unknown[]): unknown; run(...a: unknown[]): unknown } };
  await db.client.releaseConnection(conn);
  const sel = conn.prepare('select payload, consumed_at, expires_at from oidc_payloads where type = ? and id = ? limit 1');
  // One chain of one action, as the engine records it.
  const exeResults = JSON.stringify([{
    action_name: 'bench-cc-1', version_id: 'ver_abcdefghijkl', status: 'ok', error: null, logs: '', commands: [{ type: 'accessToken.setCustomClaim', args: ['https://bench.example/cc1'] }],
    rejected_commands: [], started_at: new Date().toISOString(), ended_at: new Date().toISOString(), duration_ms: 0.08,
  }]);
  const exeIns = conn.prepare('insert into action_executions (id, trigger_id, status, results, created_at) values (?, ?, ?, ?, ?)');
  const pending: unknown[][] = [];
  const flush = (conn as unknown as { transaction(f: (rows: unknown[][]) => void): (rows: unknown[][]) => void }).transaction((rows) => { for (const r of rows) exeIns.run(...r); });
  const ups = conn.prepare('insert into oidc_payloads (id, type, payload, grant_id, user_code, uid, expires_at, consumed_at) values (?, ?, ?, ?, ?, ?, ?, ?) on conflict (type, id) do update set payload = excluded.payload, grant_id = excluded.grant_id, user_code = excluded.user_code, uid = excluded.uid, expires_at = excluded.expires_at, consumed_at = excluded.consumed_at');

  const cases: Record<string, (i: number) => Promise<unknown> | unknown> = {
    'select via knex': (i) => db('oidc_payloads').select('payload', 'consumed_at', 'expires_at').where({ type: 'Session', id: ids[i % ids.length] }).first(),
    'select, prepared once': (i) => sel.get('Session', ids[i % ids.length]),
    'upsert via knex': (i) => db('oidc_payloads').insert({ id: ids[i % ids.length], type: 'Session', payload, grant_id: null, user_code: null, uid: null, expires_at: Date.now() + 1e9, consumed_at: null }).onConflict(['type', 'id']).merge(),
    'upsert, prepared once': (i) => ups.run(ids[i % ids.length], 'Session', payload, null, null, null, Date.now() + 1e9, null),
    'execution record via knex': (i) => db('action_executions').insert({ id: `exe_k${i}`, trigger_id: 'credentials-exchange', status: 'final', results: exeResults, created_at: Date.now() }),
    'execution record, prepared': (i) => exeIns.run(`exe_p${i}`, 'credentials-exchange', 'final', exeResults, Date.now()),
    'execution record, 50 per transaction': (i) => {
      pending.push([`exe_b${i}`, 'credentials-exchange', 'final', exeResults, Date.now()]);
      if (pending.length >= 50) { flush(pending); pending.length = 0; }
    },
  };
  const times = new Map<string, number[]>();
  const batch = 100;
  for (let round = 0; round < n / batch; round++) {
    for (const [name, f] of Object.entries(cases)) {
      const t0 = process.cpuUsage();
      for (let i = 0; i < batch; i++) await f(round * batch + i);
      const t = process.cpuUsage(t0);
      (times.get(name) ?? times.set(name, []).get(name)!).push((t.user + t.system) / batch);
    }
  }
  console.log(`CPU µs per statement (median of ${n / batch} batches of ${batch}; the first batches include JIT warm-up)`);
  for (const [name, xs] of times) {
    const s = [...xs].sort((a, b) => a - b);
    console.log(`  ${name.padEnd(38)} ${s[s.length >> 1].toFixed(1).padStart(7)}`);
  }
} finally {
  await db.destroy();
  rmSync(dir, { recursive: true, force: true });
}
