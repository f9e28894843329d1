import { ApiError } from '../../shared/openai/index.ts';
import { signRequest } from '../../shared/signing/index.ts';

export interface UpstreamRequest {
  origins: string[];
  /** Path plus query, appended to each origin (which may carry a base path). */
  path: string;
  method: 'GET' | 'POST';
  body: string;
  headers: Record<string, string>;
  secret: string;
  /** The client's request signal: its abort cancels whatever attempt is in flight. */
  signal: AbortSignal;
  /** Longest wait for response headers from one origin before trying the next. */
  headerTimeoutMs: number;
}

export interface Upstream {
  response: Response;
  /** Aborts the chosen attempt (first-byte timeout, client gone). */
  abort: (reason?: unknown) => void;
}

class HeaderTimeout extends Error {}

/** Origins answering these before any byte reached the client are skipped in favour of the next. */
const RETRYABLE_STATUS = new Set([502, 503]);

/**
 * Sends the signed request to each origin in turn until one answers. Failover happens only here,
 * before the first byte goes to the client; once a response is returned it is never retried.
 * Connection failures end as 502, header timeouts as 504, with no origin named in the message.
 */
export async function fetchUpstream(req: UpstreamRequest): Promise<Upstream> {
  let timedOut = false;
  let last: Response | null = null;
  for (const [i, origin] of req.origins.entries()) {
    const url = new URL(origin + req.path);
    const controller = new AbortController();
    const onClientAbort = () => controller.abort(req.signal.reason);
    if (req.signal.aborted) throw clientGone();
    req.signal.addEventListener('abort', onClientAbort, { once: true });
    const timer = setTimeout(() => controller.abort(new HeaderTimeout()), req.headerTimeoutMs);
    try {
      // Signed per attempt: the path the backend verifies includes the origin's base path.
      const signature = await signRequest({ secret: req.secret, method: req.method, path: url.pathname + url.search, body: req.body });
      const response = await fetch(url, {
        method: req.method,
        headers: { ...req.headers, ...signature },
        body: req.method === 'GET' ? undefined : req.body,
        signal: controller.signal,
      });
      clearTimeout(timer);
      if (RETRYABLE_STATUS.has(response.status) && i < req.origins.length - 1) {
        await response.body?.cancel();
        req.signal.removeEventListener('abort', onClientAbort);
        last = response;
        continue;
      }
      return { response, abort: (reason) => controller.abort(reason) };
    } catch (err) {
      clearTimeout(timer);
      req.signal.removeEventListener('abort', onClientAbort);
      if (req.signal.aborted) throw clientGone();
      if (controller.signal.reason instanceof HeaderTimeout) timedOut = true;
      console.warn(JSON.stringify({ level: 'warn', msg: 'backend attempt failed', origin_index: i, timed_out: controller.signal.reason instanceof HeaderTimeout, error: String(err) }));
    }
  }
  if (timedOut) throw new ApiError(504, 'The model backend did not answer in time. Please retry.', null, 'backend_timeout');
  if (last) throw new ApiError(last.status === 503 ? 503 : 502, 'The model backend is unavailable. Please retry.', null, 'backend_unavailable');
  throw new ApiError(502, 'The model backend is unreachable. Please retry.', null, 'backend_unavailable');
}

/** Nobody will read this answer; 408 keeps the access log honest. */
export const clientGone = () => new ApiError(408, 'Client closed the request.', null, 'client_closed_request');
