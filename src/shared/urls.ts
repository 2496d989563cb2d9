/**
 * Builds absolute URLs from the configured issuer, which may or may not end with `/`
 * (Auth0's issuers do). Never from the Host header.
 */
export function createUrls(issuer: string) {
  const base = issuer.endsWith('/') ? issuer.slice(0, -1) : issuer;
  const origin = new URL(issuer).origin;
  return {
    issuer,
    /** `/path` joined to the issuer without a double or missing slash. */
    urlFor: (path: string) => `${base}${path.startsWith('/') ? path : `/${path}`}`,
    origin,
    /** The Management API audience: `/api/v2/` on the issuer's origin. */
    managementAudience: `${origin}/api/v2/`,
    /** Path prefix the issuer adds (e.g. `/tenant` for `https://x/tenant`), '' for root issuers. */
    mountPath: new URL(base).pathname.replace(/\/$/, ''),
  };
}
export type Urls = ReturnType<typeof createUrls>;

/**
 * RFC 8707 resource indicators are absolute URIs without a fragment; an Auth0 API identifier
 * may be any printable string (`my-api`). Such an identifier travels through oidc-provider as
 * this URN (its resource indicator) and comes back out as itself, the tokens' `aud`.
 */
const API_URN = 'urn:gatehouse:api:';
/** The resource indicator for an API identifier (the identifier itself when it is an absolute URI). */
export function apiIndicator(identifier: string): string {
  return URL.canParse(identifier) && !identifier.includes('#') && !identifier.startsWith(API_URN) ? identifier : API_URN + encodeURIComponent(identifier);
}
/**
 * The API identifier a resource indicator stands for. Only the URN apiIndicator makes stands for
 * another identifier: any other spelling of it (`my%2Dapi`, a wrapped URI identifier) is itself,
 * an identifier no API has (API identifiers may not start with the URN's prefix).
 */
export function apiIdentifier(indicator: string): string {
  if (!indicator.startsWith(API_URN)) return indicator;
  let id: string;
  try { id = decodeURIComponent(indicator.slice(API_URN.length)); } catch { return indicator; }
  return apiIndicator(id) === indicator ? id : indicator;
}
/** Whether an API identifier would be mistaken for apiIndicator's URN (refused on create). */
export const isReservedApiIdentifier = (identifier: string): boolean => identifier.startsWith(API_URN);

/**
 * Whether a redirect URI lands on the user's own device (localhost, a *.localhost name,
 * 127.0.0.0/8 or [::1]): any program running there can listen on it, so a code sent there may
 * reach another program than the application (RFC 8252 §8.6). Auth0 always asks for consent on
 * localhost for that reason, first party or not.
 */
export function redirectsToThisDevice(uri: unknown): boolean {
  if (typeof uri !== 'string' || !URL.canParse(uri)) return false;
  const u = new URL(uri);
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return false;
  // The URL parser has lowered the name and written addresses in one form (127.1 is 127.0.0.1,
  // [0:…:1] is [::1], [::ffff:127.0.0.1] is [::ffff:7f00:1]); a name may end with the root's dot.
  const h = u.hostname.replace(/\.$/, '');
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  // 127.0.0.0/8, and 0.0.0.0/8, which connects to this host too.
  const v4 = /^(\d{1,3})\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.exec(h);
  if (v4) return v4[1] === '127' || v4[1] === '0';
  // ::1 and ::, and IPv4 addresses of those ranges written as IPv6 (mapped ::ffff:a.b.c.d or the
  // old compatible ::a.b.c.d).
  if (h === '[::1]' || h === '[::]') return true;
  const v6 = /^\[::(?:ffff:)?([0-9a-f]{1,4}):[0-9a-f]{1,4}\]$/.exec(h);
  if (v6) { const first = parseInt(v6[1], 16) >> 8; return first === 127 || first === 0; }
  return false;
}
