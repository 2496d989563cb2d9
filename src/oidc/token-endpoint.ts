import type { IncomingMessage, ServerResponse } from 'node:http';
import { stringify, unescape } from 'node:querystring';
import { Readable } from 'node:stream';
import type { ResourceServers } from '../clients/resource-servers.ts';
import type { Metrics } from '../http/metrics.ts';
import { SECURITY_HEADERS } from '../http/koa-security-headers.ts';

const LIMIT = 56 * 1024;

function readRaw(req: IncomingMessage): Promise<Buffer | null> {
  return new Promise((resolve, reject) => {
    if (Number(req.headers['content-length'] ?? 0) > LIMIT) { req.resume(); resolve(null); return; }
    const chunks: Buffer[] = [];
    let n = 0;
    req.on('data', (c: Buffer) => { n += c.length; if (n <= LIMIT) chunks.push(c); });
    req.on('end', () => resolve(n > LIMIT ? null : chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function basicClientId(header: string | undefined): string | undefined {
  if (!header?.startsWith('Basic ')) return undefined;
  try {
    const dec = Buffer.from(header.slice(6), 'base64').toString('utf8');
    const i = dec.indexOf(':');
    return i > 0 ? decodeURIComponent(dec.slice(0, i)) : undefined;
  } catch { return undefined; }
}

/** A form-encoded name or value, decoded as querystring.parse does (lenient on bad escapes). */
const decode = (s: string) => (s.includes('%') || s.includes('+') ? unescape(s.replace(/\+/g, ' ')) : s);

interface FormScan {
  /** The `key=value` pieces as sent (still encoded). */
  pieces: string[];
  /** Index of each piece whose name is `audience`, and the last seen value of the others. */
  audience: number[]; resources: Set<string>; scope: boolean; grantType?: string; clientId?: string;
}

/**
 * Splits a form body into its pieces and reads the few names this endpoint cares about,
 * without decoding or re-encoding the rest: oidc-provider parses the body itself afterwards.
 */
function scanForm(body: string): FormScan {
  const pieces = body.length ? body.split('&') : [];
  const scan: FormScan = { pieces, audience: [], resources: new Set(), scope: false };
  for (let i = 0; i < pieces.length; i++) {
    const p = pieces[i];
    const eq = p.indexOf('=');
    const name = decode(eq < 0 ? p : p.slice(0, eq));
    const value = () => decode(eq < 0 ? '' : p.slice(eq + 1));
    switch (name) {
      case 'audience': scan.audience.push(i); break;
      case 'resource': scan.resources.add(value()); break;
      case 'scope': scan.scope = true; break;
      case 'grant_type': scan.grantType = value(); break;
      case 'client_id': scan.clientId = value(); break;
      default: break;
    }
  }
  return scan;
}

/** Keeps only a JSON body's string members, as a form body. */
function jsonToForm(text: string): string | null {
  let body: unknown;
  try { body = JSON.parse(text); } catch { return null; }
  if (!body || typeof body !== 'object' || Array.isArray(body)) return null;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(body)) if (typeof v === 'string') out[k] = v;
  return stringify(out);
}

/**
 * The request oidc-provider will read: the original's method, URL, socket and headers with
 * `body` as a fresh one-chunk stream, so the provider parses it as a client sent it (and does
 * not warn about an upstream body parser).
 */
function replay(req: IncomingMessage, body: Buffer, sameHeaders: boolean): IncomingMessage {
  let sent = false;
  const r = new Readable({ read() { if (!sent) { sent = true; this.push(body); } this.push(null); } }) as unknown as IncomingMessage;
  Object.assign(r, {
    method: req.method, url: req.url, socket: req.socket, connection: req.socket,
    httpVersion: req.httpVersion, httpVersionMajor: req.httpVersionMajor, httpVersionMinor: req.httpVersionMinor,
    headers: sameHeaders ? req.headers : { ...req.headers, 'content-type': 'application/x-www-form-urlencoded', 'content-length': String(body.length) },
    rawHeaders: req.rawHeaders, trailers: {}, rawTrailers: [], complete: true, aborted: false,
  });
  return r;
}

/**
 * `POST /oauth/token` goes straight to oidc-provider, ahead of the Koa app: it is the hottest
 * route, and none of the app's routing, body parsing or error pages apply to it (measured: the
 * Koa stack in front cost about a quarter of the provider's own time per token). What the app
 * would add is done here: the security headers, the metrics, and Auth0's parameters:
 * - `audience=` becomes RFC 8707 `resource=`;
 * - a JSON body (Auth0's SDKs send one) becomes the form body OAuth defines;
 * - client_credentials without `scope` asks for every scope the client grant allows, as
 *   Auth0 does.
 * Duplicate parameters stay repeated so oidc-provider still rejects them.
 */
export function createTokenEndpoint(o: {
  tokenPath: string; resourceServers: ResourceServers; metrics: Metrics;
  provider(): (req: IncomingMessage, res: ServerResponse) => unknown;
}) {
  function send(res: ServerResponse, status: number, body: Record<string, string>) {
    res.statusCode = status;
    res.setHeader('content-type', 'application/json; charset=utf-8');
    res.setHeader('cache-control', 'no-store');
    res.end(JSON.stringify(body));
  }

  async function answer(req: IncomingMessage, res: ServerResponse) {
    const ct = (req.headers['content-type'] ?? '').split(';', 1)[0].trim().toLowerCase();
    const isJson = ct === 'application/json';
    if (!isJson && ct !== 'application/x-www-form-urlencoded') return o.provider()(req, res);
    const raw = await readRaw(req);
    if (raw === null) return send(res, 413, { error: 'invalid_request', error_description: 'request entity too large' });
    const text = isJson ? jsonToForm(raw.toString('utf8')) : raw.toString('utf8');
    if (text === null) return send(res, 400, { error: 'invalid_request', error_description: 'failed to parse the request body' });
    const f = scanForm(text);
    let changed = isJson;
    // oidc-provider takes a repeated identical resource as one; different ones it refuses.
    let resource = f.resources.size === 1 ? [...f.resources][0] : undefined;
    if (f.audience.length > 1) return send(res, 400, { error: 'invalid_request', error_description: "'audience' parameter must not be provided twice" });
    if (f.audience.length === 1) {
      const i = f.audience[0];
      const p = f.pieces[i];
      const eq = p.indexOf('=');
      if (f.resources.size === 0) {
        f.pieces[i] = `resource=${eq < 0 ? '' : p.slice(eq + 1)}`;
        resource = decode(eq < 0 ? '' : p.slice(eq + 1));
      } else {
        f.pieces.splice(i, 1);
      }
      changed = true;
    }
    if (f.grantType === 'client_credentials' && !f.scope && resource) {
      const clientId = f.clientId ?? basicClientId(req.headers.authorization);
      const grant = clientId ? await o.resourceServers.grants.find(clientId, resource) : undefined;
      if (grant?.scope.length) { f.pieces.push(`scope=${encodeURIComponent(grant.scope.join(' '))}`); changed = true; }
    }
    const body = changed ? Buffer.from(f.pieces.join('&')) : raw;
    // Renaming audience= to resource= keeps the length: the client's headers still hold then.
    return o.provider()(replay(req, body, !isJson && body.length === raw.length), res);
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
