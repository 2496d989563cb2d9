import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';

/**
 * A tiny static server for the example SPA: no build step, so it serves the page, the app
 * script and auth0-spa-js's UMD bundle straight from node_modules, plus /config.js with the
 * Gatehouse domain and client id taken from its options (or the environment, when run as
 * `npm run example:spa`).
 */

export interface SpaServerOptions {
  /** 0 picks a free port. */
  port: number;
  /** Gatehouse's issuer, with or without the trailing "/" (http://localhost:3000/). */
  issuer: string;
  clientId: string;
  /** Loopback by default: the example is for a developer's machine. */
  host?: string;
  /**
   * Where auth0-spa-js keeps tokens: 'localstorage' (the default here: a reload finds them) or
   * 'memory' (the SDK's own default: a reload asks Gatehouse again in a hidden iframe, with
   * prompt=none and response_mode=web_message, which needs its session cookie, so Gatehouse and
   * the app on the same site, as localhost:3000 and localhost:5173 are).
   */
  cacheLocation?: 'localstorage' | 'memory';
  /**
   * Ask for the user's own Management API token (Auth0's current-user scopes) and show a field
   * kept in their user_metadata. Needs Gatehouse started with GATEHOUSE_CURRENT_USER_TOKENS=true.
   */
  managementApi?: boolean;
}

export interface SpaServer { url: string; port: number; close(): Promise<void> }

const here = import.meta.dirname;
const sdkBundle = createRequire(import.meta.url).resolve('@auth0/auth0-spa-js/dist/auth0-spa-js.production.js');

// A fixed list, so no request path is ever joined onto the file system.
const FILES: Record<string, { file: string; type: string }> = {
  '/': { file: join(here, 'index.html'), type: 'text/html; charset=utf-8' },
  '/index.html': { file: join(here, 'index.html'), type: 'text/html; charset=utf-8' },
  '/app.js': { file: join(here, 'app.js'), type: 'text/javascript; charset=utf-8' },
  '/style.css': { file: join(here, 'style.css'), type: 'text/css; charset=utf-8' },
  '/auth0-spa-js.production.js': { file: sdkBundle, type: 'text/javascript; charset=utf-8' },
};

/**
 * auth0-spa-js's `domain`: the issuer without its trailing "/" (the SDK appends "/authorize",
 * "/oauth/token", "/v2/logout"); an issuer with a path, for a mounted Gatehouse, keeps it.
 */
export function domainFromIssuer(issuer: string): string {
  const u = new URL(issuer);
  return `${u.origin}${u.pathname.replace(/\/+$/, '')}`;
}

export async function startSpaServer(o: SpaServerOptions): Promise<SpaServer> {
  const domain = domainFromIssuer(o.issuer);
  const issuerOrigin = new URL(o.issuer).origin;
  // `<` escaped so the JSON can never close a script context.
  // The Management API: its audience is `/api/v2/` on the issuer's origin, its URL under the issuer.
  const managementAudience = o.managementApi ? `${issuerOrigin}/api/v2/` : undefined;
  const managementApi = o.managementApi ? `${domain}/api/v2` : undefined;
  const configJs = `window.GATEHOUSE_SPA = ${JSON.stringify({ domain, clientId: o.clientId, managementAudience, managementApi, cacheLocation: o.cacheLocation ?? 'localstorage' }).replace(/</g, '\\u003c')};\n`;
  // The page may only talk to itself and to Gatehouse (the token call); no inline script.
  const csp = `default-src 'self'; connect-src 'self' ${issuerOrigin}; frame-src ${issuerOrigin}; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'`;

  const server = createServer(async (req, res) => {
    const path = new URL(req.url ?? '/', 'http://spa.invalid').pathname;
    const send = (status: number, type: string, body: string | Buffer) => {
      res.writeHead(status, {
        'content-type': type, 'content-security-policy': csp, 'x-content-type-options': 'nosniff',
        // A development server: always serve the current files.
        'cache-control': 'no-store',
      });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'text/plain; charset=utf-8', 'method not allowed\n');
    if (path === '/config.js') return send(200, 'text/javascript; charset=utf-8', configJs);
    const entry = FILES[path];
    if (!entry) return send(404, 'text/plain; charset=utf-8', 'not found\n');
    try {
      send(200, entry.type, await readFile(entry.file));
    } catch (err) {
      send(500, 'text/plain; charset=utf-8', `cannot read ${path}: ${(err as Error).message}\n`);
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host ?? '127.0.0.1', () => resolve());
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : o.port;
  return {
    // localhost, not 127.0.0.1: that is the origin the README registers for the client.
    url: `http://localhost:${port}/`, port,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** Warns early about the two set-up mistakes that otherwise only show up after logging in. */
async function checkGatehouse(issuer: string): Promise<void> {
  const domain = domainFromIssuer(issuer);
  try {
    const res = await fetch(`${domain}/.well-known/openid-configuration`, { signal: AbortSignal.timeout(3000) });
    const meta = await res.json() as { issuer?: string };
    if (meta.issuer !== `${domain}/`) {
      console.warn(`warning: Gatehouse's issuer is "${meta.issuer}", but auth0-spa-js will expect "${domain}/" in ID tokens.\n` +
        `         Start Gatehouse with GATEHOUSE_ISSUER=${domain}/ (with the trailing slash).`);
    }
  } catch {
    const port = new URL(domain).port;
    console.warn(`warning: no Gatehouse answered at ${domain}/.well-known/openid-configuration; start it with ${port ? `PORT=${port} ` : ''}GATEHOUSE_ISSUER=${domain}/ npm start`);
  }
}

if (import.meta.main) {
  const issuer = process.env.GATEHOUSE_ISSUER || 'http://localhost:3000';
  const clientId = process.env.SPA_CLIENT_ID;
  const port = Number(process.env.SPA_PORT || 5173);
  const cacheLocation = process.env.SPA_CACHE_LOCATION || 'localstorage';
  const managementApi = process.env.SPA_MANAGEMENT_API === 'true';
  if (!clientId) {
    console.error('error: set SPA_CLIENT_ID to the client_id of an SPA client (see examples/spa/README.md):\n' +
      '  npm run cli -- clients create --name "Example SPA" --type spa --callback http://localhost:5173/ --web-origin http://localhost:5173 --logout-url http://localhost:5173/');
    process.exit(1);
  }
  if (cacheLocation !== 'localstorage' && cacheLocation !== 'memory') {
    console.error(`error: SPA_CACHE_LOCATION must be localstorage or memory, got "${cacheLocation}"`);
    process.exit(1);
  }
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`error: SPA_PORT must be a port number, got "${process.env.SPA_PORT}"`);
    process.exit(1);
  }
  const spa = await startSpaServer({ port, issuer, clientId, cacheLocation, managementApi });
  console.log(`Example SPA on ${spa.url} (Gatehouse at ${domainFromIssuer(issuer)}, client ${clientId})`);
  await checkGatehouse(issuer);
  const stop = () => { void spa.close().then(() => process.exit(0)); };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
