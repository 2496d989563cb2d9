import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import Busboy from 'busboy';
import type { Context } from 'koa';
import { requireScope } from './auth.ts';
import { auditChange, type RegisterRoutes } from './helpers.ts';
import { AppError, badRequest, notFound } from '../shared/errors.ts';
import { CONNECTION } from '../actions/triggers/events.ts';
import { IMPORT_MAX_BYTES, importUsers, parseImportFile } from '../users/import.ts';
import { jobShape, type JobRow } from './tickets.ts';

/** A multipart body's fields and its one `users` file; refused past the file limit or with other files. */
function readMultipart(req: IncomingMessage): Promise<{ fields: Record<string, string>; file: Buffer | undefined }> {
  return new Promise((resolve, reject) => {
    let bb: Busboy.Busboy;
    try {
      bb = Busboy({ headers: req.headers, limits: { files: 1, fileSize: IMPORT_MAX_BYTES, fields: 8, fieldSize: 1024, parts: 10 } });
    } catch {
      reject(badRequest('The body is not multipart/form-data with a boundary', 'invalid_body'));
      return;
    }
    const fields: Record<string, string> = {};
    const chunks: Buffer[] = [];
    let file: Buffer | undefined;
    let problem: AppError | undefined;
    bb.on('file', (name, stream) => {
      if (name !== 'users') { problem ??= badRequest(`Unexpected file field "${name.slice(0, 40)}": the users file goes in "users"`); stream.resume(); return; }
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('limit', () => { problem ??= new AppError(413, 'too_large', `The users file is larger than ${IMPORT_MAX_BYTES / 1024} KB: split it`); });
      stream.on('close', () => { file = Buffer.concat(chunks); });
    });
    bb.on('field', (name, value, info) => {
      if (info.valueTruncated) problem ??= badRequest(`${name.slice(0, 40)}: too long`);
      fields[name] = value;
    });
    bb.on('filesLimit', () => { problem ??= badRequest('Send one users file'); });
    bb.on('partsLimit', () => { problem ??= badRequest('Too many parts in the body'); });
    bb.on('fieldsLimit', () => { problem ??= badRequest('Too many fields in the body'); });
    bb.on('error', () => reject(badRequest('The multipart body could not be read')));
    bb.on('close', () => (problem ? reject(problem) : resolve({ fields, file })));
    req.pipe(bb);
  });
}

const bool = (name: string, v: string | undefined, fallback: boolean): boolean => {
  if (v === undefined) return fallback;
  if (v === 'true' || v === 'false') return v === 'true';
  throw badRequest(`${name}: must be true or false`);
};

/**
 * Auth0's bulk user import: `POST /jobs/users-imports` (multipart: the `users` file, a JSON array
 * in Auth0's import schema, at most 500 KB; `connection_id`, the one database connection's;
 * `upsert`; `external_id`; `send_completion_email`, taken but nothing is mailed), answered with a
 * pending job at once; the users are imported behind it (src/users/import.ts) and
 * `GET /jobs/{id}` then gives the summary, `GET /jobs/{id}/errors` the users that failed.
 */
export const registerUserImports: RegisterRoutes = (router, app) => {
  router.post('/jobs/users-imports', requireScope('create:users'), async function usersImport(ctx: Context) {
    if (!ctx.is('multipart/form-data')) {
      throw new AppError(415, 'unsupported_media_type', 'Send multipart/form-data: the file in "users", and "connection_id"');
    }
    const { fields, file } = await readMultipart(ctx.req);
    const unknown = Object.keys(fields).filter((k) => !['connection_id', 'upsert', 'external_id', 'send_completion_email'].includes(k));
    if (unknown.length) throw badRequest(`Unexpected fields: ${unknown.slice(0, 5).map((k) => k.slice(0, 40)).join(', ')}`);
    if (fields.connection_id !== CONNECTION.id) throw badRequest(`connection_id: must be ${CONNECTION.id} (${CONNECTION.name}, the one connection)`);
    const upsert = bool('upsert', fields.upsert, false);
    const sendCompletionEmail = bool('send_completion_email', fields.send_completion_email, true);
    if (fields.external_id !== undefined && fields.external_id.length > 255) throw badRequest('external_id: at most 255 characters');
    if (!file) throw badRequest('users: the file is missing');
    const list = parseImportFile(file);
    const details = { connection_id: CONNECTION.id, connection: CONNECTION.name, upsert, send_completion_email: sendCompletionEmail, ...(fields.external_id !== undefined ? { external_id: fields.external_id } : {}) };
    const job: JobRow = { id: `job_${randomBytes(12).toString('base64url')}`, type: 'users_import', status: 'pending', created_at: Date.now(), details: JSON.stringify(details) };
    await app.db('jobs').insert(job);
    await auditChange(app, ctx, { description: 'Import users', target: { type: 'job', id: job.id }, extra: { users: list.length, upsert } });
    ctx.status = 201;
    ctx.body = jobShape(job);
    // Behind the answer, as Auth0's job: the caller polls GET /jobs/{id}.
    void (async () => {
      try {
        const r = await importUsers(app.users, app.hasher, list, { upsert });
        if (r.foreign.length > 0) await app.hasher.calibrate(r.foreign);
        await app.db('jobs').where({ id: job.id }).update({
          status: 'completed', completed_at: Date.now(), details: JSON.stringify({ ...details, summary: r.summary }), errors: JSON.stringify(r.errors),
        });
        app.logger.info({ job: job.id, ...r.summary }, 'users import completed');
      } catch (err) {
        app.logger.error({ err, job: job.id }, 'users import failed');
        await app.db('jobs').where({ id: job.id }).update({ status: 'failed', completed_at: Date.now() }).catch(() => {});
      }
    })();
  });

  router.get('/jobs/:id/errors', requireScope('create:users', 'read:users'), async function importErrors(ctx: Context) {
    const id = ctx.params.id;
    if (typeof id !== 'string' || id.length > 64) throw badRequest('Path validation error: id: at most 64 characters', 'invalid_uri');
    const r = await app.db('jobs').where({ id }).first();
    if (!r) throw notFound('The job does not exist', 'inexistent_job');
    const errors = typeof r.errors === 'string' ? JSON.parse(r.errors) as unknown[] : [];
    // Auth0: no content when the job has no errors (or has not finished).
    if (errors.length === 0) { ctx.status = 204; return; }
    ctx.body = errors;
  });
};
