import { test } from 'node:test';
import assert from 'node:assert/strict';
import { availableParallelism } from 'node:os';
import argon2 from 'argon2';
import { createPasswordHasher, hashConcurrency } from './passwords.ts';

const PARAMS = { memoryKiB: 19456, timeCost: 2, parallelism: 1 };

test('hashes run at once: maxConcurrent, never more than the CPUs the process may use', () => {
  assert.equal(hashConcurrency({ maxConcurrent: 4 }, 1), 1);
  assert.equal(hashConcurrency({ maxConcurrent: 4 }, 2), 2);
  assert.equal(hashConcurrency({ maxConcurrent: 4 }, 16), 4);
  assert.equal(hashConcurrency({ maxConcurrent: 1 }, 16), 1);
  // By default the process's own CPUs (affinity and cgroup quota, as libuv reads them).
  assert.equal(createPasswordHasher({ ...PARAMS, maxConcurrent: 64 }).concurrency, Math.min(64, availableParallelism()));
});

/** The most argon2 verifies in flight at once while `n` logins check their passwords together. */
async function peakVerifies(hasher: ReturnType<typeof createPasswordHasher>, n: number): Promise<number> {
  const verify = argon2.verify;
  let inFlight = 0;
  let peak = 0;
  // Each verify stays in flight until every caller has had the chance to start one.
  argon2.verify = (async () => {
    inFlight++;
    peak = Math.max(peak, inFlight);
    await new Promise((r) => setTimeout(r, 5));
    inFlight--;
    return true;
  }) as typeof verify;
  try {
    const results = await Promise.all(Array.from({ length: n }, () => hasher.verify('$argon2id$v=19$m=19456,p=1,t=2$c29tZXNhbHRzb21lc2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2g', 'a password')));
    assert.deepEqual(results, Array(n).fill(true));
  } finally {
    argon2.verify = verify;
  }
  return peak;
}

test('a burst of logins runs no more verifies at once than the hasher allows, and all of them finish', async () => {
  assert.equal(await peakVerifies(createPasswordHasher({ ...PARAMS, maxConcurrent: 4 }, 1), 8), 1);
  assert.equal(await peakVerifies(createPasswordHasher({ ...PARAMS, maxConcurrent: 4 }, 2), 8), 2);
  assert.equal(await peakVerifies(createPasswordHasher({ ...PARAMS, maxConcurrent: 3 }, 16), 8), 3);
});

test('imported hashes: bcrypt and argon2 verify and need a rehash; limits refuse costly parameters; own hashes are not foreign', async () => {
  const { default: bcrypt } = await import('bcryptjs');
  const { importableHash, hashKind } = await import('./passwords.ts');
  const hasher = createPasswordHasher({ ...PARAMS, maxConcurrent: 1 });
  const own = await hasher.hash('own password 123');
  assert.equal(hasher.isForeign(own), false);
  assert.equal(hasher.needsRehash(own), false);
  assert.ok(own.startsWith(hasher.ownPrefix), 'the SQL prefilter matches what node-argon2 writes');
  const b = await bcrypt.hash('legacy password', 4);
  const a = await argon2.hash('legacy password', { type: argon2.argon2i, memoryCost: 1024, timeCost: 2, parallelism: 1 });
  // Another tool's order of the parameters (m, t, p) is the same hash.
  const reordered = a.replace(/m=1024,p=1,t=2/, 'm=1024,t=2,p=1');
  for (const h of [b, a, reordered]) {
    assert.notEqual(hashKind(h), undefined, h);
    assert.equal(await hasher.verify(h, 'legacy password'), true, h);
    assert.equal(await hasher.verify(h, 'wrong password'), false, h);
    assert.equal(hasher.isForeign(h), true);
    assert.equal(hasher.needsRehash(h), true);
  }
  assert.equal(await hasher.verify('plaintext', 'plaintext'), false, 'anything else never verifies');
  // An imported hash holds the password as it was typed (Auth0 does not normalise): one verify, of that.
  const typed = 'ﬁsh and chips 12';
  const raw = await bcrypt.hash(typed, 4);
  assert.equal(await hasher.verify(raw, typed), true);
  assert.equal(await hasher.verify(raw, typed.normalize('NFKC')), false);
  assert.deepEqual(importableHash('bcrypt', b), { hash: b });
  assert.match(String((importableHash('bcrypt', b.replace('$04$', '$12$')) as { error: string }).error), /cost 12: 4 to 11/);
  // A stored hash past the limits (a restored database, direct SQL) never verifies: it would cost too much.
  const costly = await bcrypt.hash('legacy password', 12);
  assert.equal(await hasher.verify(costly, 'legacy password'), false);
  assert.equal(hasher.classOf(costly), undefined);
  assert.match(String((importableHash('argon2', a.replace('m=1024', 'm=999999')) as { error: string }).error), /m=999999/);
  assert.match(String((importableHash('argon2', b) as { error: string }).error), /PHC/);
});

test('with foreign hashes calibrated, every verify lasts at least the floor: unknown, own and imported alike', async () => {
  const { default: bcrypt } = await import('bcryptjs');
  const hasher = createPasswordHasher({ ...PARAMS, maxConcurrent: 1 });
  assert.equal(hasher.floorMs, 0);
  assert.equal(await hasher.calibrate([await hasher.hash('own only')]), 0, 'own hashes set no floor');
  const imported = await bcrypt.hash('legacy password', 10);
  const floor = await hasher.calibrate([imported]);
  assert.ok(floor > 0);
  const own = await hasher.hash('own password 123');
  // A lower bound the hasher sets itself with a timer (not a performance figure).
  for (const [hash, pw] of [[undefined, 'x'], [own, 'wrong'], [own, 'own password 123'], [imported, 'legacy password']] as const) {
    const t0 = performance.now();
    await hasher.verify(hash, pw);
    assert.ok(performance.now() - t0 >= floor - 2, `${hash?.slice(0, 10)} took less than the floor`);
  }
});

test('after a change of the argon2 settings (lowered or raised), users still sign in, passwords NFKC changes included', async () => {
  const typed = 'ﬁsh and chips on Tuesday';
  const before = createPasswordHasher({ memoryKiB: 131072, timeCost: 2, parallelism: 1, maxConcurrent: 1 });
  const stored = await before.hash(typed);
  for (const after of [createPasswordHasher({ ...PARAMS, maxConcurrent: 1 }), createPasswordHasher({ ...PARAMS, timeCost: 3, maxConcurrent: 1 })]) {
    assert.equal(after.isForeign(stored), true);
    assert.equal(await after.verify(stored, typed), true, 'the hash made from the NFKC form, before the change');
    assert.equal(after.needsRehash(stored), true);
    await after.close();
  }
  await before.close();
});

test('a bcrypt worker that dies answers no for its compare, and the next compares (bcrypt and argon2id) still answer', async () => {
  const { default: bcrypt } = await import('bcryptjs');
  const { Worker } = await import('node:worker_threads');
  const hasher = createPasswordHasher({ ...PARAMS, maxConcurrent: 1 });
  const hash = await bcrypt.hash('legacy password', 4);
  assert.equal(await hasher.verify(hash, 'legacy password'), true);
  // End every worker the pool holds, idle or busy, from outside (as a crash would).
  const post = Worker.prototype.postMessage;
  const seen: InstanceType<typeof Worker>[] = [];
  Worker.prototype.postMessage = function (this: InstanceType<typeof Worker>, ...a: Parameters<typeof post>) { seen.push(this); return post.apply(this, a); };
  try {
    // At cost 11 a compare takes over 100 ms: the worker is ended while it works.
    const slow = await bcrypt.hash('legacy password', 11);
    const busy = hasher.verify(slow, 'legacy password');
    while (seen.length === 0) await new Promise((r) => setImmediate(r));
    for (const w of seen) await w.terminate();
    assert.equal(await busy, false, 'the compare of a worker that died answers no');
  } finally {
    Worker.prototype.postMessage = post;
  }
  assert.equal(await hasher.verify(hash, 'legacy password'), true, 'a new worker takes the next compare');
  assert.equal(await hasher.verify(await hasher.hash('own password 123'), 'own password 123'), true);
  await hasher.close();
});
