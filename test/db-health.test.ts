import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import { startTestServer, discover, loginThroughForm, authorizationRequest, type TestServer } from './helpers/server.ts';
import { Browser } from './helpers/cookie-fetch.ts';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { createAdapterFactory } from '../src/oidc/adapter.ts';

/*
 * SECURITY F6: a database that cannot take writes (read-only, disk full). Logins fail closed
 * with a page that says so, the health check turns red and says why, and both recover when
 * the database does. SQLite's `PRAGMA query_only` makes the server's own connection refuse
 * every write with SQLITE_READONLY, as a read-only file or mount does.
 */

const CB = 'https://app-5182.example/cb';
const EMAIL = 'health@example.com';
const PASSWORD = 'health check password';
let ts: TestServer;
let config: oidc.Configuration;

before(async () => {
  ts = await startTestServer();
  const spa = await ts.ctx.clients.create({ name: 'Health SPA', app_type: 'spa', callbacks: [CB] });
  config = await discover(ts, spa.client_id);
  await ts.ctx.users.create({ email: EMAIL, password: PASSWORD });
});
after(async () => {
  await ts?.ctx.db.raw('PRAGMA query_only = 0');
  await ts?.close();
});

/** Whether the browser's session is signed in: prompt=none answers with a code only then. */
async function signedIn(browser: Browser) {
  const { url } = await authorizationRequest(config, { redirectUri: CB, scope: 'openid', params: { prompt: 'none' } });
  const r = await browser.follow(url, {}, (u) => u.href.startsWith(CB));
  return r.url.href.startsWith(CB) && r.url.searchParams.has('code');
}

const health = async () => { const r = await fetch(`${ts.base}/healthz`); return { status: r.status, body: await r.json() as { status: string; reason?: string } }; };

test('a read-only database: logins fail closed, /healthz is red with the reason, both recover (F6)', async () => {
  assert.deepEqual(await health(), { status: 200, body: { status: 'ok' } });

  // A login page already open when the database turns read-only, and a new authorization.
  const browser = new Browser();
  const { url } = await authorizationRequest(config, { redirectUri: CB, scope: 'openid email' });
  const opened = await browser.follow(url, {}, (u) => u.href.startsWith(CB));
  const loginHtml = await opened.res.text();
  assert.match(loginHtml, /name="password"/);

  await ts.ctx.db.raw('PRAGMA query_only = 1');
  try {
    assert.deepEqual(await health(), { status: 503, body: { status: 'unavailable', reason: 'database not writable' } });
    const logsBefore = ts.logs.length;
    const posted = await browser.submit(opened.url, loginHtml, { email: EMAIL, password: PASSWORD });
    assert.ok(posted.status >= 500, `the password POST answered ${posted.status}`);
    const page = await posted.text();
    assert.match(page, /role="alert"/);
    assert.doesNotMatch(page, /SQLITE|readonly|at \S+\.ts:/, 'no internals on the page');
    assert.equal(await signedIn(browser), false, 'no session was made');

    const fresh = await fetch(url, { redirect: 'manual' });
    assert.ok(fresh.status >= 500, `a new authorization answered ${fresh.status}`);
    assert.doesNotMatch(await fresh.text(), /SQLITE|readonly/);

    const logged = ts.logs.slice(logsBefore).join('\n');
    assert.match(logged, /SQLITE_READONLY|readonly/i, 'the log says why');
    assert.ok(!logged.includes(PASSWORD), 'the password is not logged');
  } finally {
    await ts.ctx.db.raw('PRAGMA query_only = 0');
  }

  // Writable again: the next login works, and its writes turn the check green (a failed write
  // is remembered until one succeeds: the lock probe alone cannot see a full disk).
  const ok = await loginThroughForm(config, { redirectUri: CB, email: EMAIL, password: PASSWORD });
  assert.ok(ok.callbackUrl, 'logins work again');
  assert.deepEqual(await health(), { status: 200, body: { status: 'ok' } });
});

test('a failed write with a storage error keeps /healthz red until a write lands', async () => {
  await ts.ctx.db.raw('PRAGMA query_only = 1');
  await assert.rejects(ts.ctx.db('audit_logs').where({ type: 'never' }).delete());
  await ts.ctx.db.raw('PRAGMA query_only = 0');
  // The lock probe passes again (as it would with a full disk), but the failed write is remembered.
  assert.equal((await health()).status, 503);
  await ts.ctx.db('audit_logs').insert({ log_id: 'writable-again', date: new Date().toISOString(), type: 'x', description: 'a write that lands', details: '{}' });
  assert.deepEqual(await health(), { status: 200, body: { status: 'ok' } });
});

test('a full disk: the check stays red through writes that change nothing, green after one that does', async () => {
  // SQLITE_FULL as a full disk gives it: the file may not grow past its current size.
  const pages = Number((await ts.ctx.db.raw('PRAGMA page_count'))[0].page_count);
  await ts.ctx.db.raw(`PRAGMA max_page_count = ${pages}`);
  try {
    const big = 'x'.repeat(64 * 1024);
    await assert.rejects(ts.ctx.db('audit_logs').insert({ log_id: 'full-disk-probe', date: new Date().toISOString(), type: 'x', description: big, details: '{}' }), (e: { code?: string }) => e.code === 'SQLITE_FULL');
    assert.equal((await health()).status, 503);
    // Regression: the 30 s sweeps run DELETEs that match nothing; one used to turn the check green.
    await ts.ctx.db('audit_logs').where({ type: 'never' }).delete();
    assert.deepEqual(await health(), { status: 503, body: { status: 'unavailable', reason: 'database not writable' } });
  } finally {
    await ts.ctx.db.raw('PRAGMA max_page_count = 4294967294');
  }
  await ts.ctx.db('audit_logs').insert({ log_id: 'after-full-disk', date: new Date().toISOString(), type: 'x', description: 'room again', details: '{}' });
  assert.deepEqual(await health(), { status: 200, body: { status: 'ok' } });
});

test("the OIDC adapter's own SQLite statements report a full disk to /healthz, and a write of theirs that lands clears it", async () => {
  // They run outside knex's query builder: a token endpoint that can no longer store codes or
  // refresh tokens must still turn the check red.
  assert.deepEqual(await health(), { status: 200, body: { status: 'ok' } });
  const Adapter = createAdapterFactory(ts.ctx.db, { findClientMetadata: () => undefined });
  const sessions = new Adapter('Session');
  const pages = Number((await ts.ctx.db.raw('PRAGMA page_count'))[0].page_count);
  await ts.ctx.db.raw(`PRAGMA max_page_count = ${pages}`);
  try {
    await assert.rejects(sessions.upsert('full-disk-session', { big: 'x'.repeat(64 * 1024) }, 60), (e: { code?: string }) => e.code === 'SQLITE_FULL');
    assert.deepEqual(await health(), { status: 503, body: { status: 'unavailable', reason: 'database not writable' } });
  } finally {
    await ts.ctx.db.raw('PRAGMA max_page_count = 4294967294');
  }
  await sessions.upsert('room-again-session', { small: true }, 60);
  assert.deepEqual(await health(), { status: 200, body: { status: 'ok' } });
  await sessions.destroy('room-again-session');
});

test('another process holds an exclusive lock: writes wait out busy_timeout, then 503 with no internals and nothing half-written (F4)', async () => {
  const browser = new Browser();
  const { url } = await authorizationRequest(config, { redirectUri: CB, scope: 'openid email' });
  const opened = await browser.follow(url, {}, (u) => u.href.startsWith(CB));
  const loginHtml = await opened.res.text();
  const usersBefore = (await ts.ctx.db('users').count({ n: '*' }))[0].n;
  const token = await ts.adminToken();

  // A second connection, as another process (the CLI, a backup, a sqlite3 shell) would hold it.
  const other = new Database(join(ts.dir, 'gatehouse.sqlite'));
  other.pragma('busy_timeout = 0');
  other.exec('BEGIN EXCLUSIVE');
  try {
    const logsBefore = ts.logs.length;
    const t0 = Date.now();
    const posted = await browser.submit(opened.url, loginHtml, { email: EMAIL, password: PASSWORD });
    assert.ok(Date.now() - t0 >= 4000, 'the write waited for the lock (busy_timeout) before giving up');
    assert.equal(posted.status, 503);
    const page = await posted.text();
    assert.match(page, /role="alert"/);
    assert.match(page, /busy, try again/i, 'the page says what went wrong');
    assert.doesNotMatch(page, /SQLITE|at \S+\.ts:|select |insert /i, 'no internals on the page');
    assert.equal(await signedIn(browser), false, 'no session was made');

    const created = await fetch(`${ts.base}/api/v2/users`, {
      method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'locked-out@example.com', password: 'a long enough password', connection: 'Username-Password-Authentication' }),
    });
    assert.equal(created.status, 503);
    const body = await created.json() as Record<string, unknown>;
    assert.deepEqual(Object.keys(body).sort(), ['error', 'errorCode', 'message', 'statusCode']);
    assert.equal(body.errorCode, 'temporarily_unavailable');
    assert.doesNotMatch(JSON.stringify(body), /SQLITE|locked-out@/);
    assert.match(ts.logs.slice(logsBefore).join('\n'), /SQLITE_BUSY|database is locked/i, 'the log says why');
  } finally {
    other.exec('ROLLBACK');
    other.close();
  }

  assert.equal((await ts.ctx.db('users').count({ n: '*' }))[0].n, usersBefore, 'the refused signup left no row');
  assert.equal(await ts.ctx.db('users').where({ email: 'locked-out@example.com' }).first(), undefined);
  const ok = await loginThroughForm(config, { redirectUri: CB, email: EMAIL, password: PASSWORD });
  assert.ok(ok.callbackUrl, 'logins work once the lock is gone');
});
