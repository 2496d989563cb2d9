/**
 * Sandbox worker process entry (forked by pool.ts with --no-node-snapshot).
 *
 * Holds the warm isolates and runs one chain (or one validation) at a time. The parent sends a
 * batch: one message with one or more items (several chains when they were waiting for a
 * worker), which run one after the other. Their results go back together in one message, so
 * that under load one wake-up of this process and one round trip serve several chains. The
 * results gathered so far are sent early (a 'done' message may answer part of a batch):
 *
 * - when FLUSH_MS have passed since the last message (a long batch does not hold up the answers
 *   of its first chains, and a worker killed later loses only the last few);
 * - when a chain is about to wait for a timer or a fetch: then the items not started yet are
 *   handed back too (`returned`), for the parent to queue again (another worker may take them);
 * - when the batch has run for SLICE_MS: the items not started yet are handed back.
 *
 * Every item the parent sends is answered exactly once, by a result or by being handed back
 * unstarted. What stays the same from chain to chain is sent once per worker and left out
 * afterwards: an action's code, name and secrets (`kept`: later chains name the action by its
 * version key) and a trigger's api lists and limits (`shapes`: later chains give the shape's
 * number). A chain item then carries little more than its event. The results go back without
 * the actions' keys and names, which the parent has.
 *
 * Before each item but the first of a batch (the parent counts that one as started when it sent
 * the batch), and before action i > 0 of a chain, it overwrites a 32-byte progress record at
 * offset 0 of fd 4, an unlinked file shared with the parent: [item id u32, i u32, actionStartedAt
 * f64, chainStartedAt f64 (epoch ms), item id u32, 0 u32] (little-endian; the id twice to detect
 * a torn read). The parent reads it only when it needs to (a deadline, a crash):
 * to give each action and each chain its own budget, to attribute a kill to the action that was
 * running, and to know which items of a batch had not started (those it queues again), without
 * an IPC message or a wake-up of the server per chain (a pwrite costs < 1 µs). An item after the
 * first of a batch never starts unless its record was written: when that write fails, the rest
 * of the batch is handed back.
 *
 * The parent may SIGKILL this process at any time (deadline, isolated-vm's timeout gaps); it
 * keeps nothing that must survive that. It exits when the IPC channel closes.
 */
import { writeSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { ChainRunner, prepareShape, type ChainJob, type PreparedShape } from './runner.ts';
import { BUSY_SLACK_NS, setTimerSlack } from './timer-slack.ts';
import type { ActionResult, ChainResult, SandboxAction, ValidateResult } from './types.ts';

/**
 * An action as sent: its version key alone when this worker was sent the same name, secrets and
 * code for that key before (see `kept`); without `code` when only the code is the same.
 */
export type WireAction = string | (Omit<SandboxAction, 'code'> & { code?: string });
/** A chain's fixed part, the same for every chain of a trigger (see `shapes`). */
export type WireShape = Pick<ChainJob, 'handler' | 'apiMethods' | 'unsupported' | 'stopOn' | 'limits'>;
/**
 * A chain as sent: `shape` names its fixed part, which `shapeDef` brings the first time this
 * worker sees that number; its own chain budget replaces the shape's; `cacheJson` is left out
 * when it is `{}`.
 */
export type WireChain = Pick<ChainJob, 'eventJson' | 'cacheByAction' | 'redirect'> & {
  shape: number; shapeDef?: WireShape; chainTimeoutMs: number; actions: WireAction[]; cacheJson?: string;
};

export type BatchItem =
  | { t: 'chain'; id: number; job: WireChain; blocked?: string[] }
  | { t: 'validate'; id: number; code: string; handlers: string[]; limits: { actionTimeoutMs: number; memoryMb: number } };

/** `forget`: drop the actions and shapes kept so far first (the parent keeps its own account of them bounded). */
export type ParentMessage = { t: 'batch'; items: BatchItem[]; forget?: boolean };

/** An action's result as sent back: the parent has its key and name. */
export type WireActionResult = Omit<ActionResult, 'key' | 'name'>;
export type WireChainResult = Omit<ChainResult, 'results'> & { results: WireActionResult[] };

export type WorkerMessage =
  | { t: 'ready' }
  /**
   * Results of items of the current batch, and items handed back unstarted. `resync`: an action
   * or a shape arrived that this worker does not have (never expected); the parent sends them
   * again.
   */
  | { t: 'done'; results: { id: number; result: WireChainResult | ValidateResult }[]; returned: number[]; resync?: boolean };

const PROGRESS_FD = 4;
const PROGRESS_BYTES = 32;
/** Results waiting longer than this since the last message are sent after the current item. */
const FLUSH_MS = 2;
/** A batch running longer than this hands back the items it has not started. */
const SLICE_MS = 20;

// Before the first isolate call: isolated-vm's timer threads inherit it (see timer-slack.ts).
setTimerSlack(BUSY_SLACK_NS);

const cfg = JSON.parse(process.argv[2] ?? '{}') as { maxWarm?: number; fetchAllow?: string[]; issuer?: string; fetchTimeoutMs?: number; fetchMaxBytes?: number };
const runner = new ChainRunner({
  maxWarm: cfg.maxWarm ?? 64,
  fetchAllow: cfg.fetchAllow ?? [],
  issuer: cfg.issuer ?? '',
  fetchTimeoutMs: cfg.fetchTimeoutMs ?? 5000,
  fetchMaxBytes: cfg.fetchMaxBytes ?? 1024 * 1024,
});

function send(m: WorkerMessage): void {
  if (process.send && process.connected) process.send(m);
}

/** The parent could not open a progress file (fd 4 is not ours then: never write to it). */
const hasProgress = process.argv[3] !== 'no-progress';
const record = Buffer.alloc(PROGRESS_BYTES);
/**
 * Writes the progress record; false when it could not be written. `write` false only updates it
 * here (the first item of a batch: the parent counts it as started when it sent the batch), so
 * that the next write carries this item's start.
 */
function progress(id: number, index: number, write = true): boolean {
  if (!hasProgress) return false;
  const now = Date.now();
  record.writeUInt32LE(id >>> 0, 0);
  record.writeUInt32LE(index, 4);
  record.writeDoubleLE(now, 8);
  if (index === 0) record.writeDoubleLE(now, 16);
  record.writeUInt32LE(id >>> 0, 24);
  if (!write) return true;
  try {
    return writeSync(PROGRESS_FD, record, 0, PROGRESS_BYTES, 0) === PROGRESS_BYTES;
  } catch {
    return false;
  }
}

/**
 * Actions by version key as the parent last sent them: the parent sends what this worker does
 * not have yet and leaves out the rest (pool.ts keeps the same account, bounded, and says
 * `forget` when it starts over). Kept apart from the warm isolates, whose LRU may drop an
 * isolate and rebuild it from here. Each is one frozen object for as long as it stays the same,
 * so the runner turns its secrets into JSON once.
 */
const kept = new Map<string, SandboxAction>();
/** Chain shapes by the parent's number, prepared for the runner once each. */
const shapes = new Map<number, WireShape & { prepared: PreparedShape }>();
let resync = false;

// The current batch: items not started yet, results not sent yet.
let waiting: BatchItem[] = [];
let results: { id: number; result: WireChainResult | ValidateResult }[] = [];
let lastSent = 0;

/** Sends the results gathered so far, and hands back `returned`. */
function flush(returned: number[] = []): void {
  if (results.length === 0 && returned.length === 0) return;
  send(resync ? { t: 'done', results, returned, resync } : { t: 'done', results, returned });
  resync = false;
  results = [];
  lastSent = performance.now();
}

/** Takes what a chain brings (actions, a shape) and fills in what it leaves out; null when some is missing. */
function fromWire(job: WireChain): ChainJob | null {
  let complete = true;
  const actions: SandboxAction[] = job.actions.map((a) => {
    if (typeof a === 'string') {
      const k = kept.get(a);
      if (k === undefined) { complete = false; return { key: a, name: '', code: '', secrets: {} }; }
      return k;
    }
    const code = typeof a.code === 'string' ? a.code : kept.get(a.key)?.code;
    if (code === undefined) { complete = false; return { key: a.key, name: a.name, code: '', secrets: {} }; }
    const action: SandboxAction = Object.freeze({ key: a.key, name: a.name, code, secrets: Object.freeze(a.secrets) });
    kept.set(a.key, action);
    return action;
  });
  if (job.shapeDef !== undefined) shapes.set(job.shape, { ...job.shapeDef, prepared: prepareShape(job.shapeDef) });
  const shape = shapes.get(job.shape);
  if (!complete || shape === undefined) return null;
  return {
    handler: shape.handler, actions, eventJson: job.eventJson, cacheJson: job.cacheJson ?? '{}',
    ...(job.cacheByAction ? { cacheByAction: job.cacheByAction } : {}),
    apiMethods: shape.apiMethods, ...(shape.unsupported ? { unsupported: shape.unsupported } : {}), stopOn: shape.stopOn,
    redirect: job.redirect, limits: job.chainTimeoutMs === shape.limits.chainTimeoutMs ? shape.limits : { ...shape.limits, chainTimeoutMs: job.chainTimeoutMs },
    prepared: shape.prepared,
  };
}

/** A chain whose code or shape this worker does not have: fails closed, nothing ran. */
function missingCode(job: WireChain): WireChainResult {
  const error = { name: 'SandboxError', message: 'The sandbox worker did not have this chain\'s action code or api lists; nothing ran' };
  const results: WireActionResult[] = job.actions.map(() => ({
    status: 'runtime', commands: [], logs: '', error, startedAt: Date.now(), durationMs: 0, cpuMicros: 0,
  }));
  return { status: 'runtime', results, durationMs: 0 };
}

/** A chain's result as sent back: each action's without its key and name. */
function toWire(r: ChainResult): WireChainResult {
  return { status: r.status, durationMs: r.durationMs, results: r.results.map(({ key: _k, name: _n, ...rest }) => rest) };
}

/** Hands back the items of the batch that have not started, with the results so far. */
function handBack(): void {
  const ids = waiting.map((i) => i.id);
  waiting = [];
  flush(ids);
}

async function runItem(item: BatchItem, job: ChainJob | null): Promise<WireChainResult | ValidateResult> {
  if (item.t === 'validate') return runner.validate(item.code, item.handlers, item.limits);
  if (job === null) {
    resync = true;
    return missingCode(item.job);
  }
  const step = (i: number): void => { progress(item.id, i); };
  if (item.blocked === undefined || item.blocked.length === 0) return toWire(await runner.runChain(job, step, handBack));
  const blocked = new Set(item.blocked);
  return toWire(job.actions.some((a) => blocked.has(a.key))
    ? await runBlocked(job, blocked, step)
    : await runner.runChain(job, step, handBack));
}

async function handle(m: ParentMessage): Promise<void> {
  if (m === null || typeof m !== 'object' || m.t !== 'batch' || !Array.isArray(m.items)) return;
  if (m.forget === true) { kept.clear(); shapes.clear(); }
  // What the items bring first, in order, for the whole batch: items handed back unstarted
  // leave theirs here too (the parent counts them as this worker's).
  const jobs = new Map<number, ChainJob | null>();
  for (const item of m.items) if (item.t === 'chain') jobs.set(item.id, fromWire(item.job));
  waiting = m.items.slice();
  const t0 = performance.now();
  lastSent = t0;
  let first = true;
  while (waiting.length > 0) {
    if (!first && performance.now() - t0 >= SLICE_MS) { handBack(); break; }
    const item = waiting[0];
    // The parent takes an item after the first as not started unless its record says otherwise;
    // the first, as started when the batch was sent (no write needed).
    if (!progress(item.id, 0, !first) && !first) { handBack(); break; }
    waiting.shift();
    first = false;
    const result = await runItem(item, jobs.get(item.id) ?? null);
    results.push({ id: item.id, result });
    if (waiting.length > 0 && performance.now() - lastSent >= FLUSH_MS) flush();
  }
  flush();
}

/** A chain with quarantined actions: run until the first of them, which fails closed. */
async function runBlocked(job: ChainJob, blocked: Set<string>, step: (i: number) => void): Promise<ChainResult> {
  const cut = job.actions.findIndex((a) => blocked.has(a.key));
  const head = await runner.runChain({ ...job, actions: job.actions.slice(0, cut) }, step, handBack);
  if (head.status !== 'ok' || head.results.length < cut) return head;
  const a = job.actions[cut];
  head.results.push({
    key: a.key, name: a.name, status: 'runtime', commands: [], logs: '',
    error: { name: 'ActionQuarantined', message: 'This action crashed the sandbox repeatedly and is suspended for a while' },
    startedAt: Date.now(), durationMs: 0, cpuMicros: 0,
  });
  return { status: 'runtime', results: head.results, durationMs: head.durationMs };
}

// One batch at a time: isolates are not shared between concurrent executions.
let chain: Promise<void> = Promise.resolve();
process.on('message', (m: ParentMessage) => {
  chain = chain.then(() => handle(m)).catch((e: unknown) => {
    process.stderr.write(`sandbox worker: internal error: ${e instanceof Error ? e.stack ?? e.message : 'unknown'}\n`);
    process.exit(70);
  });
});
process.on('disconnect', () => {
  runner.disposeAll();
  process.exit(0);
});
process.on('uncaughtException', (e) => {
  process.stderr.write(`sandbox worker: uncaught exception: ${e instanceof Error ? e.stack ?? e.message : 'unknown'}\n`);
  process.exit(70);
});

send({ t: 'ready' });
