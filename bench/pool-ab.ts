/**
 * The Actions sandbox pool alone, this checkout against another, in one run: CPU per chain of
 * the parent and its sandbox worker together, where a change to the pool, the worker or the
 * runner shows without the HTTP server's noise around it. Not part of the figures in
 * docs/benchmarks.md.
 *
 *   node --no-node-snapshot bench/pool-ab.ts --against <checkout> [--actions 5] [--rounds 16] [--chains 4000] [--trigger cc|login]
 *
 * Two child processes pinned to CPU 0, each with a pool of one worker (which inherits the
 * affinity): one imports the other checkout's src/actions/sandbox (a `git worktree` whose
 * node_modules is a link to this one's), the other this checkout's. Each runs the bench's
 * actions (bench/lib/action-code.ts) as chains of `--actions`, 8 in flight, on events shaped
 * like the server's (the samples bench/sandbox-measure.ts uses); rounds strictly alternate (ABBA), and each reads the CPU time of the
 * process and its worker from /proc (schedstat). Medians over rounds are printed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { createInterface } from 'node:readline';
import { ccActionCode, postLoginActionCode, sampleCcEvent, samplePostLoginEvent } from './lib/action-code.ts';
import { descendants, preciseCpuSeconds } from './lib/proc.ts';
import { TRIGGERS } from '../src/actions/triggers/definitions.ts';
import { hasTaskset } from './lib/children.ts';

const { values: args } = parseArgs({
  options: {
    against: { type: 'string' }, actions: { type: 'string', default: '5' }, rounds: { type: 'string', default: '16' },
    chains: { type: 'string', default: '4000' }, trigger: { type: 'string', default: 'cc' }, child: { type: 'string' },
  },
});
const n = Math.min(10, Math.max(1, Number(args.actions)));
const chains = Math.min(100_000, Math.max(100, Number(args.chains)));
const login = args.trigger === 'login';

if (args.child !== undefined) await child(args.child);
else await driver();

async function child(checkout: string): Promise<void> {
  const mod = await import(pathToFileURL(join(checkout, 'src/actions/sandbox/index.ts')).href) as typeof import('../src/actions/sandbox/index.ts');
  const pool = mod.createSandboxPool({ workers: 1 });
  const actions = Array.from({ length: n }, (_, i) => Object.freeze({
    key: `ver_bench${i}`, name: `bench-${i + 1}`, code: login ? postLoginActionCode(i + 1) : ccActionCode(i + 1), secrets: Object.freeze({ TENANT_ID: 'tenant-7f3a9c' }),
  }));
  const limits = { actionTimeoutMs: 5000, chainTimeoutMs: 20000, memoryMb: 64, consoleBytes: 4096, resultBytes: 102400 };
  // The triggers' own api lists, as the engine sends them (post-login's are about 2 KB of JSON with Auth0's unsupported calls).
  const def = TRIGGERS[login ? 'post-login' : 'credentials-exchange'];
  const t = { handler: def.handler, apiMethods: def.apiMethods, stopOn: def.stopOn, unsupportedMethods: def.unsupported ?? [], event: login ? samplePostLoginEvent : sampleCcEvent };
  const req = () => ({ handler: t.handler, actions, event: t.event(), apiMethods: t.apiMethods, stopOn: t.stopOn, unsupportedMethods: t.unsupportedMethods, cacheByAction: {}, redirect: { canRedirect: login, issuer: 'http://127.0.0.1:3000' }, limits });
  async function burst(count: number): Promise<void> {
    let left = count;
    const one = async () => {
      while (left-- > 0) {
        const r = await pool.runChain(req());
        if (r.status !== 'ok' || r.results.length !== n) throw new Error(`chain failed: ${JSON.stringify(r).slice(0, 500)}`);
      }
    };
    await Promise.all(Array.from({ length: 8 }, one));
  }
  await burst(Math.min(2000, chains));
  const rl = createInterface({ input: process.stdin });
  for await (const _ of rl) {
    const kids = descendants(process.pid);
    const p0 = preciseCpuSeconds(process.pid) ?? 0;
    const w0 = kids.map((k) => preciseCpuSeconds(k) ?? 0);
    await burst(chains);
    const p1 = preciseCpuSeconds(process.pid) ?? 0;
    const w1 = kids.reduce((s, k, i) => s + (preciseCpuSeconds(k) ?? w0[i]) - w0[i], 0);
    process.stdout.write(`${JSON.stringify({ parent: (p1 - p0) / chains * 1e6, worker: w1 / chains * 1e6 })}\n`);
  }
  await pool.close();
}

async function driver(): Promise<void> {
  if (args.against === undefined) throw new Error('--against <checkout> is required (a git worktree of the code to compare with)');
  const other = resolve(args.against);
  if (!existsSync(join(other, 'src/actions/sandbox/index.ts'))) throw new Error(`${other} has no src/actions/sandbox/index.ts`);
  const rounds = Math.min(40, Math.max(2, Number(args.rounds)));
  const pin = hasTaskset() ? ['taskset', '-c', '0'] : [];
  type Side = { name: string; proc: ChildProcess; next: () => Promise<{ parent: number; worker: number }> };
  const start = (name: string, checkout: string): Side => {
    const argv = [process.execPath, '--no-node-snapshot', import.meta.filename, '--child', checkout, '--actions', String(n), '--chains', String(chains), '--trigger', login ? 'login' : 'cc'];
    const proc = spawn(pin[0] ?? argv[0], [...pin.slice(1), ...(pin.length ? argv : argv.slice(1))], { stdio: ['pipe', 'pipe', 'inherit'] });
    const lines: string[] = [];
    let wake: (() => void) | undefined;
    createInterface({ input: proc.stdout! }).on('line', (l) => { lines.push(l); wake?.(); });
    return {
      name, proc,
      next: async () => {
        proc.stdin!.write('go\n');
        while (lines.length === 0) {
          if (proc.exitCode !== null) throw new Error(`${name} exited with ${proc.exitCode}`);
          await new Promise<void>((r) => { wake = r; setTimeout(r, 1000); });
        }
        return JSON.parse(lines.shift()!) as { parent: number; worker: number };
      },
    };
  };
  const a = start('other checkout', other);
  const b = start('this checkout', resolve(import.meta.dirname, '..'));
  try {
    const res = new Map<Side, { parent: number; worker: number }[]>([[a, []], [b, []]]);
    for (let i = 0; i < rounds; i++) {
      for (const s of i % 2 === 0 ? [a, b] : [b, a]) res.get(s)!.push(await s.next());
      process.stdout.write(`\rround ${i + 1}/${rounds}`);
    }
    process.stdout.write('\n');
    const med = (xs: number[]) => { const s = [...xs].sort((x, y) => x - y); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
    console.log(`${n}-action ${login ? 'post-login' : 'credentials-exchange'} chains, ${chains} per round, 8 in flight; µs of CPU per chain (medians over ${rounds} rounds)`);
    for (const s of [a, b]) {
      const r = res.get(s)!;
      console.log(`${s.name.padEnd(16)} parent ${med(r.map((x) => x.parent)).toFixed(1).padStart(7)}  worker ${med(r.map((x) => x.worker)).toFixed(1).padStart(7)}  total ${med(r.map((x) => x.parent + x.worker)).toFixed(1).padStart(7)}`);
    }
  } finally {
    a.proc.kill();
    b.proc.kill();
  }
}
