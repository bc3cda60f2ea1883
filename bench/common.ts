// Shared by the benchmarks: medians, result files merged section by section, and the marked
// sections of docs/BENCHMARKS.md that each benchmark rewrites.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { writeFileAtomic } from '../src/util/atomic.js';

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
