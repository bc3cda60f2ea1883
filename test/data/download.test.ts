// Tests of downloadDataset against a local HTTP server: checksums, Range resume, extraction, failures.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { CIFAR10_CLASSES, loadCifar10, writeCifar10Batch, writeCifar10Meta } from '../../src/data/cifar10.js';
import { DOWNLOADS, downloadDataset, type DownloadProgress } from '../../src/data/download.js';
import { loadStl10, writeStl10Images, writeStl10Labels } from '../../src/data/stl10.js';
import { loadSvhn, writeSvhnMat } from '../../src/data/svhn.js';
import { encodeTar } from '../../src/data/tar.js';
import { makeSet, sameBytes, useTempDirs } from './helpers.js';

interface Served {
  body: Buffer;
  /** On the first request, send this many bytes and then drop the connection. */
  dropAfter?: number;
  /** Answer every request with the whole file, as a server without Range support does. */
  ignoreRange?: boolean;
}

interface TestServer {
  baseUrl: string;
  requests: { path: string; range: string | null }[];
}

const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((resolve) => s.close(resolve));
  }
});

/** A local server on 127.0.0.1 serving `files` by name, with Range support. */
async function serve(files: Record<string, Served>): Promise<TestServer> {
  const requests: TestServer['requests'] = [];
  const dropped = new Set<string>();
  const server = createServer((req, res) => {
    const name = decodeURIComponent((req.url ?? '/').split('/').pop() ?? '');
    requests.push({ path: req.url ?? '', range: req.headers.range ?? null });
    const f = files[name];
    if (f === undefined) {
      res.writeHead(404).end();
      return;
    }
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    let start = 0;
    if (m !== null && !f.ignoreRange) {
      start = Number(m[1]);
      if (start >= f.body.length) {
        res.writeHead(416, { 'Content-Range': `bytes */${f.body.length}` }).end();
        return;
      }
      res.writeHead(206, {
        'Content-Range': `bytes ${start}-${f.body.length - 1}/${f.body.length}`,
        'Content-Length': f.body.length - start,
      });
    } else {
      res.writeHead(200, { 'Content-Length': f.body.length });
    }
    if (f.dropAfter !== undefined && !dropped.has(name)) {
      dropped.add(name);
      // end() sends FIN after the bytes already written, so the client gets exactly dropAfter bytes, then EOF.
      res.write(f.body.subarray(start, f.dropAfter), () => res.socket?.end());
      return;
    }
    res.end(f.body.subarray(start));
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/mirror`, requests };
}

const md5 = (b: Buffer): string => createHash('md5').update(b).digest('hex');

function cifarArchive(dir: string): Buffer {
  const entries = [];
  const names = [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`).concat('test_batch.bin');
  names.forEach((name, b) => {
    const p = join(dir, name);
    writeCifar10Batch(
      p,
      makeSet(2, 32, 32, 3, (i, y, x, c) => b + i + y + x + c, [b, 9 - b]),
    );
    entries.push({ path: `cifar-10-batches-bin/${name}`, data: readFileSync(p) });
  });
  writeCifar10Meta(join(dir, 'meta.txt'), CIFAR10_CLASSES);
  entries.push({ path: 'cifar-10-batches-bin/batches.meta.txt', data: readFileSync(join(dir, 'meta.txt')) });
  entries.push({ path: 'cifar-10-batches-bin/readme.html', data: Buffer.from('<html></html>') });
  return gzipSync(encodeTar(entries));
}

function svhnFile(dir: string, n: number): Buffer {
  const p = join(dir, `svhn-${n}.mat`);
  const labels = Array.from({ length: n }, (_, i) => i % 10);
  // Uncompressed, so the file is big enough to cut in the middle.
  writeSvhnMat(
    p,
    makeSet(n, 32, 32, 3, (i, y, x, c) => i * 7 + y + x * 3 + c, labels),
    { compress: false },
  );
  return readFileSync(p);
}

describe('downloadDataset', () => {
  const tmp = useTempDirs();

  it('lists the publishers’ addresses and checksums', () => {
    expect(DOWNLOADS.cifar10[0].url).toBe('https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz');
    expect(DOWNLOADS.cifar10[0].md5).toBe('c32a1d4ab5d03f1284b67883e8d87530');
    expect(DOWNLOADS.svhn.map((f) => f.url)).toEqual(
      ['train', 'test', 'extra'].map((s) => `http://ufldl.stanford.edu/housenumbers/${s}_32x32.mat`),
    );
    expect(DOWNLOADS.svhn.map((f) => f.md5)).toEqual([
      'e26dedcc434d2e4c54c9b2d4a06d8373',
      'eb5a983be6a315427106f1b164d9cef3',
      'a93ce644f1a588dc4d68dda5feec44a7',
    ]);
    expect(DOWNLOADS.stl10[0].url).toBe('http://ai.stanford.edu/~acoates/stl10/stl10_binary.tar.gz');
    expect(DOWNLOADS.stl10[0].md5).toBe('91f7769df0f17e558f3565bffb0c7dfb');
  });

  it('fetches, verifies and unpacks CIFAR-10, then leaves a complete dataset alone', async () => {
    const archive = cifarArchive(tmp());
    const server = await serve({ 'cifar-10-binary.tar.gz': { body: archive } });
    const dir = join(tmp(), 'cifar');
    const phases = new Set<DownloadProgress['phase']>();
    const opts = {
      baseUrl: server.baseUrl,
      md5: { 'cifar-10-binary.tar.gz': md5(archive) },
      onProgress: (p: DownloadProgress) => phases.add(p.phase),
    };
    const files = await downloadDataset('cifar10', dir, opts);
    expect(files).toContain(join(dir, 'cifar-10-batches-bin', 'test_batch.bin'));
    expect(server.requests).toEqual([{ path: '/mirror/cifar-10-binary.tar.gz', range: null }]);
    expect([...phases].sort()).toEqual(['download', 'extract', 'verify']);
    expect(readdirSync(dir)).toEqual(['cifar-10-batches-bin']);
    const train = loadCifar10(dir, 'train');
    expect(train.n).toBe(10);
    expect(Array.from(train.labels!)).toEqual([0, 9, 1, 8, 2, 7, 3, 6, 4, 5]);
    expect(loadCifar10(dir, 'test').labels).toEqual(Int32Array.from([5, 4]));
    await downloadDataset('cifar10', dir, opts);
    expect(server.requests).toHaveLength(1);
  });

  it('resumes a dropped connection with an HTTP Range request', async () => {
    const body = svhnFile(tmp(), 40);
    const half = Math.floor(body.length / 2);
    const server = await serve({ 'train_32x32.mat': { body, dropAfter: half } });
    const dir = tmp();
    await downloadDataset('svhn', dir, {
      baseUrl: server.baseUrl,
      splits: ['train'],
      md5: { 'train_32x32.mat': md5(body) },
      retryDelayMs: 0,
    });
    expect(server.requests.map((r) => r.range)).toEqual([null, `bytes=${half}-`]);
    expect(readFileSync(join(dir, 'train_32x32.mat')).equals(body)).toBe(true);
    expect(readdirSync(dir)).toEqual(['train_32x32.mat']);
    expect(loadSvhn(dir, 'train').n).toBe(40);
  });

  it('keeps the partial file when out of retries, and the next run resumes it', async () => {
    const body = svhnFile(tmp(), 30);
    const cut = 5000;
    const server = await serve({ 'test_32x32.mat': { body, dropAfter: cut } });
    const dir = tmp();
    const opts = { baseUrl: server.baseUrl, splits: ['test'], md5: { 'test_32x32.mat': md5(body) }, retries: 0 };
    await expect(downloadDataset('svhn', dir, opts)).rejects.toThrow(
      /test_32x32\.mat: download failed after 1 attempt\(s\) .*test_32x32\.mat\.part keeps what arrived/,
    );
    expect(existsSync(join(dir, 'test_32x32.mat'))).toBe(false);
    expect(statSync(join(dir, 'test_32x32.mat.part')).size).toBe(cut);
    await downloadDataset('svhn', dir, opts);
    expect(server.requests.map((r) => r.range)).toEqual([null, `bytes=${cut}-`]);
    expect(readdirSync(dir)).toEqual(['test_32x32.mat']);
    expect(readFileSync(join(dir, 'test_32x32.mat')).equals(body)).toBe(true);
  });

  it('starts over when the server ignores Range', async () => {
    const body = svhnFile(tmp(), 20);
    const server = await serve({ 'extra_32x32.mat': { body, dropAfter: 3000, ignoreRange: true } });
    const dir = tmp();
    await downloadDataset('svhn', dir, {
      baseUrl: server.baseUrl,
      splits: ['extra'],
      md5: { 'extra_32x32.mat': md5(body) },
      retryDelayMs: 0,
    });
    expect(server.requests.map((r) => r.range)).toEqual([null, 'bytes=3000-']);
    expect(readFileSync(join(dir, 'extra_32x32.mat')).equals(body)).toBe(true);
  });

  it('deletes a download whose md5 is wrong and leaves no final file', async () => {
    const body = svhnFile(tmp(), 2);
    const server = await serve({ 'train_32x32.mat': { body } });
    const dir = tmp();
    const wrong = '0'.repeat(32);
    await expect(
      downloadDataset('svhn', dir, { baseUrl: server.baseUrl, splits: ['train'], md5: { 'train_32x32.mat': wrong } }),
    ).rejects.toThrow(`md5 mismatch: expected ${wrong}, got ${md5(body)}; the download was deleted`);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('reports HTTP errors without retrying, and unknown splits', async () => {
    const server = await serve({});
    const dir = tmp();
    await expect(downloadDataset('svhn', dir, { baseUrl: server.baseUrl, splits: ['test'] })).rejects.toThrow(
      /\/mirror\/test_32x32\.mat: HTTP 404 Not Found/,
    );
    expect(server.requests).toHaveLength(1);
    await expect(downloadDataset('svhn', dir, { splits: ['valid'] })).rejects.toThrow(
      /svhn: unknown split\(s\) valid \(choose from: train, test, extra\)/,
    );
  });

  it('fetches STL-10 and refuses to touch an incomplete existing folder', async () => {
    const src = tmp();
    const set = makeSet(2, 96, 96, 3, (i, y, x, c) => i + y * 2 + x + c, [3, 7]);
    writeStl10Images(join(src, 'x.bin'), set);
    writeStl10Labels(join(src, 'y.bin'), [3, 7]);
    const x = readFileSync(join(src, 'x.bin'));
    const y = readFileSync(join(src, 'y.bin'));
    const names = ['train_X.bin', 'train_y.bin', 'test_X.bin', 'test_y.bin', 'unlabeled_X.bin'];
    const archive = gzipSync(
      encodeTar(names.map((n) => ({ path: `stl10_binary/${n}`, data: n.endsWith('_y.bin') ? y : x }))),
    );
    const server = await serve({ 'stl10_binary.tar.gz': { body: archive } });
    const dir = tmp();
    const opts = { baseUrl: server.baseUrl, md5: { 'stl10_binary.tar.gz': md5(archive) }, keepArchive: true };
    await downloadDataset('stl10', dir, opts);
    expect(readdirSync(dir).sort()).toEqual(['stl10_binary', 'stl10_binary.tar.gz']);
    expect(sameBytes(loadStl10(dir, 'unlabeled').images, set.images)).toBe(true);
    expect(Array.from(loadStl10(dir, 'train').labels!)).toEqual([3, 7]);

    const partial = tmp();
    mkdirSync(join(partial, 'stl10_binary'));
    await expect(downloadDataset('stl10', partial, opts)).rejects.toThrow(
      `${join(partial, 'stl10_binary')} exists but is incomplete; remove it and run the download again`,
    );
    expect(server.requests).toHaveLength(1);
  });

  it('fails clearly when the archive lacks expected files, leaving no half-made folder', async () => {
    const archive = gzipSync(encodeTar([{ path: 'cifar-10-batches-bin/test_batch.bin', data: new Uint8Array(3073) }]));
    const server = await serve({ 'cifar-10-binary.tar.gz': { body: archive } });
    const dir = tmp();
    await expect(
      downloadDataset('cifar10', dir, { baseUrl: server.baseUrl, md5: { 'cifar-10-binary.tar.gz': md5(archive) } }),
    ).rejects.toThrow(/cifar-10-binary\.tar\.gz: the archive lacks cifar-10-batches-bin\/data_batch_1\.bin/);
    expect(readdirSync(dir)).toEqual(['cifar-10-binary.tar.gz']);
  });
});
