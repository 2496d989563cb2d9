/**
 * Measures the sandbox's per-action cost (not a test).
 *   npx node --no-node-snapshot bench/sandbox-measure.ts
 * In-process runner numbers isolate the sandbox cost; pool numbers add the IPC round trip.
 */
import { performance } from 'node:perf_hooks';
import { ChainRunner, type ChainJob } from '../src/actions/sandbox/runner.ts';
import { createSandboxPool } from '../src/actions/sandbox/index.ts';
import { postLoginActionCode, samplePostLoginEvent } from './lib/action-code.ts';
import { TRIGGERS } from '../src/actions/triggers/definitions.ts';

const event = {
  transaction: { id: 't1', protocol: 'oauth2-client-credentials', requested_scopes: ['read:a', 'write:b'] },
  client: { client_id: 'abc123', name: 'M2M client', metadata: { tier: 'gold', region: 'eu' } },
  request: { ip: '203.0.113.7', method: 'POST', hostname: 'login.example.com', user_agent: 'x'.repeat(120), language: 'en', query: {}, body: { grant_type: 'client_credentials', audience: 'https://api.example.com' } },
  resource_server: { identifier: 'https://api.example.com' },
  accessToken: { scope: ['read:a', 'write:b'], customClaims: {} },
  tenant: { id: 'default' },
  padding: 'p'.repeat(300),
};
const code = `exports.onExecuteCredentialsExchange = async (event, api) => {
  if (event.client.metadata.tier === 'gold') api.accessToken.setCustomClaim('https://example.com/tier', event.client.metadata.tier);
};`;
const limits = { actionTimeoutMs: 5000, chainTimeoutMs: 20000, memoryMb: 64, consoleBytes: 4096, resultBytes: 102400 };
const apiMethods = ['access.deny', 'accessToken.setCustomClaim', 'cache.get', 'cache.set', 'cache.delete'];
const job = (key: string): ChainJob => ({
  handler: 'onExecuteCredentialsExchange', actions: [{ key, name: 'tier', code, secrets: { API_KEY: 'k'.repeat(32) } }],
  eventJson: JSON.stringify(event), cacheJson: '{}', apiMethods, stopOn: ['access.deny'], redirect: null, limits,
});
console.log(`event JSON: ${JSON.stringify(event).length} bytes`);

const runner = new ChainRunner({ maxWarm: 64, fetchAllow: [], fetchTimeoutMs: 5000, fetchMaxBytes: 1 << 20 });
// cold start: a new version each time (new isolate + context + prelude + compile + top level)
for (let i = 0; i < 5; i++) await runner.runChain(job(`warmup-${i}`));
const cold: number[] = [];
for (let i = 0; i < 30; i++) {
  const t = performance.now();
  await runner.runChain(job(`cold-${i}`));
  cold.push(performance.now() - t);
}
cold.sort((a, b) => a - b);
console.log(`cold start (new version, in-process): median ${cold[15].toFixed(2)} ms, p90 ${cold[27].toFixed(2)} ms`);

const warm = job('warm');
for (let i = 0; i < 5000; i++) await runner.runChain(warm);
for (let round = 0; round < 3; round++) {
  const N = 50000;
  let cpu = 0;
  const t = performance.now();
  for (let i = 0; i < N; i++) cpu += (await runner.runChain(warm)).results[0].cpuMicros;
  const wall = ((performance.now() - t) * 1000) / N;
  console.log(`warm action (in-process runner): ${wall.toFixed(2)} µs wall per chain, ${(cpu / N).toFixed(2)} µs isolate CPU (cpuMicros)`);
}
{
  // Five different actions (five isolates) per chain: each execution enters another isolate
  // than the one before, unlike the single warm action above.
  const chain5: ChainJob = { ...warm, actions: [0, 1, 2, 3, 4].map((i) => ({ ...warm.actions[0], key: `in5-${i}` })) };
  for (let i = 0; i < 2000; i++) await runner.runChain(chain5);
  const N = 20000;
  let cpu = 0;
  const t = performance.now();
  for (let i = 0; i < N; i++) for (const r of (await runner.runChain(chain5)).results) cpu += r.cpuMicros;
  console.log(`5-action chain (in-process runner): ${(((performance.now() - t) * 1000) / N).toFixed(1)} µs wall per chain, ${(cpu / N / 5).toFixed(2)} µs isolate CPU per action`);
}
{
  // post-login as the server runs it: a bigger event, the post-login api, and a new redirect
  // state with every login (the state is what changes from one execution to the next).
  const pl: ChainJob = {
    handler: 'onExecutePostLogin', actions: [{ key: 'warm-pl', name: 'roles', code: postLoginActionCode(1), secrets: { TENANT_ID: 'tenant-7f3a9c' } }],
    eventJson: JSON.stringify(samplePostLoginEvent()), cacheJson: '{}', apiMethods: TRIGGERS['post-login'].apiMethods, stopOn: TRIGGERS['post-login'].stopOn,
    redirect: { canRedirect: true, state: 's0', issuer: 'https://login.example.com/' }, limits,
  };
  for (let i = 0; i < 5000; i++) await runner.runChain({ ...pl, redirect: { ...pl.redirect!, state: `w${i}` } });
  for (let round = 0; round < 3; round++) {
    const N = 30000;
    let cpu = 0;
    const t = performance.now();
    for (let i = 0; i < N; i++) cpu += (await runner.runChain({ ...pl, redirect: { ...pl.redirect!, state: `r${round}-${i}` } })).results[0].cpuMicros;
    console.log(`warm post-login action, a new redirect state each time (in-process runner): ${(((performance.now() - t) * 1000) / N).toFixed(2)} µs wall per chain, ${(cpu / N).toFixed(2)} µs isolate CPU (cpuMicros)`);
  }
}
runner.disposeAll();

const pool = createSandboxPool({ workers: 1 });
const req = { handler: 'onExecuteCredentialsExchange', actions: warm.actions, event, apiMethods, stopOn: ['access.deny'], limits };
for (let i = 0; i < 2000; i++) await pool.runChain(req);
{
  const N = 20000;
  const t = performance.now();
  for (let i = 0; i < N; i++) await pool.runChain(req);
  console.log(`warm action through the pool (IPC round trip included): ${(((performance.now() - t) * 1000) / N).toFixed(1)} µs per chain`);
}
{
  const chain5 = { ...req, actions: [0, 1, 2, 3, 4].map((i) => ({ ...warm.actions[0], key: `c5-${i}` })) };
  for (let i = 0; i < 1000; i++) await pool.runChain(chain5);
  const N = 10000;
  const t = performance.now();
  for (let i = 0; i < N; i++) await pool.runChain(chain5);
  console.log(`5-action chain through the pool: ${(((performance.now() - t) * 1000) / N).toFixed(1)} µs per chain`);
}
await pool.close();
