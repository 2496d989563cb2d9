import type { Middleware } from 'koa';

/** Request counters and latency sums in Prometheus text format, per route family and status. */
export type Metrics = ReturnType<typeof createMetrics>;

/** `mount`: the issuer's path ('' for none), which the routes live under (src/shared/urls.ts mountPath). */
export function createMetrics(mount = '') {
  const counts = new Map<string, number>();
  const seconds = new Map<string, number>();
  const named = new Set(['/authorize', '/oauth/token', '/userinfo', '/.well-known/jwks.json', '/.well-known/openid-configuration', '/oidc/logout', '/v2/logout', '/oauth/revoke', '/oauth/token/introspection', '/signup', '/healthz']);
  const family = (full: string) => {
    const path = mount && (full === mount || full.startsWith(`${mount}/`)) ? full.slice(mount.length) || '/' : full;
    if (named.has(path)) return path;
    if (path.startsWith('/api/v2/')) return `/api/v2/${path.split('/')[3] ?? ''}`;
    if (path.startsWith('/interaction/')) return '/interaction';
    return 'other';
  };
  /** Label sets by path and status, built once each (every request records one). */
  const keys = new Map<string, Map<number, string>>();
  /** Counts one answered request; `start` from process.hrtime.bigint() when it arrived. */
  function record(path: string, status: number, start: bigint) {
    let byStatus = keys.get(path);
    if (!byStatus) {
      byStatus = new Map();
      // Bounded: unknown paths share the 'other' family, so only they could grow the map.
      if (keys.size < 1000) keys.set(path, byStatus);
    }
    let key = byStatus.get(status);
    if (key === undefined) { key = `route="${family(path)}",status="${status}"`; byStatus.set(status, key); }
    counts.set(key, (counts.get(key) ?? 0) + 1);
    seconds.set(key, (seconds.get(key) ?? 0) + Number(process.hrtime.bigint() - start) / 1e9);
  }
  const middleware: Middleware = async function countRequests(ctx, next) {
    const start = process.hrtime.bigint();
    // The path as it came: oidc-provider is handed the path below an issuer's (src/app.ts).
    const path = ctx.path ?? '';
    try { await next(); } finally {
      // Runs in a 'finish' listener, where a throw would end the process: never throws.
      const onDone = () => { try { record(path, ctx.res.statusCode, start); } catch { /* a count lost, nothing more */ } };
      if (ctx.res.writableFinished) onDone(); else ctx.res.once('finish', onDone);
    }
  };
  const render = () => {
    const lines = ['# HELP gatehouse_http_requests_total HTTP requests', '# TYPE gatehouse_http_requests_total counter'];
    for (const [k, v] of counts) lines.push(`gatehouse_http_requests_total{${k}} ${v}`);
    lines.push('# HELP gatehouse_http_request_seconds_sum Time spent answering', '# TYPE gatehouse_http_request_seconds_sum counter');
    for (const [k, v] of seconds) lines.push(`gatehouse_http_request_seconds_sum{${k}} ${v.toFixed(6)}`);
    lines.push('# HELP process_resident_memory_bytes Resident memory', '# TYPE process_resident_memory_bytes gauge', `process_resident_memory_bytes ${process.memoryUsage().rss}`);
    return `${lines.join('\n')}\n`;
  };
  return { middleware, render, record };
}
