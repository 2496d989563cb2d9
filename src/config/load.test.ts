import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { loadConfig, ConfigError } from './load.ts';

const key = randomBytes(32).toString('base64');

test('environment variables override the files and are validated, naming the key', () => {
  const c = loadConfig({ env: { GATEHOUSE_ISSUER: 'https://login.example.com/', PORT: '8080', GATEHOUSE_ACTIONS_FETCH_ALLOW: 'a.example, b.example:8443' } });
  assert.equal(c.issuer, 'https://login.example.com/');
  assert.equal(c.port, 8080);
  assert.deepEqual(c.actions.fetchAllow, ['a.example', 'b.example:8443']);
  assert.throws(() => loadConfig({ env: { PORT: 'eighty' } }), (e: Error) => e instanceof ConfigError && /port/.test(e.message));
  assert.throws(() => loadConfig({ env: { GATEHOUSE_DATABASE_URL: 'mysql://x' } }), /databaseUrl/);
  // The message names the variable the operator set, not only the internal key (INTERFACES.md).
  assert.throws(() => loadConfig({ env: { PORT: 'eighty' } }), /invalid configuration: PORT \(port\):/);
  assert.throws(() => loadConfig({ env: { GATEHOUSE_DATABASE_URL: 'mysql://x' } }), /GATEHOUSE_DATABASE_URL \(databaseUrl\):/);
  assert.throws(() => loadConfig({ env: { GATEHOUSE_SMTP_URL: 'http://x' } }), /GATEHOUSE_SMTP_URL \(smtpUrl\):/);
  assert.throws(() => loadConfig({ env: { GATEHOUSE_BOOTSTRAP_ADMIN_CLIENT_ID: 'admin', GATEHOUSE_BOOTSTRAP_ADMIN_CLIENT_SECRET: 'short' } }), /GATEHOUSE_BOOTSTRAP_ADMIN_CLIENT_SECRET \(bootstrapAdmin\.clientSecret\):/);
  // A list variable's entry names the variable too (its path ends in the entry's index).
  assert.throws(() => loadConfig({ env: { GATEHOUSE_ACTIONS_REDIRECT_ALLOW: 'https://partner.example/' } }), /GATEHOUSE_ACTIONS_REDIRECT_ALLOW \(actions\.redirectAllow\.0\):/);
  // A key set in a config file (none of these come from the environment) keeps its file name.
  assert.throws(() => loadConfig({ env: {}, overrides: { http: { bodyLimitBytes: 10, trustProxy: false } } }), /invalid configuration: http\.bodyLimitBytes:/);
  assert.throws(() => loadConfig({ env: { GATEHOUSE_SECRETS_KEY: 'c2hvcnQ=' } }), /secretsKey.*32 bytes/);
});

test('production needs a secrets key and refuses http://localhost action redirects unless configured', () => {
  assert.throws(() => loadConfig({ env: { NODE_ENV: 'production' } }), /GATEHOUSE_SECRETS_KEY is required/);
  assert.equal(loadConfig({ env: { NODE_ENV: 'production', GATEHOUSE_SECRETS_KEY: key } }).actions.redirectAllowHttpLocalhost, false);
  assert.equal(loadConfig({ env: { NODE_ENV: 'development' } }).actions.redirectAllowHttpLocalhost, true);
  assert.equal(loadConfig({ env: { NODE_ENV: 'production', GATEHOUSE_SECRETS_KEY: key }, overrides: { actions: { redirectAllowHttpLocalhost: true } } }).actions.redirectAllowHttpLocalhost, true);
});

test('GATEHOUSE_ACTIONS_FETCH_ALLOW takes hosts, not URLs, and the error names the variable (regression: a URL was taken and never matched)', () => {
  assert.throws(() => loadConfig({ env: { GATEHOUSE_ACTIONS_FETCH_ALLOW: 'http://bad/' } }), /GATEHOUSE_ACTIONS_FETCH_ALLOW \(actions\.fetchAllow\.0\): must be a host name/);
  assert.throws(() => loadConfig({ env: { GATEHOUSE_ACTIONS_FETCH_ALLOW: 'ok.example, api.example/v1' } }), /actions\.fetchAllow\.1/);
  assert.deepEqual(loadConfig({ env: { GATEHOUSE_ACTIONS_FETCH_ALLOW: 'localhost:8080, internal.example, [::1]:9000, 10.0.0.5' } }).actions.fetchAllow,
    ['localhost:8080', 'internal.example', '[::1]:9000', '10.0.0.5']);
});

test('GATEHOUSE_ACTIONS_FETCH_ALLOW entries the address check could never match are refused', () => {
  for (const bad of ['user@host.example', 'host.example:99999', '[0:0:0:0:0:0:0:1]', 'host.example.', 'host.example:0', '*.example.com', 'a..b']) {
    assert.throws(() => loadConfig({ env: { GATEHOUSE_ACTIONS_FETCH_ALLOW: bad } }), /GATEHOUSE_ACTIONS_FETCH_ALLOW \(actions\.fetchAllow\.0\)/, bad);
  }
  // Entries that matched before still do: a port with leading zeros is read as a number by the address check.
  assert.deepEqual(loadConfig({ env: { GATEHOUSE_ACTIONS_FETCH_ALLOW: 'Api.Example:8443, [::1], host.example:80, host.example:08080, my_host.internal' } }).actions.fetchAllow,
    ['Api.Example:8443', '[::1]', 'host.example:80', 'host.example:08080', 'my_host.internal']);
});

test('http.geoipHeaders needs a trusted proxy: a client can send location headers itself', () => {
  assert.throws(() => loadConfig({ env: {}, overrides: { http: { bodyLimitBytes: 102400, trustProxy: false, geoipHeaders: 'cloudflare' } } }), /http\.geoipHeaders: geoipHeaders needs http\.trustProxy/);
  assert.equal(loadConfig({ env: {}, overrides: { http: { bodyLimitBytes: 102400, trustProxy: 1, geoipHeaders: 'cloudfront' } } }).http.geoipHeaders, 'cloudfront');
  assert.equal(loadConfig({ env: {} }).http.geoipHeaders, 'none');
});

test('GATEHOUSE_CURRENT_USER_TOKENS is off unless set to true; anything but true or false is refused by name', () => {
  assert.equal(loadConfig({ env: {} }).managementApi.currentUserTokens, false);
  assert.equal(loadConfig({ env: {} }).managementApi.currentUserTokenTtl, 7200);
  assert.equal(loadConfig({ env: { GATEHOUSE_CURRENT_USER_TOKENS: 'true' } }).managementApi.currentUserTokens, true);
  assert.equal(loadConfig({ env: { GATEHOUSE_CURRENT_USER_TOKENS: 'false' } }).managementApi.currentUserTokens, false);
  for (const bad of ['1', 'yes', 'TRUE ']) {
    assert.throws(() => loadConfig({ env: { GATEHOUSE_CURRENT_USER_TOKENS: bad } }), /GATEHOUSE_CURRENT_USER_TOKENS \(managementApi\.currentUserTokens\)/, bad);
  }
});

test('argon2 settings past what a stored hash is read back with are refused at start, not locking everyone out later', () => {
  assert.throws(() => loadConfig({ env: {}, overrides: { argon2: { memoryKiB: 10_485_760, timeCost: 2, parallelism: 1, maxConcurrent: 1 } } }), /argon2\.memoryKiB/);
  assert.throws(() => loadConfig({ env: {}, overrides: { argon2: { memoryKiB: 19456, timeCost: 2, parallelism: 65, maxConcurrent: 1 } } }), /argon2\.parallelism/);
  assert.equal(loadConfig({ env: {}, overrides: { argon2: { memoryKiB: 4_194_304, timeCost: 100, parallelism: 64, maxConcurrent: 1 } } }).argon2.memoryKiB, 4_194_304);
});
