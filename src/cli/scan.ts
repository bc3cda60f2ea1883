// `semipoison scan`: rank the examples of an unlabeled set by how likely they are poisons, without
// labels; with a ground-truth manifest, also report TPR, FPR, AUROC and each poison's rank; with
// --figures, draw the score histogram (Figure 7) and the top-ranked benign examples beside their
// nearest neighbours (Figure 8).
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { writeDirAtomic, writeFileAtomic } from '../util/atomic.js';
import { Option, type Command } from 'commander';
import { readNpy, readImages, imagesToUnit, type ImageSet } from '../data/index.js';
import {
  autoFlags,
  clusterScores,
  collinearScores,
  DEFENSES,
  duplicateScores,
  dynamicsScores,
  evaluateFlags,
  knn,
  logTensor,
  predictionDeltas,
  rankOrder,
  thresholdFlags,
  topFlags,
  type DefenseName,
  type Evaluation,
  type Flags,
} from '../defense/index.js';
import type { NeighbourRow } from '../report/index.js';
import { tensor, tidy, type Tensor } from '../tensor/index.js';
import { float, int, setupEngine } from './options.js';

interface ScanFlags {
  method: DefenseName;
  predictions?: string;
  flagCount?: number;
  threshold?: number;
  z: number;
  k: number;
  manifest?: string;
  poisonOffset?: number;
  out: string;
  json: boolean;
  threads?: number;
  linkage: 'single' | 'average';
  figures: boolean;
}

/** What each detector's score measures, for the histogram's axis. */
const SCORE_NAMES: Record<DefenseName, string> = {
  dynamics: 'influence',
  collinear: 'collinearity residual',
  cluster: 'cluster size',
  duplicates: 'nearest-neighbour distance / median',
};

/** Figure 8 as in the paper: five examples, each beside its four nearest neighbours. */
const FIGURE8_ROWS = 5;
const FIGURE8_NEIGHBOURS = 4;

/**
 * The space Figure 8's neighbours are found in: influence for dynamics (queries μ^(0,K−2), keys
 * μ^(1,K−1), as the score itself), pixels for the other detectors.
 */
type NeighbourSpace = () => { queries: Tensor; keys: Tensor };

/** The k nearest keys of each given example, itself left out. */
function neighboursOf(space: NeighbourSpace, examples: number[], k: number): number[][] {
  return tidy(() => {
    const { queries, keys } = space();
    const picked = queries.indexSelect(0, tensor(Int32Array.from(examples), [examples.length], { dtype: 'int32' }));
    const { indices } = knn(picked, keys, k + 1);
    return examples.map((self, r) =>
      Array.from(indices.subarray(r * (k + 1), (r + 1) * (k + 1)))
        .filter((j) => j !== self)
        .slice(0, k),
    );
  });
}

interface ScanOutcome {
  method: DefenseName;
  scores: Float32Array;
  flags: Flags;
  /** Example indices, most suspicious first. */
  order: number[];
  truth: Uint8Array | null;
  set: ImageSet | null;
  space: NeighbourSpace | null;
}

/** Writes Figure 7 and, when the images are at hand, Figure 8 into `dir`; returns the file names. */
async function writeScanFigures(dir: string, scan: ScanOutcome): Promise<string[]> {
  const { method, scores, flags, order, truth, set, space } = scan;
  // Loaded here: Vega adds about 0.4 s to the start of every command.
  const { neighbourGrid, scoreHistogramSpec, writeFigure } = await import('../report/index.js');
  const histogram = scoreHistogramSpec(
    { scores, isPoison: truth ?? undefined, threshold: flags.threshold },
    { scoreName: SCORE_NAMES[method], title: `${method} scores (Figure 7)` },
  );
  const written = await writeFigure(join(dir, 'figure7-influence'), histogram, ['png', 'svg']);
  const k = Math.min(FIGURE8_NEIGHBOURS, scores.length - 1);
  if (set && space && k > 0) {
    const rank = (i: number) => order.indexOf(i) + 1;
    // With ground truth these are the near false positives; without it, simply the top of the ranking.
    const examples = order.filter((i) => !truth?.[i]).slice(0, FIGURE8_ROWS);
    const neighbours = neighboursOf(space, examples, k);
    const rows: NeighbourRow[] = examples.map((index, r) => ({
      index,
      neighbours: neighbours[r],
      caption: `#${index} rank ${rank(index)}`,
    }));
    const path = join(dir, 'figure8-near-false-positives.png');
    writeFileAtomic(path, await neighbourGrid(set, rows, { isPoison: truth }));
    written.push(path);
  }
  return written.map((p) => basename(p));
}

/** Which examples are poisons, from a manifest written by attack craft (poisons appended at poisonOffset). */
function groundTruth(manifestPath: string, n: number, offset: number | undefined): Uint8Array {
  const m = JSON.parse(readFileSync(manifestPath, 'utf8')) as {
    poisons?: { index: number }[];
    unlabeled_size?: number;
  };
  if (!Array.isArray(m.poisons)) throw new Error(`${manifestPath}: not a poison manifest (no "poisons" list)`);
  const start = offset ?? m.unlabeled_size ?? 0;
  const truth = new Uint8Array(n);
  for (const p of m.poisons) {
    const i = start + p.index;
    if (i >= n) throw new Error(`${manifestPath}: poison ${p.index} at ${i} is outside the ${n} scanned examples`);
    truth[i] = 1;
  }
  return truth;
}

export function registerScan(program: Command): void {
  program
    .command('scan')
    .description('rank the examples of an unlabeled set by how likely they are poisons (no labels needed)')
    .argument('[set]', 'the unlabeled set: a uint8 .npy (N×H×W[×C]) or a folder of PNG images (optional for dynamics)')
    .addOption(new Option('--method <name>', 'detector').choices(Object.keys(DEFENSES)).default('dynamics'))
    .option('--predictions <log.npy>', 'per-epoch softmax log, epochs × examples × classes (dynamics)')
    .option('--flag-count <k>', 'flag exactly the k most suspicious examples', int(0))
    .option('--threshold <x>', 'flag scores beyond this value instead of the automatic rule', float(0))
    .option('--z <x>', 'automatic rule: robust z-score of the log-score beyond which examples are flagged', float(0), 5)
    .option('--k <n>', 'neighbours averaged by the dynamics score', int(1), 5)
    .addOption(new Option('--linkage <l>', 'cluster linkage').choices(['single', 'average']).default('single'))
    .option('--manifest <path>', 'ground truth from attack craft, to report TPR/FPR/AUROC')
    .option(
      '--poison-offset <n>',
      'index of the first poison in the scanned set (default: the manifest’s unlabeled size)',
      int(0),
    )
    .requiredOption('--out <dir>', 'new folder for scores.csv and scan.json')
    .option('--json', 'print one JSON object', false)
    .option('--threads <n>', 'libtorch threads', int(1))
    .option(
      '--figures',
      'also write figure7-influence.png/.svg (score histogram) and, given the set, figure8-near-false-positives.png',
      false,
    )
    .action(async (setPath: string | undefined, f: ScanFlags) => {
      setupEngine({ device: 'cpu', threads: f.threads, precision: false });
      if (existsSync(f.out)) throw new Error(`${f.out} already exists; choose a new output folder`);
      const def = DEFENSES[f.method];
      const set = setPath ? await readImages(setPath) : null;
      if (set && set.n === 0) throw new Error(`${setPath}: the set is empty`);
      let scores: Float32Array;
      let largestCluster = 0;
      let space: NeighbourSpace | null = null;
      if (f.method === 'dynamics') {
        if (!f.predictions) throw new Error('--method dynamics needs --predictions LOG.npy');
        const log = readNpy(f.predictions);
        if (log.shape.length !== 3) {
          throw new Error(
            `${f.predictions}: a prediction log must be epochs × examples × classes, got (${log.shape.join(', ')})`,
          );
        }
        if (set && log.shape[1] !== set.n) {
          throw new Error(`${f.predictions}: the log covers ${log.shape[1]} examples, the set has ${set.n}`);
        }
        if (log.shape[1] < 2) throw new Error(`${f.predictions}: the log covers fewer than 2 examples`);
        if (log.shape[2] < 2) throw new Error(`${f.predictions}: a prediction log needs at least 2 classes`);
        scores = tidy(() => dynamicsScores(logTensor(log.data, log.shape, log.dtype), { k: f.k }));
        space = () => {
          const { mu0, mu1 } = predictionDeltas(logTensor(log.data, log.shape, log.dtype));
          return { queries: mu0, keys: mu1 };
        };
      } else {
        if (!set) throw new Error(`--method ${f.method} needs the unlabeled set`);
        scores = tidy(() => {
          const pixels = imagesToUnit(set).flatten(1);
          if (f.method === 'collinear') return collinearScores(pixels, { k: Math.max(2, f.k + 3) });
          if (f.method === 'cluster') {
            const c = clusterScores(pixels, { linkage: f.linkage });
            largestCluster = c.clustering.sizes[0];
            return c.scores;
          }
          return duplicateScores(pixels);
        });
        space = () => {
          const pixels = imagesToUnit(set).flatten(1);
          return { queries: pixels, keys: pixels };
        };
      }
      const n = scores.length;
      const flags =
        f.flagCount !== undefined
          ? topFlags(scores, def.direction, f.flagCount)
          : f.threshold !== undefined
            ? thresholdFlags(scores, def.direction, f.threshold)
            : f.method === 'cluster'
              ? // The paper removes the largest cluster (when it is a cluster at all).
                thresholdFlags(scores, 'high', Math.max(largestCluster, 3), 'the largest cluster (3 or more examples)')
              : autoFlags(scores, def.direction, f.z);
      const truth = f.manifest ? groundTruth(f.manifest, n, f.poisonOffset) : null;
      const evaluation: Evaluation | null = truth ? evaluateFlags(scores, def.direction, flags, truth) : null;
      const order = rankOrder(scores, def.direction);
      const rank = new Int32Array(n);
      order.forEach((i, r) => (rank[i] = r + 1));
      const csv = [
        'index,score,flagged,rank',
        ...Array.from(scores, (s, i) => `${i},${s},${flags.flagged[i]},${rank[i]}`),
      ].join('\n');
      const flaggedCount = flags.flagged.reduce((a, b) => a + b, 0);
      const result = {
        method: f.method,
        examples: n,
        flagged: flaggedCount,
        threshold: flags.threshold,
        rule: flags.rule,
        direction: def.direction,
        most_suspicious: order.slice(0, Math.min(20, n)),
        evaluation,
      };
      let figures: string[] | undefined;
      await writeDirAtomic(f.out, async (tmp) => {
        writeFileSync(join(tmp, 'scores.csv'), csv + '\n');
        if (f.figures) {
          const scan = { method: f.method, scores, flags, order, truth, set, space };
          figures = await writeScanFigures(tmp, scan);
        }
        writeFileSync(join(tmp, 'scan.json'), JSON.stringify({ ...result, figures }, null, 2) + '\n');
      });
      if (f.figures && !set) console.error('figure 8 shows images: pass the unlabeled set to draw it');
      if (f.json) console.log(JSON.stringify({ ...result, figures }));
      else {
        console.log(`${f.method}: flagged ${flaggedCount} of ${n} (${flags.rule}) -> ${join(f.out, 'scores.csv')}`);
        if (figures) console.log(`figures: ${figures.map((name) => join(f.out, name)).join(', ')}`);
        if (evaluation) {
          console.log(
            `against the manifest: TPR ${(100 * evaluation.tpr).toFixed(1)}%, FPR ${(100 * evaluation.fpr).toFixed(2)}%, ` +
              `AUROC ${evaluation.auroc.toFixed(4)}, poison ranks ${evaluation.poisonRanks.slice(0, 10).join(' ')}${evaluation.poisonRanks.length > 10 ? ' …' : ''}`,
          );
        }
      }
    });
}
