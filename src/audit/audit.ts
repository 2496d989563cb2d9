import type { Db } from '../db/knex.ts';
import { parseJson } from '../db/knex.ts';
import { randomId } from '../shared/ids.ts';
import type { Logger } from '../shared/logger.ts';
import { redact } from '../shared/logger.ts';

/**
 * Audit events, with Auth0's log type codes so existing dashboards and scripts read them:
 * s (login ok), f / fp / fu (login failed), limit_wc / limit_mu (brute-force block), ss / fs
 * (signup ok / failed), feacft / feccft (token exchange failed), sapi (admin change),
 * sce / fce (password change).
 */
export interface AuditEvent {
  type: string; description: string; user_id?: string | null; user_name?: string | null; client_id?: string | null;
  ip?: string | null; user_agent?: string | null; details?: Record<string, unknown>;
}

/** A stored audit row in the shape GET /logs answers (and log streams send). */
export const toLog = (r: Record<string, unknown>) => ({
  log_id: r.log_id as string, date: r.date as string, type: r.type as string, description: r.description as string,
  user_id: r.user_id as string | null, user_name: r.user_name as string | null, client_id: r.client_id as string | null,
  ip: r.ip as string | null, user_agent: r.user_agent as string | null, details: parseJson<Record<string, unknown>>(r.details, {}),
});

/** Text PostgreSQL will store: NUL (which it refuses in text) written as U+FFFD. */
const storable = (s: string | null | undefined): string | null => (s === null || s === undefined ? null : s.replace(/\u0000/g, '\uFFFD'));

export function createAudit(db: Db, logger: Logger) {
  return {
    /** Writes the event and a log line; never throws into the flow that reports it. */
    async record(e: AuditEvent): Promise<void> {
      const details = redact(e.details ?? {}) as Record<string, unknown>;
      logger.info({ audit: e.type, user_id: e.user_id, client_id: e.client_id, ip: e.ip, details }, e.description);
      try {
        await db('audit_logs').insert({
          log_id: `${Date.now().toString(36)}${randomId(9)}`, date: new Date().toISOString(), type: e.type,
          // What a request sent (a login's e-mail, an agent) may hold a NUL: the event is kept all the same.
          description: storable(e.description.slice(0, 2000)), user_id: storable(e.user_id), user_name: storable(e.user_name),
          client_id: storable(e.client_id), ip: storable(e.ip), user_agent: storable(e.user_agent?.slice(0, 500)),
          details: JSON.stringify(details),
        });
      } catch (err) {
        logger.error({ err }, 'audit log write failed');
      }
    },
    async list(opts: { page: number; perPage: number; type?: string; userId?: string; clientId?: string; ascending?: boolean }) {
      const q = db('audit_logs');
      if (opts.type) q.where({ type: opts.type });
      if (opts.userId) q.where({ user_id: opts.userId });
      if (opts.clientId) q.where({ client_id: opts.clientId });
      const [{ n }] = await q.clone().count({ n: '*' });
      const rows = await q.orderBy('seq', opts.ascending ? 'asc' : 'desc').limit(opts.perPage).offset(opts.page * opts.perPage);
      return { logs: rows.map(toLog), total: Number(n) };
    },
    async get(logId: string) {
      const r = await db('audit_logs').where({ log_id: logId }).first();
      return r ? toLog(r) : undefined;
    },
  };
}
export type Audit = ReturnType<typeof createAudit>;
