import { z } from 'zod';
import { requireScope } from './auth.ts';
import type { Context } from 'koa';
import { auditChange, parseBody, parseQuery, pathId, type RegisterRoutes } from './helpers.ts';
import { badRequest, notFound } from '../shared/errors.ts';

const idParam = (ctx: Context) => pathId(ctx, 128);
import { sessionDevices, sessionFacts } from '../actions/triggers/session-facts.ts';
import { sessionEnded } from '../oidc/lifetimes.ts';
import { parseJson } from '../db/knex.ts';
import { SESSION_METADATA_CHARS, SESSION_METADATA_KEYS } from '../actions/engine/contract.ts';
import { metadataProblem } from '../users/users.ts';
import { CONTROL } from '../actions/triggers/definitions.ts';

/** Auth0's session_metadata: string keys and values of at most 255 characters, up to 25 keys (the actions' rule). */
// The keys actions may use (definitions.ts): one an action could not delete is refused here too. null, as on Auth0, empties it.
const sessionMetadataSchema = z.record(
  z.string().min(1).max(SESSION_METADATA_CHARS).refine((k) => !['__proto__', 'constructor', 'prototype'].includes(k) && !CONTROL.test(k) && !metadataProblem(k), 'not a usable key'),
  z.string().max(SESSION_METADATA_CHARS).refine((v) => !metadataProblem(v), 'must not contain NUL characters or lone surrogates'),
).refine((o) => Object.keys(o).length <= SESSION_METADATA_KEYS, `at most ${SESSION_METADATA_KEYS} keys`).nullable().transform((o) => o ?? {});

/**
 * Auth0's sessions endpoints: a user's signed-in sessions (oidc-provider's, with the device
 * each was signed in from: session_devices), one by id (the id post-login actions see as
 * event.session.id), and ending them. Ending one ends its applications' grants and their
 * tokens with it, as api.session.revoke does; the browser holding it must sign in again.
 * Single-session policies in actions (keep event.session.id, end the rest) are built on these.
 */
export const registerSessions: RegisterRoutes = (router, app) => {
  const db = app.db;
  type Row = { uid: string; payload: string; account_id: string | null; expires_at: unknown };
  /** Auth0's session from Session rows (run.ts's event.session reads the same facts), their devices in one query. */
  async function shape(rows: Row[]) {
    const devices = await sessionDevices(db, rows.map((r) => r.uid));
    // api.session.setMetadata and PATCH below: kept per session for the user it was written for.
    const metadata = new Map<string, Record<string, string>>();
    if (rows.length > 0) {
      const ms: { session_uid: string; user_id: string; metadata: string }[] = await db('session_metadata').whereIn('session_uid', rows.map((r) => r.uid)).select('session_uid', 'user_id', 'metadata');
      for (const m of ms) if (rows.some((r) => r.uid === m.session_uid && r.account_id === m.user_id)) metadata.set(m.session_uid, parseJson<Record<string, string>>(m.metadata, {}));
    }
    return rows.map((r) => {
      const f = sessionFacts(r.payload, app.config.tokens.sessionMaxTtl);
      const dev = devices.get(r.uid);
      return {
        id: r.uid, user_id: r.account_id, created_at: f.created_at, authenticated_at: f.authenticated_at,
        updated_at: dev ? new Date(dev.updated_at).toISOString() : f.authenticated_at ?? f.created_at,
        ...(f.expires_at ? { expires_at: f.expires_at } : {}), ...(f.idle_expires_at ? { idle_expires_at: f.idle_expires_at } : {}),
        clients: f.clients,
        session_metadata: metadata.get(r.uid) ?? {},
        authentication: { methods: (f.amr.length ? f.amr : ['pwd']).map((name) => ({ name, ...(f.authenticated_at ? { timestamp: f.authenticated_at } : {}) })) },
        ...(dev ? { device: { initial_ip: dev.initial_ip, initial_user_agent: dev.initial_user_agent, last_ip: dev.last_ip, last_user_agent: dev.last_user_agent } } : {}),
      };
    });
  }
  const live = () => db('oidc_payloads').where({ type: 'Session' }).whereNotNull('account_id').andWhere('expires_at', '>', Date.now());
  /** Past its absolute end (a row not swept yet, saved before there was one): ended, as the adapter says (src/oidc/lifetimes.ts). */
  const ended = (r: Row) => sessionEnded(parseJson<Record<string, unknown>>(r.payload, {}), app.config.tokens.sessionMaxTtl);
  async function sessionRow(id: string): Promise<Row> {
    const r = await live().andWhere({ uid: id }).first('uid', 'payload', 'account_id', 'expires_at');
    if (!r || ended(r)) throw notFound('The session does not exist', 'inexistent_session');
    return r;
  }

  router.get('/users/:id/sessions', requireScope('read:sessions'), async function userSessions(ctx) {
    const id = idParam(ctx);
    // Auth0's checkpoint paging: `take` (50, at most 100) sessions from `from`, and `next` when
    // there are more (the position after this page, opaque to the caller).
    const q = parseQuery(ctx, z.strictObject({ take: z.coerce.number().int().min(1).max(100).optional(), from: z.string().max(64).optional(), include_totals: z.enum(['true', 'false']).optional() }));
    const take = q.take ?? 50;
    const offset = q.from === undefined ? 0 : Number.parseInt(Buffer.from(q.from, 'base64url').toString('utf8'), 10);
    if (!Number.isSafeInteger(offset) || offset < 0) throw badRequest('Query validation error: from: not a position this endpoint gave', 'invalid_query_string');
    await app.users.require(id);
    const rows: Row[] = await live().andWhere({ account_id: id }).orderBy('expires_at', 'desc').orderBy('uid').offset(offset).limit(take + 1).select('uid', 'payload', 'account_id', 'expires_at');
    const page = rows.slice(0, take).filter((r) => !ended(r));
    ctx.body = { sessions: await shape(page), ...(rows.length > take ? { next: Buffer.from(String(offset + take)).toString('base64url') } : {}) };
  });

  router.get('/sessions/:id', requireScope('read:sessions'), async function getSession(ctx) {
    ctx.body = (await shape([await sessionRow(idParam(ctx))]))[0];
  });

  // Auth0's PATCH: `session_metadata` replaces what the session keeps ({} empties it).
  router.patch('/sessions/:id', requireScope('update:sessions'), async function updateSession(ctx) {
    const body = parseBody(ctx, z.strictObject({ session_metadata: sessionMetadataSchema }));
    const r = await sessionRow(idParam(ctx));
    const md = body.session_metadata;
    // Replaced whole, in one statement: a login writing at once (run.ts writeSessionMetadata, in a
    // transaction on the row) comes before or after it, never in between.
    if (Object.keys(md).length === 0) await db('session_metadata').where({ session_uid: r.uid }).delete();
    else {
      const v = { user_id: r.account_id as string, metadata: JSON.stringify(md), updated_at: Date.now() };
      await db('session_metadata').insert({ session_uid: r.uid, ...v }).onConflict('session_uid').merge(v);
    }
    await auditChange(app, ctx, { description: 'Update a session', target: { type: 'session', id: r.uid }, userId: r.account_id ?? undefined });
    ctx.body = (await shape([r]))[0];
  });

  router.delete('/sessions/:id', requireScope('delete:sessions'), async function deleteSession(ctx) {
    const r = await sessionRow(idParam(ctx));
    await app.actions.triggers.endSession(r.uid, r.account_id as string);
    await auditChange(app, ctx, { description: 'Delete a session', target: { type: 'session', id: r.uid }, userId: r.account_id ?? undefined });
    ctx.status = 200;
    ctx.body = {};
  });

  router.delete('/users/:id/sessions', requireScope('delete:sessions'), async function deleteUserSessions(ctx) {
    const id = idParam(ctx);
    await app.users.require(id);
    const rows: { uid: string }[] = await live().andWhere({ account_id: id }).select('uid');
    for (const r of rows) await app.actions.triggers.endSession(r.uid, id);
    await auditChange(app, ctx, { description: 'Delete a user\'s sessions', target: { type: 'user', id }, userId: id, extra: { sessions: rows.length } });
    ctx.status = 202;
    ctx.body = {};
  });
};
