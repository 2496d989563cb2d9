/**
 * Batches: several waiting chains go to a worker in one message and come back in few; each
 * keeps its own deadlines; a chain that hangs or a worker that dies fails only what it must
 * (chains that had run: `ResultLost`; chains not started yet: run again elsewhere, once).
 *
 * The messages are observed by wrapping child_process.fork in this test process (pool.ts's
 * imported binding follows it after syncBuiltinESMExports). Each test owns its pool; this file's
 * process has no other children, so the tests can find and kill the workers.
 */
import { afterEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import childProcess, { type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { syncBuiltinESMExports } from 'node:module';
import { createSandboxPool, type ChainResult, type SandboxPool } from './index.ts';
import { LIMITS, action, childPids, claims, eventually, postLogin, request, waitHealthy } from './test-support.ts';

interface Sent { pid: number | undefined; ids: number[]; codes: number; forget: boolean; keysOnly: number; shapeDefs: number; secretsSent: number }
const sent: Sent[] = [];
const replies: { pid: number | undefined; results: number; returned: number }[] = [];
const realFork = childProcess.fork;
(childProcess as { fork: typeof childProcess.fork }).fork = ((...args: Parameters<typeof childProcess.fork>) => {
  const child: ChildProcess = realFork(...args);
  const send = child.send.bind(child) as (...a: unknown[]) => boolean;
  type WireItem = { id: number; job?: { actions: (string | { code?: string; secrets?: unknown })[]; shapeDef?: unknown } };
  (child as { send: unknown }).send = (m: { t?: string; items?: WireItem[]; forget?: boolean }, ...rest: unknown[]) => {
    if (m?.t === 'batch' && Array.isArray(m.items)) {
      const count = (f: (a: string | { code?: string; secrets?: unknown }) => boolean) => m.items!.reduce((n, i) => n + (i.job?.actions.filter(f).length ?? 0), 0);
      sent.push({
        pid: child.pid, ids: m.items.map((i) => i.id), forget: m.forget === true,
        codes: count((a) => typeof a === 'object' && typeof a.code === 'string'),
        keysOnly: count((a) => typeof a === 'string'),
        secretsSent: count((a) => typeof a === 'object' && a.secrets !== undefined),
        shapeDefs: m.items.filter((i) => i.job?.shapeDef !== undefined).length,
      });
    }
    return send(m, ...rest);
  };
  child.on('message', (m: { t?: string; results?: unknown[]; returned?: unknown[] }) => {
    if (m?.t === 'done') replies.push({ pid: child.pid, results: m.results?.length ?? 0, returned: m.returned?.length ?? 0 });
  });
  return child;
}) as typeof childProcess.fork;
syncBuiltinESMExports();

const pools: SandboxPool[] = [];
function pool(o: Parameters<typeof createSandboxPool>[0]): SandboxPool {
  const p = createSandboxPool(o);
  pools.push(p);
  return p;
}
afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.close()));
  sent.length = 0;
  replies.length = 0;
});

const busy = (ms: number) => postLogin(`const end = Date.now() + ${ms}; while (Date.now() < end) {} api.idToken.setCustomClaim('busy', ${ms});`);
const tagged = (tag: string) => postLogin(`api.idToken.setCustomClaim('tag', '${tag}');`);
/** One warm version for many chains (a cold start takes milliseconds: a batch would be sliced). */
const echo = postLogin(`api.idToken.setCustomClaim('tag', event.tag);`);
const echoing = (tag: string) => request([echo], { event: { tag } });
/** An action whose worker the parent must kill: isolated-vm's timeout does not cover this (see hostile.test.ts). */
const unstoppable = () => action('}); throw { get message() { while (1) {} } }; (function () {', { name: 'unstoppable' });
const okOrLost = (r: ChainResult, tag: string): void => {
  if (r.status === 'ok') {
    assert.deepEqual(claims(r), { tag }, 'an ok result always carries what the action did');
  } else {
    assert.equal(r.status, 'runtime', JSON.stringify(r));
    assert.ok(r.results.length > 0 && r.results.every((x) => x.status === 'runtime' && x.error?.name === 'ResultLost' && x.commands.length === 0), JSON.stringify(r));
    assert.match(r.results[0].error?.message ?? '', /result lost/);
  }
};

describe('batches', () => {
  test('chains that wait for a busy worker go to it in one message, each with its own result', async () => {
    const p = pool({ workers: 1 });
    await waitHealthy(p);
    await p.runChain(echoing('warm'));
    const mark = sent.length;
    const blocker = p.runChain(request([busy(300)]));
    await eventually(() => sent.length > mark);
    const tags = Array.from({ length: 12 }, (_, i) => `t${i}`);
    const waiting = tags.map((t) => p.runChain(echoing(t)));
    assert.equal((await blocker).status, 'ok');
    const results = await Promise.all(waiting);
    results.forEach((r, i) => {
      assert.equal(r.status, 'ok', JSON.stringify(r));
      assert.deepEqual(claims(r), { tag: tags[i] });
    });
    const batches = sent.slice(mark);
    assert.equal(batches[0].ids.length, 1, 'a chain that finds a free worker goes out at once, alone');
    // (How many messages come back depends on timing: results are sent early when a batch runs long.)
    assert.equal(batches[1].ids.length, 12, `what waited goes as one batch: ${JSON.stringify(batches.map((b) => b.ids.length))}`);
  });

  test('an idle pool sends a lone chain at once', async () => {
    const p = pool({ workers: 2 });
    await waitHealthy(p);
    const t = performance.now();
    const r = await p.runChain(request([tagged('alone')]));
    assert.equal(r.status, 'ok');
    assert.ok(performance.now() - t < 200);
  });

  test('a chain that times out in a batch does not fail the others', async () => {
    const p = pool({ workers: 1 });
    await waitHealthy(p);
    const limits = { ...LIMITS, actionTimeoutMs: 200, chainTimeoutMs: 1000 };
    const mark = sent.length;
    const blocker = p.runChain(request([busy(150)]));
    await eventually(() => sent.length > mark);
    const chains = [tagged('a'), tagged('b'), postLogin('while (true) {}'), tagged('c'), tagged('d')];
    const results = await Promise.all(chains.map((a) => p.runChain(request([a], { limits }))));
    await blocker;
    assert.deepEqual(results.map((r) => r.status), ['ok', 'ok', 'timeout', 'ok', 'ok']);
    assert.deepEqual([0, 1, 3, 4].map((i) => claims(results[i]).tag), ['a', 'b', 'c', 'd']);
    assert.equal(p.stats().restarts, 0, 'isolated-vm stopped it: no worker was killed');
  });

  test('a chain the parent must kill mid-batch: chains that ran are ok or ResultLost, the rest run again once', async () => {
    const p = pool({ workers: 1 });
    await waitHealthy(p);
    const limits = { ...LIMITS, actionTimeoutMs: 300, chainTimeoutMs: 1000 };
    const mark = sent.length;
    const blocker = p.runChain(request([busy(150)]));
    await eventually(() => sent.length > mark);
    const hang = unstoppable();
    const names = ['a', 'b', 'hang', 'c', 'd'];
    const t = performance.now();
    const results = await Promise.all(names.map((n) => p.runChain(request([n === 'hang' ? hang : tagged(n)], { limits }))));
    await blocker;
    assert.ok(performance.now() - t < 5000);
    const batch = sent.slice(mark + 1)[0];
    assert.equal(batch.ids.length, 5, 'the five went as one batch');
    okOrLost(results[0], 'a');
    okOrLost(results[1], 'b');
    assert.ok(['timeout', 'syntax', 'runtime'].includes(results[2].status), JSON.stringify(results[2]));
    if (results[2].status === 'timeout') assert.equal(results[2].results[0].error?.name, 'TimeoutError');
    // Not started when the worker was killed: queued again, run on the new worker, ok.
    assert.deepEqual([results[3], results[4]].map((r) => [r.status, claims(r).tag]), [['ok', 'c'], ['ok', 'd']]);
    const again = sent.slice(mark + 2).filter((b) => b.ids.some((id) => batch.ids.slice(3).includes(id)));
    const resent = again.flatMap((b) => b.ids).filter((id) => batch.ids.slice(3).includes(id));
    // Each is sent again; more than once only when the new worker handed it back unstarted (a
    // cold start on a loaded machine can run past the batch's time slice): it still runs once.
    assert.ok(batch.ids.slice(3).every((id) => resent.includes(id)), `sent again: ${JSON.stringify(resent)}`);
    if (resent.length > 2) assert.ok(replies.some((r) => r.returned > 0), `a repeat send only after a hand-back: ${JSON.stringify({ resent, replies })}`);
    await waitHealthy(p);
  });

  test('a worker killed mid-batch: the running chain fails closed, the ones not started run elsewhere', async () => {
    const p = pool({ workers: 1 });
    await waitHealthy(p);
    const limits = { ...LIMITS, actionTimeoutMs: 5000, chainTimeoutMs: 10000 };
    const mark = sent.length;
    const blocker = p.runChain(request([busy(150)]));
    await eventually(() => sent.length > mark);
    const slow = postLogin(`const end = Date.now() + 3000; while (Date.now() < end) {} api.idToken.setCustomClaim('tag', 'slow');`);
    const waiting = [tagged('a'), slow, tagged('c'), tagged('d')].map((a) => p.runChain(request([a], { limits })));
    await blocker;
    await eventually(() => sent.length > mark + 1);
    await new Promise((r) => setTimeout(r, 300));
    for (const pid of childPids()) process.kill(pid, 'SIGKILL');
    const [a, s, c, d] = await Promise.all(waiting);
    okOrLost(a, 'a');
    assert.equal(s.status, 'runtime');
    assert.equal(s.results[0].error?.name, 'SandboxCrash');
    assert.deepEqual(s.results[0].commands, []);
    assert.deepEqual([c, d].map((r) => [r.status, claims(r).tag]), [['ok', 'c'], ['ok', 'd']]);
    await waitHealthy(p);
  });

  test('each chain of a batch has its own budget: three 400 ms chains under a 700 ms chain limit all pass', async () => {
    const p = pool({ workers: 1 });
    await waitHealthy(p);
    const limits = { ...LIMITS, actionTimeoutMs: 700, chainTimeoutMs: 700 };
    const mark = sent.length;
    const blocker = p.runChain(request([busy(100)]));
    await eventually(() => sent.length > mark);
    const results = await Promise.all([0, 1, 2].map(() => p.runChain(request([busy(400)], { limits }))));
    await blocker;
    assert.deepEqual(results.map((r) => r.status), ['ok', 'ok', 'ok']);
    assert.equal(p.stats().restarts, 0);
  });

  test('a chain waiting for a fetch hands back the rest of its batch; another worker runs them, once each', async () => {
    const hits = new Map<string, number>();
    const server: Server = createServer((req, res) => {
      const id = new URL(req.url ?? '/', 'http://x').searchParams.get('id') ?? '';
      hits.set(id, (hits.get(id) ?? 0) + 1);
      setTimeout(() => res.end('done'), id === 'slow' ? 3000 : 0);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    try {
      const p = pool({ workers: 2, cores: 2, fetchAllow: [`127.0.0.1:${port}`] });
      await waitHealthy(p);
      await eventually(() => p.stats().ready === 2);
      const limits = { ...LIMITS, actionTimeoutMs: 4000, chainTimeoutMs: 8000 };
      const fetching = (id: string) => postLogin(`const r = await fetch('http://127.0.0.1:${port}/?id=${id}'); api.idToken.setCustomClaim('tag', (await r.text()) + ':${id}');`);
      // Both workers busy; the one that frees first takes all four as one batch. The busy
      // spells are long enough that a loaded machine still queues the four before either ends.
      const b1 = p.runChain(request([busy(600)]));
      const b2 = p.runChain(request([busy(1000)]));
      await eventually(() => sent.length >= 2 && new Set(sent.slice(-2).map((s) => s.pid)).size === 2);
      const done: string[] = [];
      const ids = ['slow', 'q1', 'q2', 'q3'];
      const all = ids.map((id) => p.runChain(request([fetching(id)], { limits })).then((r) => { done.push(id); return r; }));
      const results = await Promise.all(all);
      await Promise.all([b1, b2]);
      const batchOfFour = sent.find((s) => s.ids.length === 4);
      assert.ok(batchOfFour, `the four went out as one batch: ${JSON.stringify(sent.map((s) => s.ids))}`);
      results.forEach((r, i) => {
        assert.equal(r.status, 'ok', JSON.stringify(r));
        assert.deepEqual(claims(r), { tag: `done:${ids[i]}` });
      });
      assert.equal(done[done.length - 1], 'slow', `finished in the order ${done.join(', ')}`);
      assert.deepEqual(Object.fromEntries(hits), { slow: 1, q1: 1, q2: 1, q3: 1 }, 'no chain ran twice');
      assert.ok(replies.some((r) => r.returned === 3), 'the three were handed back');
    } finally {
      server.close();
    }
  });

  test('a queued chain handed back keeps its queue deadline', async () => {
    const p = pool({ workers: 1, queueTimeoutMs: 400 });
    await waitHealthy(p);
    const limits = { ...LIMITS, actionTimeoutMs: 2000, chainTimeoutMs: 4000 };
    const mark = sent.length;
    const blocker = p.runChain(request([busy(100)]));
    await eventually(() => sent.length > mark);
    // A waits (a timer) and so hands back B; the only worker stays busy with A past B's deadline.
    const a = p.runChain(request([postLogin(`await new Promise((r) => setTimeout(r, 1000)); api.idToken.setCustomClaim('tag', 'a');`)], { limits }));
    const b = p.runChain(request([tagged('b')], { limits }));
    await blocker;
    const rb = await b;
    assert.equal(rb.status, 'timeout', JSON.stringify(rb));
    assert.equal(rb.results[0].error?.name, 'SandboxBusy');
    assert.deepEqual(claims(await a), { tag: 'a' });
  });
});

describe('single core (cores: 1)', () => {
  test('while one worker is at a batch, what arrives waits for it instead of waking the other', async () => {
    const p = pool({ workers: 2, cores: 1 });
    await waitHealthy(p);
    await eventually(() => p.stats().ready === 2);
    for (let i = 0; i < 2; i++) await Promise.all([p.runChain(echoing('warm')), p.runChain(echoing('warm'))]);
    const mark = sent.length;
    // Sixteen (one full batch): chains queued in one turn go out together; more would make a
    // second batch, which the other worker may take once the first answers early (a batch
    // running past FLUSH_MS), by design.
    const results = await Promise.all(Array.from({ length: 16 }, (_, i) => p.runChain(echoing(`t${i}`))));
    results.forEach((r, i) => assert.deepEqual(claims(r), { tag: `t${i}` }));
    const batches = sent.slice(mark);
    assert.ok(batches.length <= 3, `batches ${JSON.stringify(batches.map((b) => b.ids.length))}`);
    assert.equal(new Set(batches.map((b) => b.pid)).size, 1, `one worker took them all: ${JSON.stringify(batches)}`);
  });

  test('a stalled worker does not hold up the queue: the other one takes it', async () => {
    const p = pool({ workers: 2, cores: 1 });
    await waitHealthy(p);
    await eventually(() => p.stats().ready === 2);
    const limits = { ...LIMITS, actionTimeoutMs: 3000, chainTimeoutMs: 5000 };
    let slowDone = false;
    const slow = p.runChain(request([busy(1500)], { limits })).then((r) => { slowDone = true; return r; });
    await new Promise((r) => setTimeout(r, 50));
    const r = await p.runChain(request([tagged('quick')]));
    assert.deepEqual(claims(r), { tag: 'quick' });
    // Ordered, not timed: the quick chain is answered while the slow one still runs.
    assert.equal(slowDone, false, 'the quick chain waited for the slow one');
    assert.equal((await slow).status, 'ok');
  });
});

describe('action code', () => {
  test('a worker gets an action\'s code once; after a respawn it gets it again', async () => {
    const p = pool({ workers: 1 });
    await waitHealthy(p);
    const a = postLogin(`api.idToken.setCustomClaim('n', 1);`);
    const mark = sent.length;
    for (let i = 0; i < 3; i++) assert.deepEqual(claims(await p.runChain(request([a]))), { n: 1 });
    assert.deepEqual(sent.slice(mark).map((s) => s.codes), [1, 0, 0]);
    // Same key, other code (never happens with real versions): sent again, and that code runs.
    const changed = { ...a, code: a.code.replace("'n', 1", "'n', 2") };
    assert.deepEqual(claims(await p.runChain(request([changed]))), { n: 2 });
    assert.equal(sent[sent.length - 1].codes, 1);
    for (const pid of childPids()) process.kill(pid, 'SIGKILL');
    await eventually(() => p.stats().restarts >= 1);
    await waitHealthy(p);
    const before = sent.length;
    assert.deepEqual(claims(await p.runChain(request([changed]))), { n: 2 });
    assert.equal(sent[before].codes, 1, 'a new worker process is sent the code');
  });

  test('what a worker keeps goes once: an action then as its key alone, a chain\'s api lists and limits as their number; a change goes again', async () => {
    const p = pool({ workers: 1 });
    await waitHealthy(p);
    const a = postLogin(`api.idToken.setCustomClaim('s', event.secrets.S); console.log('limit ok');`, { name: 'first-name', secrets: { S: 'one' } });
    const mark = sent.length;
    const run = async (act: typeof a, over: Parameters<typeof request>[1] = {}) => {
      const r = await p.runChain(request([act], over));
      assert.equal(r.status, 'ok', JSON.stringify(r));
      return r;
    };
    let r = await run(a);
    assert.deepEqual(claims(r), { s: 'one' });
    r = await run({ ...a });
    assert.deepEqual(claims(r), { s: 'one' });
    assert.equal(r.results[0].name, 'first-name');
    assert.equal(r.results[0].key, a.key);
    const [first, second] = sent.slice(mark);
    // (waitHealthy's chain had the same shape: it went with that one.)
    assert.deepEqual([first.codes, first.shapeDefs, first.keysOnly], [1, 0, 0]);
    assert.deepEqual([second.codes, second.shapeDefs, second.keysOnly, second.secretsSent], [0, 0, 1, 0], 'the second chain names the action and the shape only');
    // New secrets for the same version: sent (without the code), and the action reads them.
    r = await run({ ...a, secrets: { S: 'two' } });
    assert.deepEqual(claims(r), { s: 'two' });
    assert.deepEqual([sent.at(-1)!.codes, sent.at(-1)!.secretsSent, sent.at(-1)!.keysOnly], [0, 1, 0]);
    // A new name: sent, and the result carries it.
    r = await run({ ...a, name: 'second-name', secrets: { S: 'two' } });
    assert.equal(r.results[0].name, 'second-name');
    assert.equal(sent.at(-1)!.keysOnly, 0);
    // Other limits: another shape, and the worker applies them (console output capped at 4 bytes).
    r = await run({ ...a, name: 'second-name', secrets: { S: 'two' } }, { limits: { ...LIMITS, consoleBytes: 4 } });
    assert.equal(sent.at(-1)!.shapeDefs, 1);
    assert.ok(r.results[0].logs.length < 'limit ok'.length, r.results[0].logs);
    // And back: the first shape is still kept by its number.
    r = await run({ ...a, name: 'second-name', secrets: { S: 'two' } });
    assert.equal(r.results[0].logs, 'limit ok\n');
    assert.deepEqual([sent.at(-1)!.shapeDefs, sent.at(-1)!.keysOnly], [0, 1]);
  });

  test('a chain\'s own budget (what is left of it when a login resumes) is not a new shape, and the worker keeps to it', async () => {
    const p = pool({ workers: 1 });
    await waitHealthy(p);
    const spin = postLogin(`const end = Date.now() + 300; while (Date.now() < end) {} api.idToken.setCustomClaim('done', true);`);
    const mark = sent.length;
    for (const chainTimeoutMs of [4000, 3999, 3500]) {
      const r = await p.runChain(request([spin], { limits: { ...LIMITS, chainTimeoutMs } }));
      assert.deepEqual(claims(r), { done: true });
    }
    // A budget shorter than the action: the chain ends in time, with the same shape.
    const short = await p.runChain(request([spin], { limits: { ...LIMITS, chainTimeoutMs: 100 } }));
    assert.equal(short.status, 'timeout', JSON.stringify(short));
    assert.deepEqual(sent.slice(mark).map((x) => x.shapeDefs), [0, 0, 0, 0], 'one shape for every budget');
  });

  test('one version key with secrets and names changing under load, two workers, hand-backs, several shapes: each chain reads its own', async () => {
    const p = pool({ workers: 2, cores: 2 });
    await waitHealthy(p);
    const key = `v-shared-${Date.now()}`;
    // A timer makes the worker hand back the rest of its batch (requeued, maybe to the other worker).
    const mk = (s: string, wait: boolean) => postLogin(`${wait ? 'await new Promise((r) => setTimeout(r, 5));' : ''} api.idToken.setCustomClaim('s', event.secrets.S);`, { key, name: `n-${s}`, secrets: { S: s } });
    for (let round = 0; round < 5; round++) {
      const jobs = Array.from({ length: 40 }, (_, i) => {
        const s = `s${round}-${i % 3}`;
        const limits = i % 4 === 0 ? { ...LIMITS, consoleBytes: 100 + (i % 7) } : LIMITS;
        return p.runChain(request([mk(s, i % 5 === 0), mk(`${s}b`, false)], { limits })).then((r) => ({ r, s }));
      });
      for (const { r, s } of await Promise.all(jobs)) {
        assert.equal(r.status, 'ok', JSON.stringify(r));
        assert.deepEqual(claims(r, 0), { s });
        assert.deepEqual(claims(r, 1), { s: `${s}b` });
        assert.deepEqual(r.results.map((x) => x.name), [`n-${s}`, `n-${s}b`]);
      }
    }
  });
});
