import type Router from '@koa/router';
import type { Urls } from '../shared/urls.ts';
import { AppError } from '../shared/errors.ts';
import { ROUTES } from '../oidc/provider.ts';

/**
 * Auth0's logout URL, `GET /v2/logout?client_id=…&returnTo=…` (what auth0-spa-js and
 * auth0.js call), mapped onto oidc-provider's RP-initiated logout: `returnTo` becomes
 * `post_logout_redirect_uri`, so it must be one of the client's `allowed_logout_urls`
 * (checked by oidc-provider, exact match; an unregistered one is an error page, never a
 * redirect). Unlike Auth0, the user confirms on the logout page: without an
 * `id_token_hint` a link on any site could otherwise sign the user out (ASVS 10.6.2).
 * Auth0's tenant-wide logout URLs do not exist here: `returnTo` without `client_id` is
 * dropped by oidc-provider and the user ends on the "signed out" page. `federated` is
 * accepted and ignored (there are no upstream identity providers).
 */
export function registerAuth0Logout(router: Router, urls: Urls) {
  router.get('/v2/logout', async function auth0Logout(ctx) {
    const params = new URLSearchParams();
    for (const [name, to] of [['client_id', 'client_id'], ['returnTo', 'post_logout_redirect_uri']] as const) {
      const v = ctx.query[name];
      if (Array.isArray(v)) throw new AppError(400, 'invalid_request', `${name} must be given once`);
      if (typeof v === 'string' && v !== '') params.set(to, v);
    }
    const query = params.toString();
    ctx.status = 303;
    ctx.redirect(`${urls.urlFor(ROUTES.end_session)}${query ? `?${query}` : ''}`);
  });
}
