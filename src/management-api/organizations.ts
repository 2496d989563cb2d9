import { z } from 'zod';
import { requireScope } from './auth.ts';
import { listBody, pageOf, paginationShape, parseQuery, type RegisterRoutes } from './helpers.ts';
import { notFound } from '../shared/errors.ts';

/**
 * `/organizations`: Auth0's organizations do not exist here (README, what differs from Auth0).
 * The list says so as Auth0 does for a tenant without any, an empty list; one organization by
 * id or name is a 404 naming the resource. Actions that look a user's organizations up then see
 * none instead of failing on an error.
 */
export const registerOrganizations: RegisterRoutes = (router) => {
  router.get('/organizations', requireScope('read:organizations'), async function listOrganizations(ctx) {
    const p = pageOf(parseQuery(ctx, z.strictObject({ ...paginationShape, from: z.string().max(500).optional(), take: z.coerce.number().int().min(1).max(100).optional() })));
    ctx.body = ctx.query.take !== undefined ? { organizations: [] } : listBody('organizations', [], 0, p);
  });
  const none = () => { throw notFound('No organization found by that id or name', 'inexistent_organization'); };
  router.get('/organizations/name/:name', requireScope('read:organizations'), none);
  router.get('/organizations/:id', requireScope('read:organizations'), none);
};
