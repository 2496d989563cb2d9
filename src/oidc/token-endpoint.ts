import type { IncomingMessage, ServerResponse } from 'node:http';
import { parse as parseQs, stringify } from 'node:querystring';
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
    let body: Record<string, unknown>;
    try {
      body = isJson ? JSON.parse(raw.toString('utf8')) : parseQs(raw.toString('utf8'));
      if (!body || typeof body !== 'object' || Array.isArray(body)) throw new Error('not an object');
    } catch {
      return send(res, 400, { error: 'invalid_request', error_description: 'failed to parse the request body' });
    }
    let changed = isJson;
    if (isJson) for (const [k, v] of Object.entries(body)) if (typeof v !== 'string') delete body[k];
    if (body.audience !== undefined) {
      if (typeof body.audience === 'string' && body.resource === undefined) body.resource = body.audience;
      delete body.audience;
      changed = true;
    }
    if (body.grant_type === 'client_credentials' && body.scope === undefined && typeof body.resource === 'string') {
      const clientId = typeof body.client_id === 'string' ? body.client_id : basicClientId(req.headers.authorization);
      const grant = clientId ? await o.resourceServers.grants.find(clientId, body.resource) : undefined;
      if (grant?.scope.length) { body.scope = grant.scope.join(' '); changed = true; }
    }
    return o.provider()(replay(req, changed ? Buffer.from(stringify(body as Record<string, string | string[]>)) : raw), res);
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
