import { describe, it, expect } from 'vitest';
import * as ort from 'onnxruntime-node';
import { SequenceKv, type KvShape } from './kv-cache.ts';
import { ResidentBatch } from './resident-batch.ts';

const shape: KvShape = { numLayers: 1, numKvHeads: 2, headDim: 2, dtype: 'float32' };
const { numKvHeads: kvH, headDim: D } = shape;

/** present [B, kvH, T, D] whose value at (b, h, t, d) encodes its coordinates. */
function present(B: number, T: number, sign: number): ort.Tensor {
  const data = Float32Array.from({ length: B * kvH * T * D }, (_, i) => sign * (1000 * Math.floor(i / (kvH * T * D)) + 100 * (Math.floor(i / (T * D)) % kvH) + Math.floor(i / D) % T + (i % D) / 10));
  return new ort.Tensor('float32', data, [B, kvH, T, D]);
}

function positions(kv: SequenceKv, which: 'key' | 'value'): number[] {
  const out = new Float32Array(kvH * kv.stored * D);
  kv.readInto(0, which, out, 0, kv.stored);
  return Array.from(out.filter((_, i) => i % D === 0)); // d = 0 of each (head, position)
}

describe('ResidentBatch', () => {
  it('reuses only for the same rows in the same order with uniform chunks', () => {
    const rb = new ResidentBatch();
    const kvs = [new SequenceKv(shape, 64), new SequenceKv(shape, 64)];
    rb.keep(['a', 'b'], kvs, [1, 1], [present(2, 4, 1)], [present(2, 4, -1)], new Uint8Array(8).fill(1), 4);
    expect(rb.reusableFor(['a', 'b'], true)).not.toBeNull();
    expect(rb.reusableFor(['b', 'a'], true)).toBeNull();
    expect(rb.reusableFor(['a', 'b'], false)).toBeNull();
    expect(rb.reusableFor(['a'], true)).toBeNull();
  });

  it("copies each live row's pending positions, in token order, skipping holes and what is stored", () => {
    const rb = new ResidentBatch();
    const a = new SequenceKv(shape, 64); // 2 positions already stored, 3 pending
    const seed = [present(1, 2, 1)];
    a.append(seed.map((t) => t.data as Float32Array), seed.map((t) => t.data as Float32Array), 0, 2, 0, 2);
    const b = new SequenceKv(shape, 64); // freed: must be left alone
    const T = 6;
    // Row a holds its tokens at key positions 0,1 (stored), 3 (after a hole at 2), 4, 5.
    const valid = Uint8Array.from([1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1]);
    rb.keep(['a', 'b'], [a, b], [3, 6], [present(2, T, 1)], [present(2, T, -1)], valid, T);
    expect(a.length).toBe(5);
    rb.materialize((kv) => kv !== b);
    expect(a).toMatchObject({ stored: 5, pending: 0 });
    expect(b.stored).toBe(0);
    // head 0 then head 1; stored positions came from the seed (0, 1), pending ones from row 0 of present.
    expect(positions(a, 'key')).toEqual([0, 1, 3, 4, 5, 100, 101, 103, 104, 105]);
    expect(positions(a, 'value')).toEqual([0, 1, -3, -4, -5, 100, 101, -103, -104, -105]); // the seed wrote keys as values
    expect(rb.reusableFor(['a', 'b'], true)).toBeNull();
  });
});
