import { createParser } from 'eventsource-parser';
import type { ModelInfo, RoutingStats } from '../../../shared/openai/responses.ts';

/** A refusal from the API, carrying its OpenAI error fields so the page can place the message. */
export class ApiFailure extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly param: string | null = null,
    readonly code: string | null = null,
  ) {
    super(message);
  }
}

const auth = (apiKey: string) => ({ authorization: `Bearer ${apiKey}` });

async function failure(res: Response): Promise<ApiFailure> {
  const text = await res.text();
  try {
    const { error } = JSON.parse(text) as { error: { message: string; param?: string | null; code?: string | null } };
    return new ApiFailure(res.status, error.message, error.param ?? null, error.code ?? null);
  } catch {
    return new ApiFailure(res.status, text.trim() || `HTTP ${res.status}`);
  }
}

export async function listModels(apiKey: string): Promise<ModelInfo[]> {
  const res = await fetch('/v1/models', { headers: auth(apiKey) });
  if (!res.ok) throw await failure(res);
  return ((await res.json()) as { data: ModelInfo[] }).data;
}

export interface StreamResult {
  text: string;
  routing?: RoutingStats;
  completionTokens?: number;
  /** From sending the request to the first content delta, and to [DONE]. */
  firstTokenSeconds?: number;
  totalSeconds: number;
}

interface Chunk {
  choices?: { delta?: { content?: string }; finish_reason?: string | null }[];
  routing?: RoutingStats;
  usage?: { completion_tokens: number; routing?: RoutingStats } | null;
  error?: { message: string; param?: string | null; code?: string | null };
}

/**
 * POSTs the body text exactly as shown on the page and reads the SSE reply with a maintained parser
 * (events may split across network reads). Routing stats come from the finish chunk or usage.routing.
 */
export async function streamChat(bodyText: string, apiKey: string, onDelta: (text: string) => void, signal?: AbortSignal): Promise<StreamResult> {
  const started = performance.now();
  const res = await fetch('/v1/chat/completions', {
    method: 'POST',
    headers: { ...auth(apiKey), 'content-type': 'application/json', accept: 'text/event-stream' },
    body: bodyText,
    signal,
  });
  if (!res.ok || !res.body) throw await failure(res);
  const result: StreamResult = { text: '', totalSeconds: 0 };
  let streamError: ApiFailure | undefined;
  const parser = createParser({
    onEvent(event) {
      if (event.data === '[DONE]') return;
      const chunk = JSON.parse(event.data) as Chunk;
      if (chunk.error) {
        streamError = new ApiFailure(500, chunk.error.message, chunk.error.param ?? null, chunk.error.code ?? null);
        return;
      }
      const delta = chunk.choices?.[0]?.delta?.content;
      if (delta) {
        result.firstTokenSeconds ??= (performance.now() - started) / 1000;
        result.text += delta;
        onDelta(delta);
      }
      if (chunk.routing) result.routing = chunk.routing;
      if (chunk.usage) {
        result.completionTokens = chunk.usage.completion_tokens;
        if (chunk.usage.routing) result.routing = chunk.usage.routing;
      }
    },
  });
  const decoder = new TextDecoder();
  const reader = res.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    parser.feed(decoder.decode(value, { stream: true }));
  }
  result.totalSeconds = (performance.now() - started) / 1000;
  if (streamError) throw streamError;
  return result;
}
