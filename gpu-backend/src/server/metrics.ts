import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { EngineSnapshot } from '../engine/types.ts';

/**
 * The backend's Prometheus metrics, on a Registry of its own (never prom-client's global one, so
 * several apps in one test process do not collide). Engine gauges are read from snapshot() at
 * scrape time rather than pushed on every step.
 */
export type Metrics = ReturnType<typeof createMetrics>;

// Latency buckets sized for a tiny CPU model up to a large GPU one: 1 ms to 30 s.
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export function createMetrics(snapshot: () => EngineSnapshot) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'pickban_' });
  const registers = [registry];

  const requests = new Counter({ name: 'pickban_requests_total', help: 'HTTP requests by route and status', labelNames: ['route', 'status'], registers });
  const cancelled = new Counter({ name: 'pickban_requests_cancelled_total', help: 'Generations aborted before they finished (client disconnect or shutdown)', labelNames: ['reason'], registers });
  const ttft = new Histogram({ name: 'pickban_time_to_first_token_seconds', help: 'From request arrival to the first generated text', buckets: LATENCY_BUCKETS, registers });
  const interToken = new Histogram({ name: 'pickban_inter_token_latency_seconds', help: 'Between consecutive text deltas of one stream', buckets: LATENCY_BUCKETS, registers });
  const promptTokens = new Counter({ name: 'pickban_prompt_tokens_total', help: 'Prompt tokens of finished requests', registers });
  const completionTokens = new Counter({ name: 'pickban_completion_tokens_total', help: 'Generated tokens of finished requests', registers });

  // One snapshot per scrape, shared by all engine gauges.
  let scraped: EngineSnapshot | null = null;
  const current = () => (scraped ??= snapshot());
  const engineGauge = (name: string, help: string, read: (s: EngineSnapshot) => number) =>
    new Gauge({ name, help, registers, collect() { this.set(read(current())); } });
  engineGauge('pickban_running_sequences', 'Sequences in the running batch', (s) => s.running);
  engineGauge('pickban_queued_sequences', 'Sequences waiting for admission to the batch', (s) => s.queued);
  engineGauge('pickban_batch_size', 'Rows in the last engine step', (s) => s.lastBatchSize);
  engineGauge('pickban_kv_cache_tokens_used', 'KV-cache tokens held by live sequences', (s) => s.kvTokensUsed);
  engineGauge('pickban_kv_cache_usage_ratio', 'KV-cache tokens used over capacity', (s) => (s.kvTokensCapacity > 0 ? s.kvTokensUsed / s.kvTokensCapacity : 0));
  new Gauge({
    name: 'pickban_graph_runs_total',
    help: 'Model runs per graph file (latency, throughput or top_k operating point) since start',
    labelNames: ['graph'],
    registers,
    collect() {
      for (const [graph, runs] of Object.entries(current().graphRuns)) this.set({ graph }, runs);
    },
  });
  engineGauge('pickban_host_reads_total', 'Times the host read step outputs since start; below the model runs when decode steps run ahead (DECODE_WINDOW)', (s) => s.hostReads);
  new Gauge({
    name: 'pickban_experts_per_token',
    help: 'Average routed experts per token in the last engine step, by layer',
    labelNames: ['layer'],
    registers,
    collect() {
      current().expertsPerTokenByLayer.forEach((v, layer) => this.set({ layer: String(layer) }, v));
    },
  });

  return {
    registry,
    requests,
    cancelled,
    ttft,
    interToken,
    promptTokens,
    completionTokens,
    /** Prometheus text exposition. */
    async render(): Promise<string> {
      scraped = null;
      try {
        return await registry.metrics();
      } finally {
        scraped = null;
      }
    },
  };
}
