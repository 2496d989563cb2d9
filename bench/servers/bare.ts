/**
 * Child process: a bare oidc-provider 9 with only what client_credentials needs, the memory
 * adapter (the default), static client, ES256 JWT access tokens with Gatehouse's own key.
 * It is the baseline Gatehouse's token endpoint is compared against.
 */
import { createServer, type Server } from 'node:http';
import Provider from 'oidc-provider';
import { serveChild } from '../lib/child.ts';
import { bareConfiguration } from '../lib/bare-config.ts';

export interface BareInit {
  port: number; jwk: Record<string, unknown>; client_id: string; client_secret: string;
  api: string; scopes: string[]; accessTokenTTL: number;
}

let server: Server | undefined;

serveChild<BareInit, { base: string; pid: number }>({
  async setup(init) {
    const base = `http://127.0.0.1:${init.port}`;
    const configuration = bareConfiguration(init);
    const provider = new Provider(base, configuration);
    // Same socket settings as src/server.ts, so only the request handling differs.
    server = createServer({ maxHeaderSize: 16 * 1024, requestTimeout: 30_000, headersTimeout: 15_000 }, provider.callback());
    server.keepAliveTimeout = 5_000;
    await new Promise<void>((resolve, reject) => { server!.once('error', reject); server!.listen(init.port, '127.0.0.1', () => resolve()); });
    return { base, pid: process.pid };
  },
  async teardown() {
    server?.closeAllConnections();
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  },
});
