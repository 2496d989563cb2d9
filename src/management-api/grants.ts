import { apiIdentifier, apiIndicator } from '../shared/urls.ts';
import { z } from 'zod';
import { requireScope } from './auth.ts';
import { auditChange, listBody, pageOf, paginationShape, parseQuery, type RegisterRoutes } from './helpers.ts';
import { badRequest, notFound } from '../shared/errors.ts';
import type { UserGrant } from '../oidc/grants.ts';

/**
 * `/grants` (Auth0's shape): what users authorized applications to do, and revoking it. A
 * revoked grant takes every token issued under it (refresh tokens included) and a third-party
 * application must ask for consent again. Auth0's grant has one `audience`; one here may cover
 * several APIs and the OpenID scopes: `audience` is the first API (or the userinfo audience when
 * there is none), `audiences` all of them, `scope` every scope granted.
 */
export const registerGrants: RegisterRoutes = (router, app) => {
  const userinfo = app.urls.urlFor('/userinfo');
  const shape = (g: UserGrant) => {
    const indicators = Object.keys(g.resources);
    // The APIs' identifiers (a non-URI one is kept as its resource indicator: apiIndicator).
    const audiences = indicators.map(apiIdentifier);
    return {
      id: g.id, clientID: g.clientId, user_id: g.accountId, audience: audiences[0] ?? userinfo, audiences,
      scope: [...g.scopes, ...indicators.flatMap((a) => g.resources[a])],
      created_at: new Date(g.createdAt).toISOString(), expires_at: g.expiresAt ? new Date(g.expiresAt).toISOString() : null, offline_access: g.offline,
    };
  };
  const filters = { user_id: z.string().min(1).max(64).optional(), client_id: z.string().min(1).max(128).optional(), audience: z.string().min(1).max(600).optional() };

  router.get('/grants', requireScope('read:grants'), async function listGrants(ctx) {
    const q = parseQuery(ctx, z.strictObject({ ...filters, ...paginationShape }));
    const p = pageOf(q);
    const f = { userId: q.user_id, clientId: q.client_id };
    // By an API (a member of the grants' `resources`), or the userinfo audience (grants for no
    // API): selected and paged in SQL, as the rest.
    const by = !q.audience ? f : q.audience === userinfo ? { ...f, noApi: true } : { ...f, indicator: apiIndicator(q.audience) };
    const { grants, total } = await app.grants.page(by, { offset: p.page * p.perPage, limit: p.perPage });
    ctx.body = listBody('grants', grants.map(shape), total, p);
  });

  router.delete('/grants/:id', requireScope('delete:grants'), async function deleteGrant(ctx) {
    const g = await app.grants.get(ctx.params.id);
    if (!g) throw notFound('The grant does not exist.', 'inexistent_grant');
    const removed = await app.grants.revoke([g.id]);
    await auditChange(app, ctx, { description: 'Delete a grant', target: { type: 'grant', id: g.id }, userId: g.accountId, extra: { client_id: g.clientId, revoked_token_count: removed } });
    ctx.status = 204;
  });

  // Auth0: DELETE /grants?user_id=… removes every grant of that user.
  router.delete('/grants', requireScope('delete:grants'), async function deleteUserGrants(ctx) {
    const q = parseQuery(ctx, z.strictObject({ user_id: z.string().min(1).max(64).optional() }));
    if (!q.user_id) throw badRequest('Query validation error: user_id: required', 'invalid_query_string');
    const grants = await app.grants.list({ userId: q.user_id });
    const removed = await app.grants.revoke(grants.map((g) => g.id));
    await auditChange(app, ctx, { description: 'Delete a user\'s grants', target: { type: 'user', id: q.user_id }, userId: q.user_id, extra: { grants: grants.length, revoked_token_count: removed } });
    ctx.status = 204;
  });
};
