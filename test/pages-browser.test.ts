import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { delimiter, join } from 'node:path';
import * as oidc from 'openid-client';
import { chromium, type Browser } from 'playwright-core';
import { startTestServer, discover, freePort, type TestServer } from './helpers/server.ts';

/*
 * What only a real browser can show about our headers: the login page refuses to be framed
 * (A29), and oidc-provider's auto-submitting page (logout without a session) still runs its
 * inline script under our CSP, because its hash is added next to script-src 'none'.
 */

const NAMES = ['chromium-headless-shell', 'chromium', 'chromium-browser', 'google-chrome-stable', 'google-chrome'];
function findChromium(): string | undefined {
  if (process.env.CHROMIUM_PATH) return existsSync(process.env.CHROMIUM_PATH) ? process.env.CHROMIUM_PATH : undefined;
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), '/usr/bin'];
  for (const name of NAMES) for (const dir of dirs) if (existsSync(join(dir, name))) return join(dir, name);
  return undefined;
}
const executablePath = findChromium();
if (!executablePath && process.env.CI) throw new Error('no Chromium found (set CHROMIUM_PATH or install chromium-headless-shell or chromium)');
const skip = executablePath ? false : 'no Chromium installed: set CHROMIUM_PATH or apt-get install chromium-headless-shell';

const CB = 'http://localhost:5181/cb';

let ts: TestServer;
let browser: Browser;
let framer: Server;
let framerUrl: string;
let loginUrl: string;

before(async () => {
  if (skip) return;
  ts = await startTestServer();
  const spa = await ts.ctx.clients.create({ name: 'Framed SPA', app_type: 'spa', callbacks: [CB] });
  const config = await discover(ts, spa.client_id);
  loginUrl = oidc.buildAuthorizationUrl(config, {
    redirect_uri: CB, scope: 'openid', code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()), code_challenge_method: 'S256',
  }).href;
  // Another site that tries to frame the login page next to a frame of its own (the control).
  const port = await freePort();
  framer = createServer((req, res) => {
    res.setHeader('content-type', 'text/html');
    if (req.url === '/own') return res.end('<form><input name="password" type="password"></form>');
    res.end(`<iframe id="gatehouse" src="${loginUrl}"></iframe><iframe id="own" src="/own"></iframe>`);
  });
  await new Promise<void>((r) => framer.listen(port, '127.0.0.1', r));
  framerUrl = `http://localhost:${port}/`;
  browser = await chromium.launch({ executablePath, args: ['--no-sandbox', '--disable-gpu', '--no-first-run'] });
});
after(async () => {
  await browser?.close();
  await new Promise((r) => (framer ? framer.close(r) : r(undefined)));
  await ts?.close();
});

test('the login page does not render inside another site\'s iframe (A29)', { skip }, async () => {
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    await page.goto(framerUrl, { waitUntil: 'load' });
    const own = page.frameLocator('#own').locator('input[name="password"]');
    await own.waitFor();
    assert.equal(await own.count(), 1, 'the control frame renders, so the check below can see a form');
    // Any Gatehouse page in the frame would show its footer, even the "session not found" page
    // a cross-site frame gets without its SameSite=Lax cookies; a frame blocked by
    // frame-ancestors shows the browser's own error page instead.
    const frame = await (await page.$('#gatehouse'))!.contentFrame();
    const text = frame ? await frame.locator('body').textContent({ timeout: 2000 }).catch(() => '') : '';
    assert.doesNotMatch(text ?? '', /Secured by Gatehouse/, 'no Gatehouse page may render in the frame');
    // It is our CSP, not a failed load: the same URL opens fine at the top level.
    const top = await context.newPage();
    await top.goto(loginUrl);
    assert.equal(await top.locator('input[name="password"]').count(), 1);
  } finally {
    await context.close();
  }
});

test('logout without a session auto-submits under the CSP and ends on "signed out"', { skip }, async () => {
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    const blocked: string[] = [];
    page.on('console', (m) => { if (/Content Security Policy/i.test(m.text())) blocked.push(m.text()); });
    await page.goto(`${ts.base}/oidc/logout`);
    await page.waitForURL((u) => u.pathname === '/oidc/logout/success', { timeout: 15_000 });
    assert.match(await page.locator('h1').textContent() ?? '', /Signed out/);
    assert.deepEqual(blocked, []);
  } finally {
    await context.close();
  }
});
