/**
 * Timer slack of a sandbox worker's main thread (Linux only; elsewhere nothing happens).
 *
 * Why: every timed isolated-vm call (`applySync` with `timeout`) queues a timer on a thread of
 * isolated-vm's own, and a finished call does not take its timer back: the thread wakes up when
 * each timer would have expired, seconds later, only to drop it. Under load that is thousands
 * of wake-ups a second, each preempting whatever runs on the core (the worker, or the server
 * when they share one). Linux lets a thread's sleeps end up to its "timer slack" late, so that
 * wake-ups close together are served by one; a new thread inherits the slack of the thread
 * that creates it. isolated-vm creates its timer threads from the worker's main thread (in a
 * timed call), so the worker raises its own slack at start-up and those threads inherit it:
 * they then wake about once per slack period and drop every expired timer at once. A
 * timeout that really fires is at most that much late.
 *
 * The main thread's own sleeps would be late by as much, which matters for one thing only: a
 * guest timer (setTimeout in an action) the runner waits for. Around those waits the runner
 * puts the thread's default back (`precise`), and raises it again before its next isolate call.
 *
 * Measured with two pools in one process pinned to one core, 16 chains in flight, rounds
 * alternating between them: CPU (server side and workers) per 5-action chain 0.71× the default
 * with 5 ms of slack, 0.86× with 1 ms, 20 ms 0.95× of 5 ms; with the 10 ms used here 0.77× per
 * 5-action chain and 0.76× per 1-action chain.
 */
import { writeFileSync } from 'node:fs';

/** The main thread's slack while it runs chains (ns). */
export const BUSY_SLACK_NS = 10_000_000;
/**
 * Written to go back to the thread's default slack (Linux: 0 restores it; the default is what
 * the process inherited from its parent, 50 µs unless someone changed it): while the runner
 * waits for a guest timer.
 */
export const DEFAULT_SLACK = 0;

const FILE = '/proc/self/timerslack_ns';
let available = process.platform === 'linux';
let current = -1;

/**
 * Sets the calling process's main-thread timer slack; false when that is not possible (not
 * Linux, an old kernel, a restricted /proc). Writing one's own slack needs no privilege on
 * Linux ≥ 4.18. Only the main thread may call this: /proc/self is the thread-group leader.
 */
export function setTimerSlack(ns: number): boolean {
  if (!available) return false;
  if (ns === current) return true;
  try {
    writeFileSync(FILE, String(Math.max(0, Math.floor(ns))));
    current = ns;
    return true;
  } catch {
    available = false;
    return false;
  }
}

/** The slack for running chains is in force (or could not be set). */
export function busy(): void {
  if (current !== -1) setTimerSlack(BUSY_SLACK_NS);
}

/** The default slack, for a wait whose timing the guest sees. */
export function precise(): void {
  if (current !== -1) setTimerSlack(DEFAULT_SLACK);
}
