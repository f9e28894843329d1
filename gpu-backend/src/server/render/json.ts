import { ApiError } from '../../../../shared/openai/errors.ts';
import type { GenerationEvent } from '../../engine/types.ts';
import { completionObject, type ResponseMeta } from './objects.ts';

/** Collects a whole generation into the non-streaming chat.completion / text_completion object. */
export async function collectEvents(events: AsyncIterable<GenerationEvent>, meta: ResponseMeta) {
  let text = '';
  for await (const event of events) {
    if (event.type === 'delta') text += event.text;
    else if (event.type === 'error') throw new ApiError(500, event.message, null, 'generation_failed');
    else if (event.finishReason === 'abort') break;
    else return completionObject(meta, text, event.finishReason, event.usage);
  }
  throw new ApiError(503, 'The backend shut down before this generation finished', null, 'server_shutdown', { 'Retry-After': '1' });
}
