/**
 * The server side of the sandbox: a supervised pool of worker processes (worker.ts).
 *
 * - One chain per worker at a time. A free worker gets what is waiting in one message (a batch
 *   of up to MAX_BATCH chains, run one after the other) and answers in as few messages: under
 *   load one wake-up of the worker and one round trip serve several chains. A chain that
 *   arrives when a worker is free goes out at once, alone (nothing waits for a batch to fill).
 * - Every chain has deadlines the parent enforces itself: per action (actionTimeoutMs + grace)
 *   and per chain (chainTimeoutMs + grace), both counted from when the worker says that action
 *   or chain started (the progress record it writes before each; see worker.ts). Past one, the
 *   worker is SIGKILLed and respawned, and that chain resolves as `timeout` for the action that
 *   was running. This is what ends the cases isolated-vm's own `timeout` does not cover
 *   (SECURITY.md §0.3).
 * - A worker that dies (crash, OOM abort, kill -9) fails the chain it was running closed (`oom`
 *   when its stderr says so, else `runtime`) and is respawned, with backoff when it cannot even
 *   start. The other chains of its batch: those that had run but whose results had not come back
 *   fail closed as `runtime` `ResultLost` (never `ok` without results); those that had not
 *   started (the progress record says which) are queued again, at the front.
 * - When all workers are busy, jobs wait in a bounded queue with a deadline (`timeout`).
 * - An action that keeps killing workers is quarantined for a while (SECURITY.md §3.7).
 *
 * Nothing here ever rejects or hangs for anything an action does.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readSync, unlinkSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import type { ChainJob } from './runner.ts';
import type { BatchItem, ParentMessage, WireAction, WireChain, WireShape, WorkerMessage } from './worker.ts';
import type {
  ActionResult, ChainLimits, ChainRequest, ChainResult, Command, SandboxAction, SandboxLogger, SandboxPool,
  SandboxPoolOptions, SandboxStatus, ValidateResult,
} from './types.ts';

const WORKER_PATH = fileURLToPath(new URL('./worker.ts', import.meta.url));
/** Added to the worker's own deadlines before the parent kills: IPC, scheduling, result building. */
const KILL_GRACE_MS = 1000;
const MAX_QUEUE = 1000;
/** Chains sent to a worker in one message, at most. */
const MAX_BATCH = 16;
/**
 * On a single core, a second worker takes chains only when the busy one has been at its batch
 * this long (or has already answered part of it early: it is waiting for I/O or has a long batch).
 */
const STALL_MS = 5;
/** Actions and code a worker keeps (see worker.ts `kept`): past this, the parent starts over. */
const MAX_CODE_KEYS = 512;
const MAX_CODE_CHARS = 8 * 1024 * 1024;
/** Chain shapes numbered (see shapeOf): past this, numbering starts over. */
const MAX_SHAPES = 256;
const QUARANTINE_THRESHOLD = 3;
const QUARANTINE_WINDOW_MS = 60_000;
const QUARANTINE_MS = 60_000;
const DEFAULT_VALIDATE_LIMITS = { actionTimeoutMs: 5000, memoryMb: 64 };
const STATUSES: ReadonlySet<string> = new Set(['ok', 'denied', 'timeout', 'oom', 'syntax', 'runtime']);
const SAFE_PATH = /^[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)*$/;
const UNSAFE_SEGMENTS = new Set(['__proto__', 'constructor', 'prototype']);

type Outcome = ChainResult | ValidateResult;
type Failure = { name: string; message: string };

interface Job {
  id: number;
  kind: 'chain' | 'validate';
  /** What the worker gets (chains: `blocked` is filled in when the job is sent). */
  chain?: ChainJob;
  /** The chain's fixed part, numbered (see shapeOf). */
  shape?: { id: number; def: WireShape };
  validate?: { code: string; handlers: string[]; limits: { actionTimeoutMs: number; memoryMb: number } };
  actions: SandboxAction[];
  actionTimeoutMs: number;
  chainTimeoutMs: number;
  resolve: (r: Outcome) => void;
  done: boolean;
  /** performance.now() when it was first queued: the queue deadline counts from there. */
  queuedAt: number;
  queueTimer?: NodeJS.Timeout;
  /** The slot whose worker holds it (sent, not answered yet). */
  slot?: Slot;
  /** Best known start of the chain (performance.now()), for durations. */
  startedAt: number;
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
  /** The jobs of the current batch in the order the worker runs them, answered ones included. */
  batch: Job[];
  /** Jobs of `batch` not answered yet (0: the worker is free). */
  inflight: number;
  /** performance.now() when the batch was sent. */
  sentAt: number;
  /** Backstop for the whole batch: the sum of its jobs' chain budgets. */
  hardKillAt: number;
  killTimer?: NodeJS.Timeout;
  /** The worker answered part of its batch early (a long batch, or a chain waiting for I/O). */
  answeredEarly: boolean;
  /** Why the worker is being killed (for the jobs whose results go down with it). */
  killedFor?: string;
  /** The actions this worker process was sent, by version key, as it keeps them (see worker.ts `kept`). */
  kept: Map<string, SandboxAction>;
  codeChars: number;
  /** The chain shapes this worker process was sent (by number). */
  shapes: Set<number>;
  /** The next batch tells the worker to drop what it kept first. */
  forget: boolean;
  stderrTail: string;
  /** Unlinked temp file shared with the worker as its fd 4: the progress record (see worker.ts). */
  progressFd: number;
  quickDeaths: number;
  exited: Promise<void>;
}

function failureResult(a: SandboxAction, status: SandboxStatus, error: Failure | undefined): ActionResult {
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
function failedChain(actions: SandboxAction[], at: number, status: Exclude<SandboxStatus, 'ok'>, error: Failure, durationMs: number): ChainResult {
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

/**
 * A chain that ran in a worker stopped before its result came back (the worker was killed or
 * died on a later chain of the same batch): every action fails closed with its result lost.
 */
function lostChain(actions: SandboxAction[], why: string): ChainResult {
  const error = { name: 'ResultLost', message: `result lost: this chain ran, but the sandbox worker ${why} before its result came back, so what its actions did is unknown` };
  return { status: 'runtime', results: actions.map((a) => failureResult(a, 'runtime', error)), durationMs: 0 };
}

const PROGRESS_BYTES = 32;

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

interface Progress { jobId: number; index: number; actionAt: number; chainAt: number }

const progressBuf = Buffer.alloc(PROGRESS_BYTES);
/** The worker's last progress record: which action of which job started when, and when that job started (epoch ms). */
function readProgress(fd: number): Progress | null {
  if (fd < 0) return null;
  const b = progressBuf;
  try {
    if (readSync(fd, b, 0, PROGRESS_BYTES, 0) !== PROGRESS_BYTES) return null;
  } catch {
    return null;
  }
  const jobId = b.readUInt32LE(0);
  if (jobId !== b.readUInt32LE(24)) return null;
  return { jobId, index: b.readUInt32LE(4), actionAt: b.readDoubleLE(8), chainAt: b.readDoubleLE(16) };
}

/** An epoch-ms time from the worker as performance.now() time (never in the future). */
function perfTime(epochMs: number): number {
  return performance.now() - Math.max(0, Date.now() - epochMs);
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

/**
 * API path lists already checked, by the array the caller passed: the engine passes each
 * trigger's same two lists with every chain. The copy is compared with the list before use, so
 * a caller that changed its array in place is checked again.
 */
const checkedPaths = new WeakMap<object, string[]>();

/** Each api path list's number, by its content (see shapeOf); cached by the checked array. */
const pathIds = new Map<string, number>();
const pathIdOf = new WeakMap<string[], number>();
let nextPathId = 1;
function pathId(list: string[]): number {
  let id = pathIdOf.get(list);
  if (id !== undefined) return id;
  const text = list.join(' ');
  id = pathIds.get(text);
  if (id === undefined) {
    if (pathIds.size >= 4 * MAX_SHAPES) pathIds.clear();
    id = nextPathId++;
    pathIds.set(text, id);
  }
  pathIdOf.set(list, id);
  return id;
}

/** Whether two actions' secrets are the same names and values. */
function sameSecrets(a: Record<string, string>, b: Record<string, string>): boolean {
  if (a === b) return true;
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  for (const k of ka) if (!Object.hasOwn(b, k) || a[k] !== b[k]) return false;
  return true;
}

/**
 * The checked copy of an action the caller passed frozen: the engine hands the same frozen
 * object for a bound action on every request while its chain is cached, so it is checked and
 * copied once. What goes to the worker is always the copy (own data, read once), never the
 * caller's object: a getter or an inherited property cannot differ between check and use.
 */
const checkedActions = new WeakMap<object, SandboxAction>();

function toJob(req: ChainRequest): ChainJob {
  if (req === null || typeof req !== 'object') throw new TypeError('request must be an object');
  if (typeof req.handler !== 'string' || !/^[A-Za-z_$][\w$]*$/.test(req.handler)) throw new TypeError('handler must be an identifier');
  if (!Array.isArray(req.actions)) throw new TypeError('actions must be an array');
  const actions: SandboxAction[] = req.actions.map((a, i) => {
    const known = a !== null && typeof a === 'object' ? checkedActions.get(a) : undefined;
    if (known !== undefined) return known;
    if (a === null || typeof a !== 'object') throw new TypeError(`actions[${i}] must have string key, name and code`);
    const { key, name, code } = a;
    if (typeof key !== 'string' || key === '' || typeof name !== 'string' || typeof code !== 'string') {
      throw new TypeError(`actions[${i}] must have string key, name and code`);
    }
    const secrets: Record<string, string> = {};
    for (const [k, v] of Object.entries(a.secrets ?? {})) {
      if (typeof v !== 'string') throw new TypeError(`actions[${i}].secrets.${k} must be a string`);
      if (!UNSAFE_SEGMENTS.has(k)) secrets[k] = v;
    }
    const copy: SandboxAction = Object.freeze({ key, name, code, secrets: Object.freeze(secrets) });
    if (Object.isFrozen(a)) checkedActions.set(a, copy);
    return copy;
  });
  const paths = (list: unknown, what: string): string[] => {
    if (!Array.isArray(list)) throw new TypeError(`${what} must be an array`);
    const seen = checkedPaths.get(list);
    if (seen !== undefined && seen.length === list.length && seen.every((p, i) => p === list[i])) return seen;
    const checked = list.map((p) => {
      if (typeof p !== 'string' || !SAFE_PATH.test(p) || p.split('.').some((s) => UNSAFE_SEGMENTS.has(s))) throw new TypeError(`${what}: invalid api path ${String(p)}`);
      return p;
    });
    checkedPaths.set(list, checked);
    return checked;
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
    if (typeof req.redirect.nextState === 'string') redirect.nextState = req.redirect.nextState;
  }
  return {
    handler: req.handler, actions, eventJson, cacheJson, ...(cacheByAction ? { cacheByAction } : {}),
    apiMethods: paths(req.apiMethods, 'apiMethods'), stopOn: paths(req.stopOn ?? [], 'stopOn'),
    ...(req.unsupportedMethods?.length ? { unsupported: paths(req.unsupportedMethods, 'unsupportedMethods') } : {}),
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
    issuer: options.issuer ?? '',
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
  /** The server and its workers (which inherit its CPU affinity) share one CPU: see pump(). */
  const cores = (): number => (isPositive(options.cores) ? options.cores : availableParallelism());
  let singleCore = cores() <= 1;

  /** Takes a job off its worker's books (answered, failed or handed back). */
  function detach(job: Job): void {
    const s = job.slot;
    if (!s) return;
    job.slot = undefined;
    s.inflight--;
    if (s.inflight <= 0) {
      s.inflight = 0;
      s.batch = [];
      clearTimeout(s.killTimer);
      s.killTimer = undefined;
    }
  }

  function settle(job: Job, r: Outcome): void {
    if (job.done) return;
    job.done = true;
    clearTimeout(job.queueTimer);
    detach(job);
    job.resolve(r);
  }

  function failJob(job: Job, status: Exclude<SandboxStatus, 'ok' | 'denied'>, error: Failure, at: number): void {
    const duration = job.startedAt ? performance.now() - job.startedAt : 0;
    if (job.kind === 'validate') {
      settle(job, { ok: false, status: status === 'syntax' ? 'runtime' : status, message: `${error.name}: ${error.message}` });
    } else {
      settle(job, failedChain(job.actions, at, status, error, duration));
    }
  }

  /** A job that ran in a worker that then died or was killed before sending its result. */
  function loseJob(job: Job, why: string): void {
    if (job.kind === 'validate') {
      settle(job, { ok: false, status: 'runtime', message: `ResultLost: the sandbox worker ${why} before the result came back` });
    } else {
      settle(job, lostChain(job.actions, why));
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

  /** Keys of `actions` quarantined now (checked when a chain is sent, not when it was queued). */
  function blockedKeys(actions: SandboxAction[]): string[] {
    if (quarantinedUntil.size === 0) return [];
    const now = Date.now();
    const out: string[] = [];
    for (const a of actions) {
      const until = quarantinedUntil.get(a.key);
      if (until === undefined) continue;
      if (until > now) out.push(a.key);
      else quarantinedUntil.delete(a.key);
    }
    return out;
  }

  /**
   * TLS trust settings, which are not secrets: an action's fetch must trust what the server's
   * operator told Node.js to trust (a private CA in NODE_EXTRA_CA_CERTS, the system store), or
   * every HTTPS call to an internal API or to an issuer behind a private CA fails.
   */
  const TRUST_ENV = ['NODE_EXTRA_CA_CERTS', 'NODE_USE_SYSTEM_CA', 'SSL_CERT_FILE', 'SSL_CERT_DIR'];
  function trustEnv(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const k of TRUST_ENV) { const v = process.env[k]; if (typeof v === 'string' && v !== '') out[k] = v; }
    return out;
  }

  function spawn(slot: Slot): void {
    if (closed) return;
    let child: ChildProcess;
    if (slot.progressFd >= 0) { try { closeSync(slot.progressFd); } catch { /* ignore */ } }
    slot.progressFd = openProgressFile();
    startOver(slot);
    slot.forget = false;
    singleCore = cores() <= 1;
    try {
      child = fork(WORKER_PATH, [workerConfig, slot.progressFd >= 0 ? 'progress' : 'no-progress'], {
        execPath: process.execPath,
        execArgv: ['--no-node-snapshot'],
        // Nothing of the server's environment (keys, database URLs) reaches the worker but its TLS trust.
        env: { NODE_NO_WARNINGS: '1', TZ: 'UTC', ...trustEnv() },
        stdio: ['ignore', 'ignore', 'pipe', 'ipc', slot.progressFd >= 0 ? slot.progressFd : 'ignore'],
        // JSON: everything in these messages is JSON data anyway, and it measured a little cheaper
        // per chain than 'advanced' (serialise + parse of a batch: 3.9 vs 5.4 µs per 1-action chain).
        serialization: 'json',
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

  /** A job of the slot's current batch, sent and not answered yet. */
  function pendingJob(slot: Slot, id: unknown): Job | undefined {
    return slot.batch.find((j) => j.id === id && !j.done && j.slot === slot);
  }

  /**
   * Where the worker is in its batch, from its progress record: the index of the job it is on
   * (the jobs before it have run, those after it have not started; see worker.ts). Without a
   * record for this batch, the first job.
   */
  function currentIndex(slot: Slot, p: Progress | null): number {
    if (p !== null) {
      const i = slot.batch.findIndex((j) => (j.id >>> 0) === p.jobId);
      if (i !== -1) return i;
    }
    return 0;
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
      const { results, returned } = m as { results: unknown; returned: unknown };
      if (!Array.isArray(results) || !Array.isArray(returned)) { malformed(slot); return; }
      const answers: [Job, Outcome][] = [];
      for (const e of results as unknown[]) {
        if (e === null || typeof e !== 'object') { malformed(slot); return; }
        const { id, result } = e as { id: unknown; result: unknown };
        if (typeof id !== 'number') { malformed(slot); return; }
        const job = pendingJob(slot, id);
        if (!job) continue; // already failed (a deadline passed while its result was on the way)
        const r = job.kind === 'chain' ? sanitizeChain(result, job.actions) : sanitizeValidate(result);
        if (r === null) { malformed(slot); return; }
        answers.push([job, r]);
      }
      const back: Job[] = [];
      for (const id of returned as unknown[]) {
        if (typeof id !== 'number') { malformed(slot); return; }
        const job = pendingJob(slot, id);
        if (job) back.push(job);
      }
      if ((m as { resync?: unknown }).resync === true) {
        logger.error({ worker: slot.index, pid: slot.pid }, 'sandbox: a worker was missing action code or a chain shape; sending them again');
        startOver(slot);
      }
      for (const [job, r] of answers) settle(job, r);
      requeue(back);
      if (slot.inflight > 0) slot.answeredEarly = true;
      pump();
    }
  }

  function malformed(slot: Slot): void {
    logger.error({ worker: slot.index, pid: slot.pid }, 'sandbox: malformed result from worker; killing it');
    for (const job of slot.batch) {
      if (!job.done && job.slot === slot) failJob(job, 'runtime', { name: 'SandboxError', message: 'The sandbox returned a malformed result' }, job.actionIndex);
    }
    kill(slot);
  }

  function onWorkerExit(slot: Slot, child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (slot.child !== child) return;
    const wasStarted = slot.started;
    slot.child = null;
    slot.ready = false;
    clearTimeout(slot.killTimer);
    slot.killTimer = undefined;
    if (slot.inflight > 0) {
      const p = readProgress(slot.progressFd);
      const ci = currentIndex(slot, p);
      const batch = slot.batch;
      const oom = /out of memory|heap limit|allocation failed|memory limit/i.test(slot.stderrTail);
      const why = slot.killedFor ?? 'died while running another chain of the same batch';
      const lost: Job[] = [];
      const again: Job[] = [];
      let running: Job | undefined;
      batch.forEach((j, i) => {
        if (j.done || j.slot !== slot) return;
        if (i < ci) lost.push(j);
        else if (i === ci) running = j;
        else again.push(j);
      });
      if (running !== undefined) {
        const job: Job = running;
        if (p !== null && (job.id >>> 0) === p.jobId) {
          if (p.index < job.actions.length) job.actionIndex = p.index;
          job.startedAt = perfTime(p.chainAt);
        }
        logger.warn({ worker: slot.index, pid: child.pid, code, signal, stderr: slot.stderrTail.slice(-1000) }, 'sandbox: worker died while running a job');
        noteCrash(job);
        failJob(job, oom ? 'oom' : 'runtime', oom
          ? { name: 'MemoryLimitError', message: 'The action exhausted the sandbox worker\'s memory' }
          : { name: 'SandboxCrash', message: `The sandbox worker crashed (${signal ?? `exit code ${code}`})` }, job.actionIndex);
      }
      if (lost.length > 0) {
        logger.warn({ worker: slot.index, pid: child.pid, chains: lost.length }, 'sandbox: results of chains that had run were lost with their worker');
        for (const job of lost) loseJob(job, why);
      }
      // Never started: they run elsewhere (or on the new worker), within their queue deadline.
      requeue(again);
    }
    slot.batch = [];
    slot.inflight = 0;
    slot.killedFor = undefined;
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

  /** The slot's deadline check: kills the worker when the job it is on has overrun, else re-arms. */
  function onDeadline(slot: Slot): void {
    slot.killTimer = undefined;
    if (slot.inflight === 0 || slot.child === null || !slot.ready) return;
    // On a single core the queue may be waiting for this worker: past STALL_MS, another takes it.
    if (queue.length > 0) pump();
    const now = performance.now();
    const p = readProgress(slot.progressFd);
    const ci = currentIndex(slot, p);
    let job: Job | undefined = slot.batch[ci];
    let chainStart: number;
    let actionStart: number;
    if (job !== undefined && !job.done && job.slot === slot) {
      if (p !== null && (job.id >>> 0) === p.jobId) {
        chainStart = perfTime(p.chainAt);
        actionStart = perfTime(p.actionAt);
        if (p.index < job.actions.length) job.actionIndex = p.index;
      } else {
        chainStart = actionStart = slot.sentAt;
      }
      job.startedAt = chainStart;
    } else {
      // That one is answered: the worker is between two jobs and the next starts now at the earliest.
      job = slot.batch.find((j, i) => i > ci && !j.done && j.slot === slot);
      if (job === undefined) { slot.killTimer = setTimeout(() => onDeadline(slot), KILL_GRACE_MS); return; }
      chainStart = actionStart = now;
    }
    const chainKillAt = chainStart + job.chainTimeoutMs + KILL_GRACE_MS;
    const killAt = Math.min(chainKillAt, actionStart + job.actionTimeoutMs + KILL_GRACE_MS, slot.hardKillAt);
    if (now < killAt) {
      slot.killTimer = setTimeout(() => onDeadline(slot), Math.max(1, Math.ceil(killAt - now)));
      return;
    }
    logger.warn({ worker: slot.index, pid: slot.pid, action: job.actions[job.actionIndex]?.name, kind: job.kind }, 'sandbox: deadline passed; killing the worker');
    noteCrash(job);
    const limit = job.kind === 'validate' || now < chainKillAt ? job.actionTimeoutMs : job.chainTimeoutMs;
    slot.killedFor = 'was stopped when another chain of the same batch overran its time limit';
    failJob(job, 'timeout', { name: 'TimeoutError', message: `Action exceeded its time limit (${limit} ms); the sandbox worker was stopped` }, job.actionIndex);
    // The other jobs of the batch are settled when the worker's exit is seen (onWorkerExit).
    kill(slot);
  }

  /** Forgets what the slot's worker was sent; the next batch tells it to do the same. */
  function startOver(slot: Slot): void {
    slot.kept.clear();
    slot.codeChars = 0;
    slot.shapes.clear();
    slot.forget = true;
  }

  /**
   * The number of a chain's fixed part (handler, api lists, limits but the chain's budget, which
   * is what is left of it when a paused login resumes): chains of one trigger share it, and a
   * worker is sent its content once (worker.ts `shapes`). Numbers are never reused.
   */
  const shapeIds = new Map<string, number>();
  let nextShapeId = 1;
  function shapeOf(c: ChainJob): { id: number; def: WireShape } {
    const l = c.limits;
    const key = `${c.handler} ${pathId(c.apiMethods)} ${pathId(c.stopOn)} ${c.unsupported ? pathId(c.unsupported) : 0} ${l.actionTimeoutMs} ${l.memoryMb} ${l.consoleBytes} ${l.resultBytes}`;
    let id = shapeIds.get(key);
    if (id === undefined) {
      if (shapeIds.size >= MAX_SHAPES) shapeIds.clear();
      id = nextShapeId++;
      shapeIds.set(key, id);
    }
    return { id, def: { handler: c.handler, apiMethods: c.apiMethods, ...(c.unsupported ? { unsupported: c.unsupported } : {}), stopOn: c.stopOn, limits: c.limits } };
  }

  function itemOf(job: Job, slot: Slot): BatchItem {
    if (job.kind === 'chain') {
      const chain = job.chain as ChainJob;
      // What the worker kept from earlier chains is left out: an action's code, name and secrets
      // once sent (then its key alone), the chain's fixed part (then its number).
      const actions: WireAction[] = chain.actions.map((a) => {
        const prev = slot.kept.get(a.key);
        if (prev === a) return a.key;
        slot.kept.set(a.key, a);
        if (prev !== undefined && prev.code === a.code) {
          return prev.name === a.name && sameSecrets(prev.secrets, a.secrets) ? a.key : { key: a.key, name: a.name, secrets: a.secrets };
        }
        slot.codeChars += a.code.length - (prev?.code.length ?? 0);
        return a;
      });
      const shape = job.shape as { id: number; def: WireShape };
      const wire: WireChain = { shape: shape.id, chainTimeoutMs: chain.limits.chainTimeoutMs, actions, eventJson: chain.eventJson, redirect: chain.redirect };
      if (!slot.shapes.has(shape.id)) { slot.shapes.add(shape.id); wire.shapeDef = shape.def; }
      // Per-action snapshots, when given, are all there is (even none: every action then reads
      // an empty cache); the shared snapshot goes only without them, and only when not empty.
      if (chain.cacheByAction !== undefined) wire.cacheByAction = chain.cacheByAction;
      else if (chain.cacheJson !== '{}') wire.cacheJson = chain.cacheJson;
      const blocked = blockedKeys(job.actions);
      return blocked.length > 0 ? { t: 'chain', id: job.id, job: wire, blocked } : { t: 'chain', id: job.id, job: wire };
    }
    const v = job.validate as NonNullable<Job['validate']>;
    return { t: 'validate', id: job.id, code: v.code, handlers: v.handlers, limits: v.limits };
  }

  function dispatch(slot: Slot, jobs: Job[]): void {
    const now = performance.now();
    slot.batch = jobs;
    slot.inflight = jobs.length;
    slot.sentAt = now;
    let budget = 0;
    const items: BatchItem[] = [];
    slot.answeredEarly = false;
    if (slot.kept.size > MAX_CODE_KEYS || slot.codeChars > MAX_CODE_CHARS || slot.shapes.size > MAX_SHAPES) startOver(slot);
    for (const job of jobs) {
      clearTimeout(job.queueTimer);
      job.queueTimer = undefined;
      job.slot = slot;
      job.startedAt = now;
      job.actionIndex = 0;
      budget += job.chainTimeoutMs + KILL_GRACE_MS;
      items.push(itemOf(job, slot));
    }
    // Backstop: the jobs run one after the other, each within its own chain budget.
    slot.hardKillAt = now + budget;
    const first = jobs[0];
    const firstCheck = singleCore && slots.length > 1 ? STALL_MS : Math.ceil(Math.min(first.chainTimeoutMs, first.actionTimeoutMs) + KILL_GRACE_MS);
    slot.killTimer = setTimeout(() => onDeadline(slot), firstCheck);
    const child = slot.child as ChildProcess;
    const unavailable = (): void => {
      if (slot.child !== child) return; // exit seen already: onWorkerExit settled them
      for (const job of jobs) {
        if (!job.done && job.slot === slot) failJob(job, 'runtime', { name: 'SandboxCrash', message: 'The sandbox worker is unavailable' }, 0);
      }
      kill(slot);
    };
    const forget = slot.forget;
    slot.forget = false;
    const message: ParentMessage = forget ? { t: 'batch', items, forget } : { t: 'batch', items };
    try {
      child.send(message, (err) => { if (err) unavailable(); });
    } catch {
      unavailable();
    }
  }

  /**
   * Sends what waits to free workers. On several cores, split between the free ones. On a single
   * core a second worker would only take turns with the first on that core, each message a
   * wake-up: while one worker is at a batch that is not stalled (see STALL_MS), what arrives waits
   * for it and goes out as its next batch. A lone chain with a free worker goes out at once.
   */
  function pump(): void {
    while (queue.length > 0) {
      let slot: Slot | undefined;
      let free = 0;
      let busy = false;
      const now = performance.now();
      for (const s of slots) {
        if (!s.ready || s.child === null) continue;
        // On one core, the worker used last (its caches are the warm ones); else the first free.
        if (s.inflight === 0) { free++; if (slot === undefined || (singleCore && s.sentAt > slot.sentAt)) slot = s; }
        else if (!s.answeredEarly && now - s.sentAt < STALL_MS) busy = true;
      }
      if (slot === undefined) return;
      if (singleCore && busy) return; // the busy worker takes it next (or another once it stalls)
      // Without a progress record, one job at a time.
      const n = slot.progressFd < 0 ? 1 : Math.min(MAX_BATCH, singleCore ? queue.length : Math.ceil(queue.length / free));
      const jobs: Job[] = [];
      while (jobs.length < n && queue.length > 0) {
        const job = queue.shift() as Job;
        if (!job.done) jobs.push(job);
      }
      if (jobs.length > 0) dispatch(slot, jobs);
    }
  }

  function armQueueTimer(job: Job, ms: number): void {
    clearTimeout(job.queueTimer);
    job.queueTimer = setTimeout(() => {
      if (job.slot) return;
      const i = queue.indexOf(job);
      if (i !== -1) queue.splice(i, 1);
      failJob(job, 'timeout', { name: 'SandboxBusy', message: `All sandbox workers stayed busy for ${queueTimeoutMs} ms` }, 0);
    }, ms);
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
    armQueueTimer(job, queueTimeoutMs);
    schedulePump();
  }

  /*
   * New chains go out at the end of the event loop's current turn (setImmediate), not one by
   * one as they are queued: requests read in the same turn then reach a worker as one batch, one
   * IPC message and one wake-up. Measured under 16 concurrent token requests: four in ten
   * messages carried a single chain when each enqueue sent at once.
   */
  let pumpScheduled = false;
  function schedulePump(): void {
    if (pumpScheduled) return;
    pumpScheduled = true;
    setImmediate(() => { pumpScheduled = false; pump(); });
  }

  /**
   * Jobs a worker handed back, or that had not started when it died: back to the front of the
   * queue, in their order, with what is left of their queue deadline. The caller pumps.
   */
  function requeue(jobs: Job[]): void {
    if (jobs.length === 0) return;
    const now = performance.now();
    const live: Job[] = [];
    for (const job of jobs) {
      detach(job);
      if (!job.done) live.push(job);
    }
    if (closed) {
      for (const job of live) failJob(job, 'runtime', { name: 'SandboxClosed', message: 'The sandbox pool is closed' }, 0);
      return;
    }
    queue.unshift(...live);
    for (const job of live) armQueueTimer(job, Math.max(0, queueTimeoutMs - (now - job.queuedAt)));
  }

  function newJob(kind: Job['kind'], actions: SandboxAction[], actionTimeoutMs: number, chainTimeoutMs: number,
    payload: Pick<Job, 'chain' | 'shape' | 'validate'>, resolve: (r: Outcome) => void): Job {
    return {
      id: nextId++, kind, actions, actionTimeoutMs, chainTimeoutMs, resolve, done: false, ...payload,
      queuedAt: performance.now(), startedAt: 0, actionIndex: 0,
    };
  }

  for (let i = 0; i < size; i++) {
    const slot: Slot = {
      index: i, child: null, pid: undefined, ready: false, started: false, batch: [], inflight: 0, sentAt: 0, hardKillAt: 0,
      answeredEarly: false, kept: new Map(), codeChars: 0, shapes: new Set(), forget: false,
      stderrTail: '', progressFd: -1, quickDeaths: 0, exited: Promise.resolve(),
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
        enqueue(newJob('chain', job.actions, job.limits.actionTimeoutMs, job.limits.chainTimeoutMs, { chain: job, shape: shapeOf(job) }, resolve as (r: Outcome) => void));
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
          { validate: { code, handlers: [...handlers], limits: l } }, resolve as (r: Outcome) => void));
      });
    },

    stats() {
      return {
        workers: slots.filter((s) => s.child !== null && s.child.exitCode === null && s.child.signalCode === null).length,
        ready: slots.filter((s) => s.ready && s.child !== null && s.child.exitCode === null && s.child.signalCode === null).length,
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
      // Drain: running jobs end by themselves or at their kill deadline; jobs a worker hands
      // back from now on fail as closed.
      const running = slots.flatMap((s) => s.batch.filter((j) => !j.done && j.slot === s));
      await Promise.all(running.map((job) => new Promise<void>((r) => {
        const orig = job.resolve;
        job.resolve = (x) => { orig(x); r(); };
      })));
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
