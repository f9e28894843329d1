import { createParser } from 'eventsource-parser';
import { nowMs } from './sse-backend.ts';

export interface StreamTiming {
  /** Request start to the first data event, ms. */
  ttfb: number;
  /** Per chunk: arrival minus the backend's send stamp, ms. */
  chunkDelays: number[];
}

/** Streams one request and times it; throws unless it ends with [DONE]. */
export async function timeStream(url: string, init: RequestInit): Promise<StreamTiming> {
  const start = nowMs();
  const res = await fetch(url, init);
  if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${await res.text()}`);
  let ttfb = -1;
  let done = false;
  const chunkDelays: number[] = [];
  let arrival = 0;
  const parser = createParser({
    onEvent(event) {
      if (event.data === '[DONE]') return void (done = true);
      if (ttfb < 0) ttfb = arrival - start;
      chunkDelays.push(arrival - JSON.parse(event.data).sent);
    },
  });
  const decoder = new TextDecoder();
  for await (const bytes of res.body as unknown as AsyncIterable<Uint8Array>) {
    arrival = nowMs();
    parser.feed(decoder.decode(bytes, { stream: true }));
  }
  if (!done) throw new Error('stream ended without [DONE]');
  return { ttfb, chunkDelays };
}

export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

export const median = (values: number[]) => percentile(values, 50);
