// `semipoison train`: any algorithm on a dataset split, optionally with extra unlabeled images
// (a crafted poison set, ours or anyone's) appended to the unlabeled set.
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Option, type Command } from 'commander';
import { DATASETS, extendUnlabeled, isDatasetName, loadDataset, readImages, splitDataset } from '../data/index.js';
import { MODELS, type ModelName } from '../nn/index.js';
import { ALGORITHMS, isAlgorithmName, train, TRAIN_DEFAULTS, type AlgorithmName } from '../ssl/index.js';
import { saveSafetensors } from '../tensor/index.js';
import { writeFileAtomic } from '../util/atomic.js';
import { parseParamAssignments } from '../util/params.js';
import { float, int, precision, setupEngine } from './options.js';
import { progressBar } from './progress.js';

interface TrainFlags {
  dataset: string;
  dataDir?: string;
  labels: number;
  unlabeled?: number;
  validation: number;
  algorithm: string;
  param: string[];
  model: string;
  width?: number;
  steps: number;
  batch: number;
  uratio: number;
  lr: number;
  epochImages: number;
  testEvery: number;
  strong: 'randaugment' | 'ctaugment';
  emaDecay: number;
  emaBuffers: 'copy' | 'average';
  flip?: boolean;
  weightDecay: number;
  bnMomentum: number;
  extraUnlabeled?: string;
  predictionLog: 'float16' | 'float32' | 'none';
  logModel: 'ema' | 'live';
  seed: number;
  device: string;
  threads?: number;
  precision: boolean | 'auto';
  out?: string;
  resume: boolean;
  init?: string;
  json: boolean;
}

export function registerTrain(program: Command): void {
  program
    .command('train')
    .description('train a model with a semi-supervised algorithm (or the supervised baseline)')
    .option('--dataset <name>', `one of ${Object.keys(DATASETS).join(', ')}`, 'fashion-mnist')
    .option('--data-dir <dir>', 'where the dataset files are (default: the dataset’s own folder)')
    .option('--labels <n>', 'labeled examples, balanced over classes', int(1), 40)
    .option('--unlabeled <n>', 'cap on unlabeled examples (default: the whole training set)', int(1))
    .option(
      '--validation <n>',
      'labeled training examples held out of both sets and scored with the test set (validation_accuracy)',
      int(0),
      0,
    )
    .option('--algorithm <name>', Object.keys(ALGORITHMS).join(', '), 'fixmatch')
    .option('--param <key=value...>', 'algorithm hyperparameter, repeatable (e.g. threshold=0.9)', [])
    .option('--model <name>', Object.keys(MODELS).join(', '), 'cnn')
    .option('--width <n>', 'model width (first-layer filters)', int(1))
    .option('--steps <n>', 'training steps', int(1), 1024)
    .option('--batch <n>', 'labeled batch size', int(1), 64)
    .option('--uratio <n>', 'unlabeled images per labeled one in a batch (μ)', int(1), 7)
    .option('--lr <x>', 'base learning rate (cosine decay)', float(0), 0.03)
    .option('--epoch-images <n>', 'training images per epoch (evaluation and logging period)', int(1), 65536)
    .option('--test-every <epochs>', 'test accuracy every this many epochs (and at the end)', int(1), 1)
    .addOption(
      new Option('--strong <aug>', 'strong augmentation').choices(['randaugment', 'ctaugment']).default('randaugment'),
    )
    .option('--ema-decay <x>', 'decay of the EMA evaluation model, in [0, 1]', float(0, 1), 0.999)
    .option('--weight-decay <x>', 'L2 weight decay on conv and dense kernels', float(0), TRAIN_DEFAULTS.weightDecay)
    .option(
      '--bn-momentum <x>',
      'BatchNorm running-statistics momentum (the TF reference: 0.001; 0.01 lets short runs catch up)',
      float(0, 1),
      TRAIN_DEFAULTS.bnMomentum,
    )
    .option('--flip', 'random horizontal flips in the weak augmentation (default: on, off for digits: mnist, svhn)')
    .option('--no-flip', 'no horizontal flips')
    .addOption(
      new Option(
        '--ema-buffers <mode>',
        "the EMA model's BatchNorm statistics: copied from the live model (short runs need it) or averaged",
      )
        .choices(['copy', 'average'])
        .default('copy'),
    )
    .option(
      '--extra-unlabeled <path>',
      'images appended to the unlabeled set: uint8 .npy (N×H×W[×C]), PNG folder, IDX or CIFAR/STL-10 .bin, or a dataset split (stl10:unlabeled, svhn:extra)',
    )
    .addOption(
      new Option('--prediction-log <dtype>', 'per-epoch softmax of every unlabeled example')
        .choices(['float16', 'float32', 'none'])
        .default('float16'),
    )
    .addOption(
      new Option(
        '--log-model <m>',
        'the model whose softmax the prediction log records: the live one being trained, or the EMA one',
      )
        .choices(['live', 'ema'])
        .default('live'),
    )
    .option('--seed <n>', 'seed of the split and of training', int(0), 0)
    .option('--device <d>', "'cpu', 'cuda' or 'cuda:N'", 'cpu')
    .option('--threads <n>', 'libtorch threads (default: all cores)', int(1))
    .option('--precision <p>', 'auto, bf16 or fp32', precision, 'auto')
    .option('--out <dir>', 'run folder: config, metrics, checkpoint, prediction log, final weights')
    .option('--init <model.safetensors>', 'start from these weights (fine-tuning, as in transfer learning)')
    .option('--resume', 'continue from the run folder’s checkpoint', false)
    .option('--json', 'print one JSON object with the final metrics', false)
    .action(async (flags: TrainFlags) => {
      if (!isDatasetName(flags.dataset)) {
        throw new Error(
          `--dataset: unknown dataset '${flags.dataset}' (choose from ${Object.keys(DATASETS).join(', ')})`,
        );
      }
      if (!isAlgorithmName(flags.algorithm)) {
        throw new Error(
          `--algorithm: unknown '${flags.algorithm}' (choose from ${Object.keys(ALGORITHMS).join(', ')})`,
        );
      }
      if (!(flags.model in MODELS)) {
        throw new Error(`--model: unknown '${flags.model}' (choose from ${Object.keys(MODELS).join(', ')})`);
      }
      if (flags.resume && !flags.out) throw new Error('--resume needs --out');
      const algorithm: AlgorithmName = flags.algorithm;
      const params = parseParamAssignments(algorithm, ALGORITHMS[algorithm].params, flags.param);
      const { device, bf16 } = setupEngine(flags);
      const trainSet = await loadDataset(flags.dataset, 'train', flags.dataDir);
      const test = await loadDataset(flags.dataset, 'test', flags.dataDir);
      const split = splitDataset(trainSet, {
        labels: flags.labels,
        seed: flags.seed,
        unlabeled: flags.unlabeled,
        validation: flags.validation,
      });
      let unlabeled = split.unlabeled;
      if (flags.extraUnlabeled) {
        const extra = await readImages(flags.extraUnlabeled, { dataDir: flags.dataDir });
        unlabeled = extendUnlabeled(unlabeled, extra, flags.extraUnlabeled);
      }
      const options = {
        algorithm,
        params,
        model: flags.model as ModelName,
        width: flags.width,
        steps: flags.steps,
        batchSize: flags.batch,
        uratio: flags.uratio,
        lr: flags.lr,
        epochImages: flags.epochImages,
        testEvery: flags.testEvery,
        strongAugment: flags.strong,
        emaDecay: flags.emaDecay,
        emaBuffers: flags.emaBuffers,
        weightDecay: flags.weightDecay,
        bnMomentum: flags.bnMomentum,
        flip: flags.flip ?? DATASETS[flags.dataset].mirror,
        seed: flags.seed,
        device,
        bf16,
        init: flags.init,
      };
      const config = {
        ...options,
        dataset: flags.dataset,
        labels: flags.labels,
        unlabeled: unlabeled.n,
        validation: flags.validation,
        extraUnlabeled: flags.extraUnlabeled ?? null,
      };
      const created = flags.out !== undefined && !existsSync(flags.out);
      // A resumed run keeps the config it was started with (the trainer refuses other settings).
      const resuming = flags.resume && existsSync(join(flags.out!, 'checkpoint.safetensors'));
      if (flags.out) {
        mkdirSync(flags.out, { recursive: true });
        if (!resuming) {
          writeFileAtomic(join(flags.out, 'config.json'), Buffer.from(JSON.stringify(config, null, 2) + '\n'));
        }
      }
      const bar = progressBar('training', flags.steps, 'loss {loss} | acc {acc}');
      let acc = '-';
      const result = await train(
        options,
        { labeled: split.labeled, unlabeled, test, validation: split.validation },
        {
          onStep: (s) => bar.update(s.step, { loss: s.loss.toFixed(3), acc }),
          onEpoch: (e) => {
            acc = e.testAccuracy === null ? '-' : `${(100 * e.testAccuracy).toFixed(1)}%`;
          },
        },
        flags.out
          ? {
              dir: flags.out,
              resume: flags.resume,
              predictionLog: flags.predictionLog === 'none' ? false : flags.predictionLog,
              logModel: flags.logModel,
              settings: { dataset: flags.dataset, extraUnlabeled: flags.extraUnlabeled ?? null },
            }
          : undefined,
      ).catch((err: unknown) => {
        bar.stop();
        // A folder this run created and left without a checkpoint holds nothing to resume.
        if (created && !existsSync(join(flags.out!, 'checkpoint.safetensors'))) {
          rmSync(flags.out!, { recursive: true, force: true });
        }
        throw err;
      });
      bar.stop();
      const summary = {
        algorithm,
        dataset: flags.dataset,
        labels: flags.labels,
        unlabeled: unlabeled.n,
        steps: flags.steps,
        resumed_from: result.resumedFrom,
        test_accuracy: result.testAccuracy,
        ...(split.validation ? { validation: split.validation.n, validation_accuracy: result.validationAccuracy } : {}),
        out: flags.out ?? null,
      };
      if (flags.out) {
        const meta = { model: flags.model, config: JSON.stringify(config), norm: JSON.stringify(result.norm) };
        saveSafetensors(join(flags.out, 'model.safetensors'), result.ema.stateDict(), meta);
      }
      if (flags.json) console.log(JSON.stringify(summary));
      else {
        console.log(`test accuracy: ${(100 * (result.testAccuracy ?? 0)).toFixed(2)}% (EMA model)`);
        if (split.validation)
          console.log(
            `validation accuracy: ${(100 * (result.validationAccuracy ?? 0)).toFixed(2)}% (${split.validation.n} held out)`,
          );
      }
      result.model.dispose();
      result.ema.dispose();
    });
}
