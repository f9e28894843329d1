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
const sseError = (message: string, code: string) => encoder.encode(`data: ${JSON.stringify(errorBody(504, message, null, code))}\n\ndata: [DONE]\n\n`);
const TIMEOUT_MESSAGE = 'The model backend sent nothing in time. Please retry.';

type Read = ReadableStreamReadResult<Uint8Array>;
const sleep = (ms: number) => new Promise<'timer'>((resolve) => setTimeout(() => resolve('timer'), ms));

/**
 * Relays an SSE body chunk by chunk, never buffering. While the first byte is pending (a long
 * prefill) the client hears SSE comments, so idle-connection timeouts in between do not fire.
 * Until the first keepalive goes out nothing is committed, so a first-byte timeout is still a 504;
 * after it the status is already 200 and the timeout arrives as an SSE error event instead.
 */
export async function relaySse(body: ReadableStream<Uint8Array>, opts: RelayOptions): Promise<ReadableStream<Uint8Array>> {
  const reader = body.getReader();
  const deadline = Date.now() + opts.firstByteTimeoutMs;
  let pending: Promise<Read> | null = reader.read();
  const quiet = Math.min(opts.keepaliveMs, opts.firstByteTimeoutMs);
  const first = await Promise.race([pending, sleep(quiet)]);
  const keepalive = first === 'timer';
  if (keepalive && opts.firstByteTimeoutMs <= opts.keepaliveMs) {
    opts.abort(new Error('first byte timeout'));
    reader.cancel().catch(() => {});
    throw new ApiError(504, TIMEOUT_MESSAGE, null, 'first_byte_timeout');
  }

  let done = false;
  const timers: Array<ReturnType<typeof setTimeout>> = [];
  const stopTimers = () => timers.splice(0).forEach((t) => clearTimeout(t));
  return new ReadableStream<Uint8Array>(
    {
      start(controller) {
        if (!keepalive) return;
        controller.enqueue(KEEPALIVE);
        const tick = () => {
          if (done) return;
          controller.enqueue(KEEPALIVE);
          timers.push(setTimeout(tick, opts.keepaliveMs));
        };
        timers.push(setTimeout(tick, opts.keepaliveMs));
        timers.push(
          setTimeout(() => {
            if (done) return;
            done = true;
            stopTimers();
            controller.enqueue(sseError(TIMEOUT_MESSAGE, 'first_byte_timeout'));
            controller.close();
            opts.abort(new Error('first byte timeout'));
            reader.cancel().catch(() => {});
          }, Math.max(0, deadline - Date.now())),
        );
      },
      async pull(controller) {
        let read: Read;
        try {
          read = await (pending ?? reader.read());
        } catch (err) {
          if (done) return;
          done = true;
          stopTimers();
          // A backend that dies mid-stream: say so in-band; the status line went out long ago.
          controller.enqueue(encoder.encode(`data: ${JSON.stringify(errorBody(502, 'The model backend stopped unexpectedly.', null, 'backend_stream_error'))}\n\n`));
          controller.close();
          return;
        }
        pending = null;
        if (done) return;
        stopTimers();
        if (read.done) {
          done = true;
          controller.close();
        } else controller.enqueue(read.value);
      },
      cancel(reason) {
        // The client went away: stop the backend's generation too.
        done = true;
        stopTimers();
        opts.abort(reason);
        return reader.cancel(reason).catch(() => {});
      },
    },
    { highWaterMark: 0 },
  );
}
