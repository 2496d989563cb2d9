import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addressKey } from './address-key.ts';

test('IPv4 is itself; IPv6 is its /64, however it is written; mapped IPv4 is the IPv4 address', () => {
  assert.equal(addressKey('203.0.113.7'), '203.0.113.7');
  assert.equal(addressKey('2001:db8:1:2:3:4:5:6'), '2001:db8:1:2::/64');
  assert.equal(addressKey('2001:DB8:1:2::99'), '2001:db8:1:2::/64');
  assert.equal(addressKey('2001:0db8:0001:0002:ffff::1'), '2001:db8:1:2::/64', 'leading zeros do not make another key');
  assert.equal(addressKey('2001:db8::1'), '2001:db8:0:0::/64');
  assert.equal(addressKey('::1'), '0:0:0:0::/64');
  assert.equal(addressKey('fe80::1%eth0'), 'fe80:0:0:0::/64');
  assert.equal(addressKey('::ffff:198.51.100.4'), '198.51.100.4');
  assert.equal(addressKey('64:ff9b::198.51.100.4'), '64:ff9b:0:0::/64');
  assert.equal(addressKey(''), '');
  // Two hosts of one /64 share a key; neighbours in different /64s do not.
  assert.equal(addressKey('2001:db8:a:b::1'), addressKey('2001:db8:a:b:ffff:ffff:ffff:ffff'));
  assert.notEqual(addressKey('2001:db8:a:b::1'), addressKey('2001:db8:a:c::1'));
});
