/**
 * Where Gatehouse's time goes, for when `npm run bench` misses a target. Not part of the
 * figures in docs/benchmarks.md.
 *
 *   node --no-node-snapshot bench/diagnose.ts [--part cc|login] [--duration S] [--rounds N] [--logins N] [--steps]
 *
 * cc: server CPU per token (the noise-proof figure) for the bare oidc-provider, the real
 *     Gatehouse, and the same Gatehouse provider behind growing subsets of src/app.ts's
 *     middleware (bench/servers/gatehouse.ts, diagnose mode), rounds interleaved; plus the bare
 *     provider's configuration built inside the Gatehouse process ('bare config here'). The
 *     variants share one process, which is loaded in most slots and so keeps its caches warm:
 *     compare them with each other, not with the bare child process. On 2026-11-23 (10 rounds)
 *     'bare config here' cost 6% less CPU per token than 'provider.callback() alone', and the
 *     app's token path 0–3% more than the provider alone.
 * login: sequential logins (one at a time, so each request's cost is its own) with
 *     per-step main-thread CPU, process CPU (adds argon2 on libuv's pool) and SQL statements.
 */
import { mkdtempSync, rmSync, existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Child, freePort, hasTaskset, killAllChildren, pinSelf } from './lib/children.ts';
import { ccRequest, runCc, loginOnce, type CcTarget, type LoginTarget } from './lib/load.ts';
import { keepAliveAgent, threadCpuSeconds } from './lib/http.ts';
import type { GatehouseInfo, GatehouseInit, RouteStats } from './servers/gatehouse.ts';
import type { BareInit } from './servers/bare.ts';
import type { BareLoginInit } from './servers/bare-login.ts';
import { summarize, selfTimes, type CpuProfile } from './profile-summary.ts';

const HERE = import.meta.dirname;
const API = 'https://api.bench.example/';
const SCOPES = ['read:things', 'write:things'];
const PASSWORD = 'correct horse battery staple';

const { values: args } = parseArgs({
  options: {
    part: { type: 'string' }, duration: { type: 'string', default: '2' }, warmup: { type: 'string', default: '0.5' },
    rounds: { type: 'string', default: '10' }, connections: { type: 'string', default: '16' }, logins: { type: 'string', default: '150' },
    profile: { type: 'boolean', default: false }, steps: { type: 'boolean', default: false },
  },
});
const durationMs = Math.min(120, Math.max(1, Number(args.duration))) * 1000;
const warmupMs = Math.min(60, Math.max(0, Number(args.warmup))) * 1000;
const rounds = Math.min(15, Math.max(1, Number(args.rounds)));
const connections = Math.min(256, Math.max(1, Number(args.connections)));
const logins = Math.min(5000, Math.max(10, Number(args.logins)));
const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };

process.on('SIGINT', () => { killAllChildren(); process.exit(130); });
process.on('exit', () => killAllChildren());

const pinned = hasTaskset() && pinSelf(1);
/** With --profile and the cc part: tokens each server answered, to put its profile per token. */
let ccProfiles: { gh: number; bare: number } | undefined;
let loginProfiles: { gh: number; bare: number } | undefined;

/** Main-thread self time per operation, module by module and function by function: where the extra goes. */
function diffProfiles(gp: CpuProfile, bp: CpuProfile, gn: number, bn: number, unit: string, bareName: string) {
  const gs = selfTimes(gp);
  const bs = selfTimes(bp);
  const diff = (a: Map<string, number>, c: Map<string, number>) => [...new Set([...a.keys(), ...c.keys()])]
    .map((k) => ({ k, g: (a.get(k) ?? 0) / gn, b: (c.get(k) ?? 0) / bn }))
    .sort((x, y) => Math.abs(y.g - y.b) - Math.abs(x.g - x.b));
  const sum = (m: Map<string, number>, n: number) => [...m.values()].reduce((x, y) => x + y, 0) / n;
  const gc = (m: Map<string, number>, n: number) => ((m.get('(garbage collector)') ?? 0) / n).toFixed(1);
  console.log(`\n== main-thread self time per ${unit} (CPU profiles over each process's life, idle left out): Gatehouse ${sum(gs.byModule, gn).toFixed(1)} µs (+GC ${gc(gs.special, gn)}), ${bareName} ${sum(bs.byModule, bn).toFixed(1)} µs (+GC ${gc(bs.special, bn)})`);
  console.log('by module (largest differences):');
  for (const r of diff(gs.byModule, bs.byModule).slice(0, 30)) console.log(`  ${(r.g - r.b >= 0 ? '+' : '') + (r.g - r.b).toFixed(1).padStart(7)} µs   Gatehouse ${r.g.toFixed(1).padStart(7)}  bare ${r.b.toFixed(1).padStart(7)}  ${r.k}`);
  console.log('by function (largest differences):');
  for (const r of diff(gs.byFn, bs.byFn).slice(0, 40)) console.log(`  ${(r.g - r.b >= 0 ? '+' : '') + (r.g - r.b).toFixed(1).padStart(7)} µs   Gatehouse ${r.g.toFixed(1).padStart(7)}  bare ${r.b.toFixed(1).padStart(7)}  ${r.k}`);
}
const dir = mkdtempSync(join(tmpdir(), 'gatehouse-diagnose-'));
const children: Child<unknown>[] = [];
try {
  const nodeArgs = args.profile ? ['--cpu-prof', '--cpu-prof-dir', join(dir, 'profiles'), '--cpu-prof-name', 'gatehouse.cpuprofile'] : [];
  const gh = new Child<GatehouseInfo>('gatehouse', join(HERE, 'servers', 'gatehouse.ts'), { cpu: pinned ? 0 : undefined, logDir: dir, nodeArgs });
  children.push(gh as Child<unknown>);
  const info = await gh.start({
    port: await freePort(), dir, users: 1, password: PASSWORD, logLevel: 'info', api: API, scopes: SCOPES, diagnose: true,
  } satisfies GatehouseInit, 120_000);

  if (args.part !== 'login') {
    const bareArgs = args.profile ? ['--cpu-prof', '--cpu-prof-dir', join(dir, 'profiles'), '--cpu-prof-name', 'bare.cpuprofile'] : [];
    const bare = new Child<{ base: string; pid: number }>('bare', join(HERE, 'servers', 'bare.ts'), { cpu: pinned ? 0 : undefined, logDir: dir, nodeArgs: bareArgs });
    children.push(bare as Child<unknown>);
    const bi = await bare.start({ port: await freePort(), jwk: info.jwk, client_id: info.m2m.client_id, client_secret: info.m2m.client_secret, api: API, scopes: SCOPES, accessTokenTTL: 86400 } satisfies BareInit);
    const req = (base: string, pid: number, audience: boolean) => ccRequest(base, pid, info.m2m.client_id, info.m2m.client_secret, { [audience ? 'audience' : 'resource']: API, scope: SCOPES.join(' ') });
    const targets: { name: string; t: CcTarget }[] = [
      { name: 'bare oidc-provider', t: req(bi.base, bare.pid, false) },
      { name: 'Gatehouse (src/app.ts)', t: req(info.base, gh.pid, true) },
      // With --profile only these two, so each process's profile holds one kind of traffic.
      ...(args.profile ? [] : info.variants!.map((v) => ({ name: v.name, t: req(v.base, gh.pid, v.audience) }))),
    ];
    const served = new Map<string, number>();
    const cpu = new Map<string, number[]>();
    const tps = new Map<string, number[]>();
    console.log(`cc: ${targets.length} targets × ${rounds} rounds of ${warmupMs / 1000}+${durationMs / 1000} s, ${connections} connections`);
    for (let r = 0; r < rounds; r++) {
      // Rotate the order each round so no target always follows the same neighbour.
      const order = targets.map((_, i) => targets[(i + r) % targets.length]);
      for (const { name, t } of order) {
        const res = await runCc(t, { warmupMs, durationMs, connections });
        served.set(name, (served.get(name) ?? 0) + res.total);
        if (res.errors) console.log(`  ${name}: ${res.errors} errors, first: ${res.firstError}`);
        const perTok = res.serverCpuSeconds !== undefined && res.count ? (1e6 * res.serverCpuSeconds) / res.count : NaN;
        (cpu.get(name) ?? cpu.set(name, []).get(name)!).push(perTok);
        (tps.get(name) ?? tps.set(name, []).get(name)!).push(res.perSecond);
        console.log(`  round ${r + 1} ${name.padEnd(28)} ${res.perSecond.toFixed(0).padStart(6)} tok/s  ${perTok.toFixed(0).padStart(5)} µs CPU/token  (server ${(res.serverCpuSeconds! / res.seconds).toFixed(2)} core)`);
      }
    }
    // Per round, each target's CPU per token relative to the bare provider's in the same round:
    // the machine's state drifts between rounds, much less within one.
    const rel = (name: string) => median(cpu.get(name)!.map((c, i) => c / cpu.get('bare oidc-provider')![i]));
    if (args.profile) ccProfiles = { gh: served.get('Gatehouse (src/app.ts)')!, bare: served.get('bare oidc-provider')! };
    const mount = args.profile || !cpu.has('Koa + provider mount') ? 1 : rel('Koa + provider mount');
    const bareCpu = median(cpu.get('bare oidc-provider')!);
    console.log(`\n${'target'.padEnd(28)}  ${'µs CPU/token'.padStart(12)}  ${'× bare CPU'.padStart(10)}  ${'Δ vs mount'.padStart(10)}  ${'tok/s'.padStart(6)}`);
    for (const { name } of targets) {
      const r = rel(name);
      console.log(`${name.padEnd(28)}  ${median(cpu.get(name)!).toFixed(0).padStart(12)}  ${r.toFixed(3).padStart(10)}  ${`${r - mount >= 0 ? '+' : ''}${((r - mount) * bareCpu).toFixed(0)} µs`.padStart(10)}  ${median(tps.get(name)!).toFixed(0).padStart(6)}`);
    }
    console.log('(× bare CPU: median over rounds of the ratio to the bare provider in the same round; Δ vs mount: that ratio minus the Koa + mount one, in µs of the bare median)');
    await bare.stop();
  }

  if (args.part !== 'cc') {
    const target: LoginTarget = { base: info.base, pid: gh.pid, clientId: info.spa.client_id, redirectUri: info.spa.redirect_uri, users: info.users, password: PASSWORD };
    const blArgs = args.profile ? ['--cpu-prof', '--cpu-prof-dir', join(dir, 'profiles'), '--cpu-prof-name', 'bare-login.cpuprofile'] : [];
    const bl = new Child<{ base: string; pid: number }>('bare-login', join(HERE, 'servers', 'bare-login.ts'), { cpu: pinned ? 0 : undefined, logDir: dir, nodeArgs: blArgs });
    children.push(bl as Child<unknown>);
    const bli = await bl.start({ port: await freePort(), jwk: info.jwk, client_id: 'bench-spa', redirect_uri: info.spa.redirect_uri, email: info.users[0], password: PASSWORD, argon2: info.argon2 } satisfies BareLoginInit);
    const bareTarget: LoginTarget = { base: bli.base, pid: bl.pid, clientId: 'bench-spa', redirectUri: info.spa.redirect_uri, users: info.users, password: PASSWORD };
    const a2 = new Child<{ pid: number }>('argon2', join(HERE, 'servers', 'argon2.ts'), { cpu: pinned ? 0 : undefined, logDir: dir });
    children.push(a2 as Child<unknown>);
    await a2.start({ params: info.argon2, password: PASSWORD });

    const agent = keepAliveAgent(1);
    /** Sequential logins against `t`: CPU per login by thread of the server process. */
    const sequential = async (t: LoginTarget, count: number, afterWarmup?: () => Promise<unknown>) => {
      const deadline = Date.now() + 120_000;
      for (let i = 0; i < 20 && Date.now() < deadline; i++) await loginOnce(agent, t, t.users[0]);
      await afterWarmup?.();
      const th0 = threadCpuSeconds(t.pid);
      let n = 0;
      for (; n < count && Date.now() < deadline; n++) await loginOnce(agent, t, t.users[0]);
      const th1 = threadCpuSeconds(t.pid);
      const per = new Map<string, number>();
      for (const [k, v] of th1) per.set(k, (1000 * (v - (th0.get(k) ?? 0))) / n);
      return { n, per, total: [...per.values()].reduce((a, b) => a + b, 0) };
    };
    try {
      const g = await sequential(target, logins, () => gh.run({}, 10_000));
      const { routes: st, gcMs } = await gh.run<{ routes: Record<string, RouteStats>; gcMs: Record<string, number> }>({}, 10_000);
      const b = await sequential(bareTarget, logins);
      // Profiles cover every login each server served, warm-ups included (20 each).
      if (args.profile && args.part === 'login') loginProfiles = { gh: g.n + 20, bare: b.n + 20 };
      const a = await a2.run<{ count: number; cpuSeconds: number }>({ warmupMs: 1000, durationMs: 5000, concurrency: 1 }, 60_000);
      const a2ms = (1000 * a.cpuSeconds) / a.count;
      const fmt = (per: Map<string, number>) => [...per].filter(([, v]) => v > 0.05).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ');
      console.log(`\nlogin, one at a time (${g.n} each): server CPU ms per login, by thread (from /proc)`);
      console.log(`  Gatehouse             ${g.total.toFixed(2).padStart(6)}  (${fmt(g.per)})`);
      console.log(`  bare oidc-provider    ${b.total.toFixed(2).padStart(6)}  (${fmt(b.per)})`);
      console.log(`  bare argon2 verify    ${a2ms.toFixed(2).padStart(6)}`);
      console.log(`  → beyond argon2: Gatehouse ${(g.total - a2ms).toFixed(2)} ms, bare oidc-provider ${(b.total - a2ms).toFixed(2)} ms per login`);
      console.log(`  → ceilings by CPU: Gatehouse ${(a2ms / g.total).toFixed(2)}×, bare oidc-provider ${(a2ms / b.total).toFixed(2)}× the argon2 verify rate`);

      console.log(`\nGatehouse per request: server time from 'request' to 'finish' (≈ main-thread CPU, plus the argon2 wait in the POST), SQL statements`);
      console.log(`${'step'.padEnd(34)} ${'ms'.padStart(8)} ${'SQL'.padStart(5)}`);
      let tm = 0; let tq = 0;
      for (const [k, r] of Object.entries(st)) {
        console.log(`${k.padEnd(34)} ${(r.wallMs / r.requests).toFixed(2).padStart(8)} ${(r.queries / r.requests).toFixed(1).padStart(5)}`);
        tm += r.wallMs; tq += r.queries;
      }
      if (args.steps) {
        for (const [k, r] of Object.entries(st)) {
          console.log(`  ${k}:`);
          for (const [q, c] of Object.entries(r.statements)) console.log(`    ${(c / r.requests).toFixed(1).padStart(4)}  ${q}`);
        }
      }
      console.log(`${'per login'.padEnd(34)} ${(tm / g.n).toFixed(2).padStart(8)} ${(tq / g.n).toFixed(1).padStart(5)}`);
      console.log(`GC pauses on the main thread per login: ${Object.entries(gcMs).map(([k, v]) => `${k} ${(v / g.n).toFixed(2)} ms`).join(', ')}`);
      console.log('\nSQL statements per login:');
      const all = new Map<string, number>();
      for (const r of Object.values(st)) for (const [q, c] of Object.entries(r.statements)) all.set(q, (all.get(q) ?? 0) + c);
      for (const [q, c] of [...all].sort((x, y) => y[1] - x[1])) console.log(`  ${(c / g.n).toFixed(1).padStart(4)}  ${q}`);
    } finally {
      agent.destroy();
    }
  }
} finally {
  await Promise.all(children.map((c) => c.stop().catch(() => undefined)));
  if (args.profile) {
    const read = (n: string) => { const f = join(dir, 'profiles', `${n}.cpuprofile`); return existsSync(f) ? JSON.parse(readFileSync(f, 'utf8')) as CpuProfile : undefined; };
    const g = read('gatehouse');
    const b = read('bare');
    const bl = read('bare-login');
    if (g && b && ccProfiles) diffProfiles(g, b, ccProfiles.gh, ccProfiles.bare, 'token', 'bare oidc-provider');
    if (g && bl && loginProfiles) diffProfiles(g, bl, loginProfiles.gh, loginProfiles.bare, 'login', 'bare oidc-provider login');
    if (g && !(b && ccProfiles) && !(bl && loginProfiles)) {
      console.log(`\n== CPU profile of the Gatehouse process (main thread)\n${summarize(g, { top: 40 })}`);
    }
  }
  rmSync(dir, { recursive: true, force: true });
}
