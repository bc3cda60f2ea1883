// `semipoison scan`: rank the examples of an unlabeled set by how likely they are poisons, without
// labels; with a ground-truth manifest, also report TPR, FPR, AUROC and each poison's rank; with
// --figures, draw the score histogram (Figure 7) and the top-ranked benign examples beside their
// nearest neighbours (Figure 8).
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeDirAtomic } from '../util/atomic.js';
import { Option, type Command } from 'commander';
import { readManifest, type ManifestFile } from '../attack/index.js';
import { readNpy, readImages, type ImageSet } from '../data/index.js';
import {
  DEFENSES,
  evaluateFlags,
  rankOrder,
  scanSet,
  type DefenseName,
  type Evaluation,
  type SetScan,
} from '../defense/index.js';
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

/** Writes Figure 7 and, when the images are at hand, Figure 8 into `dir`; returns the file names. */
async function writeScanFigures(
  dir: string,
  scan: SetScan,
  truth: Uint8Array | null,
  set: ImageSet | null,
): Promise<string[]> {
  // Loaded here: Vega adds about 0.4 s to the start of every command.
  const { renderScanFigures } = await import('../report/index.js');
  const figures = await renderScanFigures(scan, { truth, set });
  writeFileSync(join(dir, 'figure7-influence.png'), figures.histogram.png);
  writeFileSync(join(dir, 'figure7-influence.svg'), figures.histogram.svg);
  const names = ['figure7-influence.png', 'figure7-influence.svg'];
  if (figures.gallery) {
    writeFileSync(join(dir, 'figure8-near-false-positives.png'), figures.gallery);
    names.push('figure8-near-false-positives.png');
  }
  return names;
}

/** Which examples are poisons, from a manifest written by attack craft (poisons appended at poisonOffset). */
function groundTruth(m: ManifestFile, manifestPath: string, n: number, offset: number | undefined): Uint8Array {
  const start = offset ?? m.unlabeled_size ?? 0;
  if (offset === undefined && m.unlabeled_size !== undefined && n !== m.unlabeled_size + m.poisons.length) {
    throw new Error(
      `${manifestPath}: ${m.unlabeled_size} clean examples + ${m.poisons.length} poisons, but ${n} were scanned ` +
        '(pass --poison-offset if the poisons are not appended at the end)',
    );
  }
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
      const manifest = f.manifest ? readManifest(f.manifest) : null;
      let log = null;
      if (f.method === 'dynamics') {
        if (!f.predictions) throw new Error('--method dynamics needs --predictions LOG.npy');
        log = readNpy(f.predictions);
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
        if (manifest?.num_classes !== undefined && log.shape[2] !== manifest.num_classes) {
          throw new Error(
            `${f.predictions}: the log has ${log.shape[2]} classes, the dataset of ${f.manifest} has ${manifest.num_classes}`,
          );
        }
      } else if (!set) {
        throw new Error(`--method ${f.method} needs the unlabeled set`);
      }
      // The ground truth is checked against the scanned size before the (possibly long) scan.
      const scannedN = set ? set.n : (log?.shape[1] ?? 0);
      const truth = manifest && f.manifest ? groundTruth(manifest, f.manifest, scannedN, f.poisonOffset) : null;
      const scan = scanSet(
        {
          method: f.method,
          k: f.k,
          linkage: f.linkage,
          z: f.z,
          count: f.flagCount ?? null,
          threshold: f.threshold ?? null,
        },
        { set, log },
      );
      const { scores, flags } = scan;
      const n = scores.length;
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
          figures = await writeScanFigures(tmp, scan, truth, set);
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
