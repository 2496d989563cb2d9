/**
 * A short-lived cache for lookups on the hot path (every token request reads its client, API
 * and client grant). A hit answers the value itself, not a promise: callers await either way,
 * and a promise per cached lookup was measurable per token. A miss loads, stores and answers a
 * promise. Writes made through this node call `delete`/`clear`; other nodes' changes show after
 * `ttlMs`. `load` should be one function for the cache's life (no closure per call).
 */
export function createTtlCache<K, V>(ttlMs: number, load: (key: K) => Promise<V>) {
  const entries = new Map<K, { at: number; v: V }>();
  /**
   * Bumped by every delete/clear: a load that started before one (it may have read the row
   * before the write) answers its caller but is not kept, or the old value would be served
   * for another `ttlMs` after the change.
   */
  let generation = 0;
  return {
    get(key: K): V | Promise<V> {
      const hit = entries.get(key);
      if (hit && Date.now() - hit.at < ttlMs) return hit.v;
      const started = generation;
      return load(key).then((v) => { if (started === generation) entries.set(key, { at: Date.now(), v }); return v; });
    },
    delete(key: K): void { generation++; entries.delete(key); },
    clear(): void { generation++; entries.clear(); },
  };
}
