import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import * as oidc from 'openid-client';
import bcrypt from 'bcryptjs';
import { startTestServer, discover, loginThroughForm, type TestServer } from './helpers/server.ts';
import { finishedJob, uploadUsers } from './helpers/imports.ts';
import { codeAt } from './helpers/mfa.ts';

// Auth0's MFA enrollment import (`mfa_factors` in the bulk import file): a user who had an
// authenticator app on Auth0 signs in with the same app after the move, and is never asked to
// enroll a new one (which anyone knowing the password could do).

let ts: TestServer;
let config: oidc.Configuration;
const CB = 'https://app-5173.example/cb';
const PASSWORD = 'imported mfa password 1';
let passwordHash: string;

before(async () => {
  // Users with an authenticator are asked for it at every sign-in.
  ts = await startTestServer({ mfa: { policy: 'if-enrolled' } });
  const spa = (await ts.api('POST', '/clients', { name: 'Import MFA SPA', app_type: 'spa', callbacks: [CB] })).body;
  config = await discover(ts, spa.client_id);
  passwordHash = await bcrypt.hash(PASSWORD, 4);
});
after(async () => { await ts?.close(); });

/** Unpadded RFC 4648 base32, written here bit by bit (not the server's encoder). */
const base32 = (key: Buffer) => {
  const bits = [...key].map((b) => b.toString(2).padStart(8, '0')).join('');
  return (bits.padEnd(Math.ceil(bits.length / 5) * 5, '0').match(/.{5}/g) ?? []).map((c) => 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'[parseInt(c, 2)]).join('');
};

/** RFC 6238's code for `key` now, as the user's app computes it (here, not with the server's otplib). */
function appCode(key: Buffer): string {
  const msg = Buffer.alloc(8);
  msg.writeBigUInt64BE(BigInt(Math.floor(Date.now() / 30_000)));
  const h = createHmac('sha1', key).update(msg).digest();
  return String((h.readUInt32BE(h[19] & 15) & 0x7fffffff) % 1_000_000).padStart(6, '0');
}
const otherCode = (code: string) => String((Number(code) + 500_000) % 1_000_000).padStart(6, '0');

/** Imports `users` and waits for the job; the finished job and its errors (empty when none). */
async function importUsers(users: unknown[], fields?: Record<string, string>) {
  const job = await uploadUsers(ts, users, fields);
  assert.equal(job.status, 201, JSON.stringify(job.body));
  const done = await finishedJob(ts, job.body.id);
  const errs = await ts.api('GET', `/jobs/${job.body.id}/errors`);
  return { done, errors: (errs.status === 204 ? [] : errs.body) as { user: { email?: string }; errors: { code: string; message: string }[] }[] };
}

/** Signs in with the password, then answers the second-factor step with `code`: the tokens, or the step's answer. */
async function signIn(email: string, code: string) {
  const r = await loginThroughForm(config, { redirectUri: CB, email, password: PASSWORD, scope: 'openid email' });
  assert.equal(r.posted, 303, 'the password is accepted');
  assert.ok(r.url && /\/interaction\/[^/]+\/mfa$/.test(r.url.pathname), `asked for the second factor, not ${r.callbackUrl ?? r.url}`);
  assert.match(r.loginPage ?? '', /name="code"/);
  assert.doesNotMatch(r.loginPage ?? '', /data-secret|id="totp-secret"/, 'a challenge for the imported authenticator, not a new enrollment');
  const sent = await r.browser.submit(r.url, r.loginPage!, { code });
  if (sent.status !== 303) return { status: sent.status, tokens: undefined };
  const next = await r.browser.follow(new URL(sent.headers.get('location')!, r.url), {}, (u) => u.href.startsWith(CB));
  return { status: 303, tokens: await oidc.authorizationCodeGrant(config, next.url, { pkceCodeVerifier: r.verifier, expectedState: r.state }) };
}

const idOf = async (email: string) => (await ts.ctx.db('users').where({ email }).first('id'))?.id as string | undefined;

test('an imported authenticator signs in with the codes of the user\'s app, 80-bit secrets and stray trailing bits included; the secret is stored sealed', async () => {
  const short = randomBytes(10); // 16 characters: what Auth0's import example and many older systems use
  const long = randomBytes(16); // 26 characters, whose last one carries 2 unused bits
  const longSecret = base32(long);
  const last = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'.indexOf(longSecret.at(-1)!);
  // Unused bits set, as some exports write them: the app ignores them, and so must the server.
  const dirty = longSecret.slice(0, -1) + 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'[last | 0b11];
  assert.notEqual(dirty, longSecret);
  const { done, errors } = await importUsers([
    { email: 'short.secret@example.com', password_hash: passwordHash, mfa_factors: [{ totp: { secret: base32(short) } }] },
    { email: 'long.secret@example.com', password_hash: passwordHash, mfa_factors: [{ totp: { secret: dirty } }] },
    // The same secret twice is one authenticator.
    { email: 'twice@example.com', password_hash: passwordHash, mfa_factors: [{ totp: { secret: base32(long) } }, { totp: { secret: base32(long) } }] },
  ]);
  assert.deepEqual(done.summary, { total: 3, inserted: 3, updated: 0, failed: 0 }, JSON.stringify(errors));

  const shortId = (await idOf('short.secret@example.com'))!;
  const enrollments = await ts.api('GET', `/users/${encodeURIComponent(shortId)}/enrollments`);
  assert.equal(enrollments.status, 200);
  assert.deepEqual(enrollments.body.map((e: { status: string; type: string }) => [e.status, e.type]), [['confirmed', 'authenticator']]);
  const profile = await ts.api('GET', `/users/${encodeURIComponent(shortId)}`);
  for (const body of [JSON.stringify(enrollments.body), JSON.stringify(profile.body)]) assert.ok(!body.includes(base32(short)), 'the secret is not in API answers');
  const row = await ts.ctx.db('mfa_factors').where({ user_id: shortId }).first();
  assert.ok(row.secret_sealed && !String(row.secret_sealed).includes(base32(short)), 'the secret is stored sealed');

  assert.equal((await signIn('short.secret@example.com', otherCode(appCode(short)))).status, 400, 'a wrong code is refused');
  const a = await signIn('short.secret@example.com', appCode(short));
  assert.ok(a.tokens, 'the app\'s code completes the sign-in');
  assert.deepEqual(a.tokens.claims()!.amr, ['pwd', 'otp']);
  const b = await signIn('long.secret@example.com', appCode(long));
  assert.ok(b.tokens, 'a secret with stray trailing bits gives the same codes as the app');
  assert.ok((await signIn('twice@example.com', appCode(long))).tokens);
});

test('factors this server cannot keep are refused with the user, never dropped; each says why', async () => {
  const key = base32(randomBytes(20));
  const { done, errors } = await importUsers([
    { email: 'sms@example.com', password_hash: passwordHash, mfa_factors: [{ totp: { secret: key } }, { phone: { value: '+12125550001' } }] },
    { email: 'mailfactor@example.com', mfa_factors: [{ email: { value: 'mailfactor@example.com' } }] },
    { email: 'two.apps@example.com', mfa_factors: [{ totp: { secret: key } }, { totp: { secret: base32(randomBytes(20)) } }] },
    { email: 'lowercase@example.com', mfa_factors: [{ totp: { secret: key.toLowerCase() } }] },
    { email: 'tooshort@example.com', mfa_factors: [{ totp: { secret: 'JBSWY3DPEHPK' } }] },
    { email: 'cutshort@example.com', mfa_factors: [{ totp: { secret: `${key}A` } }] },
    { email: 'both@example.com', mfa_factors: [{ totp: { secret: key }, phone: { value: '+12125550001' } }] },
    { email: 'none@example.com', mfa_factors: [] },
    { email: 'plain@example.com', password_hash: passwordHash },
  ]);
  assert.deepEqual(done.summary, { total: 9, inserted: 1, updated: 0, failed: 8 });
  const why = Object.fromEntries(errors.map((e) => [e.user.email, e.errors[0]]));
  assert.equal(why['sms@example.com'].code, 'UNSUPPORTED_FIELD');
  assert.match(why['sms@example.com'].message, /SMS \(phone\) factors are not supported here/);
  assert.equal(why['mailfactor@example.com'].code, 'UNSUPPORTED_FIELD');
  assert.match(why['mailfactor@example.com'].message, /e-mail factors/);
  assert.equal(why['two.apps@example.com'].code, 'INVALID_FORMAT');
  assert.match(why['two.apps@example.com'].message, /one authenticator per user/);
  assert.match(why['lowercase@example.com'].message, /mfa_factors\.totp\.secret: must be unpadded base32/);
  assert.match(why['tooshort@example.com'].message, /too short: at least 16 characters \(80 bits\)/);
  assert.match(why['cutshort@example.com'].message, /33 characters, not a length base32 has/);
  assert.equal(why['both@example.com'].code, 'INVALID_FORMAT');
  assert.equal(why['none@example.com'].code, 'INVALID_FORMAT');
  for (const email of Object.keys(why)) assert.equal(await idOf(email), undefined, `${email} was not imported`);
  assert.ok(await idOf('plain@example.com'), 'the others are');
  assert.ok(!JSON.stringify(errors).includes(key), 'the errors do not repeat a secret');
});

test('upsert gives an existing user the imported authenticator, replacing another one; the same again changes nothing; both are in the audit log', async () => {
  const first = randomBytes(20);
  const second = randomBytes(20);
  await importUsers([{ email: 'moving@example.com', password_hash: passwordHash, mfa_factors: [{ totp: { secret: base32(first) } }] }]);
  const id = (await idOf('moving@example.com'))!;
  assert.ok((await signIn('moving@example.com', appCode(first))).tokens);

  const replaced = await importUsers([{ email: 'moving@example.com', mfa_factors: [{ totp: { secret: base32(second) } }] }], { connection_id: 'con_username_password', upsert: 'true' });
  assert.deepEqual(replaced.done.summary, { total: 1, inserted: 0, updated: 1, failed: 0 });
  assert.equal((await signIn('moving@example.com', appCode(first))).status, 400, 'the replaced authenticator no longer signs in');
  assert.ok((await signIn('moving@example.com', appCode(second))).tokens, 'the imported one does');

  const again = await importUsers([{ email: 'moving@example.com', mfa_factors: [{ totp: { secret: base32(second) } }] }], { connection_id: 'con_username_password', upsert: 'true' });
  assert.deepEqual(again.done.summary, { total: 1, inserted: 0, updated: 1, failed: 0 });
  const audit = await ts.ctx.db('audit_logs').where({ user_id: id }).whereIn('description', ['Add an authenticator (import)', 'Replace an authenticator (import)']).pluck('description');
  assert.deepEqual(audit, ['Replace an authenticator (import)'], 'the replacement is audited once; an unchanged one is not');

  // A user who enrolled here: the import's authenticator replaces theirs, and the recovery codes
  // that went with it stop working.
  const enrolled = (await ts.api('POST', '/users', { email: 'enrolled.here@example.com', password: PASSWORD })).body.user_id as string;
  const e = await ts.ctx.mfa.beginEnrollment(enrolled, 'enrolled.here@example.com', 'test');
  const confirmed = await ts.ctx.mfa.confirmEnrollment(enrolled, 'test', await codeAt(e.secret));
  assert.ok(confirmed.ok);
  await importUsers([{ email: 'enrolled.here@example.com', mfa_factors: [{ totp: { secret: base32(second) } }] }], { connection_id: 'con_username_password', upsert: 'true' });
  assert.equal((await ts.ctx.mfa.verify(enrolled, confirmed.recoveryCodes[0])).ok, false, 'the replaced authenticator\'s recovery codes are gone');
  assert.equal(await ts.ctx.db('mfa_recovery_codes').where({ user_id: enrolled }).first(), undefined);
  assert.equal((await ts.ctx.mfa.verify(enrolled, appCode(second))).ok, true);

  // Two imports of one user at once (a retried upload while the first runs): one authenticator.
  await Promise.all([ts.ctx.mfa.importTotp(enrolled, base32(first)), ts.ctx.mfa.importTotp(enrolled, base32(randomBytes(20)))]);
  assert.equal((await ts.ctx.db('mfa_factors').where({ user_id: enrolled })).length, 1);
  // And the schema holds to it whatever the code does.
  await assert.rejects(ts.ctx.db('mfa_factors').insert({ id: 'totp_second', user_id: enrolled, type: 'otp', secret_sealed: 'x', confirmed: true, last_used_step: 0, created_at: Date.now() }), /UNIQUE|unique/);

  // A user without an authenticator (created here) gets one by upsert: asked for it from then on.
  await ts.api('POST', '/users', { email: 'local@example.com', password: PASSWORD });
  const added = await importUsers([{ email: 'local@example.com', mfa_factors: [{ totp: { secret: base32(first) } }] }], { connection_id: 'con_username_password', upsert: 'true' });
  assert.deepEqual(added.done.summary, { total: 1, inserted: 0, updated: 1, failed: 0 });
  assert.equal(await ts.ctx.db('audit_logs').where({ user_id: await idOf('local@example.com'), description: 'Add an authenticator (import)' }).first().then(Boolean), true);
  assert.ok((await signIn('local@example.com', appCode(first))).tokens);
});

test('a user whose authenticator cannot be written is not created either (one transaction)', async () => {
  await assert.rejects(ts.ctx.users.create({ email: 'half.written@example.com' }, { alongside: async () => { throw new Error('the authenticator could not be written'); } }), /could not be written/);
  assert.equal(await idOf('half.written@example.com'), undefined);
});
