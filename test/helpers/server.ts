import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';
import * as oidc from 'openid-client';
import { loadConfig } from '../../src/config/load.ts';
import { startServer, type RunningServer } from '../../src/server.ts';
import { createLogger } from '../../src/shared/logger.ts';
import { Browser } from './cookie-fetch.ts';

export const ADMIN_ID = 'bootstrap-admin';
export const ADMIN_SECRET = 'bootstrap-admin-secret-0123456789';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

export interface TestServer extends RunningServer {
  issuer: string; base: string; dir: string; logs: string[];
  /** A Management API access token with every scope (the bootstrap admin client's). */
  adminToken(scopes?: string): Promise<string>;
  /** JSON call to the Management API. */
  api(method: string, path: string, body?: unknown, token?: string): Promise<{ status: number; body: any; headers: Headers }>;
}

/**
 * The real server on a free loopback port, with its own SQLite file in a temp dir and the
 * bootstrap admin client configured. `overrides` go through the same config validation.
 */
/**
 * A server on a fresh port and data directory, removed on close. `at`: this data directory
 * and port instead, kept on close (a restart: start a second server `at` the first one's).
 */
export async function startTestServer(overrides: Record<string, unknown> = {}, opts: { trailingSlash?: boolean; at?: { dir: string; port: number } } = {}): Promise<TestServer> {
  const dir = opts.at?.dir ?? mkdtempSync(join(tmpdir(), 'gatehouse-test-'));
  const logs: string[] = [];
  // freePort() lets its port go before the server takes it (the issuer names the port, so it is
  // chosen first): another test process may take it in between. Then another port, a few times.
  let port: number, base: string, issuer: string, s: RunningServer;
  for (let attempt = 1; ; attempt++) {
    port = opts.at?.port ?? await freePort();
    base = `http://127.0.0.1:${port}`;
    issuer = opts.trailingSlash ? `${base}/` : base;
    const config = loadConfig({
      env: { NODE_ENV: 'test' },
      overrides: {
        issuer, port, dataDir: dir, databaseUrl: `sqlite:${join(dir, 'gatehouse.sqlite')}`,
        bootstrapAdmin: { clientId: ADMIN_ID, clientSecret: ADMIN_SECRET }, logLevel: 'debug', ...overrides,
      },
    });
    try {
      s = await startServer(config, { logger: createLogger('debug', (l) => { logs.push(l); }), host: '127.0.0.1' });
      break;
    } catch (e) {
      if (opts.at !== undefined || attempt >= 5 || (e as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw e;
    }
  }
  const tokens = new Map<string, string>();
  const ts: TestServer = {
    ...s, issuer, base, dir, logs,
    async adminToken(scopes?: string) {
      const key = scopes ?? '*';
      if (tokens.has(key)) return tokens.get(key)!;
      const res = await fetch(`${base}/oauth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${ADMIN_ID}:${ADMIN_SECRET}`).toString('base64')}` },
        body: new URLSearchParams({ grant_type: 'client_credentials', audience: `${base}/api/v2/`, ...(scopes ? { scope: scopes } : {}) }),
      });
      const body = await res.json() as { access_token?: string };
      if (!body.access_token) throw new Error(`admin token: ${res.status} ${JSON.stringify(body)}`);
      tokens.set(key, body.access_token);
      return body.access_token;
    },
    async api(method, path, body, token) {
      const res = await fetch(`${base}/api/v2${path}`, {
        method, headers: { authorization: `Bearer ${token ?? await ts.adminToken()}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        body: body !== undefined ? JSON.stringify(body) : undefined,
      });
      const text = await res.text();
      let parsed: unknown = text;
      try { parsed = text ? JSON.parse(text) : undefined; } catch { /* not JSON */ }
      return { status: res.status, body: parsed, headers: res.headers };
    },
    async close(graceMs = 1000) {
      await s.close(graceMs);
      if (!opts.at) rmSync(dir, { recursive: true, force: true });
    },
  };
  return ts;
}

/** Creates a user through the Management API (201). */
export async function createUser(ts: TestServer, email: string, password: string) {
  const r = await ts.api('POST', '/users', { email, password });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body as { user_id: string; email: string };
}

/** openid-client configuration for a client of the test server (plain http allowed on loopback). */
export async function discover(ts: TestServer, clientId: string, clientSecret?: string, metadata: Partial<oidc.ClientMetadata> = {}) {
  return oidc.discovery(new URL(ts.issuer), clientId, { ...metadata }, clientSecret ? oidc.ClientSecretBasic(clientSecret) : oidc.None(), {
    execute: [oidc.allowInsecureRequests],
  });
}

/**
 * Two clients made through the store, an SPA (`<name> SPA`) and a confidential web client
 * (`<name> Web`), their openid-client configurations, and one user to sign in with.
 */
export async function spaAndWebClients(ts: TestServer, o: { name: string; spaCallback: string; webCallback: string; email: string; password: string }) {
  const spa = await ts.ctx.clients.create({ name: `${o.name} SPA`, app_type: 'spa', callbacks: [o.spaCallback] });
  const web = await ts.ctx.clients.create({ name: `${o.name} Web`, app_type: 'regular_web', callbacks: [o.webCallback] });
  await ts.ctx.users.create({ email: o.email, password: o.password });
  return { spa, web, spaConfig: await discover(ts, spa.client_id), webConfig: await discover(ts, web.client_id, web.client_secret) };
}

/** A fresh authorization code + PKCE request: the URL to open, and the verifier and state the token request needs. */
export async function authorizationRequest(config: oidc.Configuration, o: { redirectUri: string; scope: string; params?: Record<string, string> }) {
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: o.redirectUri, scope: o.scope, state,
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', ...o.params,
  });
  return { url, verifier, state };
}

/**
 * Opens an authorization URL in `browser` and signs in through the real login form. Stops at
 * the client's redirect_uri (`callbackUrl`), or else where the flow rests (`url`, with that
 * page in `loginPage`); `stop` names more places not to request (a page outside the server).
 * `posted` is the status of the password POST, when there was one.
 */
export async function loginAt(url: URL, o: {
  browser?: Browser; redirectUri: string; email: string; password: string; stop?: (u: URL) => boolean;
}) {
  const browser = o.browser ?? new Browser();
  const isCallback = (u: URL) => u.href.startsWith(o.redirectUri);
  const stop = (u: URL) => isCallback(u) || (o.stop?.(u) ?? false);
  const { res, url: at } = await browser.follow(url, {}, stop);
  if (isCallback(at)) return { callbackUrl: at, browser, loginPage: undefined };
  const html = await res.text();
  if (!/name="password"/.test(html)) throw new Error(`expected the login page at ${at}, got ${res.status}:\n${html.slice(0, 1500)}`);
  const posted = await browser.submit(at, html, { email: o.email, password: o.password });
  if (posted.status < 300 || posted.status >= 400) {
    return { callbackUrl: undefined, browser, loginPage: await posted.text(), status: posted.status, posted: posted.status };
  }
  const next = new URL(posted.headers.get('location')!, at);
  const r = stop(next) ? { res: posted, url: next } : await browser.follow(next, {}, stop);
  if (!isCallback(r.url)) return { callbackUrl: undefined, browser, loginPage: await r.res.text(), status: r.res.status, url: r.url, posted: posted.status };
  return { callbackUrl: r.url, browser, loginPage: undefined, posted: posted.status };
}

/**
 * Drives authorization code + PKCE through the real login form. Returns the callback URL
 * (with code) and the PKCE verifier/state for the token request, with the rest of what
 * `loginAt` reports when the flow rests elsewhere.
 */
export async function loginThroughForm(config: oidc.Configuration, o: {
  browser?: Browser; redirectUri: string; email: string; password: string; scope?: string; params?: Record<string, string>; stop?: (u: URL) => boolean;
}) {
  const { url, verifier, state } = await authorizationRequest(config, { redirectUri: o.redirectUri, scope: o.scope ?? 'openid email profile', params: o.params });
  return { ...await loginAt(url, o), verifier, state };
}

/**
 * A login through the form with offline_access (and prompt=consent: oidc-provider's rule for
 * refresh tokens) for `audience`'s `read:things`, redeemed: the tokens, which include a refresh
 * token, and the browser (signed in).
 */
export async function loginWithRefreshToken(config: oidc.Configuration, o: { redirectUri: string; email: string; password: string; audience: string }) {
  const r = await loginThroughForm(config, { redirectUri: o.redirectUri, email: o.email, password: o.password, scope: 'openid email offline_access read:things', params: { prompt: 'consent', audience: o.audience } });
  assert.ok(r.callbackUrl, `no callback: ${r.status} ${r.loginPage?.slice(0, 300)}`);
  assert.equal(r.callbackUrl.searchParams.get('error'), null, r.callbackUrl.searchParams.get('error_description') ?? '');
  const tokens = await oidc.authorizationCodeGrant(config, r.callbackUrl, { pkceCodeVerifier: r.verifier, expectedState: r.state });
  assert.ok(tokens.refresh_token, 'a refresh token was issued');
  return { tokens, browser: r.browser };
}

/** A silent authorization (prompt=none) in `browser`: the callback URL, where it must end. */
export async function silentAuthorization(config: oidc.Configuration, browser: Browser, redirectUri: string) {
  const { url } = await authorizationRequest(config, { redirectUri, scope: 'openid', params: { prompt: 'none' } });
  const { url: at } = await browser.follow(url, {}, (u) => u.href.startsWith(redirectUri));
  assert.ok(at.href.startsWith(redirectUri), `prompt=none must end at the callback, ended at ${at}`);
  return at;
}
