import * as ort from 'onnxruntime-node';
import { GraphBuilder } from '../../model/onnx/index.ts';
import { GRAPH_INPUTS } from '../../model/contract.ts';
import type { ResidentPast } from './batch-tensors.ts';
import { SequenceKv, type KvShape } from './kv-cache.ts';

/**
 * KV caches that never leave the device (WebGPU): each step's present_* outputs stay GPU buffers
 * (`preferredOutputLocation: 'gpu-buffer'`) and are only ever fed back as inputs, never read by
 * the host (onnxruntime-node 1.30 aborts the process on getData() of a GPU output).
 *
 * A sequence's cache is a reference into the output of the last step it ran in: that step's
 * present tensors (a Source), its row, and which of the row's positions are its tokens. While a
 * batch decodes the same rows in the same order, the present tensors are fed back as they are.
 * When the composition changes (a sequence joins or ends), a small compose graph on the same
 * device gathers each row's positions from its source into a fresh right-padded past: one copy
 * per composition change, not per step. The sources nobody references are disposed.
 */

interface Source {
  keys: ort.Tensor[];
  values: ort.Tensor[];
  /** Padded key positions per row. */
  T: number;
  refs: number;
}

interface Ref {
  source: Source;
  row: number;
  /** Tokens of this sequence in its row. */
  length: number;
  /**
   * Their key positions, in token order, when the bias layout left padding holes; null when they
   * are positions [0, length) (GroupQueryAttention, and every composed past), which needs no array.
   */
  positions: number[] | null;
}

/** Where a run left its rows' tokens: a mask per row of the bias layout, or a prefix per row. */
export type RowPlacement = { valid: Uint8Array } | { lengths: readonly number[] };

const positionAt = (r: Ref, i: number) => (r.positions ? r.positions[i] : i);

/**
 * The sizes a GroupQueryAttention run's tensors take: rows, tokens per row and KV capacity are each
 * rounded up to 1, 2, 3, 4, 6, 8, 12, 16, 24, ... (powers of two and 1.5 times them: at most a third
 * of padding). On WebGPU the sessions keep released buffers for reuse by exact size
 * (storageBufferCacheMode 'simple', session.ts) and never free them, so the sizes a serving life
 * meets must be few: with this series the cached sizes of any one tensor add up to at most ~3 times
 * its largest.
 */
export function shapeBucket(n: number): number {
  if (n <= 2) return Math.max(1, Math.ceil(n));
  const p = 2 ** Math.floor(Math.log2(n));
  if (n === p) return n;
  return n <= 1.5 * p ? 1.5 * p : 2 * p;
}

/** The smallest KV capacity a composed past gets. */
export const KV_CAPACITY_MIN = 64;

/**
 * Positions a composed GroupQueryAttention past holds for `tokens`: room to spare, from the shape
 * series. ORT sizes present_* as max(past, total_sequence_length), so while the tokens fit, every
 * step's present has the past's size and its buffers are reused; growing by one position per step
 * made WebGPU allocate (and the host wait on) two new buffers per layer per step.
 */
export const kvCapacity = (tokens: number): number => Math.max(KV_CAPACITY_MIN, shapeBucket(tokens));

export class DeviceKv {
  private readonly refs = new Map<SequenceKv, Ref>();
  private readonly composers = new Map<number, ort.InferenceSession>();
  /**
   * The cache of a padding row (one that rounds a run's rows up to shapeBucket): it never holds
   * tokens, its past is whatever its row of the tensors holds, and its outputs are never read.
   */
  readonly padding: SequenceKv;

  constructor(
    private readonly shape: KvShape,
    private readonly sessionOptions: ort.InferenceSession.SessionOptions,
  ) {
    this.padding = new SequenceKv(shape, 0);
  }

  /**
   * The past for these rows (in order): the last step's present tensors when they are exactly
   * these rows in this order and every row computes the same number of tokens (so padding holes
   * cannot pile up), else a freshly composed one. `capacityFor` (GroupQueryAttention: the tokens
   * each row adds this step) also requires the past to hold them, and composes with spare room.
   * Padding rows (kv === this.padding) fit any past.
   */
  async pastFor(kvs: readonly SequenceKv[], uniformChunks: boolean, minPast = 0, capacityFor?: number): Promise<ResidentPast & { composed: boolean }> {
    const refs = kvs.map((kv) => (kv === this.padding ? undefined : this.refs.get(kv)));
    const first = refs.find((r) => r !== undefined)?.source;
    const needed = capacityFor === undefined ? 0 : Math.max(0, ...refs.map((r) => r?.length ?? 0)) + capacityFor;
    const reusable = uniformChunks && first !== undefined && first.keys[0].dims[0] === kvs.length && refs.every((r, b) => kvs[b] === this.padding || (r?.source === first && r.row === b)) && first.T >= needed;
    if (reusable) {
      const valid = new Uint8Array(kvs.length * first.T);
      refs.forEach((r, b) => {
        if (!r) return;
        if (!r.positions) valid.fill(1, b * first.T, b * first.T + r.length);
        else for (const p of r.positions) valid[b * first.T + p] = 1;
      });
      return { keys: first.keys, values: first.values, P: first.T, valid, composed: false };
    }
    return { ...(await this.compose(refs, minPast, capacityFor)), composed: true };
  }

  /** After a run: every row's cache is now in that run's present_*, row b, where `placed` says. */
  update(kvs: readonly SequenceKv[], keys: ort.Tensor[], values: ort.Tensor[], placed: RowPlacement): void {
    const T = keys[0].dims[2];
    const source: Source = { keys, values, T, refs: 0 };
    kvs.forEach((kv, b) => {
      if (kv === this.padding) return;
      let positions: number[] | null = null;
      let length: number;
      if ('valid' in placed) {
        positions = [];
        for (let j = 0; j < T; j++) if (placed.valid[b * T + j]) positions.push(j);
        length = positions.length;
      } else length = placed.lengths[b];
      this.drop(kv);
      this.refs.set(kv, { source, row: b, length, positions });
      source.refs++;
      kv.pending = length;
    });
    if (source.refs === 0) dispose(source);
  }

  /** Forgets a sequence's cache; its source is freed once no sequence uses it. */
  drop(kv: SequenceKv): void {
    const ref = this.refs.get(kv);
    if (!ref) return;
    this.refs.delete(kv);
    if (--ref.source.refs === 0) dispose(ref.source);
  }

  async release(): Promise<void> {
    for (const kv of [...this.refs.keys()]) this.drop(kv);
    for (const s of this.composers.values()) await s.release();
    this.composers.clear();
  }

  /**
   * `minPast`: GroupQueryAttention graphs get a past of at least one (unused) position, never an
   * empty tensor. An empty past stays that small (its zeros are uploaded from the host): the first
   * step's present has exactly its tokens, and the next step composes with capacity.
   */
  private async compose(refs: (Ref | undefined)[], minPast: number, capacityFor?: number): Promise<ResidentPast> {
    const { numLayers: L, numKvHeads: kvH, headDim: D } = this.shape;
    const B = refs.length;
    const longest = Math.max(0, ...refs.map((r) => r?.length ?? 0));
    const roomy = longest > 0 && capacityFor !== undefined;
    const P = roomy ? kvCapacity(longest + capacityFor) : Math.max(minPast, longest);
    const valid = new Uint8Array(B * P);
    refs.forEach((r, b) => valid.fill(1, b * P, b * P + (r?.length ?? 0)));
    if (longest === 0) {
      const size = B * kvH * P * D;
      const zeros = () => new ort.Tensor(this.shape.dtype, this.shape.dtype === 'float16' ? new Uint16Array(size) : new Float32Array(size), [B, kvH, P, D]);
      return { keys: Array.from({ length: L }, zeros), values: Array.from({ length: L }, zeros), P, valid };
    }
    // Each source flattened to [Bs*Ts, kvH*D]; row b's position p reads row index_i[b*P+p] of the
    // source i its sequence lives in (where[b*P+p] = i). Padding rows read row 0 of source 0: masked
    // by attention (the bias layout) or outside the row's length (GroupQueryAttention).
    const sources = [...new Set(refs.filter((r) => r !== undefined).map((r) => r.source))];
    const indices = sources.map(() => new BigInt64Array(B * P));
    const where = new Int32Array(B * P);
    refs.forEach((r, b) => {
      if (!r) return;
      const i = sources.indexOf(r.source);
      const at = r.row * r.source.T;
      for (let p = 0; p < r.length; p++) {
        indices[i][b * P + p] = BigInt(at + positionAt(r, p));
        where[b * P + p] = i;
      }
    });
    const feeds: Record<string, ort.Tensor> = {
      shape: new ort.Tensor('int64', BigInt64Array.from([B, P, kvH, D].map(BigInt)), [4]),
      ...(sources.length > 1 ? { where: new ort.Tensor('int32', where, [B * P, 1]) } : {}),
    };
    sources.forEach((s, i) => {
      feeds[`index.${i}`] = new ort.Tensor('int64', indices[i], [B * P]);
      for (let l = 0; l < L; l++) {
        feeds[`key.${i}.${l}`] = s.keys[l];
        feeds[`value.${i}.${l}`] = s.values[l];
      }
    });
    const out = await (await this.composer(sources.length)).run(feeds);
    return {
      keys: Array.from({ length: L }, (_, l) => out[GRAPH_INPUTS.pastKey(l)]),
      values: Array.from({ length: L }, (_, l) => out[GRAPH_INPUTS.pastValue(l)]),
      P,
      valid,
    };
  }

  /**
   * The compose graph for n sources (cached): per layer, Gather rows from each flattened source and
   * keep each position's own. Not one Gather over the sources concatenated: that Concat's size is a
   * sum of the sources' and would be new nearly every time, and WebGPU's buffer cache keeps every
   * size it has seen (session.ts); for GroupQueryAttention pasts every tensor here has a size of the
   * shape series.
   */
  private async composer(n: number): Promise<ort.InferenceSession> {
    let session = this.composers.get(n);
    if (session) return session;
    const { numLayers: L, numKvHeads: kvH, headDim: D, dtype } = this.shape;
    const g = new GraphBuilder('kv_compose');
    g.input('shape', 'int64', [4]);
    if (n > 1) g.input('where', 'int32', ['rows', 1]);
    for (let i = 0; i < n; i++) g.input(`index.${i}`, 'int64', ['rows']);
    for (let l = 0; l < L; l++) {
      for (const which of ['key', 'value'] as const) {
        let rows = '';
        for (let i = 0; i < n; i++) {
          const name = g.input(`${which}.${i}.${l}`, dtype, [`b${i}`, kvH, `t${i}`, D]);
          const flat = g.node('Reshape', [g.node('Transpose', [name], { perm: [0, 2, 1, 3] }), g.constI64([-1, kvH * D])]);
          const picked = g.node('Gather', [flat, `index.${i}`], { axis: 0 });
          rows = i === 0 ? picked : g.node('Where', [g.node('Equal', ['where', g.constI32(i)]), picked, rows]);
        }
        const out = which === 'key' ? GRAPH_INPUTS.pastKey(l) : GRAPH_INPUTS.pastValue(l);
        g.output(out, dtype, ['batch', kvH, 'past', D], g.node('Transpose', [g.node('Reshape', [rows, 'shape'])], { perm: [0, 2, 1, 3] }));
      }
    }
    session = await ort.InferenceSession.create(g.toModelBytes({ opsetVersion: 17 }), this.sessionOptions);
    this.composers.set(n, session);
    return session;
  }
}

function dispose(s: Source): void {
  for (const t of [...s.keys, ...s.values]) t.dispose();
}
