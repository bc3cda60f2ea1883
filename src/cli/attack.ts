// `semipoison attack craft|eval`: craft a poisoned unlabeled set for a target and a desired label,
// then train a victim on it (and on the clean set, same seed) and report whether the target flipped.
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Option, type Command } from 'commander';
import {
  craftPoisons,
  DEFAULT_DENSITY,
  DENSITIES,
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
  type Manifest,
  type PoisonFormat,
} from '../attack/index.js';
import type { Generator } from '../nn/index.js';
import { saveSafetensors } from '../tensor/index.js';
import { DATASETS, isDatasetName, loadDataset, readImages, splitDataset } from '../data/index.js';
import { ALGORITHMS, isAlgorithmName, type AlgorithmName } from '../ssl/index.js';
import { parseParamAssignments } from '../util/params.js';
import { float, int, precision, setupEngine } from './options.js';
import { progressBar, type Progress } from './progress.js';
import { configHash, evaluatePoisons, type VictimPhase } from '../experiment/index.js';

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
  init?: string;
  margin: number;
  ganSteps: number;
  threads?: number;
  out: string;
}

interface EvalFlags {
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
    .option('--source <index>', 'index of x′ in the labeled set (default: a random labeled image of class y*)', int(0))
    .option('--seed <n>', 'seed of the split and of the source choice', int(0), 0)
    .addOption(
      new Option('--format <f>', 'poison file format').choices(['npy', 'png', 'idx', 'cifar10']).default('npy'),
    )
    .option(
      '--init <model.safetensors>',
      'transfer attack (section 4.3): the victim’s initial weights; x′ becomes the nearest image to x* they label y*',
    )
    .option(
      '--margin <κ>',
      'with --init: logit margin by which the initial weights must prefer y* on x′ (5.2 gives p ≥ 0.95 with 10 classes)',
      float(0),
      0.5,
    )
    .option(
      '--with-unlabeled',
      'also write unlabeled-poisoned.npy: the clean unlabeled set with the poisons appended',
      false,
    )
    .requiredOption('--out <dir>', 'new folder for the poisons and manifest.json')
    .action(async (f: CraftFlags) => {
      const name = dataset(f.dataset);
      const gan = f.variant === 'gan';
      if (!gan && !isVariantName(f.variant)) {
        throw new Error(`--variant: unknown '${f.variant}' (${[...Object.keys(VARIANTS), 'gan'].join(', ')})`);
      }
      if ((f.ratio === undefined) === (f.count === undefined))
        throw new Error('give exactly one of --ratio and --count');
      const params = gan
        ? {}
        : parseParamAssignments(`variant ${f.variant}`, VARIANTS[f.variant as VariantName].params, f.param);
      const trainSet = await loadDataset(name, 'train', f.dataDir);
      const test = await loadDataset(name, 'test', f.dataDir);
      const split = splitDataset(trainSet, { labels: f.labels, seed: f.seed, unlabeled: f.unlabeled });
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
        generator = await trainGan(split.unlabeled, {
          steps: f.ganSteps,
          seed: f.seed,
          onStep: (s, d, g) => bar.update(s, { d: d.toFixed(2), g: g.toFixed(2) }),
        });
        bar.stop();
        const g = generator;
        custom = {
          name: 'gan',
          craft: (i) => ganBridge(g, i.source, i.target, i.budget, i.shape, { density: i.density }),
        };
      }
      const crafted = craftPoisons(
        { test, labeled: split.labeled, unlabeledSize: split.unlabeled.n },
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
      crafted.manifest.split = { dataset: name, labels: f.labels, unlabeled: f.unlabeled ?? null, seed: f.seed };
      const file = await writeCrafted(f.out, crafted, f.format, f.withUnlabeled ? split.unlabeled : undefined);
      if (generator) {
        saveSafetensors(join(f.out, 'generator.safetensors'), generator.stateDict(), { model: 'dcgan' });
        generator.dispose();
      }
      const m = crafted.manifest;
      console.log(
        `${m.count} poisons (${(100 * m.ratio).toFixed(2)}% of ${m.unlabeled_size} unlabeled) from ${m.source.split === 'labeled' ? `labeled #${m.source.index}` : m.source.description} ` +
          `(class ${m.desired}) to test #${m.target.index} (class ${m.target.true_label}) -> ${file}`,
      );
    });

  attack
    .command('eval')
    .description('train a victim on the clean and the poisoned unlabeled set (same seed) and report the target')
    .argument('<dir>', 'a folder written by attack craft')
    .option('--algorithm <name>', Object.keys(ALGORITHMS).join(', '), 'fixmatch')
    .option('--param <key=value...>', 'algorithm hyperparameter, repeatable', [])
    .option('--steps <n>', 'training steps', int(1), 3500)
    .option('--batch <n>', 'labeled batch size', int(1), 32)
    .option('--uratio <n>', 'μ', int(1), 3)
    .option('--width <n>', 'model width', int(1), 16)
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
      const { device, bf16 } = setupEngine(f);
      const name = dataset(String(m.split.dataset));
      const trainSet = await loadDataset(name, 'train');
      const test = await loadDataset(name, 'test');
      const split = splitDataset(trainSet, {
        labels: Number(m.split.labels),
        seed: Number(m.split.seed),
        unlabeled: m.split.unlabeled === null ? undefined : Number(m.split.unlabeled),
      });
      const poisonPath = join(dir, m.file);
      const options = {
        algorithm,
        params,
        width: f.width,
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
          unlabeled: split.unlabeled,
          test,
          poisons: await readImages(poisonPath),
          poisonsFrom: poisonPath,
          targetIndex: m.target.index,
          desired: m.desired,
          bridge: m.poisons,
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
        propagation: ev.propagation,
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
