import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import { startTestServer, discover, loginThroughForm, type TestServer } from './helpers/server.ts';
import { Browser, alertText, parseForm } from './helpers/cookie-fetch.ts';

/*
 * Self-service signup: reached from the login page, it creates the user and finishes the
 * interaction signed in. One account per canonical e-mail (the unique index decides, also
 * under concurrency); ambiguous addresses are refused before anything is stored (SECURITY
 * B11, B15, B16, B19, B20, F3).
 */

const CB = 'https://app-5177.example/cb';
const PASSWORD = 'a long enough password';

let ts: TestServer;
let config: oidc.Configuration;

before(async () => {
  ts = await startTestServer();
  const spa = await ts.ctx.clients.create({ name: 'Signup SPA', app_type: 'spa', callbacks: [CB] });
  config = await discover(ts, spa.client_id);
});
after(async () => { await ts?.close(); });

const usersWithEmail = async (email: string) => ts.ctx.db('users').where({ email }).count({ n: '*' }).then(([r]) => Number(r.n));

/** Starts an authorization, follows the login page's "Sign up" link; returns the signup page. */
async function signupPageFromLogin() {
  const browser = new Browser();
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: CB, scope: 'openid email', state,
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
  });
  const login = await browser.follow(url);
  const loginHtml = await login.res.text();
  const href = /<a href="([^"]*\/signup\?[^"]*)"/.exec(loginHtml)?.[1];
  assert.ok(href, 'the login page links to /signup');
  const pageUrl = new URL(href.replace(/&amp;/g, '&'), login.url);
  const res = await browser.request(pageUrl);
  assert.equal(res.status, 200);
  const html = await res.text();
  assert.match(html, /<label for="email">/);
  assert.match(html, /<label for="password">/);
  return { browser, pageUrl, html, verifier, state };
}

async function signupThroughInteraction(email: string, password = PASSWORD) {
  const p = await signupPageFromLogin();
  const res = await p.browser.submit(p.pageUrl, p.html, { email, password });
  return { ...p, res };
}

/** A standalone /signup form (no interaction), for the concurrency and input tests. */
async function standaloneSignup(browser = new Browser()) {
  const pageUrl = new URL(`${ts.base}/signup`);
  const html = await (await browser.request(pageUrl)).text();
  return { browser, pageUrl, html, post: (email: string, password = PASSWORD) => browser.submit(pageUrl, html, { email, password }) };
}

test('signup from the login page creates the user and signs them in within the interaction', async () => {
  const s = await signupThroughInteraction('new.person@example.com');
  assert.equal(s.res.status, 303, alertText(await s.res.clone().text()));
  const { url } = await s.browser.follow(new URL(s.res.headers.get('location')!, s.pageUrl), {}, (u) => u.href.startsWith(CB));
  assert.ok(url.href.startsWith(CB), `expected the callback, got ${url}`);
  const tokens = await oidc.authorizationCodeGrant(config, url, { pkceCodeVerifier: s.verifier, expectedState: s.state });
  const row = await ts.ctx.db('users').where({ email: 'new.person@example.com' }).first();
  assert.ok(row, 'the user exists');
  assert.equal(tokens.claims()?.sub, row.id);
  assert.equal(tokens.claims()?.email, 'new.person@example.com');
  assert.ok(row.password_hash.startsWith('$argon2id$'), 'the password is stored as an argon2id hash');
});

test('a duplicate e-mail is refused with a clear alert; case variants are the same account (B15)', async () => {
  const first = await signupThroughInteraction('Alice@Example.COM');
  assert.equal(first.res.status, 303);
  assert.equal(await usersWithEmail('alice@example.com'), 1);

  for (const variant of ['alice@example.com', 'ALICE@EXAMPLE.COM', '  alice@example.com ']) {
    const dup = await signupThroughInteraction(variant, 'another password here');
    assert.equal(dup.res.status, 409);
    const html = await dup.res.text();
    assert.match(alertText(html) ?? '', /already exists/);
    assert.match(html, /<label for="email">/);
  }
  assert.equal(await usersWithEmail('alice@example.com'), 1);

  // Signed up as Alice@Example.COM, logs in as alice@example.com, with the first password.
  const login = await loginThroughForm(config, { redirectUri: CB, email: 'alice@example.com', password: PASSWORD });
  assert.ok(login.callbackUrl, alertText(login.loginPage ?? ''));
  const bad = await loginThroughForm(config, { redirectUri: CB, email: 'alice@example.com', password: 'another password here' });
  assert.equal(bad.callbackUrl, undefined, 'a refused duplicate signup must not have changed the password');
});

test('20 concurrent signups of one e-mail (in several spellings) leave exactly one user (F3)', async () => {
  const form = await standaloneSignup();
  const spellings = ['race@example.com', 'RACE@example.com', 'Race@Example.Com', ' race@EXAMPLE.com'];
  const results = await Promise.all(Array.from({ length: 20 }, (_, i) => form.post(spellings[i % spellings.length])));
  const statuses = results.map((r) => r.status);
  assert.equal(statuses.filter((s) => s === 200).length, 1, statuses.join(','));
  assert.equal(statuses.filter((s) => s === 409).length, 19, statuses.join(','));
  assert.equal(await usersWithEmail('race@example.com'), 1);
});

test('ambiguous or malformed e-mail addresses are refused before storage (B16, B17, B18, B19, B20)', async () => {
  const form = await standaloneSignup();
  const before = Number((await ts.ctx.db('users').count({ n: '*' }))[0].n);
  const bad = [
    'mıke@example.com', // dotless ı
    'ſam@example.com', // long s
    '\u212Aelvin@example.com', // Kelvin sign: NFC turns it into K
    'stra\u00dfe@example.com', // ß
    '\u0430dmin@example.com', // Cyrillic а
    'caf\u00e9@example.com', // é composed (NFC)
    'cafe\u0301@example.com', // é decomposed (NFD): neither form gets an account of its own
    'alice@b\u00fccher.example', // an IDN domain not in its punycode form
    'ali\u200bce@example.com', // zero-width space
    'alice\u202e@example.com', // right-to-left override
    'alice\u0000@example.com',
    'alice@example.com\r\nBcc: evil@example.net',
    'alice\n@example.com',
    '"victim@x.com x"@attacker.com',
    'user@example.com(x)evil.com',
    'g:victim@x.com;',
    'victim@x.com,evil@attacker.com',
    'no-at-sign',
    '@example.com',
    'alice@',
    'alice@localhost',
    'a@b@example.com',
    `${'a'.repeat(65)}@example.com`,
  ];
  for (const email of bad) {
    const res = await form.post(email);
    assert.equal(res.status, 400, JSON.stringify(email));
    assert.match(alertText(await res.text()) ?? '', /valid email/, JSON.stringify(email));
  }
  assert.equal(Number((await ts.ctx.db('users').count({ n: '*' }))[0].n), before, 'nothing was stored');
  // The look-alike of an existing address does not reach it either.
  await ts.ctx.users.create({ email: 'kelvin@example.com', password: PASSWORD });
  const login = await loginThroughForm(config, { redirectUri: CB, email: '\u212Aelvin@example.com', password: PASSWORD });
  assert.equal(login.callbackUrl, undefined);
  // The punycode form of an IDN domain is an ordinary ASCII address, an account of its own (B18).
  const idn = await form.post('alice@xn--bcher-kva.example');
  assert.equal(idn.status, 200);
  assert.equal(await usersWithEmail('alice@xn--bcher-kva.example'), 1);
});

test('SQL-looking input is stored and compared literally (B11)', async () => {
  const form = await standaloneSignup();
  // A valid address whose local part contains a quote and a comment marker.
  const res = await form.post("o'brien--@example.com", "' OR '1'='1' --");
  assert.equal(res.status, 200);
  const row = await ts.ctx.db('users').where({ email: "o'brien--@example.com" }).first();
  assert.ok(row);
  assert.equal(await usersWithEmail('o@example.com'), 0);

  const ok = await loginThroughForm(config, { redirectUri: CB, email: "o'brien--@example.com", password: "' OR '1'='1' --" });
  assert.ok(ok.callbackUrl, 'the literal password logs in');
  for (const password of ["' OR '1'='1", "' OR 1=1 --", '%00', '\\']) {
    const no = await loginThroughForm(config, { redirectUri: CB, email: "o'brien--@example.com", password });
    assert.equal(no.callbackUrl, undefined, password);
    assert.equal(alertText(no.loginPage ?? ''), 'Wrong email or password.');
  }
  for (const email of ["' OR '1'='1' --", "admin'--", '";DROP TABLE users;--', '\\', '%00']) {
    const r = await form.post(email, "\";DROP TABLE users;--");
    const html = await r.text();
    assert.equal(r.status, 400, email);
    assert.doesNotMatch(html, /SQLITE|syntax error|knex|constraint/i);
  }
  assert.ok(await ts.ctx.db.schema.hasTable('users'));
});

test('password policy: too short is refused with the reason; 64+ characters are accepted', async () => {
  const form = await standaloneSignup();
  const short = await form.post('short.pw@example.com', 'short');
  assert.equal(short.status, 400);
  assert.match(alertText(await short.text()) ?? '', /at least 8/);
  assert.equal(await usersWithEmail('short.pw@example.com'), 0);
  const long = await form.post('long.pw@example.com', 'x'.repeat(100));
  assert.equal(long.status, 200);
});

test('the signup form is CSRF-protected and keeps its fields labelled', async () => {
  const form = await standaloneSignup();
  const fields = parseForm(form.html).fields;
  assert.ok(fields._csrf);
  const res = await form.browser.submit(form.pageUrl, form.html, { email: 'csrf.signup@example.com', password: PASSWORD, _csrf: 'forged' });
  assert.equal(res.status, 403);
  assert.equal(await usersWithEmail('csrf.signup@example.com'), 0);
});
