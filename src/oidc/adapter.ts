import { errors } from 'oidc-provider';
import type { Db } from '../db/knex.ts';
import { isSqlite, parseJson, toNum, withSqliteConnection } from '../db/knex.ts';
import { earlierStoredLifetime, sessionEnded } from './lifetimes.ts';

type Payload = Record<string, unknown> & { grantId?: string; userCode?: string; uid?: string; consumed?: number };
type Row = { payload: string; consumed_at: unknown; expires_at: unknown };

/** Supplies Client metadata from the `clients` table (managed by the clients library). */
export interface ClientSource { findClientMetadata(clientId: string): Record<string, unknown> | undefined | Promise<Record<string, unknown> | undefined> }

/*
 * On SQLite the adapter runs its statements itself, on knex's one connection (taken from its
 * pool, so nothing interleaves), with the statements the connection keeps: a login makes 14
 * of these calls, and through knex's query builder each cost about 40 µs of CPU more than the
 * statement itself (bench/knex-cost.ts). PostgreSQL goes through knex.
 */
const SQL = {
  upsert: 'insert into oidc_payloads (id, type, payload, grant_id, user_code, uid, account_id, expires_at, consumed_at) values (?, ?, ?, ?, ?, ?, ?, ?, null) '
    + 'on conflict (type, id) do update set payload = excluded.payload, grant_id = excluded.grant_id, user_code = excluded.user_code, '
    + 'uid = excluded.uid, account_id = excluded.account_id, expires_at = excluded.expires_at, consumed_at = null',
  byId: 'select payload, consumed_at, expires_at from oidc_payloads where type = ? and id = ? limit 1',
  byUid: 'select payload, consumed_at, expires_at from oidc_payloads where type = ? and uid = ? limit 1',
  byUserCode: 'select payload, consumed_at, expires_at from oidc_payloads where type = ? and user_code = ? limit 1',
  destroy: 'delete from oidc_payloads where type = ? and id = ?',
  updateGrant: "update oidc_payloads set payload = ?, account_id = ?, expires_at = ? where type = 'Grant' and id = ?",
  revokeByGrantId: 'delete from oidc_payloads where grant_id = ?',
  consume: 'update oidc_payloads set consumed_at = ? where type = ? and id = ? and consumed_at is null',
  consumeReturning: 'update oidc_payloads set consumed_at = ? where type = ? and id = ? and consumed_at is null returning payload',
  // Two lookups by index in one statement, whatever the planner's statistics say (an OR let PostgreSQL's fall back to a scan by type).
  revokedOrGrant: "select type from oidc_payloads where type = ? and id = ? union all select type from oidc_payloads where type = 'Grant' and id = ?",
  sessionSave: "select type, payload, expires_at from oidc_payloads where type = 'RevokedSession' and id = ? "
    + "union all select * from (select type, payload, expires_at from oidc_payloads where type = 'Session' and uid = ? limit 1) as s",
} as const;

/** How many consumed refresh tokens' payloads wait for the token rotated from them (a rotation that failed between the two leaves one). */
const CONSUMED_KEPT = 10_000;
/** Set on a grant read from storage (markLoaded), so that its save updates it and never re-creates it. */
export const GRANT_LOADED_MEMBER = 'ghLoaded';
/** Marks a grant this request read from storage: its saves update the stored one, and fail if that is gone (KnexAdapter.upsert). */
export function markLoaded(grant: object): void {
  (grant as Record<string, unknown>)[GRANT_LOADED_MEMBER] = true;
}

/** A refresh-token family the Management API ended: a token rotated in it afterwards is not saved (src/management-api/refresh-tokens.ts). */
export const REVOKED_FAMILY = 'RevokedRefreshFamily';

const BY = { id: SQL.byId, uid: SQL.byUid, user_code: SQL.byUserCode } as const;

/**
 * oidc-provider adapter over knex: one table for every model, keyed by (type, id).
 *
 * `consume` is one conditional UPDATE whose row count is checked: oidc-provider reads
 * `consumed` and then calls `consume()` separately, so without this two parallel requests
 * could both redeem one authorization code or rotate one refresh token.
 *
 * Sessions: one past its absolute end (tokens.sessionMaxTtl from its sign-in, or earlier as an
 * action set: lifetimes.ts) is not found, however recently it was saved; and while post-login
 * actions are bound (they set such ends, and revoke), a save keeps the earlier end of the copy
 * stored meanwhile and skips a login revoked meanwhile.
 */
export function createAdapterFactory(db: Db, clients: ClientSource, sessionsMayBeRevoked: () => boolean = () => true, sessionMaxTtl?: number) {
  const sqlite = isSqlite(db);
  /** Runs one select on SQLite: its first row. */
  const get = (sql: string, args: unknown[]) => withSqliteConnection(db, (c) => c.prepare(sql).get(...args) as Row | undefined);
  /**
   * Runs one write on SQLite: the change count. knex would report it to the database health
   * check (src/db/health.ts listens to knex's query events: a disk that filled up must turn
   * /healthz red); these statements bypass knex, so they report the same events themselves.
   */
  const run = (sql: string, args: unknown[], method: 'insert' | 'update' | 'del') => withSqliteConnection(db, (c) => {
    let changes: number;
    try {
      changes = c.prepare(sql).run(...args).changes;
    } catch (e) {
      db.emit('query-error', e, { method, sql });
      throw e;
    }
    if (changes > 0) db.emit('query-response', changes, { method, sql });
    return changes;
  });

  /** Runs one select on either database (fixed SQL with ? placeholders): every row. */
  const all = async <R>(sql: string, args: unknown[]): Promise<R[]> => (sqlite
    ? withSqliteConnection(db, (c) => c.prepare(sql).all(...args) as R[])
    : (await db.raw(sql, args as never[])).rows as R[]);
  /** A write that returns its row on SQLite (consumeReturning), reported as `run` reports. */
  const writeReturning = (sql: string, args: unknown[]) => withSqliteConnection(db, (c) => {
    let row: Row | undefined;
    try {
      row = c.prepare(sql).get(...args) as Row | undefined;
    } catch (e) {
      db.emit('query-error', e, { method: 'update', sql });
      throw e;
    }
    if (row) db.emit('query-response', 1, { method: 'update', sql });
    return row;
  });
  /**
   * Each refresh token's payload as its consume found it: the token rotated from it takes its
   * metadata from here (token-family.ts), not from the copy the request loaded before. A
   * Management API PATCH lands either before the consume (and is here) or after it (and goes
   * onto the new token), never in between unseen.
   */
  const consumedRefreshTokens = new Map<string, Payload>();

  return class KnexAdapter {
    /** The payload a refresh token had when it was consumed (once; undefined if not kept). */
    static takeConsumed(id: string): Payload | undefined {
      const p = consumedRefreshTokens.get(id);
      consumedRefreshTokens.delete(id);
      return p;
    }
    type: string;
    constructor(name: string) { this.type = name; }

    async upsert(id: string, payload: Payload, expiresIn?: number) {
      let expiresAt = expiresIn ? Date.now() + expiresIn * 1000 : null;
      const grantId = payload.grantId ?? null; const userCode = payload.userCode ?? null;
      // A refresh token's family (token-family.ts) in the indexed uid column: the Management API finds it by that.
      const uid = payload.uid ?? (this.type === 'RefreshToken' && typeof payload.ghFamily === 'string' ? payload.ghFamily : null);
      // The user a record belongs to, in its own indexed column (src/oidc/grants.ts, users.revokeTokens).
      const accountId = typeof payload.accountId === 'string' ? payload.accountId : null;
      if (this.type === 'Session' && uid !== null && accountId !== null && typeof payload.loginTs === 'number' && sessionsMayBeRevoked()) {
        // One statement: a revocation of this login since the request loaded the session, and the copy stored meanwhile.
        const rows = await all<{ type: string; payload: string; expires_at: unknown }>(SQL.sessionSave, [uid, uid]);
        const revoked = rows.find((r) => r.type === 'RevokedSession');
        if (revoked && revokes(revoked, payload.loginTs)) return;
        const stored = rows.find((r) => r.type === 'Session');
        const earlier = stored ? earlierStoredLifetime(payload, parseOr(stored.payload)) : undefined;
        if (earlier) {
          payload.ghLifetime = earlier;
          if (expiresAt !== null) expiresAt = Math.min(expiresAt, earlier.expiresAt * 1000);
        }
      }
      // A grant this request loaded (markLoaded) is updated, never inserted: one revoked since it
      // was read (a user's app access revoked, a password change, their sessions ended) stays
      // revoked, with what was issued under it, rather than coming back with the same id.
      if (this.type === 'Grant' && payload[GRANT_LOADED_MEMBER] === true) {
        delete payload[GRANT_LOADED_MEMBER];
        const args = [JSON.stringify(payload), accountId, expiresAt, id];
        const changed = sqlite ? await run(SQL.updateGrant, args, 'update') : Number(await db.raw(SQL.updateGrant, args as never[]).then((r) => r.rowCount));
        if (changed === 0) throw new errors.AccessDenied('the authorization was revoked while this request was using it; sign in again');
        return;
      }
      const json = JSON.stringify(payload);
      if (sqlite) await run(SQL.upsert, [id, this.type, json, grantId, userCode, uid, accountId, expiresAt], 'insert');
      else {
        await db('oidc_payloads').insert({
          id, type: this.type, payload: json, grant_id: grantId, user_code: userCode, uid, account_id: accountId, expires_at: expiresAt, consumed_at: null,
        }).onConflict(['type', 'id']).merge();
      }
      // A token rotated in a family the Management API ended, or under a grant revoked meanwhile
      // (a block, a password change, a deleted user or session: users.revokeTokens), is taken
      // back and refused. Checked after the save: those write the mark, or delete the grant,
      // before they delete the tokens, so a save either comes before that deletion (which takes
      // it) or sees the mark or the missing grant here.
      if (this.type === 'RefreshToken' && typeof payload.rotations === 'number' && payload.rotations > 0) {
        const family = typeof payload.ghFamily === 'string' ? payload.ghFamily : '';
        const grant = typeof payload.grantId === 'string' ? payload.grantId : '';
        const found = await all<{ type: string }>(SQL.revokedOrGrant, [REVOKED_FAMILY, family, grant]);
        if (found.some((r) => r.type === REVOKED_FAMILY) || (grant !== '' && !found.some((r) => r.type === 'Grant'))) {
          await this.destroy(id);
          throw new errors.InvalidGrant('the refresh token was revoked');
        }
      }
    }

    async #findWhere(column: keyof typeof BY, value: string): Promise<Payload | undefined> {
      // A value with a NUL was never stored (PostgreSQL refuses one in text): not found, not a 500.
      if (typeof value !== 'string' || value.includes('\u0000')) return undefined;
      const row: Row | undefined = sqlite
        ? await get(BY[column], [this.type, value])
        : await db('oidc_payloads').select('payload', 'consumed_at', 'expires_at').where({ type: this.type, [column]: value }).first();
      if (!row) return undefined;
      const expiresAt = toNum(row.expires_at);
      // An expired device code is still found until it is swept: oidc-provider then tells the
      // user "expired" and the polling device `expired_token` (RFC 8628 §3.5), not "not found".
      if (expiresAt !== null && expiresAt <= Date.now() && this.type !== 'DeviceCode') return undefined;
      const payload = JSON.parse(row.payload) as Payload;
      if (this.type === 'Session' && sessionMaxTtl !== undefined && sessionEnded(payload, sessionMaxTtl)) return undefined;
      const consumedAt = toNum(row.consumed_at);
      if (consumedAt !== null) payload.consumed = Math.floor(consumedAt / 1000);
      return payload;
    }

    async find(id: string) {
      if (this.type === 'Client') return clients.findClientMetadata(id);
      return this.#findWhere('id', id);
    }
    async findByUid(uid: string) { return this.#findWhere('uid', uid); }
    async findByUserCode(userCode: string) { return this.#findWhere('user_code', userCode); }
    async destroy(id: string) {
      if (sqlite) await run(SQL.destroy, [this.type, id], 'del');
      else await db('oidc_payloads').where({ type: this.type, id }).delete();
    }
    async revokeByGrantId(grantId: string) {
      if (sqlite) await run(SQL.revokeByGrantId, [grantId], 'del');
      else await db('oidc_payloads').where({ grant_id: grantId }).delete();
    }

    async consume(id: string) {
      let n: number;
      if (this.type === 'RefreshToken') {
        const row = sqlite
          ? await writeReturning(SQL.consumeReturning, [Date.now(), this.type, id])
          : (await db('oidc_payloads').where({ type: this.type, id }).whereNull('consumed_at').update({ consumed_at: Date.now() }, ['payload']))[0] as Row | undefined;
        n = row ? 1 : 0;
        if (row) {
          if (consumedRefreshTokens.size >= CONSUMED_KEPT) consumedRefreshTokens.delete(consumedRefreshTokens.keys().next().value as string);
          consumedRefreshTokens.set(id, parseOr(row.payload));
        }
      } else {
        n = sqlite
          ? await run(SQL.consume, [Date.now(), this.type, id], 'update')
          : await db('oidc_payloads').where({ type: this.type, id }).whereNull('consumed_at').update({ consumed_at: Date.now() });
      }
      if (n === 0) {
        // Another request consumed it between oidc-provider's check and this one: a reuse, as
        // if it had come a moment later, when oidc-provider revokes what the code or refresh
        // token was issued under (RFC 9700 4.14). Two requests at once must not escape that.
        // The Grant goes too (oidc-provider's own reuse path destroys it): tokens the winning
        // request saves after this refer to a grant that is gone, and are refused where used.
        const grantId = (await this.find(id))?.grantId;
        if (typeof grantId === 'string' && grantId) {
          await this.revokeByGrantId(grantId);
          if (sqlite) await run(SQL.destroy, ['Grant', grantId], 'del');
          else await db('oidc_payloads').where({ type: 'Grant', id: grantId }).delete();
        }
        throw new errors.InvalidGrant(`${this.type} already consumed`);
      }
    }
  };
}

/**
 * Whether a session's RevokedSession record (api.session.revoke leaves one, keyed by the session's
 * uid: src/actions/triggers/run.ts) revokes its login of `loginTs`: a request that loaded the
 * session before the revocation must not save its copy back when it ends. A later login on the
 * same session (a new loginTs) is saved as usual.
 */
function revokes(row: { payload: string; expires_at: unknown }, loginTs: number): boolean {
  if (row.expires_at !== null && (toNum(row.expires_at) ?? 0) <= Date.now()) return false;
  const revokedAt = parseOr(row.payload).revokedAt;
  return typeof revokedAt === 'number' && loginTs <= Math.floor(revokedAt / 1000);
}

function parseOr(json: string): Payload {
  try { return JSON.parse(json) as Payload; } catch { return {}; }
}

/** Deletes expired rows; returns how many. Runs on a timer in the server. */
/**
 * Records `id` of model `type` unless a live row with it exists, in one statement: true when this
 * call recorded it. oidc-provider's ReplayDetection looks a jti up and then saves it, so requests
 * racing with one client assertion (or DPoP proof) all passed; the conditional insert lets one.
 * An expired row with the id (not swept yet) is taken over.
 */
export async function insertOnce(db: Db, type: string, id: string, payload: Record<string, unknown>, expiresAt: number): Promise<boolean> {
  const r = await db.raw(
    'insert into oidc_payloads (id, type, payload, grant_id, user_code, uid, account_id, expires_at, consumed_at) values (?, ?, ?, null, null, null, null, ?, null) '
    + 'on conflict (type, id) do update set payload = excluded.payload, expires_at = excluded.expires_at where oidc_payloads.expires_at <= ? returning id',
    [id, type, JSON.stringify(payload), expiresAt, Date.now()],
  ) as { id: string }[] | { rows: { id: string }[] };
  return (Array.isArray(r) ? r : r.rows).length === 1;
}

export async function sweepExpired(db: Db, sessionsExpired?: (sessions: Record<string, unknown>[]) => void): Promise<number> {
  const now = Date.now();
  let n = 0;
  if (sessionsExpired) {
    // Signed-in sessions first, taken with their payloads (for back-channel logout's
    // session-expired): one node's DELETE gets each row, so each is reported once.
    // (Raw SQL: knex's SQLite client drops RETURNING from a delete.)
    const r = await db.raw("delete from oidc_payloads where type = 'Session' and account_id is not null and expires_at <= ? returning payload", [now]) as { payload: string }[] | { rows: { payload: string }[] };
    const rows = Array.isArray(r) ? r : r.rows;
    n += rows.length;
    if (rows.length) sessionsExpired(rows.map((r) => parseJson<Record<string, unknown>>(r.payload, {})));
  }
  return n + await db('oidc_payloads').where('expires_at', '<=', now).delete();
}
