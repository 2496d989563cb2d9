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
