import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import argon2 from 'argon2';
import bcrypt from 'bcryptjs';
import { startTestServer, discover, loginThroughForm, type TestServer } from './helpers/server.ts';
import { CONNECTION_ID, finishedJob, uploadUsers } from './helpers/imports.ts';

// Auth0's bulk user import (POST /api/v2/jobs/users-imports): users move over with the `sub`
// apps stored and the password hashes Auth0 exported, sign in with their passwords, and get
// Gatehouse's argon2id at that sign-in.

let ts: TestServer;
before(async () => { ts = await startTestServer(); });
after(async () => { await ts?.close(); });

const CB = 'https://app-5173.example/cb';
/** POST /jobs/users-imports with `users` as the file; the answer. */
const upload = (users: unknown, fields?: Record<string, string>, token?: string) => uploadUsers(ts, users, fields, token);
/** The job once it is no longer pending. */
const finished = (id: string) => finishedJob(ts, id);

async function signIn(email: string, password: string) {
  const spa = (await ts.api('POST', '/clients', { name: 'Import SPA', app_type: 'spa', callbacks: [CB] })).body;
  const config = await discover(ts, spa.client_id);
  const r = await loginThroughForm(config, { redirectUri: CB, email, password, scope: 'openid email' });
  if (!r.callbackUrl) return undefined;
  return oidc.authorizationCodeGrant(config, r.callbackUrl, { pkceCodeVerifier: r.verifier, expectedState: r.state });
}

const storedHash = async (email: string) => (await ts.ctx.db('users').where({ email }).first('password_hash')).password_hash as string;

test('imported users keep their id and sign in with their bcrypt (Auth0\'s export) or argon2 password; the hash becomes argon2id then', async () => {
  const bcryptHash = await bcrypt.hash('bcrypt user password 1', 10);
  const argon2iHash = await argon2.hash('argon2i user password 2', { type: argon2.argon2i, memoryCost: 4096, timeCost: 3, parallelism: 1 });
  const job = await upload([
    { email: 'Moved.One@Example.com', email_verified: true, user_id: '5f1a2b3c4d5e6f7a8b9c0d1e', password_hash: bcryptHash, given_name: 'Moved', user_metadata: { theme: 'dark' }, app_metadata: { plan: 'pro' } },
    { email: 'moved.two@example.com', user_id: 'auth0|legacy-two', custom_password_hash: { algorithm: 'argon2', hash: { value: argon2iHash, encoding: 'utf8' } } },
    { email: 'no.password@example.com' },
  ]);
  assert.equal(job.status, 201, JSON.stringify(job.body));
  assert.equal(job.body.type, 'users_import');
  assert.equal(job.body.connection_id, CONNECTION_ID);
  assert.equal(job.body.upsert, false);
  const done = await finished(job.body.id);
  assert.equal(done.status, 'completed');
  assert.deepEqual(done.summary, { total: 3, inserted: 3, updated: 0, failed: 0 }, JSON.stringify((await ts.api("GET", `/jobs/${job.body.id}/errors`)).body));
  assert.equal((await ts.api('GET', `/jobs/${job.body.id}/errors`)).status, 204);

  const one = (await ts.api('GET', `/users/${encodeURIComponent('auth0|5f1a2b3c4d5e6f7a8b9c0d1e')}`)).body;
  assert.equal(one.email, 'moved.one@example.com');
  assert.equal(one.email_verified, true);
  assert.deepEqual([one.given_name, one.user_metadata, one.app_metadata], ['Moved', { theme: 'dark' }, { plan: 'pro' }]);
  assert.equal((await ts.api('GET', `/users/${encodeURIComponent('auth0|legacy-two')}`)).status, 200, 'an exported id (with auth0|) is kept as it is');
  // The server holds every password check to the imported hashes' time meanwhile.
  assert.ok(ts.ctx.hasher.floorMs > 0, 'the timing floor was set from the imported hashes');

  assert.equal(await signIn('moved.one@example.com', 'not the password'), undefined, 'a wrong password fails');
  assert.equal(await storedHash('moved.one@example.com'), bcryptHash, 'a failed sign-in changes nothing');
  const tokens = await signIn('moved.one@example.com', 'bcrypt user password 1');
  assert.ok(tokens, 'the bcrypt password signs in');
  assert.equal(tokens.claims()!.sub, 'auth0|5f1a2b3c4d5e6f7a8b9c0d1e', 'the sub apps stored stays');
  assert.match(await storedHash('moved.one@example.com'), /^\$argon2id\$v=19\$m=19456,p=1,t=2\$/);
  assert.ok(await signIn('moved.one@example.com', 'bcrypt user password 1'), 'and again, on the argon2id hash');

  assert.ok(await signIn('moved.two@example.com', 'argon2i user password 2'));
  assert.match(await storedHash('moved.two@example.com'), /^\$argon2id\$/);
  assert.equal(await storedHash('no.password@example.com'), null, 'without a hash the user sets a password by a reset');
});

test('each user that cannot be imported is reported with why, and the others are imported', async () => {
  await ts.api('POST', '/users', { email: 'already@example.com', password: 'correct horse battery' });
  const heavy = '$2b$13$' + 'a'.repeat(53);
  const job = await upload([
    { email: 'fine@example.com' },
    { email: 'already@example.com' },
    { email: 'not-an-email' },
    { email: 'badhash@example.com', password_hash: 'plaintext' },
    { email: 'heavy@example.com', password_hash: heavy },
    { email: 'both@example.com', password_hash: await bcrypt.hash('x', 4), custom_password_hash: { algorithm: 'bcrypt', hash: { value: await bcrypt.hash('x', 4) } } },
    // Auth0 fields this server has no place for (mfa_factors: users-import-mfa.test.ts).
    { email: 'username@example.com', username: 'someone' },
    { email: 'bigargon@example.com', custom_password_hash: { algorithm: 'argon2', hash: { value: '$argon2id$v=19$m=4194304,t=3,p=1$c29tZXNhbHRzb21lc2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2g' } } },
    { email: 'badid@example.com', user_id: 'has spaces' },
    { email: 'rtl@example.com', name: 'a\u202egnp.exe' },
  ]);
  assert.equal(job.status, 201, JSON.stringify(job.body));
  const done = await finished(job.body.id);
  assert.deepEqual(done.summary, { total: 10, inserted: 1, updated: 0, failed: 9 });
  const errors = (await ts.api('GET', `/jobs/${job.body.id}/errors`)).body as { user: { email: string }; errors: { code: string; message: string }[] }[];
  const by = Object.fromEntries(errors.map((e) => [e.user.email, `${e.errors[0].code} ${e.errors[0].message}`]));
  assert.match(by['already@example.com'], /^DUPLICATED_USER/);
  assert.match(by['not-an-email'], /^INVALID_FORMAT email/);
  assert.match(by['badhash@example.com'], /^INVALID_FORMAT password_hash: is not a bcrypt hash/);
  assert.match(by['heavy@example.com'], /bcrypt cost 13: 4 to 11/);
  assert.match(by['both@example.com'], /not both/);
  assert.match(by['username@example.com'], /^UNSUPPORTED_FIELD not imported here: username/);
  assert.match(by['bigargon@example.com'], /argon2 parameters m=4194304,t=3,p=1: at most m=65536,t=4,p=4/);
  assert.match(by['rtl@example.com'], /^INVALID_FORMAT name: must not contain control or invisible characters/);
  assert.match(by['badid@example.com'], /^INVALID_FORMAT user_id/);
  assert.equal((await ts.api('GET', '/users-by-email?email=fine%40example.com')).body.length, 1);
  assert.equal((await ts.api('GET', '/users-by-email?email=heavy%40example.com')).body.length, 0);
  // No hash of any user in the errors or the job.
  assert.doesNotMatch(JSON.stringify(errors) + JSON.stringify(done), /\$2b\$\d\d\$/);
});

test('upsert updates the profile and merges metadata of users that exist, and never their password; it needs update:users too; a block ends the user\'s tokens', async () => {
  const hash = await bcrypt.hash('the first password', 4);
  const first = await finished((await upload([{ email: 'upsert@example.com', password_hash: hash, user_metadata: { a: 1 } }])).body.id);
  assert.equal(first.summary.inserted, 1);
  const again = await upload([{ email: 'upsert@example.com', password_hash: await bcrypt.hash('another password', 4), name: 'Renamed', user_metadata: { b: 2 } }], { connection_id: CONNECTION_ID, upsert: 'true' });
  const done = await finished(again.body.id);
  assert.equal(again.body.upsert, true);
  assert.deepEqual(done.summary, { total: 1, inserted: 0, updated: 1, failed: 0 });
  const u = (await ts.api('GET', '/users-by-email?email=upsert%40example.com')).body[0];
  assert.equal(u.name, 'Renamed');
  assert.deepEqual(u.user_metadata, { a: 1, b: 2 });
  assert.equal(await storedHash('upsert@example.com'), hash);
  // Without upsert the same user is a duplicate, and nothing changes.
  const dup = await finished((await upload([{ email: 'upsert@example.com', name: 'Again' }])).body.id);
  assert.deepEqual(dup.summary, { total: 1, inserted: 0, updated: 0, failed: 1 });
  assert.equal((await ts.api('GET', '/users-by-email?email=upsert%40example.com')).body[0].name, 'Renamed');

  // create:users alone may insert, not change users that exist (a PATCH needs update:users).
  const creator = await ts.adminToken('create:users read:users');
  const refused = await upload([{ email: 'upsert@example.com', app_metadata: { role: 'admin' } }], { connection_id: CONNECTION_ID, upsert: 'true' }, creator);
  assert.equal(refused.status, 403, JSON.stringify(refused.body));
  assert.match(refused.body.message, /update:users/);
  assert.equal((await upload([{ email: 'created.by.creator@example.com' }], undefined, creator)).status, 201);

  // Blocked by an upsert: as by a PATCH, what was issued to the user ends.
  assert.ok(await signIn('upsert@example.com', 'the first password'));
  const id = (await ts.api('GET', '/users-by-email?email=upsert%40example.com')).body[0].user_id as string;
  const rows = () => ts.ctx.db('oidc_payloads').where({ account_id: id }).count({ n: '*' }).then((r) => Number(r[0].n));
  assert.ok(await rows() > 0, 'the sign-in left a session and a grant');
  const block = await finished((await upload([{ email: 'upsert@example.com', blocked: true }], { connection_id: CONNECTION_ID, upsert: 'true' })).body.id);
  assert.equal(block.summary.updated, 1);
  assert.equal(await rows(), 0, 'the block revoked them');
  // Each user an upsert changed is in the audit log with what changed.
  const logs = (await ts.api('GET', `/logs?q=${encodeURIComponent(`user_id:"${id}"`)}`)).body as { description: string; details: { changes?: { field: string }[] } }[];
  const updates = logs.filter((l) => l.description === 'Update a user (import)');
  assert.ok(updates.some((l) => l.details.changes?.some((c) => c.field === 'blocked')), JSON.stringify(updates).slice(0, 400));
});

test('an import records its hashes\' parameters before any user exists; another node (or a sweep after a CLI import) takes them up', async () => {
  const hash = await bcrypt.hash('some password', 11);
  const done = await finished((await upload([{ email: 'cost11@example.com', password_hash: hash }])).body.id);
  assert.equal(done.summary.inserted, 1);
  const classes = await ts.ctx.db('password_hash_classes').select('key', 'sample');
  assert.ok(classes.some((c: { key: string }) => c.key === 'bcrypt,11'), JSON.stringify(classes));
  // Stand-ins only: no user's hash is kept there.
  assert.ok(classes.every((c: { sample: string }) => c.sample !== hash));
  const floor = ts.ctx.hasher.floorMs;
  assert.ok(floor > 0);
  // A class recorded elsewhere (the CLI, another node): this node's next sweep raises its floor.
  const { createPasswordHasher } = await import('../src/users/passwords.ts');
  const other = createPasswordHasher(ts.ctx.config.argon2);
  const { createHashClasses } = await import('../src/users/hash-classes.ts');
  assert.equal(other.floorMs, 0);
  assert.ok(await createHashClasses(ts.ctx.db, other).apply() > 0);
  // A file with a byte-order mark (as some editors write one) is read as JSON.
  const bom = await upload('\uFEFF' + JSON.stringify([{ email: 'bom@example.com' }]));
  assert.equal(bom.status, 201, JSON.stringify(bom.body));
  assert.equal((await finished(bom.body.id)).summary.inserted, 1);
});

test('the request is refused as a whole, with a clear error, when it is not an import Gatehouse can take', async () => {
  assert.equal((await upload([{ email: 'x@example.com' }], { connection_id: 'con_other' })).status, 400);
  assert.match((await upload([{ email: 'x@example.com' }], { connection_id: 'con_other' })).body.message, /connection_id: must be con_username_password/);
  assert.match((await upload([{ email: 'x@example.com' }], { connection_id: CONNECTION_ID, upsert: 'yes' })).body.message, /upsert: must be true or false/);
  assert.match((await upload('not json')).body.message, /not JSON/);
  assert.match((await upload({ email: 'x@example.com' })).body.message, /JSON array/);
  assert.match((await upload([])).body.message, /no user/);
  const big = await upload('[' + ' '.repeat(600 * 1024) + ']');
  assert.equal(big.status, 413, JSON.stringify(big.body));
  const json = await ts.api('POST', '/jobs/users-imports', { users: [] });
  assert.equal(json.status, 415);
  const form = new FormData();
  form.append('connection_id', CONNECTION_ID);
  const noFile = await fetch(`${ts.base}/api/v2/jobs/users-imports`, { method: 'POST', headers: { authorization: `Bearer ${await ts.adminToken()}` }, body: form });
  assert.equal(noFile.status, 400);
  assert.match(((await noFile.json()) as { message: string }).message, /users: the file is missing/);
  // create:users is the scope, as on Auth0.
  const reader = await ts.adminToken('read:users');
  assert.equal((await upload([{ email: 'x@example.com' }], undefined, reader)).status, 403);
  assert.equal((await ts.api('GET', '/users-by-email?email=x%40example.com')).body.length, 0, 'nothing was imported by the refused requests');
});

test('a refused user records no hash parameters: an import cannot raise every node\'s floor without inserting anyone', async () => {
  const odd = await argon2.hash('x', { type: argon2.argon2d, memoryCost: 2048, timeCost: 1, parallelism: 1 });
  await ts.api('POST', '/users', { email: 'taken.floor@example.com', password: 'correct horse battery' });
  const done = await finished((await upload('[' + [
    JSON.stringify({ email: 'taken.floor@example.com', custom_password_hash: { algorithm: 'argon2', hash: { value: odd } } }),
    JSON.stringify({ email: 'bad', custom_password_hash: { algorithm: 'argon2', hash: { value: odd } } }),
    // Refused by the user store's own checks (a lone surrogate in metadata), after the schema passed it.
    `{"email":"surrogate.floor@example.com","user_metadata":{"k":"\\ud800"},"custom_password_hash":{"algorithm":"argon2","hash":{"value":${JSON.stringify(odd)}}}}`,
  ].join(',') + ']')).body.id);
  assert.deepEqual(done.summary, { total: 3, inserted: 0, updated: 0, failed: 3 });
  const errors = (await ts.api('GET', `/jobs/${done.id}/errors`)).body as { user: { email: string }; errors: { message: string }[] }[];
  assert.match(errors.find((e) => e.user.email === 'surrogate.floor@example.com')!.errors[0].message, /user_metadata/);
  const keys = (await ts.ctx.db('password_hash_classes').select('key')).map((r: { key: string }) => r.key);
  assert.equal(keys.includes('argon2d,2048,1,1'), false, keys.join(' '));
  // Pruned at start when no stored user has a recorded set any more (and it is over an hour old).
  await ts.ctx.db('password_hash_classes').insert({ key: 'bcrypt,09', sample: `$2b$09$${'a'.repeat(53)}`, created_at: Date.now() - 2 * 3_600_000 });
  await ts.ctx.hashClasses.prune([]);
  assert.equal(await ts.ctx.db('password_hash_classes').where({ key: 'bcrypt,09' }).first(), undefined);
});
