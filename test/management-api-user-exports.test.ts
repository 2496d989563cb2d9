import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { gunzipSync } from 'node:zlib';
import { startTestServer, type TestServer } from './helpers/server.ts';
import { codeAt } from './helpers/mfa.ts';
import { finishedJob } from './helpers/imports.ts';
import { exportLink } from '../src/management-api/user-exports.ts';
import { sweepLifecycle } from '../src/server.ts';

// Auth0's bulk user export (POST /api/v2/jobs/users-exports): a job whose finished answer links
// to a gzip file of the users, NDJSON or CSV, with the fields asked for and nothing secret.

let ts: TestServer;
const PASSWORD = 'exported user password 1';
let formulaId: string;
let totpSecret: string;

before(async () => {
  ts = await startTestServer();
  const a = await ts.api('POST', '/users', {
    email: 'export.one@example.com', password: PASSWORD, name: 'Doe, "Jr"',
    user_metadata: { country: 'NZ', prefs: { theme: 'dark' } }, app_metadata: { plan: 'pro' },
  });
  assert.equal(a.status, 201, JSON.stringify(a.body));
  const b = await ts.api('POST', '/users', { email: 'export.two@example.com', password: PASSWORD, name: '=HYPERLINK("https://evil.example/","click")' });
  formulaId = b.body.user_id;
  const c = await ts.api('POST', '/users', { email: 'export.three@example.com', password: PASSWORD, user_metadata: { country: 'FR' } });
  // An authenticator: its secret must not be in an export.
  const e = await ts.ctx.mfa.beginEnrollment(c.body.user_id, 'export.three@example.com', 'test');
  assert.equal((await ts.ctx.mfa.confirmEnrollment(c.body.user_id, 'test', await codeAt(e.secret))).ok, true);
  totpSecret = e.secret;
});
after(async () => { await ts?.close(); });

/** Starts an export; the job once finished, and the file it links to (gunzipped text). */
async function exported(body: Record<string, unknown>) {
  const job = await ts.api('POST', '/jobs/users-exports', body);
  assert.equal(job.status, 201, JSON.stringify(job.body));
  assert.equal(job.body.type, 'users_export');
  assert.equal(job.body.status, 'pending');
  const done = await finishedJob(ts, job.body.id);
  assert.equal(done.status, 'completed', JSON.stringify(done));
  assert.match(done.location, /\/api\/v2\/jobs\/job_[\w-]+\/file\?expires=\d+&signature=[\w-]+$/);
  // No token: the link is the credential, as Auth0's storage link.
  const res = await fetch(done.location);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'application/gzip');
  assert.match(res.headers.get('content-disposition') ?? '', /attachment; filename="users-export\.(json|csv)\.gz"/);
  assert.equal(res.headers.get('content-encoding'), null, 'a .gz file, not a compressed response');
  return { job: done, text: gunzipSync(Buffer.from(await res.arrayBuffer())).toString('utf8') };
}

test('a JSON export is NDJSON of every user as the API shows them, metadata whole, no password hash or authenticator secret', async () => {
  const { job, text } = await exported({ format: 'json' });
  assert.equal(job.format, 'json');
  assert.equal(job.connection_id, 'con_username_password');
  const lines = text.trimEnd().split('\n').map((l) => JSON.parse(l));
  const total = (await ts.api('GET', '/users?include_totals=true&per_page=1')).body.total;
  assert.equal(lines.length, total, 'every user, one per line');
  const one = lines.find((u) => u.email === 'export.one@example.com');
  assert.deepEqual([one.user_metadata, one.app_metadata, one.name], [{ country: 'NZ', prefs: { theme: 'dark' } }, { plan: 'pro' }, 'Doe, "Jr"']);
  assert.deepEqual(one, (await ts.api('GET', `/users/${encodeURIComponent(one.user_id)}`)).body, 'the same record as GET /users/{id}');
  assert.doesNotMatch(text, /\$argon2|password_hash/, 'no password hash');
  assert.ok(!text.includes(totpSecret), 'no authenticator secret');
  // limit
  const limited = await exported({ format: 'json', limit: 1 });
  assert.equal(limited.text.trimEnd().split('\n').length, 1);
});

test('a CSV export has the named fields under their export names, cells escaped, and formulas defused', async () => {
  const { text } = await exported({
    format: 'csv',
    fields: [{ name: 'email' }, { name: 'user_metadata.country', export_as: 'country' }, { name: 'identities[0].connection', export_as: 'provider' }, { name: 'name' }, { name: 'logins_count' }, { name: 'user_metadata.prefs' }],
  });
  const rows = text.split('\r\n');
  assert.equal(rows[0], '"email","country","provider","name","logins_count","user_metadata.prefs"');
  assert.equal(rows.at(-1), '', 'each row ends with CRLF');
  assert.ok(rows.includes('"export.one@example.com","NZ","Username-Password-Authentication","Doe, ""Jr""","0","{""theme"":""dark""}"'), rows.join('\n'));
  assert.ok(rows.includes('"export.three@example.com","FR","Username-Password-Authentication","export.three@example.com","0",""'), 'a missing field is an empty cell');
  // A name a spreadsheet would run as a formula starts with a quote.
  assert.ok(rows.includes(`"export.two@example.com","","Username-Password-Authentication","'=HYPERLINK(""https://evil.example/"",""click"")","0",""`), rows.join('\n'));
  // Without fields: a default set of the user's own properties.
  const plain = await exported({ format: 'csv' });
  assert.equal(plain.text.split('\r\n')[0], '"user_id","email","email_verified","name","nickname","given_name","family_name","picture","blocked","logins_count","last_login","created_at","updated_at"');
  assert.ok(plain.text.includes(`"${formulaId}","export.two@example.com","false",`));
});

test('the download link works only as signed and until it expires; the export and each download are audited', async () => {
  const { job } = await exported({ format: 'json', limit: 1 });
  const link = new URL(job.location);
  const tampered = new URL(link); tampered.searchParams.set('expires', String(Number(link.searchParams.get('expires')) + 60_000));
  const res1 = await fetch(tampered);
  assert.equal(res1.status, 403, 'a later expiry needs a new signature');
  assert.equal(((await res1.json()) as { errorCode: string }).errorCode, 'invalid_signature');
  const plus = new URL(link); plus.searchParams.set('expires', `+${link.searchParams.get('expires')}`);
  assert.equal((await fetch(plus)).status, 403, 'the expiry is 13 digits, nothing else');
  const noSig = new URL(link); noSig.searchParams.delete('signature');
  assert.equal((await fetch(noSig)).status, 403);
  const expired = await fetch(await exportLink(ts.ctx, job.id, Date.now() - 1000));
  assert.equal(expired.status, 403);
  assert.equal(((await expired.json()) as { errorCode: string }).errorCode, 'expired_link');
  // Another job's signature does not open this one.
  const other = (await ts.api('POST', '/jobs/users-exports', { format: 'csv', limit: 1 })).body;
  await finishedJob(ts, other.id);
  const swapped = new URL(link.href.replace(job.id, other.id));
  assert.equal((await fetch(swapped)).status, 403);
  // HEAD: the file's type and size, no body, and not a download in the audit log.
  const downloadsBefore = await ts.ctx.db('audit_logs').where({ description: 'Download a users export' }).count({ n: '*' });
  const head = await fetch(link, { method: 'HEAD' });
  assert.equal(head.status, 200);
  assert.equal(head.headers.get('content-type'), 'application/gzip');
  assert.equal(Number(head.headers.get('content-length')), job.bytes);
  assert.deepEqual(await ts.ctx.db('audit_logs').where({ description: 'Download a users export' }).count({ n: '*' }), downloadsBefore);
  // A job that is not an export (or does not exist) has no file, even with a valid signature.
  assert.equal((await fetch(await exportLink(ts.ctx, 'job_nosuchjob', Date.now() + 60_000))).status, 404);

  const audit = await ts.ctx.db('audit_logs').whereIn('description', ['Export users', 'Download a users export']).select('description', 'details');
  assert.ok(audit.some((a) => a.description === 'Export users' && String(a.details).includes(job.id)));
  assert.ok(audit.some((a) => a.description === 'Download a users export' && String(a.details).includes(job.id)));
  // The signature is never in the audit log.
  assert.ok(!JSON.stringify(audit).includes(link.searchParams.get('signature')!));
});

test('what cannot be exported is refused with the field named; it needs read:users', async () => {
  const bad = async (body: unknown, status = 400) => {
    const r = await ts.api('POST', '/jobs/users-exports', body);
    assert.equal(r.status, status, JSON.stringify(r.body));
    return r.body.message as string;
  };
  assert.match(await bad({ format: 'csv', fields: [{ name: 'user_metadata' }] }), /fields\[0\]\.name: CSV takes a metadata object's own fields/);
  assert.match(await bad({ fields: [{ name: 'email' }, { name: 'password_hash' }] }), /fields\[1\]\.name: "password_hash" is not a user property that can be exported/);
  assert.match(await bad({ fields: [{ name: 'user_metadata.__proto__.x' }] }), /fields\[0\]\.name: .* is not a property path/);
  assert.match(await bad({ fields: [{ name: 'email', export_as: 'x' }, { name: 'name', export_as: 'x' }] }), /fields\[1\]: "x" is exported twice/);
  assert.match(await bad({ fields: Array.from({ length: 31 }, (_, i) => ({ name: `user_metadata.k${i}` })) }), /fields/);
  assert.match(await bad({ format: 'xml' }), /format/);
  assert.match(await bad({ limit: 0 }), /limit/);
  await bad({ connection_id: 'con_other0000000000' }, 404);
  const r = await ts.api('POST', '/jobs/users-exports', { format: 'json' }, await ts.adminToken('create:users'));
  assert.equal(r.status, 403);
});

test('the file is swept with its job; an export cut off by a stop fails 15 minutes on and its pieces go', async () => {
  const { job } = await exported({ format: 'json', limit: 2 });
  assert.ok((await ts.ctx.db('job_files').where({ job_id: job.id })).length > 0);
  // Cut off: a job left pending with a piece stored, as a node that stopped mid-export leaves it.
  const cut = { id: 'job_cutoffexport01', type: 'users_export', status: 'pending', created_at: Date.now() - 16 * 60_000, details: JSON.stringify({ format: 'json' }) };
  await ts.ctx.db('jobs').insert(cut);
  await ts.ctx.db('job_files').insert({ job_id: cut.id, seq: 0, content: Buffer.from('partial'), created_at: Date.now() });
  await sweepLifecycle(ts.ctx.db, 60_000);
  assert.equal((await ts.api('GET', `/jobs/${cut.id}`)).body.status, 'failed');
  assert.equal(await ts.ctx.db('job_files').where({ job_id: cut.id }).first(), undefined, 'its pieces went');
  assert.equal((await ts.api('GET', `/jobs/${cut.id}`)).body.location, undefined);
  assert.ok(await ts.ctx.db('job_files').where({ job_id: job.id }).first(), 'a finished export keeps its file');
  // Seven days on the job goes, and its file with it (foreign key).
  await sweepLifecycle(ts.ctx.db, 60_000, Date.now() + 8 * 86400_000);
  assert.equal(await ts.ctx.db('job_files').where({ job_id: job.id }).first(), undefined);
  assert.equal((await fetch(await exportLink(ts.ctx, job.id, Date.now() + 60_000))).status, 404);
});

test('one export at a time per server: another asked meanwhile is told to wait (429)', async () => {
  const own = await startTestServer();
  try {
    // Enough users that the first export is still being made when the second request arrives.
    const at = new Date().toISOString();
    for (let i = 0; i < 20_000; i += 500) {
      await own.ctx.db('users').insert(Array.from({ length: 500 }, (_, j) => ({
        id: `auth0|bulk${String(i + j).padStart(6, '0')}`, email: `bulk${i + j}@example.com`, email_verified: false, password_hash: null,
        connection: 'Username-Password-Authentication', name: `bulk ${i + j}`, nickname: 'bulk', app_metadata: '{}', user_metadata: '{"k":"v"}',
        blocked: false, created_at: at, updated_at: at,
      })));
    }
    const [a, b] = await Promise.all([own.api('POST', '/jobs/users-exports', { format: 'json' }), own.api('POST', '/jobs/users-exports', { format: 'csv' })]);
    assert.deepEqual([a.status, b.status].sort(), [201, 429], JSON.stringify([a.body, b.body]));
    const refused = a.status === 429 ? a : b;
    assert.match(refused.body.message, /An export is being made \(job_[\w-]+\): try again once it is done/);
    const first = await finishedJob(own, (a.status === 201 ? a : b).body.id);
    assert.equal(first.status, 'completed');
    assert.ok(first.exported >= 20_000);
    assert.equal((await own.api('POST', '/jobs/users-exports', { format: 'csv', limit: 1 })).status, 201, 'then the next one is taken');
  } finally {
    await own.close();
  }
});
