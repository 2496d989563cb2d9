import type { Context } from 'koa';
import { z } from 'zod';
import { requireScope } from './auth.ts';
import { auditChange, checkpointBody, checkpointOf, checkpointShape, listBody, pageOf, paginationShape, parseBody, parseQuery, pathId, requireSomeField, text, type RegisterRoutes } from './helpers.ts';

/*
 * Auth0's `/api/v2/organizations`: organizations, their members and the members' roles
 * (src/organizations/organizations.ts), with Auth0's scopes. How applications sign users in to
 * an organization is in src/oidc/provider.ts (the `organization` parameter, `org_id`).
 */
const branding = z.strictObject({
  logo_url: z.url({ protocol: /^https$/, error: 'must be an https URL' }).max(2048).optional(),
  colors: z.strictObject({ primary: z.string().max(20).optional(), page_background: z.string().max(20).optional() }).optional(),
});
const metadata = z.record(z.string().max(255), z.string().max(255));
const createBody = z.strictObject({ name: z.string().min(1).max(50), display_name: text(255, 0).optional(), branding: branding.optional(), metadata: metadata.optional() });
const patchBody = createBody.partial();
const membersBody = z.strictObject({ members: z.array(z.string().min(1).max(64)).min(1).max(10) });
const rolesBody = z.strictObject({ roles: z.array(z.string().min(1).max(64)).min(1).max(20) });
const idParam = (ctx: Context) => pathId(ctx, 64);
const userParam = (ctx: Context) => pathId(ctx, 64, 'user_id');
const memberOut = (r: Record<string, unknown>) => ({ user_id: r.user_id as string, email: r.email as string, name: (r.name as string | null) ?? (r.email as string), picture: (r.picture as string | null) ?? '' });

export const registerOrganizations: RegisterRoutes = (router, app) => {
  const { organizations: orgs } = app;

  router.get('/organizations', requireScope('read:organizations'), async function listOrganizations(ctx) {
    const q = parseQuery(ctx, z.strictObject({ ...paginationShape, ...checkpointShape }));
    const c = checkpointOf(q);
    if (c) {
      ctx.body = checkpointBody('organizations', await orgs.listAfter(c.after?.[0], c.take + 1), c, (o) => [o.id], (o) => o);
      return;
    }
    const p = pageOf(q);
    const r = await orgs.list(p);
    ctx.body = listBody('organizations', r.organizations, r.total, p);
  });
  router.post('/organizations', requireScope('create:organizations'), async function createOrganization(ctx) {
    const made = await orgs.create(parseBody(ctx, createBody));
    await auditChange(app, ctx, { description: 'Create an organization', target: { type: 'organization', id: made.id }, after: made });
    ctx.status = 201;
    ctx.body = made;
  });
  router.get('/organizations/name/:name', requireScope('read:organizations'), async function organizationByName(ctx) {
    const o = await orgs.byName(pathId(ctx, 50, 'name'));
    ctx.body = o ?? await orgs.require('');
  });
  router.get('/organizations/:id', requireScope('read:organizations'), async function getOrganization(ctx) {
    ctx.body = await orgs.require(idParam(ctx));
  });
  router.patch('/organizations/:id', requireScope('update:organizations'), async function updateOrganization(ctx) {
    const id = idParam(ctx);
    const body = parseBody(ctx, patchBody);
    requireSomeField(body);
    const before = await orgs.require(id);
    const after = await orgs.update(id, body);
    await auditChange(app, ctx, { description: 'Update an organization', target: { type: 'organization', id }, before, after });
    ctx.body = after;
  });
  router.delete('/organizations/:id', requireScope('delete:organizations'), async function deleteOrganization(ctx) {
    const id = idParam(ctx);
    const before = await orgs.require(id);
    await orgs.remove(id);
    await auditChange(app, ctx, { description: 'Delete an organization', target: { type: 'organization', id }, before });
    ctx.status = 204;
  });

  router.get('/organizations/:id/members', requireScope('read:organization_members'), async function listMembers(ctx) {
    const id = idParam(ctx);
    const q = parseQuery(ctx, z.strictObject({ ...paginationShape, ...checkpointShape, fields: z.string().max(200).optional(), include_fields: z.enum(['true', 'false']).optional() }));
    await orgs.require(id);
    const c = checkpointOf(q);
    if (c) {
      ctx.body = checkpointBody('members', await orgs.membersAfter(id, c.after?.[0], c.take + 1), c, (r) => [r.user_id as string], memberOut);
      return;
    }
    const p = pageOf(q);
    const r = await orgs.members(id, p);
    ctx.body = listBody('members', r.members.map(memberOut), r.total, p);
  });
  router.post('/organizations/:id/members', requireScope('create:organization_members'), async function addMembers(ctx) {
    const id = idParam(ctx);
    const { members } = parseBody(ctx, membersBody);
    await orgs.require(id);
    await orgs.addMembers(id, members);
    await auditChange(app, ctx, { description: 'Add members to an organization', target: { type: 'organization', id }, extra: { members } });
    ctx.status = 204;
  });
  router.delete('/organizations/:id/members', requireScope('delete:organization_members'), async function removeMembers(ctx) {
    const id = idParam(ctx);
    const { members } = parseBody(ctx, membersBody);
    await orgs.require(id);
    await orgs.removeMembers(id, members);
    await auditChange(app, ctx, { description: 'Remove members from an organization', target: { type: 'organization', id }, extra: { members } });
    ctx.status = 204;
  });

  router.get('/organizations/:id/members/:user_id/roles', requireScope('read:organization_member_roles'), async function memberRoles(ctx) {
    const id = idParam(ctx);
    const p = pageOf(parseQuery(ctx, z.strictObject(paginationShape)));
    await orgs.require(id);
    const all = await orgs.memberRoles(id, userParam(ctx));
    ctx.body = listBody('roles', all.slice(p.page * p.perPage, (p.page + 1) * p.perPage), all.length, p);
  });
  router.post('/organizations/:id/members/:user_id/roles', requireScope('create:organization_member_roles'), async function assignMemberRoles(ctx) {
    const id = idParam(ctx);
    const { roles } = parseBody(ctx, rolesBody);
    await orgs.require(id);
    await orgs.assignMemberRoles(id, userParam(ctx), roles);
    await auditChange(app, ctx, { description: 'Assign roles to an organization member', target: { type: 'organization', id }, userId: userParam(ctx), extra: { roles } });
    ctx.status = 204;
  });
  router.delete('/organizations/:id/members/:user_id/roles', requireScope('delete:organization_member_roles'), async function removeMemberRoles(ctx) {
    const id = idParam(ctx);
    const { roles } = parseBody(ctx, rolesBody);
    await orgs.require(id);
    await orgs.removeMemberRoles(id, userParam(ctx), roles);
    await auditChange(app, ctx, { description: 'Remove roles from an organization member', target: { type: 'organization', id }, userId: userParam(ctx), extra: { roles } });
    ctx.status = 204;
  });
};
