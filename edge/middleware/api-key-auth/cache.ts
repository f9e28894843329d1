import type { KeyRecord } from '../../keys/record.ts';

type Lookup<C> = (hash: string, c: C) => Promise<KeyRecord | null>;

/**
 * Remembers found keys in the isolate for `ttlMs`, sparing a KV read on the hot path. Only hits
 * are kept, so a new key works at once; a revocation takes up to `ttlMs` to bite, well inside
 * the up-to-60 s that KV itself takes to propagate a write to every location.
 */
export function cachedLookup<C>(lookup: Lookup<C>, ttlMs: number, maxEntries = 10_000): Lookup<C> {
  const cache = new Map<string, { record: KeyRecord; expires: number }>();
  return async (hash, c) => {
    const hit = cache.get(hash);
    if (hit && hit.expires > Date.now()) return hit.record;
    const record = await lookup(hash, c);
    if (record) {
      if (cache.size >= maxEntries) cache.delete(cache.keys().next().value!);
      cache.set(hash, { record, expires: Date.now() + ttlMs });
    } else cache.delete(hash);
    return record;
  };
}
