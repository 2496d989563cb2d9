/**
 * npm packages whose own code runs in the sandbox (packages.ts): every snippet is evaluated in
 * this Node.js process with the installed module and inside the sandbox, where the same files
 * run on the sandbox's built-ins; the two JSON values must be equal. Then what a require() may
 * not reach: paths out of a package, packages not offered (the server's own among them).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { createCipheriv, createHash, pbkdf2Sync } from 'node:crypto';
import { createSandboxPool, type SandboxPool } from './index.ts';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { hostBridge } from './host-bridge.ts';
import { PACKAGES, packageBundle, packageBundleFrom } from './packages.ts';
import { bothSides, claims, postLogin, request, snippetLoop, snippetTests } from './test-support.ts';

const js = String.raw;
const NOW = 1_800_000_000_000;

/** [name, JavaScript expression]; may use _, fp, get, uuid, qs, moment, CryptoJS, ipaddr, DOMParser, XMLSerializer, xpath, async, require, NOW, t(fn). */
const SNIPPETS: [string, string][] = [
  // ---- lodash: the whole module, a per-method path and lodash/fp
  ['lodash version and size', js`[_.VERSION, Object.keys(_).length, typeof _.templateSettings]`],
  ['lodash collections', js`[_.chunk([1, 2, 3, 4, 5], 2), _.groupBy(['one', 'two', 'three'], 'length'), _.keyBy([{ id: 'a', n: 1 }, { id: 'b', n: 2 }], 'id'), _.sortBy([{ n: 3 }, { n: 1 }, { n: 2 }], 'n'), _.uniqBy([2.1, 1.2, 2.3], Math.floor), _.partition([1, 2, 3, 4], (n) => n % 2)]`],
  ['lodash objects', js`[_.get({ a: [{ b: { c: 3 } }] }, 'a[0].b.c'), _.get({}, 'x.y', 'dflt'), _.set({}, 'a.b[1].c', 4), _.merge({ a: [{ b: 1 }] }, { a: [{ c: 2 }] }), _.pick({ a: 1, b: 2, c: 3 }, ['a', 'c']), _.omit({ a: 1, b: 2 }, 'a'), _.defaultsDeep({ a: { b: 1 } }, { a: { b: 2, c: 3 } }), _.has({ a: { b: 1 } }, 'a.b')]`],
  ['lodash deep equality and clone', js`(o => [_.isEqual(o, _.cloneDeep(o)), _.cloneDeep(o) !== o, _.isEqual({ a: [1, { b: new Date(0) }] }, { a: [1, { b: new Date(1) }] }), _.isEmpty({}), _.isPlainObject(Object.create(null))])({ a: [1, { b: new Date(0), c: new Map([[1, 2]]) }] })`],
  ['lodash strings', js`[_.camelCase('Foo Bar-baz'), _.kebabCase('fooBarBaz'), _.snakeCase('Foo Bar'), _.startCase('foo_bar'), _.capitalize('hELLO'), _.escape('<a href="x">&</a>'), _.unescape('&lt;b&gt;'), _.truncate('hi-diddly-ho there, neighborino', { length: 24, separator: ' ' }), _.words('fred, barney, & pebbles'), _.pad('abc', 8, '_-'), _.deburr('déjà vu')]`],
  ['lodash template', js`_.template('hello <%= user %>! <% _.forEach(list, function(x) { %><li><%- x %></li><% }); %>')({ user: 'fred', list: ['<a>', 'b'] })`],
  ['lodash functions and chains', js`[_.chain([3, 1, 2]).sortBy().map((n) => n * 2).reverse().value(), _.flow([_.add, _.square ?? ((n) => n * n)])(1, 2), _.memoize((n) => n + 1)(1), typeof _.debounce(() => 0, 10).cancel, _.range(0, 10, 3), _.sum([1, 2, 3]), _.maxBy([{ n: 1 }, { n: 5 }], 'n')]`],
  ['lodash/get alone', js`[get({ a: { b: [0, 7] } }, 'a.b[1]'), get(null, 'a', 'none')]`],
  ['lodash/fp', js`[fp.map((n) => n * 2)([1, 2]), fp.get('a.b')({ a: { b: 1 } }), fp.flow(fp.filter((n) => n > 1), fp.sum)([1, 2, 3]), fp.set('a', 2)({ a: 1 })]`],
  // ---- uuid (random ones by shape; the name-based ones exactly)
  ['uuid v4 and v7 shape', js`[uuid.validate(uuid.v4()), uuid.version(uuid.v4()), uuid.version(uuid.v7()), uuid.v4() === uuid.v4(), /^[0-9a-f-]{36}$/.test(uuid.v1())]`],
  ['uuid v5 and v3 (SHA-1 and MD5 of the name)', js`[uuid.v5('hello', uuid.v5.URL), uuid.v5('a@example.com', '1b671a64-40d5-491e-99b0-da01ff1f3341'), uuid.v3('hello', uuid.v3.DNS)]`],
  ['uuid parse, stringify, constants', js`[Array.from(uuid.parse('6ba7b810-9dad-11d1-80b4-00c04fd430c8')), uuid.stringify(uuid.parse('6ba7b810-9dad-11d1-80b4-00c04fd430c8')), uuid.NIL, uuid.MAX, uuid.validate('nope'), t(() => uuid.parse('nope'))]`],
  ['uuid v4 from given random bytes', js`uuid.v4({ random: Array.from({ length: 16 }, (_x, i) => i * 7) })`],
  // ---- qs
  ['qs stringify', js`[qs.stringify({ a: [1, 2], b: { c: 'd é' }, e: null, f: undefined }), qs.stringify({ a: ['b', 'c'] }, { arrayFormat: 'brackets' }), qs.stringify({ a: { b: 1 } }, { encode: false, allowDots: true }), qs.stringify({ a: 'b c' }, { format: 'RFC1738' })]`],
  ['qs parse', js`[qs.parse('a[b][c]=d&e[]=1&e[]=2&f=%C3%A9'), qs.parse('a.b=c', { allowDots: true }), qs.parse('?x=1', { ignoreQueryPrefix: true }), qs.parse('a[__proto__][polluted]=1'), ({}).polluted]`],
  // ---- moment (UTC and fixed instants: the sandbox clock is not the test's)
  ['moment formatting and arithmetic', js`[moment.utc('2020-01-31T03:04:05Z').add(1, 'month').format('YYYY-MM-DD HH:mm:ss dddd'), moment.utc(NOW).toISOString(), moment.utc(NOW).startOf('week').format(), moment.utc('2021-03-01').diff(moment.utc('2020-03-01'), 'days'), moment.utc(NOW).unix()]`],
  ['moment parsing', js`[moment.utc('31/12/2020', 'DD/MM/YYYY').toISOString(), moment.utc('not a date', moment.ISO_8601, true).isValid(), moment.utc('2020-02-30').isValid(), moment.utc(NOW).utcOffset(120).format(), moment.version]`],
  ['moment locales, loaded as moment loads them', js`[moment.utc(NOW).locale('fr').format('LLLL'), moment.locale(), moment.utc(NOW).locale('xx-not-one').locale(), (() => { require('moment/locale/ja'); return moment.utc(NOW).locale('ja').format('LL'); })()]`],
  ['moment-timezone: business hours in a zone, daylight saving', js`[momentTz.tz(NOW, 'America/New_York').format('YYYY-MM-DD HH:mm z'), momentTz.tz('2024-03-10 12:00', 'America/New_York').utcOffset(), momentTz.tz('2024-01-10 12:00', 'America/New_York').utcOffset(), momentTz.tz(NOW, 'Asia/Kolkata').hour(), momentTz.tz.zone('Europe/Berlin').name, momentTz.tz.names().length > 400, momentTz.tz.zone('Not/AZone')]`],
  ['moment durations and relative time', js`[moment.duration(90, 'minutes').humanize(), moment.duration('PT1H30M').asSeconds(), moment.utc(NOW).from(moment.utc(NOW + 3 * 86400000)), moment.utc(NOW).locale(), moment.locales()]`],
  // ---- crypto-js (hashes and HMAC exactly; AES encrypts with a random salt: round trips)
  ['crypto-js hashes and HMAC', js`[CryptoJS.SHA256('abc').toString(), CryptoJS.MD5('abc').toString(), CryptoJS.SHA1('abc').toString(), CryptoJS.SHA512('abc').toString(CryptoJS.enc.Base64), CryptoJS.HmacSHA256('message', 'key').toString(), CryptoJS.HmacSHA1('m', 'k').toString(CryptoJS.enc.Base64)]`],
  ['crypto-js encodings', js`[CryptoJS.enc.Base64.stringify(CryptoJS.enc.Utf8.parse('héllo')), CryptoJS.enc.Utf8.stringify(CryptoJS.enc.Base64.parse('aMOpbGxv')), CryptoJS.enc.Hex.parse('00ff').sigBytes, CryptoJS.lib.WordArray.random(16).sigBytes]`],
  ['crypto-js AES with a key and IV (deterministic)', js`(k => CryptoJS.AES.encrypt('secret text', CryptoJS.enc.Hex.parse(k), { iv: CryptoJS.enc.Hex.parse('000102030405060708090a0b0c0d0e0f') }).toString())('000102030405060708090a0b0c0d0e0f000102030405060708090a0b0c0d0e0f')`],
  ['crypto-js AES with a passphrase round trip', js`CryptoJS.AES.decrypt(CryptoJS.AES.encrypt(JSON.stringify({ a: 1 }), 'pass phrase').toString(), 'pass phrase').toString(CryptoJS.enc.Utf8)`],
  ['crypto-js PBKDF2', js`CryptoJS.PBKDF2('password', 'salt', { keySize: 8, iterations: 1000, hasher: CryptoJS.algo.SHA256 }).toString()`],
  // ---- ipaddr.js (Auth0's IP-range MFA template), @xmldom/xmldom and xpath (its SOAP templates), async
  ['ipaddr.js ranges and forms', js`[ipaddr.parse('10.1.2.3').match(ipaddr.parseCIDR('10.0.0.0/8')), ipaddr.parse('2001:db8::1').match(ipaddr.parseCIDR('2001:db8::/32')), ipaddr.process('::ffff:192.168.1.1').toString(), ipaddr.parse('192.168.1.1').range(), ipaddr.isValid('300.1.1.1'), ipaddr.IPv4.isValidFourPartDecimal('1.2.3.4'), ipaddr.subnetMatch(ipaddr.parse('172.16.5.4'), { corp: [ipaddr.parseCIDR('172.16.0.0/12')] }, 'none'), t(() => ipaddr.parse('nope'))]`],
  ['xmldom and xpath over a SOAP answer', js`(() => { const doc = new DOMParser().parseFromString('<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><r:Result xmlns:r="urn:x"><r:Role>admin</r:Role><r:Role>dev</r:Role></r:Result></soap:Body></soap:Envelope>', 'text/xml'); const sel = xpath.useNamespaces({ r: 'urn:x' }); return [sel('//r:Role/text()', doc).map((n) => n.nodeValue), xpath.select('count(//*)', doc), new XMLSerializer().serializeToString(doc.documentElement.firstChild)]; })()`],
  // Auth0's SOAP templates call parseFromString(text) with no MIME type, which 0.8 takes as XML (0.9 throws).
  ['xmldom without a MIME type, as Auth0\'s SOAP templates call it', js`new DOMParser().parseFromString('<r><role>editor</role></r>').getElementsByTagName('role')[0].textContent`],
  ['xmldom refuses what is not XML', js`(() => { try { new DOMParser({ onError: (level, msg) => { throw new Error(level + ': ' + msg.split('\n')[0]); } }).parseFromString('<a><b></a>', 'text/xml'); return 'parsed'; } catch (e) { return e.message.slice(0, 60); } })()`],
  ['async control flow', js`(async () => [await async.mapSeries([3, 1, 2], async (n) => n * 2), await async.parallelLimit([async () => 'a', async () => 'b'], 1), await new Promise((resolve) => async.waterfall([(cb) => cb(null, 1), (n, cb) => cb(null, n + 1)], (err, r) => resolve([err, r])))])()`],
  // In the sandbox lodash.<name> is lodash's own <Name> (those packages are lodash's functions one by one); Node.js here has lodash only.
  ['lodash one-method packages', js`[one('merge', 'merge')({ a: { b: 1 } }, { a: { c: 2 } }), one('clonedeep', 'cloneDeep')({ z: [1, { y: 2 }] }), one('isequal', 'isEqual')([1, { a: 2 }], [1, { a: 2 }]), one('get', 'get')({ a: [{ b: 3 }] }, 'a[0].b'), one('uniqby', 'uniqBy')([{ n: 1 }, { n: 1 }, { n: 2 }], 'n')]`],
];

/** Snippets whose results differ by design (none). */
const KNOWN_DIFF = new Set<string>([]);

const HARNESS = `return (async () => {
  'use strict';
  const _ = require('lodash'), fp = require('lodash/fp'), get = require('lodash/get'), uuid = require('uuid'), qs = require('qs'), moment = require('moment'), CryptoJS = require('crypto-js');
  const momentTz = require('moment-timezone');
  const ipaddr = require('ipaddr.js'), { DOMParser, XMLSerializer } = require('@xmldom/xmldom'), xpath = require('xpath'), async = require('async');
  const one = (pkg, name) => (typeof process === 'object' ? require('lodash/' + name) : require('lodash.' + pkg));
  const threw = (e) => ({ threw: { name: e == null ? null : e.name ?? null, message: e == null ? null : e.message ?? null } });
  const t = (fn) => { try { return fn(); } catch (e) { return threw(e); } };
  const out = [];
  ${snippetLoop(SNIPPETS)}
  return out;
})();`;

let pool: SandboxPool;
let nodeResults: Map<string, unknown>;
let sandboxResults: Map<string, unknown>;
const req = createRequire(import.meta.url);

before(async () => {
  pool = createSandboxPool({ workers: 1 });
  const limits = { actionTimeoutMs: 20_000, chainTimeoutMs: 30_000, memoryMb: 64, resultBytes: 1 << 20 };
  ({ node: nodeResults, sandbox: sandboxResults } = await bothSides(pool, HARNESS, { require: req, NOW }, `const NOW = ${NOW};`, limits));
});
after(async () => { await pool?.close(); });

describe('packages run from their own code match the installed modules', () => {
  snippetTests(SNIPPETS, KNOWN_DIFF, () => ({ node: nodeResults, sandbox: sandboxResults }));
  test('the exact values are the ones Node.js computes (not only equal on both sides)', () => {
    const [sha256, md5] = nodeResults.get('crypto-js hashes and HMAC') as string[];
    assert.equal(sha256, createHash('sha256').update('abc').digest('hex'));
    assert.equal(md5, createHash('md5').update('abc').digest('hex'));
    assert.equal(nodeResults.get('crypto-js PBKDF2'), pbkdf2Sync('password', 'salt', 1000, 32, 'sha256').toString('hex'));
    const key = Buffer.from('000102030405060708090a0b0c0d0e0f000102030405060708090a0b0c0d0e0f', 'hex');
    const c = createCipheriv('aes-256-cbc', key, key.subarray(0, 16));
    assert.equal(sandboxResults.get('crypto-js AES with a key and IV (deterministic)'), Buffer.concat([c.update('secret text'), c.final()]).toString('base64'));
    assert.equal((sandboxResults.get('uuid v4 and v7 shape') as unknown[])[0], true);
    assert.equal((sandboxResults.get('qs parse') as unknown[])[4], null, 'qs.parse polluted Object.prototype');
  });
});

describe('module state', () => {
  test('a package is one module per isolate: kept across executions of an action, never shared with another action', async () => {
    const writer = postLogin(`
      const _ = require('lodash');
      _.mine = (_.mine ?? 0) + 1;
      _.secretOfWriter = event.secrets.S;
      api.idToken.setCustomClaim('mine', _.mine);
      api.idToken.setCustomClaim('same', require('lodash') === _ && require('lodash/get') === require('lodash/get'));`, { secrets: { S: 'writer-secret' } });
    const reader = postLogin(`const _ = require('lodash'); api.idToken.setCustomClaim('seen', [_.mine ?? null, _.secretOfWriter ?? null]);`);
    const first = await pool.runChain(request([writer, reader]));
    assert.equal(first.status, 'ok', JSON.stringify(first.results.map((r) => r.error)));
    assert.deepEqual(claims(first, 0), { mine: 1, same: true });
    assert.deepEqual(claims(first, 1), { seen: [null, null] }, 'another action has its own lodash');
    const second = await pool.runChain(request([writer]));
    assert.deepEqual(claims(second), { mine: 2, same: true }, 'the module outlives the execution, as on a warm Auth0 container');
  });

  test('a package that throws while loading is not cached half-made: the next require loads it', async () => {
    // uuid's compiled files start with Object.defineProperty(exports, '__esModule', …): refused, it throws.
    const r = await pool.runChain(request([postLogin(`
      const dp = Object.defineProperty;
      Object.defineProperty = () => { throw new Error('no defineProperty today'); };
      let first;
      try { require('uuid'); first = 'loaded'; } catch (e) { first = e.message; }
      Object.defineProperty = dp;
      const uuid = require('uuid');
      api.idToken.setCustomClaim('r', [first, uuid.validate(uuid.v4()), uuid.v5('x', uuid.v5.DNS)]);`)]));
    assert.equal(r.status, 'ok', JSON.stringify(r.results[0]?.error));
    const real = req('uuid') as { v5: ((n: string, ns: string) => string) & { DNS: string } };
    assert.deepEqual(claims(r).r, ['no defineProperty today', true, real.v5('x', real.v5.DNS)]);
  });
});

describe('what require() may not reach', () => {
  const refused = [
    'lodash/../../etc/passwd', 'lodash/../knex', 'lodash/./get', 'lodash//get', '/etc/passwd', './lodash', '../lodash',
    'lodash\\get', 'LODASH', 'lodash/get.js/..', '%2e%2e', 'lodash/%2e%2e/knex', 'lodash/\u0000', 'lodash/' + 'a'.repeat(300),
    'lodash.', 'lodash.MERGE', 'lodash.merge/x', 'lodash._basemerge', 'lodash.nosuchmethod', 'lodash.' + 'a'.repeat(41),
    // Installed with the server, not offered: its own dependencies and the dependencies' dependencies.
    'knex', 'isolated-vm', 'better-sqlite3', 'oidc-provider', 'argon2', 'side-channel', 'object-inspect', 'esbuild', 'jose',
  ];
  test('the host answers nothing for a path out of a package or a package not offered', () => {
    for (const s of refused) {
      assert.equal(packageBundle(s), '', s);
      assert.equal(hostBridge('package', s, '', ''), '', s);
    }
    assert.equal(packageBundle('lodash/no-such-method'), '');
  });
  test('in an action, each is a clear error, and the server\'s own files are never in a bundle', async () => {
    const r = await pool.runChain(request([postLogin(`
      api.idToken.setCustomClaim('r', ${JSON.stringify(refused)}.map((s) => { try { require(s); return 'loaded ' + s; } catch (e) { return e.message; } }));`)]));
    assert.equal(r.status, 'ok', JSON.stringify(r.results[0]?.error));
    for (const m of claims(r).r as string[]) assert.match(m, /is not available/, m);
    for (const name of [...Object.keys(PACKAGES), 'lodash/fp', 'lodash/get', 'lodash.merge']) {
      const b = JSON.parse(packageBundle(name)) as { entry: string; files: Record<string, { deps: Record<string, string> }> };
      assert.ok(Object.keys(b.files).length > 0, name);
      for (const [k, f] of Object.entries(b.files)) {
        assert.ok(k === '(empty)' || /^(@[^/]+\/)?[^/.][^/]*\/.+\.(c?js|json)$/.test(k), `${name}: ${k}`);
        assert.ok(!k.includes('..'), `${name}: ${k}`);
        for (const dep of Object.values(f.deps)) assert.ok(Object.hasOwn(b.files, dep), `${name}: ${k} requires ${dep}, which is not in the bundle`);
      }
    }
  });
  test('qs reaches its own dependencies (side-channel and the rest) through its files only', async () => {
    const keys = Object.keys((JSON.parse(packageBundle('qs')) as { files: object }).files);
    assert.ok(keys.some((k) => k.startsWith('side-channel/')), 'qs needs side-channel');
    assert.ok(keys.includes('(empty)'), "object-inspect's util.inspect.js (browser: false) is an empty module");
    assert.ok(!keys.some((k) => k.endsWith('.mjs')), 'ES modules Node.js 24 would pick under module-sync are replaced by their CommonJS entry');
  });
});

describe('review findings: what a bundle may hold, and what a lookup costs', () => {
  /** An offered package and its runtime dependencies (package.json `dependencies`), transitively, by name. */
  const closure = (pkg: string): Set<string> => {
    const out = new Set<string>();
    const queue = [pkg];
    while (queue.length > 0) {
      const name = queue.pop()!;
      if (out.has(name)) continue;
      out.add(name);
      const manifest = JSON.parse(readFileSync(join(dirname(req.resolve(`${name}/package.json`, { paths: [join(dirname(req.resolve('lodash/package.json')), '..', pkg)] })), 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
      for (const d of Object.keys(manifest.dependencies ?? {})) queue.push(d);
    }
    return out;
  };
  const packagesIn = (json: string) => new Set(Object.keys((JSON.parse(json) as { files: object }).files).filter((k) => k !== '(empty)').map((k) => (k.startsWith('@') ? k.split('/').slice(0, 2).join('/') : k.split('/')[0])));

  test('files come only from the package and its runtime dependencies: not from what its tests require (qs\'s: iconv-lite)', () => {
    // Regression (security review, MEDIUM): qs/test/parse was an entry, and the walk followed its
    // requires to iconv-lite and safer-buffer, installed with the server but not offered.
    assert.equal(packageBundle('qs/test/parse'), '');
    assert.equal(packageBundle('qs/test/utils.js'), '');
    for (const name of Object.keys(PACKAGES)) {
      const allowed = closure(name);
      for (const p of packagesIn(packageBundle(name))) assert.ok(allowed.has(p), `${name}'s bundle holds ${p}, which it does not depend on`);
    }
  });

  test('only code files are entries: READMEs, type declarations, source maps, licences and ES modules are not served', () => {
    // Regression (security review, LOW): any file of an offered package could be asked for.
    for (const s of ['qs/README.md', 'moment/moment.d.ts', 'lodash/LICENSE', 'moment/min/moment.min.js.map', 'qs/eslint.config.mjs', 'lodash/README.md', 'crypto-js/docs/QuickStartGuide.wiki']) assert.equal(packageBundle(s), '', s);
    assert.notEqual(packageBundle('lodash/package.json'), '', 'JSON is code (a package may require its package.json)');
  });

  test('a relative require computed at run time resolves inside the requiring file\'s package only, from a file this worker served', () => {
    assert.ok(packageBundle('moment') !== '');
    const key = (JSON.parse(packageBundle('moment')) as { entry: string }).entry;
    assert.notEqual(packageBundleFrom(key, './locale/fr'), '');
    for (const [from, spec] of [[key, '../qs/lib/index.js'], [key, '../../package.json'], [key, './locale/../../knex/knex'], ['knex/knex.js', './lib/index'], ['moment/not-served.js', './locale/fr'], [key, 'lodash'], [key, '/etc/passwd'], [key, './README.md']] as const) {
      assert.equal(packageBundleFrom(from, spec), '', `${from} ${spec}`);
      assert.equal(hostBridge('package.from', from, spec, ''), '', `${from} ${spec}`);
    }
  });

  test('Map.prototype replaced by the action does not make require ask the host again; lookups per execution are capped', async () => {
    // Regression (security review, LOW): the guest's caches used Map.prototype as the action left it.
    const r = await pool.runChain(request([postLogin(`
      require('lodash');
      Map.prototype.has = () => false; Map.prototype.get = () => undefined; Map.prototype.set = function () { return this; };
      let ok = 0; for (let i = 0; i < 300; i++) if (require('lodash').VERSION) ok++;
      let capped; try { for (let i = 0; i < 300; i++) { try { require('lodash/nope-' + i); } catch (e) { if (/package lookups/.test(e.message)) throw e; } } capped = 'no cap'; } catch (e) { capped = e.message; }
      api.idToken.setCustomClaim('r', [ok, capped]);`)]));
    assert.equal(r.status, 'ok', JSON.stringify(r.results[0]?.error));
    const [ok, capped] = claims(r).r as [number, string];
    assert.equal(ok, 300);
    assert.match(capped, /more than 200 package lookups in one execution/);
  });

  test('a secret that is part of a module\'s name does not change what require matches; messages are still scrubbed', async () => {
    // Regression (security review): require('moment') failed as require('m[REDACTED]t') with the secret 'omen'.
    const r = await pool.runChain(request([postLogin(`
      let msg; try { require('xomenx-package'); } catch (e) { msg = e.message; }
      api.idToken.setCustomClaim('r', [require('moment').version, msg.slice(0, 40)]);`, { secrets: { S: 'omen' } })]));
    assert.equal(r.status, 'ok', JSON.stringify(r.results[0]?.error));
    const [version, msg] = claims(r).r as [string, string];
    assert.equal(version, req('moment/package.json').version);
    assert.match(msg, /^require\('x\[REDACTED\]x-package'\)/);
  });
});
