import type { Audit } from '../audit/audit.ts';
import type { BruteForce } from './brute-force.ts';
import { canonicalEmail } from './email.ts';
import type { PasswordHasher } from './passwords.ts';
import type { User, UserRow, Users } from './users.ts';

export type PasswordCheck =
  | { ok: true; row: UserRow; user: User }
  | { ok: false; reason: 'invalid' | 'blocked' }
  | { ok: false; reason: 'throttled_ip'; retryAfterSeconds: number };

/**
 * The one password check behind every sign-in form (login page, /account, the current
 * password on /account): canonical e-mail, the attempt counted first (brute-force), the hash
 * always verified, against a dummy for unknown or throttled accounts so every failure costs
 * the same time, a lockout that answers like a wrong password (only a spraying IP is told
 * plainly), audit events with Auth0's codes, and a rehash when the parameters changed.
 */
export function createPasswordLogin(d: { users: Users; hasher: PasswordHasher; bruteForce: BruteForce; audit: Audit; maxPasswordBytes: number }) {
  const { users, hasher, bruteForce, audit } = d;

  return async function checkPassword(rawEmail: string, password: string, who: { ip: string; userAgent?: string; clientId?: string | null; where: string }): Promise<PasswordCheck> {
    const email = canonicalEmail(rawEmail);
    const base = { client_id: who.clientId ?? null, ip: who.ip, user_agent: who.userAgent };
    if (!email || !password || Buffer.byteLength(password) > d.maxPasswordBytes) {
      // A failure too, counted against the address (no account to hold it against): past the
      // address's limit it is refused as a spraying address is, with no hash to run; before,
      // a dummy verify so that it takes the time a wrong password takes.
      const v = await bruteForce.attemptAddress(who.ip);
      if (!v.allowed) {
        await audit.record({ type: 'limit_mu', description: `${who.where}: refused, IP address throttled after repeated failures`, user_name: rawEmail.slice(0, 320), ...base, details: { locked_until: new Date(v.until).toISOString() } });
        return { ok: false, reason: 'throttled_ip', retryAfterSeconds: Math.max(1, Math.ceil((v.until - Date.now()) / 1000)) };
      }
      await hasher.verify(undefined, 'x');
      await audit.record({ type: 'f', description: `${who.where}: malformed email or password`, user_name: rawEmail.slice(0, 320), ...base });
      return { ok: false, reason: 'invalid' };
    }
    const verdict = await bruteForce.attempt(email, who.ip);
    const row = await users.findRowByEmail(email, { forLogin: true });
    // Verified even when the account is throttled (against the dummy hash): that answer reads
    // and takes the same time as a wrong password. An address that is throttled is told so
    // plainly, whatever the account, so its requests cost no argon2 (a busy hash pool would
    // slow everyone's sign-in).
    const ok = !verdict.allowed && verdict.scope === 'ip' ? false : await hasher.verify(verdict.allowed ? row?.password_hash : undefined, password);
    if (!verdict.allowed) {
      await audit.record({
        type: verdict.scope === 'ip' ? 'limit_mu' : 'limit_wc', user_id: row?.id ?? null, user_name: email, ...base,
        description: `${who.where}: refused, ${verdict.scope === 'ip' ? 'IP address' : 'account'} throttled after repeated failures`,
        details: { locked_until: new Date(verdict.until).toISOString(), attempts: verdict.accountFailures },
      });
      return verdict.scope === 'ip' ? { ok: false, reason: 'throttled_ip', retryAfterSeconds: Math.max(1, Math.ceil((verdict.until - Date.now()) / 1000)) } : { ok: false, reason: 'invalid' };
    }
    if (!row || !ok) {
      await audit.record({ type: row ? 'fp' : 'fu', description: `${who.where}: ${row ? 'wrong password' : 'unknown email'}`, user_id: row?.id ?? null, user_name: email, ...base, details: { attempts: verdict.accountFailures } });
      if (verdict.lockStarted) {
        await audit.record({ type: 'limit_wc', description: `${who.where}: brute-force protection throttles further attempts`, user_id: row?.id ?? null, user_name: email, ...base, details: { attempts: verdict.accountFailures } });
      }
      return { ok: false, reason: 'invalid' };
    }
    await bruteForce.success(email, who.ip);
    const user = (await users.get(row.id))!;
    if (user.blocked) {
      await audit.record({ type: 'f', description: `${who.where}: user is blocked`, user_id: row.id, user_name: email, ...base });
      return { ok: false, reason: 'blocked' };
    }
    if (hasher.needsRehash(row.password_hash!)) {
      // The caller gets the row as stored now: what it seals over the password (the account
      // page's cookies) must match the new hash, or the first sign-in after a change of the
      // argon2 parameters would not hold.
      const passwordHash = await hasher.hash(password);
      if (await users.setPasswordHash(row.id, passwordHash, { rehash: row.password_hash! })) return { ok: true, row: { ...row, password_hash: passwordHash }, user };
      // Another request changed the hash meanwhile (a rehash of its own, or a new password): the row as it is now.
      const current = await users.findRowByEmail(row.email);
      return current && current.id === row.id ? { ok: true, row: current, user } : { ok: false, reason: 'invalid' };
    }
    return { ok: true, row, user };
  };
}
export type CheckPassword = ReturnType<typeof createPasswordLogin>;
