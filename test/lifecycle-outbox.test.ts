import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import * as oidc from 'openid-client';
import { startTestServer, discover, loginThroughForm, type TestServer } from './helpers/server.ts';
import { Browser, alertText } from './helpers/cookie-fetch.ts';
import { linkIn, parseMessage } from './helpers/smtp-sink.ts';

/*
 * Without SMTP configured, mail lands in <dataDir>/outbox/ as .eml files and one log line per
 * message. This server also has `email.requireVerification` on: an unverified user is refused
 * after the password (with a resend link), a verified one logs in.
 */

const CB = 'https://app-5182.example/cb';
const PASSWORD = 'verify first please';
let ts: TestServer;
let spaConfig: oidc.Configuration;

before(async () => {
  ts = await startTestServer({ email: { requireVerification: true } });
  const spa = await ts.ctx.clients.create({ name: 'Outbox SPA', app_type: 'spa', callbacks: [CB] });
  spaConfig = await discover(ts, spa.client_id);
});
after(async () => { await ts?.close(); });

const outbox = () => join(ts.dir, 'outbox');
function outboxMails() {
  let files: string[] = [];
  try { files = readdirSync(outbox()).filter((f) => f.endsWith('.eml')).sort(); } catch { /* not created yet */ }
  return files.map((f) => ({ file: f, ...parseMessage(readFileSync(join(outbox(), f), 'utf8')) }));
}

async function signup(email: string) {
  const b = new Browser();
  const url = new URL(`${ts.base}/signup`);
  const html = await (await b.request(url)).text();
  const res = await b.submit(url, html, { email, password: PASSWORD });
  assert.equal(res.status, 200);
  await ts.ctx.mail.idle();
}

test('without SMTP the verification mail is written to <dataDir>/outbox and logged without its link', async () => {
  await signup('outbox.user@example.com');
  const mails = outboxMails().filter((m) => /outbox\.user@example\.com/.test(m.headers.to ?? ''));
  assert.equal(mails.length, 1, 'one .eml in the outbox');
  const [mail] = mails;
  assert.match(mail.file, /^\d{4}-\d\d-\d\dT[\d-]+Z-[A-Za-z0-9_-]+\.eml$/);
  assert.equal(statSync(join(outbox(), mail.file)).mode & 0o077, 0, 'not readable by others: it holds a live link');
  assert.match(mail.subject, /Verify your email/);
  const link = linkIn(mail, '/verify-email');
  assert.equal(link.origin, ts.base);

  const lines = ts.logs.filter((l) => l.includes('mail written to outbox'));
  assert.ok(lines.some((l) => l.includes('outbox.user@example.com') && l.includes('Verify your email')), 'one log line with recipient and subject');
  const token = link.searchParams.get('token')!;
  assert.ok(!ts.logs.some((l) => l.includes(token)), 'the link never reaches the log');
});

test('requireVerification: an unverified user is refused after the password, with a resend link; after verifying, the login works', async () => {
  const email = 'must.verify@example.com';
  await signup(email);

  // A wrong password gets the ordinary answer: the verification state is not revealed.
  const wrong = await loginThroughForm(spaConfig, { redirectUri: CB, email, password: 'not the password' });
  assert.equal(wrong.callbackUrl, undefined);
  assert.equal(alertText(wrong.loginPage!), 'Wrong email or password.');

  const refused = await loginThroughForm(spaConfig, { redirectUri: CB, email, password: PASSWORD });
  assert.equal(refused.callbackUrl, undefined);
  assert.equal(refused.status, 403);
  assert.match(alertText(refused.loginPage!)!, /Verify your email address/);
  assert.match(refused.loginPage!, /href="\/verify-email\/resend"/);

  const mail = outboxMails().find((m) => (m.headers.to ?? '').includes(email));
  assert.ok(mail, 'the verification mail is in the outbox');
  const link = linkIn(mail, '/verify-email');
  const b = new Browser();
  const confirm = await b.request(link);
  assert.equal(confirm.status, 200);
  assert.equal((await b.submit(link, await confirm.text(), {})).status, 200);

  const ok = await loginThroughForm(spaConfig, { redirectUri: CB, email, password: PASSWORD });
  assert.ok(ok.callbackUrl, ok.loginPage);
  const tokens = await oidc.authorizationCodeGrant(spaConfig, ok.callbackUrl, { pkceCodeVerifier: ok.verifier, expectedState: ok.state });
  assert.equal(tokens.claims()?.email_verified, true);
});

test('requireVerification: signing up from the login page does not sign the new user in', async () => {
  const browser = new Browser();
  const url = oidc.buildAuthorizationUrl(spaConfig, {
    redirect_uri: CB, scope: 'openid email', state: oidc.randomState(),
    code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()), code_challenge_method: 'S256',
  });
  const login = await browser.follow(url);
  const href = /<a href="([^"]*\/signup\?[^"]*)"/.exec(await login.res.text())?.[1];
  assert.ok(href);
  const pageUrl = new URL(href.replace(/&amp;/g, '&'), login.url);
  const html = await (await browser.request(pageUrl)).text();
  const res = await browser.submit(pageUrl, html, { email: 'fresh.signup@example.com', password: PASSWORD });
  assert.equal(res.status, 200, 'a page, not a redirect back to the application');
  assert.match(await res.text(), /Check your email/);
  await ts.ctx.mail.idle();
  assert.ok(outboxMails().some((m) => (m.headers.to ?? '').includes('fresh.signup@example.com')));
});
