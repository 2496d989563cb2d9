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
    const results = await Promise.all(Array.from({ length: n }, () => hasher.verify('$argon2id$stand-in', 'a password')));
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
