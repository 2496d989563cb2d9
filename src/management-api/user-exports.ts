import { createHmac, createSecretKey, randomBytes, type KeyObject } from 'node:crypto';
import type { Context } from 'koa';
import type { AppContext } from '../context.ts';
import { requireScope } from './auth.ts';
import { auditChange, parseBody, type RegisterRoutes } from './helpers.ts';
import { jobShape, type JobRow } from './tickets.ts';
import { AppError, badRequest, notFound } from '../shared/errors.ts';
import { safeEqual } from '../shared/safe-equal.ts';
import { CONNECTION } from '../actions/triggers/events.ts';
import { buildUserExport, exportBody, exportFields } from '../users/export.ts';

/** How long a download link from GET /jobs/{id} works; each GET gives a new one. */
export const EXPORT_LINK_TTL_MS = 5 * 60_000;

/** The path of an export job's file (under /api/v2, outside its bearer-token check: the link's signature is the credential). */
const FILE_PATH = /^\/jobs\/(job_[A-Za-z0-9_-]{1,40})\/file$/;

function linkKey(app: AppContext): Promise<KeyObject> {
  return app.settings.sealedOrCreate('export_link_key', () => randomBytes(32).toString('base64')).then((k) => createSecretKey(Buffer.from(k, 'base64')));
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
  router.post('/jobs/users-exports', requireScope('read:users'), async function usersExport(ctx: Context) {
    const body = parseBody(ctx, exportBody);
    if (body.connection_id !== undefined && body.connection_id !== CONNECTION.id) throw notFound('The connection does not exist', 'inexistent_connection');
    const fields = exportFields(body);
    if ('error' in fields) throw badRequest(`Payload validation error: ${fields.error}`, 'invalid_body');
    const details = {
      connection_id: CONNECTION.id, connection: CONNECTION.name, format: body.format ?? 'json',
      ...(body.limit !== undefined ? { limit: body.limit } : {}), ...(body.fields ? { fields: body.fields } : {}),
    };
    const job: JobRow = { id: `job_${randomBytes(12).toString('base64url')}`, type: 'users_export', status: 'pending', created_at: Date.now(), details: JSON.stringify(details) };
    await app.db('jobs').insert(job);
    await auditChange(app, ctx, { description: 'Export users', target: { type: 'job', id: job.id }, extra: { format: details.format, fields: body.fields?.map((f) => f.name) ?? 'default', limit: body.limit ?? null } });
    ctx.status = 201;
    ctx.body = jobShape(job);
    void (async () => {
      try {
        const r = await buildUserExport(app.db, body, fields);
        await app.db.transaction(async (trx) => {
          await trx('job_files').insert({ job_id: job.id, content: r.file, created_at: Date.now() });
          await trx('jobs').where({ id: job.id }).update({ status: 'completed', completed_at: Date.now() });
        });
        app.logger.info({ job: job.id, users: r.count, bytes: r.file.length }, 'users export completed');
      } catch (err) {
        app.logger.error({ err, job: job.id }, 'users export failed');
        await app.db('jobs').where({ id: job.id }).update({ status: 'failed', completed_at: Date.now() }).catch(() => {});
      }
    })();
  });
};

/**
 * The file of an export job, for a link `exportLocation` signed and that has not expired: a
 * gzip download (not `Content-Encoding`: the file is `.gz`, as Auth0's). Refusals do not say
 * whether the job exists. Each download is in the audit log with the address it went to.
 */
export function createExportDownload(app: AppContext) {
  return {
    matches: (subPath: string) => FILE_PATH.test(subPath),
    async serve(ctx: Context, subPath: string): Promise<void> {
      const jobId = FILE_PATH.exec(subPath)![1];
      const expires = Number(ctx.query.expires);
      const signature = ctx.query.signature;
      const valid = Number.isSafeInteger(expires) && typeof signature === 'string' && signature.length < 100
        && safeEqual(signature, sign(await linkKey(app), jobId, expires));
      if (!valid) throw new AppError(403, 'invalid_signature', 'This download link is not valid: get a new one from GET /api/v2/jobs/{id}');
      if (expires < Date.now()) throw new AppError(403, 'expired_link', 'This download link has expired: get a new one from GET /api/v2/jobs/{id}');
      const file = await app.db('job_files').where({ job_id: jobId }).first('content');
      if (!file) throw notFound('The export file is gone (jobs are kept 7 days)', 'inexistent_job');
      const job = await app.db('jobs').where({ id: jobId }).first('details');
      const format = (JSON.parse(job?.details ?? '{}') as { format?: string }).format === 'csv' ? 'csv' : 'json';
      await app.audit.record({ type: 'sapi', description: 'Download a users export', ip: ctx.ip, user_agent: ctx.get('user-agent'), details: { target: { type: 'job', id: jobId } } });
      ctx.type = 'application/gzip';
      ctx.attachment(`users-export.${format}.gz`);
      ctx.body = Buffer.from(file.content as Uint8Array);
    },
  };
}
