import { KeyRecordSchema, kvName, type KeyRecord } from '../../keys/record.ts';

/**
 * Reads a key record by hash. A record that fails the schema is treated as unknown (and logged)
 * rather than trusted half-parsed: a corrupt entry must never widen a key's permissions.
 */
export async function lookupKeyInKv(kv: KVNamespace, hash: string): Promise<KeyRecord | null> {
  const raw = await kv.get(kvName(hash), 'json');
  if (raw === null) return null;
  const parsed = KeyRecordSchema.safeParse(raw);
  if (!parsed.success) {
    console.error(JSON.stringify({ level: 'error', msg: 'corrupt API key record', kv_key: kvName(hash).slice(0, 16) }));
    return null;
  }
  return parsed.data;
}
