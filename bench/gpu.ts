// The GPU path, checked and timed where the addon is built against a CUDA libtorch (`LIBTORCH`,
// see the README): `npx tsx bench/gpu.ts --device cuda`.
//  - parity: the CNN's and WRN-28-2's loss and every parameter gradient on the device against the
//    CPU's, same weights and batch, in float32 and in bfloat16 autocast;
//  - seeding: two seeded runs of the same random ops on the device give the same values;
//  - speed: one FixMatch step at the paper's batch (B = 64, μ = 7) of each model, ours against
//    PyTorch's on the same GPU in the same run (bench/pytorch_fixmatch.py with BENCH_DEVICE).
// Writes bench/results/gpu.json and the gpu section of docs/BENCHMARKS.md.
import { execFileSync } from 'node:child_process';
import { Command } from 'commander';
import { loadResults, median, round, saveResults, updateDocSection, type Results } from './common.js';
import { loadDataset, splitDataset, type Split } from '../src/data/index.js';
import { SmallCnn, WideResNet, type Classifier } from '../src/nn/index.js';
import { train } from '../src/ssl/index.js';
import {
  autocast,
  checkDevice,
  crossEntropy,
  cudaDeviceCount,
  engineVersion,
  manualSeed,
  randint,
  randn,
  rand,
  tidy,
  type Device,
  type Tensor,
} from '../src/tensor/index.js';

const opts = new Command()
  .option('--device <d>', "the device to check ('cuda' or 'cuda:N')", 'cuda')
  .option('--data-dir <dir>', 'Fashion-MNIST folder (default: the dataset’s own)')
  .option('--python <path>', 'a Python whose torch sees the same GPU (for the PyTorch side)', 'python3')
  .option('--step-warmup <n>', 'untimed FixMatch steps', '10')
  .option('--step-count <n>', 'timed FixMatch steps', '40')
  .option('--gpu-name <name>', 'the GPU’s name, for the record (e.g. from nvidia-smi -L)')
  .option('--only <sections>', 'comma-separated subset of parity,seed,step', 'parity,seed,step')
  .parse()
  .opts<{
    device: string;
    dataDir?: string;
    python: string;
    gpuName?: string;
    stepWarmup: string;
    stepCount: string;
    only: string;
  }>();
const sections = new Set(
  opts.only
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== ''),
);
// With no sections (`--only ''`) only the doc is rewritten from the results file: no GPU needed.
const device = (sections.size > 0 ? checkDevice(opts.device as Device) : opts.device) as Device;
const RESULTS = 'bench/results/gpu.json';
const results = loadResults(RESULTS);
const entries: Results = {};
const log = (line: string): void => void process.stderr.write(`${line}\n`);
const machine = (): Results => ({
  device,
  libtorch: engineVersion(),
  cuda_devices: cudaDeviceCount(),
  ...(opts.gpuName ? { gpu: opts.gpuName } : {}),
  command: `npx tsx bench/gpu.ts --device ${device}`,
});

type ModelKind = 'cnn' | 'wrn28_2';
const build = (kind: ModelKind): Classifier =>
  kind === 'cnn' ? new SmallCnn({ width: 32 }) : new WideResNet({ inChannels: 1 });

/** Loss and gradients of one batch, returned on the CPU as plain numbers. */
function lossAndGrads(kind: ModelKind, on: Device, bf16: boolean): { loss: number; grads: Float32Array[] } {
  manualSeed(0);
  const model = build(kind);
  if (on !== 'cpu') model.to(on);
  model.train();
  manualSeed(1);
  const out = tidy(() => {
    const x = randn([64, 1, 28, 28]).toDevice(on);
    const y = randint(0, 10, [64]).toDevice(on);
    const loss = autocast(() => crossEntropy(model.forward(x), y), { enabled: bf16, device: on });
    loss.backward();
    const grads = model.parameters().map((p) => (p.grad as Tensor).to('float32', 'cpu').data() as Float32Array);
    return { loss: loss.item(), grads };
  });
  model.dispose();
  return out;
}

/** ‖g_device − g_cpu‖ / ‖g_cpu‖ over all parameters' gradients together. */
function gradientGap(a: Float32Array[], b: Float32Array[]): number {
  let diff = 0;
  let norm = 0;
  a.forEach((ga, i) => {
    for (let j = 0; j < ga.length; j++) {
      diff += (ga[j] - b[i][j]) ** 2;
      norm += ga[j] ** 2;
    }
  });
  return Math.sqrt(diff / Math.max(norm, 1e-30));
}

/**
 * A device's gradients pass when their gap to the CPU's float32 ones is within what lower
 * precision explains: bfloat16 autocast within twice the CPU's own bfloat16 gap; float32 within
 * half of it, since CUDA convolutions run in TF32 by default (libtorch's and PyTorch's
 * `allow_tf32` for cuDNN), whose 10-bit mantissa has three bits more than bfloat16's.
 */
function parityOk(e: ParityEntry): boolean {
  const scale = Math.max(e.cpu_bf16_gradient_gap, 0.025);
  return e.bf16
    ? e.loss_relative_gap < 0.02 && e.gradient_relative_gap < 2 * scale
    : e.loss_relative_gap < 0.005 && e.gradient_relative_gap < 0.5 * scale;
}

interface ParityEntry {
  bf16: boolean;
  cpu_loss: number;
  device_loss: number;
  loss_relative_gap: number;
  gradient_relative_gap: number;
  cpu_bf16_gradient_gap: number;
}

function parity(): void {
  for (const kind of ['cnn', 'wrn28_2'] as const) {
    const cpu = lossAndGrads(kind, 'cpu', false);
    // bfloat16 moves the gradients away from float32 on the CPU too (8-bit mantissas through every
    // layer): that gap is the yardstick for the device's reduced-precision arithmetic.
    const cpuBf16Gap = gradientGap(cpu.grads, lossAndGrads(kind, 'cpu', true).grads);
    for (const bf16 of [false, true]) {
      const dev = lossAndGrads(kind, device, bf16);
      const entry: ParityEntry = {
        bf16,
        cpu_loss: round(cpu.loss, 5),
        device_loss: round(dev.loss, 5),
        loss_relative_gap: Number((Math.abs(dev.loss - cpu.loss) / cpu.loss).toExponential(2)),
        gradient_relative_gap: Number(gradientGap(cpu.grads, dev.grads).toExponential(2)),
        cpu_bf16_gradient_gap: Number(cpuBf16Gap.toExponential(2)),
      };
      log(`parity ${kind} ${bf16 ? 'bf16' : 'fp32'}: ${JSON.stringify(entry)} ${parityOk(entry) ? 'ok' : 'MISMATCH'}`);
      entries[`parity_${kind}_${bf16 ? 'bf16' : 'fp32'}`] = entry;
    }
  }
}

function seeding(): void {
  const draw = (): number[] =>
    tidy(() => {
      manualSeed(123);
      const a = rand([1000], { device });
      const b = randn([1000], { device });
      return [...(a.add(b).to('float32', 'cpu').data() as Float32Array)];
    });
  const first = draw();
  const second = draw();
  const same = first.every((v, i) => v === second[i]);
  log(`seeding: two seeded draws on ${device} ${same ? 'agree' : 'DIFFER'}`);
  entries.seeding = { repeatable: same };
}

let split: Split | undefined; // the 250-label split of the step timings, loaded once

/** Our FixMatch step on the device, from the trainer's step timestamps (the trainer reads the loss each step). */
async function ourStep(kind: ModelKind, bf16: boolean, warmup: number, count: number): Promise<number> {
  split ??= splitDataset(await loadDataset('fashion-mnist', 'train', opts.dataDir), { labels: 250, seed: 0 });
  const stamps: number[] = [];
  await train(
    {
      algorithm: 'fixmatch',
      model: kind,
      width: kind === 'cnn' ? 32 : undefined,
      steps: warmup + count + 1,
      batchSize: 64,
      uratio: 7,
      seed: 0,
      device,
      bf16,
    },
    { labeled: split.labeled, unlabeled: split.unlabeled, test: null },
    { onStep: () => void stamps.push(performance.now()) },
  );
  const deltas = stamps.slice(warmup).map((t, i, a) => (i === 0 ? NaN : t - a[i - 1]));
  return median(deltas.filter((d) => Number.isFinite(d)));
}

function pytorchStep(kind: ModelKind, warmup: number, count: number): number {
  const env: NodeJS.ProcessEnv = { ...process.env, BENCH_DEVICE: device, BENCH_MODEL: kind };
  if (opts.dataDir) env.BENCH_DATA = opts.dataDir;
  const out = execFileSync(
    opts.python,
    ['bench/pytorch_fixmatch.py', '4', '8', '64', '7', '32', String(warmup), String(count)],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], env },
  );
  return (JSON.parse(out.trim().split('\n').pop() ?? '{}') as { median_ms: number }).median_ms;
}

async function steps(): Promise<void> {
  const warmup = Number(opts.stepWarmup);
  const count = Number(opts.stepCount);
  for (const kind of ['cnn', 'wrn28_2'] as const) {
    log(`step ${kind}: timing ours (float32, bfloat16) and PyTorch's ...`);
    const fp32 = await ourStep(kind, false, warmup, count);
    const bf16 = await ourStep(kind, true, warmup, count);
    let torch: number | null = null;
    try {
      torch = pytorchStep(kind, warmup, count);
    } catch (err) {
      log(`step ${kind}: the PyTorch side failed: ${err instanceof Error ? err.message : String(err)}`);
    }
    entries[`fixmatch_step_${kind}`] = {
      ours_ms: round(fp32),
      ours_bf16_ms: round(bf16),
      pytorch_ms: torch === null ? null : round(torch),
      ratio: torch === null ? null : round(torch / fp32, 2),
    };
    log(`step ${kind}: ${JSON.stringify(entries[`fixmatch_step_${kind}`])}`);
  }
}

if (sections.has('parity')) parity();
if (sections.has('seed')) seeding();
if (sections.has('step')) await steps();
if (Object.keys(entries).length > 0) saveResults(RESULTS, results, entries, machine());
updateDoc(results);
console.log(JSON.stringify(results, null, 2));

function updateDoc(r: Results): void {
  type Step = { ours_ms: number; ours_bf16_ms: number; pytorch_ms: number | null; ratio: number | null };
  const p = (k: string) => r[k] as ParityEntry | undefined;
  const s = (k: string) => r[k] as Step | undefined;
  const lines = [
    `Command: \`${String(r.command ?? 'npx tsx bench/gpu.ts --device cuda')}\` on ${String(r.gpu ?? 'a CUDA GPU')} ` +
      `(host CPU ${String(r.cpu ?? '?')}), libtorch ${String(r.libtorch ?? '?')} with CUDA, ${String(r.date ?? '?')}; ` +
      `the addon built with \`LIBTORCH\` pointing to that libtorch.`,
    '',
    'Loss and gradients (relative L2 gap over all parameters) of one batch on the device against the CPU in ' +
      'float32, same weights and batch. The yardstick is the CPU’s own bfloat16 gap: bfloat16 on the device ' +
      'passes within twice it, float32 within half of it, as CUDA convolutions run in TF32 by default.',
    '',
    '| model | float32 | bfloat16 autocast |',
    '| --- | --- | --- |',
  ];
  for (const kind of ['cnn', 'wrn28_2']) {
    const cell = (x?: ParityEntry) =>
      x
        ? `loss ${x.loss_relative_gap}, gradients ${x.gradient_relative_gap} ` +
          `(CPU bf16: ${x.cpu_bf16_gradient_gap}) ${parityOk(x) ? 'ok' : 'MISMATCH'}`
        : '—';
    lines.push(`| ${kind} | ${cell(p(`parity_${kind}_fp32`))} | ${cell(p(`parity_${kind}_bf16`))} |`);
  }
  const seed = r.seeding as { repeatable: boolean } | undefined;
  lines.push('', `Seeded draws on the device repeat: ${seed ? (seed.repeatable ? 'yes' : 'NO') : '—'}.`, '');
  lines.push('| FixMatch step, B = 64, μ = 7 | ours fp32 (ms) | ours bf16 (ms) | PyTorch fp32 (ms) | PyTorch / ours |');
  lines.push('| --- | --- | --- | --- | --- |');
  for (const kind of ['cnn', 'wrn28_2']) {
    const x = s(`fixmatch_step_${kind}`);
    lines.push(
      x
        ? `| ${kind} | ${x.ours_ms} | ${x.ours_bf16_ms} | ${x.pytorch_ms ?? '—'} | ${x.ratio ?? '—'} |`
        : `| ${kind} | — | — | — | — |`,
    );
  }
  updateDocSection('gpu', lines.join('\n'));
}
