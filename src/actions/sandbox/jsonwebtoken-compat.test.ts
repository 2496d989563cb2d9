/**
 * Differential test of the guest prelude's jsonwebtoken stand-in: every snippet is evaluated in
 * this Node.js process with the real jsonwebtoken 9 and inside the sandbox (one post-login action
 * runs them all and sets the results as one ID-token claim); the two JSON values must be equal.
 * A snippet that throws is compared by the error's name and message (jsonwebtoken's messages
 * are what actions test for). Signatures that are not deterministic (ES, PS) are compared by
 * what verifying them gives, on both sides and across: a token signed in the sandbox verifies
 * with the real module and the other way round.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { createHmac, generateKeyPairSync } from 'node:crypto';
import { createSandboxPool, type SandboxPool } from './index.ts';
import { LIMITS, bothSides, claims, postLogin, request, snippetLoop, snippetTests } from './test-support.ts';

const js = String.raw;
const pem = (kind: 'rsa' | 'ec' | 'rsa-pss', o: Record<string, unknown>) => {
  const k = generateKeyPairSync(kind as 'rsa', { ...o, publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } } as never) as unknown as { publicKey: string; privateKey: string };
  return { pub: k.publicKey, priv: k.privateKey };
};
const K = {
  rsa: pem('rsa', { modulusLength: 2048 }),
  rsa2: pem('rsa', { modulusLength: 2048 }),
  rsaSmall: pem('rsa', { modulusLength: 1024 }),
  p256: pem('ec', { namedCurve: 'P-256' }),
  p384: pem('ec', { namedCurve: 'P-384' }),
  p521: pem('ec', { namedCurve: 'P-521' }),
};
const NOW = 1_800_000_000;

/** [name, JavaScript expression]; may use jwt, K (the keys), NOW, t(fn), v(token, key, opts) (see HARNESS). */
const SNIPPETS: [string, string][] = [
  // ---- sign, deterministic: the token itself
  ['HS256 with iat', js`jwt.sign({ sub: 'u1', n: 1 }, 'shhh', { noTimestamp: false, header: { kid: 'k1' } , expiresIn: 60 }).split('.').length`],
  ['HS256 exact token', js`jwt.sign({ sub: 'u1', iat: NOW }, 'shhh')`],
  ['HS384 / HS512 exact tokens', js`['HS384', 'HS512'].map((algorithm) => jwt.sign({ a: [1, 'é'], iat: NOW }, 'shhh', { algorithm }))`],
  ['claims from options', js`jwt.decode(jwt.sign({ iat: NOW }, 's', { expiresIn: '2h', notBefore: '10m', audience: ['a', 'b'], issuer: 'https://i/', subject: 's1', jwtid: 'j1', keyid: 'kid-1' }), { complete: true })`],
  ['timespans', js`['1d', '20h', '90s', '1.5h', '7 days', '2 weeks', '1y', '100', '-10m', 60, 0].map((e) => t(() => jwt.decode(jwt.sign({ iat: NOW }, 's', { expiresIn: e })).exp))`],
  ['a timespan over 100 characters', js`[t(() => jwt.sign({ iat: NOW }, 's', { expiresIn: '1'.repeat(101) })), v(jwt.sign({ iat: NOW }, 's'), 's', { maxAge: '1'.repeat(101) })]`],
  ['bad timespans', js`[t(() => jwt.sign({ iat: NOW }, 's', { expiresIn: 'soon' })), t(() => jwt.sign({ iat: NOW }, 's', { expiresIn: 1.5 })), t(() => jwt.sign({ iat: NOW }, 's', { expiresIn: '' })), t(() => jwt.sign({ iat: NOW }, 's', { notBefore: {} }))]`],
  ['noTimestamp', js`jwt.decode(jwt.sign({ x: 1, iat: NOW }, 's', { noTimestamp: true }))`],
  ['string and Buffer payloads', js`[jwt.sign('hello', 's'), jwt.sign(Buffer.from('{"a":1}'), 's'), t(() => jwt.sign('hello', 's', { expiresIn: 60 }))]`],
  ['RS256 exact token (PKCS#1 v1.5 is deterministic)', js`jwt.sign({ sub: 'u', iat: NOW }, K.rsa.priv, { algorithm: 'RS256' })`],
  ['RS384 / RS512 exact tokens', js`['RS384', 'RS512'].map((algorithm) => jwt.sign({ iat: NOW }, K.rsa.priv, { algorithm }))`],
  ['a Buffer secret and a Buffer key', js`[jwt.sign({ iat: NOW }, Buffer.from('shhh')), jwt.sign({ iat: NOW }, Buffer.from(K.rsa.priv), { algorithm: 'RS256' })]`],
  ['a KeyObject', js`jwt.sign({ iat: NOW }, require('crypto').createPrivateKey(K.rsa.priv), { algorithm: 'RS256' })`],
  // ---- sign, refused
  ['no secret', js`[t(() => jwt.sign({}, '')), t(() => jwt.sign({}, null)), t(() => jwt.sign({}, undefined, { algorithm: 'HS256' }))]`],
  ['a secret for RS256, a key for HS256', js`[t(() => jwt.sign({}, 'shhh', { algorithm: 'RS256' })), t(() => jwt.sign({}, K.rsa.priv, { algorithm: 'HS256' }))]`],
  ['a public key to sign', js`t(() => jwt.sign({}, K.rsa.pub, { algorithm: 'RS256' }))`],
  ['a key of the wrong type for the alg', js`[t(() => jwt.sign({}, K.rsa.priv, { algorithm: 'ES256' })), t(() => jwt.sign({}, K.p256.priv, { algorithm: 'RS256' }))]`],
  ['a curve that is not the alg\'s', js`t(() => jwt.sign({}, K.p384.priv, { algorithm: 'ES256' }))`],
  ['RSA under 2048 bits', js`[t(() => jwt.sign({ iat: NOW }, K.rsaSmall.priv, { algorithm: 'RS256' })), jwt.sign({ iat: NOW }, K.rsaSmall.priv, { algorithm: 'RS256', allowInsecureKeySizes: true }).length]`],
  ['unknown or invalid options', js`[t(() => jwt.sign({}, 's', { foo: 1 })), t(() => jwt.sign({}, 's', { algorithm: 'HS999' })), t(() => jwt.sign({}, 's', { audience: 5 })), t(() => jwt.sign({}, 's', { header: 'x' }))]`],
  ['bad registered claims', js`[t(() => jwt.sign({ exp: 'soon' }, 's')), t(() => jwt.sign({ iat: '1' }, 's')), t(() => jwt.sign({ nbf: null }, 's'))]`],
  ['options clashing with the payload', js`[t(() => jwt.sign({ exp: 1 }, 's', { expiresIn: 5 })), t(() => jwt.sign({ aud: 'x' }, 's', { audience: 'y' })), t(() => jwt.sign({ sub: 'x' }, 's', { subject: 'y' }))]`],
  ['no payload', js`t(() => jwt.sign(undefined, 's'))`],
  ['a callback', js`new Promise((resolve) => jwt.sign({ iat: NOW }, 'shhh', (err, tok) => resolve([err, tok])))`],
  ['a callback gets the error', js`new Promise((resolve) => jwt.sign({}, 'shhh', { algorithm: 'RS256' }, (err, tok) => resolve([err && err.message, tok])))`],
  // ---- verify
  ['verify HS256', js`v(jwt.sign({ sub: 'u', iat: NOW, exp: NOW + 60 }, 'shhh'), 'shhh', { clockTimestamp: NOW })`],
  ['verify, complete', js`v(jwt.sign({ iat: NOW }, 'shhh', { keyid: 'k' }), 'shhh', { complete: true, clockTimestamp: NOW })`],
  ['wrong secret', js`v(jwt.sign({ iat: NOW }, 'shhh'), 'other', { clockTimestamp: NOW })`],
  ['tampered payload', js`(tok => v(tok.split('.')[0] + '.' + Buffer.from('{"admin":true}').toString('base64url') + '.' + tok.split('.')[2], 'shhh', {}))(jwt.sign({ iat: NOW }, 'shhh'))`],
  ['expired, within tolerance, ignored', js`(tok => [v(tok, 's', { clockTimestamp: NOW + 61 }), v(tok, 's', { clockTimestamp: NOW + 61, clockTolerance: 5 }), v(tok, 's', { clockTimestamp: NOW + 61, ignoreExpiration: true }), v(tok, 's', { clockTimestamp: NOW + 60 })])(jwt.sign({ iat: NOW }, 's', { expiresIn: 60 }))`],
  ['not before', js`(tok => [v(tok, 's', { clockTimestamp: NOW }), v(tok, 's', { clockTimestamp: NOW + 600 }), v(tok, 's', { clockTimestamp: NOW, ignoreNotBefore: true })])(jwt.sign({ iat: NOW }, 's', { notBefore: 600 }))`],
  ['audience, issuer, subject, jwtid, nonce', js`(tok => [v(tok, 's', { audience: 'a' }), v(tok, 's', { audience: ['x', 'b'] }), v(tok, 's', { audience: /^b/ }), v(tok, 's', { audience: 'z' }), v(tok, 's', { audience: ['y', 'z'] }),
    v(tok, 's', { issuer: 'https://i/' }), v(tok, 's', { issuer: ['x', 'https://i/'] }), v(tok, 's', { issuer: 'x' }), v(tok, 's', { subject: 's1' }), v(tok, 's', { subject: 's2' }),
    v(tok, 's', { jwtid: 'j1' }), v(tok, 's', { jwtid: 'j2' }), v(tok, 's', { nonce: 'n' }), v(tok, 's', { nonce: '' })])(jwt.sign({ iat: NOW, exp: NOW + 9e9 }, 's', { audience: ['a', 'b'], issuer: 'https://i/', subject: 's1', jwtid: 'j1' }))`],
  ['maxAge', js`(tok => [v(tok, 's', { maxAge: '1h', clockTimestamp: NOW + 100 }), v(tok, 's', { maxAge: 60, clockTimestamp: NOW + 100 }), v(tok, 's', { maxAge: 'later', clockTimestamp: NOW }), v(jwt.sign({}, 's', { noTimestamp: true }), 's', { maxAge: 60 })])(jwt.sign({ iat: NOW }, 's'))`],
  ['algorithms allowed', js`(tok => [v(tok, 's', { algorithms: ['HS256'] }), v(tok, 's', { algorithms: ['HS512'] }), v(tok, 's', { algorithms: ['RS256'] })])(jwt.sign({ iat: NOW }, 's'))`],
  ['alg none', js`(tok => [tok, v(tok, 's', {}), v(tok, undefined, {}), v(tok, undefined, { algorithms: ['none'] }), v(tok, '', { algorithms: ['none'] })])(jwt.sign({ iat: NOW }, undefined, { algorithm: 'none' }))`],
  ['a HS token checked with an RSA public key (algorithm confusion)', js`v(jwt.sign({ iat: NOW }, K.rsa.pub, { algorithm: 'HS256' }), K.rsa.pub, {})`],
  ['malformed tokens', js`['', 'a.b', 'a.b.c.d', 'x.y.z', 'e30.e30.', '!!.e30.sig', 'eyJhbGciOiJIUzI1NiJ9.bm90IGpzb24.sig', Buffer.from('a'), 5, null].map((tok) => v(tok, 's', {}))`],
  ['no key, bad key material', js`(tok => [v(tok, undefined, {}), v(tok, null, {}), v(tok, 5, {}), v(tok, {}, {})])(jwt.sign({ iat: NOW }, 's'))`],
  ['bad options', js`(tok => [v(tok, 's', { clockTimestamp: '5' }), v(tok, 's', { nonce: 5 }), v(tok, 's', { allowInvalidAsymmetricKeyTypes: 'yes' })])(jwt.sign({ iat: NOW }, 's'))`],
  ['bad exp and nbf values', js`[v(jwt.sign({ exp: 'x', iat: NOW }, 's', {}).replace(/x/, 'x'), 's', {}), v(jwt.sign(JSON.stringify({ exp: 'soon' }), 's', { header: { typ: 'JWT' } }), 's', {}), v(jwt.sign(JSON.stringify({ nbf: true }), 's', { header: { typ: 'JWT' } }), 's', {})]`],
  ['RS256 verify, and with the wrong key', js`(tok => [v(tok, K.rsa.pub, { clockTimestamp: NOW }), v(tok, K.rsa2.pub, {}), v(tok, K.rsa.priv, {}), v(tok, 'shhh', {}), v(tok, K.p256.pub, {})])(jwt.sign({ iat: NOW }, K.rsa.priv, { algorithm: 'RS256' }))`],
  ['PS256/384/512 round trips', js`['PS256', 'PS384', 'PS512'].map((algorithm) => v(jwt.sign({ iat: NOW }, K.rsa.priv, { algorithm }), K.rsa.pub, { clockTimestamp: NOW }))`],
  ['ES256/384/512 round trips', js`[['ES256', K.p256], ['ES384', K.p384], ['ES512', K.p521]].map(([algorithm, k]) => [jwt.sign({ iat: NOW }, k.priv, { algorithm }).split('.')[2].length, v(jwt.sign({ iat: NOW }, k.priv, { algorithm }), k.pub, { clockTimestamp: NOW })])`],
  ['ES256 against another curve\'s key', js`v(jwt.sign({ iat: NOW }, K.p256.priv, { algorithm: 'ES256' }), K.p384.pub, {})`],
  ['a KeyObject to verify', js`v(jwt.sign({ iat: NOW }, K.rsa.priv, { algorithm: 'RS256' }), require('crypto').createPublicKey(K.rsa.pub), {})`],
  ['verify with a key callback', js`new Promise((resolve) => jwt.verify(jwt.sign({ iat: NOW }, 'shhh', { keyid: 'k2' }), (header, cb) => cb(null, header.kid === 'k2' ? 'shhh' : 'no'), (err, p) => resolve([err && err.message, p])))`],
  ['a key callback that fails', js`new Promise((resolve) => jwt.verify(jwt.sign({ iat: NOW }, 'shhh'), (header, cb) => cb(new Error('no such key')), (err, p) => resolve([err && err.name, err && err.message, p])))`],
  ['a key callback without a callback', js`t(() => jwt.verify(jwt.sign({ iat: NOW }, 'shhh'), (h, cb) => cb(null, 'shhh')))`],
  ['a verify callback gets the error', js`new Promise((resolve) => jwt.verify('a.b', 's', (err, p) => resolve([err && err.name, err && err.message, p])))`],
  ['error classes', js`(e => [e instanceof jwt.TokenExpiredError, e instanceof jwt.JsonWebTokenError, e instanceof Error, e.name, e.expiredAt instanceof Date, typeof jwt.NotBeforeError])((() => { try { jwt.verify(jwt.sign({ iat: NOW, exp: NOW + 1 }, 's'), 's', { clockTimestamp: NOW + 5 }); } catch (e) { return e; } })())`],
  // ---- decode
  ['decode', js`(tok => [jwt.decode(tok), jwt.decode(tok, { complete: true }), jwt.decode(tok, { json: true })])(jwt.sign({ iat: NOW, a: 'é' }, 's', { keyid: 'k' }))`],
  ['decode, non-JSON and odd tokens', js`['x', 'a.b.c', 'e30.aGVsbG8.', 'eyJhbGciOiJub25lIn0.eyJhIjoxfQ.', 'eyJ0eXAiOiJKV1QifQ.bm9wZQ.c2ln', ''].map((tok) => t(() => jwt.decode(tok)))`],
];

/** Snippets whose results differ by design (none). */
const KNOWN_DIFF = new Set<string>([]);

const HARNESS = `return (async () => {
  'use strict';
  const jwt = require('jsonwebtoken');
  const threw = (e) => ({ threw: { name: e == null ? null : e.name ?? null, message: e == null ? null : e.message ?? null } });
  const t = (fn) => { try { return fn(); } catch (e) { return threw(e); } };
  const v = (tok, key, opts) => t(() => jwt.verify(tok, key, opts));
  const out = [];
  ${snippetLoop(SNIPPETS)}
  // Across: what each side signs, the other verifies.
  out.push(['(signed for the other side)', ['RS256', 'PS256', 'ES256', 'HS256'].map((alg) => jwt.sign({ iat: NOW, side: 1 }, alg === 'HS256' ? 'shhh' : alg === 'ES256' ? K.p256.priv : K.rsa.priv, { algorithm: alg }))]);
  return out;
})();`;

type Results = Map<string, unknown>;
let nodeResults: Results;
let sandboxResults: Results;
let pool: SandboxPool;
const realJwt = createRequire(import.meta.url)('jsonwebtoken') as { verify(t: string, k: string, o?: object): unknown };

before(async () => {
  pool = createSandboxPool({ workers: 1 });
  const limits = { actionTimeoutMs: 20_000, chainTimeoutMs: 30_000, memoryMb: 64, resultBytes: 1 << 20 };
  ({ node: nodeResults, sandbox: sandboxResults } = await bothSides(pool, HARNESS, { require: createRequire(import.meta.url), K, NOW, Buffer }, `const K = ${JSON.stringify(K)}, NOW = ${NOW};`, limits));
});
after(async () => { await pool?.close(); });

describe('the sandbox matches jsonwebtoken 9', () => {
  snippetTests(SNIPPETS, KNOWN_DIFF, () => ({ node: nodeResults, sandbox: sandboxResults }), 1);
  test('tokens signed in the sandbox verify with the real module, and the other way round', () => {
    const keyFor = (alg: string) => (alg === 'HS256' ? 'shhh' : alg === 'ES256' ? K.p256.pub : K.rsa.pub);
    const algs = ['RS256', 'PS256', 'ES256', 'HS256'];
    const fromSandbox = sandboxResults.get('(signed for the other side)') as string[];
    algs.forEach((alg, i) => assert.deepEqual(realJwt.verify(fromSandbox[i], keyFor(alg), { clockTimestamp: NOW }), { iat: NOW, side: 1 }, alg));
    // The other way: the real module's tokens were verified in the sandbox by the round-trip snippets above (RS256 exactly equal).
    assert.ok((nodeResults.get('(signed for the other side)') as string[]).length === 4);
  });
});

describe('a PEM Gatehouse does not take as a key is never an HMAC secret', () => {
  // jsonwebtoken takes key text that does not import as a key as an HMAC secret. A public key
  // Gatehouse refuses (over 4096 bits, another curve, two PEM blocks) must not become one: its
  // text is public, and an HS256 token keyed with it would verify.
  const pemOf = (kind: 'rsa' | 'ec', o: object) => (generateKeyPairSync(kind as 'rsa', { ...o, publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } } as never) as unknown as { publicKey: string; privateKey: string });
  const big = pemOf('rsa', { modulusLength: 4608 });
  const p224 = pemOf('ec', { namedCurve: 'P-224' });
  const cases: [string, string, string][] = [['RSA 4608-bit', big.publicKey, big.privateKey], ['EC P-224', p224.publicKey, p224.privateKey], ['two PEM blocks', K.rsa.pub + K.rsa2.pub, K.rsa.priv + K.rsa2.priv]];
  const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const forge = (secret: string) => { const input = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ sub: 'attacker', admin: true })}`; return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`; };
  test('verify refuses an HS256 token forged with the public key\'s text; sign refuses the private key', async () => {
    const r = await pool.runChain(request([postLogin(`
      const jwt = require('jsonwebtoken');
      const out = [];
      for (const [name, pub, priv, forged] of ${JSON.stringify(cases.map(([n, pub, priv]) => [n, pub, priv, forge(pub)]))}) {
        let v, s;
        try { v = jwt.verify(forged, pub); } catch (e) { v = e.name + ': ' + e.message; }
        try { s = jwt.sign({ a: 1 }, priv); } catch (e) { s = e.name + ': ' + e.message; }
        out.push([name, v, s]);
      }
      api.idToken.setCustomClaim('out', out);`)], { limits: { ...LIMITS, actionTimeoutMs: 20_000, chainTimeoutMs: 30_000, resultBytes: 1 << 20 } }));
    assert.equal(r.status, 'ok', JSON.stringify(r.results[0]?.error));
    for (const [name, verified, signed] of claims(r).out as [string, string, string][]) {
      assert.match(verified, /^JsonWebTokenError: secretOrPublicKey is a PEM block Gatehouse does not take as a key/, `${name}: ${verified}`);
      assert.match(signed, /^Error: secretOrPrivateKey is a PEM block Gatehouse does not take as a key/, `${name}: ${signed}`);
    }
  });
});
