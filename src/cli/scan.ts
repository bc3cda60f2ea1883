// `semipoison scan`: rank the examples of an unlabeled set by how likely they are poisons, without
// labels; with a ground-truth manifest, also report TPR, FPR, AUROC and each poison's rank; with
// --figures, draw the score histogram (Figure 7) and the top-ranked benign examples beside their
// nearest neighbours (Figure 8). Several detectors at once (`--method collinear,cluster` or `all`)
// share one nearest-neighbour pass and write a folder each, plus the union of their flags.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeDirAtomic } from '../util/atomic.js';
import { Option, type Command } from 'commander';
import { poisonSlots, readManifest, type ManifestFile } from '../attack/index.js';
import { float16ToFloat32, readNpy, readImages, type ImageSet } from '../data/index.js';
import { embedImages } from '../ssl/index.js';
import { loadTrainedModel, readModelFile } from './model.js';
import {
  checkPredictionLog,
  DEFENSES,
  distanceGemm,
  evaluateFlags,
  flagRates,
  rankOrder,
  SCAN_DEFAULTS,
  scanRounds,
  unionFlags,
  type DefenseName,
  type DistanceGemm,
  type Evaluation,
  type FlagRates,
  type ScanRound,
  type SetScan,
} from '../defense/index.js';
import { float, int, setupEngine } from './options.js';

interface ScanFlags {
  method: string;
  dataDir?: string;
  features?: string;
  embed?: string;
  predictions?: string;
  flagCount?: number;
  threshold?: number;
  z: number;
  k: number;
  numClasses?: number;
  mergeThreshold?: number;
  mergeRelative?: number;
  clusterK?: number;
  manifest?: string;
  poisonOffset?: number;
  out: string;
  json: boolean;
  threads?: number;
  linkage: 'single' | 'average';
  figures: boolean;
  rounds: number;
}

/** What `--rounds` removed: each round's counts and, against a manifest, the rates of the whole removal. */
interface RoundsResult {
  rounds: { round: number; scanned: number; flagged: number; poisons_flagged?: number }[];
  removed: number;
  evaluation: FlagRates | null;
}

function roundsResult(
  rounds: ScanRound[],
  n: number,
  truth: Uint8Array | null,
): { csv: string[]; result: RoundsResult } {
  const removedIn = new Int32Array(n);
  for (const r of rounds) for (const i of r.removed) removedIn[i] = r.round;
  const removed = Uint8Array.from(removedIn, (r) => (r > 0 ? 1 : 0));
  return {
    csv: Array.from(removedIn, (r, i) => `${i},${r}`),
    result: {
      rounds: rounds.map((r) => ({
        round: r.round,
        scanned: r.scanned.length,
        flagged: r.removed.length,
        ...(truth ? { poisons_flagged: r.removed.filter((i) => truth[i]).length } : {}),
      })),
      removed: removed.reduce((a, b) => a + b, 0),
      evaluation: truth ? flagRates(removed, truth) : null,
    },
  };
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
  if (offset === undefined && m.unlabeled_size !== undefined && n !== m.unlabeled_size + m.poisons.length) {
    throw new Error(
      `${manifestPath}: ${m.unlabeled_size} clean examples + ${m.poisons.length} poisons, but ${n} were scanned ` +
        '(pass --poison-offset if the scanned set holds the poisons from that position on)',
    );
  }
  // Where each poison sits: at the positions `attack craft --with-unlabeled` recorded, after the
  // clean images when none were recorded, or from --poison-offset on.
  const slots = offset === undefined ? poisonSlots(m) : m.poisons.map((p) => offset + p.index);
  const truth = new Uint8Array(n);
  m.poisons.forEach((p, k) => {
    const i = slots[k];
    if (!(i >= 0 && i < n))
      throw new Error(`${manifestPath}: poison ${p.index} at ${i} is outside the ${n} scanned examples`);
    truth[i] = 1;
  });
  return truth;
}

/** An N × D feature array (float16/32/64, any trailing shape flattened) with every value finite. */
function readFeatures(path: string): { data: Float32Array; dim: number } {
  const a = readNpy(path);
  if (a.shape.length < 2)
    throw new Error(`${path}: features must be examples × dimensions, got (${a.shape.join(', ')})`);
  const n = a.shape[0];
  const dim = a.shape.slice(1).reduce((x, y) => x * y, 1);
  if (n < 2 || dim < 1) throw new Error(`${path}: features of ${n} examples × ${dim} dimensions: nothing to compare`);
  let data: Float32Array;
  if (a.dtype === 'float32') data = a.data as Float32Array;
  else if (a.dtype === 'float64') data = Float32Array.from(a.data as Float64Array);
  else if (a.dtype === 'float16') data = float16ToFloat32(a.data as Uint16Array);
  else throw new Error(`${path}: features must be float16, float32 or float64, got ${a.dtype}`);
  const bad = data.findIndex((v) => !Number.isFinite(v));
  if (bad >= 0) throw new Error(`${path}: example ${Math.floor(bad / dim)} has a non-finite feature (${data[bad]})`);
  return { data, dim };
}

/** --method: one detector, a comma-separated list, or 'all' (the pixel detectors, and dynamics given a log). */
function resolveMethods(value: string, haveLog: boolean): DefenseName[] {
  const names = Object.keys(DEFENSES) as DefenseName[];
  if (value === 'all') return names.filter((m) => haveLog || !DEFENSES[m].needsLog);
  const methods = value.split(',').map((m) => m.trim());
  for (const m of methods) {
    if (!(names as string[]).includes(m)) {
      throw new Error(`--method: unknown detector '${m}' (choose from ${names.join(', ')}, a list of them, or all)`);
    }
  }
  if (new Set(methods).size !== methods.length) throw new Error(`--method: '${value}' names a detector twice`);
  return methods as DefenseName[];
}

interface MethodResult {
  method: DefenseName;
  examples: number;
  flagged: number;
  threshold: number;
  rule: string;
  direction: string;
  most_suspicious: number[];
  evaluation: Evaluation | null;
  /** The CPU product behind the nearest-neighbour distances (knn.ts: the faster on this CPU). */
  distance_product: DistanceGemm;
  figures?: string[];
  /** With --rounds > 1 and one detector: what the rounds removed. */
  rounds?: RoundsResult;
}

/** A CSV field, quoted when it holds a comma, a quote or a line break (RFC 4180). */
function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

/** One detector's ranked CSV and JSON result; `files` (a PNG folder's) adds a file column. */
function methodReport(
  scan: SetScan,
  truth: Uint8Array | null,
  files: string[] | undefined,
): { csv: string; result: MethodResult } {
  const { scores, flags } = scan;
  const def = DEFENSES[scan.method];
  const n = scores.length;
  const order = rankOrder(scores, def.direction);
  const rank = new Int32Array(n);
  order.forEach((i, r) => (rank[i] = r + 1));
  const file = (i: number): string => (files ? `,${csvField(files[i])}` : '');
  const csv = [
    `index,score,flagged,rank${files ? ',file' : ''}`,
    ...Array.from(scores, (v, i) => `${i},${v},${flags.flagged[i]},${rank[i]}${file(i)}`),
  ].join('\n');
  const result: MethodResult = {
    method: scan.method,
    examples: n,
    flagged: flags.flagged.reduce((a, b) => a + b, 0),
    threshold: flags.threshold,
    rule: flags.rule,
    direction: def.direction,
    most_suspicious: Array.from(order.slice(0, Math.min(20, n))),
    evaluation: truth ? evaluateFlags(scores, def.direction, flags, truth) : null,
    distance_product: distanceGemm().gemm,
  };
  return { csv, result };
}

export function registerScan(program: Command): void {
  program
    .command('scan')
    .description('rank the examples of an unlabeled set by how likely they are poisons (no labels needed)')
    .argument(
      '[set]',
      'the unlabeled set: a uint8 .npy (N×H×W[×C]), a folder of PNG images, an IDX or CIFAR/STL-10 .bin file, or a dataset split such as cifar10:train (optional for dynamics)',
    )
    .option('--data-dir <dir>', 'where a dataset split given as the set is (default: the dataset’s own folder)')
    .option(
      '--method <names>',
      `detector: ${Object.keys(DEFENSES).join(', ')}; a comma-separated list, or all (the pixel ones share one neighbour pass)`,
      'dynamics',
    )
    .option('--predictions <log.npy>', 'per-epoch softmax log, epochs × examples × classes (dynamics)')
    .option(
      '--features <file.npy>',
      'measure the pixel detectors in this space instead: N × D features of the same examples (any pipeline’s embedding)',
    )
    .option(
      '--embed <model>',
      'measure them in a trained model’s penultimate features (a run folder or model.safetensors)',
    )
    .option('--flag-count <k>', 'flag exactly the k most suspicious examples', int(0))
    .option('--threshold <x>', 'flag scores beyond this value instead of the automatic rule', float(0))
    .option('--z <x>', 'automatic rule: robust z-score of the log-score beyond which examples are flagged', float(0), 5)
    .option(
      '--k <n>',
      'neighbours: the dynamics score averages its k most influencing; collinearity tests pairs of the k + 3 nearest',
      int(1),
      SCAN_DEFAULTS.k,
    )
    .option(
      '--num-classes <c>',
      'classes the log must have (default: checked against the labeled set’s or the manifest’s class count, when known)',
      int(2),
    )
    .addOption(new Option('--linkage <l>', 'cluster linkage').choices(['single', 'average']).default('single'))
    .option(
      '--merge-threshold <d>',
      'cluster: merge distance, absolute, in pixel [0, 1] or feature units (default: relative, see --merge-relative)',
      float(0),
    )
    .option(
      '--merge-relative <x>',
      `cluster: merge distance as a multiple of the median nearest-neighbour distance (default ${SCAN_DEFAULTS.mergeRelative})`,
      float(0),
    )
    .option(
      '--cluster-k <n>',
      `cluster: neighbours per example in the merge graph (default ${SCAN_DEFAULTS.clusterK}, at most N − 1 used)`,
      int(1),
    )
    .option('--manifest <path>', 'ground truth from attack craft, to report TPR/FPR/AUROC')
    .option(
      '--poison-offset <n>',
      'index of the first poison in the scanned set (default: the manifest’s unlabeled size)',
      int(0),
    )
    .requiredOption(
      '--out <dir>',
      'new folder: scores.csv and scan.json (several detectors: a folder each and flags.csv)',
    )
    .option(
      '--rounds <k>',
      'remove what is flagged and scan what is left again, up to k rounds or until a round flags nothing (pixel detectors); rounds.csv gives the round that removed each example',
      int(1),
      1,
    )
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
      const methods = resolveMethods(f.method, f.predictions !== undefined);
      if (f.flagCount !== undefined && f.threshold !== undefined) {
        throw new Error('--flag-count and --threshold both choose what is flagged: pass one');
      }
      if (f.mergeThreshold !== undefined && f.mergeRelative !== undefined) {
        throw new Error('--merge-threshold and --merge-relative both set the merge distance: pass one');
      }
      const clusterFlag = (
        [
          ['--merge-threshold', f.mergeThreshold],
          ['--merge-relative', f.mergeRelative],
          ['--cluster-k', f.clusterK],
        ] as const
      ).find(([, v]) => v !== undefined);
      if (clusterFlag && !methods.includes('cluster')) {
        throw new Error(`${clusterFlag[0]} sets the cluster detector, which --method ${f.method} does not run`);
      }
      if (f.numClasses !== undefined && !methods.includes('dynamics')) {
        throw new Error('--num-classes checks the prediction log, which only --method dynamics reads');
      }
      const set = setPath ? await readImages(setPath, { dataDir: f.dataDir }) : null;
      if (set && set.n === 0) throw new Error(`${setPath}: the set is empty`);
      const manifest = f.manifest ? readManifest(f.manifest) : null;
      let log = null;
      if (methods.includes('dynamics')) {
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
        // Every source of the class count must agree with the log: that catches a K × C × N log.
        const classSources = [
          ...(f.numClasses !== undefined ? [{ count: f.numClasses, from: '--num-classes' }] : []),
          ...(set?.labels ? [{ count: set.numClasses, from: `the labeled set ${setPath}` }] : []),
          ...(manifest?.num_classes !== undefined
            ? [{ count: manifest.num_classes, from: `the dataset of ${f.manifest}` }]
            : []),
        ];
        checkPredictionLog(log, f.predictions, classSources);
      }
      if (f.features && f.embed) throw new Error('--features and --embed both give the space to measure in: pass one');
      let features: { data: Float32Array; dim: number } | null = null;
      if (f.features) {
        features = readFeatures(f.features);
        const rows = features.data.length / features.dim;
        if (set && rows !== set.n) throw new Error(`${f.features}: features of ${rows} examples, the set has ${set.n}`);
        if (log && rows !== log.shape[1]) {
          throw new Error(`${f.features}: features of ${rows} examples, the log covers ${log.shape[1]}`);
        }
      }
      if (f.embed) {
        if (!set) throw new Error('--embed needs the unlabeled set (the images to embed)');
        const trained = readModelFile(f.embed);
        const { model, norm } = loadTrainedModel(trained, set, setPath!, 'cpu');
        features = embedImages(model, set, norm);
        model.dispose();
      }
      const pixelMethod = methods.find((m) => m !== 'dynamics');
      if (pixelMethod && !set && !features) {
        throw new Error(`--method ${pixelMethod} needs the unlabeled set (or its --features)`);
      }
      // The ground truth is checked against the scanned size before the (possibly long) scan.
      const scannedN = set ? set.n : features ? features.data.length / features.dim : (log?.shape[1] ?? 0);
      const truth = manifest && f.manifest ? groundTruth(manifest, f.manifest, scannedN, f.poisonOffset) : null;
      const rounds = scanRounds(
        methods.map((method) => ({
          method,
          k: f.k,
          linkage: f.linkage,
          mergeThreshold: f.mergeThreshold ?? SCAN_DEFAULTS.mergeThreshold,
          mergeRelative: f.mergeRelative ?? SCAN_DEFAULTS.mergeRelative,
          clusterK: f.clusterK ?? SCAN_DEFAULTS.clusterK,
          z: f.z,
          count: f.flagCount ?? null,
          threshold: f.threshold ?? null,
        })),
        { set, log, features },
        f.rounds,
      );
      const scans = rounds[0].scans;
      const reports = scans.map((scan) => methodReport(scan, truth, set?.files));
      const removal = f.rounds > 1 ? roundsResult(rounds, scannedN, truth) : null;
      if (removal && scans.length === 1) reports[0].result.rounds = removal.result;
      const single = scans.length === 1;
      const union = unionFlags(
        scans.map((scan) => scan.flags),
        scannedN,
      );
      const summary = single
        ? null
        : {
            methods,
            examples: scannedN,
            flagged: union.reduce((a, b) => a + b, 0),
            by_method: Object.fromEntries(reports.map((r) => [r.result.method, r.result])),
            evaluation: truth ? flagRates(union, truth) : null,
            ...(removal ? { rounds: removal.result } : {}),
          };
      await writeDirAtomic(f.out, async (tmp) => {
        for (const [i, scan] of scans.entries()) {
          const dir = single ? tmp : join(tmp, scan.method);
          mkdirSync(dir, { recursive: true });
          writeFileSync(join(dir, 'scores.csv'), reports[i].csv + '\n');
          if (f.figures) reports[i].result.figures = await writeScanFigures(dir, scan, truth, set);
          writeFileSync(join(dir, 'scan.json'), JSON.stringify(reports[i].result, null, 2) + '\n');
        }
        if (removal) {
          const files = set?.files;
          const rows = removal.csv.map((row, i) => (files ? `${row},${csvField(files[i])}` : row));
          writeFileSync(join(tmp, 'rounds.csv'), [`index,round${files ? ',file' : ''}`, ...rows].join('\n') + '\n');
        }
        if (summary) {
          const files = set?.files;
          const header = ['index', ...methods, 'any', ...(files ? ['file'] : [])].join(',');
          const rows = Array.from(union, (u, i) =>
            [i, ...scans.map((sc) => sc.flags.flagged[i]), u, ...(files ? [csvField(files[i])] : [])].join(','),
          );
          writeFileSync(join(tmp, 'flags.csv'), [header, ...rows].join('\n') + '\n');
          writeFileSync(join(tmp, 'scan.json'), JSON.stringify(summary, null, 2) + '\n');
        }
      });
      if (f.figures && !set) console.error('figure 8 shows images: pass the unlabeled set to draw it');
      if (f.json) {
        console.log(JSON.stringify(summary ?? reports[0].result));
        return;
      }
      for (const { result } of reports) {
        const where = single ? f.out : join(f.out, result.method);
        console.log(
          `${result.method}: flagged ${result.flagged} of ${result.examples} (${result.rule}) -> ${join(where, 'scores.csv')}`,
        );
        if (result.figures) console.log(`  figures: ${result.figures.map((name) => join(where, name)).join(', ')}`);
        const ev = result.evaluation;
        if (ev) {
          console.log(
            `  against the manifest: TPR ${(100 * ev.tpr).toFixed(1)}%, FPR ${(100 * ev.fpr).toFixed(2)}%, ` +
              `AUROC ${ev.auroc.toFixed(4)}, poison ranks ${ev.poisonRanks.slice(0, 10).join(' ')}${ev.poisonRanks.length > 10 ? ' …' : ''}`,
          );
        }
      }
      if (removal) {
        const r = removal.result;
        const ev = r.evaluation;
        const against = ev ? `; TPR ${(100 * ev.tpr).toFixed(1)}%, FPR ${(100 * ev.fpr).toFixed(2)}%` : '';
        console.log(
          `rounds: removed ${r.removed} of ${scannedN} in ${r.rounds.length} (${r.rounds.map((x) => x.flagged).join(' + ')})${against} -> ${join(f.out, 'rounds.csv')}`,
        );
      }
      if (summary) {
        const ev = summary.evaluation;
        const against = ev ? `; TPR ${(100 * ev.tpr).toFixed(1)}%, FPR ${(100 * ev.fpr).toFixed(2)}%` : '';
        console.log(`any detector: flagged ${summary.flagged} of ${scannedN}${against} -> ${join(f.out, 'flags.csv')}`);
      }
    });
}
