import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { ModelInfo } from '../../../shared/openai/responses.ts';
import { MANIFEST_FILE, ManifestSchema, type Manifest } from '../model/contract.ts';
import { RequestState } from './generation/request-state.ts';
import { buildModelInfo, listProfiles } from './model-info.ts';
import { checkRouting } from './routing-check.ts';
import { ModelRunner, type RunnerOutput, type RunnerRequestParams } from './runner/index.ts';
import { defaultStoppingCriteria, type StoppingCriteriaList } from './sampling/index.ts';
import { Scheduler, type SchedulerOutput } from './scheduler/index.ts';
import { stepExpertsPerLayer } from './stats/index.ts';
import { TextTokenizer } from './tokenizer/index.ts';
import { AdmissionError, decodeWindow, type Engine, type EngineConfig, type EngineSnapshot, type FinishReason, type GenerationEvent, type GenerationRequest } from './types.ts';

/** Loads a model directory, warms it up with one short generation, and returns a ready Engine. */
export async function createEngine(config: EngineConfig): Promise<Engine> {
  const manifestPath = join(config.modelDir, MANIFEST_FILE);
  const manifest = ManifestSchema.parse(JSON.parse(await readFile(manifestPath, 'utf8')));
  const [runner, tokenizer, profiles, created] = await Promise.all([
    ModelRunner.load(config.modelDir, manifest, config),
    TextTokenizer.load(config.modelDir, manifest),
    listProfiles(config.modelDir, manifest),
    stat(manifestPath).then((s) => Math.floor(s.mtimeMs / 1000)),
  ]);
  const arch = manifest.architecture;
  const kvBytesPerToken = arch.numLayers * 2 * arch.numKvHeads * arch.headDim * (manifest.kvDtype === 'float16' ? 2 : 4);
  // The budget is in tokens; say what it means in bytes so an operator can size MAX_KV_TOKENS.
  config.logger?.info({ model: manifest.modelId, ep: config.executionProvider ?? 'cpu', kvBytesPerToken, kvBudgetGiB: +((kvBytesPerToken * config.limits.maxKvTokens) / 2 ** 30).toFixed(2) }, 'model loaded');
  const engine = new PickBanEngine(manifest, runner, tokenizer, buildModelInfo(manifest, profiles, created), config);
  await engine.warmUp();
  return engine;
}

/**
 * The engine core (vLLM's EngineCore): step() = schedule -> run the model -> update from its output.
 * A loop runs steps while there is work and yields to the event loop between them, so HTTP
 * handlers (new requests, disconnects) run between steps.
 */
export class PickBanEngine implements Engine {
  ready = false;
  private readonly scheduler: Scheduler<RunnerRequestParams>;
  private readonly requests = new Map<string, RequestState>();
  private readonly stopping: StoppingCriteriaList;
  private loop: Promise<void> | null = null;
  private draining = false;
  private lastBatchSize = 0;
  private lastExpertsPerLayer: number[] = [];
  private warmUpCount = 0;
  private stepChain: Promise<unknown> = Promise.resolve();
  private readonly decodeWindow: number;
  /** Times the host read step outputs (fewer than model runs when decode steps run ahead). */
  private hostReads = 0;

  constructor(
    readonly manifest: Manifest,
    private readonly runner: ModelRunner,
    private readonly tokenizer: TextTokenizer,
    private readonly info: ModelInfo,
    private readonly config: EngineConfig,
  ) {
    this.scheduler = new Scheduler({ ...config.limits, contextLength: manifest.architecture.maxPositionEmbeddings });
    this.stopping = defaultStoppingCriteria(manifest.eosTokenIds);
    this.decodeWindow = decodeWindow(config);
  }

  /** KV tokens the runner actually holds (snapshot() reports reservations). */
  get kvTokensHeld(): number {
    return this.runner.kvTokensHeld();
  }

  modelInfo(): ModelInfo {
    return this.info;
  }

  snapshot(): EngineSnapshot {
    return {
      running: this.scheduler.numRunning,
      queued: this.scheduler.numWaiting,
      lastBatchSize: this.lastBatchSize,
      // Reserved tokens (prompt + max_tokens of each running sequence): what admission counts.
      kvTokensUsed: this.scheduler.kvTokensReserved,
      kvTokensCapacity: this.config.limits.maxKvTokens,
      expertsPerTokenByLayer: this.lastExpertsPerLayer,
      graphRuns: { ...this.runner.graphRuns },
      hostReads: this.hostReads,
    };
  }

  async submit(request: GenerationRequest, signal?: AbortSignal): Promise<AsyncIterable<GenerationEvent>> {
    if (this.draining) throw new AdmissionError('The server is shutting down', 429, null, 5);
    checkRouting(request.routing, this.info.routing);
    const { promptTokenIds, promptParam } = this.tokenize(request);
    const reqId = request.requestId;
    if (this.requests.has(reqId)) throw new AdmissionError(`Request id '${reqId}' is already in flight`, 400, null);
    const { numLayers, numExperts } = this.manifest.architecture;
    const onAbort = () => this.abort(reqId);
    const onEnd = () => {
      this.requests.delete(reqId);
      signal?.removeEventListener('abort', onAbort);
    };
    const state = new RequestState(reqId, promptTokenIds.length, request.sampling.maxTokens, request.routing, request.sampling.stop, this.tokenizer, numLayers, numExperts, onEnd, onAbort);
    this.scheduler.add({
      reqId,
      promptTokenIds,
      maxTokens: request.sampling.maxTokens,
      promptParam,
      params: { sampling: request.sampling, routing: request.routing, kvReservation: promptTokenIds.length + request.sampling.maxTokens },
    });
    this.requests.set(reqId, state);
    if (signal?.aborted) this.abort(reqId);
    else signal?.addEventListener('abort', onAbort, { once: true });
    this.kick();
    return state.events;
  }

  /**
   * One engine step; public so tests can drive it. Steps never overlap: a call made while the loop's
   * step is in flight runs after it. Resolves false when there was nothing to do.
   */
  step(): Promise<boolean> {
    const next = this.stepChain.then(() => this.stepOnce());
    this.stepChain = next.catch(() => false);
    return next;
  }

  private async stepOnce(): Promise<boolean> {
    const output = this.scheduler.schedule();
    this.runner.free(output.freedReqIds);
    let results: RunnerOutput[];
    try {
      results = await this.run(output);
    } catch (err) {
      this.failRows(output, err);
      return true;
    }
    if (results.length === 0) return output.freedReqIds.length > 0;
    // A window's later steps decode what the one before sampled, for the sequences still running.
    let step = output;
    for (const [k, result] of results.entries()) {
      if (k > 0) step = this.scheduler.nextDecodeStep(step);
      this.update(step, result);
    }
    return true;
  }

  /** One run, or a window of greedy decode steps ahead of the host (EngineConfig.decodeWindow). */
  private async run(output: SchedulerOutput<RunnerRequestParams>): Promise<RunnerOutput[]> {
    const steps = Math.min(this.decodeWindow, this.scheduler.decodeSteps(output));
    if (steps > 1 && this.runner.canRunAhead(output)) {
      this.hostReads++;
      return this.runner.executeAhead(output, steps, () => !this.scheduler.canStartWaiting());
    }
    const result = await this.runner.execute(output);
    if (result) this.hostReads++;
    return result ? [result] : [];
  }

  /** Takes one step's tokens and routing: stop checks, and the scheduler's accounting. */
  private update(output: SchedulerOutput<RunnerRequestParams>, result: RunnerOutput): void {
    this.lastBatchSize = output.rows.length;
    this.recordRouting(output, result);
    const sampledStates: RequestState[] = [];
    for (const row of output.rows) {
      const token = result.sampled.get(row.reqId);
      const state = this.requests.get(row.reqId);
      if (token === undefined || !state || state.isFinished) continue;
      state.acceptToken(token);
      sampledStates.push(state);
    }
    const reasons = this.stopping.check(sampledStates.map((s) => s.stopRow()));
    const finished = new Map<string, FinishReason>();
    sampledStates.forEach((s, i) => reasons[i] && finished.set(s.reqId, reasons[i]!));
    for (const done of this.scheduler.updateFromOutput(output, { sampled: result.sampled, finished })) {
      this.requests.get(done.reqId)?.finish(done.reason);
    }
  }

  async shutdown(graceMs: number): Promise<void> {
    this.draining = true;
    const deadline = Date.now() + graceMs;
    while (this.requests.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, Math.min(50, graceMs)));
    for (const reqId of [...this.requests.keys()]) this.abort(reqId);
    await this.loop;
    await this.runner.release();
    this.ready = false;
  }

  /** Runs one short greedy generation so the first real request does not pay ORT's first-run cost. */
  async warmUp(): Promise<void> {
    const events = await this.submit({
      requestId: `warm-up-${this.warmUpCount++}`,
      prompt: 'Hello',
      sampling: { temperature: 0, topP: 1, topK: 0, maxTokens: 2, stop: [] },
      routing: {
        strategy: 'top_k',
        keyExpertMask: new Uint8Array(this.manifest.architecture.numLayers * this.manifest.architecture.numExperts),
        lambda: 1,
        tau: 1,
        topK: this.manifest.routing.defaultTopK,
        minExperts: 1,
        renormalize: this.manifest.architecture.normTopkProb,
        stats: 'summary',
      },
    });
    for await (const event of events) if (event.type === 'error') throw new Error(`Warm-up step failed: ${event.message}`);
    this.ready = true;
  }

  private tokenize(request: GenerationRequest): { promptTokenIds: number[]; promptParam: string } {
    if (request.messages) {
      if (!this.tokenizer.hasChatTemplate) throw new AdmissionError('This model has no chat template; use /v1/completions', 400, 'messages');
      return { promptTokenIds: this.tokenizer.encode(this.tokenizer.renderChat(request.messages)), promptParam: 'messages' };
    }
    return { promptTokenIds: this.tokenizer.encode(request.prompt ?? ''), promptParam: 'prompt' };
  }

  private abort(reqId: string): void {
    this.scheduler.abort(reqId);
    this.requests.get(reqId)?.finish('abort');
    this.kick(); // the next step frees its KV even if nothing else runs
  }

  private recordRouting(output: SchedulerOutput<RunnerRequestParams>, result: RunnerOutput): void {
    const { numLayers, numExperts } = this.manifest.architecture;
    const stride = numLayers * numExperts;
    const masks: Uint8Array[] = [];
    for (const row of output.rows) {
      const mask = result.expertMasks.get(row.reqId)!;
      masks.push(mask);
      const state = this.requests.get(row.reqId);
      for (let s = 0; s < row.tokenIds.length; s++) state?.stats.addToken(mask, s * stride, row.startPos + s < row.promptLen ? 'prompt' : 'completion');
    }
    this.lastExpertsPerLayer = stepExpertsPerLayer(masks, numLayers, numExperts);
  }

  private failRows(output: SchedulerOutput<RunnerRequestParams>, err: unknown): void {
    const message = `Model step failed: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`;
    this.config.logger?.error({ err, rows: output.rows.length }, 'model step failed');
    for (const row of output.rows) {
      this.scheduler.abort(row.reqId);
      this.requests.get(row.reqId)?.fail(message);
    }
  }

  private kick(): void {
    if (this.loop) return;
    this.loop = (async () => {
      while (this.scheduler.hasWork()) {
        await this.step();
        // Let HTTP handlers, aborts and new submissions run between steps.
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
    })().finally(() => {
      this.loop = null;
    });
  }
}
