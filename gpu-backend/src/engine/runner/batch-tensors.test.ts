import { describe, it, expect } from 'vitest';
import { MASKED_BIAS } from '../../model/contract.ts';
import { buildBatchFeeds } from './batch-tensors.ts';
import { SequenceKv, type KvShape } from './kv-cache.ts';

const shape: KvShape = { numLayers: 2, numKvHeads: 2, headDim: 3, dtype: 'float32' };

/** A sequence whose cached value at (layer, head, pos, d) is a recognisable number. */
function filledKv(len: number, tag: number): SequenceKv {
  const kv = new SequenceKv(shape, 64);
  const { numLayers, numKvHeads, headDim } = shape;
  const present = (kind: number) => Array.from({ length: numLayers }, (_, l) => Float32Array.from({ length: numKvHeads * len * headDim }, (_, i) => {
    const h = Math.floor(i / (len * headDim));
    const pos = Math.floor(i / headDim) % len;
    return tag * 10000 + kind * 1000 + l * 100 + h * 10 + pos + (i % headDim) / 10;
  }));
  kv.append(present(0), present(1), 0, len, 0, len);
  return kv;
}

describe('buildBatchFeeds', () => {
  it('pads rows of different past and chunk lengths per the graph contract', () => {
    const a = filledKv(3, 1); // decoding: past 3, one new token
    const b = filledKv(0, 2); // prefilling: no past, 2 new tokens
    const { feeds, layout } = buildBatchFeeds([{ tokenIds: [7], kv: a }, { tokenIds: [8, 9], kv: b }], shape);
    expect(layout).toMatchObject({ S: 2, P: 3 });
    expect(Array.from(layout.valid)).toEqual([1, 1, 1, 1, 0, 0, 0, 0, 1, 1]);
    expect(Array.from(feeds.input_ids.data as BigInt64Array)).toEqual([7n, 0n, 8n, 9n]);
    expect(Array.from(feeds.position_ids.data as BigInt64Array)).toEqual([3n, 0n, 0n, 1n]);
    expect(Array.from(feeds.last_index.data as BigInt64Array)).toEqual([0n, 3n]);
    expect(feeds.attention_bias.dims).toEqual([2, 1, 2, 5]);
    const bias = Array.from(feeds.attention_bias.data as Float32Array).map((v) => (v === 0 ? 1 : v === MASKED_BIAS ? 0 : NaN));
    expect(bias).toEqual([
      1, 1, 1, 1, 0, // a, token 0: its 3 past + itself
      0, 0, 0, 0, 1, // a, padding query: only its own key
      0, 0, 0, 1, 0, // b, token 0: itself (no past; P padding masked)
      0, 0, 0, 1, 1, // b, token 1: causal
    ]);
    const past = feeds['past_key.1'];
    expect(past.dims).toEqual([2, 2, 3, 3]);
    const data = past.data as Float32Array;
    // row a, head 1, pos 2, d 0 -> tag 1, key, layer 1, head 1, pos 2
    expect(data[(0 * 2 + 1) * 9 + 2 * 3]).toBeCloseTo(10000 + 100 + 10 + 2);
    expect(Array.from(data.subarray(18, 36)).every((v) => v === 0)).toBe(true); // row b has no past
    expect((feeds['past_value.0'].data as Float32Array)[0]).toBeCloseTo(11000);
  });
});

describe('SequenceKv', () => {
  it('appends the new positions of a padded present row and grows without losing data', () => {
    const kv = filledKv(20, 3); // more than the initial capacity of 16
    // present row laid out [kvH, T=5, D], new tokens at positions 3..4 of it
    const T = 5;
    const present = Array.from({ length: 2 }, () => Float32Array.from({ length: 2 * T * 3 }, (_, i) => 500 + i));
    kv.append(present, present, 0, T, 3, 2);
    expect(kv.length).toBe(22);
    const out = new Float32Array(2 * 22 * 3);
    kv.readInto(0, 'key', out, 0, 22);
    expect(out[19 * 3]).toBeCloseTo(30000 + 19); // old data kept through the growth
    expect(out[20 * 3]).toBe(500 + 3 * 3); // head 0, present position 3
    expect(out[22 * 3 + 21 * 3]).toBe(500 + (1 * T + 4) * 3); // head 1, present position 4
    expect(() => kv.append(present, present, 0, T, 0, 60)).toThrow(/reservation/);
  });
});
