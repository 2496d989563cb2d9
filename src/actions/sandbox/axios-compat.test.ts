/**
 * Differential test of the sandbox's `require('axios')` stand-in (guest-prelude.js, makeAxios)
 * against the real axios (node_modules, in this Node.js process). Every scenario below runs
 * twice against the same local echo server: first with the real axios here, then inside the
 * sandbox (post-login actions run them, a few dozen requests each as the sandbox allows 50
 * fetches per execution, and return the results as an ID-token claim).
 * Two things are compared per scenario:
 *  - what the code got back (a response or a thrown error, normalised by R / E below), and
 *  - what the server received (method, path + query as sent, the headers content-type, accept,
 *    authorization, cookie, user-agent, content-length, x-*, and the body text), per scenario.
 *
 * A scenario is [name, code]: `code` is the body of an async function of
 *   axios  the real axios / the sandbox's require('axios')
 *   base   the echo server's origin, http://127.0.0.1:PORT
 *   u      this scenario's own prefix, base + '/s<N>': every request a scenario makes goes under
 *          it, so the server's record can be split per scenario
 *   R, E   the normalisers (a response → {status, statusText, data, headers}; an error →
 *          {name, code, message, status, isAxiosError, response})
 * A returned axios response is normalised with R; a thrown value with E (as {threw: …}).
 * Scenarios may also use CLOSED_PORT (nothing listens there) and OTHER_PORT (a second echo
 * server: another origin, for redirects). A scenario that changes axios.defaults or the global
 * interceptors puts them back.
 *
 * The echo server, under u:
 *   /echo…                        200 JSON {method, url, body} (any path not below is an echo)
 *   /status?code=&body=&type=&h=  that status, body and content-type (h=name:value adds a header)
 *   /slow?ms=                     a JSON answer after ms
 *   /redirect?to=&code=           a redirect (302 unless code) to `to`
 *   /bin                          non-UTF-8 bytes as application/octet-stream
 *   /cookies                      two Set-Cookie headers
 *   /gzip                         a gzip-encoded JSON body
 * Transport details are not compared: Accept-Encoding and Connection (the fetch bridge's own
 * request vs axios's http adapter), and Content-Length of an empty body (axios sends a body-less
 * POST chunked, the bridge sends `content-length: 0`): the server records content-length only
 * for a non-empty body.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import util from 'node:util';
import zlib from 'node:zlib';
import realAxios from 'axios';
import { createSandboxPool, type SandboxPool } from './index.ts';
import { LIMITS, claims, postLogin, request } from './test-support.ts';

const js = String.raw;

const SCENARIOS: [string, string][] = [
  // ---- call forms
  ['call: axios(config)', js`return axios({ method: 'post', url: u + '/echo', data: { a: 1 } });`],
  ['call: axios(url)', js`return axios(u + '/echo?x=1');`],
  ['call: axios(url, config)', js`return axios(u + '/echo', { method: 'put', data: 'raw' });`],
  ['call: axios({ method: "GET" }) upper case', js`return axios({ method: 'GET', url: u + '/echo' });`],
  ['call: axios.request', js`return axios.request({ url: u + '/echo', params: { q: 1 } });`],
  ['call: get/delete/head/options', js`const out = []; for (const m of ['get', 'delete', 'head', 'options']) out.push(R(await axios[m](u + '/echo-' + m, { headers: { 'X-M': m } }))); return out;`],
  ['call: post/put/patch', js`const out = []; for (const m of ['post', 'put', 'patch']) out.push(R(await axios[m](u + '/echo-' + m, { m }, { headers: { 'X-M': m } }))); return out;`],
  ['call: post without data', js`return axios.post(u + '/echo');`],
  ['call: delete with data in config', js`return axios.delete(u + '/echo', { data: { id: 7 } });`],
  ['call: get with data in config', js`return axios.get(u + '/echo', { data: { id: 7 } });`],
  ['call: postForm (multipart)', js`return axios.postForm(u + '/echo', { a: 1, b: 'x y', arr: [1, 2], nested: { k: 'v' } });`],
  ['call: putForm / patchForm exist', js`return [typeof axios.putForm, typeof axios.patchForm, typeof axios.postForm];`],
  ['call: promise .then(r => r.data)', js`return axios.get(u + '/echo').then((r) => r.data);`],
  ['call: Promise.all of three', js`const rs = await Promise.all([1, 2, 3].map((i) => axios.get(u + '/echo-' + i))); return rs.map((r) => r.data.url);`],

  // ---- request bodies
  ['body: JSON object', js`return axios.post(u + '/echo', { a: 1, nested: { b: [1, 2] }, s: 'é😀', n: null, t: true });`],
  ['body: JSON array', js`return axios.post(u + '/echo', [1, 'two', { three: 3 }]);`],
  ['body: object with undefined values and a Date', js`return axios.post(u + '/echo', { a: undefined, d: new Date(0), b: 1 });`],
  ['body: string without content-type', js`return axios.post(u + '/echo', 'hello=world&x=1');`],
  ['body: JSON text string without content-type', js`return axios.post(u + '/echo', '  {"a":1}  ');`],
  ['body: string with text/plain', js`return axios.post(u + '/echo', 'plain text', { headers: { 'Content-Type': 'text/plain' } });`],
  ['body: JSON string with application/json', js`return axios.post(u + '/echo', ' {"a":1} ', { headers: { 'Content-Type': 'application/json' } });`],
  ['body: non-JSON string with application/json', js`return axios.post(u + '/echo', 'not json', { headers: { 'content-type': 'application/json' } });`],
  ['body: object with application/json; charset=utf-8', js`return axios.post(u + '/echo', { a: 1 }, { headers: { 'Content-Type': 'application/json; charset=utf-8' } });`],
  ['body: URLSearchParams', js`return axios.post(u + '/echo', new URLSearchParams({ grant_type: 'client_credentials', scope: 'a b', x: 'é&=+' }));`],
  ['body: object as x-www-form-urlencoded (nested, arrays)', js`return axios.post(u + '/echo', { a: 1, s: 'x y&z', arr: [1, 2], nested: { k: 'v', deep: { z: 1 } }, nul: null, un: undefined, t: true },
    { headers: { 'Content-Type': 'application/x-www-form-urlencoded' } });`],
  ['body: null data', js`return axios.post(u + '/echo', null);`],
  ['body: undefined data', js`return axios.post(u + '/echo', undefined);`],
  ['body: null data with application/json', js`return axios.post(u + '/echo', null, { headers: { 'Content-Type': 'application/json' } });`],
  ['body: empty string', js`return axios.post(u + '/echo', '');`],
  ['body: number and boolean', js`const out = []; for (const d of [42, false, true, 0]) { try { out.push(R(await axios.post(u + '/echo-' + d, d))); } catch (e) { out.push(E(e)); } } return out;`],
  ['body: Buffer and Uint8Array', js`return [R(await axios.post(u + '/echo-buf', Buffer.from('buf é'))), R(await axios.post(u + '/echo-u8', new TextEncoder().encode('u8 é')))];`],
  ['body: FormData (global)', js`const fd = new FormData(); fd.append('a', '1'); fd.append('b', 'x y'); return axios.post(u + '/echo', fd);`],
  ['body: object with text/plain', js`return axios.post(u + '/echo', { a: 1 }, { headers: { 'Content-Type': 'text/plain' } });`],
  ['body: JSON with a Content-Length set by the caller', js`const body = JSON.stringify({ a: 1 }); return axios.post(u + '/echo', body, { headers: { 'Content-Type': 'application/json', 'Content-Length': body.length } });`],

  // ---- params
  ['params: scalar types', js`return axios.get(u + '/echo', { params: { s: 'a', n: 1, f: 1.5, t: true, f2: false, z: 0, e: '', neg: -1 } });`],
  ['params: null and undefined skipped', js`return axios.get(u + '/echo', { params: { a: null, b: undefined, c: 'x' } });`],
  ['params: arrays', js`return axios.get(u + '/echo', { params: { ids: [1, 2, 3], empty: [], one: ['x'], withNull: [null, 'y', undefined] } });`],
  ['params: nested objects', js`return axios.get(u + '/echo', { params: { user: { name: 'a b', tags: ['x', 'y'], deep: { z: 1 } } } });`],
  ['params: array of objects', js`return axios.get(u + '/echo', { params: { a: [{ b: 1 }, { c: 2 }] } });`],
  ['params: Dates', js`return axios.get(u + '/echo', { params: { d: new Date(Date.UTC(2024, 0, 2, 3, 4, 5, 6)), arr: [new Date(0)] } });`],
  ['params: special characters in values', js`return axios.get(u + '/echo', { params: { q: "a b+c&d=e:f$g,h[i]j é 😀 % / ? # ! ( ) * ~ @ ; \"" } });`],
  ['params: an apostrophe in a value', js`return axios.get(u + '/echo', { params: { last_name: "O'Brien" } });`],
  ['params: special characters in keys', js`return axios.get(u + '/echo', { params: { 'a b': 1, 'c&d': 2, 'e=f': 3, 'é': 4, 'x[y]': 5, 'p:q$r,s': 6 } });`],
  ['params: URLSearchParams', js`return axios.get(u + '/echo', { params: new URLSearchParams({ a: '1 2', b: 'x+y', c: 'é' }) });`],
  ['params: url already has a query', js`return axios.get(u + '/echo?x=1&y=a%20b', { params: { z: 2 } });`],
  ['params: url with a hash', js`return [R(await axios.get(u + '/echo-h1?x=1#frag', { params: { y: 2 } })), R(await axios.get(u + '/echo-h2#frag'))];`],
  ['params: url ending in ?', js`return axios.get(u + '/echo?', { params: { a: 1 } });`],
  ['params: empty object', js`return axios.get(u + '/echo', { params: {} });`],
  ['params: all undefined', js`return axios.get(u + '/echo', { params: { a: undefined } });`],
  ['params: raw special characters in the url itself', js`return axios.get(u + '/echo/a b/é?q=a b&r=é|x');`],
  ['params: paramsSerializer function', js`return axios.get(u + '/echo', { params: { a: 1, b: [1, 2] }, paramsSerializer: (p) => 'custom=' + Object.keys(p).join('|') });`],
  ['params: paramsSerializer output sent as is', js`const out = []; for (const q of ["a='x'&b=<y>&c=\"z\"", 'd=\x60|{}^', 'e=1#f', 'g=a b', 'h=%zz&i=%41']) { try { out.push((await axios.get(u + '/echo-' + out.length, { params: { x: 1 }, paramsSerializer: () => q })).data.url); } catch (e) { out.push(E(e)); } } return out;`],
  ['params: quote characters in the url itself', js`return axios.get(u + "/echo?a='x'&b=<y>&c=\"z\"&d=\x60|{}^");`],
  ['params: paramsSerializer { serialize }', js`return axios.get(u + '/echo', { params: { a: 1 }, paramsSerializer: { serialize: (p, opts) => 'ser=' + p.a + '&o=' + typeof opts } });`],
  ['params: paramsSerializer { indexes }', js`const out = []; for (const indexes of [null, true, false]) out.push((await axios.get(u + '/echo-' + indexes, { params: { a: [1, 2] }, paramsSerializer: { indexes } })).data.url); return out;`],
  ['params: paramsSerializer { encode }', js`return axios.get(u + '/echo', { params: { a: 'x y' }, paramsSerializer: { encode: (v) => encodeURIComponent(v).toUpperCase() } });`],
  ['params: boxed values, nested numbers', js`return axios.get(u + '/echo', { params: { n: new Number(5), s: new String('s t'), o: { n: 1.25, z: -0 } } });`],
  ['params: Auth0 email lookup', js`const email = 'First.Last+tag@example.com'; const { data } = await axios.get(u + '/echo', { params: { email } }); return data;`],

  // ---- baseURL
  ['baseURL: trailing slash + leading slash', js`return axios.get('/echo', { baseURL: u + '/' });`],
  ['baseURL: no slashes', js`return axios.get('echo', { baseURL: u });`],
  ['baseURL: double trailing slash', js`return axios.get('echo', { baseURL: u + '//' });`],
  ['baseURL: url given as a URL object', js`return axios.get(new URL(u + '/echo?x=1'), { params: { y: 2 } });`],
  ['baseURL: empty url', js`return [R(await axios.get('', { baseURL: u + '/echo-empty' })), R(await axios.request({ baseURL: u + '/echo-none' }))];`],
  ['baseURL: absolute url wins', js`return axios.get(u + '/echo-abs', { baseURL: 'http://example.invalid/base' });`],
  ['baseURL: with a path and a query in the url', js`return axios.get('api/v2/users?x=1', { baseURL: u + '/echo/', params: { y: 2 } });`],
  ['baseURL: getUri', js`return [axios.getUri({ baseURL: u, url: '/x', params: { a: 1, b: [1, 2] } }), axios.getUri({ url: u + '/y?z=1', params: { q: 'a b' } })];`],

  // ---- request headers
  ['headers: case, mixed', js`return axios.get(u + '/echo', { headers: { 'X-Custom-Header': 'A', 'x-lower': 'b', 'X-UPPER': 'C' } });`],
  ['headers: same name in two cases', js`return axios.get(u + '/echo', { headers: { 'X-Dup': '1', 'x-dup': '2' } });`],
  ['headers: undefined, null, number, boolean, empty values', js`return axios.get(u + '/echo', { headers: { 'X-Undef': undefined, 'X-Null': null, 'X-Num': 42, 'X-Zero': 0, 'X-True': true, 'X-False': false, 'X-Empty': '' } });`],
  ['headers: array value', js`return axios.get(u + '/echo', { headers: { 'X-Arr': ['a', 'b'] } });`],
  ['headers: value with spaces around', js`return axios.get(u + '/echo', { headers: { 'X-Pad': '  padded  ' } });`],
  ['headers: Accept and User-Agent overridden', js`return axios.get(u + '/echo', { headers: { Accept: 'text/html', 'User-Agent': 'my-agent/1.0' } });`],
  ['headers: content-type on a GET without data', js`return axios.get(u + '/echo', { headers: { 'Content-Type': 'application/json' } });`],
  ['headers: per-method headers in config', js`return axios.post(u + '/echo', 'x', { headers: { common: { 'X-Common': 'c' }, post: { 'X-Post': 'p' }, get: { 'X-Get': 'g' }, 'X-Own': 'o' } });`],
  ['headers: AxiosHeaders instance in config', js`const h = new axios.AxiosHeaders(); h.set('X-From-Class', 'yes'); h.setAuthorization && h.setAuthorization('Bearer k'); return axios.get(u + '/echo', { headers: h });`],
  ['headers: instance defaults.headers.common and .post', js`const i = axios.create(); i.defaults.headers.common['X-Common'] = 'c'; i.defaults.headers.common.Authorization = 'Bearer common';
    i.defaults.headers.post['X-Post-Only'] = 'p'; i.defaults.headers.get['X-Get-Only'] = 'g';
    return [R(await i.get(u + '/echo-get')), R(await i.post(u + '/echo-post', { a: 1 })), R(await i.put(u + '/echo-put', { a: 1 }))];`],
  ['headers: request header beats instance default', js`const i = axios.create({ headers: { 'X-Who': 'instance', Authorization: 'Bearer inst' } });
    return i.get(u + '/echo', { headers: { 'x-who': 'request', authorization: 'Bearer req' } });`],
  ['headers: auth basic', js`return axios.get(u + '/echo', { auth: { username: 'user', password: 'p@ss:word' } });`],
  ['headers: auth non-ASCII', js`return axios.get(u + '/echo', { auth: { username: 'jöhn', password: 'pässwörd€' } });`],
  ['headers: auth overrides an Authorization header', js`return axios.get(u + '/echo', { auth: { username: 'u', password: 'p' }, headers: { Authorization: 'Bearer x' } });`],
  ['headers: auth with an empty password', js`return axios.get(u + '/echo', { auth: { username: 'u' } });`],
  ['headers: credentials in the url', js`return axios.get(u.replace('http://', 'http://us%20er:p%40ss@') + '/echo');`],

  // ---- responses
  ['response: JSON with headers', js`const r = await axios.get(u + '/echo'); return [R(r), r.headers['content-type'], r.headers['X-Echo'], r.headers['x-echo'], typeof r.headers.get === 'function' ? r.headers.get('X-Echo') : 'no get', r.config.url, r.config.method];`],
  ['response: header access styles', js`const r = await axios.get(u + '/status?code=200&body=x&h=X-Mixed-Case:Yes'); return [r.headers['x-mixed-case'], r.headers['X-Mixed-Case'], typeof r.headers.toJSON === 'function' ? r.headers.toJSON()['x-mixed-case'] : 'no toJSON', Object.keys(r.headers).filter((k) => k.startsWith('x-')).sort()];`],
  ['response: set-cookie', js`const r = await axios.get(u + '/cookies'); return r.headers['set-cookie'];`],
  ['response: text', js`return axios.get(u + '/status?code=200&type=text/plain&body=hello');`],
  ['response: JSON served as text/plain', js`return axios.get(u + '/status?code=200&type=text/plain&body=' + encodeURIComponent('{"a":1}'));`],
  ['response: JSON without a content-type', js`return axios.get(u + '/status?code=200&body=' + encodeURIComponent('[1,2]'));`],
  ['response: JSON scalars', js`const out = []; for (const b of ['42', 'true', 'null', '"str"', ' {"a":1} ']) out.push((await axios.get(u + '/status-' + out.length + '?code=200&type=application/json&body=' + encodeURIComponent(b))).data); return out;`],
  ['response: empty body', js`return axios.get(u + '/status?code=200&type=application/json&body=');`],
  ['response: invalid JSON, default responseType', js`return axios.get(u + '/status?code=200&type=application/json&body=' + encodeURIComponent('{bad json'));`],
  ['response: responseType text with JSON', js`return axios.get(u + '/echo', { responseType: 'text' });`],
  ['response: responseType json with valid JSON', js`return axios.get(u + '/echo', { responseType: 'json' });`],
  ['response: responseType json with invalid JSON', js`return axios.get(u + '/status?code=200&type=text/plain&body=nope', { responseType: 'json' });`],
  ['response: responseType json, silentJSONParsing false', js`return axios.get(u + '/status?code=200&type=text/plain&body=nope', { responseType: 'json', transitional: { silentJSONParsing: false } });`],
  ['response: responseType arraybuffer', js`const r = await axios.get(u + '/status?code=200&type=text/plain&body=abc', { responseType: 'arraybuffer' }); return [Buffer.isBuffer(r.data), r.data instanceof ArrayBuffer, r.data.byteLength, Buffer.from(r.data).toString()];`],
  ['response: UTF-8 text', js`return axios.get(u + '/status?code=200&type=text/plain;charset=utf-8&body=' + encodeURIComponent('é€😀'));`],
  ['response: status 204', js`return axios.delete(u + '/status?code=204');`],
  ['response: status 201 with a Location', js`const r = await axios.post(u + '/status?code=201&type=application/json&body=%7B%22id%22%3A1%7D&h=Location:/x/1', {}); return [R(r), r.headers.location];`],
  ['response: statusText', js`const out = []; for (const c of [200, 201, 202, 299]) out.push((await axios.get(u + '/status-' + c + '?code=' + c)).statusText); return out;`],
  ['response: 302 redirect followed (GET)', js`const r = await axios.get(u + '/redirect?to=' + encodeURIComponent('/' + u.split('/').pop() + '/echo-target?t=1')); return [R(r), r.status];`],
  ['response: 302 redirect after POST becomes GET', js`return axios.post(u + '/redirect?code=302&to=' + encodeURIComponent('/' + u.split('/').pop() + '/echo-after-post'), { a: 1 });`],
  ['response: 303 redirect after PUT', js`return axios.put(u + '/redirect?code=303&to=' + encodeURIComponent('/' + u.split('/').pop() + '/echo-after-put'), { a: 1 });`],
  ['response: 307 redirect keeps method and body', js`return axios.post(u + '/redirect?code=307&to=' + encodeURIComponent('/' + u.split('/').pop() + '/echo-after-307'), { a: 1 });`],
  ['response: 304 is an error', js`return axios.get(u + '/status?code=304');`],

  // ---- errors from the status
  ['error: 404 text', js`return axios.get(u + '/status?code=404&type=text/plain&body=not%20found');`],
  ['error: 500 JSON', js`return axios.get(u + '/status?code=500&type=application/json&body=' + encodeURIComponent('{"error":"boom"}'));`],
  ['error: 400 Auth0 style, err.response?.data', js`try { await axios.post(u + '/status?code=400&type=application/json&body=' + encodeURIComponent('{"error":"invalid_grant","error_description":"Wrong email or password."}'), { grant_type: 'password' }); return 'no error'; }
    catch (err) { console.log(err.response?.data); return [err.response?.data, err.response?.status, err.response?.statusText, err.response?.headers?.['content-type'], err.message, err.status, err.code]; }`],
  ['error: 401, 403, 409, 429, 502, 503 codes', js`const out = []; for (const c of [401, 403, 409, 429, 502, 503]) { try { await axios.get(u + '/status-' + c + '?code=' + c); } catch (e) { out.push([e.code, e.status, e.message, e.response.statusText]); } } return out;`],
  ['error: shape details', js`try { await axios.get(u + '/status?code=418&body=teapot'); } catch (e) { return [e instanceof Error, e instanceof axios.AxiosError, e.constructor === axios.AxiosError, e.constructor.name, e.name, e.isAxiosError,
    Object.prototype.toString.call(e), typeof e.stack, String(e), e.config.url, e.config.method, typeof e.config.headers, e.response.config === e.config, !!e.request, 'cause' in e, Object.keys(e).sort()]; }`],
  ['error: the docs\' if (response) / else if (request) pattern', js`const which = (e) => e.response ? 'response ' + e.response.status : e.request ? 'request' : 'setup ' + e.message;
    const out = []; for (const c of [{ url: u + '/status?code=503' }, { url: u + '/slow?ms=3000', timeout: 50 }, { url: u + '/echo', headers: { 'X-Bad': 'a\u0000b\u0001' }, transformRequest: [() => { throw new Error('in transform'); }] }])
      { try { await axios(c); out.push('ok'); } catch (e) { out.push(which(e)); } } return out;`],
  ['error: toJSON', js`try { await axios.get(u + '/status?code=404', { headers: { 'X-T': '1' }, timeout: 1234 }); } catch (e) { const j = e.toJSON(); return [Object.keys(j).sort(), j.message, j.name, j.code, j.status, typeof j.stack, j.config.url, j.config.method, j.config.timeout, j.config.headers['X-T'], j.config.headers.Accept]; }`],
  ['error: JSON.stringify of an error', js`try { await axios.get(u + '/status?code=404'); } catch (e) { const j = JSON.parse(JSON.stringify(e)); return [j.message, j.code, j.status, j.name, typeof j.config]; }`],
  ['error: validateStatus custom', js`return [R(await axios.get(u + '/status-a?code=404&body=x', { validateStatus: (s) => s < 500 })), E(await axios.get(u + '/status-b?code=500', { validateStatus: (s) => s < 500 }).catch((e) => e))];`],
  ['error: validateStatus null', js`return axios.get(u + '/status?code=503&body=down', { validateStatus: null });`],
  ['error: unsupported protocol', js`return axios.get('ftp://127.0.0.1/x');`],
  ['error: relative url without baseURL', js`return axios.get('/relative/path');`],
  ['error: invalid url', js`return axios.get('http://');`],

  // ---- timeout
  ['timeout: exceeded', js`const t0 = Date.now(); try { await axios.get(u + '/slow?ms=3000', { timeout: 60 }); return 'no error'; } catch (e) { return [E(e), Date.now() - t0 < 2000, axios.isCancel(e), e.response]; }`],
  ['timeout: timeoutErrorMessage', js`return axios.get(u + '/slow?ms=3000', { timeout: 60, timeoutErrorMessage: 'too slow!' });`],
  ['timeout: clarifyTimeoutError', js`return axios.get(u + '/slow?ms=3000', { timeout: 60, transitional: { clarifyTimeoutError: true } });`],
  ['timeout: not reached', js`return axios.get(u + '/slow?ms=30', { timeout: 3000 });`],
  ['timeout: string timeout', js`return axios.get(u + '/slow?ms=3000', { timeout: '60' });`],
  ['timeout: instance default timeout', js`const i = axios.create({ timeout: 60 }); return i.get(u + '/slow?ms=3000');`],

  // ---- cancellation
  ['abort: before the request', js`const c = new AbortController(); c.abort(); try { await axios.get(u + '/echo', { signal: c.signal }); return 'no error'; } catch (e) { return [E(e), axios.isCancel(e), e instanceof axios.CanceledError, e instanceof axios.AxiosError, e.constructor.name]; }`],
  ['abort: during the request', js`const c = new AbortController(); setTimeout(() => c.abort(), 50); const t0 = Date.now(); try { await axios.get(u + '/slow?ms=3000', { signal: c.signal }); return 'no error'; } catch (e) { return [E(e), axios.isCancel(e), Date.now() - t0 < 2000]; }`],
  ['abort: with a reason', js`const c = new AbortController(); setTimeout(() => c.abort(new Error('my reason')), 50); try { await axios.get(u + '/slow?ms=3000', { signal: c.signal }); return 'no error'; } catch (e) { return [E(e), axios.isCancel(e)]; }`],
  ['abort: AbortSignal.timeout', js`try { await axios.get(u + '/slow?ms=3000', { signal: AbortSignal.timeout(50) }); return 'no error'; } catch (e) { return [E(e), axios.isCancel(e)]; }`],
  ['abort: CancelToken.source', js`const s = axios.CancelToken.source(); const p = axios.get(u + '/slow?ms=3000', { cancelToken: s.token }); setTimeout(() => s.cancel('user cancelled'), 50);
    try { await p; return 'no error'; } catch (e) { return [E(e), axios.isCancel(e), e.message]; }`],
  ['abort: isCancel of other values', js`return [axios.isCancel(new Error('x')), axios.isCancel(null), axios.isCancel(new axios.CanceledError()), axios.isCancel(new axios.AxiosError('x'))];`],

  // ---- instances
  ['create: instance defaults and instance.get', js`const i = axios.create({ baseURL: u, headers: { 'X-Inst': 'i' }, params: { k: 'v' }, timeout: 2000 }); return [R(await i.get('/echo')), i.defaults.baseURL, i.defaults.timeout, i.defaults.headers['X-Inst']];`],
  ['create: defaults changed after create', js`const i = axios.create({ baseURL: u }); i.defaults.headers.common.Authorization = 'Bearer later'; i.defaults.headers['X-Top'] = 'top'; i.defaults.baseURL = u + '/echo-later'; i.defaults.params = { late: 1 }; return i.get('');`],
  ['create: request config merges with instance config', js`const i = axios.create({ baseURL: u, headers: { 'X-A': 'inst', 'X-B': 'inst' }, params: { a: 1 } });
    return i.get('/echo', { headers: { 'X-B': 'req' }, params: { b: 2 } });`],
  ['create: instance does not touch the global defaults', js`const i = axios.create(); i.defaults.headers.common['X-Leak'] = 'no'; return [axios.defaults.headers.common['X-Leak'], R(await axios.get(u + '/echo'))];`],
  ['create: instance.create', js`const i = axios.create({ headers: { 'X-One': '1' } }); if (typeof i.create !== 'function') return typeof i.create; const j = i.create({ headers: { 'X-Two': '2' } }); return j.get(u + '/echo');`],
  ['create: instance called as a function', js`const i = axios.create({ baseURL: u }); return [R(await i('/echo-fn')), R(await i({ url: '/echo-cfg', method: 'post', data: { a: 1 } }))];`],
  ['create: global axios.defaults changes (restored)', js`const old = axios.defaults.headers.common.Authorization; axios.defaults.headers.common.Authorization = 'Bearer global'; axios.defaults.headers.common['X-G'] = 'g';
    try { return R(await axios.get(u + '/echo')); } finally { delete axios.defaults.headers.common['X-G']; if (old === undefined) delete axios.defaults.headers.common.Authorization; else axios.defaults.headers.common.Authorization = old; }`],
  ['create: defaults values', js`const d = axios.defaults; return [d.timeout, d.xsrfCookieName, d.xsrfHeaderName, d.maxContentLength, d.maxBodyLength, d.headers.common.Accept, ['common', 'get', 'post', 'put', 'patch', 'delete', 'head'].map((k) => typeof d.headers[k]), typeof d.validateStatus, d.validateStatus(200), d.validateStatus(300), Array.isArray(d.transformRequest), Array.isArray(d.transformResponse),
    [d.transitional.silentJSONParsing, d.transitional.forcedJSONParsing, d.transitional.clarifyTimeoutError]];`],

  // ---- interceptors
  ['interceptors: request order LIFO, response FIFO', js`const i = axios.create(); const order = [];
    i.interceptors.request.use((c) => { order.push('req1'); c.headers['X-Req1'] = '1'; c.headers['X-Last'] = 'req1'; return c; });
    i.interceptors.request.use((c) => { order.push('req2'); c.headers['X-Req2'] = '2'; c.headers['X-Last'] = 'req2'; c.params = { ...c.params, added: 'yes' }; return c; });
    i.interceptors.response.use((r) => { order.push('res1'); r.data.tag = ['res1']; return r; });
    i.interceptors.response.use((r) => { order.push('res2'); r.data.tag.push('res2'); return r; });
    const r = await i.get(u + '/echo', { params: { p: 1 } }); return [R(r), order];`],
  ['interceptors: response transforms data', js`const i = axios.create(); i.interceptors.response.use((r) => r.data); return i.get(u + '/echo');`],
  ['interceptors: async request interceptor', js`const i = axios.create(); i.interceptors.request.use(async (c) => { await new Promise((r) => setTimeout(r, 10)); c.headers.Authorization = 'Bearer async'; return c; }); return i.get(u + '/echo');`],
  ['interceptors: eject and clear', js`const i = axios.create(); const a = i.interceptors.request.use((c) => { c.headers['X-A'] = 'a'; return c; }); i.interceptors.request.use((c) => { c.headers['X-B'] = 'b'; return c; });
    i.interceptors.request.eject(a); const r1 = R(await i.get(u + '/echo-1')); if (typeof i.interceptors.request.clear === 'function') i.interceptors.request.clear(); const r2 = R(await i.get(u + '/echo-2')); return [r1, r2, typeof a];`],
  ['interceptors: request interceptor rejects', js`const i = axios.create(); i.interceptors.request.use(() => Promise.reject(new Error('no token'))); try { await i.get(u + '/echo'); return 'no error'; } catch (e) { return [E(e), e instanceof axios.AxiosError]; }`],
  ['interceptors: request interceptor throws', js`const i = axios.create(); i.interceptors.request.use(() => { throw new TypeError('thrown'); }); return i.get(u + '/echo');`],
  ['interceptors: error interceptor recovers', js`const i = axios.create(); i.interceptors.response.use(null, (err) => ({ data: { recovered: err.response.status }, status: 299 })); const r = await i.get(u + '/status?code=500'); return [r.data, r.status];`],
  ['interceptors: retry on 401 with error.config', js`const i = axios.create(); let n = 0;
    i.interceptors.response.use((r) => r, async (err) => { const c = err.config; if (err.response && err.response.status === 401 && !c._retry) { c._retry = true; n++; c.headers.Authorization = 'Bearer fresh'; c.url = u + '/echo-retry'; return i(c); } throw err; });
    const r = await i.get(u + '/status?code=401', { headers: { Authorization: 'Bearer stale' } }); return [R(r), n];`],
  ['interceptors: request interceptor sees merged config', js`const i = axios.create({ baseURL: u, timeout: 999 }); let seen; i.interceptors.request.use((c) => { seen = [c.url, c.baseURL, c.method, c.timeout, c.headers.Accept, c.headers['X-R'], c.params, typeof c.headers.set]; return c; });
    await i.post('/echo', { a: 1 }, { headers: { 'X-R': 'r' }, params: { p: 1 } }); return seen;`],
  ['interceptors: on the global axios (ejected after)', js`const id = axios.interceptors.request.use((c) => { c.headers['X-Global-Int'] = 'yes'; return c; }); try { return R(await axios.get(u + '/echo')); } finally { axios.interceptors.request.eject(id); }`],

  // ---- transformRequest / transformResponse
  ['transform: custom transformRequest', js`return axios.post(u + '/echo', { a: 1 }, { transformRequest: [(data, headers) => { headers['X-T'] = '1'; headers['Content-Type'] = 'text/x-custom'; return 'custom:' + JSON.stringify(data); }] });`],
  ['transform: transformRequest appended to the defaults', js`return axios.post(u + '/echo', { a: 1 }, { transformRequest: [...axios.defaults.transformRequest, (data) => data + '\n'] });`],
  ['transform: transformRequest before the defaults', js`return axios.post(u + '/echo', { a: 1 }, { transformRequest: [(data) => ({ ...data, added: true }), ...axios.defaults.transformRequest] });`],
  ['transform: custom transformResponse', js`return axios.get(u + '/echo', { transformResponse: [(data, headers, status) => [typeof data, data.slice(0, 10), headers['content-type'], status]] });`],
  ['transform: empty transformResponse', js`return axios.get(u + '/echo', { transformResponse: [] });`],
  ['transform: transformResponse after the defaults', js`return axios.get(u + '/echo', { transformResponse: [...axios.defaults.transformResponse, (d) => ({ wrapped: d.method })] });`],
  ['transform: a single function, not an array', js`return axios.post(u + '/echo', { a: 1 }, { transformRequest: (d) => JSON.stringify(d) + '#', transformResponse: (d) => 'got ' + d.length });`],

  // ---- the exports
  ['exports: all / spread', js`const [a, b] = await axios.all([axios.get(u + '/echo-1'), axios.get(u + '/echo-2')]); return [a.data.url, b.data.url, axios.spread((x, y) => x + y)([1, 2])];`],
  ['exports: isAxiosError', js`const e = await axios.get(u + '/status?code=404').catch((x) => x); return [axios.isAxiosError(e), axios.isAxiosError(new Error('x')), axios.isAxiosError(null), axios.isAxiosError({ isAxiosError: true }), axios.isAxiosError(new axios.AxiosError('m'))];`],
  ['exports: AxiosError class', js`const e = new axios.AxiosError('msg', 'MY_CODE'); const AE = axios.AxiosError;
    return [e instanceof Error, e instanceof AE, e.message, e.code, e.name, e.isAxiosError, AE.ERR_BAD_REQUEST, AE.ERR_BAD_RESPONSE, AE.ECONNABORTED, AE.ETIMEDOUT, AE.ERR_CANCELED, AE.ERR_NETWORK, AE.ERR_BAD_OPTION_VALUE, AE.ERR_BAD_OPTION, AE.ERR_FR_TOO_MANY_REDIRECTS, AE.ERR_DEPRECATED, AE.ERR_NOT_SUPPORT, AE.ERR_INVALID_URL, typeof AE.from, Object.keys(e).sort()];`],
  ['exports: default, VERSION', js`return [axios.default === axios, typeof axios.VERSION, axios.VERSION, typeof axios, typeof axios.default];`],
  ['exports: typeof each member', js`return ['Axios', 'AxiosError', 'AxiosHeaders', 'CanceledError', 'CancelToken', 'Cancel', 'isCancel', 'all', 'spread', 'isAxiosError', 'toFormData', 'formToJSON', 'getAdapter', 'mergeConfig', 'HttpStatusCode', 'create', 'VERSION', 'default',
    'interceptors', 'defaults', 'request', 'get', 'delete', 'head', 'options', 'post', 'put', 'patch', 'postForm', 'putForm', 'patchForm', 'getUri'].map((k) => k + ':' + typeof axios[k]);`],
  ['exports: HttpStatusCode', js`return [axios.HttpStatusCode.Ok, axios.HttpStatusCode.NotFound, axios.HttpStatusCode.TooManyRequests, axios.HttpStatusCode[500]];`],
  ['exports: AxiosHeaders', js`const h = new axios.AxiosHeaders({ 'Content-Type': 'a/b', 'x-y': 'z' }); return [h.get('content-type'), h.has('X-Y'), h.toJSON(), String(h), h.getContentType && h.getContentType()];`],

  // ---- typical Auth0 action code
  ['auth0: post with Bearer token, destructure data', js`const token = 'tok123'; const { data } = await axios.post(u + '/echo', { user_id: 'auth0|1', email: 'a@example.com' }, { headers: { Authorization: 'Bearer ' + token } }); return data;`],
  ['auth0: client credentials with URLSearchParams', js`const { data } = await axios.post(u + '/status?code=200&type=application/json&body=' + encodeURIComponent('{"access_token":"at","expires_in":86400,"token_type":"Bearer"}'),
    new URLSearchParams({ grant_type: 'client_credentials', client_id: 'cid', client_secret: 's3cr3t/+=', audience: 'https://api.example.com/' })); return data;`],
  ['auth0: client credentials as a JSON object', js`const { data } = await axios.post(u + '/echo', { grant_type: 'client_credentials', client_id: 'cid', client_secret: 'sec', audience: 'https://x/api/v2/' }, { headers: { 'content-type': 'application/json' } }); return data;`],
  ['auth0: form body from a string with the header', js`const body = 'grant_type=password&username=' + encodeURIComponent('a+b@example.com') + '&password=' + encodeURIComponent('p&ss');
    return axios.post(u + '/echo', body, { headers: { 'Content-Type': 'application/x-www-form-urlencoded' } });`],
  ['auth0: management API patch', js`return axios.patch(u + '/echo/api/v2/users/' + encodeURIComponent('auth0|123'), { app_metadata: { plan: 'pro' } }, { headers: { authorization: 'Bearer mgmt', 'content-type': 'application/json' }, timeout: 5000 });`],
  ['auth0: webhook answering text ok', js`const r = await axios.post(u + '/status?code=200&type=text/html&body=ok', { text: 'User logged in' }); return [r.data, r.status];`],
  ['auth0: get with params email, catch 404', js`try { const res = await axios.get(u + '/status?code=404&type=application/json&body=' + encodeURIComponent('{"message":"not found"}'), { params: { email: 'x@example.com', include_fields: true } }); return res.data; }
    catch (err) { if (err.response && err.response.status === 404) return ['not found', err.response.data.message]; throw err; }`],
  ['auth0: no-op options accepted', js`return axios.get(u + '/echo', { proxy: false, maxRedirects: 5, decompress: true, withCredentials: true, responseEncoding: 'utf8', maxContentLength: 1e6, maxBodyLength: 1e6, httpsAgent: undefined, xsrfCookieName: 'X' });`],

  // ---- more of what action code does
  ['more: destructured methods', js`const { get, post, request } = axios; const i = axios.create({ baseURL: u }); const { get: iget } = i;
    return [(await get(u + '/echo-get')).data.url, (await post(u + '/echo-post', { a: 1 })).data.body, (await request({ url: u + '/echo-req' })).data.url, (await iget('/echo-iget')).data.url];`],
  ['more: axios.request(url string)', js`return axios.request(u + '/echo-str');`],
  ['more: null and undefined config', js`return [R(await axios.get(u + '/echo-null', null)), R(await axios.post(u + '/echo-undef', { a: 1 }, undefined)), R(await axios.get(u + '/echo-h', { headers: undefined, params: null }))];`],
  ['more: params on a POST', js`return axios.post(u + '/echo', { a: 1 }, { params: { dry_run: true } });`],
  ['more: response.config fields', js`const r = await axios.post(u + '/echo', { a: 1 }, { headers: { Authorization: 'Bearer c' }, params: { p: 1 }, timeout: 777 });
    return [r.config.url, r.config.method, r.config.data, r.config.params, r.config.timeout, r.config.headers.Authorization, r.config.headers['Content-Type'], r.config.headers.Accept, r.config.baseURL, typeof r.config.validateStatus];`],
  ['more: error.config fields on a 500', js`try { await axios.put(u + '/status?code=500', { x: 1 }, { headers: { 'X-Req': 'r' } }); } catch (e) { return [e.config.url, e.config.method, e.config.data, e.config.headers['X-Req'], e.config.headers['Content-Type'], e.response.headers['x-route'], e.response.config === e.config]; }`],
  ['more: removing default headers (false / null)', js`const i = axios.create({ headers: { common: { Authorization: 'Bearer inst' } } });
    return [R(await i.get(u + '/echo-null', { headers: { Authorization: null } })), R(await i.get(u + '/echo-false', { headers: { Authorization: false } })), R(await i.get(u + '/echo-undef', { headers: { Authorization: undefined } }))];`],
  ['more: User-Agent and Accept false', js`return axios.get(u + '/echo', { headers: { Accept: false, 'User-Agent': false } });`],
  ['more: header values to sanitise (non-ASCII, CR/LF, trailing newline)', js`const out = []; for (const [k, v] of [['X-Name', 'José'], ['X-NL', 'a\r\nb'], ['Authorization', 'Bearer tok\n'], ['X-Tab', '\ta\tb\t'], ['X-Euro', '€']]) { try { out.push((await axios.get(u + '/echo-' + k, { headers: { [k]: v } })).status); } catch (e) { out.push(E(e)); } } return out;`],
  ['more: response object keys', js`const r = await axios.get(u + '/echo'); return [Object.keys(r).sort(), r.headers instanceof axios.AxiosHeaders, typeof r.headers.get, typeof r.headers.has, r.headers.has('x-echo'), r.headers.has('X-ECHO'), JSON.stringify(r.headers).includes('"x-echo":"yes"')];`],
  ['more: console.log of an error and a response does not throw', js`try { await axios.get(u + '/status?code=500'); } catch (err) { console.log(err); console.error('failed', err.message, err.response && err.response.data); } const r = await axios.get(u + '/echo-2'); console.log(r.data, r.status); return 'logged';`],
  ['more: Content-Type undefined on a POST of an object', js`return axios.post(u + '/echo', { a: 1 }, { headers: { 'Content-Type': undefined } });`],
  ['more: URLSearchParams with an explicit form content-type', js`return axios.post(u + '/echo', new URLSearchParams({ a: '1' }), { headers: { 'Content-Type': 'application/x-www-form-urlencoded' } });`],
  ['more: global defaults.timeout (restored)', js`const old = axios.defaults.timeout; axios.defaults.timeout = 60; try { return E(await axios.get(u + '/slow?ms=3000').then(() => null, (e) => e)); } finally { axios.defaults.timeout = old; }`],
  ['more: signal and timeout together', js`const c = new AbortController(); setTimeout(() => c.abort(), 300); return axios.get(u + '/slow?ms=3000', { signal: c.signal, timeout: 60 });`],
  ['more: one signal for two requests', js`const c = new AbortController(); setTimeout(() => c.abort(), 50); const rs = await Promise.allSettled([axios.get(u + '/slow-1?ms=3000', { signal: c.signal }), axios.get(u + '/slow-2?ms=3000', { signal: c.signal })]);
    return rs.map((x) => x.status + ' ' + (x.reason && x.reason.code));`],
  ['more: timeout 0 means none', js`return axios.get(u + '/slow?ms=80', { timeout: 0 });`],
  ['more: validateStatus undefined given explicitly', js`return axios.get(u + '/status?code=404', { validateStatus: undefined });`],
  ['more: instance validateStatus accepting everything', js`const i = axios.create({ validateStatus: () => true }); const r = await i.get(u + '/status?code=500&body=e'); return [r.status, r.data];`],
  ['more: transformResponse that throws', js`return axios.get(u + '/echo', { transformResponse: [() => { throw new Error('tr threw'); }] });`],
  ['more: response interceptor that throws a string', js`const i = axios.create(); i.interceptors.response.use(() => { throw 'plain string'; }); return i.get(u + '/echo');`],
  ['more: request interceptor that returns nothing', js`const i = axios.create(); i.interceptors.request.use(() => undefined); try { await i.get(u + '/echo'); return 'no error'; } catch (e) { return [e instanceof TypeError, axios.isAxiosError(e)]; }`],
  ['more: maxContentLength exceeded', js`return axios.get(u + '/status?code=200&type=text/plain&body=' + 'x'.repeat(50), { maxContentLength: 10 });`],
  ['more: maxRedirects 0 on a 200', js`return axios.get(u + '/echo', { maxRedirects: 0 });`],
  ['more: .then/.catch chain', js`return [await axios.get(u + '/echo-a').then((r) => r.status).catch((e) => e.message), await axios.get(u + '/status-b?code=403').then((r) => r.status).catch((e) => e.message)];`],
  ['more: error.cause on a network failure', js`try { await axios.get(base.replace(/:\d+$/, ':' + CLOSED_PORT) + '/x'); } catch (e) { return [typeof e.cause, e.cause && e.cause.code, e.code, e.config && e.config.url === base.replace(/:\d+$/, ':' + CLOSED_PORT) + '/x']; }`],
  ['more: standard response headers (retry-after, www-authenticate, content-length, repeated)', js`const e = await axios.get(u + '/status?code=429&body=slow%20down&h=Retry-After:30&h=WWW-Authenticate:Bearer%20realm%3D%22x%22&h=X-Multi:a&h=X-Multi:b').catch((x) => x);
    const h = e.response.headers; return [h['retry-after'], h['www-authenticate'], h['content-length'], h['x-multi'], typeof h.get === 'function' && h.get('Retry-After')];`],
  ['more: AxiosHeaders methods', js`const names = ['set', 'get', 'has', 'delete', 'clear', 'normalize', 'concat', 'toJSON', 'setContentType', 'getContentType', 'hasContentType', 'setAuthorization', 'getAuthorization', 'setAccept', 'setUserAgent', 'setContentLength'];
    const r = await axios.get(u + '/echo'); const h = new axios.AxiosHeaders({ A: '1' });
    return [names.map((n) => n + ':' + typeof h[n]), names.map((n) => n + ':' + typeof r.headers[n]), typeof axios.AxiosHeaders.from, typeof axios.AxiosHeaders.concat, String(axios.AxiosHeaders.from({ 'X-A': 'b' }).get('x-a'))];`],
  ['more: a 200 KB JSON body', js`const big = { items: Array.from({ length: 4000 }, (_, i) => ({ i, name: 'item-' + i, tags: ['a', 'b'] })) }; const r = await axios.post(u + '/echo', big); return [r.status, r.data.body.length, JSON.parse(r.data.body).items.length];`],
  ['more: paramsSerializer returning an empty string', js`return axios.get(u + '/echo', { params: { a: 1 }, paramsSerializer: () => '' });`],
  ['more: headers.common in a request config for a GET', js`return axios.get(u + '/echo', { headers: { common: { 'X-C': 'c' }, get: { 'X-G': 'g' }, post: { 'X-P': 'p' } } });`],

  // ---- a third round
  ['third: global defaults.headers.post form content-type (restored)', js`const old = axios.defaults.headers.post['Content-Type']; axios.defaults.headers.post['Content-Type'] = 'application/x-www-form-urlencoded';
    try { return [R(await axios.post(u + '/echo-obj', { a: 1, b: 'x y' })), R(await axios.put(u + '/echo-put', { a: 1 }))]; } finally { if (old === undefined) delete axios.defaults.headers.post['Content-Type']; else axios.defaults.headers.post['Content-Type'] = old; }`],
  ['third: create with headers.common and headers.post', js`const i = axios.create({ headers: { common: { 'X-C': 'c' }, post: { 'Content-Type': 'text/plain', 'X-P': 'p' }, 'X-Top': 't' } }); return [R(await i.post(u + '/echo-post', 'hi')), R(await i.get(u + '/echo-get'))];`],
  ['third: multipart content-type with an object', js`return axios.post(u + '/echo', { a: 1, list: ['x', 'y'], o: { k: 'v' } }, { headers: { 'Content-Type': 'multipart/form-data' } });`],
  ['third: putForm and patchForm requests', js`return [R(await axios.putForm(u + '/echo-put', { a: 1 })), R(await axios.patchForm(u + '/echo-patch', new URLSearchParams({ b: '2' })))];`],
  ['third: postForm with a FormData', js`const fd = new FormData(); fd.append('k', 'v'); return axios.postForm(u + '/echo', fd);`],
  ['third: form urlencoded with formSerializer options', js`const h = { 'Content-Type': 'application/x-www-form-urlencoded' }; const d = { a: [1, 2], o: { p: { q: 1 } } };
    return [(await axios.post(u + '/echo-dots', d, { headers: h, formSerializer: { dots: true } })).data.body, (await axios.post(u + '/echo-idx', d, { headers: h, formSerializer: { indexes: true } })).data.body, (await axios.post(u + '/echo-null', d, { headers: h, formSerializer: { indexes: null } })).data.body];`],
  ['third: toFormData posted, formToJSON', js`const f2 = new FormData(); f2.append('x[y]', '1'); f2.append('arr[]', 'a'); f2.append('arr[]', 'b'); f2.append('n[0]', 'z');
    return [R(await axios.post(u + '/echo', axios.toFormData({ a: 1, b: [1, 2], c: { d: 'e' } }))), axios.formToJSON(f2)];`],
  ['third: ArrayBuffer and DataView bodies', js`const ab = new TextEncoder().encode('ab-body').buffer; return [R(await axios.post(u + '/echo-ab', ab)), R(await axios.post(u + '/echo-dv', new DataView(new TextEncoder().encode('dv-body').buffer)))];`],
  ['third: maxBodyLength exceeded', js`return axios.post(u + '/echo', 'x'.repeat(100), { maxBodyLength: 10 });`],
  ['third: CancelToken constructor and throwIfRequested', js`let cancel; const token = new axios.CancelToken((c) => { cancel = c; }); cancel('stop now'); let thrown; try { token.throwIfRequested(); } catch (e) { thrown = [e.message, axios.isCancel(e)]; }
    const e = await axios.get(u + '/echo', { cancelToken: token }).catch((x) => x); return [thrown, E(e), axios.isCancel(e), token.reason && token.reason.message];`],
  ['third: interceptor runWhen', js`const i = axios.create(); i.interceptors.request.use((c) => { c.headers['X-Posted'] = '1'; return c; }, null, { runWhen: (c) => c.method === 'post' });
    return [R(await i.get(u + '/echo-get')), R(await i.post(u + '/echo-post', {}))];`],
  ['third: gzip response', js`const r = await axios.get(u + '/gzip'); return [R(r), r.headers['content-encoding'] ?? 'none', typeof r.headers['content-length']];`],
  ['third: header name with a space, header value an object', js`const out = []; for (const h of [{ 'X Bad': 'v' }, { 'X-Obj': { a: 1 } }, { 'X-Fn': () => 1 }]) { try { out.push((await axios.get(u + '/echo-' + out.length, { headers: h })).status); } catch (e) { out.push(E(e)); } } return out;`],
  ['third: responseType json with a 204 and an empty 500', js`return [R(await axios.get(u + '/status-a?code=204', { responseType: 'json' })), E(await axios.get(u + '/status-b?code=500&type=application/json', { responseType: 'json' }).catch((e) => e))];`],
  ['third: problem+json and text/html error bodies', js`const a = await axios.get(u + '/status-a?code=422&type=application/problem%2Bjson&body=' + encodeURIComponent('{"title":"bad"}')).catch((e) => e);
    const b = await axios.get(u + '/status-b?code=502&type=text/html&body=' + encodeURIComponent('<html>bad gateway</html>')).catch((e) => e); return [a.response.data, b.response.data];`],
  ['third: abort with a string reason, config on the error', js`const c = new AbortController(); c.abort('why'); const e = await axios.get(u + '/echo', { signal: c.signal }).catch((x) => x); return [E(e), !!e.config, e.config && e.config.url === u + '/echo', typeof e.stack];`],
  ['third: method names in odd cases', js`return [R(await axios({ url: u + '/echo-1', method: 'Post', data: { a: 1 } })), R(await axios.request({ url: u + '/echo-2', method: 'DELETE' }))];`],

  ['third: redirect to another origin drops Authorization and Cookie', js`const to = base.replace(/:\d+$/, ':' + OTHER_PORT) + '/' + u.split('/').pop() + '/echo-other';
    return [R(await axios.get(u + '/redirect-1?to=' + encodeURIComponent(to), { headers: { Authorization: 'Bearer secret', Cookie: 'sid=1', 'X-Keep': 'k' } })),
      R(await axios.get(u + '/redirect-2?to=' + encodeURIComponent(to), { auth: { username: 'u', password: 'p' } }))];`],
  ['third: redirect within the origin keeps Authorization and Cookie', js`return axios.post(u + '/redirect?code=307&to=' + encodeURIComponent('/' + u.split('/').pop() + '/echo-same'), { a: 1 }, { headers: { Authorization: 'Bearer secret', Cookie: 'sid=1' } });`],
  ['third: a Cookie header is sent', js`return axios.get(u + '/echo', { headers: { Cookie: 'a=1; b=2' } });`],
  ['third: a custom reason phrase', js`const e = await axios.get(u + '/status?code=418&reason=' + encodeURIComponent('Custom Reason')).catch((x) => x); return [e.response.statusText, e.message];`],

  // ---- from a review: call-time serialisation, timeouts as axios parses them, credentials kept out of config
  ['review: data changed after the call is not what is sent', js`const items = [{ a: 1 }]; const p = axios.post(u + '/echo', items); items[0].a = 2; return p;`],
  ['review: nested data changed after the call', js`const body = { list: [{ a: 1 }] }; const p = axios.post(u + '/echo', body); body.list[0].a = 2; return p;`],
  ['review: a synchronous request interceptor runs within the call', js`const i = axios.create(); const order = []; i.interceptors.request.use((c) => { order.push('interceptor'); return c; }, null, { synchronous: true });
    const p = i.get(u + '/echo'); order.push('after the call'); await p; return order;`],
  ['review: an asynchronous request interceptor runs after the call', js`const i = axios.create(); const order = []; i.interceptors.request.use((c) => { order.push('interceptor'); return c; });
    const p = i.get(u + '/echo'); order.push('after the call'); await p; return order;`],
  ['review: timeout given as "60ms"', js`return axios.get(u + '/slow?ms=3000', { timeout: '60ms' });`],
  ['review: a timeout that does not parse', js`return axios.get(u + '/echo', { timeout: 'soon' });`],
  ['review: params given as a string', js`return axios.get(u + '/echo', { params: 'a=1' });`],
  ['review: a method that is not a token', js`return axios({ url: u + '/echo', method: 'GE T' });`],
  ['review: defaults.headers for options, purge and query', js`const i = axios.create(); i.defaults.headers.options['X-Opt'] = 'o'; return [typeof i.defaults.headers.purge, typeof i.defaults.headers.query, R(await i.options(u + '/echo-opt'))];`],
  ['review: auth is not in config.headers or the error', js`try { await axios.get(u + '/status?code=401', { auth: { username: 'svc', password: 'hunter2-pw' } }); return 'no error'; }
    catch (e) { const h = e.config.headers; const basic = 'c3ZjOmh1bnRlcjItcHc='; // base64 of svc:hunter2-pw
      return [Object.keys(typeof h.toJSON === 'function' ? h.toJSON() : h).map((k) => k.toLowerCase()).filter((k) => k !== 'accept-encoding').sort(), JSON.stringify(e).includes(basic), JSON.stringify(e.toJSON()).includes(basic)]; }`],
  ['review: auth from the URL is not in config.headers', js`const r = await axios.get(u.replace('http://', 'http://svc:pw@') + '/echo'); const h = r.config.headers;
    return Object.keys(typeof h.toJSON === 'function' ? h.toJSON() : h).map((k) => k.toLowerCase()).filter((k) => k !== 'accept-encoding').sort();`],

  // ---- network failures, binary, streams (see KNOWN_DIFF)
  ['network: connection refused', js`return axios.get(base.replace(/:\d+$/, ':' + CLOSED_PORT) + '/x');`],
  ['network: connection refused, code only', js`try { await axios.get(base.replace(/:\d+$/, ':' + CLOSED_PORT) + '/x'); } catch (e) { return [e.name, e.isAxiosError, e.response, !!e.request, axios.isAxiosError(e), typeof e.message, e.message.length > 0]; }`],
  ['binary: non-UTF-8 body as text', js`const r = await axios.get(u + '/bin'); return [typeof r.data, r.data.length, Array.from(r.data, (c) => c.charCodeAt(0))];`],
  ['binary: non-UTF-8 body as arraybuffer', js`const r = await axios.get(u + '/bin', { responseType: 'arraybuffer' }); return Array.from(new Uint8Array(r.data.buffer ?? r.data, r.data.byteOffset ?? 0, r.data.byteLength));`],
  ['stream: responseType stream', js`const r = await axios.get(u + '/echo', { responseType: 'stream' }); return [typeof r.data, typeof r.data.pipe, typeof r.data.on];`],
  ['request: response.request path and method', js`const r = await axios.get(u + '/echo?q=1'); return [typeof r.request, r.request && r.request.path, r.request && r.request.method];`],
  ['request: response.request is a ClientRequest', js`const r = await axios.get(u + '/redirect?to=' + encodeURIComponent('/' + u.split('/').pop() + '/echo-final'));
    return [typeof r.request.getHeader, typeof r.request.on, r.request.res && r.request.res.responseUrl];`],
  ['proxy: a proxy in the config', js`return axios.get('http://proxied.example/' + u.split('/').pop() + '/echo', { proxy: { protocol: 'http', host: '127.0.0.1', port: Number(base.split(':').pop()) } });`],
  ['redirect: maxRedirects 0', js`return axios.get(u + '/redirect?to=' + encodeURIComponent('/' + u.split('/').pop() + '/echo-never'), { maxRedirects: 0 });`],
];

/**
 * What the sandbox cannot do by design. Each is asserted to still differ (result or received),
 * so a stand-in that starts to match fails here until its name is removed.
 */
const KNOWN_DIFF = new Map<string, string>([
  ['stream: responseType stream', 'no Node streams in the sandbox: the body comes back whole'],
  ['request: response.request is a ClientRequest', 'no node:http ClientRequest (getHeader, events, res.responseUrl): response.request is a plain stand-in'],
  ['more: User-Agent and Accept false', "the fetch bridge sends its own User-Agent (Gatehouse-Actions/1) and Accept (*/*) when a request has none; node:http sends none"],
  ['params: an apostrophe in a value', "fetch() takes a URL, and WHATWG URL parsing percent-encodes ' in a query (%27); node:http sends axios's path as built (axios's encoder leaves ' as is). Same meaning to any server"],
  ['params: paramsSerializer output sent as is', "the same: the URL parser encodes ' \" < > and spaces in the query and cuts at #, where node:http sends the serializer's text as is (or throws ERR_UNESCAPED_CHARACTERS for a space)"],
  ['proxy: a proxy in the config', 'no proxies: the fetch bridge connects to the target itself'],
  ['binary: non-UTF-8 body as arraybuffer', 'the fetch bridge carries response bodies as UTF-8 text: bytes that are not UTF-8 come back as U+FFFD'],
]);

/** The harness: the same text runs in Node.js and in the sandbox, as the body of a function of (axios, base). */
const HARNESS = `'use strict';
  const CLOSED_PORT = %CLOSED_PORT%, OTHER_PORT = %OTHER_PORT%; // nothing listens on CLOSED_PORT; OTHER_PORT is a second echo server (another origin)
  const pickHeaders = (h) => {
    const out = {};
    if (!h || typeof h !== 'object') return h === undefined ? '<undefined>' : h;
    const src = typeof h.toJSON === 'function' ? h.toJSON() : h;
    for (const k of Object.keys(src).sort()) {
      const l = k.toLowerCase();
      if (l === 'content-type' || l.startsWith('x-')) out[l] = src[k];
    }
    return out;
  };
  const R = (r) => ({ status: r.status, statusText: r.statusText, data: r.data === undefined ? '<undefined>' : r.data, headers: pickHeaders(r.headers) });
  const E = (e) => e === null || typeof e !== 'object' ? { thrownPrimitive: String(e) } : {
    name: e.name, code: e.code, message: e.message, status: e.status, isAxiosError: axios.isAxiosError(e),
    response: e.response && { status: e.response.status, data: e.response.data === undefined ? '<undefined>' : e.response.data },
  };
  const isResponse = (v) => v !== null && typeof v === 'object' && 'config' in v && 'status' in v && 'headers' in v && 'data' in v;
  const out = [];
  for (const [name, id, fn] of [%SCENARIOS%]) {
    let v;
    try { v = await fn(axios, base, base + '/' + id, R, E); v = { ok: isResponse(v) ? R(v) : v }; } catch (e) { v = { threw: E(e) }; }
    try { const j = JSON.stringify(v); v = j === undefined ? { undefined: true } : JSON.parse(j); } catch (e) { v = { unserialisable: String(e) }; }
    out.push([name, v]);
  }
  return out;`;

const ids = SCENARIOS.map((_, i) => `s${i}`);
/** The harness for the scenarios at `indexes` (all by default). */
const harness = (ports: { closed: number; other: number }, indexes = SCENARIOS.map((_, i) => i)) => HARNESS.replace('%CLOSED_PORT%', String(ports.closed)).replace('%OTHER_PORT%', String(ports.other)).replace('%SCENARIOS%', () =>
  indexes.map((i) => `\n[${JSON.stringify(SCENARIOS[i][0])}, ${JSON.stringify(ids[i])}, async (axios, base, u, R, E) => {\n${SCENARIOS[i][1]}\n}]`).join(','));

/**
 * The sandbox allows 50 fetches per execution: the scenarios are split over several chains,
 * each under FETCH_BUDGET requests as counted by the server on the Node.js side (a redirect
 * counts twice there, once in the sandbox: an overestimate).
 */
const FETCH_BUDGET = 40;
function chunks(counts: number[]): number[][] {
  const out: number[][] = [];
  let cur: number[] = [], used = 0;
  for (const [i, c] of counts.entries()) {
    const n = Math.max(1, c);
    if (cur.length && used + n > FETCH_BUDGET) { out.push(cur); cur = []; used = 0; }
    cur.push(i); used += n;
  }
  if (cur.length) out.push(cur);
  return out;
}

/** One request as the echo server saw it. */
interface Received { method: string; url: string; headers: Record<string, string | string[]>; body: string }
const RECORDED_HEADERS = new Set(['content-type', 'accept', 'authorization', 'user-agent', 'content-length', 'cookie']);

let received = new Map<string, Received[]>();

function echoServer(): http.Server {
  return http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = req.url ?? '/';
      const m = /^\/(s\d+)(\/.*)?$/.exec(raw.split('?')[0].replace(/^http:\/\/[^/]+/, '')); // absolute-form when asked as a proxy
      let body = Buffer.concat(chunks).toString('utf8');
      const headers: Record<string, string | string[]> = {};
      for (const [k, v] of Object.entries(req.headers)) {
        if (v === undefined || !(RECORDED_HEADERS.has(k) || k.startsWith('x-'))) continue;
        if (k === 'content-length' && body === '') continue;
        headers[k] = v;
      }
      // Multipart boundaries are random: compare with BOUNDARY in their place.
      const boundary = /boundary=([^;]+)/.exec(String(headers['content-type'] ?? ''))?.[1];
      if (boundary) {
        headers['content-type'] = String(headers['content-type']).split(boundary).join('BOUNDARY');
        body = body.split(boundary).join('BOUNDARY');
        if (headers['content-length']) headers['content-length'] = '<multipart length>';
      }
      const id = m ? m[1] : '-';
      if (!received.has(id)) received.set(id, []);
      received.get(id)!.push({ method: req.method ?? '', url: raw, headers, body });

      const url = new URL(raw, 'http://x');
      const route = (m?.[2] ?? '/').split('?')[0].split('/')[1] ?? '';
      const q = url.searchParams;
      if (route.startsWith('status')) {
        res.statusCode = Number(q.get('code') ?? 200);
        if (q.has('reason')) res.statusMessage = q.get('reason')!;
        if (q.has('type')) res.setHeader('content-type', q.get('type')!);
        res.setHeader('x-route', 'status');
        for (const h of q.getAll('h')) { const i = h.indexOf(':'); res.appendHeader(h.slice(0, i), h.slice(i + 1)); }
        res.end(res.statusCode === 204 || res.statusCode === 304 ? undefined : q.get('body') ?? '');
      } else if (route === 'slow') {
        const t = setTimeout(() => { res.setHeader('content-type', 'application/json'); res.end(JSON.stringify({ slow: true })); }, Number(q.get('ms') ?? 500));
        t.unref();
        res.on('close', () => clearTimeout(t));
      } else if (route === 'redirect') {
        res.statusCode = Number(q.get('code') ?? 302);
        res.setHeader('location', q.get('to') ?? '/');
        res.end();
      } else if (route === 'bin') {
        res.setHeader('content-type', 'application/octet-stream');
        res.end(Buffer.from([0xff, 0xfe, 0x41, 0xc3, 0x28, 0xe2, 0x82]));
      } else if (route === 'gzip') {
        res.setHeader('content-type', 'application/json');
        res.setHeader('content-encoding', 'gzip');
        res.setHeader('x-route', 'gzip');
        res.end(zlib.gzipSync(JSON.stringify({ zipped: true })));
      } else if (route === 'cookies') {
        res.setHeader('set-cookie', ['a=1; Path=/', 'b=2; HttpOnly']);
        res.setHeader('content-type', 'text/plain');
        res.end('cookies');
      } else {
        res.setHeader('content-type', 'application/json; charset=utf-8');
        res.setHeader('x-echo', 'yes');
        res.setHeader('X-Echo-Method', req.method ?? '');
        res.end(JSON.stringify({ method: req.method, url: raw, body }));
      }
    });
  });
}

type Results = Map<string, unknown>;
let nodeResults: Results;
let sandboxResults: Results;
let nodeReceived: Map<string, Received[]>;
let sandboxReceived: Map<string, Received[]>;
let sandboxError: string | undefined;
let pool: SandboxPool;
let server: http.Server;
let other: http.Server;

async function freePort(): Promise<number> {
  const s = http.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

before(async () => {
  server = echoServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const base = `http://127.0.0.1:${port}`;
  const closedPort = await freePort();
  other = echoServer();
  await new Promise<void>((r) => other.listen(0, '127.0.0.1', r));
  const ports = { closed: closedPort, other: (other.address() as AddressInfo).port };

  const AsyncFunction = (async () => {}).constructor as new (...args: string[]) => (...a: unknown[]) => Promise<[string, unknown][]>;
  received = new Map();
  const saved = { log: console.log, error: console.error, warn: console.warn, info: console.info };
  Object.assign(console, { log() {}, error() {}, warn() {}, info() {} }); // the scenarios log, as action code does
  try {
    nodeResults = new Map(await new AsyncFunction('axios', 'base', harness(ports))(realAxios, base));
  } finally { Object.assign(console, saved); }
  await new Promise((r) => setTimeout(r, 100)); // late arrivals (aborted requests)
  nodeReceived = received;

  received = new Map();
  pool = createSandboxPool({ workers: 1, fetchAllow: [`127.0.0.1:${port}`, `127.0.0.1:${closedPort}`, `127.0.0.1:${ports.other}`] });
  const limits = { ...LIMITS, actionTimeoutMs: 10_000, chainTimeoutMs: 12_000, memoryMb: 64, resultBytes: 1 << 20, consoleBytes: 64 * 1024 };
  sandboxResults = new Map();
  for (const part of chunks(ids.map((id) => nodeReceived.get(id)?.length ?? 0))) {
    const r = await pool.runChain(request([postLogin(`const axios = require('axios');
      api.idToken.setCustomClaim('results', await (async (axios, base) => { ${harness(ports, part)} })(axios, ${JSON.stringify(base)}));`)], { limits }));
    if (r.status !== 'ok') sandboxError = `${sandboxError ?? ''}\n${SCENARIOS[part[0]][0]}…: ${JSON.stringify(r.results[0]?.error ?? r)}`;
    for (const [n, v] of (claims(r).results ?? []) as [string, unknown][]) sandboxResults.set(n, v);
  }
  await new Promise((res) => setTimeout(res, 100));
  sandboxReceived = received;
});
after(async () => {
  await pool?.close();
  for (const s of [server, other]) {
    s?.closeAllConnections();
    await new Promise((r) => s?.close(r));
  }
});

describe('the sandbox axios matches axios in Node.js', () => {
  test('every scenario has a unique name and a result on both sides', () => {
    assert.equal(new Set(SCENARIOS.map(([n]) => n)).size, SCENARIOS.length);
    for (const n of KNOWN_DIFF.keys()) assert.ok(nodeResults.has(n), `KNOWN_DIFF names no scenario: ${n}`);
    assert.equal(sandboxError, undefined, `the sandbox action failed: ${sandboxError}`);
    assert.equal(sandboxResults.size, SCENARIOS.length);
  });
  for (const [i, [name]] of SCENARIOS.entries()) {
    test(name, (t) => {
      const node = { result: nodeResults.get(name), received: nodeReceived.get(ids[i]) ?? [] };
      const sandbox = { result: sandboxResults.get(name), received: sandboxReceived.get(ids[i]) ?? [] };
      if (KNOWN_DIFF.has(name)) {
        t.diagnostic(`known divergence (${KNOWN_DIFF.get(name)}): sandbox ${JSON.stringify(sandbox)}, Node.js ${JSON.stringify(node)}`);
        assert.notDeepEqual(sandbox, node, `${name}: now matches Node.js, remove it from KNOWN_DIFF`);
        return;
      }
      const diff = (what: 'result' | 'received', label: string) => util.isDeepStrictEqual(sandbox[what], node[what]) ? ''
        : `\n${label}:\n  sandbox ${JSON.stringify(sandbox[what])}\n  Node.js ${JSON.stringify(node[what])}`;
      const message = diff('result', 'what the code got back differs') + diff('received', 'what the server received differs');
      assert.ok(message === '', `${name}:${message}`);
    });
  }
  test('no request reached the server outside a scenario', () => {
    assert.deepEqual(nodeReceived.get('-'), undefined);
    assert.deepEqual(sandboxReceived.get('-'), undefined);
  });
});
