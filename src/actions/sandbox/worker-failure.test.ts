/**
 * Worker processes dying or staying busy: fails closed, respawns, queues with a deadline,
 * quarantines an action that keeps killing workers. Each test owns its pool (this file's
 * process has no other children, so the tests can find and kill the workers).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createSandboxPool } from './index.ts';
import { LIMITS, childPids, claims, eventually, expectHealthy, postLogin, request, waitHealthy } from './test-support.ts';

describe('worker failure', () => {
  test('a worker killed with SIGKILL mid-chain fails that chain closed and is replaced', async () => {
    const warnings: string[] = [];
    const pool = createSandboxPool({
      workers: 2,
      logger: { warn: (_o, m) => { warnings.push(m); }, error: (_o, m) => { warnings.push(m); } },
    });
    try {
      await eventually(() => childPids().length === 2 && pool.stats().workers === 2);
      await waitHealthy(pool);
      const before = pool.stats();
      const pidsBefore = new Set(childPids());
      const slow = postLogin(`const end = Date.now() + 3000; while (Date.now() < end) {} api.idToken.setCustomClaim('late', 1);`);
      const first = postLogin(`api.idToken.setCustomClaim('first', 1);`);
      const running = pool.runChain(request([first, slow], { limits: { ...LIMITS, actionTimeoutMs: 5000, chainTimeoutMs: 10000 } }));
      await new Promise((r) => setTimeout(r, 300));
      // Kill every worker: the busy one is among them.
      for (const pid of pidsBefore) process.kill(pid, 'SIGKILL');
      const r = await running;
      assert.equal(r.status, 'runtime', JSON.stringify(r));
      assert.equal(r.results.length, 2);
      assert.equal(r.results[1].status, 'runtime');
      assert.equal(r.results[1].error?.name, 'SandboxCrash');
      assert.equal(r.results[1].key, slow.key);
      assert.deepEqual(r.results[0].commands, [], 'nothing from a killed chain is reported as applied');
      await waitHealthy(pool);
      await eventually(() => pool.stats().workers === 2);
      const after = pool.stats();
      assert.ok(after.restarts >= before.restarts + 2);
      const pidsAfter = childPids();
      assert.ok(pidsAfter.every((p) => !pidsBefore.has(p)));
      assert.ok(warnings.some((w) => /worker died/.test(w)));
    } finally {
      await pool.close();
    }
  });

  test('an action that keeps killing its worker is quarantined for a while', async () => {
    const small = createSandboxPool({ workers: 1 });
    try {
      const crasher = postLogin(`const end = Date.now() + 3000; while (Date.now() < end) {}`);
      for (let i = 0; i < 3; i++) {
        await waitHealthy(small);
        const running = small.runChain(request([crasher], { limits: { ...LIMITS, actionTimeoutMs: 5000 } }));
        await new Promise((r) => setTimeout(r, 100));
        for (const pid of childPids()) process.kill(pid, 'SIGKILL');
        assert.equal((await running).results[0].error?.name, 'SandboxCrash');
      }
      await waitHealthy(small);
      const t = performance.now();
      const r = await small.runChain(request([postLogin(`api.idToken.setCustomClaim('before', 1);`), crasher]));
      assert.equal(r.status, 'runtime');
      assert.equal(r.results.length, 2);
      assert.deepEqual(claims(r, 0), { before: 1 });
      assert.equal(r.results[1].error?.name, 'ActionQuarantined');
      assert.ok(performance.now() - t < 1000);
    } finally {
      await small.close();
    }
  });

  test('jobs wait in the queue with a deadline; nothing rejects', async () => {
    const small = createSandboxPool({ workers: 1, queueTimeoutMs: 150 });
    try {
      await waitHealthy(small);
      const busy = small.runChain(request([postLogin(`const end = Date.now() + 600; while (Date.now() < end) {}`)], { limits: { ...LIMITS, actionTimeoutMs: 2000 } }));
      await new Promise((r) => setTimeout(r, 50));
      const waiting = await small.runChain(request([postLogin(`api.idToken.setCustomClaim('a', 1);`)]));
      assert.equal(waiting.status, 'timeout');
      assert.equal(waiting.results[0].error?.name, 'SandboxBusy');
      assert.equal((await busy).status, 'ok');
      await expectHealthy(small);
    } finally {
      await small.close();
    }
  });
});
