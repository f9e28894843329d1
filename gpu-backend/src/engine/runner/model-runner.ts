import type * as ort from 'onnxruntime-node';
import { GRAPH_OUTPUTS, type Manifest } from '../../model/contract.ts';
import { packRouterInputs } from '../../model/router/index.ts';
import type { SchedulerOutput } from '../scheduler/index.ts';
import type { EngineConfig, EngineLogger } from '../types.ts';
import { buildBatchFeeds, type BatchRow } from './batch-tensors.ts';
import { InputBatch, type RunnerRequestParams } from './input-batch.ts';
import type { KvShape } from './kv-cache.ts';
import { ResidentBatch } from './resident-batch.ts';
import { openSession, runChecked } from './session.ts';

export interface RunnerOutput {
  /** The sampled next token of every row whose chunk completed its sequence. */
  sampled: Map<string, number>;
  /** expert_mask [B, S, L, E] of this step (1 = selected). */
  expertMask: Uint8Array;
  /** Padded new tokens per row: token s of row b starts at ((b * S) + s) * L * E in expertMask. */
  S: number;
}

/**
 * Owns the ORT session, the per-slot batch state and KV caches, and sampling. One execute() is one
 * forward pass over a padded batch of chunks. Past K/V are rebuilt from per-sequence caches every
 * step (simple and composition-independent; see ort-notes on why a growing cache reallocates anyway).
 */
export class ModelRunner {
  private readonly batch: InputBatch;
  private readonly resident = new ResidentBatch();

  private constructor(
    private readonly session: ort.InferenceSession,
    private readonly manifest: Manifest,
    private readonly kvShape: KvShape,
    private readonly logger?: EngineLogger,
  ) {
    this.batch = new InputBatch(kvShape);
  }

  static async load(modelDir: string, manifest: Manifest, config: Pick<EngineConfig, 'executionProvider' | 'threads' | 'logger'>): Promise<ModelRunner> {
    const session = await openSession(modelDir, manifest, { executionProvider: config.executionProvider ?? 'cpu', threads: config.threads });
    const arch = manifest.architecture;
    const kvShape: KvShape = { numLayers: arch.numLayers, numKvHeads: arch.numKvHeads, headDim: arch.headDim, dtype: manifest.kvDtype };
    return new ModelRunner(session, manifest, kvShape, config.logger);
  }

  /** KV tokens held by live sequences. */
  kvTokensHeld(): number {
    return this.batch.kvTokensHeld();
  }

  get numSlots(): number {
    return this.batch.size;
  }

  free(reqIds: readonly string[]): void {
    if (reqIds.length === 0) return;
    // The others' newest positions may live only in the resident tensors: keep them, drop the rest.
    if (reqIds.some((id) => this.resident.holds(id))) {
      const dead = new Set(reqIds.map((id) => this.batch.kv[this.batch.reqIdToSlot.get(id) ?? -1]));
      this.resident.materialize((kv) => !dead.has(kv));
    }
    for (const id of reqIds) this.batch.remove(id);
  }

  /** Runs the scheduled rows (output.freedReqIds are the caller's to free(), even if this throws). */
  async execute(output: SchedulerOutput<RunnerRequestParams>): Promise<RunnerOutput | null> {
    if (output.rows.length === 0) return null;
    const slots = output.rows.map((row) => this.batch.slotFor(row.reqId, row.params));
    const rows: BatchRow[] = output.rows.map((row, b) => {
      const kv = this.batch.kv[slots[b]]!;
      if (kv.length !== row.startPos) throw new Error(`Sequence ${row.reqId}: KV holds ${kv.length} tokens but the scheduler starts at ${row.startPos}`);
      return { tokenIds: row.tokenIds, kv };
    });
    const reqIds = output.rows.map((row) => row.reqId);
    const uniform = rows.every((row) => row.tokenIds.length === rows[0].tokenIds.length);
    const resident = this.resident.reusableFor(reqIds, uniform) ?? undefined;
    if (!resident) this.resident.materialize(() => true);
    const { feeds, layout } = buildBatchFeeds(rows, this.kvShape, resident);
    const { numLayers, numExperts } = this.manifest.architecture;
    Object.assign(feeds, packRouterInputs(slots.map((slot) => this.batch.routing[slot]!), { numLayers, numExperts, maxTopK: this.manifest.routing.maxTopK }));

    const results = await runChecked(this.session, feeds, (details) => this.logger?.error(details, 'model step failed'));

    const keys = Array.from({ length: numLayers }, (_, l) => results[GRAPH_OUTPUTS.presentKey(l)]);
    const values = Array.from({ length: numLayers }, (_, l) => results[GRAPH_OUTPUTS.presentValue(l)]);
    this.resident.keep(reqIds, rows.map((r) => r.kv), rows.map((r) => r.tokenIds.length), keys, values, layout.valid, layout.P + layout.S);

    const logits = results[GRAPH_OUTPUTS.logits].data as Float32Array;
    const V = logits.length / rows.length;
    const sampled = new Map<string, number>();
    output.rows.forEach((row, b) => {
      if (!row.sample) return;
      sampled.set(row.reqId, this.batch.samplers[slots[b]]!.sample(logits.subarray(b * V, (b + 1) * V)));
    });
    return { sampled, expertMask: results[GRAPH_OUTPUTS.expertMask].data as Uint8Array, S: layout.S };
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
