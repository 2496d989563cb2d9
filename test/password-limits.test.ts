import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import { startTestServer, discover, loginThroughForm, type TestServer } from './helpers/server.ts';
import { alertText } from './helpers/cookie-fetch.ts';

/*
 * SECURITY B14: a huge password is refused before argon2 sees it. Over the body limit the
 * request ends with 413 before any parsing; under it but over the password limit
 * (password.maxLength characters, at most 4 bytes each) the login fails like any wrong
 * password, after a dummy verify of a one-character string (so it takes the same time), and
 * the long input itself never reaches argon2. The server's real hasher is observed by wrapping
 * its verify (the calls still go to argon2).
 */

const CB = 'https://app-5181.example/cb';
const EMAIL = 'limits@example.com';
const PASSWORD = 'a perfectly fine password';
let ts: TestServer;
let config: oidc.Configuration;
const seen: number[] = [];

before(async () => {
  ts = await startTestServer();
  const spa = await ts.ctx.clients.create({ name: 'Limits SPA', app_type: 'spa', callbacks: [CB] });
  config = await discover(ts, spa.client_id);
  await ts.ctx.users.create({ email: EMAIL, password: PASSWORD });
  const hasher = ts.ctx.hasher;
  const verify = hasher.verify.bind(hasher);
  hasher.verify = (hash, password) => { seen.push(Buffer.byteLength(password)); return verify(hash, password); };
});
after(async () => { await ts?.close(); });

test('a password over the limit fails like a wrong one and never reaches argon2 (B14)', async () => {
  seen.length = 0;
  const long = 'p'.repeat(10 * 1024);
  const r = await loginThroughForm(config, { redirectUri: CB, email: EMAIL, password: long });
  assert.equal(r.callbackUrl, undefined, 'not signed in');
  assert.match(alertText(r.loginPage ?? '') ?? '', /incorrect|wrong|invalid/i);
  assert.ok(seen.length > 0, 'a dummy verify still ran (equal timing)');
  assert.ok(seen.every((n) => n < 1024), `argon2 was given ${JSON.stringify(seen)} bytes`);
  const logged = await ts.ctx.db('audit_logs').where({ type: 'f', user_name: EMAIL }).orderBy('date', 'desc').first();
  assert.match(logged?.description ?? '', /malformed email or password/);
  assert.ok(!JSON.stringify(logged).includes(long.slice(0, 64)), 'the password is not in the audit log');

  // The spy sees ordinary passwords: a wrong one of normal length is verified as given.
  seen.length = 0;
  const wrong = await loginThroughForm(config, { redirectUri: CB, email: EMAIL, password: 'not the password at all' });
  assert.equal(wrong.callbackUrl, undefined);
  assert.deepEqual(seen, [Buffer.byteLength('not the password at all')]);
  // And the right one still signs in after all this.
  const ok = await loginThroughForm(config, { redirectUri: CB, email: EMAIL, password: PASSWORD });
  assert.ok(ok.callbackUrl, 'the right password signs in');
});

test('a 1 MB password is refused with 413 before the body is parsed: argon2 never runs', async () => {
  seen.length = 0;
  const page = await fetch(`${ts.base}/signup`);
  assert.equal(page.status, 200);
  const res = await fetch(`${ts.base}/signup`, {
    method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', origin: ts.base },
    body: `email=${encodeURIComponent('huge@example.com')}&password=${'x'.repeat(1024 * 1024)}`,
  });
  assert.equal(res.status, 413);
  assert.deepEqual(seen, []);
  assert.equal(await ts.ctx.users.findRowByEmail('huge@example.com'), undefined);
});

test('passwords are one password whatever Unicode form the keyboard sends (NFKC), old hashes included', async () => {
  // Regression: the raw string was hashed, so a password set with a precomposed é (U+00E9) failed
  // when typed as e + combining accent (U+0065 U+0301), as some keyboards and platforms send it.
  const nfc = 'caf\u00e9 au lait, s\u2019il vous pla\u00eet';
  const nfd = nfc.normalize('NFD');
  assert.notEqual(nfc, nfd);
  await ts.ctx.users.create({ email: 'unicode@example.com', password: nfc });
  const r = await loginThroughForm(config, { redirectUri: CB, email: 'unicode@example.com', password: nfd });
  assert.ok(r.callbackUrl, `the decomposed form logs in: ${alertText(r.loginPage ?? '')}`);
  // A hash stored before normalisation (of the text as typed, decomposed) still verifies.
  const argon2 = (await import('argon2')).default;
  const legacy = await argon2.hash(nfd, { ...ts.ctx.hasher.params });
  assert.equal(await ts.ctx.hasher.verify(legacy, nfd), true);
  assert.equal(await ts.ctx.hasher.verify(legacy, 'caf\u00e9 au lait'), false);
});

test('a login\'s rehash never undoes a password change that landed while it hashed', async () => {
  // Regression (review): the rehash after a login with the old argon2 parameters wrote the hash
  // unconditionally, so a password change in between was replaced by the old password's hash.
  const email = 'rehash.race@example.com';
  const u = await ts.ctx.users.create({ email, password: PASSWORD });
  const argon2 = (await import('argon2')).default;
  await ts.ctx.db('users').where({ id: u.user_id }).update({ password_hash: await argon2.hash(PASSWORD, { type: argon2.argon2id, memoryCost: 19456, timeCost: 3, parallelism: 1 }) });
  const changed = await argon2.hash('the new password 42', { type: argon2.argon2id, memoryCost: 19456, timeCost: 2, parallelism: 1 });
  const hasher = ts.ctx.hasher;
  const hash = hasher.hash;
  hasher.hash = async (password: string) => {
    const h = await hash(password);
    // The change lands while the login's rehash is being made.
    await ts.ctx.db('users').where({ id: u.user_id }).update({ password_hash: changed });
    return h;
  };
  try {
    const r = await loginThroughForm(config, { redirectUri: CB, email, password: PASSWORD });
    assert.ok(r.callbackUrl, 'the login itself went through');
  } finally {
    hasher.hash = hash;
  }
  assert.equal((await ts.ctx.db('users').where({ id: u.user_id }).first()).password_hash, changed, 'the change stands');
});
