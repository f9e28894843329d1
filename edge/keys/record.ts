import { z } from 'zod';
import { ROUTING_STRATEGIES } from '../../shared/routing/index.ts';

/**
 * API keys: "pb_" + 32 random bytes in base64url. Only the key's SHA-256 is stored (as the KV key
 * name), so a leaked KV dump cannot be replayed. WebCrypto only: the Worker and the CLI share this.
 */
export const KEY_PREFIX = 'pb_';
const KEY_BYTES = 32;
export const API_KEY_PATTERN = /^pb_[A-Za-z0-9_-]{43,}$/;

export const KeyRecordSchema = z.object({
  id: z.string().min(1),
  name: z.string().min(1),
  /** ISO 8601. */
  created: z.string(),
  disabled: z.boolean().default(false),
  /** Requests per minute; enforced through the nearest rate-limit tier at or below it. */
  rpm: z.number().int().positive(),
  /** Cap on max_tokens / max_completion_tokens per request. */
  max_tokens: z.number().int().positive(),
  /** Allowed model ids; "*" allows every model. */
  models: z.array(z.string().min(1)).min(1),
  routing: z.object({
    /** Whether raw `key_experts` may be sent, or only named profiles. */
    raw_key_experts: z.boolean(),
    strategies: z.array(z.enum(ROUTING_STRATEGIES)),
  }),
});
export type KeyRecord = z.infer<typeof KeyRecordSchema>;
export type KeyRecordInput = z.input<typeof KeyRecordSchema>;

export const DEFAULT_KEY_POLICY = {
  rpm: 60,
  max_tokens: 4096,
  models: ['*'],
  routing: { raw_key_experts: true, strategies: [...ROUTING_STRATEGIES] },
} satisfies Omit<KeyRecord, 'id' | 'name' | 'created' | 'disabled'>;

const base64url = (bytes: Uint8Array) => btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');

export function generateApiKey(): string {
  return KEY_PREFIX + base64url(crypto.getRandomValues(new Uint8Array(KEY_BYTES)));
}

export function generateKeyId(): string {
  const hex = [...crypto.getRandomValues(new Uint8Array(8))].map((b) => b.toString(16).padStart(2, '0')).join('');
  return `key_${hex}`;
}

export async function hashApiKey(key: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(key));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

/** The KV entry name for a key: its hash, never the key. */
export const kvName = (hash: string) => `sha256:${hash}`;
export const KV_PREFIX = 'sha256:';
