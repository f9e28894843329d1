import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { bf16ToFloat32, float32ToBf16, fromFloat32 } from './dtypes.ts';
import { Checkpoint, CheckpointFormatError, INDEX_FILE, readSafetensorsHeader } from './safetensors-reader.ts';
import { specBytes, writeCheckpointTensors, writeSafetensors, type TensorSpec } from './safetensors-writer.ts';

const dir = mkdtempSync(join(tmpdir(), 'pickban-st-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const values = (n: number, k: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.7 + k) * (i + 1));

describe('safetensors', () => {
  it('round-trips F32, F16 and BF16 tensors through the streaming writer and the lazy reader', () => {
    const specs: TensorSpec[] = [
      { name: 'a', dtype: 'F32', shape: [3, 5] },
      { name: 'b', dtype: 'BF16', shape: [7] },
      { name: 'c', dtype: 'F16', shape: [2, 2, 3] },
    ];
    const data = new Map(specs.map((s, k) => [s.name, values(specBytes(s) / (s.dtype === 'F32' ? 4 : 2), k)]));
    const produced: string[] = [];
    writeCheckpointTensors(dir, specs, (s) => {
      produced.push(s.name);
      return fromFloat32(s.dtype, data.get(s.name)!);
    });
    expect(produced).toEqual(['a', 'b', 'c']);
    const ck = Checkpoint.open(dir);
    expect([...ck.tensors.keys()]).toEqual(['a', 'b', 'c']);
    expect(ck.info('c').shape).toEqual([2, 2, 3]);
    expect(Array.from(ck.readFloat32('a'))).toEqual(Array.from(data.get('a')!));
    // bf16 keeps 8 significant bits, fp16 11: relative error bounds of 2^-9 and 2^-12.
    ck.readFloat32('b').forEach((v, i) => expect(Math.abs(v - data.get('b')![i])).toBeLessThanOrEqual(Math.abs(data.get('b')![i]) * 2 ** -8));
    ck.readFloat32('c').forEach((v, i) => expect(Math.abs(v - data.get('c')![i])).toBeLessThanOrEqual(Math.abs(data.get('c')![i]) * 2 ** -11));
    // The data section starts 8-byte aligned, as the reference implementation pads it.
    expect((ck.info('a').offset - 8) % 8).toBe(0);
  });

  it('rounds fp32 to bf16 to nearest even and widens back exactly', () => {
    const x = Float32Array.of(1, -2.5, 1 + 2 ** -8, 1 + 3 * 2 ** -8, 3.0e38, 0);
    const back = bf16ToFloat32(float32ToBf16(x));
    expect(Array.from(back)).toEqual([1, -2.5, 1, 1 + 2 ** -6, back[4], 0]);
    expect(bf16ToFloat32(float32ToBf16(Float32Array.of(3.4e38)))[0]).toBe(Infinity); // past bf16's max, as torch
    expect(Math.abs(back[4] - 3.0e38) / 3.0e38).toBeLessThan(2 ** -8);
  });

  it('shards past the size limit and reads the shards back through the index', () => {
    const shardDir = mkdtempSync(join(dir, 'sharded-'));
    const specs: TensorSpec[] = Array.from({ length: 5 }, (_, i) => ({ name: `t${i}`, dtype: 'F32', shape: [10] }));
    const files = writeCheckpointTensors(shardDir, specs, (s) => fromFloat32('F32', values(10, Number(s.name.slice(1)))), 100);
    expect(files).toEqual(['model-00001-of-00003.safetensors', 'model-00002-of-00003.safetensors', 'model-00003-of-00003.safetensors', INDEX_FILE]);
    const index = JSON.parse(readFileSync(join(shardDir, INDEX_FILE), 'utf8'));
    expect(index.metadata.total_size).toBe(200);
    expect(index.weight_map.t4).toBe('model-00003-of-00003.safetensors');
    const ck = Checkpoint.open(shardDir);
    for (let i = 0; i < 5; i++) expect(Array.from(ck.readFloat32(`t${i}`))).toEqual(Array.from(values(10, i)));
  });

  it('rejects truncated files, unsupported dtypes and missing shards with one line naming the file', () => {
    const bad = join(dir, 'bad.safetensors');
    writeSafetensors(bad, [{ name: 'x', dtype: 'F32', shape: [4] }], () => fromFloat32('F32', values(4, 0)));
    const bytes = readFileSync(bad);
    writeFileSync(bad, bytes.subarray(0, 6));
    expect(() => readSafetensorsHeader(bad)).toThrow(/bad\.safetensors: too short/);

    const header = Buffer.from(JSON.stringify({ x: { dtype: 'I64', shape: [1], data_offsets: [0, 8] } }));
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(header.length));
    writeFileSync(bad, Buffer.concat([len, header, Buffer.alloc(8)]));
    expect(() => readSafetensorsHeader(bad)).toThrow(CheckpointFormatError);
    expect(() => readSafetensorsHeader(bad)).toThrow(/tensor x has unsupported dtype I64/);

    const shardDir = mkdtempSync(join(dir, 'missing-'));
    writeFileSync(join(shardDir, INDEX_FILE), JSON.stringify({ weight_map: { x: 'model-00001-of-00002.safetensors' } }));
    expect(() => Checkpoint.open(shardDir)).toThrow(/model-00001-of-00002\.safetensors: shard listed in model\.safetensors\.index\.json is missing/);
    expect(() => Checkpoint.open(mkdtempSync(join(dir, 'empty-')))).toThrow(/model\.safetensors: missing/);
    expect(existsSync(join(shardDir, 'model.safetensors'))).toBe(false);
  });
});
