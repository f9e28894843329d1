import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import onnxProto from 'onnx-proto';
import { afterAll, expect, it } from 'vitest';
import { GraphBuilder } from '../onnx/index.ts';
import { makeGreedyIds } from './model.ts';

const { onnx } = onnxProto;
const dir = mkdtempSync(join(tmpdir(), 'pickban-greedy-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const argmax = (row: Float32Array) => row.reduce((best, v, i) => (v > row[best] ? i : best), 0);

it('the chunked greedy id is the lowest id of the row maximum, across and within chunks', async () => {
  const V = 1024; // chunks of 32
  const g = new GraphBuilder('greedy');
  const logits = g.input('logits', 'float32', ['B', V]);
  g.output('ids', 'float32', ['B'], makeGreedyIds(g.withPrefix('/greedy'), logits, V));
  expect(g.countNodes('/greedy')).toBeGreaterThan(1); // chunked, not one ArgMax
  const bytes = g.toModelBytes();
  // Float ops only: WebGPU runs no int64 op (ArgMax's results fed ops it lacks), and each such op
  // would copy its input to the host mid-step.
  const nodes = onnx.ModelProto.decode(bytes).graph!.node!.filter((n) => n.name!.startsWith('/greedy/'));
  expect(nodes.map((n) => n.opType)).not.toContain('ArgMax');
  expect(nodes.map((n) => n.opType)).not.toContain('Cast');
  const path = join(dir, 'greedy.onnx');
  writeFileSync(path, bytes);
  const session = await ort.InferenceSession.create(path);

  let seed = 7;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 10 - 5;
  const rows = Array.from({ length: 6 }, () => Float32Array.from({ length: V }, rand));
  const tie = (row: Float32Array, ids: number[]) => ids.forEach((i) => (row[i] = 9));
  tie(rows[1], [700, 5]); // different chunks: the lower chunk wins
  tie(rows[2], [40, 33]); // one chunk: the lower offset wins
  tie(rows[3], [1023]); // the very last id
  tie(rows[4], [0, 1023]);
  rows[5].fill(-1); // all equal: id 0
  rows.push(new Float32Array(V).fill(NaN)); // no maximum: still an id in range, the last
  const data = new Float32Array(rows.length * V);
  rows.forEach((r, b) => data.set(r, b * V));
  const out = await session.run({ logits: new ort.Tensor('float32', data, [rows.length, V]) });
  await session.release();
  expect(Array.from(out.ids.data as Float32Array)).toEqual([...rows.slice(0, 6).map(argmax), V - 1]);
  expect(Array.from(out.ids.data as Float32Array).slice(1)).toEqual([5, 33, 1023, 0, 0, V - 1]);
});
