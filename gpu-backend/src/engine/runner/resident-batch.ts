import type * as ort from 'onnxruntime-node';
import type { KvArray, SequenceKv } from './kv-cache.ts';
import type { ResidentPast } from './batch-tensors.ts';

interface Resident extends ResidentPast {
  reqIds: string[];
  kvs: SequenceKv[];
}

/**
 * Keeps the last step's present_* tensors so the next step can feed them back as past_* without
 * copying, as long as the batch is the same rows in the same order and every row computes the same
 * number of tokens (so no padding holes accumulate): steady decoding, or one sequence prefilling.
 * When the composition changes, each row's new positions are copied into its own SequenceKv and
 * the next past is rebuilt from those. ort-notes: a growing cache is reallocated by ORT every step
 * anyway (present = concat(past, new)); this saves the runner's second copy.
 */
export class ResidentBatch {
  private resident: Resident | null = null;

  /** The resident past if these rows (in this order) can reuse it, else null. */
  reusableFor(reqIds: readonly string[], uniformChunks: boolean): ResidentPast | null {
    const r = this.resident;
    if (!r || !uniformChunks || r.reqIds.length !== reqIds.length) return null;
    return r.reqIds.every((id, b) => id === reqIds[b]) ? r : null;
  }

  holds(reqId: string): boolean {
    return this.resident?.reqIds.includes(reqId) ?? false;
  }

  /** Records this step's present_* and marks the rows' new tokens as pending in them. */
  keep(reqIds: string[], kvs: SequenceKv[], counts: number[], keys: ort.Tensor[], values: ort.Tensor[], valid: Uint8Array, T: number): void {
    kvs.forEach((kv, b) => (kv.pending += counts[b]));
    this.resident = { reqIds, kvs, keys, values, valid, P: T };
  }

  /**
   * Copies every live row's pending positions into its SequenceKv and drops the tensors. A row's
   * valid positions, in order, are its tokens in order; the first kv.stored of them are already
   * stored. `isLive` filters rows freed since (their positions are simply dropped).
   */
  materialize(isLive: (kv: SequenceKv) => boolean): void {
    const r = this.resident;
    this.resident = null;
    if (!r) return;
    const keys = r.keys.map((t) => t.data as KvArray);
    const values = r.values.map((t) => t.data as KvArray);
    const [, kvH, T, D] = r.keys[0].dims;
    r.kvs.forEach((kv, b) => {
      if (!isLive(kv) || kv.pending === 0) return;
      const rowValid = r.valid.subarray(b * T, (b + 1) * T);
      let rank = 0;
      for (let j = 0; j < T; ) {
        if (!rowValid[j]) {
          j++;
          continue;
        }
        let end = j;
        while (end < T && rowValid[end]) end++;
        // Positions j..end-1 are ranks rank..rank+(end-j)-1 of the row's tokens.
        const skip = Math.max(0, Math.min(end - j, kv.stored - rank));
        const count = end - j - skip;
        if (count > 0) {
          kv.append(keys, values, b * kvH * T * D, T, j + skip, count);
          kv.pending -= count;
        }
        rank += end - j;
        j = end;
      }
      if (kv.pending !== 0) throw new Error(`ResidentBatch: ${kv.pending} positions of row ${b} could not be found`);
    });
  }
}
