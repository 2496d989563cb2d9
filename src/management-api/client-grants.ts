import type { Context } from 'koa';
import { z } from 'zod';
import { badRequest, notFound } from '../shared/errors.ts';
import { requireScope } from './auth.ts';
import { auditChange, checkpointBody, checkpointOf, checkpointShape, listBody, pageOf, paginationShape, parseBody, parseQuery, pathId, type RegisterRoutes } from './helpers.ts';

const scope = z.array(z.string().min(1).max(280)).max(1000);
const createBody = z.strictObject({ client_id: z.string().min(1).max(128), audience: z.string().min(1).max(600), scope });
const patchBody = z.strictObject({ scope });
const listQuery = z.strictObject({ ...paginationShape, ...checkpointShape, client_id: z.string().max(128).optional(), audience: z.string().max(600).optional() });

const idParam = (ctx: Context) => pathId(ctx, 64);

/** Auth0's `/api/v2/client-grants`: which M2M client may get which scopes of which API. */
export const registerClientGrants: RegisterRoutes = (router, app) => {
  const { grants } = app.resourceServers;

  async function find(id: string) {
    const g = await grants.get(id);
    if (!g) throw notFound('The client grant does not exist', 'inexistent_client_grant');
    return g;
  }

  /**
   * A system client's (the bootstrap admin's) grant for the Management API is what every
   * recovery goes through: narrowed or deleted, nobody could administer the server any more.
   * It cannot be changed here, as the system client itself cannot be deleted.
   */
  async function refuseSystemManagementGrant(g: { client_id: string; audience: string }) {
    if (g.audience !== app.urls.managementAudience) return;
    if ((await app.clients.get(g.client_id))?.is_system) throw badRequest('The Management API grant of a system client cannot be changed or deleted', 'operation_not_supported');
  }

  router.get('/client-grants', requireScope('read:client_grants'), async function listClientGrants(ctx) {
    const q = parseQuery(ctx, listQuery);
    const c = checkpointOf(q);
    if (c) {
      // Auth0's checkpoint form ({client_grants, next}), which its SDKs ask for.
      const rows = await grants.listAfter({ after: c.after, limit: c.take + 1, clientId: q.client_id, audience: q.audience });
      ctx.body = checkpointBody('client_grants', rows, c, (g) => [g.created_at, g.id], (g) => g);
      return;
    }
    const p = pageOf(q);
    const r = await grants.list({ page: p.page, perPage: p.perPage, clientId: q.client_id, audience: q.audience });
    ctx.body = listBody('client_grants', r.client_grants, r.total, p);
  });

  router.get('/client-grants/:id', requireScope('read:client_grants'), async function getClientGrant(ctx) {
    ctx.body = await find(idParam(ctx));
  });

  router.post('/client-grants', requireScope('create:client_grants'), async function createClientGrant(ctx) {
    const body = parseBody(ctx, createBody);
    const g = await grants.create(body);
    await auditChange(app, ctx, { description: 'Create a client grant', target: { type: 'client_grant', id: g.id }, after: g });
    ctx.status = 201;
    ctx.body = g;
  });

  router.patch('/client-grants/:id', requireScope('update:client_grants'), async function updateClientGrant(ctx) {
    const id = idParam(ctx);
    const body = parseBody(ctx, patchBody);
    const before = await find(id);
    await refuseSystemManagementGrant(before);
    const after = await grants.update(id, body.scope);
    await auditChange(app, ctx, { description: 'Update a client grant', target: { type: 'client_grant', id }, before, after });
    ctx.body = after;
  });

  router.delete('/client-grants/:id', requireScope('delete:client_grants'), async function deleteClientGrant(ctx) {
    const id = idParam(ctx);
    const before = await find(id);
    await refuseSystemManagementGrant(before);
    await grants.remove(id);
    await auditChange(app, ctx, { description: 'Delete a client grant', target: { type: 'client_grant', id }, before });
    ctx.status = 204;
  });
};
