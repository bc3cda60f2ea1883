// One attack trial, end to end: split → choose x*, y*, x′ → craft → train the victim clean and
// poisoned (same seed) → judge the target and the bridge → optionally scan the poisoned unlabeled
// set with a detector, remove what it flags (in one or more rounds), retrain and judge again, and
// compare the clean accuracy of unpoisoned and defended victims over training seeds. Every
// training run is a resumable folder keyed by a hash of what determines it: clean runs (split and
// training options) under clean/, poisoned runs (the same plus the attack) under poisoned/, so
// trials that share them share one run; the trial's own folder holds its config, poisons, defended
// runs and result.
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { craftPoisons, isVariantName, nonLabeledTrainingImages, writeCrafted, type Crafted } from '../attack/index.js';
import {
  extendUnlabeled,
  loadDataset,
  readNpyImages,
  splitDataset,
  subset,
  type DatasetName,
  type ImageSet,
  type Split,
} from '../data/index.js';
import {
  DEFENSES,
  flagRates,
  MIN_ROUND_SIZE,
  SCAN_DEFAULTS,
  unionFlags,
  type DefenseName,
  type Evaluation,
} from '../defense/index.js';
import type { StepInfo, TrainOptions } from '../ssl/index.js';
import { checkDevice, setFlushDenormal, setNumThreads, type Device } from '../tensor/index.js';
import { writeFileAtomic } from '../util/atomic.js';
import { seededRandom } from '../util/random.js';
import { resolveTrialConfig, TRIAL_VARIANTS, trialDirName, trialId, usesBf16, type TrialConfig } from './config.js';
import { accuracyCost, type AccuracyCost } from './compare.js';
import { scanUnlabeled, type DefenseSettings, type Scan } from './defend.js';
import { configHash } from './hash.js';
import { lockRun, tryLock, type RunLock } from './lock.js';
import { prepareVariant } from './variants.js';
import {
  evaluatePoisons,
  trainClean,
  trainCleanVictim,
  trainVictim,
  type PoisonEvaluation,
  type PoisonedVictim,
  type Propagation,
  type RunOutcome,
  type VictimPhase,
  type VictimRun,
} from './victim.js';

export interface TrialProgress {
  /** 'prepare': the network a GAN or transfer variant trains before crafting. */
  phase: VictimPhase | 'prepare';
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
  /** Steps of the networks a variant trains before crafting ('gan', 'init'). */
  onPrepare?: (what: string, step: number, steps: number) => void;
}

export interface DefenseOutcome extends Evaluation {
  method: string;
  rule: string;
  threshold: number;
  flagged: number;
  /** The flagged examples, removed before retraining: indices into the clean unlabeled set, then the poisons. */
  flaggedIndices: number[];
  /** x* gets y* after the flagged examples are removed and the victim retrained (and not without poisons). */
  success: boolean;
  /** The retrained run; null when nothing was flagged (the poisoned run stands). */
  run: RunOutcome | null;
  prediction: number;
  pDesired: number;
  accuracy: number | null;
  /** Each round's scan of what the rounds before it left (one round unless `defenseRounds` > 1). */
  rounds: DefenseRound[];
  /**
   * The unpoisoned and the defended victim for each training seed compared (`retrainSeeds`), the
   * trial's own seed first (its clean run and the retrained run above).
   */
  seeds: SeedComparison[];
  /** Clean accuracy lost to the defense over those seeds; null when a run has no test accuracy. */
  accuracyCost: AccuracyCost | null;
}

export interface DefenseRound {
  round: number;
  /** Examples scanned: what earlier rounds left. */
  scanned: number;
  flagged: number;
  poisonsFlagged: number;
  /** Indices into the poisoned unlabeled set (clean examples, then the poisons). */
  flaggedIndices: number[];
  /** AUROC of this round's scores over the examples it scanned (null when they hold no poison, or only poisons). */
  auroc: number | null;
}

/** A victim run of the seed comparison, without its epochs. */
export interface SeedRun {
  dir: string;
  prediction: number;
  pDesired: number;
  accuracy: number | null;
}

export interface SeedComparison {
  seed: number;
  clean: SeedRun;
  defended: SeedRun;
  /** x* gets y* from this seed's defended victim and not from its unpoisoned one. */
  success: boolean;
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
  if (desired === null && c.source !== null) {
    // A given source fixes the desired label: its own (Figure 3's source × target grid).
    if (c.source >= labeled.n)
      throw new Error(`source: labeled #${c.source} is outside the labeled set (0..${labeled.n - 1})`);
    desired = labeledLabels[c.source];
    if (desired === trueLabel) {
      throw new Error(`source: labeled #${c.source} has the target's own class ${desired}; there is nothing to poison`);
    }
  } else if (desired === null) {
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

/** Whether the poisons folder holds exactly these poisons (the images the poisoned run trains on). */
function samePoisons(dir: string, crafted: Crafted): boolean {
  try {
    const saved = readNpyImages(join(dir, 'poisons.npy'));
    return Buffer.from(saved.images).equals(Buffer.from(crafted.poisons.images));
  } catch {
    return false;
  }
}

async function savePoisons(dir: string, crafted: Crafted): Promise<void> {
  if (existsSync(dir)) {
    if (samePoisons(dir, crafted)) return;
    // Written by an earlier version of the attack code: replace it, so that the folder always
    // shows what the poisoned run trained on.
    const stale = `${dir}.stale-${process.pid}`;
    renameSync(dir, stale);
    rmSync(stale, { recursive: true, force: true });
  }
  try {
    await writeCrafted(dir, crafted);
  } catch (err) {
    // Another process running the same trial (a retried job) wrote the same poisons first.
    if (!existsSync(dir)) throw err;
  }
}

/** What determines a trial's split, as it enters the run keys. */
function splitSpecOf(c: TrialConfig): { dataset: DatasetName; labels: number; unlabeled: number | null; seed: number } {
  return { dataset: c.dataset, labels: c.labels, unlabeled: c.unlabeled, seed: c.splitSeed };
}

/** The clean run of a split and training options, shared by every trial that determines them. */
function cleanRun(c: TrialConfig, root: string, options: Partial<TrainOptions>): VictimRun {
  const key = configHash({ split: splitSpecOf(c), options });
  return {
    dir: join(root, 'clean', `${c.dataset}-${c.algorithm}-${c.model}-l${c.labels}-u${c.unlabeled ?? 'all'}-${key}`),
    key,
  };
}

/**
 * The clean run is determined by the split and the training options; the poisoned run also by the
 * attack, so trials that differ only in target or defense share them.
 */
function sharedRuns(
  c: TrialConfig,
  root: string,
  options: Partial<TrainOptions>,
  pick: object,
): { clean: VictimRun; poisoned: VictimRun } {
  const attack = { ...pick, ...pickFields(c, ['variant', 'variantParams', 'density', 'ratio', 'count', 'seed']) };
  const poisonedKey = configHash({ split: splitSpecOf(c), options, attack });
  const budget = c.count !== null ? `n${c.count}` : `r${c.ratio}`;
  return {
    clean: cleanRun(c, root, options),
    poisoned: {
      dir: join(root, 'poisoned', `${c.dataset}-${c.algorithm}-${c.variant}-${budget}-s${c.seed}-${poisonedKey}`),
      key: poisonedKey,
    },
  };
}

export interface DefenseInput {
  /** The trial's folder. */
  dir: string;
  split: Split;
  test: ImageSet;
  poisons: ImageSet;
  target: number;
  desired: number;
  ev: PoisonEvaluation;
  options: Partial<TrainOptions>;
}

/** One detector's scan of the poisoned unlabeled set, within a defense. */
export interface DetectorScan {
  settings: DefenseSettings;
  scan: Scan;
}

export interface MultiDefenseOutcome {
  scans: DetectorScan[];
  /** Union of every detector's flags. */
  flagged: Uint8Array;
  /** The retrained run; null when nothing was flagged (the poisoned run stands). */
  run: RunOutcome | null;
  prediction: number;
  pDesired: number;
  accuracy: number | null;
  success: boolean;
}

interface RetrainOptions {
  options?: Partial<TrainOptions>;
  predictionLog?: boolean;
  onStep: (s: StepInfo) => void;
}

/** Trains the victim on the examples of the poisoned unlabeled set that `keep` lists; the caller holds the run's lock. */
function trainKept(
  d: DefenseInput,
  poisonedSet: ImageSet,
  keep: number[],
  run: VictimRun,
  opts: RetrainOptions,
): Promise<RunOutcome> {
  return trainVictim(
    opts.options ?? d.options,
    { labeled: d.split.labeled, unlabeled: subset(poisonedSet, keep), test: d.test },
    d.target,
    run,
    { onStep: opts.onStep, predictionLog: opts.predictionLog },
  );
}

/** Runs `fn` holding the lock of the run folder `dir`. */
async function withRunLock<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  const lock = await lockRun(dir);
  try {
    return await fn();
  } finally {
    lock.release();
  }
}

/**
 * Scans the poisoned unlabeled set with each detector, removes the union of what they flag,
 * retrains (in `dir`) and judges x* again.
 */
export async function defendWith(
  detectors: DefenseSettings[],
  d: DefenseInput,
  dir: string,
  runKey: object,
  onStep: (s: StepInfo) => void,
): Promise<MultiDefenseOutcome> {
  if (detectors.length === 0) throw new Error('defense: no detector given');
  const poisonedSet = extendUnlabeled(d.split.unlabeled, d.poisons, 'poisons');
  const scanned = scanUnlabeled(
    detectors,
    poisonedSet,
    join(d.ev.poisoned.dir, 'predictions.npy'),
    d.split.unlabeled.n,
  );
  const scans = detectors.map((settings, i) => ({ settings, scan: scanned[i] }));
  const flagged = unionFlags(
    scanned.map((scan) => scan.flags),
    poisonedSet.n,
  );
  const keep = Array.from({ length: poisonedSet.n }, (_, i) => i).filter((i) => !flagged[i]);
  const run =
    keep.length < poisonedSet.n
      ? await withRunLock(dir, () =>
          trainKept(
            d,
            poisonedSet,
            keep,
            { dir, key: configHash({ ...runKey, options: d.options, keep }) },
            { onStep },
          ),
        )
      : null;
  const after = run ?? d.ev.poisoned;
  return {
    scans,
    flagged,
    run,
    prediction: after.prediction,
    pDesired: after.probs[d.desired],
    accuracy: after.accuracy,
    success: after.prediction === d.desired && d.ev.clean.prediction !== d.desired,
  };
}

/** A run outcome as the seed comparison keeps it. */
function seedRun(r: RunOutcome, desired: number): SeedRun {
  return { dir: r.dir, prediction: r.prediction, pDesired: r.probs[desired], accuracy: r.accuracy };
}

/**
 * Runs each job while holding its run folder's lock, free folders first: a clean run that another
 * trial is training is waited for only when nothing else is left.
 */
async function runWhenFree<T>(jobs: { dir: string; run: () => Promise<T> }[]): Promise<T[]> {
  const results = new Array<T>(jobs.length);
  const pending = jobs.map((_, i) => i);
  while (pending.length > 0) {
    let at = -1;
    let lock: RunLock | null = null;
    for (let j = 0; j < pending.length && lock === null; j++) {
      lock = tryLock(jobs[pending[j]].dir);
      if (lock) at = j;
    }
    if (lock === null) {
      at = 0;
      lock = await lockRun(jobs[pending[0]].dir);
    }
    const [i] = pending.splice(at, 1);
    try {
      results[i] = await jobs[i].run();
    } finally {
      lock.release();
    }
  }
  return results;
}

/**
 * The trial's single detector, for `defenseRounds` rounds: scan what is left of the poisoned
 * unlabeled set, remove what is flagged, and scan the rest again until a round flags nothing (the
 * paper's "multiple rounds of this procedure", section 5.3). The pixel detectors rescan the smaller
 * set directly; the dynamics detector reads the prediction log of a victim retrained without the
 * removed examples, so each of its rounds trains one. The victim retrained on what is finally left
 * is judged; then, with `retrainSeeds` > 1, the unpoisoned and the defended victim again with each
 * further training seed, and the clean accuracy the defense costs over all of them.
 */
async function defend(
  c: TrialConfig,
  root: string,
  d: DefenseInput,
  onRun: (run: number, runs: number, s: StepInfo) => void,
): Promise<DefenseOutcome> {
  const method = c.defense as DefenseName;
  const settings = {
    ...SCAN_DEFAULTS,
    method,
    k: c.defenseK,
    linkage: c.linkage,
    z: c.flagZ,
    count: c.flagCount,
    threshold: c.flagThreshold,
  };
  const needsLog = DEFENSES[method].needsLog;
  const trainRounds = needsLog ? c.defenseRounds : 1;
  const runs = trainRounds + 2 * (c.retrainSeeds - 1);
  // The retrained runs do not depend on how many seeds are compared.
  const trial = trialId({ ...c, retrainSeeds: 1 });
  const poisonedSet = extendUnlabeled(d.split.unlabeled, d.poisons, 'poisons');
  const cleanN = d.split.unlabeled.n;
  const truth = new Uint8Array(poisonedSet.n).fill(1, cleanN);
  let keep = Array.from({ length: poisonedSet.n }, (_, i) => i);
  let log = join(d.ev.poisoned.dir, 'predictions.npy');
  let run: RunOutcome | null = null;
  let first: Scan | null = null;
  const rounds: DefenseRound[] = [];
  const retrainAfter = async (round: number): Promise<RunOutcome> => {
    const dir = join(d.dir, round === 1 ? 'defended' : `defended-round${round}`);
    const key = configHash({ trial, options: d.options, keep });
    return withRunLock(dir, () =>
      trainKept(
        d,
        poisonedSet,
        keep,
        { dir, key },
        {
          predictionLog: needsLog && c.defenseRounds > 1,
          onStep: (s) => onRun(round - 1, runs, s),
        },
      ),
    );
  };
  for (let round = 1; round <= c.defenseRounds; round++) {
    const scanned = round === 1 ? poisonedSet : subset(poisonedSet, keep);
    if (needsLog && !existsSync(log)) {
      throw new Error(`defense round ${round}: ${log} is missing; the retrained run before it logged no predictions`);
    }
    const [scan] = scanUnlabeled([settings], scanned, log, keep.filter((i) => i < cleanN).length);
    first ??= scan;
    const removed = keep.filter((_, j) => scan.flags.flagged[j]);
    rounds.push({
      round,
      scanned: keep.length,
      flagged: removed.length,
      poisonsFlagged: removed.filter((i) => truth[i]).length,
      flaggedIndices: removed,
      auroc: scan.evaluation.poisons > 0 && scan.evaluation.poisons < keep.length ? scan.evaluation.auroc : null,
    });
    if (removed.length === 0) break;
    const gone = new Set(removed);
    keep = keep.filter((i) => !gone.has(i));
    if (needsLog) {
      run = await retrainAfter(round);
      log = join(run.dir, 'predictions.npy');
    }
    if (keep.length < MIN_ROUND_SIZE) break;
  }
  // The pixel detectors' rounds need no training: one victim is retrained on what they left.
  if (!needsLog && keep.length < poisonedSet.n) run = await retrainAfter(1);
  const flagged = new Uint8Array(poisonedSet.n).fill(1);
  for (const i of keep) flagged[i] = 0;
  const after = run ?? d.ev.poisoned;
  const extra = Array.from({ length: c.retrainSeeds - 1 }, (_, i) => c.trainSeed + 1 + i);
  const jobs = extra.flatMap((seed, i) => {
    const options = { ...d.options, seed };
    const clean = cleanRun(c, root, options);
    const defended = { dir: join(d.dir, `defended-seed${seed}`), key: configHash({ trial, options, keep }) };
    const job = (r: VictimRun, train: (onStep: (s: StepInfo) => void) => Promise<RunOutcome>, k: number) => ({
      dir: r.dir,
      run: () => train((s) => onRun(k, runs, s)),
    });
    return [
      job(
        clean,
        (onStep) =>
          trainClean(
            { labeled: d.split.labeled, unlabeled: d.split.unlabeled, test: d.test, targetIndex: d.target },
            options,
            clean,
            (_, s) => onStep(s),
          ),
        trainRounds + 2 * i,
      ),
      job(
        defended,
        (onStep) => trainKept(d, poisonedSet, keep, defended, { options, onStep }),
        trainRounds + 2 * i + 1,
      ),
    ];
  });
  const outcomes = await runWhenFree(jobs);
  const seeds: SeedComparison[] = [
    { seed: c.trainSeed, clean: d.ev.clean, defended: after },
    ...extra.map((seed, i) => ({ seed, clean: outcomes[2 * i], defended: outcomes[2 * i + 1] })),
  ].map((s) => ({
    seed: s.seed,
    clean: seedRun(s.clean, d.desired),
    defended: seedRun(s.defended, d.desired),
    success: s.defended.prediction === d.desired && s.clean.prediction !== d.desired,
  }));
  const clean = seeds.map((s) => s.clean.accuracy);
  const defended = seeds.map((s) => s.defended.accuracy);
  const measured = (a: (number | null)[]): a is number[] => a.every((v) => v !== null);
  const scan = first!;
  return {
    ...scan.evaluation,
    // Rates over everything removed in every round; AUROC and ranks are the first scan's.
    ...flagRates(flagged, truth),
    method,
    rule: scan.flags.rule,
    threshold: scan.flags.threshold,
    flagged: poisonedSet.n - keep.length,
    flaggedIndices: Array.from(flagged.keys()).filter((i) => flagged[i]),
    rounds,
    success: after.prediction === d.desired && d.ev.clean.prediction !== d.desired,
    run,
    prediction: after.prediction,
    pDesired: after.probs[d.desired],
    accuracy: after.accuracy,
    seeds,
    accuracyCost: measured(clean) && measured(defended) ? accuracyCost(clean, defended) : null,
  };
}

/** A trial up to its training runs: config resolved, split drawn, target chosen, poisons crafted and saved. */
export interface PreparedTrial {
  config: TrialConfig;
  id: string;
  /** The trial's own folder. */
  dir: string;
  device: Device;
  bf16: boolean;
  split: Split;
  test: ImageSet;
  pick: { target: number; trueLabel: number; desired: number; source: number };
  crafted: Crafted;
  /** The victim's training options. */
  options: Partial<TrainOptions>;
  /** The clean and poisoned run folders, shared by trials that determine the same runs. */
  runs: { clean: VictimRun; poisoned: VictimRun };
}

export async function prepareTrial(input: Partial<TrialConfig>, opts: RunTrialOptions): Promise<PreparedTrial> {
  const c = resolveTrialConfig(input);
  const id = trialId(c);
  const dir = join(opts.dir, 'trials', trialDirName(c));
  mkdirSync(dir, { recursive: true });
  writeFileAtomic(join(dir, 'config.json'), Buffer.from(JSON.stringify({ id, ...c }, null, 2) + '\n'));
  if (opts.threads !== undefined) setNumThreads(opts.threads);
  setFlushDenormal(true);
  const device = checkDevice(opts.device ?? 'cpu');
  const bf16 = usesBf16(c.precision, device);

  const train = await dataset(c.dataset, 'train', opts.dataDir);
  const test = await dataset(c.dataset, 'test', opts.dataDir);
  const splitSpec = splitSpecOf(c);
  const fullSplit = splitDataset(train, {
    labels: c.labels,
    seed: c.splitSeed,
    unlabeled: c.unlabeled ?? undefined,
  });
  // The zero-knowledge attacker (section 4.1) knows no labeled image: x′ is one of its own, drawn when crafting.
  const zeroKnowledge = c.variant === 'zero-knowledge';
  if (zeroKnowledge && c.source !== null) {
    throw new Error('source: the zero-knowledge attacker knows no labeled image; leave source unset');
  }
  const pick = { ...selectAttack(c, test, fullSplit.labeled), ...(zeroKnowledge ? { source: -1 } : {}) };
  const baseOptions = victimOptions(c, device, bf16);
  const variant = await prepareVariant(c, {
    root: opts.dir,
    split: fullSplit,
    splitSpec,
    test,
    pick,
    options: baseOptions,
    onStep: opts.onPrepare,
  });
  const { split } = variant;
  let crafted: Crafted;
  try {
    crafted = craftPoisons(
      {
        test,
        labeled: split.labeled,
        unlabeledSize: split.unlabeled.n,
        attackerPool: zeroKnowledge ? nonLabeledTrainingImages(train, fullSplit) : undefined,
      },
      {
        targetIndex: pick.target,
        desired: pick.desired,
        ratio: c.ratio ?? undefined,
        count: c.count ?? undefined,
        density: c.density,
        variant: isVariantName(c.variant) ? c.variant : 'linear',
        params: isVariantName(c.variant) ? c.variantParams : {},
        custom: variant.custom,
        sourceImage: variant.sourceImage,
        seed: c.seed,
        sourceIndex: zeroKnowledge ? undefined : pick.source,
      },
    );
  } finally {
    variant.dispose();
  }
  crafted.manifest.variant = c.variant;
  crafted.manifest.params = c.variantParams;
  crafted.manifest.split = splitSpec;
  if (variant.init) crafted.manifest.init = variant.init;
  await savePoisons(join(dir, 'poisons'), crafted);
  const options = { ...baseOptions, ...variant.options };
  const runs = sharedRuns(c, opts.dir, options, pick);
  return { config: c, id, dir, device, bf16, split, test, pick, crafted, options, runs };
}

/**
 * Trains (or reuses) only the clean run of a trial, the shared run that `runTrial` and `runDemo`
 * would train first: a second process runs it while the first trains the poisoned run.
 */
export async function trainCleanRun(
  input: Partial<TrialConfig>,
  opts: RunTrialOptions & { onStep?: (step: number, steps: number) => void },
): Promise<RunOutcome> {
  const prepared = await prepareTrial(input, opts);
  return trainCleanVictim(poisonedVictim(prepared), prepared.options, prepared.runs.clean, (_, s) =>
    opts.onStep?.(s.step, s.steps),
  );
}

/** What the victim trains on and is judged by, for evaluatePoisons. */
export function poisonedVictim(p: PreparedTrial): PoisonedVictim {
  return {
    labeled: p.split.labeled,
    unlabeled: p.split.unlabeled,
    test: p.test,
    poisons: p.crafted.poisons,
    targetIndex: p.pick.target,
    desired: p.pick.desired,
    bridge: p.crafted.manifest.poisons,
  };
}

/** Runs (or resumes, or finishes reusing stored runs) one trial. */
export async function runTrial(input: Partial<TrialConfig>, opts: RunTrialOptions): Promise<TrialResult> {
  const started = Date.now();
  const resolved = resolveTrialConfig(input);
  const phases: TrialProgress['phase'][] = [
    ...(Object.hasOwn(TRIAL_VARIANTS, resolved.variant) ? (['prepare'] as const) : []),
    'clean',
    'poisoned',
    ...(resolved.defense === 'none' ? [] : (['defended'] as const)),
  ];
  const done = new Map<TrialProgress['phase'], number>();
  const report = (phase: TrialProgress['phase'], step: number, steps: number): void => {
    done.set(phase, step / steps);
    const fraction = [...done.values()].reduce((a, b) => a + b, 0) / phases.length;
    opts.onProgress?.({ phase, step, steps, fraction });
  };
  const prepared = await prepareTrial(input, {
    ...opts,
    onPrepare: (what, step, steps) => {
      opts.onPrepare?.(what, step, steps);
      report('prepare', step, steps);
    },
  });
  const { config: c, id, dir, device, bf16, split, test, pick, crafted, options, runs } = prepared;
  if (phases.includes('prepare')) report('prepare', 1, 1);
  const ev = await evaluatePoisons(poisonedVictim(prepared), options, runs, (phase, s) =>
    report(phase, s.step, s.steps),
  );
  // Reused runs report no steps; both are complete now.
  for (const phase of ['clean', 'poisoned'] as const) if (done.get(phase) !== 1) report(phase, c.steps, c.steps);

  let defense: DefenseOutcome | null = null;
  if (c.defense !== 'none') {
    const input = {
      dir,
      split,
      test,
      poisons: crafted.poisons,
      desired: pick.desired,
      target: pick.target,
      ev,
      options,
    };
    defense = await defend(c, opts.dir, input, (run, runs, s) =>
      report('defended', run * s.steps + s.step, runs * s.steps),
    );
    report('defended', 1, 1);
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
