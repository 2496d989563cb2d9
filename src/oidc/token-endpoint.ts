import type { IncomingMessage, ServerResponse } from 'node:http';
import { stringify } from 'node:querystring';
import { Readable } from 'node:stream';
import type { Metrics } from '../http/metrics.ts';
import { SECURITY_HEADERS } from '../http/koa-security-headers.ts';

const LIMIT = 56 * 1024;

/** The body, or null past LIMIT (a Content-Length over it is refused before this runs). */
function readRaw(req: IncomingMessage): Promise<Buffer | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let n = 0;
    req.on('data', (c: Buffer) => { n += c.length; if (n <= LIMIT) chunks.push(c); });
    req.on('end', () => resolve(n > LIMIT ? null : chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/**
 * A JSON body's members as a form body, or why not. Every member must be a string (numbers and
 * booleans are written as text): an array or an object is refused, as a repeated form parameter
 * is (`"audience": [a, b]` must not become a token without an audience, nor a `scope` array one
 * with every scope the client grant allows).
 */
function jsonToForm(text: string): { form: string } | { error: string } {
  let body: unknown;
  try { body = JSON.parse(text); } catch { return { error: 'failed to parse the request body' }; }
  if (!body || typeof body !== 'object' || Array.isArray(body)) return { error: 'the request body must be a JSON object' };
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(body)) {
    if (v === null || v === undefined) continue;
    // A lone surrogate has no UTF-8 form for the form body (querystring throws on it).
    if (!k.isWellFormed() || (typeof v === 'string' && !v.isWellFormed())) return { error: `'${k.slice(0, 64)}' parameter must be well-formed Unicode text` };
    if (typeof v === 'string') out[k] = v;
    else if (typeof v === 'number' || typeof v === 'boolean') out[k] = String(v);
    else return { error: `'${k.slice(0, 64)}' parameter must be a string` };
  }
  // A parameter given twice: JSON.parse keeps the last, where a form body is refused (RFC 6749
  // §3.1, §3.2) and a proxy reading the first would see another request than the one served.
  const seen = new Set<string>();
  const colon = /\s*:/y;
  for (const m of text.matchAll(STRING_LITERAL)) {
    colon.lastIndex = m.index + m[0].length;
    if (!colon.test(text)) continue;
    const name = JSON.parse(m[0]) as string;
    if (seen.has(name)) return { error: `'${name.slice(0, 64)}' parameter must not be provided twice` };
    seen.add(name);
  }
  return { form: stringify(out) };
}
/**
 * JSON string literals, in order. The body's members are all strings, numbers, booleans or null
 * (checked before this runs): outside its strings there is no quote, so each match is one of
 * them, and one followed by `:` is a member's name.
 */
const STRING_LITERAL = /"(?:[^"\\]|\\.)*"/g;

/**
 * The request oidc-provider will read: the original's method, URL, socket and headers with
 * `body` as a fresh one-chunk stream, so the provider parses it as a client sent it (and does
 * not warn about an upstream body parser).
 */
function replay(req: IncomingMessage, body: Buffer): IncomingMessage {
  let sent = false;
  const r = new Readable({ read() { if (!sent) { sent = true; this.push(body); } this.push(null); } }) as unknown as IncomingMessage;
  Object.assign(r, {
    method: req.method, url: req.url, socket: req.socket, connection: req.socket,
    httpVersion: req.httpVersion, httpVersionMajor: req.httpVersionMajor, httpVersionMinor: req.httpVersionMinor,
    headers: { ...req.headers, 'content-type': 'application/x-www-form-urlencoded', 'content-length': String(body.length) },
    rawHeaders: req.rawHeaders, trailers: {}, rawTrailers: [], complete: true, aborted: false,
  });
  return r;
}

/**
 * `POST /oauth/token` goes straight to oidc-provider, ahead of the Koa app: it is the hottest
 * route, and none of the app's routing, body parsing or error pages apply to it. What the app
 * would add is done here: the security headers and the metrics; a body over the limit is
 * refused with 413 from its Content-Length before anything reads it.
 *
 * A form body goes to oidc-provider untouched (it parses it; reading it here first and
 * replaying it cost about 5% of a client_credentials request). Auth0's parameters are handled
 * inside the provider (src/oidc/provider.ts, auth0TokenParams): `audience=` as RFC 8707
 * `resource=`, and client_credentials without `scope` asking for every scope the client grant
 * allows. A JSON body (Auth0's SDKs send one) is the one case read here: its string members
 * become the form body OAuth defines.
 */
export function createTokenEndpoint(o: {
  tokenPath: string; metrics: Metrics;
  provider(): (req: IncomingMessage, res: ServerResponse) => unknown;
}) {
  function send(res: ServerResponse, status: number, body: Record<string, string>) {
    res.statusCode = status;
    res.setHeader('content-type', 'application/json; charset=utf-8');
    res.setHeader('cache-control', 'no-store');
    res.end(JSON.stringify(body));
  }

  async function answer(req: IncomingMessage, res: ServerResponse) {
    if (Number(req.headers['content-length'] ?? 0) > LIMIT) {
      req.resume();
      return send(res, 413, { error: 'invalid_request', error_description: 'request entity too large' });
    }
    const ct = (req.headers['content-type'] ?? '').split(';', 1)[0].trim().toLowerCase();
    if (ct !== 'application/json') return o.provider()(req, res);
    const raw = await readRaw(req);
    if (raw === null) return send(res, 413, { error: 'invalid_request', error_description: 'request entity too large' });
    const parsed = jsonToForm(raw.toString('utf8'));
    if ('error' in parsed) return send(res, 400, { error: 'invalid_request', error_description: parsed.error });
    return o.provider()(replay(req, Buffer.from(parsed.form)), res);
  }

  /** Handles the request when it is a token request; returns false otherwise. */
  return function tokenEndpoint(req: IncomingMessage, res: ServerResponse): boolean {
    if (req.method !== 'POST') return false;
    const url = req.url ?? '';
    if (url !== o.tokenPath && !url.startsWith(`${o.tokenPath}?`)) return false;
    const start = process.hrtime.bigint();
    res.once('finish', () => o.metrics.record(o.tokenPath, res.statusCode, start));
    for (const [k, v] of SECURITY_HEADERS) res.setHeader(k, v);
    answer(req, res).catch(() => {
      if (!res.headersSent) send(res, 500, { error: 'server_error', error_description: 'the token request could not be completed' });
      else res.destroy();
    });
    return true;
  };
}
