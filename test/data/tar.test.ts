// Tests of the tar extractor against GNU tar archives and encodeTar output, and of its refusals.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { encodeTar, extractTar } from '../../src/data/tar.js';
import { FIXTURES, useTempDirs } from './helpers.js';

const LONG = `top/${'d'.repeat(60)}/${'e'.repeat(60)}/long_name_file_${'f'.repeat(40)}.bin`;
const md5 = (b: Uint8Array): string => createHash('md5').update(b).digest('hex');

describe('tar extraction', () => {
  const tmp = useTempDirs();

  it('extracts archives made by GNU tar (gnu format gzipped, pax format plain)', async () => {
    for (const name of ['gnu.tar.gz', 'pax.tar']) {
      const dest = tmp();
      const files = await extractTar(join(FIXTURES, name), dest);
      expect(files.sort()).toEqual([LONG, 'top/a.txt'].sort());
      expect(readFileSync(join(dest, 'top/a.txt'), 'utf8')).toBe('hello\n');
      const long = readFileSync(join(dest, LONG));
      expect(long.length).toBe(1300);
      expect(md5(long)).toBe('f98fa1b17b12e7899b07e3669660f341');
    }
  });

  it('round-trips archives from encodeTar, including long paths, empty files and block-sized files', async () => {
    const dir = tmp();
    const entries = [
      { path: 'a/empty.bin', data: new Uint8Array(0) },
      { path: 'a/block.bin', data: new Uint8Array(512).fill(7) },
      {
        path: `a/${'x'.repeat(120)}/${'y'.repeat(90)}.bin`,
        data: Uint8Array.from({ length: 1000 }, (_, i) => i & 255),
      },
    ];
    writeFileSync(join(dir, 'a.tar.gz'), gzipSync(encodeTar(entries)));
    const dest = join(dir, 'out');
    mkdirSync(dest);
    const seen: [string, number][] = [];
    const files = await extractTar(join(dir, 'a.tar.gz'), dest, { onFile: (p, size) => seen.push([p, size]) });
    expect(files).toEqual(entries.map((e) => e.path));
    expect(seen).toEqual(entries.map((e) => [e.path, e.data.length]));
    for (const e of entries) expect(new Uint8Array(readFileSync(join(dest, e.path)))).toEqual(e.data);
  });

  it('refuses unsafe paths, corrupt headers, truncated archives and corrupt gzip', async () => {
    const dir = tmp();
    const p = join(dir, 'x.tar');
    writeFileSync(p, encodeTar([{ path: '../evil.txt', data: Buffer.from('x') }]));
    await expect(extractTar(p, join(dir))).rejects.toThrow(`${p}: unsafe path "../evil.txt" in tar archive`);
    expect(existsSync(join(dir, '..', 'evil.txt'))).toBe(false);
    const good = encodeTar([{ path: 'f.bin', data: new Uint8Array(2000).fill(1) }]);
    const badSum = Buffer.from(good);
    badSum[0] ^= 1;
    writeFileSync(p, badSum);
    await expect(extractTar(p, dir)).rejects.toThrow(/x\.tar: corrupt tar header at offset 0 \(checksum mismatch/);
    writeFileSync(p, good.subarray(0, 1500));
    await expect(extractTar(p, dir)).rejects.toThrow(/x\.tar: truncated tar archive/);
    const gz = gzipSync(good);
    writeFileSync(p, gz.subarray(0, gz.length - 10));
    await expect(extractTar(p, dir)).rejects.toThrow(/x\.tar: corrupt gzip stream \(unexpected end of file\)/);
    const flipped = Buffer.from(gz);
    flipped.fill(0x33, 10, 30);
    writeFileSync(p, flipped);
    await expect(extractTar(p, dir)).rejects.toThrow(/x\.tar: corrupt gzip stream/);
  });
});
