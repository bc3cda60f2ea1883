// `make bench` (trainer part), issue targets of the trainers:
//   step:     one full FixMatch step (sampling, weak + RandAugment augmentation, forward/backward of
//             B + 2μB images, SGD, EMA) against PyTorch with per-image PIL augmentation in a
//             DataLoader (bench/pytorch_fixmatch.py), same model, same machine, same run;
//   accuracy: every algorithm on Fashion-MNIST with 40 and 250 labels at a fixed CPU budget, next to
//             the supervised baseline on the same labels. Each run is recorded as it finishes, so an
//             interrupted benchmark resumes where it stopped (--redo reruns recorded entries).
// Writes bench/results/trainers.json and the trainer sections of docs/BENCHMARKS.md.
import { execFileSync, spawn } from 'node:child_process';
import { availableParallelism, cpus } from 'node:os';
import { Command, Option } from 'commander';
import { loadDataset, splitDataset } from '../src/data/index.js';
import { ALGORITHMS, train, type AlgorithmName, type TrainOptions } from '../src/ssl/index.js';
import { randAugment, weakAugment } from '../src/data/augment.js';
import { imagesToUnit } from '../src/data/tensors.js';
import { precision } from '../src/cli/options.js';
import { cpuHasNativeBf16, resolveBf16, setFlushDenormal, setNumThreads, tidy } from '../src/tensor/index.js';
import {
  gemmNote,
  loadResults,
  median,
  probeGemm,
  referenceEnv,
  round,
  saveResults,
  updateDocSection,
} from './common.js';

const opts = new Command()
  .option('--threads <n>', 'libtorch threads (and PyTorch threads)', String(availableParallelism()))
  .option(
    '--only <sections>',
    'comma-separated subset of step,accuracy,target (none: only rewrite the doc)',
    'step,accuracy,target',
  )
  .option('--algorithms <names>', 'algorithms of the accuracy table', Object.keys(ALGORITHMS).join(','))
  .option('--labels <counts>', 'label counts of the accuracy table', '40,250')
  .option('--steps <n>', 'training steps of each accuracy run', '6000')
  .option('--width <n>', 'CNN width of the accuracy runs', '32')
  .option('--batch <n>', 'labeled batch of the accuracy runs', '32')
  .option('--uratio <n>', 'μ of the accuracy runs', '3')
  .option('--step-warmup <n>', 'untimed steps before timing the FixMatch step', '5')
  .option('--step-count <n>', 'timed FixMatch steps', '20')
  .option(
    '--target-minutes <m>',
    'the FixMatch@250 target run (section target, all threads) takes as many steps as a calibration run says fit in this many minutes',
    '29.5',
  )
  .option('--target-steps <n>', 'instead of --target-minutes: a fixed step count for the target run')
  .option('--target-seed <n>', "the target run's training seed (its labeled split is always seed 0's)", '0')
  .option('--target-width <n>', 'CNN width of the target run', '16')
  .option('--target-threshold <x>', 'FixMatch confidence threshold of the target run', '0.8')
  .addOption(
    new Option('--target-strong <aug>', 'strong augmentation of the target run')
      .choices(['randaugment', 'ctaugment'])
      .default('ctaugment'),
  )
  .option(
    '--precision <p>',
    'auto (bfloat16 autocast where the CPU has it natively), bf16 or fp32: our runs, and the PyTorch step also in it',
    precision,
    'auto' as const,
  )
  .option('--redo', 'rerun accuracy entries already recorded', false)
  .option('--jobs <n>', 'accuracy runs trained at once, in child processes sharing the threads', '1')
  .option('--run-one <key>', 'train one accuracy run (algorithm@labels), print its entry as JSON, record nothing')
  .parse()
  .opts<{
    threads: string;
    only: string;
    algorithms: string;
    labels: string;
    steps: string;
    width: string;
    batch: string;
    uratio: string;
    stepWarmup: string;
    stepCount: string;
    targetSteps?: string;
    targetMinutes: string;
    targetSeed: string;
    targetWidth: string;
    targetThreshold: string;
    targetStrong: 'randaugment' | 'ctaugment';
    precision: boolean | 'auto';
    redo: boolean;
    jobs: string;
    runOne?: string;
  }>();
const sections = new Set(opts.only.split(',').map((s) => s.trim()));
/** Whether our runs (and the second PyTorch step measurement) use bfloat16 autocast. */
const bf16 = resolveBf16(opts.precision);
const precisionName = bf16 ? 'bfloat16 autocast' : 'float32';
const threads = Number(opts.threads);
setNumThreads(threads);
setFlushDenormal(true);

const RESULTS = 'bench/results/trainers.json';
const results = loadResults(RESULTS);
/** The GEMM probe runs first, while the machine is quiet (not in the one-run child processes). */
const machine = opts.runOne ? { threads } : { threads, gemm: probeGemm(threads) };
/** Where and how a section's entry was measured: sections run on different days and machines. */
const measuredWith = (): MeasuredWith => ({
  cpu: cpus()[0]?.model ?? 'unknown',
  native_bf16: cpuHasNativeBf16(),
  precision: bf16 ? 'bf16' : 'fp32',
  threads,
  date: new Date().toISOString().slice(0, 10),
});
const log = (line: string): void => void process.stderr.write(`${line}\n`);

const fashion = {
  train: await loadDataset('fashion-mnist', 'train'),
  test: await loadDataset('fashion-mnist', 'test'),
};

/** Our FixMatch step at the paper's batch (B = 64, μ = 7) on the CNN, from step timestamps. */
async function timeOurStep(warmup: number, count: number): Promise<number> {
  const split = splitDataset(fashion.train, { labels: 250, seed: 0 });
  const stamps: number[] = [];
  await train(
    {
      algorithm: 'fixmatch',
      model: 'cnn',
      width: 32,
      steps: warmup + count + 1,
      batchSize: 64,
      uratio: 7,
      seed: 0,
      bf16,
    },
    { labeled: split.labeled, unlabeled: split.unlabeled, test: null },
    { onStep: () => void stamps.push(performance.now()) },
  );
  const deltas = stamps.slice(warmup).map((t, i, a) => (i === 0 ? NaN : t - a[i - 1]));
  return median(deltas.filter((d) => Number.isFinite(d)));
}

/** Building one unlabeled batch: μB = 448 images, a weak view and a strong (weak + RandAugment) view of each. */
function timeOurAugment(warmup: number, count: number): number {
  const images = imagesToUnit(
    fashion.train,
    Array.from({ length: 448 }, (_, i) => i),
  );
  const ms: number[] = [];
  for (let r = 0; r < warmup + count; r++) {
    const t0 = performance.now();
    tidy(() => {
      weakAugment(images).data();
      randAugment(weakAugment(images)).data();
    });
    if (r >= warmup) ms.push(performance.now() - t0);
  }
  images.dispose();
  return median(ms);
}

function timePytorch(
  workers: number,
  warmup: number,
  count: number,
  mode: 'step' | 'augment',
  pytorchBf16 = false,
): number {
  const out = execFileSync(
    '/usr/bin/python3',
    [
      'bench/pytorch_fixmatch.py',
      String(threads),
      String(workers),
      '64',
      '7',
      '32',
      String(warmup),
      String(count),
      ...(mode === 'augment' ? ['augment'] : []),
    ],
    {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...referenceEnv(threads), BENCH_BF16: pytorchBf16 ? '1' : '0' },
    },
  );
  return (JSON.parse(out.trim().split('\n').pop() ?? '{}') as { median_ms: number }).median_ms;
}

async function stepSection(): Promise<void> {
  const warmup = Number(opts.stepWarmup);
  const count = Number(opts.stepCount);
  const ours = await timeOurStep(warmup, count);
  log(`ours: ${round(ours)} ms per FixMatch step`);
  // The DataLoader without worker processes, with one, and with one per thread: the fastest is the
  // reference.
  const byWorkers: Record<string, number> = {};
  for (const workers of [...new Set([0, 1, threads])]) {
    byWorkers[String(workers)] = round(timePytorch(workers, warmup, count, 'step'));
    log(`PyTorch, ${workers} DataLoader workers: ${byWorkers[String(workers)]} ms per step`);
  }
  const pytorch = Math.min(...Object.values(byWorkers));
  // With bfloat16 on our side, PyTorch's own bfloat16 autocast step too (with its fastest loader):
  // the same-precision comparison beside the one against the reference implementations as they run.
  let pytorchBf16: { workers: number; ms: number } | null = null;
  if (bf16) {
    const workers = Number(Object.entries(byWorkers).sort((a, b) => a[1] - b[1])[0][0]);
    pytorchBf16 = { workers, ms: round(timePytorch(workers, warmup, count, 'step', true)) };
    log(`PyTorch bfloat16 autocast, ${workers} DataLoader workers: ${pytorchBf16.ms} ms per step`);
  }
  const augOurs = timeOurAugment(warmup, count);
  const augPytorch = timePytorch(0, warmup, count, 'augment');
  log(`unlabeled batch augmentation: ours ${round(augOurs)} ms, PyTorch/PIL ${round(augPytorch)} ms`);
  saveResults(
    RESULTS,
    results,
    {
      fixmatch_step_vs_pytorch: {
        ours_ms: round(ours),
        pytorch_ms: pytorch,
        ratio: round(pytorch / ours, 2),
        pytorch_ms_by_dataloader_workers: byWorkers,
        ...(pytorchBf16
          ? {
              pytorch_bf16_ms: pytorchBf16.ms,
              pytorch_bf16_dataloader_workers: pytorchBf16.workers,
              ratio_vs_pytorch_bf16: round(pytorchBf16.ms / ours, 2),
            }
          : {}),
        setting: 'CNN width 32, Fashion-MNIST 28×28×1, B = 64, μ = 7, RandAugment + Cutout, EMA',
        threads,
        measured_with: measuredWith(),
      },
      unlabeled_batch_augmentation: {
        ours_ms: round(augOurs),
        pytorch_pil_ms: round(augPytorch),
        ratio: round(augPytorch / augOurs, 2),
      },
    },
    machine,
  );
}

interface AccuracyEntry {
  test_accuracy: number;
  minutes: number;
  steps: number;
}

/** What each accuracy run cost, beside the plain accuracies of `accuracy` (the issue's shape). */
interface RunCost {
  minutes: number;
  steps: number;
}

/** The results' `accuracy` ({"fixmatch@250": 0.87, ...}) and `accuracy_runs` (minutes and steps per key). */
function accuracyTables(): { accuracy: Record<string, number>; runs: Record<string, RunCost> } {
  const accuracy = (results.accuracy ?? {}) as Record<string, number>;
  const runs = (results.accuracy_runs ?? {}) as Record<string, RunCost>;
  results.accuracy = accuracy;
  results.accuracy_runs = runs;
  return { accuracy, runs };
}

interface Budget {
  steps: number;
  width: number;
  batch: number;
  uratio: number;
}

const tableBudget = (): Budget => ({
  steps: Number(opts.steps),
  width: Number(opts.width),
  batch: Number(opts.batch),
  uratio: Number(opts.uratio),
});

async function accuracyRun(
  algorithm: AlgorithmName,
  labels: number,
  budget: Budget = tableBudget(),
  params: Record<string, number> = {},
  strongAugment: TrainOptions['strongAugment'] = 'randaugment',
  seed = 0,
): Promise<AccuracyEntry> {
  const split = splitDataset(fashion.train, { labels, seed: 0 });
  const options: Partial<TrainOptions> = {
    algorithm,
    model: 'cnn',
    width: budget.width,
    steps: budget.steps,
    batchSize: budget.batch,
    uratio: budget.uratio,
    epochImages: budget.batch * budget.steps,
    seed,
    params,
    bf16,
    strongAugment,
  };
  const start = performance.now();
  let last = 0;
  const r = await train(
    options,
    { labeled: split.labeled, unlabeled: ALGORITHMS[algorithm].unlabeled ? split.unlabeled : null, test: fashion.test },
    {
      onStep: (s) => {
        if (s.step - last >= 500) {
          last = s.step;
          const minutes = (performance.now() - start) / 60000;
          log(
            `  ${algorithm}@${labels}: step ${s.step}/${s.steps} loss ${s.loss.toFixed(3)} (${minutes.toFixed(1)} min)`,
          );
        }
      },
    },
  );
  r.model.dispose();
  r.ema.dispose();
  if (r.testAccuracy === null) throw new Error(`${algorithm}@${labels}: no test accuracy`);
  return {
    test_accuracy: round(r.testAccuracy, 4),
    minutes: round((performance.now() - start) / 60000, 1),
    steps: budget.steps,
  };
}

/** The accuracy runs' settings, passed on to child processes. */
function accuracyArgs(): string[] {
  return [
    ...['--steps', opts.steps, '--width', opts.width, '--batch', opts.batch, '--uratio', opts.uratio],
    ...['--precision', bf16 ? 'bf16' : 'fp32'],
  ];
}

/** Trains one accuracy run in a child process with `childThreads` libtorch threads. */
async function accuracyRunChild(key: string, childThreads: number): Promise<AccuracyEntry> {
  const child = spawn(
    process.execPath,
    [...process.execArgv, process.argv[1], '--run-one', key, '--threads', String(childThreads), ...accuracyArgs()],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', resolve);
  });
  if (code !== 0) throw new Error(`${key}: the child process exited with code ${code}`);
  return JSON.parse(out.trim().split('\n').pop() ?? '') as AccuracyEntry;
}

function parseKey(key: string): { algorithm: AlgorithmName; labels: number } {
  const [algorithm, labels] = key.split('@');
  if (!(algorithm in ALGORITHMS) || !Number.isInteger(Number(labels)) || Number(labels) < 1) {
    throw new Error(`--run-one: expected algorithm@labels, got '${key}'`);
  }
  return { algorithm: algorithm as AlgorithmName, labels: Number(labels) };
}

async function accuracySection(): Promise<void> {
  const { accuracy, runs } = accuracyTables();
  const algorithms = opts.algorithms.split(',').map((s) => s.trim());
  for (const a of algorithms) if (!(a in ALGORITHMS)) throw new Error(`--algorithms: unknown '${a}'`);
  const jobs = Number(opts.jobs);
  if (!Number.isInteger(jobs) || jobs < 1) throw new Error(`--jobs: expected a positive integer, got '${opts.jobs}'`);
  const pending: string[] = [];
  for (const labels of opts.labels.split(',').map(Number)) {
    for (const algorithm of algorithms) {
      const key = `${algorithm}@${labels}`;
      if (accuracy[key] === undefined || opts.redo) pending.push(key);
    }
  }
  const record = (key: string, entry: AccuracyEntry): void => {
    accuracy[key] = entry.test_accuracy;
    runs[key] = { minutes: entry.minutes, steps: entry.steps };
    log(`${key}: ${(100 * entry.test_accuracy).toFixed(2)}% in ${entry.minutes} min`);
    saveResults(
      RESULTS,
      results,
      {
        accuracy,
        accuracy_runs: runs,
        accuracy_setting: `CNN width ${opts.width}, batch ${opts.batch}, μ ${opts.uratio}, ${opts.steps} steps, EMA model, full Fashion-MNIST test set, seed 0, ${precisionName}, on ${measuredWith().cpu}${jobs > 1 ? `; ${jobs} runs at a time, ${Math.max(1, Math.floor(threads / jobs))} thread(s) each` : ''}`,
      },
      machine,
    );
    updateDoc();
  };
  if (jobs === 1) {
    for (const key of pending) {
      const { algorithm, labels } = parseKey(key);
      log(`${key}: ${opts.steps} steps`);
      record(key, await accuracyRun(algorithm, labels));
    }
    return;
  }
  // A pool of child processes, each with its share of the threads (libtorch scales poorly past one
  // thread on small convolutions, so parallel runs finish the table sooner).
  const childThreads = Math.max(1, Math.floor(threads / jobs));
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < pending.length) {
      const key = pending[next++];
      log(`${key}: ${opts.steps} steps (child process, ${childThreads} thread(s))`);
      record(key, await accuracyRunChild(key, childThreads));
    }
  };
  await Promise.all(Array.from({ length: Math.min(jobs, pending.length) }, worker));
}

interface TargetEntry extends AccuracyEntry {
  width: number;
  batch: number;
  uratio: number;
  threads: number;
  /** The time budget the step count was calibrated to, and the calibration's milliseconds a step. */
  budget_minutes?: number;
  calibrated_ms_per_step?: number;
  /** The training seed (0 in entries recorded before it was an option). */
  seed?: number;
  /** FixMatch's confidence threshold (0.95 in entries recorded before it was an option). */
  threshold?: number;
  /** The strong augmentation (RandAugment in entries recorded before it was an option). */
  strong?: TrainOptions['strongAugment'];
  measured_with?: MeasuredWith;
}

interface MeasuredWith {
  cpu: string;
  native_bf16: boolean;
  precision: 'bf16' | 'fp32';
  threads: number;
  date: string;
}

/** "on <cpu> (native bfloat16: yes), bfloat16 autocast, 2026-11-26": where an entry was measured. */
function measuredNote(m: MeasuredWith): string {
  return (
    `on ${m.cpu} (native bfloat16: ${m.native_bf16 ? 'yes' : 'no'}), ` +
    `${m.precision === 'bf16' ? 'bfloat16 autocast' : 'float32'}, ${m.date}`
  );
}

/**
 * Steps skipped before a calibration times its steps, and steps timed. The first few hundred steps of
 * a run are ~20% slower than the rest (steps 50–300: 63.5 ms, 300–1500: 52.5–55 ms on the Xeon), and
 * a calibration timed over them sized runs that then finished minutes inside their budget.
 */
const CALIBRATION_WARMUP = 300;
const CALIBRATION_STEPS = 300;
/**
 * Share of a budget kept for what the calibration does not see: loading and the final test evaluation
 * (under a minute), and a long run's steps averaging slower than the calibration's (62–64 ms a step
 * over 19,500–27,000 steps against 53–58 ms calibrated, Xeon, 2 threads).
 */
const BUDGET_RESERVE = 0.15;

/** Milliseconds a training step of the target run's setting takes here, from a short run of it. */
async function calibrateStep(
  budget: Budget,
  threshold: number,
  strong: TrainOptions['strongAugment'],
): Promise<number> {
  const split = splitDataset(fashion.train, { labels: 250, seed: 0 });
  let start = 0;
  let end = 0;
  const r = await train(
    {
      algorithm: 'fixmatch',
      model: 'cnn',
      width: budget.width,
      steps: CALIBRATION_WARMUP + CALIBRATION_STEPS,
      batchSize: budget.batch,
      uratio: budget.uratio,
      epochImages: budget.batch * (CALIBRATION_WARMUP + CALIBRATION_STEPS),
      seed: 1,
      params: { threshold },
      bf16,
      strongAugment: strong,
    },
    { labeled: split.labeled, unlabeled: split.unlabeled, test: null },
    {
      onStep: (s) => {
        if (s.step === CALIBRATION_WARMUP) start = performance.now();
        if (s.step === CALIBRATION_WARMUP + CALIBRATION_STEPS) end = performance.now();
      },
    },
  );
  r.model.dispose();
  r.ema.dispose();
  return (end - start) / CALIBRATION_STEPS;
}

/** The steps of msPerStep that fit a budget of minutes, less the reserve, in whole hundreds. */
function stepsInBudget(minutes: number, msPerStep: number): number {
  return Math.floor((minutes * (1 - BUDGET_RESERVE) * 60_000) / msPerStep / 100) * 100;
}

/** FixMatch with 250 labels at a larger budget, on all threads: the ≥ 85% in ≤ 30 minutes target. */
async function targetSection(): Promise<void> {
  const budget: Budget = {
    steps: Number(opts.targetSteps ?? 0),
    width: Number(opts.targetWidth),
    batch: Number(opts.batch),
    uratio: Number(opts.uratio),
  };
  const threshold = Number(opts.targetThreshold);
  const strong = opts.targetStrong;
  const seed = Number(opts.targetSeed);
  if (!(Number.isInteger(seed) && seed >= 0)) {
    throw new Error(`--target-seed must be a non-negative integer, got '${opts.targetSeed}'`);
  }
  let calibration: { budget_minutes: number; calibrated_ms_per_step: number } | null = null;
  if (opts.targetSteps !== undefined && !(Number.isInteger(budget.steps) && budget.steps > 0)) {
    throw new Error(`--target-steps must be a positive integer, got '${opts.targetSteps}'`);
  }
  if (opts.targetSteps === undefined) {
    const minutes = Number(opts.targetMinutes);
    if (!(minutes > 0)) throw new Error(`--target-minutes must be a positive number, got '${opts.targetMinutes}'`);
    const ms = await calibrateStep(budget, threshold, strong);
    budget.steps = stepsInBudget(minutes, ms);
    if (budget.steps === 0) {
      throw new Error(`--target-minutes ${minutes}: at ${ms.toFixed(1)} ms a step, not even 100 steps fit`);
    }
    calibration = { budget_minutes: minutes, calibrated_ms_per_step: round(ms, 1) };
    log(`target: ${ms.toFixed(1)} ms a step in calibration; ${budget.steps} steps fit ${minutes} minutes`);
  }
  log(
    `target: FixMatch@250, ${budget.steps} steps, width ${budget.width}, threshold ${threshold}, ${strong}, ` +
      `${threads} thread(s), ${precisionName}`,
  );
  const entry: TargetEntry = {
    ...(await accuracyRun('fixmatch', 250, budget, { threshold }, strong, seed)),
    ...budget,
    threads,
    ...calibration,
    seed,
    threshold,
    strong,
    measured_with: measuredWith(),
  };
  log(`target: ${(100 * entry.test_accuracy).toFixed(2)}% in ${entry.minutes} min`);
  saveResults(RESULTS, results, { fixmatch_250_target: entry }, machine);
}

function updateDoc(): void {
  const step = results.fixmatch_step_vs_pytorch as
    | {
        ours_ms: number;
        pytorch_ms: number;
        ratio: number;
        pytorch_ms_by_dataloader_workers: Record<string, number>;
        threads?: number;
        pytorch_bf16_ms?: number;
        pytorch_bf16_dataloader_workers?: number;
        ratio_vs_pytorch_bf16?: number;
        measured_with?: MeasuredWith;
      }
    | undefined;
  const aug = results.unlabeled_batch_augmentation as
    | { ours_ms: number; pytorch_pil_ms: number; ratio: number }
    | undefined;
  const { accuracy: acc, runs } = accuracyTables();
  const labelCounts = [...new Set(Object.keys(acc).map((k) => Number(k.split('@')[1])))].sort((a, b) => a - b);
  const cell = (key: string): string => {
    const a = acc[key];
    if (a === undefined) return 'not measured';
    return `${(100 * a).toFixed(2)}%${runs[key] ? ` (${runs[key].minutes} min)` : ''}`;
  };
  const lines = [
    // Sections run separately with different thread counts: each states its own.
    `Machine: ${String(results.cpu ?? 'not measured')}${gemmNote(results.gemm) ? ` (${gemmNote(results.gemm)})` : ''}; last run ${String(results.date ?? '')}; command \`npx tsx bench/trainers.ts\`.`,
    '',
    '### One FixMatch step, ours vs PyTorch with per-image augmentation',
    '',
    step
      ? [
          ...(step.measured_with ? [`Measured ${measuredNote(step.measured_with)}.`, ''] : []),
          `| FixMatch step (B = 64, μ = 7, CNN width 32, RandAugment; ${step.threads ?? '?'} thread(s) each side) | ms |`,
          '|---|---|',
          `| ours (batched augmentation on tensors${step.measured_with?.precision === 'bf16' ? ', bfloat16 autocast' : ''}) | ${step.ours_ms} |`,
          ...Object.entries(step.pytorch_ms_by_dataloader_workers).map(
            ([w, ms]) => `| PyTorch 1.13 float32, PIL per image, DataLoader with ${w} workers | ${ms} |`,
          ),
          `| **ratio** (fastest PyTorch float32 / ours) | **${step.ratio}×** |`,
          ...(step.pytorch_bf16_ms !== undefined
            ? [
                `| PyTorch 1.13 bfloat16 autocast, DataLoader with ${step.pytorch_bf16_dataloader_workers} workers | ${step.pytorch_bf16_ms} |`,
                `| ratio at the same precision (PyTorch bfloat16 / ours) | ${step.ratio_vs_pytorch_bf16}× |`,
              ]
            : []),
          ...(aug
            ? [
                `| augmentation alone: one unlabeled batch (448 weak + 448 strong views), ours | ${aug.ours_ms} |`,
                `| augmentation alone, PIL per image | ${aug.pytorch_pil_ms} (ours ${aug.ratio}× faster) |`,
              ]
            : []),
        ].join('\n')
      : 'not measured',
    '',
    '### Test accuracy on Fashion-MNIST at a CPU budget',
    '',
    `Setting: ${String(results.accuracy_setting ?? 'not measured')}.`,
    '',
    `| algorithm | ${labelCounts.map((n) => `${n} labels`).join(' | ')} |`,
    `|---|${labelCounts.map(() => '---').join('|')}|`,
    ...Object.keys(ALGORITHMS).map((a) => `| ${a} | ${labelCounts.map((n) => cell(`${a}@${n}`)).join(' | ')} |`),
    '',
    '### FixMatch with 250 labels at a larger budget (target: ≥ 85% in ≤ 30 minutes on 2 cores)',
    '',
  ];
  const t = results.fixmatch_250_target as TargetEntry | undefined;
  lines.push(
    t
      ? `CNN width ${t.width}, batch ${t.batch}, μ ${t.uratio}, threshold ${t.threshold ?? 0.95}, ` +
          `${t.strong === 'ctaugment' ? 'CTAugment' : 'RandAugment'}, ` +
          `${t.steps} steps on ${t.threads} thread(s), training seed ${t.seed ?? 0}` +
          `${t.budget_minutes ? ` (the steps a calibration run of ${t.calibrated_ms_per_step} ms a step fits in ${t.budget_minutes} minutes)` : ''}: ` +
          `**${(100 * t.test_accuracy).toFixed(2)}%** in ${t.minutes} minutes ` +
          `(${t.test_accuracy >= 0.85 && t.minutes <= 30 ? 'target met' : 'target not met'})` +
          `${t.measured_with ? `; measured ${measuredNote(t.measured_with)}` : ''}.`
      : 'not measured',
  );
  updateDocSection('trainers', lines.join('\n'));
}

if (opts.runOne) {
  const { algorithm, labels } = parseKey(opts.runOne);
  console.log(JSON.stringify(await accuracyRun(algorithm, labels)));
} else {
  if (sections.has('step')) await stepSection();
  if (sections.has('accuracy')) await accuracySection();
  if (sections.has('target')) await targetSection();
  updateDoc();
  console.log(JSON.stringify(results, null, 2));
}
