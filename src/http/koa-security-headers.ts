import type { Middleware } from 'koa';

/**
 * Headers for our own HTML pages: no framing (clickjacking on login, RFC 9700 §4.16), no
 * script, no referrer (reset and verification links must not leak), no sniffing.
 * `form-action` is left out on purpose: browsers apply it to the redirects that follow a
 * login POST, which end on the client's callback URL.
 */
export const securityHeaders: Middleware = async function securityHeaders(ctx, next) {
  await next();
  if (ctx.response.is('html')) {
    ctx.set('Content-Security-Policy', "default-src 'none'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'");
    ctx.set('X-Frame-Options', 'DENY');
    ctx.set('Referrer-Policy', 'no-referrer');
    ctx.set('Cache-Control', 'no-store');
  }
  ctx.set('X-Content-Type-Options', 'nosniff');
};
