// `semipoison attack craft|eval`: craft a poisoned unlabeled set for a target and a desired label,
// then train a victim on it (and on the clean set, same seed) and report whether the target flipped.
import { existsSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { Option, type Command } from 'commander';
import {
  craftPoisons,
  DEFAULT_DENSITY,
  DENSITIES,
  GAN_BRIDGE_PARAMS,
  nonLabeledTrainingImages,
  VARIANTS,
  isVariantName,
  writeCrafted,
  readManifest,
  transferSource,
  ganBridge,
  trainGan,
  type Poison,
  type VariantInput,
  type VariantName,
  type AttackerPool,
  type Manifest,
  type PoisonFormat,
} from '../attack/index.js';
import type { Generator } from '../nn/index.js';
import { saveSafetensors } from '../tensor/index.js';
import {
  DATASETS,
  isDatasetName,
  loadDataset,
  readImages,
  splitDataset,
  subset,
  type ImageSet,
} from '../data/index.js';
import { MODELS, type ModelName } from '../nn/index.js';
import { ALGORITHMS, isAlgorithmName, TRAIN_DEFAULTS, type AlgorithmName } from '../ssl/index.js';
import { parseParamAssignments, resolveParams } from '../util/params.js';
import { readModelFile } from './model.js';
import { float, int, precision, setupEngine } from './options.js';
import { progressBar, type Progress } from './progress.js';
import { configHash, evaluatePoisons, TRIAL_VARIANTS, type VictimPhase } from '../experiment/index.js';

interface CraftFlags {
  dataset: string;
  dataDir?: string;
  labels: number;
  unlabeled?: number;
  target: number;
  desired: number;
  ratio?: number;
  count?: number;
  density: string;
  variant: string;
  param: string[];
  source?: number;
  seed: number;
  format: PoisonFormat;
  withUnlabeled: boolean;
  attackerPool?: string;
  init?: string;
  initShare?: number;
  margin: number;
  ganSteps: number;
  threads?: number;
  out: string;
}

interface EvalFlags {
  dataDir?: string;
  init?: string;
  lr?: number;
  algorithm: string;
  param: string[];
  steps: number;
  batch: number;
  uratio: number;
  width?: number;
  epochImages: number;
  seed: number;
  device: string;
  threads?: number;
  precision: boolean | 'auto';
  json: boolean;
}

function dataset(name: string) {
  if (!isDatasetName(name))
    throw new Error(`--dataset: unknown dataset '${name}' (${Object.keys(DATASETS).join(', ')})`);
  return name;
}

/** The transfer attack's default share of the unlabeled set behind θ_init (the victim fine-tunes on the rest). */
const INIT_SHARE = TRIAL_VARIANTS.transfer.params.share.default;

/** The images the victim fine-tuning from θ_init trains on: those after the share θ_init saw, as in the trials. */
function afterInitShare(unlabeled: ImageSet, share: number): ImageSet {
  const cut = Math.round(unlabeled.n * share);
  if (cut >= unlabeled.n)
    throw new Error(`an init share of ${share} leaves none of the ${unlabeled.n} unlabeled images`);
  return cut === 0
    ? unlabeled
    : subset(
        unlabeled,
        Array.from({ length: unlabeled.n - cut }, (_, k) => cut + k),
      );
}

function describeSource(s: Manifest['source']): string {
  if (s.split === 'labeled') return `labeled #${s.index}`;
  if (s.split === 'attacker') return `the attacker's image #${s.index} (${s.from})`;
  return s.description;
}

export function registerAttack(program: Command): void {
  const attack = program.command('attack').description('craft poisons and evaluate them against a victim');

  attack
    .command('craft')
    .description('craft interpolation poisons from a labeled image of the desired class to a target test image')
    .option('--dataset <name>', Object.keys(DATASETS).join(', '), 'fashion-mnist')
    .option('--data-dir <dir>', 'where the dataset files are')
    .option('--labels <n>', "labeled examples of the victim's split", int(1), 40)
    .option('--unlabeled <n>', "cap on the victim's unlabeled set (default: the whole training set)", int(1))
    .requiredOption('--target <index>', 'index of the target image x* in the test set', int(0))
    .requiredOption('--desired <label>', 'the label y* the target should get', int(0))
    .option('--ratio <share>', 'poisons as a share of the unlabeled set (e.g. 0.01)', float(0, 1))
    .option('--count <n>', 'number of poisons', int(1))
    .option('--density <rho>', `one of ${Object.keys(DENSITIES).join(' ')}, or an expression in x`, DEFAULT_DENSITY)
    .option('--variant <name>', [...Object.keys(VARIANTS), 'gan'].join(', '), 'linear')
    .option('--param <key=value...>', 'variant parameter, repeatable', [])
    .option('--threads <n>', 'libtorch threads for the gan variant and --init (default: all cores)', int(1))
    .option('--gan-steps <n>', 'variant gan: DC-GAN training steps on the unlabeled set', int(1), 2000)
    .option(
      '--source <index>',
      'index of x′ in the labeled set, or for zero-knowledge in the attacker pool (default: a random image of class y*)',
      int(0),
    )
    .option(
      '--attacker-pool <path>',
      "zero-knowledge (and paths): the attacker's own images of class y* (.npy, PNG folder, idx, CIFAR .bin; " +
        "default: the training images outside the victim's labeled set, as in the paper's section 4.1)",
    )
    .option('--seed <n>', 'seed of the split and of the source choice', int(0), 0)
    .addOption(
      new Option('--format <f>', 'poison file format').choices(['npy', 'png', 'idx', 'cifar10']).default('npy'),
    )
    .option(
      '--init <model.safetensors>',
      'transfer attack (section 4.3): the victim’s initial weights; x′ becomes the nearest image to x* they label y*',
    )
    .option(
      '--init-share <share>',
      'with --init: share of the unlabeled set θ_init was trained on; the victim fine-tunes on the rest, where the poisons go (0: all of it; default 0.5, as in section 4.3)',
      float(0, 0.95),
    )
    .option(
      '--margin <κ>',
      'with --init: logit margin by which the initial weights must prefer y* on x′ (5.2 gives p ≥ 0.95 with 10 classes)',
      float(0),
      0.5,
    )
    .option(
      '--with-unlabeled',
      'also write unlabeled-poisoned.npy: the clean unlabeled set with the poisons at seeded random positions (recorded in the manifest)',
      false,
    )
    .requiredOption('--out <dir>', 'new folder for the poisons and manifest.json')
    .action(async (f: CraftFlags) => {
      const name = dataset(f.dataset);
      const gan = f.variant === 'gan';
      if (!gan && !isVariantName(f.variant)) {
        throw new Error(`--variant: unknown '${f.variant}' (${[...Object.keys(VARIANTS), 'gan'].join(', ')})`);
      }
      // Before any GAN training or δ search: the folder must be new.
      if (existsSync(f.out)) throw new Error(`${f.out} already exists; choose a new output folder`);
      if ((f.ratio === undefined) === (f.count === undefined))
        throw new Error('give exactly one of --ratio and --count');
      if (f.initShare !== undefined && !f.init) throw new Error('--init-share needs --init');
      if (f.attackerPool && f.variant !== 'zero-knowledge' && f.variant !== 'paths') {
        throw new Error(`--attacker-pool: the ${f.variant} variant draws no image from the attacker's own`);
      }
      const ganParams = resolveParams(
        'variant gan',
        GAN_BRIDGE_PARAMS,
        gan ? parseParamAssignments('variant gan', GAN_BRIDGE_PARAMS, f.param) : {},
      );
      const params = gan
        ? {}
        : parseParamAssignments(`variant ${f.variant}`, VARIANTS[f.variant as VariantName].params, f.param);
      const trainSet = await loadDataset(name, 'train', f.dataDir);
      const test = await loadDataset(name, 'test', f.dataDir);
      const split = splitDataset(trainSet, { labels: f.labels, seed: f.seed, unlabeled: f.unlabeled });
      let attackerPool: AttackerPool | undefined;
      if (f.attackerPool) attackerPool = { images: await readImages(f.attackerPool), from: resolve(f.attackerPool) };
      else if (f.variant === 'zero-knowledge') attackerPool = nonLabeledTrainingImages(trainSet, split);
      const initShare = f.init ? (f.initShare ?? INIT_SHARE) : 0;
      const unlabeled = afterInitShare(split.unlabeled, initShare);
      let sourceImage: { pixels: Uint8Array; description: string } | undefined;
      if (f.init) {
        setupEngine({ device: 'cpu', precision: false, threads: f.threads });
        const p = transferSource(f.init, test, f.target, f.desired, { margin: f.margin });
        sourceImage = {
          pixels: p.pixels,
          description: `x* + δ (‖δ‖₂ = ${p.distance.toFixed(3)}) labeled ${f.desired} by ${f.init}`,
        };
      }
      let custom: { name: string; craft: (input: VariantInput) => Poison[] } | undefined;
      let generator: Generator | undefined;
      if (gan) {
        setupEngine({ device: 'cpu', precision: false, threads: f.threads });
        const bar = progressBar('training DC-GAN', f.ganSteps, 'D {d} G {g}');
        generator = await trainGan(unlabeled, {
          steps: f.ganSteps,
          seed: f.seed,
          onStep: (s, d, g) => bar.update(s, { d: d.toFixed(2), g: g.toFixed(2) }),
        });
        bar.stop();
        const g = generator;
        custom = {
          name: 'gan',
          craft: (i) => ganBridge(g, i.source, i.target, i.budget, i.shape, { density: i.density, ...ganParams }),
        };
      }
      const crafted = craftPoisons(
        { test, labeled: split.labeled, unlabeledSize: unlabeled.n, attackerPool },
        {
          targetIndex: f.target,
          desired: f.desired,
          ratio: f.ratio,
          count: f.count,
          density: f.density,
          variant: gan ? 'linear' : (f.variant as VariantName),
          custom,
          params,
          seed: f.seed,
          sourceIndex: f.source,
          sourceImage,
        },
      );
      if (gan) crafted.manifest.params = { ganSteps: f.ganSteps, ...ganParams };
      crafted.manifest.split = {
        dataset: name,
        labels: f.labels,
        unlabeled: f.unlabeled ?? null,
        seed: f.seed,
        // `attack eval` reads the same files unless told otherwise.
        data_dir: f.dataDir ? resolve(f.dataDir) : null,
      };
      if (f.init) crafted.manifest.init = { path: resolve(f.init), share: initShare };
      const g = generator;
      const file = await writeCrafted(
        f.out,
        crafted,
        f.format,
        f.withUnlabeled ? unlabeled : undefined,
        g ? (tmp) => saveSafetensors(join(tmp, 'generator.safetensors'), g.stateDict(), { model: 'dcgan' }) : undefined,
      );
      generator?.dispose();
      const m = crafted.manifest;
      console.log(
        `${m.count} poisons (${(100 * m.ratio).toFixed(2)}% of ${m.unlabeled_size} unlabeled) from ${describeSource(m.source)} ` +
          `(class ${m.desired}) to test #${m.target.index} (class ${m.target.true_label}) -> ${file}`,
      );
    });

  attack
    .command('eval')
    .description('train a victim on the clean and the poisoned unlabeled set (same seed) and report the target')
    .argument('<dir>', 'a folder written by attack craft')
    .option('--data-dir <dir>', 'where the dataset files are (default: where attack craft read them)')
    .option('--algorithm <name>', Object.keys(ALGORITHMS).join(', '), 'fixmatch')
    .option('--param <key=value...>', 'algorithm hyperparameter, repeatable', [])
    .option('--steps <n>', 'training steps', int(1), 3500)
    .option('--batch <n>', 'labeled batch size', int(1), 32)
    .option('--uratio <n>', 'μ', int(1), 3)
    .option('--width <n>', 'model width (with θ_init: its own)', int(1), 16)
    .option(
      '--init <model.safetensors>',
      "fine-tune both victims from these weights (default: the manifest's θ_init, if crafted with --init)",
    )
    .option(
      '--lr <x>',
      `base learning rate (default ${TRAIN_DEFAULTS.lr}; from θ_init, ${TRIAL_VARIANTS.transfer.params.lrScale.default.toFixed(3)} of it, where its schedule ended)`,
      float(0),
    )
    .option('--epoch-images <n>', 'training images per epoch (prediction-log period)', int(1), 8192)
    .option('--seed <n>', 'training seed', int(0), 0)
    .option('--device <d>', "'cpu', 'cuda' or 'cuda:N'", 'cpu')
    .option('--threads <n>', 'libtorch threads', int(1))
    .option('--precision <p>', 'auto, bf16 or fp32', precision, 'auto')
    .option('--json', 'print one JSON object', false)
    .action(async (dir: string, f: EvalFlags) => {
      const manifestPath = join(dir, 'manifest.json');
      if (!existsSync(manifestPath)) throw new Error(`${dir}: no manifest.json (not a folder written by attack craft)`);
      const read = readManifest(manifestPath);
      if (!read.split) throw new Error(`${manifestPath}: the manifest does not record the victim's split`);
      if (!read.file) throw new Error(`${manifestPath}: the manifest does not name its poison file`);
      if (!read.target || typeof read.desired !== 'number') {
        throw new Error(`${manifestPath}: the manifest does not record the target and the desired label`);
      }
      const m = read as Manifest & { file: string; split: Record<string, unknown> };
      if (!isAlgorithmName(f.algorithm)) throw new Error(`--algorithm: unknown '${f.algorithm}'`);
      const algorithm: AlgorithmName = f.algorithm;
      const params = parseParamAssignments(algorithm, ALGORITHMS[algorithm].params, f.param);
      const init = f.init ?? m.init?.path;
      const initModel = init ? readModelFile(init) : null;
      const { device, bf16 } = setupEngine(f);
      const name = dataset(String(m.split.dataset));
      const dataDir = f.dataDir ?? (typeof m.split.data_dir === 'string' ? m.split.data_dir : undefined);
      const trainSet = await loadDataset(name, 'train', dataDir);
      const test = await loadDataset(name, 'test', dataDir);
      const split = splitDataset(trainSet, {
        labels: Number(m.split.labels),
        seed: Number(m.split.seed),
        unlabeled: m.split.unlabeled === null ? undefined : Number(m.split.unlabeled),
      });
      const share = m.init?.share ?? 0;
      if (typeof share !== 'number' || !(share >= 0 && share < 1)) {
        throw new Error(`${manifestPath}: init.share must be a number in [0, 1), got ${JSON.stringify(share)}`);
      }
      const unlabeled = afterInitShare(split.unlabeled, share);
      if (typeof m.unlabeled_size === 'number' && unlabeled.n !== m.unlabeled_size) {
        throw new Error(
          `${manifestPath}: crafted against ${m.unlabeled_size} clean unlabeled images, the split of ${name}` +
            `${dataDir ? ` in ${dataDir}` : ''} gives ${unlabeled.n} (not the data the poisons were crafted on?)`,
        );
      }
      const poisonPath = join(dir, m.file);
      // Fine-tuning keeps θ_init's architecture and resumes at the learning rate where its schedule ended.
      const initWidth = initModel?.metadata.config
        ? (JSON.parse(initModel.metadata.config) as { width?: unknown }).width
        : undefined;
      const options = {
        algorithm,
        params,
        model: (initModel && initModel.metadata.model in MODELS ? initModel.metadata.model : 'cnn') as ModelName,
        // θ_init without a recorded width has its model's default one.
        width: initModel ? (typeof initWidth === 'number' ? initWidth : undefined) : f.width,
        init: initModel?.file,
        lr:
          f.lr ?? (initModel ? TRAIN_DEFAULTS.lr * TRIAL_VARIANTS.transfer.params.lrScale.default : TRAIN_DEFAULTS.lr),
        steps: f.steps,
        batchSize: f.batch,
        uratio: f.uratio,
        epochImages: f.epochImages,
        seed: f.seed,
        device,
        bf16,
      };
      const key = (role: string) => configHash({ role, manifest: m, options });
      const bars = new Map<VictimPhase, Progress>();
      const ev = await evaluatePoisons(
        {
          labeled: split.labeled,
          unlabeled,
          test,
          poisons: await readImages(poisonPath),
          poisonsFrom: poisonPath,
          targetIndex: m.target.index,
          desired: m.desired,
          bridge: m.poisons,
          // Where unlabeled-poisoned.npy holds them, so the prediction log lines up with that file.
          positions: m.positions,
        },
        options,
        {
          clean: { dir: join(dir, 'victim-unpoisoned'), key: key('unpoisoned') },
          poisoned: { dir: join(dir, 'victim'), key: key('poisoned') },
        },
        (phase, s) => {
          let bar = bars.get(phase);
          if (!bar) {
            for (const b of bars.values()) b.stop();
            bar = progressBar(phase === 'clean' ? 'unpoisoned' : phase, s.steps, 'loss {loss}');
            bars.set(phase, bar);
          }
          bar.update(s.step, { loss: s.loss.toFixed(3) });
        },
      );
      for (const b of bars.values()) b.stop();
      const propagation = ev.propagation.epochs;
      const figures: string[] = [];
      if (propagation.length && ev.propagation.alphas.length) {
        // Loaded here: Vega adds about 0.4 s to the start of every command.
        const { labelPropagationSpec, writeFigure } = await import('../report/index.js');
        const spec = labelPropagationSpec(
          { ...ev.propagation, desired: m.desired, trueLabel: m.target.true_label },
          { classNames: test.classNames },
        );
        for (const path of await writeFigure(join(dir, 'figure5-propagation'), spec)) figures.push(basename(path));
      }
      const result = {
        success: ev.success,
        target_prediction: ev.poisoned.prediction,
        target_prediction_unpoisoned: ev.clean.prediction,
        desired: m.desired,
        true_label: m.target.true_label,
        p_desired: ev.poisoned.probs[m.desired],
        p_desired_unpoisoned: ev.clean.probs[m.desired],
        clean_accuracy: ev.poisoned.accuracy,
        clean_accuracy_unpoisoned: ev.clean.accuracy,
        bridge_labeled_desired: propagation.length ? ev.bridgeDesired : null,
        poisons: m.count,
        ratio: m.ratio,
        algorithm,
        steps: f.steps,
        init: initModel?.file ?? null,
        propagation: ev.propagation,
        /** Figure 5 of the propagation, in `dir`. */
        figures,
      };
      writeFileSync(join(dir, 'eval.json'), JSON.stringify(result, null, 2) + '\n');
      if (f.json) {
        console.log(JSON.stringify(result));
      } else {
        const bridgeLine = (labels: number[]) => labels.map((l) => (l === m.desired ? '*' : String(l))).join('');
        for (const e of propagation) console.log(`epoch ${String(e.epoch).padStart(3)}  x′ ${bridgeLine(e.labels)} x*`);
        console.log(
          `target #${m.target.index} (true ${m.target.true_label}) -> ${result.target_prediction} poisoned, ` +
            `${result.target_prediction_unpoisoned} clean; desired ${m.desired}: ${result.success ? 'SUCCESS' : 'failure'}; ` +
            `clean accuracy ${(100 * (result.clean_accuracy ?? 0)).toFixed(1)}% vs ${(100 * (result.clean_accuracy_unpoisoned ?? 0)).toFixed(1)}% unpoisoned`,
        );
      }
    });
}
