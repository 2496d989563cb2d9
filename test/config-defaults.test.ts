import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, ConfigError } from '../src/config/load.ts';
import { createSecretBox } from '../src/shared/secret-box.ts';
import { startTestServer, freePort, type TestServer } from './helpers/server.ts';
import { createAction } from './helpers/actions.ts';

/*
 * INTERFACES.md "Configuration": the defaults an empty environment gets, the argon2 floor, and
 * what a first start generates (the secrets key, the signing keys, sealed at rest) surviving a
 * restart on the same data directory.
 */

test('loadConfig with an empty environment gives INTERFACES.md\'s defaults', () => {
  const c = loadConfig({ env: {} });
  assert.equal(c.issuer, 'http://localhost:3000');
  assert.equal(c.port, 3000);
  assert.equal(c.databaseUrl, 'sqlite:./data/gatehouse.sqlite');
  assert.equal(c.dataDir, './data');
  assert.equal(c.smtpUrl, undefined, 'SMTP unset: mail goes to the log and the outbox');
  assert.equal(c.secretsKey, undefined, 'the secrets key is generated into the data dir, not configured');
  assert.equal(c.bootstrapAdmin.clientId, undefined);
  assert.equal(c.bootstrapAdmin.clientSecret, undefined);
  assert.deepEqual(c.actions.fetchAllow, []);
  assert.equal(c.nodeEnv, 'development');
  assert.equal(c.signup.enabled, true);
  // ACTIONS.md's limits, as configured by default.
  assert.deepEqual({
    actionTimeoutMs: c.actions.actionTimeoutMs, chainTimeoutMs: c.actions.chainTimeoutMs, memoryMb: c.actions.memoryMb,
    maxActionsPerTrigger: c.actions.maxActionsPerTrigger, maxSecrets: c.actions.maxSecrets, secretValueBytes: c.actions.secretValueBytes,
    maxVersions: c.actions.maxVersions, consoleBytes: c.actions.consoleBytes, executionRetentionDays: c.actions.executionRetentionDays, claimsBytes: c.actions.claimsBytes,
  }, {
    actionTimeoutMs: 5000, chainTimeoutMs: 20_000, memoryMb: 64, maxActionsPerTrigger: 20, maxSecrets: 30, secretValueBytes: 4096,
    maxVersions: 50, consoleBytes: 4096, executionRetentionDays: 10, claimsBytes: 16 * 1024,
  });
  // The OWASP minimum argon2id parameters are the defaults.
  assert.deepEqual({ m: c.argon2.memoryKiB, t: c.argon2.timeCost, p: c.argon2.parallelism }, { m: 19456, t: 2, p: 1 });
  // Each variable of the table moves its key off the default.
  const set = loadConfig({ env: { GATEHOUSE_ISSUER: 'https://login.example.com/', PORT: '8081', GATEHOUSE_DATABASE_URL: 'postgres://db/gh', GATEHOUSE_SMTP_URL: 'smtp://mail:2525' } });
  assert.deepEqual([set.issuer, set.port, set.databaseUrl, set.smtpUrl], ['https://login.example.com/', 8081, 'postgres://db/gh', 'smtp://mail:2525']);
});

test('an argon2 memory below 19 MiB is refused with an error naming the setting', () => {
  const withMemory = (memoryKiB: number) => () => loadConfig({ env: {}, overrides: { argon2: { memoryKiB } } });
  assert.throws(withMemory(19455), (e: Error) => e instanceof ConfigError && /argon2\.memoryKiB/.test(e.message), 'one KiB under 19 MiB');
  assert.throws(withMemory(8192), /invalid configuration: argon2\.memoryKiB/);
  assert.equal(withMemory(19456)().argon2.memoryKiB, 19456, '19 MiB itself is accepted');
});

test('signing keys\' private material is never in clear in signing_keys; a restart on the same data directory keeps the secrets key and the JWKS key ids', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-config-test-'));
  const port = await freePort();
  let ts: TestServer | undefined;
  try {
    ts = await startTestServer({}, { at: { dir, port } });
    const keyFile = join(dir, 'secrets.key');
    assert.ok(existsSync(keyFile), 'a first start generates the secrets key into the data dir');
    const secretsKey = readFileSync(keyFile, 'utf8');
    assert.equal(Buffer.from(secretsKey.trim(), 'base64').length, 32);

    const rows: Record<string, unknown>[] = await ts.ctx.db('signing_keys').select('*');
    assert.ok(rows.length >= 1, 'a first start generates signing keys');
    const box = createSecretBox(Buffer.from(secretsKey.trim(), 'base64'));
    const privateParts: string[] = [];
    for (const r of rows) {
      const sealed = String(r.private_jwk_sealed);
      assert.match(sealed, /^v1\.[\w-]+\.[\w-]+\.[\w-]+$/, 'the private key is stored sealed');
      const priv = JSON.parse(box.open(sealed, `signing-key:${String(r.kid)}`)) as Record<string, string>;
      assert.equal(typeof priv.d, 'string', 'the sealed value is the private JWK');
      for (const k of ['d', 'p', 'q', 'dp', 'dq', 'qi']) if (typeof priv[k] === 'string') privateParts.push(priv[k]);
      assert.equal((JSON.parse(String(r.public_jwk)) as Record<string, unknown>).d, undefined, 'the public JWK has no private part');
    }
    // No private part in clear in any column of the table, nor anywhere in the database file.
    const table = JSON.stringify(rows);
    for (const part of privateParts) assert.ok(!table.includes(part), 'a private key part is in clear in signing_keys');
    await ts.ctx.db.raw('pragma wal_checkpoint(truncate)');
    const files = ['gatehouse.sqlite', 'gatehouse.sqlite-wal'].map((f) => join(dir, f)).filter((f) => existsSync(f));
    for (const f of files) {
      const bytes = readFileSync(f);
      for (const part of privateParts) {
        assert.equal(bytes.indexOf(part), -1, `${f} holds a private key part as text`);
        assert.equal(bytes.indexOf(Buffer.from(part, 'base64url')), -1, `${f} holds a private key part as bytes`);
      }
    }

    const jwks = async (s: TestServer) => ((await (await fetch(`${s.base}/.well-known/jwks.json`)).json()) as { keys: { kid: string; d?: string }[] }).keys;
    const kidsBefore = (await jwks(ts)).map((k) => k.kid).sort();
    assert.deepEqual(kidsBefore, rows.map((r) => String(r.kid)).sort());
    // Something sealed with the secrets key besides the signing keys: an action's secret.
    const a = await createAction(ts, { name: 'survives-restart', trigger: 'post-login', code: 'exports.onExecutePostLogin = async () => {};', secrets: [{ name: 'KEPT', value: 'kept-secret-value' }] });
    await ts.close();
    ts = undefined;

    ts = await startTestServer({}, { at: { dir, port } });
    assert.equal(readFileSync(keyFile, 'utf8'), secretsKey, 'the restart kept the secrets key');
    const after = await jwks(ts);
    assert.deepEqual(after.map((k) => k.kid).sort(), kidsBefore, 'the restart kept the signing keys');
    assert.ok(after.every((k) => k.d === undefined), 'the JWKS publishes no private part');
    const read = await ts.api('GET', `/actions/actions/${a.id}`);
    assert.equal(read.status, 200, JSON.stringify(read.body));
    assert.deepEqual(read.body.secrets.map((s: { name: string }) => s.name), ['KEPT'], 'what was sealed before the restart still opens');
  } finally {
    await ts?.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
