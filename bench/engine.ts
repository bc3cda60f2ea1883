// `make bench` (engine part): one SGD training step of the CPU-sized CNN and of WRN-28-2, ours vs
// PyTorch 1.13 in the same run with the same thread count, in float32 and bfloat16 autocast; the
// TF.js CPU backend on the CNN; and float32 vs bfloat16 accuracy on a short Fashion-MNIST run.
// Writes bench/results/engine.json and the engine section of docs/BENCHMARKS.md.
import { execFileSync } from 'node:child_process';
import { availableParallelism, cpus } from 'node:os';
import { Command } from 'commander';
import {
  gemmNote,
  loadResults,
  median,
  probeGemm,
  referenceEnv,
  round,
  saveResults,
  updateDocSection,
  type Results,
} from './common.js';
import { loadDataset, type ImageSet } from '../src/data/index.js';
import { Sgd, SmallCnn, WideResNet, type Classifier } from '../src/nn/index.js';
import { trainSupervised } from '../src/ssl/index.js';
import {
  autocast,
  cpuHasNativeBf16,
  crossEntropy,
  manualSeed,
  randint,
  randn,
  setFlushDenormal,
  setNumThreads,
  tidy,
  yieldToEventLoop,
} from '../src/tensor/index.js';

/** `make bench`'s own results file; another (`--results`, e.g. another machine) lists only what was measured there. */
const DEFAULT_RESULTS = 'bench/results/engine.json';

const opts = new Command()
  .option('--threads <n>', 'threads for both engines', String(availableParallelism()))
  .option(
    '--python <path>',
    'the Python whose torch is the reference (Debian python3-torch by default)',
    '/usr/bin/python3',
  )
  .option('--results <file>', 'results file to merge into', DEFAULT_RESULTS)
  .option('--section <name>', 'section of docs/BENCHMARKS.md to write', 'engine')
  .option('--data-dir <dir>', 'Fashion-MNIST IDX folder for the accuracy run (default: the system one)')
  .option('--accuracy-steps <n>', 'steps of the float32-vs-bfloat16 Fashion-MNIST run', '500')
  .option('--tfjs-steps <n>', 'timed TF.js steps (each takes minutes)', '1')
  .option(
    '--only <sections>',
    'comma-separated subset of cnn,wrn28_2,tfjs,accuracy (none: only rewrite the doc)',
    'cnn,wrn28_2,tfjs,accuracy',
  )
  .parse()
  .opts<{
    threads: string;
    python: string;
    results: string;
    section: string;
    dataDir?: string;
    accuracySteps: string;
    tfjsSteps: string;
    only: string;
  }>();
const sections = new Set(opts.only.split(',').map((s) => s.trim()));
const threads = Number(opts.threads);
setNumThreads(threads);
setFlushDenormal(true);
const nativeBf16 = cpuHasNativeBf16();
/** Measured first, while the machine is quiet. */
const gemm = probeGemm(threads);

async function timeOurs(kind: 'cnn' | 'wrn', bf16: boolean, warmup: number, steps: number): Promise<number> {
  manualSeed(0);
  const model: Classifier = kind === 'cnn' ? new SmallCnn({ width: 32 }) : new WideResNet();
  const x = kind === 'cnn' ? randn([64, 1, 28, 28]) : randn([64, 3, 32, 32]);
  const y = randint(0, 10, [64]);
  const { decay, noDecay } = model.parameterGroups();
  const opt = new Sgd(
    [
      { params: decay, weightDecay: 5e-4 },
      { params: noDecay, weightDecay: 0 },
    ],
    { lr: 0.03, momentum: 0.9, nesterov: true },
  );
  const times: number[] = [];
  for (let i = 0; i < warmup + steps; i++) {
    const t0 = performance.now();
    tidy(() => {
      opt.zeroGrad();
      const loss = autocast(() => crossEntropy(model.forward(x), y), { enabled: bf16 });
      loss.backward();
      opt.update();
    });
    if (i >= warmup) times.push(performance.now() - t0);
    await yieldToEventLoop();
  }
  model.dispose();
  x.dispose();
  y.dispose();
  return median(times);
}

let pytorchVersion: string | undefined;

function timePytorch(kind: 'cnn' | 'wrn', bf16: boolean, warmup: number, steps: number): number {
  const args = ['bench/pytorch_engine.py', String(threads), kind, String(warmup), String(steps)];
  if (bf16) args.push('bf16');
  const out = execFileSync(opts.python, args, { encoding: 'utf8', env: referenceEnv(threads) });
  const r = JSON.parse(out.trim().split('\n').pop()!) as { median_ms: number; version?: string };
  pytorchVersion = r.version;
  return r.median_ms;
}

/** The same CNN in TF.js layers on the pure-JS CPU backend. */
async function timeTfjs(steps: number): Promise<number> {
  const tf = await import('@tensorflow/tfjs');
  await tf.setBackend('cpu');
  const model = tf.sequential();
  const block = (filters: number, first = false) => {
    model.add(
      tf.layers.conv2d({
        filters,
        kernelSize: 3,
        padding: 'same',
        useBias: false,
        ...(first ? { inputShape: [28, 28, 1] } : {}),
      }),
    );
    model.add(tf.layers.batchNormalization({ momentum: 0.999, epsilon: 1e-3 }));
    model.add(tf.layers.leakyReLU({ alpha: 0.1 }));
  };
  block(32, true);
  block(32);
  model.add(tf.layers.maxPooling2d({ poolSize: 2 }));
  block(64);
  block(64);
  model.add(tf.layers.maxPooling2d({ poolSize: 2 }));
  block(128);
  model.add(tf.layers.globalAveragePooling2d({}));
  model.add(tf.layers.dense({ units: 10 }));
  const optimizer = tf.train.momentum(0.03, 0.9, true);
  const x = tf.randomNormal([64, 28, 28, 1]);
  const y = tf.oneHot(tf.randomUniform([64], 0, 10, 'int32'), 10);
  const times: number[] = [];
  for (let i = 0; i < steps + 1; i++) {
    const t0 = performance.now();
    optimizer.minimize(() => tf.losses.softmaxCrossEntropy(y, model.predict(x) as never) as never);
    if (i > 0) times.push(performance.now() - t0);
  }
  return median(times);
}

async function accuracyRun(bf16: boolean, steps: number, train: ImageSet, test: ImageSet): Promise<number> {
  const r = await trainSupervised({ model: 'cnn', width: 16, steps, seed: 0, bf16 }, train, test);
  r.model.dispose();
  r.ema.dispose();
  return r.testAccuracy!;
}

const log = (s: string) => process.stderr.write(`${s}\n`);

const RESULTS = opts.results;
const ownResults = RESULTS !== DEFAULT_RESULTS;

/** Results are merged into engine.json section by section, so an interrupted run keeps what it measured. */
/**
 * Records entries; each carries the thread count and CPU it was measured with, since a run of one
 * section (`--only`) rewrites the file-level machine fields that the other entries were measured under.
 */
function record(results: Results, entries: Results): void {
  const machine = { threads, cpu: cpus()[0]?.model ?? 'unknown', date: new Date().toISOString().slice(0, 10) };
  const stamped = Object.fromEntries(
    Object.entries(entries).map(([k, v]) => [k, { ...(v as Record<string, unknown>), measured_with: machine }]),
  );
  const command = ownResults ? `bench/engine.ts ${process.argv.slice(2).join(' ')}` : 'make bench';
  saveResults(RESULTS, results, stamped, {
    threads,
    native_bf16: nativeBf16,
    gemm,
    command,
    ...(pytorchVersion ? { pytorch_version: pytorchVersion } : {}),
  });
  updateDoc(results);
  log(JSON.stringify(entries));
}

async function main(): Promise<void> {
  const results = loadResults(RESULTS);
  // bfloat16 without hardware support is emulated and ~20x slower: fewer steps keep the run short.
  const bfSteps = nativeBf16 ? { warmup: 5, steps: 10 } : { warmup: 1, steps: 2 };
  for (const [key, kind] of [
    ['cnn', 'cnn'],
    ['wrn28_2', 'wrn'],
  ] as const) {
    if (!sections.has(key)) continue;
    const fp = kind === 'cnn' ? { warmup: 8, steps: 20 } : { warmup: 5, steps: 10 };
    log(`${key}: timing float32 ...`);
    const ours = await timeOurs(kind, false, fp.warmup, fp.steps);
    const torch = timePytorch(kind, false, fp.warmup, fp.steps);
    log(`${key}: timing bfloat16 ...`);
    const oursBf = await timeOurs(kind, true, bfSteps.warmup, bfSteps.steps);
    const torchBf = timePytorch(kind, true, bfSteps.warmup, bfSteps.steps);
    record(results, {
      [key]: { ours_ms: round(ours), pytorch_ms: round(torch), ratio: round(torch / ours, 2) },
      [`${key}_bf16`]: {
        ours_ms: round(oursBf),
        pytorch_ms: round(torch),
        pytorch_bf16_ms: round(torchBf),
        ratio: round(torch / oursBf, 2),
        ratio_vs_pytorch_bf16: round(torchBf / oursBf, 2),
      },
    });
  }
  if (sections.has('tfjs')) {
    log('tfjs: timing the CNN on @tensorflow/tfjs (cpu backend) ...');
    const tfjs = await timeTfjs(Number(opts.tfjsSteps));
    const ourCnn =
      (results.cnn as { ours_ms: number } | undefined)?.ours_ms ?? round(await timeOurs('cnn', false, 8, 20));
    record(results, { tfjs_cnn: { ours_ms: ourCnn, tfjs_ms: round(tfjs), ratio: round(tfjs / ourCnn, 2) } });
  }
  if (sections.has('accuracy')) {
    const accSteps = Number(opts.accuracySteps);
    log(`accuracy: ${accSteps} steps of the width-16 CNN on Fashion-MNIST, float32 then bfloat16 ...`);
    const train = await loadDataset('fashion-mnist', 'train', opts.dataDir);
    const test = await loadDataset('fashion-mnist', 'test', opts.dataDir);
    const accFp = await accuracyRun(false, accSteps, train, test);
    const accBf = await accuracyRun(true, accSteps, train, test);
    record(results, {
      bf16_accuracy: {
        steps: accSteps,
        train_images: train.n,
        float32: round(100 * accFp, 2),
        bfloat16: round(100 * accBf, 2),
        difference_points: round(100 * (accBf - accFp), 2),
      },
    });
  }
  updateDoc(results);
  console.log(JSON.stringify(results, null, 2));
}

function updateDoc(r: Record<string, unknown>): void {
  type Row = {
    ours_ms: number;
    pytorch_ms: number;
    ratio: number;
    pytorch_bf16_ms?: number;
    ratio_vs_pytorch_bf16?: number;
  };
  const g = (k: string) => r[k] as Row | undefined;
  const missing = '(not measured yet)';
  const fp = (label: string, k: string) => {
    const x = g(k);
    return x
      ? `| ${label} | ${x.ours_ms} | ${x.pytorch_ms} | | **${x.ratio}** | |`
      : `| ${label} | ${missing} | | | | |`;
  };
  const bf = (label: string, k: string) => {
    const x = g(k);
    return x
      ? `| ${label} | ${x.ours_ms} | ${x.pytorch_ms} | ${x.pytorch_bf16_ms} | **${x.ratio}** | **${x.ratio_vs_pytorch_bf16}** |`
      : `| ${label} | ${missing} | | | | |`;
  };
  const acc = r.bf16_accuracy as
    | { steps: number; train_images?: number; float32: number; bfloat16: number; difference_points: number }
    | undefined;
  const tfjs = r.tfjs_cnn as { ours_ms: number; tfjs_ms: number; ratio: number; measured?: string } | undefined;
  // The TF.js row is measured apart (its steps take minutes) and says when and how.
  const tfjsNote = tfjs?.measured
    ? ` (TF.js row: ${tfjs.measured.replace(/`npx tsx bench\/engine\.ts (.*)`/, '`$1`')}, one timed step after one warm-up; TF.js's CPU backend is single-threaded JavaScript)`
    : '';
  /** A measured line; an unmeasured one is listed as such in make bench's own file and left out of another. */
  const line = (text: string | undefined, unmeasured: string): string[] =>
    text !== undefined ? [text] : ownResults ? [] : [unmeasured];
  const section = [
    `Machine: ${r.cpu}, ${r.threads} threads, native bfloat16: ${r.native_bf16 ? 'yes' : 'no (AVX2 only: bfloat16 is emulated)'}${gemmNote(r.gemm) ? `, ${gemmNote(r.gemm)}` : ''}; ${r.date}; command \`${r.command}\`${tfjsNote}.`,
    '',
    `| one SGD step, batch 64 | ours (ms) | PyTorch ${String(r.pytorch_version ?? '1.13').split('+')[0]} fp32 (ms) | PyTorch bf16 (ms) | ratio vs PyTorch fp32 | ratio vs PyTorch bf16 |`,
    '|---|---|---|---|---|---|',
    fp('CNN 28×28×1, float32', 'cnn'),
    fp('WRN-28-2 32×32×3, float32', 'wrn28_2'),
    bf('CNN, bfloat16 autocast', 'cnn_bf16'),
    bf('WRN-28-2, bfloat16 autocast', 'wrn28_2_bf16'),
    ...line(
      tfjs &&
        `| CNN on TF.js (\`@tensorflow/tfjs\`, cpu backend) | ${tfjs.ours_ms} | | | TF.js ${tfjs.tfjs_ms} ms: ours **${tfjs.ratio}×** faster | |`,
      `| CNN on TF.js (\`@tensorflow/tfjs\`, cpu backend) | ${missing} | | | | |`,
    ),
    '',
    ...line(
      acc &&
        `bfloat16 vs float32 accuracy, width-16 CNN, ${acc.steps} steps on Fashion-MNIST (${acc.train_images && acc.train_images < 60000 ? `the first ${acc.train_images} training images, ` : ''}full test set): float32 ${acc.float32}%, bfloat16 ${acc.bfloat16}% (${acc.difference_points >= 0 ? '+' : ''}${acc.difference_points} points).`,
      `bfloat16 vs float32 accuracy on Fashion-MNIST: ${missing}.`,
    ),
  ]
    .join('\n')
    .trimEnd();
  updateDocSection(opts.section, section, 'engine');
}

await main();
