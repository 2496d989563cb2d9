/**
 * Runs chains of actions in isolated-vm isolates. Lives in a sandbox worker process
 * (worker.ts); the server talks to it only through pool.ts.
 *
 * Per action version (`key`): one warm isolate with one context, the prelude and the module top
 * level run once, LRU-evicted beyond `maxWarm`. Each execution is:
 *
 *   run(handler, event, secrets, cache, ctx)   applySync with a timeout; the isolate's
 *                                             microtasks run inside it, and an action that does
 *                                             not wait for host I/O hands its final result back
 *                                             in run()'s return value (one call: fast path)
 *   collect()                                 otherwise: what it waits for
 *   [wake(timer | fetch) + collect()]*        only when the handler's promise is still pending:
 *                                             the host performs the fetches and fires the timers
 *                                             the guest queued, each delivery again timed
 *
 * The host owns the wall clock (a promise that never settles still ends), every boundary
 * crossing is a string, and isolated-vm's known timeout gaps are covered by the parent killing
 * this whole process (pool.ts).
 */
import ivm from 'isolated-vm';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { hostBridge } from './host-bridge.ts';
import { hostFetch, parseGuestRequest, type FetchOptions, type GuestFetchRequest } from './fetch.ts';
import { issuerAllowance, parseFetchAllow } from './net-guard.ts';
import { busy, precise } from './timer-slack.ts';
import type { ActionResult, ChainLimits, ChainResult, Command, SandboxAction, SandboxStatus, ValidateResult } from './types.ts';
import { setWithinCap } from '../../shared/metadata-limits.ts';
import { userMetadataRefusal, REFRESH_TOKEN_METADATA_CHARS, refreshTokenMetadataKeyOk, REFRESH_TOKEN_METADATA_KEYS, SESSION_METADATA_CHARS, SESSION_METADATA_KEYS, TX_METADATA_KEYS, TX_METADATA_KEY_CHARS, TX_METADATA_VALUE_CHARS } from './types.ts';

const PRELUDE = readFileSync(new URL('./guest-prelude.js', import.meta.url), 'utf8');

/**
 * V8's code cache for the prelude, made by the first isolate this process builds: every later
 * isolate compiles the prelude from it instead of parsing 90 KB of source again (measured: the
 * prelude's compile 1.55 ms without, 0.19 ms with; a cold start is about 4–6 ms in all). V8
 * checks the cache against the source and its flags and compiles normally when it rejects it.
 */
let preludeCache: ivm.ExternalCopy<ArrayBuffer> | undefined;
const preludeCompiles = { produced: 0, fromCache: 0, rejected: 0 };
function compilePrelude(isolate: ivm.Isolate): ivm.Script {
  const filename = 'gatehouse:prelude.js';
  type Cached = ivm.Script & { cachedData?: ivm.ExternalCopy<ArrayBuffer>; cachedDataRejected?: boolean };
  if (preludeCache !== undefined) {
    const script = isolate.compileScriptSync(PRELUDE, { filename, cachedData: preludeCache }) as Cached;
    if (script.cachedDataRejected === true) { preludeCache = undefined; preludeCompiles.rejected++; } else preludeCompiles.fromCache++;
    return script;
  }
  const script = isolate.compileScriptSync(PRELUDE, { filename, produceCachedData: true }) as Cached;
  preludeCache = script.cachedData;
  preludeCompiles.produced++;
  return script;
}
/** How this process's isolates compiled the prelude so far (tests, diagnosis). */
export function preludeCompileCounts(): { produced: number; fromCache: number; rejected: number } {
  return { ...preludeCompiles };
}
const WRAP_HEAD = '(function (exports, module, require, __filename, __dirname) {';
const WRAP_TAIL = '\n})';
const ABORT_TIMEOUT_MS = 50;
/** The calls that deny: the action's status is 'denied' (engine/contract.ts DENY_CALLS; the sandbox does not import the engine). */
const DENIES: ReadonlySet<string> = new Set(['access.deny', 'session.revoke', 'refreshToken.revoke']);
const MAX_FETCH_PER_DELIVERY = 50;
/** Requests left unawaited by handlers that a worker keeps running at once (see sendUnawaited). */
const MAX_UNAWAITED_IN_FLIGHT = 64;

/** The logs' line for a request a handler did not await: method and host only (a path or query may hold a secret). */
function unawaitedNote(req: GuestFetchRequest, what: string): string {
  let where = 'an invalid URL';
  try { where = new URL(req.url).host; } catch { /* the guard refuses it too */ }
  return `[gatehouse] ${req.method} ${where}: ${what}; its answer is not delivered (await it to use it)\n`;
}

export interface RunnerConfig {
  maxWarm: number;
  fetchAllow: string[];
  /** The server's issuer URL ('' for none): see SandboxPoolOptions.issuer. */
  issuer?: string;
  fetchTimeoutMs: number;
  fetchMaxBytes: number;
}

/** One chain as the pool sends it (event and cache already JSON strings). */
export interface ChainJob {
  handler: string;
  actions: SandboxAction[];
  eventJson: string;
  /** The snapshot every action reads when `cacheByAction` is absent. */
  cacheJson: string;
  /** [action key, snapshot JSON] pairs: each action's own snapshot (an action not listed reads `{}`). */
  cacheByAction?: [string, string][];
  apiMethods: string[];
  /** api paths that throw an error naming themselves (Auth0's, not offered here). */
  unsupported?: string[];
  stopOn: string[];
  redirect: { canRedirect: boolean; state?: string; nextState?: string; issuer: string } | null;
  limits: ChainLimits;
  /** What the fixed part above comes to (see prepareShape); computed per chain when absent. */
  prepared?: PreparedShape;
}

/**
 * What a chain's fixed part (its api list, stop list and limits, the same for every chain of a
 * trigger) comes to in the runner. A worker prepares it once per shape the parent sends
 * (worker.ts), not once per chain: for post-login the api lists alone are about 2 KB of JSON.
 */
export interface PreparedShape {
  apiSet: ReadonlySet<string>;
  stopSet: ReadonlySet<string>;
  /** run()'s context argument: the api paths and the limits the guest applies. */
  ctxJson: string;
}
export function prepareShape(job: Pick<ChainJob, 'apiMethods' | 'unsupported' | 'stopOn' | 'limits'>): PreparedShape {
  return {
    apiSet: new Set(job.apiMethods),
    stopSet: new Set(job.stopOn),
    ctxJson: JSON.stringify({ api: job.apiMethods, missing: job.unsupported ?? [], resultBytes: job.limits.resultBytes, consoleBytes: job.limits.consoleBytes }),
  };
}

/**
 * Each action object's secrets as JSON, made once per object (a worker reuses the object while
 * its version's secrets stay the same). Kept only when neither the action nor its secrets can
 * change any more.
 */
const secretsJsonOf = new WeakMap<SandboxAction, string>();
function secretsJson(a: SandboxAction): string {
  let j = secretsJsonOf.get(a);
  if (j === undefined) {
    j = JSON.stringify(a.secrets ?? {});
    if (Object.isFrozen(a) && (a.secrets === undefined || Object.isFrozen(a.secrets))) secretsJsonOf.set(a, j);
  }
  return j;
}

/** Milliseconds to the microsecond: the records keep no more, and the worker's answer carries fewer digits. */
const ms3 = (ms: number): number => Math.round(ms * 1000) / 1000;

/** A failure with a status and a message that is safe to show. */
export class ActionFailure {
  status: Exclude<SandboxStatus, 'ok' | 'denied'>;
  name: string;
  message: string;
  constructor(status: Exclude<SandboxStatus, 'ok' | 'denied'>, name: string, message: string) {
    this.status = status;
    this.name = name;
    this.message = message;
  }
}

interface Warm {
  key: string;
  code: string;
  memoryMb: number;
  isolate: ivm.Isolate;
  context: ivm.Context;
  run: ivm.Reference;
  collect: ivm.Reference;
  wake: ivm.Reference;
  abort: ivm.Reference;
  check: ivm.Reference;
  epoch: number;
  /** What run() was last sent as its context and secrets: sent again as '' (the guest keeps them). */
  ctxSent: string | null;
  secretsSent: string | null;
}

interface Parsed { code: string; commands: Command[]; logs: string; error?: { name: string; message: string }; unsent: GuestFetchRequest[] }

function msLeft(deadline: number): number {
  const ms = Math.ceil(deadline - performance.now());
  if (ms <= 0) throw new ActionFailure('timeout', 'TimeoutError', 'Action exceeded its time limit');
  return ms;
}

/** Whether the UTF-8 encoding of `s` is longer than `limit` bytes (UTF-8 is never shorter than UTF-16 units). */
function exceedsBytes(s: string, limit: number): boolean {
  if (s.length > limit) return true;
  if (s.length * 3 <= limit) return false;
  return Buffer.byteLength(s, 'utf8') > limit;
}

/**
 * The final result run() left in its box (a copy: plain data, read without touching the guest);
 * undefined while the handler is still pending.
 */
function boxed(box: unknown): string | undefined {
  if (box === null || typeof box !== 'object') return undefined;
  const r = (box as { r?: unknown }).r;
  return typeof r === 'string' && r !== '' ? r : undefined;
}

/** The issuer as an http(s) URL without its trailing slash, or '' when there is none (or it is not one). */
function issuerUrl(v: string | undefined): string {
  if (typeof v !== 'string' || v === '') return '';
  try {
    const u = new URL(v);
    if (u.protocol !== 'https:' && u.protocol !== 'http:') return '';
    return `${u.origin}${u.pathname.replace(/\/+$/, '')}`;
  } catch {
    return '';
  }
}

function cap(s: string, n: number): string {
  return s.length > n ? `${s.slice(0, n)}…` : s;
}

/** Message of an error thrown by isolated-vm in the host (never a guest object). */
function hostMessage(e: unknown): string {
  if (e instanceof Error && typeof e.message === 'string') return e.message;
  return 'unknown error';
}

function onCatastrophicError(message: string): void {
  // isolated-vm: V8 lost control of an isolate; nothing in this process can be trusted.
  try { process.stderr.write(`sandbox worker: isolated-vm catastrophic error: ${message}\n`); } finally { process.kill(process.pid, 'SIGKILL'); }
}

export class ChainRunner {
  private readonly warm = new Map<string, Warm>();
  private readonly maxWarm: number;
  private readonly fetchOpts: FetchOptions;
  private readonly issuer: string;
  /** Requests actions left unawaited that are still running (see sendUnawaited and drive). */
  private unawaited = 0;
  /** Called by the running chain before it waits for a timer or a fetch (see runChain). */
  private onWait: (() => void) | undefined;

  constructor(cfg: RunnerConfig) {
    this.maxWarm = Math.max(1, cfg.maxWarm);
    this.issuer = issuerUrl(cfg.issuer);
    this.fetchOpts = {
      // The issuer's token endpoint and Management API, wherever it lives (see SandboxPoolOptions.issuer).
      allow: { ...parseFetchAllow(cfg.fetchAllow), issuer: this.issuer === '' ? undefined : issuerAllowance(this.issuer) },
      timeoutMs: Math.min(Math.max(1, cfg.fetchTimeoutMs), 9900),
      maxBytes: Math.max(1, cfg.fetchMaxBytes),
    };
  }

  get warmCount(): number { return this.warm.size; }

  /** Creates an isolate with the prelude and the action's module evaluated. Throws ActionFailure. */
  private build(code: string, memoryMb: number, deadline: number, key: string): Warm {
    const isolate = new ivm.Isolate({ memoryLimit: memoryMb, onCatastrophicError });
    try {
      const context = isolate.createContextSync();
      context.global.setSync('__gh_host', new ivm.Callback(hostBridge));
      context.global.setSync('__gh_issuer', this.issuer);
      const prelude = compilePrelude(isolate);
      prelude.runSync(context, { timeout: msLeft(deadline) });
      prelude.release();
      const gh = context.global.getSync('__gh', { reference: true });
      const ref = (name: string): ivm.Reference => gh.getSync(name, { reference: true }) as ivm.Reference;
      const w: Warm = {
        key, code, memoryMb, isolate, context,
        run: ref('run'), collect: ref('collect'), wake: ref('wake'), abort: ref('abort'), check: ref('check'),
        epoch: 0, ctxSent: null, secretsSent: null,
      };
      const init = ref('init');
      gh.release();
      context.global.deleteSync('__gh');
      let script: ivm.Script;
      try {
        script = isolate.compileScriptSync(WRAP_HEAD + code + WRAP_TAIL, { filename: 'action.js' });
      } catch (e) {
        throw new ActionFailure('syntax', 'SyntaxError', cap(hostMessage(e), 500));
      }
      const fn = script.runSync(context, { timeout: msLeft(deadline), reference: true }) as unknown;
      script.release();
      const expected = WRAP_HEAD.length - 1 + code.length + WRAP_TAIL.length - 1;
      const out = fn instanceof ivm.Reference
        ? init.applySync(undefined, [fn.derefInto(), expected], { timeout: msLeft(deadline) })
        : 'E{"name":"SyntaxError","message":"Invalid module"}';
      if (fn instanceof ivm.Reference) fn.release();
      init.release();
      if (out !== 'O') {
        const err = typeof out === 'string' && out[0] === 'E' ? this.parseError(out.slice(1)) : { name: 'Error', message: 'Module initialisation failed' };
        throw new ActionFailure(err.name === 'SyntaxError' ? 'syntax' : 'runtime', err.name, err.message);
      }
      return w;
    } catch (e) {
      const f = this.classify(e, isolate);
      if (!isolate.isDisposed) isolate.dispose();
      throw f;
    }
  }

  private parseError(json: string): { name: string; message: string } {
    try {
      const v = JSON.parse(json) as unknown;
      if (v !== null && typeof v === 'object') {
        const o = v as Record<string, unknown>;
        if (typeof o.name === 'string' && typeof o.message === 'string') return { name: cap(o.name, 100), message: cap(o.message, 1000) };
      }
    } catch { /* fall through */ }
    return { name: 'Error', message: 'Action failed' };
  }

  /** Maps anything thrown in the host while driving an isolate to a failure value. */
  private classify(e: unknown, isolate: ivm.Isolate | null, limits?: { memoryMb: number; actionTimeoutMs: number }): ActionFailure {
    if (e instanceof ActionFailure) return e;
    const msg = hostMessage(e);
    if (/memory limit/i.test(msg) || (isolate !== null && isolate.isDisposed && !/timed out/i.test(msg))) {
      return new ActionFailure('oom', 'MemoryLimitError', `Action exceeded its memory limit${limits ? ` (${limits.memoryMb} MB)` : ''}`);
    }
    if (/timed out/i.test(msg)) {
      return new ActionFailure('timeout', 'TimeoutError', `Action exceeded its time limit${limits ? ` (${limits.actionTimeoutMs} ms)` : ''}`);
    }
    return new ActionFailure('runtime', 'SandboxError', cap(msg, 300));
  }

  private evict(key: string): void {
    const w = this.warm.get(key);
    if (!w) return;
    this.warm.delete(key);
    if (!w.isolate.isDisposed) {
      try { w.isolate.dispose(); } catch { /* already gone */ }
    }
  }

  private getWarm(a: SandboxAction, memoryMb: number, deadline: number): { w: Warm; cold: boolean } {
    const w = this.warm.get(a.key);
    if (w !== undefined) {
      if (!w.isolate.isDisposed && w.code === a.code && w.memoryMb === memoryMb) {
        // LRU: most recently used last.
        this.warm.delete(a.key);
        this.warm.set(a.key, w);
        return { w, cold: false };
      }
      this.evict(a.key);
    }
    const fresh = this.build(a.code, memoryMb, deadline, a.key);
    this.warm.set(a.key, fresh);
    while (this.warm.size > this.maxWarm) {
      const oldest = this.warm.keys().next().value as string;
      this.evict(oldest);
    }
    return { w: fresh, cold: true };
  }

  /** Parses a final guest result ('<O|E|S|A>[commands]\n{logs, error?}'), size-checked first. */
  private parseFinal(out: unknown, limits: ChainLimits, apiSet: ReadonlySet<string>): Parsed | ActionFailure {
    if (typeof out !== 'string' || out.length < 4) return new ActionFailure('runtime', 'SandboxError', 'Malformed action result');
    const nl = out.indexOf('\n');
    if (nl < 0) return new ActionFailure('runtime', 'SandboxError', 'Malformed action result');
    const cmdPart = out.slice(1, nl);
    const metaPart = out.slice(nl + 1);
    if (exceedsBytes(cmdPart, limits.resultBytes + 2)) {
      return new ActionFailure('runtime', 'ResultTooLarge', `Action result too large: recorded api calls exceed ${limits.resultBytes} bytes`);
    }
    // Console output (escaped: up to 6 bytes a character) and up to 1 MiB of requests left unsent (guest-prelude.js UNSENT_MAX).
    if (exceedsBytes(metaPart, limits.consoleBytes * 6 + 8192 + 3 * 1024 * 1024)) {
      return new ActionFailure('runtime', 'ResultTooLarge', 'Action console output too large');
    }
    let rawCmds: unknown, meta: unknown;
    try {
      rawCmds = JSON.parse(cmdPart);
      meta = JSON.parse(metaPart);
    } catch {
      return new ActionFailure('runtime', 'SandboxError', 'Malformed action result');
    }
    if (!Array.isArray(rawCmds) || meta === null || typeof meta !== 'object') return new ActionFailure('runtime', 'SandboxError', 'Malformed action result');
    const commands: Command[] = [];
    for (const c of rawCmds) {
      if (c === null || typeof c !== 'object') return new ActionFailure('runtime', 'SandboxError', 'Malformed action result');
      const { type, args } = c as Record<string, unknown>;
      if (typeof type !== 'string' || !apiSet.has(type) || !Array.isArray(args)) return new ActionFailure('runtime', 'SandboxError', 'Malformed action result');
      commands.push({ type, args });
    }
    const m = meta as Record<string, unknown>;
    const logs = typeof m.logs === 'string' ? m.logs : '';
    const unsent: GuestFetchRequest[] = [];
    if (Array.isArray(m.unsent)) {
      for (const raw of m.unsent.slice(0, MAX_FETCH_PER_DELIVERY)) { const req = parseGuestRequest(raw); if (req !== null) unsent.push(req); }
    }
    const unsentNote = m.unsentDropped === true ? '[gatehouse] requests the handler did not await were not sent: together they were over 1 MB\n' : '';
    let error: { name: string; message: string } | undefined;
    if (m.error !== undefined) {
      const er = m.error as Record<string, unknown> | null;
      error = er !== null && typeof er === 'object' && typeof er.name === 'string' && typeof er.message === 'string'
        ? { name: cap(er.name, 100), message: cap(er.message, 1000) }
        : { name: 'Error', message: 'Action failed' };
    }
    return { code: out[0], commands, logs: logs + unsentNote, error, unsent };
  }

  /** Calls abort() in the guest for what was recorded before a timeout; null when that fails too. */
  private salvage(w: Warm, limits: ChainLimits, apiSet: ReadonlySet<string>): Parsed | null {
    if (w.isolate.isDisposed) return null;
    try {
      const out = w.abort.applySync(undefined, [], { timeout: ABORT_TIMEOUT_MS });
      const p = this.parseFinal(out, limits, apiSet);
      return p instanceof ActionFailure ? null : p;
    } catch {
      return null;
    }
  }

  /** Drives a pending handler: performs the fetches and fires the timers it queued, until it settles. */
  private async drive(w: Warm, pendingOut: string, deadline: number, ep: number, timeoutMessage: string, notes: string[]): Promise<string | ActionFailure> {
    let out = pendingOut;
    const inflight = new Map<number, AbortController>();
    // What each request in flight is and its promise: left to finish if the handler settles without awaiting it.
    const started = new Map<number, { req: GuestFetchRequest; done: Promise<unknown> }>();
    let settled = false;
    const done: [number, string][] = [];
    let notify: (() => void) | null = null;
    let timer: NodeJS.Timeout | undefined;
    try {
      for (;;) {
        let due = -1;
        let fetches: unknown[] = [];
        try {
          const p = JSON.parse(out.slice(1)) as { due?: unknown; fetch?: unknown };
          if (typeof p.due === 'number') due = p.due;
          if (Array.isArray(p.fetch)) fetches = p.fetch.slice(0, MAX_FETCH_PER_DELIVERY);
        } catch {
          return new ActionFailure('runtime', 'SandboxError', 'Malformed pending state');
        }
        for (const raw of fetches) {
          const req = parseGuestRequest(raw);
          if (req === null || inflight.has(req.id)) continue;
          const ac = new AbortController();
          inflight.set(req.id, ac);
          const wallDeadline = Date.now() + (deadline - performance.now());
          const sent = hostFetch(req, this.fetchOpts, wallDeadline, ac.signal).then((payload) => {
            started.delete(req.id);
            if (!inflight.delete(req.id)) return;
            done.push([req.id, payload]);
            if (notify) notify();
          });
          started.set(req.id, { req, done: sent });
        }
        let kind: 'timer' | 'fetch' | null = null;
        let fetchId = 0;
        let payload = '';
        while (kind === null) {
          if (performance.now() >= deadline) return new ActionFailure('timeout', 'TimeoutError', timeoutMessage);
          const ready = done.shift();
          if (ready !== undefined) { kind = 'fetch'; fetchId = ready[0]; payload = ready[1]; break; }
          const now = Date.now();
          if (due >= 0 && due <= now) { kind = 'timer'; break; }
          if (due < 0 && inflight.size === 0) {
            return new ActionFailure('timeout', 'TimeoutError', 'Action handler returned a promise that never settles (no timer or fetch left to wait for)');
          }
          const waitMs = Math.max(0, Math.min(deadline - performance.now(), due >= 0 ? due - now : Infinity));
          if (this.onWait !== undefined) {
            try { this.onWait(); } catch { /* the hook is the worker's; nothing of the action */ }
          }
          // A guest timer is due on time (see timer-slack.ts); back to the worker's slack after.
          precise();
          await new Promise<void>((resolve) => {
            notify = resolve;
            timer = setTimeout(resolve, Math.ceil(waitMs));
          });
          busy();
          notify = null;
          clearTimeout(timer);
        }
        w.wake.applySync(undefined, [ep, kind, fetchId, payload], { timeout: msLeft(deadline) });
        out = w.collect.applySync(undefined, [], { timeout: msLeft(deadline) }) as string;
        if (typeof out !== 'string') return new ActionFailure('runtime', 'SandboxError', 'Malformed action result');
        if (out[0] !== 'P') { settled = true; return out; }
      }
    } finally {
      clearTimeout(timer);
      // Requests the handler returned without awaiting go on (as in Node.js), within the cap;
      // after a failure or a timeout they end with the execution.
      for (const [id, ac] of inflight) {
        const s = started.get(id);
        if (settled && s !== undefined && this.unawaited < MAX_UNAWAITED_IN_FLIGHT) {
          this.unawaited++;
          void s.done.finally(() => { this.unawaited--; });
          notes.push(unawaitedNote(s.req, 'still running when the handler returned; left to finish'));
        } else {
          ac.abort();
          if (settled && s !== undefined) notes.push(unawaitedNote(s.req, `stopped when the handler returned: ${MAX_UNAWAITED_IN_FLIGHT} requests left unawaited are running already`));
        }
      }
    }
  }

  /**
   * Requests the handler made and returned without awaiting (a notification posted and left):
   * sent now, through the same guard and limits as any fetch, without holding up the chain; their
   * answers reach no one. Node.js would send them too. Says so in the action's logs.
   */
  private sendUnawaited(reqs: GuestFetchRequest[]): string {
    let note = '';
    for (const req of reqs) {
      // A worker runs at most MAX_UNAWAITED_IN_FLIGHT of them at once (executions come back to
      // back: fifty requests left from each would pile up), each within the fetch time limit.
      if (this.unawaited >= MAX_UNAWAITED_IN_FLIGHT) {
        note += unawaitedNote(req, `not sent: ${MAX_UNAWAITED_IN_FLIGHT} requests left unawaited are running already`);
        continue;
      }
      this.unawaited++;
      void hostFetch(req, this.fetchOpts, Date.now() + this.fetchOpts.timeoutMs, new AbortController().signal)
        .catch(() => { /* best-effort */ }).finally(() => { this.unawaited--; });
      note += unawaitedNote(req, 'sent after the handler returned without awaiting it');
    }
    return note;
  }

  /** Runs one action; never throws. */
  async runAction(a: SandboxAction, job: ChainJob, ctx: { json: string; redirectJson: string }, eventJson: string, cacheJson: string, chainDeadline: number, apiSet: ReadonlySet<string>): Promise<ActionResult> {
    const startedAt = Date.now();
    const t0 = performance.now();
    const limits = job.limits;
    const deadline = Math.min(t0 + limits.actionTimeoutMs, chainDeadline);
    const result = (status: SandboxStatus, p: Partial<Parsed> | null, error: { name: string; message: string } | undefined, cpuMicros: number): ActionResult => {
      // Secret values in logs and error messages are redacted by the engine, which owns the
      // secrets and the execution record (one redaction, also for recorded api call arguments).
      const r: ActionResult = {
        key: a.key, name: a.name, status,
        commands: p?.commands ?? [],
        logs: p?.logs ?? '',
        startedAt, durationMs: ms3(performance.now() - t0), cpuMicros,
      };
      if (error !== undefined) r.error = { name: error.name, message: error.message };
      return r;
    };
    let w: Warm | null = null;
    let cpu0 = 0n;
    const cpu = (): number => {
      if (w === null || w.isolate.isDisposed) return 0;
      try { return Number(w.isolate.cpuTime - cpu0) / 1000; } catch { return 0; }
    };
    try {
      if (performance.now() >= chainDeadline) {
        return result('timeout', null, { name: 'TimeoutError', message: 'The chain exceeded its time limit before this action started' }, 0);
      }
      const got = this.getWarm(a, limits.memoryMb, deadline);
      w = got.w;
      if (!got.cold) cpu0 = w.isolate.cpuTime;
      const ep = ++w.epoch;
      const secrets = secretsJson(a);
      // What the isolate holds already is not sent again. The guest takes both at the start of
      // run(), before any action code of this execution, and a throw out of run() evicts the
      // isolate (catch below). After a result other than a success, both are sent again anyway:
      // it costs one parse and keeps the two sides in step whatever the action did.
      const ctxArg = w.ctxSent === ctx.json ? '' : ctx.json;
      const secretsArg = w.secretsSent === secrets ? '' : secrets;
      w.ctxSent = ctx.json;
      w.secretsSent = secrets;
      const box = w.run.applySync(undefined, [ep, job.handler, eventJson, secretsArg, cacheJson, ctxArg, ctx.redirectJson], { timeout: msLeft(deadline), result: { copy: true } }) as unknown;
      // Settled within the call (no timer or fetch to wait for): the result came in the box.
      let out = boxed(box) ?? w.collect.applySync(undefined, [], { timeout: msLeft(deadline) }) as unknown;
      const notes: string[] = [];
      if (typeof out === 'string' && out[0] === 'P') out = await this.drive(w, out, deadline, ep, `Action exceeded its time limit (${limits.actionTimeoutMs} ms)`, notes);
      if (out instanceof ActionFailure) {
        w.ctxSent = null;
        w.secretsSent = null;
        // A handler still pending at the deadline: keep what it recorded and logged so far.
        const partial = this.salvage(w, limits, apiSet);
        return result(out.status, partial, { name: out.name, message: out.message }, cpu());
      }
      const p = this.parseFinal(out, limits, apiSet);
      if (p instanceof ActionFailure || p.code !== 'O' && p.code !== 'S') { w.ctxSent = null; w.secretsSent = null; }
      if (p instanceof ActionFailure) return result(p.status, null, { name: p.name, message: p.message }, cpu());
      p.logs += notes.join('');
      if (p.unsent.length > 0) p.logs += this.sendUnawaited(p.unsent);
      if (p.code === 'E') return result('runtime', p, p.error ?? { name: 'Error', message: 'Action failed' }, cpu());
      const denied = p.commands.some((c) => DENIES.has(c.type));
      return result(denied ? 'denied' : 'ok', p, undefined, cpu());
    } catch (e) {
      const f = this.classify(e, w?.isolate ?? null, limits);
      let partial: Parsed | null = null;
      if (w !== null) {
        if (f.status === 'timeout') partial = this.salvage(w, limits, apiSet);
        // After a timeout or a memory overrun the module state may be half-updated: start afresh.
        const c = cpu();
        this.evict(a.key);
        return result(f.status, partial, { name: f.name, message: f.message }, c);
      }
      return result(f.status, null, { name: f.name, message: f.message }, 0);
    }
  }

  /**
   * Runs a chain; never throws. `progress(i)` is called before action i > 0 starts; `onWait()`
   * each time an action is about to wait for a timer or a fetch (the worker uses it to hand back
   * what it holds for later: this chain may take a while).
   */
  async runChain(job: ChainJob, progress?: (index: number) => void, onWait?: () => void): Promise<ChainResult> {
    this.onWait = onWait;
    try {
      return await this.runChainInner(job, progress);
    } finally {
      this.onWait = undefined;
    }
  }

  private async runChainInner(job: ChainJob, progress?: (index: number) => void): Promise<ChainResult> {
    const t0 = performance.now();
    const chainDeadline = t0 + job.limits.chainTimeoutMs;
    const { apiSet, stopSet, ctxJson } = job.prepared ?? prepareShape(job);
    const ctx = { json: ctxJson, redirectJson: JSON.stringify(job.redirect ?? null) };
    let eventJson = job.eventJson;
    let eventObj: Record<string, unknown> | null = null;
    // Each action reads its own cache: its snapshot, plus what it wrote earlier in this chain (the
    // same action bound twice). Another action's writes are never visible to it.
    const ownCache = new Map<string, string>(job.cacheByAction ?? []);
    const cacheJsonFor = (key: string): string => ownCache.get(key) ?? (job.cacheByAction ? '{}' : job.cacheJson);
    const results: ActionResult[] = [];
    let status: SandboxStatus = 'ok';
    for (let i = 0; i < job.actions.length; i++) {
      const a = job.actions[i];
      if (i > 0 && progress) progress(i);
      const r = await this.runAction(a, job, ctx, eventJson, cacheJsonFor(a.key), chainDeadline, apiSet);
      results.push(r);
      if (r.status !== 'ok') { status = r.status; break; }
      if (r.commands.some((c) => stopSet.has(c.type))) break;
      if (i === job.actions.length - 1) break;
      // What later actions in this chain must see: metadata writes in event.user; the action's own cache writes.
      let evChanged = false;
      let cacheObj: Record<string, { value: string; expires_at: number }> | null = null;
      for (const c of r.commands) {
        if (c.type === 'user.setAppMetadata' || c.type === 'user.setUserMetadata') {
          eventObj ??= parseObject(eventJson);
          if (applyMetadata(eventObj, c.type === 'user.setAppMetadata' ? 'app_metadata' : 'user_metadata', c.args)) evChanged = true;
        } else if (c.type === 'transaction.setMetadata') {
          eventObj ??= parseObject(eventJson);
          if (applyTransactionMetadata(eventObj, c.args)) evChanged = true;
        } else if (Object.hasOwn(METADATA_CALLS, c.type)) {
          eventObj ??= parseObject(eventJson);
          if (applyMetadataCall(eventObj, c.type, c.args)) evChanged = true;
        } else if (c.type === 'cache.set' || c.type === 'cache.delete') {
          cacheObj ??= parseObject(cacheJsonFor(a.key)) as Record<string, { value: string; expires_at: number }>;
          applyCache(cacheObj, c);
        }
      }
      if (evChanged) eventJson = JSON.stringify(eventObj);
      if (cacheObj !== null) ownCache.set(a.key, JSON.stringify(cacheObj));
    }
    return { status, results, durationMs: ms3(performance.now() - t0) };
  }

  /** Deploy-time check in a throwaway isolate. Never throws. */
  async validate(code: string, handlers: string[], limits: { actionTimeoutMs: number; memoryMb: number }): Promise<ValidateResult> {
    const deadline = performance.now() + limits.actionTimeoutMs;
    let w: Warm | null = null;
    try {
      w = this.build(code, limits.memoryMb, deadline, '');
      const r = w.check.applySync(undefined, [JSON.stringify(handlers)], { timeout: msLeft(deadline) });
      if (r === '1') return { ok: true };
      return { ok: false, status: 'runtime', message: `The module does not export ${handlers.length === 1 ? handlers[0] : `any of ${handlers.join(', ')}`} as a function` };
    } catch (e) {
      const f = this.classify(e, w?.isolate ?? null, limits);
      return { ok: false, status: f.status, message: `${f.name}: ${f.message}` };
    } finally {
      if (w !== null && !w.isolate.isDisposed) w.isolate.dispose();
    }
  }

  disposeAll(): void {
    for (const key of [...this.warm.keys()]) this.evict(key);
  }
}

function parseObject(json: string): Record<string, unknown> {
  try {
    const v = JSON.parse(json) as unknown;
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch { /* fall through */ }
  return {};
}

const UNSAFE_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/**
 * Applies `setAppMetadata(k, v)` / `setUserMetadata(k, v)` to event.user (null deletes), so that
 * later actions of this chain see the write without a round trip to the host, by the engine's
 * rule (userMetadataRefusal): a value it refuses and never writes, they must not see either.
 * The engine does not take this as the truth: it validates every command and computes the
 * metadata it writes (and the event of the next slice) itself.
 */
function applyMetadata(event: Record<string, unknown>, field: 'app_metadata' | 'user_metadata', args: unknown[]): boolean {
  const [k, v] = args;
  if (typeof k !== 'string' || userMetadataRefusal(k, v) !== null) return false;
  const user = event.user;
  if (user === null || typeof user !== 'object' || Array.isArray(user)) return false;
  const u = user as Record<string, unknown>;
  let md = u[field];
  if (md === null || typeof md !== 'object' || Array.isArray(md)) {
    md = {};
    Object.defineProperty(u, field, { value: md, writable: true, enumerable: true, configurable: true });
  }
  // Nor one that would take the object past its cap as a whole (the engine refuses it too).
  return setWithinCap(md as Record<string, unknown>, k, v);
}

/**
 * The same for api.transaction.setMetadata(k, v) on event.transaction.metadata, with the
 * engine's rules (definitions.ts and contract.ts): what it would refuse, the actions after this
 * one must not see either (a key seen before a redirect and gone after it).
 */
const TX_CONTROL = /[\u0000-\u001f\u007f\u2028\u2029\u202a-\u202e\u200b-\u200f]/;
function applyTransactionMetadata(event: Record<string, unknown>, args: unknown[]): boolean {
  const [k, v] = args;
  if (typeof k !== 'string' || k === '' || k.length > TX_METADATA_KEY_CHARS || UNSAFE_KEYS.has(k) || TX_CONTROL.test(k)) return false;
  if (!(v === null || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v)) || (typeof v === 'string' && v.length <= TX_METADATA_VALUE_CHARS))) return false;
  const m = metadataOf(event, 'transaction');
  if (m === null) return false;
  if (v === null) delete m[k];
  else if (!Object.hasOwn(m, k) && Object.keys(m).length >= TX_METADATA_KEYS) return false;
  else Object.defineProperty(m, k, { value: v, writable: true, enumerable: true, configurable: true });
  return true;
}

/** `event[part].metadata`, made an empty object when missing; null when `event[part]` is not an object. */
function metadataOf(event: Record<string, unknown>, part: 'transaction' | 'session' | 'refresh_token'): Record<string, unknown> | null {
  const o = event[part];
  if (o === null || typeof o !== 'object' || Array.isArray(o)) return null;
  const po = o as Record<string, unknown>;
  let md = po.metadata;
  if (md === null || typeof md !== 'object' || Array.isArray(md)) {
    md = {};
    Object.defineProperty(po, 'metadata', { value: md, writable: true, enumerable: true, configurable: true });
  }
  return md as Record<string, unknown>;
}

const storable = (s: string) => !s.includes('\u0000') && s.isWellFormed();
/** Where each part keeps its metadata, and its rules (definitions.ts, engine.ts, the guest prelude). */
const SESSION_RULES = {
  part: 'session', chars: SESSION_METADATA_CHARS, maxKeys: SESSION_METADATA_KEYS,
  keyOk: (k: unknown): k is string => typeof k === 'string' && k !== '' && k.length <= SESSION_METADATA_CHARS && !UNSAFE_KEYS.has(k) && !TX_CONTROL.test(k) && storable(k),
} as const;
/** At a login there is no event.refresh_token: the change is only written, none of it seen. */
const REFRESH_TOKEN_RULES = { part: 'refresh_token', chars: REFRESH_TOKEN_METADATA_CHARS, maxKeys: REFRESH_TOKEN_METADATA_KEYS, keyOk: refreshTokenMetadataKeyOk } as const;
const METADATA_CALLS: Record<string, { rules: typeof SESSION_RULES | typeof REFRESH_TOKEN_RULES; call: 'set' | 'delete' | 'evict' }> = {
  'session.setMetadata': { rules: SESSION_RULES, call: 'set' }, 'session.deleteMetadata': { rules: SESSION_RULES, call: 'delete' }, 'session.evictMetadata': { rules: SESSION_RULES, call: 'evict' },
  'refreshToken.setMetadata': { rules: REFRESH_TOKEN_RULES, call: 'set' }, 'refreshToken.deleteMetadata': { rules: REFRESH_TOKEN_RULES, call: 'delete' }, 'refreshToken.evictMetadata': { rules: REFRESH_TOKEN_RULES, call: 'evict' },
};

/**
 * The same for api.session and api.refreshToken's setMetadata / deleteMetadata / evictMetadata on
 * event.session.metadata and event.refresh_token.metadata, with the engine's rules: what it would
 * refuse, later actions must not see.
 */
function applyMetadataCall(event: Record<string, unknown>, type: string, args: unknown[]): boolean {
  const { rules, call } = METADATA_CALLS[type];
  const m = metadataOf(event, rules.part);
  if (m === null) return false;
  if (call === 'evict') { for (const k of Object.keys(m)) delete m[k]; return true; }
  const [k, v] = args;
  if (!rules.keyOk(k)) return false;
  if (call === 'delete') { delete m[k]; return true; }
  if (typeof v !== 'string' || v.length > rules.chars || !storable(v)) return false;
  if (!Object.hasOwn(m, k) && Object.keys(m).length >= rules.maxKeys) return false;
  Object.defineProperty(m, k, { value: v, writable: true, enumerable: true, configurable: true });
  return true;
}

function applyCache(cache: Record<string, { value: string; expires_at: number }>, c: Command): boolean {
  const key = c.args[0];
  if (typeof key !== 'string' || key === '' || UNSAFE_KEYS.has(key)) return false;
  if (c.type === 'cache.delete') { delete cache[key]; return true; }
  const value = c.args[1];
  const opts = c.args[2] as { ttl?: unknown } | null | undefined;
  const ttl = opts !== null && typeof opts === 'object' && typeof opts.ttl === 'number' ? opts.ttl : 900000;
  if (typeof value !== 'string') return false;
  Object.defineProperty(cache, key, { value: { value, expires_at: Date.now() + ttl }, writable: true, enumerable: true, configurable: true });
  return true;
}

