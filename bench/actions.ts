/**
 * The Actions part of `npm run bench` (`--only actions`): what bound Actions cost, against the
 * same requests with nothing bound, in one run on one Gatehouse process.
 *
 *  1. credentials-exchange: client_credentials tokens/s with 0, 1 and 5 bound actions (16
 *     keep-alive connections), and the latency of one request at a time (1 connection).
 *  2. post-login: full logins/s with 0, 1 and 5 bound actions (8 virtual users), and the
 *     latency of one login at a time (1 virtual user).
 *  3. The sandbox alone (bench/servers/sandbox.ts): isolate CPU per warm execution, worker CPU
 *     per execution, cold start of a new version; and the cold start through the server (the
 *     first token request after a deploy, from its execution record).
 *  4. Memory: VmRSS of the server and of its sandbox workers at start and after 1,000, 5,000,
 *     10,000, 30,000 and 50,000 executions spread over 20 different actions (the last two show
 *     where the warm isolates' heaps level off), and at the end of the part.
 *
 * Same method as the rest of bench/run.ts: the server (and the sandbox workers it forks, which
 * inherit its affinity) pinned to CPU 0, the load generator on CPU 1, configurations measured
 * back to back in each round with the order rotated between rounds, ratios and differences
 * taken within a round and their median reported. Switching configuration is one
 * `PATCH /api/v2/actions/triggers/{trigger}/bindings`; every action is deployed and warm
 * before anything is measured.
 */
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Child, freePort } from './lib/children.ts';
import { ccOnce, ccRequest, ccCount, runCc, runLogin, loginOnce, type LoadResult, type CcTarget, type LoginTarget } from './lib/load.ts';
import { keepAliveAgent } from './lib/http.ts';
import { mgmtClient, type MgmtClient } from './lib/mgmt.ts';
import { cmdline, cpusAllowed, descendants, rssKiB } from './lib/proc.ts';
import { CLAIM_NS, ccActionCode, memActionCode, postLoginActionCode } from './lib/action-code.ts';
import type { GatehouseInfo, GatehouseInit } from './servers/gatehouse.ts';
import type { SandboxResult, SandboxRun } from './servers/sandbox.ts';
import type { Level } from '../src/shared/logger.ts';

const HERE = import.meta.dirname;
const API = 'https://api.bench.example/';
const SCOPES = ['read:things', 'write:things'];
const PASSWORD = 'correct horse battery staple';
const ADMIN = { clientId: 'bench-admin', clientSecret: 'bench-admin-secret-0123456789abcdef' };
const TENANT_SECRET = 'tenant-7f3a9c';
export const COUNTS = [0, 1, 5] as const;
export type Count = typeof COUNTS[number];

/** Targets (ACTIONS.md benchmarks brief). */
export const TARGETS = {
  cc1Ratio: 0.8, cc1AddedP50Ms: 0.3, cc5Ratio: 0.7, warmCpuMicros: 20, coldStartMs: 20,
};

export interface ActionsOptions {
  dir: string; pinned: boolean; logLevel: Level;
  rounds: number; loginRounds: number; warmupMs: number; durationMs: number; latencyMs: number; primeMs: number;
  connections: number; vus: number; coldVersions: number; memoryCheckpoints: number[];
  nodeArgs(name: string): string[];
  /** Children are registered here so the caller's cleanup stops them on failure. */
  register(c: Child<unknown>): void;
  log(line: string): void;
}

export interface AMeasure {
  config: Count; round: number; perSecond: number; count: number;
  /** Server process CPU (all threads; its main thread alone) and sandbox workers' CPU per operation (ms), and the cores they used together. */
  serverMsPerOp: number; mainMsPerOp: number; workersMsPerOp: number; cores: number;
  p50Ms: number; p99Ms: number; latencies: number[]; errors: number; firstError?: string;
}
export interface MemoryPoint {
  label: string; executions: number; serverKiB: number; workersKiB: number[];
  /** The server's V8 heap in use after two full GCs, and the heap V8 keeps (KiB). */
  serverHeapUsedKiB: number; serverHeapTotalKiB: number;
}
export interface ColdServer { durationMs: number; firstLatencyMs: number; warmLatencyMs: number; warmDurationMs: number }

export interface ActionsResults {
  cc: Record<Count, { load: AMeasure[]; lat: AMeasure[] }>;
  login: Record<Count, { load: AMeasure[]; lat: AMeasure[] }>;
  sandbox: SandboxResult;
  coldServer: ColdServer[];
  memory: MemoryPoint[];
  /** Sanity checks that failed (a claim missing from a token…): reported, not fatal. */
  problems: string[];
  workers: { pid: number; cpus?: string }[];
  executions: number;
  seconds: number;
}

const median = (xs: number[]) => { if (!xs.length) return NaN; const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const pct = (sorted: number[], p: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] : NaN);
const f0 = (n: number) => (Number.isFinite(n) ? n.toFixed(0) : '–');
const f1 = (n: number) => (Number.isFinite(n) ? n.toFixed(1) : '–');
const f2 = (n: number) => (Number.isFinite(n) ? n.toFixed(2) : '–');
const f3 = (n: number) => (Number.isFinite(n) ? n.toFixed(3) : '–');
const sign = (n: number, d: (x: number) => string) => (Number.isFinite(n) ? `${n >= 0 ? '+' : '−'}${d(Math.abs(n))}` : '–');
const mib = (kib: number) => (kib / 1024).toFixed(1);

/** Round r's order of the three configurations: all six permutations in turn, so none always goes first. */
const ORDERS: Count[][] = [[0, 1, 5], [5, 1, 0], [1, 5, 0], [0, 5, 1], [5, 0, 1], [1, 0, 5]];

function measure(config: Count, round: number, r: LoadResult): AMeasure {
  const ops = r.count || NaN;
  const server = r.tree?.self ?? r.serverCpuSeconds ?? NaN;
  const workers = r.tree?.children ?? 0;
  return {
    config, round, perSecond: r.perSecond, count: r.count,
    serverMsPerOp: (1000 * server) / ops, mainMsPerOp: (1000 * (r.tree?.main ?? NaN)) / ops, workersMsPerOp: (1000 * workers) / ops, cores: (server + workers) / r.seconds,
    p50Ms: r.p50Ms, p99Ms: r.p99Ms, latencies: r.latenciesMs, errors: r.errors, firstError: r.firstError,
  };
}

function decodeJwt(t: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(t.split('.')[1], 'base64url').toString()) as Record<string, unknown>;
}

export async function runActionsPart(o: ActionsOptions): Promise<ActionsResults> {
  const t0 = performance.now();
  const problems: string[] = [];
  let executions = 0;

  // A Gatehouse of its own: the memory figures start from a fresh process.
  const gh = new Child<GatehouseInfo>('gatehouse-actions', join(HERE, 'servers', 'gatehouse.ts'), { cpu: o.pinned ? 0 : undefined, nodeArgs: ['--expose-gc', ...o.nodeArgs('gatehouse-actions')], logDir: o.dir });
  o.register(gh as Child<unknown>);
  const port = await freePort();
  const info = await gh.start({
    port, dir: join(o.dir, 'actions'), users: o.vus, password: PASSWORD, logLevel: o.logLevel, api: API, scopes: SCOPES,
    admin: ADMIN, m2mMetadata: { plan: 'enterprise', region: 'eu' }, roles: ['admin', 'editor'],
  } satisfies GatehouseInit, 120_000);
  const memory: MemoryPoint[] = [];
  let workerPids: number[] = [];
  const refreshWorkers = () => {
    workerPids = descendants(gh.pid).filter((p) => /worker\.ts/.test(cmdline(p)));
    return workerPids;
  };
  const rss = async (label: string) => {
    refreshWorkers();
    // RSS first: the forced GCs below may return pages to the system.
    const serverKiB = rssKiB(gh.pid) ?? NaN;
    const workersKiB = workerPids.map((w) => rssKiB(w) ?? NaN);
    const heap = await gh.run<{ heapUsedKiB: number; heapTotalKiB: number }>({ heap: true }, 30_000);
    const p: MemoryPoint = { label, executions, serverKiB, workersKiB, serverHeapUsedKiB: heap.heapUsedKiB, serverHeapTotalKiB: heap.heapTotalKiB };
    memory.push(p);
    o.log(`  memory: ${label.padEnd(46)} server ${mib(p.serverKiB)} MiB (heap after GC ${mib(p.serverHeapUsedKiB)} of ${mib(p.serverHeapTotalKiB)} MiB), workers ${p.workersKiB.map(mib).join(' + ') || 'none'} MiB`);
  };
  await rss('server started (no sandbox worker yet)');

  const mg: MgmtClient = await mgmtClient(info.base, ADMIN.clientId, ADMIN.clientSecret);
  const secrets = [{ name: 'TENANT_ID', value: TENANT_SECRET }, { name: 'KEY', value: 'k3y-0123456789abcdef' }];
  const names = {
    cc: [1, 2, 3, 4, 5].map((i) => `bench-cc-${i}`),
    pl: [1, 2, 3, 4, 5].map((i) => `bench-pl-${i}`),
    mem: Array.from({ length: 20 }, (_, i) => `bench-mem-${String(i).padStart(2, '0')}`),
  };
  for (const [i, n] of names.cc.entries()) await mg.deployAction({ name: n, trigger: 'credentials-exchange', code: ccActionCode(i + 1), secrets });
  for (const [i, n] of names.pl.entries()) await mg.deployAction({ name: n, trigger: 'post-login', code: postLoginActionCode(i + 1), secrets });
  for (const [i, n] of names.mem.entries()) await mg.deployAction({ name: n, trigger: 'credentials-exchange', code: memActionCode(i), secrets });
  const cold = await mg.deployAction({ name: 'bench-cold', trigger: 'credentials-exchange', code: ccActionCode(9), secrets });
  const workers = refreshWorkers().map((pid) => ({ pid, cpus: cpusAllowed(pid) }));
  o.log(`  deployed ${names.cc.length + names.pl.length + names.mem.length + 1} actions; sandbox workers ${workers.map((w) => `${w.pid} (CPUs ${w.cpus ?? '?'})`).join(', ')}`);

  const cc: CcTarget = ccRequest(info.base, gh.pid, info.m2m.client_id, info.m2m.client_secret, { audience: API, scope: SCOPES.join(' ') });
  const login: LoginTarget = { base: info.base, pid: gh.pid, clientId: info.spa.client_id, redirectUri: info.spa.redirect_uri, users: info.users, password: PASSWORD };
  const withWorkers = <T extends { childPids?: number[] }>(t: T): T => ({ ...t, childPids: refreshWorkers() });

  // ---- 4. memory: 20 actions bound five at a time, in turns --------------------------------
  await mg.bind('credentials-exchange', []);
  await rss('start (actions deployed, none executed)');
  {
    const groupSize = 5;
    const perTurn = 40; // token requests per binding turn: 200 executions
    let group = 0;
    let done = 0;
    for (const goal of o.memoryCheckpoints) {
      while (done < goal) {
        const chain = names.mem.slice((group % 4) * groupSize, (group % 4) * groupSize + groupSize);
        group++;
        await mg.bind('credentials-exchange', chain);
        const requests = Math.min(perTurn, Math.ceil((goal - done) / groupSize));
        await ccCount(cc, { requests, connections: 8 });
        done += requests * groupSize;
        executions += requests * groupSize;
      }
      await new Promise((r) => setTimeout(r, 300));
      await rss(`after ${done.toLocaleString('en-US')} executions (20 actions)`);
    }
    await mg.bind('credentials-exchange', []);
  }

  // ---- sanity: the claims the actions set are in the tokens -------------------------------
  {
    const agent = keepAliveAgent(1);
    try {
      await mg.bind('credentials-exchange', names.cc);
      const res = await ccOnce(agent, cc);
      executions += 5;
      const body = JSON.parse(res.body) as { access_token?: string };
      if (res.status !== 200 || !body.access_token) throw new Error(`token with 5 actions bound: ${res.status} ${res.body}`);
      const claims = decodeJwt(body.access_token);
      const missing = [1, 2, 3, 4, 5].filter((i) => (claims[`${CLAIM_NS}cc${i}`] as { tenant?: string } | undefined)?.tenant !== TENANT_SECRET);
      if (missing.length) problems.push(`credentials-exchange: claims of actions ${missing.join(', ')} missing from the access token: ${JSON.stringify(claims)}`);
      await mg.bind('credentials-exchange', []);
      await mg.bind('post-login', names.pl);
      const tok = await loginOnce(agent, login, login.users[0]);
      executions += 5;
      const id = decodeJwt(tok.id_token as string);
      const plMissing = [1, 2, 3, 4, 5].filter((i) => !Array.isArray((id[`${CLAIM_NS}pl${i}`] as { roles?: unknown } | undefined)?.roles));
      if (plMissing.length) problems.push(`post-login: ID-token claims of actions ${plMissing.join(', ')} missing (ID token claims: ${Object.keys(id).join(', ')})`);
      const exe = (await mg.executions('post-login', 1))[0];
      if (!exe || exe.results?.length !== 5 || exe.results.some((r: { status: string }) => r.status !== 'ok')) problems.push(`post-login: the execution record is not 5 ok results: ${JSON.stringify(exe).slice(0, 400)}`);
      await mg.bind('post-login', []);
    } finally {
      agent.destroy();
    }
    for (const p of problems) o.log(`  PROBLEM: ${p}`);
  }

  // ---- 3a. the sandbox alone: warm isolate CPU, cold start --------------------------------
  const sb = new Child<{ pid: number }>('sandbox', join(HERE, 'servers', 'sandbox.ts'), { cpu: o.pinned ? 0 : undefined, logDir: o.dir });
  o.register(sb as Child<unknown>);
  await sb.start({});
  const sandbox = await sb.run<SandboxResult>({ warmExecutions: 10_000, coldVersions: o.coldVersions } satisfies SandboxRun, 120_000);
  await sb.stop();
  for (const w of sandbox.inProcess) o.log(`  sandbox: ${`${w.label} (in-process, hot)`.padEnd(36)} isolate CPU ${f1(w.cpuMicrosMedian)} µs median (mean ${f1(w.cpuMicrosMean)}); ${f1(w.wallMicros)} µs wall per chain`);
  for (const w of sandbox.warm) {
    o.log(`  sandbox: ${w.label.padEnd(36)} isolate CPU ${f1(w.cpuMicrosMedian)} µs median (mean ${f1(w.cpuMicrosMean)}, p99 ${f1(w.cpuMicrosP99)}) per action; worker process ${f1(w.workerCpuMicrosPerExecution)} µs CPU per action; ${f0(w.wallMicrosPerChain)} µs per chain round trip`);
  }
  o.log(`  sandbox: cold start of a new version (worker side) ${sandbox.cold.map((c) => f1(c.durationMs)).join(' ')} ms`);

  // ---- 1. credentials-exchange ------------------------------------------------------------
  const bindCc = (n: Count) => mg.bind('credentials-exchange', names.cc.slice(0, n));
  const ccOut = { 0: { load: [], lat: [] }, 1: { load: [], lat: [] }, 5: { load: [], lat: [] } } as ActionsResults['cc'];
  o.log(`\n  credentials-exchange: ${o.connections} connections for tokens/s, then 1 connection for latency; configurations 0, 1, 5 actions`);
  for (const n of COUNTS) {
    await bindCc(n);
    if (o.primeMs) executions += n * (await runCc(withWorkers(cc), { warmupMs: 0, durationMs: o.primeMs / 3, connections: o.connections })).total;
  }
  for (let r = 1; r <= o.rounds; r++) {
    for (const n of ORDERS[(r - 1) % ORDERS.length]) {
      await bindCc(n);
      const load = await runCc(withWorkers(cc), { warmupMs: o.warmupMs, durationMs: o.durationMs, connections: o.connections });
      const lat = await runCc(withWorkers(cc), { warmupMs: Math.min(300, o.warmupMs), durationMs: o.latencyMs, connections: 1 });
      executions += n * (load.total + lat.total);
      const lm = measure(n, r, load);
      const tm = measure(n, r, lat);
      ccOut[n].load.push(lm);
      ccOut[n].lat.push(tm);
      o.log(`  round ${r} ${`${n} action${n === 1 ? '' : 's'}`.padEnd(10)} ${f0(lm.perSecond).padStart(6)} tok/s  CPU/token server ${f3(lm.serverMsPerOp)} + workers ${f3(lm.workersMsPerOp)} ms (${f2(lm.cores)} core)  p50 ${f2(lm.p50Ms)} p99 ${f1(lm.p99Ms)} ms | 1 conn: p50 ${f3(tm.p50Ms)} p99 ${f3(tm.p99Ms)} ms${lm.errors + tm.errors ? `  ERRORS ${lm.errors + tm.errors}: ${lm.firstError ?? tm.firstError}` : ''}`);
    }
  }
  await bindCc(0);

  // ---- 2. post-login ----------------------------------------------------------------------
  const bindPl = (n: Count) => mg.bind('post-login', names.pl.slice(0, n));
  const plOut = { 0: { load: [], lat: [] }, 1: { load: [], lat: [] }, 5: { load: [], lat: [] } } as ActionsResults['login'];
  o.log(`\n  post-login: ${o.vus} virtual users for logins/s, then 1 for latency; configurations 0, 1, 5 actions`);
  for (const n of COUNTS) {
    await bindPl(n);
    if (o.primeMs) executions += n * (await runLogin(withWorkers(login), { warmupMs: 0, durationMs: o.primeMs / 3, vus: o.vus })).total;
  }
  for (let r = 1; r <= o.loginRounds; r++) {
    for (const n of ORDERS[(r - 1) % ORDERS.length]) {
      await bindPl(n);
      const load = await runLogin(withWorkers(login), { warmupMs: o.warmupMs, durationMs: o.durationMs, vus: o.vus });
      // One login at a time takes ~30 ms: a longer window than for tokens, for enough samples.
      const lat = await runLogin(withWorkers(login), { warmupMs: Math.min(300, o.warmupMs), durationMs: 2 * o.latencyMs, vus: 1 });
      executions += n * (load.total + lat.total);
      const lm = measure(n, r, load);
      const tm = measure(n, r, lat);
      plOut[n].load.push(lm);
      plOut[n].lat.push(tm);
      o.log(`  round ${r} ${`${n} action${n === 1 ? '' : 's'}`.padEnd(10)} ${f1(lm.perSecond).padStart(6)} login/s  CPU/login server ${f2(lm.serverMsPerOp)} (main thread ${f2(lm.mainMsPerOp)}) + workers ${f2(lm.workersMsPerOp)} ms (${f2(lm.cores)} core)  p50 ${f0(lm.p50Ms)} p99 ${f0(lm.p99Ms)} ms | 1 VU: p50 ${f1(tm.p50Ms)} p99 ${f1(tm.p99Ms)} ms${lm.errors + tm.errors ? `  ERRORS ${lm.errors + tm.errors}: ${lm.firstError ?? tm.firstError}` : ''}`);
    }
  }
  await bindPl(0);

  // ---- 3b. cold start through the server: the first token request after a deploy ----------
  const coldServer: ColdServer[] = [];
  {
    const agent = keepAliveAgent(1);
    try {
      await mg.bind('credentials-exchange', ['bench-cold']);
      for (let i = 0; i < 20; i++) await ccOnce(agent, cc);
      executions += 20;
      for (let v = 0; v < o.coldVersions; v++) {
        const versionId = await mg.redeploy(cold.id, `${ccActionCode(9)}// version ${v} ${Date.now()}\n`);
        const ts = performance.now();
        const first = await ccOnce(agent, cc);
        const firstLatencyMs = performance.now() - ts;
        if (first.status !== 200) throw new Error(`cold start: ${first.status} ${first.body}`);
        const firstExe = (await mg.executions('credentials-exchange', 1))[0]?.results?.[0];
        if (firstExe?.version_id !== versionId) throw new Error(`cold start: the newest execution is not of version ${versionId}: ${JSON.stringify(firstExe)}`);
        const warm: number[] = [];
        for (let i = 0; i < 20; i++) {
          const t = performance.now();
          await ccOnce(agent, cc);
          warm.push(performance.now() - t);
        }
        executions += 21;
        const warmDur = (await mg.executions('credentials-exchange', 20)).map((e) => Number(e.results?.[0]?.duration_ms));
        coldServer.push({ durationMs: Number(firstExe.duration_ms), firstLatencyMs, warmLatencyMs: median(warm), warmDurationMs: median(warmDur) });
      }
      await mg.bind('credentials-exchange', []);
    } finally {
      agent.destroy();
    }
    o.log(`\n  cold start through the server: first execution after a deploy ${coldServer.map((c) => f1(c.durationMs)).join(' ')} ms (worker side); first token request ${coldServer.map((c) => f1(c.firstLatencyMs)).join(' ')} ms vs ${f2(median(coldServer.map((c) => c.warmLatencyMs)))} ms warm`);
  }

  await new Promise((r) => setTimeout(r, 300));
  await rss(`end of the actions part (~${Math.round(executions / 1000)}k executions)`);
  await gh.stop();
  return { cc: ccOut, login: plOut, sandbox, coldServer, memory, problems, workers, executions, seconds: (performance.now() - t0) / 1000 };
}

// ---------------------------------------------------------------------------------------------

interface Row { cells: string[] }

/** The summary table and the lines under it; `markdown` for docs/benchmarks.md. */
export function actionsSummary(a: ActionsResults, argon2MsPerVerify?: number) {
  const verdict = (ok: boolean, target: string) => (ok ? `met (${target})` : `MISSED (${target})`);
  const pairedRatio = (k: AMeasure[], b: AMeasure[]) => median(k.map((x, i) => x.perSecond / b[i].perSecond));
  const cpuOf = (m: AMeasure) => m.serverMsPerOp + m.workersMsPerOp;
  /** CPU per operation over all rounds of a configuration (total CPU / total operations): steadier than a median of short windows. */
  const pooledCpu = (ms: AMeasure[], f: (m: AMeasure) => number = cpuOf) => ms.reduce((s, m) => s + f(m) * m.count, 0) / ms.reduce((s, m) => s + m.count, 0);
  const pooled = (ms: AMeasure[]) => ms.flatMap((m) => m.latencies).sort((x, y) => x - y);

  const rows: Row[] = [];
  const lines: string[] = [];
  const section = (kind: 'cc' | 'login') => {
    const d = kind === 'cc' ? a.cc : a.login;
    const unit = kind === 'cc' ? 'tokens/s' : 'logins/s';
    const cpuFmt = kind === 'cc' ? f3 : f2;
    const latFmt = kind === 'cc' ? f3 : f1;
    for (const n of COUNTS) {
      const load = d[n].load; const lat = d[n].lat;
      const b = d[0];
      const ratio = n === 0 ? 1 : pairedRatio(load, b.load);
      const cpu = pooledCpu(load);
      // A login's CPU swings by milliseconds with argon2 (libuv's pool threads, memory-bound):
      // what actions add is on the main thread and in the workers, so that is what is compared.
      const outside = (m: AMeasure) => m.mainMsPerOp + m.workersMsPerOp;
      const addedCpu = n === 0 ? 0 : kind === 'cc' ? cpu - pooledCpu(b.load) : pooledCpu(load, outside) - pooledCpu(b.load, outside);
      const p = pooled(lat);
      const p0 = pooled(b.lat);
      const addP50 = n === 0 ? 0 : pct(p, 0.5) - pct(p0, 0.5);
      const addP99 = n === 0 ? 0 : pct(p, 0.99) - pct(p0, 0.99);
      let target = '';
      // Met only when the CPU per token agrees with the throughput (as in the client_credentials part).
      const cpuRatio = n === 0 ? 1 : pooledCpu(b.load) / cpu;
      const both = Math.min(ratio, cpuRatio);
      const byCpuNote = (t: number) => (ratio >= t && cpuRatio < t ? ` (${f2(cpuRatio)}× by CPU)` : '');
      if (kind === 'cc' && n === 1) target = `${verdict(both >= TARGETS.cc1Ratio, `≥ ${TARGETS.cc1Ratio}×`)}${byCpuNote(TARGETS.cc1Ratio)}; ${verdict(addP50 <= TARGETS.cc1AddedP50Ms, `≤ ${TARGETS.cc1AddedP50Ms} ms p50`)}`;
      if (kind === 'cc' && n === 5) target = `${verdict(both >= TARGETS.cc5Ratio, `≥ ${TARGETS.cc5Ratio}×`)}${byCpuNote(TARGETS.cc5Ratio)}`;
      if (kind === 'login' && n > 0) target = 'no target (argon2-bound)';
      rows.push({
        cells: [
          `${kind === 'cc' ? 'credentials-exchange' : 'post-login (full login)'}, ${n} action${n === 1 ? '' : 's'}`,
          `${kind === 'cc' ? f0(median(load.map((x) => x.perSecond))) : f1(median(load.map((x) => x.perSecond)))} ${unit}`,
          `${f2(ratio)}×`,
          `${cpuFmt(cpu)} ms (workers ${cpuFmt(pooledCpu(load, (x) => x.workersMsPerOp))})`,
          n === 0 ? (kind === 'login' ? `(main thread + workers ${cpuFmt(pooledCpu(load, outside))} ms)` : '–') : `${sign(addedCpu, cpuFmt)} ms${kind === 'login' ? ' (main thread + workers)' : ''}`,
          `${latFmt(pct(p, 0.5))} / ${latFmt(pct(p, 0.99))} ms`,
          n === 0 ? '–' : `${sign(addP50, latFmt)} / ${sign(addP99, latFmt)} ms`,
          target,
        ],
      });
    }
  };
  section('cc');
  section('login');
  const header = ['measure', 'median rate', 'ratio vs 0', 'CPU per op (server + workers)', 'added CPU per op', 'one at a time p50 / p99', 'added p50 / p99', 'target'];

  const warm1 = a.sandbox.warm.find((w) => w.label.startsWith('credentials-exchange, 1'))!;
  const warmAll = a.sandbox.warm;
  const coldSb = median(a.sandbox.cold.map((c) => c.durationMs));
  const coldSrv = median(a.coldServer.map((c) => c.durationMs));
  const coldE2E = median(a.coldServer.map((c) => c.firstLatencyMs - c.warmLatencyMs));
  const over = warmAll.filter((w) => w.cpuMicrosMedian > TARGETS.warmCpuMicros).map((w) => w.label);
  const rows2: string[][] = [
    ['warm execution through the pool, isolate CPU (cpuMicros), median per action', warmAll.map((w) => `${w.label}: ${f1(w.cpuMicrosMedian)} µs`).join('; '), `${verdict(over.length === 0, `≤ ${TARGETS.warmCpuMicros} µs`)}${over.length ? `: ${over.join('; ')}` : ''}`],
    ['the same in-process, back to back (hot caches, no IPC): the isolate\'s floor', a.sandbox.inProcess.map((w) => `${w.label}: ${f1(w.cpuMicrosMedian)} µs (${f1(w.wallMicros)} µs wall per chain)`).join('; '), ''],
    ['warm execution, whole worker process CPU per action (IPC, JSON, runner, isolate; the sandbox alone, chains back to back)', warmAll.map((w) => `${w.label}: ${f1(w.workerCpuMicrosPerExecution)} µs`).join('; '), ''],
    ['warm chain round trip through the pool (sequential)', warmAll.map((w) => `${w.label}: ${f0(w.wallMicrosPerChain)} µs`).join('; '), ''],
    ['cold start of a new version, first execution after deploy (server, execution record)', `median ${f1(coldSrv)} ms over ${a.coldServer.length} versions (${a.coldServer.map((c) => f1(c.durationMs)).join(', ')}); warm ${f2(median(a.coldServer.map((c) => c.warmDurationMs)))} ms`, verdict(coldSrv <= TARGETS.coldStartMs, `≤ ${TARGETS.coldStartMs} ms`)],
    ['cold start, first token request after deploy minus a warm one (end to end)', `median ${f1(coldE2E)} ms`, ''],
    ['cold start in the sandbox alone (new key, worker side)', `median ${f1(coldSb)} ms over ${a.sandbox.cold.length} (isolate CPU ${f1(median(a.sandbox.cold.map((c) => c.cpuMicros)) / 1000)} ms)`, ''],
  ];
  void warm1;

  const memRows = a.memory.map((m) => [m.label, m.executions.toLocaleString('en-US'), `${mib(m.serverKiB)} MiB`, `${mib(m.serverHeapUsedKiB)} of ${mib(m.serverHeapTotalKiB)} MiB`, m.workersKiB.length ? `${m.workersKiB.map(mib).join(' + ')} MiB` : '–', `${mib(m.serverKiB + m.workersKiB.reduce((s, x) => s + x, 0))} MiB`]);
  const memHeader = ['when', 'executions', 'server RSS', 'server heap in use after GC (of heap kept)', 'sandbox workers RSS', 'total RSS'];
  const at = (re: RegExp) => a.memory.find((m) => re.test(m.label));
  const start = at(/^start/); const m10k = at(/after 10,000 /); const end = at(/^end/);
  const afters = a.memory.filter((m) => /^after /.test(m.label));
  const last = afters.at(-1); const prev = afters.at(-2);
  const wAvg = (m?: MemoryPoint) => (m && m.workersKiB.length ? m.workersKiB.reduce((s, x) => s + x, 0) / m.workersKiB.length : NaN);
  if (start && m10k && last) {
    lines.push(`memory, sandbox workers: ${mib(wAvg(start))} MiB each with no warm isolate, ${mib(wAvg(m10k))} MiB after 10,000 executions (20 warm isolates: ${f1((wAvg(m10k) - wAvg(start)) / 1024 / 20)} MiB per isolate), ${mib(wAvg(last))} MiB after ${last.executions.toLocaleString('en-US')} (${sign((wAvg(last) - wAvg(m10k)) / 1024, f1)} MiB from 10,000 on${prev && prev !== m10k ? `, ${sign((wAvg(last) - wAvg(prev)) / 1024, f1)} MiB from ${prev.executions.toLocaleString('en-US')} on` : ''})${end ? `; ${mib(wAvg(end))} MiB at the end of the part, when each worker may hold up to ${20 + 10 + 1 + a.coldServer.length} warm isolates (the 20, the 10 measured actions, bench-cold and each of its versions: an old version's isolate stays until the LRU of 64 evicts it)` : ''}`);
    // Flat: within 10% (and 4 MiB) of the heap in use after 10,000 executions.
    const heapGrew = last.serverHeapUsedKiB - m10k.serverHeapUsedKiB > Math.max(4096, 0.1 * m10k.serverHeapUsedKiB);
    const heaps = [start, m10k, last, ...(end ? [end] : [])].map((m) => mib(m.serverHeapUsedKiB)).join(' → ');
    lines.push(`memory, server: RSS ${mib(start.serverKiB)} → ${mib(m10k.serverKiB)} → ${mib(last.serverKiB)} MiB${end ? ` → ${mib(end.serverKiB)} MiB at the end` : ''}, while its V8 heap in use after two full GCs went ${heaps} MiB${heapGrew ? ` (it grew by ${sign((last.serverHeapUsedKiB - m10k.serverHeapUsedKiB) / 1024, f1)} MiB from 10,000 executions on: look for a leak)` : `: flat, so what grows is the heap V8 keeps for a busy process (${mib(start.serverHeapTotalKiB)} → ${mib((end ?? last).serverHeapTotalKiB)} MiB), not what it holds`}; \`node --no-node-snapshot bench/actions-diagnose.ts --memory 100000\` compares RSS with a control server that answers the same tokens with nothing bound`);
  }

  const ccB = a.cc[0].load; const pl = a.login;
  const loginCpu0 = pooledCpu(pl[0].load);
  lines.push(`post-login: a full login is dominated by argon2id (${argon2MsPerVerify ? `${f1(argon2MsPerVerify)} ms per verify in this run's login part` : 'about 21–23 ms'} of the ${f1(loginCpu0)} ms server CPU per login with nothing bound), so logins/s hardly move and a login's CPU swings by milliseconds from round to round with argon2; the actions' cost shows in the CPU of the server's main thread plus the sandbox workers (argon2 runs on libuv's pool) and in the one-at-a-time latency`);
  lines.push(`credentials-exchange with nothing bound: ${f3(pooledCpu(ccB))} ms CPU per token. "CPU per op" is total CPU over total operations of all rounds of a configuration; "ratio vs 0" the median of within-round ratios; "added p50 / p99" the difference of the percentiles over all rounds' one-at-a-time requests (1 connection, 1 virtual user), where latency is service time: under 16 connections it is queueing (Little's law) and only restates the throughput`);
  if (a.problems.length) for (const p of a.problems) lines.push(`PROBLEM: ${p}`);

  const table = (h: string[], rs: string[][]) => {
    const widths = h.map((x, i) => Math.max(x.length, ...rs.map((r) => r[i].length)));
    const fmt = (r: string[]) => r.map((c, i) => c.padEnd(widths[i])).join('  ');
    return [fmt(h), widths.map((w) => '-'.repeat(w)).join('  '), ...rs.map(fmt)].join('\n');
  };
  const md = (h: string[], rs: string[][]) => [`| ${h.join(' | ')} |`, `|${h.map(() => '---').join('|')}|`, ...rs.map((r) => `| ${r.join(' | ')} |`)].join('\n');
  const h2 = ['sandbox', 'figure', 'target'];
  const text = [table(header, rows.map((r) => r.cells)), '', table(h2, rows2), '', table(memHeader, memRows), '', ...lines].join('\n');
  const markdown = [md(header, rows.map((r) => r.cells)), '', md(h2, rows2), '', md(memHeader, memRows), '', ...lines.map((l) => `- ${l}`)].join('\n');
  return { text, markdown };
}

export function actionsRoundsMarkdown(a: ActionsResults): string {
  const out = ['| part | round | actions | rate | CPU per op: server (its main thread) + workers | cores used | p50 / p99 under load | one at a time p50 / p99 | errors |', '|---|---|---|---|---|---|---|---|---|'];
  for (const [part, d, unit, dig] of [['credentials-exchange', a.cc, 'tok/s', f3], ['post-login', a.login, 'login/s', f2]] as const) {
    for (const n of COUNTS) {
      d[n].load.forEach((m, i) => {
        const l = d[n].lat[i];
        out.push(`| ${part} | ${m.round} | ${n} | ${f1(m.perSecond)} ${unit} | ${dig(m.serverMsPerOp)} (${dig(m.mainMsPerOp)}) + ${dig(m.workersMsPerOp)} ms | ${f2(m.cores)} | ${f2(m.p50Ms)} / ${f2(m.p99Ms)} ms | ${f3(l.p50Ms)} / ${f3(l.p99Ms)} ms | ${m.errors + l.errors} |`);
      });
    }
  }
  return out.join('\n');
}
