import { z } from 'zod';
import { requireScope } from './auth.ts';
import { parseQuery, type RegisterRoutes } from './helpers.ts';
import { badRequest } from '../shared/errors.ts';

const DAY = 86_400_000;
const yyyymmdd = z.string().regex(/^\d{8}$/, 'must be YYYYMMDD');
const dailyQuery = z.strictObject({ from: yyyymmdd.optional(), to: yyyymmdd.optional() });

function dayStart(s: string): number {
  const t = Date.UTC(Number(s.slice(0, 4)), Number(s.slice(4, 6)) - 1, Number(s.slice(6, 8)));
  const d = new Date(t);
  if (d.getUTCFullYear() !== Number(s.slice(0, 4)) || d.getUTCMonth() + 1 !== Number(s.slice(4, 6)) || d.getUTCDate() !== Number(s.slice(6, 8))) {
    throw badRequest(`Query validation error: ${s} is not a date`, 'invalid_query_string');
  }
  return t;
}

/**
 * Auth0's `/stats`: the users who signed in during the last 30 days (`last_login`), and logins
 * and sign-ups per UTC day from the audit log (types s and ss), as a tenant's dashboard shows.
 */
export const registerStats: RegisterRoutes = (router, app) => {
  router.get('/stats/active-users', requireScope('read:stats'), async function activeUsers(ctx) {
    parseQuery(ctx, z.strictObject({}));
    const since = new Date(Date.now() - 30 * DAY).toISOString();
    const [{ n }] = await app.db('users').where('last_login', '>=', since).count({ n: '*' });
    ctx.body = Number(n);
  });

  router.get('/stats/daily', requireScope('read:stats'), async function dailyStats(ctx) {
    const q = parseQuery(ctx, dailyQuery);
    const today = Math.floor(Date.now() / DAY) * DAY;
    const to = q.to !== undefined ? dayStart(q.to) : today;
    const from = q.from !== undefined ? dayStart(q.from) : to - 29 * DAY;
    if (from > to) throw badRequest('Query validation error: from is after to', 'invalid_query_string');
    if ((to - from) / DAY > 366) throw badRequest('Query validation error: at most 367 days at a time', 'invalid_query_string');
    // Audit dates are ISO 8601 in UTC: a day's entries share their first ten characters.
    const rows: { day: string; type: string; n: unknown }[] = await app.db('audit_logs')
      .whereIn('type', ['s', 'ss'])
      .andWhere('date', '>=', new Date(from).toISOString()).andWhere('date', '<', new Date(to + DAY).toISOString())
      .groupByRaw('substr(date, 1, 10), type')
      .select(app.db.raw('substr(date, 1, 10) as day'), 'type', app.db.raw('count(*) as n'));
    const out = [];
    for (let t = from; t <= to; t += DAY) {
      const day = new Date(t).toISOString().slice(0, 10);
      const count = (type: string) => Number(rows.find((r) => r.day === day && r.type === type)?.n ?? 0);
      out.push({ date: `${day}T00:00:00.000Z`, logins: count('s'), signups: count('ss'), leaked_passwords: 0, updated_at: new Date().toISOString(), created_at: `${day}T00:00:00.000Z` });
    }
    ctx.body = out;
  });
};
