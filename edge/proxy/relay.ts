import { ApiError, errorBody } from '../../shared/openai/index.ts';

export interface RelayOptions {
  /** Silence before the first `: keepalive` comment and between them. */
  keepaliveMs: number;
  /** Longest wait for the first upstream body byte, from now. */
  firstByteTimeoutMs: number;
  /** Cancels the upstream request (first-byte timeout, client gone). */
  abort: (reason?: unknown) => void;
}

const encoder = new TextEncoder();
const KEEPALIVE = encoder.encode(': keepalive\n\n');
const TIMEOUT_MESSAGE = 'The model backend sent nothing in time. Please retry.';
const TIMEOUT_EVENT = encoder.encode(`data: ${JSON.stringify(errorBody(504, TIMEOUT_MESSAGE, null, 'first_byte_timeout'))}\n\ndata: [DONE]\n\n`);

/** The promise's value, or 'timer' after ms; the timer is cleared either way so none outlives the race. */
async function within<T>(promise: Promise<T>, ms: number): Promise<T | 'timer'> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([promise, new Promise<'timer'>((resolve) => (timer = setTimeout(() => resolve('timer'), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Relays an SSE body without buffering. The body is teed: one branch only watches for the first
 * byte, the other is what the client gets, so in the common case the response body is the
 * upstream stream itself, pumped natively by workerd with no JS per chunk (the bench measured an
 * IdentityTransformStream hop at several ms of p99 per-chunk delay on a busy 2-core machine).
 *
 * Until the first byte nothing is committed, so a first-byte timeout is still a 504. When the
 * backend stays silent past `keepaliveMs` (a long prefill), the response is committed and SSE
 * comments keep the connection alive; a timeout after that arrives as an SSE error event.
 */
export async function relaySse(body: ReadableStream<Uint8Array>, opts: RelayOptions): Promise<ReadableStream<Uint8Array>> {
  const [probe, out] = body.tee();
  const watcher = probe.getReader();
  const firstByte = watcher.read().then(
    () => 'byte' as const,
    () => 'byte' as const, // an early upstream error surfaces on `out` as well
  );
  const stopWatching = () => void watcher.cancel().catch(() => {});
  const deadline = Date.now() + opts.firstByteTimeoutMs;
  const early = await within(firstByte, Math.min(opts.keepaliveMs, opts.firstByteTimeoutMs));
  if (early === 'byte') {
    stopWatching();
    return out;
  }
  if (opts.firstByteTimeoutMs <= opts.keepaliveMs) {
    opts.abort(new Error('first byte timeout'));
    stopWatching();
    out.cancel().catch(() => {});
    throw new ApiError(504, TIMEOUT_MESSAGE, null, 'first_byte_timeout');
  }
  const { readable, writable } = new IdentityTransformStream();
  void keepAlive({ firstByte, stopWatching, out, writable, deadline, opts });
  return readable as ReadableStream<Uint8Array>;
}

interface KeepAlive {
  firstByte: Promise<'byte'>;
  stopWatching: () => void;
  out: ReadableStream<Uint8Array>;
  writable: WritableStream;
  deadline: number;
  opts: RelayOptions;
}

async function keepAlive({ firstByte, stopWatching, out, writable, deadline, opts }: KeepAlive): Promise<void> {
  const writer = writable.getWriter();
  let handedOver = false;
  // The client leaving cancels the readable side; `closed` says so at once, not at the next keepalive.
  // (Releasing the lock to hand the stream to pipeTo also rejects `closed`; that is not a disconnect.)
  writer.closed.catch((err) => {
    if (handedOver) return;
    opts.abort(err);
    stopWatching();
    out.cancel(err).catch(() => {});
  });
  try {
    await writer.write(KEEPALIVE);
    for (;;) {
      const next = await within(firstByte, Math.max(0, Math.min(opts.keepaliveMs, deadline - Date.now())));
      if (next === 'byte') break;
      if (Date.now() >= deadline) {
        opts.abort(new Error('first byte timeout'));
        stopWatching();
        out.cancel().catch(() => {});
        await writer.write(TIMEOUT_EVENT);
        return void (await writer.close());
      }
      await writer.write(KEEPALIVE);
    }
    stopWatching();
    handedOver = true;
    writer.releaseLock();
    // A backend failure mid-stream errors the client's stream (a truncated response) rather than
    // ending it with an error event: with preventAbort, workerd leaves the readable side hanging.
    await out.pipeTo(writable);
  } catch (err) {
    // The client went away, or the backend broke the stream: stop the backend, end the client's stream.
    opts.abort(err);
    stopWatching();
    out.cancel(err).catch(() => {});
    writable.abort(err).catch(() => {});
  }
}
