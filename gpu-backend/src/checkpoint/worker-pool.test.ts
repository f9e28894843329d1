import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { toFloat16 } from '../model/onnx/dtypes.ts';
import { quantizeBlockwise } from '../convert/quantize.ts';
import { float32ToBf16, fromFloat32 } from './dtypes.ts';
import { generateCheckpoint } from './generator.ts';
import { PRESETS } from './presets.ts';
import { xorshiftJump } from './prng.ts';
import { Checkpoint } from './safetensors-reader.ts';
import { writeCheckpointTensors } from './safetensors-writer.ts';
import { toFloat16 as toFloat16Pooled } from './to-float16.ts';
import { runKernel, setThreads, threadCount } from './worker-pool.ts';

const dir = mkdtempSync(join(tmpdir(), 'pickban-pool-'));
const initialThreads = threadCount();
afterEach(() => setThreads(initialThreads));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs `fn` once on the calling thread alone and once spread over 3 threads. */
function serialAndParallel<T>(fn: () => T): [T, T] {
  setThreads(1);
  const serial = fn();
  setThreads(3);
  return [serial, fn()];
}

describe('worker pool and the chunked kernels on it', () => {
  it('jumps an xorshift32 state ahead exactly as stepping it does', () => {
    let x = 0x9e3779b9;
    const states = [x];
    for (let i = 0; i < 3000; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      states.push((x >>>= 0));
    }
    for (const n of [0, 1, 2, 31, 32, 1000, 2047, 3000]) expect(xorshiftJump(states[0], n)).toBe(states[n]);
  });

  it('writes byte-identical checkpoints on one thread and on several (streams cut into chunks)', () => {
    // The embedding table (vocab x 64) spans several chunks, so chunk start states are jumped to.
    const shape = { ...PRESETS.tiny, layers: 1, experts: 4, topK: 2, dtype: 'bf16' as const };
    const [a, b] = serialAndParallel(() => {
      const out = join(dir, `gen-${threadCount()}`);
      generateCheckpoint({ outDir: out, shape, seed: 3 });
      return readFileSync(join(out, 'model.safetensors'));
    });
    expect(a.length).toBeGreaterThan(2 * (1 << 20) * 2);
    expect(b.equals(a)).toBe(true);
  });

  it('reads a large tensor to fp32 and fp16 alike on one and several threads, matching the plain conversions', () => {
    // Every finite bf16 bit pattern, repeated past the parallel threshold.
    const patterns = Uint16Array.from({ length: 65536 }, (_, i) => i).filter((b) => (b & 0x7f80) !== 0x7f80);
    const bits = new Uint16Array(patterns.length * 20).map((_, i) => patterns[i % patterns.length]);
    const values = new Float32Array(new Int32Array(Array.from(bits, (b) => b << 16)).buffer);
    expect(Array.from(float32ToBf16(values.subarray(0, 1000)))).toEqual(Array.from(bits.subarray(0, 1000)));
    const ckDir = join(dir, 'read');
    mkdirSync(ckDir);
    writeCheckpointTensors(ckDir, [{ name: 'w', dtype: 'BF16', shape: [bits.length] }, { name: 'f', dtype: 'F32', shape: [values.length] }], (s) =>
      s.dtype === 'BF16' ? new Uint8Array(bits.buffer) : fromFloat32('F32', values),
    );
    const [f32a, f32b] = serialAndParallel(() => Checkpoint.open(ckDir).readFloat32('w'));
    expect(Buffer.from(f32b.buffer, f32b.byteOffset, f32b.byteLength).equals(Buffer.from(values.buffer))).toBe(true);
    expect(Buffer.from(f32a.buffer, f32a.byteOffset, f32a.byteLength).equals(Buffer.from(values.buffer))).toBe(true);
    const expected16 = Buffer.from(toFloat16(values).buffer);
    for (const half of serialAndParallel(() => toFloat16Pooled(values))) expect(Buffer.from(half.buffer, half.byteOffset, half.byteLength).equals(expected16)).toBe(true);
    for (const name of ['w', 'f']) {
      const [h1, h3] = serialAndParallel(() => Checkpoint.open(ckDir).readFloat16(name));
      expect(Buffer.from(h1.buffer, h1.byteOffset, h1.byteLength).equals(expected16)).toBe(true);
      expect(Buffer.from(h3.buffer, h3.byteOffset, h3.byteLength).equals(expected16)).toBe(true);
    }
  });

  it('narrows arbitrary fp32 bit patterns to fp16 exactly as model/onnx toFloat16 does', () => {
    // Random signs, exponents (subnormal halves to overflow) and mantissas; every 8th value sits
    // exactly halfway between two halves, where round-to-nearest-even decides.
    let x = 0x2545f491;
    const bits = Int32Array.from({ length: 1 << 20 }, (_, i) => {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      const mantissa = i % 8 === 0 ? (x & 0x7fe000) | 0x1000 : x & 0x7fffff;
      return (x & 0x80000000) | ((96 + ((x >>> 23) & 63)) << 23) | mantissa;
    });
    const values = new Float32Array(bits.buffer);
    const expected = Buffer.from(toFloat16(values).buffer);
    for (const half of serialAndParallel(() => toFloat16Pooled(values))) expect(Buffer.from(half.buffer, half.byteOffset, half.byteLength).equals(expected)).toBe(true);
  });

  it('quantizes a large weight byte-identically on one and several threads', () => {
    const n = 600;
    const k = 2048;
    const w = Float32Array.from({ length: n * k }, (_, i) => Math.sin(i * 0.37) * (1 + (i % 5)));
    for (const bits of [4, 8] as const) {
      const [a, b] = serialAndParallel(() => quantizeBlockwise(w, n, k, bits, 32));
      expect(b.packed.buffer).toBeInstanceOf(SharedArrayBuffer);
      expect(Buffer.from(b.packed).equals(Buffer.from(a.packed))).toBe(true);
      expect(Buffer.from(b.scales.buffer, b.scales.byteOffset, b.scales.byteLength).equals(Buffer.from(a.scales.buffer))).toBe(true);
    }
  });

  it('rethrows an error raised in a worker thread, with its message', () => {
    setThreads(3);
    const tasks = Array.from({ length: 64 }, (_, i) => ({ i, out: new SharedArrayBuffer(4) }));
    const failing = (t: { i: number }) => {
      if (t.i === 40) throw new Error(`bad task ${t.i}`);
    };
    expect(() => runKernel('failingTest', failing, {}, tasks)).toThrow(/bad task 40/);
  });
});
