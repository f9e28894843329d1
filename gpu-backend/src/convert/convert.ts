import { copyFileSync, existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { GraphBuilder, WeightWriter } from '../model/onnx/index.ts';
import { buildQwen2MoeGraph } from '../model/qwen2moe/index.ts';
import { MANIFEST_FILE, type ExecutionProvider, type WeightDtype } from '../model/contract.ts';
import { buildManifest } from './manifest.ts';
import { copyProfiles } from './profiles.ts';
import { routerFor, SUPPORTED_STRATEGIES } from './router.ts';
import { ConvertError, openSource } from './source.ts';
import { QUANT_BLOCK_SIZE, StreamingWeights } from './weight-store.ts';

/**
 * HF Qwen2MoE checkpoint -> PickBan model directory (manifest.json, model.onnx + model.onnx.data,
 * tokenizer files, profiles/). Validates the whole source first, then streams tensor by tensor
 * into `<out>.tmp-<pid>`, and renames it into place only when complete, so a failed or
 * interrupted run never leaves a directory that looks like a model.
 */

export const GRAPH_FILE = 'model.onnx';
export const DATA_FILE = 'model.onnx.data';

export interface ConvertOptions {
  src: string;
  out: string;
  dtype?: WeightDtype;
  /** Largest top_k a request may ask for; default the model's num_experts_per_tok. */
  maxTopK?: number;
  ep?: ExecutionProvider;
  /** MatMulNBits accuracy_level for int8/int4 (default 4, the fast CPU path; 0 = fp32 compute). */
  accuracyLevel?: number;
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
  // webgpu: the same If-gated graph with one zero row per skipped expert (WebGPU's Concat rejects
  // empty inputs). A QMoE / dense-experts formulation for speed on WebGPU is still to come.
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
    const writer = new WeightWriter(join(tmp, DATA_FILE));
    const g = new GraphBuilder('qwen2_moe');
    let dataBytes: number;
    try {
      const weights = new StreamingWeights(source.checkpoint, writer, dtype, source.expected, g, opts.accuracyLevel);
      buildQwen2MoeGraph(g, { arch, weights, router: routerFor({ numLayers: arch.numLayers, numExperts: arch.numExperts }), skippedExpertRows: ep === 'webgpu' ? 1 : 0 });
      dataBytes = writer.size;
    } finally {
      writer.close();
    }
    const graph = g.toModelBytes({ opsetVersion: 17 });
    writeFileSync(join(tmp, GRAPH_FILE), graph);
    for (const f of ['tokenizer.json', 'tokenizer_config.json']) copyFileSync(join(source.dir, f), join(tmp, f));
    copyProfiles(source.dir, join(tmp, 'profiles'), arch);
    const manifest = buildManifest({
      source, dtype, maxTopK, graphs: { [ep]: GRAPH_FILE }, strategies: SUPPORTED_STRATEGIES,
      blockSize: dtype === 'int4' || dtype === 'int8' ? QUANT_BLOCK_SIZE : undefined,
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
    return { out, graphBytes: graph.length, dataBytes, nodes: g.countNodes('') };
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
}
