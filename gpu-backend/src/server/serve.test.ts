import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OpenAIErrorBody } from '../../../shared/openai/errors.ts';
import type { Usage } from '../../../shared/openai/responses.ts';
import { signRequest } from '../../../shared/signing/index.ts';
import { createEngine } from '../engine/index.ts';
import { getTinyModel } from '../testing/tiny-model.ts';
import { BAD_INPUTS, badBody } from './bad-inputs.fixture.ts';
import { parseConfig } from './config.ts';
import { signedFetch } from './signed-client.ts';
import { sseData } from './sse-client.ts';
import { startBackend, type Backend } from './start.ts';

// The real server on an ephemeral port, the real engine and the tiny model on the CPU.
const secret = 'serve-test-secret-0123456789abcdef';
const FOCUS_PROFILE = { name: 'focus', defaults: { strategy: 'pick', lambda: 0.5 }, key_experts: { '*': [0, 1] } };
let backend: Backend;
let base: string;
let model: string;
let contextLength: number;
let modelDir: string;
let strategies: string[];
let maxTopK: number;

beforeAll(async () => {
  const { modelDir: tinyDir } = await getTinyModel();
  // The shared tiny model plus one routing profile: a folder of links, so the cached model stays untouched.
  modelDir = mkdtempSync(join(tmpdir(), 'pickban-serve-'));
  for (const f of readdirSync(tinyDir)) if (f !== 'profiles') symlinkSync(join(tinyDir, f), join(modelDir, f));
  mkdirSync(join(modelDir, 'profiles'));
  writeFileSync(join(modelDir, 'profiles', 'focus.json'), JSON.stringify(FOCUS_PROFILE));
  const config = parseConfig({
    MODEL_DIR: modelDir, BACKEND_SECRET: secret, HOST: '127.0.0.1', PORT: '0',
    MAX_RUNNING_SEQS: '4', MAX_QUEUED_SEQS: '4', SHUTDOWN_GRACE_MS: '1500', LOG_LEVEL: 'silent',
  });
  backend = await startBackend(config, createEngine, pino({ level: 'silent' }));
  await backend.engineReady;
  base = `http://127.0.0.1:${backend.port}`;
  const info = backend.lifecycle.engine!.modelInfo();
  model = info.id;
  strategies = info.routing.strategies;
  maxTopK = info.routing.max_top_k;
  contextLength = backend.lifecycle.engine!.manifest.architecture.maxPositionEmbeddings;
});
afterAll(async () => {
  await backend?.shutdown();
  if (modelDir) rmSync(modelDir, { recursive: true, force: true });
});

const post = (path: string, body: unknown, init?: RequestInit) => signedFetch(base, secret, path, body, init);
const chat = (content: string, extra: Record<string, unknown> = {}) => ({ model, messages: [{ role: 'user', content }], temperature: 0, max_tokens: 12, ...extra });
type Chunk = { object: string; choices: { delta?: { content?: string; role?: string }; text?: string; finish_reason: string | null }[]; usage?: Usage; routing?: Usage['routing']; error?: OpenAIErrorBody['error'] };

/** Streams a chat completion; returns the concatenated text and every parsed event. */
async function stream(body: Record<string, unknown>, path = '/v1/chat/completions') {
  const res = await post(path, { ...body, stream: true });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toContain('text/event-stream');
  const datas: string[] = [];
  for await (const data of sseData(res)) datas.push(data);
  const chunks = datas.filter((d) => d !== '[DONE]').map((d) => JSON.parse(d) as Chunk);
  const text = chunks.map((c) => c.choices?.[0]?.delta?.content ?? c.choices?.[0]?.text ?? '').join('');
  return { datas, chunks, text, usage: chunks.find((c) => c.usage)?.usage };
}

async function metricValue(name: string): Promise<number> {
  const text = await (await signedFetch(base, secret, '/metrics')).text();
  const line = text.split('\n').find((l) => l.startsWith(name + ' '));
  return line ? Number(line.split(' ').at(-1)) : NaN;
}

async function until(check: () => boolean, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('backend against the tiny model', () => {
  it('lists the model with its routing limits', async () => {
    const res = await signedFetch(base, secret, '/v1/models');
    const list = (await res.json()) as { object: string; data: { id: string; routing: { num_experts: number; profiles: string[] } }[] };
    expect(list.object).toBe('list');
    expect(list.data.map((m) => m.id)).toEqual([model]);
    expect(list.data[0].routing.num_experts).toBeGreaterThan(1);
    expect(list.data[0].routing.profiles).toEqual(['focus']);
  });

  it.each(BAD_INPUTS)('answers 400 naming the param for: $name', async (input) => {
    const res = await post(input.endpoint === 'chat' ? '/v1/chat/completions' : '/v1/completions', badBody(input, model));
    expect(res.status).toBe(400);
    const { error } = (await res.json()) as OpenAIErrorBody;
    // A strategy this model lacks is itself the first problem (the tiny model may serve top_k only).
    const unsupported = input.needsStrategy !== undefined && !strategies.includes(input.needsStrategy);
    expect(error).toMatchObject({ type: 'invalid_request_error', param: unsupported ? 'routing.strategy' : input.param });
  });

  it('answers 400 for malformed JSON and for a prompt plus max_tokens over the context', async () => {
    const bad = await fetch(base + '/v1/completions', { method: 'POST', body: '{"model":', headers: await signRequest({ secret, method: 'POST', path: '/v1/completions', body: '{"model":' }) });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as OpenAIErrorBody).error.code).toBe('invalid_json');
    const long = await post('/v1/completions', { model, prompt: 'word '.repeat(contextLength), max_tokens: 8 });
    expect(long.status).toBe(400);
    expect(((await long.json()) as OpenAIErrorBody).error.type).toBe('invalid_request_error');
  });

  it('returns a chat.completion with usage.routing, and the same greedy text as the stream', async () => {
    const res = await post('/v1/chat/completions', chat('The capital of France is'));
    expect(res.status).toBe(200);
    const body = (await res.json()) as { object: string; choices: { message: { role: string; content: string }; finish_reason: string }[]; usage: Usage };
    expect(body.object).toBe('chat.completion');
    expect(body.choices[0].message.role).toBe('assistant');
    expect(['stop', 'length']).toContain(body.choices[0].finish_reason);
    expect(body.usage.completion_tokens).toBeGreaterThan(0);
    expect(body.usage.total_tokens).toBe(body.usage.prompt_tokens + body.usage.completion_tokens);
    expect(body.usage.routing?.strategy).toBe('top_k');
    const streamed = await stream(chat('The capital of France is'));
    expect(streamed.text).toBe(body.choices[0].message.content);
  });

  it('frames SSE as role chunk, deltas, finish, usage chunk, then [DONE]', async () => {
    const { datas, chunks, usage } = await stream(chat('Count: one, two,', { stream_options: { include_usage: true } }));
    expect(datas.at(-1)).toBe('[DONE]');
    expect(datas.filter((d) => d === '[DONE]')).toHaveLength(1);
    expect(chunks[0].choices[0].delta).toEqual({ role: 'assistant', content: '' });
    const usageChunk = chunks.at(-1)!;
    expect(usageChunk.choices).toEqual([]);
    expect(usageChunk.usage?.routing?.per_layer.completion.length).toBeGreaterThan(0);
    expect(chunks.at(-2)!.choices[0].finish_reason).toMatch(/^(stop|length)$/);
    expect(chunks.slice(0, -2).every((c) => c.object === 'chat.completion.chunk' && c.choices[0].finish_reason === null)).toBe(true);
    // Deltas never split a character, so a delta holds one or more tokens.
    expect(chunks.length - 3).toBeGreaterThan(0);
    expect(chunks.length - 3).toBeLessThanOrEqual(usage!.completion_tokens);
  });

  it('puts routing on the finish chunk when include_usage is off, and streams /v1/completions', async () => {
    const { chunks } = await stream({ model, prompt: 'Once upon a time', temperature: 0, max_tokens: 6, routing: { top_k: 1, stats: 'full' } }, '/v1/completions');
    expect(chunks.every((c) => c.object === 'text_completion' && !c.usage)).toBe(true);
    const finish = chunks.at(-1)!;
    expect(finish.choices[0].finish_reason).toMatch(/^(stop|length)$/);
    expect(finish.routing).toMatchObject({ strategy: 'top_k', top_k: 1 });
    expect(finish.routing?.counts?.completion.length).toBe(finish.routing?.per_layer.completion.length);
  });

  it('gives parallel greedy streams with mixed routing the same text and statistics as alone', async () => {
    // Every routing variant the model serves: top_k at three widths, plus ban / pick once the router kernel offers them.
    const routings: Record<string, unknown>[] = [{}, { top_k: 1 }, { top_k: maxTopK, stats: 'full' }];
    if (strategies.includes('ban')) routings.push({ strategy: 'ban', tau: 0.6 });
    if (strategies.includes('pick')) routings.push({ strategy: 'pick', key_experts: { '*': [0], '0': [1] }, lambda: 0.5 });
    const prompts = ['Tell me about the sea', 'List three colours', 'Why is the sky blue?', 'Write a haiku', 'Name a prime'];
    const bodies = routings.map((routing, i) => chat(prompts[i], { max_tokens: 8 + 2 * i, routing, stream_options: { include_usage: true } }));
    const alone = [];
    for (const b of bodies) alone.push(await stream(b));
    const together = await Promise.all(bodies.map((b) => stream(b)));
    expect(together.map((r) => r.text)).toEqual(alone.map((r) => r.text));
    expect(together.map((r) => r.usage)).toEqual(alone.map((r) => r.usage));
  });

  it('applies a stored routing profile exactly like the same fields sent explicitly', async () => {
    const viaProfile = await stream(chat('Explain tides', { max_tokens: 10, routing: { profile: 'focus', stats: 'full' }, stream_options: { include_usage: true } }));
    const explicit = await stream(chat('Explain tides', { max_tokens: 10, routing: { ...FOCUS_PROFILE.defaults, key_experts: FOCUS_PROFILE.key_experts, stats: 'full' }, stream_options: { include_usage: true } }));
    expect(viaProfile.usage?.routing).toMatchObject({ strategy: 'pick', profile: 'focus' });
    expect(viaProfile.text).toBe(explicit.text);
    const { profile: _name, ...profileStats } = viaProfile.usage!.routing!;
    expect(profileStats).toEqual(explicit.usage!.routing);
    // The profile's strategy makes the request's own key_experts valid (they add to the profile's).
    const extended = await post('/v1/chat/completions', chat('Explain tides', { max_tokens: 2, routing: { profile: 'focus', key_experts: { '0': [2] } } }));
    expect(extended.status).toBe(200);
  });

  it('answers 429 with Retry-After past the running + queued limits', async () => {
    const controllers = Array.from({ length: 12 }, () => new AbortController());
    const maxTokens = Math.min(200, Math.floor(contextLength / 2));
    const responses = await Promise.all(controllers.map((ctl, i) => post('/v1/chat/completions', chat(`Story ${i}`, { stream: true, max_tokens: maxTokens }), { signal: ctl.signal })));
    const refused = responses.filter((r) => r.status === 429);
    expect(refused.length).toBeGreaterThanOrEqual(4);
    expect(responses.filter((r) => r.status === 200).length).toBeLessThanOrEqual(8);
    for (const r of refused) {
      expect(Number(r.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(((await r.json()) as OpenAIErrorBody).error.type).toBe('rate_limit_error');
    }
    controllers.forEach((c) => c.abort());
    const engine = backend.lifecycle.engine!;
    await until(() => engine.snapshot().running === 0 && engine.snapshot().queued === 0);
  });

  it('frees the sequence when the client disconnects mid-stream, and /metrics shows it', async () => {
    const engine = backend.lifecycle.engine!;
    await until(() => engine.snapshot().running === 0);
    const cancelledBefore = await metricValue('pickban_requests_cancelled_total{reason="client"}');
    const ctl = new AbortController();
    const res = await post('/v1/chat/completions', chat('Go on forever', { stream: true, max_tokens: Math.min(400, Math.floor(contextLength / 2)) }), { signal: ctl.signal });
    let deltas = 0;
    for await (const data of sseData(res)) {
      if (data.includes('"content":"') && !data.includes('"role"')) deltas++;
      if (deltas === 2) break;
    }
    expect(engine.snapshot().running + engine.snapshot().queued).toBe(1);
    ctl.abort();
    await until(() => engine.snapshot().running === 0 && engine.snapshot().queued === 0 && engine.snapshot().kvTokensUsed === 0);
    expect((await metricValue('pickban_requests_cancelled_total{reason="client"}')) - (Number.isNaN(cancelledBefore) ? 0 : cancelledBefore)).toBe(1);
  });

  it('frees a non-streaming generation whose client disconnects, counted as 499', async () => {
    const engine = backend.lifecycle.engine!;
    await until(() => engine.snapshot().running === 0);
    const ctl = new AbortController();
    const pending = post('/v1/chat/completions', chat('Wait for me', { max_tokens: Math.min(400, Math.floor(contextLength / 2)) }), { signal: ctl.signal }).catch((e: unknown) => e);
    await until(() => engine.snapshot().running === 1);
    ctl.abort();
    expect(await pending).toBeInstanceOf(Error);
    await until(() => engine.snapshot().running === 0 && engine.snapshot().kvTokensUsed === 0);
    // The request is counted when its handler returns, a moment after the engine let go.
    let count = NaN;
    for (let i = 0; i < 50 && Number.isNaN(count); i++) {
      count = await metricValue('pickban_requests_total{route="/v1/chat/completions",status="499"}');
      if (Number.isNaN(count)) await new Promise((r) => setTimeout(r, 20));
    }
    expect(count).toBe(1);
  });

  it('exports request, latency, token and engine metrics from real requests', async () => {
    const before = { out: await metricValue('pickban_completion_tokens_total'), in: await metricValue('pickban_prompt_tokens_total'), ttft: await metricValue('pickban_time_to_first_token_seconds_count') };
    const { usage } = await stream(chat('Metrics please', { max_tokens: 5, stream_options: { include_usage: true } }));
    expect((await metricValue('pickban_completion_tokens_total')) - before.out).toBe(usage!.completion_tokens);
    expect((await metricValue('pickban_prompt_tokens_total')) - before.in).toBe(usage!.prompt_tokens);
    expect((await metricValue('pickban_time_to_first_token_seconds_count')) - before.ttft).toBe(1);
    const text = await (await signedFetch(base, secret, '/metrics')).text();
    expect(text).toMatch(/pickban_requests_total\{route="\/v1\/chat\/completions",status="200"\} [1-9]/);
    expect(text).toMatch(/pickban_requests_total\{route="\/v1\/chat\/completions",status="400"\} [1-9]/);
    expect(text).toMatch(/pickban_requests_total\{route="\/v1\/chat\/completions",status="429"\} [1-9]/);
    expect(text).toMatch(/pickban_inter_token_latency_seconds_count [1-9]/);
    expect(text).toMatch(/pickban_experts_per_token\{layer="0"\} \d/);
    // The CPU model has one graph: every run so far was on it, and the count grows with each request.
    const runs = await metricValue('pickban_graph_runs_total{graph="model.onnx"}');
    expect(runs).toBeGreaterThan(0);
    await stream(chat('One more', { max_tokens: 2 }));
    expect(await metricValue('pickban_graph_runs_total{graph="model.onnx"}')).toBeGreaterThan(runs);
    expect(text).toMatch(/pickban_kv_cache_usage_ratio 0/);
    expect(text).toMatch(/pickban_running_sequences 0/);
  });

  it('drains on shutdown: new work gets 503, short streams finish, long ones end with an error event', async () => {
    // Both streams are running (first delta seen) before SIGTERM's work starts.
    const started: Promise<void>[] = [];
    const collect = (res: Response) => {
      let first!: () => void;
      started.push(new Promise<void>((r) => (first = r)));
      return (async () => {
        const out: string[] = [];
        for await (const d of sseData(res)) {
          out.push(d);
          if (out.length === 2) first();
        }
        return out;
      })();
    };
    const shortEvents = collect(await post('/v1/chat/completions', chat('Short one', { stream: true, max_tokens: 6 })));
    const longEvents = collect(await post('/v1/chat/completions', chat('Long one', { stream: true, max_tokens: Math.min(4000, contextLength - 64) })));
    await Promise.all(started);
    const stopped = backend.shutdown();
    const refused = await post('/v1/chat/completions', chat('Too late'));
    expect(refused.status).toBe(503);
    expect((await fetch(base + '/ready')).status).toBe(503);
    expect((await shortEvents).at(-1)).toBe('[DONE]');
    const events = await longEvents;
    expect(events.at(-1)).not.toBe('[DONE]');
    expect(JSON.parse(events.at(-1)!).error.code).toBe('server_shutdown');
    await stopped;
  });
});
