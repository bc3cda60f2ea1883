// Shared test helpers: fixture loading and numeric comparison.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
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
