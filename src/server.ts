import { createServer, type Server } from 'node:http';
import type { Config } from './config/schema.ts';
import { createContext, type AppContext } from './context.ts';
import { createApp } from './app.ts';
import { sweepExpired } from './oidc/adapter.ts';
import type { Db } from './db/knex.ts';
import type { Logger } from './shared/logger.ts';

/** How often a node checks the signing keys for another node's change (src/oidc/keys.ts's activation delay is longer). */
const KEY_POLL_MS = 2000;

/** Drops rows whose purpose has passed: used or expired links, stale MFA steps and counters. */
export async function sweepLifecycle(db: Db, failureResetMs: number, now = Date.now()) {
  await db('action_continuations').where('expires_at', '<', now - 3600_000).delete();
  await db('mfa_pending').where('expires_at', '<', now).delete();
  await db('organization_pending').where('expires_at', '<', now).delete();
  await db('email_tokens').where('expires_at', '<', now - 86400_000).delete();
  // Management API jobs are polled for a while after they end, as on Auth0; then they go.
  await db('jobs').where('created_at', '<', now - 7 * 86400_000).delete();
  // A job still pending after an hour lost its task (a restart): it failed.
  await db('jobs').where({ status: 'pending' }).andWhere('created_at', '<', now - 3600_000).update({ status: 'failed', completed_at: now });
  // An import or export is quicker: one still pending 15 minutes on was cut off (its node stopped).
  await db('jobs').whereIn('type', ['users_import', 'users_export']).andWhere({ status: 'pending' }).andWhere('created_at', '<', now - 15 * 60_000)
    .update({ status: 'failed', completed_at: now });
  // What such an export had stored of its file is of no use.
  await db('job_files').whereIn('job_id', db('jobs').select('id').where({ type: 'users_export', status: 'failed' })).delete();
  await db('login_failures').where('last_failure_at', '<', now - failureResetMs).andWhere('locked_until', '<', now).delete();
}

export interface RunningServer { server: Server; ctx: AppContext; url: string; close(graceMs?: number): Promise<void> }

/**
 * Builds the context and app and listens. Background work: expired oidc rows are swept,
 * retired signing keys dropped, and a key rotation made on another node picked up.
 */
export async function startServer(config: Config, opts: { logger?: Logger; host?: string } = {}): Promise<RunningServer> {
  const ctx = await createContext(config, { logger: opts.logger, serving: true });
  const app = createApp(ctx);
  // Slow clients (slowloris, a body trickled in): Node checks these deadlines every
  // connectionsCheckingInterval (30 s by default, which let a connection live up to 45 s past
  // a 15 s limit); once a second holds them to about a second.
  const server = createServer({
    maxHeaderSize: 16 * 1024, headersTimeout: config.http.headersTimeoutMs, requestTimeout: config.http.requestTimeoutMs, connectionsCheckingInterval: 1000,
  }, app.callback());
  server.keepAliveTimeout = 5_000;
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.port, opts.host ?? '0.0.0.0', () => { server.off('error', reject); resolve(); });
    });
  } catch (e) {
    // The port taken (EADDRINUSE) or refused: nothing of this start is left running.
    await ctx.close().catch((err: unknown) => { ctx.logger.error({ err }, 'closing after a failed start failed too'); });
    throw e;
  }
  // Later errors of the listening socket (EMFILE on accept, …) are logged, never thrown.
  server.on('error', (err) => { ctx.logger.error({ err }, 'HTTP server error'); });
  // This server speaks plain HTTP: an https issuer means a TLS-terminating proxy in front, whose
  // X-Forwarded-* headers count only when trustProxy says how many proxies there are.
  if (config.issuer.startsWith('https:') && !config.http.trustProxy) {
    ctx.logger.warn({ issuer: config.issuer }, 'the issuer is https but http.trustProxy is off: behind a TLS-terminating proxy, set it to the number of proxies in front. Until then cookies are not marked Secure (nor __Host-/__Secure- prefixed) and every client has the proxy\'s address, so one client\'s failed logins throttle everyone');
  }
  // The issuer does not follow PORT: a local issuer on another port than this server's sends
  // every browser and client to the wrong place (discovery's endpoints use the issuer).
  const iss = new URL(config.issuer);
  const issPort = Number(iss.port || (iss.protocol === 'https:' ? 443 : 80));
  const listening = (server.address() as { port: number }).port;
  if (['localhost', '127.0.0.1', '[::1]'].includes(iss.hostname) && config.port !== 0 && issPort !== listening) {
    ctx.logger.warn({ issuer: config.issuer, port: listening }, `the issuer ${iss.origin} is local but names another port than this server listens on (${listening}): set GATEHOUSE_ISSUER to match PORT`);
  }
  // A previous signing key stays published while any token it signed can still be valid: the
  // longest lifetime of any token, APIs' own token_lifetime included.
  const retireAfterMs = async () => {
    const r = await ctx.db('resource_servers').max({ m: 'token_lifetime' }).first();
    return Math.max(config.tokens.accessTokenTtl, config.tokens.idTokenTtl, Number(r?.m ?? 0), 86400) * 1000;
  };
  const timer = setInterval(() => {
    void (async () => {
      try {
        await sweepExpired(ctx.db, (sessions) => ctx.backchannel.sessionsEnded(sessions, 'session-expired'));
        await ctx.actions.engine.sweep();
        await ctx.actions.engine.sweepCache();
        await ctx.actions.triggers.sweepLoginClaims(Math.max(config.tokens.refreshTokenTtl, config.tokens.sessionTtl, config.tokens.sessionMaxTtl) * 1000);
        await sweepLifecycle(ctx.db, config.bruteForce.failureResetSeconds * 1000);
        // Imports made by another node or the CLI: this node's password checks follow their hashes.
        await ctx.hashClasses.apply();
        if (await ctx.keys.retire(await retireAfterMs())) await ctx.refreshKeys(true);
      } catch (err) {
        ctx.logger.warn({ err }, 'background sweep failed');
      }
    })();
  }, 30_000);
  timer.unref();
  // Signing keys: another node's rotation or revocation, or a new key's activation (src/oidc/
  // keys.ts), shows here within KEY_POLL_MS (one small query). A failure is logged once until a
  // poll succeeds again.
  let keyPollFailing = false;
  const keyPoll = setInterval(() => {
    ctx.refreshKeys().then(() => { keyPollFailing = false; }, (err: unknown) => {
      if (!keyPollFailing) ctx.logger.warn({ err }, 'could not check the signing keys for changes');
      keyPollFailing = true;
    });
  }, KEY_POLL_MS);
  keyPoll.unref();
  // Log streams: what the audit log gained since, to each active stream's endpoint (one pass at a time).
  const streamTimer = setInterval(() => { void ctx.logStreams.tick(); }, 1000);
  streamTimer.unref();
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : config.port;
  return {
    server, ctx, url: `http://127.0.0.1:${port}`,
    /** Stops accepting, lets in-flight requests finish (up to `graceMs`), then closes the rest. */
    async close(graceMs = 10_000) {
      clearInterval(timer);
      clearInterval(keyPoll);
      clearInterval(streamTimer);
      const closed = new Promise<void>((r) => server.close(() => r()));
      server.closeIdleConnections();
      const force = setTimeout(() => server.closeAllConnections(), graceMs);
      force.unref();
      await closed;
      clearTimeout(force);
      // A log stream pass under way ends first (its request is cut).
      await ctx.logStreams.stop();
      await ctx.close();
    },
  };
}
