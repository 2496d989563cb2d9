import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startTestServer, freePort, type TestServer } from './helpers/server.ts';
import { startSpaServer, type SpaServer } from '../examples/spa/serve.ts';

/**
 * The example SPA (Auth0's own auth0-spa-js, unmodified) against a real Gatehouse, in a real
 * Chromium: login redirect, Gatehouse's login form, the code exchange with PKCE and CORS at
 * /oauth/token, the SDK's own ID token checks, then the user's email on the page.
 */

// Playwright's own browser downloads are not available here: use a system Chromium, from
// CHROMIUM_PATH or else the first of these names on PATH (Debian's packages put them in /usr/bin).
const NAMES = ['chromium-headless-shell', 'chromium', 'chromium-browser', 'google-chrome-stable', 'google-chrome'];
function findChromium(): string | undefined {
  const fromEnv = process.env.CHROMIUM_PATH;
  if (fromEnv) {
    if (!existsSync(fromEnv)) throw new Error(`CHROMIUM_PATH=${fromEnv} does not exist`);
    return fromEnv;
  }
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), '/usr/bin'];
  for (const name of NAMES) {
    for (const dir of dirs) if (existsSync(join(dir, name))) return join(dir, name);
  }
  return undefined;
}

const executablePath = findChromium();
// In CI a missing browser is a broken set-up, not a reason to pass quietly.
if (!executablePath && process.env.CI) throw new Error(`no Chromium found (set CHROMIUM_PATH or install chromium-headless-shell or chromium)`);
const skip = executablePath ? false : 'no Chromium installed: set CHROMIUM_PATH or apt-get install chromium-headless-shell';

const PASSWORD = 'correct horse battery staple';

let ts: TestServer;
let spa: SpaServer;
let browser: Browser;
let shots: string;

before(async () => {
  if (skip) return;
  // auth0-spa-js expects `iss` to be `${domain}/`: Gatehouse runs with the trailing-slash
  // issuer, as the README tells users to.
  ts = await startTestServer({ managementApi: { currentUserTokens: true } }, { trailingSlash: true });
  const port = await freePort();
  // The SPA on "localhost" while Gatehouse is on 127.0.0.1: two different sites, as an app
  // and its identity provider are in production, so cookies and CORS are really exercised.
  const origin = `http://localhost:${port}`;
  const client = await ts.ctx.clients.create({
    name: 'Example SPA', app_type: 'spa', callbacks: [`${origin}/`], web_origins: [origin], allowed_logout_urls: [`${origin}/`],
  });
  spa = await startSpaServer({ port, issuer: ts.issuer, clientId: client.client_id, managementApi: true });
  browser = await chromium.launch({
    executablePath,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  shots = mkdtempSync(join(tmpdir(), 'gatehouse-browser-'));
});

after(async () => {
  await browser?.close();
  await spa?.close();
  await ts?.close();
  // Screenshots are for looking at while developing; keep them only when asked to.
  if (shots && !process.env.KEEP_SCREENSHOTS) rmSync(shots, { recursive: true, force: true });
  else if (shots) console.log(`screenshots kept in ${shots}`);
});

/** Collects what the page logged, so a failure says why rather than only "timed out". */
function watch(page: Page) {
  const seen: string[] = [];
  page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') seen.push(`console.${m.type()}: ${m.text()}`); });
  page.on('pageerror', (e) => seen.push(`pageerror: ${e.message}`));
  page.on('requestfailed', (r) => seen.push(`requestfailed: ${r.method()} ${r.url()} ${r.failure()?.errorText}`));
  return seen;
}

/**
 * The login through Gatehouse's form; with the right password, the consent page follows: the
 * SPA's callback is on localhost, where Gatehouse (as Auth0) asks every time, first party or not.
 */
async function logIn(page: Page, email: string, password: string, screenshot?: string) {
  await page.goto(spa.url);
  await page.getByRole('button', { name: 'Log in', exact: true }).click();
  // loginWithRedirect → /authorize → Gatehouse's login page for this interaction.
  await page.waitForURL((u) => u.href.startsWith(`${ts.base}/interaction/`));
  await page.getByLabel('Email address').waitFor();
  if (screenshot) await page.screenshot({ path: join(shots, screenshot), fullPage: true });
  await page.fill('input[name="email"]', email);
  await page.fill('input[name="password"]', password);
  await page.getByRole('button', { name: 'Continue' }).click();
  if (password === PASSWORD) await allow(page);
}
/** Confirms the consent page this SPA gets at every authorization (its callback is on localhost). */
async function allow(page: Page) {
  await page.getByRole('heading', { name: /^Authorize / }).waitFor();
  await page.getByRole('button', { name: 'Allow' }).click();
}

test('the example SPA logs in through Gatehouse with auth0-spa-js and shows the email', { skip }, async () => {
  const email = 'spa.user@example.com';
  await ts.ctx.users.create({ email, password: PASSWORD });
  const context = await browser.newContext();
  const page = await context.newPage();
  const seen = watch(page);
  try {
    // The SDK's code exchange: a cross-origin POST, allowed by the client's web origin.
    const tokenResponse = page.waitForResponse((r) => r.url() === `${ts.base}/oauth/token` && r.request().method() === 'POST');
    tokenResponse.catch(() => {}); // awaited below; rejects only if an earlier step already failed
    await logIn(page, email, PASSWORD, 'login.png');
    const token = await tokenResponse;
    assert.equal(token.status(), 200);
    assert.equal(token.headers()['access-control-allow-origin'], new URL(spa.url).origin);
    // Either outcome ends the SPA's start-up: signed in, or an error it shows (and we report).
    await page.locator('#signed-in:not([hidden]), #error:not([hidden])').first().waitFor({ timeout: 15_000 });
    assert.equal(await page.locator('#error').isHidden(), true, `the SPA shows an error: ${await page.locator('#error').textContent()}`);
    assert.equal(await page.locator('#user-email').textContent(), email);
    // Back on the SPA, with the single-use code and state removed from the address bar.
    assert.equal(page.url(), spa.url);
    // What the SDK accepted (it checks iss, aud, nonce and RS256 before getUser() returns
    // anything): an ID token from this issuer, trailing slash included, for this user.
    const { id_token } = await token.json() as { id_token: string };
    const claims = JSON.parse(Buffer.from(id_token.split('.')[1], 'base64url').toString());
    assert.equal(claims.iss, ts.issuer);
    assert.equal(claims.email, email);
  } catch (err) {
    throw new Error(`${(err as Error).message}\npage: ${page.url()}\n${seen.join('\n')}`, { cause: err });
  } finally {
    await context.close();
  }
});

test('the signed-in SPA keeps a preference in user_metadata through the Management API with the user\'s own token', { skip }, async () => {
  const email = 'spa.profile@example.com';
  const created = await ts.ctx.users.create({ email, password: PASSWORD });
  const context = await browser.newContext();
  const page = await context.newPage();
  const seen = watch(page);
  const api = `${ts.base}/api/v2/users/${encodeURIComponent(created.user_id)}`;
  try {
    await logIn(page, email, PASSWORD);
    await page.locator('#profile:not([hidden]), #error:not([hidden])').first().waitFor({ timeout: 15_000 });
    assert.equal(await page.locator('#error').isHidden(), true, `the SPA shows an error: ${await page.locator('#error').textContent()}`);
    assert.equal(await page.locator('#profile-status').textContent(), '', 'the profile loaded');
    assert.equal(await page.getByLabel('Favourite colour').inputValue(), '');

    // A cross-origin PATCH with a bearer token: Chromium sends it only after a CORS preflight
    // that allowed it (the preflight itself is not shown to the page's events).
    const patched = page.waitForResponse((r) => r.url() === api && r.request().method() === 'PATCH');
    patched.catch(() => {});
    await page.getByLabel('Favourite colour').fill('teal');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByText('Saved: teal').waitFor({ timeout: 10_000 });
    assert.equal((await patched).status(), 200);
    assert.equal((await patched).headers()['access-control-allow-origin'], new URL(spa.url).origin);
    assert.deepEqual((await ts.ctx.users.get(created.user_id))!.user_metadata, { favorite_color: 'teal' });

    // After a reload the SDK's cached token reads it back.
    await page.reload();
    await page.locator('#profile:not([hidden])').waitFor({ timeout: 15_000 });
    assert.equal(await page.getByLabel('Favourite colour').inputValue(), 'teal');
  } catch (err) {
    throw new Error(`${(err as Error).message}\npage: ${page.url()}\n${seen.join('\n')}`, { cause: err });
  } finally {
    await context.close();
  }
});

test('Log in with a popup: Gatehouse\'s form in the popup, the code posted back to the app (web_message), the app never leaves its page', { skip }, async () => {
  const email = 'spa.popup@example.com';
  await ts.ctx.users.create({ email, password: PASSWORD });
  const context = await browser.newContext();
  const page = await context.newPage();
  const seen = watch(page);
  try {
    await page.goto(spa.url);
    const opened = context.waitForEvent('page');
    await page.getByRole('button', { name: 'Log in with a popup' }).click();
    const popup = await opened;
    seen.push(...watch(popup));
    await popup.waitForURL((u) => u.href.startsWith(`${ts.base}/interaction/`));
    assert.equal(new URL(popup.url()).origin, ts.base);
    await popup.fill('input[name="email"]', email);
    await popup.fill('input[name="password"]', PASSWORD);
    const closed = popup.waitForEvent('close');
    await popup.getByRole('button', { name: 'Continue' }).click();
    await allow(popup);
    await closed;
    await page.locator('#signed-in:not([hidden]), #error:not([hidden])').first().waitFor({ timeout: 15_000 });
    assert.equal(await page.locator('#error').isHidden(), true, `the SPA shows an error: ${await page.locator('#error').textContent()}`);
    assert.equal(await page.locator('#user-email').textContent(), email);
    assert.equal(page.url(), spa.url, 'the app\'s page stayed where it was');
  } catch (err) {
    throw new Error(`${(err as Error).message}\npage: ${page.url()}\n${seen.join('\n')}`, { cause: err });
  } finally {
    await context.close();
  }
});

test('a wrong password keeps the user on Gatehouse with an error and the SPA signed out', { skip }, async () => {
  const email = 'spa.wrong@example.com';
  await ts.ctx.users.create({ email, password: PASSWORD });
  const context = await browser.newContext();
  const page = await context.newPage();
  try {
    await logIn(page, email, 'not the password');
    await assert.doesNotReject(page.getByRole('alert').filter({ hasText: 'Wrong email or password.' }).waitFor());
    assert.ok(page.url().startsWith(`${ts.base}/interaction/`), page.url());
    // Nothing reached the SPA: going back there shows it signed out.
    await page.goto(spa.url);
    await page.getByRole('button', { name: 'Log in', exact: true }).waitFor();
    assert.equal(await page.locator('#signed-in').isHidden(), true);
  } finally {
    await context.close();
  }
});

test('Log out ends the Gatehouse session and returns to the SPA signed out', { skip }, async () => {
  const email = 'spa.logout@example.com';
  await ts.ctx.users.create({ email, password: PASSWORD });
  const context = await browser.newContext();
  const page = await context.newPage();
  const seen = watch(page);
  try {
    await logIn(page, email, PASSWORD);
    await page.locator('#user-email').filter({ hasText: email }).waitFor({ timeout: 15_000 });
    // auth0-spa-js clears its cache, then goes to /v2/logout?client_id=…&returnTo=… (Auth0's
    // logout endpoint), which Gatehouse maps onto RP-initiated logout.
    const logout = page.waitForResponse((r) => r.url().startsWith(`${ts.base}/v2/logout?`));
    logout.catch(() => {}); // awaited below
    await page.getByRole('button', { name: 'Log out' }).click();
    const res = await logout;
    assert.ok(res.status() >= 300 && res.status() < 400, `/v2/logout answered ${res.status()}, expected a redirect`);
    // Unlike Auth0, Gatehouse asks the user to confirm (no id_token_hint: a link on any site
    // must not sign people out); confirming ends on returnTo.
    await page.getByRole('button', { name: 'Yes, log out' }).click();
    await page.waitForURL((u) => u.href === spa.url, { timeout: 15_000 });
    await page.getByRole('button', { name: 'Log in', exact: true }).waitFor();
    // The Gatehouse session is gone too: logging in again asks for the password.
    // A surviving session would send the browser straight back to the SPA with a code.
    const next = page.waitForRequest((r) => r.isNavigationRequest() &&
      (r.url().startsWith(`${ts.base}/interaction/`) || (r.url().startsWith(spa.url) && new URL(r.url()).searchParams.has('code'))));
    next.catch(() => {}); // awaited below
    await page.getByRole('button', { name: 'Log in', exact: true }).click();
    const landed = (await next).url();
    assert.ok(landed.startsWith(`${ts.base}/interaction/`), `expected Gatehouse's login page, got ${landed}`);
  } catch (err) {
    throw new Error(`${(err as Error).message}\npage: ${page.url()}\n${seen.join('\n')}`, { cause: err });
  } finally {
    await context.close();
  }
});

test('with the SDK\'s default in-memory cache, a reload on localhost does not sign the user back in silently: consent is asked at every authorization there (prompt=none gets consent_required), as on Auth0', { skip }, async () => {
  // Same site this time, as the README's set-up is (localhost:3000 and localhost:5173): the
  // iframe is Gatehouse inside the app's page, and a same-site frame gets its session cookie
  // (SameSite=Lax). It still cannot answer: a code for a localhost callback may go to any
  // program there, so Gatehouse asks for consent every time (RFC 8252 §8.6), and a hidden frame
  // cannot ask. (The silent web_message flow itself: test/oidc-web-message.test.ts.)
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-test-'));
  const issuer = `http://localhost:${port}/`;
  const gh = await startTestServer({ issuer, managementApi: { currentUserTokens: true } }, { at: { dir, port } });
  const spaPort = await freePort();
  const origin = `http://localhost:${spaPort}`;
  const client = await gh.ctx.clients.create({ name: 'Silent SPA', app_type: 'spa', callbacks: [`${origin}/`], web_origins: [origin], allowed_logout_urls: [`${origin}/`] });
  const email = 'spa.silent@example.com';
  await gh.ctx.users.create({ email, password: PASSWORD });
  const app = await startSpaServer({ port: spaPort, issuer, clientId: client.client_id, cacheLocation: 'memory', managementApi: true });
  const context = await browser.newContext();
  const page = await context.newPage();
  const seen = watch(page);
  const authorizations: URL[] = [];
  page.on('request', (r) => { if (r.url().startsWith(`${issuer}authorize`)) authorizations.push(new URL(r.url())); });
  try {
    await page.goto(app.url);
    await page.getByRole('button', { name: 'Log in', exact: true }).click();
    await page.waitForURL((u) => u.href.startsWith(`${issuer}interaction/`));
    await page.fill('input[name="email"]', email);
    await page.fill('input[name="password"]', PASSWORD);
    await page.getByRole('button', { name: 'Continue' }).click();
    await allow(page);
    await page.locator('#signed-in:not([hidden]), #error:not([hidden])').first().waitFor({ timeout: 15_000 });
    assert.equal(await page.locator('#error').isHidden(), true, `the SPA shows an error: ${await page.locator('#error').textContent()}`);
    assert.equal(await page.locator('#user-email').textContent(), email);

    // Nothing kept in the page: the reload's only way back would be Gatehouse's session.
    const answered = page.waitForResponse((r) => r.url().startsWith(`${issuer}authorize`) && new URL(r.url()).searchParams.get('prompt') === 'none');
    answered.catch(() => {});
    await page.reload();
    await page.locator('#signed-in:not([hidden]), #signed-out:not([hidden])').first().waitFor({ timeout: 15_000 });
    const frame = await answered;
    assert.equal(await page.locator('#signed-in').isHidden(), true, 'signed out after the reload');
    const silent = authorizations.at(-1)!;
    assert.equal(silent.searchParams.get('prompt'), 'none');
    assert.equal(silent.searchParams.get('response_mode'), 'web_message');
    // What the hidden frame was given: consent_required, posted to the app's origin (no code).
    const posted = await frame.text();
    assert.match(posted, /consent_required/);
    assert.doesNotMatch(posted, /"code"/);
    assert.equal(page.url(), app.url, 'the page itself never left the app');
  } catch (err) {
    throw new Error(`${(err as Error).message}\npage: ${page.url()}\n${seen.join('\n')}`, { cause: err });
  } finally {
    await context.close();
    await app.close();
    await gh.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

