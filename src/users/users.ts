import type { Db } from '../db/knex.ts';
import { isSqlite, isUniqueViolation, parseJson, toBool } from '../db/knex.ts';
import { AppError, badRequest, conflict, notFound } from '../shared/errors.ts';
import { newUserId } from '../shared/ids.ts';
import { canonicalEmail } from './email.ts';
import { applyUserSearch, type SearchNode } from './search.ts';
import type { EndedSession } from '../oidc/backchannel.ts';
import type { BackchannelInitiator } from '../clients/clients.ts';

/**
 * What PostgreSQL's jsonb cannot hold, anywhere in a metadata value or its keys: a NUL, or a
 * lone UTF-16 surrogate (JSON.stringify writes it as \ud800, which jsonb refuses). The user
 * search reads metadata as jsonb, so one such row made every metadata search fail. Null when
 * the value is fine.
 */
export function metadataProblem(v: unknown): string | null {
  // Walked with a stack of its own, at any depth (the storage layer's guard, whoever calls it).
  const bad = (s: string) => s.includes('\u0000') || !s.isWellFormed();
  const stack: unknown[] = [v];
  const seen = new WeakSet<object>();
  while (stack.length > 0) {
    const x = stack.pop();
    if (typeof x === 'string') { if (bad(x)) return 'must not contain NUL characters or lone surrogates'; continue; }
    if (x === null || typeof x !== 'object' || seen.has(x)) continue;
    seen.add(x);
    for (const [k, child] of Object.entries(x)) {
      if (bad(k)) return 'keys must not contain NUL characters or lone surrogates';
      stack.push(child);
    }
  }
  return null;
}
import { checkPasswordPolicy, type PasswordHasher } from './passwords.ts';

export interface User {
  user_id: string; email: string; email_verified: boolean; name: string; nickname: string; picture: string;
  /** Only when set, as on Auth0. */
  given_name?: string; family_name?: string;
  connection: string; app_metadata: Record<string, unknown>; user_metadata: Record<string, unknown>;
  blocked: boolean; logins_count: number; last_login: string | null; last_ip: string | null;
  /** When the password last changed (reset, change, an admin); only once it has, as on Auth0. */
  last_password_reset?: string;
  created_at: string; updated_at: string; identities: { connection: string; provider: string; user_id: string; isSocial: boolean }[];
}

export interface UserRow { id: string; email: string; password_hash: string | null; [k: string]: unknown }

const now = () => new Date().toISOString();

/** The largest app_metadata or user_metadata object stored for a user, as JSON (what a Management API PATCH body may carry, too). */
export { METADATA_MAX_BYTES } from '../shared/metadata-limits.ts';
import { METADATA_MAX_BYTES, setWithinCap } from '../shared/metadata-limits.ts';
const UNSAFE_METADATA_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/** `stored` (JSON) with `patch` merged one level deep: null deletes a key. */
function mergeMetadata(stored: unknown, patch: Record<string, unknown>): Record<string, unknown> {
  const merged: Record<string, unknown> = { ...parseJson<Record<string, unknown>>(stored as string, {}) };
  for (const [k, v] of Object.entries(patch)) {
    if (UNSAFE_METADATA_KEYS.has(k)) continue;
    if (v === null) delete merged[k]; else merged[k] = v;
  }
  return merged;
}
/** A metadata object's size as stored (UTF-8 JSON). */
export const metadataBytes = (o: Record<string, unknown>) => Buffer.byteLength(JSON.stringify(o));
/** `"key":"value"` as it appears in a JSON payload, escaped for LIKE … escape '\\' (a prefilter; the parsed payload decides). */
const jsonMemberNeedle = (key: string, value: string) => JSON.stringify({ [key]: value }).slice(1, -1).replace(/[\\%_]/g, (c) => `\\${c}`);
const REVOCABLE_TYPES = ['Session', 'Grant', 'RefreshToken', 'AccessToken', 'AuthorizationCode'];

/** Auth0's Management API v2 user shape; never carries the password hash. */
export function toUser(r: UserRow): User {
  const [provider, id] = r.id.split('|');
  return {
    user_id: r.id, email: r.email, email_verified: toBool(r.email_verified),
    name: (r.name as string) ?? r.email, nickname: (r.nickname as string) ?? r.email.split('@')[0],
    picture: (r.picture as string) ?? '',
    ...(typeof r.given_name === 'string' ? { given_name: r.given_name } : {}), ...(typeof r.family_name === 'string' ? { family_name: r.family_name } : {}),
    connection: r.connection as string,
    app_metadata: parseJson(r.app_metadata, {}), user_metadata: parseJson(r.user_metadata, {}),
    blocked: toBool(r.blocked), logins_count: Number(r.logins_count ?? 0),
    last_login: (r.last_login as string) ?? null, last_ip: (r.last_ip as string) ?? null,
    ...(typeof r.last_password_reset === 'string' ? { last_password_reset: r.last_password_reset } : {}),
    created_at: r.created_at as string, updated_at: r.updated_at as string,
    identities: [{ connection: r.connection as string, provider, user_id: id, isSocial: false }],
  };
}


export interface CreateUserInput {
  email: string; password?: string; email_verified?: boolean; name?: string; nickname?: string; picture?: string;
  /** null (an update) clears it. */
  given_name?: string | null; family_name?: string | null;
  connection?: string; user_metadata?: Record<string, unknown>; app_metadata?: Record<string, unknown>; blocked?: boolean;
  /** An import's (src/users/import.ts): the user's id as it was elsewhere, and the hash it brought (checked there). */
  id?: string; passwordHash?: string;
}

/**
 * Why `create` would refuse `input` before it writes anything (the e-mail, the metadata caps),
 * or null: an import asks first, so that nothing is recorded for a user that will not exist.
 */
export function createInputProblem(input: Pick<CreateUserInput, 'email' | 'app_metadata' | 'user_metadata'>): string | null {
  if (!canonicalEmail(input.email)) return 'email: is not a valid e-mail address';
  // The cap every metadata write has (a pre-user-registration action's output included).
  for (const k of ['app_metadata', 'user_metadata'] as const) {
    if (input[k] !== undefined && metadataBytes(input[k]!) > METADATA_MAX_BYTES) return `${k}: must be at most ${METADATA_MAX_BYTES} bytes as JSON`;
    const bad = input[k] !== undefined ? metadataProblem(input[k]) : null;
    if (bad) return `${k}: ${bad}`;
  }
  return null;
}

/**
 * Users: canonical e-mail (one account per address, enforced by the unique index, so
 * concurrent signups of one address leave one user), argon2id password hashes.
 */
export function createUsers(db: Db, hasher: PasswordHasher, policy: { minLength: number; maxLength: number }, hooks: {
  /** Sessions just ended (their stored payloads) and why, for back-channel logout (src/oidc/backchannel.ts). */
  sessionsEnded?(sessions: EndedSession[], initiators: BackchannelInitiator[]): void;
} = {}) {
  async function findRow(id: string): Promise<UserRow | undefined> { return db('users').where({ id }).first(); }
  const sqlite = isSqlite(db);
  /** The row inside a transaction, locked against concurrent writers on PostgreSQL (SQLite has one writer at a time). */
  async function lockedRow(trx: Db, id: string): Promise<UserRow | undefined> {
    const q = trx('users').where({ id });
    return (sqlite ? q : q.forUpdate()).first();
  }

  return {
    /**
     * Validates, hashes (outside any transaction) and inserts. 409 when the e-mail is taken.
     * `alongside` writes what must exist with the user or not at all (an import's authenticator),
     * in the insert's transaction.
     */
    async create(input: CreateUserInput, opts: { alongside?: (trx: Db, userId: string) => Promise<void> } = {}): Promise<User> {
      const problem = createInputProblem(input);
      if (problem) throw badRequest(problem, 'invalid_body');
      const email = canonicalEmail(input.email)!;
      let hash: string | null = input.passwordHash ?? null;
      if (input.password !== undefined && input.passwordHash === undefined) {
        const problem = checkPasswordPolicy(input.password, policy);
        if (problem) throw new AppError(400, 'password_strength_error', `password: ${problem}`);
        hash = await hasher.hash(input.password);
      }
      const ts = now();
      const row = {
        id: input.id ?? newUserId(), email, email_verified: input.email_verified ?? false, password_hash: hash,
        connection: input.connection ?? 'Username-Password-Authentication',
        name: input.name ?? email, nickname: input.nickname ?? email.split('@')[0], picture: input.picture ?? null,
        given_name: input.given_name ?? null, family_name: input.family_name ?? null,
        app_metadata: JSON.stringify(input.app_metadata ?? {}), user_metadata: JSON.stringify(input.user_metadata ?? {}),
        blocked: input.blocked ?? false, created_at: ts, updated_at: ts,
      };
      try {
        if (opts.alongside) {
          const alongside = opts.alongside;
          await db.transaction(async (trx) => { await trx('users').insert(row); await alongside(trx, row.id); });
        } else {
          await db('users').insert(row);
        }
      } catch (e) {
        if (isUniqueViolation(e)) throw conflict('The user already exists.', 'auth0_idp_error');
        throw e;
      }
      return toUser((await findRow(row.id))!);
    },
    async get(id: string): Promise<User | undefined> {
      const r = await findRow(id);
      return r ? toUser(r) : undefined;
    },
    async require(id: string): Promise<User> {
      const r = await findRow(id);
      if (!r) throw notFound('The user does not exist.', 'inexistent_user');
      return toUser(r);
    },
    /**
     * The row for an address. `forLogin`: read as a password check reads it: on PostgreSQL it
     * waits for a password change under way (which holds the row locked from the time it is
     * timed to its commit) and reads the new hash; otherwise it was read before the change was
     * timed, and a login it let through ends at its resume (provider.ts endStaleLogins). SQLite
     * writes one transaction at a time, so there is nothing to wait for.
     */
    async findRowByEmail(email: string, opts: { forLogin?: boolean } = {}): Promise<UserRow | undefined> {
      const canon = canonicalEmail(email);
      if (!canon) return undefined;
      const q = db('users').where({ email: canon });
      return (opts.forLogin && !sqlite ? q.forShare() : q).first();
    },
    async list(opts: { page: number; perPage: number; email?: string; userId?: string; search?: SearchNode; searchTimeoutMs?: number; sort?: { field: 'created_at' | 'email' | 'updated_at' | 'last_login'; desc: boolean } }) {
      const q = db('users');
      if (opts.search) applyUserSearch(q, opts.search, isSqlite(db));
      // A search may scan every row's JSON: on PostgreSQL each of its two queries is cancelled
      // past 10 s rather than holding a pooled connection (SQLite runs in process, one statement
      // at a time). knex's clone() does not copy a timeout: each query gets its own.
      const limitMs = opts.searchTimeoutMs ?? 10_000;
      const bounded = <T extends { timeout(ms: number, o: { cancel: boolean }): T }>(x: T): T => (opts.search && !isSqlite(db) ? x.timeout(limitMs, { cancel: true }) : x);
      if (opts.email !== undefined) {
        // Not an address: matches nothing (no stand-in value: PostgreSQL refuses a NUL in text).
        const canon = canonicalEmail(opts.email);
        if (canon) q.where({ email: canon }); else q.whereRaw('1 = 0');
      }
      if (opts.userId !== undefined) q.where({ id: opts.userId });
      const sort = opts.sort ?? { field: 'created_at', desc: false };
      try {
        const [{ n }] = await bounded(q.clone().count({ n: '*' }));
        const rows = await bounded(q.orderBy(sort.field, sort.desc ? 'desc' : 'asc').orderBy('id').limit(opts.perPage).offset(opts.page * opts.perPage));
        return { users: rows.map(toUser), total: Number(n) };
      } catch (e) {
        // A search's own time limit, said as the caller's problem and without its values (knex's
        // error carries them). Only that: a pool that cannot give a connection in time (also a
        // KnexTimeoutError) or a cancel by someone else stays the server's error (503 or 500).
        const err = e as { name?: string; message?: string; code?: string };
        const searchLimit = opts.search !== undefined && !isSqlite(db)
          && ((err.name === 'KnexTimeoutError' && /^Defined query timeout/.test(err.message ?? '')) || err.code === '57014');
        if (searchLimit) {
          throw badRequest(`Query validation error: q: the search took longer than ${limitMs / 1000} s; narrow it (fewer metadata terms or wildcards)`, 'invalid_query_string');
        }
        throw e;
      }
    },
    /**
     * Allow-listed fields only (mass assignment guard); metadata objects merge one level, null
     * deletes. The merge reads and writes the row in one transaction (the row locked on
     * PostgreSQL; SQLite runs one writer at a time), so two concurrent PATCHes to different
     * keys both land; a merged object larger than METADATA_MAX_BYTES is refused.
     */
    async update(id: string, patch: Partial<CreateUserInput>, opts: { newUserMetadataKeysOnly?: boolean } = {}): Promise<User> {
      const upd: Record<string, unknown> = { updated_at: now() };
      if (patch.email !== undefined) {
        const email = canonicalEmail(patch.email);
        if (!email) throw badRequest('email: is not a valid e-mail address');
        upd.email = email;
      }
      for (const k of ['email_verified', 'blocked', 'name', 'nickname', 'picture', 'given_name', 'family_name'] as const) if (patch[k] !== undefined) upd[k] = patch[k];
      if (patch.password !== undefined) {
        const problem = checkPasswordPolicy(patch.password, policy);
        if (problem) throw new AppError(400, 'password_strength_error', `password: ${problem}`);
        // Hashed before the transaction: argon2 takes tens of milliseconds, the row stays unlocked meanwhile.
        upd.password_hash = await hasher.hash(patch.password);
        // A new password: remembered browsers ask for the second factor again (src/mfa/remember.ts).
        upd.mfa_remember_epoch = db.raw('mfa_remember_epoch + 1');
      }
      try {
        await db.transaction(async (trx) => {
          const cur = await lockedRow(trx, id);
          if (!cur) throw notFound('The user does not exist.', 'inexistent_user');
          // Checked against the locked row: a key added meanwhile counts as existing.
          if (opts.newUserMetadataKeysOnly && patch.user_metadata) {
            const stored = parseJson(cur.user_metadata, {}) as Record<string, unknown>;
            const existing = Object.keys(patch.user_metadata).filter((k) => Object.hasOwn(stored, k));
            if (existing.length > 0) {
              throw new AppError(403, 'insufficient_scope', `Changing or removing user_metadata keys that exist (${existing.slice(0, 5).join(', ')}) needs update:current_user_metadata`);
            }
          }
          for (const k of ['app_metadata', 'user_metadata'] as const) {
            if (patch[k] === undefined) continue;
            const bad = metadataProblem(patch[k] ?? {});
            if (bad) throw badRequest(`${k}: ${bad}`);
            const merged = mergeMetadata(cur[k], patch[k] ?? {});
            if (metadataBytes(merged) > METADATA_MAX_BYTES) throw badRequest(`${k}: would be larger than ${METADATA_MAX_BYTES} bytes once merged with what is stored`);
            upd[k] = JSON.stringify(merged);
          }
          // When the change is made: after the hashing (tens of milliseconds), with the row locked.
          // A login that read the old hash before this time ends before it resumes (provider.ts
          // endStaleLogins); timed before the hashing, one checked during it would have passed.
          upd.updated_at = now();
          if (upd.password_hash !== undefined) upd.last_password_reset = upd.updated_at;
          await trx('users').where({ id }).update(upd);
        });
      } catch (e) {
        if (isUniqueViolation(e)) throw conflict('The specified new email already exists', 'email_conflict');
        throw e;
      }
      return toUser((await findRow(id))!);
    },
    /**
     * Actions' metadata writes: each key an action set (null: deleted) merged into what is stored
     * now, in one transaction, so keys the chain did not touch (an admin's change made while a
     * login was paused, the other metadata object) are left as they are. False, and nothing
     * written, when a merged object would exceed METADATA_MAX_BYTES or the user is gone.
     */
    async patchMetadata(id: string, patch: { app?: Record<string, unknown>; user?: Record<string, unknown> }): Promise<{ saved: boolean; skipped: string[] }> {
      return db.transaction(async (trx) => {
        const cur = await lockedRow(trx, id);
        if (!cur) return { saved: false, skipped: [] };
        const upd: Record<string, unknown> = { updated_at: now() };
        // Key by key, into what is stored now (which may have changed since the actions read it:
        // an admin's PATCH meanwhile, a login paused at a redirect): a key that no longer fits
        // under the cap, or cannot be stored, is skipped; the others land.
        const skipped: string[] = [];
        for (const [k, p] of [['app_metadata', patch.app], ['user_metadata', patch.user]] as const) {
          if (p === undefined) continue;
          const merged = parseJson<Record<string, unknown>>(cur[k] as string, {});
          // Deletions first: what they free counts for the sets (the engine checked the calls in
          // the order they were made, where a deletion may come before a larger value).
          const entries = Object.entries(p).filter(([key]) => !UNSAFE_METADATA_KEYS.has(key));
          for (const [key, v] of entries) if (v === null) delete merged[key];
          // Then the sets that shrink the object before those that grow it: when the whole fits,
          // so does every step on the way (the engine checked the calls in their own order).
          const sizeOf = (key: string, v: unknown) => (v === undefined ? 0 : Buffer.byteLength(JSON.stringify({ [key]: v })));
          const sets = entries.filter(([, v]) => v !== null)
            .map(([key, v]) => ({ key, v, grows: sizeOf(key, v) - sizeOf(key, Object.hasOwn(merged, key) ? merged[key] : undefined) }))
            .sort((a, b) => a.grows - b.grows);
          for (const { key, v } of sets) {
            if (metadataProblem(key) || metadataProblem(v) || !setWithinCap(merged, key, v)) skipped.push(`${k}.${key}`);
          }
          upd[k] = JSON.stringify(merged);
        }
        await trx('users').where({ id }).update(upd);
        return { saved: true, skipped };
      });
    },
    /** Deletes the user; rows keyed by user id without a foreign key go with it. */
    async remove(id: string): Promise<boolean> {
      await db('action_login_claims').where({ account_id: id }).delete();
      await db('mfa_pending').where({ user_id: id }).delete();
      return (await db('users').where({ id }).delete()) > 0;
    },
    async recordLogin(id: string, ip: string | undefined) {
      await db('users').where({ id }).update({ logins_count: db.raw('logins_count + 1'), last_login: now(), last_ip: ip ?? null });
    },
    /**
     * Marks the address verified only if it is still `email`: a change of address landing
     * between the link's checks and this write must not make the new address verified.
     */
    async markVerified(id: string, email: string): Promise<boolean> {
      return (await db('users').where({ id, email }).update({ email_verified: true, updated_at: now() })) === 1;
    },
    /** Marks the address verified only if it was not: true when this call verified it (what happens once per address, such as a welcome mail, keys on it). */
    async markVerifiedFirst(id: string, email: string): Promise<boolean> {
      return (await db('users').where({ id, email, email_verified: false }).update({ email_verified: true, updated_at: now() })) === 1;
    },
    /** Every browser remembered at the second factor asks again (src/mfa/remember.ts). */
    async forgetRememberedBrowsers(id: string): Promise<void> { await db('users').where({ id }).increment('mfa_remember_epoch', 1); },
    /**
     * A new password's hash; `rehash`: the hash it replaces, for the same password under new argon2
     * parameters, which is no change of password (a change also forgets every remembered browser:
     * forgetRememberedBrowsers). Whether the row took it (a rehash does not when the hash changed
     * meanwhile).
     */
    async setPasswordHash(id: string, hash: string, opts: { rehash?: string } = {}): Promise<boolean> {
      return db.transaction(async (trx) => {
        // Timed with the row locked, as update() does (see findRowByEmail's forLogin).
        if (!(await lockedRow(trx, id))) return false;
        // A rehash replaces only the hash it was made from: a password change that landed meanwhile stands.
        const q = trx('users').where({ id });
        if (opts.rehash !== undefined) q.andWhere({ password_hash: opts.rehash });
        const at = now();
        // A rehash is the same password: neither remembered browsers nor last_password_reset change.
        const change = opts.rehash !== undefined ? {} : { mfa_remember_epoch: trx.raw('mfa_remember_epoch + 1'), last_password_reset: at };
        return (await q.update({ password_hash: hash, updated_at: at, ...change })) > 0;
      });
    },
    async roleNames(id: string): Promise<string[]> {
      const rows = await db('user_roles').join('roles', 'roles.id', 'user_roles.role_id').where('user_roles.user_id', id).select('roles.name');
      return rows.map((r) => r.name as string);
    },
    /**
     * Ends everything a user holds: sessions, grants, refresh and access tokens, unredeemed codes
     * (ASVS 7.4.2: on delete, block or an admin password reset), found by oidc_payloads'
     * indexed account_id column. Rows that share a grant with a match go too; so do the user's
     * logins under way (a pending second factor, a continuation). Returns the count of token rows.
     */
    async revokeTokens(id: string, ...why: Extract<BackchannelInitiator, 'password-changed' | 'account-deleted' | 'account-deactivated'>[]): Promise<number> {
      // The user's records by their indexed account_id column (migration 20261124000000); the
      // sessions' payloads with them (the applications they signed in to: back-channel logout).
      const mine: { type: string; id: string; grant_id: string | null; uid: string | null; payload: string | null }[] = await db('oidc_payloads')
        .where({ account_id: id }).whereIn('type', REVOCABLE_TYPES).select('type', 'id', 'grant_id', 'uid', db.raw("case when type = 'Session' then payload end as payload"));
      const sessions = mine.filter((r) => r.type === 'Session' && r.payload !== null) as { payload: string }[];
      const grantIds = [...new Set(mine.map((r) => r.grant_id).filter((g): g is string => !!g))];
      let n = 0;
      for (const r of mine) n += await db('oidc_payloads').where({ type: r.type, id: r.id }).delete();
      // The ended sessions' devices (addresses and browsers, kept for event.session) go with them.
      const sessionUids = mine.filter((r) => r.type === 'Session' && r.uid).map((r) => r.uid as string);
      for (let i = 0; i < sessionUids.length; i += 200) await db('session_devices').whereIn('session_uid', sessionUids.slice(i, i + 200)).delete();
      await db('session_methods').where({ user_id: id }).delete();
      await db('session_metadata').where({ user_id: id }).delete();
      for (let i = 0; i < grantIds.length; i += 200) n += await db('oidc_payloads').whereIn('grant_id', grantIds.slice(i, i + 200)).delete();
      // Logins of this user still under way end too: one waiting at the second factor, or away
      // at an action's redirect. Otherwise someone who had the old password and got that far
      // could finish after the change and get a new session. (Not counted: they are no tokens.)
      await db('mfa_pending').where({ user_id: id }).delete();
      await db('organization_pending').where({ user_id: id }).delete();
      const waiting = jsonMemberNeedle('userId', id);
      const parked: { state: string; payload: string }[] = await db('action_continuations').whereRaw("payload like ? escape '\\'", [`%${waiting}%`]).select('state', 'payload');
      for (const r of parked) {
        let owner: unknown;
        try { owner = (JSON.parse(r.payload) as { userId?: unknown }).userId; } catch { continue; }
        if (owner === id) await db('action_continuations').where({ state: r.state }).delete();
      }
      if (sessions.length) hooks.sessionsEnded?.(sessions.map((s) => parseJson<EndedSession>(s.payload, {})), why);
      return n;
    },
    isUniqueViolation,
  };
}
export type Users = ReturnType<typeof createUsers>;
