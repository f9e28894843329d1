import { DEFAULT_KEY_POLICY, generateApiKey, generateKeyId, hashApiKey, KeyRecordSchema, KV_PREFIX, kvName, type KeyRecord } from '../../keys/record.ts';
import { kvList, kvPut, type KvTarget } from './wrangler-kv.ts';

export type { KvTarget } from './wrangler-kv.ts';

/** A key's policy; anything left out takes DEFAULT_KEY_POLICY. */
export interface CreateKeyOptions extends KvTarget, Partial<Pick<KeyRecord, 'rpm' | 'max_tokens' | 'models' | 'routing'>> {
  name: string;
  /** Kept for readability at call sites (`local: true`); local is the default unless `remote`. */
  local?: boolean;
}

export interface StoredKey {
  /** The KV entry name: "sha256:<hash of the key>". */
  kvName: string;
  record: KeyRecord;
}

/** The record is stored as the value (read by the Worker) and as metadata (so `list` is one call). */
async function writeRecord(target: KvTarget, name: string, record: KeyRecord): Promise<void> {
  await kvPut(target, name, JSON.stringify(record), record);
}

/** Creates a key and returns it with its record; the plaintext exists only in this return value. */
export async function issueKey(opts: CreateKeyOptions): Promise<{ key: string; record: KeyRecord }> {
  const key = generateApiKey();
  const record = KeyRecordSchema.parse({
    id: generateKeyId(),
    name: opts.name,
    created: new Date().toISOString(),
    disabled: false,
    rpm: opts.rpm ?? DEFAULT_KEY_POLICY.rpm,
    max_tokens: opts.max_tokens ?? DEFAULT_KEY_POLICY.max_tokens,
    models: opts.models ?? DEFAULT_KEY_POLICY.models,
    routing: opts.routing ?? DEFAULT_KEY_POLICY.routing,
  });
  await writeRecord(opts, kvName(await hashApiKey(key)), record);
  return { key, record };
}

/** Creates a key in the local (default) or remote KV and returns the plaintext key. */
export async function createKey(opts: CreateKeyOptions): Promise<string> {
  return (await issueKey(opts)).key;
}

export async function listKeys(target: KvTarget = {}): Promise<StoredKey[]> {
  const entries = await kvList(target, KV_PREFIX);
  return entries.flatMap((e) => {
    const parsed = KeyRecordSchema.safeParse(e.metadata);
    return parsed.success ? [{ kvName: e.name, record: parsed.data }] : [];
  });
}

/** Finds a key by id (or by name when unique). */
export async function findKey(idOrName: string, target: KvTarget = {}): Promise<StoredKey> {
  const keys = await listKeys(target);
  const byId = keys.filter((k) => k.record.id === idOrName);
  const matches = byId.length ? byId : keys.filter((k) => k.record.name === idOrName);
  if (matches.length === 0) throw new Error(`no API key with id or name '${idOrName}'`);
  if (matches.length > 1) throw new Error(`several keys are named '${idOrName}'; use the id (${matches.map((k) => k.record.id).join(', ')})`);
  return matches[0];
}

/** Disables a key; the record stays so logs and `show` can still name it. */
export async function revokeKey(idOrName: string, target: KvTarget = {}): Promise<KeyRecord> {
  const found = await findKey(idOrName, target);
  const record = { ...found.record, disabled: true };
  await writeRecord(target, found.kvName, record);
  return record;
}
