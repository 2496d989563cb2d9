import { parseArgs } from 'node:util';
import { loadConfig, ConfigError } from '../config/load.ts';
import { createContext } from '../context.ts';
import { openDatabase } from '../db/knex.ts';
import { migrateLatest, migrateRollbackAll, migrationStatus } from '../db/migrate.ts';
import { startServer } from '../server.ts';
import { createLogger } from '../shared/logger.ts';
import { AppError } from '../shared/errors.ts';
import type { AppType } from '../clients/clients.ts';

const HELP = `gatehouse: self-hosted OpenID Connect server with Actions

Usage: gatehouse <command> [options]

  start                                  migrate, then serve (PORT, GATEHOUSE_* variables)
  migrate [--down] [--status]            apply (or roll back all, or list) database migrations
  clients create --name N --type spa|regular_web|non_interactive|native
                 [--callback URL]... [--logout-url URL]... [--web-origin URL]...
                 [--grant AUDIENCE:scope1,scope2]   (M2M: allow these API scopes)
  users create --email E [--password P] [--verified]
  keys rotate                            new signing keys; old ones stay published until tokens expire
  keys list

Options: --json prints machine-readable output.`;

type Out = { json: boolean };
function print(out: Out, human: string, data: unknown) {
  process.stdout.write(out.json ? `${JSON.stringify(data, null, 2)}\n` : `${human}\n`);
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, sub, ...rest] = argv;
  const { values } = parseArgs({
    args: cmd === 'start' || cmd === 'migrate' ? argv.slice(1) : rest,
    options: {
      json: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h' },
      down: { type: 'boolean' }, status: { type: 'boolean' },
      name: { type: 'string' }, type: { type: 'string' }, callback: { type: 'string', multiple: true },
      'logout-url': { type: 'string', multiple: true }, 'web-origin': { type: 'string', multiple: true }, grant: { type: 'string', multiple: true },
      email: { type: 'string' }, password: { type: 'string' }, verified: { type: 'boolean' },
    },
    allowPositionals: true, strict: true,
  });
  const out: Out = { json: !!values.json };
  if (!cmd || values.help || cmd === 'help') { console.log(HELP); return 0; }

  const config = loadConfig();
  const logger = createLogger(out.json ? 'warn' : config.logLevel, (l) => process.stderr.write(l));

  if (cmd === 'start') {
    const s = await startServer(config, { logger: createLogger(config.logLevel) });
    s.ctx.logger.info({ issuer: config.issuer, port: config.port, database: config.databaseUrl.split(':')[0] }, `Gatehouse listening on port ${config.port} (issuer ${config.issuer})`);
    const stop = async (signal: string) => {
      s.ctx.logger.info({ signal }, 'shutting down');
      await s.close();
      process.exit(0);
    };
    process.once('SIGTERM', () => void stop('SIGTERM'));
    process.once('SIGINT', () => void stop('SIGINT'));
    return -1;
  }

  if (cmd === 'migrate') {
    const db = openDatabase(config.databaseUrl);
    try {
      if (values.status) {
        const st = await migrationStatus(db);
        print(out, `applied: ${st.done.length}, pending: ${st.pending.length}${st.pending.length ? ` (${st.pending.join(', ')})` : ''}`, st);
      } else if (values.down) {
        const undone = await migrateRollbackAll(db);
        print(out, undone.length ? `rolled back ${undone.length} migration(s): ${undone.join(', ')}` : 'nothing to roll back', { rolled_back: undone });
      } else {
        const applied = await migrateLatest(db);
        print(out, applied.length ? `applied ${applied.length} migration(s): ${applied.join(', ')}` : 'database is up to date', { applied });
      }
    } finally { await db.destroy(); }
    return 0;
  }

  const ctx = await createContext(config, { logger });
  try {
    if (cmd === 'clients' && sub === 'create') {
      if (!values.name || !values.type) throw new AppError(400, 'usage', 'clients create needs --name and --type');
      const client = await ctx.clients.create({
        name: values.name, app_type: values.type as AppType, callbacks: values.callback, allowed_logout_urls: values['logout-url'], web_origins: values['web-origin'],
      });
      const grants = [];
      for (const g of values.grant ?? []) {
        const i = g.lastIndexOf(':');
        const [audience, scopes] = i > 0 && !g.slice(i + 1).includes('/') ? [g.slice(0, i), g.slice(i + 1)] : [g, ''];
        grants.push(await ctx.resourceServers.grants.create({ client_id: client.client_id, audience, scope: scopes ? scopes.split(',') : [] }));
      }
      await ctx.audit.record({ type: 'sapi', description: 'Create a client (CLI)', client_id: client.client_id, details: { via: 'cli' } });
      print(out, [`created ${client.app_type} client "${client.name}"`, `client_id:     ${client.client_id}`,
        ...(client.client_secret ? [`client_secret: ${client.client_secret}   (shown once: store it now)`] : []),
        ...grants.map((g) => `granted ${g.audience}: ${g.scope.join(' ') || '(no scopes)'}`)].join('\n'), { ...client, client_grants: grants });
      return 0;
    }
    if (cmd === 'users' && sub === 'create') {
      if (!values.email) throw new AppError(400, 'usage', 'users create needs --email');
      const user = await ctx.users.create({ email: values.email, password: values.password, email_verified: !!values.verified });
      await ctx.audit.record({ type: 'sapi', description: 'Create a user (CLI)', user_id: user.user_id, details: { via: 'cli' } });
      print(out, `created user ${user.email} (${user.user_id})`, user);
      return 0;
    }
    if (cmd === 'keys' && sub === 'rotate') {
      const added = await ctx.keys.rotate();
      await ctx.audit.record({ type: 'sapi', description: 'Rotate signing keys (CLI)', details: { kids: added.map((k) => k.kid) } });
      print(out, `rotated signing keys: ${added.map((k) => `${k.alg} ${k.kid}`).join(', ')}\nprevious keys stay in the JWKS until tokens they signed expire; running servers pick the new keys up within 30 s`, { added });
      return 0;
    }
    if (cmd === 'keys' && sub === 'list') {
      const keys = (await ctx.keys.list()).map(({ public_jwk: _p, ...k }) => k);
      print(out, keys.map((k) => `${k.kid}  ${k.alg}  ${k.status}  created ${new Date(k.created_at).toISOString()}`).join('\n'), keys);
      return 0;
    }
    console.error(`unknown command: ${[cmd, sub].filter(Boolean).join(' ')}\n\n${HELP}`);
    return 2;
  } finally {
    await ctx.close();
  }
}

if (import.meta.main) {
  main(process.argv.slice(2)).then((code) => { if (code >= 0) process.exit(code); }, (err) => {
    if (err instanceof ConfigError || err instanceof AppError) console.error(`error: ${err.message}`);
    else if ((err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) console.error(`error: ${(err as Error).message}\n\n${HELP}`);
    else console.error('error:', err);
    process.exit(1);
  });
}
