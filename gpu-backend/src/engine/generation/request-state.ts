import type { ResolvedRouting } from '../../../../shared/routing/resolve.ts';
import { StopStringMatcher, type StopRow } from '../sampling/index.ts';
import { RoutingStatsAccumulator } from '../stats/index.ts';
import { IncrementalDetokenizer, type Decoder } from '../tokenizer/index.ts';
import type { FinishReason, GenerationEvent } from '../types.ts';
import { EventChannel } from './event-channel.ts';

/**
 * Everything the engine core keeps per request outside the scheduler and runner: the text stream
 * (detokenizer + stop-string holdback), routing statistics, and the event channel to the caller.
 */
export class RequestState {
  readonly events: EventChannel<GenerationEvent>;
  readonly stats: RoutingStatsAccumulator;
  readonly outputTokenIds: number[] = [];
  private readonly detokenizer: IncrementalDetokenizer;
  private readonly stopMatcher: StopStringMatcher;
  /** Token ids whose text is still held back (incomplete character or possible stop string). */
  private pendingIds: number[] = [];
  private finished = false;

  constructor(
    readonly reqId: string,
    readonly promptLen: number,
    readonly maxTokens: number,
    readonly routing: ResolvedRouting,
    stop: readonly string[],
    decoder: Decoder,
    numLayers: number,
    numExperts: number,
    /** Called once the request ended, whatever the reason (detach abort listeners, bookkeeping). */
    private readonly onEnd: () => void = () => {},
    /** Called when the caller stops reading events before the end: abort the sequence. */
    onCancel: () => void = () => {},
  ) {
    this.events = new EventChannel<GenerationEvent>(onCancel);
    this.stats = new RoutingStatsAccumulator(numLayers, numExperts);
    this.detokenizer = new IncrementalDetokenizer(decoder);
    this.stopMatcher = new StopStringMatcher(stop);
  }

  get isFinished(): boolean {
    return this.finished;
  }

  /** Appends a sampled token and streams whatever text became safe to show. */
  acceptToken(id: number): void {
    this.outputTokenIds.push(id);
    this.pendingIds.push(id);
    this.emit(this.stopMatcher.push(this.detokenizer.push(id)).emit);
  }

  stopRow(): StopRow {
    return { outputTokenIds: this.outputTokenIds, maxTokens: this.maxTokens, stopStringMatched: this.stopMatcher.stopped };
  }

  finish(reason: FinishReason): void {
    if (this.finished) return;
    this.finished = true;
    if (reason !== 'abort') {
      // What was held back for a possible stop string or an unfinished character is final now.
      this.emit(this.stopMatcher.push(this.detokenizer.flush()).emit + this.stopMatcher.flush());
    }
    const completion = this.outputTokenIds.length;
    this.events.push({
      type: 'done',
      finishReason: reason,
      usage: { prompt_tokens: this.promptLen, completion_tokens: completion, total_tokens: this.promptLen + completion, routing: this.stats.toUsage(this.routing) },
    });
    this.events.close();
    this.onEnd();
  }

  fail(message: string): void {
    if (this.finished) return;
    this.finished = true;
    this.events.push({ type: 'error', message });
    this.events.close();
    this.onEnd();
  }

  private emit(text: string): void {
    if (text.length === 0) return;
    this.events.push({ type: 'delta', text, tokenIds: this.pendingIds });
    this.pendingIds = [];
  }
}
