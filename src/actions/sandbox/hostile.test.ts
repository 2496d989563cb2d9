/**
 * Hostile actions (SECURITY.md table D): each must end as a failure value, never crash or hang
 * the server, and leave the pool able to run a normal chain right after.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { createSandboxPool, type SandboxPool, type SandboxStatus } from './index.ts';
import { LIMITS, action, claims, expectHealthy, postLogin, request } from './test-support.ts';

const FAST = { ...LIMITS, actionTimeoutMs: 300, chainTimeoutMs: 1500, memoryMb: 24 };
const warnings: string[] = [];
let pool: SandboxPool;
before(() => {
  pool = createSandboxPool({
    workers: 2,
    logger: { warn: (_o, m) => { warnings.push(m); }, error: (_o, m) => { warnings.push(m); } },
  });
});
after(async () => { await pool.close(); });

async function expectFailure(code: string, statuses: SandboxStatus[], opts: { handlerBody?: boolean; maxMs?: number; limits?: typeof FAST } = {}) {
  const a = opts.handlerBody === false ? action(code) : postLogin(code);
  const t = performance.now();
  const r = await pool.runChain(request([a], { limits: opts.limits ?? FAST }));
  const ms = performance.now() - t;
  assert.ok(statuses.includes(r.status), `status ${r.status}: ${JSON.stringify(r)}`);
  assert.equal(r.results.length, 1);
  assert.equal(r.results[0].status, r.status);
  assert.equal(typeof r.results[0].error?.message, 'string');
  assert.ok(ms < (opts.maxMs ?? 3000), `took ${ms} ms`);
  await expectHealthy(pool);
  return r;
}

describe('CPU and the wall clock', () => {
  test('while(true){} at the module top level', async () => {
    await expectFailure('while (true) {}\nexports.onExecutePostLogin = async () => {};', ['timeout'], { handlerBody: false });
  });
  test('while(true){} in the handler', async () => {
    const r = await expectFailure('while (true) {}', ['timeout']);
    assert.match(r.results[0].error?.message ?? '', /time limit \(300 ms\)/);
  });
  test('a promise that never settles ends without waiting for the deadline', async () => {
    // Nothing left that could settle it (no timer, no fetch): ended at once, far before its 5 s limit.
    const r = await expectFailure(`console.log('waiting'); await new Promise(() => {});`, ['timeout'], { maxMs: 2500, limits: { ...FAST, actionTimeoutMs: 5000, chainTimeoutMs: 6000 } });
    assert.equal(r.results[0].logs, 'waiting\n');
  });
  test('an endless microtask loop', async () => {
    await expectFailure('for (;;) await null;', ['timeout']);
  });
  test('an interval that keeps the promise pending until the deadline', async () => {
    await expectFailure('await new Promise(() => setInterval(() => {}, 1));', ['timeout']);
  });
  test('for(;;) await api.x() fills the result and fails', async () => {
    await expectFailure(`for (;;) await api.idToken.setCustomClaim('x', 'y'.repeat(100));`, ['runtime', 'timeout']);
  });
  test('a looping getter on the thrown value', async () => {
    await expectFailure('throw { get message() { while (1) {} } };', ['timeout', 'runtime']);
  });
  test('a looping Error.prepareStackTrace', async () => {
    await expectFailure(`Error.prepareStackTrace = () => { while (1) {} }; const e = new Error('x'); console.log(e); throw e;`, ['timeout', 'runtime']);
    await expectFailure(`Error.prepareStackTrace = () => { while (1) {} }; throw new Error('x');`, ['timeout', 'runtime']);
  });
  test('returning an object with a looping getter (never read) or a looping then', async () => {
    const r = await pool.runChain(request([postLogin(`return { get x() { while (1) {} } };`)], { limits: FAST }));
    assert.equal(r.status, 'ok');
    await expectFailure(`return { get then() { while (1) {} } };`, ['timeout']);
  });
  test('a huge BigInt', async () => {
    await expectFailure('const x = 2n ** (2n ** 30n);', ['runtime', 'timeout', 'oom']);
  });
  test('Atomics.wait is not available', async () => {
    await expectFailure('Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);', ['runtime']);
  });
});

describe('memory', () => {
  test('an array push loop exhausts the isolate, not the server', async () => {
    const r = await expectFailure('const a = []; for (;;) a.push({ x: Math.random() });', ['oom'], { maxMs: 8000, limits: { ...FAST, actionTimeoutMs: 5000, chainTimeoutMs: 5000, memoryMb: 16 } });
    assert.equal(r.results[0].error?.name, 'MemoryLimitError');
  });
  test('an isolate disposed for its memory limit is rebuilt on the next execution', async () => {
    const a = action(`let runs = 0; exports.onExecutePostLogin = async (event, api) => {
      runs++;
      if (event.bomb) { const a = []; for (;;) a.push({ x: Math.random() }); }
      api.idToken.setCustomClaim('runs', runs);
    };`);
    const limits = { ...FAST, actionTimeoutMs: 5000, chainTimeoutMs: 5000, memoryMb: 16 };
    const ok1 = await pool.runChain(request([a], { limits }));
    assert.deepEqual(claims(ok1), { runs: 1 });
    const bomb = await pool.runChain(request([a], { limits, event: { bomb: true } }));
    assert.equal(bomb.status, 'oom');
    const ok2 = await pool.runChain(request([a], { limits }));
    assert.equal(ok2.status, 'ok');
    assert.ok([1, 2].includes(claims(ok2).runs as number)); // fresh isolate (or the other warm worker)
  });
  test("'x'.repeat(2**29)", async () => {
    await expectFailure(`'x'.repeat(2 ** 29);`, ['runtime', 'oom']);
  });
  test('new ArrayBuffer(2**31)', async () => {
    await expectFailure('new ArrayBuffer(2 ** 31);', ['runtime', 'oom']);
  });
  test('Array(1e9).fill(0) (kills the whole worker process: isolated-vm cannot contain it)', async () => {
    await expectFailure('Array(1e9).fill(0);', ['runtime', 'oom', 'timeout'], { maxMs: 5000 });
  });
  test('Buffer and require(\'crypto\') as memory bombs end in the isolate (their caps are errors, not host work)', async () => {
    const limits = { ...FAST, actionTimeoutMs: 5000, chainTimeoutMs: 5000, memoryMb: 16 };
    await expectFailure('Buffer.alloc(2 ** 31 - 1, 1);', ['runtime', 'oom'], { limits });
    await expectFailure('const a = []; for (;;) a.push(Buffer.alloc(1 << 20, 7));', ['oom', 'runtime'], { maxMs: 8000, limits });
    // Past the caps: a RangeError in the guest before anything reaches the host.
    const big = await expectFailure(`require('crypto').createHash('sha256').update(Buffer.alloc(600 * 1024));`, ['runtime']);
    assert.match(big.results[0].error?.message ?? '', /512 KB/);
    const rnd = await expectFailure(`require('crypto').randomBytes(2 ** 21);`, ['runtime']);
    assert.equal(rnd.results[0].error?.name, 'RangeError');
    // Many hashes in a loop are bounded by the action's time limit like any loop.
    await expectFailure(`const c = require('crypto'); for (;;) c.createHmac('sha512', 'k').update('x'.repeat(4096)).digest();`, ['timeout']);
  });
  test('tampered built-ins cannot hand the host more than its caps (bridge arguments are checked in the guest)', async () => {
    // Regression (review finding): isolated-vm copies a host call's arguments into the worker's
    // heap before the host can check them, outside the isolate's memory limit. Replacing
    // Array.prototype.join (digest's data), WeakMap.prototype.get (a key's state) or answering
    // a string then an array from a getter made the host copy 20,000 one-megabyte strings: the
    // worker grew to gigabytes until the deadline killed it (timeout, and the other chains of
    // its batch with it). Now the guest refuses anything but bounded strings, at once.
    const arr = `const big = 'x'.repeat(2 ** 20) + 'y'; const arr = new Array(20000).fill(big);`;
    const join = await pool.runChain(request([postLogin(`${arr} Array.prototype.join = () => arr;
      api.idToken.setCustomClaim('md5', require('crypto').createHash('md5').update('a').digest('hex'));`)], { limits: FAST }));
    assert.equal(join.status, 'ok', JSON.stringify(join.results[0]?.error));
    assert.equal(claims(join).md5, '0cc175b9c0f1b6a831c399e269772661', 'the tampered join never reaches what goes to the host');
    const forged = await expectFailure(`${arr} WeakMap.prototype.get = () => ({ hex: arr, hash: 'SHA-256', usages: ['sign'] });
      await crypto.subtle.sign('HMAC', {}, new Uint8Array(1));`, ['runtime']);
    assert.match(forged.results[0].error?.message ?? '', /not a CryptoKey/);
    // The getter is read once: the token is signed with the string it answered first.
    const r = await pool.runChain(request([postLogin(`${arr} let n = 0;
      const token = api.redirect.encodeToken({ get secret() { return n++ ? arr : 'k'; }, payload: { a: 1 } });
      api.idToken.setCustomClaim('t', [typeof token, token.split('.').length, n]);`)], { limits: FAST }));
    assert.equal(r.status, 'ok', JSON.stringify(r.results[0]?.error));
    assert.deepEqual(claims(r).t, ['string', 3, 1]);
    await expectHealthy(pool);
  });
  test('a loop of RSA signatures or AES over 512 KB ends at the time limit; a passphrase-protected key is refused before any KDF runs', async () => {
    const key = JSON.stringify(generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }));
    await expectFailure(`const c = require('crypto'); for (;;) c.sign('sha256', Buffer.alloc(64), ${key});`, ['timeout']);
    await expectFailure(`const c = require('crypto'); const k = Buffer.alloc(32), iv = Buffer.alloc(16), d = Buffer.alloc(512 * 1024);
      for (;;) { const x = c.createCipheriv('aes-256-cbc', k, iv); x.update(d); x.final(); }`, ['timeout', 'oom'], { limits: { ...FAST, memoryMb: 64 } });
    const enc = JSON.stringify(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'p' }));
    const r = await expectFailure(`require('crypto').sign('sha256', Buffer.alloc(1), { key: ${enc}, passphrase: 'p' });`, ['runtime']);
    assert.match(r.results[0].error?.message ?? '', /Encrypted keys are not supported by Gatehouse/);
    const r2 = await expectFailure(`require('crypto').sign('sha256', Buffer.alloc(1), ${enc});`, ['runtime']);
    assert.match(r2.results[0].error?.message ?? '', /Encrypted keys are not supported/);
  });
  test('unbounded recursion is a RangeError', async () => {
    const r = await expectFailure('function f() { f(); } f();', ['runtime']);
    assert.equal(r.results[0].error?.name, 'RangeError');
  });
});

describe('escape probes and strange throws', () => {
  test("require('fs'), process.exit(), import('fs')", async () => {
    await expectFailure(`require('fs');`, ['runtime']);
    const p = await expectFailure('process.exit(1);', ['runtime']);
    assert.equal(p.results[0].error?.name, 'ReferenceError');
    await expectFailure(`await import('fs');`, ['runtime']);
  });
  test("this.constructor.constructor('return process')()", async () => {
    const r = await expectFailure(`this.constructor.constructor('return process')().exit(1);`, ['runtime']);
    assert.deepEqual(r.results[0].error, { name: 'ReferenceError', message: 'process is not defined' });
  });
  test('throw null / 42 / Symbol() / a throwing Proxy / a string', async () => {
    const cases: [string, string][] = [
      ['throw null;', 'Action threw null'],
      ['throw 42;', 'Action threw 42'],
      ['throw Symbol("s");', 'Action threw a Symbol'],
      ['throw new Proxy({}, { get() { throw 1; } });', 'Action threw an unreadable value'],
      ['throw undefined;', 'Action threw undefined'],
      ["throw 'plain';", 'plain'],
    ];
    for (const [code, message] of cases) {
      const r = await expectFailure(code, ['runtime']);
      assert.equal(r.results[0].error?.message, message, code);
    }
  });
  test('Object.prototype pollution in action A is not visible to action B', async () => {
    const r = await pool.runChain(request([
      postLogin(`Object.prototype.polluted = 1; Array.prototype.evil = () => 'x'; JSON.parse = () => ({ hacked: true });`),
      postLogin(`api.idToken.setCustomClaim('b', [({}).polluted === undefined, typeof [].evil, typeof JSON.parse('{}').hacked]);`),
    ]));
    assert.equal(r.status, 'ok', JSON.stringify(r));
    assert.deepEqual(claims(r, 1), { b: [true, 'undefined', 'undefined'] });
  });
  test('a __proto__ key in a claim arrives as plain data', async () => {
    const r = await pool.runChain(request([postLogin(`api.idToken.setCustomClaim('x', JSON.parse('{"__proto__":{"isAdmin":true}}'));`)]));
    const v = r.results[0].commands[0].args[1] as Record<string, unknown>;
    assert.equal(Object.getPrototypeOf(v), Object.prototype);
    assert.ok(Object.hasOwn(v, '__proto__'));
    assert.equal((v as { isAdmin?: unknown }).isAdmin, undefined);
    assert.equal(({} as { isAdmin?: unknown }).isAdmin, undefined);
  });
  test('code that closes the module wrapper early and throws a looping getter is stopped', async () => {
    // The thrown value escapes to isolated-vm's own conversion (not timed): the parent's
    // deadline kills the worker. This is the process boundary doing its job.
    const r = await expectFailure('}); throw { get message() { while (1) {} } }; (function () {', ['timeout', 'syntax', 'runtime'], { handlerBody: false, maxMs: 5000 });
    assert.ok(r.results[0].error);
  });
});

describe('output limits', () => {
  test('1e6 console lines are capped', async () => {
    const r = await pool.runChain(request([postLogin(`for (let i = 0; i < 1e6; i++) console.log('line', i);`)], { limits: { ...FAST, actionTimeoutMs: 2000 } }));
    assert.equal(r.status, 'ok', JSON.stringify(r.results[0].error));
    assert.ok(Buffer.byteLength(r.results[0].logs) <= FAST.consoleBytes);
    assert.match(r.results[0].logs, /truncated/);
  });
  test('a recorded call over resultBytes is refused alone, logged, and the action goes on', async () => {
    const r = await pool.runChain(request([postLogin(`
      api.idToken.setCustomClaim('small', 1);
      api.idToken.setCustomClaim('big', 'x'.repeat(5000));
      api.idToken.setCustomClaim('after', 2);
    `)], { limits: { ...FAST, resultBytes: 1024 } }));
    assert.equal(r.status, 'ok');
    assert.deepEqual(r.results[0].commands.map((c) => c.args[0]), ['small', 'after']);
    assert.match(r.results[0].logs, /refused: recorded api calls would exceed 1024 bytes/);
    await expectHealthy(pool);
  });
});
