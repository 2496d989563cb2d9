/**
 * The sandbox workers' timer slack (timer-slack.ts): set in the worker before its first isolate
 * call, inherited by isolated-vm's timer threads, and put back to the thread's default while the
 * runner waits for a guest timer. Linux only; skipped where /proc does not allow it.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { createSandboxPool, type SandboxPool } from './index.ts';
import { ChainRunner } from './runner.ts';
import { BUSY_SLACK_NS, DEFAULT_SLACK, busy, precise, setTimerSlack } from './timer-slack.ts';
import { LIMITS, POST_LOGIN_API, POST_LOGIN_STOP, childPids, eventually, postLogin, request, waitHealthy } from './test-support.ts';

const SELF = '/proc/self/timerslack_ns';
function slackOf(path: string): number | null {
  try { return Number(readFileSync(path, 'utf8').trim()); } catch { return null; }
}
const linux = process.platform === 'linux' && slackOf(SELF) !== null;
const GUEST_WAIT = `await new Promise((r) => setTimeout(r, 300)); api.idToken.setCustomClaim('waited', true);`;

describe('timer slack', { skip: linux ? false : 'no /proc/self/timerslack_ns here' }, () => {
  // This process's own slack: what it had, and its default (what writing 0 restores).
  let original = 0;
  let dflt = 0;
  let writable = false;
  before(() => {
    original = slackOf(SELF) as number;
    writable = setTimerSlack(DEFAULT_SLACK);
    dflt = slackOf(SELF) as number;
  });
  after(() => { if (writable) setTimerSlack(original); });

  test('setTimerSlack sets the main thread\'s slack; busy() and precise() switch between it and the default', (t) => {
    if (!writable) { t.skip('this kernel or /proc does not let a thread set its own slack'); return; }
    assert.equal(setTimerSlack(BUSY_SLACK_NS), true);
    assert.equal(slackOf(SELF), BUSY_SLACK_NS);
    precise();
    assert.equal(slackOf(SELF), dflt);
    busy();
    assert.equal(slackOf(SELF), BUSY_SLACK_NS);
  });

  test('a runner waits for a guest timer with the default slack and is back to the busy slack after', async (t) => {
    if (!writable) { t.skip('this kernel or /proc does not let a thread set its own slack'); return; }
    const runner = new ChainRunner({ maxWarm: 4, fetchAllow: [], fetchTimeoutMs: 1000, fetchMaxBytes: 1024 });
    try {
      setTimerSlack(BUSY_SLACK_NS);
      const seen: number[] = [];
      const poll = setInterval(() => { seen.push(slackOf(SELF) as number); }, 20);
      const a = postLogin(GUEST_WAIT);
      const r = await runner.runChain({
        handler: 'onExecutePostLogin', actions: [a], eventJson: '{"user":{}}', cacheJson: '{}',
        apiMethods: POST_LOGIN_API, stopOn: POST_LOGIN_STOP, redirect: null, limits: LIMITS,
      });
      clearInterval(poll);
      assert.equal(r.status, 'ok', JSON.stringify(r));
      assert.ok(seen.includes(dflt), `slack seen while the guest timer was pending: ${[...new Set(seen)].join(', ')}`);
      assert.equal(slackOf(SELF), BUSY_SLACK_NS, 'busy again once the wait is over');
    } finally {
      runner.disposeAll();
      setTimerSlack(original);
    }
  });

  describe('in a worker', () => {
    let pool: SandboxPool;
    before(async () => {
      pool = createSandboxPool({ workers: 1 });
      await waitHealthy(pool);
    });
    after(async () => { await pool.close(); });

    test('the worker and the timer threads isolated-vm starts from it run with the busy slack', async (t) => {
      const r = await pool.runChain(request([postLogin(`api.idToken.setCustomClaim('x', 1);`)], { limits: { ...LIMITS, actionTimeoutMs: 5000 } }));
      assert.equal(r.status, 'ok');
      const [pid] = childPids();
      assert.ok(pid !== undefined);
      const main = slackOf(`/proc/${pid}/timerslack_ns`);
      if (main === null) { t.skip('another process\'s timer slack is not readable here (CAP_SYS_NICE)'); return; }
      assert.equal(main, BUSY_SLACK_NS);
      // Threads Node and V8 start have names of their own; a thread native code starts from the
      // main thread carries the main thread's name: isolated-vm's timer threads. The timed call
      // above left a timer pending for seconds, so one exists now.
      const comm = (tid: number) => readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim();
      const mainName = comm(pid);
      const timerThreads = readdirSync(`/proc/${pid}/task`).map(Number).filter((tid) => tid !== pid && comm(tid) === mainName);
      assert.ok(timerThreads.length > 0, 'an isolated-vm timer thread');
      for (const tid of timerThreads) assert.equal(slackOf(`/proc/${tid}/timerslack_ns`), BUSY_SLACK_NS, `thread ${tid}`);
    });

    test('the worker too waits for a guest timer with its default slack', async (t) => {
      const [pid] = childPids();
      if (slackOf(`/proc/${pid}/timerslack_ns`) === null) { t.skip('another process\'s timer slack is not readable here (CAP_SYS_NICE)'); return; }
      const seen: number[] = [];
      const running = pool.runChain(request([postLogin(GUEST_WAIT)]));
      const poll = setInterval(() => { const s = slackOf(`/proc/${pid}/timerslack_ns`); if (s !== null) seen.push(s); }, 20);
      const r = await running;
      clearInterval(poll);
      assert.equal(r.status, 'ok', JSON.stringify(r));
      // The worker's default is what it inherited from this process when it was forked.
      assert.ok(seen.includes(original), `slack seen while the guest timer was pending: ${[...new Set(seen)].join(', ')}`);
      await eventually(() => slackOf(`/proc/${pid}/timerslack_ns`) === BUSY_SLACK_NS);
    });
  });
});
