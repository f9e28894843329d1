import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RoutingStatsSchema, type RoutingStats } from '../../shared/openai/responses.ts';
import { createKey } from '../../edge/scripts/keys/store.ts';
import { backendMetric, startTestStack } from './stack.ts';

/**
 * The official OpenAI client against the real stack: edge under `wrangler dev`, backend serving the
 * tiny model. `routing` rides along as an extra body field, exactly as a user would send it.
 */
let stack: Awaited<ReturnType<typeof startTestStack>>;
let client: OpenAI;
let model: string;
let numLayers: number;
let topK: number;

const messages = [{ role: 'user' as const, content: 'Tell me a story about a lighthouse.' }];
const clientFor = (apiKey: string) => new OpenAI({ baseURL: `${stack.edgeUrl}/v1`, apiKey, maxRetries: 0 });

beforeAll(async () => {
  stack = await startTestStack();
  client = clientFor(stack.apiKey);
  const list = await client.models.list();
  const info = list.data[0] as unknown as { id: string; routing: { num_layers: number; default_top_k: number } };
  model = info.id;
  numLayers = info.routing.num_layers;
  topK = info.routing.default_top_k;
});
afterAll(async () => stack?.dispose());

/** Streams a chat completion and returns its text and the usage chunk. */
async function streamChat(extra: Record<string, unknown> = {}, c = client) {
  const stream = await c.chat.completions.create({
    model, messages, stream: true, stream_options: { include_usage: true }, max_tokens: 12, temperature: 0, ...extra,
  } as OpenAI.ChatCompletionCreateParamsStreaming);
  let text = '';
  let usage: (OpenAI.CompletionUsage & { routing?: RoutingStats }) | undefined;
  let finish: string | null = null;
  let chunksAfterUsage = 0;
  for await (const chunk of stream) {
    if (usage) chunksAfterUsage++;
    text += chunk.choices[0]?.delta?.content ?? '';
    finish = chunk.choices[0]?.finish_reason ?? finish;
    if (chunk.usage) usage = chunk.usage as typeof usage;
  }
  return { text, usage: usage!, finish, chunksAfterUsage };
}

describe('chat and completions through the OpenAI client', () => {
  it('streams a chat completion without routing, usage last', async () => {
    const r = await streamChat();
    expect(r.text.length).toBeGreaterThan(0);
    expect(r.finish).toMatch(/stop|length/);
    expect(r.chunksAfterUsage).toBe(0);
    expect(r.usage.completion_tokens).toBeGreaterThan(0);
    const stats = RoutingStatsSchema.parse(r.usage.routing);
    expect(stats.strategy).toBe('top_k');
    expect(stats.experts_per_token.prompt).toBe(topK);
  });

  it('non-streaming chat gives the same greedy text as streaming', async () => {
    const streamed = await streamChat();
    const r = await client.chat.completions.create({ model, messages, max_tokens: 12, temperature: 0 });
    expect(r.object).toBe('chat.completion');
    expect(r.choices[0].message.content).toBe(streamed.text);
    expect(r.usage?.total_tokens).toBe(r.usage!.prompt_tokens + r.usage!.completion_tokens);
  });

  it('serves legacy completions', async () => {
    const r = await client.completions.create({ model, prompt: 'The lighthouse keeper', max_tokens: 8, temperature: 0 });
    expect(r.object).toBe('text_completion');
    expect(r.choices[0].text.length).toBeGreaterThan(0);
    expect(r.usage?.completion_tokens).toBeGreaterThan(0);
  });
});

describe('routing statistics', () => {
  it('pick selects every key expert for every token of its layer', async () => {
    const keys = { '*': [3], '1': [7, 11] };
    const r = await streamChat({ routing: { strategy: 'pick', key_experts: keys, lambda: 1, stats: 'full' } });
    const stats = RoutingStatsSchema.parse(r.usage.routing);
    expect(stats.strategy).toBe('pick');
    for (let l = 0; l < numLayers; l++) {
      const want = l === 1 ? [3, 7, 11] : [3];
      for (const e of want) {
        expect(stats.counts!.prompt[l][e]).toBe(stats.tokens.prompt);
        expect(stats.counts!.completion[l][e]).toBe(stats.tokens.completion);
      }
    }
  });

  it('ban with a low tau uses fewer experts per token than top_k', async () => {
    const r = await streamChat({ routing: { strategy: 'ban', tau: 0.2 } });
    const stats = RoutingStatsSchema.parse(r.usage.routing);
    expect(stats.experts_per_token.overall).toBeLessThan(topK);
    expect(stats.experts_per_token.overall).toBeGreaterThanOrEqual(1);
  });
});

describe('refusals as the client surfaces them', () => {
  it('401 for an unknown key', async () => {
    const err = await clientFor('pb_' + 'x'.repeat(43)).models.list().catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.AuthenticationError);
    expect(err.code).toBe('invalid_api_key');
  });

  it('400 with param for an out-of-range tau and for an unknown routing field', async () => {
    const tau = await streamChat({ routing: { strategy: 'ban', tau: 1.5 } }).catch((e) => e);
    expect(tau).toBeInstanceOf(OpenAI.BadRequestError);
    expect(tau.param).toBe('routing.tau');
    const unknown = await streamChat({ routing: { strategy: 'ban', taus: 0.5 } }).catch((e) => e);
    expect(unknown).toBeInstanceOf(OpenAI.BadRequestError);
    expect(unknown.param).toBe('routing.taus');
  });

  it('403 for a strategy the key may not use', async () => {
    const key = await createKey({ name: 'topk-only', local: true, persistTo: `${stack.stateDir}/wrangler-state`, routing: { raw_key_experts: false, strategies: ['top_k'] } });
    const err = await streamChat({ routing: { strategy: 'ban', tau: 0.5 } }, clientFor(key)).catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.PermissionDeniedError);
    expect(err.message).toMatch(/ban/);
  });

  it('429 once a key passes its rate', async () => {
    const key = await createKey({ name: 'slow', local: true, persistTo: `${stack.stateDir}/wrangler-state`, rpm: 1 });
    const c = clientFor(key);
    let limited: unknown;
    for (let i = 0; i < 30 && !limited; i++) await c.models.list().catch((e) => (limited = e));
    expect(limited).toBeInstanceOf(OpenAI.RateLimitError);
    expect((limited as InstanceType<typeof OpenAI.RateLimitError>).headers.get('retry-after')).toMatch(/^\d+$/);
  });
});

describe('streams under load and abort', () => {
  it('a client abort mid-stream frees the backend sequence', async () => {
    const cancelledBefore = await backendMetric(stack, 'pickban_requests_cancelled_total').catch(() => 0);
    const ctrl = new AbortController();
    const stream = await client.chat.completions.create(
      { model, messages, stream: true, max_tokens: 2000, temperature: 0.8, seed: 1 },
      { signal: ctrl.signal },
    );
    let chunks = 0;
    try {
      for await (const _ of stream) if (++chunks === 5) ctrl.abort();
    } catch {
      // The client reports its own abort; what matters is the backend side below.
    }
    expect(chunks).toBeGreaterThanOrEqual(5);
    let running = 1;
    for (let i = 0; i < 100 && running > 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
      running = await backendMetric(stack, 'pickban_running_sequences');
    }
    expect(running).toBe(0);
    expect(await backendMetric(stack, 'pickban_requests_cancelled_total')).toBe(cancelledBefore + 1);
  });

  it('20 parallel streams all complete with the same text as each alone', async () => {
    const prompts = Array.from({ length: 20 }, (_, i) => `Story number ${i} begins`);
    const run = (content: string) =>
      streamChat({ messages: [{ role: 'user', content }], max_tokens: 10 }).then((r) => ({ text: r.text, tokens: r.usage.completion_tokens }));
    const alone = [];
    for (const p of prompts.slice(0, 4)) alone.push(await run(p));
    const parallel = await Promise.all(prompts.map(run));
    expect(parallel.slice(0, 4)).toEqual(alone);
    for (const r of parallel) {
      expect(r.text.length).toBeGreaterThan(0);
      expect(r.tokens).toBeGreaterThan(0);
    }
  });
});
