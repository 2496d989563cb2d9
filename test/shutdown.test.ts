import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { ADMIN_ID, ADMIN_SECRET, freePort, startTestServer } from './helpers/server.ts';
import { bindActions, deployAction } from './helpers/actions.ts';

const MAIN = join(import.meta.dirname, '..', 'src', 'cli', 'main.ts');

/*
 * SIGTERM under load (SECURITY F10): closing the server stops new connections but lets a
 * request already in flight finish, here a token request held up by a slow
 * credentials-exchange action.
 */
test('closing the server lets an in-flight token request finish', async () => {
  const ts = await startTestServer();
  let closed = false;
  try {
    await ts.api('POST', '/resource-servers', { name: 'Slow', identifier: 'https://slow.example', scopes: [{ value: 'r', description: 'r' }] });
    const m2m = (await ts.api('POST', '/clients', { name: 'slow m2m', app_type: 'non_interactive' })).body;
    await ts.api('POST', '/client-grants', { client_id: m2m.client_id, audience: 'https://slow.example', scope: ['r'] });
    await deployAction(ts, { name: 'slow', trigger: 'credentials-exchange', code: `
      exports.onExecuteCredentialsExchange = async (event, api) => {
        await new Promise((r) => setTimeout(r, 700));
        api.accessToken.setCustomClaim('https://x/slow', true);
      };` });
    await bindActions(ts, 'credentials-exchange', ['slow']);
    // Closed once the server has the request (not after a guess at how long that takes: a request
    // still on its way when the server stops listening is refused, which is right).
    const arrived = new Promise<void>((resolve) => ts.server.on('request', (req) => { if (req.method === 'POST' && req.url?.startsWith('/oauth/token')) resolve(); }));
    const inFlight = fetch(`${ts.base}/oauth/token`, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', connection: 'close' },
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: m2m.client_id, client_secret: m2m.client_secret, audience: 'https://slow.example' }),
    });
    await Promise.race([arrived, inFlight]); // a fetch that fails on its way fails the test here, not at its timeout
    const closing = ts.close(5000).then(() => { closed = true; });
    const res = await inFlight;
    assert.equal(res.status, 200);
    const body = await res.json() as { access_token: string };
    assert.equal(JSON.parse(Buffer.from(body.access_token.split('.')[1], 'base64url').toString())['https://x/slow'], true);
    await closing;
    await assert.rejects(fetch(`${ts.base}/healthz`), 'no new connections after close');
  } finally {
    if (!closed) await ts.close();
  }
});

/** Child process ids of `pid` (Linux /proc), all threads. */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  try {
    for (const t of readdirSync(`/proc/${pid}/task`)) {
      const list = readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').trim();
      if (list) out.push(...list.split(/\s+/).map(Number));
    }
  } catch { /* gone */ }
  return out;
}
const alive = (pid: number) => { try { process.kill(pid, 0); return true; } catch { return false; } };

test('SIGTERM to `gatehouse start` under load: every in-flight request finishes, execution records are written, workers exit (F10)', { skip: process.platform !== 'linux' && 'reads /proc' }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-sigterm-'));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  // Each execution of the action first calls this server: a call means that token request is
  // inside Gatehouse (parsed, authenticated, its chain running), not on its way there.
  let hits = 0;
  const marker = createServer((req, res) => { hits++; res.end('ok'); });
  await new Promise<void>((r) => marker.listen(0, '127.0.0.1', () => r()));
  const markerPort = (marker.address() as AddressInfo).port;
  const env = {
    ...process.env, NODE_ENV: 'test', PORT: String(port), GATEHOUSE_ISSUER: base, GATEHOUSE_DATA_DIR: dir,
    GATEHOUSE_DATABASE_URL: `sqlite:${join(dir, 'gh.sqlite')}`, GATEHOUSE_LOG_LEVEL: 'info',
    GATEHOUSE_BOOTSTRAP_ADMIN_CLIENT_ID: ADMIN_ID, GATEHOUSE_BOOTSTRAP_ADMIN_CLIENT_SECRET: ADMIN_SECRET,
    GATEHOUSE_ACTIONS_FETCH_ALLOW: `127.0.0.1:${markerPort}`,
  };
  const child = spawn(process.execPath, ['--no-node-snapshot', MAIN, 'start'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d: Buffer) => { output += d; });
  child.stderr.on('data', (d: Buffer) => { output += d; });
  const exited = new Promise<{ code: number | null; signal: string | null }>((r) => child.once('exit', (code, signal) => r({ code, signal })));
  try {
    for (let i = 0; !output.includes('Gatehouse listening'); i++) {
      if (i > 600 || child.exitCode !== null) throw new Error(`the server did not start:\n${output}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const tokenFor = async (id: string, secret: string, audience: string) => fetch(`${base}/oauth/token`, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: id, client_secret: secret, audience }),
    });
    const admin = await (await tokenFor(ADMIN_ID, ADMIN_SECRET, `${base}/api/v2/`)).json() as { access_token: string };
    const api = async (method: string, path: string, body?: unknown) => {
      const res = await fetch(`${base}/api/v2${path}`, { method, headers: { authorization: `Bearer ${admin.access_token}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
      const parsed = await res.json() as Record<string, any>;
      assert.ok(res.status < 300, `${method} ${path}: ${res.status} ${JSON.stringify(parsed)}`);
      return parsed;
    };
    await api('POST', '/resource-servers', { name: 'Slow', identifier: 'https://slow.example', scopes: [{ value: 'r', description: 'r' }] });
    const m2m = await api('POST', '/clients', { name: 'slow m2m', app_type: 'non_interactive' });
    await api('POST', '/client-grants', { client_id: m2m.client_id, audience: 'https://slow.example', scope: ['r'] });
    const action = await api('POST', '/actions/actions', { name: 'slow', supported_triggers: [{ id: 'credentials-exchange' }], code: `
      exports.onExecuteCredentialsExchange = async (event, api) => {
        await fetch('http://127.0.0.1:${markerPort}/started');
        await new Promise((r) => setTimeout(r, 600));
        api.accessToken.setCustomClaim('https://x/slow', true);
      };` });
    await api('POST', `/actions/actions/${action.id}/deploy`);
    await api('PATCH', '/actions/triggers/credentials-exchange/bindings', { bindings: [{ ref: { type: 'action_name', value: 'slow' } }] });
    // Warm the sandbox (the first execution starts a worker), and note its processes.
    assert.equal((await tokenFor(m2m.client_id, m2m.client_secret, 'https://slow.example')).status, 200);
    const workers = childrenOf(child.pid!);
    assert.ok(workers.length > 0, 'the sandbox workers run as child processes');

    const N = 8;
    const before = hits;
    const inFlight = Array.from({ length: N }, () => tokenFor(m2m.client_id, m2m.client_secret, 'https://slow.example'));
    // The sandbox runs one chain per worker at a time (two workers): once two chains have
    // started, every request sent with them has long been read; the rest wait in the pool.
    for (let i = 0; hits - before < 2; i++) {
      if (i > 400) throw new Error(`the slow action never started (${hits - before} calls)\n${output}`);
      await new Promise((r) => setTimeout(r, 25));
    }
    child.kill('SIGTERM');
    const answers = await Promise.all(inFlight);
    assert.deepEqual(answers.map((r) => r.status), Array(N).fill(200), 'every request in flight at SIGTERM was answered');
    for (const r of answers) {
      const { access_token } = await r.json() as { access_token: string };
      assert.equal(JSON.parse(Buffer.from(access_token.split('.')[1], 'base64url').toString())['https://x/slow'], true);
    }
    const { code, signal } = await exited;
    assert.equal(code, 0, `exit ${code} ${signal}\n${output}`);
    assert.match(output, /shutting down/);
    for (let i = 0; i < 40 && workers.some(alive); i++) await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(workers.filter(alive), [], 'no sandbox worker outlives the server');
    await assert.rejects(fetch(`${base}/healthz`), 'nothing listens any more');

    // Nothing half-written: the execution records buffered in memory were flushed on the way out.
    const db = new Database(join(dir, 'gh.sqlite'), { readonly: true });
    try {
      const n = (db.prepare("select count(*) as n from action_executions where trigger_id = 'credentials-exchange'").get() as { n: number }).n;
      assert.equal(n, N + 1, 'one execution record per token request, the ones answered during shutdown included');
    } finally { db.close(); }
  } finally {
    if (child.exitCode === null && child.signalCode === null) {
      for (const pid of childrenOf(child.pid!)) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
      child.kill('SIGKILL');
    }
    await exited;
    marker.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
