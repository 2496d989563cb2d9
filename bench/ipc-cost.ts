/**
 * What the sandbox pool's IPC costs per chain, apart from running the actions: a parent and
 * a forked child pinned to the same core (as the server and its sandbox workers are), the
 * child answering each message at once with a result shaped like a ChainResult. CPU per round
 * trip of each side from /proc (schedstat, ns), for the pool's message as it is (every
 * action's code and secrets, `serialization: 'advanced'`) and for variants: JSON
 * serialization, and the code left out (a worker that already has it).
 *
 *   node --no-node-snapshot bench/ipc-cost.ts [--n 5000] [--actions 1,5]
 */
import { execFileSync, fork } from 'node:child_process';
import { parseArgs } from 'node:util';
import { preciseCpuSeconds } from './lib/proc.ts';
import { ccActionCode, sampleCcEvent } from './lib/action-code.ts';
import { TRIGGERS } from '../src/actions/triggers/definitions.ts';

if (process.argv[2] === '--child') {
  process.on('message', (m: { id: number; n: number }) => {
    const results = Array.from({ length: m.n }, (_, i) => ({
      key: `ver_${i}`, name: `bench-cc-${i}`, status: 'ok', logs: '', startedAt: Date.now(), durationMs: 0.05, cpuMicros: 9,
      commands: [{ type: 'accessToken.setCustomClaim', args: [`https://bench.example/cc${i}`, { client: 'bench M2M', plan: 'enterprise', tenant: 'tenant-7f3a9c', audience: 'https://api.bench.example/' }] }],
    }));
    process.send!({ t: 'done', id: m.id, result: { status: 'ok', results, durationMs: 0.1 } });
  });
  process.on('disconnect', () => process.exit(0));
} else {
  const { values } = parseArgs({ options: { n: { type: 'string', default: '5000' }, actions: { type: 'string', default: '1,5' } } });
  const n = Math.max(100, Number(values.n));
  const counts = values.actions!.split(',').map(Number);
  try { execFileSync('taskset', ['-a', '-p', '-c', '0', String(process.pid)], { stdio: 'ignore' }); } catch { /* not pinned */ }
  const def = TRIGGERS['credentials-exchange'];
  const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); return s[s.length >> 1]; };
  const job = (k: number, withCode: boolean) => ({
    t: 'chain', blocked: [],
    job: {
      handler: def.handler, eventJson: JSON.stringify(sampleCcEvent()), cacheJson: '{}', cacheByAction: [], apiMethods: def.apiMethods, stopOn: def.stopOn,
      redirect: { canRedirect: false, issuer: 'http://127.0.0.1:8080' }, limits: { actionTimeoutMs: 5000, chainTimeoutMs: 20000, memoryMb: 64, consoleBytes: 4096, resultBytes: 102400 },
      actions: Array.from({ length: k }, (_, i) => ({ key: `ver_${i}`, name: `bench-cc-${i}`, code: withCode ? ccActionCode(i) : '', secrets: { TENANT_ID: 'tenant-7f3a9c', KEY: 'k3y-0123456789abcdef' } })),
    },
  });
  const rows: string[] = [];
  for (const serialization of ['advanced', 'json'] as const) {
    const child = fork(import.meta.filename, ['--child'], { execArgv: ['--no-node-snapshot'], serialization, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    await new Promise((r) => setTimeout(r, 300));
    let id = 0;
    const once = (msg: object) => new Promise<void>((resolve) => { child.once('message', () => resolve()); child.send({ ...msg, id: ++id }); });
    for (const k of counts) {
      for (const withCode of [true, false]) {
        const msg = { ...job(k, withCode), n: k };
        const size = Buffer.byteLength(JSON.stringify(msg));
        for (let i = 0; i < 500; i++) await once(msg);
        const parent: number[] = []; const kid: number[] = []; const wall: number[] = [];
        for (let b = 0; b < 10; b++) {
          const p0 = preciseCpuSeconds(process.pid)!; const c0 = preciseCpuSeconds(child.pid!)!; const t0 = performance.now();
          for (let i = 0; i < n / 10; i++) await once(msg);
          wall.push((performance.now() - t0) * 1000 / (n / 10));
          parent.push((preciseCpuSeconds(process.pid)! - p0) * 1e6 / (n / 10));
          kid.push((preciseCpuSeconds(child.pid!)! - c0) * 1e6 / (n / 10));
        }
        rows.push(`${serialization.padEnd(9)} ${String(k).padStart(2)} action(s) ${withCode ? 'with code   ' : 'without code'} ${String(size).padStart(6)} B   parent ${median(parent).toFixed(1).padStart(6)} µs  child ${median(kid).toFixed(1).padStart(6)} µs  round trip ${median(wall).toFixed(1).padStart(6)} µs`);
      }
    }
    child.disconnect();
  }
  console.log(`IPC per chain message and its reply (median of 10 batches of ${n / 10}; both processes on CPU 0; CPU from schedstat, all threads)`);
  for (const r of rows) console.log(`  ${r}`);
}
