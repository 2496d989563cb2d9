import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { createUser, discover, loginThroughForm, startTestServer, type TestServer } from './helpers/server.ts';

/* Auth0's /stats: active users (signed in within 30 days) and logins and sign-ups per UTC day. */

const CB = 'https://app-5188.example/cb';
let ts: TestServer;
before(async () => { ts = await startTestServer(); });
after(async () => { await ts?.close(); });

test('active users and daily logins and sign-ups come from what happened; bad ranges are refused; the scope is required', async () => {
  // Counted per UTC day: near midnight, start in the next day (the logins and the query on one day).
  const leftInDay = 86_400_000 - (Date.now() % 86_400_000);
  if (leftInDay < 30_000) await new Promise((r) => setTimeout(r, leftInDay + 100));
  assert.equal((await ts.api('GET', '/stats/active-users')).body, 0);
  const spa = (await ts.api('POST', '/clients', { name: 'Stats SPA', app_type: 'spa', callbacks: [CB], web_origins: ['http://localhost:5188'] })).body;
  const config = await discover(ts, spa.client_id);
  await createUser(ts, 'stats.one@example.com', 'stats password 1');
  await createUser(ts, 'stats.idle@example.com', 'stats password 1');
  for (let i = 0; i < 2; i++) assert.ok((await loginThroughForm(config, { redirectUri: CB, email: 'stats.one@example.com', password: 'stats password 1' })).callbackUrl);
  const signup = await fetch(`${ts.base}/dbconnections/signup`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ client_id: spa.client_id, connection: 'Username-Password-Authentication', email: 'stats.new@example.com', password: 'stats password 1' }) });
  assert.equal(signup.status, 200);
  // One who signed in long ago is not active.
  await ts.ctx.db('users').where({ email: 'stats.idle@example.com' }).update({ last_login: new Date(Date.now() - 40 * 86_400_000).toISOString() });

  assert.equal((await ts.api('GET', '/stats/active-users')).body, 1);
  const today = new Date().toISOString().slice(0, 10).replace(/-/g, '');
  const daily = await ts.api('GET', `/stats/daily?from=${today}&to=${today}`);
  assert.equal(daily.status, 200, JSON.stringify(daily.body));
  assert.equal(daily.body.length, 1);
  assert.equal(daily.body[0].date, `${today.slice(0, 4)}-${today.slice(4, 6)}-${today.slice(6)}T00:00:00.000Z`);
  assert.equal(daily.body[0].logins, 2);
  assert.equal(daily.body[0].signups, 1);
  const month = (await ts.api('GET', '/stats/daily')).body;
  assert.equal(month.length, 30, 'the last 30 days by default');
  assert.deepEqual(month.slice(0, 29).map((d: { logins: number }) => d.logins), Array(29).fill(0));

  for (const q of ['from=20240230', 'from=2024-01-01', 'from=20250101&to=20240101', 'from=20200101&to=20250101', 'extra=1']) {
    assert.equal((await ts.api('GET', `/stats/daily?${q}`)).status, 400, q);
  }
  assert.equal((await ts.api('GET', '/stats/active-users', undefined, await ts.adminToken('read:users'))).status, 403);
});
