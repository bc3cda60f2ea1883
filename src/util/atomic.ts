// Atomic file and folder writes: output goes to a temporary sibling that is renamed into place, so
// a reader never sees a half-written file and a failure leaves nothing behind.
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

const IO_CHUNK = 1 << 30;

export function tempSibling(path: string): string {
  return join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
}

export interface AtomicWriteOptions {
  /** Flush to disk before the rename, so a crash cannot leave an empty file under the final name. */
  fsync?: boolean;
}

function writeAll(fd: number, data: Uint8Array): void {
  let done = 0;
  while (done < data.length) {
    done += writeSync(fd, data, done, Math.min(IO_CHUNK, data.length - done));
  }
}

/**
 * Writes through `produce` into a temporary file beside `path`, then renames it into place, so readers never see a
 * half-written file and a failure leaves nothing behind.
 */
export function writeFileAtomicWith(
  path: string,
  produce: (write: (chunk: Uint8Array) => void) => void,
  opts: AtomicWriteOptions = {},
): void {
  const tmp = tempSibling(path);
  const fd = openSync(tmp, 'wx');
  try {
    produce((chunk) => writeAll(fd, chunk));
    if (opts.fsync) fsyncSync(fd);
    closeSync(fd);
    renameSync(tmp, path);
  } catch (e) {
    try {
      closeSync(fd);
    } catch {
      // already closed by the success path before a failing rename
    }
    rmSync(tmp, { force: true });
    throw e;
  }
}

export function writeFileAtomic(
  path: string,
  data: Uint8Array | readonly Uint8Array[],
  opts: AtomicWriteOptions = {},
): void {
  const parts = data instanceof Uint8Array ? [data] : data;
  writeFileAtomicWith(path, (write) => parts.forEach(write), opts);
}

/**
 * Fills a new folder through a temporary sibling, then renames it into place; an existing folder
 * is refused, and a failure removes the partial folder.
 */
export async function writeDirAtomic(dir: string, fill: (tmpDir: string) => void | Promise<void>): Promise<void> {
  if (existsSync(dir)) throw new Error(`${dir} already exists; choose a new output folder`);
  mkdirSync(dirname(dir), { recursive: true });
  const tmp = tempSibling(dir);
  mkdirSync(tmp);
  try {
    await fill(tmp);
    renameSync(tmp, dir);
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
}
