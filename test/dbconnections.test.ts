import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from './helpers/server.ts';
import { startServerWithSink, linkIn, type SmtpSink } from './helpers/smtp-sink.ts';
import { bindActions, deployAction } from './helpers/actions.ts';

/*
 * Auth0's Authentication API for the database connection, as auth0.js and Lock call it from
 * an app's own forms: POST /dbconnections/signup and /dbconnections/change_password, through
 * the real server with a real SMTP sink.
 */

const ORIGIN = 'https://app.example.com';
const CONNECTION = 'Username-Password-Authentication';
let ts: TestServer;
let sink: SmtpSink;
let clientId = '';

before(async () => {
  ({ ts, sink } = await startServerWithSink());
  clientId = (await ts.api('POST', '/clients', { name: 'Own Forms SPA', app_type: 'spa', callbacks: [`${ORIGIN}/cb`], web_origins: [ORIGIN] })).body.client_id;
});
after(async () => { await ts?.close(); });

async function post(path: string, body: unknown, headers: Record<string, string> = { origin: ORIGIN }, server = ts) {
  const form = typeof body === 'string';
  const res = await fetch(`${server.base}/dbconnections/${path}`, {
    method: 'POST', headers: { 'content-type': form ? 'application/x-www-form-urlencoded' : 'application/json', ...headers }, body: form ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json: any;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: res.status, json, text, headers: res.headers };
}
const userByEmail = async (email: string) => (await ts.api('GET', `/users-by-email?email=${encodeURIComponent(email)}`)).body[0];

test('signup from an allowed origin creates the user with its profile and user_metadata, answers as Auth0, mails a verification link', async () => {
  const r = await post('signup', {
    client_id: clientId, connection: CONNECTION, email: 'Own.Form@Example.com', password: 'own form password 1',
    given_name: 'Own', family_name: 'Form', name: 'Own Form', user_metadata: { plan: 'trial', referrer: 'ad' },
  });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.headers.get('access-control-allow-origin'), ORIGIN);
  assert.deepEqual({ ...r.json, _id: undefined }, { _id: undefined, email: 'own.form@example.com', email_verified: false, given_name: 'Own', family_name: 'Form', name: 'Own Form', user_metadata: { plan: 'trial', referrer: 'ad' } });
  const u = await userByEmail('own.form@example.com');
  assert.equal(u.user_id, `auth0|${r.json._id}`);
  assert.deepEqual(u.user_metadata, { plan: 'trial', referrer: 'ad' });
  assert.equal(u.given_name, 'Own');
  const mail = await sink.waitFor((m) => m.to.includes('own.form@example.com') && /Verify your email/.test(m.subject), 'the verification mail');
  assert.equal(linkIn(mail, '/verify-email').origin, ts.base);
  const types = (await ts.ctx.db('audit_logs').where({ user_id: u.user_id }).select('type')).map((x) => x.type);
  assert.ok(types.includes('ss'));
});

test('pre-user-registration sees the user_metadata sent, may add to it or deny with its message', async () => {
  await deployAction(ts, { name: 'dbc-pre', trigger: 'pre-user-registration', code: `exports.onExecutePreUserRegistration = async (event, api) => {
    if (event.user.user_metadata.orgId !== 'acme') return api.access.deny('no_org', 'Invalid OrgId');
    api.user.setUserMetadata('checked', 'yes');
  };` });
  await bindActions(ts, 'pre-user-registration', ['dbc-pre']);
  try {
    const denied = await post('signup', { client_id: clientId, connection: CONNECTION, email: 'no.org@example.com', password: 'own form password 1', user_metadata: { orgId: 'other' } });
    assert.equal(denied.status, 400);
    assert.equal(denied.json.code, 'extensibility_error');
    assert.equal(denied.json.description, 'Invalid OrgId');
    assert.equal(await userByEmail('no.org@example.com'), undefined, 'nothing created');
    const ok = await post('signup', { client_id: clientId, connection: CONNECTION, email: 'org@example.com', password: 'own form password 1', user_metadata: { orgId: 'acme' } });
    assert.equal(ok.status, 200, ok.text);
    assert.deepEqual((await userByEmail('org@example.com')).user_metadata, { orgId: 'acme', checked: 'yes' });
  } finally {
    await bindActions(ts, 'pre-user-registration', []);
  }
});

test('refusals: an existing address, a weak password, bad fields, another connection or client, a foreign origin; nothing is created', async () => {
  const base = { client_id: clientId, connection: CONNECTION, password: 'own form password 1' };
  await post('signup', { ...base, email: 'taken@example.com' });
  const again = await post('signup', { ...base, email: 'TAKEN@example.com' });
  assert.equal(again.status, 400);
  assert.deepEqual(again.json, { name: 'BadRequestError', code: 'invalid_signup', description: 'Invalid sign up', statusCode: 400 });
  const cases: [unknown, number, string, RegExp][] = [
    [{ ...base, email: 'weak@example.com', password: 'password123' }, 400, 'invalid_password', /./],
    [{ ...base, email: 'meta@example.com', user_metadata: { n: 1 } }, 400, 'invalid_body', /user_metadata/],
    [{ ...base, email: 'meta2@example.com', user_metadata: Object.fromEntries(Array.from({ length: 11 }, (_, i) => [`k${i}`, 'v'])) }, 400, 'invalid_body', /10 keys/],
    [{ ...base, email: 'app@example.com', app_metadata: { admin: true } }, 400, 'invalid_body', /app_metadata/],
    [{ ...base, email: 'user@example.com', username: 'someone' }, 400, 'invalid_body', /username/],
    [{ ...base, email: 'conn@example.com', connection: 'google-oauth2' }, 400, 'invalid_connection', /Username-Password-Authentication/],
    [{ ...base, email: 'client@example.com', client_id: 'nope' }, 400, 'invalid_client', /client/i],
    [{ ...base, email: 'not an address' }, 400, 'invalid_signup', /e-mail/],
  ];
  for (const [body, status, code, description] of cases) {
    const r = await post('signup', body);
    assert.equal(r.status, status, `${JSON.stringify(body)}: ${r.text}`);
    assert.equal(r.json.code, code, JSON.stringify(body));
    assert.match(r.json.description, description);
  }
  const foreign = await post('signup', { ...base, email: 'foreign@example.com' }, { origin: 'https://evil.example' });
  assert.equal(foreign.status, 403);
  assert.equal(foreign.headers.get('access-control-allow-origin'), null);
  // Without an Origin (a server, not a browser) the client's web origins do not apply.
  assert.equal((await post('signup', { ...base, email: 'server.side@example.com' }, {})).status, 200);
  for (const e of ['weak@example.com', 'meta@example.com', 'app@example.com', 'user@example.com', 'conn@example.com', 'client@example.com', 'foreign@example.com']) assert.equal(await userByEmail(e), undefined, e);
});

test('preflight: an origin some client allows gets the CORS answer, another does not', async () => {
  const ask = (origin: string) => fetch(`${ts.base}/dbconnections/signup`, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' } });
  const ok = await ask(ORIGIN);
  assert.equal(ok.status, 204);
  assert.equal(ok.headers.get('access-control-allow-origin'), ORIGIN);
  assert.match(ok.headers.get('access-control-allow-headers') ?? '', /content-type/);
  const no = await ask('https://evil.example');
  assert.equal(no.status, 204);
  assert.equal(no.headers.get('access-control-allow-origin'), null);
});

test('change_password answers alike for any address and mails a reset link only to an account; JSON or form', async () => {
  await post('signup', { client_id: clientId, connection: CONNECTION, email: 'forgot@example.com', password: 'own form password 1' });
  const known = await post('change_password', { client_id: clientId, connection: CONNECTION, email: 'Forgot@Example.com' });
  const unknown = await post('change_password', `client_id=${clientId}&connection=${CONNECTION}&email=nobody%40example.com`);
  assert.equal(known.status, 200, known.text);
  assert.equal(unknown.status, 200, unknown.text);
  assert.equal(known.text, unknown.text);
  assert.equal(known.text, "We've just sent you an email to reset your password.");
  const mail = await sink.waitFor((m) => m.to.includes('forgot@example.com') && /Reset your/.test(m.subject), 'the reset mail');
  assert.ok(linkIn(mail, '/password/reset').searchParams.get('token'));
  await ts.ctx.mail.idle();
  assert.equal(sink.received.filter((m) => m.to.includes('nobody@example.com')).length, 0);
  assert.equal((await post('change_password', { connection: 'other', email: 'forgot@example.com' }, {})).json.code, 'invalid_connection');
});

test('sign-up switched off, and the per-address hourly cap, hold here too', async () => {
  const off = await startTestServer({ signup: { enabled: false, fields: [] }, bruteForce: { ...{ maxFailures: 5, lockSeconds: 60, maxWaitSeconds: 10, failureResetSeconds: 600 }, mailRequestsPerIpPerHour: 100, signupsPerIpPerHour: 2 } });
  try {
    const c = (await off.api('POST', '/clients', { name: 'Off', app_type: 'spa', callbacks: [`${ORIGIN}/cb`], web_origins: [ORIGIN] })).body.client_id;
    const r = await post('signup', { client_id: c, connection: CONNECTION, email: 'off@example.com', password: 'own form password 1' }, { origin: ORIGIN }, off);
    assert.equal(r.status, 403);
    assert.equal(r.json.code, 'operation_not_allowed');
  } finally {
    await off.close();
  }
  const capped = await startTestServer({ bruteForce: { maxFailures: 5, lockSeconds: 60, maxWaitSeconds: 10, failureResetSeconds: 600, mailRequestsPerIpPerHour: 100, signupsPerIpPerHour: 2 } });
  try {
    const c = (await capped.api('POST', '/clients', { name: 'Capped', app_type: 'spa', callbacks: [`${ORIGIN}/cb`], web_origins: [ORIGIN] })).body.client_id;
    // The cap counts per clock hour: near its end, start in the next one (as lifecycle.test.ts does).
    const leftInHour = 3600_000 - (Date.now() % 3600_000);
    if (leftInHour < 30_000) await new Promise((r) => setTimeout(r, leftInHour + 100));
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await post('signup', { client_id: c, connection: CONNECTION, email: `cap${i}@example.com`, password: 'own form password 1' }, { origin: ORIGIN }, capped)).status);
    assert.deepEqual(statuses.slice(0, 2), [200, 200]);
    assert.equal(statuses[2], 429);
  } finally {
    await capped.close();
  }
});

test('review: profile text and pictures are held to the Management API\'s rules, metadata takes no NUL, the configured sign-up fields apply, origins match without a trailing slash', async () => {
  const base = { client_id: clientId, connection: CONNECTION, password: 'own form password 1' };
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ ...base, email: 'bidi@example.com', name: 'Admin\u202Egnp.exe' }, /name/],
    [{ ...base, email: 'crlf@example.com', name: 'A\r\nX-Injected: 1' }, /name/],
    [{ ...base, email: 'js@example.com', picture: 'javascript:alert(document.domain)' }, /picture/],
    [{ ...base, email: 'http@example.com', picture: 'http://example.com/p.png' }, /picture/],
    [{ ...base, email: 'nul@example.com', user_metadata: { x: '\u0000' } }, /user_metadata/],
    [{ ...base, email: 'nulkey@example.com', user_metadata: { ['k\u0000']: 'v' } }, /user_metadata/],
    [{ ...base, email: 'surrogate@example.com', user_metadata: { x: '\ud800' } }, /user_metadata/],
  ];
  for (const [body, field] of cases) {
    const r = await post('signup', body);
    assert.equal(r.status, 400, `${JSON.stringify(body)}: ${r.text}`);
    assert.match(r.json.description, field);
    assert.equal(await userByEmail(String(body.email)), undefined);
  }
  // An origin stored with a trailing slash matches the browser's (which has none), as oidc-provider's CORS does.
  const slash = (await ts.api('POST', '/clients', { name: 'Slash SPA', app_type: 'spa', callbacks: ['https://slash.example.com/cb'], web_origins: ['https://slash.example.com/'] })).body;
  assert.equal((await post('signup', { ...base, client_id: slash.client_id, email: 'slash@example.com' }, { origin: 'https://slash.example.com' })).status, 200);

  const fields = await startTestServer({ signup: { enabled: true, fields: [{ name: 'terms', label: 'I accept the terms', type: 'checkbox', required: true, maxLength: 3 }, { name: 'company', label: 'Company', type: 'text', required: false, maxLength: 20 }, { name: 'picture', label: 'Picture', type: 'text', required: false, maxLength: 200 }] } });
  try {
    const c = (await fields.api('POST', '/clients', { name: 'Fields', app_type: 'spa', callbacks: [`${ORIGIN}/cb`], web_origins: [ORIGIN] })).body.client_id;
    await deployAction(fields, { name: 'dbc-fields', trigger: 'pre-user-registration', code: `exports.onExecutePreUserRegistration = async (event, api) => { api.user.setUserMetadata('company', event.request.body.company ?? 'none'); };` });
    await bindActions(fields, 'pre-user-registration', ['dbc-fields']);
    const b2 = { client_id: c, connection: CONNECTION, password: 'own form password 1' };
    const missing = await post('signup', { ...b2, email: 'no.terms@example.com' }, { origin: ORIGIN }, fields);
    assert.equal(missing.status, 400);
    assert.match(missing.json.description, /terms: must be ticked/);
    assert.equal((await post('signup', { ...b2, email: 'long@example.com', terms: true, company: 'x'.repeat(21) }, { origin: ORIGIN }, fields)).status, 400);
    // A page field named like a profile member keeps that member's rule here (review: it replaced it).
    const js = await post('signup', { ...b2, email: 'js.picture@example.com', terms: true, picture: 'javascript:alert(1)' }, { origin: ORIGIN }, fields);
    assert.equal(js.status, 400);
    assert.match(js.json.description, /picture/);
    const ok = await post('signup', { ...b2, email: 'with.terms@example.com', terms: true, company: 'Acme' }, { origin: ORIGIN }, fields);
    assert.equal(ok.status, 200, ok.text);
    assert.deepEqual((await fields.api('GET', '/users-by-email?email=with.terms%40example.com')).body[0].user_metadata, { company: 'Acme' });
  } finally {
    await fields.close();
  }
});
