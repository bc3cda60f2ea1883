// Tests of the PNG folder reader and writer (flat and class-subfolder layouts, gray and RGB).
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { pixelIndex, subset } from '../../src/data/imageset.js';
import { readPngFolder, writePngFolder } from '../../src/data/pngfolder.js';
import { makeSet, useTempDirs } from './helpers.js';

const rgb = makeSet(4, 6, 8, 3, (i, y, x, c) => i * 50 + y * 20 + x * 3 + c * 80, [0, 2, 2, 1]);

async function png(path: string, width: number, height: number, channels: 1 | 3 | 4, value: number): Promise<void> {
  mkdirSync(dirname(path), { recursive: true });
  const raw = new Uint8Array(width * height * channels).fill(value);
  await sharp(raw, { raw: { width, height, channels } }).png().toFile(path);
}

describe('PNG folders', () => {
  const tmp = useTempDirs();

  it('round-trips a flat RGB folder with zero-padded names, atomically', async () => {
    const root = tmp();
    const dir = join(root, 'out');
    await writePngFolder(dir, rgb);
    expect(readdirSync(dir)).toEqual(['00000.png', '00001.png', '00002.png', '00003.png']);
    expect(readdirSync(root)).toEqual(['out']);
    const back = await readPngFolder(dir);
    expect([back.n, back.height, back.width, back.channels]).toEqual([4, 6, 8, 3]);
    expect(back.labels).toBeNull();
    expect(back.images).toEqual(rgb.images);
    expect(back.files).toEqual(['00000.png', '00001.png', '00002.png', '00003.png']);
    await expect(writePngFolder(dir, rgb)).rejects.toThrow(`${dir}: already exists (pass overwrite to replace it)`);
    await writePngFolder(dir, subset(rgb, [3]), { overwrite: true, names: ['last'] });
    expect(readdirSync(dir)).toEqual(['last.png']);
    expect(readdirSync(root)).toEqual(['out']);
  });

  it('writes class subfolders that read back as labels', async () => {
    const dir = join(tmp(), 'classes');
    await writePngFolder(dir, rgb, { byClass: true });
    expect(readdirSync(dir)).toEqual(['0', '1', '2']);
    expect(readdirSync(join(dir, '2'))).toEqual(['00001.png', '00002.png']);
    const back = await readPngFolder(dir);
    expect(Array.from(back.labels!)).toEqual([0, 1, 2, 2]);
    expect(back.numClasses).toBe(3);
    expect(back.images).toEqual(subset(rgb, [0, 3, 1, 2]).images);
    // Each image's file, relative to the folder, in reading order; a subset keeps its images' names.
    expect(back.files).toEqual(['0/00000.png', '1/00003.png', '2/00001.png', '2/00002.png']);
    expect(subset(back, [2, 0]).files).toEqual(['2/00001.png', '0/00000.png']);
    expect((await readPngFolder(dir, { numClasses: 10 })).numClasses).toBe(10);
    await expect(readPngFolder(dir, { numClasses: 2 })).rejects.toThrow(/2: label 2 out of range 0\.\.1/);
  });

  it('sorts named class folders into class indices and numeric names by value', async () => {
    const named = tmp();
    await png(join(named, 'dog', 'a.png'), 3, 2, 3, 10);
    await png(join(named, 'cat', 'b.png'), 3, 2, 3, 20);
    await png(join(named, 'cat', 'a.png'), 3, 2, 3, 30);
    const set = await readPngFolder(named);
    expect(set.classNames).toEqual(['cat', 'dog']);
    expect(Array.from(set.labels!)).toEqual([0, 0, 1]);
    expect([set.images[0], set.images[18], set.images[36]]).toEqual([30, 20, 10]);
    const numeric = tmp();
    await png(join(numeric, '10', '2.png'), 2, 2, 3, 1);
    await png(join(numeric, '10', '10.png'), 2, 2, 3, 2);
    await png(join(numeric, '9', 'x.png'), 2, 2, 3, 3);
    const num = await readPngFolder(numeric);
    expect(Array.from(num.labels!)).toEqual([10, 10, 9]);
    expect(num.numClasses).toBe(11);
    // files sort by number within a folder: 2.png before 10.png
    expect([num.images[0], num.images[12]]).toEqual([1, 2]);
  });

  it('reads grayscale or RGB as asked, defaulting to the first image', async () => {
    const dir = join(tmp(), 'gray');
    const gray = makeSet(2, 5, 4, 1, (i, y, x) => i * 100 + y * 10 + x);
    await writePngFolder(dir, gray);
    const g = await readPngFolder(dir);
    expect(g.channels).toBe(1);
    expect(g.images).toEqual(gray.images);
    const asRgb = await readPngFolder(dir, { channels: 3 });
    expect(asRgb.channels).toBe(3);
    expect(asRgb.images[pixelIndex(asRgb, 1, 2, 3, 2)]).toBe(gray.images[pixelIndex(gray, 1, 2, 3)]);
    const rgba = tmp();
    await png(join(rgba, 'a.png'), 2, 2, 4, 200);
    const noAlpha = await readPngFolder(rgba);
    expect(noAlpha.channels).toBe(3);
    expect((await readPngFolder(rgba, { channels: 1 })).images).toEqual(new Uint8Array(4).fill(200));
  });

  it('reports mixed sizes, mixed layouts, empty folders, bad PNGs and bad names', async () => {
    const sizes = tmp();
    await png(join(sizes, 'a.png'), 4, 4, 3, 0);
    await png(join(sizes, 'b.png'), 5, 4, 3, 0);
    await expect(readPngFolder(sizes)).rejects.toThrow(
      `${join(sizes, 'b.png')}: size mismatch: 5×4, but ${join(sizes, 'a.png')} is 4×4`,
    );
    mkdirSync(join(sizes, 'sub'));
    await expect(readPngFolder(sizes)).rejects.toThrow(/mixes PNG files with subfolders/);
    const empty = tmp();
    await expect(readPngFolder(empty)).rejects.toThrow(`${empty}: no PNG images found`);
    await expect(readPngFolder(join(empty, 'nope'))).rejects.toThrow(/cannot read the PNG folder/);
    const broken = tmp();
    writeFileSync(join(broken, 'a.png'), 'not a png');
    await expect(readPngFolder(broken, { channels: 3 })).rejects.toThrow(/a\.png: cannot decode PNG/);
    await expect(readPngFolder(broken)).rejects.toThrow(/a\.png: cannot decode PNG/);
    const out = tmp();
    await expect(writePngFolder(join(out, 'x'), subset(rgb, [0, 1]), { names: ['a', 'a'] })).rejects.toThrow(
      /image names are not unique/,
    );
    await expect(writePngFolder(join(out, 'x'), subset(rgb, [0]), { names: ['../a'] })).rejects.toThrow(
      /invalid image name/,
    );
    await expect(writePngFolder(join(out, 'x'), { ...rgb, labels: null }, { byClass: true })).rejects.toThrow(
      /byClass needs labels/,
    );
    expect(readdirSync(out)).toEqual([]);
  });
});
