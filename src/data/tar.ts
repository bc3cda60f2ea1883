// tar archives (ustar, GNU and pax headers), optionally gzipped, streamed to disk; layout from POSIX.1-2001 pax.
import { closeSync, createReadStream, mkdirSync, openSync, readSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createGunzip } from 'node:zlib';
import { errorMessage } from './fileio.js';

const BLOCK = 512;

export interface TarEntry {
  path: string;
  data: Uint8Array;
}

export interface TarExtractOptions {
  /** Called as each regular file is written, with its path inside the archive and its size. */
  onFile?: (path: string, size: number) => void;
  /** Called with the compressed bytes read so far, for progress bars. */
  onBytes?: (read: number) => void;
}

function octal(field: Buffer): number {
  // Sizes of 8 GiB and more use GNU's base-256 form: high bit set, big-endian binary.
  if (field[0] & 0x80) {
    let v = field[0] & 0x7f;
    for (let i = 1; i < field.length; i++) v = v * 256 + field[i];
    return v;
  }
  const text = field
    .toString('latin1')
    .replace(/[\0 ]+$/, '')
    .replace(/^[\0 ]+/, '');
  if (!/^[0-7]*$/.test(text)) return NaN;
  return text === '' ? 0 : parseInt(text, 8);
}

function cString(field: Buffer): string {
  const end = field.indexOf(0);
  return field.toString('utf8', 0, end < 0 ? field.length : end);
}

/** Pax extended header records: "<length> <key>=<value>\n". */
function paxRecords(data: Buffer): Map<string, string> {
  const out = new Map<string, string>();
  let off = 0;
  while (off < data.length) {
    const space = data.indexOf(0x20, off);
    const len = parseInt(data.toString('latin1', off, space), 10);
    if (space < 0 || !(len > 0)) break;
    const record = data.toString('utf8', space + 1, off + len - 1);
    const eq = record.indexOf('=');
    if (eq > 0) out.set(record.slice(0, eq), record.slice(eq + 1));
    off += len;
  }
  return out;
}

/** Refuses names that would land outside the destination. */
function safePath(name: string, archive: string): string {
  const parts = name.split('/').filter((p) => p !== '' && p !== '.');
  if (name.startsWith('/') || parts.includes('..') || parts.length === 0) {
    throw new Error(`${archive}: unsafe path ${JSON.stringify(name)} in tar archive`);
  }
  return parts.join('/');
}

/** A push parser: feed it the decompressed bytes in any chunking; it writes regular files under `dest`. */
class TarExtractor {
  private header = Buffer.alloc(BLOCK);
  private headerFill = 0;
  private offset = 0;
  private remaining = 0;
  private padding = 0;
  private ended = false;
  private zeroBlocks = 0;
  private fd: number | null = null;
  private meta: Buffer[] | null = null;
  private metaType = '';
  private pax = new Map<string, string>();
  private longName: string | null = null;
  readonly files: string[] = [];

  constructor(
    private readonly archive: string,
    private readonly dest: string,
    private readonly onFile?: (path: string, size: number) => void,
  ) {}

  push(chunk: Buffer): void {
    let off = 0;
    while (off < chunk.length && !this.ended) {
      if (this.remaining > 0) {
        const n = Math.min(this.remaining, chunk.length - off);
        const part = chunk.subarray(off, off + n);
        if (this.fd !== null) for (let w = 0; w < n; ) w += writeSync(this.fd, part, w, n - w);
        else if (this.meta !== null) this.meta.push(Buffer.from(part));
        this.remaining -= n;
        off += n;
        this.offset += n;
        if (this.remaining === 0) this.endEntry();
      } else if (this.padding > 0) {
        const n = Math.min(this.padding, chunk.length - off);
        this.padding -= n;
        off += n;
        this.offset += n;
      } else {
        const n = Math.min(BLOCK - this.headerFill, chunk.length - off);
        chunk.copy(this.header, this.headerFill, off, off + n);
        this.headerFill += n;
        off += n;
        if (this.headerFill === BLOCK) {
          this.headerFill = 0;
          this.onHeader();
          this.offset += BLOCK;
        }
      }
    }
  }

  /** Checks the archive did not stop inside an entry. */
  finish(): void {
    if (this.remaining > 0 || this.headerFill > 0) {
      this.close();
      throw new Error(`${this.archive}: truncated tar archive (ends inside an entry at offset ${this.offset})`);
    }
  }

  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }

  private onHeader(): void {
    const h = this.header;
    if (h.every((b) => b === 0)) {
      // Two zero blocks end the archive; anything after them (tar pads to a record size) is ignored.
      if (++this.zeroBlocks === 2) this.ended = true;
      return;
    }
    this.zeroBlocks = 0;
    let sum = 0;
    for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : h[i];
    const stored = octal(h.subarray(148, 156));
    if (stored !== sum) {
      throw new Error(
        `${this.archive}: corrupt tar header at offset ${this.offset} (checksum mismatch; not a tar file?)`,
      );
    }
    const size = octal(h.subarray(124, 136));
    if (!Number.isSafeInteger(size)) {
      throw new Error(`${this.archive}: corrupt tar header at offset ${this.offset} (size field)`);
    }
    const type = String.fromCharCode(h[156] || 0x30);
    // Only POSIX ustar ("ustar\0") has the name prefix; old GNU headers ("ustar  ") keep other fields there.
    const posix = h.toString('latin1', 257, 263) === 'ustar\0';
    const prefix = posix ? cString(h.subarray(345, 500)) : '';
    const name = this.pax.get('path') ?? this.longName ?? (prefix ? `${prefix}/` : '') + cString(h.subarray(0, 100));
    const realSize = this.pax.has('size') ? Number(this.pax.get('size')) : size;
    this.remaining = type === 'x' || type === 'g' || type === 'L' ? size : realSize;
    this.padding = (BLOCK - (this.remaining % BLOCK)) % BLOCK;
    if (type === 'x' || type === 'L' || type === 'g') {
      this.meta = [];
      this.metaType = type;
    } else {
      this.pax = new Map();
      this.longName = null;
      if (type === '0' || type === '7') {
        const rel = safePath(name, this.archive);
        const target = join(this.dest, rel);
        mkdirSync(dirname(target), { recursive: true });
        this.fd = openSync(target, 'w');
        this.files.push(rel);
        this.onFile?.(rel, realSize);
      } else if (type === '5') {
        mkdirSync(join(this.dest, safePath(name, this.archive)), { recursive: true });
      }
      // Links, devices and FIFOs have no place in a dataset archive: their data (if any) is skipped.
    }
    if (this.remaining === 0) this.endEntry();
  }

  private endEntry(): void {
    this.close();
    if (this.meta !== null) {
      const data = Buffer.concat(this.meta);
      if (this.metaType === 'x') this.pax = paxRecords(data);
      if (this.metaType === 'L') this.longName = cString(data);
      this.meta = null;
    }
  }
}

/** True if the file starts with the gzip magic (1f 8b). */
function gzipped(path: string): boolean {
  const fd = openSync(path, 'r');
  try {
    const b = Buffer.alloc(2);
    return readSync(fd, b, 0, 2, 0) === 2 && b[0] === 0x1f && b[1] === 0x8b;
  } finally {
    closeSync(fd);
  }
}

/**
 * Streams a .tar or .tar.gz into `dest` (which must exist) and returns the regular files written, relative to `dest`.
 * The caller extracts into a scratch folder and moves the result into place, so a failure leaves nothing half-done.
 */
export async function extractTar(archive: string, dest: string, opts: TarExtractOptions = {}): Promise<string[]> {
  const extractor = new TarExtractor(archive, dest, opts.onFile);
  const input = createReadStream(archive);
  let read = 0;
  input.on('data', (c) => {
    read += c.length;
    opts.onBytes?.(read);
  });
  const stream = gzipped(archive) ? input.pipe(createGunzip()) : input;
  input.on('error', (e) => stream.destroy(e));
  try {
    for await (const chunk of stream) extractor.push(chunk as Buffer);
    extractor.finish();
  } catch (e) {
    extractor.close();
    input.destroy();
    if ((e as NodeJS.ErrnoException).code?.startsWith('Z_')) {
      throw new Error(`${archive}: corrupt gzip stream (${errorMessage(e)})`);
    }
    throw e;
  }
  return extractor.files;
}

function header(name: string, size: number, type: string): Buffer {
  const h = Buffer.alloc(BLOCK);
  const bytes = Buffer.from(name, 'utf8');
  let prefix = '';
  let base = name;
  if (bytes.length > 100) {
    // ustar splits long paths at a slash into a 155-byte prefix and a 100-byte name.
    const cut = name.lastIndexOf('/', 155);
    if (cut <= 0 || Buffer.byteLength(name.slice(cut + 1)) > 100) throw new Error(`tar: path too long: ${name}`);
    prefix = name.slice(0, cut);
    base = name.slice(cut + 1);
  }
  h.write(base, 0, 'utf8');
  h.write('0000644\0', 100, 'latin1');
  h.write('0000000\0', 108, 'latin1');
  h.write('0000000\0', 116, 'latin1');
  h.write(size.toString(8).padStart(11, '0') + '\0', 124, 'latin1');
  h.write('00000000000\0', 136, 'latin1');
  h.write('        ', 148, 'latin1');
  h.write(type, 156, 'latin1');
  h.write('ustar\0' + '00', 257, 'latin1');
  h.write(prefix, 345, 'utf8');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
  return h;
}

/** Builds a ustar archive in memory (folders are implied by the file paths); used to make test archives. */
export function encodeTar(entries: readonly TarEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    parts.push(header(e.path, e.data.length, '0'), Buffer.from(e.data));
    const pad = (BLOCK - (e.data.length % BLOCK)) % BLOCK;
    if (pad > 0) parts.push(Buffer.alloc(pad));
  }
  parts.push(Buffer.alloc(2 * BLOCK));
  return Buffer.concat(parts);
}
