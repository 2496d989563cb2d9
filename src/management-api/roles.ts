import type { Context } from 'koa';
import { z } from 'zod';
import { requireScope } from './auth.ts';
import { auditChange, checkpointBody, checkpointOf, checkpointShape, listBody, pageOf, paginationShape, parseBody, registerPermissionWrites, parseQuery, requireSomeField, text, pathId, type RegisterRoutes } from './helpers.ts';

const createBody = z.strictObject({ name: text(200), description: text(1000, 0).optional() });
const patchBody = z.strictObject({ name: text(200).optional(), description: text(1000, 0).optional() });
const usersBody = z.strictObject({ users: z.array(z.string().min(1).max(64)).min(1).max(50) });

const idParam = (ctx: Context) => pathId(ctx, 64);

/** Auth0's `/api/v2/roles`: CRUD and the users holding a role. */
export const registerRoles: RegisterRoutes = (router, app) => {
  const { roles } = app;

  router.get('/roles', requireScope('read:roles'), async function listRoles(ctx) {
    const q = parseQuery(ctx, z.strictObject({ ...paginationShape, name_filter: z.string().max(200).optional() }));
    const p = pageOf(q);
    const r = await roles.list({ page: p.page, perPage: p.perPage, nameFilter: q.name_filter });
    ctx.body = listBody('roles', r.roles, r.total, p);
  });

  router.post('/roles', requireScope('create:roles'), async function createRole(ctx) {
    const body = parseBody(ctx, createBody);
    const role = await roles.create(body);
    await auditChange(app, ctx, { description: 'Create a role', target: { type: 'role', id: role.id }, after: role });
    ctx.body = role;
  });

  router.get('/roles/:id', requireScope('read:roles'), async function getRole(ctx) {
    ctx.body = await roles.require(idParam(ctx));
  });

  router.patch('/roles/:id', requireScope('update:roles'), async function updateRole(ctx) {
    const id = idParam(ctx);
    const body = parseBody(ctx, patchBody);
    requireSomeField(body);
    const before = await roles.require(id);
    const after = await roles.update(id, body);
    await auditChange(app, ctx, { description: 'Update a role', target: { type: 'role', id }, before, after });
    ctx.body = after;
  });

  router.delete('/roles/:id', requireScope('delete:roles'), async function deleteRole(ctx) {
    const id = idParam(ctx);
    const before = await roles.require(id);
    await roles.remove(id);
    await auditChange(app, ctx, { description: 'Delete a role', target: { type: 'role', id }, before });
    ctx.status = 204;
  });

  // RBAC: the API scopes the role gives its users (src/roles/permissions.ts).
  router.get('/roles/:id/permissions', requireScope('read:roles'), async function rolePermissions(ctx) {
    const id = idParam(ctx);
    const p = pageOf(parseQuery(ctx, z.strictObject(paginationShape)));
    await roles.require(id);
    const r = await app.permissions.forRole(id, p);
    ctx.body = listBody('permissions', r.permissions, r.total, p);
  });

  registerPermissionWrites(router, app, {
    path: '/roles/:id/permissions', scope: 'update:roles', kind: 'role', id: idParam, exists: (id) => roles.require(id),
    give: app.permissions.giveRole, take: app.permissions.takeFromRole,
  });

  router.get('/roles/:id/users', requireScope('read:role_members'), async function roleUsers(ctx) {
    const id = idParam(ctx);
    const q = parseQuery(ctx, z.strictObject({ ...paginationShape, ...checkpointShape }));
    const c = checkpointOf(q);
    await roles.require(id);
    const item = (r: Record<string, unknown>) => ({ user_id: r.user_id as string, email: r.email as string, name: (r.name as string) ?? r.email, picture: (r.picture as string) ?? '' });
    if (c) {
      // Auth0's checkpoint form ({users, next}), which its SDKs ask for.
      ctx.body = checkpointBody('users', await roles.usersWithRoleAfter(id, c.after?.[0], c.take + 1), c, (r) => [r.email as string], item);
      return;
    }
    const p = pageOf(q);
    const list = (await roles.usersWithRole(id, p)).map(item);
    ctx.body = listBody('users', list, p.includeTotals ? await roles.countUsersWithRole(id) : list.length, p);
  });

  router.post('/roles/:id/users', requireScope('create:role_members'), async function assignRoleUsers(ctx) {
    const id = idParam(ctx);
    const body = parseBody(ctx, usersBody);
    await roles.require(id);
    await roles.assignUsers(id, body.users);
    await auditChange(app, ctx, { description: 'Assign users to a role', target: { type: 'role', id }, extra: { users: [...new Set(body.users)] } });
    ctx.status = 204;
  });
};
