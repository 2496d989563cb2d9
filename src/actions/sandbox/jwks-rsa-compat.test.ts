/**
 * require('jwks-rsa') in the sandbox against the real jwks-rsa 3, both reading one JWKS from a
 * local server: the signing keys each finds (kid, alg, SPKI PEM), the errors (no kid with
 * several keys, an unknown kid, no signing keys, an HTTP error), and in the sandbox the use it
 * exists for: jsonwebtoken's verify with a getKey callback over a token another issuer signed;
 * the cache (one JWKS request for repeated lookups) and the rate limit.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { createSandboxPool, type SandboxPool } from './index.ts';
import { LIMITS, claims, postLogin, request } from './test-support.ts';

const require = createRequire(import.meta.url);
const realJwks = require('jwks-rsa') as (o: object) => { getSigningKeys(): Promise<{ kid?: string; alg?: string; getPublicKey(): string }[]>; getSigningKey(kid?: string | null): Promise<{ kid?: string; getPublicKey(): string }> };
const jwt = require('jsonwebtoken') as { sign(p: object, k: KeyObject, o: object): string };

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const ed = generateKeyPairSync('ed25519');
const jwk = (k: KeyObject, extra: object) => ({ ...(k.export({ format: 'jwk' }) as object), ...extra });
const JWKS = {
  keys: [
    jwk(rsa.publicKey, { kid: 'rsa-1', use: 'sig', alg: 'RS256' }),
    jwk(ec.publicKey, { kid: 'ec-1' }),
    jwk(ed.publicKey, { kid: 'ed-1', use: 'sig' }),
    jwk(rsa.publicKey, { kid: 'enc-1', use: 'enc' }),
    { kty: 'oct', kid: 'sym', k: 'c2VjcmV0' },
    { kty: 'EC', kid: 'no-alg', crv: 'P-999', x: 'AA', y: 'AA' },
  ],
};
const ONE = { keys: [JWKS.keys[0]] };

let server: http.Server;
let base = '';
let hits = 0;
let pool: SandboxPool;
before(async () => {
  server = http.createServer((req, res) => {
    hits++;
    const body = req.url === '/jwks.json' ? JWKS : req.url === '/one.json' ? ONE : req.url === '/empty.json' ? { keys: [] } : req.url === '/enc-only.json' ? { keys: [JWKS.keys[3]] } : null;
    if (body === null) { res.writeHead(404, { 'content-type': 'text/plain' }).end('no'); return; }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  pool = createSandboxPool({ workers: 1, fetchAllow: [new URL(base).host] });
});
after(async () => {
  await pool?.close();
  await new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); });
});

const limits = { ...LIMITS, actionTimeoutMs: 8000, chainTimeoutMs: 10_000, resultBytes: 1 << 20 };
async function inSandbox(body: string): Promise<Record<string, unknown>> {
  const r = await pool.runChain(request([postLogin(`const jwksClient = require('jwks-rsa'); const BASE = ${JSON.stringify(base)};\n${body}`)], { limits }));
  assert.equal(r.status, 'ok', JSON.stringify(r.results[0]?.error));
  return claims(r);
}
const errOf = async (p: Promise<unknown>) => { try { await p; return 'no error'; } catch (e) { return `${(e as Error).name}: ${(e as Error).message}`; } };

describe('jwks-rsa: the sandbox matches the real module', () => {
  test('the signing keys of a JWKS: which keys, their kid, alg and SPKI PEM', async () => {
    const real = JSON.parse(JSON.stringify((await realJwks({ jwksUri: `${base}/jwks.json` }).getSigningKeys()).map((k) => ({ kid: k.kid, alg: k.alg, pem: k.getPublicKey() })))) as { kid: string }[];
    const c = await inSandbox(`const keys = await jwksClient({ jwksUri: BASE + '/jwks.json' }).getSigningKeys();
      api.idToken.setCustomClaim('keys', keys.map((k) => ({ kid: k.kid, alg: k.alg, pem: k.getPublicKey(), same: k.publicKey === k.rsaPublicKey })));`);
    assert.deepEqual((c.keys as { same: boolean }[]).map((k) => k.same), real.map(() => true));
    assert.deepEqual((c.keys as object[]).map(({ same: _, ...k }: any) => k), real);
    assert.deepEqual(real.map((k) => k.kid), ['rsa-1', 'ec-1', 'ed-1'], 'the encryption and symmetric keys and the unknown curve are left out');
  });

  test('errors: no kid among several keys, an unknown kid, no keys, no signing keys, an HTTP error', async () => {
    const cases: [string, string | null][] = [['/jwks.json', null], ['/jwks.json', 'nope'], ['/empty.json', 'x'], ['/enc-only.json', 'enc-1'], ['/missing.json', 'x']];
    const real = [];
    for (const [path, kid] of cases) real.push(await errOf(realJwks({ jwksUri: base + path, cache: false }).getSigningKey(kid)));
    const c = await inSandbox(`const out = [];
      for (const [path, kid] of ${JSON.stringify(cases)}) { try { await jwksClient({ jwksUri: BASE + path, cache: false }).getSigningKey(kid); out.push('no error'); } catch (e) { out.push(e.name + ': ' + e.message); } }
      api.idToken.setCustomClaim('errors', out);`);
    assert.deepEqual(c.errors, real);
  });

  test('no kid with a single key gives that key', async () => {
    const real = await realJwks({ jwksUri: `${base}/one.json` }).getSigningKey(undefined);
    const c = await inSandbox(`const k = await jwksClient({ jwksUri: BASE + '/one.json' }).getSigningKey(); api.idToken.setCustomClaim('kid', k.kid);`);
    assert.equal(c.kid, real.kid);
  });
});

describe('jwks-rsa in an action', () => {
  test('verifies another issuer\'s token with jsonwebtoken and a getKey callback; a token signed by another key is refused', async () => {
    const good = jwt.sign({ sub: 'ext-user', iss: 'https://idp.example/' }, rsa.privateKey, { algorithm: 'RS256', keyid: 'rsa-1', expiresIn: 300 });
    const ecToken = jwt.sign({ sub: 'ec-user' }, ec.privateKey, { algorithm: 'ES256', keyid: 'ec-1' });
    const forged = jwt.sign({ sub: 'ext-user' }, generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey, { algorithm: 'RS256', keyid: 'rsa-1' });
    const c = await inSandbox(`const jwt = require('jsonwebtoken');
      const client = jwksClient({ jwksUri: BASE + '/jwks.json' });
      const getKey = (header, cb) => client.getSigningKey(header.kid, (err, key) => cb(err, key && key.getPublicKey()));
      const check = (tok) => new Promise((resolve) => jwt.verify(tok, getKey, { issuer: undefined }, (err, p) => resolve(err ? err.name + ': ' + err.message : p.sub)));
      api.idToken.setCustomClaim('results', [await check(${JSON.stringify(good)}), await check(${JSON.stringify(ecToken)}), await check(${JSON.stringify(forged)})]);`);
    assert.deepEqual(c.results, ['ext-user', 'ec-user', 'JsonWebTokenError: invalid signature']);
  });

  test('the cache answers repeated lookups without asking the JWKS again; the rate limit refuses past its budget', async () => {
    hits = 0;
    const c = await inSandbox(`
      const cached = jwksClient({ jwksUri: BASE + '/jwks.json' });
      for (let i = 0; i < 5; i++) await cached.getSigningKey('rsa-1');
      const uncached = jwksClient({ jwksUri: BASE + '/jwks.json', cache: false, rateLimit: true, jwksRequestsPerMinute: 2 });
      const out = [];
      for (let i = 0; i < 3; i++) { try { await uncached.getSigningKey('ec-1'); out.push('ok'); } catch (e) { out.push(e.name); } }
      const together = jwksClient({ jwksUri: BASE + '/jwks.json' });
      await Promise.all([1, 2, 3, 4].map(() => together.getSigningKey('ed-1')));
      api.idToken.setCustomClaim('limited', out);`);
    assert.deepEqual(c.limited, ['ok', 'ok', 'JwksRateLimitError']);
    assert.equal(hits, 4, 'one request for the five cached lookups, two for the rate-limited client, one for four lookups at once');
  });

  // Node.js itself imports { kty: 'RSA', n: '!!' } as a 0-bit key (it decodes what base64url it
  // finds); Gatehouse refuses members that are not base64url, and private JWKs.
  test('createPublicKey takes a public JWK and refuses a private one', async () => {
    const priv = rsa.privateKey.export({ format: 'jwk' });
    const c = await inSandbox(`const crypto = require('crypto');
      const pub = crypto.createPublicKey({ key: ${JSON.stringify(JWKS.keys[0])}, format: 'jwk' });
      let privErr; try { crypto.createPublicKey({ key: ${JSON.stringify(priv)}, format: 'jwk' }); } catch (e) { privErr = e.message; }
      let badErr; try { crypto.createPublicKey({ key: { kty: 'RSA', n: '!!', e: 'AQAB' }, format: 'jwk' }); } catch (e) { badErr = e.code; }
      let privKeyErr; try { crypto.createPrivateKey({ key: ${JSON.stringify(priv)}, format: 'jwk' }); } catch (e) { privKeyErr = e.message; }
      const refused = [{ kty: 'toString', n: 'AA', e: 'AQAB' }, { kty: 'RSA', n: 'AA', e: 'AQAB' }, { kty: 'RSA', n: '', e: 'AQAB' }, { kty: 'RSA', n: ${JSON.stringify((JWKS.keys[0] as { n: string }).n)}, e: 'AQ' }]
        .map((key) => { try { crypto.createPublicKey({ key, format: 'jwk' }); return 'imported'; } catch (e) { return e.message; } });
      api.idToken.setCustomClaim('r', { pem: pub.export({ type: 'spki', format: 'pem' }), type: pub.type, privErr, badErr, privKeyErr, refused });`);
    const r = c.r as Record<string, string>;
    assert.equal(r.pem, rsa.publicKey.export({ type: 'spki', format: 'pem' }));
    assert.equal(r.type, 'public');
    assert.match(r.privErr, /Private JWKs are not supported/);
    assert.equal(r.badErr, 'ERR_CRYPTO_INVALID_JWK');
    assert.match(r.privKeyErr, /JWKs for public keys only/);
    const [proto, zeroBits, empty, exponentOne] = r.refused as unknown as string[];
    assert.match(proto, /Unsupported JWK key type/, 'an inherited name is no key type');
    assert.match(zeroBits, /Unsupported key/, 'a 0-bit modulus');
    assert.match(empty, /Invalid JWK RSA public key/);
    assert.match(exponentOne, /Unsupported key/, 'an exponent of 1');
  });
});
