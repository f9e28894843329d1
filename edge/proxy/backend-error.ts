import { z } from 'zod';
import { ApiError, type ErrorStatus } from '../../shared/openai/index.ts';

const BackendErrorSchema = z.object({
  error: z.object({ message: z.string(), type: z.string().optional(), param: z.string().nullable().optional(), code: z.string().nullable().optional() }),
});

// 401/403 from the backend mean the edge's signature was refused: our misconfiguration, not the client's key.
const PASSED_STATUS = new Set<number>([400, 404, 405, 408, 413, 415, 429, 500, 502, 503, 504]);
const safeCode = (code: string | null | undefined) => (code && /^[a-z0-9_]{1,64}$/.test(code) ? code : null);
const MAX_ERROR_BYTES = 16 * 1024;

/** Strips what must not leave the edge: URLs, stack frames, file paths. */
export function scrub(message: string): string {
  return message
    .split('\n')
    .filter((line) => !/^\s*at\s/.test(line))
    .join(' ')
    .replace(/\bhttps?:\/\/\S+/gi, '[backend]')
    .replace(/(?:\/[\w.-]+){2,}\.(?:ts|js|mjs|py|onnx)\b(?::\d+)*/g, '[path]')
    .trim()
    .slice(0, 1000);
}

/**
 * Turns a backend error response into the client's OpenAI-shaped error. Client errors (4xx) keep
 * the backend's message, scrubbed; server errors get a generic message so internals never leak.
 */
export async function backendError(response: Response): Promise<ApiError> {
  const text = (await response.text()).slice(0, MAX_ERROR_BYTES);
  let body: z.infer<typeof BackendErrorSchema> | null = null;
  try {
    const parsed = BackendErrorSchema.safeParse(JSON.parse(text));
    if (parsed.success) body = parsed.data;
  } catch {}
  const status = (PASSED_STATUS.has(response.status) ? response.status : response.status < 500 && response.status !== 401 && response.status !== 403 ? 400 : 502) as ErrorStatus;
  if (response.status === 401 || response.status === 403) console.error(JSON.stringify({ level: 'error', msg: 'backend refused the edge signature: check BACKEND_SECRET', status: response.status }));
  const headers: Record<string, string> = {};
  const retryAfter = response.headers.get('retry-after');
  if (retryAfter && /^\d{1,6}$/.test(retryAfter)) headers['Retry-After'] = retryAfter;
  if (status < 500 && body) {
    return new ApiError(status, scrub(body.error.message) || 'The request was refused by the model backend.', body.error.param ?? null, safeCode(body.error.code), headers);
  }
  const message = status === 503 ? 'The model backend is overloaded. Please retry.' : 'The model backend failed to process the request.';
  return new ApiError(status, message, null, safeCode(body?.error.code) ?? (status < 500 ? 'backend_refused' : 'backend_error'), headers);
}
