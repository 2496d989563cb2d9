import { createHmac, createSecretKey, randomBytes } from 'node:crypto';
import { safeEqual } from '../shared/safe-equal.ts';
import type { Context, Middleware } from 'koa';
import { AppError } from '../shared/errors.ts';
import { cookieName } from './cookie-names.ts';

/**
 * Signed double-submit CSRF protection for our HTML forms (OWASP CSRF cheat sheet): a random
 * per-browser cookie, and in every form an HMAC of it. POSTs must carry a matching token, and
 * are refused when `Origin` names another origin or `Sec-Fetch-Site` says cross-site.
 */
export function createCsrf(key: Buffer, origin: string) {
  /** `__Host-gh_csrf` over TLS (cookie-names.ts). */
  const cookie = (ctx: Context) => cookieName(ctx, 'gh_csrf', 'host');
  // A KeyObject: on Node 24 an HMAC keyed with a Buffer costs about five times as much (cookie-signer.ts).
  const secret = createSecretKey(key);
  const sign = (v: string) => createHmac('sha256', secret).update(`csrf:${v}`).digest('base64url');

  function token(ctx: Context): string {
    let v = ctx.cookies.get(cookie(ctx));
    if (!v || !/^[A-Za-z0-9_-]{22,64}$/.test(v)) {
      v = randomBytes(24).toString('base64url');
      ctx.cookies.set(cookie(ctx), v, { httpOnly: true, sameSite: 'lax', secure: ctx.secure, overwrite: true, path: '/' });
    }
    return sign(v);
  }

  const verify: Middleware = async function verifyCsrf(ctx, next) {
    if (ctx.method === 'POST') {
      const site = ctx.get('sec-fetch-site');
      const reqOrigin = ctx.get('origin');
      if (site === 'cross-site' || (reqOrigin && reqOrigin !== 'null' && reqOrigin !== origin)) {
        throw new AppError(403, 'csrf', 'This form was sent from another site. Go back and try again.');
      }
      const held = ctx.cookies.get(cookie(ctx));
      const sent = (ctx.request.body as Record<string, unknown> | undefined)?._csrf;
      const ok = typeof sent === 'string' && !!held && safeEqual(sent, sign(held));
      if (!ok) throw new AppError(403, 'csrf', 'Your session expired or the form was tampered with. Go back, reload the page and try again.');
    }
    await next();
  };
  return { token, verify };
}
export type Csrf = ReturnType<typeof createCsrf>;
