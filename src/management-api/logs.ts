import { z } from 'zod';
import { badRequest, notFound } from '../shared/errors.ts';
import { requireScope } from './auth.ts';
import { fieldsOf, fieldsShape, listBody, pageOf, paginationShape, parseQuery, type RegisterRoutes } from './helpers.ts';

const listQuery = z.strictObject({
  ...paginationShape, ...fieldsShape,
  q: z.string().max(1000).optional(),
  // What Auth0's current SDK sends for q.
  search: z.string().max(1000).optional(),
  sort: z.enum(['date:1', 'date:-1']).optional(),
});

type LogFilter = { type?: string; userId?: string; clientId?: string };
const FIELDS: Record<string, keyof LogFilter> = { type: 'type', user_id: 'userId', client_id: 'clientId' };

/**
 * The simple subset of Auth0's log search: `type:sapi`, `user_id:"auth0|…"`,
 * `client_id:"…"`, joined with AND. Values are bound parameters, never spliced into SQL.
 */
function parseLogQuery(q: string): LogFilter {
  const out: LogFilter = {};
  const term = /^\s*(type|user_id|client_id):(?:"([^"]{1,320})"|([^\s"]{1,320}))\s*(?:AND\s+|$)/;
  let rest = q.trim();
  while (rest) {
    const m = term.exec(rest);
    if (!m) throw badRequest('Query validation error: q: only type:…, user_id:"…" and client_id:"…" terms (joined with AND) are supported', 'invalid_query_string');
    out[FIELDS[m[1]]] = m[2] ?? m[3];
    rest = rest.slice(m[0].length);
  }
  return out;
}

/** Auth0's `/api/v2/logs`: the audit events, newest first. */
export const registerLogs: RegisterRoutes = (router, app) => {
  router.get('/logs', requireScope('read:logs'), async function listLogs(ctx) {
    const query = parseQuery(ctx, listQuery);
    const p = pageOf(query);
    if (query.q !== undefined && query.search !== undefined && query.q !== query.search) throw badRequest('Query validation error: q and search are the same parameter: give one', 'invalid_query_string');
    const search = query.q ?? query.search;
    const filter = search ? parseLogQuery(search) : {};
    const r = await app.audit.list({ page: p.page, perPage: p.perPage, ...filter, ascending: query.sort === 'date:1' });
    ctx.body = listBody('logs', r.logs.map(fieldsOf(query)), r.total, p);
  });

  // Auth0's per-user log list (a user's page in the dashboard, support tooling): the same
  // entries as /logs?q=user_id:"…", for a user that must exist.
  const userLogsQuery = z.strictObject({ ...paginationShape, sort: z.enum(['date:1', 'date:-1']).optional() });
  router.get('/users/:id/logs', requireScope('read:logs'), async function userLogs(ctx) {
    const query = parseQuery(ctx, userLogsQuery);
    const p = pageOf(query);
    const id = String(ctx.params.id);
    if (id.length > 128) throw badRequest('Path validation error: id: at most 128 characters', 'invalid_uri');
    await app.users.require(id);
    const r = await app.audit.list({ page: p.page, perPage: p.perPage, userId: id, ascending: query.sort === 'date:1' });
    ctx.body = listBody('logs', r.logs, r.total, p);
  });

  router.get('/logs/:id', requireScope('read:logs'), async function getLog(ctx) {
    const id = String(ctx.params.id);
    const log = id.length <= 64 ? await app.audit.get(id) : undefined;
    if (!log) throw notFound('The log entry does not exist', 'inexistent_log');
    ctx.body = log;
  });
};
