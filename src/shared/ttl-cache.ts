/**
 * A short-lived cache for lookups on the hot path (every token request reads its client, API
 * and client grant). A hit answers the value itself, not a promise: callers await either way,
 * and a promise per cached lookup was measurable per token. A miss loads, stores and answers a
 * promise. Writes made through this node call `delete`/`clear`; other nodes' changes show after
 * `ttlMs`. `load` should be one function for the cache's life (no closure per call).
 */
export function createTtlCache<K, V>(ttlMs: number, load: (key: K) => Promise<V>) {
  const entries = new Map<K, { at: number; v: V }>();
  return {
    get(key: K): V | Promise<V> {
      const hit = entries.get(key);
      if (hit && Date.now() - hit.at < ttlMs) return hit.v;
      return load(key).then((v) => { entries.set(key, { at: Date.now(), v }); return v; });
    },
    delete(key: K): void { entries.delete(key); },
    clear(): void { entries.clear(); },
  };
}
