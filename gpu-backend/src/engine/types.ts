import type { ResolvedRouting } from '../../../shared/routing/resolve.ts';
import type { ModelInfo, Usage } from '../../../shared/openai/responses.ts';
import type { ExecutionProvider, Manifest } from '../model/contract.ts';

/**
 * The seam between the HTTP server (gpu-backend/src/server) and the engine core
 * (gpu-backend/src/engine). The server turns OpenAI bodies into GenerationRequests and
 * GenerationEvents back into OpenAI chunks; it never sees tensors.
 */

export interface SamplingParams {
  /** 0 = greedy. */
  temperature: number;
  topP: number;
  /** 0 = off. */
  topK: number;
  seed?: number;
  maxTokens: number;
  /** Up to 4 stop strings; generation ends before the first occurrence, which is not returned. */
  stop: string[];
}

export type ChatMessage = { role: string; content: string };

export interface GenerationRequest {
  requestId: string;
  /** Exactly one of these: chat messages (rendered with the model's chat template) or raw prompt text. */
  messages?: ChatMessage[];
  prompt?: string;
  sampling: SamplingParams;
  routing: ResolvedRouting;
}

export type FinishReason = 'stop' | 'length' | 'abort';

export type GenerationEvent =
  /** Incremental, UTF-8-safe text (never half a character), plus the token ids it came from. */
  | { type: 'delta'; text: string; tokenIds: number[] }
  /** Last event: usage.routing always present. */
  | { type: 'done'; finishReason: FinishReason; usage: Usage & { routing: NonNullable<Usage['routing']> } }
  /** An error after generation began; the stream ends after it. */
  | { type: 'error'; message: string };

/** Thrown by Engine.submit before anything is queued. */
export class AdmissionError extends Error {
  constructor(
    message: string,
    /** 429 for capacity (retry later), 400 for a request that can never fit. */
    readonly status: 400 | 429,
    readonly param: string | null = null,
    readonly retryAfterS?: number,
  ) {
    super(message);
    this.name = 'AdmissionError';
  }
}

export interface EngineLimits {
  maxRunningSeqs: number;
  maxQueuedSeqs: number;
  /** KV-cache budget in tokens, over all sequences. */
  maxKvTokens: number;
  /** Prefill chunk size: at most this many prompt tokens per sequence per step. */
  maxPrefillChunk: number;
  /** Total new tokens per step over all rows (the token budget). */
  maxBatchTokens: number;
}

export interface EngineSnapshot {
  running: number;
  queued: number;
  lastBatchSize: number;
  kvTokensUsed: number;
  kvTokensCapacity: number;
  /** Per layer, average experts per token over the last step (empty before any step). */
  expertsPerTokenByLayer: number[];
  /** Model runs per graph file since start: which operating point (latency, throughput, top_k) served the steps. */
  graphRuns: Record<string, number>;
  /** Times the host read step outputs since start: fewer than the model runs when decode steps run ahead (decodeWindow). */
  hostReads: number;
}

export interface Engine {
  readonly manifest: Manifest;
  /** The /v1/models entry for this model. */
  modelInfo(): ModelInfo;
  /**
   * Validates, tokenizes and queues a request; the iterator yields its events.
   * Aborting the signal frees the sequence and its KV memory within one step.
   * Throws AdmissionError synchronously-ish (before the first event) on overload or over-long prompts.
   */
  submit(request: GenerationRequest, signal?: AbortSignal): Promise<AsyncIterable<GenerationEvent>>;
  snapshot(): EngineSnapshot;
  /** True once the model is loaded and a warm-up step ran. */
  readonly ready: boolean;
  /** Stop admitting; resolve when running sequences finish or the grace period ends (then they are aborted). */
  shutdown(graceMs: number): Promise<void>;
}

/** Minimal logger the engine writes to (a pino logger fits). */
export interface EngineLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** What `createEngine` (gpu-backend/src/engine/index.ts) needs to load a model directory. */
export interface EngineConfig {
  /** Folder holding manifest.json (see model/contract.ts). */
  modelDir: string;
  /** Default 'cpu'. An unavailable provider rejects createEngine with a clear message; never a silent fallback. */
  executionProvider?: ExecutionProvider;
  limits: EngineLimits;
  /** Intra-op threads for the CPU EP (default: ORT's choice). */
  threads?: number;
  logger?: EngineLogger;
  /**
   * Where KV caches live between steps: 'host' (per-sequence arrays; the CPU default) or 'device'
   * (the EP's own buffers, never read back; the default on GPU EPs). runner/device-kv.ts.
   */
  kvResidency?: 'host' | 'device';
  /** Tokens per step from which the model's throughput graph runs (default: the manifest's). */
  denseMinTokens?: number;
  /** Load the model's top_k graph, if it has one, for batches that route plain top_k (default true; off saves its GPU memory). */
  topKGraph?: boolean;
  /**
   * Multi-step decoding: at most this many greedy decode steps run back to back, the host reading
   * their tokens once at the end (GroupQueryAttention graphs; runner executeAhead). Tokens then
   * stream in bursts and a stop is seen up to this many steps late (the extra tokens are dropped).
   * Default 8 on GPU EPs, where it saves the host's wait for the GPU each step; 1 on the CPU EP.
   */
  decodeWindow?: number;
}

/** The decode window in effect (EngineConfig.decodeWindow). */
export const decodeWindow = (config: Pick<EngineConfig, 'decodeWindow' | 'executionProvider'>): number =>
  config.decodeWindow ?? ((config.executionProvider ?? 'cpu') === 'cpu' ? 1 : 8);

/** Loads the model, runs a warm-up step, and resolves with a ready Engine. */
export type CreateEngine = (config: EngineConfig) => Promise<Engine>;
