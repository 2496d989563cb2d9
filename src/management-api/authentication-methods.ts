import { requireScope } from './auth.ts';
import { auditChange, type RegisterRoutes } from './helpers.ts';
import { notFound } from '../shared/errors.ts';
import { queueMfaChangedMail } from '../mail/notices.ts';

/**
 * `/users/{id}/authentication-methods` (Auth0's shape): list a user's enrolled authenticator
 * apps, remove one, or reset them all (the user enrolls again at the next login that needs
 * MFA). Secrets never leave: only ids, types and dates. And
 * `/users/{id}/multifactor/actions/invalidate-remember-browser`.
 */
export const registerAuthenticationMethods: RegisterRoutes = (router, app) => {
  async function user(id: string) {
    const u = await app.users.get(id);
    if (!u) throw notFound('The user does not exist.', 'inexistent_user');
    return u;
  }

  router.get('/users/:id/authentication-methods', requireScope('read:authentication_methods'), async function listMethods(ctx) {
    const u = await user(ctx.params.id);
    ctx.body = (await app.mfa.factors(u.user_id)).map((f) => ({ id: f.id, type: f.type, confirmed: f.confirmed, created_at: f.created_at, last_auth_at: f.last_auth_at }));
  });

  router.delete('/users/:id/authentication-methods/:methodId', requireScope('delete:authentication_methods'), async function removeMethod(ctx) {
    const u = await user(ctx.params.id);
    const n = await app.mfa.remove(u.user_id, ctx.params.methodId);
    if (!n) throw notFound('The authentication method does not exist.', 'inexistent_authentication_method');
    await auditChange(app, ctx, { description: 'Remove an authentication method', target: { type: 'user', id: u.user_id }, userId: u.user_id, extra: { method: ctx.params.methodId } });
    // The owner hears of it (SECURITY.md C9): a factor gone without them is the start of a takeover.
    queueMfaChangedMail(app, u.email, 'removed_by_admin');
    ctx.status = 204;
  });

  router.delete('/users/:id/authentication-methods', requireScope('delete:authentication_methods'), async function resetMethods(ctx) {
    const u = await user(ctx.params.id);
    const n = await app.mfa.remove(u.user_id);
    await auditChange(app, ctx, { description: 'Reset all authentication methods', target: { type: 'user', id: u.user_id }, userId: u.user_id, extra: { removed: n } });
    if (n > 0) queueMfaChangedMail(app, u.email, 'removed_by_admin');
    ctx.status = 204;
  });

  // Auth0's path and scope: every browser where the user ticked "remember this browser" asks for the second factor again.
  router.post('/users/:id/multifactor/actions/invalidate-remember-browser', requireScope('update:users'), async function invalidateRememberBrowser(ctx) {
    const u = await user(ctx.params.id);
    await app.users.forgetRememberedBrowsers(u.user_id);
    await auditChange(app, ctx, { description: 'Invalidate remembered browsers for MFA', target: { type: 'user', id: u.user_id }, userId: u.user_id });
    ctx.status = 204;
  });
};
