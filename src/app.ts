import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import Koa from 'koa';
import { bodyParser } from '@koa/bodyparser';
import type { AppContext } from './context.ts';
import { proxyHops } from './config/schema.ts';
import { createSecurityHeaders } from './http/koa-security-headers.ts';
import { brandingCss, imageOrigins } from './branding/branding.ts';
import { errorHandler, logKoaErrors } from './http/koa-errors.ts';
import { createCsrf } from './http/koa-csrf.ts';
import { createTokenEndpoint } from './oidc/token-endpoint.ts';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ROUTES } from './oidc/provider.ts';
import { createInteractionRoutes } from './interactions/routes.ts';
import { createDbConnectionsRoutes, dbConnectionsErrors } from './interactions/dbconnections.ts';
import { createLifecycleRoutes } from './interactions/lifecycle.ts';
import { createAccountRoutes } from './interactions/account.ts';
import { createAccountMfaRoutes } from './interactions/account-mfa.ts';
import { createManagementApi } from './management-api/index.ts';
import { createExportDownload } from './management-api/user-exports.ts';
import { createMetrics } from './http/metrics.ts';
import { createDbHealth } from './db/health.ts';
import { noteGeoipSource } from './http/geoip.ts';

const STYLE = readFileSync(join(import.meta.dirname, '..', 'views', 'assets', 'style.css'));
/** The stylesheet for a branding (the branding cache hands out the same object until it changes). */
const stylesheets = new WeakMap<object, { body: Buffer; etag: string }>();
function stylesheet(b: Parameters<typeof brandingCss>[0]): { body: Buffer; etag: string } {
  let s = stylesheets.get(b);
  if (!s) {
    const body = Buffer.concat([STYLE, Buffer.from(`\n/* branding */\n${brandingCss(b)}`)]);
    s = { body, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"` };
    stylesheets.set(b, s);
  }
  return s;
}

/**
 * Absolute URLs come from the configured issuer, never from the request: oidc-provider builds
 * discovery's endpoints, the JWKS URL and its forms from the request's URL (Koa's `ctx.href`),
 * so whatever a client put there would be written into a discovery document that a cache may
 * keep and serve to every app (Keycloak's strict hostname). So, before anything reads them:
 * - Host is the issuer's, and X-Forwarded-Host is dropped;
 * - a request line in absolute form (`GET http://evil.example/… HTTP/1.1`, which an origin
 *   server must accept) keeps only its path and query; any other target that is not a path is
 *   refused (false: the caller answers 400);
 * - behind `hops` trusted proxies, X-Forwarded-Proto keeps only the value the outermost of them
 *   added (Koa would read the leftmost, which the client may have sent), and only http or https.
 */
function pinOrigin(req: IncomingMessage, issuerHost: string, hops: number): boolean {
  req.headers.host = issuerHost;
  delete req.headers['x-forwarded-host'];
  // A fragment never belongs in a request target (RFC 9112 3.2), and one sends Koa's URL parser
  // down a path where `//a@b#x` has no path at all.
  let url = req.url ?? '';
  const hash = url.indexOf('#');
  if (hash !== -1) url = req.url = url.slice(0, hash);
  // A NUL anywhere in the target (path or query): nothing Gatehouse serves has one, and
  // PostgreSQL refuses it in text (a client_id or a path parameter carrying one was a 500).
  if (url.includes('%00')) return false;
  if (!url.startsWith('/')) {
    // Only an http(s) URL with a path is a request target left to serve: anything else
    // (`foo://x`, a bad port, `*`) is refused before Koa derives a null path from it.
    const u = URL.canParse(url) ? new URL(url) : null;
    if (!u || (u.protocol !== 'http:' && u.protocol !== 'https:') || !u.pathname.startsWith('/')) return false;
    req.url = `${u.pathname}${u.search}`;
  }
  const proto = req.headers['x-forwarded-proto'];
  if (proto !== undefined) {
    const values = (Array.isArray(proto) ? proto.join(',') : proto).split(',').map((v) => v.trim().toLowerCase());
    const outermost = hops > 0 ? values[Math.max(0, values.length - hops)] : undefined;
    if (outermost === 'http' || outermost === 'https') req.headers['x-forwarded-proto'] = outermost;
    else delete req.headers['x-forwarded-proto'];
  }
  return true;
}

/**
 * The request handler. `POST /oauth/token` goes straight to oidc-provider (src/oidc/
 * token-endpoint.ts); everything else through Koa: metrics → security headers →
 * health/assets → our routers (pages, Management API), each with its own error format and
 * body limits → everything else to oidc-provider.
 */
export function createApp(app: AppContext) {
  const hops = proxyHops(app.config.http.trustProxy);
  const koa = new Koa({ proxy: hops > 0, maxIpsCount: hops });
  koa.on('error', logKoaErrors(app.logger, 'request'));
  // No koa.keys: each of our cookies carries its own MAC or is a random id, and with keys set every
  // ctx.cookies.set would add a `.sig` companion that nothing reads.
  const metrics = createMetrics(app.urls.mountPath);
  const dbHealth = createDbHealth(app.db);
  const csrf = createCsrf(app.csrfKey, app.urls.origin);
  const limit = `${app.config.http.bodyLimitBytes}b`;
  const formParser = bodyParser({ enableTypes: ['form'], formLimit: limit, encoding: 'utf-8', onError(err) { throw Object.assign(err, { expose: true }); } });
  // Action code may be up to 100 KB, which JSON escaping can grow: the API gets more room than forms.
  const apiLimit = `${Math.max(app.config.http.bodyLimitBytes, 300 * 1024)}b`;
  const jsonParser = bodyParser({ enableTypes: ['json'], jsonLimit: apiLimit, parsedMethods: ['POST', 'PUT', 'PATCH', 'DELETE'], encoding: 'utf-8', onError(err) { throw Object.assign(err, { expose: true }); } });

  const pages = createInteractionRoutes(app, csrf);
  // Self-service pages beside the interaction pages: same form parser, CSRF and error pages.
  const pageRouters = [pages, createLifecycleRoutes(app, csrf), createAccountRoutes(app, csrf), createAccountMfaRoutes(app, csrf)];
  const management = createManagementApi(app);
  const exportDownload = createExportDownload(app);
  // Auth0's Authentication API for the database connection (auth0.js and Lock call it from the browser).
  const dbConnections = createDbConnectionsRoutes(app);
  const dbErrors = dbConnectionsErrors(app.logger);
  const dbPrefix = `${app.urls.mountPath}/dbconnections/`;
  // Public and unauthenticated: the pages' body limit, not the Management API's larger one.
  const publicJsonParser = bodyParser({ enableTypes: ['json'], jsonLimit: limit, encoding: 'utf-8', onError(err) { throw Object.assign(err, { expose: true }); } });
  const pageErrors = errorHandler(app.logger, app.config.appName, 'html', app.urls.mountPath);
  const apiErrors = errorHandler(app.logger, app.config.appName, 'json');
  const apiPrefix = `${app.urls.mountPath}/api/v2`;
  /** What a user's own Management API token reaches (src/management-api/users.ts, requireScopeOrSelf). */
  const currentUserRoute = /^\/users\/[^/]+(\/enrollments)?$/;
  const providerHandlers = new WeakMap<object, (req: IncomingMessage, res: ServerResponse) => Promise<void>>();

  koa.use(metrics.middleware);
  // (With the branding's logo origin allowed for images, when there is one.)
  // (The branding read through its cache: a page's CSP and its stylesheet agree.)
  koa.use(createSecurityHeaders(async () => imageOrigins(await app.branding.get().catch(() => app.branding.current()))));
  koa.use(async function healthAndAssets(ctx, next) {
    if (ctx.path === '/healthz') {
      const h = await dbHealth.check();
      if (h.ok) {
        ctx.body = { status: 'ok' };
      } else {
        ctx.status = 503;
        ctx.body = { status: 'unavailable', reason: h.reason };
        app.logger.warn({ reason: h.reason, code: h.code }, 'health check failed');
      }
      return;
    }
    if (ctx.path === '/metrics') {
      // Mail that the relay has not taken yet: a growing count or age means it is down.
      const mail = await app.mail.queueStats().catch(() => null);
      const mailLines = mail ? [
        '# HELP gatehouse_mail_queue_messages Mail waiting for delivery (retried with backoff), database-wide: every node reports the same queue (take the max, not the sum)', '# TYPE gatehouse_mail_queue_messages gauge',
        `gatehouse_mail_queue_messages ${mail.messages}`,
        '# HELP gatehouse_mail_queue_oldest_seconds Age of the oldest mail waiting for delivery, database-wide', '# TYPE gatehouse_mail_queue_oldest_seconds gauge',
        `gatehouse_mail_queue_oldest_seconds ${mail.oldestSeconds.toFixed(1)}`,
      ].join('\n') + '\n' : '';
      ctx.type = 'text/plain; version=0.0.4';
      ctx.body = metrics.render() + mailLines;
      return;
    }
    // The pages' one stylesheet: the product's, then the branding's colors and logo
    // (src/branding/branding.ts), which may change any time: revalidated at every page, and a 304
    // while it is the same.
    if (ctx.path === `${app.urls.mountPath}/assets/style.css`) {
      // (The branding as last read when it cannot be read now: the pages keep their styles.)
      const css = stylesheet(await app.branding.get().catch(() => app.branding.current()));
      ctx.status = 200;
      ctx.type = 'text/css';
      ctx.set('Cache-Control', 'no-cache');
      ctx.set('ETag', css.etag);
      if (ctx.fresh) { ctx.status = 304; return; }
      ctx.body = css.body;
      return;
    }
    // The branding alone, as before it joined the stylesheet (a page saved or linked then).
    if (ctx.path === `${app.urls.mountPath}/assets/branding.css`) { ctx.type = 'text/css'; ctx.set('Cache-Control', 'no-cache'); ctx.body = brandingCss(await app.branding.get().catch(() => app.branding.current())); return; }
    if (ctx.path === `${app.urls.mountPath}/favicon.ico`) {
      const icon = (await app.branding.get().catch(() => app.branding.current())).favicon_url;
      if (!icon) { ctx.status = 404; return; }
      ctx.redirect(icon);
      return;
    }
    await next();
  });
  koa.use(async function ourRoutes(ctx, next) {
    if (ctx.path === apiPrefix || ctx.path.startsWith(`${apiPrefix}/`)) {
      // Users' records: never kept by a cache.
      ctx.set('Cache-Control', 'no-store');
      ctx.vary('Origin');
      // A single-page app calls the routes a user's own token reaches (current-user scopes): CORS
      // there, for the web origins some client lists. Bearer tokens only, never cookies, so no
      // credentials mode. The admin routes stay out of browsers' reach.
      const origin = ctx.get('origin');
      const corsOk = origin !== '' && currentUserRoute.test(ctx.path.slice(apiPrefix.length)) && await app.clients.knownWebOrigin(origin);
      if (corsOk) ctx.set('Access-Control-Allow-Origin', origin);
      if (ctx.method === 'OPTIONS') {
        if (corsOk) {
          ctx.set('Access-Control-Allow-Methods', 'GET, PATCH');
          ctx.set('Access-Control-Allow-Headers', 'authorization, content-type, auth0-client');
          ctx.set('Access-Control-Max-Age', '600');
        }
        ctx.status = 204;
        return;
      }
      return apiErrors(ctx, async () => {
        // An export's file: its link's signature is the credential (user-exports.ts), not a bearer token.
        const sub = ctx.path.slice(apiPrefix.length);
        if ((ctx.method === 'GET' || ctx.method === 'HEAD') && exportDownload.matches(sub)) return exportDownload.serve(ctx, sub);
        // A users import is multipart (a file), as on Auth0; src/management-api/user-imports.ts reads it.
        const upload = ctx.path === `${apiPrefix}/jobs/users-imports` && ctx.is('multipart/form-data');
        if (ctx.method !== 'GET' && ctx.method !== 'DELETE' && ctx.request.length && !ctx.is('application/json') && !upload) {
          ctx.status = 415;
          ctx.body = { statusCode: 415, error: 'Unsupported Media Type', message: 'Send the body as application/json', errorCode: 'unsupported_media_type' };
          return;
        }
        await jsonParser(ctx, async () => {
          await management.routes()(ctx as never, async () => {
            ctx.status = 404;
            ctx.body = { statusCode: 404, error: 'Not Found', message: 'Not found', errorCode: 'not_found' };
          });
        });
      });
    }
    if (ctx.path.startsWith(dbPrefix)) {
      const parser = ctx.is('application/json') ? publicJsonParser : formParser;
      return dbErrors(ctx, () => parser(ctx, () => dbConnections.routes()(ctx as never, async () => {
        ctx.status = 404;
        ctx.body = { name: 'NotFoundError', code: 'not_found', description: 'Not found', statusCode: 404 };
      })));
    }
    const router = pageRouters.find((r) => r.match(ctx.path, ctx.method).route);
    if (router) {
      return pageErrors(ctx, () => formParser(ctx, () => router.routes()(ctx as never, next)));
    }
    await next();
  });
  /**
   * oidc-provider's request handler, rebuilt only when the provider is (key rotation). Under an
   * issuer with a path (https://example.com/auth) the provider is mounted there: it is handed the
   * path below it, and takes the mount from `originalUrl` for the URLs it builds.
   */
  const mount = app.urls.mountPath;
  const providerHandler = () => {
    const provider = app.provider;
    let handler = providerHandlers.get(provider);
    if (!handler) {
      const callback = provider.callback();
      handler = !mount ? callback : (req: IncomingMessage, res: ServerResponse) => {
        const url = req.url ?? '/';
        if (url === mount || url.startsWith(`${mount}/`) || url.startsWith(`${mount}?`)) {
          (req as IncomingMessage & { originalUrl?: string }).originalUrl = url;
          req.url = url.slice(mount.length) || '/';
          if (req.url.startsWith('?')) req.url = `/${req.url}`;
          return callback(req, res);
        }
        // Outside the issuer's path there is nothing of the provider's.
        res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('Not Found');
        return Promise.resolve();
      };
      providerHandlers.set(provider, handler);
    }
    return handler;
  };
  koa.use(async function oidc(ctx) {
    ctx.respond = false;
    await providerHandler()(ctx.req, ctx.res);
  });
  const tokenEndpoint = createTokenEndpoint({ tokenPath: `${app.urls.mountPath}${ROUTES.token}`, metrics, provider: providerHandler });
  return {
    koa,
    /** The Node request handler: token requests straight to the provider, the rest through Koa. */
    callback() {
      const viaKoa = koa.callback();
      const issuerHost = new URL(app.config.issuer).host;
      const geoip = app.config.http.geoipHeaders;
      return (req: IncomingMessage, res: ServerResponse) => {
        if (!pinOrigin(req, issuerHost, hops)) {
          res.writeHead(400, { 'content-type': 'text/plain; charset=utf-8', connection: 'close' }).end('Bad request target\n');
          return;
        }
        noteGeoipSource(req, geoip);
        if (!tokenEndpoint(req, res)) void viaKoa(req, res);
      };
    },
  };
}
