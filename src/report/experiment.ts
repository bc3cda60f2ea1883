// The report of an experiment read back from the store: the paper's tables (successes k/n with a
// Wilson 95% interval per group of the grid's axes), its figures (success by axis as in Tables 1–3,
// true × desired class as in Figure 2, accuracy against vulnerability as in Figure 4, the label
// propagation of one trial as in Figure 5) and one self-contained HTML file.
import { existsSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { StoredTrial } from '../experiment/index.js';
import type { TrialField } from '../experiment/index.js';
import { tempSibling, writeDirAtomic } from '../util/atomic.js';
import {
  accuracySuccessSpec,
  labelPropagationSpec,
  bridgeFront,
  bridgeFrontSpec,
  successMatrixSpec,
  successRateSpec,
  type AccuracySuccess,
  type MatrixCell,
  type SuccessCount,
} from './figures.js';
import { writeHtmlReport, type ReportSection } from './html.js';
import { renderVegaLite, type VegaLiteSpec } from './render.js';
import { formatKofN, wilson, type Table } from './tables.js';

export interface ExperimentReportInput {
  name: string;
  description?: string | null;
  trials: StoredTrial[];
}

export interface ReportFigureSpec {
  /** File name without extension. */
  name: string;
  caption: string;
  spec: VegaLiteSpec;
}

type Done = StoredTrial & { result: NonNullable<StoredTrial['result']> };

const pct = (x: number | null | undefined): string =>
  x === null || x === undefined ? '–' : `${(100 * x).toFixed(1)}%`;
const mean = (xs: number[]): number | null => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null);
const show = (v: unknown): string => (typeof v === 'string' ? v : JSON.stringify(v));

function done(trials: StoredTrial[]): Done[] {
  return trials.filter((t): t is Done => t.status === 'done' && t.result !== null);
}

/** The fields whose values differ between the experiment's trials, the trial seed excepted. */
export function groupingFields(trials: StoredTrial[]): TrialField[] {
  if (trials.length === 0) return [];
  const fields = Object.keys(trials[0].config) as TrialField[];
  return fields.filter((f) => f !== 'seed' && new Set(trials.map((t) => JSON.stringify(t.config[f]))).size > 1);
}

function groupKey(t: StoredTrial, fields: TrialField[]): string {
  return fields.map((f) => `${f}=${show(t.config[f])}`).join(', ') || 'all trials';
}

function groups<T extends StoredTrial>(trials: T[], fields: TrialField[]): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const t of trials) {
    const k = groupKey(t, fields);
    out.set(k, [...(out.get(k) ?? []), t]);
  }
  return out;
}

function interval(k: number, n: number): string {
  if (n === 0) return '–';
  const { low, high } = wilson(k, n);
  return `[${(100 * low).toFixed(0)}%, ${(100 * high).toFixed(0)}%]`;
}

/** Successes per group of the grid's axes, as the paper's tables report them. */
export function successTable(input: ExperimentReportInput): Table {
  const fields = groupingFields(input.trials);
  const defended = done(input.trials).some((t) => t.result.defense);
  const rows = [...groups(input.trials, fields)].map(([key, ts]) => {
    const d = done(ts);
    const k = d.filter((t) => t.result.success).length;
    const row: (string | number)[] = [
      key,
      formatKofN(k, d.length),
      interval(k, d.length),
      pct(mean(d.map((t) => t.result.poisoned.accuracy).filter((a): a is number => a !== null))),
      pct(mean(d.map((t) => t.result.clean.accuracy).filter((a): a is number => a !== null))),
      pct(mean(d.map((t) => t.result.bridgeDesired).filter((a): a is number => a !== null))),
      `${ts.length - d.length}`,
    ];
    if (defended) {
      const dd = d.filter((t) => t.result.defense);
      const kd = dd.filter((t) => t.result.defense!.success).length;
      row.push(
        formatKofN(kd, dd.length),
        pct(mean(dd.map((t) => t.result.defense!.tpr))),
        pct(mean(dd.map((t) => t.result.defense!.fpr))),
        pct(mean(dd.map((t) => t.result.defense!.accuracy).filter((a): a is number => a !== null))),
      );
    }
    return row;
  });
  return {
    title: `${input.name}: attack success`,
    columns: [
      fields.length ? fields.join(', ') : 'group',
      'success',
      'Wilson 95%',
      'clean acc. (poisoned run)',
      'clean acc. (unpoisoned run)',
      'bridge labeled y*',
      'not finished',
      ...(defended ? ['success after defense', 'TPR', 'FPR', 'clean acc. after defense'] : []),
    ],
    rows,
    notes: [
      'A trial succeeds when the poisoned run labels x* with y* and the unpoisoned run with the same seed does not.',
    ],
  };
}

function afterDefense(d: NonNullable<Done['result']['defense']>): string {
  const rounds = d.rounds && d.rounds.length > 1 ? ` in ${d.rounds.length} rounds` : '';
  return `${d.success ? 'still poisoned' : 'defeated'} (${d.flagged} removed${rounds})`;
}

/** One row per finished trial: both verdicts, as a success claim needs them. */
export function trialTable(input: ExperimentReportInput): Table {
  const fields = groupingFields(input.trials);
  return {
    title: `${input.name}: trials`,
    columns: [
      ...fields,
      'seed',
      'x* (true → y*)',
      'poisons',
      'poisoned run: label of x*, p(y*)',
      'unpoisoned run: label of x*, p(y*)',
      'bridge labeled y*',
      'success',
      ...(done(input.trials).some((t) => t.result.defense) ? ['after defense'] : []),
    ],
    rows: done(input.trials).map((t) => {
      const r = t.result;
      return [
        ...fields.map((f) => show(t.config[f])),
        t.config.seed,
        `#${r.target} (${r.trueLabel} → ${r.desired})`,
        `${r.poisons} (${(100 * r.ratio).toFixed(2)}%)`,
        `${r.poisoned.prediction}, ${r.pDesired.toFixed(3)}`,
        `${r.clean.prediction}, ${r.pDesiredClean.toFixed(3)}`,
        pct(r.bridgeDesired),
        r.success ? 'yes' : 'no',
        ...(r.defense ? [afterDefense(r.defense)] : []),
      ];
    }),
  };
}

const points = (x: number): string => `${x >= 0 ? '' : '−'}${Math.abs(100 * x).toFixed(2)}`;
const meanSd = (s: { mean: number; sd: number | null }): string =>
  s.sd === null ? pct(s.mean) : `${pct(s.mean)} ± ${(100 * s.sd).toFixed(1)}`;
const pValue = (p: number | null): string => (p === null ? '–' : p < 0.001 ? '< 0.001' : p.toFixed(3));

/**
 * One row per defended trial: what the defense removed and the clean accuracy it cost over the
 * compared training seeds (Welch's t-test), with the attack's verdict per seed; null when no trial
 * of the experiment has a defense. Results stored before seeds were compared have no row.
 */
export function defenseCostTable(input: ExperimentReportInput): Table | null {
  const fields = groupingFields(input.trials);
  const defended = done(input.trials).filter((t) => t.result.defense?.seeds);
  if (defended.length === 0) return null;
  return {
    title: `${input.name}: clean accuracy after the defense`,
    columns: [
      ...fields,
      'seed',
      'removed (poisons)',
      'training seeds',
      'unpoisoned acc. (mean ± sd)',
      'defended acc. (mean ± sd)',
      'cost (points)',
      'cost 95% CI (points)',
      'p (any change)',
      'p (cost < 1 point)',
      'attack after defense',
    ],
    rows: defended.map((t) => {
      const d = t.result.defense!;
      const c = d.accuracyCost;
      const poisoned = d.seeds.filter((s) => s.success).length;
      return [
        ...fields.map((f) => show(t.config[f])),
        t.config.seed,
        `${d.flagged} (${d.truePositives})`,
        d.seeds.map((s) => s.seed).join(', '),
        c ? meanSd(c.clean) : '–',
        c ? meanSd(c.defended) : '–',
        c ? points(c.cost) : '–',
        c?.ci95 ? `[${points(c.ci95[0])}, ${points(c.ci95[1])}]` : '–',
        pValue(c?.pValue ?? null),
        pValue(c?.pBelowMargin ?? null),
        `poisoned in ${formatKofN(poisoned, d.seeds.length)} seeds`,
      ];
    }),
    notes: [
      'The unpoisoned and the defended victim are trained with the same seeds; the cost is the difference of their mean clean accuracies. ' +
        "Welch's t-test: p (any change) for no difference, p (cost < 1 point) for a cost below one point (small p supports it).",
    ],
  };
}

/** The figures this experiment's data supports. */
export function experimentFigures(input: ExperimentReportInput): ReportFigureSpec[] {
  const fields = groupingFields(input.trials);
  const d = done(input.trials);
  const figures: ReportFigureSpec[] = [];
  if (d.length === 0) return figures;
  const byGroup = [...groups(d, fields)];
  if (fields.length >= 1 && fields.length <= 2) {
    const counts: SuccessCount[] = byGroup.map(([, ts]) => ({
      category: show(ts[0].config[fields[0]]),
      group: fields[1] ? show(ts[0].config[fields[1]]) : undefined,
      k: ts.filter((t) => t.result.success).length,
      n: ts.length,
    }));
    figures.push({
      name: 'success-by-axis',
      caption: `Attack success by ${fields.join(' and ')}, with Wilson 95% intervals (as the paper's Tables 1–3).`,
      spec: successRateSpec(counts, {
        title: `${input.name}: success rate`,
        xTitle: fields[0],
        yTitle: 'attack success',
        groupTitle: fields[1],
      }),
    });
  }
  if (byGroup.length >= 2) {
    const points: AccuracySuccess[] = byGroup.map(([key, ts]) => ({
      label: key,
      accuracy: mean(ts.map((t) => t.result.clean.accuracy).filter((a): a is number => a !== null)) ?? 0,
      k: ts.filter((t) => t.result.success).length,
      n: ts.length,
    }));
    figures.push({
      name: 'accuracy-vs-success',
      caption:
        'Clean test accuracy of the unpoisoned victim against attack success, per group (as the paper’s Figure 4).',
      spec: accuracySuccessSpec(points, { title: `${input.name}: accuracy vs vulnerability` }),
    });
  }
  const pairs = new Map<string, MatrixCell>();
  for (const t of d) {
    const key = `${t.result.trueLabel}→${t.result.desired}`;
    const cell = pairs.get(key) ?? { row: String(t.result.trueLabel), col: String(t.result.desired), k: 0, n: 0 };
    cell.k += t.result.success ? 1 : 0;
    cell.n += 1;
    pairs.set(key, cell);
  }
  if (pairs.size >= 4) {
    figures.push({
      name: 'true-vs-desired',
      caption: 'Success by the target’s true class and the desired class (as the paper’s Figure 2).',
      spec: successMatrixSpec([...pairs.values()], { rowTitle: 'true class of x*', colTitle: 'desired label y*' }),
    });
  }
  const walked = d.filter((t) => t.result.propagation.epochs.length && t.result.propagation.alphas.length);
  const cellFields = groupingFields(input.trials);
  if (walked.length >= 2) {
    figures.push({
      name: 'bridge-front',
      caption:
        'Share of each trial’s bridge labeled y* over training: a failed trial’s line levels off where the label stopped between x′ and x*.',
      spec: bridgeFrontSpec(
        // One line per trial: the grid cell names it apart from trials of the same pair and seed.
        walked.map((t) => ({
          label: `#${t.result.target} ${t.result.trueLabel} → ${t.result.desired} (seed ${t.config.seed}${
            cellFields.length ? `, ${groupKey(t, cellFields)}` : ''
          })`,
          success: t.result.success,
          points: bridgeFront({ ...t.result.propagation, desired: t.result.desired, trueLabel: t.result.trueLabel }),
        })),
      ),
    });
  }
  const shown =
    d.find((t) => t.result.success && t.result.propagation.epochs.length) ??
    d.find((t) => t.result.propagation.epochs.length);
  if (shown) {
    const r = shown.result;
    figures.push({
      name: 'label-propagation',
      caption: `Label propagation along the bridge of trial ${shown.id} (test #${r.target}, ${r.trueLabel} → ${r.desired}; ${r.success ? 'success' : 'failure'}), as the paper’s Figure 5.`,
      spec: labelPropagationSpec({ ...r.propagation, desired: r.desired, trueLabel: r.trueLabel }),
    });
  }
  return figures;
}

export interface WrittenReport {
  dir: string;
  html: string;
  figures: string[];
  tables: Table[];
}

/**
 * Writes `outDir` with report.html and each figure as PNG and SVG, atomically: the folder appears
 * complete or not at all, and a report already there is replaced only once the new one is whole.
 * Returns the tables for printing.
 */
export async function writeExperimentReport(inputs: ExperimentReportInput[], outDir: string): Promise<WrittenReport> {
  if (inputs.length === 0) throw new Error('report: no experiments to report');
  const sections: ReportSection[] = [];
  const tables: Table[] = [];
  const files: { name: string; png: Buffer; svg: string }[] = [];
  for (const input of inputs) {
    const cost = defenseCostTable(input);
    const t = [successTable(input), trialTable(input), ...(cost ? [cost] : [])];
    tables.push(...t);
    const figs = [];
    for (const f of experimentFigures(input)) {
      const { svg, png } = await renderVegaLite(f.spec);
      const name = `${input.name}-${f.name}`;
      files.push({ name, png, svg });
      figs.push({ caption: f.caption, png, svg });
    }
    sections.push({ heading: input.name, text: input.description ?? undefined, tables: t, figures: figs });
  }
  const replacing = existsSync(outDir);
  if (replacing && !existsSync(join(outDir, 'report.html'))) {
    throw new Error(`${outDir} exists and is not a report folder; choose a new output folder`);
  }
  const target = replacing ? tempSibling(outDir) : outDir;
  await writeDirAtomic(target, (dir) => {
    for (const f of files) {
      writeFileSync(join(dir, `${f.name}.png`), f.png);
      writeFileSync(join(dir, `${f.name}.svg`), f.svg);
    }
    writeHtmlReport(join(dir, 'report.html'), {
      title: `semipoison report: ${inputs.map((i) => i.name).join(', ')}`,
      sections,
    });
  });
  if (replacing) {
    const old = tempSibling(outDir);
    renameSync(outDir, old);
    renameSync(target, outDir);
    rmSync(old, { recursive: true, force: true });
  }
  return {
    dir: outDir,
    html: join(outDir, 'report.html'),
    figures: files.flatMap((f) => [join(outDir, `${f.name}.png`), join(outDir, `${f.name}.svg`)]),
    tables,
  };
}
