/**
 * Where the time of bound Actions goes, for when the Actions part of `npm run bench` misses a
 * target. Not part of the figures in docs/benchmarks.md.
 *
 *   node --no-node-snapshot bench/actions-diagnose.ts [--actions N] [--trigger cc|login] [--tokens N] [--rounds N] [--connections N] [--profile] [--workers-cpu N]
 *   node --no-node-snapshot bench/actions-diagnose.ts --memory 100000
 *   node --no-node-snapshot bench/actions-diagnose.ts --against <checkout> [--actions N] [--round-ms MS] …
 *
 * Two Gatehouse processes pinned to CPU 0 (diagnose mode: per-route SQL counters), one with
 * nothing bound and one with N credentials-exchange actions (or post-login actions with
 * `--trigger login`). Rounds alternate between them; each round sends the same number of
 * requests (one at a time by default, so the per-request figures are each request's own) and
 * reads CPU per request from /proc (schedstat, ns): the server's main thread, its other
 * threads, and the sandbox workers. Then the SQL statements per request of each, and with
 * `--profile` the main-thread CPU profile of the one with actions minus the one without, per
 * request, by module and by function. A V8 CPU profile samples wall time: while the server's
 * main thread is preempted by a sandbox worker on the same core, the samples land on whatever
 * it was doing (the IPC write that woke the worker). `--workers-cpu 1` moves the workers to
 * another core after start, so the main thread's profile shows its own CPU only.
 *
 * `--against <checkout>`: A/B of two versions of the code, in one run. The first server runs the
 * other checkout's bench/servers/gatehouse.ts (a `git worktree` whose node_modules is a link to
 * this one's), the second this checkout's; both bind the N actions. Rounds then last
 * `--round-ms` (default 1250) and strictly alternate, so that the isolated-vm timers a round
 * leaves behind (they expire 5 s later: see src/actions/sandbox/timer-slack.ts) expire during
 * a later round of the same server, not of the other one. The `added` column is then this
 * checkout minus the other; a last line gives each server's requests per second and their ratio.
 *
 * `--memory N`: does RSS keep growing? N executions of 20 credentials-exchange actions bound
 * five at a time in turns (as bench/actions.ts does, for longer), and the same token requests
 * to the other server, which has the 20 actions deployed but none bound (the control: what the
 * server's RSS does with token traffic alone). VmRSS of each server and its workers every N/10.
 */
import { mkdtempSync, rmSync, existsSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { execFileSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { Child, freePort, hasTaskset, killAllChildren, pinSelf } from './lib/children.ts';
import { ccRequest, ccOnce, ccCount, loginOnce, type CcTarget, type LoginTarget } from './lib/load.ts';
import { keepAliveAgent } from './lib/http.ts';
import { mgmtClient } from './lib/mgmt.ts';
import { cmdline, descendants, preciseCpuSeconds, rssKiB } from './lib/proc.ts';
import { ccActionCode, memActionCode, postLoginActionCode } from './lib/action-code.ts';
import type { GatehouseInfo, GatehouseInit, RouteStats } from './servers/gatehouse.ts';
import { selfTimes, type CpuProfile } from './profile-summary.ts';

const HERE = import.meta.dirname;
const API = 'https://api.bench.example/';
const SCOPES = ['read:things', 'write:things'];
const PASSWORD = 'correct horse battery staple';
const ADMIN = { clientId: 'bench-admin', clientSecret: 'bench-admin-secret-0123456789abcdef' };

const { values: args } = parseArgs({
  options: {
    actions: { type: 'string', default: '1' }, trigger: { type: 'string', default: 'cc' }, tokens: { type: 'string', default: '1000' },
    rounds: { type: 'string', default: '6' }, connections: { type: 'string', default: '1' }, profile: { type: 'boolean', default: false },
    'workers-cpu': { type: 'string' }, memory: { type: 'string' }, against: { type: 'string' }, 'round-ms': { type: 'string', default: '1250' },
  },
});
const nActions = Math.min(20, Math.max(1, Number(args.actions)));
const login = args.trigger === 'login';
const perRound = Math.max(10, Number(args.tokens)) / (login ? 20 : 1);
const rounds = Math.min(30, Math.max(1, Number(args.rounds)));
const connections = Math.min(64, Math.max(1, Number(args.connections)));
const against = args.against;
const roundMs = Math.max(200, Number(args['round-ms']));
const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };

process.on('SIGINT', () => { killAllChildren(); process.exit(130); });
process.on('exit', () => killAllChildren());
const pinned = hasTaskset() && pinSelf(1);
const dir = mkdtempSync(join(tmpdir(), 'gatehouse-actions-diagnose-'));
const children: Child<unknown>[] = [];

/** Per-thread CPU (ns resolution) of a process, thread names folded like lib/http.ts threadCpuSeconds. */
function threads(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
        const name = tid === String(pid) ? 'main thread' : stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')).replace(/\d+$/, '').trim();
        const ns = Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
        out.set(name, (out.get(name) ?? 0) + ns / 1e9);
      } catch { /* thread ended */ }
    }
  } catch { /* not Linux */ }
  return out;
}

/** user and system CPU seconds of the main thread (10 ms ticks: only for long windows). */
function mainUserSys(pid: number): [number, number] {
  try {
    const st = readFileSync(`/proc/${pid}/task/${pid}/stat`, 'utf8');
    const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
    return [Number(f[11]) / 100, Number(f[12]) / 100];
  } catch { return [NaN, NaN]; }
}

interface Side { name: string; gh: Child<GatehouseInfo>; cc: CcTarget; login: LoginTarget; workers: number[]; served: number; per: Map<string, number[]>; rates: number[] }

const sides: Side[] = [];
try {
  for (const name of against !== undefined ? ['other checkout', 'this checkout'] : ['none bound', `${nActions} bound`]) {
    const root = against !== undefined && sides.length === 0 ? against : join(HERE, '..');
    const nodeArgs = args.profile ? ['--cpu-prof', '--cpu-prof-dir', join(dir, 'profiles'), '--cpu-prof-name', `${sides.length}.cpuprofile`] : [];
    const gh = new Child<GatehouseInfo>(`gatehouse-${sides.length}`, join(root, 'bench', 'servers', 'gatehouse.ts'), { cpu: pinned ? 0 : undefined, logDir: dir, nodeArgs });
    children.push(gh as Child<unknown>);
    const info = await gh.start({
      port: await freePort(), dir: join(dir, String(sides.length)), users: 4, password: PASSWORD, logLevel: 'info', api: API, scopes: SCOPES, diagnose: true,
      admin: ADMIN, m2mMetadata: { plan: 'enterprise', region: 'eu' }, roles: ['admin', 'editor'],
    } satisfies GatehouseInit, 120_000);
    const mg = await mgmtClient(info.base, ADMIN.clientId, ADMIN.clientSecret);
    const names: string[] = [];
    for (let i = 1; i <= nActions; i++) {
      const n = `bench-${i}`;
      await mg.deployAction({ name: n, trigger: login ? 'post-login' : 'credentials-exchange', code: login ? postLoginActionCode(i) : ccActionCode(i), secrets: [{ name: 'TENANT_ID', value: 'tenant-7f3a9c' }] });
      names.push(n);
    }
    // Both servers have the actions deployed (and their sandbox workers running); only one binds
    // them, unless two checkouts are compared.
    if (sides.length === 1 || against !== undefined) await mg.bind(login ? 'post-login' : 'credentials-exchange', names);
    sides.push({
      name, gh,
      cc: ccRequest(info.base, gh.pid, info.m2m.client_id, info.m2m.client_secret, { audience: API, scope: SCOPES.join(' ') }),
      login: { base: info.base, pid: gh.pid, clientId: info.spa.client_id, redirectUri: info.spa.redirect_uri, users: info.users, password: PASSWORD },
      workers: descendants(gh.pid).filter((p) => /worker\.ts/.test(cmdline(p))), served: 0, per: new Map(), rates: [],
    });
    if (args['workers-cpu'] !== undefined) {
      for (const w of sides.at(-1)!.workers) execFileSync('taskset', ['-a', '-p', '-c', String(Number(args['workers-cpu'])), String(w)], { stdio: 'ignore' });
    }
  }

  if (args.memory) await memoryRun(Number(args.memory));
  else await cpuRun();
} finally {
  await Promise.all(children.map((c) => c.stop().catch(() => undefined)));
  if (args.profile) {
    const read = (n: number) => { const f = join(dir, 'profiles', `${n}.cpuprofile`); return existsSync(f) ? JSON.parse(readFileSync(f, 'utf8')) as CpuProfile : undefined; };
    const [a, b] = [read(0), read(1)];
    if (a && b) {
      // Profiles cover each process's whole life (setup too): per request over everything it served.
      const sa = selfTimes(a); const sb = selfTimes(b);
      const [na, nb] = [sides[0].served, sides[1].served];
      const n = Math.round((na + nb) / 2);
      const diff = (x: Map<string, number>, y: Map<string, number>) => [...new Set([...x.keys(), ...y.keys()])]
        .map((k) => ({ k, with: (y.get(k) ?? 0) / nb, without: (x.get(k) ?? 0) / na })).sort((p, q) => Math.abs(q.with - q.without) - Math.abs(p.with - p.without));
      console.log(`\n== main-thread self time per request, with actions minus without (profiles of the whole process lives, ≈${n} requests each)`);
      console.log('by module:');
      for (const r of diff(sa.byModule, sb.byModule).slice(0, 25)) console.log(`  ${(r.with - r.without >= 0 ? '+' : '') + (r.with - r.without).toFixed(1).padStart(7)} µs   with ${r.with.toFixed(1).padStart(7)}  without ${r.without.toFixed(1).padStart(7)}  ${r.k}`);
      console.log('by function:');
      for (const r of diff(sa.byFn, sb.byFn).slice(0, 40)) console.log(`  ${(r.with - r.without >= 0 ? '+' : '') + (r.with - r.without).toFixed(1).padStart(7)} µs   with ${r.with.toFixed(1).padStart(7)}  without ${r.without.toFixed(1).padStart(7)}  ${r.k}`);
      const sp = (m: Map<string, number>, k: number) => [...m].map(([x, v]) => `${x} ${(v / k).toFixed(1)}`).join(', ');
      console.log(`special (µs per request): with: ${sp(sb.special, nb)}; without: ${sp(sa.special, na)}`);
    }
  }
  rmSync(dir, { recursive: true, force: true });
}

async function memoryRun(total: number) {
  const [control, subject] = sides;
  const base = `http://127.0.0.1:${new URL(subject.cc.base).port}`;
  const mg = await mgmtClient(base, ADMIN.clientId, ADMIN.clientSecret);
  const names = Array.from({ length: 20 }, (_, i) => `bench-mem-${i}`);
  for (const [i, n] of names.entries()) await mg.deployAction({ name: n, trigger: 'credentials-exchange', code: memActionCode(i), secrets: [{ name: 'KEY', value: 'k3y-0123456789abcdef' }] });
  const cmg = await mgmtClient(`http://127.0.0.1:${new URL(control.cc.base).port}`, ADMIN.clientId, ADMIN.clientSecret);
  for (const [i, n] of names.entries()) await cmg.deployAction({ name: n, trigger: 'credentials-exchange', code: memActionCode(i), secrets: [{ name: 'KEY', value: 'k3y-0123456789abcdef' }] });
  const row = (done: number) => {
    const f = (s: Side) => {
      const w = descendants(s.gh.pid).filter((p) => /worker\.ts/.test(cmdline(p))).map((p) => rssKiB(p) ?? NaN);
      return `${((rssKiB(s.gh.pid) ?? NaN) / 1024).toFixed(1).padStart(7)} + ${w.map((x) => (x / 1024).toFixed(1)).join(' + ').padEnd(13)}`;
    };
    console.log(`${done.toLocaleString('en-US').padStart(10)}  ${f(subject)}  ${f(control)}`);
  };
  console.log(`${'executions'.padStart(10)}  ${'20 actions in turns: server + workers MiB'.padEnd(36)}  control (none bound, same tokens)`);
  row(0);
  let done = 0; let group = 0;
  const step = Math.max(1000, Math.round(total / 10));
  while (done < total) {
    const goal = Math.min(total, done + step);
    while (done < goal) {
      await mg.bind('credentials-exchange', names.slice((group % 4) * 5, (group % 4) * 5 + 5));
      group++;
      await ccCount(subject.cc, { requests: 40, connections: 8 });
      await ccCount(control.cc, { requests: 40, connections: 8 });
      done += 200;
    }
    await new Promise((r) => setTimeout(r, 300));
    row(done);
  }
}

async function cpuRun() {
  const unit = login ? 'login' : 'token';
  /** Sends n requests, or (comparing checkouts) as many as fit in roundMs; returns how many. */
  const run = async (s: Side, n: number): Promise<number> => {
    const agent = keepAliveAgent(connections);
    const end = performance.now() + roundMs;
    let next = 0;
    try {
      await Promise.all(Array.from({ length: connections }, async (_, w) => {
        while (against !== undefined ? performance.now() < end : next < n) {
          next++;
          if (login) await loginOnce(agent, s.login, s.login.users[w % s.login.users.length]);
          else {
            const r = await ccOnce(agent, s.cc);
            if (r.status !== 200) throw new Error(`${s.name}: ${r.status} ${r.body}`);
          }
        }
      }));
    } finally {
      agent.destroy();
    }
    s.served += next;
    return next;
  };
  // Warm-up; comparing checkouts, past the first expiry of isolated-vm's timers (5 s).
  for (let i = 0; i < (against !== undefined ? Math.ceil(6000 / roundMs) : 1); i++) for (const s of sides) await run(s, perRound);
  for (const s of sides) await s.gh.run({}, 10_000);
  const per = against !== undefined ? `${roundMs} ms` : `${perRound} ${unit}s each`;
  console.log(`${rounds} rounds of ${per}, ${connections} at a time; CPU µs per ${unit} (schedstat)`);
  for (let r = 0; r < rounds; r++) {
    for (const s of r % 2 && against === undefined ? [...sides].reverse() : sides) {
      const w0 = s.workers.map((p) => preciseCpuSeconds(p) ?? 0);
      const t0 = threads(s.gh.pid);
      const us0 = mainUserSys(s.gh.pid);
      const done = await run(s, perRound);
      const us1 = mainUserSys(s.gh.pid);
      const t1 = threads(s.gh.pid);
      const w1 = s.workers.map((p) => preciseCpuSeconds(p) ?? 0);
      const add = (k: string, v: number) => (s.per.get(k) ?? s.per.set(k, []).get(k)!).push((1e6 * v) / done);
      s.rates.push((1000 * done) / roundMs);
      for (const [k, v] of t1) add(k === 'main thread' ? k : `  thread ${k}`, v - (t0.get(k) ?? 0));
      add('  main: user (ticks)', us1[0] - us0[0]);
      add('  main: system (ticks)', us1[1] - us0[1]);
      add('sandbox workers', w1.reduce((a, b) => a + b, 0) - w0.reduce((a, b) => a + b, 0));
    }
  }
  const all = [...new Set(sides.flatMap((s) => [...s.per.keys()]))].sort((a, b) => (a === 'main thread' ? -1 : b === 'main thread' ? 1 : a === 'sandbox workers' ? 1 : b === 'sandbox workers' ? -1 : a.localeCompare(b)));
  // The user/system split of the main thread is shown, not added to the total (it is part of 'main thread').
  const keys = all.filter((k) => !k.startsWith('  main:'));
  for (const s of sides) for (const k of all) if (!s.per.has(k)) s.per.set(k, Array(rounds).fill(0));
  console.log(`\n${'µs per ' + unit}`.padEnd(26) + sides.map((s) => s.name.padStart(14)).join('') + '      added');
  for (const k of [...all, 'total']) {
    const v = sides.map((s) => (k === 'total' ? median(s.per.get(keys[0])!.map((_, i) => keys.reduce((a, kk) => a + (s.per.get(kk)![i] ?? 0), 0))) : median(s.per.get(k)!)));
    console.log(`${k.padEnd(26)}${v.map((x) => x.toFixed(1).padStart(14)).join('')}  ${(v[1] - v[0] >= 0 ? '+' : '') + (v[1] - v[0]).toFixed(1).padStart(8)}`);
  }
  if (against !== undefined) {
    // Per-round ratios: both servers' rounds of one pair ran back to back.
    const ratio = median(sides[1].rates.map((x, i) => x / sides[0].rates[i]));
    console.log(`${unit}s/s (median)`.padEnd(26) + sides.map((s) => median(s.rates).toFixed(0).padStart(14)).join('') + `  ${ratio.toFixed(3)}× (median of per-round ratios)`);
  }

  // SQL per request, from the diagnose counters (sequential traffic only).
  for (const s of sides) await s.gh.run({}, 10_000);
  const sql: Map<string, number>[] = [];
  for (const s of sides) {
    const agent = keepAliveAgent(1);
    const n = login ? 10 : 100;
    try { for (let i = 0; i < n; i++) { if (login) await loginOnce(agent, s.login, s.login.users[0]); else await ccOnce(agent, s.cc); } } finally { agent.destroy(); }
    s.served += n;
    const { routes } = await s.gh.run<{ routes: Record<string, RouteStats> }>({}, 10_000);
    const m = new Map<string, number>();
    for (const r of Object.values(routes)) for (const [q, c] of Object.entries(r.statements)) m.set(q, (m.get(q) ?? 0) + c / n);
    sql.push(m);
  }
  console.log(`\nSQL statements per ${unit}: ${sides.map((s, i) => `${s.name} ${[...sql[i].values()].reduce((a, b) => a + b, 0).toFixed(1)}`).join(', ')}; added:`);
  for (const [q, c] of sql[1]) { const d = c - (sql[0].get(q) ?? 0); if (Math.abs(d) > 0.01) console.log(`  ${(d >= 0 ? '+' : '') + d.toFixed(2)}  ${q}`); }
}
