import { closeSync, existsSync, openSync, readFileSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { CHUNK_ELEMENTS, DECODE_HELPERS, decodeChunk, TRUNCATED, type DecodeTask } from './chunk-kernels.ts';
import { isFloatDtype, SAFETENSORS_DTYPES, type SafetensorsDtype } from './dtypes.ts';
import { runKernel, sharedBuffer, threadCount } from './worker-pool.ts';

/**
 * Lazy safetensors reading: only the JSON header is parsed up front, and each tensor is read from
 * its byte range on demand, so a 28 GB checkpoint never sits in memory.
 * Format: u64 LE header length, JSON header {name: {dtype, shape, data_offsets: [begin, end]}}, data.
 */

export interface TensorInfo {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  /** The file holding it, and its absolute byte range there. */
  file: string;
  offset: number;
  byteLength: number;
}

export class CheckpointFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CheckpointFormatError';
  }
}

const MAX_HEADER_BYTES = 100 * 1024 * 1024;

export function readSafetensorsHeader(file: string): TensorInfo[] {
  const fd = openSync(file, 'r');
  try {
    const lenBuf = Buffer.alloc(8);
    if (readSync(fd, lenBuf, 0, 8, 0) !== 8) throw new CheckpointFormatError(`${file}: too short for a safetensors header`);
    const headerLen = Number(lenBuf.readBigUInt64LE(0));
    if (headerLen <= 0 || headerLen > MAX_HEADER_BYTES) throw new CheckpointFormatError(`${file}: implausible safetensors header length ${headerLen}`);
    const headerBuf = Buffer.alloc(headerLen);
    if (readSync(fd, headerBuf, 0, headerLen, 8) !== headerLen) throw new CheckpointFormatError(`${file}: truncated safetensors header`);
    let header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
    try {
      header = JSON.parse(headerBuf.toString('utf8'));
    } catch {
      throw new CheckpointFormatError(`${file}: safetensors header is not valid JSON`);
    }
    const dataStart = 8 + headerLen;
    const infos: TensorInfo[] = [];
    for (const [name, entry] of Object.entries(header)) {
      if (name === '__metadata__') continue;
      if (!isFloatDtype(entry.dtype)) throw new CheckpointFormatError(`${file}: tensor ${name} has unsupported dtype ${entry.dtype} (expected F32, F16 or BF16)`);
      const [begin, end] = entry.data_offsets;
      const expected = entry.shape.reduce((a, b) => a * b, 1) * SAFETENSORS_DTYPES[entry.dtype];
      if (end - begin !== expected) throw new CheckpointFormatError(`${file}: tensor ${name} holds ${end - begin} bytes, but ${entry.dtype}${JSON.stringify(entry.shape)} needs ${expected}`);
      infos.push({ name, dtype: entry.dtype, shape: entry.shape, file, offset: dataStart + begin, byteLength: end - begin });
    }
    return infos;
  } finally {
    closeSync(fd);
  }
}

/** Reads one tensor's raw bytes in chunks (a single readSync is capped near 2 GB). */
export function readTensorBytes(info: TensorInfo): Uint8Array {
  const out = new Uint8Array(info.byteLength);
  const fd = openSync(info.file, 'r');
  try {
    let done = 0;
    while (done < info.byteLength) {
      const n = readSync(fd, out, done, Math.min(1 << 30, info.byteLength - done), info.offset + done);
      if (n <= 0) throw new CheckpointFormatError(`${info.file}: tensor ${info.name} is truncated`);
      done += n;
    }
  } finally {
    closeSync(fd);
  }
  return out;
}

export const SINGLE_FILE = 'model.safetensors';
export const INDEX_FILE = 'model.safetensors.index.json';

/** A checkpoint directory: one model.safetensors, or shards listed by model.safetensors.index.json. */
export class Checkpoint {
  readonly tensors: Map<string, TensorInfo>;

  private constructor(readonly dir: string, infos: TensorInfo[]) {
    this.tensors = new Map(infos.map((t) => [t.name, t]));
  }

  static open(dir: string): Checkpoint {
    const index = join(dir, INDEX_FILE);
    if (existsSync(index)) {
      let weightMap: Record<string, string>;
      try {
        weightMap = JSON.parse(readFileSync(index, 'utf8')).weight_map;
      } catch {
        throw new CheckpointFormatError(`${index}: not valid JSON`);
      }
      if (!weightMap || typeof weightMap !== 'object') throw new CheckpointFormatError(`${index}: missing weight_map`);
      const infos: TensorInfo[] = [];
      for (const shard of new Set(Object.values(weightMap))) {
        const path = join(dir, shard);
        if (!existsSync(path)) throw new CheckpointFormatError(`${path}: shard listed in ${INDEX_FILE} is missing`);
        infos.push(...readSafetensorsHeader(path));
      }
      const byName = new Map(infos.map((t) => [t.name, t]));
      for (const [name, shard] of Object.entries(weightMap)) {
        if (byName.get(name)?.file !== join(dir, shard)) throw new CheckpointFormatError(`${join(dir, shard)}: tensor ${name} listed in ${INDEX_FILE} is not in that shard`);
      }
      return new Checkpoint(dir, infos);
    }
    const single = join(dir, SINGLE_FILE);
    if (!existsSync(single)) throw new CheckpointFormatError(`${single}: missing (and no ${INDEX_FILE})`);
    return new Checkpoint(dir, readSafetensorsHeader(single));
  }

  info(name: string): TensorInfo {
    const t = this.tensors.get(name);
    if (!t) throw new CheckpointFormatError(`tensor ${name}: missing from the checkpoint in ${this.dir}`);
    return t;
  }

  readFloat32(name: string): Float32Array {
    return new Float32Array(this.decode(name, 'f32'));
  }

  /** The tensor as IEEE half bits (bf16 rounds to nearest even, as a cast to fp16 does). */
  readFloat16(name: string): Uint16Array {
    return new Uint16Array(this.decode(name, 'f16'));
  }

  /**
   * Reads and converts in chunks through a reused scratch buffer; large tensors are spread over
   * the worker pool and land in a SharedArrayBuffer (a plain ArrayBuffer otherwise).
   */
  private decode(name: string, to: 'f32' | 'f16'): ArrayBuffer | SharedArrayBuffer {
    const info = this.info(name);
    const srcBytes = SAFETENSORS_DTYPES[info.dtype];
    const count = info.byteLength / srcBytes;
    const parallel = threadCount() > 1 && count >= PARALLEL_MIN_ELEMENTS;
    const outBytes = count * (to === 'f32' ? 4 : 2);
    const out = parallel ? sharedBuffer(outBytes) : new ArrayBuffer(outBytes);
    const fd = openSync(info.file, 'r');
    try {
      const tasks: DecodeTask[] = [];
      for (let at = 0; at < count; at += CHUNK_ELEMENTS) {
        tasks.push({ fd, position: info.offset + at * srcBytes, count: Math.min(CHUNK_ELEMENTS, count - at), src: info.dtype, to, out, at });
      }
      runKernel('decodeChunk', decodeChunk, DECODE_HELPERS, tasks, parallel);
    } catch (err) {
      const message = (err as Error).message;
      if (message.startsWith(TRUNCATED)) throw new CheckpointFormatError(`${info.file}: tensor ${info.name} is truncated`);
      throw new CheckpointFormatError(`${info.file}: tensor ${info.name}: ${message}`);
    } finally {
      closeSync(fd);
    }
    return out;
  }
}

/** Below this, a tensor is read on the calling thread (worker hand-off costs more than it saves). */
const PARALLEL_MIN_ELEMENTS = 1 << 20;
