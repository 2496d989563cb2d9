/** Helpers shared by the sandbox tests (not a test file itself). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import type { ChainLimits, ChainRequest, ChainResult, SandboxAction, SandboxPool } from './types.ts';

export const LIMITS: ChainLimits = { actionTimeoutMs: 1000, chainTimeoutMs: 4000, memoryMb: 32, consoleBytes: 4096, resultBytes: 100 * 1024 };

export const POST_LOGIN_API = [
  'access.deny', 'idToken.setCustomClaim', 'accessToken.setCustomClaim', 'accessToken.addScope',
  'user.setAppMetadata', 'user.setUserMetadata', 'redirect.sendUserTo', 'redirect.encodeToken',
  'redirect.validateToken', 'redirect.canRedirect', 'authentication.challengeWith',
  'cache.get', 'cache.set', 'cache.delete',
];
export const POST_LOGIN_STOP = ['access.deny', 'redirect.sendUserTo', 'authentication.challengeWith'];

/** A fresh action version (unique key unless given). */
export function action(code: string, opts: { key?: string; name?: string; secrets?: Record<string, string> } = {}): SandboxAction {
  return { key: opts.key ?? `v-${randomUUID()}`, name: opts.name ?? 'test-action', code, secrets: opts.secrets ?? {} };
}

/** A post-login handler body as an action. */
export function postLogin(body: string, opts: { key?: string; name?: string; secrets?: Record<string, string> } = {}): SandboxAction {
  return action(`exports.onExecutePostLogin = async (event, api) => {\n${body}\n};`, opts);
}

export function request(actions: SandboxAction[], over: Partial<ChainRequest> = {}): ChainRequest {
  return {
    handler: 'onExecutePostLogin',
    actions,
    event: { user: { user_id: 'auth0|u1', email: 'a@example.com', app_metadata: {}, user_metadata: {} }, request: { ip: '203.0.113.9', query: {}, body: {} } },
    apiMethods: POST_LOGIN_API,
    stopOn: POST_LOGIN_STOP,
    limits: LIMITS,
    ...over,
  };
}

export function claims(r: ChainResult, index = 0): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const c of r.results[index]?.commands ?? []) if (c.type === 'idToken.setCustomClaim') out[c.args[0] as string] = c.args[1];
  return out;
}

/** A normal chain must still succeed on this pool. */
export async function expectHealthy(pool: SandboxPool): Promise<void> {
  const r = await pool.runChain(request([postLogin(`api.idToken.setCustomClaim('healthy', event.user.user_id);`)]));
  assert.equal(r.status, 'ok', JSON.stringify(r));
  assert.deepEqual(claims(r), { healthy: 'auth0|u1' });
}

/** Runs normal chains until one succeeds (workers take a moment to start). */
export async function waitHealthy(pool: SandboxPool, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const r = await pool.runChain(request([postLogin(`api.idToken.setCustomClaim('healthy', 1);`)]));
    if (r.status === 'ok') return;
    if (Date.now() > end) assert.fail(`pool not healthy: ${JSON.stringify(r)}`);
    await new Promise((res) => setTimeout(res, 50));
  }
}

/** Waits until `pred()` holds. */
export async function eventually(pred: () => boolean, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > end) assert.fail('condition not met in time');
    await new Promise((res) => setTimeout(res, 20));
  }
}

/** Pids of this process's live child processes (Linux /proc). */
export function childPids(): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) === process.pid && fields[0] !== 'Z') out.push(Number(d));
    } catch { /* gone */ }
  }
  return out;
}

/**
 * A differential test's two runs of `harness` (the body of an async function that returns
 * [name, result] pairs): here, with `args` as its parameters, and in the sandbox, in one
 * post-login action whose `prelude` defines what it uses (the same names); the results come
 * back as one ID-token claim. The caller closes the pool.
 */
export async function bothSides(pool: SandboxPool, harness: string, args: Record<string, unknown>, prelude: string, limits: Partial<ChainLimits>): Promise<{ node: Map<string, unknown>; sandbox: Map<string, unknown> }> {
  const AsyncFunction = (async () => {}).constructor as new (...names: string[]) => (...a: unknown[]) => Promise<[string, unknown][]>;
  const node = new Map(await new AsyncFunction(...Object.keys(args), harness)(...Object.values(args)));
  const r = await pool.runChain(request([postLogin(`${prelude}\napi.idToken.setCustomClaim('results', await (async () => { ${harness} })());`)], { limits: { ...LIMITS, ...limits } }));
  assert.equal(r.status, 'ok', JSON.stringify(r.results[0]?.error));
  return { node, sandbox: new Map(claims(r).results as [string, unknown][]) };
}

/**
 * The JavaScript a differential harness runs its snippets with ([name, expression] pairs): each
 * result as JSON, or `threw(e)` (the harness defines it), pushed onto `out` under its name.
 */
export function snippetLoop(snippets: [string, string][]): string {
  return `for (const [name, fn] of [${snippets.map(([n, e]) => `\n[${JSON.stringify(n)}, async () => (${e})]`).join(',')}]) {
    let r;
    try { const j = JSON.stringify(await fn()); r = j === undefined ? { undefined: true } : JSON.parse(j); } catch (e) { r = threw(e); }
    out.push([name, r]);
  }`;
}

/**
 * A differential harness's tests, one per snippet: equal in Node.js and in the sandbox, or, for
 * a name in `knownDiff`, still different (a difference that went away comes off the list).
 * `extra`: results the harness adds beyond the snippets. Call inside the file's describe.
 */
export function snippetTests(snippets: [string, string][], knownDiff: ReadonlySet<string>, results: () => { node: Map<string, unknown>; sandbox: Map<string, unknown> }, extra = 0): void {
  test('every snippet has a unique name and a result on both sides', () => {
    const { node, sandbox } = results();
    assert.equal(new Set(snippets.map(([n]) => n)).size, snippets.length);
    for (const n of knownDiff) assert.ok(node.has(n), `KNOWN_DIFF names no snippet: ${n}`);
    assert.equal(sandbox.size, snippets.length + extra);
  });
  for (const [name] of snippets) {
    test(name, (t) => {
      const { node, sandbox } = results();
      const n = node.get(name), s = sandbox.get(name);
      if (knownDiff.has(name)) {
        t.diagnostic(`known divergence: sandbox ${JSON.stringify(s)}, Node.js ${JSON.stringify(n)}`);
        assert.notDeepEqual(s, n, `${name}: now equal on both sides, take it off KNOWN_DIFF`);
      } else assert.deepEqual(s, n, `${name}: sandbox ${JSON.stringify(s)} != Node.js ${JSON.stringify(n)}`);
    });
  }
}
