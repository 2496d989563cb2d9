import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createTtlCache } from './ttl-cache.ts';

test('a hit answers the value itself; a miss loads once and answers a promise', async () => {
  let loads = 0;
  const cache = createTtlCache(60_000, async (k: string) => { loads++; return `v:${k}`; });
  const miss = cache.get('a');
  assert.ok(miss instanceof Promise);
  assert.equal(await miss, 'v:a');
  assert.equal(cache.get('a'), 'v:a');
  assert.equal(loads, 1);
});

test('a load that started before a delete or clear is not kept: the next get loads again', async () => {
  let version = 'old';
  const pending: (() => void)[] = [];
  const cache = createTtlCache(60_000, (k: string) => {
    const v = `${version}:${k}`; // read "the row" now, answer later
    return new Promise<string>((resolve) => pending.push(() => resolve(v)));
  });
  for (const invalidate of [(k: string) => cache.delete(k), () => cache.clear()]) {
    version = 'old';
    const first = cache.get('k') as Promise<string>;
    version = 'new';
    invalidate('k'); // a write through this node, while the load is in flight
    pending.shift()!();
    assert.equal(await first, 'old:k', 'the caller that started it still gets its answer');
    const second = cache.get('k');
    assert.ok(second instanceof Promise, 'the stale value was kept after the change');
    pending.shift()!();
    assert.equal(await second, 'new:k');
    assert.equal(cache.get('k'), 'new:k');
    cache.clear();
  }
});
