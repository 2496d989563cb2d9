/**
 * Sandbox worker process entry (forked by pool.ts with --no-node-snapshot).
 *
 * Holds the warm isolates; runs one chain (or one validation) at a time; one IPC message in and
 * one out per chain. Before action i > 0 of a chain it overwrites a 24-byte progress record at
 * offset 0 of fd 4, an unlinked file shared with the parent: [job id u32, i u32, startedAt
 * f64 epoch ms, job id u32, 0 u32] (little-endian; the id twice to detect a torn read). The parent reads it only when it needs to (a deadline, a crash) to give
 * each action its own budget and to attribute a kill to the action that was running, without
 * an IPC message or a wake-up of the server per action (a pwrite costs < 1 µs).
 *
 * The parent may SIGKILL this process at any time (deadline, isolated-vm's timeout gaps); it
 * keeps nothing that must survive that. It exits when the IPC channel closes.
 */
import { writeSync } from 'node:fs';
import { ChainRunner, type ChainJob } from './runner.ts';
import type { ChainResult, ValidateResult } from './types.ts';

export type ParentMessage =
  | { t: 'chain'; id: number; job: ChainJob; blocked: string[] }
  | { t: 'validate'; id: number; code: string; handlers: string[]; limits: { actionTimeoutMs: number; memoryMb: number } };

export type WorkerMessage =
  | { t: 'ready' }
  | { t: 'done'; id: number; result: ChainResult | ValidateResult };

const PROGRESS_FD = 4;

const cfg = JSON.parse(process.argv[2] ?? '{}') as { maxWarm?: number; fetchAllow?: string[]; fetchTimeoutMs?: number; fetchMaxBytes?: number };
const runner = new ChainRunner({
  maxWarm: cfg.maxWarm ?? 64,
  fetchAllow: cfg.fetchAllow ?? [],
  fetchTimeoutMs: cfg.fetchTimeoutMs ?? 5000,
  fetchMaxBytes: cfg.fetchMaxBytes ?? 1024 * 1024,
});

function send(m: WorkerMessage): void {
  if (process.send && process.connected) process.send(m);
}

const record = Buffer.alloc(24);
function progress(jobId: number, index: number): void {
  record.writeUInt32LE(jobId >>> 0, 0);
  record.writeUInt32LE(index, 4);
  record.writeDoubleLE(Date.now(), 8);
  record.writeUInt32LE(jobId >>> 0, 16);
  try { writeSync(PROGRESS_FD, record, 0, 24, 0); } catch { /* no progress file: advisory only */ }
}

async function handle(m: ParentMessage): Promise<void> {
  if (m.t === 'chain') {
    const blocked = new Set(m.blocked);
    const result = m.job.actions.some((a) => blocked.has(a.key))
      ? await runBlocked(m.job, blocked, m.id)
      : await runner.runChain(m.job, (i) => progress(m.id, i));
    send({ t: 'done', id: m.id, result });
  } else if (m.t === 'validate') {
    const result = await runner.validate(m.code, m.handlers, m.limits);
    send({ t: 'done', id: m.id, result });
  }
}

/** A chain with quarantined actions: run until the first of them, which fails closed. */
async function runBlocked(job: ChainJob, blocked: Set<string>, jobId: number): Promise<ChainResult> {
  const cut = job.actions.findIndex((a) => blocked.has(a.key));
  const head = await runner.runChain({ ...job, actions: job.actions.slice(0, cut) }, (i) => progress(jobId, i));
  if (head.status !== 'ok' || head.results.length < cut) return head;
  const a = job.actions[cut];
  head.results.push({
    key: a.key, name: a.name, status: 'runtime', commands: [], logs: '',
    error: { name: 'ActionQuarantined', message: 'This action crashed the sandbox repeatedly and is suspended for a while' },
    startedAt: Date.now(), durationMs: 0, cpuMicros: 0,
  });
  return { status: 'runtime', results: head.results, durationMs: head.durationMs };
}

// One message at a time: isolates are not shared between concurrent executions.
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
