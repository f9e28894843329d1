import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import type { GenerationEvent } from '../../engine/types.ts';
import { responseMeta } from './objects.ts';
import { streamEvents } from './sse.ts';

// Event sequences the real engine produces only on faults or shutdown, which a test cannot
// provoke on demand; the renderer is a function of the events, so they are given as data.
async function render(events: GenerationEvent[], abortedByServer = false, failure?: Error): Promise<string[]> {
  const failures: unknown[] = [];
  const source = async function* () {
    yield* events;
    if (failure) throw failure;
  };
  const app = new Hono().get('/', (c) =>
    streamEvents(c, source(), responseMeta('chat', 'req-1', 'tiny'), { includeUsage: true, onClientGone: () => {}, abortedByServer: () => abortedByServer, onFailure: (e) => failures.push(e) }),
  );
  const text = await (await app.request('/')).text();
  if (failure) expect(failures).toEqual([failure]);
  return text.split('\n\n').filter(Boolean).map((frame) => frame.replace(/^data: /, ''));
}

const delta: GenerationEvent = { type: 'delta', text: 'Hel', tokenIds: [1] };

describe('streamEvents', () => {
  it('sends an error that happens after streaming began as one data event, then closes without [DONE]', async () => {
    const frames = await render([delta, { type: 'error', message: 'runner failed' }]);
    expect(frames).toHaveLength(3);
    expect(JSON.parse(frames[1]).choices[0].delta).toEqual({ content: 'Hel' });
    expect(JSON.parse(frames[2])).toEqual({ error: { message: 'runner failed', type: 'server_error', param: null, code: 'generation_failed' } });
  });

  it('turns an exception from the engine iterator into the same in-band error event', async () => {
    const frames = await render([delta], false, new Error('ORT exploded'));
    expect(frames).toHaveLength(3);
    // The internal message stays in the log, not on the wire.
    expect(JSON.parse(frames[2]).error).toMatchObject({ message: 'Internal error during generation', code: 'generation_failed' });
  });

  it('ends a generation the server aborted (shutdown) with a server_shutdown error event', async () => {
    const usage = { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2, routing: { strategy: 'top_k' as const, top_k: 2, experts_per_token: { prompt: 2, completion: 2, overall: 2 }, per_layer: { prompt: [2], completion: [2] }, tokens: { prompt: 1, completion: 1 } } };
    const frames = await render([delta, { type: 'done', finishReason: 'abort', usage }], true);
    expect(frames.at(-1)).not.toBe('[DONE]');
    expect(JSON.parse(frames.at(-1)!).error.code).toBe('server_shutdown');
    // A client abort needs no goodbye: nobody is reading.
    expect(await render([delta, { type: 'done', finishReason: 'abort', usage }], false)).toHaveLength(2);
  });
});
