import { createConnection } from 'node:net';

/**
 * The PostgreSQL the multi-node tests use: GATEHOUSE_TEST_POSTGRES_URL, by default the local
 * server's `postgres` database (each test file creates a fresh database of its own there).
 */
export const ADMIN_URL = process.env.GATEHOUSE_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** The URL of database `name` on that server. */
export function databaseUrl(name: string): string {
  const u = new URL(ADMIN_URL);
  u.pathname = `/${name}`;
  return u.href;
}

/** Whether anything answers on the server's port (the tests skip, saying so, when not). */
export async function postgresReachable(): Promise<boolean> {
  const u = new URL(ADMIN_URL);
  return new Promise((resolve) => {
    const s = createConnection({ host: u.hostname, port: Number(u.port || 5432) }, () => { s.end(); resolve(true); });
    s.on('error', () => resolve(false));
    s.setTimeout(1000, () => { s.destroy(); resolve(false); });
  });
}
