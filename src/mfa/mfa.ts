import { createHash, randomBytes } from 'node:crypto';
import { createGuardrails, generateURI, verify as verifyTotp } from 'otplib';
import type { Db } from '../db/knex.ts';
import { isSqlite, toBool, toNum } from '../db/knex.ts';
import { randomId } from '../shared/ids.ts';
import type { SecretBox } from '../shared/secret-box.ts';

export interface MfaConfig {
  maxFailures: number;
  lockSeconds: number;
  issuerLabel: string;
  /** Called after a used code (TOTP or recovery) was sent again and refused (the owner is to be told: ASVS 4 2.8.5). Must not throw. */
  onReplay?: (userId: string) => void;
  /** Wrong codes at verify just set the lock (not when it was set already): the owner should hear of it. */
  onLock?: (userId: string) => void;
}
export type VerifyOutcome =
  | { ok: true; method: 'otp' | 'recovery'; remainingRecoveryCodes?: number }
  | { ok: false; reason: 'invalid' | 'replay' | 'locked' | 'not_enrolled'; lockedUntil?: number };

const PERIOD = 30;
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
const sealAad = (factorId: string) => `totp:${factorId}`;

/**
 * Secrets Gatehouse makes are 20 bytes (160 bits, RFC 4226's recommendation). Imported ones may
 * be shorter: 16 base32 characters (80 bits) is what Google Authenticator-era systems issued and
 * what Auth0's import example uses, and otplib refuses anything under 16 bytes unless told.
 * Such a secret is already in its user's authenticator app: refusing it would only make the
 * user lose the second factor.
 */
export const MIN_IMPORTED_SECRET_BYTES = 10;
const MAX_IMPORTED_SECRET_BYTES = 64;
const GUARDRAILS = createGuardrails({ MIN_SECRET_BYTES: MIN_IMPORTED_SECRET_BYTES });

/**
 * An imported TOTP secret (unpadded base32, as Auth0's import takes it) in the form this
 * server verifies: decoded as authenticator apps decode it (bits past the last whole byte
 * dropped) and written out again, so that otplib's strict decoder takes it and computes the
 * same codes as the user's app.
 */
export function canonicalTotpSecret(input: string): { secret: string } | { error: string } {
  if (!/^[A-Z2-7]+$/.test(input)) return { error: 'must be unpadded base32 (A-Z, 2-7)' };
  // No encoder ends on 1, 3 or 6 characters past a group of 8: such a secret was cut short.
  if ([1, 3, 6].includes(input.length % 8)) return { error: `is ${input.length} characters, not a length base32 has (cut short?)` };
  const bytes: number[] = [];
  let bits = 0; let value = 0;
  for (const ch of input) {
    value = ((value << 5) | B32.indexOf(ch)) & 0xffff; bits += 5;
    if (bits >= 8) { bytes.push((value >>> (bits - 8)) & 0xff); bits -= 8; }
  }
  if (bytes.length < MIN_IMPORTED_SECRET_BYTES) return { error: `is too short: at least ${Math.ceil(MIN_IMPORTED_SECRET_BYTES * 8 / 5)} characters (${MIN_IMPORTED_SECRET_BYTES * 8} bits)` };
  if (bytes.length > MAX_IMPORTED_SECRET_BYTES) return { error: `is too long: at most ${Math.floor((MAX_IMPORTED_SECRET_BYTES * 8 + 7) / 5)} characters` };
  return { secret: base32(Buffer.from(bytes)) };
}

/**
 * One documented rule for what a person types: spaces, dashes and full-width digits are
 * folded (`" 123 456 "`, `１２３４５６`); a TOTP code is then exactly 6 ASCII digits, a recovery
 * code 26 base32 characters (case-insensitive). Anything else is refused before any lookup.
 */
export function normalizeCode(input: unknown): { kind: 'otp' | 'recovery'; value: string } | null {
  if (typeof input !== 'string' || input.length > 64) return null;
  const folded = input.normalize('NFKC').replace(/[\s-]/g, '');
  if (/^\d{6}$/.test(folded)) return { kind: 'otp', value: folded };
  if (/^[A-Za-z2-7]{26}$/.test(folded)) return { kind: 'recovery', value: folded.toUpperCase() };
  return null;
}

/**
 * TOTP factors (RFC 6238: SHA-1, 6 digits, 30 s, ±1 step) with replay protection (the last
 * accepted step is stored and advanced with a conditional UPDATE, so one code is accepted
 * once even under concurrency), single-use hashed recovery codes, and a failure lock with
 * growing waits. Seeds are 20 random bytes (the HMAC-SHA1 output size), sealed at rest.
 */
export function createMfa(db: Db, box: SecretBox, cfg: MfaConfig) {
  const lockKey = (userId: string) => `mfa:${userId}`;
  const sqlite = isSqlite(db);

  async function confirmedFactor(userId: string, q: Db = db) {
    return q('mfa_factors').where({ user_id: userId, type: 'otp', confirmed: true }).first();
  }

  /**
   * Runs one code check for `userId` with the user's failure row held: the lock is read, the
   * code checked and a failure recorded as one step, so concurrent guesses are counted one
   * after the other (each sees the failures before it and the lock they set). Checking first
   * and recording after, outside such a step, let a burst of parallel requests all pass the
   * lock check before any failure was counted. PostgreSQL: the row is locked (FOR UPDATE);
   * SQLite: the transaction holds the only connection. A TOTP check takes microseconds.
   */
  function withAttemptLock<T>(userId: string, fn: (trx: Db, lockedUntil: number) => Promise<T>): Promise<T> {
    return db.transaction(async (trx) => {
      const q = () => trx('login_failures').where({ key: lockKey(userId) });
      if (!sqlite) {
        await trx('login_failures').insert({ key: lockKey(userId), failures: 0, last_failure_at: 0, locked_until: 0 }).onConflict('key').ignore();
      }
      const r = await (sqlite ? q() : q().forUpdate()).first();
      const until = r ? toNum(r.locked_until) ?? 0 : 0;
      return fn(trx as unknown as Db, until > Date.now() ? until : 0);
    });
  }

  async function recordFailure(userId: string, q: Db): Promise<number> {
    const now = Date.now();
    const [r] = await q('login_failures').insert({ key: lockKey(userId), failures: 1, last_failure_at: now, locked_until: 0 }).onConflict('key').merge({
      failures: q.raw('login_failures.failures + 1'), last_failure_at: now,
    }).returning(['failures']) as { failures: unknown }[];
    const failures = Number(r.failures);
    if (failures % cfg.maxFailures === 0) {
      const until = now + cfg.lockSeconds * 1000 * Math.min(8, failures / cfg.maxFailures);
      await q('login_failures').where({ key: lockKey(userId) }).update({ locked_until: until });
      return until;
    }
    return 0;
  }

  async function checkOtp(secret: string, code: string, afterStep: number) {
    try {
      const r = await verifyTotp({ secret, token: code, epochTolerance: PERIOD, guardrails: GUARDRAILS, ...(afterStep > 0 ? { afterTimeStep: afterStep } : {}) });
      return r.valid ? { valid: true as const, step: (r as { timeStep: number }).timeStep } : { valid: false as const };
    } catch {
      return { valid: false as const };
    }
  }

  async function newRecoveryCodes(userId: string, trx: Db = db): Promise<string[]> {
    const codes = Array.from({ length: 10 }, () => base32(randomBytes(16)).slice(0, 26));
    await trx('mfa_recovery_codes').where({ user_id: userId }).delete();
    await trx('mfa_recovery_codes').insert(codes.map((c) => ({ code_hash: sha256(`${userId}:${c}`), user_id: userId, used_at: null, created_at: Date.now() })));
    return codes.map((c) => c.match(/.{1,5}/g)!.join('-'));
  }

  return {
    normalizeCode,
    async isEnrolled(userId: string): Promise<boolean> { return !!(await confirmedFactor(userId)); },

    async factors(userId: string) {
      const rows = await db('mfa_factors').where({ user_id: userId, confirmed: true });
      return rows.map((r) => ({ id: r.id as string, type: 'totp', confirmed: toBool(r.confirmed), created_at: new Date(Number(r.created_at)).toISOString(), last_auth_at: null as string | null }));
    },

    /**
     * Starts (or restarts) a pending enrollment bound to `binding` (the interaction or account
     * session). Returns the base32 secret and the otpauth:// URI: shown only now.
     */
    async beginEnrollment(userId: string, accountLabel: string, binding: string) {
      if (await confirmedFactor(userId)) throw new Error('already enrolled');
      const secret = base32(randomBytes(20));
      const id = `totp_${randomId(12)}`;
      await db.transaction(async (trx) => {
        // Only this binding's earlier attempt is replaced: another tab's pending enrollment stays valid.
        await trx('mfa_factors').where({ user_id: userId, confirmed: false, pending_binding: binding }).delete();
        await trx('mfa_factors').insert({ id, user_id: userId, type: 'otp', secret_sealed: box.seal(secret, sealAad(id)), confirmed: false, last_used_step: 0, pending_binding: binding, created_at: Date.now() });
      });
      return { secret, uri: generateURI({ issuer: cfg.issuerLabel, label: accountLabel, secret }) };
    },

    /** The pending secret again (re-rendering the enrollment page after a wrong code), only for the same binding. */
    async pendingEnrollment(userId: string, accountLabel: string, binding: string) {
      const r = await db('mfa_factors').where({ user_id: userId, confirmed: false, pending_binding: binding }).first();
      if (!r) return undefined;
      const secret = box.open(r.secret_sealed, sealAad(r.id));
      return { secret, uri: generateURI({ issuer: cfg.issuerLabel, label: accountLabel, secret }) };
    },

    /** Confirms the pending factor with its first code; returns the 10 recovery codes (shown once). */
    async confirmEnrollment(userId: string, binding: string, input: unknown): Promise<{ ok: true; recoveryCodes: string[] } | { ok: false; reason: 'invalid' | 'locked' | 'no_pending' }> {
      return withAttemptLock(userId, async (trx, until) => {
        if (until) return { ok: false, reason: 'locked' };
        const r = await trx('mfa_factors').where({ user_id: userId, confirmed: false, pending_binding: binding }).first();
        if (!r) return { ok: false, reason: 'no_pending' };
        const code = normalizeCode(input);
        const check = code?.kind === 'otp' ? await checkOtp(box.open(r.secret_sealed, sealAad(r.id)), code.value, 0) : { valid: false as const };
        if (!check.valid) { await recordFailure(userId, trx); return { ok: false, reason: 'invalid' }; }
        // One factor per user: if another tab confirmed first, this one does not add a second.
        if (await confirmedFactor(userId, trx)) return { ok: false, reason: 'no_pending' };
        await trx('mfa_factors').where({ id: r.id }).update({ confirmed: true, confirmed_at: Date.now(), last_used_step: check.step, pending_binding: null });
        await trx('mfa_factors').where({ user_id: userId, confirmed: false }).delete();
        const recoveryCodes = await newRecoveryCodes(userId, trx);
        await trx('login_failures').where({ key: lockKey(userId) }).delete();
        return { ok: true, recoveryCodes };
      });
    },

    /** Verifies a TOTP or recovery code for an enrolled user (one attempt at a time per user: withAttemptLock). */
    async verify(userId: string, input: unknown): Promise<VerifyOutcome> {
      // Set when the code was a used one: reported once the attempt is over, even if it locked.
      let replayed = false;
      // Set when this attempt's failure set the lock.
      let lockedNow = false;
      const outcome = await withAttemptLock(userId, async (trx, until): Promise<VerifyOutcome> => {
        if (until) return { ok: false, reason: 'locked', lockedUntil: until };
        const f = await confirmedFactor(userId, trx);
        if (!f) return { ok: false, reason: 'not_enrolled' };
        const failed = async (reason: 'invalid' | 'replay'): Promise<VerifyOutcome> => {
          const u = await recordFailure(userId, trx);
          if (u) lockedNow = true;
          return { ok: false, reason: u ? 'locked' : reason, lockedUntil: u || undefined };
        };
        const code = normalizeCode(input);
        if (!code) return failed('invalid');
        if (code.kind === 'recovery') {
          const hash = sha256(`${userId}:${code.value}`);
          const used = await trx('mfa_recovery_codes').where({ code_hash: hash, user_id: userId }).whereNull('used_at').update({ used_at: Date.now() });
          if (used !== 1) {
            // A recovery code of this user's that was spent already: someone saw the owner's codes.
            replayed = (await trx('mfa_recovery_codes').where({ code_hash: hash, user_id: userId }).first()) !== undefined;
            return failed('invalid');
          }
          await trx('login_failures').where({ key: lockKey(userId) }).delete();
          const [{ n }] = await trx('mfa_recovery_codes').where({ user_id: userId }).whereNull('used_at').count({ n: '*' });
          return { ok: true, method: 'recovery', remainingRecoveryCodes: Number(n) };
        }
        const last = Number(f.last_used_step);
        const secret = box.open(f.secret_sealed, sealAad(f.id));
        const check = await checkOtp(secret, code.value, last);
        // A code that would be valid but for its step being used already is a replay: say so in the audit.
        if (!check.valid) {
          replayed = (await checkOtp(secret, code.value, 0)).valid;
          return failed(replayed ? 'replay' : 'invalid');
        }
        const advanced = await trx('mfa_factors').where({ id: f.id }).andWhere('last_used_step', '<', check.step).update({ last_used_step: check.step });
        if (advanced !== 1) { replayed = true; return { ok: false, reason: 'replay' }; }
        await trx('login_failures').where({ key: lockKey(userId) }).delete();
        return { ok: true, method: 'otp' };
      });
      // A notice that cannot be queued must not turn a refusal into an error.
      if (replayed) { try { cfg.onReplay?.(userId); } catch { /* see above */ } }
      if (lockedNow) { try { cfg.onLock?.(userId); } catch { /* see above */ } }
      return outcome;
    },

    /**
     * A confirmed authenticator with `secret` (canonicalTotpSecret's) for a user brought in by an
     * import. The user's other factors, pending enrollments and recovery codes go (those were the
     * replaced authenticator's): one authenticator per user, and the import file is what the
     * administrator says the user has. The same secret again changes nothing (an import run twice).
     * A new user's is written on `q`, its insert's transaction (nobody else sees the user yet); an
     * existing user's in a transaction of its own under the lock enrollments and code checks take
     * (withAttemptLock), so two imports at once, or an import and an enrollment, leave one.
     */
    async importTotp(userId: string, secret: string, q?: Db): Promise<'added' | 'replaced' | 'unchanged'> {
      const swap = async (t: Db): Promise<'added' | 'replaced' | 'unchanged'> => {
        const current = await confirmedFactor(userId, t);
        if (current && box.open(current.secret_sealed, sealAad(current.id)) === secret) return 'unchanged';
        const id = `totp_${randomId(12)}`;
        const at = Date.now();
        await t('mfa_factors').where({ user_id: userId }).delete();
        await t('mfa_recovery_codes').where({ user_id: userId }).delete();
        await t('mfa_factors').insert({ id, user_id: userId, type: 'otp', secret_sealed: box.seal(secret, sealAad(id)), confirmed: true, last_used_step: 0, pending_binding: null, created_at: at, confirmed_at: at });
        return current ? 'replaced' : 'added';
      };
      return q ? swap(q) : withAttemptLock(userId, (trx) => swap(trx));
    },

    /** New set of recovery codes; the old set stops working. */
    regenerateRecoveryCodes: (userId: string) => newRecoveryCodes(userId),

    async remove(userId: string, factorId?: string): Promise<number> {
      const q = db('mfa_factors').where({ user_id: userId });
      if (factorId) q.andWhere({ id: factorId });
      const n = await q.delete();
      if (!(await confirmedFactor(userId))) await db('mfa_recovery_codes').where({ user_id: userId }).delete();
      return n;
    },
  };
}
export type Mfa = ReturnType<typeof createMfa>;

const B32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
function base32(buf: Buffer): string {
  let bits = 0; let value = 0; let out = '';
  for (const b of buf) {
    value = (value << 8) | b; bits += 8;
    while (bits >= 5) { out += B32[(value >>> (bits - 5)) & 31]; bits -= 5; }
  }
  if (bits > 0) out += B32[(value << (5 - bits)) & 31];
  return out;
}
