import { closeSync, openSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { SAFETENSORS_DTYPES, type SafetensorsDtype } from './dtypes.ts';
import { INDEX_FILE, SINGLE_FILE } from './safetensors-reader.ts';

/**
 * Streaming safetensors writing: the header is computed from the tensor specs first, so every
 * tensor's file position is known before any data exists. Then either each tensor's bytes are
 * produced and written one at a time (memory holds one tensor at most), or a writer fills the
 * positions itself, e.g. from worker threads writing chunks in parallel.
 */

export interface TensorSpec {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
}

export type ProduceTensor = (spec: TensorSpec) => Uint8Array;

export const specBytes = (s: TensorSpec): number => s.shape.reduce((a, b) => a * b, 1) * SAFETENSORS_DTYPES[s.dtype];

function buildHeader(specs: TensorSpec[], metadata: Record<string, string>): Buffer {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  for (const s of specs) {
    const n = specBytes(s);
    header[s.name] = { dtype: s.dtype, shape: s.shape, data_offsets: [offset, offset + n] };
    offset += n;
  }
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  // Pad with spaces so the data starts 8-byte aligned, as the reference implementation does.
  const padded = Buffer.alloc(Math.ceil(json.length / 8) * 8, 0x20);
  json.copy(padded);
  return padded;
}

/** A tensor and the absolute file position its bytes go to. */
export interface PlacedTensor {
  spec: TensorSpec;
  position: number;
}
/** Writes all of one file's tensor bytes at their positions (in any order, from any thread). */
export type WriteTensorData = (fd: number, tensors: PlacedTensor[]) => void;

function writeFully(fd: number, bytes: Uint8Array, position: number): void {
  for (let done = 0; done < bytes.byteLength; ) done += writeSync(fd, bytes, done, bytes.byteLength - done, position + done);
}

/** Writes the header, then lets `writeData` fill in the tensors at their offsets. */
export function writeSafetensorsWith(file: string, specs: TensorSpec[], writeData: WriteTensorData, metadata: Record<string, string> = { format: 'pt' }): void {
  const header = buildHeader(specs, metadata);
  const fd = openSync(file, 'w');
  try {
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(header.length));
    writeFully(fd, len, 0);
    writeFully(fd, header, 8);
    const placed: PlacedTensor[] = [];
    let position = 8 + header.length;
    for (const spec of specs) {
      placed.push({ spec, position });
      position += specBytes(spec);
    }
    writeData(fd, placed);
  } finally {
    closeSync(fd);
  }
}

/** Produces each tensor's bytes in turn and writes them (memory holds one tensor at most). */
const producing = (produce: ProduceTensor): WriteTensorData => (fd, placed) => {
  for (const { spec, position } of placed) {
    const bytes = produce(spec);
    if (bytes.byteLength !== specBytes(spec)) throw new Error(`tensor ${spec.name}: produced ${bytes.byteLength} bytes, expected ${specBytes(spec)}`);
    writeFully(fd, bytes, position);
  }
};

export function writeSafetensors(file: string, specs: TensorSpec[], produce: ProduceTensor, metadata: Record<string, string> = { format: 'pt' }): void {
  writeSafetensorsWith(file, specs, producing(produce), metadata);
}

/**
 * Writes model.safetensors, or, when the tensors exceed `maxShardBytes`, HF-style shards
 * `model-0000i-of-0000n.safetensors` plus model.safetensors.index.json.
 */
export function writeCheckpointTensors(dir: string, specs: TensorSpec[], produce: ProduceTensor | { writeData: WriteTensorData }, maxShardBytes = Infinity): string[] {
  const writeData = typeof produce === 'function' ? producing(produce) : produce.writeData;
  const shards: TensorSpec[][] = [[]];
  let size = 0;
  for (const s of specs) {
    const n = specBytes(s);
    if (size > 0 && size + n > maxShardBytes) {
      shards.push([]);
      size = 0;
    }
    shards[shards.length - 1].push(s);
    size += n;
  }
  if (shards.length === 1) {
    writeSafetensorsWith(join(dir, SINGLE_FILE), specs, writeData);
    return [SINGLE_FILE];
  }
  const pad = (i: number) => String(i).padStart(5, '0');
  const names = shards.map((_, i) => `model-${pad(i + 1)}-of-${pad(shards.length)}.safetensors`);
  const weightMap: Record<string, string> = {};
  shards.forEach((shard, i) => {
    writeSafetensorsWith(join(dir, names[i]), shard, writeData);
    for (const s of shard) weightMap[s.name] = names[i];
  });
  const totalSize = specs.reduce((a, s) => a + specBytes(s), 0);
  writeFileSync(join(dir, INDEX_FILE), JSON.stringify({ metadata: { total_size: totalSize }, weight_map: weightMap }, null, 2) + '\n');
  return [...names, INDEX_FILE];
}
