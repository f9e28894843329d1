import type { Context } from 'hono';
import { streamSSE } from 'hono/streaming';
import { errorBody } from '../../../../shared/openai/errors.ts';
import type { GenerationEvent } from '../../engine/types.ts';
import { deltaChunk, finishChunk, roleChunk, usageChunk, type ResponseMeta } from './objects.ts';

export interface SseOptions {
  includeUsage: boolean;
  /** Called when the client goes away, so the engine frees the sequence. */
  onClientGone: () => void;
  /** True when the server (shutdown), not the client, aborted the generation. */
  abortedByServer: () => boolean;
  /** An exception from the engine's iterator (not an error event): reported, then sent in-band. */
  onFailure: (err: unknown) => void;
}

const SHUTDOWN = errorBody(503, 'The backend shut down before this generation finished', null, 'server_shutdown');

/**
 * Renders a generation as OpenAI server-sent events: role chunk (chat), text deltas, the finish
 * chunk, the usage chunk when asked for, then `data: [DONE]`. An error after the headers went out
 * can only travel in-band: one `data: {"error": ...}` event, then the stream closes without [DONE].
 */
export function streamEvents(c: Context, events: AsyncIterable<GenerationEvent>, meta: ResponseMeta, opts: SseOptions): Response {
  return streamSSE(c, async (sse) => {
    sse.onAbort(opts.onClientGone);
    const send = (obj: unknown) => sse.writeSSE({ data: JSON.stringify(obj) });
    if (meta.endpoint === 'chat') await send(roleChunk(meta));
    try {
      for await (const event of events) {
        // Writes to a closed stream are swallowed by hono; stop pulling so the engine iterator is returned.
        if (sse.aborted || sse.closed) break;
        if (event.type === 'delta') {
          if (event.text) await send(deltaChunk(meta, event.text));
        } else if (event.type === 'error') {
          await send(errorBody(500, event.message, null, 'generation_failed'));
          return;
        } else if (event.finishReason === 'abort') {
          if (opts.abortedByServer()) await send(SHUTDOWN);
          return;
        } else {
          await send(finishChunk(meta, event.finishReason, opts.includeUsage ? undefined : event.usage.routing));
          if (opts.includeUsage) await send(usageChunk(meta, event.usage));
          await sse.writeSSE({ data: '[DONE]' });
          return;
        }
      }
    } catch (err) {
      opts.onFailure(err);
      await send(errorBody(500, 'Internal error during generation', null, 'generation_failed'));
      return;
    }
    // The engine ended without a done event: only happens when it was aborted underneath us.
    if (!sse.aborted && opts.abortedByServer()) await send(SHUTDOWN);
  });
}
