import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, createUser, type TestServer } from './helpers/server.ts';

/*
 * Behind a TLS-terminating proxy (http.trustProxy = 1, X-Forwarded-Proto: https) Gatehouse's
 * own cookies carry the prefixes browsers enforce (SECURITY.md 3.4): `__Host-` on path /,
 * `__Secure-` where the cookie is scoped to a path. A bare-named cookie planted beside them
 * (a sibling subdomain, a plain-http page) is not read over TLS.
 */
let ts: TestServer;
const PASSWORD = 'cookie prefix password 1';
const EMAIL = 'prefix@example.com';
const TLS = { 'x-forwarded-proto': 'https' };

before(async () => {
  ts = await startTestServer({ http: { bodyLimitBytes: 65536, trustProxy: 1 } });
  await createUser(ts, EMAIL, PASSWORD);
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

test('over TLS: __Host-gh_csrf and __Secure-gh_account, Secure; bare names planted beside them are not read', async () => {
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

  const ok = await postLogin(TLS, `__Host-gh_csrf=${v}`, token);
  assert.equal(ok.status, 303);
  const session = setCookie(ok, '__Secure-gh_account');
  assert.ok(session, `the account session is __Secure-: ${ok.headers.getSetCookie().join(' | ')}`);
  assert.match(session, /; path=\/account/i);
  assert.match(session, /; secure/i);
  assert.match(session, /; samesite=strict/i);
  assert.equal(setCookie(ok, 'gh_account'), undefined);

  const signedIn = await fetch(`${ts.base}/account`, { headers: { ...TLS, cookie: `__Secure-gh_account=${valueOf(session)}` } });
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
