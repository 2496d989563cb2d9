import { createHmac, createSecretKey, timingSafeEqual, type KeyObject } from 'node:crypto';

/**
 * The signer oidc-provider's cookies (through Koa's `cookies` package) are signed and checked
 * with, in place of the `keygrip` instance `cookies` builds from a key array on every request.
 * Same interface and the same signatures (HMAC-SHA1 of `name=value`, base64url without
 * padding; the first key signs, any key verifies), so a cookie set before an upgrade still
 * verifies after it, and the other way round.
 *
 * Why: keygrip compares through tsscmp's double HMAC, two more HMACs under a fresh random
 * Buffer key for every signed cookie read, and on Node 24 an HMAC keyed with a Buffer costs
 * about five times one keyed with a KeyObject. A login reads signed cookies several times
 * (the interaction's twice, the resume's, the session's), so that was about a tenth of its
 * CPU beyond argon2 (docs/benchmarks.md). `timingSafeEqual` over the expected and the sent
 * signature is constant-time by itself; it needs equal lengths, and a signature of another
 * length is wrong whatever its content, so its length is all an early "no" tells.
 */
export interface CookieSigner {
  sign(data: string): string;
  verify(data: string, digest: string): boolean;
  index(data: string, digest: string): number;
}

export function cookieSigner(keys: readonly string[]): CookieSigner {
  if (keys.length === 0) throw new Error('cookie keys: at least one key is needed');
  const secrets: KeyObject[] = keys.map((k) => createSecretKey(Buffer.from(k, 'utf8')));
  const mac = (data: string, key: KeyObject) => createHmac('sha1', key).update(data).digest('base64url');
  const index = (data: string, digest: string): number => {
    if (typeof data !== 'string' || typeof digest !== 'string') return -1;
    const sent = Buffer.from(digest, 'utf8');
    for (let i = 0; i < secrets.length; i++) {
      const want = Buffer.from(mac(data, secrets[i]), 'utf8');
      if (want.length === sent.length && timingSafeEqual(want, sent)) return i;
    }
    return -1;
  };
  return {
    sign: (data) => mac(data, secrets[0]),
    verify: (data, digest) => index(data, digest) > -1,
    index,
  };
}
