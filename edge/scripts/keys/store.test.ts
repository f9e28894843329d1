import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_KEY_PATTERN } from '../../keys/record.ts';
import { startWranglerDev, type WranglerDev } from '../wrangler-dev.ts';
import { createKey, findKey, issueKey, listKeys, revokeKey } from './store.ts';

// Node-side (spawns wrangler): proves the CLI's store writes exactly where `wrangler dev` reads.
const persistTo = mkdtempSync(join(tmpdir(), 'pickban-keys-'));
let edge: WranglerDev;

beforeAll(async () => {
  edge = await startWranglerDev({ persistTo, vars: { BACKEND_SECRET: 'keys-test-secret-0123456789', BACKEND_URLS: 'http://127.0.0.1:9' } });
}, 90_000);
afterAll(async () => {
  await edge?.stop();
  rmSync(persistTo, { recursive: true, force: true });
});

/** 400 (bad body) means the key passed authentication; 401 means it did not. */
const authStatus = async (key: string) =>
  (await fetch(`${edge.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: '{' })).status;

describe('keys store against wrangler local KV', () => {
  it('creates a key that wrangler dev accepts, lists and shows it, and revokes it', async () => {
    const key = await createKey({ name: 'development', local: true, persistTo });
    expect(key).toMatch(API_KEY_PATTERN);
    expect(await authStatus(key)).toBe(400);

    const { key: second, record } = await issueKey({ name: 'limited', persistTo, rpm: 10, max_tokens: 64, models: ['fake-moe'], routing: { raw_key_experts: false, strategies: ['pick'] } });
    const listed = await listKeys({ persistTo });
    expect(listed.map((k) => k.record.name).sort()).toEqual(['development', 'limited']);
    // Only hashes are stored: no entry name or record contains a plaintext key.
    expect(JSON.stringify(listed)).not.toContain(key.slice(3));
    expect((await findKey(record.id, { persistTo })).record).toEqual(record);

    expect((await revokeKey('limited', { persistTo })).disabled).toBe(true);
    expect(await authStatus(second)).toBe(401);
    expect(await authStatus(key)).toBe(400);
  }, 60_000);

  it('refuses an unknown id or name', async () => {
    await expect(findKey('nobody', { persistTo })).rejects.toThrow(/no API key/);
  }, 30_000);
});
