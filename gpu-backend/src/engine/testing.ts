import type { ResolvedRouting } from '../../../shared/routing/resolve.ts';
import type { RoutingStrategy } from '../../../shared/routing/schema.ts';
import type { Usage } from '../../../shared/openai/responses.ts';
import type { FinishReason, GenerationEvent, GenerationRequest, SamplingParams } from './types.ts';

/** Helpers for engine tests: build requests and drain their event streams. */

export interface Collected {
  text: string;
  deltas: string[];
  /** Tokens each delta came from (held-back text makes some carry several). */
  deltaTokens: number[];
  tokenIds: number[];
  finishReason: FinishReason | null;
  usage: (Usage & { routing: NonNullable<Usage['routing']> }) | null;
  error: string | null;
}

export async function collect(events: AsyncIterable<GenerationEvent>, onDelta?: (n: number) => void): Promise<Collected> {
  const out: Collected = { text: '', deltas: [], deltaTokens: [], tokenIds: [], finishReason: null, usage: null, error: null };
  for await (const e of events) {
    if (e.type === 'delta') {
      out.deltas.push(e.text);
      out.deltaTokens.push(e.tokenIds.length);
      out.text += e.text;
      out.tokenIds.push(...e.tokenIds);
      onDelta?.(out.deltas.length);
    } else if (e.type === 'done') {
      out.finishReason = e.finishReason;
      out.usage = e.usage;
    } else out.error = e.message;
  }
  return out;
}

export function routing(numLayers: number, numExperts: number, over: Partial<Omit<ResolvedRouting, 'keyExpertMask'>> & { strategy?: RoutingStrategy; keyExperts?: Record<number, number[]> } = {}): ResolvedRouting {
  const keyExpertMask = new Uint8Array(numLayers * numExperts);
  for (const [layer, ids] of Object.entries(over.keyExperts ?? {})) for (const e of ids) keyExpertMask[Number(layer) * numExperts + e] = 1;
  const { keyExperts: _k, ...rest } = over;
  return { strategy: 'top_k', keyExpertMask, lambda: 1, tau: 0.9, topK: 4, minExperts: 1, renormalize: false, stats: 'summary', ...rest };
}

let counter = 0;
export function request(r: ResolvedRouting, sampling: Partial<SamplingParams> & { prompt?: string; messages?: GenerationRequest['messages'] } = {}): GenerationRequest {
  const { prompt, messages, ...s } = sampling;
  return {
    requestId: `test-${counter++}`,
    ...(messages ? { messages } : { prompt: prompt ?? 'Once upon a time' }),
    sampling: { temperature: 0, topP: 1, topK: 0, maxTokens: 8, stop: [], ...s },
    routing: r,
  };
}
