/**
 * Edge -> backend request signing. HMAC-SHA256 over method, path, timestamp and the body's SHA-256,
 * with a shared secret. WebCrypto only, so the same code runs in workerd and Node 20.
 */
export const SIGNATURE_HEADER = 'x-pickban-signature';
export const TIMESTAMP_HEADER = 'x-pickban-timestamp';
export const MAX_SIGNATURE_AGE_S = 60;
/**
 * The API key's per-request token cap, sent by the edge beside the body. The backend uses it to
 * bound its default max_tokens when a request names none; explicit values above it never get past
 * the edge. A header rather than a rewritten body, so the request keeps the client's meaning.
 */
export const MAX_TOKENS_CAP_HEADER = 'x-pickban-max-tokens-cap';

const encoder = new TextEncoder();
type Bytes = Uint8Array<ArrayBuffer>;

const toHex = (buf: ArrayBuffer) => [...new Uint8Array(buf)].map((b) => b.toString(16).padStart(2, '0')).join('');
const fromHex = (hex: string): Bytes | null => {
  if (!/^(?:[0-9a-f]{2})+$/.test(hex)) return null;
  return Uint8Array.from(hex.match(/../g)!, (h) => parseInt(h, 16));
};

async function hmacKey(secret: string): Promise<CryptoKey> {
  return crypto.subtle.importKey('raw', encoder.encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify']);
}

export async function sha256Hex(body: Bytes | string): Promise<string> {
  const bytes = typeof body === 'string' ? encoder.encode(body) : body;
  return toHex(await crypto.subtle.digest('SHA-256', bytes));
}

function canonical(method: string, path: string, timestamp: string, bodyHash: string): Bytes {
  return encoder.encode(`${method.toUpperCase()}\n${path}\n${timestamp}\n${bodyHash}`);
}

export interface SignInput {
  secret: string;
  method: string;
  /** Path plus query, e.g. "/v1/chat/completions". */
  path: string;
  body: Bytes | string;
  /** Unix seconds; defaults to now. */
  timestamp?: number;
}

/** Returns the two headers to attach to the backend request. */
export async function signRequest(input: SignInput): Promise<Record<string, string>> {
  const ts = String(input.timestamp ?? Math.floor(Date.now() / 1000));
  const key = await hmacKey(input.secret);
  const mac = await crypto.subtle.sign('HMAC', key, canonical(input.method, input.path, ts, await sha256Hex(input.body)));
  return { [TIMESTAMP_HEADER]: ts, [SIGNATURE_HEADER]: toHex(mac) };
}

export type VerifyResult = { ok: true } | { ok: false; reason: 'missing' | 'malformed' | 'expired' | 'mismatch' };

/** Checks a request's signature. crypto.subtle.verify compares in constant time. */
export async function verifyRequest(
  input: Omit<SignInput, 'timestamp'> & { signature: string | null | undefined; timestamp: string | null | undefined; now?: number },
): Promise<VerifyResult> {
  if (!input.signature || !input.timestamp) return { ok: false, reason: 'missing' };
  const mac = fromHex(input.signature.toLowerCase());
  if (!mac || mac.length !== 32 || !/^\d{1,12}$/.test(input.timestamp)) return { ok: false, reason: 'malformed' };
  const now = input.now ?? Math.floor(Date.now() / 1000);
  if (Math.abs(now - Number(input.timestamp)) > MAX_SIGNATURE_AGE_S) return { ok: false, reason: 'expired' };
  const key = await hmacKey(input.secret);
  const ok = await crypto.subtle.verify('HMAC', key, mac, canonical(input.method, input.path, input.timestamp, await sha256Hex(input.body)));
  return ok ? { ok: true } : { ok: false, reason: 'mismatch' };
}
