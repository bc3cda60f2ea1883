// Shared by the benchmarks: medians, result files merged section by section, and the marked
// sections of docs/BENCHMARKS.md that each benchmark rewrites.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { writeFileAtomic } from '../src/util/atomic.js';
import { getNumThreads, noGrad, rand, setNumThreads, tidy } from '../src/tensor/index.js';

export function median(xs: number[]): number {
  if (xs.length === 0) throw new Error('median of no values');
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

export function round(x: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

export type Results = Record<string, unknown>;

export function loadResults(path: string): Results {
  return existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as Results) : {};
}

/** Merges entries into a results file with the machine description, so an interrupted run keeps what it measured. */
export function saveResults(path: string, results: Results, entries: Results, machine: Results): void {
  Object.assign(results, entries, {
    cpu: cpus()[0]?.model ?? 'unknown',
    ...machine,
    date: new Date().toISOString().slice(0, 10),
  });
  mkdirSync('bench/results', { recursive: true });
  writeFileAtomic(path, Buffer.from(JSON.stringify(results, null, 2) + '\n'));
}

/** Replaces the `<!-- name:start -->…<!-- name:end -->` section of docs/BENCHMARKS.md (appending it when absent). */
export function updateDocSection(name: string, body: string, script = name): void {
  const path = 'docs/BENCHMARKS.md';
  const doc = readFileSync(path, 'utf8');
  const section = `<!-- ${name}:start (written by bench/${script}.ts) -->\n${body}\n<!-- ${name}:end -->`;
  const re = new RegExp(`<!-- ${name}:start[\\s\\S]*?<!-- ${name}:end -->`);
  writeFileAtomic(path, Buffer.from(re.test(doc) ? doc.replace(re, section) : `${doc.trimEnd()}\n\n${section}\n`));
}

/**
 * The environment for a PyTorch reference process on `threads` threads. Debian's PyTorch does its
 * dense products in OpenBLAS, whose pool ignores torch.set_num_threads (measured: a 2048² float32
 * product at set_num_threads(1) runs at 69 GFLOP/s on both cores of a 2-core machine, 39 with
 * OPENBLAS_NUM_THREADS=1); our engine bounds that pool too, so the reference must be bounded alike.
 */
export function referenceEnv(threads: number): NodeJS.ProcessEnv {
  return { ...process.env, OPENBLAS_NUM_THREADS: String(threads) };
}

export interface GemmProbe {
  /** float32 matrix-product throughput on one libtorch thread (GFLOP/s). */
  gflops_1t: number;
  /** The same on `threads` threads. */
  gflops: number;
  threads: number;
}

/**
 * The machine's float32 matrix-product throughput through the engine, on one thread and on
 * `threads`: the ceiling of every compute-bound figure in a benchmark, and a check that the cores
 * are real (on two physical cores the rate nearly doubles; on two virtual CPUs that share one
 * core's floating-point units it does not). Run it on a quiet machine, as the benchmarks are.
 */
export function probeGemm(threads: number, size = 2048, reps = 3): GemmProbe {
  const before = getNumThreads();
  const rate = (t: number): number => {
    setNumThreads(t);
    return noGrad(() =>
      tidy(() => {
        const a = rand([size, size]);
        const b = rand([size, size]);
        a.matmul(b).dispose(); // warm-up
        const times: number[] = [];
        for (let r = 0; r < reps; r++) {
          const t0 = performance.now();
          a.matmul(b).dispose();
          times.push((performance.now() - t0) / 1000);
        }
        return (2 * size ** 3) / median(times) / 1e9;
      }),
    );
  };
  try {
    const one = rate(1);
    return { gflops_1t: round(one), gflops: threads === 1 ? round(one) : round(rate(threads)), threads };
  } finally {
    setNumThreads(before);
  }
}

/** "float32 GEMM 62.8 GFLOP/s on one thread, 67.1 on 2 (×1.07)", or '' when not probed. */
export function gemmNote(probe: unknown): string {
  const p = probe as GemmProbe | undefined;
  if (!p || typeof p.gflops_1t !== 'number') return '';
  if (p.threads === 1) return `float32 GEMM ${p.gflops_1t} GFLOP/s on one thread`;
  return `float32 GEMM ${p.gflops_1t} GFLOP/s on one thread, ${p.gflops} on ${p.threads} (×${(p.gflops / p.gflops_1t).toFixed(2)})`;
}
