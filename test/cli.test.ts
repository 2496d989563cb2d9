import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

/*
 * The gatehouse CLI as an operator runs it: its own process against a data directory, human
 * output by default and JSON with --json, clear errors and exit codes.
 */
const run = promisify(execFile);
const MAIN = join(import.meta.dirname, '..', 'src', 'cli', 'main.ts');
let dir: string;
let env: NodeJS.ProcessEnv;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-cli-'));
  env = { ...process.env, NODE_ENV: 'test', GATEHOUSE_DATA_DIR: dir, GATEHOUSE_DATABASE_URL: `sqlite:${join(dir, 'gh.sqlite')}`, GATEHOUSE_LOG_LEVEL: 'silent' };
});
after(() => rmSync(dir, { recursive: true, force: true }));

const cli = (...args: string[]) => run(process.execPath, ['--no-node-snapshot', MAIN, ...args], { env });

test('migrate, clients create, users create: human output, --json, and a clear error for bad input', async () => {
  assert.match((await cli('migrate')).stdout, /applied \d+ migration/);
  assert.match((await cli('migrate', '--status')).stdout, /pending: 0/);
  const human = await cli('clients', 'create', '--name', 'My SPA', '--type', 'spa', '--callback', 'https://app-5173.example/cb');
  assert.match(human.stdout, /created spa client "My SPA"/);
  assert.match(human.stdout, /client_id:/);
  const m2m = JSON.parse((await cli('clients', 'create', '--name', 'Worker', '--type', 'non_interactive', '--json')).stdout);
  assert.ok(m2m.client_id && m2m.client_secret, 'the secret is shown once, at creation');
  const user = JSON.parse((await cli('users', 'create', '--email', 'Cli@Example.com', '--password', 'cli password 123', '--json')).stdout);
  assert.equal(user.email, 'cli@example.com');
  assert.equal(user.password_hash, undefined);
  const bad = await cli('clients', 'create', '--name', 'Bad', '--type', 'spa', '--callback', 'javascript:alert(1)').then(() => null, (e: { code: number; stderr: string }) => e);
  assert.ok(bad, 'a bad callback fails');
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /error: callbacks: .*absolute URL|error: callbacks:/);
  // A --grant with a typo fails before anything is created (it used to leave a client whose secret was never shown).
  const typo = await cli('clients', 'create', '--name', 'Half', '--type', 'non_interactive', '--grant', 'https://nowhere.example/:read').then(() => null, (e: { code: number; stderr: string }) => e);
  assert.equal(typo?.code, 1);
  assert.match(typo?.stderr ?? '', /no API with identifier "https:\/\/nowhere\.example\/"/);
  const listed = JSON.parse((await cli('clients', 'create', '--name', 'Probe', '--type', 'spa', '--callback', 'https://app-5173.example/cb', '--json')).stdout);
  assert.ok(listed.client_id);
  const { stdout: names } = await run(process.execPath, ['--no-node-snapshot', '--input-type=module', '-e', `
    import knex from 'knex';
    const db = knex({ client: 'better-sqlite3', connection: { filename: ${JSON.stringify(join(dir, 'gh.sqlite'))} }, useNullAsDefault: true });
    console.log((await db('clients').select('name')).map((r) => r.name).join(','));
    await db.destroy();`], { env, cwd: join(import.meta.dirname, '..') });
  assert.doesNotMatch(names, /Half/, 'no client was created');
  const unknown = await cli('frobnicate').then(() => null, (e: { code: number; stderr: string }) => e);
  assert.equal(unknown?.code, 2);
  assert.match(unknown?.stderr ?? '', /unknown command/);
});

test('migrate --down undoes the newest migration (or --steps N), never the whole database unless --all', async () => {
  // Regression: --down rolled every migration back, emptying the database, with no way to undo only an upgrade's.
  const own = mkdtempSync(join(tmpdir(), 'gatehouse-cli-down-'));
  try {
    const e = { ...env, GATEHOUSE_DATA_DIR: own, GATEHOUSE_DATABASE_URL: `sqlite:${join(own, 'gh.sqlite')}` };
    const c = (...args: string[]) => run(process.execPath, ['--no-node-snapshot', MAIN, ...args], { env: e });
    const applied = JSON.parse((await c('migrate', '--json')).stdout).applied as string[];
    await c('users', 'create', '--email', 'kept@example.com', '--password', 'kept password 123');
    assert.deepEqual(JSON.parse((await c('migrate', '--down', '--json')).stdout).rolled_back, applied.slice(-1));
    assert.deepEqual(JSON.parse((await c('migrate', '--down', '--steps', '2', '--json')).stdout).rolled_back, applied.slice(-3, -1).reverse());
    const bad = await c('migrate', '--down', '--steps', 'all').then(() => null, (err: { code: number; stderr: string }) => err);
    assert.equal(bad?.code, 1);
    assert.match(bad?.stderr ?? '', /--steps needs a whole number/);
    // Flags that do not go together are refused, not ignored (review: --steps without --down applied every pending migration).
    for (const args of [['--steps', '2'], ['--all'], ['--down', '--all', '--steps', '1']]) {
      const refused = await c('migrate', ...args).then(() => null, (err: { code: number; stderr: string }) => err);
      assert.equal(refused?.code, 1, args.join(' '));
      assert.match(refused?.stderr ?? '', /--steps|--all/);
    }
    assert.match((await c('migrate')).stdout, /applied 3 migration/);
    assert.match((await c('users', 'create', '--email', 'kept@example.com', '--password', 'kept password 123').then(() => '', (err: { stderr: string }) => err.stderr)), /already exists/, 'the user survived');
    assert.deepEqual(JSON.parse((await c('migrate', '--down', '--all', '--json')).stdout).rolled_back.length, applied.length);
  } finally {
    rmSync(own, { recursive: true, force: true });
  }
});

test('a start that fails after start-up (a signing key that does not open) leaves nothing running: the process ends by itself', async () => {
  // Regression (review): the mail queue's timer and the database stayed open, and a process
  // embedding Gatehouse never ended.
  const own = mkdtempSync(join(tmpdir(), 'gatehouse-cli-fail-'));
  try {
    const e = { ...env, GATEHOUSE_DATA_DIR: own, GATEHOUSE_DATABASE_URL: `sqlite:${join(own, 'gh.sqlite')}` };
    await run(process.execPath, ['--no-node-snapshot', MAIN, 'keys', 'list'], { env: e });
    const script = `
      import knex from 'knex';
      import { loadConfig } from './src/config/load.ts';
      import { createContext } from './src/context.ts';
      const db = knex({ client: 'better-sqlite3', connection: { filename: ${JSON.stringify(join(own, 'gh.sqlite'))} }, useNullAsDefault: true });
      await db('signing_keys').update({ private_jwk_sealed: 'garbage' });
      await db.destroy();
      await createContext(loadConfig({ env: process.env })).then(() => console.log('started'), (err) => console.log('refused:', err.message));`;
    const { stdout } = await run(process.execPath, ['--no-node-snapshot', '--input-type=module', '-e', script], { env: e, cwd: join(import.meta.dirname, '..'), timeout: 20_000 });
    assert.match(stdout, /^refused: /m, 'the start fails, and the process then ends on its own (else the 20 s timeout kills it)');
  } finally {
    rmSync(own, { recursive: true, force: true });
  }
});

test('a start whose port is taken says EADDRINUSE and leaves nothing running: the process ends by itself', async () => {
  // Regression: the context (database, mail queue timer) stayed open after listen() failed.
  const own = mkdtempSync(join(tmpdir(), 'gatehouse-cli-port-'));
  try {
    const e = { ...env, GATEHOUSE_DATA_DIR: own, GATEHOUSE_DATABASE_URL: `sqlite:${join(own, 'gh.sqlite')}` };
    const script = `
      import { createServer } from 'node:net';
      import { loadConfig } from './src/config/load.ts';
      import { startServer } from './src/server.ts';
      const blocker = createServer();
      await new Promise((r) => blocker.listen(0, '127.0.0.1', r));
      const port = blocker.address().port;
      const config = loadConfig({ env: process.env, overrides: { port, issuer: 'http://127.0.0.1:' + port } });
      await startServer(config, { host: '127.0.0.1' }).then(() => console.log('started'), (err) => console.log('refused:', err.code));
      blocker.close();`;
    const { stdout } = await run(process.execPath, ['--no-node-snapshot', '--input-type=module', '-e', script], { env: e, cwd: join(import.meta.dirname, '..'), timeout: 20_000 });
    assert.match(stdout, /^refused: EADDRINUSE$/m, 'the start fails, and the process then ends on its own (else the 20 s timeout kills it)');
  } finally {
    rmSync(own, { recursive: true, force: true });
  }
});

test('clients create --grant: audiences and scopes that hold colons, as the README writes them', async () => {
  // Regression: the value was split at its last colon, so `https://api.example.com:read:invoices,write:invoices`
  // looked for an API named "https://api.example.com:read:invoices,write" and failed.
  await cli('migrate');
  const { loadConfig } = await import('../src/config/load.ts');
  const { createContext } = await import('../src/context.ts');
  const ctx = await createContext(loadConfig({ env }), { migrate: false });
  try {
    await ctx.resourceServers.create({ name: 'Invoices', identifier: 'https://api.example.com', scopes: [{ value: 'read:invoices', description: 'r' }, { value: 'write:invoices', description: 'w' }] });
    await ctx.resourceServers.create({ name: 'Ported', identifier: 'https://api.example.com:8443', scopes: [{ value: 'read', description: 'r' }] });
    await ctx.resourceServers.create({ name: 'Urn', identifier: 'urn:acme:billing', scopes: [{ value: 'bill:all', description: 'b' }] });
  } finally {
    await ctx.close();
  }
  const made = JSON.parse((await cli('clients', 'create', '--name', 'Billing', '--type', 'non_interactive', '--json',
    '--grant', 'https://api.example.com:read:invoices,write:invoices',
    '--grant', 'https://api.example.com:8443:read',
    '--grant', 'urn:acme:billing:bill:all')).stdout);
  const grants = Object.fromEntries((made.client_grants as { audience: string; scope: string[] }[]).map((g) => [g.audience, g.scope]));
  assert.deepEqual(grants, { 'https://api.example.com': ['read:invoices', 'write:invoices'], 'https://api.example.com:8443': ['read'], 'urn:acme:billing': ['bill:all'] });
  const human = await cli('clients', 'create', '--name', 'Reader', '--type', 'non_interactive', '--grant', 'https://api.example.com');
  assert.match(human.stdout, /granted https:\/\/api\.example\.com: \(no scopes\)/);
  const wrong = await cli('clients', 'create', '--name', 'Wrong', '--type', 'non_interactive', '--grant', 'https://api.example.com:read:invoices,delete:invoices').then(() => null, (e: { code: number; stderr: string }) => e);
  assert.equal(wrong?.code, 1);
  assert.match(wrong?.stderr ?? '', /https:\/\/api\.example\.com defines no scope delete:invoices/);
});

test('clients create --device: a native application for the device flow; on another type a usage error', async () => {
  await cli('migrate');
  const tv = JSON.parse((await cli('clients', 'create', '--name', 'TV', '--type', 'native', '--device', '--json')).stdout);
  assert.deepEqual(tv.grant_types, ['urn:ietf:params:oauth:grant-type:device_code', 'refresh_token']);
  assert.equal(tv.client_secret, undefined, 'a public client');
  const both = JSON.parse((await cli('clients', 'create', '--name', 'Phone', '--type', 'native', '--device', '--callback', 'com.example.phone:/cb', '--json')).stdout);
  assert.deepEqual(both.grant_types, ['authorization_code', 'urn:ietf:params:oauth:grant-type:device_code', 'refresh_token']);
  const spa = await cli('clients', 'create', '--name', 'No', '--type', 'spa', '--device').then(() => null, (e: { code: number; stderr: string }) => e);
  assert.equal(spa?.code, 1);
  assert.match(spa?.stderr ?? '', /--device is for --type native/);
});

test('help, version and unknown commands answer without touching a database; bad --type and --json errors are clear', async () => {
  // Regression: an unknown command (or --help/--version first) opened the database, migrated it
  // and wrote a secrets key into the data directory before saying "unknown command".
  const fresh = join(dir, 'never-created');
  const clean = { ...env, GATEHOUSE_DATA_DIR: fresh, GATEHOUSE_DATABASE_URL: `sqlite:${join(fresh, 'gh.sqlite')}` };
  const inFresh = (...args: string[]) => run(process.execPath, ['--no-node-snapshot', MAIN, ...args], { env: clean }).then((r) => ({ code: 0, ...r }), (e: { code: number; stdout: string; stderr: string }) => e);
  const help = await inFresh('--help');
  assert.equal(help.code, 0);
  assert.match(help.stdout, /Usage: gatehouse <command>/);
  const version = await inFresh('--version');
  assert.equal(version.code, 0);
  assert.equal(version.stdout.trim(), JSON.parse(readFileSync(join(import.meta.dirname, '..', 'package.json'), 'utf8')).version);
  for (const args of [['bogus'], ['clients', 'frobnicate'], ['keys']]) {
    const r = await inFresh(...args);
    assert.equal(r.code, 2, args.join(' '));
    assert.match(r.stderr, /unknown command/);
  }
  assert.equal(existsSync(fresh), false, 'no data directory was created');

  const badType = await cli('clients', 'create', '--name', 'Typo', '--type', 'spaa').then(() => null, (e: { code: number; stderr: string }) => e);
  assert.equal(badType?.code, 1);
  assert.match(badType?.stderr ?? '', /^error: --type must be one of spa, regular_web, non_interactive, native, got "spaa"/);
  const jsonErr = await cli('users', 'create', '--json').then(() => null, (e: { code: number; stdout: string; stderr: string }) => e);
  assert.equal(jsonErr?.code, 1);
  assert.equal(jsonErr?.stdout, '');
  assert.deepEqual(JSON.parse(jsonErr?.stderr ?? ''), { error: 'usage', message: 'users create needs --email' });
});

test('actions test runs a file locally in the sandbox; deploy and bind set up a trigger; logs list executions', async () => {
  const file = join(dir, 'tier.js');
  writeFileSync(file, `
    exports.onExecuteCredentialsExchange = async (event, api) => {
      console.log('client', event.client.client_id);
      api.accessToken.setCustomClaim('https://example.com/tier', event.secrets.TIER);
      api.accessToken.setCustomClaim('sub', 'nope');
    };`);
  const local = await cli('actions', 'test', file, '--event', '{"client":{"client_id":"abc"}}', '--secret', 'TIER=gold');
  assert.match(local.stdout, /tier\.js on credentials-exchange: ok/);
  assert.match(local.stdout, /api\.accessToken\.setCustomClaim\("https:\/\/example\.com\/tier", "gold"\)/);
  assert.match(local.stdout, /setCustomClaim\("sub", "nope"\)\s+REFUSED: claim "sub" is reserved/);
  assert.match(local.stdout, /client abc/);
  const json = JSON.parse((await cli('actions', 'test', file, '--event', '{"client":{"client_id":"abc"}}', '--secret', 'TIER=gold', '--json')).stdout);
  assert.equal(json.status, 'ok');
  assert.equal(json.commands.length, 2);

  // A deny with a code credentials-exchange does not have: the server fails the token request
  // closed. Regression: the test loop reported the action's own status, "denied", and exit 0.
  const badDeny = join(dir, 'bad-deny.js');
  writeFileSync(badDeny, `exports.onExecuteCredentialsExchange = async (event, api) => { api.access.deny('unauthorized_client', 'no'); };`);
  const refused = await cli('actions', 'test', badDeny, '--event', '{}').then(() => null, (e: { code: number; stdout: string }) => e);
  assert.equal(refused?.code, 1);
  assert.match(refused?.stdout ?? '', /bad-deny\.js on credentials-exchange: failed/);
  assert.match(refused?.stdout ?? '', /the server would fail this credentials-exchange closed: its api\.access\.deny call is refused/);

  // A valid deny, then a call the server would refuse: the server denies (the merge ignores what
  // follows a deny but metadata), so the test loop says denied, not failed.
  const denyThenBad = join(dir, 'deny-then-bad.js');
  writeFileSync(denyThenBad, `exports.onExecutePostLogin = async (event, api) => { api.access.deny('no'); api.redirect.sendUserTo('http://evil.example/'); api.user.setAppMetadata('seen', 1); };`);
  const denied = await cli('actions', 'test', denyThenBad, '--event', '{"user":{"user_id":"u1","app_metadata":{}}}');
  assert.match(denied.stdout, /deny-then-bad\.js on post-login: denied/);
  assert.match(denied.stdout, /sendUserTo\("http:\/\/evil\.example\/"\)\s+\(ignored after the deny\)/);
  assert.doesNotMatch(denied.stdout, /would fail/);
  // api.session.revoke denies too: the same in the test loop.
  const revokeThenBad = join(dir, 'revoke-then-bad.js');
  writeFileSync(revokeThenBad, `exports.onExecutePostLogin = async (event, api) => { api.session.revoke('stolen'); api.redirect.sendUserTo('http://evil.example/'); };`);
  const revoked = await cli('actions', 'test', revokeThenBad, '--event', '{"user":{"user_id":"u1","app_metadata":{}},"session":{"id":"s1"}}');
  assert.match(revoked.stdout, /revoke-then-bad\.js on post-login: denied/);
  assert.match(revoked.stdout, /sendUserTo\("http:\/\/evil\.example\/"\)\s+\(ignored after the deny\)/);

  const broken = join(dir, 'broken.js');
  writeFileSync(broken, 'exports.onExecutePostLogin = async (event, api) => { while(true){} };');
  const timeout = await cli('actions', 'test', broken, '--event', '{}').then(() => null, (e: { code: number; stdout: string }) => e);
  assert.equal(timeout?.code, 1, 'a failing action exits non-zero');
  assert.match(timeout?.stdout ?? '', /timeout/);

  const dep = await cli('actions', 'deploy', file, '--trigger', 'credentials-exchange', '--secret', 'TIER=silver');
  assert.match(dep.stdout, /created action "tier".*\n.*deployed version 1 with secrets TIER/);
  const dep2 = await cli('actions', 'deploy', file, '--trigger', 'credentials-exchange');
  assert.match(dep2.stdout, /updated action "tier".*\n.*deployed version 2/);
  // --json names the version just deployed as the action's (regression: it showed the one before).
  const dep3 = JSON.parse((await cli('actions', 'deploy', file, '--trigger', 'credentials-exchange', '--json')).stdout) as { action: { deployed_version?: { number?: number; id?: string } }; version: { number: number; id: string } };
  assert.equal(dep3.version.number, 3);
  assert.equal(dep3.action.deployed_version?.number, 3, JSON.stringify(dep3.action.deployed_version));
  // The same name for another trigger, or a trigger that does not exist: refused, nothing deployed.
  const other = await cli('actions', 'deploy', file, '--trigger', 'post-login').then(() => null, (e: { code: number; stderr: string }) => e);
  assert.equal(other?.code, 1);
  assert.match(other?.stderr ?? '', /exists for credentials-exchange, not post-login/);
  const bogus = await cli('actions', 'deploy', file, '--trigger', 'bogus').then(() => null, (e: { code: number; stderr: string }) => e);
  assert.equal(bogus?.code, 1);
  assert.match(bogus?.stderr ?? '', /needs --trigger: post-login/);
  assert.match((await cli('actions', 'bind', 'credentials-exchange', 'tier')).stdout, /credentials-exchange now runs: 1\. tier/);
  const missing = await cli('actions', 'bind', 'credentials-exchange', 'nope').then(() => null, (e: { stderr: string }) => e);
  assert.match(missing?.stderr ?? '', /no action with name "nope"/);
  assert.match((await cli('actions', 'bind', 'credentials-exchange')).stdout, /runs no actions/);
  assert.equal((await cli('actions', 'logs')).stdout, '', 'nothing ran yet');
});

test('bin/gatehouse start: a SIGTERM to the shim reaches the server, which shuts down and exits 0', async () => {
  // Regression: the shim ran the CLI with spawnSync and did not pass signals on: the shim died
  // and the server went on running (no graceful shutdown, the port kept).
  const { spawn } = await import('node:child_process');
  const { freePort } = await import('./helpers/server.ts');
  const port = await freePort();
  const shim = spawn(process.execPath, [join(import.meta.dirname, '..', 'bin', 'gatehouse.js'), 'start'], {
    env: { ...env, PORT: String(port), GATEHOUSE_ISSUER: `http://127.0.0.1:${port}`, GATEHOUSE_LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  shim.stdout.on('data', (c) => { output += c; });
  shim.stderr.on('data', (c) => { output += c; });
  try {
    for (let i = 0; ; i++) {
      if (i > 300) throw new Error(`the server did not start:\n${output}`);
      const ok = await fetch(`http://127.0.0.1:${port}/.well-known/openid-configuration`).then((r) => r.ok, () => false);
      if (ok) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => shim.on('exit', (code, signal) => resolve({ code, signal })));
    shim.kill('SIGTERM');
    const { code } = await exited;
    assert.equal(code, 0, output);
    const stillUp = await fetch(`http://127.0.0.1:${port}/.well-known/openid-configuration`).then(() => true, () => false);
    assert.equal(stillUp, false, 'the server is gone with the shim');
  } finally {
    shim.kill('SIGKILL');
  }
});

test('actions logs --follow shows every new execution once, however many land in one poll', async () => {
  // Regression: each poll read only the newest 20 and moved on, so a burst of more was cut.
  const { spawn } = await import('node:child_process');
  const follower = spawn(process.execPath, ['--no-node-snapshot', MAIN, 'actions', 'logs', '--follow', '--json'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  follower.stdout.on('data', (c) => { out += c; });
  try {
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('the follower did not start')), 20_000);
      follower.stderr.on('data', (c) => { if (String(c).includes('following new executions')) { clearTimeout(t); resolve(); } });
    });
    const now = Date.now();
    const rows = Array.from({ length: 45 }, (_, i) => ({ id: `exe_burst_${String(i).padStart(3, '0')}`, trigger_id: 'credentials-exchange', status: 'final', results: '[]', created_at: now }));
    await run(process.execPath, ['--no-node-snapshot', '--input-type=module', '-e', `
      import knex from 'knex';
      const db = knex({ client: 'better-sqlite3', connection: { filename: ${JSON.stringify(join(dir, 'gh.sqlite'))} }, useNullAsDefault: true });
      await db('action_executions').insert(${JSON.stringify(rows)});
      await db.destroy();`], { env, cwd: join(import.meta.dirname, '..') });
    for (let i = 0; i < 100 && (out.match(/exe_burst_/g) ?? []).length < 45; i++) await new Promise((r) => setTimeout(r, 100));
    await new Promise((r) => setTimeout(r, 1500)); // one more poll: nothing twice
    const ids = out.split('\n').filter(Boolean).map((l) => JSON.parse(l).id as string).filter((id) => id.startsWith('exe_burst_'));
    assert.equal(ids.length, 45, `shown: ${ids.length}`);
    assert.equal(new Set(ids).size, 45);
  } finally {
    follower.kill('SIGKILL');
  }
});

test('actions logs shows the calls the server refused next to their action', async () => {
  // Regression (compatibility probe): a refused call (a reserved claim) showed only "ok", so
  // nothing said why the claim never reached the token; only the Management API record did.
  await cli('migrate'); // idempotent: this test may run alone
  const { compactResults } = await import('../src/actions/engine/execution-record.ts');
  const results = compactResults([{ name: 'claims', key: 'v1', status: 'ok', startedAt: Date.now(), durationMs: 1.5, logs: 'hello\n', rejected: ['claim "sub" is reserved and cannot be set by an action'] }]);
  const row = { id: 'exe_refused_001', trigger_id: 'post-login', status: 'final', results, created_at: Date.now() };
  await run(process.execPath, ['--no-node-snapshot', '--input-type=module', '-e', `
    import knex from 'knex';
    const db = knex({ client: 'better-sqlite3', connection: { filename: ${JSON.stringify(join(dir, 'gh.sqlite'))} }, useNullAsDefault: true });
    await db('action_executions').insert(${JSON.stringify(row)});
    await db.destroy();`], { env, cwd: join(import.meta.dirname, '..') });
  const out = (await cli('actions', 'logs', '--trigger', 'post-login')).stdout;
  assert.match(out, /exe_refused_001\n {2}- claims: ok in 1\.5 ms\n {6}REFUSED: claim "sub" is reserved and cannot be set by an action\n {6}hello\n/);
});

test('users import: Auth0\'s bulk import file from the command line, with a summary and each failure', async () => {
  const { default: bcrypt } = await import('bcryptjs');
  const file = join(dir, 'auth0-users.json');
  writeFileSync(file, JSON.stringify([
    { email: 'imported.cli@example.com', user_id: 'cli-1', password_hash: await bcrypt.hash('an imported password', 4), email_verified: true },
    { email: 'no-hash.cli@example.com', mfa_factors: [{ totp: { secret: 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP' } }] },
    { email: 'broken.cli@example.com', password_hash: 'md5:abc' },
  ]));
  const human = await cli('users', 'import', file);
  assert.match(human.stdout, /2 inserted, 0 updated, 1 failed of 3/);
  assert.match(human.stdout, /broken\.cli@example\.com: INVALID_FORMAT password_hash: is not a bcrypt hash/);
  assert.match(human.stdout, /replaced by argon2id at each user's next sign-in/);
  // The authenticator came along, confirmed, with the user.
  const { default: Database } = await import('better-sqlite3');
  const sqlite = new Database(join(dir, 'gh.sqlite'), { readonly: true });
  try {
    const factors = sqlite.prepare('select f.type, f.confirmed from mfa_factors f join users u on u.id = f.user_id where u.email = ?').all('no-hash.cli@example.com');
    assert.deepEqual(factors, [{ type: 'otp', confirmed: 1 }]);
  } finally { sqlite.close(); }
  // Again: all three exist or fail, nothing imported, exit 1; --upsert updates the two.
  const again = await cli('users', 'import', file, '--json').then(() => null, (e: { code: number; stdout: string }) => e);
  assert.equal(again?.code, 1);
  assert.deepEqual(JSON.parse(again!.stdout).summary, { total: 3, inserted: 0, updated: 0, failed: 3 });
  const upsert = JSON.parse((await cli('users', 'import', file, '--upsert', '--json')).stdout);
  assert.deepEqual(upsert.summary, { total: 3, inserted: 0, updated: 2, failed: 1 });
  const missing = await cli('users', 'import', join(dir, 'nope.json')).then(() => null, (e: { code: number; stderr: string }) => e);
  assert.equal(missing?.code, 1);
  assert.match(missing?.stderr ?? '', /cannot read \S*nope\.json: no such file/);
  assert.doesNotMatch(missing?.stderr ?? '', /at readFileSync/, 'a message, not a stack');
});

test('users export: CSV or NDJSON to stdout or a file (gzip when .gz), the fields asked for, and clear errors', async () => {
  const { gunzipSync } = await import('node:zlib');
  const csv = await cli('users', 'export', '--format', 'csv', '--field', 'email', '--field', 'email_verified=verified');
  const rows = csv.stdout.split('\r\n');
  assert.equal(rows[0], '"email","verified"');
  assert.ok(rows.includes('"imported.cli@example.com","true"'), csv.stdout);
  assert.match(csv.stderr, /exported \d+ users as CSV/);
  const file = join(dir, 'users.ndjson.gz');
  const written = await cli('users', 'export', '--out', file);
  assert.match(written.stdout, new RegExp(`exported \\d+ users as NDJSON to ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
  const text = gunzipSync(readFileSync(file)).toString('utf8');
  const users = text.trimEnd().split('\n').map((l) => JSON.parse(l));
  assert.ok(users.some((u) => u.email === 'imported.cli@example.com' && u.user_id === 'auth0|cli-1'));
  assert.doesNotMatch(text, /password_hash|\$2[aby]\$|\$argon2/, 'no password hash');
  const badField = await cli('users', 'export', '--field', 'password_hash').then(() => null, (e: { code: number; stderr: string }) => e);
  assert.equal(badField?.code, 1);
  assert.match(badField?.stderr ?? '', /--field #1\.name: "password_hash" is not a user property that can be exported/);
  const badFormat = await cli('users', 'export', '--format', 'xml').then(() => null, (e: { code: number; stderr: string }) => e);
  assert.match(badFormat?.stderr ?? '', /format: .*\(json or csv\)/);
});
