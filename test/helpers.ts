// Shared test helpers: fixture loading, numeric comparison and tiny synthetic image sets.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import type { ImageSet } from '../src/data/index.js';
import { loadSafetensors, type Tensor } from '../src/tensor/index.js';

export const FIXTURES = join(fileURLToPath(new URL('.', import.meta.url)), 'fixtures');

export function loadFixture(name: string): Record<string, Tensor> {
  return loadSafetensors(join(FIXTURES, `${name}.safetensors`)).tensors;
}

/** Asserts same shape and |a − b| ≤ atol + rtol·|b| elementwise, reporting the worst element. */
export function expectClose(actual: Tensor, expected: Tensor, atol = 1e-5, rtol = 1e-4, what = 'tensor'): void {
  expect([...actual.shape], `${what} shape`).toEqual([...expected.shape]);
  const a = actual.toFloat32();
  const b = expected.toFloat32();
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < a.length; i++) {
    const excess = Math.abs(a[i] - b[i]) - (atol + rtol * Math.abs(b[i]));
    if (!(excess <= 0) && (worst < 0 || excess > worstExcess || Number.isNaN(excess))) {
      worst = i;
      worstExcess = excess;
    }
  }
  if (worst >= 0) {
    expect.fail(`${what}: element ${worst} is ${a[worst]}, expected ${b[worst]} (atol ${atol}, rtol ${rtol})`);
  }
}

/** A seeded set of 8×8 grey images of two classes (pixels from a fixed linear congruential sequence). */
export function tinyImages(n: number, seed: number, labeled: boolean): ImageSet {
  const data = new Uint8Array(n * 64);
  let x = seed;
  for (let i = 0; i < data.length; i++) data[i] = (x = (x * 1103515245 + 12345) % 2 ** 31) >> 23;
  const labels = labeled ? Int32Array.from({ length: n }, (_, i) => i % 2) : null;
  return { images: data, n, height: 8, width: 8, channels: 1, labels, numClasses: 2 };
}
