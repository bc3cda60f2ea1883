// Training the victim on the clean and on the poisoned unlabeled set (same seed) and judging the
// target: the EMA model's prediction and p(y*) for x*, both clean accuracies, and how the model's
// labels walk along the bridge epoch by epoch (read back from the poisoned run's prediction log, so
// a resumed or reused run gives the same answer as one trained in a single go).
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { insertPoisons, type Manifest } from '../attack/index.js';
import { extendUnlabeled, float16ToNumber, readNpy, subset, type ImageSet } from '../data/index.js';
import {
  argmaxRows,
  predictProbs,
  train,
  TRAIN_DEFAULTS,
  type EpochInfo,
  type StepInfo,
  type TrainData,
  type TrainOptions,
} from '../ssl/index.js';
import { saveSafetensors } from '../tensor/index.js';
import { writeFileAtomic } from '../util/atomic.js';
import { lockRun, tryLock, type RunLock } from './lock.js';

/** A resumable training run: its folder and a key naming its options and data. */
export interface VictimRun {
  dir: string;
  /** A folder that holds a run with another key is cleared before training. */
  key: string;
}

export interface RunOutcome {
  dir: string;
  /** The EMA model's label for x*. */
  prediction: number;
  /** Its softmax for x*. */
  probs: number[];
  /** Clean test accuracy at the end. */
  accuracy: number | null;
  resumedFrom: number;
  stepsRun: number;
  epochs: EpochInfo[];
}

export interface Propagation {
  /** α of each point of the main bridge x′ → x*, in increasing order. */
  alphas: number[];
  /** The poisoned model's label of each of those points after each epoch. */
  epochs: { epoch: number; labels: number[] }[];
}

export interface PoisonedVictim {
  labeled: ImageSet;
  /** The clean unlabeled set; the poisons are appended after it, or placed at `positions`. */
  unlabeled: ImageSet;
  test: ImageSet;
  poisons: ImageSet;
  /** Where the poisons came from, for error messages. */
  poisonsFrom?: string;
  targetIndex: number;
  desired: number;
  /** Each poison's place on its path (the manifest's `poisons`). */
  bridge: Manifest['poisons'];
  /** The manifest's `positions`: poison k at positions[k] of the poisoned unlabeled set (default: appended). */
  positions?: readonly number[];
}

export interface PoisonEvaluation {
  clean: RunOutcome;
  poisoned: RunOutcome;
  /** x* gets y* with the poisons and not without. */
  success: boolean;
  propagation: Propagation;
  /** Share of the main bridge labeled y* after the last epoch. */
  bridgeDesired: number | null;
}

export type VictimPhase = 'clean' | 'poisoned' | 'defended';
export type StepListener = (phase: VictimPhase, info: StepInfo) => void;

const RUN_FILE = 'run.json';
/** The EMA model's final weights in every run folder, loadable by `loadClassifier` (and `train --init`). */
export const MODEL_FILE = 'model.safetensors';

/** Trains (or resumes, or reuses) one run and judges the target; the caller holds the run's lock. */
export async function trainVictim(
  options: Partial<TrainOptions>,
  data: TrainData & { test: ImageSet },
  targetIndex: number,
  run: VictimRun,
  opts: { predictionLog?: boolean; onStep?: (info: StepInfo) => void } = {},
): Promise<RunOutcome> {
  const runFile = join(run.dir, RUN_FILE);
  const previous = existsSync(runFile) ? (JSON.parse(readFileSync(runFile, 'utf8')) as { key?: string }) : null;
  if (previous?.key !== run.key) rmSync(run.dir, { recursive: true, force: true });
  mkdirSync(run.dir, { recursive: true });
  writeFileAtomic(runFile, Buffer.from(JSON.stringify({ key: run.key, options }, null, 2) + '\n'));
  const r = await train(
    options,
    data,
    { onStep: opts.onStep },
    { dir: run.dir, resume: true, predictionLog: opts.predictionLog ? 'float16' : false },
  );
  try {
    const meta = {
      model: options.model ?? TRAIN_DEFAULTS.model,
      config: JSON.stringify({ width: options.width ?? null }),
      norm: JSON.stringify(r.norm),
    };
    const modelPath = join(run.dir, MODEL_FILE);
    // A reused run (no step trained) already holds its weights.
    if (r.stepsRun > 0 || !existsSync(modelPath)) saveSafetensors(modelPath, r.ema.stateDict(), meta);
    const device = options.device;
    const probs = Array.from(
      predictProbs(r.ema, subset(data.test, [targetIndex]), r.norm, { device, bf16: options.bf16 }),
    );
    return {
      dir: run.dir,
      prediction: argmaxRows(Float32Array.from(probs), data.test.numClasses)[0],
      probs,
      accuracy: r.testAccuracy,
      resumedFrom: r.resumedFrom,
      stepsRun: r.stepsRun,
      epochs: r.epochs,
    };
  } finally {
    r.model.dispose();
    r.ema.dispose();
  }
}

/**
 * The poisoned model's labels along the main bridge, per epoch, from its prediction log. `at` is
 * where the poisons sit in the logged set: appended after `at` clean images, or poison k at at[k].
 */
export function bridgePropagation(
  logPath: string,
  epochs: EpochInfo[],
  at: number | readonly number[],
  bridge: Manifest['poisons'],
): Propagation {
  const order = bridge.filter((p) => p.path === 0).sort((a, b) => a.alpha - b.alpha);
  const log = readNpy(logPath);
  const [rows, n, classes] = log.shape;
  if (rows !== epochs.length) throw new Error(`${logPath}: holds ${rows} epochs, the run's metrics ${epochs.length}`);
  const value = (i: number): number =>
    log.dtype === 'float16' ? float16ToNumber((log.data as Uint16Array)[i]) : Number(log.data[i]);
  return {
    alphas: order.map((p) => p.alpha),
    epochs: epochs.map((e, row) => ({
      epoch: e.epoch,
      labels: order.map((p) => {
        const slot = typeof at === 'number' ? at + p.index : at[p.index];
        if (!(slot >= 0 && slot < n))
          throw new Error(`${logPath}: poison ${p.index} at ${slot} is outside its ${n} examples`);
        const base = (row * n + slot) * classes;
        const probs = Float32Array.from({ length: classes }, (_, k) => value(base + k));
        return argmaxRows(probs, classes)[0];
      }),
    })),
  };
}

/** Trains (or reuses) the clean run of a poisoned victim, waiting for its lock if another process holds it. */
export async function trainCleanVictim(
  v: PoisonedVictim,
  options: Partial<TrainOptions>,
  run: VictimRun,
  onStep?: StepListener,
): Promise<RunOutcome> {
  const lock = await lockRun(run.dir);
  return trainCleanLocked(v, options, run, lock, onStep);
}

async function trainCleanLocked(
  v: PoisonedVictim,
  options: Partial<TrainOptions>,
  run: VictimRun,
  lock: RunLock,
  onStep?: StepListener,
): Promise<RunOutcome> {
  try {
    return await trainClean(v, options, run, onStep);
  } finally {
    lock.release();
  }
}

/** Trains (or reuses) the clean run of a victim, without its poisons; the caller holds the run's lock. */
export function trainClean(
  v: Pick<PoisonedVictim, 'labeled' | 'unlabeled' | 'test' | 'targetIndex'>,
  options: Partial<TrainOptions>,
  run: VictimRun,
  onStep?: StepListener,
): Promise<RunOutcome> {
  return trainVictim(options, { labeled: v.labeled, unlabeled: v.unlabeled, test: v.test }, v.targetIndex, run, {
    onStep: (s) => onStep?.('clean', s),
  });
}

export interface EvaluateOptions {
  /**
   * The clean run, trained elsewhere at the same time (another process, see `trainCleanRun`);
   * only the poisoned run is trained here.
   */
  clean?: Promise<RunOutcome>;
}

/**
 * Trains the victim without and with the poisons (same options, so the same seed) and judges x*.
 * The clean run goes first unless another process holds its lock (a clean run shared by several
 * trials): then the poisoned run goes first and the clean one is most likely finished by then.
 * With `opts.clean`, another process trains the clean run meanwhile.
 */
export async function evaluatePoisons(
  v: PoisonedVictim,
  options: Partial<TrainOptions>,
  runs: { clean: VictimRun; poisoned: VictimRun },
  onStep?: StepListener,
  opts: EvaluateOptions = {},
): Promise<PoisonEvaluation> {
  const poisonedSet = v.positions
    ? insertPoisons(v.unlabeled, v.poisons, v.positions, v.poisonsFrom)
    : extendUnlabeled(v.unlabeled, v.poisons, v.poisonsFrom ?? 'poisons');
  const trainPoisoned = async (): Promise<RunOutcome> => {
    const lock = await lockRun(runs.poisoned.dir);
    try {
      return await trainVictim(
        options,
        { labeled: v.labeled, unlabeled: poisonedSet, test: v.test },
        v.targetIndex,
        runs.poisoned,
        { predictionLog: true, onStep: (s) => onStep?.('poisoned', s) },
      );
    } finally {
      lock.release();
    }
  };
  let clean: RunOutcome;
  let poisoned: RunOutcome;
  const cleanLock = opts.clean ? null : tryLock(runs.clean.dir);
  if (opts.clean) {
    // Settles the other process's outcome even if the poisoned run fails first.
    const elsewhere = opts.clean.then(
      (outcome) => ({ outcome }),
      (error: unknown) => ({ error }),
    );
    poisoned = await trainPoisoned();
    const r = await elsewhere;
    if ('error' in r) throw r.error;
    clean = r.outcome;
  } else if (cleanLock) {
    clean = await trainCleanLocked(v, options, runs.clean, cleanLock, onStep);
    poisoned = await trainPoisoned();
  } else {
    poisoned = await trainPoisoned();
    clean = await trainCleanVictim(v, options, runs.clean, onStep);
  }
  const propagation = bridgePropagation(
    join(runs.poisoned.dir, 'predictions.npy'),
    poisoned.epochs,
    v.positions ?? v.unlabeled.n,
    v.bridge,
  );
  const last = propagation.epochs[propagation.epochs.length - 1];
  return {
    clean,
    poisoned,
    success: poisoned.prediction === v.desired && clean.prediction !== v.desired,
    propagation,
    bridgeDesired:
      last && propagation.alphas.length
        ? last.labels.filter((l) => l === v.desired).length / propagation.alphas.length
        : null,
  };
}
