/**
 * Summarises a V8 .cpuprofile (from `--cpu-prof`): self time by module (package, our
 * src/ file, or node internals), the top functions by self time, and the inclusive time of
 * the functions that matter on the hot paths (our middlewares and lookups), so the cost of
 * one layer can be read off without a flame-graph viewer.
 *
 *   node --no-node-snapshot bench/profile-summary.ts FILE.cpuprofile [--top 25] [--match name,name]
 *
 * bench/run.ts --profile calls it on the server's profile at the end of the run.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

interface CallFrame { functionName: string; url: string; lineNumber: number; columnNumber: number }
interface ProfileNode { id: number; callFrame: CallFrame; children?: number[] }
export interface CpuProfile { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[]; startTime: number; endTime: number }

/** Our hot-path functions, by the names they have in src/. */
export const DEFAULT_WATCH = [
  'countRequests', 'securityHeaders', 'healthAndAssets', 'auth0TokenParams', 'ourRoutes', 'oidc', 'handleRequest',
  'findClientMetadata', 'byIdentifier', 'find', 'getResourceServerInfo', 'defaultResource', 'extraTokenClaims',
  'record', 'upsert', 'submitLogin', 'showInteraction', 'verify', 'selectiveBody', 'tokenHandler', 'clientCredentialsHandler',
  'authorizationCodeHandler', 'getValueAndPayload', 'sign', 'runMicrotasks',
];

/** A module label: `pkg` for node_modules, the repo-relative path for our files, or `node:…`. */
export function moduleOf(url: string): string {
  if (!url) return '(native/V8)';
  if (url.startsWith('node:')) return url.split('/')[0];
  const nm = url.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + '/node_modules/'.length).split('/');
    return rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0];
  }
  for (const dir of ['/src/', '/bench/', '/views/']) {
    const i = url.lastIndexOf(dir);
    if (i >= 0) return url.slice(i + 1);
  }
  return url;
}

/** Self time (µs) by module and by function, leaving out (idle), (program) and (garbage collector). */
export function selfTimes(p: CpuProfile): { byModule: Map<string, number>; byFn: Map<string, number>; special: Map<string, number> } {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const byModule = new Map<string, number>();
  const byFn = new Map<string, number>();
  const special = new Map<string, number>();
  for (let i = 0; i < p.samples.length; i++) {
    const us = p.timeDeltas[i] ?? 0;
    const cf = byId.get(p.samples[i])!.callFrame;
    if (cf.functionName.startsWith('(') && !cf.url) { special.set(cf.functionName, (special.get(cf.functionName) ?? 0) + us); continue; }
    byModule.set(moduleOf(cf.url), (byModule.get(moduleOf(cf.url)) ?? 0) + us);
    byFn.set(label(cf), (byFn.get(label(cf)) ?? 0) + us);
  }
  return { byModule, byFn, special };
}

const label = (cf: CallFrame) => `${cf.functionName || '(anonymous)'} ${moduleOf(cf.url)}:${cf.lineNumber + 1}`;

export function summarize(p: CpuProfile, o: { top?: number; watch?: string[] } = {}): string {
  const top = o.top ?? 25;
  const watch = new Set(o.watch ?? DEFAULT_WATCH);
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

  const selfByNode = new Map<number, number>();
  let total = 0;
  for (let i = 0; i < p.samples.length; i++) {
    const dt = p.timeDeltas[i] ?? 0;
    selfByNode.set(p.samples[i], (selfByNode.get(p.samples[i]) ?? 0) + dt);
    total += dt;
  }
  const special = new Map<string, number>();
  const byModule = new Map<string, number>();
  const byFn = new Map<string, number>();
  const inclusive = new Map<string, number>();
  let busy = 0;
  for (const [id, us] of selfByNode) {
    const cf = byId.get(id)!.callFrame;
    if (cf.functionName.startsWith('(') && !cf.url) { special.set(cf.functionName, (special.get(cf.functionName) ?? 0) + us); if (cf.functionName !== '(idle)') busy += us; continue; }
    busy += us;
    byModule.set(moduleOf(cf.url), (byModule.get(moduleOf(cf.url)) ?? 0) + us);
    byFn.set(label(cf), (byFn.get(label(cf)) ?? 0) + us);
    // Inclusive: every watched function on the stack gets the sample once (recursion counted once).
    const seen = new Set<string>();
    for (let cur: number | undefined = id, d = 0; cur !== undefined && d < 500; cur = parent.get(cur), d++) {
      const f = byId.get(cur)!.callFrame;
      if (!watch.has(f.functionName)) continue;
      const key = label(f);
      if (seen.has(key)) continue;
      seen.add(key);
      inclusive.set(key, (inclusive.get(key) ?? 0) + us);
    }
  }
  const pct = (us: number) => `${((100 * us) / (busy || 1)).toFixed(1).padStart(5)}%`;
  const ms = (us: number) => `${(us / 1000).toFixed(0).padStart(7)} ms`;
  const lines: string[] = [];
  lines.push(`profile: ${(total / 1e6).toFixed(1)} s sampled, ${(busy / 1e6).toFixed(1)} s busy (percentages are of busy time)`);
  for (const [k, v] of [...special].sort((a, b) => b[1] - a[1])) lines.push(`  ${k.padEnd(22)} ${ms(v)}`);
  lines.push('', 'self time by module:');
  for (const [k, v] of [...byModule].sort((a, b) => b[1] - a[1]).slice(0, top)) lines.push(`  ${pct(v)} ${ms(v)}  ${k}`);
  lines.push('', 'top functions by self time:');
  for (const [k, v] of [...byFn].sort((a, b) => b[1] - a[1]).slice(0, top)) lines.push(`  ${pct(v)} ${ms(v)}  ${k}`);
  lines.push('', 'inclusive time of hot-path functions:');
  for (const [k, v] of [...inclusive].sort((a, b) => b[1] - a[1]).slice(0, top)) lines.push(`  ${pct(v)} ${ms(v)}  ${k}`);
  return lines.join('\n');
}

if (import.meta.main) {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string' }, match: { type: 'string' } } });
  if (!positionals.length) { console.error('usage: bench/profile-summary.ts FILE.cpuprofile [--top N] [--match fn,fn]'); process.exit(2); }
  for (const f of positionals) {
    const p = JSON.parse(readFileSync(f, 'utf8')) as CpuProfile;
    console.log(`== ${f}`);
    console.log(summarize(p, { top: values.top ? Number(values.top) : undefined, watch: values.match ? [...DEFAULT_WATCH, ...values.match.split(',')] : undefined }));
  }
}
