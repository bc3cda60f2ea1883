// `semipoison scan`: rank the examples of an unlabeled set by how likely they are poisons, without
// labels; with a ground-truth manifest, also report TPR, FPR, AUROC and each poison's rank.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeDirAtomic } from '../util/atomic.js';
import { Option, type Command } from 'commander';
import { readNpy, readImages, imagesToUnit } from '../data/index.js';
import {
  autoFlags,
  clusterScores,
  collinearScores,
  DEFENSES,
  duplicateScores,
  dynamicsScores,
  evaluateFlags,
  logTensor,
  rankOrder,
  thresholdFlags,
  topFlags,
  type DefenseName,
  type Evaluation,
} from '../defense/index.js';
import { tidy } from '../tensor/index.js';
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
    .action(async (setPath: string | undefined, f: ScanFlags) => {
      setupEngine({ device: 'cpu', threads: f.threads, precision: false });
      if (existsSync(f.out)) throw new Error(`${f.out} already exists; choose a new output folder`);
      const def = DEFENSES[f.method];
      const set = setPath ? await readImages(setPath) : null;
      if (set && set.n === 0) throw new Error(`${setPath}: the set is empty`);
      let scores: Float32Array;
      let largestCluster = 0;
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
      let evaluation: Evaluation | null = null;
      if (f.manifest)
        evaluation = evaluateFlags(scores, def.direction, flags, groundTruth(f.manifest, n, f.poisonOffset));
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
      await writeDirAtomic(f.out, (tmp) => {
        writeFileSync(join(tmp, 'scores.csv'), csv + '\n');
        writeFileSync(join(tmp, 'scan.json'), JSON.stringify(result, null, 2) + '\n');
      });
      if (f.json) console.log(JSON.stringify(result));
      else {
        console.log(`${f.method}: flagged ${flaggedCount} of ${n} (${flags.rule}) -> ${join(f.out, 'scores.csv')}`);
        if (evaluation) {
          console.log(
            `against the manifest: TPR ${(100 * evaluation.tpr).toFixed(1)}%, FPR ${(100 * evaluation.fpr).toFixed(2)}%, ` +
              `AUROC ${evaluation.auroc.toFixed(4)}, poison ranks ${evaluation.poisonRanks.slice(0, 10).join(' ')}${evaluation.poisonRanks.length > 10 ? ' …' : ''}`,
          );
        }
      }
    });
}
