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
 * - `package(specifier)` → JSON of an offered npm package's files for require() (packages.ts);
 *   `package.from(fileKey, relativeSpecifier)` → the same for a require package code computes
 * - `digest(alg, dataHex)` / `hmac.raw(alg, keyHex, dataHex)` → hex (crypto.subtle; alg one of
 *   md5, sha1, sha256, sha384, sha512; md5 only for require('crypto'), crypto.subtle has no MD5)
 * - `key(paramsJson)` → JSON of a PEM key's type and its PEM in each encoding Node.js exports it in
 *   (public: derived from a private key); every key is vetted before OpenSSL parses it (vetPem);
 *   `sign(paramsJson, dataHex)` → JSON `{sig}`; `verify(paramsJson, dataHex, sigHex)` → JSON `{ok}`
 *   (require('crypto')'s createSign, createVerify, sign, verify, createPrivateKey, createPublicKey):
 *   unencrypted PEM keys only, RSA up to 4096 bits, EC P-256/P-384/P-521/secp256k1, Ed25519/Ed448
 * - `cipher(paramsJson, dataHex, aadHex)` → JSON `{out, tag?}`: AES-128/192/256 in CBC, ECB, CTR or GCM
 *   (createCipheriv, createDecipheriv), the whole input at once; `final: false` answers what
 *   update() gives for it, without final() (no padding, no tag check)
 * The JSON operations answer `{error: {name, code, message}}` for what Node.js would throw, so
 * that the guest throws the same; '' still means malformed.
 */
import {
  createCipheriv, createDecipheriv, createHash, createHmac, createPrivateKey, createPublicKey, randomBytes, randomUUID, sign, timingSafeEqual, verify,
  type CipherGCM, type DecipherGCM, type KeyObject,
} from 'node:crypto';
import { packageBundle, packageBundleFrom } from './packages.ts';

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

const SIGN_HASHES = new Set(['sha1', 'sha256', 'sha384', 'sha512']);
const CURVES = new Set(['prime256v1', 'secp384r1', 'secp521r1', 'secp256k1']);
const CIPHERS = new Set(['aes-128-cbc', 'aes-192-cbc', 'aes-256-cbc', 'aes-128-ecb', 'aes-192-ecb', 'aes-256-ecb',
  'aes-128-ctr', 'aes-192-ctr', 'aes-256-ctr', 'aes-128-gcm', 'aes-192-gcm', 'aes-256-gcm']);
const KEY_SUPPORT = 'Gatehouse takes unencrypted PEM keys: RSA up to 4096 bits, EC P-256, P-384, P-521 or secp256k1, Ed25519, Ed448';

class Refusal extends Error {}
function errorJson(e: unknown): string {
  const x = e as { name?: unknown; code?: unknown; message?: unknown };
  return JSON.stringify({ error: {
    name: typeof x?.name === 'string' ? x.name : 'Error',
    code: typeof x?.code === 'string' ? x.code : null,
    message: typeof x?.message === 'string' ? x.message.slice(0, 300) : 'failed',
  } });
}
function params(json: string): Record<string, unknown> {
  let p: unknown;
  try { p = JSON.parse(json); } catch { throw new Refusal('bad parameters'); }
  if (p === null || typeof p !== 'object' || Array.isArray(p)) throw new Refusal('bad parameters');
  return p as Record<string, unknown>;
}
const hex = (v: unknown): Buffer => {
  if (typeof v !== 'string' || !HEX.test(v)) throw new Refusal('bad hex');
  return Buffer.from(v, 'hex');
};
const unsupportedKey = (why: string) => Object.assign(new TypeError(`${why}: ${KEY_SUPPORT}`), { code: 'ERR_FEATURE_UNAVAILABLE' });
/** PKCS#8 and SPKI algorithm identifiers Gatehouse takes: rsaEncryption, RSASSA-PSS, id-ecPublicKey, Ed25519, Ed448. */
const KEY_ALGORITHMS = new Set(['2a864886f70d010101', '2a864886f70d01010a', '2a8648ce3d0201', '2b6570', '2b6571']);
/** A DER element's content start and end at `at`, or null (definite lengths up to 4 bytes only, as keys use). */
function derElement(der: Buffer, at: number, tag: number): { start: number; end: number } | null {
  if (at + 2 > der.length || der[at] !== tag) return null;
  let len = der[at + 1];
  let start = at + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || start + n > der.length) return null;
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + der[start + i];
    start += n;
  }
  return start + len <= der.length ? { start, end: start + len } : null;
}
/** The algorithm OID (hex) of a PKCS#8 private key (`skipVersion`) or an SPKI public key, or null. */
function algorithmOf(der: Buffer, skipVersion: boolean): string | null {
  const outer = derElement(der, 0, 0x30);
  if (!outer) return null;
  let at = outer.start;
  if (skipVersion) {
    const version = derElement(der, at, 0x02);
    if (!version) return null;
    at = version.end;
  }
  const algId = derElement(der, at, 0x30);
  const oid = algId && derElement(der, algId.start, 0x06);
  return oid ? der.subarray(oid.start, oid.end).toString('hex') : null;
}
/**
 * The byte lengths of an RSA key's modulus and public exponent, read from its DER without
 * OpenSSL: PKCS#1 (`at` the RSAPublicKey or, `withVersion`, the RSAPrivateKey), or null when the
 * structure is not there (OpenSSL then refuses it).
 */
function rsaSizes(der: Buffer, at: number, withVersion: boolean): { n: number; e: number } | null {
  const seq = derElement(der, at, 0x30);
  if (!seq) return null;
  let p = seq.start;
  if (withVersion) { const v = derElement(der, p, 0x02); if (!v) return null; p = v.end; }
  const n = derElement(der, p, 0x02);
  const e = n && derElement(der, n.end, 0x02);
  return n && e ? { n: n.end - n.start, e: e.end - e.start } : null;
}
/**
 * RSA's modulus up to 4096 bits (513 bytes with its sign byte), its exponent up to 64 bits: a
 * 47 KB exponent cost 0.3 s of host time to read back (asymmetricKeyDetails). Fails closed: a
 * key whose structure does not read as plain DER here (indefinite or over-long lengths, which
 * OpenSSL's BER reader would still take) is refused too.
 */
function vetRsaSizes(s: { n: number; e: number } | null): void {
  if (s === null) throw unsupportedKey('Unsupported key (its RSA structure is not plain DER)');
  if (s.n > 513 || s.e > 8) throw unsupportedKey('Unsupported key');
}
/** An SPKI's or a PKCS#8's RSA key (rsaEncryption or RSASSA-PSS), found under its algorithm, `at` where the SPKI or PKCS#8 starts. */
function vetWrappedRsa(der: Buffer, privateKey: boolean, at0 = 0): void {
  const outer = derElement(der, at0, 0x30);
  if (!outer) return vetRsaSizes(null);
  let at = outer.start;
  if (privateKey) { const v = derElement(der, at, 0x02); if (!v) return vetRsaSizes(null); at = v.end; }
  const algId = derElement(der, at, 0x30);
  if (!algId) return vetRsaSizes(null);
  if (privateKey) {
    const oct = derElement(der, algId.end, 0x04);
    vetRsaSizes(oct ? rsaSizes(der, oct.start, true) : null);
  } else {
    const bits = derElement(der, algId.end, 0x03);
    vetRsaSizes(bits ? rsaSizes(der, bits.start + 1, false) : null);
  }
}
/**
 * A certificate's public key: its subjectPublicKeyInfo, found by walking tbsCertificate
 * ([0] version, serial, signature algorithm, issuer, validity, subject); an RSA one is vetted as
 * an SPKI. A certificate that does not read as DER up to there is refused.
 */
function vetCertificate(der: Buffer): void {
  const cert = derElement(der, 0, 0x30);
  const tbs = cert && derElement(der, cert.start, 0x30);
  if (!tbs) throw unsupportedKey('Unsupported key (a certificate that is not plain DER)');
  let at = tbs.start;
  const version = derElement(der, at, 0xa0);
  if (version) at = version.end;
  const serial = derElement(der, at, 0x02);
  if (!serial) throw unsupportedKey('Unsupported key (a certificate that is not plain DER)');
  at = serial.end;
  for (let i = 0; i < 4; i++) {
    const el = derElement(der, at, 0x30);
    if (!el) throw unsupportedKey('Unsupported key (a certificate that is not plain DER)');
    at = el.end;
  }
  const spki = derElement(der, at, 0x30);
  if (!spki) throw unsupportedKey('Unsupported key (a certificate that is not plain DER)');
  const alg = algorithmOf(der.subarray(at, spki.end), false);
  // The same algorithms as a PUBLIC KEY (OpenSSL also reads older RSA identifiers, 2.5.8.1.1,
  // which would skip the size check below).
  if (alg === null || !KEY_ALGORITHMS.has(alg)) throw unsupportedKey('Unsupported key algorithm');
  if (alg === '2a864886f70d010101' || alg === '2a864886f70d01010a') vetWrappedRsa(der, false, at);
}
/**
 * Vets a PEM key BEFORE OpenSSL parses it. Parsing a private key can compute with it: a DSA
 * key's public value is g^x mod p, and nothing caps p, so a 32 KB DSA key kept one host call
 * busy for minutes, where the isolate's timeout cannot reach. One PEM block, a label that names
 * a supported kind, and for PKCS#8 and SPKI an algorithm Gatehouse takes; certificates (their
 * public key is only read, never computed) and the type-specific RSA and EC labels pass as is.
 */
function vetPem(pem: string): void {
  if (pem.includes('ENCRYPTED')) throw unsupportedKey('Encrypted keys are not supported');
  // No PEM block at all: OpenSSL's PEM reader refuses it without computing anything (Node's error, then).
  if (!pem.includes('-----BEGIN')) return;
  const blocks = [...pem.matchAll(/-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g)];
  if (blocks.length !== 1 || pem.split('-----BEGIN').length !== 2) throw unsupportedKey('One PEM key is expected');
  // 'Unsupported key algorithm' (before parsing) is worded apart from 'Unsupported key' (after).
  const [, label, body] = blocks[0];
  if (label === 'EC PRIVATE KEY') return;
  const der = Buffer.from(body.replace(/\s+/g, ''), 'base64');
  if (label === 'CERTIFICATE') { vetCertificate(der); return; }
  if (label === 'RSA PRIVATE KEY' || label === 'RSA PUBLIC KEY') { vetRsaSizes(rsaSizes(der, 0, label === 'RSA PRIVATE KEY')); return; }
  if (label !== 'PRIVATE KEY' && label !== 'PUBLIC KEY') throw unsupportedKey(`Unsupported key algorithm (${label.slice(0, 40)})`);
  const alg = algorithmOf(der, label === 'PRIVATE KEY');
  if (alg === null || !KEY_ALGORITHMS.has(alg)) throw unsupportedKey('Unsupported key algorithm');
  if (alg === '2a864886f70d010101' || alg === '2a864886f70d01010a') vetWrappedRsa(der, label === 'PRIVATE KEY');
}
/** A PEM key the sandbox may use (no passphrase: decrypting a key runs a KDF the isolate cannot time). */
/**
 * A public JWK as Node.js takes it (createPublicKey({ key, format: 'jwk' })): RSA, EC or OKP,
 * public members only, each a bounded base64url string. A private member (`d`, RSA's primes) is
 * refused: importing a private RSA JWK without its CRT values has OpenSSL compute them.
 */
const JWK_FIELDS: Record<string, string[]> = { RSA: ['n', 'e'], EC: ['crv', 'x', 'y'], OKP: ['crv', 'x'] };
function jwkKey(json: string): KeyObject {
  let j: unknown;
  try { j = JSON.parse(json); } catch { throw new Refusal('bad jwk'); }
  if (j === null || typeof j !== 'object' || Array.isArray(j)) throw new Refusal('bad jwk');
  const o = j as Record<string, unknown>;
  const fields = typeof o.kty === 'string' && Object.hasOwn(JWK_FIELDS, o.kty) ? JWK_FIELDS[o.kty] : undefined;
  if (fields === undefined) throw unsupportedKey(`Unsupported JWK key type ${typeof o.kty === 'string' ? o.kty.slice(0, 20) : ''}`);
  if ('d' in o || 'p' in o || 'q' in o) throw unsupportedKey('Private JWKs are not supported');
  const key: Record<string, string> = { kty: o.kty as string };
  for (const f of fields) {
    const v = o[f];
    if (typeof v !== 'string' || v.length > 1024 || !/^[A-Za-z0-9_-]+$/.test(v)) throw Object.assign(new TypeError(`Invalid JWK ${o.kty as string} public key`), { code: 'ERR_CRYPTO_INVALID_JWK' });
    key[f] = v;
  }
  return createPublicKey({ key, format: 'jwk' } as never);
}
function pemKey(p: Record<string, unknown>, kind: 'private' | 'public'): KeyObject {
  let k: KeyObject;
  if (kind === 'public' && typeof p.jwk === 'string' && p.jwk.length <= 8192) k = jwkKey(p.jwk);
  else {
    if (typeof p.key !== 'string' || p.key.length > 65536) throw new Refusal('bad key');
    vetPem(p.key);
    k = kind === 'private' ? createPrivateKey({ key: p.key, format: 'pem' }) : createPublicKey({ key: p.key, format: 'pem' });
  }
  const d = k.asymmetricKeyDetails ?? {};
  // RSA from 512 to 4096 bits (a JWK's `n: 'AA'` would import as a 0-bit key), exponent odd and at least 3.
  const ok = k.asymmetricKeyType === 'rsa' || k.asymmetricKeyType === 'rsa-pss'
    ? (d.modulusLength ?? Infinity) <= 4096 && (d.modulusLength ?? 0) >= 512 && (d.publicExponent === undefined || (d.publicExponent >= 3n && d.publicExponent % 2n === 1n))
    : k.asymmetricKeyType === 'ec' ? CURVES.has(String(d.namedCurve))
      : k.asymmetricKeyType === 'ed25519' || k.asymmetricKeyType === 'ed448';
  if (!ok) throw Object.assign(new TypeError(`Unsupported key: ${KEY_SUPPORT}`), { code: 'ERR_FEATURE_UNAVAILABLE' });
  return k;
}
function signOptions(p: Record<string, unknown>, key: KeyObject) {
  const alg = p.alg === null || p.alg === undefined || p.alg === '' ? null : String(p.alg);
  if (alg !== null && !SIGN_HASHES.has(alg)) throw new Refusal('bad algorithm');
  const o: { key: KeyObject; dsaEncoding?: 'der' | 'ieee-p1363'; padding?: number; saltLength?: number } = { key };
  if (p.dsaEncoding === 'ieee-p1363' || p.dsaEncoding === 'der') o.dsaEncoding = p.dsaEncoding;
  if (typeof p.padding === 'number') o.padding = p.padding;
  if (typeof p.saltLength === 'number') o.saltLength = p.saltLength;
  return { alg, o };
}
function cipherOp(p: Record<string, unknown>, data: Buffer, aad: string): string {
  const alg = String(p.alg);
  if (!CIPHERS.has(alg)) throw Object.assign(new Error(`Unknown cipher (Gatehouse has AES-128/192/256 in CBC, ECB, CTR and GCM)`), { code: 'ERR_CRYPTO_UNKNOWN_CIPHER' });
  const gcm = alg.endsWith('-gcm');
  const key = hex(p.key);
  const iv = p.iv === null ? null : hex(p.iv);
  const tagLength = typeof p.authTagLength === 'number' ? p.authTagLength : undefined;
  const opts = gcm && tagLength !== undefined ? { authTagLength: tagLength } : undefined;
  const c = p.decrypt === true ? createDecipheriv(alg, key, iv, opts as never) : createCipheriv(alg, key, iv, opts as never);
  if (p.autoPadding === false) c.setAutoPadding(false);
  // The AAD travels as its own argument: up to 512 KB of it as hex fills one (MAX_ARG).
  if (gcm && aad !== '') (c as CipherGCM).setAAD(hex(aad));
  if (gcm && p.decrypt === true && typeof p.tag === 'string' && p.final === true) (c as DecipherGCM).setAuthTag(hex(p.tag));
  const parts = [c.update(data)];
  if (p.final === true) parts.push(c.final());
  const out: { out: string; tag?: string } = { out: Buffer.concat(parts).toString('hex') };
  if (gcm && p.decrypt !== true && p.final === true) out.tag = (c as CipherGCM).getAuthTag().toString('hex');
  return JSON.stringify(out);
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
      case 'package':
        return packageBundle(a);
      case 'package.from':
        return packageBundleFrom(a, b);
      case 'digest':
        if (!HASHES.has(a) || !HEX.test(b)) return '';
        return createHash(a).update(Buffer.from(b, 'hex')).digest('hex');
      case 'hmac.raw':
        if (!HASHES.has(a) || b === '' || !HEX.test(b) || !HEX.test(c)) return '';
        return createHmac(a, Buffer.from(b, 'hex')).update(Buffer.from(c, 'hex')).digest('hex');
      case 'key': case 'sign': case 'verify': case 'cipher':
        try {
          const p = params(a);
          if (op === 'key') {
            // The key's PEM in every encoding Node.js would export it in (KeyObject.export's `type`).
            const k = pemKey(p, p.public === true ? 'public' : 'private');
            const t = k.asymmetricKeyType;
            const types = k.type === 'public' ? ['spki', ...(t === 'rsa' ? ['pkcs1'] : [])] : ['pkcs8', ...(t === 'rsa' ? ['pkcs1'] : t === 'ec' ? ['sec1'] : [])];
            const pem: Record<string, string> = {};
            for (const type of types) pem[type] = k.export({ type, format: 'pem' } as never) as string;
            // KeyObject.asymmetricKeyDetails, the exponent as decimal text (a bigint in Node.js).
            const d = k.asymmetricKeyDetails ?? {};
            const details: Record<string, string | number> = {};
            if (typeof d.modulusLength === 'number') details.modulusLength = d.modulusLength;
            if (typeof d.publicExponent === 'bigint') details.publicExponent = d.publicExponent.toString();
            for (const f of ['namedCurve', 'hashAlgorithm', 'mgf1HashAlgorithm'] as const) if (typeof d[f] === 'string') details[f] = d[f];
            if (typeof d.saltLength === 'number') details.saltLength = d.saltLength;
            return JSON.stringify({ type: k.type, asymmetricKeyType: t, details, pem });
          }
          if (op === 'sign') {
            const { alg, o } = signOptions(p, pemKey(p, 'private'));
            return JSON.stringify({ sig: sign(alg, hex(b), o).toString('hex') });
          }
          if (op === 'verify') {
            // A private key is taken too (its public half verifies), as Node.js does.
            const { alg, o } = signOptions(p, pemKey(p, 'public'));
            return JSON.stringify({ ok: verify(alg, hex(b), o, hex(c)) });
          }
          return cipherOp(p, hex(b), c);
        } catch (e) {
          return e instanceof Refusal ? '' : errorJson(e);
        }
      default:
        return '';
    }
  } catch {
    return '';
  }
}
