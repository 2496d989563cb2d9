/**
 * The guest's fetch: bridged through the worker, SSRF-guarded, bounded.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createSandboxPool, type SandboxPool } from './index.ts';
import { isAllowedHost, isBlockedAddress, parseFetchAllow } from './net-guard.ts';
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
});

describe('fetch from an action', () => {
  let server: http.Server;
  let port = 0;
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
    for (let i = 0; i < 12; i++) statuses.push((await allowed.runChain(request([a], { limits: { ...LIMITS, memoryMb: 64 } }))).status);
    assert.deepEqual(statuses, Array(12).fill('ok'));
  });

  test('an unawaited fetch is dropped when the handler returns; fetch outside a handler fails', async () => {
    const r = await allowed.runChain(request([postLogin(`
      fetch('http://127.0.0.1:${port}/slow').catch(() => {});
      api.idToken.setCustomClaim('done', true);
    `)]));
    assert.equal(r.status, 'ok');
    assert.ok(r.results[0].durationMs < 1000);
  });
});
