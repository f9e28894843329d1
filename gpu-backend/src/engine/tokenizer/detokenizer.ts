/** Anything that turns ids into text (TextTokenizer, or a stub in tests). */
export interface Decoder {
  decode(ids: readonly number[]): string;
}

const REPLACEMENT = '\uFFFD';

/**
 * Streams text token by token without ever emitting half a character. Byte-level BPE splits a
 * multi-byte character (an emoji, often CJK) across tokens; decoding such a prefix yields U+FFFD,
 * so text is held back until the character completes. Decoding re-starts from a recent offset
 * (vLLM's prefix/read offsets) rather than from the beginning, and the diff of two decodes of the
 * same window keeps merges and leading-space rules right.
 */
export class IncrementalDetokenizer {
  private readonly ids: number[] = [];
  private prefixOffset = 0;
  private readOffset = 0;

  constructor(private readonly decoder: Decoder) {}

  /** Adds a token; returns the text that became final (possibly ''). */
  push(id: number): string {
    this.ids.push(id);
    const prefixText = this.decoder.decode(this.ids.slice(this.prefixOffset, this.readOffset));
    const fullText = this.decoder.decode(this.ids.slice(this.prefixOffset));
    if (fullText.length <= prefixText.length || fullText.endsWith(REPLACEMENT)) return '';
    this.prefixOffset = this.readOffset;
    this.readOffset = this.ids.length;
    return fullText.slice(prefixText.length);
  }

  /** At the end of generation: whatever is still held back (an incomplete character stays U+FFFD). */
  flush(): string {
    const prefixText = this.decoder.decode(this.ids.slice(this.prefixOffset, this.readOffset));
    const fullText = this.decoder.decode(this.ids.slice(this.prefixOffset));
    this.prefixOffset = this.readOffset = this.ids.length;
    return fullText.length > prefixText.length ? fullText.slice(prefixText.length) : '';
  }
}
