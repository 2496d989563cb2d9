import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import { createUser, discover, loginThroughForm, type TestServer } from './helpers/server.ts';
import { Browser, alertText } from './helpers/cookie-fetch.ts';
import { startServerWithSink, linkIn, type SmtpSink } from './helpers/smtp-sink.ts';

/*
 * Auth0's tickets (POST /tickets/password-change, /tickets/email-verification) and
 * verification-email jobs (POST /jobs/verification-email, GET /jobs/{id}), through the real
 * server and a real SMTP sink: a ticket is a single-use link an admin hands over, used through
 * the same pages as a mailed link.
 */

const CB = 'https://app-5186.example/cb';
const RESULT = 'https://app.example.com/after?from=ticket';
let ts: TestServer;
let sink: SmtpSink;
let spaConfig: oidc.Configuration;

before(async () => {
  ({ ts, sink } = await startServerWithSink());
  const spa = await ts.ctx.clients.create({ name: 'Tickets SPA', app_type: 'spa', callbacks: [CB] });
  spaConfig = await discover(ts, spa.client_id);
});
after(async () => { await ts?.close(); });

const getUser = async (id: string) => (await ts.api('GET', `/users/${encodeURIComponent(id)}`)).body;
const canLogIn = async (email: string, password: string) => (await loginThroughForm(spaConfig, { redirectUri: CB, email, password })).callbackUrl !== undefined;

/** Opens a password-change ticket and sends the new password through its form. */
async function usePasswordTicket(ticket: string, password: string) {
  const b = new Browser();
  const link = new URL(ticket);
  const form = await b.request(link);
  const html = await form.text();
  return { form, res: await b.submit(link, html, { new_password: password }), b, link, html };
}

test('a password-change ticket sets the password once, sends the user to result_url with success, email and message, and verifies nothing unless asked', async () => {
  const email = 'invitee@tickets.example';
  const user = await createUser(ts, email, 'temporary password 1');
  const r = await ts.api('POST', '/tickets/password-change', { user_id: user.user_id, result_url: RESULT, includeEmailInRedirect: true, ttl_sec: 3600 });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  assert.deepEqual(Object.keys(r.body), ['ticket']);
  const link = new URL(r.body.ticket);
  assert.equal(link.origin + link.pathname, `${ts.base}/password/reset`);
  // The lifetime asked for, not the mailed link's.
  const row = await ts.ctx.db('email_tokens').where({ user_id: user.user_id, purpose: 'reset_password' }).whereNull('used_at').first();
  assert.ok(Math.abs(Number(row.expires_at) - (Date.now() + 3600_000)) < 60_000, String(row.expires_at));

  const used = await usePasswordTicket(r.body.ticket, 'the invited password 2');
  assert.equal(used.form.status, 200);
  assert.equal(used.res.status, 303);
  const to = new URL(used.res.headers.get('location')!);
  assert.equal(to.origin + to.pathname, 'https://app.example.com/after');
  assert.equal(to.searchParams.get('from'), 'ticket', 'result_url\'s own query is kept');
  assert.equal(to.searchParams.get('success'), 'true');
  assert.equal(to.searchParams.get('email'), email);
  assert.match(to.searchParams.get('message')!, /new password/);
  assert.ok(await canLogIn(email, 'the invited password 2'));
  assert.ok(!(await canLogIn(email, 'temporary password 1')));
  assert.equal((await getUser(user.user_id)).email_verified, false, 'a ticket may have gone anywhere: the address is not proven by it');

  // Single use.
  const again = await used.b.submit(used.link, used.html, { new_password: 'a third password 3' });
  assert.equal(again.status, 410);
  assert.match(alertText(await again.text())!, /already used/);
});

test('mark_email_as_verified verifies the address when the ticket is used; by e-mail and connection; without result_url the page says it is done', async () => {
  const email = 'marked@tickets.example';
  const user = await createUser(ts, email, 'temporary password 1');
  const r = await ts.api('POST', '/tickets/password-change', { email: 'Marked@Tickets.Example', connection_id: 'con_username_password', mark_email_as_verified: true });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  // Five days when ttl_sec is absent, as Auth0.
  const row = await ts.ctx.db('email_tokens').where({ user_id: user.user_id, purpose: 'reset_password' }).whereNull('used_at').first();
  assert.ok(Math.abs(Number(row.expires_at) - (Date.now() + 5 * 86_400_000)) < 60_000);
  const used = await usePasswordTicket(r.body.ticket, 'marked password 2');
  assert.equal(used.res.status, 200);
  assert.match(await used.res.text(), /Password changed/);
  assert.equal((await getUser(user.user_id)).email_verified, true);
});

test('a ticket for a password that changed since, or of a user blocked since, does not work', async () => {
  const email = 'stale@tickets.example';
  const user = await createUser(ts, email, 'temporary password 1');
  const first = (await ts.api('POST', '/tickets/password-change', { user_id: user.user_id })).body.ticket;
  assert.equal((await ts.api('PATCH', `/users/${encodeURIComponent(user.user_id)}`, { password: 'changed by an admin 2' })).status, 200);
  assert.equal((await new Browser().request(new URL(first))).status, 410, 'the password it was for is gone');
  const second = (await ts.api('POST', '/tickets/password-change', { user_id: user.user_id })).body.ticket;
  assert.equal((await ts.api('PATCH', `/users/${encodeURIComponent(user.user_id)}`, { blocked: true })).status, 200);
  assert.equal((await new Browser().request(new URL(second))).status, 410, 'a block ends the ticket');
  const refused = await ts.api('POST', '/tickets/password-change', { user_id: user.user_id });
  assert.equal(refused.status, 400);
  assert.match(refused.body.message, /blocked/);
});

test('an email-verification ticket verifies the address and sends the user on; a newer one replaces it', async () => {
  const email = 'unverified@tickets.example';
  const user = await createUser(ts, email, 'some password 1');
  const older = (await ts.api('POST', '/tickets/email-verification', { user_id: user.user_id, result_url: RESULT })).body.ticket;
  const r = await ts.api('POST', '/tickets/email-verification', { user_id: user.user_id, result_url: RESULT, ttl_sec: 600 });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  const b = new Browser();
  assert.equal((await b.request(new URL(older))).status, 410, 'replaced by the newer ticket');
  const link = new URL(r.body.ticket);
  assert.equal(link.pathname, '/verify-email');
  const page = await b.request(link);
  assert.equal(page.status, 200);
  const done = await b.submit(link, await page.text(), {});
  assert.equal(done.status, 303);
  const to = new URL(done.headers.get('location')!);
  assert.equal(to.searchParams.get('success'), 'true');
  assert.equal(to.searchParams.get('email'), null, 'the address only when asked');
  assert.match(to.searchParams.get('message')!, /verified/);
  assert.equal((await getUser(user.user_id)).email_verified, true);
});

test('bad ticket requests get a 400 or 404 naming the problem, and no ticket; the scope is required', async () => {
  const user = await createUser(ts, 'bad.requests@tickets.example', 'some password 1');
  const id = user.user_id;
  const cases: [string, unknown, number, RegExp][] = [
    ['/tickets/password-change', {}, 400, /user_id or email/],
    ['/tickets/password-change', { user_id: id, email: 'bad.requests@tickets.example' }, 400, /user_id or email/],
    ['/tickets/password-change', { user_id: id, connection_id: 'con_username_password' }, 400, /connection_id/],
    ['/tickets/password-change', { email: 'bad.requests@tickets.example', connection_id: 'con_other' }, 404, /connection/],
    ['/tickets/password-change', { email: 'nobody@tickets.example' }, 404, /user/],
    ['/tickets/password-change', { user_id: 'auth0|nope' }, 404, /user/i],
    ['/tickets/password-change', { user_id: id, result_url: 'javascript:alert(1)' }, 400, /result_url/],
    ['/tickets/password-change', { user_id: id, result_url: 'https://user:pw@app.example.com/' }, 400, /result_url/],
    ['/tickets/password-change', { user_id: id, ttl_sec: 31 * 86_400 }, 400, /ttl_sec/],
    ['/tickets/password-change', { user_id: id, ttl_sec: -1 }, 400, /ttl_sec/],
    ['/tickets/password-change', { user_id: id, new_password: 'set directly' }, 400, /new_password/],
    ['/tickets/password-change', { user_id: id, organization_id: 'org_1' }, 400, /organization_id/],
    ['/tickets/password-change', { user_id: id, client_id: 'no-such-client' }, 404, /client/],
    ['/tickets/password-change', { user_id: id, client_id: 'x', result_url: RESULT }, 400, /result_url/],
    ['/tickets/email-verification', { result_url: RESULT }, 400, /user_id/],
    ['/tickets/email-verification', { user_id: [id] }, 400, /user_id/],
  ];
  for (const [path, body, status, message] of cases) {
    const r = await ts.api('POST', path, body);
    assert.equal(r.status, status, `${path} ${JSON.stringify(body)}: ${JSON.stringify(r.body)}`);
    assert.match(r.body.message, message, JSON.stringify(body));
    assert.equal(r.body.ticket, undefined);
  }
  assert.equal(Number((await ts.ctx.db('email_tokens').where({ user_id: id }).count({ n: '*' }))[0].n), 0, 'nothing issued');
  const readOnly = await ts.adminToken('read:users');
  for (const path of ['/tickets/password-change', '/tickets/email-verification']) {
    const r = await ts.api('POST', path, { user_id: id }, readOnly);
    assert.equal(r.status, 403);
    assert.equal(r.body.errorCode, 'insufficient_scope');
  }
});

test('a ticket\'s URL is in the response only: the audit log records the ticket without it', async () => {
  const user = await createUser(ts, 'audited@tickets.example', 'some password 1');
  const ticket: string = (await ts.api('POST', '/tickets/password-change', { user_id: user.user_id, result_url: RESULT })).body.ticket;
  const token = new URL(ticket).searchParams.get('token')!;
  const logs = (await ts.api('GET', `/logs?q=${encodeURIComponent(`user_id:"${user.user_id}"`)}`)).body;
  const text = JSON.stringify(logs);
  assert.match(text, /Create a password change ticket/);
  assert.ok(!text.includes(token));
  assert.equal(Number((await ts.ctx.db('audit_logs').where('details', 'like', `%${token}%`).count({ n: '*' }))[0].n), 0);
  assert.ok(!ts.logs.some((l) => l.includes(token)), 'nor the server log');
});

test('a verification-email job mails a fresh link and is completed; past the hourly limit a job fails; jobs are read by id', async () => {
  const email = 'job@tickets.example';
  const user = await createUser(ts, email, 'some password 1');
  const r = await ts.api('POST', '/jobs/verification-email', { user_id: user.user_id });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  assert.equal(r.body.type, 'verification_email');
  assert.equal(r.body.status, 'pending');
  assert.match(r.body.id, /^job_/);
  const mail = await sink.waitFor((m) => m.to.includes(email) && /Verify your email/.test(m.subject), 'the verification mail');
  await ts.ctx.mail.idle();
  const job = await ts.api('GET', `/jobs/${r.body.id}`);
  assert.equal(job.status, 200);
  assert.deepEqual({ ...job.body, created_at: undefined }, { id: r.body.id, type: 'verification_email', status: 'completed', created_at: undefined });
  const link = linkIn(mail, '/verify-email');
  const b = new Browser();
  const done = await b.submit(link, await (await b.request(link)).text(), {});
  assert.equal(done.status, 200);
  assert.equal((await getUser(user.user_id)).email_verified, true);

  // The account's hourly limit on links holds for jobs too: the sixth in the hour fails.
  const ids: string[] = [];
  for (let i = 0; i < 5; i++) ids.push((await ts.api('POST', '/jobs/verification-email', { user_id: user.user_id })).body.id);
  await ts.ctx.mail.idle();
  const statuses = await Promise.all(ids.map(async (id) => (await ts.api('GET', `/jobs/${id}`)).body.status));
  assert.deepEqual(statuses, ['completed', 'completed', 'completed', 'completed', 'failed']);

  assert.equal((await ts.api('GET', '/jobs/job_unknown')).status, 404);
  assert.equal((await ts.api('POST', '/jobs/verification-email', { user_id: 'auth0|nope' })).status, 404);
  assert.equal((await ts.api('POST', '/jobs/verification-email', { user_id: user.user_id, identity: { provider: 'google-oauth2' } })).status, 400);
  assert.equal((await ts.api('POST', '/jobs/verification-email', { user_id: user.user_id }, await ts.adminToken('read:users'))).status, 403);
});

test('review: an anonymous reset or resend request for the address does not void an admin\'s ticket, nor do tickets use up the user\'s own hourly links', async () => {
  // Regression (security review, MEDIUM): issuing any link replaced every unused one of its kind,
  // so the public forms voided a 30-day invitation with the user's address alone.
  const email = 'invited.anonymous@tickets.example';
  const user = await createUser(ts, email, 'temporary password 1');
  const reset = (await ts.api('POST', '/tickets/password-change', { user_id: user.user_id, ttl_sec: 30 * 86_400 })).body.ticket as string;
  const verify = (await ts.api('POST', '/tickets/email-verification', { user_id: user.user_id })).body.ticket as string;
  const b = new Browser();
  for (const path of ['/password/reset', '/verify-email/resend']) {
    const page = await b.request(new URL(`${ts.base}${path}`));
    assert.equal((await b.submit(new URL(`${ts.base}${path}`), await page.text(), { email })).status, 200);
  }
  await ts.ctx.mail.idle();
  assert.equal((await new Browser().request(new URL(reset))).status, 200, 'the password-change ticket still opens');
  assert.equal((await new Browser().request(new URL(verify))).status, 200, 'the verification ticket still opens');
  // Five more tickets in the hour: the user's own reset request still gets its mail.
  for (let i = 0; i < 5; i++) assert.equal((await ts.api('POST', '/tickets/password-change', { user_id: user.user_id })).status, 201);
  const before = sink.received.filter((m) => m.to.includes(email) && /Reset your/.test(m.subject)).length;
  const page = await b.request(new URL(`${ts.base}/password/reset`));
  await b.submit(new URL(`${ts.base}/password/reset`), await page.text(), { email });
  await ts.ctx.mail.idle();
  assert.equal(sink.received.filter((m) => m.to.includes(email) && /Reset your/.test(m.subject)).length, before + 1);
});

test('review: a verification ticket of a user blocked since does not work; mark_email_as_verified marks only the address the ticket was for', async () => {
  const user = await createUser(ts, 'blocked.verify@tickets.example', 'some password 1');
  const ticket = (await ts.api('POST', '/tickets/email-verification', { user_id: user.user_id, result_url: RESULT })).body.ticket as string;
  await ts.api('PATCH', `/users/${encodeURIComponent(user.user_id)}`, { blocked: true });
  assert.equal((await new Browser().request(new URL(ticket))).status, 400, 'a block ends the link (a blocked user\'s verification links are not valid)');
  assert.equal((await getUser(user.user_id)).email_verified, false);

  // The address changes (an admin) while the ticket's password is being set: the new address is not verified by it.
  const other = await createUser(ts, 'changing@tickets.example', 'some password 1');
  const t2 = (await ts.api('POST', '/tickets/password-change', { user_id: other.user_id, mark_email_as_verified: true })).body.ticket as string;
  const original = ts.ctx.users.setPasswordHash;
  ts.ctx.users.setPasswordHash = (async (...args: Parameters<typeof original>) => {
    const r = await original.apply(ts.ctx.users, args);
    await ts.api('PATCH', `/users/${encodeURIComponent(other.user_id)}`, { email: 'changed.meanwhile@tickets.example' });
    return r;
  }) as typeof original;
  try {
    assert.equal((await usePasswordTicket(t2, 'a new password 22')).res.status, 200);
  } finally {
    ts.ctx.users.setPasswordHash = original;
  }
  const after = await getUser(other.user_id);
  assert.equal(after.email, 'changed.meanwhile@tickets.example');
  assert.equal(after.email_verified, false);
});

test('review: a job whose mail cannot be queued says failed, not pending; result_url must be https (http on localhost) and keeps its query as written', async () => {
  const user = await createUser(ts, 'job.fails@tickets.example', 'some password 1');
  const send = ts.ctx.mail.send;
  ts.ctx.mail.send = (async () => { throw new Error('relay gone'); }) as typeof send;
  let id = '';
  try {
    id = (await ts.api('POST', '/jobs/verification-email', { user_id: user.user_id })).body.id;
    await ts.ctx.mail.idle();
  } finally {
    ts.ctx.mail.send = send;
  }
  assert.equal((await ts.api('GET', `/jobs/${id}`)).body.status, 'failed');

  assert.equal((await ts.api('POST', '/tickets/password-change', { user_id: user.user_id, result_url: 'http://app.example.com/done' })).status, 400);
  // Sent exactly as written, so only what a parser (and the redirect) would not change.
  for (const url of ['https://app.example.com/a b', 'https://APP.example.com/x', 'https:app.example.com/x', 'https://app.example.com:443/x', "https://app.example.com/x?sig=a'b", 'https://app.example.com/p/../q', 'https://app.example.com/cb?x={a}', 'https://app.example.com/cb?x=%zz', 'https://app.example.com/cb#a`b']) {
    assert.equal((await ts.api('POST', '/tickets/password-change', { user_id: user.user_id, result_url: url })).status, 400, url);
  }
  const signed = 'https://app.example.com/done?sig=a%2Bb%2F%3D&x=1';
  const withFragment = (await ts.api('POST', '/tickets/password-change', { user_id: user.user_id, result_url: `${signed}#a#b` })).body.ticket as string;
  const fragUsed = await usePasswordTicket(withFragment, 'a fragment result 44');
  assert.match(fragUsed.res.headers.get('location')!, /&success=true&message=[^#]+#a#b$/, 'the whole fragment is kept, after the added query');
  const t = (await ts.api('POST', '/tickets/password-change', { user_id: user.user_id, result_url: signed })).body.ticket as string;
  const used = await usePasswordTicket(t, 'a signed result 33');
  assert.equal(used.res.status, 303);
  assert.ok(used.res.headers.get('location')!.startsWith(`${signed}&success=true&message=`), used.res.headers.get('location')!);
});
