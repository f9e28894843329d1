import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import type { ResolvedRouting } from '../../../../shared/routing/resolve.ts';
import type { RoutingStrategy } from '../../../../shared/routing/schema.ts';
import { GRAPH_INPUTS } from '../contract.ts';
import { GraphBuilder } from '../onnx/graph-builder.ts';
import { makeRouter } from './kernel.ts';
import { packRouterInputs } from './pack.ts';
import { makeRouterParams } from './params.ts';
import { referenceRoute, type ReferenceParams, type ReferenceResult } from './reference.ts';

/**
 * Tests only: a real ORT CPU session of a graph that holds nothing but the router of L layers.
 * Input `router_logits` float32 [L, N, E]; outputs `selected.{l}` and `weights.{l}`, each [N, E].
 */
export interface RouterSession {
  run(rows: ResolvedRouting[], seqLen: number, logits: Float32Array): Promise<{ selected: Float32Array[]; weights: Float32Array[] }>;
  /** Nodes of layer l's kernel. */
  nodesPerLayer: number;
  close(): Promise<void>;
}

export async function createRouterSession(numLayers: number, numExperts: number, maxTopK: number, strategies?: RoutingStrategy[]): Promise<RouterSession> {
  const g = new GraphBuilder('router_only');
  const inputIds = g.input(GRAPH_INPUTS.inputIds, 'int64', ['batch', 'seq']);
  const logits = g.input('router_logits', 'float32', [numLayers, 'tokens', numExperts]);
  const params = makeRouterParams(g, { tokens: inputIds, numLayers, numExperts, strategies });
  let nodesPerLayer = 0;
  for (let l = 0; l < numLayers; l++) {
    const layerLogits = g.node('Gather', [logits, g.constI64(l)], { axis: 0 }, { name: `layer_logits_${l}` });
    const prefix = `/model/layers.${l}/moe/router`;
    const out = makeRouter(g, { prefix, layer: l, logits: layerLogits, params });
    nodesPerLayer = g.countNodes(prefix);
    g.output(`selected.${l}`, 'float32', ['tokens', numExperts], out.selected);
    g.output(`weights.${l}`, 'float32', ['tokens', numExperts], out.weights);
  }
  const dir = mkdtempSync(join(tmpdir(), 'pickban-router-'));
  const path = join(dir, 'router.onnx');
  writeFileSync(path, g.toModelBytes());
  const session = await ort.InferenceSession.create(path, { intraOpNumThreads: 1 });
  return {
    nodesPerLayer,
    async run(rows, seqLen, flatLogits) {
      const n = rows.length * seqLen;
      const feeds = {
        ...packRouterInputs(rows, { numLayers, numExperts, maxTopK }),
        [GRAPH_INPUTS.inputIds]: new ort.Tensor('int64', new BigInt64Array(n), [rows.length, seqLen]),
        router_logits: new ort.Tensor('float32', flatLogits, [numLayers, n, numExperts]),
      };
      const out = await session.run(feeds);
      const layers = [...Array(numLayers).keys()];
      return {
        selected: layers.map((l) => out[`selected.${l}`].data as Float32Array),
        weights: layers.map((l) => out[`weights.${l}`].data as Float32Array),
      };
    },
    async close() {
      await session.release();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A ResolvedRouting with defaults, for tests. */
export function resolvedRow(numLayers: number, numExperts: number, over: Partial<ResolvedRouting> & { keys?: Record<number, number[]> }): ResolvedRouting {
  const mask = new Uint8Array(numLayers * numExperts);
  for (const [l, ids] of Object.entries(over.keys ?? {})) for (const e of ids) mask[Number(l) * numExperts + e] = 1;
  const { keys: _keys, ...rest } = over;
  return { strategy: 'top_k', keyExpertMask: mask, lambda: 1, tau: 0.9, topK: 4, minExperts: 1, renormalize: false, stats: 'summary', ...rest };
}

/** The scalar reference's parameters for one row at one layer. */
export function referenceParams(row: ResolvedRouting, layer: number, numExperts: number): ReferenceParams {
  const keyExperts: number[] = [];
  for (let e = 0; e < numExperts; e++) if (row.keyExpertMask[layer * numExperts + e]) keyExperts.push(e);
  const usesKeys = row.strategy !== 'top_k' && row.strategy !== 'ban';
  return {
    strategy: row.strategy,
    topK: row.topK,
    lambda: row.lambda,
    tau: row.tau,
    minExperts: row.minExperts,
    renormalize: row.renormalize,
    keyExperts: usesKeys ? keyExperts : [],
    layerSensitivity: row.layerSensitivity?.[layer] ?? 1,
    rRange: [row.rMin ?? 0, row.rMax ?? 0],
  };
}

export interface Mismatch {
  row: number;
  token: number;
  layer: number;
  expected: ReferenceResult;
  got: { selected: number[]; weights: number[] };
}

/**
 * Runs the kernel on `logits` ([L, N, E], N = rows·seqLen) and compares every token and layer with
 * the scalar reference. Tokens whose reference margin is under `minMargin` (a threshold decision
 * closer than fp32 can resolve) are counted in `skipped`, not compared.
 */
export async function compareWithReference(
  session: RouterSession,
  rows: ResolvedRouting[],
  seqLen: number,
  logits: Float32Array,
  dims: { numLayers: number; numExperts: number },
  minMargin = 1e-5,
  weightTolerance = 1e-5,
): Promise<{ mismatches: Mismatch[]; compared: number; skipped: number; selectedCounts: number[] }> {
  const { numLayers: L, numExperts: E } = dims;
  const N = rows.length * seqLen;
  const out = await session.run(rows, seqLen, logits);
  const mismatches: Mismatch[] = [];
  const selectedCounts: number[] = [];
  let compared = 0;
  let skipped = 0;
  for (let l = 0; l < L; l++) {
    for (let n = 0; n < N; n++) {
      const row = Math.floor(n / seqLen);
      const tokenLogits = logits.subarray((l * N + n) * E, (l * N + n + 1) * E);
      const expected = referenceRoute(tokenLogits, referenceParams(rows[row], l, E));
      const selected = [...Array(E).keys()].filter((e) => out.selected[l][n * E + e] === 1);
      const weights = selected.map((e) => out.weights[l][n * E + e]);
      const zeroElsewhere = [...Array(E).keys()].every((e) => selected.includes(e) || out.weights[l][n * E + e] === 0);
      selectedCounts.push(selected.length);
      if (expected.margin < minMargin) {
        skipped++;
        continue;
      }
      compared++;
      const same =
        zeroElsewhere &&
        selected.length === expected.selected.length &&
        selected.every((e, i) => e === expected.selected[i]) &&
        weights.every((w, i) => Math.abs(w - expected.weights[i]) <= weightTolerance);
      if (!same) mismatches.push({ row, token: n % seqLen, layer: l, expected, got: { selected, weights } });
    }
  }
  return { mismatches, compared, skipped, selectedCounts };
}

/** Deterministic normal samples (Box–Muller over a 32-bit LCG), so failures reproduce. */
export function seededNormal(seed: number): () => number {
  let state = seed >>> 0;
  const uniform = () => ((state = (Math.imul(state, 1664525) + 1013904223) >>> 0) + 0.5) / 2 ** 32;
  return () => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
}
