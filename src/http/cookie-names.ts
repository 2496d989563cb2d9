import type { Context } from 'koa';

/**
 * The name one of Gatehouse's own cookies goes by on this request. Over TLS it carries a prefix
 * the browser enforces (SECURITY.md 3.4; ASVS 4 3.4.4):
 *
 * - `__Host-` for a cookie on path `/`: only this exact host may set it (Secure, no Domain), so
 *   neither a sibling subdomain nor a plain-http page can plant one: no forced CSRF value, no
 *   planted account session.
 * - `__Secure-` for a cookie scoped to a narrower path, which `__Host-` forbids: only a secure
 *   origin may set it. That stops plain-http pages, not an https sibling subdomain (it may set
 *   Domain=), so it is only for a cookie a planted value cannot harm (the /continue form id is
 *   looked up inside the victim's own continuation).
 *
 * Over plain http (development, or TLS ended at a proxy that `http.trustProxy` does not name)
 * the cookie keeps its bare name, since browsers refuse prefixed cookies without Secure. A
 * request reads only the name its own scheme gives, so a bare cookie planted next to a
 * prefixed one is never read over TLS.
 */
export function cookieName(ctx: Context, name: string, scope: 'host' | 'path'): string {
  if (!ctx.secure) return name;
  return scope === 'host' ? `__Host-${name}` : `__Secure-${name}`;
}
