import { z } from 'zod';
import { AppError } from '../shared/errors.ts';
import { UNSAFE_TEXT } from '../shared/text.ts';
import { canonicalEmail } from './email.ts';
import { importableHash } from './passwords.ts';
import { createInputProblem, type User, type Users } from './users.ts';
import type { Db } from '../db/knex.ts';
import { canonicalTotpSecret } from '../mfa/mfa.ts';

/**
 * Auth0's bulk user import (its "Bulk User Import Database Schema"): a JSON array of users, each
 * with its e-mail and, to keep signing in with the password it has, the hash Auth0 exported
 * (`password_hash`, bcrypt) or one from elsewhere (`custom_password_hash`: bcrypt or argon2).
 * A kept `user_id` keeps the `sub` apps already stored (`auth0|` + it). Such a hash is
 * replaced by Gatehouse's argon2id at the user's next sign-in. An authenticator app the user
 * enrolled (`mfa_factors: [{ totp: { secret } }]`, Auth0's MFA import) keeps working: it becomes
 * the user's confirmed authenticator. No action runs for an import, as on Auth0.
 */

/** Auth0's limit for one import file. */
export const IMPORT_MAX_BYTES = 500 * 1024;
/** Users in one file at most. */
export const IMPORT_MAX_USERS = 10_000;

const str = (max: number) => z.string().min(1).max(max).refine((s) => !UNSAFE_TEXT.test(s), 'must not contain control or invisible characters');
const hashValue = z.strictObject({ value: z.string().min(1).max(512), encoding: z.literal('utf8').optional() });
// Auth0's MFA enrollment import: 1 to 10 factors, each exactly one of totp, phone, email.
const mfaFactor = z.union([
  z.strictObject({ totp: z.strictObject({ secret: z.string().min(1).max(200) }) }),
  z.strictObject({ phone: z.strictObject({ value: z.string().max(20) }) }),
  z.strictObject({ email: z.strictObject({ value: z.string().max(320) }) }),
]);
const importedUser = z.strictObject({
  email: z.string().max(320),
  email_verified: z.boolean().optional(),
  // Auth0's import takes the id without the strategy (which it prepends); its export writes it with.
  user_id: z.string().regex(/^(auth0\|)?[A-Za-z0-9_.-]{1,58}$/, 'must be 1 to 58 letters, digits, _, . or -, optionally after auth0|').optional(),
  given_name: str(150).optional(), family_name: str(150).optional(), name: str(300).optional(), nickname: str(300).optional(),
  picture: z.string().max(2000).regex(/^https:\/\/\S+$/, 'must be an https URL').optional(),
  blocked: z.boolean().optional(),
  password_hash: z.string().min(1).max(512).optional(),
  custom_password_hash: z.strictObject({ algorithm: z.enum(['bcrypt', 'argon2']), hash: hashValue }).optional(),
  app_metadata: z.record(z.string(), z.unknown()).optional(),
  user_metadata: z.record(z.string(), z.unknown()).optional(),
  mfa_factors: z.array(mfaFactor).min(1).max(10).optional(),
}).refine((u) => !(u.password_hash && u.custom_password_hash), { message: 'give password_hash or custom_password_hash, not both', path: ['custom_password_hash'] });

export interface ImportError { user: { email?: unknown; user_id?: unknown }; errors: { code: string; message: string; path: string }[] }
export interface ImportSummary { total: number; inserted: number; updated: number; failed: number }

/**
 * The one authenticator secret of a user's `mfa_factors`, or why the user is refused. SMS and
 * e-mail factors are refused, not dropped: this server has only authenticator apps, and a user
 * imported without the second factor they had could be signed in with the password alone, or
 * have an authenticator enrolled by whoever knows it, the next time an action asks for MFA.
 */
function importedSecret(factors: z.infer<typeof mfaFactor>[]): { secret: string } | { code: string; message: string } {
  const kinds = factors.map((f) => Object.keys(f)[0]);
  const other = kinds.find((k) => k !== 'totp');
  if (other) {
    return { code: 'UNSUPPORTED_FIELD', message: `mfa_factors: ${other === 'phone' ? 'SMS (phone)' : 'e-mail'} factors are not supported here, only authenticator apps (totp); the user was not imported, so as not to drop a second factor` };
  }
  const secrets = new Set<string>();
  for (const f of factors as { totp: { secret: string } }[]) {
    const c = canonicalTotpSecret(f.totp.secret);
    if ('error' in c) return { code: 'INVALID_FORMAT', message: `mfa_factors.totp.secret: ${c.error}` };
    secrets.add(c.secret);
  }
  if (secrets.size > 1) return { code: 'INVALID_FORMAT', message: 'mfa_factors: one authenticator per user here, and this user has more than one totp secret' };
  return { secret: [...secrets][0] };
}

/** The file's users, or why the file as a whole is refused. */
export function parseImportFile(raw: Buffer): unknown[] {
  if (raw.length > IMPORT_MAX_BYTES) throw new AppError(413, 'too_large', `The users file is larger than ${IMPORT_MAX_BYTES / 1024} KB: split it`);
  let parsed: unknown;
  // A byte-order mark, as some editors on Windows write one, is not part of the JSON.
  try { parsed = JSON.parse(raw.toString('utf8').replace(/^\uFEFF/, '')); } catch { throw new AppError(400, 'invalid_body', 'users: the file is not JSON'); }
  if (!Array.isArray(parsed)) throw new AppError(400, 'invalid_body', 'users: the file must hold a JSON array of users');
  if (parsed.length === 0) throw new AppError(400, 'invalid_body', 'users: the file holds no user');
  if (parsed.length > IMPORT_MAX_USERS) throw new AppError(400, 'invalid_body', `users: at most ${IMPORT_MAX_USERS} users per file`);
  return parsed;
}

/**
 * Imports `list` one user at a time: a user that cannot be imported is reported (Auth0's
 * `GET /jobs/{id}/errors`) and the rest go on. An e-mail (or kept id) that exists is
 * DUPLICATED_USER, unless `upsert`: then its profile and metadata are updated (metadata
 * merged, as a PATCH does), never its password. Returns the summary and the errors. The
 * caller's `beforeInsert` records each new set of hash parameters before the first user that
 * has it exists (HashClasses.record: the timing floor).
 */
export async function importUsers(users: Users, list: unknown[], opts: {
  upsert: boolean;
  /** A user an upsert changed (for the audit log), after its tokens were revoked if it was blocked by it. */
  onUpdated?: (before: User, after: User) => Promise<void>;
  /** Before a user with an imported hash is inserted (HashClasses.record: the timing floor first). */
  beforeInsert?: (passwordHash: string) => Promise<void>;
  /** Sets a user's authenticator (Mfa.importTotp), on `q`: the new user's insert transaction. */
  importTotp: (userId: string, secret: string, q?: Db) => Promise<'added' | 'replaced' | 'unchanged'>;
  /** An upsert that gave an existing user an authenticator, or another one (for the audit log). */
  onFactor?: (userId: string, outcome: 'added' | 'replaced') => Promise<void>;
}) {
  const summary: ImportSummary = { total: list.length, inserted: 0, updated: 0, failed: 0 };
  const errors: ImportError[] = [];
  const fail = (item: unknown, code: string, message: string, path = '') => {
    const o = item !== null && typeof item === 'object' ? item as Record<string, unknown> : {};
    errors.push({ user: { email: typeof o.email === 'string' ? o.email.slice(0, 320) : undefined, user_id: typeof o.user_id === 'string' ? o.user_id.slice(0, 70) : undefined }, errors: [{ code, message, path }] });
    summary.failed++;
  };
  for (const item of list) {
    const r = importedUser.safeParse(item);
    if (!r.success) {
      const i = r.error.issues[0];
      const path = i.path.join('.');
      fail(item, i.code === 'unrecognized_keys' ? 'UNSUPPORTED_FIELD' : 'INVALID_FORMAT', i.code === 'unrecognized_keys' ? `not imported here: ${(i as { keys: string[] }).keys.join(', ')}` : `${path || 'user'}: ${i.message}`, path);
      continue;
    }
    const u = r.data;
    const email = canonicalEmail(u.email);
    if (!email) { fail(item, 'INVALID_FORMAT', 'email: is not a valid e-mail address', 'email'); continue; }
    let passwordHash: string | undefined;
    const given = u.custom_password_hash ?? (u.password_hash ? { algorithm: 'bcrypt' as const, hash: { value: u.password_hash } } : undefined);
    if (given) {
      const h = importableHash(given.algorithm, given.hash.value);
      if ('error' in h) { fail(item, 'INVALID_FORMAT', `${u.custom_password_hash ? 'custom_password_hash.hash.value' : 'password_hash'}: ${h.error}`, u.custom_password_hash ? 'custom_password_hash' : 'password_hash'); continue; }
      passwordHash = h.hash;
    }
    let totpSecret: string | undefined;
    if (u.mfa_factors) {
      const t = importedSecret(u.mfa_factors);
      if ('code' in t) { fail(item, t.code, t.message, 'mfa_factors'); continue; }
      totpSecret = t.secret;
    }
    const id = u.user_id === undefined ? undefined : `auth0|${u.user_id.replace(/^auth0\|/, '')}`;
    const profile = {
      email, email_verified: u.email_verified, given_name: u.given_name, family_name: u.family_name, name: u.name, nickname: u.nickname,
      picture: u.picture, blocked: u.blocked, app_metadata: u.app_metadata, user_metadata: u.user_metadata,
    };
    try {
      const existing = await users.findRowByEmail(email);
      const sameId = id !== undefined ? await users.get(id) : undefined;
      if (existing || sameId) {
        if (!opts.upsert) { fail(item, 'DUPLICATED_USER', existing ? 'The user already exists (upsert is off)' : 'A user with this user_id already exists (upsert is off)', existing ? 'email' : 'user_id'); continue; }
        if (!existing || (sameId && sameId.user_id !== existing.id) || (id !== undefined && existing.id !== id)) {
          fail(item, 'DUPLICATED_USER', 'The e-mail and the user_id belong to different users', 'user_id');
          continue;
        }
        const { email: _same, ...patch } = profile;
        const defined = Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined));
        if (Object.keys(defined).length > 0) {
          const before = (await users.get(existing.id))!;
          const after = await users.update(existing.id, defined);
          // As the Management API's PATCH: a user blocked now loses what was issued to it.
          if (after.blocked && !before.blocked) await users.revokeTokens(existing.id, 'account-deactivated');
          await opts.onUpdated?.(before, after);
        }
        if (totpSecret) {
          const outcome = await opts.importTotp(existing.id, totpSecret);
          if (outcome !== 'unchanged') await opts.onFactor?.(existing.id, outcome);
        }
        summary.updated++;
        continue;
      }
      // What create would refuse, refused first: nothing is recorded for a user that will not exist.
      const problem = createInputProblem(profile);
      if (problem) { fail(item, 'INVALID_FORMAT', problem, problem.split(':')[0]); continue; }
      if (passwordHash) await opts.beforeInsert?.(passwordHash);
      const secret = totpSecret;
      await users.create({ ...profile, ...(id ? { id } : {}), ...(passwordHash ? { passwordHash } : {}) },
        secret ? { alongside: async (trx, userId) => { await opts.importTotp(userId, secret, trx); } } : {});
      summary.inserted++;
    } catch (e) {
      if (e instanceof AppError) fail(item, e.status === 409 ? 'DUPLICATED_USER' : 'INVALID_FORMAT', e.message);
      else throw e;
    }
  }
  return { summary, errors };
}
