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
const sseError = (status: 504, message: string, code: string) =>
  encoder.encode(`data: ${JSON.stringify(errorBody(status, message, null, code))}\n\ndata: [DONE]\n\n`);

type Read = ReadableStreamReadResult<Uint8Array>;
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
 * Relays an SSE body without buffering. The first chunk is awaited in JS (to time it and to send
 * keepalives meanwhile); everything after it is a native pipe from the upstream body into an
 * IdentityTransformStream, so no chunk waits on the JS thread. Until the first keepalive goes
 * out nothing is committed, so a first-byte timeout is still a 504; after that the status is
 * already 200 and the timeout arrives as an SSE error event instead.
 */
export async function relaySse(body: ReadableStream<Uint8Array>, opts: RelayOptions): Promise<ReadableStream<Uint8Array>> {
  const reader = body.getReader();
  const deadline = Date.now() + opts.firstByteTimeoutMs;
  const firstRead = reader.read();
  const early = await within(firstRead, Math.min(opts.keepaliveMs, opts.firstByteTimeoutMs));
  if (early === 'timer' && opts.firstByteTimeoutMs <= opts.keepaliveMs) {
    opts.abort(new Error('first byte timeout'));
    reader.cancel().catch(() => {});
    throw new ApiError(504, TIMEOUT_MESSAGE, null, 'first_byte_timeout');
  }
  const { readable, writable } = new IdentityTransformStream();
  void pump({ body, reader, firstRead, writable, keepalive: early === 'timer', deadline, opts });
  return readable as ReadableStream<Uint8Array>;
}

interface Pump {
  body: ReadableStream<Uint8Array>;
  reader: ReadableStreamDefaultReader<Uint8Array>;
  firstRead: Promise<Read>;
  writable: WritableStream;
  keepalive: boolean;
  deadline: number;
  opts: RelayOptions;
}

async function pump({ body, reader, firstRead, writable, keepalive, deadline, opts }: Pump): Promise<void> {
  const writer = writable.getWriter();
  try {
    if (keepalive) {
      await writer.write(KEEPALIVE);
      for (;;) {
        const left = deadline - Date.now();
        const next = await within(firstRead, Math.max(0, Math.min(opts.keepaliveMs, left)));
        if (next !== 'timer') break;
        if (Date.now() >= deadline) {
          opts.abort(new Error('first byte timeout'));
          reader.cancel().catch(() => {});
          await writer.write(sseError(504, TIMEOUT_MESSAGE, 'first_byte_timeout'));
          return void (await writer.close());
        }
        await writer.write(KEEPALIVE);
      }
    }
    const first = await firstRead;
    if (first.done) return void (await writer.close());
    await writer.write(first.value);
    writer.releaseLock();
    reader.releaseLock();
    // A backend failure mid-stream errors the client's stream (a truncated response) rather than
    // ending it with an error event: with preventAbort, workerd leaves the readable side hanging.
    await body.pipeTo(writable);
  } catch (err) {
    // The client went away, or the backend broke the stream: stop the backend, end the client's stream.
    opts.abort(err);
    reader.cancel(err).catch(() => {});
    writable.abort(err).catch(() => {});
  }
}
