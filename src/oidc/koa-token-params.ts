import type { IncomingMessage } from 'node:http';
import { parse as parseQs, stringify } from 'node:querystring';
import { Readable } from 'node:stream';
import type { Middleware } from 'koa';
import type { ResourceServers } from '../clients/resource-servers.ts';

const LIMIT = 56 * 1024;

async function readRaw(req: NodeJS.ReadableStream & { headers: Record<string, string | string[] | undefined> }): Promise<string | null> {
  const len = Number(req.headers['content-length'] ?? 0);
  if (len > LIMIT) return null;
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of req) {
    n += (c as Buffer).length;
    if (n > LIMIT) return null;
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
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
 * Auth0 compatibility at the token endpoint, before oidc-provider sees the request:
 * - `audience=` becomes RFC 8707 `resource=`;
 * - a JSON body (Auth0's SDKs send one) becomes the form body OAuth defines;
 * - client_credentials without `scope` asks for every scope the client grant allows, as
 *   Auth0 does.
 * Duplicate parameters are left as arrays so oidc-provider still rejects them.
 */
export function tokenParams(tokenPath: string, resourceServers: ResourceServers): Middleware {
  return async function auth0TokenParams(ctx, next) {
    if (ctx.method !== 'POST' || ctx.path !== tokenPath) return next();
    const isJson = ctx.is('application/json');
    if (!isJson && !ctx.is('application/x-www-form-urlencoded')) return next();
    const raw = await readRaw(ctx.req);
    if (raw === null) {
      ctx.status = 413;
      ctx.body = { error: 'invalid_request', error_description: 'request entity too large' };
      return;
    }
    let body: Record<string, unknown>;
    try {
      body = isJson ? JSON.parse(raw) : { ...parseQs(raw) };
      if (!body || typeof body !== 'object' || Array.isArray(body)) throw new Error('not an object');
    } catch {
      ctx.status = 400;
      ctx.body = { error: 'invalid_request', error_description: 'failed to parse the request body' };
      return;
    }
    if (isJson) for (const [k, v] of Object.entries(body)) if (typeof v !== 'string') delete body[k];
    if (typeof body.audience === 'string' && body.resource === undefined) body.resource = body.audience;
    delete body.audience;
    if (body.grant_type === 'client_credentials' && body.scope === undefined && typeof body.resource === 'string') {
      const clientId = typeof body.client_id === 'string' ? body.client_id : basicClientId(ctx.get('authorization'));
      const grant = clientId ? await resourceServers.grants.find(clientId, body.resource) : undefined;
      if (grant?.scope.length) body.scope = grant.scope.join(' ');
    }
    ctx.state.oidcRequest = replayRequest(ctx.req, stringify(body as Record<string, string | string[]>));
    return next();
  };
}

/**
 * The request oidc-provider will read: the original's method, URL, socket and headers with the
 * rewritten form body as a fresh stream, so the provider parses a body exactly as a client
 * sent it (and does not warn about an upstream body parser).
 */
function replayRequest(req: IncomingMessage, body: string): IncomingMessage {
  const buf = Buffer.from(body);
  const replay = Readable.from([buf]) as unknown as IncomingMessage;
  Object.assign(replay, {
    method: req.method, url: req.url, socket: req.socket, connection: req.socket,
    httpVersion: req.httpVersion, httpVersionMajor: req.httpVersionMajor, httpVersionMinor: req.httpVersionMinor,
    headers: { ...req.headers, 'content-type': 'application/x-www-form-urlencoded', 'content-length': String(buf.length) },
    rawHeaders: req.rawHeaders, trailers: {}, rawTrailers: [], complete: true, aborted: false,
  });
  return replay;
}
