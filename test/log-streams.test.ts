import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { startTestServer, freePort, type TestServer } from './helpers/server.ts';

/*
 * Auth0's log streams of type http: a real HTTP server stands in for the log service and records
 * what it is sent. Events are made through the real server (failed logins, Management API
 * changes); passes are driven with the stream module's own tick (the server's timer runs too).
 */

interface Got { path: string; headers: IncomingHttpHeaders; body: string }
let receiver: Server;
let base = '';
let got: Got[] = [];
/** Paths the stand-in answers with 500 (a log service that is down). */
const down = new Set<string>();
/** /picky refuses a request whose body holds this. */
let refuseMarker = 'never-in-a-body';
/** /held… answers only once the test opens the gate. */
let openGate: () => void = () => {};
let gate: Promise<void> = Promise.resolve();
const closeGate = () => { gate = new Promise((r) => { openGate = r; }); };
let ts: TestServer;

before(async () => {
  receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      got.push({ path: req.url ?? '', headers: req.headers, body });
      res.statusCode = down.has(req.url ?? '') || (req.url === '/picky' && body.includes(refuseMarker)) ? 500 : 200;
      void ((req.url ?? '').startsWith('/held') ? gate : Promise.resolve()).then(() => res.end());
    });
  });
  const port = await freePort();
  await new Promise<void>((r) => receiver.listen(port, '127.0.0.1', r));
  base = `http://127.0.0.1:${port}`;
  ts = await startTestServer({ logStreams: { allowHosts: [`127.0.0.1:${port}`] } });
});
after(async () => {
  await ts?.close();
  await new Promise((r) => receiver?.close(r));
});

/** Two passes: the second starts after everything recorded so far (a pass under way may have started before). */
async function passes() { await ts.ctx.logStreams.tick(); await ts.ctx.logStreams.tick(); }
const take = (path: string) => { const mine = got.filter((g) => g.path === path); got = got.filter((g) => g.path !== path); return mine; };
/** A failed password check for `email`, as the login form makes one (audited as fu: no such user). */
async function failLogin(email: string) {
  await ts.ctx.checkPassword(email, 'wrong password 123', { ip: '198.51.100.9', userAgent: 'test', clientId: null, where: 'Login' });
}

test('create, read, list: Auth0\'s shape; the authorization and header values are never shown; bad sinks and filters refused', async () => {
  const made = await ts.api('POST', '/log-streams', {
    name: 'SIEM', type: 'http', isPriority: false,
    sink: { httpEndpoint: `${base}/all`, httpContentFormat: 'JSONARRAY', httpAuthorization: 'Bearer stream-secret-123', httpCustomHeaders: [{ header: 'X-Api-Key', value: 'header-secret-456' }] },
  });
  assert.equal(made.status, 201, JSON.stringify(made.body));
  assert.match(made.body.id, /^lst_/);
  assert.equal(made.body.status, 'active');
  assert.deepEqual(made.body.sink, { httpEndpoint: `${base}/all`, httpContentType: 'application/json', httpContentFormat: 'JSONARRAY', httpCustomHeaders: [{ header: 'X-Api-Key' }] });
  const text = JSON.stringify([made.body, (await ts.api('GET', `/log-streams/${made.body.id}`)).body, (await ts.api('GET', '/log-streams')).body]);
  assert.doesNotMatch(text, /stream-secret-123|header-secret-456/);
  const refuse = async (body: Record<string, unknown>, re: RegExp) => {
    const r = await ts.api('POST', '/log-streams', { name: 'Bad', type: 'http', sink: { httpEndpoint: 'https://logs.example/in' }, ...body });
    assert.equal(r.status, 400, JSON.stringify(r.body));
    assert.match(r.body.message, re);
  };
  await refuse({ sink: { httpEndpoint: 'http://logs.example/in' } }, /https/);
  await refuse({ sink: { httpEndpoint: 'https://logs.example/in', httpCustomHeaders: [{ header: 'Authorization', value: 'x' }] } }, /httpAuthorization/);
  await refuse({ sink: { httpEndpoint: 'https://logs.example/in', httpAuthorization: 'a\r\nX-Evil: 1' } }, /line break/);
  await refuse({ filters: [{ type: 'category', name: 'auth.everything' }] }, /not a category/);
  await refuse({ isPriority: true }, /isPriority/);
  await refuse({ type: 'datadog' }, /type/);
  // Its own scopes.
  assert.equal((await ts.api('GET', '/log-streams', undefined, await ts.adminToken('read:logs'))).status, 403);
  assert.equal((await ts.api('DELETE', `/log-streams/${made.body.id}`)).status, 204);
});

test('delivery: what happens after the stream was made, in order, with its headers; filters choose the categories', async () => {
  await failLogin('before@streams.example');
  const every = (await ts.api('POST', '/log-streams', { name: 'Everything', type: 'http', sink: { httpEndpoint: `${base}/every`, httpAuthorization: 'Bearer k1', httpCustomHeaders: [{ header: 'X-Api-Key', value: 'v1' }] } })).body;
  const fails = (await ts.api('POST', '/log-streams', { name: 'Failed logins', type: 'http', sink: { httpEndpoint: `${base}/fails`, httpContentFormat: 'JSONLINES', httpContentType: 'application/x-ndjson' }, filters: [{ type: 'category', name: 'auth.login.fail' }] })).body;
  await failLogin('one@streams.example');
  await failLogin('two@streams.example');
  await passes();
  const all = take('/every');
  assert.ok(all.length >= 1);
  assert.equal(all[0].headers.authorization, 'Bearer k1');
  assert.equal(all[0].headers['x-api-key'], 'v1');
  assert.equal(all[0].headers['content-type'], 'application/json');
  const events = all.flatMap((g) => JSON.parse(g.body) as { log_id: string; data: { log_id: string; type: string; user_name: string } }[]);
  assert.ok(events.every((e) => e.log_id === e.data.log_id));
  const names = events.map((e) => e.data.user_name);
  assert.ok(!names.includes('before@streams.example'), 'a new stream starts at the end of the log');
  assert.ok(names.indexOf('one@streams.example') < names.indexOf('two@streams.example') && names.includes('one@streams.example'), 'in order');
  assert.ok(events.some((e) => e.data.type === 'sapi'), 'the second stream\'s creation (a Management API change) is in the first');

  const lines = take('/fails');
  assert.equal(lines[0].headers['content-type'], 'application/x-ndjson');
  const failed = lines.flatMap((g) => g.body.split('\n').map((l) => JSON.parse(l) as { data: { type: string; user_name: string } }));
  assert.deepEqual(failed.map((e) => e.data.user_name), ['one@streams.example', 'two@streams.example']);
  assert.ok(failed.every((e) => ['f', 'fp', 'fu'].includes(e.data.type)), 'only the chosen category');
  // Nothing twice once delivered.
  await passes();
  assert.deepEqual(take('/every').flatMap((g) => JSON.parse(g.body)).filter((e: { data: { user_name: string } }) => e.data.user_name === 'one@streams.example'), []);
  for (const s of [every, fails]) await ts.api('DELETE', `/log-streams/${s.id}`);
  take('/every');
});

test('a failing endpoint: the same events are sent again later; after 24 hours of failure the stream is suspended, and resumes where it stopped', async (t) => {
  down.add('/down');
  const s = (await ts.api('POST', '/log-streams', { name: 'Down', type: 'http', sink: { httpEndpoint: `${base}/down`, httpContentFormat: 'JSONOBJECT' }, filters: [{ type: 'category', name: 'auth.login.fail' }] })).body;
  await failLogin('retry@streams.example');
  await passes();
  const first = take('/down');
  assert.equal(first.length, 1, 'one request per event (JSONOBJECT)');
  const row = await ts.ctx.db('log_streams').where({ id: s.id }).first();
  assert.equal(Number(row.failures), 1);
  assert.match(row.last_error, /HTTP 500/);
  await passes();
  assert.equal(take('/down').length, 0, 'it waits before trying again');
  const realNow = Date.now;
  t.after(() => { Date.now = realNow; });
  Date.now = () => realNow() + 6000;
  await passes();
  const second = take('/down');
  assert.equal(second.length, 1);
  assert.equal(JSON.parse(second[0].body).log_id, JSON.parse(first[0].body).log_id, 'the same event again');
  // Failing since more than a day: the next failure suspends it.
  await ts.ctx.db('log_streams').where({ id: s.id }).update({ failing_since: realNow() - 25 * 3600_000, next_attempt_at: null });
  await passes();
  take('/down');
  assert.equal((await ts.api('GET', `/log-streams/${s.id}`)).body.status, 'suspended');
  await failLogin('while-suspended@streams.example');
  await passes();
  assert.equal(take('/down').length, 0, 'a suspended stream sends nothing');
  down.delete('/down');
  assert.equal((await ts.api('PATCH', `/log-streams/${s.id}`, { status: 'active' })).body.status, 'active');
  await passes();
  const resumed = take('/down').map((g) => (JSON.parse(g.body) as { data: { user_name: string } }).data.user_name);
  assert.deepEqual(resumed, ['retry@streams.example', 'while-suspended@streams.example'], 'from where it stopped');
  await ts.api('DELETE', `/log-streams/${s.id}`);
});

test('an endpoint on a private address that allowHosts does not name is refused, and says why', async () => {
  const s = (await ts.api('POST', '/log-streams', { name: 'Unlisted', type: 'http', sink: { httpEndpoint: `${base.replace('127.0.0.1', 'localhost')}/unlisted` } })).body;
  await failLogin('ssrf@streams.example');
  await passes();
  assert.equal(take('/unlisted').length, 0, 'nothing reached the receiver by the unlisted name');
  const row = await ts.ctx.db('log_streams').where({ id: s.id }).first();
  assert.match(row.last_error, /loopback, private or link-local/);
  await ts.api('DELETE', `/log-streams/${s.id}`);
});

test('startFrom (Auth0\'s checkpoint) starts with that log; an endpoint moved to another origin does not take the secrets along', async () => {
  await failLogin('checkpoint@streams.example');
  const mark = await ts.ctx.db('audit_logs').where({ user_name: 'checkpoint@streams.example' }).first('log_id');
  const s = (await ts.api('POST', '/log-streams', { name: 'From a checkpoint', type: 'http', startFrom: mark.log_id, sink: { httpEndpoint: `${base}/from`, httpAuthorization: 'Bearer keep-me-here', httpCustomHeaders: [{ header: 'X-Api-Key', value: 'k' }] }, filters: [{ type: 'category', name: 'auth.login.fail' }] })).body;
  await passes();
  const first = take('/from');
  assert.equal(JSON.parse(first[0].body)[0].log_id, mark.log_id, 'the checkpoint itself comes first');
  assert.equal(first[0].headers.authorization, 'Bearer keep-me-here');
  // Same origin, another path: the secrets stay. Another origin: they must be given again (regression: anyone with update:log_streams could send them to a host of their own).
  assert.equal((await ts.api('PATCH', `/log-streams/${s.id}`, { sink: { httpEndpoint: `${base}/from2` } })).status, 200);
  await failLogin('same-origin@streams.example');
  await passes();
  assert.equal(take('/from2')[0].headers.authorization, 'Bearer keep-me-here');
  const moved = await ts.api('PATCH', `/log-streams/${s.id}`, { sink: { httpEndpoint: 'https://logs.example/intake' } });
  assert.equal(moved.status, 200);
  assert.equal(moved.body.sink.httpCustomHeaders, undefined, 'the header values went with the old origin');
  const sealed = await ts.ctx.db('log_streams').where({ id: s.id }).first('sink_sealed');
  assert.doesNotMatch(ts.ctx.box.open(sealed.sink_sealed, `log-stream:${s.id}`), /keep-me-here/);
  // A header value Node could not send is refused when saved, not at every send.
  const euro = await ts.api('PATCH', `/log-streams/${s.id}`, { sink: { httpAuthorization: 'Bearer 10€' } });
  assert.equal(euro.status, 400);
  await ts.api('DELETE', `/log-streams/${s.id}`);
});

test('a stream deleted while its request is under way sends nothing more; a stream whose sink cannot be opened does not hold up the others', async () => {
  closeGate();
  const held = (await ts.api('POST', '/log-streams', { name: 'Held', type: 'http', sink: { httpEndpoint: `${base}/held`, httpContentFormat: 'JSONOBJECT' }, filters: [{ type: 'category', name: 'auth.login.fail' }] })).body;
  await failLogin('held1@streams.example');
  await failLogin('held2@streams.example');
  const pass = ts.ctx.logStreams.tick();
  while (!got.some((g) => g.path === '/held')) await new Promise((r) => setTimeout(r, 20));
  assert.equal((await ts.api('DELETE', `/log-streams/${held.id}`)).status, 204);
  openGate();
  await pass;
  await passes();
  assert.equal(take('/held').length, 1, 'the second event was not sent after the delete');

  const broken = (await ts.api('POST', '/log-streams', { name: 'Broken sink', type: 'http', sink: { httpEndpoint: `${base}/broken-sink` } })).body;
  const fine = (await ts.api('POST', '/log-streams', { name: 'Fine', type: 'http', sink: { httpEndpoint: `${base}/fine` }, filters: [{ type: 'category', name: 'auth.login.fail' }] })).body;
  await ts.ctx.db('log_streams').where({ id: broken.id }).update({ sink_sealed: ts.ctx.box.seal('{}', 'another-aad') });
  await failLogin('unblocked@streams.example');
  await passes();
  assert.equal(take('/fine').length, 1, 'the other stream was delivered');
  const shown = await ts.api('GET', `/log-streams/${broken.id}`);
  assert.equal(shown.status, 200);
  assert.equal(shown.body.sink.httpEndpoint, null);
  assert.match((await ts.ctx.db('log_streams').where({ id: broken.id }).first()).last_error, /cannot be opened/);
  assert.equal((await ts.api('GET', '/log-streams')).status, 200);
  assert.equal((await ts.api('PATCH', `/log-streams/${broken.id}`, { name: 'Renamed while broken' })).status, 200, 'an unreadable sink does not stop a rename');
  const repaired = await ts.api('PATCH', `/log-streams/${broken.id}`, { sink: { httpEndpoint: `${base}/repaired` }, status: 'active' });
  assert.equal(repaired.status, 200);
  assert.equal(repaired.body.sink.httpEndpoint, `${base}/repaired`);
  for (const x of [broken, fine]) await ts.api('DELETE', `/log-streams/${x.id}`);
  take('/repaired');
});

test('stopping the server cuts a request under way instead of waiting for the endpoint', async () => {
  const own = await startTestServer({ logStreams: { allowHosts: [new URL(base).host] } });
  try {
    closeGate();
    await own.api('POST', '/log-streams', { name: 'Held on close', type: 'http', sink: { httpEndpoint: `${base}/held-close` } });
    await own.ctx.checkPassword('close@streams.example', 'wrong password 123', { ip: '198.51.100.9', userAgent: 'test', clientId: null, where: 'Login' });
    void own.ctx.logStreams.tick();
    while (!got.some((g) => g.path === '/held-close')) await new Promise((r) => setTimeout(r, 20));
    let answered = false;
    void gate.then(() => { answered = true; });
    await own.ctx.logStreams.stop();
    assert.equal(answered, false, 'stop() returned while the endpoint still held its answer');
    const row = await own.ctx.db('log_streams').first();
    assert.equal(Number(row.failures), 0, 'stopping is not the endpoint\'s failure');
    assert.equal(row.last_error, null);
  } finally {
    openGate();
    await own.close();
    take('/held-close');
  }
});

test('one request per event (JSONOBJECT): the place moves after each one taken, so a failure sends again only what was not taken', async (t) => {
  const s = (await ts.api('POST', '/log-streams', { name: 'Picky', type: 'http', sink: { httpEndpoint: `${base}/picky`, httpContentFormat: 'JSONOBJECT' }, filters: [{ type: 'category', name: 'auth.login.fail' }] })).body;
  refuseMarker = 'second@streams.example';
  await failLogin('first@streams.example');
  await failLogin('second@streams.example');
  await passes();
  assert.deepEqual(take('/picky').map((g) => (JSON.parse(g.body) as { data: { user_name: string } }).data.user_name), ['first@streams.example', 'second@streams.example']);
  refuseMarker = 'never-in-a-body';
  const realNow = Date.now;
  t.after(() => { Date.now = realNow; });
  Date.now = () => realNow() + 6000;
  await passes();
  assert.deepEqual(take('/picky').map((g) => (JSON.parse(g.body) as { data: { user_name: string } }).data.user_name), ['second@streams.example'], 'the first is not sent again');
  // A sink stored with a header Node will not send (saved before values were checked): a failure with the reason, nothing worse.
  const sealed = ts.ctx.box.seal(JSON.stringify({ httpEndpoint: `${base}/picky`, httpCustomHeaders: [{ header: 'X-Bad', value: 'a\nb' }] }), `log-stream:${s.id}`);
  await ts.ctx.db('log_streams').where({ id: s.id }).update({ sink_sealed: sealed, next_attempt_at: null });
  await failLogin('third@streams.example');
  await passes();
  assert.match((await ts.ctx.db('log_streams').where({ id: s.id }).first()).last_error, /Invalid character|X-Bad|header/i);
  await ts.api('DELETE', `/log-streams/${s.id}`);
});
