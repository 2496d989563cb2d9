import { parseArgs } from 'node:util';
import { importUsers, parseImportFile } from '../users/import.ts';
import { loadConfig, ConfigError } from '../config/load.ts';
import { createContext } from '../context.ts';
import { openDatabase } from '../db/knex.ts';
import { migrateDown, migrateLatest, migrateRollbackAll, migrationStatus } from '../db/migrate.ts';
import { startServer } from '../server.ts';
import { createLogger } from '../shared/logger.ts';
import { AppError } from '../shared/errors.ts';
import { DEVICE_CODE_GRANT, type AppType } from '../clients/clients.ts';
import type { Config } from '../config/schema.ts';
import { createWriteStream, readFileSync } from 'node:fs';
import { createGunzip } from 'node:zlib';
import { buildUserExport, exportBody, exportFields } from '../users/export.ts';
import { basename } from 'node:path';
import { compileAction } from '../actions/compile.ts';
import { createSandboxPool } from '../actions/sandbox/index.ts';
import { AFTER_DENY, DENY_CALLS, FAIL_CLOSED_WHEN_REFUSED, isTriggerId, TRIGGERS, validateCommand } from '../actions/triggers/definitions.ts';

/**
 * `--grant <audience>:<scope>,<scope>…`, or the audience alone. Audiences hold colons
 * (`https://api.example.com`, `urn:my:api`) and so do scopes (`read:invoices`), so no one colon
 * splits every value: each colon is tried as the end of the audience, and the longest prefix that
 * is a registered API's identifier wins (the whole value first: an audience with no scopes), so
 * `https://h:8443:read` goes to `https://h:8443` when both it and `https://h` are APIs. When no
 * prefix is one, `tried` names the likeliest audience for the message. `findApi` looks an
 * identifier up; the API it found comes back with the scopes.
 */
async function resolveGrant<A>(g: string, findApi: (identifier: string) => Promise<A | undefined>): Promise<{ api: A; audience: string; scope: string[] } | { tried: string }> {
  const whole = await findApi(g);
  if (whole) return { api: whole, audience: g, scope: [] };
  for (let i = g.lastIndexOf(':'); i > 0; i = g.lastIndexOf(':', i - 1)) {
    const audience = g.slice(0, i);
    const api = await findApi(audience);
    if (api) return { api, audience, scope: g.slice(i + 1).split(',').map((x) => x.trim()).filter(Boolean) };
  }
  // Nothing matched: name the part before the first colon after the scheme's (what a reader means by the audience).
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(g)?.[0].length ?? 0;
  const cut = g.indexOf(':', scheme);
  return { tried: cut > 0 ? g.slice(0, cut) : g };
}

function parseSecrets(list: string[] | undefined) {
  return (list ?? []).map((kv) => {
    const i = kv.indexOf('=');
    if (i < 1) throw new AppError(400, 'usage', `--secret wants NAME=value, got "${kv.slice(0, 20)}"`);
    return { name: kv.slice(0, i), value: kv.slice(i + 1) };
  });
}

/**
 * `gatehouse actions test`: the local test loop. Compiles the file and runs it once in the
 * same sandbox the server uses, on the given event; no database, no server.
 */
async function actionsTest(file: string | undefined, values: { event?: string; trigger?: string; secret?: string[] }, out: Out, config: Config): Promise<number> {
  if (!file || !values.event) throw new AppError(400, 'usage', 'actions test needs a file and --event <json or @file>');
  const code = readInput(file).toString('utf8');
  const c = await compileAction(code);
  if (!c.ok) throw new AppError(400, 'invalid_code', c.message);
  const eventText = values.event.startsWith('@') ? readInput(values.event.slice(1)).toString('utf8') : values.event;
  let event: Record<string, unknown>;
  try { event = JSON.parse(eventText); } catch { throw new AppError(400, 'usage', '--event is not valid JSON'); }
  const triggerId = values.trigger ?? Object.values(TRIGGERS).find((t) => new RegExp(`\\b${t.handler}\\b`).test(code))?.id;
  if (!isTriggerId(triggerId)) throw new AppError(400, 'usage', 'could not tell the trigger from the code: pass --trigger');
  const def = TRIGGERS[triggerId];
  const pool = createSandboxPool({ workers: 1, fetchAllow: config.actions.fetchAllow, issuer: config.issuer });
  try {
    const a = config.actions;
    const res = await pool.runChain({
      handler: def.handler, actions: [{ key: `cli:${Date.now()}`, name: basename(file), code: c.compiled, secrets: Object.fromEntries(parseSecrets(values.secret).map((s) => [s.name, s.value])) }],
      event, apiMethods: def.apiMethods, stopOn: def.stopOn, unsupportedMethods: def.unsupported ?? [], redirect: { canRedirect: triggerId === 'post-login', state: 'local-test-state', issuer: config.issuer },
      limits: { actionTimeoutMs: a.actionTimeoutMs, chainTimeoutMs: a.chainTimeoutMs, memoryMb: a.memoryMb, consoleBytes: a.consoleBytes, resultBytes: a.resultBytes },
    });
    const r = res.results[0];
    // As the server's merge reads them: after a valid deny (or validation error) only the calls
    // that change the user or the cache still count; the rest are ignored, refused or not.
    let stopped = false;
    const commands = (r?.commands ?? []).map((cmd) => {
      if (stopped && !AFTER_DENY.has(cmd.type)) return { ...cmd, refused: undefined as string | undefined, ignored: 'after the deny' };
      const refused = validateCommand(def, cmd.type, cmd.args, { claimsBytes: a.claimsBytes, redirectAllowHttpLocalhost: a.redirectAllowHttpLocalhost, redirectAllow: a.redirectAllow }) ?? undefined;
      if (!refused && (DENY_CALLS.has(cmd.type) || cmd.type === 'validation.error')) stopped = true;
      return { ...cmd, refused };
    });
    // A refused deny, redirect or second factor fails a blocking flow closed on the server
    // (engine.ts): say so, rather than report the action's own status ('denied') as the outcome.
    const failClosed = def.blocking ? commands.find((x) => x.refused && FAIL_CLOSED_WHEN_REFUSED.has(x.type)) : undefined;
    const status = failClosed ? 'failed' : r?.status ?? 'ok';
    const human = [
      `${basename(file)} on ${triggerId}: ${status} in ${(r?.durationMs ?? 0).toFixed(2)} ms (${r?.cpuMicros ?? 0} µs CPU)`,
      ...(failClosed ? [`the server would fail this ${triggerId} closed: its api.${failClosed.type} call is refused (${failClosed.refused})`] : []),
      ...(r?.error ? [`error: ${r.error.name}: ${r.error.message}`] : []),
      ...(commands.length ? ['commands:', ...commands.map((x) => `  api.${x.type}(${x.args.map((v) => JSON.stringify(v)).join(', ')})${x.refused ? `  REFUSED: ${x.refused}` : ''}${'ignored' in x ? `  (ignored ${x.ignored})` : ''}`)] : ['commands: none']),
      ...(r?.logs ? ['console:', ...r.logs.split('\n').filter(Boolean).map((l) => `  ${l}`)] : []),
    ].join('\n');
    print(out, human, { status, action_status: r?.status ?? 'ok', commands, logs: r?.logs ?? '', error: r?.error, duration_ms: r?.durationMs, cpu_micros: r?.cpuMicros });
    return failClosed || (r && r.status !== 'ok' && r.status !== 'denied') ? 1 : 0;
  } finally {
    await pool.close();
  }
}

const HELP = `gatehouse: self-hosted OpenID Connect server with Actions

Usage: gatehouse <command> [options]

  start                                  migrate, then serve (PORT, GATEHOUSE_* variables)
  migrate [--status]                     apply (or list) database migrations
  migrate --down [--steps N | --all]     undo the newest migration, the newest N, or all (back up first)
  clients create --name N --type spa|regular_web|non_interactive|native
                 [--callback URL]... [--logout-url URL]... [--web-origin URL]...
                 [--grant AUDIENCE:scope1,scope2]   (M2M: allow these API scopes)
                 [--device]                         (native: sign in with a code shown on the device, RFC 8628)
  users create --email E [--password P] [--verified]
  users import <file.json> [--upsert]    users in Auth0's bulk import format, with their password
                                         hashes (bcrypt, argon2); prints the summary and each failure
  users export [--format json|csv] [--field NAME[=AS]]... [--limit N] [--out FILE]
                                         every user (NDJSON or CSV, as the Management API's export job);
                                         to stdout, or to FILE (gzip when it ends in .gz)
  keys rotate                            new signing keys; old ones stay published until tokens expire
  keys list
  actions deploy <file> --trigger <id> [--name N] [--secret K=V]...
                                         create or update the action from a .js/.ts file, then deploy it
  actions bind <trigger> <name>...       set the trigger's chain, in this order (no names: unbind all)
  actions test <file> --event <json|@file> [--trigger <id>] [--secret K=V]...
                                         run locally in the same sandbox; prints commands, logs, timing
  actions logs [--follow] [--trigger <id>]
                                         recent executions (and new ones as they happen with --follow)

Options: --json prints machine-readable output, errors included (as JSON on stderr). Through npm,
add -s so that npm prints nothing of its own: npm run -s cli -- users create … --json.`;

/** A file the user named: its bytes, or a usage error that says why it cannot be read (no stack). */
function readInput(file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new AppError(400, 'usage', `cannot read ${file}: ${code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a directory' : code === 'EACCES' ? 'permission denied' : (e as Error).message}`);
  }
}

type Out = { json: boolean };
function print(out: Out, human: string, data: unknown) {
  process.stdout.write(out.json ? `${JSON.stringify(data, null, 2)}\n` : `${human}\n`);
}

/** Commands that take a subcommand, and theirs: anything else is refused before the database is opened. */
const COMMANDS: Record<string, string[] | null> = {
  start: null, migrate: null, clients: ['create'], users: ['create', 'import', 'export'], keys: ['rotate', 'list'], actions: ['deploy', 'bind', 'test', 'logs'],
};
const APP_TYPES: AppType[] = ['spa', 'regular_web', 'non_interactive', 'native'];

function version(): string {
  return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

export async function main(argv: string[]): Promise<number> {
  if (argv[0] === '--help' || argv[0] === '-h') { console.log(HELP); return 0; }
  if (argv[0] === '--version' || argv[0] === '-v' || argv[0] === 'version') { console.log(version()); return 0; }
  const [cmd, sub, ...rest] = argv;
  if (cmd !== undefined && cmd !== 'help') {
    const subs = COMMANDS[cmd];
    const known = Object.hasOwn(COMMANDS, cmd) && (subs === null || (sub !== undefined && subs.includes(sub)) || argv.includes('--help') || argv.includes('-h'));
    if (!known) {
      console.error(`unknown command: ${[cmd, sub].filter(Boolean).join(' ')}\n\n${HELP}`);
      return 2;
    }
  }
  const { values, positionals } = parseArgs({
    args: cmd === 'start' || cmd === 'migrate' ? argv.slice(1) : rest,
    options: {
      json: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h' },
      down: { type: 'boolean' }, status: { type: 'boolean' }, steps: { type: 'string' }, all: { type: 'boolean' },
      name: { type: 'string' }, type: { type: 'string' }, callback: { type: 'string', multiple: true },
      'logout-url': { type: 'string', multiple: true }, 'web-origin': { type: 'string', multiple: true }, grant: { type: 'string', multiple: true }, device: { type: 'boolean' },
      email: { type: 'string' }, password: { type: 'string' }, verified: { type: 'boolean' }, upsert: { type: 'boolean' },
      trigger: { type: 'string' }, secret: { type: 'string', multiple: true }, event: { type: 'string' }, follow: { type: 'boolean' },
      format: { type: 'string' }, field: { type: 'string', multiple: true }, limit: { type: 'string' }, out: { type: 'string' },
    },
    allowPositionals: true, strict: true,
  });
  const out: Out = { json: !!values.json };
  if (!cmd || values.help || cmd === 'help') { console.log(HELP); return 0; }

  const config = loadConfig();
  const logger = createLogger(out.json ? 'warn' : config.logLevel, (l) => process.stderr.write(l));

  if (cmd === 'start') {
    const s = await startServer(config, { logger: createLogger(config.logLevel) });
    s.ctx.logger.info({ issuer: config.issuer, port: config.port, database: config.databaseUrl.split(':')[0], argon2_at_once: s.ctx.hasher.concurrency }, `Gatehouse listening on port ${config.port} (issuer ${config.issuer})`);
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
    if ((values.steps !== undefined || values.all) && !values.down) throw new AppError(400, 'usage', '--steps and --all go with migrate --down');
    if (values.steps !== undefined && values.all) throw new AppError(400, 'usage', 'migrate --down takes --steps N or --all, not both');
    const db = openDatabase(config.databaseUrl);
    const report = {
      waiting: (holder: string) => console.error(`waiting for another node to finish starting or migrating (${holder})…`),
      repaired: (what: string) => console.error(`repaired knex's migration lock: ${what}`),
    };
    try {
      if (values.status) {
        const st = await migrationStatus(db, report);
        print(out, `applied: ${st.done.length}, pending: ${st.pending.length}${st.pending.length ? ` (${st.pending.join(', ')})` : ''}`, st);
      } else if (values.down) {
        // The newest migration by default (`--steps N` for more): `--all` empties the database.
        const steps = values.steps === undefined ? 1 : Number(values.steps);
        if (!values.all && (!Number.isInteger(steps) || steps < 1)) throw new AppError(400, 'usage', 'migrate --down --steps needs a whole number of migrations, 1 or more');
        const undone = values.all ? await migrateRollbackAll(db, report) : await migrateDown(db, steps, report);
        print(out, undone.length ? `rolled back ${undone.length} migration(s): ${undone.join(', ')}` : 'nothing to roll back', { rolled_back: undone });
      } else {
        const applied = await migrateLatest(db, report);
        print(out, applied.length ? `applied ${applied.length} migration(s): ${applied.join(', ')}` : 'database is up to date', { applied });
      }
    } finally { await db.destroy(); }
    return 0;
  }

  if (cmd === 'actions' && sub === 'test') return actionsTest(positionals[0], values, out, config);

  const ctx = await createContext(config, { logger });
  try {
    if (cmd === 'clients' && sub === 'create') {
      if (!values.name || !values.type) throw new AppError(400, 'usage', 'clients create needs --name and --type');
      if (!APP_TYPES.includes(values.type as AppType)) throw new AppError(400, 'usage', `--type must be one of ${APP_TYPES.join(', ')}, got "${values.type.slice(0, 40)}"`);
      // Every --grant is checked before the client is created: a typo must not leave behind a
      // client whose secret was never shown.
      const wanted: { audience: string; scope: string[] }[] = [];
      for (const g of values.grant ?? []) {
        const found = await resolveGrant(g, async (id) => ctx.resourceServers.byIdentifier(id));
        if ('tried' in found) throw new AppError(400, 'usage', `--grant ${g}: no API with identifier "${found.tried}" (form: <audience>:<scope>,<scope>)`);
        const { api: rs, audience, scope } = found;
        const allowed = new Set(rs.scopes.map((x) => x.value));
        const unknown = scope.filter((x) => !allowed.has(x));
        if (unknown.length) throw new AppError(400, 'usage', `--grant ${g}: ${audience} defines no scope ${unknown.join(', ')} (it has: ${[...allowed].join(' ') || 'none'})`);
        wanted.push({ audience, scope });
      }
      if (values.device && values.type !== 'native') throw new AppError(400, 'usage', '--device is for --type native (the device flow is for native applications)');
      // A device without callbacks signs in with the device flow only (a TV); with callbacks, the code flow too.
      const grantTypes = values.device ? [...(values.callback?.length ? ['authorization_code'] : []), DEVICE_CODE_GRANT, 'refresh_token'] : undefined;
      const client = await ctx.clients.create({
        name: values.name, app_type: values.type as AppType, callbacks: values.callback, allowed_logout_urls: values['logout-url'], web_origins: values['web-origin'],
        ...(grantTypes ? { grant_types: grantTypes } : {}),
      });
      const grants = [];
      for (const g of wanted) grants.push(await ctx.resourceServers.grants.create({ client_id: client.client_id, ...g }));
      await ctx.audit.record({ type: 'sapi', description: 'Create a client (CLI)', client_id: client.client_id, details: { via: 'cli' } });
      print(out, [`created ${client.app_type} client "${client.name}"`, `client_id:     ${client.client_id}`,
        ...(client.client_secret ? [`client_secret: ${client.client_secret}   (shown once: store it now)`] : []),
        ...grants.map((g) => `granted ${g.audience}: ${g.scope.join(' ') || '(no scopes)'}`)].join('\n'), { ...client, client_grants: grants });
      return 0;
    }
    if (cmd === 'users' && sub === 'create') {
      if (!values.email) throw new AppError(400, 'usage', 'users create needs --email');
      const user = await ctx.users.create({ email: values.email, password: values.password, email_verified: !!values.verified });
      // post-user-registration, as for a sign-up; awaited here so it runs before the CLI exits.
      await ctx.events.userCreated(user);
      await ctx.audit.record({ type: 'sapi', description: 'Create a user (CLI)', user_id: user.user_id, details: { via: 'cli' } });
      print(out, `created user ${user.email} (${user.user_id})`, user);
      return 0;
    }
    if (cmd === 'users' && sub === 'export') {
      const fieldsAsked = values.field?.map((f) => { const i = f.indexOf('='); return i > 0 ? { name: f.slice(0, i), export_as: f.slice(i + 1) } : { name: f }; });
      if (values.limit !== undefined && !/^\d{1,8}$/.test(values.limit)) throw new AppError(400, 'usage', '--limit takes a number of users');
      const parsed = exportBody.safeParse({
        format: values.format ?? 'json', ...(fieldsAsked ? { fields: fieldsAsked } : {}), ...(values.limit !== undefined ? { limit: Number(values.limit) } : {}),
      });
      if (!parsed.success) {
        const i = parsed.error.issues[0];
        throw new AppError(400, 'usage', `users export: ${i.path.join('.') || 'options'}: ${i.message}${i.path[0] === 'format' ? ' (json or csv)' : ''}`);
      }
      const fields = exportFields(parsed.data);
      if ('error' in fields) throw new AppError(400, 'usage', `users export: ${fields.error.replace(/^fields\[(\d+)\]/, (_, n: string) => `--field #${Number(n) + 1}`)}`);
      // The export is gzip as made; a file not named .gz and stdout get it uncompressed.
      const toFile = values.out;
      const dest = toFile ? createWriteStream(toFile) : process.stdout;
      const gunzip = toFile?.endsWith('.gz') ? undefined : createGunzip();
      const into: NodeJS.WritableStream = gunzip ?? dest;
      if (gunzip) gunzip.pipe(dest, { end: !!toFile });
      const done = new Promise<void>((resolve, reject) => {
        dest.once('error', reject);
        gunzip?.once('error', reject);
        if (toFile) dest.once('close', () => resolve()); else gunzip!.once('end', () => resolve());
      });
      const r = await buildUserExport(ctx.db, parsed.data, fields, (piece) => new Promise<void>((resolve) => { if (into.write(piece)) resolve(); else into.once('drain', () => resolve()); }));
      into.end();
      await done;
      await ctx.audit.record({ type: 'sapi', description: 'Export users (CLI)', details: { via: 'cli', users: r.count, format: parsed.data.format, ...(toFile ? { file: basename(toFile) } : {}) } });
      const summary = `exported ${r.count} user${r.count === 1 ? '' : 's'} as ${parsed.data.format === 'csv' ? 'CSV' : 'NDJSON'}${toFile ? ` to ${toFile}` : ''}`;
      // With the users on stdout, what was done goes to stderr.
      if (toFile) print(out, summary, { exported: r.count, format: parsed.data.format, file: toFile });
      else if (!out.json) process.stderr.write(`${summary}\n`);
      return 0;
    }
    if (cmd === 'users' && sub === 'import') {
      const file = positionals[0];
      if (!file) throw new AppError(400, 'usage', 'users import needs a file (a JSON array in Auth0\'s bulk import format)');
      const list = parseImportFile(readInput(file));
      // Each set of hash parameters before its first user: running servers hold their password
      // checks to them at their next sweep.
      const seenClasses = new Set<string>();
      const r = await importUsers(ctx.users, list, {
        upsert: !!values.upsert,
        beforeInsert: async (hash) => {
          const c = ctx.hasher.classOf(hash);
          if (c && !seenClasses.has(c.key)) { seenClasses.add(c.key); await ctx.hashClasses.record([hash]); }
        },
        importTotp: (userId, secret, q) => ctx.mfa.importTotp(userId, secret, q),
        onFactor: (userId, outcome) => ctx.audit.record({ type: 'sapi', description: outcome === 'added' ? 'Add an authenticator (import, CLI)' : 'Replace an authenticator (import, CLI)', user_id: userId, details: { via: 'cli' } }),
        onUpdated: (before, after) => ctx.audit.record({ type: 'sapi', description: 'Update a user (import, CLI)', user_id: after.user_id, details: { via: 'cli', changed: Object.keys(after).filter((k) => JSON.stringify((before as unknown as Record<string, unknown>)[k]) !== JSON.stringify((after as unknown as Record<string, unknown>)[k]) && k !== 'updated_at') } }),
      });
      await ctx.audit.record({ type: 'sapi', description: 'Import users (CLI)', details: { via: 'cli', ...r.summary } });
      const lines = [`imported ${file}: ${r.summary.inserted} inserted, ${r.summary.updated} updated, ${r.summary.failed} failed of ${r.summary.total}`,
        ...r.errors.slice(0, 50).map((e) => `  ${String(e.user.email ?? e.user.user_id ?? '(no email)')}: ${e.errors.map((x) => `${x.code} ${x.message}`).join('; ')}`),
        ...(r.errors.length > 50 ? [`  … and ${r.errors.length - 50} more (--json lists them all)`] : []),
        ...(seenClasses.size ? ['imported password hashes are replaced by argon2id at each user\'s next sign-in; running servers adjust to them within 30 s'] : [])];
      print(out, lines.join('\n'), { summary: r.summary, errors: r.errors });
      return r.summary.failed > 0 && r.summary.inserted + r.summary.updated === 0 ? 1 : 0;
    }
    if (cmd === 'keys' && sub === 'rotate') {
      const added = await ctx.keys.rotate();
      await ctx.audit.record({ type: 'sapi', description: 'Rotate signing keys (CLI)', details: { kids: added.map((k) => k.kid) } });
      const when = added[0].activates_at > Date.now() + 500 ? `they sign from ${new Date(added[0].activates_at).toISOString()}, once every running server publishes them` : 'they sign now';
      print(out, `rotated signing keys: ${added.map((k) => `${k.alg} ${k.kid}`).join(', ')}\nrunning servers publish the new keys within 2 s and ${when}; previous keys stay in the JWKS until tokens they signed expire`, { added });
      return 0;
    }
    if (cmd === 'keys' && sub === 'list') {
      const keys = (await ctx.keys.list()).map(({ public_jwk: _p, ...k }) => k);
      print(out, keys.map((k) => `${k.kid}  ${k.alg}  ${k.status}${k.signing ? ' (signs)' : k.pending ? ` (signs from ${new Date(k.activates_at).toISOString()})` : ''}  created ${new Date(k.created_at).toISOString()}`).join('\n'), keys);
      return 0;
    }
    if (cmd === 'actions' && sub === 'deploy') {
      const file = positionals[0];
      if (!file) throw new AppError(400, 'usage', 'actions deploy needs a file');
      const trigger = values.trigger;
      if (!trigger || !isTriggerId(trigger)) throw new AppError(400, 'usage', `actions deploy needs --trigger: ${Object.keys(TRIGGERS).join(', ')}`);
      const name = values.name ?? basename(file).replace(/\.(m?[jt]s)$/, '');
      const code = readInput(file).toString('utf8');
      const secrets = parseSecrets(values.secret);
      const existing = await ctx.actions.store.findByName(name);
      const existingTrigger = (existing as { trigger_id?: string } | undefined)?.trigger_id;
      if (existing && existingTrigger !== trigger) {
        throw new AppError(400, 'usage', `action "${name}" exists for ${existingTrigger}, not ${trigger}: deploy it with --trigger ${existingTrigger}, or give the new one another --name`);
      }
      const draft = existing
        ? await ctx.actions.store.update(existing.id, { code, ...(secrets.length ? { secrets } : {}) })
        : await ctx.actions.store.create({ name, supported_triggers: [{ id: trigger }], code, secrets });
      const version = await ctx.actions.store.deploy(draft.id);
      // Read again after the deploy: the draft read before it names the version deployed before.
      const action = await ctx.actions.store.get(draft.id);
      await ctx.audit.record({ type: 'sapi', description: `Deploy an action (CLI, version ${version.number})`, details: { action: action.id, via: 'cli' } });
      print(out, `${existing ? 'updated' : 'created'} action "${name}" (${action.id}) for ${trigger}\ndeployed version ${version.number}${secrets.length ? ` with secrets ${secrets.map((x) => x.name).join(', ')}` : ''}\nbind it with: npx gatehouse actions bind ${trigger} ${name}`, { action: { ...action, code: undefined }, version: { ...version, code: undefined } });
      return 0;
    }
    if (cmd === 'actions' && sub === 'bind') {
      const [trigger, ...names] = positionals;
      if (!isTriggerId(trigger)) throw new AppError(400, 'usage', `actions bind needs a trigger: ${Object.keys(TRIGGERS).join(', ')}`);
      const bindings = await ctx.actions.store.setBindings(trigger, names.map((value) => ({ ref: { type: 'action_name' as const, value } })));
      await ctx.audit.record({ type: 'sapi', description: `Update the ${trigger} bindings (CLI)`, details: { actions: names, via: 'cli' } });
      print(out, bindings.length ? `${trigger} now runs: ${bindings.map((b, i) => `${i + 1}. ${b.action.name}`).join('  ')}` : `${trigger} runs no actions`, { bindings });
      return 0;
    }
    if (cmd === 'actions' && sub === 'logs') {
      if (values.trigger !== undefined && !isTriggerId(values.trigger)) throw new AppError(400, 'usage', `actions logs --trigger: one of ${Object.keys(TRIGGERS).join(', ')}`);
      // Following: every execution once, in the order they ran. Each poll reads from a little
      // before the newest one seen (records are written in batches, another node's may land a
      // moment late), page after page, and skips the ids already shown.
      const LOOKBACK_MS = 10_000;
      let newest = 0;
      const shown = new Map<string, number>();
      const print1 = (e: Awaited<ReturnType<typeof ctx.actions.store.executions>>[number]) => {
        const at = Date.parse(e.created_at);
        if (shown.has(e.id)) return;
        shown.set(e.id, at);
        newest = Math.max(newest, at);
        if (out.json) { process.stdout.write(`${JSON.stringify(e)}\n`); return; }
        process.stdout.write(`${e.created_at}  ${e.trigger_id}  ${e.status}  ${e.id}\n`);
        for (const r of e.results as { action_name: string; status: string; duration_ms: number; error?: { message: string } | null; logs: string; rejected_commands?: string[] }[]) {
          process.stdout.write(`  - ${r.action_name}: ${r.status} in ${r.duration_ms.toFixed(1)} ms${r.error ? ` (${r.error.message})` : ''}\n`);
          // A call the server refused is why a claim or a deny did not happen: said next to the action.
          for (const why of r.rejected_commands ?? []) process.stdout.write(`      REFUSED: ${why}\n`);
          for (const line of r.logs.split('\n').filter(Boolean)) process.stdout.write(`      ${line}\n`);
        }
      };
      // First the latest 20, oldest first.
      for (const e of (await ctx.actions.store.executions({ limit: 20, triggerId: values.trigger })).reverse()) print1(e);
      if (!values.follow) return 0;
      process.stderr.write('following new executions (Ctrl-C to stop)\n');
      for (;;) {
        await new Promise((r) => setTimeout(r, 1000));
        let from = Math.max(0, newest - LOOKBACK_MS);
        for (;;) {
          const page = await ctx.actions.store.executions({ limit: 200, from, oldestFirst: true, triggerId: values.trigger });
          for (const e of page) print1(e);
          if (page.length < 200) break;
          const last = Date.parse(page[page.length - 1].created_at);
          from = last > from ? last : from + 1;
        }
        for (const [id, at] of shown) if (at < newest - 2 * LOOKBACK_MS) shown.delete(id);
      }
    }
    console.error(`unknown command: ${[cmd, sub].filter(Boolean).join(' ')}\n\n${HELP}`);
    return 2;
  } finally {
    await ctx.close();
  }
}

if (import.meta.main) {
  const json = process.argv.includes('--json');
  main(process.argv.slice(2)).then((code) => { if (code >= 0) process.exit(code); }, (err) => {
    // With --json an error is JSON too (on stderr; stdout stays empty), for scripts that parse output.
    if (json && (err instanceof ConfigError || err instanceof AppError)) console.error(JSON.stringify({ error: err instanceof AppError ? err.errorCode : 'invalid_configuration', message: err.message }));
    else if (err instanceof ConfigError || err instanceof AppError) console.error(`error: ${err.message}`);
    else if ((err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) console.error(`error: ${(err as Error).message}\n\n${HELP}`);
    else console.error('error:', err);
    process.exit(1);
  });
}
