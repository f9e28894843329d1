import type { FinishReason } from '../types.ts';

/** One row of a step: the tokens a sequence feeds through the model now. Plain data. */
export interface ScheduledChunk<P> {
  reqId: string;
  /** Tokens to compute this step (a prompt chunk, or the last sampled token). */
  tokenIds: number[];
  /** Absolute position of tokenIds[0]; equals the tokens already in this sequence's KV cache. */
  startPos: number;
  /** Prompt tokens of the sequence (so a row can tell prompt positions from generated ones). */
  promptLen: number;
  /** True when this chunk completes the sequence's known tokens, so the next token is sampled. */
  sample: boolean;
  /** The request's sampling/routing parameters, opaque to the scheduler. */
  params: P;
}

/** What the scheduler decided for one step. */
export interface SchedulerOutput<P> {
  rows: ScheduledChunk<P>[];
  /** Sum of rows' tokenIds lengths (at most maxBatchTokens). */
  numTokens: number;
  /** Sequences finished or aborted since the last schedule(): the runner frees their KV and slots. */
  freedReqIds: string[];
}

/** What came back from running a step: the sampled token per sampling row and the rows that stop. */
export interface StepResult {
  sampled: Map<string, number>;
  /** Rows whose stopping criteria fired after appending their sampled token. */
  finished: Map<string, FinishReason>;
}

export interface FinishedSequence {
  reqId: string;
  reason: FinishReason;
  outputTokenIds: number[];
}
