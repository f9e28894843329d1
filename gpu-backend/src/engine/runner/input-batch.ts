import type { ResolvedRouting } from '../../../../shared/routing/resolve.ts';
import { createSampler, type Sampler } from '../sampling/index.ts';
import type { SamplingParams } from '../types.ts';
import { SequenceKv, type KvShape } from './kv-cache.ts';

/** What the runner needs to know about a request: the scheduler hands it over as opaque params. */
export interface RunnerRequestParams {
  sampling: SamplingParams;
  routing: ResolvedRouting;
  /** KV tokens the scheduler reserved (prompt + max_tokens): the cache never grows past it. */
  kvReservation: number;
}

/**
 * Persistent per-slot state (vLLM's InputBatch): a sequence keeps its slot from its first step to
 * its last, and its sampler (with its seeded RNG), routing parameters and KV cache live in arrays
 * indexed by that slot, found through reqIdToSlot.
 */
export class InputBatch {
  readonly reqIdToSlot = new Map<string, number>();
  readonly reqIds: (string | null)[] = [];
  readonly samplers: (Sampler | null)[] = [];
  readonly routing: (ResolvedRouting | null)[] = [];
  readonly kv: (SequenceKv | null)[] = [];
  private readonly freeSlots: number[] = [];

  constructor(private readonly kvShape: KvShape) {}

  get size(): number {
    return this.reqIdToSlot.size;
  }

  /** The slot of a request, creating its state on first sight. */
  slotFor(reqId: string, params: RunnerRequestParams): number {
    const existing = this.reqIdToSlot.get(reqId);
    if (existing !== undefined) return existing;
    const slot = this.freeSlots.pop() ?? this.reqIds.length;
    this.reqIds[slot] = reqId;
    this.samplers[slot] = createSampler(params.sampling);
    this.routing[slot] = params.routing;
    this.kv[slot] = new SequenceKv(this.kvShape, params.kvReservation);
    this.reqIdToSlot.set(reqId, slot);
    return slot;
  }

  /** Drops a finished or aborted request's state; its KV memory is released with it. */
  remove(reqId: string): void {
    const slot = this.reqIdToSlot.get(reqId);
    if (slot === undefined) return;
    this.reqIdToSlot.delete(reqId);
    this.reqIds[slot] = this.samplers[slot] = this.routing[slot] = this.kv[slot] = null;
    this.freeSlots.push(slot);
  }

  /** KV tokens actually held, over all slots. */
  kvTokensHeld(): number {
    return this.kv.reduce((sum, kv) => sum + (kv?.length ?? 0), 0);
  }
}
