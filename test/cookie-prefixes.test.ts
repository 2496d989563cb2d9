import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import { startTestServer, createUser, discover, loginThroughForm, type TestServer } from './helpers/server.ts';
import { Browser } from './helpers/cookie-fetch.ts';
import { deployAction, bindActions } from './helpers/actions.ts';
import { codeAt } from './helpers/mfa.ts';

/*
 * Behind a TLS-terminating proxy (http.trustProxy = 1, X-Forwarded-Proto: https) Gatehouse's
 * own cookies carry the prefixes browsers enforce (SECURITY.md 3.4): `__Host-` on path / (the
 * CSRF cookie, the account session, the remembered browser), `__Secure-` where the cookie must
 * stay scoped to a path (the /continue form id). A bare-named cookie planted beside them
 * (a sibling subdomain, a plain-http page) is not read over TLS.
 */
let ts: TestServer;
const PASSWORD = 'cookie prefix password 1';
const EMAIL = 'prefix@example.com';
const TLS = { 'x-forwarded-proto': 'https' };
const CB = 'https://app-5181.example/cb';
/** Where the redirect action sends the browser. Never fetched: the test plays that page itself. */
const CONSENT = 'https://consent.example';
let config: oidc.Configuration;

before(async () => {
  ts = await startTestServer({ http: { bodyLimitBytes: 65536, trustProxy: 1 } });
  await createUser(ts, EMAIL, PASSWORD);
  const spa = (await ts.api('POST', '/clients', { name: 'Prefix SPA', app_type: 'spa', callbacks: [CB] })).body;
  config = await discover(ts, spa.client_id);
});
after(async () => { await ts?.close(); });

const setCookie = (res: Response, name: string) => res.headers.getSetCookie().find((c) => c.startsWith(`${name}=`));
const valueOf = (c: string) => c.slice(c.indexOf('=') + 1, c.indexOf(';'));
const csrfIn = (html: string) => /name="_csrf" value="([^"]+)"/.exec(html)![1];

async function openAccount(headers: Record<string, string>) {
  const res = await fetch(`${ts.base}/account`, { headers });
  assert.equal(res.status, 200);
  return res;
}

async function postLogin(headers: Record<string, string>, cookie: string, csrf: string) {
  return fetch(`${ts.base}/account/login`, {
    method: 'POST', redirect: 'manual',
    headers: { ...headers, cookie, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ _csrf: csrf, email: EMAIL, password: PASSWORD }),
  });
}

test('over TLS: __Host-gh_csrf and __Host-gh_account, Secure, path /; bare names planted beside them are not read', async () => {
  const page = await openAccount(TLS);
  const csrfCookie = setCookie(page, '__Host-gh_csrf');
  assert.ok(csrfCookie, `the CSRF cookie is __Host-: ${page.headers.getSetCookie().join(' | ')}`);
  assert.match(csrfCookie, /; path=\/;/i);
  assert.match(csrfCookie, /; secure/i);
  assert.doesNotMatch(csrfCookie, /domain=/i, '__Host- cookies carry no Domain');
  assert.equal(setCookie(page, 'gh_csrf'), undefined, 'no bare-named CSRF cookie over TLS');
  const v = valueOf(csrfCookie);
  const token = csrfIn(await page.text());

  // The same value under the bare name (as a sibling subdomain could plant it) does not pass.
  const planted = await postLogin(TLS, `gh_csrf=${v}`, token);
  assert.equal(planted.status, 403);

  // Both names sent (a planted bare one first): only the prefixed one counts.
  const planted2 = await openAccount(TLS);
  const other = valueOf(setCookie(planted2, '__Host-gh_csrf')!);
  const both = await postLogin(TLS, `gh_csrf=${v}; __Host-gh_csrf=${other}`, token);
  assert.equal(both.status, 403, 'the token was made for the bare value, the prefixed cookie holds another');

  const ok = await postLogin(TLS, `__Host-gh_csrf=${v}`, token);
  assert.equal(ok.status, 303);
  const session = setCookie(ok, '__Host-gh_account');
  assert.ok(session, `the account session is __Host-: ${ok.headers.getSetCookie().join(' | ')}`);
  assert.match(session, /; path=\/;/i, '__Host- requires path /');
  assert.match(session, /; secure/i);
  assert.match(session, /; samesite=strict/i);
  assert.doesNotMatch(session, /domain=/i);
  assert.equal(setCookie(ok, 'gh_account'), undefined);
  assert.equal(ok.headers.getSetCookie().filter((c) => /\.sig=/.test(c)).length, 0, 'no unused .sig companions');

  const signedIn = await fetch(`${ts.base}/account`, { headers: { ...TLS, cookie: `__Host-gh_account=${valueOf(session)}` } });
  assert.match(await signedIn.text(), /name="new_password"/, 'the prefixed session signs the browser in');
  // The same session value under the bare name is not read over TLS.
  const bare = await fetch(`${ts.base}/account`, { headers: { ...TLS, cookie: `gh_account=${valueOf(session)}` } });
  assert.match(await bare.text(), /Enter your password to manage your account/);
});

test('over plain http the same cookies keep their bare names (development, no TLS)', async () => {
  const page = await openAccount({});
  const csrfCookie = setCookie(page, 'gh_csrf');
  assert.ok(csrfCookie);
  assert.doesNotMatch(csrfCookie, /; secure/i);
  assert.equal(setCookie(page, '__Host-gh_csrf'), undefined);
  const ok = await postLogin({}, `gh_csrf=${valueOf(csrfCookie)}`, csrfIn(await page.text()));
  assert.equal(ok.status, 303);
  assert.ok(setCookie(ok, 'gh_account'));
});

// ---- cookies of the login flow (post-login actions), over TLS --------------------------------

const isCb = (u: URL) => u.href.startsWith(CB);

/**
 * A password login in `browser` (prompt=login: the password is asked even in a signed-in
 * browser). Ends at the callback, where the flow rests (the MFA page), or where `stop` says.
 */
async function loginIn(browser: Browser, email: string, stop?: (u: URL) => boolean) {
  const r = await loginThroughForm(config, { browser, redirectUri: CB, email, password: PASSWORD, scope: 'openid', params: { prompt: 'login' }, stop });
  assert.equal(r.posted, 303, 'the password was accepted');
  return { ...r, at: (r.callbackUrl ?? r.url)!, page: r.loginPage ?? '' };
}

/** Follows a 303 the browser was given until the client's callback (or `stop`). */
async function followFrom(browser: Browser, res: Response, from: URL, stop: (u: URL) => boolean = isCb) {
  assert.equal(res.status, 303, `expected a redirect, got ${res.status}`);
  return (await browser.follow(new URL(res.headers.get('location')!, from), {}, stop)).url;
}

/**
 * A browser on the https side of the TLS-terminating proxy the test plays: behind it the
 * server builds its own absolute URLs with https (the scheme the browser used), and the proxy
 * passes https://host requests on to the server's plain http, X-Forwarded-Proto: https set.
 */
class TlsBrowser extends Browser {
  constructor() { super(TLS); }
  override request(url: string | URL, init: RequestInit = {}) {
    const u = new URL(url);
    if (u.protocol === 'https:' && u.host === new URL(ts.base).host) u.protocol = 'http:';
    return super.request(u, init);
  }
}

/** A cookie as a sibling subdomain or a plain-http page could plant it in a browser. */
const plant = (browser: Browser, name: string, value: string, path = '/') => browser.cookies.push({ name, value, path, host: new URL(ts.base).host });

test('over TLS: "remember this browser" is __Host-gh_mfa_remember; the same value under the bare name does not skip the second factor', async () => {
  const email = 'remember@prefix.example';
  await createUser(ts, email, PASSWORD);
  await deployAction(ts, { name: 'prefix-mfa-remember', trigger: 'post-login', code: `
    exports.onExecutePostLogin = async (event, api) => { api.multifactor.enable('any', { allowRememberBrowser: true }); };` });
  await bindActions(ts, 'post-login', ['prefix-mfa-remember']);
  try {
    const browser = new TlsBrowser();
    // First login: enrollment through the real pages (the box is offered on a challenge, not here).
    const first = await loginIn(browser, email);
    assert.match(first.at.pathname, /\/interaction\/[^/]+\/mfa$/, 'not enrolled yet: the enrollment page');
    const secret = /id="totp-secret"[^>]*>([^<]*)<\/code>/.exec(first.page)?.[1];
    assert.ok(secret, 'the secret is shown for manual entry');
    const enrolled = await browser.submit(first.at, first.page, { code: await codeAt(secret) });
    assert.equal(enrolled.status, 200, 'the recovery codes page');
    assert.ok(isCb(await followFrom(browser, await browser.submit(first.at, await enrolled.text(), {}), first.at)), 'enrollment completes the login');
    assert.equal(browser.cookies.some((c) => /gh_mfa_remember$/.test(c.name)), false, 'nothing remembered without the box');

    // Second login: the challenge, "remember" ticked. A later step's code: the first one is spent.
    const second = await loginIn(browser, email);
    assert.match(second.at.pathname, /\/mfa$/, 'enrolled: the challenge');
    assert.match(second.page, /name="remember"/, 'the action allows remembering: the box is offered');
    const verified = await browser.submit(second.at, second.page, { code: await codeAt(secret, 1), remember: '1' });
    const remember = setCookie(verified, '__Host-gh_mfa_remember');
    assert.ok(remember, `the remember cookie is __Host-: ${verified.headers.getSetCookie().join(' | ')}`);
    assert.match(remember, /; path=\/;/i);
    assert.match(remember, /; secure/i);
    assert.match(remember, /; httponly/i);
    assert.doesNotMatch(remember, /domain=/i, '__Host- cookies carry no Domain');
    assert.equal(setCookie(verified, 'gh_mfa_remember'), undefined, 'no bare-named remember cookie over TLS');
    assert.ok(isCb(await followFrom(browser, verified, second.at)), 'the challenge completes the login');

    // Third login in this browser: password only.
    const third = await loginIn(browser, email);
    assert.ok(third.callbackUrl, `remembered browser: no second factor (rested at ${third.at})`);

    // The same value under the bare name, in another TLS browser: not read, the code is asked for.
    const value = valueOf(remember);
    const bare = new TlsBrowser();
    plant(bare, 'gh_mfa_remember', value);
    const planted = await loginIn(bare, email);
    assert.match(planted.at.pathname, /\/mfa$/, 'a bare-named remember cookie does not skip the second factor over TLS');
    // Under its own name the same value is good in any browser: only the name was refused above.
    const copied = new TlsBrowser();
    plant(copied, '__Host-gh_mfa_remember', value);
    assert.ok((await loginIn(copied, email)).callbackUrl, 'the value itself is valid');
  } finally {
    await bindActions(ts, 'post-login', []);
  }
});

test('over TLS: the form POSTed to /continue is named by __Secure-gh_continue on the resume path; the resume reads it, not a bare-named copy', async () => {
  await deployAction(ts, { name: 'prefix-continue', trigger: 'post-login', code: `
    exports.onExecutePostLogin = async (event, api) => { api.redirect.sendUserTo('${CONSENT}/ask'); };
    exports.onContinuePostLogin = async (event, api) => {
      api.idToken.setCustomClaim('https://prefix/posted', { method: event.request.method, answer: (event.request.body || {}).answer || null });
    };` });
  await bindActions(ts, 'post-login', ['prefix-continue']);
  const away = (u: URL) => u.origin === CONSENT;
  /** Logs in up to the external page, which POSTs its answer back to /continue: the 303 to the resume. */
  const answered = async (browser: Browser) => {
    const r = await loginIn(browser, EMAIL, away);
    assert.ok(away(r.at), `the action sent the browser away: ${r.at}`);
    const res = await browser.request(`${ts.issuer}/continue`, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ state: r.at.searchParams.get('state')!, answer: 'over tls' }).toString(),
    });
    assert.equal(res.status, 303);
    return { r, res, resume: new URL(res.headers.get('location')!, ts.issuer) };
  };
  const posted = async (r: { verifier: string; state: string }, back: URL) => {
    assert.ok(isCb(back), back.href);
    const t = await oidc.authorizationCodeGrant(config, back, { pkceCodeVerifier: r.verifier, expectedState: r.state });
    return t.claims()!['https://prefix/posted'];
  };
  try {
    const browser = new TlsBrowser();
    const a = await answered(browser);
    assert.match(a.resume.pathname, /\/interaction\/[^/]+\/continue$/);
    const cookie = setCookie(a.res, '__Secure-gh_continue');
    assert.ok(cookie, `the posted form's cookie is __Secure-: ${a.res.headers.getSetCookie().join(' | ')}`);
    // Path-scoped to this interaction's resume (which __Host- forbids), Secure, out of scripts' reach.
    assert.match(cookie, new RegExp(`^__Secure-gh_continue=[A-Za-z0-9_-]{20,}; path=${a.resume.pathname.replace(/[/]/g, '\\/')};`, 'i'));
    assert.match(cookie, /; secure/i);
    assert.match(cookie, /; httponly/i);
    assert.equal(setCookie(a.res, 'gh_continue'), undefined, 'no bare-named cookie over TLS');
    const back = (await browser.follow(a.resume, {}, isCb)).url;
    assert.deepEqual(await posted(a.r, back), { method: 'POST', answer: 'over tls' }, 'the resume read the form the prefixed cookie names');
    assert.equal(browser.cookies.some((c) => c.name === '__Secure-gh_continue'), false, 'the resume cleared it under the same name');

    // The same id under the bare name (planted beside it, or renamed) is not read over TLS: the
    // action sees the resume's own GET, not the form.
    const other = new TlsBrowser();
    const b = await answered(other);
    const id = valueOf(setCookie(b.res, '__Secure-gh_continue')!);
    other.cookies = other.cookies.filter((c) => c.name !== '__Secure-gh_continue');
    plant(other, 'gh_continue', id, b.resume.pathname);
    const backB = (await other.follow(b.resume, {}, isCb)).url;
    assert.deepEqual(await posted(b.r, backB), { method: 'GET', answer: null }, 'a bare-named cookie does not name the form over TLS');
  } finally {
    await bindActions(ts, 'post-login', []);
  }
});
