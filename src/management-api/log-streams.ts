import { z } from 'zod';
import { requireScope } from './auth.ts';
import { auditChange, parseBody, pathId, requireSomeField, text, type RegisterRoutes } from './helpers.ts';
import { LOG_CATEGORIES, LOG_STREAM_FORMATS } from '../audit/log-streams.ts';

/*
 * Auth0's `/api/v2/log-streams` (type `http`): the audit log pushed to an endpoint
 * (src/audit/log-streams.ts). The sink's authorization and custom header values are taken, kept
 * sealed and never shown again; a PATCH that leaves them out keeps them.
 */
const sink = z.strictObject({
  httpEndpoint: z.string().min(1).max(2000),
  httpContentType: z.string().min(1).max(100).optional(),
  httpContentFormat: z.enum(LOG_STREAM_FORMATS).optional(),
  httpAuthorization: z.string().max(4096).optional(),
  httpCustomHeaders: z.array(z.strictObject({ header: z.string().min(1).max(100), value: z.string().max(4096) })).max(20).optional(),
});
const filters = z.array(z.strictObject({ type: z.literal('category'), name: z.string().min(1).max(100) })).max(LOG_CATEGORIES.length);
const createBody = z.strictObject({
  name: text(200),
  type: z.literal('http'),
  sink,
  filters: filters.optional(),
  // Auth0's priority streams are not offered: only its "no" is taken (what its tools send by default).
  isPriority: z.literal(false).optional(),
  // Auth0's checkpoint: the log_id to start from (included); without it, from what happens next.
  startFrom: z.string().min(1).max(64).optional(),
});
const patchBody = z.strictObject({
  name: text(200).optional(),
  status: z.enum(['active', 'paused']).optional(),
  sink: sink.partial().optional(),
  filters: filters.optional(),
  isPriority: z.literal(false).optional(),
});
const idOf = (ctx: Parameters<typeof pathId>[0]) => pathId(ctx, 64);

export const registerLogStreams: RegisterRoutes = (router, app) => {
  router.get('/log-streams', requireScope('read:log_streams'), async function listLogStreams(ctx) {
    ctx.body = await app.logStreams.list();
  });
  router.post('/log-streams', requireScope('create:log_streams'), async function createLogStream(ctx) {
    const { isPriority: _p, ...body } = parseBody(ctx, createBody);
    const made = await app.logStreams.create(body);
    await auditChange(app, ctx, { description: 'Create a log stream', target: { type: 'log_stream', id: made.id }, after: made });
    ctx.status = 201;
    ctx.body = made;
  });
  router.get('/log-streams/:id', requireScope('read:log_streams'), async function getLogStream(ctx) {
    ctx.body = await app.logStreams.get(idOf(ctx));
  });
  router.patch('/log-streams/:id', requireScope('update:log_streams'), async function updateLogStream(ctx) {
    const id = idOf(ctx);
    const { isPriority: _p, ...body } = parseBody(ctx, patchBody);
    requireSomeField(body);
    const before = await app.logStreams.get(id);
    const after = await app.logStreams.update(id, body);
    await auditChange(app, ctx, { description: 'Update a log stream', target: { type: 'log_stream', id }, before, after });
    ctx.body = after;
  });
  router.delete('/log-streams/:id', requireScope('delete:log_streams'), async function deleteLogStream(ctx) {
    const id = idOf(ctx);
    const before = await app.logStreams.get(id);
    await app.logStreams.remove(id);
    await auditChange(app, ctx, { description: 'Delete a log stream', target: { type: 'log_stream', id }, before });
    ctx.status = 204;
  });
};
