import { createServer, type Server } from 'node:http';
import type { Config } from './config/schema.ts';
import { createContext, type AppContext } from './context.ts';
import { createApp } from './app.ts';
import { sweepExpired } from './oidc/adapter.ts';
import type { Logger } from './shared/logger.ts';

export interface RunningServer { server: Server; ctx: AppContext; url: string; close(): Promise<void> }

/**
 * Builds the context and app and listens. Background work: expired oidc rows are swept,
 * retired signing keys dropped, and a key rotation made on another node picked up.
 */
export async function startServer(config: Config, opts: { logger?: Logger; host?: string } = {}): Promise<RunningServer> {
  const ctx = await createContext(config, { logger: opts.logger });
  const koa = createApp(ctx);
  const server = createServer({ maxHeaderSize: 16 * 1024, requestTimeout: 30_000, headersTimeout: 15_000 }, koa.callback());
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, opts.host ?? '0.0.0.0', () => resolve());
  });
  const maxTokenLifetimeMs = Math.max(config.tokens.accessTokenTtl, config.tokens.idTokenTtl, 86400) * 1000;
  const timer = setInterval(() => {
    void (async () => {
      try {
        await sweepExpired(ctx.db);
        await ctx.actions.engine.sweep();
        await ctx.actions.engine.sweepCache();
        await ctx.db('action_continuations').where('expires_at', '<', Date.now() - 3600_000).delete();
        if (await ctx.keys.retire(maxTokenLifetimeMs)) await ctx.refreshKeys(true);
        else await ctx.refreshKeys();
      } catch (err) {
        ctx.logger.warn({ err }, 'background sweep failed');
      }
    })();
  }, 30_000);
  timer.unref();
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : config.port;
  return {
    server, ctx, url: `http://127.0.0.1:${port}`,
    async close() {
      clearInterval(timer);
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await ctx.close();
    },
  };
}
