import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { startServerWithSink, linkIn, type SmtpSink } from './helpers/smtp-sink.ts';
import type { TestServer } from './helpers/server.ts';
import { Browser } from './helpers/cookie-fetch.ts';

/*
 * Auth0's email templates through the Management API, delivered over real SMTP into the test
 * sink: an admin's Liquid subject and body for the verification, reset and welcome mails, with
 * the link's lifetime, the sender and the page the user lands on after using the link.
 */

let ts: TestServer;
let sink: SmtpSink;

before(async () => { ({ ts, sink } = await startServerWithSink()); });
after(async () => { await ts?.close(); });

async function page(b: Browser, path: string) {
  const url = new URL(path, ts.base);
  const res = await b.request(url);
  return { res, url, html: await res.text() };
}
async function signUp(email: string, extra: Record<string, string> = {}) {
  const b = new Browser();
  const p = await page(b, '/signup');
  const r = await b.submit(p.url, p.html, { email, password: 'a long enough password', ...extra });
  assert.equal(r.status, 200);
}

test('the API: Auth0\'s shape and names; templates Gatehouse does not send, a Liquid error, a bad sender or result URL are refused with the reason', async () => {
  assert.equal((await ts.api('GET', '/email-templates/verify_email')).status, 404);
  const refuse = async (body: Record<string, unknown>, re: RegExp) => {
    const r = await ts.api('POST', '/email-templates', { template: 'verify_email', subject: 'Hi', body: '<p>{{ url }}</p>', ...body });
    assert.equal(r.status, 400, JSON.stringify(r.body));
    assert.match(r.body.message, re);
  };
  await refuse({ template: 'blocked_account' }, /does not send blocked_account/);
  await refuse({ body: '<p>{% if url %}</p>' }, /does not parse/);
  await refuse({ from: 'Evil <a@b.example>\r\nBcc: c@d.example' }, /from/);
  await refuse({ resultUrl: 'http://app.example/done' }, /https/);
  await refuse({ urlLifetimeInSeconds: 10 }, /between 300/);
  await refuse({ subject: 'Two\nlines' }, /line breaks/);
  // Subjects are logged with every mail: no link there (regression: the reset link reached the log).
  await refuse({ subject: 'Your link: {{ url }}' }, /cannot be in the subject/);
  await refuse({ from: 'Support, Bank Security: <a@b.example>' }, /from/);
  const made = await ts.api('POST', '/email-templates', { template: 'reset_email', subject: 'x', body: 'y', enabled: false });
  assert.equal(made.status, 200, JSON.stringify(made.body));
  assert.deepEqual(made.body, { template: 'reset_email', subject: 'x', body: 'y', syntax: 'liquid', enabled: false, includeEmailInRedirect: false });
  assert.equal((await ts.api('POST', '/email-templates', { template: 'reset_email', subject: 'x', body: 'y' })).status, 409);
  const patched = await ts.api('PATCH', '/email-templates/reset_email', { enabled: true, from: 'Support <support@app.example>' });
  assert.equal(patched.body.from, 'Support <support@app.example>');
  assert.equal((await ts.api('PATCH', '/email-templates/welcome_email', { enabled: true })).status, 404, 'PATCH needs one to exist');
  assert.equal((await ts.api('PUT', '/email-templates/reset_email', { template: 'verify_email', subject: 'a', body: 'b' })).status, 400, 'the body names another template');
  assert.equal((await ts.api('GET', '/email-templates/reset_email', undefined, await ts.adminToken('read:users'))).status, 403);
  // PUT replaces the whole template (what it leaves out goes back to its default): the reset mail the tests below use.
  assert.equal((await ts.api('PUT', '/email-templates/reset_email', { subject: 'Reset for {{ user.email }}', body: '<p>Reset: <a href="{{ url }}">here</a> ({{ url_lifetime_in_seconds }} s)</p>', urlLifetimeInSeconds: 600, resultUrl: 'https://app.example/after-reset' })).status, 200);
});

test('verify_email: the admin\'s subject and body with the link and the user\'s fields (escaped), its sender and lifetime; the user lands on resultUrl; then the welcome mail', async () => {
  const put = await ts.api('PUT', '/email-templates/verify_email', {
    subject: 'Welcome to {{ friendly_name }}, confirm {{ user.email }} ({{ user.nickname }})',
    body: '<h1>Hello {{ user.name }}</h1><p><a href="{{ url }}">Confirm</a> within {{ url_lifetime_in_seconds }} seconds.</p>',
    from: 'Acme Accounts <accounts@acme.example>', urlLifetimeInSeconds: 900, resultUrl: 'https://app.example/verified', includeEmailInRedirect: true, syntax: 'liquid',
  });
  assert.equal(put.status, 200, JSON.stringify(put.body));
  assert.equal((await ts.api('PUT', '/email-templates/welcome_email', { subject: 'You are in, {{ user.email }}', body: '<p>Welcome to {{ application.name }}.</p>' })).status, 200);

  const email = 'templated@acme.example';
  // A name that is markup: shown as text, never as HTML.
  const u = await ts.api('POST', '/users', { email, password: 'a long enough password', name: '<img src=x onerror=alert(1)>', nickname: 'Tom & Jerry', verify_email: true });
  assert.equal(u.status, 201, JSON.stringify(u.body));
  const mail = await sink.waitFor((m) => m.to.includes(email) && /confirm/.test(m.subject), 'the templated verification mail');
  assert.equal(mail.subject, `Welcome to Gatehouse, confirm ${email} (Tom & Jerry)`, 'a subject is text: not HTML-escaped');
  assert.match(mail.from, /accounts@acme\.example/);
  assert.match(mail.html, /&lt;img src=x onerror=alert\(1\)&gt;/);
  assert.doesNotMatch(mail.html, /<img src=x/);
  assert.match(mail.html, /within 900 seconds/);
  const link = linkIn(mail, '/verify-email');
  assert.ok(mail.text.includes(link.href), 'the text part carries the link');
  const row = await ts.ctx.db('email_tokens').where({ user_id: u.body.user_id, purpose: 'verify_email' }).first();
  assert.ok(Math.abs(Number(row.expires_at) - Number(row.created_at) - 900_000) < 5000, 'the template\'s lifetime');

  const b = new Browser();
  const shown = await b.request(link);
  const done = await b.submit(link, await shown.text(), {});
  assert.equal(done.status, 303);
  const to = new URL(done.headers.get('location')!);
  assert.equal(to.origin + to.pathname, 'https://app.example/verified');
  assert.equal(to.searchParams.get('success'), 'true');
  assert.equal(to.searchParams.get('email'), email);
  const welcome = await sink.waitFor((m) => m.to.includes(email) && /You are in/.test(m.subject), 'the welcome mail');
  assert.match(welcome.html, /Welcome to Gatehouse\./);
  // Verified again by a ticket: no second welcome (regression: every verification sent one), and
  // the ticket without a result_url does not borrow the template's.
  const ticket = await ts.api('POST', '/tickets/email-verification', { user_id: u.body.user_id });
  assert.equal(ticket.status, 201, JSON.stringify(ticket.body));
  const tb = new Browser();
  const tl = new URL(ticket.body.ticket);
  const tdone = await tb.submit(tl, await (await tb.request(tl)).text(), {});
  assert.equal(tdone.status, 200, 'the ticket\'s own outcome page, not the template\'s resultUrl');
  await ts.api('POST', '/users', { email: 'later@acme.example', password: 'a long enough password', verify_email: true });
  await sink.waitFor((m) => m.to.includes('later@acme.example'), 'a later mail');
  assert.equal(sink.received.filter((m) => m.to.includes(email) && /You are in/.test(m.subject)).length, 1, 'one welcome');
});

test('reset_email: the template\'s mail and lifetime, then its resultUrl; verify_email disabled: no verification mail, and the welcome mail at sign-up', async () => {
  const email = 'reset.templated@acme.example';
  await ts.api('POST', '/users', { email, password: 'a long enough password', email_verified: true });
  const b = new Browser();
  const p = await page(b, '/password/reset');
  const answer = await (await b.submit(p.url, p.html, { email })).text();
  assert.match(answer, /works once, for 10 minutes/, 'the page says the template\'s lifetime');
  const mail = await sink.waitFor((m) => m.to.includes(email) && /Reset for/.test(m.subject), 'the templated reset mail');
  assert.match(mail.html, /\(600 s\)/);
  const link = linkIn(mail, '/password/reset');
  const form = await b.request(link);
  const changed = await b.submit(link, await form.text(), { new_password: 'another long password' }, { actionIncludes: '/password/reset/complete' });
  assert.equal(changed.status, 303);
  assert.match(changed.headers.get('location')!, /^https:\/\/app\.example\/after-reset\?success=true/);

  assert.equal((await ts.api('PATCH', '/email-templates/verify_email', { enabled: false })).status, 200);
  const newcomer = 'no.verify@acme.example';
  await signUp(newcomer);
  await sink.waitFor((m) => m.to.includes(newcomer) && /You are in/.test(m.subject), 'the welcome mail at sign-up');
  const u = (await ts.api('GET', `/users-by-email?email=${encodeURIComponent(newcomer)}`)).body[0];
  const audit = await ts.ctx.db('audit_logs').where({ user_id: u.user_id, type: 'fvr' }).first();
  assert.match(audit.description, /template is disabled/);
  assert.ok(!sink.received.some((m) => m.to.includes(newcomer) && /confirm/i.test(m.subject)), 'no verification mail');
});

test('a template that cannot be rendered (over its limits) falls back to Gatehouse\'s own mail: the user still gets the link', async () => {
  assert.equal((await ts.api('PUT', '/email-templates/verify_email', {
    subject: 'Heavy', body: '{% for i in (1..100000) %}{% for j in (1..100000) %}x{% endfor %}{% endfor %}{{ url }}', enabled: true,
  })).status, 200);
  const email = 'fallback@acme.example';
  await ts.api('POST', '/users', { email, password: 'a long enough password', verify_email: true });
  const mail = await sink.waitFor((m) => m.to.includes(email), 'a verification mail');
  assert.match(mail.subject, /Verify your email address/);
  assert.ok(linkIn(mail, '/verify-email'));
  assert.ok(ts.logs.some((l) => /email template could not be rendered/.test(l)));
});

test('a body full of unclosed < renders in linear time, and the escape filters of ported templates escape once', async () => {
  // Regression: the text part stripped tags with patterns whose time grew with the square of such
  // a body: one sign-up held the server for seconds.
  // (200,000 of them: the old patterns took minutes, past the sink's wait, which only bounds a hang.)
  assert.equal((await ts.api('PUT', '/email-templates/verify_email', { subject: 'Lots', body: `{% for i in (1..2000) %}${'<'.repeat(100)}{% endfor %}{{ user.nickname | escape }} {{ url }}`, enabled: true })).status, 200);
  const email = 'angles@acme.example';
  await ts.api('POST', '/users', { email, password: 'a long enough password', nickname: 'Tom & Jerry', verify_email: true });
  const mail = await sink.waitFor((m) => m.to.includes(email) && m.subject === 'Lots', 'the angle-bracket mail');
  assert.ok(mail.html.includes('Tom &amp; Jerry'), 'escaped once');
  assert.ok(!mail.html.includes('&amp;amp;'));
  assert.ok(linkIn(mail, '/verify-email'));
});

test('the link never reaches a subject, however the template names it (regression: a Liquid variable by a computed name passed the check)', async () => {
  const subject = "{% assign k = 'ur' | append: 'l' %}Confirm: {{ [k] }}{{ url }}";
  assert.equal((await ts.api('PUT', '/email-templates/verify_email', { subject, body: '<p><a href="{{ url }}">Confirm</a></p>', enabled: true })).status, 400, 'the plain spelling is refused');
  assert.equal((await ts.api('PUT', '/email-templates/verify_email', { subject: subject.replace('{{ url }}', ''), body: '<p><a href="{{ url }}">Confirm</a></p>', enabled: true })).status, 200);
  const email = 'subject-link@acme.example';
  await ts.api('POST', '/users', { email, password: 'a long enough password', verify_email: true });
  const mail = await sink.waitFor((m) => m.to.includes(email), 'a verification mail');
  assert.equal(mail.subject, 'Confirm:');
  assert.ok(linkIn(mail, '/verify-email'), 'the body has the link');
  assert.ok(!ts.logs.some((l) => /verify-email\?token=/.test(l)), 'no link in the server log');
});
