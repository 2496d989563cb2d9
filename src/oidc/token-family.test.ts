import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyMetadataChange, familyIdOf, stampFamily, tokenFamily, tokenMetadata } from './token-family.ts';

test('a new family draws its id; a rotated token carries its family and metadata on, changed as asked', () => {
  const first: Record<string, unknown> = { jti: 'first-token' };
  stampFamily(first, undefined, { evict: false, set: { device: 'phone', gone: null } });
  assert.match(first.ghFamily as string, /^rt_[A-Za-z0-9_-]{22}$/);
  assert.notEqual(first.ghFamily, familyIdOf('first-token'), 'not derived from the token');
  assert.deepEqual(first.ghMetadata, { device: 'phone' });
  const second: Record<string, unknown> = {};
  stampFamily(second, first, { evict: false, set: { seen: '2' } });
  assert.equal(second.ghFamily, first.ghFamily);
  assert.deepEqual(second.ghMetadata, { device: 'phone', seen: '2' });
  const third: Record<string, unknown> = {};
  stampFamily(third, second, { evict: true, set: {} });
  assert.equal(third.ghMetadata, undefined, 'evicted: nothing stored');
  // Asked again for the same token (a second TTL call): the same family, the same result.
  const again = { ...first };
  stampFamily(again, undefined, { evict: false, set: { device: 'phone' } });
  assert.equal(again.ghFamily, first.ghFamily);
});

test('a token from before families were kept goes by a digest of itself, and its rotations inherit it', () => {
  const legacy = { jti: 'legacy-token' };
  assert.equal(tokenFamily(legacy), familyIdOf('legacy-token'));
  const next: Record<string, unknown> = {};
  stampFamily(next, legacy, undefined);
  assert.equal(next.ghFamily, familyIdOf('legacy-token'));
});

test('metadata changes keep to the limits: 25 keys, Auth0\'s key characters, strings of at most 255', () => {
  const full = Object.fromEntries(Array.from({ length: 25 }, (_, i) => [`k${i}`, 'v']));
  // In the order the chain made them (the engine counted them so): a deletion makes room for the set after it.
  const out = applyMetadataChange(full, { evict: false, set: { k1: null, extra: 'x', k0: 'changed', more: 'y' } });
  assert.equal(out.k1, undefined);
  assert.equal(out.extra, 'x');
  assert.equal(out.k0, 'changed');
  assert.equal(out.more, undefined, 'the 26th is not added');
  assert.equal(Object.keys(out).length, 25);
  // Regression (review): a deletion listed after the set it made room for (an integer-like key
  // comes first in an object; a key set, deleted and set again keeps its first place) was applied
  // after it, and the set was dropped though the engine had accepted it.
  const room = applyMetadataChange(full, { evict: false, set: { 9: 'nine', k0: null } as Record<string, string | null> });
  assert.equal(room['9'], 'nine');
  assert.equal(room.k0, undefined);
  const relisted = applyMetadataChange(Object.fromEntries(Array.from({ length: 24 }, (_, i) => [`k${i}`, 'v'])), { evict: false, set: { n1: 'again', n2: 'two', k0: null } });
  assert.deepEqual([relisted.n1, relisted.n2, relisted.k0, Object.keys(relisted).length], ['again', 'two', undefined, 25]);
  const bad = applyMetadataChange({}, { evict: false, set: { 'has space': 'x', __proto__x: 'ok', constructor: 'x', long: 'x'.repeat(256) } as Record<string, string> });
  assert.deepEqual(bad, { __proto__x: 'ok' });
  assert.deepEqual(tokenMetadata({ ghMetadata: { ok: 'v', n: 1, 'a.b': 'x' } }), { ok: 'v' });
  assert.deepEqual(tokenMetadata({ ghMetadata: ['x'] }), {});
});
