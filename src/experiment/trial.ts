// One attack trial, end to end: split → choose x*, y*, x′ → craft → train the victim clean and
// poisoned (same seed) → judge the target and the bridge → optionally scan the poisoned unlabeled
// set with a detector, remove what it flags, retrain and judge again. Every training run is a
// resumable folder keyed by a hash of what determines it: clean runs (split and training options)
// under clean/, poisoned runs (the same plus the attack) under poisoned/, so trials that share them
// share one run; the trial's own folder holds its config, poisons, defended run and result.
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { craftPoisons, writeCrafted, type Crafted } from '../attack/index.js';
import { loadDataset, splitDataset, subset, extendUnlabeled, type DatasetName, type ImageSet } from '../data/index.js';
import type { Evaluation } from '../defense/index.js';
import type { TrainOptions } from '../ssl/index.js';
import { checkDevice, resolveBf16, setFlushDenormal, setNumThreads, type Device } from '../tensor/index.js';
import { writeFileAtomic } from '../util/atomic.js';
import { seededRandom } from '../util/random.js';
import { resolveTrialConfig, trialDirName, trialId, type TrialConfig } from './config.js';
import { scanUnlabeled } from './defend.js';
import { configHash } from './hash.js';
import { lockRun } from './lock.js';
import { evaluatePoisons, trainVictim, type Propagation, type RunOutcome, type VictimPhase } from './victim.js';

export interface TrialProgress {
  phase: VictimPhase;
  step: number;
  steps: number;
  /** Share of the whole trial done, 0..1. */
  fraction: number;
}

export interface RunTrialOptions {
  /** Root of the run folders (trials/ and clean/ beneath it). */
  dir: string;
  /** libtorch threads (default: all cores). */
  threads?: number;
  device?: Device;
  /** Where the dataset's files are (default: the dataset's own folder). */
  dataDir?: string;
  onProgress?: (p: TrialProgress) => void;
}

export interface DefenseOutcome extends Evaluation {
  method: string;
  rule: string;
  threshold: number;
  flagged: number;
  /** x* gets y* after the flagged examples are removed and the victim retrained (and not without poisons). */
  success: boolean;
  /** The retrained run; null when nothing was flagged (the poisoned run stands). */
  run: RunOutcome | null;
  prediction: number;
  pDesired: number;
  accuracy: number | null;
}

export interface TrialResult {
  id: string;
  target: number;
  trueLabel: number;
  desired: number;
  source: number;
  poisons: number;
  ratio: number;
  success: boolean;
  pDesired: number;
  pDesiredClean: number;
  clean: RunOutcome;
  poisoned: RunOutcome;
  propagation: Propagation;
  bridgeDesired: number | null;
  defense: DefenseOutcome | null;
  device: string;
  bf16: boolean;
  /** The trial's folder: config.json, result.json, poisons/, defended/. */
  dir: string;
  seconds: number;
}

const datasets = new Map<string, Promise<ImageSet>>();

/** Datasets stay in memory for the process's next trials. */
function dataset(name: DatasetName, split: 'train' | 'test', dir?: string): Promise<ImageSet> {
  const key = `${name}\0${split}\0${dir ?? ''}`;
  let p = datasets.get(key);
  if (!p) {
    p = loadDataset(name, split, dir);
    p.catch(() => datasets.delete(key));
    datasets.set(key, p);
  }
  return p;
}

/** x*, y* and x′: given in the config, or drawn from the trial seed (the paper's random targets). */
export function selectAttack(
  c: Pick<TrialConfig, 'target' | 'desired' | 'source' | 'seed'>,
  test: ImageSet,
  labeled: ImageSet,
): { target: number; trueLabel: number; desired: number; source: number } {
  const testLabels = test.labels!;
  const labeledLabels = labeled.labels!;
  const random = seededRandom(c.seed);
  let target = c.target;
  if (target === null) {
    do target = Math.floor(random() * test.n);
    while (c.desired !== null && testLabels[target] === c.desired);
  } else if (target >= test.n) {
    throw new Error(`target: test index ${target} is outside the test set (0..${test.n - 1})`);
  }
  const trueLabel = testLabels[target];
  let desired = c.desired;
  if (desired === null) {
    const others = Array.from({ length: test.numClasses }, (_, k) => k).filter((k) => k !== trueLabel);
    desired = others[Math.floor(random() * others.length)];
  } else if (desired >= test.numClasses) {
    throw new Error(`desired: ${desired} is not a class (0..${test.numClasses - 1})`);
  } else if (desired === trueLabel) {
    throw new Error(`desired: ${desired} is already the true label of target #${target}`);
  }
  let source = c.source;
  if (source === null) {
    const ofClass = Array.from({ length: labeled.n }, (_, i) => i).filter((i) => labeledLabels[i] === desired);
    if (ofClass.length === 0) throw new Error(`source: the labeled set has no image of class ${desired}`);
    source = ofClass[Math.floor(random() * ofClass.length)];
  } else if (source >= labeled.n || labeledLabels[source] !== desired) {
    throw new Error(`source: labeled #${source} is not an image of the desired class ${desired}`);
  }
  return { target, trueLabel, desired, source };
}

function pickFields<K extends keyof TrialConfig>(c: TrialConfig, keys: K[]): Pick<TrialConfig, K> {
  return Object.fromEntries(keys.map((k) => [k, c[k]])) as Pick<TrialConfig, K>;
}

function victimOptions(c: TrialConfig, device: Device, bf16: boolean): Partial<TrainOptions> {
  return {
    algorithm: c.algorithm,
    params: c.params,
    model: c.model,
    width: c.width ?? undefined,
    steps: c.steps,
    batchSize: c.batch,
    uratio: c.uratio,
    epochImages: c.epochImages,
    testEvery: c.testEvery,
    lr: c.lr,
    strongAugment: c.strongAugment,
    flip: c.flip,
    bf16,
    device,
    seed: c.trainSeed,
  };
}

async function savePoisons(dir: string, crafted: Crafted): Promise<void> {
  if (existsSync(dir)) return;
  try {
    await writeCrafted(dir, crafted);
  } catch (err) {
    // Another process running the same trial (a retried job) wrote the same poisons first.
    if (!existsSync(dir)) throw err;
  }
}

/** Runs (or resumes, or finishes reusing stored runs) one trial. */
export async function runTrial(input: Partial<TrialConfig>, opts: RunTrialOptions): Promise<TrialResult> {
  const started = Date.now();
  const c = resolveTrialConfig(input);
  const id = trialId(c);
  const dir = join(opts.dir, 'trials', trialDirName(c));
  mkdirSync(dir, { recursive: true });
  writeFileAtomic(join(dir, 'config.json'), Buffer.from(JSON.stringify({ id, ...c }, null, 2) + '\n'));
  if (opts.threads !== undefined) setNumThreads(opts.threads);
  setFlushDenormal(true);
  const device = checkDevice(opts.device ?? 'cpu');
  const bf16 = resolveBf16(c.precision === 'auto' ? 'auto' : c.precision === 'bf16', device);

  const train = await dataset(c.dataset, 'train', opts.dataDir);
  const test = await dataset(c.dataset, 'test', opts.dataDir);
  const splitSpec = { dataset: c.dataset, labels: c.labels, unlabeled: c.unlabeled, seed: c.splitSeed };
  const split = splitDataset(train, { labels: c.labels, seed: c.splitSeed, unlabeled: c.unlabeled ?? undefined });
  const pick = selectAttack(c, test, split.labeled);
  const crafted = craftPoisons(
    { test, labeled: split.labeled, unlabeledSize: split.unlabeled.n },
    {
      targetIndex: pick.target,
      desired: pick.desired,
      ratio: c.ratio ?? undefined,
      count: c.count ?? undefined,
      density: c.density,
      variant: c.variant,
      params: c.variantParams,
      seed: c.seed,
      sourceIndex: pick.source,
    },
  );
  crafted.manifest.split = splitSpec;
  await savePoisons(join(dir, 'poisons'), crafted);

  const options = victimOptions(c, device, bf16);
  const phases: VictimPhase[] = c.defense === 'none' ? ['clean', 'poisoned'] : ['clean', 'poisoned', 'defended'];
  const done = new Map<VictimPhase, number>();
  const report = (phase: VictimPhase, step: number, steps: number): void => {
    done.set(phase, step / steps);
    const fraction = [...done.values()].reduce((a, b) => a + b, 0) / phases.length;
    opts.onProgress?.({ phase, step, steps, fraction });
  };
  const cleanKey = configHash({ split: splitSpec, options });
  const cleanName = `${c.dataset}-${c.algorithm}-${c.model}-l${c.labels}-u${c.unlabeled ?? 'all'}-${cleanKey}`;
  // Trials that differ only in their defense share the poisoned run too.
  const attack = { ...pick, ...pickFields(c, ['variant', 'variantParams', 'density', 'ratio', 'count', 'seed']) };
  const poisonedKey = configHash({ split: splitSpec, options, attack });
  const budget = c.count !== null ? `n${c.count}` : `r${c.ratio}`;
  const poisonedName = `${c.dataset}-${c.algorithm}-${c.variant}-${budget}-s${c.seed}-${poisonedKey}`;
  const victim = {
    labeled: split.labeled,
    unlabeled: split.unlabeled,
    test,
    poisons: crafted.poisons,
    targetIndex: pick.target,
    desired: pick.desired,
    bridge: crafted.manifest.poisons,
  };
  const ev = await evaluatePoisons(
    victim,
    options,
    {
      clean: { dir: join(opts.dir, 'clean', cleanName), key: cleanKey },
      poisoned: { dir: join(opts.dir, 'poisoned', poisonedName), key: poisonedKey },
    },
    (phase, s) => report(phase, s.step, s.steps),
  );

  let defense: DefenseOutcome | null = null;
  if (c.defense !== 'none') {
    const poisonedSet = extendUnlabeled(split.unlabeled, crafted.poisons, 'poisons');
    const scan = scanUnlabeled(
      {
        method: c.defense,
        k: c.defenseK,
        linkage: c.linkage,
        z: c.flagZ,
        count: c.flagCount,
        threshold: c.flagThreshold,
      },
      poisonedSet,
      join(ev.poisoned.dir, 'predictions.npy'),
      split.unlabeled.n,
    );
    const keep = Array.from({ length: poisonedSet.n }, (_, i) => i).filter((i) => !scan.flags.flagged[i]);
    let run: RunOutcome | null = null;
    if (keep.length < poisonedSet.n) {
      const defendedDir = join(dir, 'defended');
      const lock = await lockRun(defendedDir);
      try {
        run = await trainVictim(
          options,
          { labeled: split.labeled, unlabeled: subset(poisonedSet, keep), test },
          pick.target,
          { dir: defendedDir, key: configHash({ trial: id, options, keep }) },
          { onStep: (s) => report('defended', s.step, s.steps) },
        );
      } finally {
        lock.release();
      }
    }
    report('defended', 1, 1);
    const after = run ?? ev.poisoned;
    defense = {
      ...scan.evaluation,
      method: c.defense,
      rule: scan.flags.rule,
      threshold: scan.flags.threshold,
      flagged: poisonedSet.n - keep.length,
      success: after.prediction === pick.desired && ev.clean.prediction !== pick.desired,
      run,
      prediction: after.prediction,
      pDesired: after.probs[pick.desired],
      accuracy: after.accuracy,
    };
  }

  const result: TrialResult = {
    id,
    ...pick,
    poisons: crafted.manifest.count,
    ratio: crafted.manifest.ratio,
    success: ev.success,
    pDesired: ev.poisoned.probs[pick.desired],
    pDesiredClean: ev.clean.probs[pick.desired],
    clean: ev.clean,
    poisoned: ev.poisoned,
    propagation: ev.propagation,
    bridgeDesired: ev.bridgeDesired,
    defense,
    device,
    bf16,
    dir,
    seconds: (Date.now() - started) / 1000,
  };
  writeFileAtomic(join(dir, 'result.json'), Buffer.from(JSON.stringify(result, null, 2) + '\n'));
  return result;
}
