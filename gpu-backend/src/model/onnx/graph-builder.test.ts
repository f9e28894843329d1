import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import { fp16BitsToFp32, fp32ToFp16Bits, toFloat16 } from './dtypes.ts';
import { GraphBuilder } from './graph-builder.ts';
import { EXTERNAL_DATA_ALIGNMENT, WeightWriter } from './weight-writer.ts';

const dir = mkdtempSync(join(tmpdir(), 'pickban-onnx-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function session(g: GraphBuilder, file: string) {
  const path = join(dir, file);
  writeFileSync(path, g.toModelBytes());
  return ort.InferenceSession.create(path);
}

describe('GraphBuilder + WeightWriter on a real ORT session', () => {
  it('runs MatMul + Add with an external weight and an If branch reading outer values', async () => {
    const w = new WeightWriter(join(dir, 'tiny.onnx.data'));
    const pad = w.append('float32', [3], Float32Array.of(9, 9, 9)); // forces the next offset to be aligned
    const weight = Float32Array.from({ length: 8 }, (_, i) => i - 3); // [4, 2]
    const ext = w.append('float32', [4, 2], [weight.subarray(0, 4), weight.subarray(4)]); // two chunks
    w.close();
    expect(pad.offset).toBe(0);
    expect(ext.offset % EXTERNAL_DATA_ALIGNMENT).toBe(0);
    expect(ext.offset).toBeGreaterThan(0);
    expect(statSync(w.path).size).toBe(ext.offset + ext.length);

    const g = new GraphBuilder('tiny');
    const x = g.input('x', 'float32', ['N', 4]);
    const mlp = g.withPrefix('/model/mlp');
    const wName = mlp.initializer('model.mlp.weight', ext);
    const bias = mlp.initializer('model.mlp.bias', { dtype: 'float32', dims: [2], data: Float32Array.of(0.5, -0.5) });
    const y = mlp.node('Add', [mlp.node('MatMul', [x, wName]), bias]);
    expect(y).toBe('/model/mlp/Add/output_0');

    // If sum(y) > 0 then y * 2 else y (a pass-through of an outer value).
    const cond = mlp.node('Greater', [mlp.node('ReduceSum', [y], { keepdims: 0 }), g.constF32(0)]);
    const thenG = mlp.subgraph('then', (s) => s.node('Mul', [y, s.constF32(2)]));
    const elseG = mlp.subgraph('else', () => y);
    const z = mlp.node('If', [cond], { then_branch: thenG, else_branch: elseG });
    g.output('z', 'float32', ['N', 2], z);
    expect(g.constF32(2)).toBe(g.withPrefix('/other').constF32(2)); // deduplicated across scopes

    const s = await session(g, 'tiny.onnx');
    const run = async (xs: number[]) => {
      const out = await s.run({ x: new ort.Tensor('float32', Float32Array.from(xs), [xs.length / 4, 4]) });
      return Array.from(out.z.data as Float32Array);
    };
    const expected = (xs: number[]) => {
      const rows = xs.length / 4;
      const yv = Array.from({ length: rows * 2 }, (_, k) => {
        const [r, c] = [Math.floor(k / 2), k % 2];
        return [0, 1, 2, 3].reduce((a, i) => a + xs[r * 4 + i] * weight[i * 2 + c], 0) + (c === 0 ? 0.5 : -0.5);
      });
      const scale = yv.reduce((a, v) => a + v, 0) > 0 ? 2 : 1;
      return yv.map((v) => v * scale);
    };
    for (const xs of [[1, 2, 3, 4, 0, 1, 0, 1], [-1, -2, -3, -4]]) {
      const got = await run(xs);
      expected(xs).forEach((v, i) => expect(got[i]).toBeCloseTo(v, 5));
    }
    // The two inputs take different branches (sum > 0 and sum <= 0), so both branches ran.
    expect(expected([1, 2, 3, 4, 0, 1, 0, 1]).reduce((a, v) => a + v)).toBeGreaterThan(0);
    expect(expected([-1, -2, -3, -4]).reduce((a, v) => a + v)).toBeLessThanOrEqual(0);
  });

  it('names multi-output nodes uniquely and rejects clashes and unknown inputs', async () => {
    const g = new GraphBuilder();
    const x = g.input('x', 'float32', [2, 4]);
    const a = g.withPrefix('/model/layers.0');
    const [lo, hi] = a.node('Split', [x, g.constI64([2, 2])], { axis: 1 }, { outputs: 2 });
    const [lo2] = a.node('Split', [x, g.constI64([2, 2])], { axis: 1 }, { outputs: 2 });
    expect(lo).toBe('/model/layers.0/Split/output_0');
    expect(lo2).toBe('/model/layers.0/Split_1/output_0');
    g.output('hi', 'float32', [2, 2], hi);
    expect(() => g.input('x', 'float32', [1])).toThrow(/already defined/);
    expect(() => a.node('Relu', ['nope'])).toThrow(/unknown input 'nope'/);
    expect(() => g.initializer('bad', { dtype: 'float32', dims: [3], data: new Float32Array(2) })).toThrow(/3 expected/);
    expect(a.countNodes()).toBe(2);
    const s = await session(g, 'split.onnx');
    const out = await s.run({ x: new ort.Tensor('float32', Float32Array.from([0, 1, 2, 3, 4, 5, 6, 7]), [2, 4]) });
    expect(Array.from(out.hi.data as Float32Array)).toEqual([2, 3, 6, 7]);
  });

  it('converts fp32 -> fp16 exactly as ORT Cast does (round to nearest even, subnormals, overflow)', async () => {
    const g = new GraphBuilder();
    const x = g.input('x', 'float32', ['N']);
    g.output('h', 'float16', ['N'], g.node('Cast', [x], { to: 10 }));
    const s = await session(g, 'cast.onnx');
    let seed = 7;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
    const special = [0, -0, 1, -1, 65504, 65519, 65520, 1e6, -1e6, 2 ** -24, 2 ** -25, 3 * 2 ** -26, 2 ** -14, 1 + 2 ** -11, 1 + 3 * 2 ** -11];
    const values = [...special, ...Array.from({ length: 4000 }, () => (rnd() - 0.5) * 2 ** Math.floor(rnd() * 40 - 28))];
    const out = await s.run({ x: new ort.Tensor('float32', Float32Array.from(values), [values.length]) });
    const ortBits = out.h.data as Uint16Array;
    expect(Array.from(toFloat16(values))).toEqual(Array.from(ortBits));
    expect(fp32ToFp16Bits(1)).toBe(0x3c00);
    expect(fp16BitsToFp32(fp32ToFp16Bits(65504))).toBe(65504);
    expect(fp16BitsToFp32(fp32ToFp16Bits(2 ** -24))).toBe(2 ** -24);
    expect(fp32ToFp16Bits(NaN) & 0x7c00).toBe(0x7c00);
  });

  it('adds the com.microsoft opset only when a contrib op is used', () => {
    const g = new GraphBuilder();
    const x = g.input('x', 'float32', [1]);
    g.output('y', 'float32', [1], g.node('Relu', [x]));
    const plain = g.toModelProto({ opsetVersion: 17 });
    expect(plain.opsetImport.map((o) => o.domain)).toEqual(['']);
    g.node('FastGelu', [x], undefined, { domain: 'com.microsoft' });
    const ms = g.toModelProto({ opsetVersion: 21 });
    expect(ms.opsetImport.map((o) => o.domain)).toEqual(['', 'com.microsoft']);
    expect(Number(ms.irVersion)).toBe(10);
  });
});
