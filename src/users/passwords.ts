import { availableParallelism } from 'node:os';
import argon2 from 'argon2';
import { isCommonPassword } from './common-passwords.ts';

export interface Argon2Params { memoryKiB: number; timeCost: number; parallelism: number; maxConcurrent: number }

/**
 * How many hashes run at once: `maxConcurrent`, and never more than the CPUs this process may
 * use (its affinity and cgroup quota, as libuv reads them). A hash keeps a CPU busy from start
 * to end, so more at once than CPUs adds no throughput: the hashes only take turns, each
 * evicting the others' memory from the caches (on one CPU, 4 at once cost about 10% more CPU
 * per verify than 1 at a time: bench/run.ts's login part), and each holds a thread of libuv's
 * pool, where token signing and file I/O wait behind it.
 */
export function hashConcurrency(p: Pick<Argon2Params, 'maxConcurrent'>, cpus = availableParallelism()): number {
  return Math.max(1, Math.min(p.maxConcurrent, cpus));
}

/**
 * argon2id hashing with a cap on concurrent hashes (each holds `memoryKiB`: without a cap a
 * burst of logins is a memory DoS; see hashConcurrency) and a dummy hash so unknown e-mails
 * cost the same time.
 */
export function createPasswordHasher(p: Argon2Params, cpus?: number) {
  const opts = { type: argon2.argon2id as 2, memoryCost: p.memoryKiB, timeCost: p.timeCost, parallelism: p.parallelism };
  const concurrency = hashConcurrency(p, cpus);
  let active = 0;
  const waiting: (() => void)[] = [];
  async function limited<T>(fn: () => Promise<T>): Promise<T> {
    if (active >= concurrency) await new Promise<void>((r) => waiting.push(r));
    active++;
    try { return await fn(); } finally {
      active--;
      waiting.shift()?.();
    }
  }
  let dummy: Promise<string> | undefined;
  const check = async (hash: string, password: string) => { try { return await limited(() => argon2.verify(hash, password)); } catch { return false; } };
  return {
    /**
     * Passwords are hashed and checked in Unicode NFKC (SECURITY.md 3.2, NIST 800-63B 5.1.1.2):
     * an `é` typed as one code point or as `e` + combining accent is one password.
     */
    hash: (password: string) => limited(() => argon2.hash(password.normalize('NFKC'), opts)),
    /** Verifies; with `hash` undefined, verifies against a dummy so timing matches. */
    async verify(hash: string | null | undefined, password: string): Promise<boolean> {
      const normal = password.normalize('NFKC');
      if (!hash) {
        dummy ??= argon2.hash('gatehouse-dummy-password', opts);
        const d = await dummy;
        await limited(() => argon2.verify(d, normal));
        // As many verifies as a wrong password for a real account takes (below): the time must
        // not tell an unknown or throttled account from a real one.
        if (normal !== password) await limited(() => argon2.verify(d, password));
        return false;
      }
      if (await check(hash, normal)) return true;
      // A hash set before passwords were normalised holds the text as it was typed then.
      return normal !== password && check(hash, password);
    },
    needsRehash: (hash: string) => argon2.needsRehash(hash, { memoryCost: p.memoryKiB, timeCost: p.timeCost, parallelism: p.parallelism }),
    params: opts,
    /** Hashes run at once at most (see hashConcurrency). */
    concurrency,
  };
}
export type PasswordHasher = ReturnType<typeof createPasswordHasher>;

/**
 * Policy checks (length in characters and bytes, no composition rules, not a common password),
 * before any hashing. Every place a password is set goes through here: signup, reset, the
 * account page and the Management API. `rejectCommon` is on unless the policy says `false`.
 */
export function checkPasswordPolicy(password: unknown, policy: { minLength: number; maxLength: number; rejectCommon?: boolean }): string | null {
  if (typeof password !== 'string' || password.length === 0) return 'Enter a password.';
  // Bytes as typed first: sign-in refuses a password longer than this before anything else (and
  // NFKC can shorten text, so a long typed form could pass the check below and never sign in).
  if (Buffer.byteLength(password) > policy.maxLength * 4) return `Passwords can have at most ${policy.maxLength} characters.`;
  // The password as it is hashed (NFKC, see createPasswordHasher): full-width `ｐａｓｓｗｏｒｄ１２３`
  // is `password123`, and `e` + a combining accent is one character.
  const pw = password.normalize('NFKC');
  if (Buffer.byteLength(pw) > policy.maxLength * 4) return `Passwords can have at most ${policy.maxLength} characters.`;
  const chars = [...pw].length;
  if (chars < policy.minLength) return `Passwords need at least ${policy.minLength} characters.`;
  if (chars > policy.maxLength) return `Passwords can have at most ${policy.maxLength} characters.`;
  if (policy.rejectCommon !== false && isCommonPassword(pw)) return 'This password is too common and easy to guess. Choose another one.';
  return null;
}
