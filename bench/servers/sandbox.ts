/**
 * Child process: the Actions sandbox pool alone (src/actions/sandbox, one worker process, as
 * the server creates it), running the benchmark's own actions (compiled as the server
 * compiles them) on events shaped like the server's. Measures what the server cannot report
 * from outside: isolate CPU per warm execution (`cpuMicros` of the results), the worker
 * process's CPU per execution (from /proc), and the cold start of a new version (first
 * execution of a new key: isolate + context + prelude + compile + module top level).
 */
import { performance } from 'node:perf_hooks';
import { createSandboxPool } from '../../src/actions/sandbox/index.ts';
import { ChainRunner, type ChainJob } from '../../src/actions/sandbox/runner.ts';
import type { ChainRequest, SandboxPool } from '../../src/actions/sandbox/types.ts';
import { compileAction } from '../../src/actions/compile.ts';
import { TRIGGERS, type TriggerId } from '../../src/actions/triggers/definitions.ts';
import { serveChild } from '../lib/child.ts';
import { descendants, treeCpu, cpuDelta } from '../lib/proc.ts';
import { ccActionCode, postLoginActionCode, sampleCcEvent, samplePostLoginEvent } from '../lib/action-code.ts';

export interface SandboxRun { warmExecutions: number; coldVersions: number }
export interface WarmFigure {
  label: string; actions: number; chains: number;
  /** Isolate CPU per action execution (cpuMicros), over every execution of the window. */
  cpuMicrosMedian: number; cpuMicrosMean: number; cpuMicrosP99: number;
  /** Round trip of one chain through the pool (IPC both ways, worker, isolate), sequential. */
  wallMicrosPerChain: number;
  /** Worker process CPU (all threads, /proc) per action execution; and the pool's parent side per chain. */
  workerCpuMicrosPerExecution: number; parentCpuMicrosPerChain: number;
  /** The worker's own view: durationMs of each action (performance.now around it), median. */
  actionDurationMicrosMedian: number;
}
export interface ColdFigure { durationMs: number; cpuMicros: number; wallMs: number }
export interface SandboxResult {
  warm: WarmFigure[]; cold: ColdFigure[]; workerPid: number;
  /** The same executions on a ChainRunner in this process, back to back (hot caches, no IPC): the isolate's own floor. */
  inProcess: { label: string; cpuMicrosMedian: number; cpuMicrosMean: number; wallMicros: number }[];
}

const LIMITS = { actionTimeoutMs: 5000, chainTimeoutMs: 20_000, memoryMb: 64, consoleBytes: 4096, resultBytes: 100 * 1024 };
let pool: SandboxPool | undefined;

const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const pct = (xs: number[], p: number) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(p * s.length))]; };

async function compiled(code: string) {
  const c = await compileAction(code);
  if (!c.ok) throw new Error(c.message);
  return c.compiled;
}

serveChild<Record<string, never>, { pid: number }>({
  async setup() {
    pool = createSandboxPool({ workers: 1 });
    return { pid: process.pid };
  },
  async onRun(args) {
    const a = args as SandboxRun;
    const p = pool!;
    // The worker says 'ready' asynchronously: one validate waits for it.
    await p.validate('exports.x = 1', ['x']);
    const workers = descendants(process.pid);
    const request = async (trigger: TriggerId, n: number, code: (i: number) => string, tag: string): Promise<ChainRequest> => {
      const def = TRIGGERS[trigger];
      const actions = [];
      for (let i = 0; i < n; i++) actions.push({ key: `${tag}-${i}`, name: `${tag}-${i}`, code: await compiled(code(i)), secrets: { TENANT_ID: 'tenant-7f3a9c' } });
      return {
        handler: def.handler, actions, event: trigger === 'post-login' ? samplePostLoginEvent() : sampleCcEvent(), apiMethods: def.apiMethods, stopOn: def.stopOn,
        redirect: { canRedirect: trigger === 'post-login', state: 'bench-state', issuer: 'http://127.0.0.1' }, cacheByAction: {}, limits: LIMITS,
      };
    };
    const warm: WarmFigure[] = [];
    for (const [label, trigger, n, code] of [
      ['credentials-exchange, 1 action', 'credentials-exchange', 1, ccActionCode],
      ['credentials-exchange, 5-action chain', 'credentials-exchange', 5, ccActionCode],
      ['post-login, 1 action', 'post-login', 1, postLoginActionCode],
      ['post-login, 5-action chain', 'post-login', 5, postLoginActionCode],
    ] as const) {
      const req = await request(trigger, n, code, `${trigger}-${n}`);
      for (let i = 0; i < 500; i++) await p.runChain(req);
      const chains = Math.max(100, Math.round(a.warmExecutions / n));
      const cpu: number[] = [];
      const dur: number[] = [];
      const c0 = treeCpu(process.pid, workers);
      const u0 = process.cpuUsage();
      const t0 = performance.now();
      for (let i = 0; i < chains; i++) {
        const r = await p.runChain(req);
        if (r.status !== 'ok' || r.results.length !== n) throw new Error(`${label}: ${JSON.stringify(r).slice(0, 500)}`);
        for (const x of r.results) { cpu.push(x.cpuMicros); dur.push(x.durationMs * 1000); }
      }
      const wall = performance.now() - t0;
      const u = process.cpuUsage(u0);
      const c1 = treeCpu(process.pid, workers);
      const d = c0 && c1 ? cpuDelta(c0, c1) : undefined;
      warm.push({
        label, actions: n, chains,
        cpuMicrosMedian: median(cpu), cpuMicrosMean: cpu.reduce((s, x) => s + x, 0) / cpu.length, cpuMicrosP99: pct(cpu, 0.99),
        wallMicrosPerChain: (wall * 1000) / chains,
        workerCpuMicrosPerExecution: d ? (d.children * 1e6) / (chains * n) : NaN,
        parentCpuMicrosPerChain: ((u.user + u.system)) / chains,
        actionDurationMicrosMedian: median(dur),
      });
    }
    // Cold start: a new version (new key) each time, as after a deploy; the warm ones stay in the LRU.
    const cold: ColdFigure[] = [];
    for (let v = 0; v < a.coldVersions; v++) {
      const req = await request('credentials-exchange', 1, (i) => `${ccActionCode(i)}// version ${v}\n`, `cold-${v}`);
      const t0 = performance.now();
      const r = await p.runChain(req);
      const wallMs = performance.now() - t0;
      if (r.status !== 'ok') throw new Error(`cold ${v}: ${JSON.stringify(r).slice(0, 500)}`);
      cold.push({ durationMs: r.results[0].durationMs, cpuMicros: r.results[0].cpuMicros, wallMs });
      // One warm execution after it, as traffic would; then the next version.
      await p.runChain(req);
    }
    // The floor: the same single-action chains in-process, back to back.
    const inProcess: SandboxResult['inProcess'] = [];
    const runner = new ChainRunner({ maxWarm: 8, fetchAllow: [], fetchTimeoutMs: 5000, fetchMaxBytes: 1 << 20 });
    try {
      for (const [label, trigger, code] of [['credentials-exchange, 1 action', 'credentials-exchange', ccActionCode], ['post-login, 1 action', 'post-login', postLoginActionCode]] as const) {
        const req = await request(trigger, 1, code, `inproc-${trigger}`);
        const job: ChainJob = {
          handler: req.handler, actions: req.actions, eventJson: JSON.stringify(req.event), cacheJson: '{}', cacheByAction: [], apiMethods: req.apiMethods,
          stopOn: req.stopOn, redirect: { canRedirect: trigger === 'post-login', state: 'bench-state', issuer: 'http://127.0.0.1' }, limits: LIMITS,
        };
        for (let i = 0; i < 2000; i++) await runner.runChain(job);
        const cpu: number[] = [];
        const t0 = performance.now();
        for (let i = 0; i < a.warmExecutions; i++) cpu.push((await runner.runChain(job)).results[0].cpuMicros);
        inProcess.push({ label, cpuMicrosMedian: median(cpu), cpuMicrosMean: cpu.reduce((x, y) => x + y, 0) / cpu.length, wallMicros: ((performance.now() - t0) * 1000) / a.warmExecutions });
      }
    } finally {
      runner.disposeAll();
    }
    return { warm, cold, workerPid: workers[0], inProcess } satisfies SandboxResult;
  },
  async teardown() { await pool?.close(); },
});
