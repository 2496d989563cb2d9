import type { IncomingMessage } from 'node:http';

/**
 * `event.request.geoip` from the location headers a CDN in front adds (Auth0's field: actions
 * that block or challenge by country read it). Gatehouse has no GeoIP database of its own, so
 * `http.geoipHeaders` names the proxy whose headers to believe: Cloudflare (`CF-IPCountry`, and
 * with its visitor-location headers city, region, continent, coordinates, time zone) or
 * CloudFront (`CloudFront-Viewer-*`). Config refuses it without `http.trustProxy`: a client can
 * send these headers itself, and only a proxy that overwrites them makes them true.
 *
 * No country header (a request that did not come through the CDN): no `geoip`, so an action
 * that reads `geoip.countryCode` fails closed rather than passing an empty object.
 */
export type GeoipSource = 'none' | 'cloudflare' | 'cloudfront';

const HEADERS: Record<Exclude<GeoipSource, 'none'>, Record<string, string>> = {
  cloudflare: {
    countryCode: 'cf-ipcountry', cityName: 'cf-ipcity', continentCode: 'cf-ipcontinent', latitude: 'cf-iplatitude', longitude: 'cf-iplongitude',
    timeZone: 'cf-timezone', subdivisionCode: 'cf-region-code', subdivisionName: 'cf-region',
  },
  cloudfront: {
    countryCode: 'cloudfront-viewer-country', countryName: 'cloudfront-viewer-country-name', cityName: 'cloudfront-viewer-city',
    latitude: 'cloudfront-viewer-latitude', longitude: 'cloudfront-viewer-longitude', timeZone: 'cloudfront-viewer-time-zone',
    subdivisionCode: 'cloudfront-viewer-country-region', subdivisionName: 'cloudfront-viewer-country-region-name',
  },
};
const NUMERIC = new Set(['latitude', 'longitude']);
const countryNames = new Intl.DisplayNames(['en'], { type: 'region' });
const sources = new WeakMap<IncomingMessage, Exclude<GeoipSource, 'none'>>();

/** Called for every request when a source is configured (src/app.ts). */
export function noteGeoipSource(req: IncomingMessage, source: GeoipSource): void {
  if (source !== 'none') sources.set(req, source);
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  const s = Array.isArray(v) ? v[0] : v;
  if (typeof s !== 'string') return undefined;
  const t = s.trim();
  return t === '' || t.length > 100 ? undefined : t;
}

/** The request's location in Auth0's `geoip` shape, or undefined (no source, or no country). */
export function geoipOf(req: IncomingMessage | undefined): Record<string, string | number> | undefined {
  const source = req ? sources.get(req) : undefined;
  if (!req || !source) return undefined;
  const country = header(req, HEADERS[source].countryCode)?.toUpperCase();
  // Cloudflare: XX unknown, T1 Tor. Neither is a country an action can compare with.
  if (!country || !/^[A-Z]{2}$/.test(country) || country === 'XX' || country === 'T1') return undefined;
  const out: Record<string, string | number> = { countryCode: country };
  for (const [field, name] of Object.entries(HEADERS[source])) {
    if (field === 'countryCode') continue;
    const v = header(req, name);
    if (v === undefined) continue;
    if (NUMERIC.has(field)) {
      const n = Number(v);
      if (Number.isFinite(n) && Math.abs(n) <= 180) out[field] = n;
    } else {
      out[field] = v;
    }
  }
  if (out.countryName === undefined) {
    const name = countryNames.of(country);
    if (name && name !== country) out.countryName = name;
  }
  return out;
}
