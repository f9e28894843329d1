import type { Engine } from '../engine/types.ts';

/**
 * What the app needs to know about the process around it: whether the engine is up yet (the HTTP
 * server listens while the model loads, so /health answers) and whether SIGTERM began a drain.
 */
export class Lifecycle {
  #engine: Engine | null = null;
  #draining = false;

  get engine(): Engine | null {
    return this.#engine;
  }

  /** Called once the engine object exists; it may still be warming up (engine.ready). */
  attach(engine: Engine): void {
    this.#engine = engine;
  }

  get draining(): boolean {
    return this.#draining;
  }

  drain(): void {
    this.#draining = true;
  }

  get ready(): boolean {
    return !this.#draining && this.#engine !== null && this.#engine.ready;
  }
}
