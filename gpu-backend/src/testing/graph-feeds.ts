import * as ort from 'onnxruntime-node';
import { GRAPH_INPUTS, MASKED_BIAS, type Architecture } from '../model/contract.ts';
import { toFloat16 } from '../checkpoint/to-float16.ts';
import { fp16BitsToNumber } from '../checkpoint/dtypes.ts';
import type { KvDtype } from '../engine/runner/kv-cache.ts';

/**
 * Builds graph feeds for test batches: rows of different lengths, each with its own past length,
 * right-padded to a common S and P. A small stand-in for the runner's batch tensors, so graph
 * tests do not depend on the engine.
 */

export interface FeedRow {
  /** New token ids this step. */
  ids: number[];
  /** Tokens already in this row's KV cache (positions 0..past-1). */
  past: number;
}

export type KvCache = { key: Float32Array; value: Float32Array }[];

/** A row's cache: per layer [kvH, P, D] for its own past length. */
export type RowCache = { key: Float32Array; value: Float32Array; length: number }[];

/** An fp32 KV block as a graph input of `dtype` (GPU graphs take fp16 KV). */
export const kvTensor = (dtype: KvDtype, data: Float32Array, dims: number[]): ort.Tensor =>
  dtype === 'float16' ? new ort.Tensor('float16', toFloat16(data), dims) : new ort.Tensor('float32', data, dims);

/** A present_* output's values as fp32, whichever KV type the graph has. */
export function kvValues(t: ort.Tensor): Float32Array {
  if (t.type !== 'float16') return t.data as Float32Array;
  const bits = t.data as Uint16Array;
  return Float32Array.from(bits, fp16BitsToNumber);
}

export function makeFeeds(arch: Architecture, rows: FeedRow[], caches: (RowCache | null)[], extra: Record<string, ort.Tensor>, kvDtype: KvDtype = 'float32'): Record<string, ort.Tensor> {
  const B = rows.length;
  const S = Math.max(...rows.map((r) => r.ids.length));
  const P = Math.max(0, ...rows.map((r) => r.past));
  const T = P + S;
  const { numKvHeads: kvH, headDim: D } = arch;
  const ids = new BigInt64Array(B * S);
  const pos = new BigInt64Array(B * S);
  const bias = new Float32Array(B * S * T).fill(MASKED_BIAS);
  const last = new BigInt64Array(B);
  rows.forEach((r, b) => {
    for (let s = 0; s < S; s++) {
      const real = s < r.ids.length;
      ids[b * S + s] = BigInt(real ? r.ids[s] : 0);
      pos[b * S + s] = BigInt(real ? r.past + s : 0);
      const rowBias = (b * S + s) * T;
      if (!real) {
        bias[rowBias + P + s] = 0; // padding attends to itself only, so its softmax stays finite
        continue;
      }
      for (let t = 0; t < r.past; t++) bias[rowBias + t] = 0;
      for (let t = 0; t <= s; t++) bias[rowBias + P + t] = 0;
    }
    last[b] = BigInt(b * S + r.ids.length - 1);
  });
  const feeds: Record<string, ort.Tensor> = {
    [GRAPH_INPUTS.inputIds]: new ort.Tensor('int64', ids, [B, S]),
    [GRAPH_INPUTS.positionIds]: new ort.Tensor('int64', pos, [B, S]),
    [GRAPH_INPUTS.attentionBias]: new ort.Tensor('float32', bias, [B, 1, S, T]),
    [GRAPH_INPUTS.lastIndex]: new ort.Tensor('int64', last, [B]),
    // GroupQueryAttention graphs (all rows S tokens): each row's total length - 1, and the longest.
    [GRAPH_INPUTS.seqlensK]: new ort.Tensor('int32', Int32Array.from(rows, (r) => r.past + S - 1), [B]),
    [GRAPH_INPUTS.totalSequenceLength]: new ort.Tensor('int32', Int32Array.from([P + S]), []),
    ...extra,
  };
  for (let l = 0; l < arch.numLayers; l++) {
    const key = new Float32Array(B * kvH * P * D);
    const value = new Float32Array(B * kvH * P * D);
    caches.forEach((c, b) => {
      if (!c) return;
      for (let h = 0; h < kvH; h++) {
        for (let t = 0; t < c[l].length; t++) {
          const src = (h * c[l].length + t) * D;
          const dst = ((b * kvH + h) * P + t) * D;
          key.set(c[l].key.subarray(src, src + D), dst);
          value.set(c[l].value.subarray(src, src + D), dst);
        }
      }
    });
    feeds[GRAPH_INPUTS.pastKey(l)] = kvTensor(kvDtype, key, [B, kvH, P, D]);
    feeds[GRAPH_INPUTS.pastValue(l)] = kvTensor(kvDtype, value, [B, kvH, P, D]);
  }
  return feeds;
}

/**
 * Extracts row b's cache after a step: its past plus its real new tokens, from present_* of shape
 * [B, kvH, P+S, D] where row b's entries sit at [0, past) and [P, P + newTokens).
 */
export function rowCacheFrom(arch: Architecture, outputs: ort.InferenceSession.ReturnType, b: number, row: FeedRow, P: number): RowCache {
  const { numKvHeads: kvH, headDim: D } = arch;
  const cache: RowCache = [];
  for (let l = 0; l < arch.numLayers; l++) {
    const keyT = outputs[`present_key.${l}`];
    const T = keyT.dims[2];
    const length = row.past + row.ids.length;
    const key = new Float32Array(kvH * length * D);
    const value = new Float32Array(kvH * length * D);
    const kd = kvValues(keyT);
    const vd = kvValues(outputs[`present_value.${l}`]);
    for (let h = 0; h < kvH; h++) {
      for (let t = 0; t < length; t++) {
        const srcT = t < row.past ? t : P + (t - row.past);
        const src = ((b * kvH + h) * T + srcT) * D;
        key.set(kd.subarray(src, src + D), (h * length + t) * D);
        value.set(vd.subarray(src, src + D), (h * length + t) * D);
      }
    }
    cache.push({ key, value, length });
  }
  return cache;
}
