import { describe, expect, it } from 'vitest';
import { gemmNote, probeGemm, referenceEnv } from '../../bench/common.js';
import { getNumThreads, setNumThreads } from '../../src/tensor/index.js';

describe('benchmark machine probe', () => {
  it('measures the matrix-product rate on one and on n threads and restores the thread count', () => {
    const before = getNumThreads();
    setNumThreads(1);
    try {
      const p = probeGemm(2, 256, 1);
      expect(p.threads).toBe(2);
      expect(p.gflops_1t).toBeGreaterThan(0);
      expect(p.gflops).toBeGreaterThan(0);
      expect(getNumThreads()).toBe(1);
      const one = probeGemm(1, 128, 1);
      expect(one.gflops).toBe(one.gflops_1t);
    } finally {
      setNumThreads(before);
    }
  });

  it('describes a probe for the machine line, and nothing for a results file without one', () => {
    expect(gemmNote({ gflops_1t: 37.5, gflops: 74.1, threads: 2 })).toBe(
      'float32 GEMM 37.5 GFLOP/s on one thread, 74.1 on 2 (×1.98)',
    );
    expect(gemmNote({ gflops_1t: 37.5, gflops: 37.5, threads: 1 })).toBe('float32 GEMM 37.5 GFLOP/s on one thread');
    expect(gemmNote(undefined)).toBe('');
  });

  it('bounds the reference process’s OpenBLAS pool to the same thread count', () => {
    expect(referenceEnv(3).OPENBLAS_NUM_THREADS).toBe('3');
    expect(referenceEnv(1).PATH).toBe(process.env.PATH);
  });
});
