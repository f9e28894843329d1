import { describe, it, expect } from 'vitest';
import { Scheduler, type SchedulerConfig } from './scheduler.ts';
import type { SchedulerOutput, StepResult } from './output.ts';
import { AdmissionError, type FinishReason } from '../types.ts';

const base: SchedulerConfig = { maxRunningSeqs: 4, maxQueuedSeqs: 2, maxKvTokens: 1000, maxPrefillChunk: 8, maxBatchTokens: 16, contextLength: 512 };
const prompt = (n: number, start = 1) => Array.from({ length: n }, (_, i) => start + i);

/** Plays the model: every sampling row gets token 1000 + its output length so far. */
function step(s: Scheduler<null>, stop: Record<string, FinishReason> = {}): SchedulerOutput<null> {
  const out = s.schedule();
  const result: StepResult = { sampled: new Map(), finished: new Map() };
  for (const row of out.rows) {
    if (!row.sample) continue;
    result.sampled.set(row.reqId, 1000 + row.startPos);
    if (stop[row.reqId]) result.finished.set(row.reqId, stop[row.reqId]);
  }
  s.updateFromOutput(out, result);
  return out;
}
const add = (s: Scheduler<null>, reqId: string, n: number, maxTokens = 4) => s.add({ reqId, promptTokenIds: prompt(n), maxTokens, params: null });

describe('Scheduler token accounting', () => {
  it('prefills in chunks, then decodes one token per step, until max_tokens', () => {
    const s = new Scheduler<null>(base);
    add(s, 'a', 20, 3);
    const chunks = [step(s), step(s), step(s)].map((o) => o.rows[0]);
    expect(chunks.map((c) => [c.startPos, c.tokenIds.length, c.sample])).toEqual([[0, 8, false], [8, 8, false], [16, 4, true]]);
    expect(chunks[0].tokenIds).toEqual(prompt(8));
    const decode = step(s).rows[0];
    expect(decode).toMatchObject({ startPos: 20, tokenIds: [1016], sample: true });
    step(s);
    expect(s.numRunning).toBe(0); // 3 tokens sampled -> 'length'
    expect(s.schedule().freedReqIds).toEqual(['a']);
    expect(s.hasWork()).toBe(false);
  });

  it('lets a new request join a running batch at the next step while decode keeps flowing', () => {
    const s = new Scheduler<null>({ ...base, maxBatchTokens: 6, maxPrefillChunk: 6 });
    add(s, 'a', 3, 10);
    step(s); // a's prompt
    add(s, 'b', 12, 10);
    const out = step(s);
    expect(out.rows.map((r) => [r.reqId, r.tokenIds.length])).toEqual([['a', 1], ['b', 5]]);
    expect(out.numTokens).toBe(6);
    const next = step(s);
    expect(next.rows.map((r) => [r.reqId, r.tokenIds.length, r.sample])).toEqual([['a', 1, true], ['b', 5, false]]);
  });

  it('finishes on the criteria the caller reports, and frees the KV reservation', () => {
    const s = new Scheduler<null>(base);
    add(s, 'a', 4, 50);
    add(s, 'b', 4, 50);
    expect(s.kvTokensReserved).toBe(0);
    step(s);
    expect(s.kvTokensReserved).toBe(108);
    step(s, { a: 'stop' });
    expect(s.kvTokensReserved).toBe(54);
    expect(s.schedule().freedReqIds).toEqual(['a']);
  });
});

describe('Scheduler admission', () => {
  it('queues beyond max running and answers 429 once the queue is full', () => {
    const s = new Scheduler<null>({ ...base, maxRunningSeqs: 1, maxQueuedSeqs: 1 });
    add(s, 'a', 4);
    step(s);
    add(s, 'b', 4); // queued
    let err: unknown;
    try {
      add(s, 'c', 4);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(AdmissionError);
    expect(err).toMatchObject({ status: 429, retryAfterS: 1 });
    expect(step(s).rows.map((r) => r.reqId)).toEqual(['a']); // b waits for the slot
  });

  it('holds a queued request until the KV budget has room', () => {
    const s = new Scheduler<null>({ ...base, maxKvTokens: 30 });
    add(s, 'a', 10, 10);
    add(s, 'b', 10, 10);
    expect(step(s).rows.map((r) => r.reqId)).toEqual(['a']);
    s.abort('a');
    expect(step(s).rows.map((r) => r.reqId)).toEqual(['b']);
  });

  it('rejects what can never fit with 400 and the right param', () => {
    const s = new Scheduler<null>({ ...base, contextLength: 32, maxKvTokens: 20 });
    expect(() => s.add({ reqId: 'x', promptTokenIds: prompt(40), maxTokens: 1, params: null, promptParam: 'prompt' })).toThrow(expect.objectContaining({ status: 400, param: 'prompt' }));
    expect(() => add(s, 'y', 10, 30)).toThrow(expect.objectContaining({ status: 400, param: 'max_tokens' }));
    expect(() => add(s, 'z', 10, 15)).toThrow(expect.objectContaining({ status: 400, param: 'max_tokens' }));
    expect(() => add(s, 'e', 0, 1)).toThrow(expect.objectContaining({ status: 400, param: 'messages' }));
  });
});

describe('Scheduler cancellation', () => {
  it('an aborted running sequence leaves the batch and is freed at the next step', () => {
    const s = new Scheduler<null>(base);
    add(s, 'a', 4, 50);
    add(s, 'b', 4, 50);
    const inFlight = s.schedule();
    expect(s.abort('a')).toBe(true);
    // The step that was running when the abort came must not resurrect it.
    s.updateFromOutput(inFlight, { sampled: new Map([['a', 7], ['b', 7]]), finished: new Map() });
    const next = s.schedule();
    expect(next.freedReqIds).toEqual(['a']);
    expect(next.rows.map((r) => r.reqId)).toEqual(['b']);
    expect(s.kvTokensReserved).toBe(54);
  });

  it('an aborted queued sequence never runs', () => {
    const s = new Scheduler<null>({ ...base, maxRunningSeqs: 1 });
    add(s, 'a', 4);
    add(s, 'b', 4);
    step(s);
    s.abort('b');
    expect(s.numWaiting).toBe(0);
    while (s.hasWork()) expect(step(s).rows.every((r) => r.reqId === 'a')).toBe(true);
  });
});

describe('Scheduler admission before the first step', () => {
  it('counts sequences queued ahead when deciding 429', () => {
    const s = new Scheduler<null>({ ...base, maxRunningSeqs: 1, maxQueuedSeqs: 1 });
    add(s, 'a', 4); // would start
    add(s, 'b', 4); // queued
    expect(() => add(s, 'c', 4)).toThrow(expect.objectContaining({ status: 429 }));
  });
});

describe('Scheduler decode windows (multi-step decoding)', () => {
  /** Plays the model for a step within a window: the token each row sampled, as step() does. */
  const take = (s: Scheduler<null>, out: SchedulerOutput<null>, stop: Record<string, FinishReason> = {}) => {
    const result: StepResult = { sampled: new Map(out.rows.map((r) => [r.reqId, 1000 + r.startPos])), finished: new Map(Object.entries(stop)) };
    return s.updateFromOutput(out, result);
  };

  it('a window is as long as the fewest tokens any decoding row may still produce', () => {
    const s = new Scheduler<null>(base);
    add(s, 'a', 3, 10);
    add(s, 'b', 3, 4);
    expect(s.decodeSteps(step(s))).toBe(1); // prefill rows never run ahead
    const out = s.schedule();
    expect(out.rows.map((r) => r.tokenIds.length)).toEqual([1, 1]);
    expect(s.decodeSteps(out)).toBe(3); // b has 1 of its 4 tokens
  });

  it('no window while a prefill chunk runs or a queued sequence could start', () => {
    const s = new Scheduler<null>({ ...base, maxBatchTokens: 4, maxPrefillChunk: 4 });
    add(s, 'a', 2, 10);
    step(s);
    add(s, 'b', 12, 10);
    const mixed = s.schedule();
    expect(mixed.rows.map((r) => r.tokenIds.length)).toEqual([1, 3]);
    expect(s.decodeSteps(mixed)).toBe(1);
    const t = new Scheduler<null>({ ...base, maxBatchTokens: 1 });
    add(t, 'a', 1, 10);
    add(t, 'b', 1, 10);
    step(t);
    step(t);
    const one = t.schedule(); // a decodes; b has a slot but no token budget left this step
    expect(one.rows.map((r) => r.reqId)).toEqual(['a']);
    expect(t.decodeSteps(one)).toBe(1);
  });

  it('each step of a window decodes what the step before sampled, for the sequences still running', () => {
    const s = new Scheduler<null>(base);
    add(s, 'a', 3, 10);
    add(s, 'b', 3, 10);
    step(s);
    const first = s.schedule();
    take(s, first, { b: 'stop' });
    const second = s.nextDecodeStep(first);
    expect(second.rows.map((r) => [r.reqId, r.startPos, r.tokenIds, r.sample])).toEqual([['a', 4, [1003], true]]);
    expect(second.freedReqIds).toEqual([]);
    take(s, second);
    expect(s.nextDecodeStep(second).rows.map((r) => [r.reqId, r.startPos, r.tokenIds])).toEqual([['a', 5, [1004]]]);
    // b's KV is freed by the next regular step.
    expect(s.schedule().freedReqIds).toEqual(['b']);
  });

  it('a queued sequence that could start ends a window; one that could not does not', () => {
    const s = new Scheduler<null>({ ...base, maxRunningSeqs: 1 });
    add(s, 'a', 3, 10);
    step(s);
    expect(s.canStartWaiting()).toBe(false);
    add(s, 'b', 3, 10);
    expect(s.canStartWaiting()).toBe(false); // a holds the only slot
    s.abort('a');
    expect(s.canStartWaiting()).toBe(true);
  });
});
