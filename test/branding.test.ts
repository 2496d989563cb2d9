import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from './helpers/server.ts';

/*
 * Auth0's tenant branding on the sign-in pages: the colors reach every page as CSS variables
 * (at the end of the pages' one stylesheet), the logo takes the place of the glyph and its
 * origin is allowed for images by the pages' CSP, the favicon is where /favicon.ico points.
 */

let ts: TestServer;
before(async () => { ts = await startTestServer(); });
after(async () => { await ts?.close(); });

test('branding: colors and logo on the pages, the logo\'s origin (only) allowed by the CSP, the favicon; bad values refused; null takes a member away', async () => {
  const none = await fetch(`${ts.base}/assets/branding.css`);
  assert.equal(none.status, 200);
  assert.doesNotMatch(await none.text(), /--accent|url\(/);
  assert.equal((await fetch(`${ts.base}/favicon.ico`, { redirect: 'manual' })).status, 404);

  const set = await ts.api('PATCH', '/branding', { colors: { primary: '#ff5500', page_background: '#101820' }, logo_url: 'https://cdn.acme.example/logo.svg', favicon_url: 'https://cdn.acme.example/favicon.ico' });
  assert.equal(set.status, 200, JSON.stringify(set.body));
  assert.deepEqual((await ts.api('GET', '/branding')).body, set.body);
  const sheet = await fetch(`${ts.base}/assets/style.css`);
  const css = await sheet.text();
  assert.match(css, /--accent:#ff5500/);
  assert.match(css, /--bg:#101820/);
  assert.match(css, /url\("https:\/\/cdn\.acme\.example\/logo\.svg"\)/);
  const page = await fetch(`${ts.base}/password/reset`);
  const html = await page.text();
  // One stylesheet, the product's with the branding at its end; revalidated, and a 304 while the same.
  assert.deepEqual([...html.matchAll(/<link rel="stylesheet" href="([^"]+)">/g)].map((m) => m[1]), ['/assets/style.css']);
  assert.ok(css.indexOf('--accent:#ff5500') > css.indexOf('.card'), 'the branding after the product\'s rules');
  assert.equal(sheet.headers.get('cache-control'), 'no-cache');
  const etag = sheet.headers.get('etag')!;
  // (A Cache-Control of its own: fetch adds no-cache to a conditional request otherwise, which a browser's revalidation does not send.)
  const revalidate = { 'if-none-match': etag, 'cache-control': 'max-age=0' };
  assert.equal((await fetch(`${ts.base}/assets/style.css`, { headers: revalidate })).status, 304);
  const csp = page.headers.get('content-security-policy') ?? '';
  assert.match(csp, /img-src 'self' data: https:\/\/cdn\.acme\.example;/, 'the logo\'s and favicon\'s origin, once');
  assert.match(csp, /default-src 'none'/, 'nothing else loosened');
  const icon = await fetch(`${ts.base}/favicon.ico`, { redirect: 'manual' });
  assert.equal(icon.status, 302);
  assert.equal(icon.headers.get('location'), 'https://cdn.acme.example/favicon.ico');

  const refuse = async (body: Record<string, unknown>, re: RegExp) => {
    const r = await ts.api('PATCH', '/branding', body);
    assert.equal(r.status, 400, JSON.stringify(r.body));
    assert.match(r.body.message, re);
  };
  await refuse({ colors: { primary: 'red;}body{x:y' } }, /hex color/);
  await refuse({ logo_url: 'http://cdn.acme.example/logo.png' }, /https/);
  await refuse({ logo_url: 'javascript:alert(1)' }, /https/);
  await refuse({ font: { url: 'https://fonts.example/f.woff' } }, /font/);
  // The logo's origin goes into the CSP: a host that would add a directive is refused.
  await refuse({ logo_url: 'https://x;connect-src/logo.png' }, /plain domain name/);
  // A quote or parenthesis in the path cannot end the CSS string.
  assert.equal((await ts.api('PATCH', '/branding', { logo_url: 'https://cdn.acme.example/a")}body{x:url(y' })).status, 200);
  assert.doesNotMatch(await (await fetch(`${ts.base}/assets/branding.css`)).text(), /a"\)/);
  const changed = await fetch(`${ts.base}/assets/style.css`, { headers: revalidate });
  assert.equal(changed.status, 200, 'a new branding is a new stylesheet');
  assert.notEqual(changed.headers.get('etag'), etag);

  const cleared = await ts.api('PATCH', '/branding', { logo_url: null, colors: { page_background: null } });
  assert.deepEqual(cleared.body, { colors: { primary: '#ff5500' }, favicon_url: 'https://cdn.acme.example/favicon.ico' });
  assert.ok((await ts.api('GET', '/branding')).body.colors, 'read back the same');
  const later = await fetch(`${ts.base}/password/reset`);
  await later.text();
  assert.match(later.headers.get('content-security-policy') ?? '', /img-src 'self' data: https:\/\/cdn\.acme\.example;/, 'the favicon\'s origin stays');
  await ts.api('PATCH', '/branding', { favicon_url: null });
  const none2 = await fetch(`${ts.base}/password/reset`);
  await none2.text();
  assert.doesNotMatch(none2.headers.get('content-security-policy') ?? '', /cdn\.acme\.example/, 'neither logo nor favicon: no extra origin');
  await refuse({ favicon_url: '' }, /favicon_url/);
  // A row written by hand (or by an older version) that the checks would refuse breaks no page (regression: every route answered 500).
  await ts.ctx.db('settings').where({ key: 'branding' }).update({ value: JSON.stringify({ logo_url: 42, favicon_url: 'https://x;connect-src/i.ico', colors: { primary: 'red;}' } }) });
  await new Promise((r) => setTimeout(r, 2100)); // past the branding cache (it only lets the change through)
  const hand = await fetch(`${ts.base}/password/reset`);
  assert.equal(hand.status, 200);
  assert.doesNotMatch(hand.headers.get('content-security-policy') ?? '', /connect-src/);
  assert.deepEqual((await ts.api('GET', '/branding')).body, {});
  assert.equal((await ts.api('PATCH', '/branding', { colors: { primary: '#000' } }, await ts.adminToken('read:branding'))).status, 403);
});

test('PATCHes at once, each with its own member, keep them all (regression: a read-modify-write lost all but one)', async () => {
  await ts.api('PATCH', '/branding', { colors: null, logo_url: null, favicon_url: null });
  const patches = [
    { colors: { primary: '#112233' } }, { colors: { page_background: '#445566' } },
    { logo_url: 'https://cdn.acme.example/l.svg' }, { favicon_url: 'https://cdn.acme.example/f.ico' },
  ];
  const answers = await Promise.all(patches.map((p) => ts.api('PATCH', '/branding', p)));
  for (const a of answers) assert.equal(a.status, 200, JSON.stringify(a.body));
  const all = {
    colors: { primary: '#112233', page_background: '#445566' }, logo_url: 'https://cdn.acme.example/l.svg', favicon_url: 'https://cdn.acme.example/f.ico',
  };
  assert.deepEqual((await ts.api('GET', '/branding')).body, all);
  // The same started in one turn of the event loop (HTTP requests seldom overlap that closely).
  await ts.ctx.branding.update({ colors: null, logo_url: null, favicon_url: null });
  await Promise.all(patches.map((p) => ts.ctx.branding.update(p)));
  assert.deepEqual(await ts.ctx.branding.get(), all);
  assert.deepEqual((await ts.api('GET', '/branding')).body, {
    colors: { primary: '#112233', page_background: '#445566' }, logo_url: 'https://cdn.acme.example/l.svg', favicon_url: 'https://cdn.acme.example/f.ico',
  });
});

test('when the branding cannot be read, the stylesheet is the one last served, not an error', async () => {
  // Regression of a review: the branding joined the stylesheet, and a failed read made the
  // pages' only stylesheet a 500 while the pages themselves still answered.
  const own = await startTestServer();
  try {
    assert.equal((await own.api('PATCH', '/branding', { colors: { primary: '#123456' }, favicon_url: 'https://cdn.acme.example/f.ico' })).status, 200);
    assert.match(await (await fetch(`${own.base}/assets/style.css`)).text(), /--accent:#123456/);
    await own.ctx.db.schema.renameTable('settings', 'settings_gone');
    // Past the branding's cache (2 s), so the next page reads it again and fails.
    await new Promise((r) => setTimeout(r, 2100));
    assert.equal((await fetch(`${own.base}/password/reset`)).status, 200);
    const css = await fetch(`${own.base}/assets/style.css`);
    assert.equal(css.status, 200);
    assert.match(await css.text(), /--accent:#123456/);
    const icon = await fetch(`${own.base}/favicon.ico`, { redirect: 'manual' });
    assert.equal(icon.status, 302);
    assert.equal(icon.headers.get('location'), 'https://cdn.acme.example/f.ico');
    await own.ctx.db.schema.renameTable('settings_gone', 'settings');
  } finally {
    await own.close();
  }
});
