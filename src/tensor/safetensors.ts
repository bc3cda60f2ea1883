// safetensors checkpoints (huggingface/safetensors format): an 8-byte little-endian header
// length, a JSON header of dtype/shape/byte offsets, then raw little-endian data. Loading parses
// data only, never code, unlike pickle.
import { readFileSync } from 'node:fs';
import { writeFileAtomic } from '../util/atomic.js';
import { Tensor, type DType } from './tensor.js';
import { native } from './native.js';

const CODES: Record<DType, string> = {
  float32: 'F32',
  float64: 'F64',
  float16: 'F16',
  bfloat16: 'BF16',
  int64: 'I64',
  int32: 'I32',
  int16: 'I16',
  int8: 'I8',
  uint8: 'U8',
  bool: 'BOOL',
};
const SIZES: Record<string, number> = {
  F32: 4,
  F64: 8,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
};
const FROM_CODE = Object.fromEntries(Object.entries(CODES).map(([d, c]) => [c, d as DType]));
const MAX_HEADER = 100 * 1024 * 1024;

/** Serialises named tensors (and string metadata) to safetensors bytes. */
export function encodeSafetensors(tensors: Record<string, Tensor>, metadata?: Record<string, string>): Uint8Array[] {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  const blobs: Uint8Array[] = [];
  let offset = 0;
  for (const name of Object.keys(tensors).sort()) {
    if (name === '__metadata__') throw new Error('safetensors: "__metadata__" is reserved and cannot name a tensor');
    const t = tensors[name];
    const data = t.data();
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    header[name] = { dtype: CODES[t.dtype], shape: [...t.shape], data_offsets: [offset, offset + bytes.byteLength] };
    blobs.push(bytes);
    offset += bytes.byteLength;
  }
  let json = JSON.stringify(header);
  // Pad the header with spaces to 8-byte alignment, as the reference writer does.
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const headerBytes = Buffer.from(json, 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(headerBytes.byteLength));
  return [len, headerBytes, ...blobs];
}

export function saveSafetensors(
  path: string,
  tensors: Record<string, Tensor>,
  metadata?: Record<string, string>,
): void {
  writeFileAtomic(path, encodeSafetensors(tensors, metadata), { fsync: true });
}

export interface SafetensorsFile {
  tensors: Record<string, Tensor>;
  metadata: Record<string, string>;
}

/** Parses safetensors bytes, validating the header against the data before creating any tensor. */
export function decodeSafetensors(buf: Uint8Array, source = 'safetensors'): SafetensorsFile {
  const fail = (why: string): never => {
    throw new Error(`${source}: not a valid safetensors file: ${why}`);
  };
  if (buf.byteLength < 8) fail(`file has ${buf.byteLength} bytes, shorter than the 8-byte header length`);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const n = view.getBigUint64(0, true);
  if (n > BigInt(Math.min(MAX_HEADER, buf.byteLength - 8))) fail(`header length ${n} exceeds the file size`);
  const headerLen = Number(n);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(Buffer.from(buf.buffer, buf.byteOffset + 8, headerLen).toString('utf8'));
  } catch (err) {
    return fail(`header is not JSON (${(err as Error).message})`);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) fail('header is not a JSON object');
  const dataStart = 8 + headerLen;
  const dataLen = buf.byteLength - dataStart;
  const metadata: Record<string, string> = {};
  const entries: [string, DType, number[], number, number][] = [];
  for (const [name, info] of Object.entries(header)) {
    if (name === '__metadata__') {
      if (info === null || typeof info !== 'object') fail('__metadata__ must be an object');
      for (const [k, v] of Object.entries(info as object)) {
        if (typeof v !== 'string') fail(`metadata value for "${k}" is not a string`);
        metadata[k] = v as string;
      }
      continue;
    }
    const e = info as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    const dtype = typeof e.dtype === 'string' ? FROM_CODE[e.dtype] : undefined;
    if (!dtype) fail(`tensor "${name}" has unsupported dtype ${JSON.stringify(e.dtype)}`);
    const shape = e.shape;
    if (!Array.isArray(shape) || shape.some((d) => !Number.isInteger(d) || d < 0)) {
      fail(`tensor "${name}" has an invalid shape ${JSON.stringify(shape)}`);
    }
    const offs = e.data_offsets;
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((o) => Number.isInteger(o) && o >= 0)) {
      fail(`tensor "${name}" has invalid data_offsets ${JSON.stringify(offs)}`);
    }
    const [b, end] = offs as [number, number];
    const numel = (shape as number[]).reduce((a, x) => a * x, 1);
    if (end < b || end > dataLen) fail(`tensor "${name}" data [${b}, ${end}) lies outside the ${dataLen} data bytes`);
    if (end - b !== numel * SIZES[CODES[dtype!]]) {
      fail(
        `tensor "${name}" has ${end - b} bytes but shape ${JSON.stringify(shape)} of ${dtype} needs ${numel * SIZES[CODES[dtype!]]}`,
      );
    }
    entries.push([name, dtype!, shape as number[], b, end]);
  }
  // Every data byte must belong to exactly one tensor (the format forbids holes and overlaps).
  const sorted = [...entries].sort((x, y) => x[3] - y[3]);
  let cursor = 0;
  for (const [name, , , b, end] of sorted) {
    if (b !== cursor) fail(`tensor "${name}" starts at byte ${b}, expected ${cursor} (gap or overlap)`);
    cursor = end;
  }
  if (cursor !== dataLen) fail(`${dataLen - cursor} trailing bytes after the last tensor`);

  const tensors: Record<string, Tensor> = {};
  for (const [name, dtype, shape, b, end] of entries) {
    // The native copy takes raw bytes of any alignment; no intermediate TypedArray is needed.
    const bytes = new Uint8Array(buf.buffer, buf.byteOffset + dataStart + b, end - b);
    tensors[name] = new Tensor(native.fromArray(bytes, shape, dtype));
  }
  return { tensors, metadata };
}

export function loadSafetensors(path: string): SafetensorsFile {
  return decodeSafetensors(readFileSync(path), path);
}
