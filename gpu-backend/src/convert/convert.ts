import { copyFileSync, existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { GraphBuilder, WeightWriter } from '../model/onnx/index.ts';
import { buildQwen2MoeGraph } from '../model/qwen2moe/index.ts';
import { MANIFEST_FILE, type AttentionKind, type ExecutionProvider, type WeightDtype } from '../model/contract.ts';
import { buildManifest } from './manifest.ts';
import { copyProfiles } from './profiles.ts';
import { routerFor, SUPPORTED_STRATEGIES } from './router.ts';
import { ConvertError, openSource } from './source.ts';
import { QUANT_BLOCK_SIZE, StreamingWeights, WeightStore } from './weight-store.ts';
import type { MoeFormulation } from '../model/qwen2moe/index.ts';

/**
 * HF Qwen2MoE checkpoint -> PickBan model directory (manifest.json, model.onnx + model.onnx.data,
 * tokenizer files, profiles/). Validates the whole source first, then streams tensor by tensor
 * into `<out>.tmp-<pid>`, and renames it into place only when complete, so a failed or
 * interrupted run never leaves a directory that looks like a model.
 */

export const GRAPH_FILE = 'model.onnx';
export const THROUGHPUT_GRAPH_FILE = 'model.dense.onnx';
export const TOP_K_GRAPH_FILE = 'model.topk.onnx';
export const DATA_FILE = 'model.onnx.data';
/**
 * Decoding rows per step from which WebGPU's dense-experts graph runs instead of QMoE. QMoE's
 * multi-token path costs more than reading every expert once: whole A2.7B int4 decode steps on an
 * H100 (bench: step-probe, BENCHMARKS.md) took 22 / 51 / 74 / 89 ms at 1 / 2 / 3 / 4 rows on the
 * top_k graph, 64 / 99 / 102 / 111 ms on model.onnx, and 56-80 ms at 2 to 16 rows on the dense graph
 * (on an H200 the dense graph led from 2 rows).
 */
export const DEFAULT_DENSE_MIN_TOKENS = 3;

/**
 * The graphs a model directory gets per execution provider. cpu: If-gated sparse experts (Ban's
 * skipped experts cost nothing) and standard-op attention. webgpu: GroupQueryAttention, and QMoE
 * for small steps with dense experts for large ones when the experts are quantized, plus a QMoE
 * graph without the router kernel for plain top_k batches; dense alone for fp16/fp32 (QMoE is
 * quantized-only).
 */
interface GraphPlan {
  file: string;
  moe: MoeFormulation;
  attention: AttentionKind;
  router: 'kernel' | 'top_k';
}
interface GraphPlans {
  latency: GraphPlan;
  throughput?: GraphPlan;
  topK?: GraphPlan;
}
function graphPlan(ep: ExecutionProvider, dtype: WeightDtype): GraphPlans {
  if (ep === 'cpu') return { latency: { file: GRAPH_FILE, moe: 'sparse', attention: 'sdpa', router: 'kernel' } };
  if (dtype === 'int4' || dtype === 'int8') {
    return {
      latency: { file: GRAPH_FILE, moe: 'qmoe', attention: 'gqa', router: 'kernel' },
      throughput: { file: THROUGHPUT_GRAPH_FILE, moe: 'dense', attention: 'gqa', router: 'kernel' },
      topK: { file: TOP_K_GRAPH_FILE, moe: 'qmoe', attention: 'gqa', router: 'top_k' },
    };
  }
  return { latency: { file: GRAPH_FILE, moe: 'dense', attention: 'gqa', router: 'kernel' } };
}

export interface ConvertOptions {
  src: string;
  out: string;
  dtype?: WeightDtype;
  /** Largest top_k a request may ask for; default the model's num_experts_per_tok. */
  maxTopK?: number;
  ep?: ExecutionProvider;
  /** MatMulNBits accuracy_level for int8/int4 (default 4, the fast CPU path; 0 = fp32 compute). */
  accuracyLevel?: number;
  /** Overrides the per-EP MoE formulation (tests run the GPU formulations on the CPU EP). */
  moe?: MoeFormulation;
  /** Overrides the per-EP attention. */
  attention?: AttentionKind;
  /** Tokens per step from which the runner uses the throughput graph. */
  denseMinTokens?: number;
  /** Also write the plain top_k graph (QMoE, no router kernel); default: where the EP's plan has one. Needs the qmoe formulation. */
  topKGraph?: boolean;
  /** Also write the dense-experts throughput graph; default: where the EP's plan has one. */
  throughputGraph?: boolean;
  /** Residual Adds fused into the norms; default on for GPU EPs. */
  fusedNorms?: boolean;
  /**
   * The residual stream's type in GPU graphs (ModelWeights.activations): float16 (default; fp16 KV,
   * no casts around WebGPU's fp16 kernels) or float32 (the earlier graphs, for side-by-side runs).
   * CPU graphs are always float32.
   */
  activations?: 'float16' | 'float32';
}

export interface ConvertResult {
  out: string;
  graphBytes: number;
  dataBytes: number;
  nodes: number;
}

export function convertCheckpoint(opts: ConvertOptions): ConvertResult {
  const dtype = opts.dtype ?? 'fp32';
  const ep = opts.ep ?? 'cpu';
  if (ep === 'cuda') throw new ConvertError('--ep cuda: no cuda graph variant yet (convert with --ep cpu or --ep webgpu)');
  const source = openSource(opts.src);
  const { arch } = source;
  const maxTopK = opts.maxTopK ?? arch.numExpertsPerTok;
  if (!Number.isInteger(maxTopK) || maxTopK < arch.numExpertsPerTok || maxTopK > arch.numExperts) {
    throw new ConvertError(`--max-top-k ${maxTopK}: must be between num_experts_per_tok (${arch.numExpertsPerTok}) and num_experts (${arch.numExperts})`);
  }

  const out = resolve(opts.out);
  const tmp = `${out}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  try {
    const plan = graphPlan(ep, dtype);
    if (opts.moe) {
      plan.latency.moe = opts.moe;
      delete plan.throughput;
    }
    if (opts.attention) for (const p of [plan.latency, plan.throughput, plan.topK]) if (p) p.attention = opts.attention;
    if (opts.throughputGraph === false) delete plan.throughput;
    else if (opts.throughputGraph) plan.throughput = { file: THROUGHPUT_GRAPH_FILE, moe: 'dense', attention: plan.latency.attention, router: 'kernel' };
    if (opts.topKGraph === false) delete plan.topK;
    else if (opts.topKGraph) plan.topK = { file: TOP_K_GRAPH_FILE, moe: 'qmoe', attention: plan.latency.attention, router: 'top_k' };
    const fusedNorms = opts.fusedNorms ?? ep !== 'cpu';
    // fp16 needs GroupQueryAttention in every graph (standard-op attention takes an fp32 bias).
    const plans = [plan.latency, plan.throughput, plan.topK].filter((p) => p !== undefined);
    const activations = ep !== 'cpu' && plans.every((p) => p.attention === 'gqa') ? opts.activations ?? 'float16' : 'float32';
    const writer = new WeightWriter(join(tmp, DATA_FILE));
    const graphs: { plan: GraphPlan; bytes: Uint8Array; nodes: number }[] = [];
    let dataBytes: number;
    try {
      // QMoE on WebGPU runs fp16 (its scales are the activations' type); CPU QMoE takes fp32.
      const store = new WeightStore(source.checkpoint, writer, dtype, source.expected, ep === 'cpu' ? {} : { qmoeScaleType: 'float16' });
      for (const p of plans) {
        const g = new GraphBuilder('qwen2_moe');
        const weights = new StreamingWeights(store, g, {
          accuracyLevel: opts.accuracyLevel, fp16Compute: ep === 'cpu' ? 'float32' : 'float16', matmul: ep !== 'cpu', activations,
        });
        buildQwen2MoeGraph(g, {
          arch, weights, router: p.router === 'top_k' ? 'top_k' : routerFor({ numLayers: arch.numLayers, numExperts: arch.numExperts }),
          skippedExpertRows: ep === 'webgpu' ? 1 : 0, moe: p.moe, attention: p.attention, maxTopK, fusedNorms,
        });
        graphs.push({ plan: p, bytes: g.toModelBytes({ opsetVersion: 17 }), nodes: g.countNodes('') });
      }
      dataBytes = writer.size;
    } finally {
      writer.close();
    }
    for (const { plan: p, bytes } of graphs) writeFileSync(join(tmp, p.file), bytes);
    const graph = graphs[0].bytes;
    for (const f of ['tokenizer.json', 'tokenizer_config.json']) copyFileSync(join(source.dir, f), join(tmp, f));
    copyProfiles(source.dir, join(tmp, 'profiles'), arch);
    const manifest = buildManifest({
      source, dtype, maxTopK, graphs: { [ep]: plan.latency.file }, strategies: SUPPORTED_STRATEGIES,
      throughputGraphs: plan.throughput ? { [ep]: { file: plan.throughput.file, minTokens: opts.denseMinTokens ?? DEFAULT_DENSE_MIN_TOKENS } } : undefined,
      topKGraphs: plan.topK ? { [ep]: { file: plan.topK.file } } : undefined,
      graphInfo: Object.fromEntries(graphs.map(({ plan: p }) => [p.file, { moe: p.moe, attention: p.attention, ...(p.router === 'top_k' ? { router: p.router } : {}) }])),
      blockSize: dtype === 'int4' || dtype === 'int8' ? QUANT_BLOCK_SIZE : undefined,
      kvDtype: activations,
    });
    // The manifest goes last: its presence is what marks a directory as a complete model.
    writeFileSync(join(tmp, MANIFEST_FILE), JSON.stringify(manifest, null, 2) + '\n');
    mkdirSync(dirname(out), { recursive: true });
    if (existsSync(out)) {
      const old = `${out}.old-${process.pid}`;
      renameSync(out, old);
      renameSync(tmp, out);
      rmSync(old, { recursive: true, force: true });
    } else renameSync(tmp, out);
    return { out, graphBytes: graph.length, dataBytes, nodes: graphs[0].nodes };
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
}
