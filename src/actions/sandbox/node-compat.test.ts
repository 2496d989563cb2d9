/**
 * Differential test of the guest prelude's Node.js stand-ins (global Buffer; require() of
 * crypto, buffer, url, querystring): every snippet below is evaluated in this Node.js process
 * (the real Buffer and require) and inside the sandbox (one post-login action runs them all and
 * sets the results as one ID-token claim); the two JSON values must be equal. A snippet that
 * throws is compared by the error's `name` and `code` only, never its message.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { createSandboxPool, type SandboxPool } from './index.ts';
import { LIMITS, bothSides, claims, postLogin, request, snippetLoop, snippetTests } from './test-support.ts';

const js = String.raw;

/** [name, JavaScript expression]; may use Buffer, require, crypto, qs, codes(s), t(fn) (see HARNESS). */
const SNIPPETS: [string, string][] = [
  // ---- base64 / base64url
  ['b64: plain', js`Buffer.from('aGVsbG8gd29ybGQ=', 'base64').toString()`],
  ['b64: whitespace', js`Buffer.from(' aGVs\nbG8g\td29y bGQ= \r\n', 'base64').toString()`],
  ['b64: mixed alphabets', js`[Buffer.from('-_+/', 'base64'), Buffer.from('+/-_', 'base64url'), Buffer.from('a-b_c+d/', 'base64')]`],
  ['b64: missing padding', js`['YQ', 'YWI', 'YWJj', 'YWJjZA'].map(s => Buffer.from(s, 'base64').toString())`],
  ['b64: = in the middle', js`['YQ==YWJj', 'YW=Jj', 'YWJj=ZGVm', '=YWJj'].map(s => Buffer.from(s, 'base64'))`],
  ['b64: garbage characters', js`['Y!W@J#j$', 'YW*Jj', '.YWJj.', 'YW Jj ZGVm Z2hp'].map(s => Buffer.from(s, 'base64'))`],
  ['b64: garbage in a long string', js`Buffer.from('aGVsbG8gd29ybGQh' + '*' + 'aGVsbG8gd29ybGQh', 'base64').toString()`],
  ['b64: Latin-1 garbage', js`[Buffer.from('YW\u00e9Jj', 'base64'), Buffer.from('YWJj\u00e9', 'base64')]`],
  ['b64: garbage above U+00FF', js`Buffer.from('YW\u0141Jj', 'base64')`],
  ['b64: length % 4 == 1', js`['Y', 'YWJjZ', 'YWJjZGVmZ'].map(s => Buffer.from(s, 'base64'))`],
  ['b64: padding oddities', js`['YR==', 'YQ===', '====', 'YQ=', 'YQ= =', ''].map(s => Buffer.from(s, 'base64'))`],
  ['b64: encode', js`[[], [0], [0, 1], [255, 254, 253], [251, 255, 191, 1]].map(a => Buffer.from(a).toString('base64'))`],
  ['b64url: encode without padding', js`[[], [0], [0, 1], [251, 255], [251, 255, 191]].map(a => Buffer.from(a).toString('base64url'))`],
  ['b64url: decode with padding', js`Buffer.from('-_8=', 'base64url')`],
  // ---- hex
  ['hex: odd length, invalid pairs, case', js`['abc', 'abzzcd', 'ABCDEF', 'aBcD', 'g0', 'ab cd', ''].map(s => Buffer.from(s, 'hex'))`],
  ['hex: non-ASCII characters', js`Buffer.from('\u0161\u0162', 'hex')`],
  ['hex: encode', js`Buffer.from([0, 15, 16, 255]).toString('hex')`],
  // ---- utf8
  ['utf8: lone continuation bytes', js`Buffer.from([0x61, 0x80, 0x62, 0xbf]).toString()`],
  ['utf8: overlong forms', js`[[0xc0, 0xaf], [0xc1, 0xbf], [0xe0, 0x80, 0xaf], [0xf0, 0x80, 0x80, 0xaf]].map(a => Buffer.from(a).toString())`],
  ['utf8: encoded surrogates', js`[[0xed, 0xa0, 0x80], [0xed, 0xbf, 0xbf, 0x61]].map(a => Buffer.from(a).toString())`],
  ['utf8: truncated sequences', js`[[0x61, 0xe2, 0x82], [0xf0, 0x9f, 0x98], [0xe2, 0x82, 0x41], [0xf0, 0x9f, 0x41], [0xc3]].map(a => Buffer.from(a).toString())`],
  ['utf8: beyond U+10FFFF, F5-FF', js`[[0xf4, 0x90, 0x80, 0x80], [0xf5, 0x80], [0xfe, 0xff]].map(a => Buffer.from(a).toString())`],
  ['utf8: BOM kept', js`[Buffer.from([0xef, 0xbb, 0xbf, 0x61]).toString(), Buffer.from('\ufeffa')]`],
  ['utf8: lone surrogates encoded', js`['a\ud800b', '\udc00', '\udc00\ud800', 'a\ud83d'].map(s => [Buffer.from(s), Buffer.byteLength(s)])`],
  ['utf8: astral and BMP round trip', js`[Buffer.from('😀é€'), Buffer.from('😀é€').toString()]`],
  // ---- latin1 / ascii / utf16le
  ['latin1: chars > 255', js`[Buffer.from('é\u0100\u20ac', 'latin1'), Buffer.from('ÿ', 'binary')]`],
  ['latin1: decode', js`codes(Buffer.from([0xe9, 0x80, 0xff, 0]).toString('latin1'))`],
  ['ascii: encode > 127', js`Buffer.from('é€a', 'ascii')`],
  ['ascii: decode high bytes', js`codes(Buffer.from([0x41, 0xe9, 0xff, 0x80]).toString('ascii'))`],
  ['utf16le: encode', js`[Buffer.from('a€😀', 'utf16le'), Buffer.from('\ud800x', 'ucs2')]`],
  ['utf16le: odd byte count', js`[codes(Buffer.from([0x61, 0, 0x62]).toString('utf16le')), codes(Buffer.from([0x3d, 0xd8]).toString('ucs-2'))]`],
  ['encodings: case-insensitive names', js`['HEX', 'Base64', 'UTF-8', 'Latin1', 'UCS-2', 'Utf16LE', 'BINARY', 'BASE64URL'].map(e => Buffer.from('hi').toString(e))`],
  ['encodings: unknown', js`[t(() => Buffer.from('a').toString('utf9')), t(() => Buffer.from('a', 'utf9'))]`],
  ['encodings: toString(null)', js`t(() => Buffer.from('a').toString(null))`],
  ['encodings: empty or non-string from()', js`[t(() => Buffer.from('a', '')), t(() => Buffer.from('a', 123))]`],
  // ---- toString(enc, start, end)
  ['toString: ranges', js`(b => [b.toString('utf8', 1, 4), b.toString('utf8', -3), b.toString('utf8', 6, 100), b.toString('utf8', 5, 2),
    b.toString('utf8', 1.7, 3.9), b.toString('utf8', '1', '3'), b.toString('hex', 2, 4), b.toString(undefined, 9)])(Buffer.from('hello world'))`],
  ['toString: NaN start/end', js`(b => [b.toString('utf8', NaN, 3), b.toString('utf8', 0, NaN), b.toString('utf8', -Infinity, Infinity)])(Buffer.from('hello'))`],
  ['toString: split UTF-8 character', js`[Buffer.from('é€').toString('utf8', 0, 1), Buffer.from('é€').toString('utf8', 1, 4)]`],
  ['toString: empty range, bad encoding', js`(b => [t(() => b.toString('bogus', 20)), t(() => b.toString('bogus', 3, 1))])(Buffer.from('hello'))`],
  // ---- slice / subarray / fill / write / copy / concat
  ['slice: shares memory', js`(b => { const s = b.slice(1, 3); s[0] = 9; return [b, s, Buffer.isBuffer(s)]; })(Buffer.from([1, 2, 3, 4]))`],
  ['subarray: negative, shares memory', js`(b => { const s = b.subarray(-2); s.fill(7); return [b, s, Buffer.isBuffer(s)]; })(Buffer.from([1, 2, 3, 4]))`],
  ['slice: odd indices', js`(b => [b.slice('1', NaN), b.slice(-100, 2), b.slice(3, 1), b.slice(1.5)])(Buffer.from([1, 2, 3, 4]))`],
  ['map/filter return Buffers', js`(b => [Buffer.isBuffer(b.map(x => x * 2)), b.filter(x => x > 1)])(Buffer.from([1, 2, 3]))`],
  ['fill: strings', js`[Buffer.alloc(7).fill('abc'), Buffer.alloc(7).fill('€'), Buffer.alloc(5).fill('ab', 1, 4), Buffer.alloc(4).fill('6162', 'hex'),
    Buffer.alloc(3).fill(''), Buffer.alloc(4).fill('a', 'ucs2'), Buffer.alloc(2).fill('é', 'latin1'), Buffer.alloc(2).fill('\u0100', 'latin1')]`],
  ['fill: numbers', js`[257, -1, 1.9, -1.5, NaN, Infinity, true, 65].map(v => Buffer.alloc(2).fill(v))`],
  ['fill: Buffer pattern', js`[Buffer.alloc(5).fill(Buffer.from([1, 2]), 1), Buffer.alloc(3).fill(new Uint8Array([7]))]`],
  ['fill: pattern that decodes to nothing', js`[t(() => Buffer.alloc(3).fill('zz', 'hex')), t(() => Buffer.alloc(3).fill('=', 'base64'))]`],
  ['fill: empty Buffer pattern', js`t(() => Buffer.alloc(3).fill(Buffer.alloc(0)))`],
  ['fill: Uint16Array pattern', js`t(() => Buffer.alloc(4).fill(new Uint16Array([0x0102])))`],
  ['fill: offset out of range', js`[t(() => Buffer.alloc(3).fill(1, -1)), t(() => Buffer.alloc(3).fill(1, 0, 100))]`],
  ['fill: end before offset', js`Buffer.alloc(3).fill(1, 2, 1)`],
  ['fill: unknown encoding', js`t(() => Buffer.alloc(3).fill('a', 'bogus'))`],
  ['write: utf8 with offsets', js`(b => [b.write('héllo'), b.write('ab', 4), b.write('xy', 6), b])(Buffer.alloc(6))`],
  ['write: truncation mid UTF-8 character', js`[(b => [b.write('aé€'), b])(Buffer.alloc(4)), (b => [b.write('€', 1, 2), b])(Buffer.alloc(4)),
    (b => [b.write('é', 3), b])(Buffer.alloc(4)), (b => [b.write('😀', 0, 3), b])(Buffer.alloc(4))]`],
  ['write: other encodings', js`[(b => [b.write('abcd', 1, 2, 'latin1'), b])(Buffer.alloc(4)), (b => [b.write('6162zz', 'hex'), b])(Buffer.alloc(4)),
    (b => [b.write('YWJj', 0, 'base64'), b])(Buffer.alloc(4)), (b => [b.write('abc', 'hex'), b])(Buffer.alloc(4))]`],
  ['write: utf16le into odd space', js`(b => [b.write('ab', 0, 3, 'utf16le'), b])(Buffer.alloc(4))`],
  ['write: offset out of range', js`[t(() => Buffer.alloc(4).write('x', -1)), t(() => Buffer.alloc(4).write('x', 10)), t(() => Buffer.alloc(4).write('x', 1.5))]`],
  ['write: length out of range', js`t(() => Buffer.alloc(4).write('xy', 1, 100))`],
  ['write: non-string', js`t(() => Buffer.alloc(4).write(123))`],
  ['copy: ranges', js`(s => [0, 1, 2, 3, 4, 5].map(i => { const tg = Buffer.alloc(4); const args = [[], [1, 2, 4], [2], [0, 4, 2], [0, 2, 100], [10]][i];
    return [s.copy(tg, ...args), tg]; }))(Buffer.from([1, 2, 3, 4, 5, 6]))`],
  ['copy: into Uint8Array, overlapping', js`[(u => [Buffer.from([1, 2]).copy(u, 1), Array.from(u)])(new Uint8Array(3)), (b => [b.copy(b, 2, 0, 4), b])(Buffer.from([1, 2, 3, 4, 5, 6]))]`],
  ['copy: negative targetStart', js`(tg => [t(() => Buffer.from([1, 2]).copy(tg, -1)), tg])(Buffer.alloc(2))`],
  ['copy: sourceStart out of range', js`[t(() => Buffer.from([1, 2]).copy(Buffer.alloc(2), 0, 10)), t(() => Buffer.from([1, 2]).copy(Buffer.alloc(2), 0, -1))]`],
  ['copy: non-Uint8Array target', js`t(() => Buffer.from([1]).copy([0]))`],
  ['concat: lengths', js`(a => [Buffer.concat([a, Buffer.from([3])]), Buffer.concat([a, a], 3), Buffer.concat([a, a], 6), Buffer.concat([a, new Uint8Array([9])]), Buffer.concat([])])(Buffer.from([1, 2]))`],
  ['concat: empty list with totalLength', js`Buffer.concat([], 5)`],
  ['concat: invalid', js`[t(() => Buffer.concat([Buffer.from('a'), 'x'])), t(() => Buffer.concat('x')), t(() => Buffer.concat([Buffer.from('a')], -1))]`],
  // ---- Buffer.from / new Buffer
  ['from: array values', js`Buffer.from([256, -1, 1.5, '7', 'x', null, true, undefined, 2 ** 32 + 1, -129, {}, 1e21])`],
  ['from: typed arrays', js`[Buffer.from(new Uint16Array([1, 256, 65535])), Buffer.from(new Float64Array([1.9, -1.5, NaN])), Buffer.from(new Int8Array([-1]))]`],
  ['from: ArrayBuffer shares memory', js`(ab => { const b = Buffer.from(ab, 1, 3); b[0] = 9; return [b, Buffer.from(ab, 2), Array.from(new Uint8Array(ab))]; })(new Uint8Array([1, 2, 3, 4, 5]).buffer)`],
  ['from: ArrayBuffer offset/length out of range', js`[t(() => Buffer.from(new ArrayBuffer(4), 5)), t(() => Buffer.from(new ArrayBuffer(4), 1, 4))]`],
  ['from: ArrayBuffer negative length, NaN offset', js`[t(() => Buffer.from(new ArrayBuffer(4), 1, -1)), t(() => Buffer.from(new ArrayBuffer(2), NaN))]`],
  ['from: Buffer JSON', js`[Buffer.from({ type: 'Buffer', data: [1, 2, 300] }), Buffer.from(JSON.parse(JSON.stringify(Buffer.from('hi')))), t(() => Buffer.from({ type: 'Buffer', data: 'ab' }))]`],
  ['from: valueOf / toPrimitive', js`[Buffer.from({ valueOf: () => 'abc' }), Buffer.from({ valueOf: () => [1, 2] }), Buffer.from({ [Symbol.toPrimitive]: () => '6162' }, 'hex'),
    Buffer.from(new String('xyz')), t(() => Buffer.from({ [Symbol.toPrimitive]: () => 5 })), t(() => Buffer.from({ valueOf: () => 5 }))]`],
  ['from: array-likes', js`[Buffer.from({ length: 2, 0: 65, 1: 66 }), Buffer.from({ length: 0 })]`],
  ['from: odd array-likes', js`[t(() => Buffer.from({ length: 'x' })), t(() => Buffer.from({ length: -1 })), t(() => Buffer.from(new DataView(new ArrayBuffer(2))))]`],
  ['from: copies a Buffer', js`(a => { const b = Buffer.from(a); b[0] = 2; return [a, b]; })(Buffer.from([1]))`],
  ['from: invalid inputs', js`[null, undefined, 5, true, Symbol('s'), () => 1, 5n].map(v => t(() => Buffer.from(v)))`],
  ['new Buffer: string, array, size', js`[new Buffer('YWI=', 'base64'), new Buffer([1, 300]), new Buffer(3), new Buffer(Buffer.from('x'))]`],
  ['new Buffer: Buffer JSON', js`t(() => new Buffer({ type: 'Buffer', data: [1] }))`],
  ['new Buffer: null', js`t(() => new Buffer(null))`],
  ['Buffer() without new', js`t(() => Buffer('ab'))`],
  // ---- byteLength, compare, equals, isEncoding, alloc
  ['byteLength: encodings', js`['utf8', 'utf16le', 'ucs2', 'latin1', 'binary', 'ascii', undefined].map(e => Buffer.byteLength('héllo€😀', e))`],
  ['byteLength: hex, base64', js`[['abcdef', 'hex'], ['abc', 'hex'], ['YWJj', 'base64'], ['YQ==', 'base64'], ['YQ', 'base64'], ['YQ', 'base64url'], ['YW Jj', 'base64'], ['', 'hex']].map(([s, e]) => Buffer.byteLength(s, e))`],
  ['byteLength: invalid hex', js`Buffer.byteLength('zzzz', 'hex')`],
  ['byteLength: base64 with garbage', js`[Buffer.byteLength('Y W J j Z A', 'base64'), Buffer.byteLength('YQ==YQ==', 'base64')]`],
  ['byteLength: unknown encoding', js`t(() => Buffer.byteLength('abc', 'bogus'))`],
  ['byteLength: binary and invalid', js`[Buffer.byteLength(new Uint16Array(3)), Buffer.byteLength(new ArrayBuffer(5)), Buffer.byteLength(new DataView(new ArrayBuffer(2))), t(() => Buffer.byteLength(123)), Buffer.byteLength('\ud800')]`],
  ['compare / equals', js`(B => [Buffer.compare(B([1, 2]), B([1, 3])), Buffer.compare(B([1, 3]), B([1, 2])), Buffer.compare(B([1]), B([1, 0])), Buffer.compare(B([]), B([])),
    [B([3]), B([1, 2]), B([1])].sort(Buffer.compare), B([1, 2]).equals(B([1, 2])), B([1, 2]).equals(new Uint8Array([1, 2])), B([1]).equals(B([2])), B([2]).compare(B([1]))])(a => Buffer.from(a))`],
  ['compare / equals: invalid', js`[t(() => Buffer.compare(Buffer.from('a'), 'a')), t(() => Buffer.from('a').equals('a')), t(() => Buffer.from('a').compare([97]))]`],
  ['compare: with ranges', js`Buffer.from([1, 2, 3]).compare(Buffer.from([1, 9]), 0, 1, 0, 1)`],
  ['isEncoding', js`['utf8', 'UTF8', 'Utf-8', 'hex', 'HEX', 'base64', 'BASE64URL', 'latin1', 'Binary', 'ascii', 'ucs2', 'UCS-2', 'utf16le', 'UTF-16LE', 'utf16', 'utf-16', 'utf32', 'buffer', '', null, undefined, 1].map(e => Buffer.isEncoding(e))`],
  ['isBuffer', js`[Buffer.isBuffer(Buffer.alloc(1)), Buffer.isBuffer(new Uint8Array(1)), Buffer.isBuffer('a'), Buffer.isBuffer(Buffer.from('a').subarray(0))]`],
  ['alloc: fill', js`[Buffer.alloc(5), Buffer.alloc(5, 'ab'), Buffer.alloc(5, 'YWI=', 'base64'), Buffer.alloc(4, 257), Buffer.alloc(4, Buffer.from([1, 2, 3])), Buffer.alloc(0, 'x'), Buffer.alloc(3, '')]`],
  ['alloc: invalid size', js`[-1, NaN, 2 ** 53].map(n => t(() => Buffer.alloc(n)))`],
  ['alloc: string size', js`t(() => Buffer.alloc('3'))`],
  ['alloc: fractional size', js`t(() => Buffer.alloc(1.5))`],
  ['alloc: invalid hex fill', js`t(() => Buffer.alloc(2, 'zz', 'hex'))`],
  ['allocUnsafe', js`[Buffer.allocUnsafe(3).length, Buffer.isBuffer(Buffer.allocUnsafe(0)), t(() => Buffer.allocUnsafe(-1))]`],
  ['Uint8Array methods given strings', js`(b => [b.indexOf('b'), b.includes('c'), b.lastIndexOf('a'), b.toLocaleString()])(Buffer.from('abc'))`],
  ['toJSON / JSON.stringify', js`[Buffer.from([1, 2]).toJSON(), JSON.stringify({ b: Buffer.from('hi') }), String(Buffer.from('hé'))]`],
  // ---- read* / write*
  ['read: every method at valid offsets', js`(b => ['UInt8', 'Uint8', 'Int8', 'UInt16BE', 'UInt16LE', 'Uint16BE', 'Int16BE', 'Int16LE', 'UInt32BE', 'UInt32LE', 'Uint32LE', 'Int32BE', 'Int32LE']
    .map(m => [0, 1, 4].map(o => b['read' + m](o))))(Buffer.from([0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0]))`],
  ['read: default offset', js`[Buffer.from([0xff]).readUInt8(), Buffer.from([0xff, 0xfe]).readInt16LE(), Buffer.from([1, 2, 3, 4]).readUInt32BE(undefined)]`],
  ['read: out of range', js`(b => [5, 8, -1, 1.5, NaN, Infinity].map(o => t(() => b.readUInt32BE(o))))(Buffer.alloc(8))`],
  ['read: short buffer', js`[t(() => Buffer.alloc(2).readUInt32BE(0)), t(() => Buffer.alloc(0).readUInt8(0))]`],
  ['read: short buffer, offset > 0', js`t(() => Buffer.alloc(2).readUInt32BE(1))`],
  ['read: non-number offset', js`[t(() => Buffer.alloc(4).readUInt8('1')), t(() => Buffer.alloc(4).readUInt8(null))]`],
  ['write: integers in range', js`(b => [b.writeUInt32BE(0xdeadbeef, 0), b.writeInt16LE(-2, 4), b.writeUInt8(255, 6), b.writeInt8(-128, 7), [...b],
    b.writeUInt16LE(0x1234), b.writeInt32LE(-1, 4), b.writeUint16BE(7, 1), b.writeUInt8(1.7, 6), b.writeUInt8('9', 7), b.writeUInt8(NaN, 5), b])(Buffer.alloc(8))`],
  ['write: values out of range', js`[['writeUInt8', 256], ['writeInt8', 128], ['writeInt8', -129], ['writeUInt16BE', -1], ['writeUInt32LE', 2 ** 32], ['writeInt32BE', 2 ** 31]]
    .map(([m, v]) => t(() => Buffer.alloc(4)[m](v)))`],
  ['write: offsets out of range', js`(b => [5, -1, 1.5].map(o => t(() => b.writeUInt32BE(1, o))))(Buffer.alloc(8))`],
  // ---- require('crypto'): hashes and HMAC
  ['hash: each algorithm', js`['md5', 'sha1', 'sha256', 'sha384', 'sha512'].map(a => [crypto.createHash(a).update('abc').digest('hex'), crypto.createHash(a).digest('base64')])`],
  ['hash: input encodings', js`[['616263', 'hex'], ['YWJj', 'base64'], ['YWJj', 'base64url'], ['é', 'latin1'], ['é', 'utf8'], ['é', 'utf16le'], ['é', undefined], ['é', 'binary']]
    .map(([s, e]) => crypto.createHash('sha256').update(s, e).digest('hex'))`],
  ['hash: binary input, several updates', js`[crypto.createHash('sha1').update(Buffer.from([1, 2, 3])).update(new Uint16Array([258])).update('x').digest('hex'),
    crypto.createHash('sha256').update(new DataView(new ArrayBuffer(3))).digest('hex')]`],
  ['hash: digest encodings', js`['hex', 'base64', 'base64url', 'latin1', 'binary', 'buffer', undefined].map(e => crypto.createHash('md5').update('x').digest(e))`],
  ['hash: digest utf8/ucs2', js`['utf8', 'ucs2'].map(e => codes(crypto.createHash('md5').update('x').digest(e)))`],
  ['hash: algorithm name spelling', js`['SHA256', 'Sha1', 'MD5', 'sha-256', 'SHA-512', 'sha-1'].map(a => t(() => crypto.createHash(a).update('a').digest('hex')))`],
  ['hash: names Node rejects', js`['md-5', 'sha3-84', 's-ha1'].map(a => t(() => crypto.createHash(a).digest('hex')))`],
  ['hash: unknown algorithm', js`t(() => crypto.createHash('nope'))`],
  ['hmac: unknown algorithm', js`t(() => crypto.createHmac('nope', 'k'))`],
  ['hash: non-string algorithm', js`[t(() => crypto.createHash()), t(() => crypto.createHash(123)), t(() => crypto.createHmac(123, 'k'))]`],
  ['hash: update after digest', js`(h => { h.digest(); return [t(() => h.update('a')), t(() => h.digest())]; })(crypto.createHash('sha256'))`],
  ['hmac: update after digest', js`(h => { h.digest(); return t(() => h.update('a')); })(crypto.createHmac('sha256', 'k'))`],
  ['hmac: digest twice', js`(h => { h.digest(); return t(() => h.digest('hex')); })(crypto.createHmac('sha256', 'k'))`],
  ['hash: invalid data', js`[t(() => crypto.createHash('sha1').update(123)), t(() => crypto.createHash('sha1').update(null)), t(() => crypto.createHash('sha1').update(new ArrayBuffer(1)))]`],
  ['hash: odd-length hex input', js`t(() => crypto.createHash('sha1').update('abc', 'hex').digest('hex'))`],
  ['hash: unknown input encoding', js`t(() => crypto.createHash('sha1').update('abc', 'bogus').digest('hex'))`],
  ['hash: unknown digest encoding', js`t(() => crypto.createHash('sha1').update('abc').digest('bogus'))`],
  ['hmac: each algorithm', js`['md5', 'sha1', 'sha256', 'sha384', 'sha512'].map(a => crypto.createHmac(a, 'key').update('The quick brown fox jumps over the lazy dog').digest('hex'))`],
  ['hmac: empty key', js`['md5', 'sha1', 'sha256', 'sha384', 'sha512'].map(a => [crypto.createHmac(a, '').update('x').digest('hex'), crypto.createHmac(a, Buffer.alloc(0)).digest('base64')])`],
  ['hmac: key lengths around the block size', js`[63, 64, 65, 127, 128, 129, 300].map(n => ['sha256', 'sha512'].map(a => crypto.createHmac(a, Buffer.alloc(n, n)).update('data').digest('hex')))`],
  ['hmac: key types', js`[Buffer.from([0, 1, 255]), 'ké€', new Uint16Array([258, 772]), '\ud800'].map(k => crypto.createHmac('sha1', k).update('d').digest('hex'))`],
  ['hmac: key with zero bytes vs empty', js`[crypto.createHmac('sha256', Buffer.alloc(1)).digest('hex') === crypto.createHmac('sha256', '').digest('hex')]`],
  ['hmac: input encodings, digest buffer', js`[crypto.createHmac('sha256', 'k').update('6869', 'hex').update('aGk=', 'base64').digest(), crypto.createHmac('md5', 'k').update('ÿ', 'latin1').digest('base64url')]`],
  ['hmac: missing or invalid key', js`[undefined, null, 123, {}].map(k => t(() => crypto.createHmac('sha256', k)))`],
  ['crypto.hash one-shot', js`[crypto.hash('sha1', 'abc'), crypto.hash('sha256', Buffer.from('abc')), crypto.hash('md5', 'abc', 'base64'), crypto.hash('sha512', 'abc', 'buffer'), crypto.hash('SHA384', '')]`],
  ['crypto.hash: unknown algorithm', js`t(() => crypto.hash('nope', 'x'))`],
  ['crypto.hash: invalid input', js`[t(() => crypto.hash('sha1', 5)), t(() => crypto.hash('sha1', null))]`],
  ['crypto.hash: unknown output encoding', js`t(() => crypto.hash('sha1', 'x', 'bogus'))`],
  ['crypto.hash: BUFFER output', js`t(() => crypto.hash('sha1', 'x', 'BUFFER'))`],
  ['crypto.hash: options object', js`t(() => crypto.hash('sha1', 'x', { outputEncoding: 'base64' }))`],
  ['getHashes contains the five', js`['md5', 'sha1', 'sha256', 'sha384', 'sha512'].map(h => crypto.getHashes().includes(h))`],
  ['webcrypto digest', js`crypto.webcrypto.subtle.digest('SHA-256', Buffer.from('abc')).then(d => Buffer.from(d).toString('hex'))`],
  ['crypto: subtle and webcrypto', js`[crypto.subtle === crypto.webcrypto.subtle, typeof crypto.webcrypto.getRandomValues, typeof crypto.createSign, require('node:crypto') === crypto, crypto.webcrypto === globalThis.crypto]`],
  // ---- require('crypto'): timingSafeEqual, random
  ['timingSafeEqual', js`[crypto.timingSafeEqual(Buffer.from('ab'), Buffer.from('ab')), crypto.timingSafeEqual(Buffer.from('ab'), Buffer.from('ac')),
    crypto.timingSafeEqual(new Uint16Array([258]), Buffer.from([2, 1])), crypto.timingSafeEqual(Buffer.alloc(0), new Uint8Array(0))]`],
  ['timingSafeEqual: errors', js`[t(() => crypto.timingSafeEqual(Buffer.from('a'), Buffer.from('ab'))), t(() => crypto.timingSafeEqual('a', 'a')), t(() => crypto.timingSafeEqual(Buffer.from('a'), null))]`],
  ['timingSafeEqual: ArrayBuffer', js`t(() => crypto.timingSafeEqual(new ArrayBuffer(2), new ArrayBuffer(2)))`],
  ['randomBytes: shapes', js`[16, 0, 1, 65537].map(n => [crypto.randomBytes(n).length, Buffer.isBuffer(crypto.randomBytes(n))])`],
  ['randomBytes: invalid size', js`[-1, NaN, 2 ** 53].map(n => t(() => crypto.randomBytes(n)))`],
  ['randomBytes: string size', js`t(() => crypto.randomBytes('4'))`],
  ['randomBytes: callback', js`new Promise(r => { let sync = true; const ret = crypto.randomBytes(8, (e, b) => r([e, b.length, Buffer.isBuffer(b), sync, ret])); sync = false; })`],
  ['randomInt: ranges', js`[[10], [-5, 5], [3, 4], [0, 2 ** 48 - 1]].map(a => Array.from({ length: 50 }, () => crypto.randomInt(...a)).every(x => Number.isSafeInteger(x) && x >= (a.length > 1 ? a[0] : 0) && x < a[a.length - 1]))`],
  ['randomInt: callback', js`new Promise(r => crypto.randomInt(3, 5, (e, n) => r([e, n === 3 || n === 4])))`],
  ['randomInt: invalid ranges', js`[[5, 5], [5, 1], [0, 2 ** 48], [-1]].map(a => t(() => crypto.randomInt(...a)))`],
  ['randomInt: non-integers', js`[[1.5], ['5'], [0, 1.5]].map(a => t(() => crypto.randomInt(...a)))`],
  ['randomUUID', js`[/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(crypto.randomUUID()), crypto.randomUUID() !== crypto.randomUUID()]`],
  ['getRandomValues', js`[crypto.getRandomValues(new Uint8Array(4)).length, crypto.getRandomValues(new Uint32Array(2)) instanceof Uint32Array]`],
  ['getRandomValues: errors', js`[t(() => crypto.getRandomValues(new Float32Array(1))), t(() => crypto.getRandomValues(new Uint8Array(65537)))]`],
  // ---- require('querystring')
  ['qs.stringify: arrays, values', js`qs.stringify({ a: [1, 2], b: 'x y', c: '', e: [], n: null, u: undefined, nan: NaN, inf: -Infinity, t: true, f: false, big: 10n, z: -0, e21: 1e21, small: 1e-7, o: { p: 1 }, arr: [null, {}, 'x', [1]] })`],
  ['qs.stringify: unicode, reserved characters', js`[qs.stringify({ 'ké y&': '€😀', r: "!'()*~-_.", s: '&=+ /?#%' }), qs.stringify([1, 2]), qs.stringify('abc'), qs.stringify(null), qs.stringify({})]`],
  ['qs.stringify: custom sep/eq', js`[qs.stringify({ a: 1, b: [2, 3] }, ';', ':'), qs.stringify({ a: 1 }, null, undefined), qs.stringify({ a: 1, b: 2 }, '&&', '==')]`],
  ['qs.stringify: empty sep/eq', js`qs.stringify({ a: 1, b: 2 }, '', '')`],
  ['qs.stringify: lone surrogate', js`[t(() => qs.stringify({ a: '\ud800' })), t(() => qs.escape('\udc00'))]`],
  ['qs.parse: basics', js`[qs.parse('a=1&b=2&a=3&a=4'), qs.parse('a+b=c+d&e=%2B'), qs.parse('&&a=1&&b&=x&'), qs.parse('a==b=c'), qs.parse('%20=%20'), qs.parse(''), qs.parse(123)]`],
  ['qs.parse: malformed escapes', js`[qs.parse('a=%zz&b=%41%&c=%4&d=%%41&e=%E9&f=%E9%41'), qs.parse('k%=1&%zz=2')]`],
  ['qs.parse: malformed escape next to non-ASCII', js`qs.parse('k=é%41%')`],
  ['qs.parse: custom sep/eq', js`[qs.parse('a=1;b=2', ';'), qs.parse('a:1;b:2', ';', ':'), qs.parse('a=>1<>b=>2', '<>', '=>'), qs.parse('a=1&b=2', '', '')]`],
  ['qs.parse: multi-character sep with a partial match', js`qs.parse('x=1aab=2', 'ab')`],
  ['qs.parse: maxKeys', js`[qs.parse('a=1&b=2&c=3', null, null, { maxKeys: 2 }), qs.parse('a&&b&c', null, null, { maxKeys: 2 }), Object.keys(qs.parse('x&'.repeat(1500))).length,
    Object.keys(qs.parse(Array.from({ length: 1500 }, (_, i) => 'k' + i).join('&'), null, null, { maxKeys: 0 })).length]`],
  ['qs.parse: prototype keys, null prototype', js`[qs.parse('__proto__=1&constructor=2&toString=3&hasOwnProperty=4'), Object.getPrototypeOf(qs.parse('a=1')) === null]`],
  ['qs.escape / unescape', js`[qs.escape('a b&é€😀~*'), qs.escape(123), qs.escape({}), qs.unescape('a%20b'), qs.unescape('%zz%41'), qs.unescape('a+b'), codes(qs.unescape('%E9%'))]`],
  ['qs.unescape: non-ASCII next to a bad escape', js`codes(qs.unescape('é%'))`],
  ['qs: custom encode/decode functions', js`[qs.stringify({ a: 'é' }, null, null, { encodeURIComponent: escape }), qs.parse('a=%E9', null, null, { decodeURIComponent: unescape })]`],
  ['qs: aliases', js`[qs.encode === qs.stringify, qs.decode === qs.parse, require('node:querystring') === qs]`],
  // ---- require('buffer'), require('url')
  ['buffer module', js`(m => [m.Buffer === Buffer, m.atob('YWJj'), m.btoa('abc'), m.atob(' YW\nJj '), m.atob('YWJ'), require('node:buffer') === m])(require('buffer'))`],
  ['buffer module: atob/btoa errors', js`(m => ['YQ=', 'YQ==YQ==', 'Y', '-_', 'YQ===', 'YR=='].map(s => t(() => m.atob(s))).concat([t(() => m.btoa('\u0100'))]))(require('buffer'))`],
  ['buffer module: kMaxLength', js`require('buffer').kMaxLength`],
  ['url module', js`(u => [u.URL === URL, u.URLSearchParams === URLSearchParams, new u.URL('https://a.example/p?q=1#h').searchParams.get('q'), new u.URLSearchParams('a=1&a=2').getAll('a')])(require('url'))`],
  // ---- search, byte order, wider integers, floats, BigInts
  ['indexOf: strings, buffers, numbers, offsets', js`(() => { const b = Buffer.from('abcabc'); return [b.indexOf('c'), b.indexOf('c', 3), b.indexOf('c', -2), b.indexOf('bc', 'utf8'), b.indexOf(Buffer.from('ca')), b.indexOf(98 + 256), b.indexOf('YmM=', 0, 'base64'), b.indexOf('', 9), b.indexOf('z'), b.indexOf('c', 99)]; })()`],
  ['lastIndexOf and includes', js`(() => { const b = Buffer.from('abcabc'); return [b.lastIndexOf('bc'), b.lastIndexOf('b', -3), b.lastIndexOf('', 1), b.lastIndexOf('a', -99), b.includes('ca'), b.includes(''), b.includes('cab', 3)]; })()`],
  ['indexOf: bad needle or encoding', js`(() => { const b = Buffer.from('abc'); return [t(() => b.indexOf({})), t(() => b.indexOf('a', 0, 'bogus')), t(() => b.indexOf(null))]; })()`],
  ['swap16/32/64', js`[Buffer.from('abcd').swap16().toString(), Buffer.from('abcdefgh').swap32().toString(), Buffer.from('abcdefgh').swap64().toString(), t(() => Buffer.alloc(3).swap16())]`],
  ['readUIntBE and friends', js`(() => { const b = Buffer.from([1, 2, 3, 250, 251, 252]); return [b.readUIntBE(0, 3), b.readUIntLE(0, 6), b.readIntBE(3, 3), b.readIntLE(3, 2), t(() => b.readUIntBE(0, 7)), t(() => b.readUIntBE()), t(() => b.readIntBE(4, 3))]; })()`],
  ['writeUIntBE and friends', js`(() => { const b = Buffer.alloc(6); return [b.writeUIntBE(0x010203, 0, 3), b.writeIntLE(-2, 3, 3), [...b], t(() => b.writeUIntBE(65536, 0, 2)), t(() => b.writeIntBE(-129, 0, 1))]; })()`],
  ['floats and doubles', js`(() => { const b = Buffer.alloc(12); b.writeFloatBE(1.5, 0); b.writeDoubleLE(-2.25, 4); return [[...b], b.readFloatBE(0), b.readDoubleLE(4), b.writeFloatLE('x', 0), t(() => b.readDoubleBE(5))]; })()`],
  ['BigInts', js`(() => { const b = Buffer.alloc(8); b.writeBigInt64LE(-2n); return [String(b.readBigInt64LE()), String(b.readBigUInt64BE()), String(b.readBigUint64LE()), t(() => b.writeBigInt64BE(1)), t(() => b.writeBigUInt64LE(-1n))]; })()`],
  // ---- more of crypto and buffer
  ['hash.copy', js`(() => { const h = crypto.createHash('sha256').update('a'); const c = h.copy(); c.update('b'); return [h.digest('hex'), c.digest('hex'), t(() => h.copy())]; })()`],
  ['randomFill and randomFillSync', js`new Promise((res) => { const b = Buffer.alloc(8); const same = crypto.randomFillSync(b, 2, 3) === b; const untouched = [b[0], b[1], b[5], b[6], b[7]]; crypto.randomFill(new Uint32Array(2), (err, a) => res([same, untouched, err, a.length, t(() => crypto.randomFillSync(b, 9)), t(() => crypto.randomFill(b))])); })`],
  ['getCiphers, getCurves and getHashes name what is there', js`[['aes-256-gcm', 'aes-128-cbc', 'aes256'].every((c) => crypto.getCiphers().includes(c)), ['prime256v1', 'secp384r1'].every((c) => crypto.getCurves().includes(c)), crypto.getHashes().includes('sha256')]`],
  ['buffer module: isUtf8 and constants', js`(() => { const m = require('buffer'); return [m.isUtf8(Buffer.from('é')), m.isUtf8(Buffer.from([0xc3])), m.isUtf8(new ArrayBuffer(0)), typeof m.constants.MAX_LENGTH, t(() => m.isUtf8('x'))]; })()`],
  // found in review: silently different from Node before
  ['createHmac: options.encoding of a string key', js`[crypto.createHmac('sha256', 'a2V5', { encoding: 'base64' }).update('x').digest('hex'), crypto.createHmac('sha256', '6b6579', { encoding: 'hex' }).update('x').digest('hex'), crypto.createHmac('sha256', 'key', {}).update('x').digest('hex')]`],
  ['writeIntBE: fractions towards zero', js`(() => { const b = Buffer.alloc(4); b.writeIntBE(-1.5, 0, 2); b.writeIntLE(-0.5, 2, 1); b.writeUIntBE(2.7, 3, 1); return [...b]; })()`],
  ['qs.parse: a custom decoder sees every key and value', js`[qs.parse('a=b&c+d=e+f', null, null, { decodeURIComponent: (s) => s.toUpperCase() }), qs.parse('x=%zz', null, null, { decodeURIComponent: (s) => { throw new Error(s); } })]`],
  ['identity: constructor, instanceof, module', js`(() => { const b = Buffer.from('a'); return [b.constructor === Buffer, b instanceof Buffer, b instanceof Uint8Array, require('buffer').Buffer === Buffer, b.subarray(0) instanceof Buffer, b.map((x) => x + 1) instanceof Buffer, Buffer.isBuffer(b.slice()), Buffer.name, typeof Buffer]; })()`],
  ['DOMException legacy codes', js`[t(() => atob('*')), t(() => crypto.getRandomValues(new Float32Array(1)))]`],
];

// Signatures and ciphers: the keys are made here and written into the snippets as PEM text.
const pemOf = (k: KeyObject, type: 'pkcs8' | 'spki') => JSON.stringify(k.export({ type, format: 'pem' }));
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const RSA = pemOf(rsa.privateKey, 'pkcs8'), RSAPUB = pemOf(rsa.publicKey, 'spki'), EC = pemOf(ec.privateKey, 'pkcs8'), ECPUB = pemOf(ec.publicKey, 'spki');
const ED = pemOf(generateKeyPairSync('ed25519').privateKey, 'pkcs8');
const RSA_PKCS1 = JSON.stringify(rsa.privateKey.export({ type: 'pkcs1', format: 'pem' }));
SNIPPETS.push(
  // RSA PKCS#1 v1.5 and Ed25519 signatures are deterministic: equal bytes; ECDSA and PSS are not: each side verifies its own.
  ['sign: RSA-SHA256, createSign and crypto.sign, PKCS#8 and PKCS#1 keys', `[crypto.createSign('RSA-SHA256').update('hel').update(Buffer.from('lo')).sign(${RSA}, 'base64'), crypto.sign('sha256', Buffer.from('x'), crypto.createPrivateKey(${RSA_PKCS1})).toString('hex'), crypto.createSign('sha512').update('x').sign({ key: Buffer.from(${RSA}) }).length]`],
  ['verify: RSA, a public or a private key, a wrong signature', `(() => { const s = crypto.createSign('SHA256').update('hello').sign(${RSA}); return [crypto.createVerify('SHA256').update('hello').verify(${RSAPUB}, s), crypto.createVerify('sha256').update('hello').verify(${RSA}, s.toString('hex'), 'hex'), crypto.createVerify('sha256').update('hellO').verify(${RSAPUB}, s)]; })()`],
  ['sign: RSA-PSS', `(() => { const s = crypto.sign('sha256', Buffer.from('m'), { key: ${RSA}, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }); return [s.length, crypto.verify('sha256', Buffer.from('m'), { key: ${RSAPUB}, padding: 6, saltLength: 32 }, s)]; })()`],
  ['sign: ES256 for a JWT (ieee-p1363) and DER', `(() => { const k = { key: ${EC}, dsaEncoding: 'ieee-p1363' }; const s = crypto.sign('sha256', Buffer.from('jwt'), k); const der = crypto.createSign('sha256').update('jwt').sign(${EC}); return [s.length, crypto.verify('sha256', Buffer.from('jwt'), { key: ${ECPUB}, dsaEncoding: 'ieee-p1363' }, s), crypto.verify('sha256', Buffer.from('jwu'), { key: ${ECPUB}, dsaEncoding: 'ieee-p1363' }, s), der[0], crypto.createVerify('sha256').update('jwt').verify(${ECPUB}, der)]; })()`],
  ['sign: Ed25519 with a null algorithm', `[crypto.sign(null, Buffer.from('e'), ${ED}).toString('base64'), crypto.sign(undefined, Buffer.from('e'), crypto.createPrivateKey(${ED})).length]`],
  ['keys: asymmetricKeyDetails', `[crypto.createPrivateKey(${RSA}).asymmetricKeyDetails.modulusLength, String(crypto.createPublicKey(${RSA}).asymmetricKeyDetails.publicExponent), typeof crypto.createPublicKey(${RSA}).asymmetricKeyDetails.publicExponent, crypto.createPublicKey(${EC}).asymmetricKeyDetails, crypto.createPublicKey(${ECPUB}).asymmetricKeyDetails]`],
  ['keys: createPrivateKey / createPublicKey', `[crypto.createPublicKey(${RSA}).export({ type: 'spki', format: 'pem' }) === ${RSAPUB}, crypto.createPrivateKey(${EC}).type, crypto.createPublicKey(${EC}).type, crypto.createPublicKey(${ECPUB}).asymmetricKeyType, crypto.createPrivateKey(${RSA}).asymmetricKeyType]`],
  ['sign: bad keys and digests', `[t(() => crypto.sign('sha256', Buffer.from('x'), 'garbage')), t(() => crypto.createSign('nope')), t(() => crypto.createSign()), t(() => crypto.sign('sha256', Buffer.from('x'), 42)), t(() => crypto.createSign('sha256').update('x').sign(crypto.createPublicKey(${RSAPUB})))]`],
  ['cipher: AES-256-CBC, base64 and UTF-8 out of several updates', `(() => { const k = Buffer.alloc(32, 7), iv = Buffer.alloc(16, 1); const c = crypto.createCipheriv('aes-256-cbc', k, iv); const parts = [c.update('hello world, this is longer than a block', 'utf8', 'base64'), c.update('!', 'utf8', 'base64'), c.final('base64')]; const d = crypto.createDecipheriv('aes-256-cbc', k, iv); return [parts, d.update(parts.join(''), 'base64', 'utf8'), d.final('utf8')]; })()`],
  ['cipher: a UTF-8 character split between updates', `(() => { const k = Buffer.alloc(16), iv = Buffer.alloc(16); const c = crypto.createCipheriv('aes-128-cbc', k, iv); const ct = Buffer.concat([c.update('ééééééééééééééééé€'), c.final()]); const d = crypto.createDecipheriv('aes-128-cbc', k, iv); return [d.update(ct.subarray(0, 16), undefined, 'utf8'), d.update(ct.subarray(16), undefined, 'utf8'), d.final('utf8')]; })()`],
  ['cipher: AES-GCM with AAD, the tag, a wrong tag', `(() => { const k = Buffer.alloc(16, 3), iv = Buffer.alloc(12, 2); const c = crypto.createCipheriv('aes-128-gcm', k, iv); c.setAAD(Buffer.from('aad')); const ct = Buffer.concat([c.update('secret'), c.final()]); const tag = c.getAuthTag(); const d = crypto.createDecipheriv('aes-128-gcm', k, iv); d.setAAD(Buffer.from('aad')); d.setAuthTag(tag); const pt = d.update(ct, undefined, 'utf8') + d.final('utf8'); const bad = crypto.createDecipheriv('aes-128-gcm', k, iv); bad.setAuthTag(Buffer.alloc(16)); bad.update(ct); return [ct.toString('hex'), tag.toString('hex'), pt, t(() => bad.final())]; })()`],
  ['cipher: CTR gives everything from update; ECB without padding; aes256 alias; string key', `[crypto.createCipheriv('aes-128-ctr', Buffer.alloc(16), Buffer.alloc(16)).update('abc').toString('hex'), (() => { const c = crypto.createCipheriv('aes-128-ecb', Buffer.alloc(16), null); c.setAutoPadding(false); return Buffer.concat([c.update(Buffer.alloc(32)), c.final()]).toString('hex'); })(), (() => { const c = crypto.createCipheriv('aes256', 'k'.repeat(32), 'i'.repeat(16)); return c.update('x', 'utf8', 'hex') + c.final('hex'); })()]`],
  // found in review
  ['keys: export honours type (a private key never comes out as spki)', `(() => { const k = crypto.createPrivateKey(${RSA}); const e = crypto.createPrivateKey(${EC}); return [t(() => k.export({ format: 'pem', type: 'spki' })), t(() => k.export({ format: 'pem' })), k.export({ format: 'pem', type: 'pkcs1' }).split('\\n')[0], e.export({ format: 'pem', type: 'sec1' }).split('\\n')[0], t(() => e.export({ format: 'pem', type: 'pkcs1' })), crypto.createPublicKey(k).export({ format: 'pem', type: 'pkcs1' }).split('\\n')[0], t(() => crypto.createPublicKey(k).export({ format: 'pem', type: 'pkcs8' })), Object.prototype.toString.call(k)]; })()`],
  ['keys: KeyObjects in, as Node takes them', `(() => { const k = crypto.createPrivateKey(${RSA}); const pub = crypto.createPublicKey(k); return [t(() => crypto.createPrivateKey(k)), t(() => crypto.createPublicKey(pub)), t(() => crypto.createSign('ecdsa-with-SHA256')), crypto.sign('sha256', 'a string', k).length]; })()`],
  ['sign: options checked (padding, saltLength, dsaEncoding)', `[t(() => crypto.sign('sha256', Buffer.from('x'), { key: ${RSA}, padding: 'pss' })), t(() => crypto.sign('sha256', Buffer.from('x'), { key: ${EC}, dsaEncoding: 'x' })), t(() => crypto.sign('sha256', Buffer.from('x'), { key: ${RSA}, padding: 6, saltLength: '3' }))]`],
  ['sign and verify objects are single use', `(() => { const s = crypto.createSign('sha256'); s.update('x'); s.sign(${RSA}); const v = crypto.createVerify('sha256'); v.update('x'); v.verify(${RSAPUB}, Buffer.alloc(1)); return [t(() => s.update('y')), t(() => s.sign(${RSA})), t(() => v.update('y')), t(() => v.verify(${RSAPUB}, Buffer.alloc(1)))]; })()`],
  ['cipher: setAAD adds up; AEAD calls on CBC; tag length and a second tag', `(() => { const k = Buffer.alloc(16, 3), iv = Buffer.alloc(12, 2); const c = crypto.createCipheriv('aes-128-gcm', k, iv); c.setAAD(Buffer.from('a')); c.setAAD(Buffer.from('b')); c.update('x'); c.final(); const cbc = crypto.createCipheriv('aes-128-cbc', k, Buffer.alloc(16)); const d = crypto.createDecipheriv('aes-128-gcm', k, iv); return [c.getAuthTag().toString('hex'), t(() => cbc.setAAD(Buffer.alloc(1))), t(() => d.setAuthTag(Buffer.alloc(3))), t(() => { d.setAuthTag(Buffer.alloc(16)); return d.setAuthTag(Buffer.alloc(16)); })]; })()`],
  ['cipher: 512 KB of AAD (it travels apart from the parameters)', `(() => { const c = crypto.createCipheriv('aes-256-gcm', Buffer.alloc(32, 1), Buffer.alloc(12, 2)); c.setAAD(Buffer.alloc(512 * 1024, 7)); c.update('x'); c.final(); return c.getAuthTag().toString('hex'); })()`],
  ['FormData: a third argument is for Blobs only', `t(() => new FormData().append('a', 'b', 'c.txt'))`],
  ['cipher: bad key length, IV, name, padding; state errors', `[t(() => crypto.createCipheriv('aes-256-cbc', Buffer.alloc(5), Buffer.alloc(16))), t(() => crypto.createCipheriv('aes-256-cbc', Buffer.alloc(32), Buffer.alloc(5))), t(() => crypto.createCipheriv('nope-cbc', Buffer.alloc(8), Buffer.alloc(8))), (() => { const d = crypto.createDecipheriv('aes-128-cbc', Buffer.alloc(16), Buffer.alloc(16)); d.update(Buffer.alloc(16)); return t(() => d.final()); })(), (() => { const c = crypto.createCipheriv('aes-128-cbc', Buffer.alloc(16), Buffer.alloc(16)); c.final(); return [t(() => c.update('x')), t(() => c.final())]; })()]`],
);

// ---- require('util')
SNIPPETS.push(
  ['util: promisify resolves with the first value, rejects with the error, passes this', js`(async () => { const f = util.promisify(function (a, b, cb) { cb(null, [this && this.k, a + b], 'second'); }); const g = util.promisify((cb) => cb(Object.assign(new Error('boom'), { code: 'E_X' }))); const h = util.promisify(() => { throw new TypeError('sync'); }); return [await f.call({ k: 1 }, 2, 3), await g().catch((e) => [e.message, e.code]), await h().catch((e) => e.name)]; })()`],
  ['util: promisify.custom and bad arguments', js`(() => { const f = () => {}; const custom = () => 'custom'; f[util.promisify.custom] = custom; return [util.promisify(f) === custom, util.promisify.custom === Symbol.for('nodejs.util.promisify.custom'), t(() => util.promisify(1)), typeof util.promisify(function named(cb) { cb(); })]; })()`],
  ['util: callbackify', js`new Promise((resolve) => { const out = []; util.callbackify(async (x) => x * 2)(21, (err, v) => { out.push([err, v]); util.callbackify(async () => { throw new RangeError('no'); })((err2) => { out.push([err2.name, err2.message]); util.callbackify(() => Promise.reject(null))((err3) => { out.push([err3.code, err3.reason]); resolve(out); }); }); }); })`],
  ['util: callbackify without a callback', js`t(() => util.callbackify(async () => 1)(1))`],
  ['util: format', js`[util.format('%s=%d (%i) %j %%', 'a', 42.5, 42.5, { b: [1] }), util.format('%s', 'x', 'extra', 3), util.format(1, 'two', null, undefined), util.format('no args %s'), util.format('%d', '0x10'), util.format({ a: 1, b: 'c' }, [1, 2])]`],
  ['util: inspect of plain data', js`[util.inspect({ a: 1, b: 'two', c: [1, 2, { d: null }] }), util.inspect('str'), util.inspect([1, 'a', true, undefined]), util.inspect(new Map([['k', 1]])), util.inspect(new Set([1])), util.inspect(-0), util.inspect(10n), typeof util.inspect.custom]`],
  ['util: inherits', js`(() => { function A() {} A.prototype.hi = function () { return 'hi'; }; function B() { A.call(this); } util.inherits(B, A); return [new B().hi(), B.super_ === A, new B() instanceof A, t(() => util.inherits(B, null)), t(() => util.inherits(null, A))]; })()`],
  ['util: isDeepStrictEqual', js`[
    util.isDeepStrictEqual({ a: [1, { b: 2 }] }, { a: [1, { b: 2 }] }), util.isDeepStrictEqual({ a: 1 }, { a: '1' }), util.isDeepStrictEqual([1, 2], { 0: 1, 1: 2, length: 2 }),
    util.isDeepStrictEqual(new Date(5), new Date(5)), util.isDeepStrictEqual(new Date(5), new Date(6)), util.isDeepStrictEqual(/a/g, /a/g), util.isDeepStrictEqual(/a/g, /a/i),
    util.isDeepStrictEqual(new Map([[1, { x: 1 }]]), new Map([[1, { x: 1 }]])), util.isDeepStrictEqual(new Map([[{ k: 1 }, 'v']]), new Map([[{ k: 1 }, 'v']])), util.isDeepStrictEqual(new Set([{ a: 1 }, 2]), new Set([2, { a: 1 }])),
    util.isDeepStrictEqual(new Set([1]), new Set([2])), util.isDeepStrictEqual(NaN, NaN), util.isDeepStrictEqual(0, -0), util.isDeepStrictEqual(Buffer.from('ab'), Buffer.from('ab')), util.isDeepStrictEqual(new Uint8Array([1]), Buffer.from([1])),
    util.isDeepStrictEqual(Object.create(null), {}), util.isDeepStrictEqual(new Error('x'), new Error('x')), util.isDeepStrictEqual(new Error('x'), new Error('y')), util.isDeepStrictEqual(new Number(1), new Number(1)), util.isDeepStrictEqual(new String('a'), new String('b')),
    (() => { const a = { n: 1 }; a.self = a; const b = { n: 1 }; b.self = b; return util.isDeepStrictEqual(a, b); })(), util.isDeepStrictEqual({ [Symbol.for('s')]: 1 }, { [Symbol.for('s')]: 2 }), util.isDeepStrictEqual([1, , 3], [1, undefined, 3]), util.isDeepStrictEqual(new Float64Array([NaN]), new Float64Array([NaN])),
  ]`],
  ['util: types', js`(() => { const ty = util.types; const fakeDate = { [Symbol.toStringTag]: 'Date' }; return [ty.isDate(new Date()), ty.isDate(fakeDate), ty.isRegExp(/x/), ty.isRegExp({}), ty.isMap(new Map()), ty.isSet(new Set()), ty.isWeakMap(new WeakMap()), ty.isWeakSet(new WeakSet()), ty.isPromise(Promise.resolve()), ty.isPromise({ then() {} }), ty.isTypedArray(new Uint16Array(1)), ty.isTypedArray([]), ty.isUint8Array(Buffer.alloc(1)), ty.isArrayBuffer(new ArrayBuffer(1)), ty.isArrayBufferView(new DataView(new ArrayBuffer(1))), ty.isAsyncFunction(async () => {}), ty.isAsyncFunction(() => {}), ty.isGeneratorFunction(function* () {}), ty.isNativeError(new TypeError()), ty.isBoxedPrimitive(Object(1n)), ty.isBoxedPrimitive(1), ty.isStringObject(new String('')), ty.isNumberObject(1)]; })()`],
  ['util: the rest', js`[util.isArray([]), util.stripVTControlCharacters('\u001b[31mred\u001b[39m'), util.toUSVString('a\ud800b'), typeof util.debuglog('x'), util.debuglog('x').enabled, util.deprecate((a) => a + 1, 'old')(1), new util.TextDecoder().decode(new util.TextEncoder().encode('é'))]`],
);

// ---- require('events')
SNIPPETS.push(
  ['events: on, once, prepend, emit order and return', js`(() => { const E = require('events'); const e = new E(); const out = []; e.on('x', (a) => out.push('a' + a)); e.prependListener('x', (a) => out.push('p' + a)); e.once('x', (a) => out.push('o' + a)); const r1 = e.emit('x', 1); const r2 = e.emit('x', 2); const r3 = e.emit('nothing'); return [out, r1, r2, r3, e.listenerCount('x'), e.eventNames()]; })()`],
  ['events: removeListener, off of a once, removeAllListeners', js`(() => { const E = require('events'); const e = new E(); const f = () => {}; const g = () => {}; e.on('a', f).on('a', g).once('b', f); e.off('a', f); e.removeListener('b', f); const counts = [e.listenerCount('a'), e.listenerCount('b')]; e.removeAllListeners('a'); return [counts, e.listenerCount('a'), e.listeners('a'), e.eventNames()]; })()`],
  ['events: error without a listener throws; with one it is handled', js`(() => { const E = require('events'); const e = new E(); const a = t(() => e.emit('error', new TypeError('boom'))); const b = t(() => e.emit('error', 'plain')); let got; e.on('error', (err) => { got = err.message; }); e.emit('error', new Error('handled')); return [a, b, got]; })()`],
  ['events: subclassing, newListener, listeners vs rawListeners, maxListeners', js`(() => { const { EventEmitter } = require('events'); class My extends EventEmitter {} const m = new My(); const seen = []; m.on('newListener', (n) => seen.push(n)); const f = () => {}; m.once('x', f); return [m instanceof EventEmitter, seen, m.listeners('x')[0] === f, m.rawListeners('x')[0] === f, m.getMaxListeners(), EventEmitter.defaultMaxListeners, t(() => m.setMaxListeners(-1))]; })()`],
  ['events: events.once resolves with the arguments, rejects on error', js`(async () => { const E = require('events'); const e = new E(); setTimeout(() => e.emit('ready', 1, 2), 1); const ok = await E.once(e, 'ready'); setTimeout(() => e.emit('error', new Error('nope')), 1); const bad = await E.once(e, 'ready').catch((x) => x.message); return [ok, bad]; })()`],
);

/**
 * Where the sandbox differs from Node.js on purpose: each is asserted to still differ, so a
 * change that makes it match fails here until its name is removed. Deliberate limits are not in
 * the table at all: hashing over 512 KB, randomBytes over 1 MiB, algorithms other than md5, sha1,
 * sha256, sha384, sha512 (and getHashes() listing only those), the unsupported crypto functions.
 */
const KNOWN_DIFF = new Set<string>([
  // Deliberate: the largest buffer the sandbox makes, not Node's 2^53 - 1 (an isolate's memory limit is far below either).
  'buffer module: kMaxLength',
  // Deliberate: Node's parser does not backtrack on a partial match of a multi-character separator ({x:'1aab=2'});
  // the sandbox splits on the separator ({x:'1a','':'2'}), as URLSearchParams-minded code expects.
  'qs.parse: multi-character sep with a partial match',
]);

/** Runs SNIPPETS and answers [name, JSON value | {threw: {name, code}}][]; the same text runs in Node.js and in the sandbox. */
const HARNESS = `return (async () => {
  'use strict';
  const crypto = require('crypto'), qs = require('querystring'), util = require('util');
  const codes = (s) => Array.from({ length: s.length }, (_, i) => s.charCodeAt(i));
  const threw = (e) => ({ threw: { name: e == null ? null : e.name ?? null, code: e == null ? null : e.code ?? null } });
  const t = (fn) => { try { return fn(); } catch (e) { return threw(e); } };
  const out = [];
  ${snippetLoop(SNIPPETS)}
  return out;
})();`;

type Results = Map<string, unknown>;
let nodeResults: Results;
let sandboxResults: Results;
let pool: SandboxPool;

before(async () => {
  pool = createSandboxPool({ workers: 1 });
  const limits = { actionTimeoutMs: 10_000, chainTimeoutMs: 20_000, memoryMb: 64, resultBytes: 1 << 20 };
  ({ node: nodeResults, sandbox: sandboxResults } = await bothSides(pool, HARNESS, { Buffer, require: createRequire(import.meta.url) }, '', limits));
});
after(async () => { await pool?.close(); });

describe('the sandbox matches Node.js', () => {
  snippetTests(SNIPPETS, KNOWN_DIFF, () => ({ node: nodeResults, sandbox: sandboxResults }));
});

// Regression: the encoders built a string two or four characters at a time and the decoders an
// array of one number per byte, so a 1 MB buffer's hex or a 4 MB one's base64 ran a 32 MB isolate
// out of memory. Each is one action here, at the smallest memory limit in use in these tests.
test('megabytes encode and decode inside a 32 MB isolate', async () => {
  const limits = { ...LIMITS, memoryMb: 32, actionTimeoutMs: 5000, chainTimeoutMs: 10_000 };
  const cases: [string, string, unknown][] = [
    ['hex of 1 MB', `Buffer.alloc(1 << 20, 7).toString('hex').length`, 2 << 20],
    ['UTF-8 of 4 MB', `Buffer.alloc(4 << 20, 97).toString().length`, 4 << 20],
    ['4 MB from base64', `Buffer.from('QUJD'.repeat(1 << 20), 'base64').length`, 3 << 20],
    ['base64 of 4 MB', `Buffer.alloc(4 << 20, 7).toString('base64').length`, 5592408],
    ['SHA-256 of 512 KB', `require('crypto').createHash('sha256').update(Buffer.alloc(512 * 1024)).digest('hex')`, '07854d2fef297a06ba81685e660c332de36d5d18d546927d30daad6d7fda1541'],
  ];
  for (const [name, expr, expected] of cases) {
    const r = await pool.runChain(request([postLogin(`api.idToken.setCustomClaim('v', ${expr});`)], { limits }));
    assert.equal(r.status, 'ok', `${name}: ${JSON.stringify(r.results[0]?.error)}`);
    assert.deepEqual(claims(r).v, expected, name);
  }
});

// Buffer and the built-in modules are built the first time an action reaches for them (most never
// do): the global behaves as a plain data property all the same.
test('the Buffer global is built on first use and behaves as a data property', async () => {
  const r = await pool.runChain(request([
    postLogin(`const d = Object.getOwnPropertyDescriptor(globalThis, 'Buffer');
      api.idToken.setCustomClaim('first', [typeof Buffer, 'value' in Object.getOwnPropertyDescriptor(globalThis, 'Buffer'), d.enumerable, d.configurable]);`),
    postLogin(`Buffer = 42; api.idToken.setCustomClaim('assigned', [Buffer, Object.getOwnPropertyDescriptor(globalThis, 'Buffer').value, typeof require('buffer').Buffer.from]);`),
    postLogin(`delete globalThis.Buffer; api.idToken.setCustomClaim('deleted', [typeof Buffer, typeof require('crypto').createHash]);`),
  ]));
  assert.equal(r.status, 'ok', JSON.stringify(r.results.map((x) => x.error)));
  assert.deepEqual(claims(r, 0).first, ['function', true, false, true]);
  assert.deepEqual(claims(r, 1).assigned, [42, 42, 'function']);
  assert.deepEqual(claims(r, 2).deleted, ['undefined', 'function']);
});
