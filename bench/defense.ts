// `make bench` (defense part): the three detectors on a Fashion-MNIST-sized unlabeled set of 60,000
// examples (the training images, of which the last 1% are replaced by a linear bridge of poisons),
// each in its own process so that its peak RSS is its own, then the three pixel detectors in one scan
// sharing their nearest-neighbour pass; and scikit-learn's
// AgglomerativeClustering side by side, at growing N up to the largest it handles within the time
// and memory limits. The dynamics scan runs on a synthetic K-epoch prediction log of the same size
// (its cost depends on the shape only).
// Writes bench/results/defense.json and the defense section of docs/BENCHMARKS.md.
import { execFileSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { Command } from 'commander';
import { craftPoisons } from '../src/attack/index.js';
import { concatImageSets, imagesToUnit, loadDataset, splitDataset, subset } from '../src/data/index.js';
import {
  autoFlags,
  clusterScores,
  collinearScores,
  distanceGemm,
  dynamicsScores,
  evaluateFlags,
  flagRates,
  SCAN_DEFAULTS,
  scanSets,
  unionFlags,
  thresholdFlags,
  type Evaluation,
} from '../src/defense/index.js';
import { manualSeed, noGrad, randn, setNumThreads, tidy } from '../src/tensor/index.js';
import { gemmNote, loadResults, probeGemm, round, saveResults, updateDocSection } from './common.js';

const opts = new Command()
  .option('--threads <n>', 'libtorch threads', String(availableParallelism()))
  .option('--n <n>', 'unlabeled examples', '60000')
  .option('--epochs <k>', 'epochs of the synthetic prediction log', '30')
  .option(
    '--only <sections>',
    'comma-separated subset of dynamics,collinearity,clustering,pixels,sklearn',
    'dynamics,collinearity,clustering,pixels,sklearn',
  )
  .option('--sklearn-sizes <list>', 'N values tried for scikit-learn, ascending', '5000,10000,20000,30000,45000,60000')
  .option('--sklearn-timeout <s>', 'seconds allowed per scikit-learn fit', '900')
  .option('--child <section>', 'internal: run one section in this process and print JSON')
  .parse()
  .opts<{
    threads: string;
    n: string;
    epochs: string;
    only: string;
    sklearnSizes: string;
    sklearnTimeout: string;
    child?: string;
  }>();
const threads = Number(opts.threads);
const n = Number(opts.n);
setNumThreads(threads);

interface Measured {
  seconds: number;
  peak_rss_mb: number;
  /** AUROC is absent for a union of several detectors' flags (no single score). */
  evaluation?: Pick<Evaluation, 'tpr' | 'fpr'> & { auroc?: number };
}

/** 60,000 images: the training set with its last 1% replaced by a bridge, and the ground truth. */
async function poisonedSet() {
  const train = await loadDataset('fashion-mnist', 'train');
  const test = await loadDataset('fashion-mnist', 'test');
  const count = Math.round(0.01 * n);
  const clean = subset(
    train,
    Array.from({ length: n - count }, (_, i) => i),
  );
  const split = splitDataset(train, { labels: 40, seed: 0 });
  const crafted = craftPoisons(
    { test, labeled: split.labeled, unlabeledSize: n - count },
    { targetIndex: 9, desired: 1, count, seed: 0 },
  );
  const all = concatImageSets([clean, crafted.poisons]);
  const truth = new Uint8Array(all.n).fill(1, clean.n);
  return { all, truth };
}

async function child(section: string): Promise<Measured> {
  if (section === 'dynamics') {
    manualSeed(0);
    const log = tidy(() =>
      randn([Number(opts.epochs), n, 10])
        .mul(3)
        .softmax(2),
    );
    const t0 = performance.now();
    dynamicsScores(log);
    return { seconds: (performance.now() - t0) / 1000, peak_rss_mb: process.resourceUsage().maxRSS / 1024 };
  }
  const { all, truth } = await poisonedSet();
  if (section === 'pixels') {
    // The three pixel detectors as `scan --method collinear,cluster,duplicates` runs them: one shared
    // nearest-neighbour pass, then each detector's own scoring and flags; the union is removed.
    const t0 = performance.now();
    const scans = scanSets(
      (['collinear', 'cluster', 'duplicates'] as const).map((method) => ({
        ...SCAN_DEFAULTS,
        method,
        linkage: 'average' as const,
      })),
      { set: all },
    );
    const seconds = (performance.now() - t0) / 1000;
    const { tpr, fpr } = flagRates(
      unionFlags(
        scans.map((sc) => sc.flags),
        all.n,
      ),
      truth,
    );
    return {
      seconds,
      peak_rss_mb: process.resourceUsage().maxRSS / 1024,
      evaluation: { tpr, fpr },
    };
  }
  const pixels = tidy(() => imagesToUnit(all).flatten(1));
  const t0 = performance.now();
  const evaluation = noGrad(() => {
    if (section === 'collinearity') {
      const s = collinearScores(pixels, { quantum: 1 / 255 }); // 8-bit images in [0, 1], as `scan` runs it
      return evaluateFlags(s, 'low', autoFlags(s, 'low'), truth);
    }
    const { scores, clustering } = clusterScores(pixels, { linkage: 'average' });
    return evaluateFlags(scores, 'high', thresholdFlags(scores, 'high', Math.max(clustering.sizes[0], 3)), truth);
  });
  const seconds = (performance.now() - t0) / 1000;
  return {
    seconds,
    peak_rss_mb: process.resourceUsage().maxRSS / 1024,
    evaluation: { tpr: evaluation.tpr, fpr: evaluation.fpr, auroc: evaluation.auroc },
  };
}

function runChild(section: string): Measured {
  const out = execFileSync(
    process.execPath,
    [
      ...process.execArgv,
      process.argv[1],
      '--child',
      section,
      '--threads',
      String(threads),
      '--n',
      String(n),
      '--epochs',
      opts.epochs,
    ],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 20 },
  );
  return JSON.parse(out.trim().split('\n').pop() ?? '{}') as Measured;
}

interface SklearnRun {
  n: number;
  seconds: number;
  peak_rss_mb: number;
}

function runSklearn(size: number): SklearnRun | string {
  try {
    const out = execFileSync('/usr/bin/python3', ['bench/sklearn_agglomerative.py', String(size), String(threads)], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: Number(opts.sklearnTimeout) * 1000,
      maxBuffer: 1 << 20,
    });
    return JSON.parse(out.trim().split('\n').pop() ?? '{}') as SklearnRun;
  } catch (e) {
    const err = e as { signal?: string; stderr?: string };
    if (err.signal === 'SIGTERM') return `over ${opts.sklearnTimeout} s`;
    const last =
      String(err.stderr ?? e)
        .trim()
        .split('\n')
        .pop() ?? '';
    return last.includes('MemoryError') || err.signal === 'SIGKILL' ? 'out of memory' : last;
  }
}

const RESULTS = 'bench/results/defense.json';

async function main(): Promise<void> {
  if (opts.child) {
    console.log(JSON.stringify(await child(opts.child)));
    return;
  }
  const results = loadResults(RESULTS);
  // The GEMM probe first, while the machine is quiet: every detector here is bound by matrix products.
  // Which product the detectors' distances take on this CPU (each child process times both itself).
  const machine = {
    threads,
    n,
    gemm: probeGemm(threads),
    distance_gemm: distanceGemm(),
    command: 'npx tsx bench/defense.ts',
  };
  const sections = new Set(opts.only.split(',').map((s) => s.trim()));
  for (const section of ['dynamics', 'collinearity', 'clustering', 'pixels'] as const) {
    if (!sections.has(section)) continue;
    const m = runChild(section);
    process.stderr.write(`${section}: ${round(m.seconds)} s, peak RSS ${round(m.peak_rss_mb)} MB\n`);
    saveResults(
      RESULTS,
      results,
      { [section]: { ...m, seconds: round(m.seconds, 2), peak_rss_mb: round(m.peak_rss_mb) } },
      machine,
    );
  }
  if (sections.has('sklearn')) {
    let best: SklearnRun | null = null;
    let stoppedBy = '';
    for (const size of opts.sklearnSizes.split(',').map(Number)) {
      const r = runSklearn(size);
      if (typeof r === 'string') {
        stoppedBy = `N = ${size}: ${r}`;
        process.stderr.write(`scikit-learn ${stoppedBy}\n`);
        break;
      }
      process.stderr.write(`scikit-learn N = ${size}: ${round(r.seconds)} s, peak RSS ${round(r.peak_rss_mb)} MB\n`);
      best = r;
    }
    if (best) {
      saveResults(
        RESULTS,
        results,
        {
          sklearn_agglomerative: {
            ...best,
            seconds: round(best.seconds, 2),
            peak_rss_mb: round(best.peak_rss_mb),
            stopped_by: stoppedBy || null,
          },
        },
        machine,
      );
    }
  }
  updateDoc(results);
  console.log(JSON.stringify(results, null, 2));
}

/** Which product computed the distances, with the rates that chose it. */
function distanceNote(probe: unknown): string {
  const p = probe as ReturnType<typeof distanceGemm> | undefined;
  if (!p) return 'Distances: by BLAS (addmm; the product was not recorded).';
  const name = p.gemm === 'onednn' ? 'oneDNN (aten::mkldnn_linear)' : 'BLAS (addmm)';
  if (!p.gflops) return `Distances: by ${name}, pinned or the only product this libtorch has.`;
  return `Distances: by ${name}, the faster on a 512 × 2048 × 784 probe (oneDNN ${p.gflops.onednn}, BLAS ${p.gflops.blas} GFLOP/s).`;
}

function updateDoc(r: Record<string, unknown>): void {
  const row = (name: string, key: string, target: string): string => {
    const m = r[key] as Measured | undefined;
    if (!m) return `| ${name} | not measured | | ${target} | |`;
    const ev = m.evaluation
      ? `TPR ${(100 * m.evaluation.tpr).toFixed(1)}%, FPR ${(100 * m.evaluation.fpr).toFixed(2)}%` +
        (m.evaluation.auroc === undefined ? ' (union of the flags)' : `, AUROC ${m.evaluation.auroc.toFixed(3)}`)
      : 'synthetic log (timing only)';
    return `| ${name} | ${m.seconds} | ${m.peak_rss_mb} | ${target} | ${ev} |`;
  };
  const sk = r.sklearn_agglomerative as (SklearnRun & { stopped_by: string | null }) | undefined;
  updateDocSection(
    'defense',
    [
      `Machine: ${String(r.cpu ?? 'not measured')}, ${String(r.threads ?? threads)} threads${gemmNote(r.gemm) ? `, ${gemmNote(r.gemm)}` : ''}; ${String(r.date ?? '')}; command \`npx tsx bench/defense.ts\`.`,
      distanceNote(r.distance_gemm),
      `N = ${String(r.n ?? n)} Fashion-MNIST-sized examples (784 pixels; the training images, the last 1% replaced by a linear bridge).`,
      '',
      '| detector | seconds | peak RSS (MB) | target | detection on the planted bridge |',
      '|---|---|---|---|---|',
      row(`training dynamics (K = ${opts.epochs} epochs, k = 5)`, 'dynamics', '≤ 30 s'),
      row('collinearity (k = 8 neighbours)', 'collinearity', '≤ 60 s'),
      row('agglomerative clustering (average linkage, 10-NN graph)', 'clustering', '≤ 60 s, ≤ 2048 MB'),
      row('all three pixel detectors in one scan (one shared 10-NN pass)', 'pixels', '–'),
      sk
        ? `| scikit-learn AgglomerativeClustering (average linkage, full distances), N = ${sk.n} | ${sk.seconds} | ${sk.peak_rss_mb} | reference | largest N handled${sk.stopped_by ? `; ${sk.stopped_by}` : ''} |`
        : '| scikit-learn AgglomerativeClustering | not measured | | reference | |',
    ].join('\n'),
  );
}

await main();
