import { z } from 'zod';
import { requireScope } from './auth.ts';
import { fieldsOf, fieldsShape, listBody, pageOf, paginationShape, parseQuery, type RegisterRoutes } from './helpers.ts';
import { notFound } from '../shared/errors.ts';
import { CONNECTION } from '../actions/triggers/events.ts';

const listQuery = z.strictObject({
  ...paginationShape, ...fieldsShape,
  strategy: z.union([z.string().max(64), z.array(z.string().max(64)).max(20)]).optional(),
  name: z.string().max(128).optional(),
  from: z.string().max(64).optional(),
  take: z.coerce.number().int().min(1).max(100).optional(),
});

/**
 * Auth0's `/connections`, read-only: Gatehouse has one, the e-mail and password database
 * every user signs in with (the `event.connection` actions see). Tools that read a tenant
 * (Auth0's Deploy CLI, Terraform) and actions that look a connection up by name find it with
 * the settings that apply to it, from the configuration.
 */
export const registerConnections: RegisterRoutes = (router, app) => {
  const { config } = app;
  const connection = () => ({
    id: CONNECTION.id, name: CONNECTION.name, display_name: CONNECTION.name, strategy: CONNECTION.strategy,
    realms: [CONNECTION.name], is_domain_connection: false, metadata: {},
    options: {
      disable_signup: !config.signup.enabled,
      requires_username: false,
      brute_force_protection: true,
      password_complexity_options: { min_length: config.password.minLength },
      mfa: { active: true, return_enroll_settings: true },
    },
  });

  router.get('/connections', requireScope('read:connections'), async function listConnections(ctx) {
    const q = parseQuery(ctx, listQuery, ['strategy']);
    const p = pageOf(q);
    const strategies = q.strategy === undefined ? undefined : Array.isArray(q.strategy) ? q.strategy : [q.strategy];
    const all = [connection()].filter((c) => (strategies === undefined || strategies.includes(c.strategy)) && (q.name === undefined || q.name === c.name));
    const items = all.slice(p.page * p.perPage, (p.page + 1) * p.perPage).map(fieldsOf(q));
    // A checkpoint request (from/take) gets the object form with no `next`: there is one page.
    ctx.body = q.take !== undefined || q.from !== undefined ? { connections: items } : listBody('connections', items, all.length, p);
  });

  router.get('/connections/:id', requireScope('read:connections'), async function getConnection(ctx) {
    if (ctx.params.id !== CONNECTION.id) throw notFound('The connection does not exist', 'inexistent_connection');
    ctx.body = fieldsOf(parseQuery(ctx, z.strictObject(fieldsShape)))(connection());
  });
};
