// Fetches CIFAR-10, SVHN and STL-10 from their publishers: md5-checked, resumed over HTTP Range, tar.gz unpacked.
import { createHash } from 'node:crypto';
import { closeSync, createReadStream, existsSync, openSync, writeSync } from 'node:fs';
import { mkdir, mkdtemp, rename, rm, stat } from 'node:fs/promises';
import { get as httpGet, type IncomingMessage } from 'node:http';
import { get as httpsGet } from 'node:https';
import { join } from 'node:path';
import { finished } from 'node:stream/promises';
import { CIFAR10_FOLDER, CIFAR10_META, CIFAR10_TEST_BATCH, CIFAR10_TRAIN_BATCHES } from './cifar10.js';
import { errorMessage } from './fileio.js';
import { STL10_FOLDER } from './stl10.js';
import { SVHN_FILES, type SvhnSplit } from './svhn.js';
import { extractTar } from './tar.js';

export type DownloadableName = 'cifar10' | 'svhn' | 'stl10';

export interface RemoteFile {
  /** The file's name, on disk and under a `baseUrl`. */
  file: string;
  url: string;
  md5: string;
  /** For an archive, the files it must unpack (relative to the dataset folder); empty for a plain file. */
  unpacks: string[];
  /** SVHN ships one file per split, so a download can be limited to some splits. */
  split?: string;
}

const SVHN_MD5: Record<SvhnSplit, string> = {
  train: 'e26dedcc434d2e4c54c9b2d4a06d8373',
  test: 'eb5a983be6a315427106f1b164d9cef3',
  extra: 'a93ce644f1a588dc4d68dda5feec44a7',
};

export const DOWNLOADS: Record<DownloadableName, RemoteFile[]> = {
  cifar10: [
    {
      file: 'cifar-10-binary.tar.gz',
      url: 'https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz',
      md5: 'c32a1d4ab5d03f1284b67883e8d87530',
      unpacks: [...CIFAR10_TRAIN_BATCHES, CIFAR10_TEST_BATCH, CIFAR10_META].map((f) => `${CIFAR10_FOLDER}/${f}`),
    },
  ],
  svhn: (Object.keys(SVHN_FILES) as SvhnSplit[]).map((split) => ({
    file: SVHN_FILES[split],
    url: `http://ufldl.stanford.edu/housenumbers/${SVHN_FILES[split]}`,
    md5: SVHN_MD5[split],
    unpacks: [],
    split,
  })),
  stl10: [
    {
      file: 'stl10_binary.tar.gz',
      url: 'http://ai.stanford.edu/~acoates/stl10/stl10_binary.tar.gz',
      md5: '91f7769df0f17e558f3565bffb0c7dfb',
      unpacks: ['train_X.bin', 'train_y.bin', 'test_X.bin', 'test_y.bin', 'unlabeled_X.bin'].map(
        (f) => `${STL10_FOLDER}/${f}`,
      ),
    },
  ],
};

export interface DownloadProgress {
  file: string;
  phase: 'download' | 'verify' | 'extract';
  done: number;
  total: number | null;
}

export interface FileDownloadOptions {
  md5: string;
  /** Further attempts after a dropped connection or a server error, each resuming where the last stopped (3). */
  retries?: number;
  /** Wait before the first retry, doubled for each later one (default 2000 ms). */
  retryDelayMs?: number;
  onProgress?: (phase: DownloadProgress['phase'], done: number, total: number | null) => void;
  signal?: AbortSignal;
}

export interface DownloadOptions extends Omit<FileDownloadOptions, 'md5' | 'onProgress'> {
  /** Fetch `${baseUrl}/${file}` instead of the publisher's address (a mirror, or a local server in tests). */
  baseUrl?: string;
  onProgress?: (p: DownloadProgress) => void;
  /** Expected md5 by file name, replacing the published checksums. */
  md5?: Record<string, string>;
  /** SVHN only: the splits to fetch (default all: train, test, extra). */
  splits?: string[];
  /** Keep the .tar.gz after unpacking it (default: delete it). */
  keepArchive?: boolean;
}

class HttpStatusError extends Error {
  constructor(
    url: string,
    readonly status: number,
    statusText: string,
  ) {
    super(`${url}: HTTP ${status} ${statusText}`);
  }
}

async function sizeOf(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch {
    return 0;
  }
}

// A connection that delivers nothing for this long is dropped, and the retry resumes from what arrived.
const IDLE_TIMEOUT_MS = 60_000;
const MAX_REDIRECTS = 5;

/**
 * A GET that follows redirects. node:http rather than fetch: fetch discards body bytes it had queued when the
 * connection fails, and resuming needs every byte that arrived.
 */
function get(
  url: string,
  headers: Record<string, string>,
  signal: AbortSignal | undefined,
  redirects = MAX_REDIRECTS,
): Promise<IncomingMessage> {
  return new Promise<IncomingMessage>((resolve, reject) => {
    const proto = new URL(url).protocol;
    if (proto !== 'http:' && proto !== 'https:') throw new Error(`${url}: unsupported protocol ${proto}`);
    const req = (proto === 'https:' ? httpsGet : httpGet)(url, { headers, signal }, (res) => {
      const location = res.headers.location;
      if (res.statusCode !== undefined && res.statusCode >= 300 && res.statusCode < 400 && location !== undefined) {
        res.resume();
        if (redirects === 0) reject(new Error(`${url}: too many redirects`));
        else resolve(get(new URL(location, url).href, headers, signal, redirects - 1));
        return;
      }
      resolve(res);
    });
    req.setTimeout(IDLE_TIMEOUT_MS, () => req.destroy(new Error(`no data for ${IDLE_TIMEOUT_MS / 1000} s`)));
    req.on('error', reject);
  });
}

/** One attempt: asks for the bytes past what `part` holds and appends them (starts over if Range is ignored). */
async function fetchToPart(url: string, part: string, opts: FileDownloadOptions): Promise<void> {
  const have = await sizeOf(part);
  const res = await get(url, have > 0 ? { Range: `bytes=${have}-` } : {}, opts.signal);
  const status = res.statusCode ?? 0;
  if (status === 416 && have > 0) {
    // Nothing left to send: the part is already whole, and the md5 check decides whether it is right.
    res.resume();
    return;
  }
  if (status !== 200 && status !== 206) {
    res.resume();
    throw new HttpStatusError(url, status, res.statusMessage ?? '');
  }
  let start = 0;
  if (status === 206) {
    const range = res.headers['content-range'] ?? '';
    const m = /^bytes (\d+)-\d+\/(?:\d+|\*)$/.exec(range);
    if (m === null || Number(m[1]) !== have) {
      res.resume();
      await rm(part, { force: true });
      throw new Error(`${url}: server resumed at the wrong place (Content-Range '${range}' for ${have} bytes held)`);
    }
    start = have;
  }
  const length = res.headers['content-length'];
  const total = length === undefined ? null : start + Number(length);
  const fd = openSync(part, start > 0 ? 'a' : 'w');
  let done = start;
  try {
    // Written synchronously as each chunk arrives, so a dropped connection loses nothing that was received.
    res.on('data', (chunk: Buffer) => {
      try {
        for (let w = 0; w < chunk.length; ) w += writeSync(fd, chunk, w, chunk.length - w);
      } catch (e) {
        res.destroy(e as Error);
        return;
      }
      done += chunk.length;
      opts.onProgress?.('download', done, total);
    });
    await finished(res);
  } catch (e) {
    throw new Error(`connection lost after ${done}${total === null ? '' : ` of ${total}`} bytes (${errorMessage(e)})`);
  } finally {
    closeSync(fd);
  }
  if (total !== null && done !== total) throw new Error(`${url}: connection closed after ${done} of ${total} bytes`);
}

export async function md5File(path: string, onProgress?: (done: number) => void): Promise<string> {
  const hash = createHash('md5');
  let done = 0;
  for await (const chunk of createReadStream(path)) {
    hash.update(chunk as Buffer);
    done += (chunk as Buffer).length;
    onProgress?.(done);
  }
  return hash.digest('hex');
}

/**
 * Downloads `url` to `dest` through `dest.part`, retrying with HTTP Range so a dropped connection costs only what was
 * not yet received; the part is renamed to `dest` only once its md5 matches (and deleted if it does not).
 */
export async function downloadFile(url: string, dest: string, opts: FileDownloadOptions): Promise<void> {
  const part = `${dest}.part`;
  const retries = opts.retries ?? 3;
  for (let attempt = 0; ; attempt++) {
    try {
      await fetchToPart(url, part, opts);
      break;
    } catch (e) {
      const clientError = e instanceof HttpStatusError && e.status < 500;
      if (clientError) throw e;
      if (opts.signal?.aborted || attempt >= retries) {
        throw new Error(
          `${url}: download failed after ${attempt + 1} attempt(s) (${errorMessage(e)}); ` +
            `${part} keeps what arrived and the next run resumes from it`,
        );
      }
      const delay = (opts.retryDelayMs ?? 2000) * 2 ** attempt;
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
  const total = await sizeOf(part);
  const got = await md5File(part, (done) => opts.onProgress?.('verify', done, total));
  if (got !== opts.md5.toLowerCase()) {
    await rm(part, { force: true });
    throw new Error(`${url}: md5 mismatch: expected ${opts.md5}, got ${got}; the download was deleted`);
  }
  await rename(part, dest);
}

function urlFor(f: RemoteFile, baseUrl: string | undefined): string {
  if (baseUrl === undefined) return f.url;
  return new URL(f.file, baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`).href;
}

/** Unpacks into a scratch folder inside `dir`, checks the expected files are there, then moves the top folders in. */
async function unpack(archive: string, dir: string, f: RemoteFile, opts: DownloadOptions): Promise<void> {
  const scratch = await mkdtemp(join(dir, '.extract-'));
  try {
    const total = await sizeOf(archive);
    await extractTar(archive, scratch, {
      onBytes: (done) => opts.onProgress?.({ file: f.file, phase: 'extract', done, total }),
    });
    const missing = f.unpacks.filter((p) => !existsSync(join(scratch, p)));
    if (missing.length > 0) throw new Error(`${archive}: the archive lacks ${missing.join(', ')}`);
    for (const top of topFolders(f)) await rename(join(scratch, top), join(dir, top));
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

function topFolders(f: RemoteFile): string[] {
  return [...new Set(f.unpacks.map((p) => p.split('/')[0]))];
}

/**
 * Fetches a dataset into `dir` in the layout its loader reads (dir/cifar-10-batches-bin, dir/*_32x32.mat,
 * dir/stl10_binary). Files already in place are kept; returns the dataset files' paths.
 */
export async function downloadDataset(
  name: DownloadableName,
  dir: string,
  opts: DownloadOptions = {},
): Promise<string[]> {
  if (!Object.hasOwn(DOWNLOADS, name)) {
    throw new Error(`unknown dataset '${name}' (downloadable: ${Object.keys(DOWNLOADS).join(', ')})`);
  }
  const spec = DOWNLOADS[name];
  const known = spec.flatMap((f) => (f.split === undefined ? [] : [f.split]));
  const unknown = (opts.splits ?? []).filter((s) => !known.includes(s));
  if (unknown.length > 0) {
    throw new Error(
      known.length === 0
        ? `${name} comes as one archive holding every split; choosing splits applies to svhn only`
        : `${name}: unknown split(s) ${unknown.join(', ')} (choose from: ${known.join(', ')})`,
    );
  }
  const files = spec.filter((f) => f.split === undefined || opts.splits === undefined || opts.splits.includes(f.split));
  await mkdir(dir, { recursive: true });
  const produced: string[] = [];
  for (const f of files) {
    const outputs = (f.unpacks.length > 0 ? f.unpacks : [f.file]).map((p) => join(dir, p));
    if (outputs.every((p) => existsSync(p))) {
      produced.push(...outputs);
      continue;
    }
    for (const top of topFolders(f)) {
      // Never overwrite a folder we did not make whole: it may hold the user's own files.
      if (existsSync(join(dir, top))) {
        throw new Error(`${join(dir, top)} exists but is incomplete; remove it and run the download again`);
      }
    }
    const target = join(dir, f.file);
    const md5 = opts.md5?.[f.file] ?? f.md5;
    const report = (phase: DownloadProgress['phase'], done: number, total: number | null): void =>
      opts.onProgress?.({ file: f.file, phase, done, total });
    if (existsSync(target)) {
      // A kept archive from an earlier run: check it before trusting it.
      const got = await md5File(target);
      if (got !== md5.toLowerCase()) throw new Error(`${target}: md5 mismatch: expected ${md5}, got ${got}`);
    } else {
      await downloadFile(urlFor(f, opts.baseUrl), target, { ...opts, md5, onProgress: report });
    }
    if (f.unpacks.length > 0) {
      await unpack(target, dir, f, opts);
      if (!opts.keepArchive) await rm(target, { force: true });
    }
    produced.push(...outputs);
  }
  return produced;
}
