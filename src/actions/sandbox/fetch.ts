/**
 * The host side of the guest's `fetch` (runs in the sandbox worker, never in the server).
 *
 * Limits: http/https only; the SSRF guard of net-guard.ts applied to every resolved address
 * (inside the socket's own `lookup`, so the checked address is the connected one) and to IP
 * literals; a wall-clock timeout for the whole exchange (< 10 s); request and response bodies
 * capped; at most 5 redirects, each hop checked again; text bodies only (decoded as UTF-8).
 * Never rejects: the result is a JSON string the guest prelude turns into a Response or a
 * TypeError ('fetch failed: …').
 */
import http from 'node:http';
import https from 'node:https';
import zlib from 'node:zlib';
import { isIP } from 'node:net';
import { AddressRefused, guardedLookup, isAllowedHost, isBlockedAddress, type FetchAllowList } from './net-guard.ts';

export interface FetchOptions {
  allow: FetchAllowList;
  timeoutMs: number;
  maxBytes: number;
}

export interface GuestFetchRequest {
  id: number;
  url: string;
  method: string;
  headers: [string, string][];
  body: string | null;
  redirect: 'follow' | 'manual' | 'error';
}

const FORBIDDEN_REQUEST_HEADERS = new Set([
  'host', 'connection', 'content-length', 'transfer-encoding', 'keep-alive', 'upgrade', 'te', 'trailer',
  'expect', 'proxy-authorization', 'proxy-connection', 'accept-encoding',
]);
const MAX_REDIRECTS = 5;

class FetchRefused extends AddressRefused {}

/** Checks the shape of a request the guest queued (untrusted JSON). */
export function parseGuestRequest(v: unknown): GuestFetchRequest | null {
  if (v === null || typeof v !== 'object') return null;
  const r = v as Record<string, unknown>;
  if (typeof r.id !== 'number' || !Number.isSafeInteger(r.id)) return null;
  if (typeof r.url !== 'string' || typeof r.method !== 'string' || (r.body !== null && typeof r.body !== 'string')) return null;
  if (r.redirect !== 'follow' && r.redirect !== 'manual' && r.redirect !== 'error') return null;
  if (!Array.isArray(r.headers) || r.headers.length > 100) return null;
  const headers: [string, string][] = [];
  for (const h of r.headers) {
    if (!Array.isArray(h) || h.length !== 2 || typeof h[0] !== 'string' || typeof h[1] !== 'string') return null;
    headers.push([h[0], h[1]]);
  }
  return { id: r.id, url: r.url, method: r.method, headers, body: r.body as string | null, redirect: r.redirect };
}

interface Exchange { status: number; statusText: string; headers: [string, string][]; body: string; location: string | null }

function exchange(url: URL, method: string, headers: [string, string][], body: string | null, opts: FetchOptions, deadline: number, signal: AbortSignal): Promise<Exchange> {
  return new Promise((resolve, reject) => {
    const allowed = isAllowedHost(opts.allow, url);
    const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    if (isIP(host) && !allowed && isBlockedAddress(host)) {
      reject(new FetchRefused(`${url.host} is a loopback, private or link-local address`));
      return;
    }
    const remaining = deadline - Date.now();
    if (remaining <= 0) { reject(new FetchRefused('timeout')); return; }
    const outHeaders: Record<string, string> = Object.assign(Object.create(null) as Record<string, string>, {
      'user-agent': 'Gatehouse-Actions/1', accept: '*/*', 'accept-encoding': 'gzip, deflate, br',
    });
    for (const [k, v] of headers) {
      const name = k.toLowerCase();
      if (FORBIDDEN_REQUEST_HEADERS.has(name) || name.startsWith('proxy-')) continue;
      outHeaders[name] = v;
    }
    let payload: Buffer | null = null;
    if (body !== null) {
      payload = Buffer.from(body, 'utf8');
      if (payload.length > opts.maxBytes) { reject(new FetchRefused(`request body exceeds ${opts.maxBytes} bytes`)); return; }
      outHeaders['content-length'] = String(payload.length);
    }
    const mod = url.protocol === 'https:' ? https : http;
    let settled = false;
    const finish = (err: Error | null, value?: Exchange) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      if (err) { req.destroy(); reject(err); } else resolve(value as Exchange);
    };
    const timer = setTimeout(() => finish(new FetchRefused(`timeout after ${Math.round(remaining)} ms`)), remaining);
    const onAbort = () => finish(new FetchRefused('aborted'));
    signal.addEventListener('abort', onAbort);
    const req = mod.request(url, {
      method,
      headers: outHeaders,
      agent: false,
      lookup: guardedLookup(allowed),
      maxHeaderSize: 32 * 1024,
    }, (res) => {
      const status = res.statusCode ?? 0;
      const hdrs: [string, string][] = [];
      for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) hdrs.push([res.rawHeaders[i].toLowerCase(), res.rawHeaders[i + 1]]);
      const location = typeof res.headers.location === 'string' ? res.headers.location : null;
      const enc = String(res.headers['content-encoding'] ?? '').trim().toLowerCase();
      let stream: NodeJS.ReadableStream = res;
      if (method !== 'HEAD' && (enc === 'gzip' || enc === 'x-gzip' || enc === 'deflate' || enc === 'br')) {
        const dec = enc === 'br' ? zlib.createBrotliDecompress() : enc === 'deflate' ? zlib.createInflate() : zlib.createGunzip();
        dec.on('error', (e) => finish(new FetchRefused(`bad ${enc} body: ${e.message}`)));
        stream = res.pipe(dec);
      }
      const chunks: Buffer[] = [];
      let size = 0;
      stream.on('data', (c: Buffer) => {
        size += c.length;
        if (size > opts.maxBytes) { finish(new FetchRefused(`response body exceeds ${opts.maxBytes} bytes`)); return; }
        chunks.push(c);
      });
      stream.on('end', () => finish(null, {
        status, statusText: res.statusMessage ?? '', headers: hdrs, body: Buffer.concat(chunks).toString('utf8'), location,
      }));
      res.on('error', (e) => finish(e));
    });
    req.on('error', (e) => finish(e));
    req.end(payload ?? undefined);
  });
}

function safeMessage(e: unknown): string {
  if (e instanceof AddressRefused) return e.message;
  if (e instanceof Error) {
    const code = (e as NodeJS.ErrnoException).code;
    return code ? `${code}` : 'network error';
  }
  return 'network error';
}

/** Performs one guest request; resolves to the JSON string handed to the guest. */
export async function hostFetch(r: GuestFetchRequest, opts: FetchOptions, deadline: number, signal: AbortSignal): Promise<string> {
  try {
    let url = URL.parse(r.url);
    if (!url) return JSON.stringify({ error: 'Invalid URL' });
    let method = r.method;
    let body = r.body;
    let headers = r.headers;
    const end = Math.min(deadline, Date.now() + opts.timeoutMs);
    for (let hop = 0; ; hop++) {
      if (url.protocol !== 'http:' && url.protocol !== 'https:') return JSON.stringify({ error: `unsupported protocol ${url.protocol}` });
      if (url.username || url.password) return JSON.stringify({ error: 'credentials in the URL are not allowed' });
      const res = await exchange(url, method, headers, body, opts, end, signal);
      const isRedirect = res.status === 301 || res.status === 302 || res.status === 303 || res.status === 307 || res.status === 308;
      if (isRedirect && res.location !== null && r.redirect !== 'manual') {
        if (r.redirect === 'error') return JSON.stringify({ error: 'redirect mode is set to error' });
        if (hop >= MAX_REDIRECTS) return JSON.stringify({ error: 'too many redirects' });
        const next = URL.parse(res.location, url.href);
        if (!next) return JSON.stringify({ error: 'invalid redirect location' });
        if ((res.status === 303 && method !== 'HEAD') || ((res.status === 301 || res.status === 302) && method === 'POST')) {
          method = 'GET';
          body = null;
          headers = headers.filter(([k]) => !k.toLowerCase().startsWith('content-'));
        }
        if (next.origin !== url.origin) headers = headers.filter(([k]) => !['authorization', 'cookie'].includes(k.toLowerCase()));
        url = next;
        continue;
      }
      return JSON.stringify({ status: res.status, statusText: res.statusText, headers: res.headers, body: res.body, url: url.href, redirected: hop > 0 });
    }
  } catch (e) {
    return JSON.stringify({ error: safeMessage(e) });
  }
}
