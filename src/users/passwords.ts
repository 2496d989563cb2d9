import { availableParallelism } from 'node:os';
import argon2 from 'argon2';
import bcrypt from 'bcryptjs';
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
 * Hashes imported from another system (Auth0's bulk import: `password_hash`, or
 * `custom_password_hash` with algorithm bcrypt or argon2). Each sign-in verifies with the
 * hash's own parameters, so these bound what one attempt can cost: Auth0 exports bcrypt at
 * cost 10, which takes about 70 ms here (bcryptjs, on the main thread, in slices).
 */
export const IMPORT_LIMITS = { bcryptMaxCost: 12, argon2MaxMemoryKiB: 262_144, argon2MaxTime: 10, argon2MaxParallelism: 16 } as const;
const BCRYPT = /^\$2[aby]\$(\d{2})\$[./A-Za-z0-9]{53}$/;
// PHC form: node-argon2 writes m, p, t in that order; other tools write m, t, p.
const ARGON2 = /^\$argon2(id|i|d)\$v=(16|19)\$([mtp]=\d{1,7}),([mtp]=\d{1,7}),([mtp]=\d{1,7})\$[A-Za-z0-9+/]{11,86}\$[A-Za-z0-9+/]{16,86}$/;

/** An argon2 hash's type and parameters, or undefined when it is not one (in PHC form). */
function argon2Params(hash: string): { type: string; m: number; t: number; p: number } | undefined {
  const x = ARGON2.exec(hash);
  if (!x) return undefined;
  const params = Object.fromEntries([x[3], x[4], x[5]].map((kv) => [kv[0], Number(kv.slice(2))]));
  if (params.m === undefined || params.t === undefined || params.p === undefined) return undefined;
  return { type: `argon2${x[1]}`, m: params.m, t: params.t, p: params.p };
}

/** The kind of a stored hash; undefined for anything else (which never verifies). */
export function hashKind(hash: string): 'argon2' | 'bcrypt' | undefined {
  return argon2Params(hash) ? 'argon2' : BCRYPT.test(hash) ? 'bcrypt' : undefined;
}

/** A hash from another system as it will be stored, or why it is refused. */
export function importableHash(algorithm: 'bcrypt' | 'argon2', value: string): { hash: string } | { error: string } {
  if (algorithm === 'bcrypt') {
    const m = BCRYPT.exec(value);
    if (!m) return { error: 'is not a bcrypt hash ($2a$, $2b$ or $2y$, a two-digit cost, 53 characters of salt and hash)' };
    const cost = Number(m[1]);
    if (cost < 4 || cost > IMPORT_LIMITS.bcryptMaxCost) return { error: `has bcrypt cost ${cost}: 4 to ${IMPORT_LIMITS.bcryptMaxCost} are accepted` };
    return { hash: value };
  }
  const a = argon2Params(value);
  if (!a) return { error: 'is not an argon2 hash in PHC form ($argon2id$v=19$m=…,t=…,p=…$salt$hash)' };
  const [mem, time, par] = [a.m, a.t, a.p];
  if (mem > IMPORT_LIMITS.argon2MaxMemoryKiB || time > IMPORT_LIMITS.argon2MaxTime || par > IMPORT_LIMITS.argon2MaxParallelism || par < 1 || time < 1 || mem < 8 * par) {
    return { error: `has argon2 parameters m=${mem},t=${time},p=${par}: at most m=${IMPORT_LIMITS.argon2MaxMemoryKiB},t=${IMPORT_LIMITS.argon2MaxTime},p=${IMPORT_LIMITS.argon2MaxParallelism} are accepted` };
  }
  return { hash: value };
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
  const check = async (hash: string, password: string) => {
    const kind = hashKind(hash);
    try {
      if (kind === 'bcrypt') return await limited(() => bcrypt.compare(password, hash));
      return kind === 'argon2' && await limited(() => argon2.verify(hash, password));
    } catch { return false; }
  };
  /**
   * While users' hashes with other parameters than this hasher's exist (imported, or from before
   * a change of the argon2 settings), their verifies take another time than the dummy's: every
   * verify then lasts at least `floorMs` (a timer, no CPU), so neither an unknown address nor a
   * migrated account stands out by its answer's time. 0 when every hash is this hasher's own.
   */
  let floorMs = 0;
  // How node-argon2 writes this hasher's own hashes (a prefilter for SQL; isForeign decides).
  const ownPrefix = `$argon2id$v=19$m=${p.memoryKiB},p=${p.parallelism},t=${p.timeCost}$`;
  const isForeign = (hash: string) => {
    const a = argon2Params(hash);
    return !a || a.type !== 'argon2id' || a.m !== p.memoryKiB || a.t !== p.timeCost || a.p !== p.parallelism;
  };
  async function padded<T>(started: number, result: T): Promise<T> {
    const left = floorMs - (performance.now() - started);
    if (left > 1) await new Promise((r) => setTimeout(r, left));
    return result;
  }
  return {
    /**
     * Passwords are hashed and checked in Unicode NFKC (SECURITY.md 3.2, NIST 800-63B 5.1.1.2):
     * an `é` typed as one code point or as `e` + combining accent is one password.
     */
    hash: (password: string) => limited(() => argon2.hash(password.normalize('NFKC'), opts)),
    /** Verifies; with `hash` undefined, verifies against a dummy so timing matches. */
    async verify(hash: string | null | undefined, password: string): Promise<boolean> {
      const started = performance.now();
      const normal = password.normalize('NFKC');
      if (!hash) {
        dummy ??= argon2.hash('gatehouse-dummy-password', opts);
        const d = await dummy;
        await limited(() => argon2.verify(d, normal));
        // As many verifies as a wrong password for a real account takes (below): the time must
        // not tell an unknown or throttled account from a real one.
        if (normal !== password) await limited(() => argon2.verify(d, password));
        return padded(started, false);
      }
      if (await check(hash, normal)) return padded(started, true);
      // A hash set before passwords were normalised (or imported from a system that did not
      // normalise) holds the text as it was typed then.
      return padded(started, normal !== password && await check(hash, password));
    },
    /** Anything but this hasher's own argon2id with its current parameters is rehashed at the next sign-in. */
    needsRehash: (hash: string) => !hash.startsWith('$argon2id$') || argon2.needsRehash(hash, { memoryCost: p.memoryKiB, timeCost: p.timeCost, parallelism: p.parallelism }),
    /** Whether a stored hash is other than this hasher's own (imported, or older parameters). */
    isForeign,
    /** How this hasher's own hashes begin (type and parameters). */
    ownPrefix,
    /**
     * Sets the floor every verify waits for (see `floorMs`) from stored hashes that are not this
     * hasher's own: the slowest of them, and of the dummy, verified once with a wrong password,
     * plus a quarter. Only raises it: a floor stays until the process restarts.
     */
    async calibrate(foreign: Iterable<string>): Promise<number> {
      const samples = new Map<string, string>();
      for (const h of foreign) {
        // One of each set of parameters: the part before the salt.
        const kind = hashKind(h);
        if (!isForeign(h)) continue;
        if (kind === 'bcrypt') samples.set(h.slice(0, 7), h);
        else if (kind === 'argon2') { const a = argon2Params(h)!; samples.set(`${a.type},${a.m},${a.t},${a.p}`, h); }
      }
      if (samples.size === 0) return floorMs;
      dummy ??= argon2.hash('gatehouse-dummy-password', opts);
      let slowest = 0;
      for (const h of [await dummy, ...samples.values()]) {
        const t0 = performance.now();
        await check(h, 'gatehouse-calibration');
        slowest = Math.max(slowest, performance.now() - t0);
      }
      floorMs = Math.max(floorMs, Math.ceil(slowest * 1.25));
      return floorMs;
    },
    get floorMs() { return floorMs; },
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
