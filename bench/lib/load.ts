/**
 * Closed-loop load: N workers, each sending its next request as soon as the previous one
 * answered, for a warm-up and then a measured window. Only requests that complete inside the
 * window count. Every loop is bounded by time and by an iteration cap.
 */
import { createHash, randomBytes } from 'node:crypto';
import type http from 'node:http';
import { CookieJar, keepAliveAgent, processCpuSeconds, request, type Res } from './http.ts';
import { cpuDelta, treeCpu, type TreeCpu } from './proc.ts';

export interface Window { warmupMs: number; durationMs: number }

export interface LoadResult {
  /** Successful operations completed inside the window. */
  count: number; seconds: number; perSecond: number;
  /** Successful operations including the warm-up (to normalise a CPU profile of the whole run). */
  total: number;
  errors: number; firstError?: string;
  p50Ms: number; p99Ms: number;
  /** Latency of every operation counted in the window, ascending (ms). */
  latenciesMs: number[];
  /** CPU seconds the server process used during the window (all threads), when /proc is readable. */
  serverCpuSeconds?: number;
  /**
   * When the target lists `childPids` (the Actions sandbox workers): CPU seconds of the server
   * process and of those children during the window, from schedstat (ns resolution).
   */
  tree?: { self: number; main: number; children: number };
  /** CPU seconds the generator (this process) used during the window. */
  generatorCpuSeconds: number;
}

const MAX_ITERATIONS = 10_000_000;

function percentile(sorted: number[], p: number) {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
}

/** Runs `op` on `workers` concurrent loops; `op` throws on a failed operation. */
async function closedLoop(workers: number, w: Window, serverPid: number | undefined, op: (worker: number) => Promise<void>, childPids?: number[]): Promise<LoadResult> {
  const start = performance.now();
  const t0 = start + w.warmupMs;
  const t1 = t0 + w.durationMs;
  const latencies: number[] = [];
  let count = 0;
  let total = 0;
  let errors = 0;
  let firstError: string | undefined;
  const snap = { s0: undefined as number | undefined, s1: undefined as number | undefined, g0: undefined as NodeJS.CpuUsage | undefined, g1: undefined as NodeJS.CpuUsage | undefined, t0: undefined as TreeCpu | undefined, t1: undefined as TreeCpu | undefined };
  // CPU snapshots at the window's edges; the end one is awaited below, since the last loop
  // can return just before its timer fires.
  const snapAt = (ms: number, f: () => void) => new Promise<void>((resolve) => setTimeout(() => { f(); resolve(); }, Math.max(0, ms - (performance.now() - start))));
  const edges = Promise.all([
    snapAt(w.warmupMs, () => {
      snap.s0 = serverPid ? processCpuSeconds(serverPid) : undefined; snap.g0 = process.cpuUsage();
      if (serverPid && childPids) snap.t0 = treeCpu(serverPid, childPids);
    }),
    snapAt(w.warmupMs + w.durationMs, () => {
      snap.s1 = serverPid ? processCpuSeconds(serverPid) : undefined; snap.g1 = process.cpuUsage(snap.g0);
      if (serverPid && childPids) snap.t1 = treeCpu(serverPid, childPids);
    }),
  ]);
  const loop = async (worker: number) => {
    for (let i = 0; i < MAX_ITERATIONS; i++) {
      const begin = performance.now();
      if (begin >= t1) return;
      try {
        await op(worker);
        const end = performance.now();
        total++;
        if (end >= t0 && end <= t1) { count++; latencies.push(end - begin); }
      } catch (err) {
        errors++;
        firstError ??= (err as Error).message;
        // A failing server answers fast; do not spin on it.
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  };
  await Promise.all(Array.from({ length: workers }, (_, i) => loop(i)));
  await edges;
  latencies.sort((a, b) => a - b);
  const seconds = w.durationMs / 1000;
  const g = snap.g1!;
  return {
    count, seconds, perSecond: count / seconds, total, errors, firstError,
    p50Ms: percentile(latencies, 0.5), p99Ms: percentile(latencies, 0.99), latenciesMs: latencies,
    serverCpuSeconds: snap.s0 !== undefined && snap.s1 !== undefined ? snap.s1 - snap.s0 : undefined,
    tree: snap.t0 && snap.t1 ? cpuDelta(snap.t0, snap.t1) : undefined,
    generatorCpuSeconds: (g.user + g.system) / 1e6,
  };
}

export interface CcTarget {
  base: string; pid: number; body: string; authorization: string;
  /** The server's child processes whose CPU is reported apart (childCpuSeconds): the Actions sandbox workers. */
  childPids?: number[];
}

/** The client_credentials token request, as an M2M client sends it. */
export function ccRequest(base: string, pid: number, clientId: string, clientSecret: string, params: Record<string, string>): CcTarget {
  return {
    base, pid,
    // RFC 6749 §2.3.1: form-encode id and secret before Basic.
    authorization: `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`).toString('base64')}`,
    body: new URLSearchParams({ grant_type: 'client_credentials', ...params }).toString(),
  };
}

/** One token request; returns the parsed response (for the sanity check before the rounds). */
export async function ccOnce(agent: http.Agent, t: CcTarget): Promise<Res> {
  return request(agent, new URL('/oauth/token', t.base), {
    method: 'POST', body: t.body,
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: t.authorization, accept: 'application/json' },
  });
}

export async function runCc(t: CcTarget, o: Window & { connections: number }): Promise<LoadResult> {
  const agent = keepAliveAgent(o.connections);
  try {
    return await closedLoop(o.connections, o, t.pid, async () => {
      const res = await ccOnce(agent, t);
      if (res.status !== 200 || !res.body.includes('"access_token"')) throw new Error(`token: ${res.status} ${res.body.slice(0, 300)}`);
    }, t.childPids);
  } finally {
    agent.destroy();
  }
}

export interface LoginTarget { base: string; pid: number; clientId: string; redirectUri: string; users: string[]; password: string; childPids?: number[] }

const b64url = (b: Buffer) => b.toString('base64url');
const location = (res: Res, step: string, base: string) => {
  const loc = res.headers.location;
  if (res.status < 300 || res.status >= 400 || !loc) throw new Error(`${step}: expected a redirect, got ${res.status} ${res.body.slice(0, 300)}`);
  return new URL(loc, base);
};

/**
 * One complete login of a new browser (empty cookie jar): /authorize → login page → POST the
 * form → resume → code at the redirect_uri → token request with the PKCE verifier.
 */
export async function loginOnce(agent: http.Agent, t: LoginTarget, email: string): Promise<Record<string, unknown>> {
  const jar = new CookieJar();
  const go = async (url: URL, step: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}) => {
    const cookie = jar.header(url);
    const res = await request(agent, url, { ...init, headers: { 'user-agent': 'gatehouse-bench', ...(cookie ? { cookie } : {}), ...init.headers } });
    jar.store(res);
    if (res.status >= 400) throw new Error(`${step}: ${res.status} ${res.body.slice(0, 300)}`);
    return res;
  };
  const verifier = b64url(randomBytes(32));
  const state = b64url(randomBytes(16));
  const auth = new URL('/authorize', t.base);
  auth.search = new URLSearchParams({
    client_id: t.clientId, response_type: 'code', redirect_uri: t.redirectUri, scope: 'openid profile email', state,
    nonce: b64url(randomBytes(16)), code_challenge: b64url(createHash('sha256').update(verifier).digest()), code_challenge_method: 'S256',
  }).toString();

  const interaction = location(await go(auth, 'authorize'), 'authorize', t.base);
  const page = await go(interaction, 'login page');
  const action = /<form[^>]*action="([^"]+)"/.exec(page.body)?.[1];
  const csrf = /name="_csrf" value="([^"]+)"/.exec(page.body)?.[1];
  if (!action || !csrf) throw new Error(`login page: no form in ${page.status} ${page.body.slice(0, 300)}`);
  const posted = await go(new URL(action.replace(/&amp;/g, '&'), t.base), 'login POST', {
    method: 'POST', body: new URLSearchParams({ _csrf: csrf, email, password: t.password }).toString(),
    headers: { 'content-type': 'application/x-www-form-urlencoded', origin: new URL(t.base).origin },
  });
  const resume = location(posted, 'login POST', t.base);
  const cb = location(await go(resume, 'resume'), 'resume', t.base);
  if (!cb.href.startsWith(t.redirectUri)) throw new Error(`resume: expected the redirect_uri, got ${cb.href}`);
  const code = cb.searchParams.get('code');
  if (!code || cb.searchParams.get('state') !== state) throw new Error(`callback: ${cb.search}`);
  const tok = await go(new URL('/oauth/token', t.base), 'token', {
    method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body: new URLSearchParams({ grant_type: 'authorization_code', client_id: t.clientId, code, redirect_uri: t.redirectUri, code_verifier: verifier }).toString(),
  });
  const body = JSON.parse(tok.body) as Record<string, unknown>;
  if (tok.status !== 200 || typeof body.id_token !== 'string') throw new Error(`token: ${tok.status} ${tok.body.slice(0, 300)}`);
  return body;
}

export async function runLogin(t: LoginTarget, o: Window & { vus: number }): Promise<LoadResult> {
  const agent = keepAliveAgent(o.vus);
  try {
    return await closedLoop(o.vus, o, t.pid, async (worker) => { await loginOnce(agent, t, t.users[worker % t.users.length]); }, t.childPids);
  } finally {
    agent.destroy();
  }
}

/**
 * Exactly `requests` successful token requests on `connections` keep-alive connections (not
 * timed: for driving a number of action executions). Throws on the first failed request.
 */
export async function ccCount(t: CcTarget, o: { requests: number; connections: number }): Promise<void> {
  const agent = keepAliveAgent(o.connections);
  let next = 0;
  try {
    await Promise.all(Array.from({ length: Math.min(o.connections, o.requests) }, async () => {
      while (next < o.requests) {
        next++;
        const res = await ccOnce(agent, t);
        if (res.status !== 200 || !res.body.includes('"access_token"')) throw new Error(`token: ${res.status} ${res.body.slice(0, 300)}`);
      }
    }));
  } finally {
    agent.destroy();
  }
}
