// `semipoison evaluate`: a trained model (a run folder or its model.safetensors) on a dataset split
// or on any images: accuracy, per-class accuracy and the confusion matrix, the predictions of chosen
// examples (what does the victim say about x*?), and optionally every softmax as a .npy array.
import { Option, type Command } from 'commander';
import { DATASETS, isDatasetName, loadDataset, readImages, writeNpy } from '../data/index.js';
import { argmaxRows, classificationReport, predictProbs } from '../ssl/index.js';
import { loadTrainedModel, readModelFile } from './model.js';
import { int, precision, setupEngine } from './options.js';

interface EvaluateFlags {
  dataset?: string;
  dataDir?: string;
  split: 'train' | 'test';
  images?: string;
  indices?: number[];
  predictions?: string;
  device: string;
  threads?: number;
  precision: boolean | 'auto';
  json: boolean;
}

/** "3588,9,100-104" → [3588, 9, 100, 101, 102, 103, 104]. */
export function parseIndexList(value: string): number[] {
  const out: number[] = [];
  for (const part of value.split(',')) {
    const m = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(part);
    if (!m) throw new Error(`--indices: expected indices and ranges like 3588,9,100-104, got '${value}'`);
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    if (b < a) throw new Error(`--indices: the range ${a}-${b} runs backwards`);
    if (b - a >= 1_000_000) throw new Error(`--indices: the range ${a}-${b} is too long`);
    for (let i = a; i <= b; i++) out.push(i);
  }
  return out;
}

const pct = (x: number | null): string => (x === null ? '-' : `${(100 * x).toFixed(2)}%`);

export function registerEvaluate(program: Command): void {
  program
    .command('evaluate')
    .description('a trained model on a dataset split or on any images: accuracy, per class, confusion, predictions')
    .argument('<model>', 'a run folder of `train` (or of an experiment), or its model.safetensors')
    .option('--dataset <name>', `one of ${Object.keys(DATASETS).join(', ')} (default: the model's own)`)
    .option('--data-dir <dir>', 'where the dataset files are (default: the dataset’s own folder)')
    .addOption(new Option('--split <s>', 'dataset split').choices(['train', 'test']).default('test'))
    .option('--images <path>', 'evaluate these images instead: a .npy (uint8 N×H×W[×C]), PNG folder, IDX or CIFAR .bin')
    .option('--indices <list>', 'only these examples, e.g. 3588,9,100-104 (each one is listed)', parseIndexList)
    .option('--predictions <file.npy>', 'write every softmax (examples × classes, float32)')
    .option('--device <d>', "'cpu', 'cuda' or 'cuda:N'", 'cpu')
    .option('--threads <n>', 'libtorch threads (default: all cores)', int(1))
    .option('--precision <p>', 'auto, bf16 or fp32', precision, false)
    .option('--json', 'print one JSON object', false)
    .action(async (modelArg: string, flags: EvaluateFlags) => {
      if (flags.predictions !== undefined && !flags.predictions.endsWith('.npy')) {
        throw new Error(`--predictions: expected a .npy file name, got '${flags.predictions}'`);
      }
      const trained = readModelFile(modelArg);
      const file = trained.file;
      const datasetName = flags.dataset ?? trained.dataset ?? 'fashion-mnist';
      if (!isDatasetName(datasetName)) {
        throw new Error(
          `--dataset: unknown dataset '${datasetName}' (choose from ${Object.keys(DATASETS).join(', ')})`,
        );
      }
      const { device, bf16 } = setupEngine(flags);
      const set = flags.images
        ? await readImages(flags.images)
        : await loadDataset(datasetName, flags.split as never, flags.dataDir);
      if (set.n === 0) throw new Error(`${flags.images ?? datasetName}: no images to evaluate`);
      const indices = flags.indices ?? null;
      for (const i of indices ?? []) {
        if (i >= set.n) throw new Error(`--indices: ${i} is out of range (the set has ${set.n} images)`);
      }
      const { model, norm } = loadTrainedModel(trained, set, flags.images ?? datasetName, device);
      const probs = predictProbs(model, set, norm, { device, bf16, indices: indices ?? undefined });
      model.dispose();
      const c = set.numClasses;
      const pred = argmaxRows(probs, c);
      const rows = indices ?? Array.from({ length: set.n }, (_, i) => i);
      const labels = set.labels ? rows.map((i) => set.labels![i]) : null;
      const report = labels ? classificationReport(pred, labels, c) : null;
      if (flags.predictions) writeNpy(flags.predictions, { dtype: 'float32', shape: [rows.length, c], data: probs });
      const names = set.classNames ?? DATASETS[datasetName].classNames ?? [];
      const name = (k: number): string => names[k] ?? String(k);
      const examples = indices
        ? indices.map((index, r) => ({
            index,
            label: labels ? labels[r] : null,
            prediction: pred[r],
            probability: probs[r * c + pred[r]],
            probabilities: Array.from(probs.subarray(r * c, (r + 1) * c)),
          }))
        : undefined;
      const source = flags.images ?? `${datasetName} ${flags.split}`;
      if (flags.json) {
        console.log(
          JSON.stringify({
            model: file,
            images: source,
            n: rows.length,
            accuracy: report?.accuracy ?? null,
            per_class: report?.perClass.map((p) => ({ ...p, name: name(p.label) })) ?? null,
            confusion: report?.confusion ?? null,
            examples,
            predictions: flags.predictions ?? null,
          }),
        );
        return;
      }
      console.log(`${file} on ${source} (${rows.length} images)`);
      if (report) console.log(`accuracy: ${pct(report.accuracy)}`);
      // A few chosen examples are listed one by one; a whole set gets the per-class table.
      if (report && !indices) {
        console.log('\nclass            n  accuracy  most often taken for');
        for (const p of report.perClass) {
          const row = report.confusion[p.label];
          let other = -1;
          for (let k = 0; k < c; k++) if (k !== p.label && row[k] > 0 && (other < 0 || row[k] > row[other])) other = k;
          const confused = other < 0 ? '-' : `${name(other)} (${row[other]})`;
          console.log(
            `${name(p.label).padEnd(14)} ${String(p.n).padStart(5)}  ${pct(p.accuracy).padStart(8)}  ${confused}`,
          );
        }
        console.log('\nconfusion (rows: true class, columns: predicted)');
        for (const row of report.confusion) console.log(row.map((v) => String(v).padStart(5)).join(''));
      }
      if (!report) console.log('the images carry no labels: no accuracy');
      for (const e of examples ?? []) {
        const truth = e.label === null ? '' : `, label ${name(e.label)}`;
        console.log(`#${e.index}${truth}: ${name(e.prediction)} (p ${e.probability.toFixed(3)})`);
      }
      if (flags.predictions) console.log(`predictions: ${flags.predictions}`);
    });
}
