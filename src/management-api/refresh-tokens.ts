import { z } from 'zod';
import type { Context } from 'koa';
import { requireScope } from './auth.ts';
import { auditChange, checkpointOf, checkpointShape, fieldsOf, fieldsQuery, fieldsShape, parseBody, parseQuery, pathId, type RegisterRoutes } from './helpers.ts';
import { badRequest, conflict, notFound } from '../shared/errors.ts';
import { parseJson, toNum } from '../db/knex.ts';
import { metadataProblem } from '../users/users.ts';
import { REFRESH_TOKEN_METADATA_CHARS, REFRESH_TOKEN_METADATA_KEYS, refreshTokenMetadataKeyOk } from '../actions/engine/contract.ts';
import { refreshTokenFacts, type StoredRefreshToken } from '../actions/triggers/refresh-token-facts.ts';
import { familyIdOf, tokenFamily } from '../oidc/token-family.ts';
import { REVOKED_FAMILY } from '../oidc/adapter.ts';
import type { Knex } from 'knex';

const idParam = (ctx: Context) => pathId(ctx, 128);

/** Auth0's refresh_token_metadata: the actions' rule (token-family.ts); null, as on Auth0, empties it. */
const metadataSchema = z.record(
  z.string(),
  z.string().max(REFRESH_TOKEN_METADATA_CHARS).refine((v) => !metadataProblem(v), 'must not contain NUL characters or lone surrogates'),
).superRefine((o, issue) => {
  // Checked here rather than by the key's schema, whose message zod replaces with "Invalid key in record".
  for (const k of Object.keys(o)) {
    if (!refreshTokenMetadataKeyOk(k)) issue.addIssue({ code: 'custom', message: `key ${JSON.stringify(k)}: keys are 1 to ${REFRESH_TOKEN_METADATA_CHARS} letters, digits, _ or - (not __proto__, constructor or prototype)` });
  }
  if (Object.keys(o).length > REFRESH_TOKEN_METADATA_KEYS) issue.addIssue({ code: 'custom', message: `at most ${REFRESH_TOKEN_METADATA_KEYS} keys` });
}).nullable().transform((o) => o ?? {});

/**
 * Auth0's refresh-token endpoints: a user's refresh tokens, one by id (the id post-login actions
 * see as event.refresh_token.id: the token's family, which keeps its id while it rotates:
 * src/oidc/token-family.ts), its metadata, and ending them. What is shown is the family's live
 * token (the last one issued), never a token's value.
 */
export const registerRefreshTokens: RegisterRoutes = (router, app) => {
  const db = app.db;
  type Row = { id: string; uid: string | null; payload: string; grant_id: string | null; expires_at: unknown };
  const live = () => db('oidc_payloads').where({ type: 'RefreshToken' }).whereNull('consumed_at').andWhere('expires_at', '>', Date.now());
  const columns = ['id', 'uid', 'payload', 'grant_id', 'expires_at'] as const;

  /** Auth0's refresh token from rows, with their grants' ends (a family ends with its grant) in one query. */
  async function shape(rows: Row[]) {
    const grantIds = [...new Set(rows.map((r) => r.grant_id).filter((g): g is string => !!g))];
    const grantEnds = new Map<string, number | undefined>();
    for (let i = 0; i < grantIds.length; i += 200) {
      const gs: { id: string; expires_at: unknown }[] = await db('oidc_payloads').where({ type: 'Grant' }).whereIn('id', grantIds.slice(i, i + 200)).select('id', 'expires_at');
      for (const g of gs) { const e = toNum(g.expires_at); grantEnds.set(g.id, e === null ? undefined : Math.floor(e / 1000)); }
    }
    const out = [];
    for (const r of rows) {
      // Under a grant that is gone (revoked): a dead token, whatever its row says (the next refresh is refused).
      if (r.grant_id && !grantEnds.has(r.grant_id)) continue;
      const p = parseJson<StoredRefreshToken>(r.payload, {});
      if (typeof p.accountId !== 'string' || typeof p.clientId !== 'string') continue;
      const f = refreshTokenFacts({ jti: r.id, ...p }, { clientId: p.clientId, userId: p.accountId, grantExp: r.grant_id ? grantEnds.get(r.grant_id) : undefined });
      if (!f) continue;
      const { metadata, resource_servers: rs, ...rest } = f;
      out.push({ ...rest, resource_servers: rs.map((s) => ({ audience: s.audience, scopes: s.scopes.join(' ') })), refresh_token_metadata: metadata });
    }
    return out;
  }
  /**
   * Rows without their family in the uid column (written by a node of the version before, during
   * a rolling upgrade): given it now, from their payload or their own id (token-family.ts), so
   * that they are listed and found by the id their events show. `accountId`: only that user's.
   */
  async function fileFamilies(accountId?: string): Promise<number> {
    let filed = 0;
    // A thousand at a time, up to twenty thousand a request (such rows come only from an upgrade's overlap).
    for (let batch = 0; batch < 20; batch++) {
      let q = db('oidc_payloads').where({ type: 'RefreshToken' }).whereNull('uid');
      if (accountId !== undefined) q = q.andWhere({ account_id: accountId });
      const rows: { id: string; payload: string }[] = await q.limit(1000).select('id', 'payload');
      for (const r of rows) {
        const family = tokenFamily({ ...parseJson<StoredRefreshToken>(r.payload, {}), jti: r.id }) ?? familyIdOf(r.id);
        await db('oidc_payloads').where({ type: 'RefreshToken', id: r.id }).whereNull('uid').update({ uid: family });
      }
      filed += rows.length;
      if (rows.length < 1000) break;
    }
    return filed;
  }
  /**
   * The family's live token, by the id its rows are indexed by (adapter.ts). Between a refresh's
   * consume of it and the save of the next one the family has no live token for a moment: a
   * family whose token was consumed just now is waited for, not answered "does not exist" (a
   * DELETE then would leave the family going).
   */
  async function familyRow(id: string): Promise<Row> {
    for (let attempt = 0; ; attempt++) {
      const rows: Row[] = await live().andWhere({ uid: id }).select(...columns);
      // A family has one live token; should a race have left two, the newest speaks for it.
      const r = rows.sort((a, b) => (toNum(b.expires_at) ?? 0) - (toNum(a.expires_at) ?? 0))[0];
      if (r && (await shape([r])).length) return r;
      if (!r && attempt < 5 && await db('oidc_payloads').where({ type: 'RefreshToken', uid: id }).andWhere('consumed_at', '>', Date.now() - 2000).first('id')) {
        await new Promise((resolve) => setTimeout(resolve, 20 * (attempt + 1)));
        continue;
      }
      if (!r && attempt === 0 && /^rt_[A-Za-z0-9_-]{22}$/.test(id) && await fileFamilies() > 0) continue;
      throw notFound('The refresh token does not exist', 'inexistent_refresh_token');
    }
  }
  /**
   * Ends families: their tokens go, and a token a refresh under way rotates in one of them
   * afterwards is refused when it is saved (adapter.ts REVOKED_FAMILY), until the longest a
   * family lives has passed.
   */
  async function endFamilies(families: string[], rows: () => Knex.QueryBuilder): Promise<number> {
    const until = Date.now() + app.config.tokens.refreshTokenTtl * 1000;
    // The marks are committed first: a token saved after the deletion below sees them (adapter.ts).
    await db.transaction(async (trx) => {
      for (const f of families) {
        await trx('oidc_payloads').insert({ id: f, type: REVOKED_FAMILY, payload: '{}', grant_id: null, user_code: null, uid: null, account_id: null, expires_at: until, consumed_at: null })
          .onConflict(['type', 'id']).ignore();
      }
    });
    return Number(await rows().delete());
  }

  router.get('/users/:id/refresh-tokens', requireScope('read:refresh_tokens'), async function userRefreshTokens(ctx) {
    const id = idParam(ctx);
    // Auth0's checkpoint paging: `take` (50, at most 100) after `from`, `next` when there are more.
    // By family id, which stays while a token rotates (an order by expiry moved a token rotated
    // between two pages to the front: skipped or shown twice); never by the row id, the token itself.
    const q = parseQuery(ctx, z.strictObject({ ...checkpointShape, include_totals: z.enum(['true', 'false']).optional(), ...fieldsShape }));
    const c = checkpointOf(q) ?? { after: undefined, take: 50 };
    if (c.after && c.after.length !== 1) throw badRequest('Query validation error: from: must be the `next` value of an earlier answer', 'invalid_query_string');
    await app.users.require(id);
    await fileFamilies(id);
    let rows = live().andWhere({ account_id: id }).whereNotNull('uid');
    if (c.after) rows = rows.andWhere('uid', '>', c.after[0]);
    const got: Row[] = await rows.orderBy('uid').limit(c.take + 1).select(...columns);
    const pick = fieldsOf(q);
    const shaped = await shape(got.slice(0, c.take));
    // `next` from the rows read, not the tokens shown: a page whose tokens were all left out (their grant gone) still goes on.
    ctx.body = { tokens: shaped.map(pick), ...(got.length > c.take ? { next: Buffer.from(JSON.stringify([got[c.take - 1].uid])).toString('base64url') } : {}) };
  });

  router.get('/refresh-tokens/:id', requireScope('read:refresh_tokens'), async function getRefreshToken(ctx) {
    const q = parseQuery(ctx, fieldsQuery);
    ctx.body = fieldsOf(q)((await shape([await familyRow(idParam(ctx))]))[0]);
  });

  // Auth0's PATCH: `refresh_token_metadata` replaces what the token keeps ({} or null empties it);
  // the tokens rotated from it keep it, as they keep what actions set.
  router.patch('/refresh-tokens/:id', requireScope('update:refresh_tokens'), async function updateRefreshToken(ctx) {
    const body = parseBody(ctx, z.strictObject({ refresh_token_metadata: metadataSchema }));
    const id = idParam(ctx);
    let r = await familyRow(id);
    // Onto the family's live token: one rotated meanwhile (consumed) is not what the next refresh
    // reads, so the write goes to the token issued in its place (tried again a few times).
    for (let attempt = 1; ; attempt++) {
      const done = await db.transaction(async (trx) => {
        const now: { payload: string } | undefined = await trx('oidc_payloads').where({ type: 'RefreshToken', id: r.id }).whereNull('consumed_at').first('payload');
        if (!now) return false;
        const p = parseJson<Record<string, unknown>>(now.payload, {});
        if (Object.keys(body.refresh_token_metadata).length > 0) p.ghMetadata = body.refresh_token_metadata;
        else delete p.ghMetadata;
        return (await trx('oidc_payloads').where({ type: 'RefreshToken', id: r.id }).whereNull('consumed_at').update({ payload: JSON.stringify(p) })) === 1;
      });
      if (done) break;
      if (attempt === 3) throw conflict('The refresh token was exchanged while it was updated: try again', 'refresh_token_busy');
      await new Promise((resolve) => setTimeout(resolve, 20 * attempt));
      r = await familyRow(id);
    }
    const p = parseJson<{ accountId?: unknown }>(r.payload, {});
    await auditChange(app, ctx, { description: 'Update a refresh token', target: { type: 'refresh_token', id }, userId: typeof p.accountId === 'string' ? p.accountId : undefined });
    ctx.body = (await shape([await familyRow(id)]))[0];
  });

  router.delete('/refresh-tokens/:id', requireScope('delete:refresh_tokens'), async function deleteRefreshToken(ctx) {
    const id = idParam(ctx);
    // Any token of the family that has not expired: also one a refresh under way has just consumed
    // (the token it is issuing is refused when saved: endFamilies), so no waiting for that one.
    let r: Row | undefined = await db('oidc_payloads').where({ type: 'RefreshToken', uid: id }).andWhere('expires_at', '>', Date.now()).orderBy('expires_at', 'desc').first(...columns);
    if (!r && /^rt_[A-Za-z0-9_-]{22}$/.test(id) && await fileFamilies() > 0) r = await db('oidc_payloads').where({ type: 'RefreshToken', uid: id }).andWhere('expires_at', '>', Date.now()).first(...columns);
    if (!r) throw notFound('The refresh token does not exist', 'inexistent_refresh_token');
    // Every token of the family: the live one, and the ones rotated from (kept to spot reuse).
    await endFamilies([id], () => db('oidc_payloads').where({ type: 'RefreshToken', uid: id }));
    const p = parseJson<{ accountId?: unknown }>(r.payload, {});
    await auditChange(app, ctx, { description: 'Delete a refresh token', target: { type: 'refresh_token', id }, userId: typeof p.accountId === 'string' ? p.accountId : undefined });
    ctx.status = 202;
    ctx.body = {};
  });

  router.delete('/users/:id/refresh-tokens', requireScope('delete:refresh_tokens'), async function deleteUserRefreshTokens(ctx) {
    const id = idParam(ctx);
    await app.users.require(id);
    await fileFamilies(id);
    const families: { uid: string }[] = await db('oidc_payloads').where({ type: 'RefreshToken', account_id: id }).whereNotNull('uid').distinct('uid');
    const n = await endFamilies(families.map((f) => f.uid), () => db('oidc_payloads').where({ type: 'RefreshToken', account_id: id }));
    await auditChange(app, ctx, { description: 'Delete a user\'s refresh tokens', target: { type: 'user', id }, userId: id, extra: { refresh_tokens: n } });
    ctx.status = 202;
    ctx.body = {};
  });
};
