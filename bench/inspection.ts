// Dataset-inspection detectors (collinearity, clustering, near-duplicates) against each attack
// variant on Fashion-MNIST: poisons appended to a clean unlabeled set, scanned without labels.
// Usage: npx tsx bench/inspection.ts [--unlabeled 2000] [--ratio 0.01] [--trials 8]
import { Command } from 'commander';
import { craftPoisons, nonLabeledTrainingImages, type VariantName } from '../src/attack/index.js';
import { concatImageSets, loadDataset, splitDataset } from '../src/data/index.js';
import { DEFENSES, evaluateFlags, SCAN_DEFAULTS, scanSet, type Evaluation } from '../src/defense/index.js';
import { setNumThreads } from '../src/tensor/index.js';

const o = new Command()
  .option('--unlabeled <n>', 'clean unlabeled examples', '2000')
  .option('--ratio <x>', 'poisons as a share of the unlabeled set', '0.01')
  .option('--trials <n>', 'random target/desired pairs per variant', '8')
  .option('--threads <n>', 'libtorch threads', '2')
  .parse()
  .opts<{ unlabeled: string; ratio: string; trials: string; threads: string }>();
setNumThreads(Number(o.threads));

const train = await loadDataset('fashion-mnist', 'train');
const test = await loadDataset('fashion-mnist', 'test');
const variants: VariantName[] = ['linear', 'zero-knowledge', 'paths', 'duplicate', 'noise', 'jitter'];
const methods = ['collinear', 'cluster', 'duplicates'] as const;
const rows: string[] = [];
for (const variant of variants) {
  const acc: Record<string, Evaluation[]> = { collinear: [], cluster: [], duplicates: [] };
  for (let t = 0; t < Number(o.trials); t++) {
    const split = splitDataset(train, { labels: 40, seed: t, unlabeled: Number(o.unlabeled) });
    const target = (t * 997) % test.n;
    const desired = (test.labels![target] + 1 + (t % 9)) % 10;
    const crafted = craftPoisons(
      {
        test,
        labeled: split.labeled,
        unlabeledSize: split.unlabeled.n,
        // The zero-knowledge attacker's own images: training images outside the victim's split.
        attackerPool: nonLabeledTrainingImages(train, split),
      },
      { targetIndex: target, desired, ratio: Number(o.ratio), seed: t, variant },
    );
    const all = concatImageSets([split.unlabeled, crafted.poisons]);
    const truth = new Uint8Array(all.n).fill(1, split.unlabeled.n);
    // The detectors exactly as `semipoison scan` and the trials' defense run them.
    for (const method of methods) {
      const scan = scanSet({ ...SCAN_DEFAULTS, method }, { set: all });
      acc[method].push(evaluateFlags(scan.scores, DEFENSES[method].direction, scan.flags, truth));
    }
  }
  const cell = (evs: Evaluation[]) => {
    const mean = (f: (e: Evaluation) => number) => evs.reduce((a, e) => a + f(e), 0) / evs.length;
    const all = evs.filter((e) => e.tpr === 1).length;
    return `TPR ${(100 * mean((e) => e.tpr)).toFixed(0)}% (all in ${all}/${evs.length}), FPR ${(100 * mean((e) => e.fpr)).toFixed(2)}%, AUROC ${mean((e) => e.auroc).toFixed(3)}`;
  };
  rows.push(`| ${variant} | ${cell(acc.collinear)} | ${cell(acc.cluster)} | ${cell(acc.duplicates)} |`);
  process.stderr.write(`${variant} done\n`);
}
console.log(
  `Fashion-MNIST, ${o.unlabeled} clean unlabeled + ${Number(o.ratio) * 100}% poisons, mean of ${o.trials} target/desired pairs ("all in k/n": pairs where every poison was flagged):\n`,
);
console.log('| variant | collinearity | clustering (largest cluster) | near-duplicates |');
console.log('|---|---|---|---|');
for (const r of rows) console.log(r);
