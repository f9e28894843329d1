import { describe, expect, it } from 'vitest';
import { DEFAULT_KEY_POLICY, type KeyRecord } from '../../keys/record.ts';
import { cachedLookup } from './cache.ts';

const record: KeyRecord = { id: 'key_1', name: 'a', created: '2026-01-01T00:00:00Z', disabled: false, ...DEFAULT_KEY_POLICY };

describe('cachedLookup', () => {
  it('serves a found key from memory within the TTL and re-reads after it', async () => {
    const store = new Map([['h1', record]]);
    let reads = 0;
    const lookup = cachedLookup(async (hash: string) => (reads++, store.get(hash) ?? null), 50);
    expect(await lookup('h1', null)).toEqual(record);
    store.set('h1', { ...record, disabled: true });
    expect((await lookup('h1', null))?.disabled).toBe(false);
    expect(reads).toBe(1);
    await new Promise((r) => setTimeout(r, 60));
    expect((await lookup('h1', null))?.disabled).toBe(true);
    expect(reads).toBe(2);
  });

  it('never caches a miss, so a new key works at once', async () => {
    const store = new Map<string, KeyRecord>();
    const lookup = cachedLookup(async (hash: string) => store.get(hash) ?? null, 10_000);
    expect(await lookup('h2', null)).toBeNull();
    store.set('h2', record);
    expect(await lookup('h2', null)).toEqual(record);
  });
});
