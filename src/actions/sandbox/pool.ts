/**
 * The server side of the sandbox: a supervised pool of worker processes (worker.ts).
 *
 * - One chain per worker at a time, one IPC message each way per chain.
 * - Every running job has a deadline the parent enforces itself: per action
 *   (actionTimeoutMs + grace, from the progress record the worker writes before each action) and
 *   per chain (chainTimeoutMs + grace). Past it the worker is SIGKILLed and respawned, and the job
 *   resolves as `timeout` for the action that was running. This is what ends the cases
 *   isolated-vm's own `timeout` does not cover (SECURITY.md §0.3).
 * - A worker that dies (crash, OOM abort, kill -9) fails its job closed (`oom` when its stderr
 *   says so, else `runtime`) and is respawned, with backoff when it cannot even start.
 * - When all workers are busy, jobs wait in a bounded queue with a deadline (`timeout`).
 * - An action that keeps killing workers is quarantined for a while (SECURITY.md §3.7).
 *
 * Nothing here ever rejects or hangs for anything an action does.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import type { ChainJob } from './runner.ts';
import type { ParentMessage, WorkerMessage } from './worker.ts';
import type {
  ActionResult, ChainLimits, ChainRequest, ChainResult, Command, SandboxAction, SandboxLogger, SandboxPool,
  SandboxPoolOptions, SandboxStatus, ValidateResult,
} from './types.ts';

const WORKER_PATH = fileURLToPath(new URL('./worker.ts', import.meta.url));
/** Added to the worker's own deadlines before the parent kills: IPC, scheduling, result building. */
const KILL_GRACE_MS = 1000;
const MAX_QUEUE = 1000;
const QUARANTINE_THRESHOLD = 3;
const QUARANTINE_WINDOW_MS = 60_000;
const QUARANTINE_MS = 60_000;
const DEFAULT_VALIDATE_LIMITS = { actionTimeoutMs: 5000, memoryMb: 64 };
const STATUSES: ReadonlySet<string> = new Set(['ok', 'denied', 'timeout', 'oom', 'syntax', 'runtime']);
const SAFE_PATH = /^[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)*$/;
const UNSAFE_SEGMENTS = new Set(['__proto__', 'constructor', 'prototype']);

type Outcome = ChainResult | ValidateResult;

interface Job {
  id: number;
  kind: 'chain' | 'validate';
  message: ParentMessage;
  actions: SandboxAction[];
  actionTimeoutMs: number;
  chainTimeoutMs: number;
  resolve: (r: Outcome) => void;
  done: boolean;
  queueTimer?: NodeJS.Timeout;
  // while running
  slot?: Slot;
  startedAt: number;
  chainKillAt: number;
  killTimer?: NodeJS.Timeout;
  actionIndex: number;
}

interface Slot {
  index: number;
  child: ChildProcess | null;
  pid: number | undefined;
  /** Accepts jobs (false while starting, and once a kill is decided). */
  ready: boolean;
  /** Said 'ready' at least once: a later death is not a start-up failure. */
  started: boolean;
  job: Job | null;
  stderrTail: string;
  /** Unlinked temp file shared with the worker as its fd 4: the progress record (see worker.ts). */
  progressFd: number;
  quickDeaths: number;
  exited: Promise<void>;
}

function failureResult(a: SandboxAction, status: SandboxStatus, error: { name: string; message: string } | undefined): ActionResult {
  const r: ActionResult = { key: a.key, name: a.name, status, commands: [], logs: '', startedAt: Date.now(), durationMs: 0, cpuMicros: 0 };
  if (error) r.error = error;
  return r;
}

/**
 * A chain that failed at action `at` without a result from the worker. The actions before `at`
 * ran, but what they did (a deny, a second factor, claims) went down with the worker: each is
 * reported as failed with its result lost, never as `ok` with no commands, so that the caller
 * applies that action's own error policy (on_error=block fails the flow closed) instead of
 * going on as if it had asked for nothing.
 */
function failedChain(actions: SandboxAction[], at: number, status: Exclude<SandboxStatus, 'ok'>, error: { name: string; message: string }, durationMs: number): ChainResult {
  const results: ActionResult[] = [];
  const idx = Math.min(Math.max(at, 0), Math.max(actions.length - 1, 0));
  const lost = { name: 'ResultLost', message: 'result lost: the sandbox worker was stopped later in this chain, so what this action did is unknown' };
  for (let i = 0; i < idx; i++) results.push(failureResult(actions[i], 'runtime', lost));
  if (actions.length > 0) {
    const r = failureResult(actions[idx], status, error);
    r.durationMs = durationMs;
    results.push(r);
  }
  return { status, results, durationMs };
}

const PROGRESS_BYTES = 24;

/** Opens an anonymous file (created, then unlinked) for a worker's progress record; -1 if impossible. */
function openProgressFile(): number {
  const path = join(tmpdir(), `gatehouse-sandbox-${process.pid}-${randomBytes(6).toString('hex')}`);
  try {
    const fd = openSync(path, 'w+', 0o600);
    try { unlinkSync(path); } catch { /* e.g. Windows: left for the OS to clean */ }
    return fd;
  } catch {
    return -1;
  }
}

/** The worker's last progress record: which action of which chain started when (epoch ms). */
function readProgress(fd: number): { jobId: number; index: number; at: number } | null {
  if (fd < 0) return null;
  const b = Buffer.alloc(PROGRESS_BYTES);
  try {
    if (readSync(fd, b, 0, PROGRESS_BYTES, 0) !== PROGRESS_BYTES) return null;
  } catch {
    return null;
  }
  const jobId = b.readUInt32LE(0);
  if (jobId !== b.readUInt32LE(16)) return null;
  return { jobId, index: b.readUInt32LE(4), at: b.readDoubleLE(8) };
}

function isPositive(n: unknown): n is number {
  return typeof n === 'number' && Number.isFinite(n) && n > 0;
}

function normalizeLimits(l: ChainLimits | undefined): ChainLimits {
  if (!l || !isPositive(l.actionTimeoutMs) || !isPositive(l.chainTimeoutMs) || !isPositive(l.memoryMb)
    || typeof l.consoleBytes !== 'number' || !(l.consoleBytes >= 0) || typeof l.resultBytes !== 'number' || !(l.resultBytes >= 0)) {
    throw new TypeError('limits: actionTimeoutMs, chainTimeoutMs, memoryMb must be positive numbers; consoleBytes, resultBytes non-negative');
  }
  return {
    actionTimeoutMs: Math.ceil(l.actionTimeoutMs),
    chainTimeoutMs: Math.ceil(l.chainTimeoutMs),
    memoryMb: Math.max(8, Math.ceil(l.memoryMb)), // isolated-vm's minimum
    consoleBytes: Math.floor(Math.min(l.consoleBytes, 1 << 24)),
    resultBytes: Math.floor(Math.min(l.resultBytes, 1 << 26)),
  };
}

function toJob(req: ChainRequest): ChainJob {
  if (req === null || typeof req !== 'object') throw new TypeError('request must be an object');
  if (typeof req.handler !== 'string' || !/^[A-Za-z_$][\w$]*$/.test(req.handler)) throw new TypeError('handler must be an identifier');
  if (!Array.isArray(req.actions)) throw new TypeError('actions must be an array');
  const actions: SandboxAction[] = req.actions.map((a, i) => {
    if (a === null || typeof a !== 'object' || typeof a.key !== 'string' || a.key === '' || typeof a.name !== 'string' || typeof a.code !== 'string') {
      throw new TypeError(`actions[${i}] must have string key, name and code`);
    }
    const secrets: Record<string, string> = {};
    for (const [k, v] of Object.entries(a.secrets ?? {})) {
      if (typeof v !== 'string') throw new TypeError(`actions[${i}].secrets.${k} must be a string`);
      if (!UNSAFE_SEGMENTS.has(k)) secrets[k] = v;
    }
    return { key: a.key, name: a.name, code: a.code, secrets };
  });
  const paths = (list: unknown, what: string): string[] => {
    if (!Array.isArray(list)) throw new TypeError(`${what} must be an array`);
    return list.map((p) => {
      if (typeof p !== 'string' || !SAFE_PATH.test(p) || p.split('.').some((s) => UNSAFE_SEGMENTS.has(s))) throw new TypeError(`${what}: invalid api path ${String(p)}`);
      return p;
    });
  };
  const eventJson = JSON.stringify(req.event === undefined ? null : req.event);
  if (typeof eventJson !== 'string') throw new TypeError('event must be JSON-serialisable');
  const cacheJson = JSON.stringify(req.cache ?? {});
  let cacheByAction: ChainJob['cacheByAction'];
  if (req.cacheByAction !== undefined) {
    if (req.cacheByAction === null || typeof req.cacheByAction !== 'object') throw new TypeError('cacheByAction must be an object');
    cacheByAction = Object.entries(req.cacheByAction).map(([k, v]) => [k, JSON.stringify(v ?? {})]);
  }
  let redirect: ChainJob['redirect'] = null;
  if (req.redirect) {
    redirect = { canRedirect: req.redirect.canRedirect === true, issuer: String(req.redirect.issuer ?? '') };
    if (typeof req.redirect.state === 'string') redirect.state = req.redirect.state;
  }
  return {
    handler: req.handler, actions, eventJson, cacheJson, ...(cacheByAction ? { cacheByAction } : {}),
    apiMethods: paths(req.apiMethods, 'apiMethods'), stopOn: paths(req.stopOn ?? [], 'stopOn'),
    redirect, limits: normalizeLimits(req.limits),
  };
}

function str(v: unknown, max: number): string {
  return typeof v === 'string' ? (v.length > max ? `${v.slice(0, max)}…` : v) : '';
}

/** The worker is ours, but it runs hostile code: check the shape of what it sends back. */
function sanitizeChain(v: unknown, actions: SandboxAction[]): ChainResult | null {
  if (v === null || typeof v !== 'object') return null;
  const o = v as Record<string, unknown>;
  if (typeof o.status !== 'string' || !STATUSES.has(o.status) || !Array.isArray(o.results) || o.results.length > actions.length) return null;
  const results: ActionResult[] = [];
  for (let i = 0; i < o.results.length; i++) {
    const r = o.results[i] as Record<string, unknown> | null;
    if (r === null || typeof r !== 'object' || typeof r.status !== 'string' || !STATUSES.has(r.status) || !Array.isArray(r.commands)) return null;
    const commands: Command[] = [];
    for (const c of r.commands as unknown[]) {
      const cc = c as Record<string, unknown> | null;
      if (cc === null || typeof cc !== 'object' || typeof cc.type !== 'string' || !Array.isArray(cc.args)) return null;
      commands.push({ type: cc.type, args: cc.args });
    }
    const out: ActionResult = {
      key: actions[i].key, name: actions[i].name, status: r.status as SandboxStatus, commands,
      logs: str(r.logs, 1 << 24),
      startedAt: typeof r.startedAt === 'number' ? r.startedAt : Date.now(),
      durationMs: typeof r.durationMs === 'number' ? r.durationMs : 0,
      cpuMicros: typeof r.cpuMicros === 'number' ? r.cpuMicros : 0,
    };
    const e = r.error as Record<string, unknown> | undefined | null;
    if (e !== undefined && e !== null && typeof e === 'object') out.error = { name: str(e.name, 100) || 'Error', message: str(e.message, 1100) };
    results.push(out);
  }
  return { status: o.status as SandboxStatus, results, durationMs: typeof o.durationMs === 'number' ? o.durationMs : 0 };
}

function sanitizeValidate(v: unknown): ValidateResult | null {
  if (v === null || typeof v !== 'object') return null;
  const o = v as Record<string, unknown>;
  if (o.ok === true) return { ok: true };
  if (o.ok === false && (o.status === 'syntax' || o.status === 'runtime' || o.status === 'timeout' || o.status === 'oom')) {
    return { ok: false, status: o.status, message: str(o.message, 1200) };
  }
  return null;
}

/** Creates the pool and starts its workers. */
export function createSandboxPool(options: SandboxPoolOptions): SandboxPool {
  const size = Math.max(1, Math.floor(options.workers || 1));
  const queueTimeoutMs = options.queueTimeoutMs ?? 10_000;
  const logger: SandboxLogger = options.logger ?? { warn() {}, error() {} };
  const workerConfig = JSON.stringify({
    maxWarm: options.maxWarmIsolatesPerWorker ?? 64,
    fetchAllow: options.fetchAllow ?? [],
    fetchTimeoutMs: Math.min(options.fetchTimeoutMs ?? 5000, 9900),
    fetchMaxBytes: options.fetchMaxBytes ?? 1024 * 1024,
  });
  const slots: Slot[] = [];
  const queue: Job[] = [];
  const crashes = new Map<string, number[]>();
  const quarantinedUntil = new Map<string, number>();
  let nextId = 1;
  let restarts = 0;
  let closed = false;

  function settle(job: Job, r: Outcome): void {
    if (job.done) return;
    job.done = true;
    clearTimeout(job.queueTimer);
    clearTimeout(job.killTimer);
    const s = job.slot;
    if (s && s.job === job) s.job = null;
    job.resolve(r);
  }

  function failJob(job: Job, status: Exclude<SandboxStatus, 'ok' | 'denied'>, error: { name: string; message: string }, at: number): void {
    const duration = job.startedAt ? performance.now() - job.startedAt : 0;
    if (job.kind === 'validate') {
      settle(job, { ok: false, status: status === 'syntax' ? 'runtime' : status, message: `${error.name}: ${error.message}` });
    } else {
      settle(job, failedChain(job.actions, at, status, error, duration));
    }
  }

  function noteCrash(job: Job): void {
    const a = job.kind === 'chain' ? job.actions[job.actionIndex] : undefined;
    if (!a) return;
    const now = Date.now();
    const list = (crashes.get(a.key) ?? []).filter((t) => now - t < QUARANTINE_WINDOW_MS);
    list.push(now);
    crashes.set(a.key, list);
    if (list.length >= QUARANTINE_THRESHOLD) {
      quarantinedUntil.set(a.key, now + QUARANTINE_MS);
      crashes.delete(a.key);
      logger.warn({ action: a.name, key: a.key, forMs: QUARANTINE_MS }, 'sandbox: action quarantined after repeated worker kills');
    }
  }

  function spawn(slot: Slot): void {
    if (closed) return;
    let child: ChildProcess;
    if (slot.progressFd >= 0) { try { closeSync(slot.progressFd); } catch { /* ignore */ } }
    slot.progressFd = openProgressFile();
    try {
      child = fork(WORKER_PATH, [workerConfig], {
        execPath: process.execPath,
        execArgv: ['--no-node-snapshot'],
        // Nothing of the server's environment (keys, database URLs) reaches the worker.
        env: { NODE_NO_WARNINGS: '1', TZ: 'UTC' },
        stdio: ['ignore', 'ignore', 'pipe', 'ipc', slot.progressFd >= 0 ? slot.progressFd : 'ignore'],
        serialization: 'advanced',
      });
    } catch (e) {
      logger.error({ err: e instanceof Error ? e.message : String(e), worker: slot.index }, 'sandbox: cannot start a worker');
      slot.quickDeaths++;
      setTimeout(() => spawn(slot), backoff(slot)).unref();
      return;
    }
    slot.child = child;
    slot.pid = child.pid;
    slot.ready = false;
    slot.started = false;
    slot.stderrTail = '';
    let onExit!: () => void;
    slot.exited = new Promise<void>((r) => { onExit = r; });
    child.stderr?.on('data', (d: Buffer) => { slot.stderrTail = (slot.stderrTail + d.toString('utf8')).slice(-4096); });
    child.stderr?.on('error', () => {});
    child.on('message', (m: WorkerMessage) => onMessage(slot, child, m));
    child.on('error', (e) => {
      logger.warn({ err: e.message, worker: slot.index, pid: child.pid }, 'sandbox: worker process error');
      // A child that never started emits 'error' and may never emit 'exit'.
      if (child.pid === undefined) { onWorkerExit(slot, child, null, null); onExit(); }
    });
    child.on('exit', (code, signal) => { onWorkerExit(slot, child, code, signal); onExit(); });
    // An idle pool does not keep the server's event loop alive; a running job's timer does.
    child.unref();
    (child.channel as { unref?: () => void } | undefined)?.unref?.();
    (child.stderr as unknown as { unref?: () => void } | null)?.unref?.();
  }

  function backoff(slot: Slot): number {
    return slot.quickDeaths === 0 ? 0 : Math.min(5000, 50 * 2 ** slot.quickDeaths);
  }

  /** Brings job.actionIndex up to date from the worker's progress record; returns when that action started (perf ms). */
  function syncProgress(slot: Slot, job: Job): number {
    const p = readProgress(slot.progressFd);
    if (p !== null && p.jobId === job.id >>> 0 && p.index >= job.actionIndex && p.index < job.actions.length) {
      job.actionIndex = p.index;
      if (p.index > 0) return performance.now() - Math.max(0, Date.now() - p.at);
    }
    return job.actionIndex === 0 ? job.startedAt : performance.now();
  }

  function onMessage(slot: Slot, child: ChildProcess, m: WorkerMessage): void {
    if (slot.child !== child || m === null || typeof m !== 'object') return;
    if (m.t === 'ready') {
      slot.ready = true;
      slot.started = true;
      slot.quickDeaths = 0;
      pump();
      return;
    }
    if (m.t === 'done') {
      const job = slot.job;
      if (!job || job.id !== m.id) return;
      const r = job.kind === 'chain' ? sanitizeChain(m.result, job.actions) : sanitizeValidate(m.result);
      if (r === null) {
        logger.error({ worker: slot.index, pid: slot.pid }, 'sandbox: malformed result from worker; killing it');
        failJob(job, 'runtime', { name: 'SandboxError', message: 'The sandbox returned a malformed result' }, job.actionIndex);
        kill(slot);
        return;
      }
      settle(job, r);
      pump();
    }
  }

  function onWorkerExit(slot: Slot, child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (slot.child !== child) return;
    const wasStarted = slot.started;
    slot.child = null;
    slot.ready = false;
    const job = slot.job;
    if (job && !job.done) {
      syncProgress(slot, job);
      const oom = /out of memory|heap limit|allocation failed|memory limit/i.test(slot.stderrTail);
      logger.warn({ worker: slot.index, pid: child.pid, code, signal, stderr: slot.stderrTail.slice(-1000) }, 'sandbox: worker died while running a job');
      noteCrash(job);
      failJob(job, oom ? 'oom' : 'runtime', oom
        ? { name: 'MemoryLimitError', message: 'The action exhausted the sandbox worker\'s memory' }
        : { name: 'SandboxCrash', message: `The sandbox worker crashed (${signal ?? `exit code ${code}`})` }, job.actionIndex);
    }
    slot.job = null;
    if (!wasStarted && !closed) {
      logger.error({ worker: slot.index, pid: child.pid, code, signal, stderr: slot.stderrTail.slice(-1000) }, 'sandbox: worker failed to start');
    }
    if (closed) return;
    restarts++;
    if (!wasStarted) slot.quickDeaths++;
    const delay = backoff(slot);
    if (delay === 0) spawn(slot);
    else setTimeout(() => spawn(slot), delay).unref();
    pump();
  }

  function kill(slot: Slot): void {
    const child = slot.child;
    slot.ready = false;
    if (child && child.exitCode === null && child.signalCode === null) {
      try { child.kill('SIGKILL'); } catch { /* already gone */ }
    }
  }

  function onDeadline(job: Job): void {
    if (job.done || !job.slot) return;
    const slot = job.slot;
    const now = performance.now();
    // Each action has its own budget, counted from when the worker says it started.
    const killAt = Math.min(job.chainKillAt, syncProgress(slot, job) + job.actionTimeoutMs + KILL_GRACE_MS);
    if (now < killAt) {
      job.killTimer = setTimeout(() => onDeadline(job), Math.ceil(killAt - now));
      return;
    }
    logger.warn({ worker: slot.index, pid: slot.pid, action: job.actions[job.actionIndex]?.name, kind: job.kind }, 'sandbox: deadline passed; killing the worker');
    noteCrash(job);
    const limit = job.kind === 'validate' || now < job.chainKillAt ? job.actionTimeoutMs : job.chainTimeoutMs;
    failJob(job, 'timeout', { name: 'TimeoutError', message: `Action exceeded its time limit (${limit} ms); the sandbox worker was stopped` }, job.actionIndex);
    kill(slot);
  }

  function dispatch(slot: Slot, job: Job): void {
    clearTimeout(job.queueTimer);
    slot.job = job;
    job.slot = slot;
    job.startedAt = performance.now();
    job.actionIndex = 0;
    job.chainKillAt = job.startedAt + job.chainTimeoutMs + KILL_GRACE_MS;
    job.killTimer = setTimeout(() => onDeadline(job), Math.ceil(Math.min(job.chainTimeoutMs, job.actionTimeoutMs) + KILL_GRACE_MS));
    const child = slot.child as ChildProcess;
    try {
      child.send(job.message, (err) => {
        if (err && !job.done) {
          failJob(job, 'runtime', { name: 'SandboxCrash', message: 'The sandbox worker is unavailable' }, 0);
          kill(slot);
        }
      });
    } catch {
      failJob(job, 'runtime', { name: 'SandboxCrash', message: 'The sandbox worker is unavailable' }, 0);
      kill(slot);
    }
  }

  function pump(): void {
    while (queue.length > 0) {
      const slot = slots.find((s) => s.ready && s.job === null && s.child !== null);
      if (!slot) return;
      const job = queue.shift() as Job;
      if (job.done) continue;
      dispatch(slot, job);
    }
  }

  function enqueue(job: Job): void {
    if (closed) {
      failJob(job, 'runtime', { name: 'SandboxClosed', message: 'The sandbox pool is closed' }, 0);
      return;
    }
    if (queue.length >= MAX_QUEUE) {
      failJob(job, 'timeout', { name: 'SandboxBusy', message: 'All sandbox workers are busy and the queue is full' }, 0);
      return;
    }
    queue.push(job);
    job.queueTimer = setTimeout(() => {
      const i = queue.indexOf(job);
      if (i !== -1) queue.splice(i, 1);
      failJob(job, 'timeout', { name: 'SandboxBusy', message: `All sandbox workers stayed busy for ${queueTimeoutMs} ms` }, 0);
    }, queueTimeoutMs);
    pump();
  }

  function newJob(kind: Job['kind'], actions: SandboxAction[], actionTimeoutMs: number, chainTimeoutMs: number,
    message: (id: number) => ParentMessage, resolve: (r: Outcome) => void): Job {
    const id = nextId++;
    return {
      id, kind, actions, actionTimeoutMs, chainTimeoutMs, resolve, done: false,
      message: message(id), startedAt: 0, chainKillAt: 0, actionIndex: 0,
    };
  }

  for (let i = 0; i < size; i++) {
    const slot: Slot = {
      index: i, child: null, pid: undefined, ready: false, started: false, job: null, stderrTail: '', progressFd: -1, quickDeaths: 0,
      exited: Promise.resolve(),
    };
    slots.push(slot);
    spawn(slot);
  }

  return {
    runChain(req: ChainRequest): Promise<ChainResult> {
      return new Promise<ChainResult>((resolve) => {
        let job: ChainJob;
        try {
          job = toJob(req);
        } catch (e) {
          const message = e instanceof Error ? e.message : 'invalid request';
          logger.error({ err: message }, 'sandbox: invalid chain request');
          const actions = Array.isArray(req?.actions) ? req.actions.filter((a) => a && typeof a === 'object') : [];
          resolve(actions.length > 0
            ? failedChain(actions.map((a) => ({ key: String(a.key), name: String(a.name), code: '', secrets: {} })), 0, 'runtime', { name: 'SandboxError', message: `Invalid chain request: ${message}` }, 0)
            : { status: 'runtime', results: [], durationMs: 0 });
          return;
        }
        if (job.actions.length === 0) {
          resolve({ status: 'ok', results: [], durationMs: 0 });
          return;
        }
        const now = Date.now();
        const blocked = job.actions.filter((a) => (quarantinedUntil.get(a.key) ?? 0) > now).map((a) => a.key);
        enqueue(newJob('chain', job.actions, job.limits.actionTimeoutMs, job.limits.chainTimeoutMs,
          (id) => ({ t: 'chain', id, job, blocked }), resolve as (r: Outcome) => void));
      });
    },

    validate(code: string, handlers: string[], limits?: Partial<ChainLimits>): Promise<ValidateResult> {
      return new Promise<ValidateResult>((resolve) => {
        if (typeof code !== 'string' || !Array.isArray(handlers) || handlers.some((h) => typeof h !== 'string')) {
          resolve({ ok: false, status: 'runtime', message: 'validate(code, handlers): code must be a string and handlers an array of strings' });
          return;
        }
        const l = {
          actionTimeoutMs: isPositive(limits?.actionTimeoutMs) ? Math.ceil(limits.actionTimeoutMs) : DEFAULT_VALIDATE_LIMITS.actionTimeoutMs,
          memoryMb: isPositive(limits?.memoryMb) ? Math.max(8, Math.ceil(limits.memoryMb)) : DEFAULT_VALIDATE_LIMITS.memoryMb,
        };
        const pseudo: SandboxAction = { key: '', name: 'validate', code: '', secrets: {} };
        enqueue(newJob('validate', [pseudo], l.actionTimeoutMs, l.actionTimeoutMs,
          (id) => ({ t: 'validate', id, code, handlers: [...handlers], limits: l }), resolve as (r: Outcome) => void));
      });
    },

    stats() {
      return {
        workers: slots.filter((s) => s.child !== null && s.child.exitCode === null && s.child.signalCode === null).length,
        restarts,
        queued: queue.length,
      };
    },

    async close(): Promise<void> {
      if (closed) {
        await Promise.all(slots.map((s) => s.exited));
        return;
      }
      closed = true;
      for (const job of queue.splice(0)) failJob(job, 'runtime', { name: 'SandboxClosed', message: 'The sandbox pool is closed' }, 0);
      // Drain: running jobs end by themselves or at their kill deadline.
      await Promise.all(slots.map((s) => (s.job ? new Promise<void>((r) => {
        const job = s.job as Job;
        const orig = job.resolve;
        job.resolve = (x) => { orig(x); r(); };
      }) : undefined)));
      for (const s of slots) {
        const child = s.child;
        if (child && child.exitCode === null && child.signalCode === null) {
          child.ref(); // keep the loop alive until the exit is seen
          try { child.disconnect(); } catch { /* gone */ }
          const t = setTimeout(() => { try { child.kill('SIGKILL'); } catch { /* gone */ } }, 2000);
          t.unref();
        }
      }
      await Promise.all(slots.map((s) => s.exited));
      for (const s of slots) {
        if (s.progressFd >= 0) { try { closeSync(s.progressFd); } catch { /* ignore */ } s.progressFd = -1; }
      }
    },
  };
}
