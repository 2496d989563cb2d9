/**
 * The one host function reachable from guest code (as an ivm.Callback captured by the prelude):
 * strings in, a string out, every argument type- and size-checked here. It never throws and
 * never returns anything but a string; '' means "refused / invalid".
 *
 * ops:
 * - `hmac(key, data)` → base64url HMAC-SHA256 (api.redirect.encodeToken)
 * - `hmac.verify(key, data, sig)` → '1' | '0', constant-time compare (api.redirect.validateToken)
 * - `url.parse(input, base, hasBase)` / `url.set(href, prop, value)` → JSON of the URL's parts
 *   (the guest's URL class, so that parsing is Node's WHATWG parser, not a hand-written one)
 * - `random(n)` → hex of n ≤ 65536 CSPRNG bytes (crypto.getRandomValues); `uuid()` (crypto.randomUUID)
 * - `digest(alg, dataHex)` / `hmac.raw(alg, keyHex, dataHex)` → hex (crypto.subtle; alg one of
 *   md5, sha1, sha256, sha384, sha512; md5 only for require('crypto'), crypto.subtle has no MD5)
 */
import { createHash, createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';

const MAX_ARG = 1024 * 1024;
const HASHES = new Set(['md5', 'sha1', 'sha256', 'sha384', 'sha512']);
const HEX = /^(?:[0-9a-f]{2})*$/;
const URL_SETTABLE = new Set(['protocol', 'username', 'password', 'host', 'hostname', 'port', 'pathname', 'search', 'hash']);

function urlJson(u: URL): string {
  return JSON.stringify({
    href: u.href, origin: u.origin, protocol: u.protocol, username: u.username, password: u.password,
    host: u.host, hostname: u.hostname, port: u.port, pathname: u.pathname, search: u.search, hash: u.hash,
  });
}

function hmac(key: string, data: string): Buffer {
  return createHmac('sha256', key).update(data, 'utf8').digest();
}

export function hostBridge(op: unknown, a: unknown, b: unknown, c: unknown): string {
  if (typeof op !== 'string' || typeof a !== 'string' || typeof b !== 'string' || typeof c !== 'string') return '';
  if (a.length > MAX_ARG || b.length > MAX_ARG || c.length > MAX_ARG) return '';
  try {
    switch (op) {
      case 'hmac':
        if (a === '') return '';
        return hmac(a, b).toString('base64url');
      case 'hmac.verify': {
        if (a === '' || !/^[A-Za-z0-9_-]{43}$/.test(c)) return '0';
        const expected = hmac(a, b);
        const given = Buffer.from(c, 'base64url');
        return given.length === expected.length && timingSafeEqual(given, expected) ? '1' : '0';
      }
      case 'url.parse': {
        if (a.length > 65536 || b.length > 65536) return '';
        const u = URL.parse(a, c === '1' ? b : undefined);
        return u ? urlJson(u) : '';
      }
      case 'url.set': {
        if (!URL_SETTABLE.has(b) || a.length > 65536 || c.length > 65536) return '';
        const u = URL.parse(a);
        if (!u) return '';
        (u as unknown as Record<string, string>)[b] = c;
        return urlJson(u);
      }
      case 'random': {
        const n = Number(a);
        if (!Number.isInteger(n) || n < 0 || n > 65536) return '';
        return randomBytes(n).toString('hex');
      }
      case 'uuid':
        return randomUUID();
      case 'digest':
        if (!HASHES.has(a) || !HEX.test(b)) return '';
        return createHash(a).update(Buffer.from(b, 'hex')).digest('hex');
      case 'hmac.raw':
        if (!HASHES.has(a) || b === '' || !HEX.test(b) || !HEX.test(c)) return '';
        return createHmac(a, Buffer.from(b, 'hex')).update(Buffer.from(c, 'hex')).digest('hex');
      default:
        return '';
    }
  } catch {
    return '';
  }
}
