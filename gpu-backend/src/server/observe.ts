import type { Logger } from 'pino';
import type { GenerationEvent } from '../engine/types.ts';
import type { Metrics } from './metrics.ts';

/**
 * Passes a generation's events through unchanged while recording time to first token,
 * inter-token latency, token counts, and whether it was cut short. Both renderers (SSE and
 * JSON) consume this, so the metrics cannot drift between them.
 */
export async function* observeEvents(
  events: AsyncIterable<GenerationEvent>,
  metrics: Metrics,
  startedAtMs: number,
  cancelReason: () => 'client' | 'shutdown' | null,
  log: Logger,
): AsyncGenerator<GenerationEvent> {
  let last: number | null = null;
  let ttftMs: number | null = null;
  let finished = false;
  try {
    for await (const event of events) {
      if (event.type === 'delta' && event.tokenIds.length > 0) {
        const now = performance.now();
        if (last === null) {
          ttftMs = now - startedAtMs;
          metrics.ttft.observe(ttftMs / 1000);
        }
        // A delta can carry several tokens (a multi-byte character split across tokens); spread the gap.
        else for (let i = 0; i < event.tokenIds.length; i++) metrics.interToken.observe((now - last) / 1000 / event.tokenIds.length);
        last = now;
      } else if (event.type === 'done') {
        metrics.promptTokens.inc(event.usage.prompt_tokens);
        metrics.completionTokens.inc(event.usage.completion_tokens);
        finished = event.finishReason !== 'abort';
        // The access log line of a stream is written when its headers go out; this one tells how it ended.
        const { prompt_tokens, completion_tokens } = event.usage;
        log.info({ finishReason: event.finishReason, promptTokens: prompt_tokens, completionTokens: completion_tokens, ttftMs: ttftMs && Math.round(ttftMs), totalMs: Math.round(performance.now() - startedAtMs) }, 'generation finished');
      } else if (event.type === 'error') {
        finished = true;
        log.error({ reason: event.message }, 'generation failed');
      }
      yield event;
    }
  } finally {
    // Also runs when the consumer stops early (client gone): the generator is returned, not drained.
    if (!finished) {
      const reason = cancelReason() ?? 'client';
      metrics.cancelled.inc({ reason });
      log.info({ reason, totalMs: Math.round(performance.now() - startedAtMs) }, 'generation cancelled');
    }
  }
}
