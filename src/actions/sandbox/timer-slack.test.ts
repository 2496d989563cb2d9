/**
 * The sandbox workers' timer slack (timer-slack.ts): set in the worker before its first isolate
 * call, inherited by isolated-vm's timer threads, and put back to the default while the runner
 * waits for a guest timer. Linux only; skipped where /proc does not show it.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { createSandboxPool, type SandboxPool } from './index.ts';
import { BUSY_SLACK_NS, PRECISE_SLACK_NS, busy, precise, setTimerSlack } from './timer-slack.ts';
import { LIMITS, childPids, eventually, postLogin, request, waitHealthy } from './test-support.ts';

function slackOf(path: string): number | null {
  try { return Number(readFileSync(path, 'utf8').trim()); } catch { return null; }
}
const linux = process.platform === 'linux' && slackOf('/proc/self/timerslack_ns') !== null;

describe('timer slack', { skip: linux ? false : 'no /proc/self/timerslack_ns here' }, () => {
  test('setTimerSlack sets the main thread\'s slack; busy() and precise() switch only once it was set', () => {
    const before = slackOf('/proc/self/timerslack_ns') as number;
    try {
      // Not set by this module yet: busy() and precise() leave the process alone (in-process runners in tests and benchmarks).
      busy();
      assert.equal(slackOf('/proc/self/timerslack_ns'), before);
      assert.equal(setTimerSlack(BUSY_SLACK_NS), true);
      assert.equal(slackOf('/proc/self/timerslack_ns'), BUSY_SLACK_NS);
      precise();
      assert.equal(slackOf('/proc/self/timerslack_ns'), PRECISE_SLACK_NS);
      busy();
      assert.equal(slackOf('/proc/self/timerslack_ns'), BUSY_SLACK_NS);
    } finally {
      setTimerSlack(before);
    }
    assert.equal(slackOf('/proc/self/timerslack_ns'), before);
  });

  describe('in a worker', () => {
    let pool: SandboxPool;
    before(async () => {
      pool = createSandboxPool({ workers: 1 });
      await waitHealthy(pool);
    });
    after(async () => { await pool.close(); });

    test('the worker and the timer thread isolated-vm starts in it run with the busy slack', async (t) => {
      const r = await pool.runChain(request([postLogin(`api.idToken.setCustomClaim('x', 1);`)], { limits: { ...LIMITS, actionTimeoutMs: 5000 } }));
      assert.equal(r.status, 'ok');
      const [pid] = childPids();
      assert.ok(pid !== undefined);
      const main = slackOf(`/proc/${pid}/timerslack_ns`);
      if (main === null) { t.skip('another process\'s timer slack is not readable here (CAP_SYS_NICE)'); return; }
      assert.equal(main, BUSY_SLACK_NS);
      // The timed call above left a timer pending for seconds: its thread exists now.
      let threads: number[] = [];
      await eventually(() => {
        threads = readdirSync(`/proc/${pid}/task`).map(Number).filter((tid) => tid !== pid);
        return threads.some((tid) => slackOf(`/proc/${tid}/timerslack_ns`) === BUSY_SLACK_NS);
      });
    });

    test('a guest timer is waited for with the default slack, and the busy slack comes back after', async (t) => {
      const [pid] = childPids();
      if (slackOf(`/proc/${pid}/timerslack_ns`) === null) { t.skip('not readable here'); return; }
      const seen: number[] = [];
      const running = pool.runChain(request([postLogin(`await new Promise((r) => setTimeout(r, 400)); api.idToken.setCustomClaim('waited', true);`)]));
      const poll = setInterval(() => { const s = slackOf(`/proc/${pid}/timerslack_ns`); if (s !== null) seen.push(s); }, 20);
      const r = await running;
      clearInterval(poll);
      assert.equal(r.status, 'ok', JSON.stringify(r));
      assert.ok(seen.includes(PRECISE_SLACK_NS), `slack seen while the guest timer was pending: ${[...new Set(seen)].join(', ')}`);
      await eventually(() => slackOf(`/proc/${pid}/timerslack_ns`) === BUSY_SLACK_NS);
    });
  });
});
