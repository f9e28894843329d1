import type { FinishReason, GenerationEvent } from '../../engine/types.ts';
import type { Endpoint } from '../mapping.ts';

/**
 * OpenAI wire objects for both endpoints, streaming and not. Shapes follow the official `openai`
 * package's types (chat.completion, chat.completion.chunk, text_completion).
 */
export type FinalUsage = Extract<GenerationEvent, { type: 'done' }>['usage'];

export interface ResponseMeta {
  endpoint: Endpoint;
  id: string;
  created: number;
  model: string;
}

/** OpenAI has no "abort": a sequence the server cut short ends with an error event instead (routes/completions.ts). */
export type OpenAIFinishReason = Exclude<FinishReason, 'abort'>;

export function responseMeta(endpoint: Endpoint, requestId: string, model: string): ResponseMeta {
  return { endpoint, id: `${endpoint === 'chat' ? 'chatcmpl' : 'cmpl'}-${requestId}`, created: Math.floor(Date.now() / 1000), model };
}

const head = (m: ResponseMeta) => ({ id: m.id, object: m.endpoint === 'chat' ? 'chat.completion.chunk' : 'text_completion', created: m.created, model: m.model });

/** The chunk that opens a chat stream: OpenAI sends the role once, with empty content. */
export function roleChunk(m: ResponseMeta) {
  return { ...head(m), choices: [{ index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }] };
}

export function deltaChunk(m: ResponseMeta, text: string) {
  const choice = m.endpoint === 'chat' ? { index: 0, delta: { content: text }, logprobs: null, finish_reason: null } : { index: 0, text, logprobs: null, finish_reason: null };
  return { ...head(m), choices: [choice] };
}

/**
 * The chunk carrying finish_reason. `routing` is PickBan's: when the client did not ask for the usage
 * chunk, the routing statistics still reach it here (OpenAI clients ignore unknown chunk fields).
 */
export function finishChunk(m: ResponseMeta, finishReason: OpenAIFinishReason, routing?: FinalUsage['routing']) {
  const choice = m.endpoint === 'chat' ? { index: 0, delta: {}, logprobs: null, finish_reason: finishReason } : { index: 0, text: '', logprobs: null, finish_reason: finishReason };
  return { ...head(m), choices: [choice], ...(routing ? { routing } : {}) };
}

/** stream_options.include_usage: one more chunk with empty choices, right before [DONE]. */
export function usageChunk(m: ResponseMeta, usage: FinalUsage) {
  return { ...head(m), choices: [], usage };
}

/** The non-streaming response object. */
export function completionObject(m: ResponseMeta, text: string, finishReason: OpenAIFinishReason, usage: FinalUsage) {
  const choice =
    m.endpoint === 'chat'
      ? { index: 0, message: { role: 'assistant', content: text, refusal: null }, logprobs: null, finish_reason: finishReason }
      : { index: 0, text, logprobs: null, finish_reason: finishReason };
  return { id: m.id, object: m.endpoint === 'chat' ? 'chat.completion' : 'text_completion', created: m.created, model: m.model, choices: [choice], usage };
}
