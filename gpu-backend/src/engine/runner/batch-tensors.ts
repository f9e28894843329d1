import * as ort from 'onnxruntime-node';
import { GRAPH_INPUTS, MASKED_BIAS } from '../../model/contract.ts';
import { newKvArray, type KvShape, type SequenceKv } from './kv-cache.ts';

export interface BatchRow {
  /** Tokens this row computes now. */
  tokenIds: readonly number[];
  /** Tokens already in its KV cache (= position of tokenIds[0]). */
  kv: SequenceKv;
}

export interface BatchLayout {
  /** New tokens per row, padded (max over rows). */
  S: number;
  /** Past length, padded (max over rows). */
  P: number;
}

/**
 * Builds the padded step tensors of the graph contract (model/contract.ts), everything but route_*.
 *
 * Row b with past p_b and n_b new tokens: its past sits at key positions [0, p_b) (the rest of
 * [0, P) is padding), its new tokens at [P, P + n_b). Query s < n_b sees its own past and new keys
 * P..P+s (causal). Padding queries (s >= n_b) see only their own key P+s, so every softmax row has
 * one unmasked entry and none becomes NaN; their outputs are never read.
 */
export function buildBatchFeeds(rows: readonly BatchRow[], shape: KvShape): { feeds: Record<string, ort.Tensor>; layout: BatchLayout } {
  const B = rows.length;
  const S = Math.max(...rows.map((r) => r.tokenIds.length));
  const P = Math.max(...rows.map((r) => r.kv.length));
  const T = P + S;
  const inputIds = new BigInt64Array(B * S);
  const positionIds = new BigInt64Array(B * S);
  const bias = new Float32Array(B * S * T).fill(MASKED_BIAS);
  const lastIndex = new BigInt64Array(B);

  rows.forEach((row, b) => {
    const past = row.kv.length;
    const n = row.tokenIds.length;
    for (let s = 0; s < S; s++) {
      const at = b * S + s;
      const biasRow = bias.subarray(at * T, (at + 1) * T);
      if (s < n) {
        inputIds[at] = BigInt(row.tokenIds[s]);
        positionIds[at] = BigInt(past + s);
        biasRow.fill(0, 0, past);
        biasRow.fill(0, P, P + s + 1);
      } else {
        biasRow[P + s] = 0;
      }
    }
    lastIndex[b] = BigInt(b * S + n - 1);
  });

  const feeds: Record<string, ort.Tensor> = {
    [GRAPH_INPUTS.inputIds]: new ort.Tensor('int64', inputIds, [B, S]),
    [GRAPH_INPUTS.positionIds]: new ort.Tensor('int64', positionIds, [B, S]),
    [GRAPH_INPUTS.attentionBias]: new ort.Tensor('float32', bias, [B, 1, S, T]),
    [GRAPH_INPUTS.lastIndex]: new ort.Tensor('int64', lastIndex, [B]),
  };
  const { numLayers, numKvHeads, headDim, dtype } = shape;
  const rowSize = numKvHeads * P * headDim;
  for (let l = 0; l < numLayers; l++) {
    for (const which of ['key', 'value'] as const) {
      const past = newKvArray(dtype, B * rowSize);
      rows.forEach((row, b) => row.kv.readInto(l, which, past, b * rowSize, P));
      const name = which === 'key' ? GRAPH_INPUTS.pastKey(l) : GRAPH_INPUTS.pastValue(l);
      feeds[name] = new ort.Tensor(dtype, past, [B, numKvHeads, P, headDim]);
    }
  }
  return { feeds, layout: { S, P } };
}
