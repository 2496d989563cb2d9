import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { geoipOf, noteGeoipSource } from './geoip.ts';
import { alpha3 } from './country-codes.ts';

const req = (headers: Record<string, string | string[]>) => ({ headers }) as unknown as IncomingMessage;

test('CloudFront viewer headers give Auth0\'s geoip; a request not noted gives none', () => {
  const headers = {
    'cloudfront-viewer-country': 'de', 'cloudfront-viewer-country-name': 'Germany', 'cloudfront-viewer-city': 'Berlin',
    'cloudfront-viewer-latitude': '52.52', 'cloudfront-viewer-longitude': 'not a number', 'cloudfront-viewer-time-zone': 'Europe/Berlin',
    'cloudfront-viewer-country-region': 'BE', 'cloudfront-viewer-country-region-name': 'Land Berlin',
  };
  const r = req(headers);
  assert.equal(geoipOf(r), undefined);
  noteGeoipSource(r, 'cloudfront');
  assert.deepEqual(geoipOf(r), {
    countryCode: 'DE', countryCode3: 'DEU', countryName: 'Germany', cityName: 'Berlin', latitude: 52.52, timeZone: 'Europe/Berlin', subdivisionCode: 'BE', subdivisionName: 'Land Berlin',
  });
  const none = req(headers);
  noteGeoipSource(none, 'none');
  assert.equal(geoipOf(none), undefined);
  // CloudFront percent-encodes non-ASCII; Cloudflare's UTF-8 arrives as latin1 bytes.
  const encoded = req({ 'cloudfront-viewer-country': 'BR', 'cloudfront-viewer-city': 'S%C3%A3o%20Paulo', 'cloudfront-viewer-latitude': '-91', 'cloudfront-viewer-longitude': '-46.6' });
  noteGeoipSource(encoded, 'cloudfront');
  assert.deepEqual(geoipOf(encoded), { countryCode: 'BR', countryCode3: 'BRA', countryName: 'Brazil', cityName: 'São Paulo', longitude: -46.6 });
  const utf8 = req({ 'cf-ipcountry': 'DE', 'cf-ipcity': Buffer.from('München').toString('latin1') });
  noteGeoipSource(utf8, 'cloudflare');
  assert.equal(geoipOf(utf8)?.cityName, 'München');
  for (const country of ['XX', 'ZZ', 'T1', 'AA', 'QZ', 'XA', 'FRA', '', 'F1']) {
    const x = req({ 'cf-ipcountry': country, 'cf-ipcity': 'Somewhere' });
    noteGeoipSource(x, 'cloudflare');
    assert.equal(geoipOf(x), undefined, country);
  }
  const kosovo = req({ 'cf-ipcountry': 'XK' });
  noteGeoipSource(kosovo, 'cloudflare');
  assert.equal(geoipOf(kosovo)?.countryCode, 'XK');
  // Kosovo has no ISO alpha-3 code: no countryCode3 rather than a made-up one.
  assert.equal(geoipOf(kosovo)?.countryCode3, undefined);
  const long = req({ 'cf-ipcountry': 'US', 'cf-ipcity': 'x'.repeat(101) });
  noteGeoipSource(long, 'cloudflare');
  assert.deepEqual(geoipOf(long), { countryCode: 'US', countryCode3: 'USA', countryName: 'United States' });
});

test('countryCode3: ISO 3166-1 alpha-3 for every alpha-2 Intl names as a region', () => {
  // Regression: Auth0's geoip has countryCode3 and actions read it; it was missing.
  const names = new Intl.DisplayNames(['en'], { type: 'region' });
  const some: Record<string, string> = { GB: 'GBR', CH: 'CHE', KR: 'KOR', KP: 'PRK', ZA: 'ZAF', CD: 'COD', CG: 'COG', SX: 'SXM', SS: 'SSD', TL: 'TLS' };
  for (const [a2, a3] of Object.entries(some)) {
    const r = req({ 'cf-ipcountry': a2.toLowerCase() });
    noteGeoipSource(r, 'cloudflare');
    assert.equal(geoipOf(r)?.countryCode3, a3, a2);
  }
  let n = 0;
  for (let a = 65; a <= 90; a++) for (let b = 65; b <= 90; b++) {
    const code = String.fromCharCode(a, b);
    if (/^(XX|ZZ|T1|AA|Q[M-Z]|X[A-Z])$/.test(code) || names.of(code) === code) continue;
    const r = req({ 'cf-ipcountry': code });
    noteGeoipSource(r, 'cloudflare');
    const c3 = geoipOf(r)?.countryCode3;
    // Intl also names a few reserved codes (EU, UN, EZ, ...): those are no country.
    if (c3 === undefined) continue;
    assert.match(String(c3), /^[A-Z]{3}$/, code);
    n++;
  }
  assert.ok(n >= 240, `${n} countries with an alpha-3 code`);
});

test('the alpha-3 table is ISO 3166-1 whole: 249 codes, one alpha-3 for each, none twice', () => {
  const all = new Map<string, string>();
  for (let a = 65; a <= 90; a++) for (let b = 65; b <= 90; b++) {
    const code = String.fromCharCode(a, b);
    const c3 = alpha3(code);
    if (c3 !== undefined) all.set(code, c3);
  }
  assert.equal(all.size, 249);
  assert.equal(new Set(all.values()).size, 249, 'no alpha-3 code twice');
  for (const [a2, a3] of all) assert.match(a3, /^[A-Z]{3}$/, a2);
  assert.equal(alpha3('gb'), 'GBR', 'case does not matter');
});
