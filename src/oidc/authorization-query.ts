import type { IncomingMessage } from 'node:http';

/**
 * `event.request.query` at login is the authorization request's query, as on Auth0, custom
 * parameters included (`screen_hint`, `invitation`, `ext-…`): actions read them. oidc-provider
 * keeps only the parameters it knows (plus `extraParams`) in the interaction, so the query of a
 * GET /authorize is carried through it whole, as one extra parameter it keeps: JSON under
 * QUERY_PARAM, set here from the request line. A client's own value under that name is
 * dropped first; one sent in a POSTed authorization form is not (the provider parses that
 * body), and can only name parameters the client could have sent in the query anyway: the
 * parameters oidc-provider recognised always win over it (`authorizationQuery`).
 */
export const QUERY_PARAM = 'gh_authorization_query';
/** A query longer than this is not carried (the URL itself is capped by the header limit). */
const MAX_CHARS = 8 * 1024;

/** Rewrites a GET authorization request's URL to carry its own query under QUERY_PARAM. */
export function carryAuthorizationQuery(req: IncomingMessage): void {
  const url = req.url ?? '';
  const q = url.indexOf('?');
  if (q < 0) return;
  const params = new URLSearchParams(url.slice(q + 1));
  params.delete(QUERY_PARAM);
  const query: Record<string, string> = {};
  // The first value of a repeated parameter, as Koa's ctx.query gives it to other triggers.
  for (const [k, v] of params) if (!Object.hasOwn(query, k)) query[k] = v;
  const json = JSON.stringify(query);
  if (json.length <= MAX_CHARS) params.set(QUERY_PARAM, json);
  req.url = `${url.slice(0, q)}?${params.toString()}`;
}

/**
 * The authorization request's query from an interaction's params: what the client sent,
 * with the values oidc-provider recognised (and normalised) over it.
 */
export function authorizationQuery(params: Record<string, unknown>): Record<string, unknown> {
  const { [QUERY_PARAM]: carried, ...known } = params;
  let raw: Record<string, unknown> = {};
  if (typeof carried === 'string') {
    try {
      const v = JSON.parse(carried) as unknown;
      if (v !== null && typeof v === 'object' && !Array.isArray(v)) raw = v as Record<string, unknown>;
    } catch { /* not ours: ignored */ }
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(raw)) if (typeof v === 'string' && k !== '__proto__') out[k] = v;
  for (const [k, v] of Object.entries(known)) if (v !== undefined) out[k] = v;
  return out;
}
