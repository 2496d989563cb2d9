/**
 * Child process for bench/diagnose.ts: a bare oidc-provider 9 doing the same login as
 * Gatehouse (code + PKCE for a public client, consent skipped as for a first-party app, ES256
 * ID token) with the smallest possible login page that still verifies an argon2id hash with
 * Gatehouse's options. Memory adapter, no Koa of our own, no database. It tells how much of a
 * Gatehouse login is oidc-provider's own work, which no change in src/ can remove.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { parse as parseQs } from 'node:querystring';
import argon2 from 'argon2';
import Provider from 'oidc-provider';
import type { Configuration, KoaContextWithOIDC } from 'oidc-provider';
import { createPasswordHasher, type Argon2Params } from '../../src/users/passwords.ts';
import { serveChild } from '../lib/child.ts';

export interface BareLoginInit { port: number; jwk: Record<string, unknown>; client_id: string; redirect_uri: string; email: string; password: string; argon2: Argon2Params }

let server: Server | undefined;

async function body(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of req) { n += (c as Buffer).length; if (n > 16 * 1024) throw new Error('body too large'); chunks.push(c as Buffer); }
  return { ...parseQs(Buffer.concat(chunks).toString('utf8')) };
}

serveChild<BareLoginInit, { base: string; pid: number }>({
  async setup(init) {
    const base = `http://127.0.0.1:${init.port}`;
    const hash = await argon2.hash(init.password, createPasswordHasher(init.argon2).params);
    const accountId = 'auth0|bench';
    const configuration: Configuration = {
      clients: [{
        client_id: init.client_id, token_endpoint_auth_method: 'none', redirect_uris: [init.redirect_uri],
        grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'], id_token_signed_response_alg: 'ES256',
      }],
      jwks: { keys: [init.jwk as never] },
      cookies: { keys: ['bench-cookie-key-0123456789abcdef'], long: { signed: true, httpOnly: true, sameSite: 'lax' }, short: { signed: true, httpOnly: true, sameSite: 'lax' } },
      claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name', 'nickname', 'picture', 'updated_at'] },
      scopes: ['openid', 'offline_access', 'profile', 'email'],
      routes: { authorization: '/authorize', token: '/oauth/token' },
      features: { devInteractions: { enabled: false } },
      interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
      async findAccount(_ctx, sub) {
        return { accountId: sub, async claims() { return { sub, email: init.email, email_verified: true, name: init.email, nickname: 'bench', updated_at: 0 }; } };
      },
      // As Gatehouse does for first-party clients: the requested scopes, no consent screen.
      async loadExistingGrant(ctx: KoaContextWithOIDC) {
        const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client!.clientId, accountId: ctx.oidc.session!.accountId! });
        grant.addOIDCScope([...ctx.oidc.requestParamScopes].join(' '));
        await grant.save();
        return grant;
      },
    };
    const provider = new Provider(base, configuration);
    const oidc = provider.callback();
    server = createServer({ maxHeaderSize: 16 * 1024, requestTimeout: 30_000, headersTimeout: 15_000 }, (req, res) => {
      const m = /^\/interaction\/([^/?]+)(\/login)?/.exec(req.url ?? '');
      if (!m) { oidc(req, res); return; }
      void (async () => {
        const d = await provider.interactionDetails(req, res);
        if (req.method === 'GET') {
          res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
          res.end(`<form method="post" action="/interaction/${d.uid}/login"><input type="hidden" name="_csrf" value="x"><input name="email"><input name="password" type="password"></form>`);
          return;
        }
        const b = await body(req);
        const ok = b.email === init.email && typeof b.password === 'string' && await argon2.verify(hash, b.password);
        if (!ok) { res.writeHead(200, { 'content-type': 'text/html' }); res.end('wrong'); return; }
        const to = await provider.interactionResult(req, res, { login: { accountId, amr: ['pwd'], remember: true } }, { mergeWithLastSubmission: false });
        res.writeHead(303, { location: to });
        res.end();
      })().catch((err) => { res.writeHead(500); res.end(String(err)); });
    });
    server.keepAliveTimeout = 5_000;
    await new Promise<void>((resolve, reject) => { server!.once('error', reject); server!.listen(init.port, '127.0.0.1', () => resolve()); });
    return { base, pid: process.pid };
  },
  async teardown() {
    server?.closeAllConnections();
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  },
});
