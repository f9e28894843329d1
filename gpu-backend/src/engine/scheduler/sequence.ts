/**
 * A sequence's token accounting. There are no prefill/decode modes: `numComputed` (tokens already in
 * the KV cache) catches up with `numTokens` (prompt + generated). A prompt is a sequence that is far
 * behind; a decoding sequence is exactly one token behind.
 */
export class Sequence<P> {
  readonly outputTokenIds: number[] = [];
  numComputed = 0;

  constructor(
    readonly reqId: string,
    readonly promptTokenIds: readonly number[],
    readonly maxTokens: number,
    readonly params: P,
  ) {}

  get promptLen(): number {
    return this.promptTokenIds.length;
  }

  get numTokens(): number {
    return this.promptTokenIds.length + this.outputTokenIds.length;
  }

  get numUncomputed(): number {
    return this.numTokens - this.numComputed;
  }

  /** KV tokens reserved at admission: the longest this sequence can ever get. */
  get kvReservation(): number {
    return this.promptLen + this.maxTokens;
  }

  tokenAt(pos: number): number {
    return pos < this.promptLen ? this.promptTokenIds[pos] : this.outputTokenIds[pos - this.promptLen];
  }

  tokens(from: number, count: number): number[] {
    const out = new Array<number>(count);
    for (let i = 0; i < count; i++) out[i] = this.tokenAt(from + i);
    return out;
  }
}
