// `semipoison demo`: the whole story of the paper on Fashion-MNIST, with progress bars: poisons
// crafted, FixMatch trained without and with them, the target flipping along the bridge, the three
// detectors on the poisoned run, the flagged examples removed, the victim retrained; a summary
// table, an HTML report with every figure, and a one-line verdict last.
import { join } from 'node:path';
import { Option, type Command } from 'commander';
import { DATASETS, type ImageSet } from '../data/index.js';
import {
  DEMO_SETTINGS,
  runDemo,
  usesBf16,
  type DemoName,
  type DemoResult,
  type Precision,
} from '../experiment/index.js';
import {
  imageGrid,
  labelPropagationSpec,
  renderScanFigures,
  renderVegaLite,
  tableToText,
  writeHtmlReport,
  type ReportFigure,
  type Table,
} from '../report/index.js';
import { checkDevice } from '../tensor/index.js';
import { writeDirAtomic } from '../util/atomic.js';
import { int } from './options.js';
import { progressGroup, type Progress } from './progress.js';

interface DemoFlags {
  quick: boolean;
  out?: string;
  threads?: number;
  steps?: number;
  sequential: boolean;
  device: string;
  precision?: Precision;
}

const CLASSES = DATASETS['fashion-mnist'].classNames;
const name = (c: number): string => `${CLASSES[c] ?? c} (${c})`;
const pct = (x: number | null): string => (x === null ? '–' : `${(100 * x).toFixed(1)}%`);

function bridgeLine(labels: number[], desired: number): string {
  return labels.map((l) => (l === desired ? '*' : String(l))).join('');
}

/** The bridge's images from x′ to x*, as one strip. */
async function bridgeStrip(r: DemoResult): Promise<Buffer> {
  const poisons: ImageSet = r.prepared.crafted.poisons;
  const size = poisons.height * poisons.width * poisons.channels;
  const order = r.prepared.crafted.manifest.poisons
    .map((p, k) => ({ k, alpha: p.alpha, path: p.path }))
    .filter((p) => p.path === 0)
    .sort((a, b) => a.alpha - b.alpha);
  const step = Math.max(1, Math.ceil(order.length / 12));
  const shown = order.filter((_, i) => i % step === 0 || i === order.length - 1);
  return imageGrid(
    [
      {
        images: shown.map((p) => poisons.images.subarray(p.k * size, (p.k + 1) * size)),
        captions: shown.map((p) => `α ${p.alpha.toFixed(2)}`),
      },
    ],
    { height: poisons.height, width: poisons.width, channels: poisons.channels, scale: 3 },
  );
}

function summaryTable(r: DemoResult): Table {
  const { evaluation: ev, defense, prepared } = r;
  const d = prepared.pick.desired;
  return {
    title: `Target x*: test image #${prepared.pick.target}, true label ${name(prepared.pick.trueLabel)}; desired label y* ${name(d)}`,
    columns: ['', 'without poisons', 'with poisons', 'after the defense'],
    rows: [
      ['label of x*', name(ev.clean.prediction), name(ev.poisoned.prediction), name(defense.prediction)],
      ['p(y*) on x*', ev.clean.probs[d].toFixed(3), ev.poisoned.probs[d].toFixed(3), defense.pDesired.toFixed(3)],
      ['clean test accuracy', pct(ev.clean.accuracy), pct(ev.poisoned.accuracy), pct(defense.accuracy)],
      ['attack succeeds', '', ev.success ? 'yes' : 'no', defense.success ? 'yes' : 'no'],
    ],
    notes: ['The attack succeeds when the poisoned run labels x* with y* and the run without poisons does not.'],
  };
}

function detectorTable(r: DemoResult): Table {
  return {
    title: `Detectors on the poisoned unlabeled set (${r.scanned.n} images, ${r.prepared.crafted.manifest.count} poisons)`,
    columns: ['detector', 'flagged', 'TPR', 'FPR', 'AUROC', 'rule'],
    rows: r.defense.scans.map(({ settings, scan }) => [
      settings.method,
      scan.flags.flagged.reduce((a, b) => a + b, 0),
      pct(scan.evaluation.tpr),
      `${(100 * scan.evaluation.fpr).toFixed(2)}%`,
      scan.evaluation.auroc.toFixed(3),
      scan.flags.rule,
    ]),
    notes: [
      `Removed before retraining: the union of the flags, ${r.defense.flagged.reduce((a, b) => a + b, 0)} images.`,
    ],
  };
}

async function writeReport(dir: string, r: DemoResult, tables: Table[]): Promise<void> {
  const { evaluation: ev, prepared } = r;
  const figures: ReportFigure[] = [];
  figures.push({
    caption: 'The bridge of poisons from the labeled image x′ (left) to the target x* (right).',
    png: await bridgeStrip(r),
  });
  if (ev.propagation.epochs.length) {
    const f = await renderVegaLite(
      labelPropagationSpec(
        { ...ev.propagation, desired: prepared.pick.desired, trueLabel: prepared.pick.trueLabel },
        { classNames: [...CLASSES] },
      ),
    );
    figures.push({ caption: 'Label propagation along the bridge, epoch by epoch (Figure 5).', png: f.png, svg: f.svg });
  }
  const defenseFigures: ReportFigure[] = [];
  for (const { settings, scan } of r.defense.scans) {
    const f = await renderScanFigures(scan, { truth: r.truth, set: r.scanned, title: `${settings.method} scores` });
    defenseFigures.push({
      caption: `${settings.method}: score histogram, benign vs poisoned (Figure 7).`,
      png: f.histogram.png,
      svg: f.histogram.svg,
    });
    if (f.gallery) {
      defenseFigures.push({
        caption: `${settings.method}: the most suspicious benign images beside their nearest neighbours (Figure 8).`,
        png: f.gallery,
      });
    }
  }
  await writeDirAtomic(dir, (tmp) => {
    writeHtmlReport(join(tmp, 'report.html'), {
      title: 'semipoison demo: poisoning the unlabeled set of FixMatch, and finding the poisons',
      sections: [
        { heading: 'Setting', text: r.setting.summary },
        { heading: 'The attack', tables: [tables[0]], figures },
        { heading: 'The defense', tables: [tables[1]], figures: defenseFigures },
      ],
    });
  });
}

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('the whole story on Fashion-MNIST: poison FixMatch, watch the target flip, find the poisons, retrain')
    .option('--quick', 'a smaller version (a few minutes)', false)
    .option('--out <dir>', 'new folder for the runs and the HTML report (default: runs/demo-<time>)')
    .option('--steps <n>', 'training steps of each run (default: the setting’s)', int(1))
    .option('--threads <n>', 'libtorch threads (default: all cores)', int(1))
    .option('--sequential', 'train the clean and the poisoned run one after the other, not side by side', false)
    .option('--device <d>', "'cpu', 'cuda' or 'cuda:N'", 'cpu')
    .addOption(
      new Option(
        '--precision <p>',
        "'bf16' autocast, 'fp32', or 'auto' (bf16 on CUDA and native-bf16 CPUs); default: the setting's (fp32)",
      ).choices(['auto', 'bf16', 'fp32']),
    )
    .action(async (f: DemoFlags) => {
      const device = checkDevice(f.device);
      const kind: DemoName = f.quick ? 'quick' : 'full';
      const setting = DEMO_SETTINGS[kind];
      const out = f.out ?? join('runs', `demo-${kind}-${new Date().toISOString().replace(/[:.]/g, '-')}`);
      const steps = f.steps ?? setting.trial.steps;
      console.log('semipoison demo: an attacker adds a bridge of images to the unlabeled set of a semi-supervised');
      console.log(
        'learner so that one chosen test image gets the label the attacker wants (Carlini, USENIX Security 2021).',
      );
      const bf16 = usesBf16(f.precision ?? setting.trial.precision ?? 'auto', device);
      console.log(`Setting: ${setting.summary}${f.steps ? ` (${steps} steps requested)` : ''}.`);
      console.log(`Precision: ${bf16 ? 'bfloat16 autocast' : 'float32'} on ${device}.`);
      console.log(
        `The paper poisons 0.1–0.5% of CIFAR-10's unlabeled set over 2^20 GPU steps; at CPU scale each poison must be seen`,
      );
      console.log(
        'about as often in minutes, so the unlabeled set is small and the share of poisons large: 20% is the',
      );
      console.log(
        'smallest share that carried the label to x* in the CPU study (1% and 5% stalled; docs/REPRODUCTION.md).',
      );
      const group = progressGroup();
      const bars = new Map<string, Progress>();
      const titles: Record<string, string> = {
        clean: 'without poisons',
        poisoned: 'with poisons',
        defended: 'after the defense',
      };
      const result = await runDemo(kind, {
        dir: join(out, 'runs'),
        threads: f.threads,
        parallel: f.sequential ? false : undefined,
        device,
        overrides: { ...(f.steps ? { steps } : {}), ...(f.precision ? { precision: f.precision } : {}) },
        onStep: (phase, step, total) => {
          let bar = bars.get(phase);
          if (!bar) {
            bar = group.bar(titles[phase], total);
            bars.set(phase, bar);
          }
          bar.update(step);
          if (step === total) bar.stop();
        },
      });
      group.stop();
      const { evaluation: ev, defense, prepared } = result;
      const d = prepared.pick.desired;
      console.log(`\nLabel of each poison from x′ to x* ('*' = ${name(d)}), by epoch of the poisoned run:`);
      const epochs = ev.propagation.epochs;
      const every = Math.max(1, Math.ceil(epochs.length / 8));
      for (const [i, e] of epochs.entries()) {
        if (i % every === 0 || i === epochs.length - 1) {
          console.log(`  epoch ${String(e.epoch).padStart(3)}  x′ ${bridgeLine(e.labels, d)} x*`);
        }
      }
      const tables = [summaryTable(result), detectorTable(result)];
      console.log();
      for (const t of tables) console.log(`${tableToText(t)}\n`);
      const reportDir = join(out, 'report');
      await writeReport(reportDir, result, tables);
      console.log(`HTML report with every figure: ${join(reportDir, 'report.html')}`);
      console.log(
        `verdict: attack ${ev.success ? 'succeeded' : 'failed'} before the defense (x* labeled ${name(ev.poisoned.prediction)}), ` +
          `${defense.success ? 'succeeded' : 'failed'} after it (x* labeled ${name(defense.prediction)}); ` +
          `clean accuracy ${pct(ev.clean.accuracy)} without poisons, ${pct(ev.poisoned.accuracy)} with, ${pct(defense.accuracy)} after the defense`,
      );
    });
}
