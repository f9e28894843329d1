import { AdmissionError, type EngineLimits, type FinishReason } from '../types.ts';
import type { FinishedSequence, ScheduledChunk, SchedulerOutput, StepResult } from './output.ts';
import { Sequence } from './sequence.ts';

export interface SchedulerConfig extends EngineLimits {
  /** Prompt plus completion tokens the model can attend over. */
  contextLength: number;
}

export interface NewSequence<P> {
  reqId: string;
  promptTokenIds: readonly number[];
  maxTokens: number;
  params: P;
  /** The request field that carries the prompt ('messages' or 'prompt'), named in a 400. */
  promptParam?: string;
}

/** Seconds a client is asked to wait after a 429: roughly how long a queued request waits for a slot. */
const RETRY_AFTER_S = 1;

/**
 * Decides, each step, which sequences run and how many tokens each computes (vLLM v1 style).
 *
 * KV policy: a sequence reserves prompt + max_tokens KV tokens when it starts running and keeps that
 * reservation until it ends. That over-reserves for requests that stop early, but a running sequence
 * can then never run out of cache mid-stream, so there is no preemption or recompute path.
 * Queued sequences hold no KV; they start in FIFO order as slots and reservations free up.
 */
export class Scheduler<P> {
  private readonly waiting: Sequence<P>[] = [];
  private readonly running: Sequence<P>[] = [];
  /** Every sequence held (waiting or running), by request id. */
  private readonly byReqId = new Map<string, Sequence<P>>();
  private freedSinceLastStep: string[] = [];
  private kvReserved = 0;

  constructor(private readonly config: SchedulerConfig) {}

  get numRunning(): number {
    return this.running.length;
  }

  get numWaiting(): number {
    return this.waiting.length;
  }

  /** KV tokens reserved by running sequences (what admission counts against maxKvTokens). */
  get kvTokensReserved(): number {
    return this.kvReserved;
  }

  /** KV tokens actually held (computed) by running sequences. */
  get kvTokensHeld(): number {
    return this.running.reduce((sum, s) => sum + s.numComputed, 0);
  }

  hasWork(): boolean {
    return this.running.length > 0 || this.waiting.length > 0 || this.freedSinceLastStep.length > 0;
  }

  /** Queues a sequence or throws AdmissionError: 400 if it can never fit, 429 if there is no room now. */
  add(seq: NewSequence<P>): void {
    const { contextLength, maxKvTokens, maxQueuedSeqs } = this.config;
    const promptParam = seq.promptParam ?? 'messages';
    const promptLen = seq.promptTokenIds.length;
    if (promptLen === 0) throw new AdmissionError('The prompt is empty after tokenization', 400, promptParam);
    if (promptLen >= contextLength) {
      throw new AdmissionError(`The prompt is ${promptLen} tokens, but this model's context is ${contextLength} tokens including the completion`, 400, promptParam);
    }
    if (promptLen + seq.maxTokens > contextLength) {
      throw new AdmissionError(`The prompt (${promptLen} tokens) plus max_tokens (${seq.maxTokens}) exceeds this model's context of ${contextLength} tokens`, 400, 'max_tokens');
    }
    if (promptLen + seq.maxTokens > maxKvTokens) {
      throw new AdmissionError(`The prompt (${promptLen} tokens) plus max_tokens (${seq.maxTokens}) exceeds this server's KV-cache budget of ${maxKvTokens} tokens`, 400, 'max_tokens');
    }
    if (this.byReqId.has(seq.reqId)) {
      throw new AdmissionError(`Request id '${seq.reqId}' is already in flight`, 400, null);
    }
    const sequence = new Sequence(seq.reqId, seq.promptTokenIds, seq.maxTokens, seq.params);
    if (this.queuedAfterAdding(sequence) > maxQueuedSeqs) {
      throw new AdmissionError(`The server is at capacity (${this.running.length} running, ${this.waiting.length} queued); retry shortly`, 429, null, RETRY_AFTER_S);
    }
    this.waiting.push(sequence);
    this.byReqId.set(seq.reqId, sequence);
  }

  /** Removes a sequence wherever it is; its KV is freed in the runner at the next step. */
  abort(reqId: string): boolean {
    const seq = this.byReqId.get(reqId);
    if (!seq) return false;
    const w = this.waiting.indexOf(seq);
    if (w >= 0) {
      this.waiting.splice(w, 1);
      this.byReqId.delete(reqId);
    } else this.release(seq);
    return true;
  }

  schedule(): SchedulerOutput<P> {
    let budget = this.config.maxBatchTokens;
    const rows: ScheduledChunk<P>[] = [];
    // Fewest missing tokens first: decoding sequences (one behind) keep streaming even while a long
    // prompt is being prefilled in chunks with what is left of the token budget.
    const byNeed = [...this.running].sort((a, b) => a.numUncomputed - b.numUncomputed);
    for (const seq of byNeed) {
      if (budget === 0) break;
      budget -= this.scheduleChunk(seq, budget, rows);
    }
    // Continuous batching: queued sequences join this very step while slots, KV and budget allow.
    while (budget > 0 && this.waiting.length > 0 && this.canStart(this.waiting[0])) {
      const seq = this.waiting.shift()!;
      this.running.push(seq);
      this.kvReserved += seq.kvReservation;
      budget -= this.scheduleChunk(seq, budget, rows);
    }
    const freedReqIds = this.freedSinceLastStep;
    this.freedSinceLastStep = [];
    return { rows, numTokens: this.config.maxBatchTokens - budget, freedReqIds };
  }

  /** Advances token accounting after a step; returns the sequences that ended with it. */
  updateFromOutput(output: SchedulerOutput<P>, result: StepResult): FinishedSequence[] {
    const finished: FinishedSequence[] = [];
    for (const row of output.rows) {
      const seq = this.byReqId.get(row.reqId);
      if (!seq || this.waiting.includes(seq)) continue; // aborted while the step ran
      seq.numComputed += row.tokenIds.length;
      if (!row.sample) continue;
      const token = result.sampled.get(row.reqId);
      if (token === undefined) continue;
      seq.outputTokenIds.push(token);
      // The reservation is the hard bound even if the caller's criteria forgot max_tokens.
      const reason: FinishReason | undefined = result.finished.get(row.reqId) ?? (seq.outputTokenIds.length >= seq.maxTokens ? 'length' : undefined);
      if (reason) {
        this.release(seq);
        finished.push({ reqId: seq.reqId, reason, outputTokenIds: seq.outputTokenIds });
      }
    }
    return finished;
  }

  /**
   * How many decode steps `output` may run before the host looks at its tokens (multi-step decoding):
   * the fewest tokens any of its rows may still produce, and 1 unless every running sequence decodes
   * one token in it (a prefill chunk, a sequence left out or one that could join must not wait a window).
   */
  decodeSteps(output: SchedulerOutput<P>): number {
    if (output.rows.length === 0 || output.rows.length !== this.running.length || this.canStartWaiting()) return 1;
    let steps = Infinity;
    for (const row of output.rows) {
      const seq = this.byReqId.get(row.reqId);
      if (!seq || !row.sample || row.tokenIds.length !== 1) return 1;
      steps = Math.min(steps, seq.maxTokens - seq.outputTokenIds.length);
    }
    return Math.max(1, steps);
  }

  /**
   * The step after `prev` within a window of decode steps, once updateFromOutput took prev's tokens:
   * each row whose sequence still runs decodes the token it just sampled.
   */
  nextDecodeStep(prev: SchedulerOutput<P>): SchedulerOutput<P> {
    const rows: ScheduledChunk<P>[] = [];
    for (const row of prev.rows) {
      const seq = this.byReqId.get(row.reqId);
      if (!seq || !this.running.includes(seq)) continue;
      rows.push({ reqId: seq.reqId, tokenIds: seq.tokens(seq.numComputed, 1), startPos: seq.numComputed, promptLen: seq.promptLen, sample: true, params: seq.params });
    }
    return { rows, numTokens: rows.length, freedReqIds: [] };
  }

  /** A queued sequence could start now: a window of decode steps ends early to let it join. */
  canStartWaiting(): boolean {
    return this.waiting.length > 0 && this.canStart(this.waiting[0]);
  }

  /** How many would still wait after the next schedule() if `seq` joined the queue (FIFO, slots and KV). */
  private queuedAfterAdding(seq: Sequence<P>): number {
    const queue = [...this.waiting, seq];
    let slots = this.config.maxRunningSeqs - this.running.length;
    let kv = this.kvReserved;
    let started = 0;
    for (const s of queue) {
      if (slots === 0 || kv + s.kvReservation > this.config.maxKvTokens) break;
      slots--;
      kv += s.kvReservation;
      started++;
    }
    return queue.length - started;
  }

  private canStart(seq: Sequence<P>): boolean {
    return this.running.length < this.config.maxRunningSeqs && this.kvReserved + seq.kvReservation <= this.config.maxKvTokens;
  }

  private scheduleChunk(seq: Sequence<P>, budget: number, rows: ScheduledChunk<P>[]): number {
    const missing = seq.numUncomputed;
    if (missing === 0) return 0;
    const inPrompt = seq.numComputed < seq.promptLen;
    const count = Math.min(missing, budget, inPrompt ? this.config.maxPrefillChunk : missing);
    rows.push({
      reqId: seq.reqId,
      tokenIds: seq.tokens(seq.numComputed, count),
      startPos: seq.numComputed,
      promptLen: seq.promptLen,
      sample: count === missing,
      params: seq.params,
    });
    return count;
  }

  private release(seq: Sequence<P>): void {
    const i = this.running.indexOf(seq);
    if (i < 0) return;
    this.running.splice(i, 1);
    this.byReqId.delete(seq.reqId);
    this.kvReserved -= seq.kvReservation;
    this.freedSinceLastStep.push(seq.reqId);
  }
}
