import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
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
 * Hashes imported from another system (Auth0's bulk import: `password_hash`, or
 * `custom_password_hash` with algorithm bcrypt or argon2). Each sign-in verifies with the
 * hash's own parameters, and while such hashes exist every password check is held to the
 * slowest of them (the hasher's floor), so these bound what one attempt, and every sign-in,
 * can cost: Auth0 exports bcrypt at cost 10, about 70 ms here; cost 11 doubles that. A stored
 * hash past them never verifies.
 */
export const IMPORT_LIMITS = { bcryptMaxCost: 11, argon2MaxMemoryKiB: 65_536, argon2MaxTime: 4, argon2MaxParallelism: 4 } as const;
/** The floor never goes past this (a warning says so): every sign-in waits for it. */
export const MAX_FLOOR_MS = 1000;
const BCRYPT = /^\$2[aby]\$(\d{2})\$[./A-Za-z0-9]{53}$/;
// PHC form: node-argon2 writes m, p, t in that order; other tools write m, t, p.
const ARGON2 = /^\$argon2(id|i|d)\$v=(16|19)\$([mtp]=\d{1,8}),([mtp]=\d{1,8}),([mtp]=\d{1,8})\$[A-Za-z0-9+/]{11,86}\$[A-Za-z0-9+/]{16,86}$/;
/** The largest argon2id settings the config allows (src/config/schema.ts): a stored argon2id past them never verifies. */
const OWN_MAX = { m: 4_194_304, t: 100, p: 64 };

/** An argon2 hash's type and parameters, or undefined when it is not one (in PHC form). */
function argon2Params(hash: string): { type: string; m: number; t: number; p: number } | undefined {
  const x = ARGON2.exec(hash);
  if (!x) return undefined;
  const params = Object.fromEntries([x[3], x[4], x[5]].map((kv) => [kv[0], Number(kv.slice(2))]));
  if (params.m === undefined || params.t === undefined || params.p === undefined) return undefined;
  return { type: `argon2${x[1]}`, m: params.m, t: params.t, p: params.p };
}

/**
 * The kind of a stored hash; undefined for anything else, which never verifies. argon2id is
 * Gatehouse's own family: any parameters (this server's, or earlier settings': a lowered
 * config must not lock its users out), and an imported one was held to IMPORT_LIMITS when it
 * was imported. argon2i, argon2d and bcrypt only come from imports: past the limits (a
 * restored database, direct SQL) they never verify.
 */
export function hashKind(hash: string): 'argon2' | 'bcrypt' | undefined {
  const a = argon2Params(hash);
  if (a?.type === 'argon2id') return a.m <= OWN_MAX.m && a.t <= OWN_MAX.t && a.p <= OWN_MAX.p ? 'argon2' : undefined;
  if (a) return a.m <= IMPORT_LIMITS.argon2MaxMemoryKiB && a.t <= IMPORT_LIMITS.argon2MaxTime && a.p <= IMPORT_LIMITS.argon2MaxParallelism ? 'argon2' : undefined;
  const b = BCRYPT.exec(hash);
  return b && Number(b[1]) >= 4 && Number(b[1]) <= IMPORT_LIMITS.bcryptMaxCost ? 'bcrypt' : undefined;
}

/** Hashes Gatehouse never made (bcrypt, argon2i, argon2d) hold the password as typed: no NFKC. */
const typedOnly = (hash: string) => !hash.startsWith('$argon2id$');

/**
 * A hash with the parameters of `h` (a stored hash, or its beginning up to the parameters) and a
 * made-up salt and digest: verifying it costs what verifying a real one does, and it holds
 * nothing of any user's.
 */
export function standIn(h: string): string {
  if (h.startsWith('$2')) return `${h.slice(0, 7)}${'a'.repeat(53)}`;
  return `${h.split('$').slice(0, 4).join('$')}$c2FsdHNhbHRzYWx0c2FsdA$ZGlnZXN0ZGlnZXN0ZGlnZXN0ZGlnZXN0ZGlnZXN0ZGk`;
}

/**
 * bcrypt compares on worker threads (src/users/bcrypt-thread.ts), started on first use and not
 * keeping the process alive. The caller's `limited` keeps at most its concurrency in flight, so
 * the pool holds no more threads than that. A thread that dies answers false for its compare.
 */
function bcryptPool(onWorkerError?: (err: unknown) => void) {
  /** Workers waiting for a compare, with the timer that ends them after IDLE_MS. */
  const idle = new Map<Worker, NodeJS.Timeout | undefined>();
  let closed = false;
  const all = new Set<Worker>();
  let next = 0;
  const IDLE_MS = 30_000;
  /** A compare takes well under a second at the highest cost allowed; past this the worker is ended and the answer is no. */
  const COMPARE_MS = 10_000;
  function spawn(): Worker {
    const w = new Worker(new URL('./bcrypt-thread.ts', import.meta.url));
    w.unref();
    all.add(w);
    // For good: a worker that errs or exits, idle or busy, leaves the pool (a busy one's compare answers no, below).
    const gone = () => { all.delete(w); const t = idle.get(w); if (t) clearTimeout(t); idle.delete(w); };
    // (idle holds undefined for the one worker kept started.)
    w.on('error', (err) => { onWorkerError?.(err); gone(); });
    w.on('exit', gone);
    return w;
  }
  function take(): Worker {
    for (const [w, t] of idle) { clearTimeout(t); idle.delete(w); return w; }
    return spawn();
  }
  function release(w: Worker) {
    if (!all.has(w)) return;
    if (closed) { void w.terminate(); return; }
    // One worker stays started (unref'd): a cold start would add its time to a sign-in, past the floor calibrated warm.
    if (idle.size === 0 && all.size === 1) { idle.set(w, undefined); return; }
    const t = setTimeout(() => { idle.delete(w); void w.terminate(); }, IDLE_MS);
    t.unref();
    idle.set(w, t);
  }
  const compare = (password: string, hash: string) => new Promise<boolean>((resolve) => {
    if (closed) { resolve(false); return; }
    const w = take();
    const id = next++;
    let finished = false;
    const done = (ok: boolean, reuse: boolean) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      w.off('message', onMessage);
      w.off('error', onEnd);
      w.off('exit', onEnd);
      if (reuse) release(w); else void w.terminate();
      resolve(ok);
    };
    const onMessage = (m: { id: number; ok: boolean }) => { if (m.id === id) done(m.ok === true, true); };
    const onEnd = () => done(false, false);
    const timer = setTimeout(() => { onWorkerError?.(new Error('a bcrypt compare took too long: its worker was ended')); done(false, false); }, COMPARE_MS);
    timer.unref();
    w.on('message', onMessage);
    w.on('error', onEnd);
    w.on('exit', onEnd);
    w.postMessage({ id, password, hash });
  });
  return { compare, close: async () => { closed = true; for (const t of idle.values()) if (t) clearTimeout(t); for (const w of all) await w.terminate(); all.clear(); idle.clear(); } };
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
export function createPasswordHasher(p: Argon2Params, cpus?: number, hooks: { onFloorCapped?: (wantedMs: number) => void; onWorkerError?: (err: unknown) => void } = {}) {
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
  const own = { m: p.memoryKiB, t: p.timeCost, p: p.parallelism };
  /** This hasher's own argon2id with its current parameters. */
  const isOwn = (a: { type: string; m: number; t: number; p: number }) => a.type === 'argon2id' && a.m === own.m && a.t === own.t && a.p === own.p;
  const bcrypt = bcryptPool(hooks.onWorkerError);
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
  /** Parameter sets calibrate has measured. */
  const measured = new Set<string>();
  // How node-argon2 writes this hasher's own hashes (a prefilter for SQL; isForeign decides).
  const ownPrefix = `$argon2id$v=19$m=${p.memoryKiB},p=${p.parallelism},t=${p.timeCost}$`;
  /** A foreign hash's set of parameters (`key`) and a stand-in with them (`sample`); undefined for own or unusable hashes. */
  const classOf = (h: string): { key: string; sample: string } | undefined => {
    const sample = standIn(h);
    const kind = hashKind(sample);
    if (kind === 'bcrypt') return { key: `bcrypt,${sample.slice(4, 6)}`, sample };
    const a = kind === 'argon2' ? argon2Params(sample)! : undefined;
    if (!a || isOwn(a)) return undefined;
    return { key: `${a.type},${a.m},${a.t},${a.p}`, sample };
  };
  const isForeign = (hash: string) => { const a = argon2Params(hash); return !a || !isOwn(a); };
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
      // An imported bcrypt or argon2i/d hash holds the password as typed (Auth0 does not normalise): one verify.
      if (typedOnly(hash)) return padded(started, await check(hash, password));
      if (await check(hash, normal)) return padded(started, true);
      // A hash set before passwords were normalised holds the text as it was typed then.
      return padded(started, normal !== password && await check(hash, password));
    },
    /** Anything but this hasher's own argon2id with its current parameters is rehashed at the next sign-in. */
    needsRehash: (hash: string) => !hash.startsWith('$argon2id$') || argon2.needsRehash(hash, { memoryCost: p.memoryKiB, timeCost: p.timeCost, parallelism: p.parallelism }),
    /** Whether a stored hash is other than this hasher's own (imported, or older parameters). */
    isForeign,
    classOf,
    /** How this hasher's own hashes begin (type and parameters). */
    ownPrefix,
    /**
     * Sets the floor every verify waits for (see `floorMs`) from stored hashes (or their
     * beginnings, up to the salt) that are not this hasher's own: the slowest of one verify of
     * each set of parameters and two of the dummy (an unknown address with a password that NFKC
     * changes), plus a quarter, at most MAX_FLOOR_MS. Only raises it. Parameter sets already
     * measured are not measured again, so calling it often costs a parse.
     */
    async calibrate(foreign: Iterable<string>): Promise<number> {
      const fresh: string[] = [];
      for (const h of foreign) {
        const c = classOf(h);
        if (!c || measured.has(c.key)) continue;
        measured.add(c.key);
        fresh.push(c.sample);
      }
      if (fresh.length === 0) return floorMs;
      dummy ??= argon2.hash('gatehouse-dummy-password', opts);
      const d = await dummy;
      let slowest = 0;
      const timed = async (f: () => Promise<unknown>) => { const t0 = performance.now(); await f(); slowest = Math.max(slowest, performance.now() - t0); };
      const twice = async (h: string) => { await check(h, 'gatehouse-calibration'); await check(h, 'gatehouse-calibration'); };
      await timed(() => twice(d));
      // An argon2id hash gets the NFKC fallback (two verifies for some passwords); the others one.
      for (const h of fresh) await timed(() => (typedOnly(h) ? check(h, 'gatehouse-calibration') : twice(h)));
      const wanted = Math.ceil(slowest * 1.25);
      if (wanted > MAX_FLOOR_MS) hooks.onFloorCapped?.(wanted);
      floorMs = Math.max(floorMs, Math.min(MAX_FLOOR_MS, wanted));
      return floorMs;
    },
    get floorMs() { return floorMs; },
    /** Ends the bcrypt worker threads (the context's close). */
    close: () => bcrypt.close(),
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
