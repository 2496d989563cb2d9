/**
 * The engine against a scripted sandbox pool: what it does with results it cannot trust to be
 * complete, the per-action cache, and resuming a chain that changed. Real SQLite (migrated).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase, type Db } from '../../db/knex.ts';
import { migrateLatest } from '../../db/migrate.ts';
import { createLogger } from '../../shared/logger.ts';
import type { ActionResult, ChainRequest, ChainResult, SandboxPool } from '../sandbox/types.ts';
import { createActionEngine } from './engine.ts';
import { triggerRegistry } from '../triggers/definitions.ts';
import type { ActionStore } from './store.ts';

type ChainEntry = Awaited<ReturnType<ActionStore['chain']>>[number];

let dir: string;
let db: Db;
before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-engine-'));
  db = openDatabase(`sqlite:${join(dir, 'engine.sqlite')}`);
  await migrateLatest(db);
});
after(async () => {
  await db?.destroy();
  rmSync(dir, { recursive: true, force: true });
});

const entry = (id: string, code = 'exports.onExecutePostLogin = async () => {};', onError: 'block' | 'allow' = 'block'): ChainEntry => ({
  actionId: `act_${id}`, name: id, versionId: `ver_${id}`, number: 1, compiled: code, secrets: {}, onError,
});
const result = (e: ChainEntry, over: Partial<ActionResult> = {}): ActionResult => ({
  key: e.versionId, name: e.name, status: 'ok', commands: [], logs: '', startedAt: Date.now(), durationMs: 1, cpuMicros: 1, ...over,
});
const LOST = { name: 'ResultLost', message: 'result lost: the sandbox worker was stopped later in this chain' };

/** An engine over `chain`, with a pool that answers each runChain with the next scripted reply. */
function engineWith(chain: ChainEntry[], replies: ((req: ChainRequest) => ChainResult)[]) {
  const requests: ChainRequest[] = [];
  const pool = {
    async runChain(req: ChainRequest) { requests.push(req); const next = replies.shift(); assert.ok(next, 'an unexpected sandbox call'); return next(req); },
    async validate() { return { ok: true as const }; },
    stats: () => ({ workers: 0, ready: 0, restarts: 0, queued: 0 }),
    async close() {},
  } satisfies SandboxPool;
  const store = { chain: async () => chain, bindingsVersion: Math.random() } as unknown as ActionStore;
  const engine = createActionEngine({
    db, store, pool, logger: createLogger('silent'),
    config: { actionTimeoutMs: 1000, chainTimeoutMs: 4000, memoryMb: 32, consoleBytes: 4096, resultBytes: 102400, claimsBytes: 16384, redirectAllowHttpLocalhost: true, executionRetentionDays: 1, issuer: 'https://issuer.example' },
    triggers: triggerRegistry,
  });
  return { engine, requests };
}
const EVENT = { user: { user_id: 'auth0|u', app_metadata: {}, user_metadata: {} } };

test('a sandbox reply with no result for a non-empty chain fails closed, whatever on_error says', async () => {
  for (const onError of ['block', 'allow'] as const) {
    const a = entry('a', undefined, onError);
    const { engine } = engineWith([a], [() => ({ status: 'ok', results: [], durationMs: 0 })]);
    const o = await engine.run('post-login', EVENT);
    assert.equal(o.blocked?.kind, 'failed', onError);
    assert.notEqual(o.status, 'ok');
    assert.match(o.results[0]?.error?.message ?? '', /result lost/);
  }
});

test('an action whose result was lost counts as failed: its own on_error decides', async () => {
  const mfa = { type: 'multifactor.enable', args: ['any'] };
  // block: the login stops, even though the action that broke the worker is on_error=allow.
  const a = entry('a');
  const b = entry('b', undefined, 'allow');
  let run = engineWith([a, b], [() => ({ status: 'timeout', results: [result(a, { status: 'runtime', error: LOST }), result(b, { status: 'timeout' })], durationMs: 1 })]);
  let o = await run.engine.run('post-login', EVENT);
  assert.equal(o.blocked?.kind, 'failed');
  assert.equal(o.mfa.enable, undefined);
  // allow: skipped like any failed action, and the rest of the chain still runs.
  const a2 = entry('a2', undefined, 'allow');
  const c = entry('c');
  run = engineWith([a2, b, c], [
    () => ({ status: 'timeout', results: [result(a2, { status: 'runtime', error: LOST }), result(b, { status: 'timeout' })], durationMs: 1 }),
    (req) => { assert.deepEqual(req.actions.map((x) => x.key), [c.versionId]); return { status: 'ok', results: [result(c, { commands: [mfa] })], durationMs: 1 }; },
  ]);
  o = await run.engine.run('post-login', EVENT);
  assert.equal(o.blocked, undefined);
  assert.deepEqual(o.mfa.enable, { provider: 'any', allowRememberBrowser: false });
  assert.deepEqual(o.results.map((r) => r.status), ['runtime', 'timeout', 'ok']);
});

test('the cache is per action: each action gets its own snapshot, writes land under its id, no snapshot for code that never uses api.cache', async () => {
  const user = entry('cacher', "exports.onExecutePostLogin = async (event, api) => { api.cache.get('k'); };");
  const other = entry('other', "exports.onExecutePostLogin = async (event, api) => { api.cache.get('k'); };");
  const plain = entry('plain');
  const exp = Date.now() + 60_000;
  await db('action_cache').insert([
    { trigger_id: 'post-login', action_id: user.actionId, key: 'k', value: 'mine', expires_at: exp },
    { trigger_id: 'post-login', action_id: other.actionId, key: 'k', value: 'theirs', expires_at: exp },
  ]);
  const { engine, requests } = engineWith([user, plain], [() => ({
    status: 'ok', results: [result(user, { commands: [{ type: 'cache.set', args: ['n', 'v', { ttl: 60_000 }] }] }), result(plain, { commands: [{ type: 'cache.set', args: ['p', 'v', { ttl: 60_000 }] }] })], durationMs: 1,
  })]);
  await engine.run('post-login', EVENT);
  const req = requests[0];
  assert.deepEqual(req.cache ?? {}, {}, 'no shared trigger-wide snapshot');
  assert.deepEqual(Object.keys(req.cacheByAction ?? {}), [user.versionId], 'a snapshot only for the action that uses api.cache');
  assert.deepEqual(Object.keys(req.cacheByAction![user.versionId]), ['k']);
  assert.equal(req.cacheByAction![user.versionId].k.value, 'mine');
  const rows = await db('action_cache').where({ trigger_id: 'post-login' }).orderBy(['action_id', 'key']).select('action_id', 'key', 'value');
  assert.deepEqual(rows, [
    { action_id: user.actionId, key: 'k', value: 'mine' },
    { action_id: user.actionId, key: 'n', value: 'v' },
    { action_id: other.actionId, key: 'k', value: 'theirs' },
    { action_id: plain.actionId, key: 'p', value: 'v' },
  ]);
});

test('resuming at an index where another action (or another version) now runs fails closed without running anything', async () => {
  const a = entry('a');
  const b = entry('b');
  const { engine, requests } = engineWith([b, a], []);
  for (const resumeOf of [{ index: 0, actionId: a.actionId, versionId: a.versionId }, { index: 1, actionId: a.actionId, versionId: 'ver_old' }, { index: 2, actionId: a.actionId, versionId: a.versionId }]) {
    const o = await engine.run('post-login', EVENT, { startAt: resumeOf.index, continueFirst: true, resumeOf });
    assert.equal(o.blocked?.kind, 'changed', JSON.stringify(resumeOf));
    assert.notEqual(o.status, 'ok');
  }
  assert.equal(requests.length, 0);
});

test('secret values are redacted from logs, error messages and recorded api calls (the sandbox returns them raw)', async () => {
  const a = { ...entry('a'), secrets: { K: 'super-secret-value' } };
  const { engine } = engineWith([a], [() => ({
    status: 'runtime', durationMs: 1,
    results: [result(a, { status: 'runtime', logs: 'key is super-secret-value\n', error: { name: 'Error', message: 'bad super-secret-value' }, commands: [{ type: 'idToken.setCustomClaim', args: ['super-secret-value', 1] }] })],
  })]);
  const o = await engine.run('post-login', EVENT);
  assert.equal(o.results[0].logs, 'key is [REDACTED]\n');
  assert.equal(o.results[0].error?.message, 'bad [REDACTED]');
  assert.deepEqual(o.results[0].recorded, [{ type: 'idToken.setCustomClaim', args: ['[REDACTED]'] }]);
  await engine.flush();
  const row = await db('action_executions').where({ id: o.executionId }).first();
  assert.ok(row, 'the execution was recorded');
  assert.ok(!JSON.stringify(row).includes('super-secret-value'));
});

test('a secret is redacted in its URL-encoded form too (a request URL in an error message)', async () => {
  const a = { ...entry('a'), secrets: { K: 'k3y/with+plus=' } };
  const { engine } = engineWith([a], [() => ({
    status: 'runtime', durationMs: 1,
    results: [result(a, { status: 'runtime', logs: 'GET /x?api_key=k3y%2Fwith%2Bplus%3D\n', error: { name: 'Error', message: 'failed: https://api.example/x?k=k3y%2Fwith%2Bplus%3D' } })],
  })]);
  const o = await engine.run('post-login', EVENT);
  assert.equal(o.results[0].logs, 'GET /x?api_key=[REDACTED]\n');
  assert.equal(o.results[0].error?.message, 'failed: https://api.example/x?k=[REDACTED]');
});
