import { createHmac, createSecretKey, randomBytes, type KeyObject } from 'node:crypto';
import { Readable } from 'node:stream';
import type { Context } from 'koa';
import type { AppContext } from '../context.ts';
import { requireScope } from './auth.ts';
import { auditChange, parseBody, type RegisterRoutes } from './helpers.ts';
import { jobShape, type JobRow } from './tickets.ts';
import { AppError, badRequest, notFound } from '../shared/errors.ts';
import { safeEqual } from '../shared/safe-equal.ts';
import { CONNECTION } from '../actions/triggers/events.ts';
import { buildUserExport, exportBody, exportFields, type ExportField, type ExportRequest } from '../users/export.ts';

/** How long a download link from GET /jobs/{id} works; each GET gives a new one. */
export const EXPORT_LINK_TTL_MS = 5 * 60_000;

/** The path of an export job's file (under /api/v2, outside its bearer-token check: the link's signature is the credential). */
const FILE_PATH = /^\/jobs\/(job_[A-Za-z0-9_-]{1,40})\/file$/;

/** The links' key, read (and unsealed) once per server, not at every GET /jobs/{id} and download. */
const linkKeys = new WeakMap<AppContext, Promise<KeyObject>>();
function linkKey(app: AppContext): Promise<KeyObject> {
  let key = linkKeys.get(app);
  if (!key) {
    key = app.settings.sealedOrCreate('export_link_key', () => randomBytes(32).toString('base64')).then((k) => createSecretKey(Buffer.from(k, 'base64')));
    // A failed read is tried again next time, not kept.
    key.catch(() => linkKeys.delete(app));
    linkKeys.set(app, key);
  }
  return key;
}
const sign = (key: KeyObject, jobId: string, expires: number) => createHmac('sha256', key).update(`users-export:${jobId}:${expires}`).digest('base64url');

/**
 * `location` for a finished export job, as Auth0 gives one: a link to the file that works without
 * a token for a few minutes (an SDK or curl fetches it as it would Auth0's storage link).
 */
export async function exportLocation(app: AppContext, job: JobRow): Promise<{ location?: string }> {
  if (job.type !== 'users_export' || job.status !== 'completed') return {};
  return { location: await exportLink(app, job.id, Date.now() + EXPORT_LINK_TTL_MS) };
}

/** The signed link to job `jobId`'s file, working until `expires` (epoch ms). */
export async function exportLink(app: AppContext, jobId: string, expires: number): Promise<string> {
  return `${app.urls.urlFor(`/api/v2/jobs/${jobId}/file`)}?expires=${expires}&signature=${sign(await linkKey(app), jobId, expires)}`;
}

/**
 * Auth0's bulk user export: `POST /jobs/users-exports` (`format` json (NDJSON) or csv, `fields`,
 * `limit`, `connection_id`) answers a pending job; the file is made behind it
 * (src/users/export.ts) and `GET /jobs/{id}` then gives its `location`.
 */
export const registerUserExports: RegisterRoutes = (router, app) => {
  /** The export this node is making: one at a time (each takes a database connection's turns and CPU for its length). */
  let running: string | undefined;

  router.post('/jobs/users-exports', requireScope('read:users'), async function usersExport(ctx: Context) {
    const body = parseBody(ctx, exportBody);
    if (body.connection_id !== undefined && body.connection_id !== CONNECTION.id) throw notFound('The connection does not exist', 'inexistent_connection');
    const fields = exportFields(body);
    if ('error' in fields) throw badRequest(`Payload validation error: ${fields.error}`, 'invalid_body');
    if (running) throw new AppError(429, 'too_many_requests', `An export is being made (${running}): try again once it is done`);
    const details = {
      connection_id: CONNECTION.id, connection: CONNECTION.name, format: body.format ?? 'json',
      ...(body.limit !== undefined ? { limit: body.limit } : {}), ...(body.fields ? { fields: body.fields } : {}),
    };
    const job: JobRow = { id: `job_${randomBytes(12).toString('base64url')}`, type: 'users_export', status: 'pending', created_at: Date.now(), details: JSON.stringify(details) };
    running = job.id;
    try {
      await app.db('jobs').insert(job);
      await auditChange(app, ctx, { description: 'Export users', target: { type: 'job', id: job.id }, extra: { format: details.format, fields: body.fields?.map((f) => f.name) ?? 'default', limit: body.limit ?? null } });
    } catch (e) {
      running = undefined;
      throw e;
    }
    ctx.status = 201;
    ctx.body = jobShape(job);
    void runExport(app, job, details, body, fields).finally(() => { running = undefined; });
  });
};

/** Makes the job's file; the job ends completed, or failed with why. */
async function runExport(app: AppContext, job: JobRow, details: Record<string, unknown>, body: ExportRequest, fields: ExportField[]): Promise<void> {
  let seq = 0;
  try {
    const r = await buildUserExport(app.db, body, fields, async (piece) => {
      await app.db('job_files').insert({ job_id: job.id, seq: seq++, content: piece, created_at: Date.now() });
    });
    // Only a job still pending: one the sweep gave up on stays failed.
    const done = await app.db('jobs').where({ id: job.id, status: 'pending' })
      .update({ status: 'completed', completed_at: Date.now(), details: JSON.stringify({ ...details, exported: r.count, bytes: r.bytes }) });
    if (done === 0) await app.db('job_files').where({ job_id: job.id }).delete();
    app.logger.info({ job: job.id, users: r.count, bytes: r.bytes }, 'users export completed');
  } catch (err) {
    app.logger.error({ err, job: job.id }, 'users export failed');
    // Our own message (the size limit) is said; anything else is in the log only.
    const why = err instanceof Error && err.message.startsWith('the export is larger') ? err.message : 'the export could not be made (the server log says why)';
    await app.db('job_files').where({ job_id: job.id }).delete().catch(() => {});
    await app.db('jobs').where({ id: job.id }).update({ status: 'failed', completed_at: Date.now(), details: JSON.stringify({ ...details, error: why }) }).catch(() => {});
  }
}

/**
 * The file of an export job, for a link `exportLocation` signed and that has not expired: a
 * gzip download (not `Content-Encoding`: the file is `.gz`, as Auth0's), read piece by piece.
 * Refusals do not say whether the job exists. Each download (not a HEAD) is in the audit log
 * with the address it went to.
 */
export function createExportDownload(app: AppContext) {
  return {
    matches: (subPath: string) => FILE_PATH.test(subPath),
    async serve(ctx: Context, subPath: string): Promise<void> {
      const jobId = FILE_PATH.exec(subPath)![1];
      const expiresText = ctx.query.expires;
      const expires = typeof expiresText === 'string' && /^\d{13}$/.test(expiresText) ? Number(expiresText) : NaN;
      const signature = ctx.query.signature;
      const valid = Number.isSafeInteger(expires) && typeof signature === 'string' && signature.length < 100
        && safeEqual(signature, sign(await linkKey(app), jobId, expires));
      if (!valid) throw new AppError(403, 'invalid_signature', 'This download link is not valid: get a new one from GET /api/v2/jobs/{id}');
      if (expires < Date.now()) throw new AppError(403, 'expired_link', 'This download link has expired: get a new one from GET /api/v2/jobs/{id}');
      const job = await app.db('jobs').where({ id: jobId, type: 'users_export', status: 'completed' }).first('details');
      if (!job) throw notFound('The export file is gone (jobs are kept 7 days)', 'inexistent_job');
      const d = JSON.parse(job.details ?? '{}') as { format?: string; bytes?: number };
      ctx.type = 'application/gzip';
      ctx.attachment(`users-export.${d.format === 'csv' ? 'csv' : 'json'}.gz`);
      if (typeof d.bytes === 'number') ctx.length = d.bytes;
      if (ctx.method === 'HEAD') { ctx.status = 200; return; }
      await app.audit.record({ type: 'sapi', description: 'Download a users export', ip: ctx.ip, user_agent: ctx.get('user-agent'), details: { target: { type: 'job', id: jobId } } });
      // Piece by piece: a download holds one piece (a few MB) at a time, whatever the file's size.
      const db = app.db;
      ctx.body = Readable.from((async function* pieces() {
        for (let seq = 0; ; seq++) {
          const row = await db('job_files').where({ job_id: jobId, seq }).first('content');
          if (!row) return;
          yield row.content as Buffer;
        }
      })());
    },
  };
}
