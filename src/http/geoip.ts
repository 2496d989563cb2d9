import type { IncomingMessage } from 'node:http';
import { alpha3 } from './country-codes.ts';

/**
 * `event.request.geoip` from the location headers a CDN in front adds (Auth0's field: actions
 * that block or challenge by country read it). Gatehouse has no GeoIP database of its own, so
 * `http.geoipHeaders` names the proxy whose headers to believe: Cloudflare (`CF-IPCountry`, and
 * with its visitor-location headers city, region, continent, coordinates, time zone) or
 * CloudFront (`CloudFront-Viewer-*`). Config refuses it without `http.trustProxy`: a client can
 * send these headers itself, and only a proxy that overwrites them makes them true. That holds
 * only if the origin takes no traffic but the CDN's (a firewall to the CDN's addresses, or a
 * secret header the CDN adds and the load balancer checks): a client that reaches the origin
 * directly chooses its own country.
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
/** Largest absolute value of each coordinate. */
const NUMERIC: Record<string, number> = { latitude: 90, longitude: 180 };
/** Region codes that name no country: unknown (Cloudflare's XX, ZZ), Tor (T1), private use. */
const NOT_A_COUNTRY = /^(XX|ZZ|T1|AA|Q[M-Z]|X[A-JL-Z])$/; // XK (Kosovo) is a country to the CDNs
const countryNames = new Intl.DisplayNames(['en'], { type: 'region' });
const sources = new WeakMap<IncomingMessage, Exclude<GeoipSource, 'none'>>();

/** Called for every request when a source is configured (src/app.ts). */
export function noteGeoipSource(req: IncomingMessage, source: GeoipSource): void {
  if (source !== 'none') sources.set(req, source);
}

/** CloudFront percent-encodes what is not ASCII (`S%C3%A3o%20Paulo`); Cloudflare sends UTF-8 as is. */
function header(req: IncomingMessage, name: string, source: Exclude<GeoipSource, 'none'>): string | undefined {
  const v = req.headers[name];
  let s = Array.isArray(v) ? v[0] : v;
  if (typeof s !== 'string') return undefined;
  if (source === 'cloudfront' && s.includes('%')) {
    try { s = decodeURIComponent(s); } catch { return undefined; }
  } else if (source === 'cloudflare' && /[\x80-\xff]/.test(s)) {
    // Node reads header bytes as latin1: put UTF-8 back together.
    s = Buffer.from(s, 'latin1').toString('utf8');
  }
  const t = s.trim();
  return t === '' || t.length > 100 || /[\u0000-\u001f\u007f]/.test(t) ? undefined : t;
}

/** The request's location in Auth0's `geoip` shape, or undefined (no source, or no country). */
export function geoipOf(req: IncomingMessage | undefined): Record<string, string | number> | undefined {
  const source = req ? sources.get(req) : undefined;
  if (!req || !source) return undefined;
  const country = header(req, HEADERS[source].countryCode, source)?.toUpperCase();
  if (!country || !/^[A-Z]{2}$/.test(country) || NOT_A_COUNTRY.test(country)) return undefined;
  const out: Record<string, string | number> = { countryCode: country };
  const code3 = alpha3(country);
  if (code3 !== undefined) out.countryCode3 = code3;
  for (const [field, name] of Object.entries(HEADERS[source])) {
    if (field === 'countryCode') continue;
    const v = header(req, name, source);
    if (v === undefined) continue;
    if (field in NUMERIC) {
      const n = Number(v);
      if (Number.isFinite(n) && Math.abs(n) <= NUMERIC[field]) out[field] = n;
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
