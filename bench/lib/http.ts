/**
 * A minimal HTTP/1.1 client for the load generator: node:http over a keep-alive Agent (no
 * fetch: undici's per-request overhead on the generator's core would cap what we can
 * measure), plus a browser-like cookie jar for the login flow.
 */
import http from 'node:http';
import { readFileSync, readdirSync } from 'node:fs';

export interface Res { status: number; headers: http.IncomingHttpHeaders; body: string }

export function keepAliveAgent(sockets: number): http.Agent {
  return new http.Agent({ keepAlive: true, maxSockets: sockets, maxFreeSockets: sockets, scheduling: 'fifo' });
}

export function request(agent: http.Agent, url: URL, o: { method?: string; headers?: Record<string, string>; body?: string; timeoutMs?: number } = {}): Promise<Res> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...o.headers };
    if (o.body !== undefined) headers['content-length'] = String(Buffer.byteLength(o.body));
    const req = http.request({ agent, hostname: url.hostname, port: url.port, path: url.pathname + url.search, method: o.method ?? 'GET', headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.setTimeout(o.timeoutMs ?? 30_000, () => req.destroy(new Error(`timeout: ${o.method ?? 'GET'} ${url.pathname}`)));
    req.end(o.body);
  });
}

interface Cookie { name: string; value: string; path: string }

/** Cookies of one host, with their paths (oidc-provider scopes interaction cookies by path). */
export class CookieJar {
  cookies: Cookie[] = [];

  header(url: URL): string | undefined {
    const v = this.cookies.filter((c) => url.pathname.startsWith(c.path)).map((c) => `${c.name}=${c.value}`).join('; ');
    return v || undefined;
  }

  store(res: Res): void {
    const set = res.headers['set-cookie'] ?? [];
    for (const sc of set) {
      const [pair, ...attrs] = sc.split(';').map((s) => s.trim());
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq);
      const value = pair.slice(eq + 1);
      let path = '/';
      let expired = false;
      for (const a of attrs) {
        const [k, v] = a.split('=');
        const key = k.toLowerCase();
        if (key === 'path') path = v;
        if (key === 'max-age' && Number(v) <= 0) expired = true;
        if (key === 'expires' && Date.parse(v) < Date.now()) expired = true;
      }
      this.cookies = this.cookies.filter((c) => !(c.name === name && c.path === path));
      if (!expired && value !== '') this.cookies.push({ name, value, path });
    }
  }
}

/** user+system CPU seconds of a process (all its threads), from /proc; undefined elsewhere. */
let ticks: number | undefined;
export function processCpuSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which is in parentheses and may contain spaces.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    ticks ??= 100; // USER_HZ is 100 on every Linux ABI Node supports.
    return (Number(f[11]) + Number(f[12])) / ticks;
  } catch {
    return undefined;
  }
}

/** CPU seconds per thread name of a process (main thread, V8 workers, libuv pool…), from /proc. */
export function threadCpuSeconds(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
        const name = tid === String(pid) ? 'main thread' : stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')).replace(/\d+$/, '').trim();
        const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        out.set(name, (out.get(name) ?? 0) + (Number(f[11]) + Number(f[12])) / 100);
      } catch { /* thread ended */ }
    }
  } catch { /* not Linux */ }
  return out;
}
