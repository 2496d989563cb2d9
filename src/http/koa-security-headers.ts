import type { Middleware } from 'koa';

/**
 * No framing (clickjacking on login, RFC 9700 §4.16), no script, no referrer (reset and
 * verification links must not leak), no sniffing. `form-action` is left out on purpose:
 * browsers apply it to the redirects that follow a login POST, which end on the client's
 * callback URL. `script-src 'none'` is spelled out so oidc-provider can append the hash of
 * the one inline script it writes (the auto-submitting form_post page, also used by logout
 * without a session): a hash next to 'none' allows that script and nothing else (CSP3:
 * 'none' has no effect once another source is listed).
 */
const CSP = "default-src 'none'; script-src 'none'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'";

/**
 * Sets the headers before the rest of the stack runs: oidc-provider answers from its own Koa
 * app straight onto the Node response and has sent it by the time control comes back, so
 * headers set afterwards never reached its pages (errors at /authorize, the logout
 * confirmation, form_post). They are harmless on JSON and redirects.
 */
export const SECURITY_HEADERS: readonly (readonly [string, string])[] = [
  ['Content-Security-Policy', CSP], ['X-Frame-Options', 'DENY'], ['Referrer-Policy', 'no-referrer'], ['X-Content-Type-Options', 'nosniff'],
];

export const securityHeaders: Middleware = createSecurityHeaders(() => []);

/**
 * The same, with the origins of images the pages may show besides their own (the branding's logo
 * and favicon): added to `img-src` only, when there are any.
 */
export function createSecurityHeaders(imageOrigins: () => string[] | Promise<string[]>): Middleware {
  let last: { key: string; csp: string } | undefined;
  return async function securityHeaders(ctx, next) {
    for (const [k, v] of SECURITY_HEADERS) ctx.set(k, v);
    const origins = await imageOrigins();
    if (origins.length) {
      const key = origins.join(' ');
      if (last?.key !== key) last = { key, csp: CSP.replace("img-src 'self' data:", `img-src 'self' data: ${key}`) };
      ctx.set('Content-Security-Policy', last.csp);
    }
    await next();
    if (!ctx.headerSent && ctx.response.is('html')) ctx.set('Cache-Control', 'no-store');
  };
}
