import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Koa from 'koa';
import { cookieSigner } from './cookie-signer.ts';

/**
 * The signer must be interchangeable with the keygrip instance Koa's `cookies` builds from a
 * key array (what oidc-provider used before): a cookie either one signed verifies with the other.
 * Two real Koa apps over HTTP, one with `keys` as an array, one with the signer.
 */
async function serve(keys: unknown): Promise<{ url: string; server: Server }> {
  const app = new Koa();
  app.keys = keys as string[];
  app.use((ctx) => {
    if (ctx.path === '/set') { ctx.cookies.set('gh_test', 'value-1', { signed: true }); ctx.body = 'set'; return; }
    ctx.body = JSON.stringify({ value: ctx.cookies.get('gh_test', { signed: true }) ?? null });
  });
  const server = createServer(app.callback());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

/** The `gh_test=…; gh_test.sig=…` pair a /set answer carries, as a Cookie header. */
async function signedPair(url: string): Promise<{ value: string; sig: string }> {
  const res = await fetch(`${url}/set`);
  const jar = Object.fromEntries(res.headers.getSetCookie().map((c) => c.split(';')[0].split('=') as [string, string]));
  assert.ok(jar['gh_test.sig'], 'a signature cookie is set');
  return { value: jar.gh_test, sig: jar['gh_test.sig'] };
}

const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

const read = async (url: string, cookie: string) => ((await (await fetch(`${url}/get`, { headers: { cookie } })).json()) as { value: string | null }).value;

test('cookies signed by keygrip and by the signer verify with each other, and tampering is refused', async (t) => {
  const keys = ['8f0c1d2e3a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9a0b1c2d3e4f', 'an-older-key'];
  const grip = await serve(keys);
  const ours = await serve(cookieSigner(keys));
  const rotated = await serve(cookieSigner(['a-newer-key', ...keys]));
  const other = await serve(cookieSigner(['another-key']));
  t.after(() => { for (const s of [grip, ours, rotated, other]) s.server.close(); });

  const fromGrip = await signedPair(grip.url);
  const fromOurs = await signedPair(ours.url);
  assert.deepEqual(fromOurs, fromGrip, 'the same signature as keygrip for the same key');
  const header = (p: { value: string; sig: string }) => `gh_test=${p.value}; gh_test.sig=${p.sig}`;
  assert.equal(await read(ours.url, header(fromGrip)), 'value-1');
  assert.equal(await read(grip.url, header(fromOurs)), 'value-1');
  assert.equal(await read(rotated.url, header(fromGrip)), 'value-1', 'an older key still verifies');
  assert.equal(await read(other.url, header(fromGrip)), null, 'another key does not');

  assert.equal(fromGrip.sig.length, 27, 'SHA-1 in base64url: 27 characters, 2 bits unused');
  for (const [what, cookie] of [
    ['a changed value', `gh_test=value-2; gh_test.sig=${fromGrip.sig}`],
    ['a changed signature', `gh_test=value-1; gh_test.sig=${fromGrip.sig.slice(0, -1)}${fromGrip.sig.endsWith('A') ? 'B' : 'A'}`],
    ['a signature with padding added', `gh_test=value-1; gh_test.sig=${fromGrip.sig}=`],
    ['a shorter signature', `gh_test=value-1; gh_test.sig=${fromGrip.sig.slice(0, 10)}`],
    // The last character carries 2 bits past the digest's 160: a base64url decoder ignores them,
    // so a signature differing only there decodes to the same bytes. It is still not the signature.
    ['the last character\'s unused bits flipped', `gh_test=value-1; gh_test.sig=${fromGrip.sig.slice(0, -1)}${B64URL[B64URL.indexOf(fromGrip.sig.at(-1)!) ^ 0b11]}`],
    // As many UTF-8 bytes as the signature (one 2-byte character for the last two): compared, and refused.
    ['a non-ASCII signature of the same byte length', `gh_test=value-1; gh_test.sig=${fromGrip.sig.slice(0, -2)}é`],
    ['no signature', 'gh_test=value-1'],
  ] as const) {
    assert.equal(await read(ours.url, cookie), null, what);
  }
});

test('the signer needs a key', () => {
  assert.throws(() => cookieSigner([]), /at least one key/);
});
