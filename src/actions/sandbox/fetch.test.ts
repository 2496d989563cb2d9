/**
 * The guest's fetch: bridged through the worker, SSRF-guarded, bounded.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import https from 'node:https';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { createSandboxPool, type SandboxPool } from './index.ts';
import { isAllowedHost, isBlockedAddress, issuerAllowance, parseFetchAllow } from './net-guard.ts';
import { LIMITS, claims, expectHealthy, postLogin, request } from './test-support.ts';

describe('net-guard', () => {
  test('blocks loopback, private, CGNAT, ULA, link-local and other non-public addresses', () => {
    for (const ip of [
      '127.0.0.1', '127.255.0.9', '10.1.2.3', '172.16.0.1', '172.31.255.255', '192.168.1.1', '100.64.0.1', '100.127.255.254',
      '169.254.169.254', '0.0.0.0', '224.0.0.1', '255.255.255.255', '198.18.0.1',
      '::1', '::', 'fc00::1', 'fd12:3456::1', 'fe80::1', 'fe80::1%eth0', 'ff02::1',
      '::ffff:127.0.0.1', '::ffff:7f00:1', '::ffff:10.0.0.1', '64:ff9b::10.0.0.1', '2002:0a00:0001::1', '[::1]',
      'not-an-ip', '',
    ]) assert.equal(isBlockedAddress(ip), true, ip);
  });
  test('allows public unicast addresses', () => {
    for (const ip of ['8.8.8.8', '1.1.1.1', '172.32.0.1', '100.128.0.1', '2606:4700:4700::1111', '::ffff:8.8.8.8', '2001:4860:4860::8888']) {
      assert.equal(isBlockedAddress(ip), false, ip);
    }
  });
  test('allow list entries match host or host:port', () => {
    const list = parseFetchAllow(['Internal.Example.com', '127.0.0.1:8080', '[::1]:9000', 'localhost', 'bad entry', '']);
    assert.equal(isAllowedHost(list, new URL('https://internal.example.com/x')), true);
    assert.equal(isAllowedHost(list, new URL('http://internal.example.com:81/x')), true);
    assert.equal(isAllowedHost(list, new URL('http://127.0.0.1:8080/')), true);
    assert.equal(isAllowedHost(list, new URL('http://127.0.0.1:8081/')), false);
    assert.equal(isAllowedHost(list, new URL('http://127.0.0.1/')), false);
    assert.equal(isAllowedHost(list, new URL('http://[::1]:9000/')), true);
    assert.equal(isAllowedHost(list, new URL('http://localhost:1234/')), true);
    assert.equal(isAllowedHost(list, new URL('http://other.example.com/')), false);
    const ports = parseFetchAllow(['example.com:80']);
    assert.equal(isAllowedHost(ports, new URL('http://example.com/')), true);
    assert.equal(isAllowedHost(ports, new URL('https://example.com/')), false);
  });
  test('the issuer allowance is its token endpoint and Management API only, at its scheme, host, port and path', () => {
    const list = { ...parseFetchAllow([]), issuer: issuerAllowance('http://127.0.0.1:3000/auth/') };
    const ok = (u: string) => isAllowedHost(list, new URL(u));
    assert.equal(ok('http://127.0.0.1:3000/auth/oauth/token'), true);
    assert.equal(ok('http://127.0.0.1:3000/auth/api/v2/users/auth0%7Cabc?fields=email'), true);
    assert.equal(ok('http://127.0.0.1:3000/auth/api/v2/../../other-app/admin'), false, 'dot segments are resolved first');
    assert.equal(ok('http://127.0.0.1:3000/auth/api/v2/%2e%2e/%2e%2e/other'), false);
    assert.equal(ok('http://127.0.0.1:3000/auth/api/v2/..%2f..%2fother'), false, 'an encoded slash is for the server behind to read');
    assert.equal(ok('http://127.0.0.1:3000/other-app/admin'), false);
    assert.equal(ok('http://127.0.0.1:3000/auth/oauth/token/x'), false);
    assert.equal(ok('http://127.0.0.1:3000/api/v2/users'), false, 'outside the issuer\'s path');
    assert.equal(ok('http://127.0.0.1:3001/auth/api/v2/users'), false, 'another port');
    assert.equal(ok('https://127.0.0.1:3000/auth/api/v2/users'), false, 'another scheme');
    assert.equal(ok('http://localhost:3000/auth/api/v2/users'), false, 'another name for the host');
    assert.equal(issuerAllowance('not a url'), undefined);
    assert.equal(issuerAllowance('file:///etc/passwd'), undefined);
  });
});

describe('fetch from an action', () => {
  let server: http.Server;
  let port = 0;
  /** Bodies posted to /notify (requests an action sent and did not await). */
  const notified: string[] = [];
  /** Requests to /hang held open now, and the most at once. */
  let hanging = 0, mostHanging = 0;
  let allowed: SandboxPool;
  let strict: SandboxPool;

  before(async () => {
    server = http.createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      if (url.pathname === '/json') {
        res.setHeader('content-type', 'application/json');
        res.setHeader('x-test', 'yes');
        res.end(JSON.stringify({ hello: 'world', method: req.method }));
      } else if (url.pathname === '/echo') {
        let body = '';
        req.on('data', (c: Buffer) => { body += c.toString(); });
        req.on('end', () => res.end(JSON.stringify({ body, type: req.headers['content-type'], auth: req.headers.authorization ?? null })));
      } else if (url.pathname === '/notify') {
        let body = '';
        req.on('data', (c: Buffer) => { body += c.toString(); });
        req.on('end', () => { notified.push(body); res.end('ok'); });
      } else if (url.pathname === '/redirect-slow') {
        setTimeout(() => { res.writeHead(307, { location: '/notify' }); res.end(); }, 150).unref();
      } else if (url.pathname === '/hang') {
        hanging++;
        mostHanging = Math.max(mostHanging, hanging);
        req.on('close', () => { hanging--; });
      } else if (url.pathname === '/big') {
        res.end('x'.repeat(64 * 1024));
      } else if (url.pathname === '/slow') {
        setTimeout(() => res.end('late'), 2000).unref();
      } else if (url.pathname === '/to-localhost') {
        res.statusCode = 302;
        res.setHeader('location', `http://localhost:${port}/json`);
        res.end();
      } else if (url.pathname === '/to-json') {
        res.statusCode = 302;
        res.setHeader('location', '/json');
        res.end();
      } else {
        res.statusCode = 404;
        res.end('not found');
      }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
    allowed = createSandboxPool({ workers: 1, fetchAllow: [`127.0.0.1:${port}`], fetchTimeoutMs: 300, fetchMaxBytes: 16 * 1024 });
    strict = createSandboxPool({ workers: 1 });
  });
  after(async () => {
    await Promise.all([allowed.close(), strict.close()]);
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  test('a request the handler does not await is still sent, through the guard, and the logs say so', async () => {
    const base = `http://127.0.0.1:${port}`;
    notified.length = 0;
    const r = await allowed.runChain(request([postLogin(`
      fetch('${base}/notify', { method: 'POST', body: 'fire-and-forget' });
      require('axios').post('${base}/notify', { via: 'axios' });
      fetch('http://169.254.169.254/latest/meta-data/', { method: 'POST', body: 'metadata' });
      api.idToken.setCustomClaim('done', true);`)]));
    assert.equal(r.status, 'ok', JSON.stringify(r));
    for (let i = 0; i < 50 && notified.length < 2; i++) await new Promise((res) => setTimeout(res, 20));
    assert.deepEqual(notified.sort(), ['fire-and-forget', '{"via":"axios"}']);
    const logs = r.results[0].logs;
    assert.match(logs, new RegExp(`POST 127\\.0\\.0\\.1:${port}: sent after the handler returned without awaiting it`));
    assert.match(logs, /POST 169\.254\.169\.254: sent after/, 'noted like the others (the guard then refuses it: guarded-address tests above)');
    // Awaited requests are not sent twice nor noted.
    notified.length = 0;
    const awaited = await allowed.runChain(request([postLogin(`await fetch('${base}/notify', { method: 'POST', body: 'awaited' });`)]));
    assert.equal(awaited.results[0].logs, '');
    await new Promise((res) => setTimeout(res, 100));
    assert.deepEqual(notified, ['awaited']);
  });

  test('node-fetch 2 and @slack/webhook as actions use them: over fetch, with their errors', async () => {
    const base = `http://127.0.0.1:${port}`;
    notified.length = 0;
    const r = await allowed.runChain(request([postLogin(`
      const fetch = require('node-fetch');
      const { IncomingWebhook } = require('@slack/webhook');
      const res = await fetch('${base}/json', { timeout: 200 });
      api.idToken.setCustomClaim('nf', [res.status, (await res.json()).hello, typeof fetch.default, fetch.isRedirect(302)]);
      try { await fetch('${base}/slow', { timeout: 50 }); } catch (e) { api.idToken.setCustomClaim('timeout', [e.name, e.type]); }
      const hook = new IncomingWebhook('${base}/notify', { username: 'gatehouse' });
      api.idToken.setCustomClaim('slack', (await hook.send('New sign-up: a@b.example')).text);
      try { await new IncomingWebhook('${base}/nope').send({ text: 'x' }); } catch (e) { api.idToken.setCustomClaim('slackErr', [e.code, e.message]); }`)]));
    assert.equal(r.status, 'ok', JSON.stringify(r.results[0]));
    const c = claims(r);
    assert.deepEqual(c.nf, [200, 'world', 'function', true]);
    assert.deepEqual(c.timeout, ['FetchError', 'request-timeout']);
    assert.equal(c.slack, 'ok');
    assert.deepEqual(JSON.parse(notified[0]), { username: 'gatehouse', text: 'New sign-up: a@b.example' }, 'the message with its defaults, as @slack/webhook posts it');
    assert.deepEqual(c.slackErr, ['slack_webhook_http_error', 'An HTTP protocol error occurred: statusCode = 404']);
  });

  test('an unawaited request already under way when the handler returns is left to finish, not cut off', async () => {
    const base = `http://127.0.0.1:${port}`;
    notified.length = 0;
    const r = await allowed.runChain(request([postLogin(`
      fetch('${base}/redirect-slow', { method: 'POST', body: 'fire-and-forget' });
      await fetch('${base}/json');`)], { limits: { ...LIMITS, actionTimeoutMs: 3000 } }));
    assert.equal(r.status, 'ok', JSON.stringify(r));
    for (let i = 0; i < 50 && notified.length < 1; i++) await new Promise((res) => setTimeout(res, 20));
    assert.deepEqual(notified, ['fire-and-forget']);
    assert.match(r.results[0].logs, /POST 127\.0\.0\.1:\d+: still running when the handler returned; left to finish/);
  });

  test('a worker keeps at most 64 unawaited requests running across executions; the rest are not sent, and the logs say so', async () => {
    const base = `http://127.0.0.1:${port}`;
    const pool = createSandboxPool({ workers: 1, fetchAllow: [`127.0.0.1:${port}`], fetchTimeoutMs: 3000 });
    try {
      let logs = '';
      for (let i = 0; i < 4; i++) {
        const r = await pool.runChain(request([postLogin(`for (let i = 0; i < 50; i++) fetch('${base}/hang?' + i);`)]));
        assert.equal(r.status, 'ok');
        logs += r.results[0].logs;
      }
      await new Promise((res) => setTimeout(res, 300));
      assert.ok(mostHanging <= 64, `requests held open at once: ${mostHanging}`);
      assert.ok(mostHanging >= 50, `the first execution's requests were sent: ${mostHanging}`);
      assert.match(logs, /not sent: 64 requests left unawaited are running already/);
    } finally { await pool.close(); }
  });

  test('reaches a local server listed in fetchAllow (json, text, headers, POST bodies, redirects)', async () => {
    const base = `http://127.0.0.1:${port}`;
    const r = await allowed.runChain(request([postLogin(`
      const c = (k, v) => api.idToken.setCustomClaim(k, v);
      const res = await fetch('${base}/json');
      c('json', [res.ok, res.status, res.headers.get('X-Test'), await res.json()]);
      const post = await fetch(new URL('/echo', '${base}'), { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer t' }, body: JSON.stringify({ a: 1 }) });
      c('echo', JSON.parse(await post.text()));
      const form = await fetch('${base}/echo', { method: 'POST', body: new URLSearchParams({ q: 'a b' }) });
      c('form', (await form.json()).body);
      const missing = await fetch('${base}/nope');
      c('missing', [missing.ok, missing.status, await missing.text()]);
      const red = await fetch('${base}/to-json');
      c('redirect', [red.redirected, red.url, (await red.json()).hello]);
      const both = await Promise.all([fetch('${base}/json'), fetch('${base}/json')]);
      c('parallel', both.map((x) => x.status));
    `)]));
    assert.equal(r.status, 'ok', JSON.stringify(r));
    const c = claims(r);
    assert.deepEqual(c.json, [true, 200, 'yes', { hello: 'world', method: 'GET' }]);
    assert.deepEqual(c.echo, { body: '{"a":1}', type: 'application/json', auth: 'Bearer t' });
    assert.equal(c.form, 'q=a+b');
    assert.deepEqual(c.missing, [false, 404, 'not found']);
    assert.deepEqual(c.redirect, [true, `${base}/json`, 'world']);
    assert.deepEqual(c.parallel, [200, 200]);
  });

  test('a FormData body goes as multipart/form-data, byte for byte what Node.js\'s own fetch sends', async () => {
    // Regression: FormData was not defined, so Auth0's integration templates that post one to a
    // token endpoint failed (one swallowed the error and silently never sent its lead).
    const fill = `fd.append('grant_type', 'password'); fd.append('note', 'line1\\nline2 "q" é\\r\\n'); fd.append('n"a\\nme', 'x');
      fd.append('grant_type', 'again'); fd.set('grant_type', 'client_credentials'); fd.append('num', 42);`;
    const r = await allowed.runChain(request([postLogin(`
      const fd = new FormData(); ${fill}
      const res = await fetch('http://127.0.0.1:${port}/echo', { method: 'POST', body: fd });
      api.idToken.setCustomClaim('echo', await res.json());
      api.idToken.setCustomClaim('api', [fd.get('grant_type'), fd.getAll('grant_type').length, fd.has('note'), [...fd.keys()], String(fd), fd.get('none')]);
      let file; try { fd.append('f', { size: 1, arrayBuffer() {} }); } catch (e) { file = e.message; }
      api.idToken.setCustomClaim('file', file);
    `)]));
    assert.equal(r.status, 'ok', JSON.stringify(r.results[0]?.error));
    const c = claims(r);
    const echo = c.echo as { body: string; type: string };
    // The same form through Node's fetch (undici): equal once each side's boundary is replaced.
    const fd = new FormData();
    new Function('fd', fill.replace(/\\\\/g, '\\'))(fd);
    const req = new Request('http://x/', { method: 'POST', body: fd });
    const nodeType = req.headers.get('content-type')!;
    const norm = (body: string, type: string) => body.split(type.split('boundary=')[1]).join('BOUNDARY');
    assert.match(echo.type, /^multipart\/form-data; boundary=----formdata-gatehouse-[0-9a-f]{24}$/);
    assert.equal(norm(echo.body, echo.type), norm(await req.text(), nodeType));
    // And a real parser reads it back.
    const parsed = await new Response(echo.body, { headers: { 'content-type': echo.type } }).formData();
    assert.equal(parsed.get('grant_type'), 'client_credentials');
    assert.equal(parsed.get('note'), 'line1\r\nline2 "q" é\r\n');
    assert.equal(parsed.get('num'), '42');
    assert.deepEqual(c.api, ['client_credentials', 1, true, ['grant_type', 'note', 'n"a\nme', 'num'], '[object FormData]', null]);
    assert.match(String(c.file), /not supported by Gatehouse/);
  });

  test('require(\'http\') / https: request and get over the bridged fetch, as old webhook code uses them', async () => {
    // Regression (outside probe): require('https') threw, so a security-log webhook written
    // before fetch failed every login.
    const r = await allowed.runChain(request([postLogin(`
      const http = require('http');
      const posted = await new Promise((resolve, reject) => {
        const data = JSON.stringify({ event: 'login', user: event.user.user_id });
        const req = http.request({ hostname: '127.0.0.1', port: ${port}, path: '/echo', method: 'POST', headers: { 'Content-Type': 'application/json', 'Content-Length': data.length } }, (res) => {
          let body = '';
          res.on('data', (chunk) => { body += chunk; });
          res.on('end', () => resolve({ status: res.statusCode, type: res.headers['content-type'], body: JSON.parse(body) }));
        });
        req.on('error', reject);
        req.write(data);
        req.end();
      });
      api.idToken.setCustomClaim('posted', posted);
      const got = await new Promise((resolve, reject) => {
        http.get('http://127.0.0.1:${port}/json', (res) => { res.setEncoding('utf8'); let b = ''; res.on('data', (c) => { b += c; }); res.on('end', () => resolve([res.statusCode, typeof b, JSON.parse(b).hello])); }).on('error', reject);
      });
      api.idToken.setCustomClaim('got', got);
      const refused = await new Promise((resolve) => {
        require('https').get('https://127.0.0.1:1/x', () => resolve('answered')).on('error', (e) => resolve(e.code + ' ' + e.message.slice(0, 40)));
      });
      api.idToken.setCustomClaim('refused', refused);
      let proto; try { http.get('https://127.0.0.1/'); } catch (e) { proto = e.code; }
      api.idToken.setCustomClaim('proto', proto);
    `)]));
    assert.equal(r.status, 'ok', JSON.stringify(r.results[0]?.error));
    const c = claims(r);
    const posted = c.posted as { status: number; body: { body: string; type: string } };
    assert.equal(posted.status, 200);
    assert.deepEqual(JSON.parse(posted.body.body), { event: 'login', user: 'auth0|u1' });
    assert.equal(posted.body.type, 'application/json');
    assert.deepEqual(c.got, [200, 'string', 'world']);
    assert.match(String(c.refused), /^ECONNREFUSED .*(not allowed|refused|fetch failed)/i);
    assert.equal(c.proto, 'ERR_INVALID_PROTOCOL');
  });

  test('bounded: response size cap and timeout', async () => {
    const base = `http://127.0.0.1:${port}`;
    const r = await allowed.runChain(request([postLogin(`
      const c = (k, v) => api.idToken.setCustomClaim(k, v);
      try { await fetch('${base}/big'); c('big', 'fetched'); } catch (e) { c('big', e.message); }
      try { await fetch('${base}/slow'); c('slow', 'fetched'); } catch (e) { c('slow', e.message); }
    `)]));
    assert.equal(r.status, 'ok', JSON.stringify(r));
    assert.match(claims(r).big as string, /fetch failed: response body exceeds 16384 bytes/);
    assert.match(claims(r).slow as string, /fetch failed: timeout/);
  });

  test('an AbortSignal ends a fetch: AbortSignal.timeout, AbortController before and during, AbortSignal.any', async () => {
    // Regression: AbortSignal and AbortController were not defined (ReferenceError), and
    // \`fetch(url, { signal: AbortSignal.timeout(3000) })\` is how current code bounds a call.
    const base = `http://127.0.0.1:${port}`;
    const r = await allowed.runChain(request([postLogin(`
      const c = (k, v) => api.idToken.setCustomClaim(k, v);
      const why = async (p) => { try { await p; return 'fetched'; } catch (e) { return e.name + ': ' + e.message; } };
      const t0 = Date.now();
      c('timeout', await why(fetch('${base}/slow', { signal: AbortSignal.timeout(50) })));
      c('quick', Date.now() - t0 < 1500);
      const before = new AbortController();
      before.abort();
      c('before', await why(fetch('${base}/json', { signal: before.signal })));
      const during = new AbortController();
      let heard = 0;
      during.signal.addEventListener('abort', () => { heard++; }, { once: true });
      during.signal.onabort = () => { heard += 10; };
      const p = fetch('${base}/slow', { signal: during.signal });
      setTimeout(() => during.abort(new Error('user gave up')), 20);
      c('during', await why(p));
      c('heard', heard);
      c('state', [during.signal.aborted, during.signal.reason.message]);
      const any = AbortSignal.any([new AbortController().signal, AbortSignal.timeout(30)]);
      c('any', await why(fetch('${base}/slow', { signal: any })));
      c('ok', (await fetch('${base}/json', { signal: AbortSignal.timeout(900) })).status);
      try { AbortSignal.abort('why').throwIfAborted(); } catch (e) { c('throwIfAborted', e); }
      // A listener that throws stops neither the others nor the fetch's own (review finding).
      const loud = new AbortController();
      loud.signal.addEventListener('abort', () => { throw new Error('listener broke'); });
      const pending = fetch('${base}/slow', { signal: loud.signal });
      loud.abort();
      c('loud', await why(pending));
      // Action code replacing the signal's methods does not stop its fetch from settling.
      const odd = new AbortController();
      odd.signal.removeEventListener = () => { throw new Error('no'); };
      odd.signal.addEventListener = () => { throw new Error('no'); };
      c('odd', (await fetch('${base}/json', { signal: odd.signal })).status);
      c('bad', await why(fetch('${base}/json', { signal: {} })));
    `)]));
    assert.equal(r.status, 'ok', JSON.stringify(r));
    const c = claims(r);
    assert.equal(c.timeout, 'TimeoutError: The operation was aborted due to timeout');
    assert.equal(c.quick, true);
    assert.equal(c.before, 'AbortError: This operation was aborted');
    assert.equal(c.during, 'Error: user gave up');
    assert.equal(c.heard, 11);
    assert.deepEqual(c.state, [true, 'user gave up']);
    assert.equal(c.any, 'TimeoutError: The operation was aborted due to timeout');
    assert.equal(c.ok, 200);
    assert.equal(c.throwIfAborted, 'why');
    assert.equal(c.bad, 'TypeError: fetch: init.signal must be an AbortSignal');
    assert.equal(c.loud, 'AbortError: This operation was aborted');
    assert.equal(c.odd, 200);
    assert.match(r.results[0].logs, /Uncaught \(in abort listener\).*listener broke/);
  });

  test('a redirect from an allowed host to a non-allowed loopback host is refused', async () => {
    const r = await allowed.runChain(request([postLogin(`
      try { await fetch('http://127.0.0.1:${port}/to-localhost'); api.idToken.setCustomClaim('r', 'fetched'); }
      catch (e) { api.idToken.setCustomClaim('r', e.message); }
    `)]));
    assert.match(claims(r).r as string, /loopback, private or link-local/);
  });

  test('refuses loopback, private and link-local targets that are not allowed (literals and after DNS)', async () => {
    const targets = [
      `http://127.0.0.1:${port}/json`, `http://localhost:${port}/json`, 'http://[::1]/', 'http://169.254.169.254/latest/meta-data/',
      'http://10.0.0.1/', 'http://2130706433/', 'http://0x7f.1/', 'file:///etc/passwd', 'ftp://example.com/', 'http://user:pw@example.com/',
    ];
    const r = await strict.runChain(request([postLogin(`
      const out = [];
      for (const t of ${JSON.stringify(targets)}) {
        try { await fetch(t); out.push('fetched ' + t); } catch (e) { out.push(e.message); }
      }
      api.idToken.setCustomClaim('r', out);
    `)], { limits: { ...LIMITS, actionTimeoutMs: 4000 } }));
    assert.equal(r.status, 'ok', JSON.stringify(r));
    const out = claims(r).r as string[];
    assert.equal(out.length, targets.length);
    for (const [i, m] of out.entries()) assert.match(m, /^fetch failed: /, `${targets[i]} -> ${m}`);
    for (const i of [0, 1, 2, 3, 4, 5, 6]) assert.match(out[i], /loopback, private or link-local/, targets[i]);
    await expectHealthy(strict);
  });

  test('axios goes through the same guard: refused targets, redirects to refused hosts, the response cap', async () => {
    const r = await strict.runChain(request([postLogin(`
      const axios = require('axios');
      const out = [];
      for (const t of ['http://127.0.0.1:${port}/json', 'http://169.254.169.254/latest/meta-data/', 'http://user:pw@10.0.0.1/']) {
        try { await axios.get(t); out.push('fetched ' + t); } catch (e) { out.push([e.name, e.code, e.message, e.response === undefined]); }
      }
      api.idToken.setCustomClaim('r', out);
    `)]));
    assert.equal(r.status, 'ok', JSON.stringify(r));
    for (const got of claims(r).r as unknown[]) {
      assert.ok(Array.isArray(got), String(got));
      const [name, code, message, noResponse] = got;
      assert.equal(name, 'Error');
      assert.equal(code, 'ERR_NETWORK');
      assert.match(String(message), /^fetch failed: .*loopback, private or link-local/);
      assert.equal(noResponse, true);
    }
    const viaRedirect = await allowed.runChain(request([postLogin(`
      const axios = require('axios');
      try { await axios.get('http://127.0.0.1:${port}/to-localhost'); api.idToken.setCustomClaim('r', 'fetched'); }
      catch (e) { api.idToken.setCustomClaim('r', e.code + ' ' + e.message); }
      try { await axios.get('http://127.0.0.1:${port}/big'); api.idToken.setCustomClaim('big', 'fetched'); }
      catch (e) { api.idToken.setCustomClaim('big', e.code + ' ' + e.message); }
    `)]));
    assert.match(claims(viaRedirect).r as string, /^ERR_NETWORK fetch failed: .*loopback, private or link-local/);
    assert.match(claims(viaRedirect).big as string, /^ERR_NETWORK fetch failed: response body exceeds 16384 bytes/);
  });

  test('axios: the bridge\'s own time limit is an axios timeout (ECONNABORTED); the 51st request of an execution is refused', async () => {
    const r = await allowed.runChain(request([postLogin(`
      const axios = require('axios');
      try { await axios.get('http://127.0.0.1:${port}/slow'); api.idToken.setCustomClaim('slow', 'answered'); }
      catch (e) { api.idToken.setCustomClaim('slow', [e.code, e.message, axios.isCancel(e)]); }
      const all = await Promise.allSettled(Array.from({ length: 50 }, () => axios.get('http://127.0.0.1:${port}/json')));
      api.idToken.setCustomClaim('counts', [all.filter((x) => x.status === 'fulfilled').length, all.filter((x) => x.status === 'rejected').map((x) => x.reason.message)[0]]);
    `)], { limits: { ...LIMITS, actionTimeoutMs: 4000, chainTimeoutMs: 8000 } }));
    assert.equal(r.status, 'ok', JSON.stringify(r));
    // fetchTimeoutMs is 300 here: the request, with no axios timeout, ends as one.
    assert.deepEqual(claims(r).slow, ['ECONNABORTED', 'timeout exceeded', false]);
    // One request went to /slow: 49 more fit in the execution's 50.
    assert.deepEqual(claims(r).counts, [49, 'fetch failed: too many requests in one execution']);
  });

  test('axios: secrets in Basic credentials and in params stay out of what an action logs', async () => {
    const secrets = { PW: 'hunter2-secret-pw', KEY: 'k3y/with+plus=' };
    const r = await allowed.runChain(request([postLogin(`
      const axios = require('axios');
      try { await axios.get('http://127.0.0.1:${port}/nope', { auth: { username: 'svc', password: event.secrets.PW }, params: { api_key: event.secrets.KEY } }); }
      catch (err) { console.log(JSON.stringify(err)); console.log(err.config.headers); console.log(err.request); console.log(JSON.stringify(err.toJSON())); }
    `, { secrets })]));
    assert.equal(r.status, 'ok', JSON.stringify(r));
    const logs = r.results[0].logs;
    assert.match(logs, /api_key=\[REDACTED\]/, logs);
    for (const leak of [Buffer.from(`svc:${secrets.PW}`).toString('base64'), secrets.PW, secrets.KEY, encodeURIComponent(secrets.KEY), 'k3y%2Fwith%2Bplus%3D']) {
      assert.ok(!logs.includes(leak), `${leak} in the logs:\n${logs}`);
    }
  });

  test('listeners on a signal kept in module scope do not pile up across executions (they held each request\'s body)', async () => {
    const a = postLogin(`
      const axios = require('axios');
      globalThis.moduleCtl ??= new AbortController();
      const big = 'x'.repeat(400 * 1024);
      for (let i = 0; i < 40; i++) { axios.post('http://127.0.0.1:${port}/slow', { big, i }, { signal: moduleCtl.signal }).catch(() => {}); fetch('http://127.0.0.1:${port}/slow', { method: 'POST', body: big + i, signal: moduleCtl.signal }).catch(() => {}); }
      api.idToken.setCustomClaim('ok', true);
    `, { key: 'module-signal-listeners' });
    const statuses: string[] = [];
    let logs = '';
    for (let i = 0; i < 12; i++) { const r = await allowed.runChain(request([a], { limits: { ...LIMITS, memoryMb: 64 } })); statuses.push(r.status); logs = r.results[0].logs; }
    assert.deepEqual(statuses, Array(12).fill('ok'));
    assert.match(logs, /requests the handler did not await were not sent: together they were over 1 MB/, '32 MB of unawaited bodies are not sent');
  });

  test('an unawaited fetch does not hold up the handler\'s result (it is sent after it)', async () => {
    const r = await allowed.runChain(request([postLogin(`
      fetch('http://127.0.0.1:${port}/slow').catch(() => {});
      api.idToken.setCustomClaim('done', true);
    `)]));
    assert.equal(r.status, 'ok');
    assert.ok(r.results[0].durationMs < 1000);
  });
});

describe('the issuer, from require(\'auth0\') and fetch', () => {
  /** Stands in for a host that serves Gatehouse under /auth and another application beside it. */
  const seen: { url: string; body: string }[] = [];
  let server: http.Server;
  let port = 0;
  before(async () => {
    server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => { body += c.toString(); });
      req.on('end', () => {
        seen.push({ url: req.url!, body });
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(req.url!.endsWith('/oauth/token') ? JSON.stringify({ access_token: 'issued-token', expires_in: 3600 }) : JSON.stringify({ internal: 'data', url: req.url }));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    port = (server.address() as AddressInfo).port;
  });
  after(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }));

  test('a plain fetch reaches the issuer\'s Management API but nothing else on its host and port', async () => {
    const pool = createSandboxPool({ workers: 1, issuer: `http://127.0.0.1:${port}/auth` });
    try {
      const r = await pool.runChain(request([postLogin(`
        const get = async (u) => { try { return (await (await fetch(u)).json()).url; } catch (e) { return e.message; } };
        api.idToken.setCustomClaim('api', await get('http://127.0.0.1:${port}/auth/api/v2/users'));
        api.idToken.setCustomClaim('other', await get('http://127.0.0.1:${port}/other-app/admin'));`)], { limits: { ...LIMITS, actionTimeoutMs: 4000 } }));
      assert.equal(r.status, 'ok', JSON.stringify(r));
      assert.equal(claims(r).api, '/auth/api/v2/users');
      assert.match(String(claims(r).other), /loopback, private or link-local/);
    } finally { await pool.close(); }
  });

  test('AuthenticationClient without a clientSecret refuses before sending anything (no client_secret=undefined)', async () => {
    const pool = createSandboxPool({ workers: 1, issuer: `http://127.0.0.1:${port}` });
    seen.length = 0;
    try {
      const r = await pool.runChain(request([postLogin(`
        const { AuthenticationClient } = require('auth0');
        const a = new AuthenticationClient({ domain: '127.0.0.1:${port}', clientId: 'cid' });
        try { await a.oauth.clientCredentialsGrant({ audience: 'x' }); api.idToken.setCustomClaim('e', 'sent'); } catch (e) { api.idToken.setCustomClaim('e', e.message); }`)], { limits: { ...LIMITS, actionTimeoutMs: 4000 } }));
      assert.match(String(claims(r).e), /client_secret or client_assertion is required/);
      assert.deepEqual(seen, []);
    } finally { await pool.close(); }
  });
});

describe('HTTPS behind a private CA', () => {
  // A certificate for 127.0.0.1 made for this run (openssl, as an operator's private CA would sign
  // one); the server trusts it through NODE_EXTRA_CA_CERTS, and so must its actions' fetch.
  let dir = '';
  let server: https.Server;
  let port = 0;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-ca-'));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2', '-subj', '/CN=127.0.0.1',
      '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
    server = https.createServer({ key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) }, (req, res) => { res.writeHead(200, { 'content-type': 'text/plain' }).end('trusted'); });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    port = (server.address() as AddressInfo).port;
  });
  after(async () => {
    await new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); });
    rmSync(dir, { recursive: true, force: true });
  });
  const probe = async () => {
    const pool = createSandboxPool({ workers: 1, fetchAllow: [`127.0.0.1:${port}`] });
    try {
      const r = await pool.runChain(request([postLogin(`
        try { api.idToken.setCustomClaim('r', await (await fetch('https://127.0.0.1:${port}/')).text()); } catch (e) { api.idToken.setCustomClaim('r', e.message); }`)], { limits: { ...LIMITS, actionTimeoutMs: 4000 } }));
      return String(claims(r).r);
    } finally { await pool.close(); }
  };

  test('the workers trust the CA the server trusts (NODE_EXTRA_CA_CERTS), and nothing else of its environment', async () => {
    const before = process.env.NODE_EXTRA_CA_CERTS;
    try {
      delete process.env.NODE_EXTRA_CA_CERTS;
      assert.match(await probe(), /self.signed|certificate/i, 'without the setting the certificate is refused');
      process.env.NODE_EXTRA_CA_CERTS = join(dir, 'cert.pem');
      assert.equal(await probe(), 'trusted');
    } finally {
      if (before === undefined) delete process.env.NODE_EXTRA_CA_CERTS; else process.env.NODE_EXTRA_CA_CERTS = before;
    }
  });
});
