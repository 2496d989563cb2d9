import type { KoaContextWithOIDC } from 'oidc-provider';

/**
 * `event.request.query` at login is the authorization request's query, as on Auth0, custom
 * parameters included (`screen_hint`, `invitation`, `ext-…`): actions read them. oidc-provider
 * keeps only the parameters it knows (plus `extraParams`) in the interaction, so the ones it
 * does not know travel through it as one extra parameter it keeps: JSON under QUERY_PARAM.
 *
 * Its value is never the client's: `carryUnknownParams` is that parameter's extraParams
 * validator, which oidc-provider runs on every authorization request, on whatever path its
 * router matched (any case, a trailing slash), after request objects and pushed requests were
 * applied, and it overwrites the value. Only a plain GET /authorize carries anything (a pushed
 * request's parameters were checked by the provider: nothing unchecked rides along), and only
 * names the provider does not recognise, so nothing an action reads in place of a checked
 * parameter (audience, id_token_hint, acr_values…) can come from it.
 */
export const QUERY_PARAM = 'gh_authorization_query';
/** A larger set of unknown parameters is not carried (the URL itself is capped by the header limit). */
const MAX_CHARS = 8 * 1024;

/** extraParams validator of QUERY_PARAM (see above). */
export function carryUnknownParams(ctx: KoaContextWithOIDC): void {
  const params = ctx.oidc.params as Record<string, unknown>;
  let carried: string | undefined;
  const pushed = (ctx.oidc.entities as { PushedAuthorizationRequest?: unknown }).PushedAuthorizationRequest;
  if (ctx.oidc.route === 'authorization' && ctx.method === 'GET' && pushed === undefined) {
    const unknown: Record<string, string> = {};
    for (const [k, v] of Object.entries(ctx.query)) {
      // Params holds every name the provider recognises, set or not.
      if (Object.hasOwn(params, k) || k === '__proto__') continue;
      // The first value of a repeated parameter, as Koa's ctx.query gives it to other triggers.
      const first = Array.isArray(v) ? v[0] : v;
      if (typeof first === 'string') unknown[k] = first;
    }
    const json = JSON.stringify(unknown);
    if (json !== '{}' && json.length <= MAX_CHARS) carried = json;
  }
  params[QUERY_PARAM] = carried;
}

/**
 * The authorization request's query from an interaction's (or the provider's) params: the
 * parameters the provider recognised, plus the unknown ones carried under QUERY_PARAM.
 */
export function authorizationQuery(params: Record<string, unknown>): Record<string, unknown> {
  const { [QUERY_PARAM]: carried, ...known } = params;
  const out: Record<string, unknown> = {};
  if (typeof carried === 'string') {
    try {
      const v = JSON.parse(carried) as unknown;
      if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
        for (const [k, x] of Object.entries(v)) if (typeof x === 'string' && k !== '__proto__') out[k] = x;
      }
    } catch { /* never ours: ignored */ }
  }
  for (const [k, v] of Object.entries(known)) if (v !== undefined) out[k] = v;
  return out;
}
