import * as ort from 'onnxruntime-node';
import { GRAPH_INPUTS, MASKED_BIAS } from '../../model/contract.ts';
import { newKvArray, type KvShape, type SequenceKv } from './kv-cache.ts';

export interface BatchRow {
  /** Tokens this row computes now. */
  tokenIds: readonly number[];
  /** Its cache; kv.length tokens are already computed (= position of tokenIds[0]). */
  kv: SequenceKv;
}

/** Last step's present_* reused as this step's past_* (see ResidentBatch). */
export interface ResidentPast {
  keys: ort.Tensor[];
  values: ort.Tensor[];
  /** Padded past length of those tensors. */
  P: number;
  /** [B * P]: 1 where row b's key position holds one of its own tokens. */
  valid: Uint8Array;
}

export interface BatchLayout {
  /** New tokens per row, padded (max over rows). */
  S: number;
  /** Past length, padded. */
  P: number;
  /** [B * (P + S)]: key positions of each row holding its tokens after this step (for the next step's past). */
  valid: Uint8Array;
}

/**
 * Builds the padded step tensors of the graph contract (model/contract.ts), everything but route_*.
 *
 * Row b's past occupies the key positions its `valid` mask marks among [0, P): [0, p_b) when the
 * past is rebuilt from per-sequence caches, anything when a resident past is reused. Its n_b new
 * tokens sit at [P, P + n_b). Query s < n_b sees its past and new keys P..P+s (causal). Padding
 * queries (s >= n_b) see only their own key P+s, so every softmax row has one unmasked entry and
 * none becomes NaN; their outputs are never read.
 */
/**
 * The same for GroupQueryAttention graphs (model/contract.ts): every row computes S tokens (its own,
 * then padding ids after them, which nothing reads: causal attention keeps them out of the real
 * tokens', and the next step writes over their keys), its past is positions [0, p_b) of the
 * resident past, and GQA writes its new keys right after them.
 */
export function buildGqaFeeds(rows: readonly BatchRow[], resident: ResidentPast, S: number): Record<string, ort.Tensor> {
  const B = rows.length;
  if (rows.some((r) => r.tokenIds.length === 0 || r.tokenIds.length > S)) throw new Error(`GroupQueryAttention rows need 1 to ${S} new tokens`);
  const inputIds = new BigInt64Array(B * S);
  rows.forEach((row, b) => row.tokenIds.forEach((id, s) => (inputIds[b * S + s] = BigInt(id))));
  const totals = rows.map((r) => r.kv.length + S);
  const feeds: Record<string, ort.Tensor> = {
    [GRAPH_INPUTS.inputIds]: new ort.Tensor('int64', inputIds, [B, S]),
    [GRAPH_INPUTS.lastIndex]: new ort.Tensor('int64', BigInt64Array.from(rows, (r, b) => BigInt(b * S + r.tokenIds.length - 1)), [B]),
    [GRAPH_INPUTS.seqlensK]: new ort.Tensor('int32', Int32Array.from(totals, (t) => t - 1), [B]),
    [GRAPH_INPUTS.totalSequenceLength]: new ort.Tensor('int32', Int32Array.from([Math.max(...totals)]), []),
  };
  resident.keys.forEach((t, l) => (feeds[GRAPH_INPUTS.pastKey(l)] = t));
  resident.values.forEach((t, l) => (feeds[GRAPH_INPUTS.pastValue(l)] = t));
  return feeds;
}

export function buildBatchFeeds(rows: readonly BatchRow[], shape: KvShape, resident?: ResidentPast): { feeds: Record<string, ort.Tensor>; layout: BatchLayout } {
  const B = rows.length;
  const S = Math.max(...rows.map((r) => r.tokenIds.length));
  const P = resident ? resident.P : Math.max(...rows.map((r) => r.kv.stored));
  const T = P + S;
  const inputIds = new BigInt64Array(B * S);
  const positionIds = new BigInt64Array(B * S);
  const bias = new Float32Array(B * S * T).fill(MASKED_BIAS);
  const lastIndex = new BigInt64Array(B);
  const valid = new Uint8Array(B * T);

  rows.forEach((row, b) => {
    const n = row.tokenIds.length;
    const rowValid = valid.subarray(b * T, (b + 1) * T);
    if (resident) rowValid.set(resident.valid.subarray(b * P, (b + 1) * P));
    else rowValid.fill(1, 0, row.kv.stored);
    const past = rowValid.slice(0, P);
    rowValid.fill(1, P, P + n);
    for (let s = 0; s < S; s++) {
      const at = b * S + s;
      const biasRow = bias.subarray(at * T, (at + 1) * T);
      if (s < n) {
        inputIds[at] = BigInt(row.tokenIds[s]);
        positionIds[at] = BigInt(row.kv.length + s);
        for (let j = 0; j < P; j++) if (past[j]) biasRow[j] = 0;
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
      const name = which === 'key' ? GRAPH_INPUTS.pastKey(l) : GRAPH_INPUTS.pastValue(l);
      if (resident) {
        feeds[name] = (which === 'key' ? resident.keys : resident.values)[l];
        continue;
      }
      const past = newKvArray(dtype, B * rowSize);
      rows.forEach((row, b) => row.kv.readInto(l, which, past, b * rowSize, P));
      feeds[name] = new ort.Tensor(dtype, past, [B, numKvHeads, P, headDim]);
    }
  }
  return { feeds, layout: { S, P, valid } };
}
