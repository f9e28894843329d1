import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import { GRAPH_INPUTS, GRAPH_OUTPUTS, ManifestSchema, MANIFEST_FILE, readHostOutputs, type Architecture, type Manifest } from '../model/contract.ts';
import { TextTokenizer } from '../engine/tokenizer/index.ts';
import { makeFeeds } from '../testing/graph-feeds.ts';
import { routeFeeds, type RowRouting } from '../testing/route-feeds.ts';

const { onnx } = onnxProto;

/**
 * A converted model opened for measurement rather than serving: the step graph with every layer's
 * router probabilities added as outputs, run on whole windows of tokens (no KV cache) with logits
 * at every position, one routing per batch row. Calibration and the routing evaluation both use it.
 *
 * Two facts this relies on, checked by the tests:
 * - `last_index` is a flat Gather over the [B*S, H] hidden states, so feeding all B*S indices
 *   returns logits for every position ([B*S, V]) from the unchanged graph.
 * - The router kernel's Softmax is named `/model/layers.{l}/moe/router/Softmax` (path naming).
 */

export const routerProbsName = (layer: number) => `/model/layers.${layer}/moe/router/Softmax/output_0`;

export interface ProbeModel {
  dir: string;
  manifest: Manifest;
  arch: Architecture;
  session: ort.InferenceSession;
  tokenizer: TextTokenizer;
}

export interface WindowRun {
  /** [B*S, V] next-token logits at every position, row-major by (row, position). */
  logits: Float32Array;
  /** [B*S, L, E] 1 where the router selected the expert. */
  expertMask: Uint8Array;
  /** Per layer, [B*S, E] router probabilities (softmax of the router logits). */
  probs: Float32Array[];
}

export async function openProbeModel(modelDir: string, opts: { threads?: number } = {}): Promise<ProbeModel> {
  const manifest = ManifestSchema.parse(JSON.parse(readFileSync(join(modelDir, MANIFEST_FILE), 'utf8')));
  const graphFile = manifest.graphs.cpu;
  if (!graphFile) throw new Error(`${modelDir}: the model has no cpu graph`);
  const model = onnx.ModelProto.decode(readFileSync(join(modelDir, graphFile)));
  const produced = new Set(model.graph!.node!.flatMap((n) => n.output ?? []));
  for (let l = 0; l < manifest.architecture.numLayers; l++) {
    const name = routerProbsName(l);
    if (!produced.has(name)) throw new Error(`${modelDir}: graph has no router probabilities '${name}' (converter naming changed?)`);
    model.graph!.output!.push(onnx.ValueInfoProto.create({ name, type: { tensorType: { elemType: onnx.TensorProto.DataType.FLOAT } } }));
  }
  // ORT refuses external data outside the graph file's folder (symlinks resolved), so the edited
  // graph sits beside the original just long enough to be loaded.
  const probeFile = join(modelDir, `.probe-${process.pid}-${Date.now()}.onnx`);
  writeFileSync(probeFile, onnx.ModelProto.encode(model).finish());
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(probeFile, {
      graphOptimizationLevel: 'all',
      ...(opts.threads ? { intraOpNumThreads: opts.threads, interOpNumThreads: 1 } : {}),
    });
  } finally {
    rmSync(probeFile, { force: true });
  }
  const tokenizer = await TextTokenizer.load(modelDir, manifest);
  return { dir: modelDir, manifest, arch: manifest.architecture, session, tokenizer };
}

/** Runs the same token window once per routing row (B = rows.length), from an empty cache. */
export async function runWindow(model: ProbeModel, ids: readonly number[], rows: readonly RowRouting[]): Promise<WindowRun> {
  const { arch, session } = model;
  const B = rows.length;
  const S = ids.length;
  const feedRows = rows.map(() => ({ ids: [...ids], past: 0 }));
  const allPositions = new BigInt64Array(B * S).map((_, i) => BigInt(i));
  const feeds = makeFeeds(arch, feedRows, feedRows.map(() => null), {
    ...routeFeeds(arch, [...rows], session.inputNames),
    [GRAPH_INPUTS.lastIndex]: new ort.Tensor('int64', allPositions, [B * S]),
  });
  const out = await session.run(feeds);
  return {
    logits: out[GRAPH_OUTPUTS.logits].data as Float32Array,
    // last_index names every position: one host_outputs row per token.
    expertMask: readHostOutputs(out[GRAPH_OUTPUTS.hostOutputs].data as Float32Array, B * S, 1, arch.numLayers * arch.numExperts).expertMask,
    probs: Array.from({ length: arch.numLayers }, (_, l) => out[routerProbsName(l)].data as Float32Array),
  };
}
