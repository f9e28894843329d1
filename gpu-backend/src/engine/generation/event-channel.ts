/**
 * A single-consumer async queue: the engine loop pushes, the HTTP handler iterates. Events are
 * buffered, so a slow reader never blocks a step (each holds at most one request's text).
 */
export class EventChannel<T> implements AsyncIterable<T> {
  private readonly buffer: T[] = [];
  private waiter: ((r: IteratorResult<T>) => void) | null = null;
  private closed = false;

  /** `onCancel` runs when the consumer stops early (break out of for-await): nobody reads any more. */
  constructor(private readonly onCancel: () => void = () => {}) {}

  push(event: T): void {
    if (this.closed) return;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = null;
      w({ value: event, done: false });
    } else this.buffer.push(event);
  }

  close(): void {
    this.closed = true;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = null;
      w({ value: undefined, done: true });
    }
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return {
      next: () => {
        if (this.buffer.length > 0) return Promise.resolve({ value: this.buffer.shift()!, done: false });
        if (this.closed) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => (this.waiter = resolve));
      },
      return: () => {
        // The consumer stopped reading (client gone): later pushes are dropped.
        const wasOpen = !this.closed;
        this.closed = true;
        this.buffer.length = 0;
        if (wasOpen) this.onCancel();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}
