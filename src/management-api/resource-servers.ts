import { isReservedApiIdentifier } from '../shared/urls.ts';
import type { Context } from 'koa';
import { z } from 'zod';
import { badRequest } from '../shared/errors.ts';
import { requireScope } from './auth.ts';
import { TOKEN_DIALECTS } from '../clients/resource-servers.ts';
import { alwaysTrue, auditChange, listBody, pageOf, paginationShape, parseBody, parseQuery, requireSomeField, text, pathId, type RegisterRoutes } from './helpers.ts';

const scopes = z.array(z.strictObject({ value: z.string().min(1).max(280), description: text(500, 0).optional().default('') })).max(1000);
const fields = {
  name: text(200),
  // The identifier is the `aud` of tokens for this API: printable, no spaces, usually a URL.
  identifier: z.string().min(1).max(600).regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces')
    .refine((v) => !isReservedApiIdentifier(v), 'must not start with urn:gatehouse:api: (Gatehouse writes non-URI identifiers so inside the OIDC layer)'),
  scopes,
  signing_alg: z.enum(['ES256', 'RS256']),
  // Auth0's bounds: one minute to 30 days.
  token_lifetime: z.number().int().min(60).max(2_592_000),
  // RBAC (Auth0's names): scopes limited to the user's permissions; `_authz` adds `permissions`.
  enforce_policies: z.boolean(),
  token_dialect: z.enum(TOKEN_DIALECTS),
};
/** Auth0 settings that always hold here (see alwaysTrue): accepted as true, shown as true. */
const fixed = {
  allow_offline_access: alwaysTrue('refresh tokens for an API go to the apps that ask for offline_access').optional(),
  skip_consent_for_verifiable_first_party_clients: alwaysTrue('first-party applications never see a consent screen').optional(),
};
const createBody = z.strictObject({
  ...fields, scopes: scopes.optional(), signing_alg: fields.signing_alg.optional(), token_lifetime: fields.token_lifetime.optional(),
  enforce_policies: fields.enforce_policies.optional(), token_dialect: fields.token_dialect.optional(), ...fixed,
});
/** No `identifier`: it is the audience every issued token and client grant refers to. */
const patchBody = z.strictObject({
  name: fields.name.optional(), scopes: scopes.optional(), signing_alg: fields.signing_alg.optional(), token_lifetime: fields.token_lifetime.optional(),
  enforce_policies: fields.enforce_policies.optional(), token_dialect: fields.token_dialect.optional(), ...fixed,
});
const withoutFixed = <T extends Record<string, unknown>>(b: T) => {
  const { allow_offline_access: _a, skip_consent_for_verifiable_first_party_clients: _s, ...rest } = b;
  return rest;
};
/** An API as Auth0 shows it: with the settings that always hold here. */
const view = <T extends object>(rs: T) => ({ ...rs, allow_offline_access: true, skip_consent_for_verifiable_first_party_clients: true });

const idParam = (ctx: Context) => pathId(ctx, 600);

/** Auth0's `/api/v2/resource-servers` (APIs); `{id}` is the id or the identifier. */
export const registerResourceServers: RegisterRoutes = (router, app) => {
  const { resourceServers } = app;

  router.get('/resource-servers', requireScope('read:resource_servers'), async function listResourceServers(ctx) {
    const q = parseQuery(ctx, z.strictObject({ ...paginationShape, identifiers: z.union([z.string().max(600), z.array(z.string().max(600)).max(100)]).optional() }), ['identifiers']);
    const p = pageOf(q);
    const identifiers = q.identifiers === undefined ? undefined : [q.identifiers].flat();
    const r = await resourceServers.list({ ...p, identifiers });
    ctx.body = listBody('resource_servers', r.resource_servers.map(view), r.total, p);
  });

  router.post('/resource-servers', requireScope('create:resource_servers'), async function createResourceServer(ctx) {
    const body = withoutFixed(parseBody(ctx, createBody));
    const rs = await resourceServers.create(body);
    await auditChange(app, ctx, { description: 'Create a resource server', target: { type: 'resource_server', id: rs.id }, after: rs });
    ctx.status = 201;
    ctx.body = view(rs);
  });

  router.get('/resource-servers/:id', requireScope('read:resource_servers'), async function getResourceServer(ctx) {
    ctx.body = view(await resourceServers.require(idParam(ctx)));
  });

  router.patch('/resource-servers/:id', requireScope('update:resource_servers'), async function updateResourceServer(ctx) {
    const id = idParam(ctx);
    const sent = parseBody(ctx, patchBody);
    requireSomeField(sent);
    const body = withoutFixed(sent);
    const before = await resourceServers.require(id);
    // The Management API's scopes are the ones this server enforces; editing them would only
    // desynchronise the list until the next start re-adds them.
    if (before.is_system && body.scopes) throw badRequest('scopes: the scopes of the system Management API cannot be changed', 'operation_not_supported');
    // Its scopes come from client grants and, for users' own tokens, are fixed (current-user scopes).
    if (before.is_system && (body.enforce_policies !== undefined || body.token_dialect !== undefined)) {
      throw badRequest('enforce_policies, token_dialect: the system Management API\'s tokens are not changed by RBAC settings', 'operation_not_supported');
    }
    const after = await resourceServers.update(before.id, body);
    await auditChange(app, ctx, { description: 'Update a resource server', target: { type: 'resource_server', id: before.id }, before, after });
    ctx.body = view(after);
  });

  router.delete('/resource-servers/:id', requireScope('delete:resource_servers'), async function deleteResourceServer(ctx) {
    const before = await resourceServers.require(idParam(ctx));
    await resourceServers.remove(before.id);
    await auditChange(app, ctx, { description: 'Delete a resource server', target: { type: 'resource_server', id: before.id }, before });
    ctx.status = 204;
  });
};
