import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import { hostBridge } from './host-bridge.ts';

/*
 * The one host function guest code reaches: the guest prelude only ever sends it well-formed
 * arguments, so what it does with anything else is tested here, directly (action code that
 * got hold of it could send anything).
 */
test('digest and hmac.raw: MD5 and the four SHA hashes on hex input; anything else answers the empty string', () => {
  const hex = Buffer.from('abc').toString('hex');
  assert.equal(hostBridge('digest', 'sha256', hex, ''), createHash('sha256').update('abc').digest('hex'));
  assert.equal(hostBridge('hmac.raw', 'sha512', '0909', hex), createHmac('sha512', Buffer.from([9, 9])).update('abc').digest('hex'));
  assert.equal(hostBridge('digest', 'sha1', '', ''), createHash('sha1').digest('hex'), 'empty data is data');
  // MD5 for require('crypto') (a Gravatar URL); the guest's crypto.subtle has no MD5, as WebCrypto.
  assert.equal(hostBridge('digest', 'md5', hex, ''), createHash('md5').update('abc').digest('hex'));
  for (const [op, a, b, c] of [
    ['digest', 'md4', hex, ''], ['digest', 'SHA256', hex, ''], ['digest', 'sha256', 'abc', ''], ['digest', 'sha256', '6', ''],
    ['digest', 'sha256', 'AB', ''], ['digest', 'sha256', `${hex}zz`, ''],
    ['hmac.raw', 'sha256', '', hex], ['hmac.raw', 'sha256', 'xy', hex], ['hmac.raw', 'sha256', '0909', 'q'], ['hmac.raw', 'sha224', '0909', hex],
    ['digest', 'sha256', 'aa'.repeat(600 * 1024), ''],
  ] as const) {
    assert.equal(hostBridge(op, a, b, c), '', `${op} ${a} ${b.slice(0, 20)} ${c.slice(0, 20)}`);
  }
  assert.equal(hostBridge('digest', 'sha256', 1 as never, ''), '', 'not a string');
  assert.equal(hostBridge('nope', '', '', ''), '');
});
