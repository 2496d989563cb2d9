import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import { startTestServer, discover, loginThroughForm, authorizationRequest, type TestServer } from './helpers/server.ts';
import { Browser, alertText } from './helpers/cookie-fetch.ts';

/*
 * Brute-force protection (SECURITY §3.2, B5–B9): failures are counted per account and per
 * client address. A throttled account answers exactly like a wrong password, even to the
 * right one; an address spraying one password over many accounts gets 429.
 *
 * X-Forwarded-For is not trusted (http.trustProxy is false), so the address is the socket's.
 * Each test connects from its own loopback address (127.0.0.0/8 is all loopback on Linux) so
 * the per-address counters of one test do not leak into the next.
 */

const CB = 'https://app-5178.example/cb';
const PASSWORD = 'the right password';
const MAX_ACCOUNT = 3;
const MAX_IP = 5;

let ts: TestServer;
let config: oidc.Configuration;

/**
 * A Browser whose connections leave from `ip`. Node's fetch is undici; its global dispatcher
 * is an undici Agent, whose constructor takes `localAddress` (the source address of its sockets).
 */
class BrowserFrom extends Browser {
  dispatcher: unknown;
  constructor(ip: string) {
    super();
    const global = (globalThis as Record<symbol, unknown>)[Symbol.for('undici.globalDispatcher.1')] as { constructor: new (o: unknown) => unknown };
    this.dispatcher = new global.constructor({ localAddress: ip });
  }
  request(url: string | URL, init: RequestInit = {}) {
    return super.request(url, { ...init, dispatcher: this.dispatcher } as RequestInit);
  }
}

before(async () => {
  ts = await startTestServer({
    bruteForce: { maxFailuresPerAccount: MAX_ACCOUNT, maxFailuresPerIp: MAX_IP, waitIncrementSeconds: 60, maxWaitSeconds: 900, failureResetSeconds: 43200 },
  });
  const spa = await ts.ctx.clients.create({ name: 'Brute SPA', app_type: 'spa', callbacks: [CB] });
  config = await discover(ts, spa.client_id);
  for (const email of ['victim@example.com', 'bystander@example.com', 'sprayed@example.com', 'steady@example.com']) {
    await ts.ctx.users.create({ email, password: PASSWORD });
  }
});
after(async () => { await ts?.close(); });

async function attempt(ip: string, email: string, password: string) {
  const r = await loginThroughForm(config, { browser: new BrowserFrom(ip), redirectUri: CB, email, password });
  return { loggedIn: !!r.callbackUrl, status: r.status, alert: alertText(r.loginPage ?? '') };
}

const audit = (type: string, userName: string) => ts.ctx.db('audit_logs').where({ type, user_name: userName });

test('the address trick works: the server sees the loopback address the test connects from', async () => {
  const r = await attempt('127.0.0.9', 'nobody@example.com', 'x');
  assert.equal(r.loggedIn, false);
  const row = await ts.ctx.db('login_failures').where({ key: 'ip:127.0.0.9' }).first();
  assert.ok(row, 'failures are counted for 127.0.0.9');
});

test(`after ${MAX_ACCOUNT} failures the account is throttled: the right password is refused with the same answer`, async () => {
  const wrong = [];
  for (let i = 0; i < MAX_ACCOUNT; i++) wrong.push(await attempt('127.0.0.11', 'victim@example.com', `wrong ${i}`));
  for (const w of wrong) {
    assert.equal(w.loggedIn, false);
    assert.equal(w.status, 200);
    assert.equal(w.alert, 'Wrong email or password.');
  }
  const locked = await attempt('127.0.0.11', 'victim@example.com', PASSWORD);
  assert.equal(locked.loggedIn, false, 'the right password must not log in during the lockout');
  assert.deepEqual(locked, wrong[0], 'a throttled account answers exactly like a wrong password (B7)');
  // Rotating addresses does not help (B5): the lock is on the account.
  assert.equal((await attempt('127.0.0.12', 'victim@example.com', PASSWORD)).loggedIn, false);
  assert.equal((await attempt('127.0.0.12', 'Victim@Example.com', PASSWORD)).loggedIn, false, 'the lock follows the canonical e-mail');

  const rows = await audit('limit_wc', 'victim@example.com');
  assert.ok(rows.length >= 1, 'a limit_wc audit row records the lockout');
  assert.ok(rows.every((r) => r.ip === '127.0.0.11' || r.ip === '127.0.0.12'));

  // Other accounts are unaffected, from the same address too.
  assert.equal((await attempt('127.0.0.11', 'bystander@example.com', PASSWORD)).loggedIn, true);
});

test('failures for an unknown e-mail behave the same, and the address can still sign up (B9)', async () => {
  const answers = [];
  for (let i = 0; i <= MAX_ACCOUNT; i++) answers.push(await attempt('127.0.0.21', 'ghost@example.com', `guess ${i}`));
  assert.ok(answers.every((a) => !a.loggedIn && a.status === 200 && a.alert === 'Wrong email or password.'));
  assert.ok((await audit('limit_wc', 'ghost@example.com')).length >= 1);

  const browser = new BrowserFrom('127.0.0.21');
  const pageUrl = new URL(`${ts.base}/signup`);
  const html = await (await browser.request(pageUrl)).text();
  const res = await browser.submit(pageUrl, html, { email: 'ghost@example.com', password: PASSWORD });
  assert.equal(res.status, 200, alertText(await res.clone().text()));
});

test(`spraying one password over many accounts from one address: after ${MAX_IP} failures that address gets 429`, async () => {
  const sprayIp = '127.0.0.31';
  for (let i = 0; i < MAX_IP; i++) {
    const r = await attempt(sprayIp, `target${i}@example.com`, 'Summer2026!');
    assert.equal(r.status, 200);
    assert.equal(r.alert, 'Wrong email or password.');
  }
  // Every account now, even one never tried and with its right password, is refused from there.
  const blocked = await attempt(sprayIp, 'sprayed@example.com', PASSWORD);
  assert.equal(blocked.loggedIn, false);
  assert.equal(blocked.status, 429);
  assert.match(blocked.alert ?? '', /Too many/);
  assert.ok((await ts.ctx.db('audit_logs').where({ type: 'limit_mu', ip: sprayIp })).length >= 1, 'a limit_mu audit row');

  // X-Forwarded-For is not trusted: claiming another address changes nothing.
  const spoof = await loginThroughForm(config, {
    browser: Object.assign(new BrowserFrom(sprayIp), { headers: { 'user-agent': 'gatehouse-test', 'x-forwarded-for': '203.0.113.7' } }),
    redirectUri: CB, email: 'sprayed@example.com', password: PASSWORD,
  });
  assert.equal(spoof.callbackUrl, undefined);
  assert.equal(spoof.status, 429);

  // The account itself is not locked: the same user logs in from elsewhere.
  assert.equal((await attempt('127.0.0.32', 'sprayed@example.com', PASSWORD)).loggedIn, true);
});

test('requests an address is refused for count against no account, and check no password (regression: one address could lock any number of accounts)', async () => {
  const attacker = '127.0.0.55';
  for (let i = 0; i < MAX_IP; i++) await attempt(attacker, `junk${i}@example.com`, 'x');
  assert.equal((await attempt(attacker, 'junk@example.com', 'x')).status, 429, 'the address is throttled');
  const victims = ['lock0@example.com', 'lock1@example.com'];
  for (const email of victims) await ts.ctx.users.create({ email, password: PASSWORD });
  const hasher = ts.ctx.hasher as { verify: (...a: unknown[]) => Promise<boolean> };
  const original = hasher.verify;
  let verifies = 0;
  hasher.verify = function (this: unknown, ...a: unknown[]) { verifies++; return original.apply(this, a); };
  try {
    for (const email of victims) {
      for (let i = 0; i < MAX_ACCOUNT + 1; i++) assert.equal((await attempt(attacker, email, 'x')).status, 429);
    }
  } finally {
    hasher.verify = original;
  }
  assert.equal(verifies, 0, 'the answer says the address is throttled, whatever the account: no argon2 for it');
  for (const [i, email] of victims.entries()) {
    const r = await attempt(`127.0.0.${60 + i}`, email, PASSWORD);
    assert.ok(r.loggedIn, `${email} from another address with the right password: ${r.status} ${r.alert}`);
  }
});

test('malformed logins (an empty password) count against the address too; past its limit they cost no argon2 (regression: unthrottled, a full verify each)', async () => {
  const attacker = '127.0.0.77';
  const hasher = ts.ctx.hasher as { verify: (...a: unknown[]) => Promise<boolean> };
  const original = hasher.verify;
  let verifies = 0;
  hasher.verify = function (this: unknown, ...a: unknown[]) { verifies++; return original.apply(this, a); };
  const statuses: number[] = [];
  try {
    for (let i = 0; i < MAX_IP + 3; i++) statuses.push((await attempt(attacker, 'victim-malformed@example.com', '')).status ?? 0);
  } finally {
    hasher.verify = original;
  }
  // The first ones answer like a wrong password (after a dummy verify, for the time); then 429.
  assert.deepEqual(statuses, [...Array(MAX_IP).fill(200), 429, 429, 429]);
  assert.equal(verifies, MAX_IP, 'no verify once the address is throttled');
  assert.equal((await attempt(attacker, 'steady@example.com', PASSWORD)).status, 429, 'the address is throttled for everything');
});

test('a successful login clears the account counter', async () => {
  for (let round = 0; round < 2; round++) {
    for (let i = 0; i < MAX_ACCOUNT - 1; i++) assert.equal((await attempt('127.0.0.41', 'steady@example.com', 'nope')).loggedIn, false);
    assert.equal((await attempt('127.0.0.41', 'steady@example.com', PASSWORD)).loggedIn, true, `round ${round}`);
  }
});

test('a parallel burst of guesses cannot slip past the limit: at most the allowed number of passwords is checked', async () => {
  await ts.ctx.users.create({ email: 'burst@example.com', password: PASSWORD });
  // One login page per guess, all posted at once from one address: a check-then-count
  // implementation lets every one of them be verified before the first failure is counted.
  const pages = await Promise.all(Array.from({ length: 30 }, async () => {
    const b = new BrowserFrom('127.0.0.51');
    const url = await authorizationRequest(config, { redirectUri: CB, scope: 'openid' });
    const first = await b.follow(url.url);
    return { b, at: first.url, html: await first.res.text() };
  }));
  const results = await Promise.all(pages.map((p, i) => p.b.submit(p.at, p.html, { email: 'burst@example.com', password: i === 29 ? PASSWORD : `guess-${i}` })));
  const checked = await audit('fp', 'burst@example.com').count({ n: '*' });
  assert.ok(Number(checked[0].n) <= MAX_ACCOUNT, `only ${MAX_ACCOUNT} wrong passwords may be checked, ${checked[0].n} were`);
  // Every other guess was refused unchecked, by the account's or (here first) the address's limit.
  const refused = await ts.ctx.db('audit_logs').whereIn('type', ['limit_wc', 'limit_mu']).andWhere({ user_name: 'burst@example.com' }).count({ n: '*' });
  assert.ok(Number(refused[0].n) >= 30 - MAX_ACCOUNT - 1, `refused: ${refused[0].n}`);
  assert.ok(results.every((r) => r.status !== 500));
  // Throttled now: the right password is refused like a wrong one.
  assert.equal((await attempt('127.0.0.52', 'burst@example.com', PASSWORD)).loggedIn, false);
});

test('behind one trusted proxy, the address is the one that proxy appended: entries a client writes further left do not count', async () => {
  // Regression: with trustProxy on, Koa took the leftmost X-Forwarded-For entry, which the client
  // writes: a sprayer rotating it got a fresh per-address counter (and a made-up event.request.ip) each time.
  const proxied = await startTestServer({
    bruteForce: { maxFailuresPerAccount: 100, maxFailuresPerIp: MAX_IP, waitIncrementSeconds: 60, maxWaitSeconds: 900, failureResetSeconds: 43200 },
    http: { bodyLimitBytes: 102400, trustProxy: true, headersTimeoutMs: 15000, requestTimeoutMs: 30000 },
  });
  try {
    const spa = await proxied.ctx.clients.create({ name: 'Proxied SPA', app_type: 'spa', callbacks: [CB] });
    const cfg = await discover(proxied, spa.client_id);
    const via = (forwarded: string) => Object.assign(new Browser(), { headers: { 'user-agent': 'gatehouse-test', 'x-forwarded-for': forwarded } });
    const statuses: number[] = [];
    for (let i = 0; i <= MAX_IP; i++) {
      const r = await loginThroughForm(cfg, { browser: via(`203.0.113.${i}, 198.51.100.7`), redirectUri: CB, email: `spray${i}@example.com`, password: 'Summer2026!' });
      statuses.push(r.status ?? 0);
    }
    assert.deepEqual(statuses, [...Array(MAX_IP).fill(200), 429], 'one address however the client fills the header');
    assert.ok(await proxied.ctx.db('login_failures').where({ key: 'ip:198.51.100.7' }).first(), 'counted for the proxy-appended address');
    assert.equal(await proxied.ctx.db('login_failures').where('key', 'like', 'ip:203.0.113.%').first(), undefined);
    const row = await proxied.ctx.db('audit_logs').where({ type: 'fu' }).orWhere({ type: 'fp' }).first();
    assert.equal(row?.ip, '198.51.100.7');
  } finally {
    await proxied.close();
  }
});

test('IPv6: a sprayer hopping between addresses of one /64 is one address to the per-address limit', async () => {
  // Regression: the counter was keyed by the full address, and a host picks any of 2^64 in its /64.
  const proxied = await startTestServer({
    bruteForce: { maxFailuresPerAccount: 100, maxFailuresPerIp: MAX_IP, waitIncrementSeconds: 60, maxWaitSeconds: 900, failureResetSeconds: 43200 },
    http: { bodyLimitBytes: 102400, trustProxy: true, headersTimeoutMs: 15000, requestTimeoutMs: 30000 },
  });
  try {
    const spa = await proxied.ctx.clients.create({ name: 'IPv6 SPA', app_type: 'spa', callbacks: [CB] });
    const cfg = await discover(proxied, spa.client_id);
    const from = (address: string) => Object.assign(new Browser(), { headers: { 'user-agent': 'gatehouse-test', 'x-forwarded-for': address } });
    const statuses: number[] = [];
    for (let i = 0; i <= MAX_IP; i++) {
      const r = await loginThroughForm(cfg, { browser: from(`2001:db8:7:8:${(i + 1).toString(16)}::${i + 10}`), redirectUri: CB, email: `v6spray${i}@example.com`, password: 'Summer2026!' });
      statuses.push(r.status ?? 0);
    }
    assert.deepEqual(statuses, [...Array(MAX_IP).fill(200), 429], 'one /64, one counter');
    assert.ok(await proxied.ctx.db('login_failures').where({ key: 'ip:2001:db8:7:8::/64' }).first());
    // Another /64 next door has its own.
    const other = await loginThroughForm(cfg, { browser: from('2001:db8:7:9::1'), redirectUri: CB, email: 'v6other@example.com', password: 'Summer2026!' });
    assert.equal(other.status, 200);
  } finally {
    await proxied.close();
  }
});

test('an https issuer with trustProxy off warns at start: cookies would not be Secure and every client would share the proxy\'s address', async () => {
  const s = await startTestServer({ issuer: 'https://login.example.com' });
  try {
    const warning = s.logs.find((l) => /issuer is https but http.trustProxy is off/.test(l));
    assert.ok(warning, 'the warning is logged');
    // It says what goes wrong until trustProxy is set, as the test's name does.
    assert.match(warning, /cookies are not marked Secure/);
    assert.match(warning, /every client has the proxy's address/);
  } finally {
    await s.close();
  }
  const proxied = await startTestServer({ issuer: 'https://login.example.com', http: { bodyLimitBytes: 102400, trustProxy: 1, headersTimeoutMs: 15000, requestTimeoutMs: 30000 } });
  try {
    assert.ok(!proxied.logs.some((l) => /trustProxy is off/.test(l)), 'no warning once the proxy is trusted');
  } finally {
    await proxied.close();
  }
});
