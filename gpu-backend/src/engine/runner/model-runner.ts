import type * as ort from 'onnxruntime-node';
import { GRAPH_INPUTS, GRAPH_OUTPUTS, readHostOutputs, type Manifest } from '../../model/contract.ts';
import { packRouterInputs } from '../../model/router/index.ts';
import type { ScheduledChunk, SchedulerOutput } from '../scheduler/index.ts';
import { decodeWindow, type EngineConfig, type EngineLogger } from '../types.ts';
import { buildBatchFeeds, buildGqaFeeds, type BatchLayout, type BatchRow, type ResidentPast } from './batch-tensors.ts';
import { InputBatch, type RunnerRequestParams } from './input-batch.ts';
import type { Sampler } from '../sampling/index.ts';
import type { KvArray, KvShape } from './kv-cache.ts';
import type { ResolvedRouting } from '../../../../shared/routing/resolve.ts';
import { DeviceKv, shapeBucket } from './device-kv.ts';
import { HostCopy } from './host-copy.ts';
import { ResidentBatch } from './resident-batch.ts';
import { openSession, runChecked, sessionOptionsFor } from './session.ts';

export interface RunnerOutput {
  /** The sampled next token of every row whose chunk completed its sequence. */
  sampled: Map<string, number>;
  /** Per row: expert_mask of its real tokens, [n, L, E] (1 = selected). */
  expertMasks: Map<string, Uint8Array>;
}

/** One run() of a sub-batch, kept until its new K/V have a home. */
interface StepRun {
  reqIds: string[];
  rows: BatchRow[];
  keyTensors: ort.Tensor[];
  valueTensors: ort.Tensor[];
  keys: KvArray[];
  values: KvArray[];
  valid: Uint8Array;
  T: number;
  P: number;
  rowStride: number;
}

/** One dispatched run() and what reading its outputs needs. */
interface Dispatched {
  chunks: ScheduledChunk<RunnerRequestParams>[];
  /** Per chunk, its sampler if the chunk samples. */
  samplers: (Sampler | null)[];
  results: ort.InferenceSession.ReturnType;
  /** Rows (padded) and tokens per row of the run. */
  B: number;
  S: number;
  stepRun: StepRun | null;
}

/**
 * The operating points: the latency graph; for decode runs of at least minTokens rows the
 * throughput graph; for runs where every row routes plain top_k, the top_k graph (no router kernel).
 */
interface Sessions {
  latency: ort.InferenceSession;
  throughput?: { session: ort.InferenceSession; minTokens: number };
  topK?: ort.InferenceSession;
}

/** A row the top_k graph computes exactly: QMoE's own top-k at the model's k, weights as the model defines them. */
function routesPlainTopK(r: ResolvedRouting, arch: Manifest['architecture']): boolean {
  return r.strategy === 'top_k' && r.topK === arch.numExpertsPerTok && r.renormalize === arch.normTopkProb;
}

/**
 * Owns the ORT sessions, the per-slot batch state and KV caches, and sampling. One execute() is one
 * forward pass over a padded batch of chunks.
 *
 * KV residency: on the host (CPU EP), each sequence's cache is copied into its own arrays when the
 * batch changes and the past is rebuilt from them (ResidentBatch); on a GPU EP the caches never leave
 * the device (DeviceKv).
 */
export class ModelRunner {
  private readonly batch: InputBatch;
  private readonly resident = new ResidentBatch();
  /** run() calls per graph file: which operating point served the steps (metrics, tests). */
  readonly graphRuns: Record<string, number> = {};
  private readonly graphFiles = new Map<ort.InferenceSession, string>();

  private constructor(
    private readonly sessions: Sessions,
    private readonly manifest: Manifest,
    private readonly kvShape: KvShape,
    private readonly device: DeviceKv | null,
    /** The graphs use GroupQueryAttention: unpadded runs, device-resident KV. */
    private readonly gqa: boolean,
    private readonly hostCopy: HostCopy,
    /** GroupQueryAttention graphs that all output next_ids, and a decode window over 1: executeAhead can run. */
    private readonly aheadCapable: boolean,
    private readonly logger?: EngineLogger,
  ) {
    this.batch = new InputBatch(kvShape);
  }

  static async load(modelDir: string, manifest: Manifest, config: Pick<EngineConfig, 'executionProvider' | 'threads' | 'logger' | 'kvResidency' | 'denseMinTokens' | 'topKGraph' | 'decodeWindow'>): Promise<ModelRunner> {
    const ep = config.executionProvider ?? 'cpu';
    const arch = manifest.architecture;
    const kvShape: KvShape = { numLayers: arch.numLayers, numKvHeads: arch.numKvHeads, headDim: arch.headDim, dtype: manifest.kvDtype };
    const tp = manifest.throughputGraphs?.[ep];
    const topK = config.topKGraph === false ? undefined : manifest.topKGraphs?.[ep];
    const attention = (file: string | undefined) => (file && manifest.graphInfo?.[file]?.attention) || 'sdpa';
    const gqa = attention(manifest.graphs[ep]) === 'gqa';
    for (const other of [tp, topK]) {
      if (other && attention(other.file) !== attention(manifest.graphs[ep])) throw new Error(`${modelDir}: ${other.file} must use the same attention as ${manifest.graphs[ep]}`);
    }
    // The host path copies K/V in the bias layout; GroupQueryAttention graphs always keep KV on the device.
    const onDevice = gqa || (config.kvResidency ?? (ep === 'cpu' ? 'host' : 'device')) === 'device';
    // On a GPU, present_* and the logits stay there; host_outputs (greedy ids, expert masks) come to the host.
    // Decode steps run ahead of the host when the window allows it: host_outputs and next_ids then stay
    // on the GPU too (one copy per window; a one-step run copies host_outputs itself).
    const ahead = gqa && decodeWindow(config) > 1;
    const deviceOutputs = [...Array.from({ length: arch.numLayers }, (_, l) => [GRAPH_OUTPUTS.presentKey(l), GRAPH_OUTPUTS.presentValue(l)]).flat(), GRAPH_OUTPUTS.logits, ...(ahead ? [GRAPH_OUTPUTS.hostOutputs, GRAPH_OUTPUTS.nextIds] : [])];
    const opts = { executionProvider: ep, threads: config.threads, deviceOutputs: onDevice ? deviceOutputs : [] };
    const latency = await openSession(modelDir, manifest, opts);
    const sessions: Sessions = {
      latency,
      throughput: tp && { session: await openSession(modelDir, manifest, { ...opts, file: tp.file }), minTokens: config.denseMinTokens ?? tp.minTokens },
      topK: topK && (await openSession(modelDir, manifest, { ...opts, file: topK.file })),
    };
    // Helper graphs (KV compose, logits copy) on the same EP; compose outputs stay on the device.
    const helperOptions = sessionOptionsFor({ executionProvider: ep, threads: config.threads });
    const device = onDevice ? new DeviceKv(kvShape, { ...helperOptions, ...(ep === 'cpu' ? {} : { preferredOutputLocation: 'gpu-buffer' }) }) : null;
    config.logger?.info({ ep, attention: gqa ? 'gqa' : 'sdpa', decodeWindow: gqa ? decodeWindow(config) : 1, kvResidency: onDevice ? 'device' : 'host', throughputGraph: tp ? { file: tp.file, minTokens: sessions.throughput!.minTokens } : null, topKGraph: topK?.file ?? null }, 'model runner ready');
    const hostCopy = new HostCopy(helperOptions);
    // Graphs converted before next_ids existed still serve, one step at a time.
    const aheadCapable = ahead && [latency, sessions.throughput?.session, sessions.topK].every((s) => !s || s.outputNames.includes(GRAPH_OUTPUTS.nextIds));
    const runner = new ModelRunner(sessions, manifest, kvShape, device, gqa, hostCopy, aheadCapable, config.logger);
    runner.graphFiles.set(latency, manifest.graphs[ep]!);
    if (tp) runner.graphFiles.set(sessions.throughput!.session, tp.file);
    if (topK) runner.graphFiles.set(sessions.topK!, topK.file);
    return runner;
  }

  /**
   * The throughput graph for decode runs of at least its minTokens rows; else the top_k graph when
   * every row routes plain top_k; else the latency graph. Prefill stays on QMoE: on an H100, QMoE
   * prefilled 2048 tokens through two A2.7B layers in 72 ms, the dense experts (every expert for
   * every token) in 383 ms.
   */
  private sessionFor(rows: number, tokensPerRow: number, routing: readonly ResolvedRouting[]): ort.InferenceSession {
    const tp = this.sessions.throughput;
    if (tp && tokensPerRow === 1 && rows >= tp.minTokens) return tp.session;
    const arch = this.manifest.architecture;
    if (this.sessions.topK && routing.every((r) => routesPlainTopK(r, arch))) return this.sessions.topK;
    return this.sessions.latency;
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
    if (this.device) {
      for (const id of reqIds) {
        const kv = this.batch.kv[this.batch.reqIdToSlot.get(id) ?? -1];
        if (kv) this.device.drop(kv);
        this.batch.remove(id);
      }
      return;
    }
    // The others' newest positions may live only in the resident tensors: keep them, drop the rest.
    if (reqIds.some((id) => this.resident.holds(id))) {
      const dead = new Set(reqIds.map((id) => this.batch.kv[this.batch.reqIdToSlot.get(id) ?? -1]));
      this.resident.materialize((kv) => !dead.has(kv));
    }
    for (const id of reqIds) this.batch.remove(id);
  }

  /**
   * Runs the scheduled rows (output.freedReqIds are the caller's to free(), even if this throws).
   *
   * Rows are padded to the longest chunk, so one 256-token prefill chunk would make every decoding
   * row in its batch compute 255 padding tokens. Decoding rows (one token) and prefilling rows
   * therefore run as two sub-batches when both are present: one more run() costs far less.
   */
  async execute(output: SchedulerOutput<RunnerRequestParams>): Promise<RunnerOutput | null> {
    if (output.rows.length === 0) return null;
    const decoding = output.rows.filter((r) => r.tokenIds.length === 1);
    const prefilling = output.rows.filter((r) => r.tokenIds.length > 1);
    let groups = decoding.length > 0 && prefilling.length > 0 ? [prefilling, decoding] : [output.rows];
    // GroupQueryAttention runs one chunk length per run (decoding rows all share length 1), and a
    // chunk after a past (a prompt's later chunk) alone: ORT's GQA refuses several tokens per row
    // after a past in batches of more than one row.
    if (this.gqa) {
      const byLength = new Map<string, ScheduledChunk<RunnerRequestParams>[]>();
      for (const r of output.rows) {
        const key = r.tokenIds.length > 1 && r.startPos > 0 ? `after-past:${r.reqId}` : `length:${r.tokenIds.length}`;
        byLength.set(key, [...(byLength.get(key) ?? []), r]);
      }
      groups = [...byLength.values()];
    }
    const result: RunnerOutput = { sampled: new Map(), expertMasks: new Map() };
    const ran: StepRun[] = [];
    for (const group of groups) {
      const run = await this.runGroup(group, result);
      if (run) ran.push(run);
    }
    if (this.device) return result;
    // The last group (the decoding rows when split) may feed its present_* back next step; the
    // others' new positions go to their own caches now.
    for (const run of ran.slice(0, -1)) run.rows.forEach((row, b) => row.kv.append(run.keys, run.values, b * run.rowStride, run.T, run.P, row.tokenIds.length));
    const last = ran[ran.length - 1];
    this.resident.keep(last.reqIds, last.rows.map((r) => r.kv), last.rows.map((r) => r.tokenIds.length), last.keyTensors, last.valueTensors, last.valid, last.T);
    return result;
  }

  /** One run() of rows, its outputs read into `result`; returns what the host path must keep (null on the device path). */
  private async runGroup(chunks: ScheduledChunk<RunnerRequestParams>[], result: RunnerOutput): Promise<StepRun | null> {
    const run = await this.dispatch(chunks);
    const { results } = run;
    const V = this.manifest.architecture.vocabSize;
    const logits = results[GRAPH_OUTPUTS.logits];
    // Logits cross to the host only when a row samples; greedy rows read the graph's greedy id.
    const hostLogits = run.samplers.some((sm) => sm && !sm.greedy) ? await this.hostCopy.toHost(logits) : null;
    const host = await this.hostCopy.toHost(results[GRAPH_OUTPUTS.hostOutputs]);
    for (const name of [GRAPH_OUTPUTS.logits, GRAPH_OUTPUTS.hostOutputs, GRAPH_OUTPUTS.nextIds]) if (results[name]?.location !== 'cpu') results[name]?.dispose();
    this.readStep(run, host, result, (b) => run.samplers[b]!.sample(hostLogits!.subarray(b * V, (b + 1) * V)));
    return run.stepRun;
  }

  /**
   * Whether `output` can decode several steps ahead of the host (executeAhead): device-resident KV
   * with GroupQueryAttention, graphs that output next_ids, and every row decoding one token greedily.
   */
  canRunAhead(output: SchedulerOutput<RunnerRequestParams>): boolean {
    if (!this.aheadCapable || output.rows.length === 0) return false;
    return output.rows.every((row) => row.tokenIds.length === 1 && row.sample && this.batch.samplers[this.batch.slotFor(row.reqId, row.params)]!.greedy);
  }

  /**
   * Multi-step decoding: runs up to `steps` decode steps of the same rows back to back, each step's
   * input ids being the last step's next_ids on the device, and reads every step's host outputs in
   * one copy at the end. The host never waits for the GPU inside the window, so it queues the next
   * step while the GPU computes this one (on an H100 a one-row step that waits took ~20 ms, one that
   * does not ~14 ms; BENCHMARKS.md). `keepGoing` is asked before each further step (a request waiting
   * to join ends the window). Returns one output per step run; a row's tokens past its stop are the
   * caller's to drop.
   */
  async executeAhead(output: SchedulerOutput<RunnerRequestParams>, steps: number, keepGoing: () => boolean): Promise<RunnerOutput[]> {
    if (!this.canRunAhead(output)) throw new Error('executeAhead: these rows cannot run ahead of the host');
    const runs: Dispatched[] = [];
    const hostOutputs: ort.Tensor[] = [];
    let ids: ort.Tensor | undefined;
    try {
      for (let k = 0; k < steps && (k === 0 || keepGoing()); k++) {
        const run = await this.dispatch(output.rows.map((row) => ({ ...row, startPos: row.startPos + k })), ids);
        const { results } = run;
        if (results[GRAPH_OUTPUTS.logits].location !== 'cpu') results[GRAPH_OUTPUTS.logits].dispose();
        if (ids?.location !== 'cpu') ids?.dispose();
        ids = results[GRAPH_OUTPUTS.nextIds];
        hostOutputs.push(results[GRAPH_OUTPUTS.hostOutputs]);
        runs.push(run);
      }
      const host = await this.hostCopy.toHost(...hostOutputs);
      const size = host.length / runs.length;
      return runs.map((run, k) => {
        const result: RunnerOutput = { sampled: new Map(), expertMasks: new Map() };
        this.readStep(run, host.subarray(k * size, (k + 1) * size), result, () => {
          throw new Error('executeAhead: a row samples');
        });
        return result;
      });
    } finally {
      for (const t of [...hostOutputs, ...(ids ? [ids] : [])]) if (t.location !== 'cpu') t.dispose();
    }
  }

  /** A run's host outputs into `result`: each row's expert masks and, where it samples, its next token. */
  private readStep(run: Dispatched, host: Float32Array, result: RunnerOutput, sample: (b: number) => number): void {
    const { numLayers, numExperts } = this.manifest.architecture;
    const perToken = numLayers * numExperts;
    const { greedyIds, expertMask } = readHostOutputs(host, run.B, run.S, perToken);
    run.chunks.forEach((row, b) => {
      result.expertMasks.set(row.reqId, expertMask.subarray(b * run.S * perToken, (b * run.S + row.tokenIds.length) * perToken));
      const sampler = run.samplers[b];
      if (sampler) result.sampled.set(row.reqId, sampler.greedy ? greedyIds[b] : sample(b));
    });
  }

  /**
   * Builds the feeds of one run() of rows, picks its graph and runs it; on the device path the rows'
   * caches move to its present_*. `ids`: input_ids already on the device (a run ahead of the host).
   */
  private async dispatch(chunks: ScheduledChunk<RunnerRequestParams>[], ids?: ort.Tensor): Promise<Dispatched> {
    const slots = chunks.map((row) => this.batch.slotFor(row.reqId, row.params));
    let rows: BatchRow[] = chunks.map((row, b) => {
      const kv = this.batch.kv[slots[b]]!;
      if (kv.length !== row.startPos) throw new Error(`Sequence ${row.reqId}: KV holds ${kv.length} tokens but the scheduler starts at ${row.startPos}`);
      return { tokenIds: row.tokenIds, kv };
    });
    const reqIds = chunks.map((row) => row.reqId);
    const { numLayers, numExperts } = this.manifest.architecture;
    let feeds: Record<string, ort.Tensor>;
    let past: (ResidentPast & { composed?: boolean }) | undefined;
    let layout: BatchLayout | undefined;
    const routing = slots.map((slot) => this.batch.routing[slot]!);
    if (this.gqa) {
      // Rows and tokens per row rounded up to the shape series (device-kv.ts): a bounded set of sizes
      // for WebGPU's buffer cache. Padding rows route as the first row (their outputs are never read).
      const padding = shapeBucket(rows.length) - rows.length;
      rows = [...rows, ...Array.from({ length: padding }, () => ({ tokenIds: [0], kv: this.device!.padding }))];
      for (let i = 0; i < padding; i++) routing.push(routing[0]);
      const S = shapeBucket(rows[0].tokenIds.length);
      past = await this.device!.pastFor(rows.map((r) => r.kv), true, 1, S);
      feeds = buildGqaFeeds(rows, past, S);
      if (ids) feeds[GRAPH_INPUTS.inputIds] = ids;
    } else {
      const uniform = rows.every((row) => row.tokenIds.length === rows[0].tokenIds.length);
      if (this.device) past = await this.device.pastFor(rows.map((r) => r.kv), uniform);
      else {
        past = this.resident.reusableFor(reqIds, uniform) ?? undefined;
        if (!past && rows.some((r) => r.kv.pending > 0)) this.resident.materialize(() => true);
      }
      ({ feeds, layout } = buildBatchFeeds(rows, this.kvShape, past));
    }
    const S = feeds[GRAPH_INPUTS.inputIds].dims[1];
    // The sequences, not the padded rows: minTokens counts what the scheduler runs.
    const session = this.sessionFor(chunks.length, S, routing);
    const file = this.graphFiles.get(session)!;
    this.graphRuns[file] = (this.graphRuns[file] ?? 0) + 1;
    // The top_k graph has no route_* inputs.
    if (session !== this.sessions.topK) Object.assign(feeds, packRouterInputs(routing, { numLayers, numExperts, maxTopK: this.manifest.routing.maxTopK }));
    const samplers = chunks.map((row, b) => (row.sample ? this.batch.samplers[slots[b]]! : null));
    const results = await runChecked(session, feeds, (details) => this.logger?.error(details, 'model step failed'));
    // A composed past was built for this run only.
    if (past?.composed) for (const t of [...past.keys, ...past.values]) t.dispose();

    const keyTensors = Array.from({ length: numLayers }, (_, l) => results[GRAPH_OUTPUTS.presentKey(l)]);
    const valueTensors = Array.from({ length: numLayers }, (_, l) => results[GRAPH_OUTPUTS.presentValue(l)]);
    const run = { chunks, samplers, results, B: rows.length, S };
    if (this.device) {
      // GPU outputs are never read here (getData() on one aborts the process in onnxruntime-node 1.30).
      // GQA keeps each row contiguous from 0; the bias layout keeps the positions its mask marks.
      this.device.update(rows.map((r) => r.kv), keyTensors, valueTensors, this.gqa ? { lengths: rows.map((r) => r.kv.length + r.tokenIds.length) } : { valid: layout!.valid });
      return { ...run, stepRun: null };
    }
    const T = layout!.P + layout!.S;
    return {
      ...run,
      stepRun: {
        reqIds, rows, keyTensors, valueTensors, valid: layout!.valid, T, P: layout!.P,
        keys: keyTensors.map((t) => t.data as KvArray),
        values: valueTensors.map((t) => t.data as KvArray),
        rowStride: this.kvShape.numKvHeads * T * this.kvShape.headDim,
      },
    };
  }

  async release(): Promise<void> {
    await this.device?.release();
    await this.hostCopy.release();
    const all = [this.sessions.latency, this.sessions.throughput?.session, this.sessions.topK];
    if (process.env.PICKBAN_ORT_PROFILE) for (const s of all) s?.endProfiling();
    for (const s of all) await s?.release();
  }
}
