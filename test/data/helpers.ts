// Shared helpers for the data tests: per-test temp folders, the fixtures folder, and image sets built from formulas.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach } from 'vitest';
import type { ImageSet } from '../../src/data/imageset.js';

export const FIXTURES = fileURLToPath(new URL('./fixtures/', import.meta.url));

/** Returns a maker of temp folders under os.tmpdir() that are removed after each test. */
export function useTempDirs(): () => string {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  return () => {
    const d = mkdtempSync(join(tmpdir(), 'semipoison-data-'));
    dirs.push(d);
    return d;
  };
}

/** An image set whose pixel (i, y, x, c) is pixel(i, y, x, c) & 255. */
export function makeSet(
  n: number,
  height: number,
  width: number,
  channels: number,
  pixel: (i: number, y: number, x: number, c: number) => number,
  labels: number[] | null = null,
  numClasses = 10,
): ImageSet {
  const images = new Uint8Array(n * height * width * channels);
  let k = 0;
  for (let i = 0; i < n; i++) {
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        for (let c = 0; c < channels; c++) images[k++] = pixel(i, y, x, c) & 255;
      }
    }
  }
  return { images, n, height, width, channels, labels: labels === null ? null : Int32Array.from(labels), numClasses };
}

/** Byte equality of two typed arrays; much faster than toEqual on large arrays. */
export function sameBytes(a: ArrayBufferView, b: ArrayBufferView): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}
