import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import Busboy from 'busboy';
import type { Context } from 'koa';
import { requireScope } from './auth.ts';
import { auditChange, changes, type RegisterRoutes } from './helpers.ts';
import type { ManagementCaller } from './auth.ts';
import { summary as userSummary } from './users.ts';
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
    let settled = false;
    /** Stops reading at the first problem: the answer says why and the connection closes (nothing more is read). */
    const stop = (e: AppError) => {
      if (settled) return;
      settled = true;
      req.unpipe(bb);
      reject(e);
    };
    bb.on('file', (name, stream) => {
      if (name !== 'users') { stream.resume(); stop(badRequest(`Unexpected file field "${name.slice(0, 40)}": the users file goes in "users"`)); return; }
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('limit', () => stop(new AppError(413, 'too_large', `The users file is larger than ${IMPORT_MAX_BYTES / 1024} KB: split it`)));
      stream.on('close', () => { file = Buffer.concat(chunks); });
    });
    bb.on('field', (name, value, info) => {
      if (info.valueTruncated) problem ??= badRequest(`${name.slice(0, 40)}: too long`);
      fields[name] = value;
    });
    bb.on('filesLimit', () => stop(badRequest('Send one users file')));
    bb.on('partsLimit', () => stop(badRequest('Too many parts in the body')));
    bb.on('fieldsLimit', () => stop(badRequest('Too many fields in the body')));
    bb.on('error', () => stop(badRequest('The multipart body could not be read')));
    bb.on('close', () => { if (!settled) { settled = true; if (problem) reject(problem); else resolve({ fields, file }); } });
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
    // The file and a few short fields: a body declared much larger is refused before it is read.
    if (Number(ctx.get('content-length') || 0) > IMPORT_MAX_BYTES + 16 * 1024) {
      ctx.set('Connection', 'close');
      throw new AppError(413, 'too_large', `The users file is larger than ${IMPORT_MAX_BYTES / 1024} KB: split it`);
    }
    let form: Awaited<ReturnType<typeof readMultipart>>;
    try {
      form = await readMultipart(ctx.req);
    } catch (e) {
      // The rest of the body is not read: this connection cannot carry another request.
      ctx.set('Connection', 'close');
      throw e;
    }
    const { fields, file } = form;
    const unknown = Object.keys(fields).filter((k) => !['connection_id', 'upsert', 'external_id', 'send_completion_email'].includes(k));
    if (unknown.length) throw badRequest(`Unexpected fields: ${unknown.slice(0, 5).map((k) => k.slice(0, 40)).join(', ')}`);
    if (fields.connection_id !== CONNECTION.id) throw badRequest(`connection_id: must be ${CONNECTION.id} (${CONNECTION.name}, the one connection)`);
    const upsert = bool('upsert', fields.upsert, false);
    // An upsert changes users that exist, which a PATCH needs update:users for.
    if (upsert && !(ctx.state.caller as ManagementCaller).scopes.has('update:users')) {
      throw new AppError(403, 'insufficient_scope', 'Insufficient scope, expected all of: create:users,update:users (upsert changes users that exist)');
    }
    const sendCompletionEmail = bool('send_completion_email', fields.send_completion_email, true);
    if (fields.external_id !== undefined && fields.external_id.length > 255) throw badRequest('external_id: at most 255 characters');
    if (!file) throw badRequest('users: the file is missing');
    const list = parseImportFile(file);
    const details = { connection_id: CONNECTION.id, connection: CONNECTION.name, upsert, send_completion_email: sendCompletionEmail, ...(fields.external_id !== undefined ? { external_id: fields.external_id } : {}) };
    const who = ctx.state.caller as ManagementCaller;
    const job: JobRow = { id: `job_${randomBytes(12).toString('base64url')}`, type: 'users_import', status: 'pending', created_at: Date.now(), details: JSON.stringify(details) };
    await app.db('jobs').insert(job);
    await auditChange(app, ctx, { description: 'Import users', target: { type: 'job', id: job.id }, extra: { users: list.length, upsert } });
    ctx.status = 201;
    ctx.body = jobShape(job);
    // Behind the answer, as Auth0's job: the caller polls GET /jobs/{id}.
    void (async () => {
      try {
        // Each new set of hash parameters before the first user that has it: every node holds its
        // password checks to them (src/users/hash-classes.ts), this one at once.
        const seen = new Set<string>();
        const r = await importUsers(app.users, list, {
          upsert,
          beforeInsert: async (hash) => {
            const c = app.hasher.classOf(hash);
            if (!c || seen.has(c.key)) return;
            seen.add(c.key);
            await app.hashClasses.record([hash]);
            await app.hashClasses.apply();
          },
          onUpdated: (before, after) => app.audit.record({
            type: 'sapi', description: 'Update a user (import)', client_id: who.clientId || null, user_id: after.user_id,
            details: { actor: { sub: who.sub, client_id: who.clientId }, job: job.id, changes: changes(userSummary(before), userSummary(after)) },
          }),
          importTotp: (userId, secret, q) => app.mfa.importTotp(userId, secret, q),
          onFactor: (userId, outcome) => app.audit.record({
            type: 'sapi', description: outcome === 'added' ? 'Add an authenticator (import)' : 'Replace an authenticator (import)', client_id: who.clientId || null, user_id: userId,
            details: { actor: { sub: who.sub, client_id: who.clientId }, job: job.id },
          }),
        });
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
