// Shared file plumbing for the dataset readers and writers: whole-file reads past 2 GiB, gzip detection; atomic
// writes come from util/atomic.
export { tempSibling, writeFileAtomic, writeFileAtomicWith, type AtomicWriteOptions } from '../util/atomic.js';
import { closeSync, existsSync, fstatSync, openSync, readSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';

/** A dataset file is absent; `paths` are the places looked at, so the registry can say how to fetch it. */
export class MissingFileError extends Error {
  readonly paths: string[];
  constructor(paths: string[]) {
    super(`file not found: ${paths.join(' or ')}`);
    this.name = 'MissingFileError';
    this.paths = paths;
  }
}

export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function isNotFound(e: unknown): boolean {
  return (e as NodeJS.ErrnoException | null)?.code === 'ENOENT';
}

/** Opens for reading; a missing file becomes a MissingFileError. */
export function openForRead(path: string): number {
  try {
    return openSync(path, 'r');
  } catch (e) {
    if (isNotFound(e)) throw new MissingFileError([path]);
    throw e;
  }
}

// One read call moves at most 2 GiB, and readFileSync refuses bigger files (STL-10 unlabeled, SVHN extra are bigger).
const IO_CHUNK = 1 << 30;

/** Reads `length` bytes at `position`, failing with the file name if the file ends early. */
export function readAt(fd: number, position: number, length: number, path: string): Buffer {
  const buf = Buffer.allocUnsafe(length);
  let done = 0;
  while (done < length) {
    const n = readSync(fd, buf, done, Math.min(IO_CHUNK, length - done), position + done);
    if (n === 0) throw new Error(`${path}: truncated: wanted ${length} bytes at offset ${position}, file ended early`);
    done += n;
  }
  return buf;
}

export function fileSize(fd: number): number {
  return fstatSync(fd).size;
}

export function readWholeFile(path: string): Buffer {
  const fd = openForRead(path);
  try {
    return readAt(fd, 0, fileSize(fd), path);
  } finally {
    closeSync(fd);
  }
}

/** The first of `candidates` that exists, or null. */
export function firstExisting(candidates: readonly string[]): string | null {
  return candidates.find((p) => existsSync(p)) ?? null;
}

/** The first of `candidates` that exists; throws MissingFileError listing all of them otherwise. */
export function requireOneOf(candidates: readonly string[]): string {
  const found = firstExisting(candidates);
  if (found === null) throw new MissingFileError([...candidates]);
  return found;
}

export function isGzip(buf: Uint8Array): boolean {
  return buf.length >= 2 && buf[0] === 0x1f && buf[1] === 0x8b;
}

/** Decompresses when the gzip magic (1f 8b) is present, whatever the file is called. */
export function gunzipIfNeeded(buf: Buffer, path: string): Buffer {
  if (!isGzip(buf)) return buf;
  try {
    return gunzipSync(buf);
  } catch (e) {
    throw new Error(`${path}: corrupt gzip stream (${errorMessage(e)})`);
  }
}
