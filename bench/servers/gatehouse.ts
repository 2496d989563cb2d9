/**
 * Child process: the real Gatehouse server (loadConfig + startServer, as `npm start` runs
 * it) on a loopback port with its own SQLite file, plus what the benchmark needs: an M2M
 * client with a client grant for an API (ES256 JWT access tokens), a first-party SPA, and
 * users for the login benchmark. Reports the ES256 private JWK so the bare oidc-provider
 * signs with the very same key.
 *
 * With `diagnose` (bench/diagnose.ts) it also serves the same AppContext through partial
 * stacks on extra ports, to price each layer of src/app.ts, and keeps per-route counters
 * (main-thread CPU, whole-process CPU, SQL statements) for sequential traffic.
 */
import { createServer, type Server, type IncomingMessage, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { PerformanceObserver, constants as perfConstants } from 'node:perf_hooks';
import Koa, { type Middleware } from 'koa';
import Provider from 'oidc-provider';
import { bareConfiguration } from '../lib/bare-config.ts';
import { loadConfig } from '../../src/config/load.ts';
import { startServer, type RunningServer } from '../../src/server.ts';
import { createLogger, type Level } from '../../src/shared/logger.ts';
import type { AppContext } from '../../src/context.ts';
import { withSqliteConnection } from '../../src/db/knex.ts';
import { createMetrics } from '../../src/http/metrics.ts';
import { securityHeaders } from '../../src/http/koa-security-headers.ts';
import { createCsrf } from '../../src/http/koa-csrf.ts';
import { createInteractionRoutes } from '../../src/interactions/routes.ts';
import { createApp } from '../../src/app.ts';
import { proxyHops } from '../../src/config/schema.ts';
import { serveChild } from '../lib/child.ts';

export interface GatehouseInit {
  port: number; dir: string; users: number; password: string; logLevel: Level; api: string; scopes: string[]; diagnose?: boolean;
  /** bench/actions.ts: the bootstrap admin client (the Management API deploys and binds actions). */
  admin?: { clientId: string; clientSecret: string };
  /** bench/actions.ts: `client_metadata` of the M2M client (what credentials-exchange actions read). */
  m2mMetadata?: Record<string, string>;
  /** bench/actions.ts: roles made and given to every user (`event.authorization.roles` in post-login). */
  roles?: string[];
  /** bench/enumeration.ts: brute-force limits (raised, so repeated failures stay on the normal path). */
  bruteForce?: { maxFailuresPerAccount: number; maxFailuresPerIp: number; waitIncrementSeconds: number; maxWaitSeconds: number; failureResetSeconds: number };
}
export interface GatehouseInfo {
  base: string; pid: number;
  m2m: { client_id: string; client_secret: string };
  spa: { client_id: string; redirect_uri: string };
  users: string[]; jwk: Record<string, unknown>; argon2: { memoryKiB: number; timeCost: number; parallelism: number; maxConcurrent: number };
  /** How many hashes the server's hasher runs at once (maxConcurrent, capped by the CPUs it may use). */
  argon2Concurrency: number;
  /** diagnose only: partial stacks, name → base URL, and whether each maps `audience=`. */
  variants?: { name: string; base: string; audience: boolean }[];
}
export interface RouteStats { requests: number; wallMs: number; queries: number; statements: Record<string, number> }

let server: RunningServer | undefined;
const extra: Server[] = [];
let stats = new Map<string, RouteStats>();
/** diagnose: main-thread GC pause time by kind, from perf_hooks. */
let gc = new Map<string, number>();

serveChild<GatehouseInit, GatehouseInfo>({
  async setup(init) {
    const base = `http://127.0.0.1:${init.port}`;
    const config = loadConfig({
      // production: what a deployment runs (no dev-only code paths); it needs an explicit secrets key.
      env: { NODE_ENV: 'production' },
      overrides: {
        issuer: base, port: init.port, dataDir: init.dir, databaseUrl: `sqlite:${join(init.dir, 'gatehouse.sqlite')}`,
        secretsKey: randomBytes(32).toString('base64'), logLevel: init.logLevel,
        ...(init.admin ? { bootstrapAdmin: init.admin } : {}),
        ...(init.bruteForce ? { bruteForce: init.bruteForce } : {}),
      },
    });
    server = await startServer(config, { host: '127.0.0.1', logger: createLogger(init.logLevel) });
    const { ctx } = server;

    const m2m = await ctx.clients.create({ name: 'bench M2M', app_type: 'non_interactive', ...(init.m2mMetadata ? { client_metadata: init.m2mMetadata } : {}) });
    await ctx.resourceServers.create({ name: 'Bench API', identifier: init.api, scopes: init.scopes.map((value) => ({ value, description: value })) });
    await ctx.resourceServers.grants.create({ client_id: m2m.client_id, audience: init.api, scope: init.scopes });

    // Not on localhost, where every authorization asks for consent (as on Auth0): the login
    // measured is a first-party SPA's in production, which has none.
    const redirectUri = 'https://bench.example/callback';
    const spa = await ctx.clients.create({ name: 'bench SPA', app_type: 'spa', callbacks: [redirectUri], web_origins: ['https://bench.example'] });
    const users: string[] = [];
    const roleIds: string[] = [];
    for (const name of init.roles ?? []) roleIds.push((await ctx.roles.create({ name, description: name })).id);
    for (let i = 0; i < init.users; i++) {
      const email = `bench-user-${i}@example.com`;
      const u = await ctx.users.create({ email, password: init.password, email_verified: true });
      if (roleIds.length) await ctx.roles.assign(u.user_id, roleIds);
      users.push(email);
    }
    const jwk = (await ctx.keys.privateJwks('ES256')).find((k) => k.alg === 'ES256');
    if (!jwk) throw new Error('Gatehouse has no ES256 signing key');
    const variants = init.diagnose ? await startVariants(ctx, { jwk, m2m: { client_id: m2m.client_id, client_secret: m2m.client_secret! }, api: init.api, scopes: init.scopes }) : undefined;
    if (init.diagnose) instrument(server.server, ctx);
    return {
      base, pid: process.pid,
      m2m: { client_id: m2m.client_id, client_secret: m2m.client_secret! },
      spa: { client_id: spa.client_id, redirect_uri: redirectUri },
      users, jwk, argon2: config.argon2, argon2Concurrency: ctx.hasher.concurrency, variants,
    };
  },
  /**
   * `{ heap: true }`: the V8 heap in use after full garbage collections (the process runs with
   * `--expose-gc` for this: bench/actions.ts's memory checkpoints), which tells a leak from a
   * heap V8 merely keeps large. Otherwise (diagnose) the per-route counters gathered since the
   * last call, reset.
   */
  async onRun(args: unknown) {
    if ((args as { heap?: boolean } | undefined)?.heap) {
      const gc = (globalThis as { gc?: () => void }).gc;
      if (!gc) return { heapUsedKiB: NaN, heapTotalKiB: NaN };
      gc(); gc();
      const m = process.memoryUsage();
      return { heapUsedKiB: m.heapUsed / 1024, heapTotalKiB: m.heapTotal / 1024 };
    }
    const out = { routes: Object.fromEntries(stats), gcMs: Object.fromEntries(gc) };
    stats = new Map();
    gc = new Map();
    return out;
  },
  async teardown() {
    for (const s of extra) { s.closeAllConnections(); s.close(); }
    await server?.close();
  },
});

/** The same provider, behind growing subsets of src/app.ts's middleware, one port each. */
async function startVariants(app: AppContext, b: { jwk: Record<string, unknown>; m2m: { client_id: string; client_secret: string }; api: string; scopes: string[] }) {
  // bench/servers/bare.ts's provider, built in this process: against 'provider.callback() alone'
  // it prices Gatehouse's provider configuration apart from the process it runs in (both share
  // this process's heap and caches; the bare child process does not).
  const bareHere = new Provider('http://127.0.0.1:1', bareConfiguration({ ...b, client_id: b.m2m.client_id, client_secret: b.m2m.client_secret, accessTokenTTL: 86400 }));
  // As src/app.ts mounts it: one provider.callback() per provider instance.
  const cached = new WeakMap<object, ReturnType<AppContext['provider']['callback']>>();
  const mount: Middleware = async function oidc(ctx) {
    let h = cached.get(app.provider);
    if (!h) { h = app.provider.callback(); cached.set(app.provider, h); }
    ctx.respond = false;
    await h(ctx.req, ctx.res);
  };
  const pages = createInteractionRoutes(app, createCsrf(app.csrfKey, app.urls.origin));
  const routeMatch: Middleware = async function ourRoutes(ctx, next) {
    if (ctx.path === '/api/v2' || ctx.path.startsWith('/api/v2/')) throw new Error('not in this variant');
    if (pages.match(ctx.path, ctx.method).route) throw new Error('not in this variant');
    await next();
  };
  const koa = (mws: Middleware[]) => {
    const k = new Koa({ proxy: proxyHops(app.config.http.trustProxy) > 0, maxIpsCount: proxyHops(app.config.http.trustProxy) });
    for (const m of mws) k.use(m);
    k.use(mount);
    return k.callback();
  };
  const defs: { name: string; audience: boolean; handler: (req: IncomingMessage, res: ServerResponse) => void }[] = [
    { name: 'provider.callback() alone', audience: false, handler: app.provider.callback() },
    { name: 'bare config here', audience: false, handler: bareHere.callback() },
    { name: 'Koa + provider mount', audience: false, handler: koa([]) },
    { name: 'mount + metrics', audience: false, handler: koa([createMetrics().middleware]) },
    { name: 'mount + securityHeaders', audience: false, handler: koa([securityHeaders]) },
    { name: 'mount + all three', audience: false, handler: koa([createMetrics().middleware, securityHeaders, routeMatch]) },
    // src/app.ts itself (token requests take its fast path), a second instance: like the main port but without the diagnose counters.
    { name: 'createApp() copy', audience: true, handler: createApp(app).callback() },
  ];
  const only = (process.env.BENCH_VARIANTS ?? '').split(',').filter(Boolean);
  if (only.length) defs.splice(0, defs.length, ...defs.filter((d) => only.includes(d.name)));
  const out: { name: string; base: string; audience: boolean }[] = [];
  for (const d of defs) {
    const s = createServer({ maxHeaderSize: 16 * 1024, requestTimeout: 30_000, headersTimeout: 15_000 }, d.handler);
    s.keepAliveTimeout = 5_000;
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
    extra.push(s);
    const a = s.address();
    out.push({ name: d.name, base: `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`, audience: d.audience });
  }
  return out;
}

/**
 * Per-route counters for sequential traffic (one request at a time, so the deltas belong to
 * that request): time from 'request' to 'finish', and SQL statements.
 */
function instrument(s: Server, app: AppContext) {
  const kinds: Record<number, string> = {
    [perfConstants.NODE_PERFORMANCE_GC_MINOR]: 'minor', [perfConstants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
    [perfConstants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental', [perfConstants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
  };
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const k = kinds[(e as unknown as { detail: { kind: number } }).detail.kind] ?? 'other';
      gc.set(k, (gc.get(k) ?? 0) + e.duration);
    }
  }).observe({ entryTypes: ['gc'] });
  let current: RouteStats | undefined;
  // Every statement SQLite runs, through knex or prepared by Gatehouse itself (the OIDC
  // adapter): better-sqlite3's Statement methods, wrapped for this diagnose process only.
  const count = (sql: string) => {
    if (!current) return;
    current.queries++;
    const shape = sql.replace(/\s+/g, ' ').replace(/[`"]/g, '').slice(0, 120);
    current.statements[shape] = (current.statements[shape] ?? 0) + 1;
  };
  void withSqliteConnection(app.db, (conn) => {
    const proto = Object.getPrototypeOf(conn.prepare('select 1')) as Record<'run' | 'get' | 'all', (...a: unknown[]) => unknown>;
    for (const m of ['run', 'get', 'all'] as const) {
      const orig = proto[m];
      proto[m] = function (this: { source: string }, ...a: unknown[]) { count(this.source); return orig.apply(this, a); };
    }
  });
  s.prependListener('request', (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '').split('?')[0].replace(/^\/interaction\/[^/]+/, '/interaction/:uid').replace(/^\/authorize\/[^/]+/, '/authorize/:uid');
    const key = `${req.method} ${path}`;
    let st = stats.get(key);
    if (!st) { st = { requests: 0, wallMs: 0, queries: 0, statements: {} }; stats.set(key, st); }
    const entry = st;
    current = entry;
    // Wall time, not process.threadCpuUsage(): the kernel only brings a running thread's CPU
    // time up to date at ticks and context switches, so sub-millisecond windows read ~0.
    // With one request at a time on an otherwise idle core, wall ≈ main-thread CPU, except
    // while the request waits for argon2 on libuv's pool.
    const t0 = performance.now();
    res.once('finish', () => {
      entry.requests++;
      entry.wallMs += performance.now() - t0;
    });
  });
}
