/**
 * Account enumeration by timing (SECURITY B10), measured: does a wrong password for an
 * existing account take as long as any password for an address with no account? The same for
 * the forgot-password form (its mail goes out after the response). Not a test: timing
 * assertions do not belong there; this prints the figures docs/security-tests.md quotes.
 *
 *   node --no-node-snapshot bench/enumeration.ts [--n 100]
 *
 * Gatehouse in a child process pinned to CPU 0 (bench/servers/gatehouse.ts: SQLite in a
 * temporary directory, brute-force limits raised so that hundreds of failures from one address
 * stay on the normal path), requests from this process on CPU 1, one at a time, known and
 * unknown address alternating (ABBA), each login attempt on a fresh authorization. The pages
 * are compared too, with the parts that differ on every request (CSRF token, interaction id)
 * and the typed address taken out.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { Child, freePort, hasTaskset, killAllChildren, pinSelf } from './lib/children.ts';
import type { GatehouseInfo, GatehouseInit } from './servers/gatehouse.ts';

const { values } = parseArgs({ options: { n: { type: 'string', default: '100' } } });
const n = Math.min(1000, Math.max(10, Number(values.n)));
const PASSWORD = 'the right password, long enough';
const UNKNOWN = 'nobody.here@example.com';
process.on('exit', () => killAllChildren());
const pinned = hasTaskset() && pinSelf(1);
const dir = mkdtempSync(join(tmpdir(), 'gatehouse-enum-'));
const gh = new Child<GatehouseInfo>('gatehouse', join(import.meta.dirname, 'servers', 'gatehouse.ts'), { cpu: pinned ? 0 : undefined, logDir: dir });
try {
  const info = await gh.start({
    port: await freePort(), dir, users: 1, password: PASSWORD, logLevel: 'warn', api: 'https://api.enum.example/', scopes: ['read'],
    bruteForce: { maxFailuresPerAccount: 1_000_000, maxFailuresPerIp: 1_000_000, waitIncrementSeconds: 60, maxWaitSeconds: 900, failureResetSeconds: 43200 },
  } satisfies GatehouseInit, 120_000);
  const base = info.base;
  const KNOWN = info.users[0];

  const cookies = new Map<string, string>();
  const keep = (res: Response) => { for (const c of res.headers.getSetCookie()) { const [kv] = c.split(';'); const i = kv.indexOf('='); cookies.set(kv.slice(0, i), kv.slice(i + 1)); } };
  const cookie = () => [...cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  const get = async (url: string) => { const res = await fetch(url, { redirect: 'manual', headers: { cookie: cookie() } }); keep(res); return res; };
  const field = (html: string, re: RegExp, what: string) => { const m = re.exec(html); if (!m) throw new Error(`no ${what} in:\n${html.slice(0, 500)}`); return m[1]; };

  /** A fresh login form: its action URL and CSRF token. */
  async function loginForm() {
    cookies.clear();
    const auth = new URL('/authorize', base);
    auth.search = new URLSearchParams({ client_id: info.spa.client_id, response_type: 'code', redirect_uri: info.spa.redirect_uri, scope: 'openid', state: 's', code_challenge: 'x'.repeat(43), code_challenge_method: 'S256' }).toString();
    const r1 = await get(auth.href);
    const html = await (await get(new URL(r1.headers.get('location')!, base).href)).text();
    return { action: new URL(field(html, /<form[^>]*action="([^"]+)"/, 'login form').replace(/&amp;/g, '&'), base).href, csrf: field(html, /name="_csrf" value="([^"]+)"/, 'CSRF token') };
  }
  async function resetForm() {
    cookies.clear();
    const html = await (await get(new URL('/password/reset', base).href)).text();
    return { action: new URL('/password/reset', base).href, csrf: field(html, /name="_csrf" value="([^"]+)"/, 'CSRF token') };
  }
  /** Time of one form POST (ms) until its whole body arrived, with its status and page. */
  async function post(form: { action: string; csrf: string }, fields: Record<string, string>) {
    const body = new URLSearchParams({ _csrf: form.csrf, ...fields }).toString();
    const t0 = performance.now();
    const res = await fetch(form.action, { method: 'POST', redirect: 'manual', body, headers: { cookie: cookie(), 'content-type': 'application/x-www-form-urlencoded', origin: new URL(base).origin } });
    const text = await res.text();
    const ms = performance.now() - t0;
    const page = text.replace(/name="_csrf" value="[^"]*"/g, '').replace(/\/interaction\/[\w-]+|interaction=[\w-]+/g, '').split(fields.email).join('EMAIL');
    return { ms, status: res.status, page };
  }

  const cases = {
    'login (wrong password vs no account)': async (email: string) => post(await loginForm(), { email, password: 'a wrong password, long enough' }),
    'forgot password': async (email: string) => post(await resetForm(), { email }),
  };
  console.log(`${n} pairs each, one request at a time${pinned ? ', server on CPU 0, client on CPU 1' : ''}`);
  for (const [name, run] of Object.entries(cases)) {
    for (let i = 0; i < 5; i++) { await run(KNOWN); await run(UNKNOWN); } // warm-up
    const t: Record<'known' | 'unknown', number[]> = { known: [], unknown: [] };
    const pages = new Set<string>();
    const statuses = new Set<number>();
    for (let i = 0; i < n; i++) {
      const order: ['known' | 'unknown', string][] = i % 2 ? [['unknown', UNKNOWN], ['known', KNOWN]] : [['known', KNOWN], ['unknown', UNKNOWN]];
      for (const [k, email] of order) {
        const r = await run(email);
        t[k].push(r.ms);
        pages.add(r.page);
        statuses.add(r.status);
      }
      // The reset mail goes out after the response; let it finish before the next pair.
      await new Promise((r) => setTimeout(r, 20));
    }
    if (statuses.size !== 1 || ![200, 303].includes([...statuses][0])) throw new Error(`${name}: unexpected statuses ${[...statuses].join(',')}`);
    const q = (xs: number[], p: number) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(p * s.length))]; };
    const fmt = (xs: number[]) => `median ${q(xs, 0.5).toFixed(2)} ms (p25–p75 ${q(xs, 0.25).toFixed(2)}–${q(xs, 0.75).toFixed(2)})`;
    if (pages.size > 1) {
      // Where the first two differ, so a difference can be told from per-request noise.
      const [a, b] = [...pages];
      let i = 0;
      while (i < a.length && a[i] === b[i]) i++;
      console.log(`  ${name}: pages differ at: …${a.slice(Math.max(0, i - 60), i + 60)}… vs …${b.slice(Math.max(0, i - 60), i + 60)}…`);
    }
    console.log(`${name}: known address ${fmt(t.known)}; unknown address ${fmt(t.unknown)}; difference of medians ${(q(t.known, 0.5) - q(t.unknown, 0.5)).toFixed(2)} ms; status ${[...statuses][0]}; ${pages.size === 1 ? 'identical pages' : `${pages.size} different pages`}`);
  }
} finally {
  await gh.stop();
  rmSync(dir, { recursive: true, force: true });
}
