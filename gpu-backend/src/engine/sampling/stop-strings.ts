/**
 * Streams text while watching for stop strings. Text that could still be the start of a stop string
 * is held back, so a stop string split across tokens is never emitted, not even in part.
 */
export class StopStringMatcher {
  private pending = '';
  private done = false;

  constructor(private readonly stops: readonly string[]) {}

  get stopped(): boolean {
    return this.done;
  }

  /** Adds newly decoded text; returns what is safe to emit now, and whether a stop string ended it. */
  push(text: string): { emit: string; stopped: boolean } {
    if (this.done) return { emit: '', stopped: true };
    this.pending += text;
    let at = -1;
    for (const stop of this.stops) {
      const i = this.pending.indexOf(stop);
      if (i >= 0 && (at < 0 || i < at)) at = i;
    }
    if (at >= 0) {
      const emit = this.pending.slice(0, at);
      this.pending = '';
      this.done = true;
      return { emit, stopped: true };
    }
    const hold = this.holdbackLength();
    const emit = this.pending.slice(0, this.pending.length - hold);
    this.pending = this.pending.slice(this.pending.length - hold);
    return { emit, stopped: false };
  }

  /** At the end of generation (EOS, length) the held-back text was not a stop string after all. */
  flush(): string {
    const rest = this.done ? '' : this.pending;
    this.pending = '';
    return rest;
  }

  /** Longest suffix of pending text that is a proper prefix of some stop string. */
  private holdbackLength(): number {
    let best = 0;
    for (const stop of this.stops) {
      for (let n = Math.min(stop.length - 1, this.pending.length); n > best; n--) {
        if (this.pending.endsWith(stop.slice(0, n))) {
          best = n;
          break;
        }
      }
    }
    return best;
  }
}
