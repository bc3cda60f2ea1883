// Vega-Lite specs for the paper's figures, built from results the experiments already computed:
// each builder only reshapes its input into rows and chooses the encoding.
import type { VegaLiteSpec } from './render.js';
import { formatKofN, wilson } from './tables.js';

/** One layer of a layered spec, and the encoding channels the builders share. */
type LayerSpec = Extract<VegaLiteSpec, { layer: unknown }>['layer'][number];
type Encoding = NonNullable<Extract<LayerSpec, { mark: unknown }>['encoding']>;
type PositionDef = NonNullable<Encoding['x']>;
type ColorDef = Encoding['color'];

/** Paper-like colours: success yellow, failure purple (Figure 3's viridis ends), with a teal between. */
const SUCCESS = '#fde725';
const FAILURE = '#440154';
const MIDDLE = '#21918c';
const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';

function clamp(lo: number, hi: number, x: number): number {
  return Math.min(hi, Math.max(lo, x));
}

/** About `count` evenly spaced positions of 0..n−1, both ends included, for sparse axis ticks. */
function tickPositions(n: number, count = 11): number[] {
  if (n <= count) return Array.from({ length: n }, (_, i) => i);
  const step = (n - 1) / (count - 1);
  return [...new Set(Array.from({ length: count }, (_, i) => Math.round(i * step)))];
}

function checkFinite(xs: ArrayLike<number>, what: string): void {
  for (let i = 0; i < xs.length; i++) {
    if (!Number.isFinite(xs[i])) throw new Error(`figure: ${what}[${i}] is ${xs[i]}, expected a finite number`);
  }
}

function className(names: string[] | undefined, c: number): string {
  return names?.[c] !== undefined ? `${names[c]} (${c})` : String(c);
}

// --- Figure 5: label propagation -------------------------------------------------------------

/** What `semipoison attack eval` writes under "propagation" in eval.json, with the manifest's labels. */
export interface PropagationData {
  /** The α of each poison on the bridge (0 at the labeled x′, 1 at the target x*). */
  alphas: number[];
  /** Each logged epoch's predicted label of every poison, in the order of `alphas`. */
  epochs: { epoch: number; labels: number[] }[];
  /** The label y* the attack wants x* to get. */
  desired: number;
  /** x*'s true label. */
  trueLabel: number;
}

export interface FigureOptions {
  title?: string;
  /** Class names by label, for legends and titles. */
  classNames?: string[];
}

/**
 * Figure 5: label propagation over training. One cell per (poison, epoch), poisons ordered by α
 * from x′ to x*, coloured by whether the prediction is the desired label y*, x*'s true label, or
 * another. A successful attack shows y* spreading from α = 0 to α = 1 epoch by epoch.
 */
export function labelPropagationSpec(data: PropagationData, opts: FigureOptions = {}): VegaLiteSpec {
  const n = data.alphas.length;
  if (n === 0) throw new Error('figure 5: no poisons (empty alphas)');
  if (data.epochs.length === 0) throw new Error('figure 5: no epochs logged');
  checkFinite(data.alphas, 'alphas');
  for (const e of data.epochs) {
    if (e.labels.length !== n) {
      throw new Error(`figure 5: epoch ${e.epoch} has ${e.labels.length} labels for ${n} poisons`);
    }
  }
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => data.alphas[a] - data.alphas[b] || a - b);
  const desired = `desired label y* = ${className(opts.classNames, data.desired)}`;
  const truth = `true label of x* = ${className(opts.classNames, data.trueLabel)}`;
  const other = 'another label';
  const values = data.epochs.flatMap((e) =>
    order.map((i, position) => {
      const label = e.labels[i];
      const outcome = label === data.desired ? desired : label === data.trueLabel ? truth : other;
      return { position, epoch: e.epoch, label, outcome };
    }),
  );
  const alphaLabels = order.map((i) => data.alphas[i].toFixed(2));
  const epochs = [...new Set(data.epochs.map((e) => e.epoch))].sort((a, b) => a - b);
  return {
    $schema: SCHEMA,
    title: opts.title ?? 'Label propagation along the poison bridge (Figure 5)',
    data: { values },
    mark: 'rect',
    width: { step: clamp(3, 16, 640 / n) },
    height: { step: clamp(2, 12, 400 / epochs.length) },
    encoding: {
      x: {
        field: 'position',
        type: 'ordinal',
        title: 'poison, ordered by α (x′ at α = 0 → x* at α = 1)',
        axis: {
          values: tickPositions(n),
          labelExpr: `${JSON.stringify(alphaLabels)}[datum.value]`,
          labelAngle: 0,
        },
      },
      y: {
        field: 'epoch',
        type: 'ordinal',
        title: 'epoch',
        sort: 'ascending',
        axis: { values: epochs.filter((_, i) => tickPositions(epochs.length).includes(i)) },
      },
      color: {
        field: 'outcome',
        type: 'nominal',
        title: 'prediction',
        scale: { domain: [desired, truth, other], range: [SUCCESS, FAILURE, MIDDLE] },
        legend: { orient: 'bottom', direction: 'vertical', labelLimit: 480 },
      },
    },
  };
}

// --- How far the label walked, per trial ------------------------------------------------------

export interface BridgeFront {
  /** The trial, as the legend names it (e.g. "#8914 2 → 0"). */
  label: string;
  success: boolean;
  /** The share of the main bridge labeled y* after each logged epoch. */
  points: { epoch: number; share: number }[];
}

/** The share of each bridge labeled y* at each epoch, from a trial's label propagation. */
export function bridgeFront(data: PropagationData): { epoch: number; share: number }[] {
  const n = data.alphas.length;
  if (n === 0) throw new Error('bridge front: no poisons (empty alphas)');
  // A run that ends in a partial epoch logs that epoch's number twice; its last row is the final state.
  const last = new Map<number, number>();
  for (const e of data.epochs) last.set(e.epoch, e.labels.filter((l) => l === data.desired).length / n);
  return [...last].map(([epoch, share]) => ({ epoch, share }));
}

/**
 * One line per trial, each in its own colour: the share of its bridge labeled y* over training,
 * solid for successes and dashed for failures. Where a failed trial's line levels off is where the
 * label stopped on its way from x′ to x* (the paper's "stuck" failures); successes reach 1.
 */
export function bridgeFrontSpec(trials: BridgeFront[], opts: { title?: string } = {}): VegaLiteSpec {
  if (trials.length === 0) throw new Error('bridge front: no trials');
  const values = trials.flatMap((t) => {
    if (t.points.length === 0) throw new Error(`bridge front: trial ${t.label} has no epochs`);
    checkFinite(
      t.points.map((p) => p.share),
      `${t.label} shares`,
    );
    const outcome = t.success ? 'success' : 'failure';
    return t.points.map((p) => ({ trial: `${t.label}: ${outcome}`, outcome, epoch: p.epoch, share: p.share }));
  });
  return {
    $schema: SCHEMA,
    title: opts.title ?? 'How far the label walked along each bridge',
    data: { values },
    width: 520,
    height: 300,
    mark: { type: 'line', point: { size: 12 }, interpolate: 'step-after' },
    encoding: {
      x: { field: 'epoch', type: 'quantitative', title: 'epoch' },
      y: {
        field: 'share',
        type: 'quantitative',
        title: 'share of the bridge labeled y* (x′ → x*)',
        axis: { format: '%' },
        scale: { domain: [0, 1] },
      },
      color: {
        field: 'trial',
        type: 'nominal',
        title: 'trial',
        scale: { scheme: trials.length <= 10 ? 'tableau10' : 'category20' },
        legend: { labelLimit: 400 },
      },
      strokeDash: {
        field: 'outcome',
        type: 'nominal',
        title: 'outcome',
        scale: {
          domain: ['success', 'failure'],
          range: [
            [1, 0],
            [5, 3],
          ],
        },
        legend: null, // the trial's legend entry names its outcome
      },
      tooltip: [
        { field: 'trial', type: 'nominal' },
        { field: 'epoch', type: 'quantitative' },
        { field: 'share', type: 'quantitative', format: '.0%' },
      ],
    },
  };
}

// --- Figure 7: influence histogram -----------------------------------------------------------

export interface ScoreHistogramData {
  /** One detector score per example (all ≥ 0: influences, residuals, distances, cluster sizes). */
  scores: ArrayLike<number>;
  /** Ground truth: which examples are poisons. */
  isPoison?: ArrayLike<boolean | number>;
  /** The flagging threshold, drawn as a rule. */
  threshold?: number;
}

export interface ScoreHistogramOptions {
  title?: string;
  /** What the score is, for the axis title. */
  scoreName?: string;
  maxBins?: number;
}

/**
 * Where a zero score is drawn on the log axis: one decade below the smallest positive score (or
 * 1e-12 if none is positive). log10(0) is −∞, and a fixed epsilon such as 1e-12 would stretch the
 * axis over empty decades between exact duplicates (score 0) and the rest.
 */
export function logFloor(scores: ArrayLike<number>): number {
  let min = Infinity;
  for (let i = 0; i < scores.length; i++) if (scores[i] > 0 && scores[i] < min) min = scores[i];
  return Number.isFinite(min) ? min / 10 : 1e-12;
}

/**
 * Figure 7: histogram of detector scores on a log axis (poisons sit orders of magnitude below
 * benign examples), benign and poisoned overlaid when ground truth is given, with the flagging
 * threshold as a dashed rule. Counts use a symlog axis with ground truth so that a few dozen
 * poisons stay visible beside tens of thousands of benign examples.
 */
export function scoreHistogramSpec(data: ScoreHistogramData, opts: ScoreHistogramOptions = {}): VegaLiteSpec {
  const { scores, isPoison, threshold } = data;
  if (scores.length === 0) throw new Error('figure 7: no scores');
  checkFinite(scores, 'scores');
  for (let i = 0; i < scores.length; i++) {
    if (scores[i] < 0) throw new Error(`figure 7: scores[${i}] is ${scores[i]}; a log axis needs scores ≥ 0`);
  }
  if (isPoison && isPoison.length !== scores.length) {
    throw new Error(`figure 7: ${isPoison.length} ground-truth flags for ${scores.length} scores`);
  }
  const floor = logFloor(scores);
  const toLog = (s: number) => Math.log10(Math.max(s, floor));
  const values = Array.from(scores, (s, i) => ({
    log: toLog(s),
    group: isPoison ? (isPoison[i] ? 'poisoned' : 'benign') : 'all examples',
  }));
  const hasZero = Array.prototype.some.call(scores, (s: number) => s === 0);
  const name = opts.scoreName ?? 'influence';
  const x: PositionDef = {
    field: 'bin0',
    type: 'quantitative',
    title: `${name} (log scale${hasZero ? `; 0 drawn at ${floor.toExponential(0)}` : ''})`,
    scale: { zero: false },
    // Ticks sit on whole decades where the range allows; narrow ranges get fractional exponents.
    axis: { tickMinStep: 1, labelExpr: "format(pow(10, datum.value), '.2~e')" },
  };
  // Binned in a transform rather than on the channel, so the threshold layer shares the x scale.
  const bars: LayerSpec = {
    transform: [
      { bin: { maxbins: opts.maxBins ?? 50 }, field: 'log', as: ['bin0', 'bin1'] },
      { aggregate: [{ op: 'count', as: 'count' }], groupby: ['bin0', 'bin1', 'group'] },
    ],
    mark: { type: 'bar', opacity: isPoison ? 0.75 : 1, binSpacing: 0 },
    encoding: {
      x,
      x2: { field: 'bin1' },
      y: {
        field: 'count',
        type: 'quantitative',
        title: isPoison ? 'examples (symlog scale)' : 'examples',
        stack: null,
        axis: { format: 'd', tickMinStep: 1, ...(isPoison ? { values: countTicks(scores.length) } : {}) },
        ...(isPoison ? { scale: { type: 'symlog' } } : {}),
      },
      // x and x2 both set would make the bars horizontal ranges; anchor them at zero instead.
      y2: { datum: 0 },
      color: {
        field: 'group',
        type: 'nominal',
        title: null,
        scale: isPoison
          ? { domain: ['benign', 'poisoned'], range: [FAILURE, '#e8a200'] }
          : { domain: ['all examples'], range: [FAILURE] },
        legend: isPoison ? {} : null,
      },
    },
  };
  const layers: LayerSpec[] = [bars];
  if (threshold !== undefined && Number.isFinite(threshold) && threshold >= 0) {
    layers.push({
      data: { values: [{ bin0: toLog(threshold), text: `threshold ${formatScore(threshold)}` }] },
      layer: [
        { mark: { type: 'rule', color: 'crimson', strokeDash: [6, 3], strokeWidth: 1.5 }, encoding: { x } },
        {
          mark: { type: 'text', color: 'crimson', align: 'left', dx: 4, y: 8 },
          encoding: { x, text: { field: 'text' } },
        },
      ],
    });
  }
  return {
    $schema: SCHEMA,
    title: opts.title ?? `Detector scores${isPoison ? ', benign vs poisoned' : ''} (Figure 7)`,
    width: 520,
    height: 260,
    data: { values },
    layer: layers,
  };
}

/** Scores span many decades: plain digits in the readable middle, exponents elsewhere. */
function formatScore(x: number): string {
  return x === 0 || (Math.abs(x) >= 0.01 && Math.abs(x) < 1e4) ? String(Number(x.toPrecision(3))) : x.toExponential(1);
}

/** 0, 1, 3, 10, 30, … up to n: readable ticks on a symlog count axis. */
function countTicks(n: number): number[] {
  const ticks = [0];
  for (let p = 1; p <= n; p *= 10) ticks.push(p, 3 * p);
  return ticks.filter((t) => t <= n);
}

// --- Generic charts: Table 3, Figure 4, Figures 2 and 3 ----------------------------------------

export interface BarDatum {
  category: string;
  /** Series within a category (bars side by side); omit for a single series. */
  group?: string;
  value: number;
  /** Error bar ends, e.g. a Wilson interval. */
  low?: number;
  high?: number;
}

export interface AxisOptions {
  title?: string;
  xTitle: string;
  yTitle: string;
  /** Legend title for groups or series. */
  groupTitle?: string;
  /** d3-format of the value axis, e.g. '%'. */
  format?: string;
  yDomain?: [number, number];
}

function valueAxis(field: string, opts: AxisOptions): PositionDef {
  return {
    field,
    type: 'quantitative',
    title: opts.yTitle,
    ...(opts.format ? { axis: { format: opts.format } } : {}),
    ...(opts.yDomain ? { scale: { domain: opts.yDomain } } : {}),
  };
}

/** Vertical error bars from the rows' low and high fields, where both are given. */
function errorBars(x: PositionDef, yTitle: string, extra: Encoding = {}): LayerSpec {
  return {
    mark: { type: 'rule', color: 'black' },
    transform: [{ filter: 'isValid(datum.low) && isValid(datum.high)' }],
    encoding: { x, y: { field: 'low', type: 'quantitative', title: yTitle }, y2: { field: 'high' }, ...extra },
  };
}

function legendColor(field: string, title: string | undefined): ColorDef {
  return { field, type: 'nominal', title: title ?? null };
}

function titled(title: string | undefined): { title?: string } {
  return title ? { title } : {};
}

/** Bars by category, side by side by group, with optional error bars; categories keep their input order. */
export function groupedBarSpec(data: BarDatum[], opts: AxisOptions): VegaLiteSpec {
  if (data.length === 0) throw new Error('bar chart: no data');
  checkFinite(
    data.map((d) => d.value),
    'value',
  );
  const categories = [...new Set(data.map((d) => d.category))];
  const groups = new Set(data.map((d) => d.group ?? ''));
  const grouped = data.some((d) => d.group !== undefined);
  const values = data.map((d) => ({ ...d, group: d.group ?? '', low: d.low ?? null, high: d.high ?? null }));
  const x: PositionDef = {
    field: 'category',
    type: 'nominal',
    sort: categories,
    title: opts.xTitle,
    axis: { labelAngle: 0 },
  };
  const offset: Encoding = grouped ? { xOffset: { field: 'group', type: 'nominal' } } : {};
  return {
    $schema: SCHEMA,
    ...titled(opts.title),
    data: { values },
    width: categories.length * (22 * groups.size + 18),
    height: 240,
    layer: [
      {
        mark: 'bar',
        encoding: {
          x,
          ...offset,
          y: valueAxis('value', opts),
          ...(grouped ? { color: legendColor('group', opts.groupTitle) } : {}),
        },
      },
      errorBars(x, opts.yTitle, offset),
    ],
  };
}

export interface SuccessCount {
  category: string;
  group?: string;
  /** Successful trials. */
  k: number;
  /** Trials. */
  n: number;
}

/**
 * Success rates as bars with Wilson 95% intervals: Table 3 as a chart (category = density
 * function, group = poison ratio), or Table 1 (category = algorithm, group = ratio).
 */
export function successRateSpec(counts: SuccessCount[], opts: Omit<AxisOptions, 'format' | 'yDomain'>): VegaLiteSpec {
  return groupedBarSpec(
    counts.map((c) => {
      const { low, high } = wilson(c.k, c.n);
      return { category: c.category, group: c.group, value: c.n ? c.k / c.n : 0, low, high };
    }),
    { ...opts, format: '%', yDomain: [0, 1] },
  );
}

export interface LinePoint {
  x: number;
  y: number;
  series?: string;
  low?: number;
  high?: number;
}

/** Lines with points, one per series, with optional error bars (e.g. success rate against poison ratio). */
export function lineChartSpec(points: LinePoint[], opts: AxisOptions & { xScale?: 'linear' | 'log' }): VegaLiteSpec {
  if (points.length === 0) throw new Error('line chart: no points');
  checkFinite(
    points.flatMap((p) => [p.x, p.y]),
    'point',
  );
  const values = points.map((p) => ({ ...p, series: p.series ?? '', low: p.low ?? null, high: p.high ?? null }));
  const x: PositionDef = {
    field: 'x',
    type: 'quantitative',
    title: opts.xTitle,
    scale: { type: opts.xScale ?? 'linear' },
  };
  const color: Encoding = points.some((p) => p.series !== undefined)
    ? { color: legendColor('series', opts.groupTitle) }
    : {};
  return {
    $schema: SCHEMA,
    ...titled(opts.title),
    data: { values },
    width: 420,
    height: 260,
    layer: [
      { mark: { type: 'line', point: true }, encoding: { x, y: valueAxis('y', opts), ...color } },
      errorBars(x, opts.yTitle, color),
    ],
  };
}

export interface ScatterPoint {
  x: number;
  y: number;
  /** Text beside the point. */
  label: string;
  group?: string;
  low?: number;
  high?: number;
}

/** Labelled points with optional vertical error bars. */
export function scatterSpec(points: ScatterPoint[], opts: AxisOptions & { xFormat?: string }): VegaLiteSpec {
  if (points.length === 0) throw new Error('scatter: no points');
  checkFinite(
    points.flatMap((p) => [p.x, p.y]),
    'point',
  );
  const values = points.map((p) => ({ ...p, group: p.group ?? '', low: p.low ?? null, high: p.high ?? null }));
  const x: PositionDef = {
    field: 'x',
    type: 'quantitative',
    title: opts.xTitle,
    scale: { zero: false, padding: 24 },
    ...(opts.xFormat ? { axis: { format: opts.xFormat } } : {}),
  };
  const y = valueAxis('y', opts);
  const color: Encoding = points.some((p) => p.group !== undefined)
    ? { color: legendColor('group', opts.groupTitle) }
    : {};
  return {
    $schema: SCHEMA,
    ...titled(opts.title),
    data: { values },
    width: 420,
    height: 300,
    layer: [
      errorBars(x, opts.yTitle, color),
      { mark: { type: 'point', filled: true, size: 60 }, encoding: { x, y, ...color } },
      { mark: { type: 'text', align: 'left', dx: 7, dy: -7 }, encoding: { x, y, text: { field: 'label' } } },
    ],
  };
}

/** One trained model configuration of Figure 4. */
export interface AccuracySuccess {
  /** Algorithm name, e.g. "FixMatch" or "FixMatch (small)". */
  label: string;
  /** Clean test accuracy in [0, 1]. */
  accuracy: number;
  /** Successful attacks out of n trials. */
  k: number;
  n: number;
  /** e.g. "standard" / "reduced accuracy". */
  setting?: string;
}

/** Figure 4: test accuracy against attack success rate, one labelled point per algorithm and setting. */
export function accuracySuccessSpec(points: AccuracySuccess[], opts: { title?: string } = {}): VegaLiteSpec {
  return scatterSpec(
    points.map((p) => {
      const { low, high } = wilson(p.k, p.n);
      return { x: p.accuracy, y: p.n ? p.k / p.n : 0, label: p.label, group: p.setting, low, high };
    }),
    {
      title: opts.title ?? 'More accurate techniques are more vulnerable (Figure 4)',
      xTitle: 'clean test accuracy',
      yTitle: 'attack success rate',
      xFormat: '%',
      format: '%',
      yDomain: [0, 1],
      groupTitle: 'setting',
    },
  );
}

export interface MatrixCell {
  row: string;
  col: string;
  /** Successes out of n trials in this cell. */
  k: number;
  n: number;
}

export interface MatrixOptions {
  title?: string;
  rowTitle: string;
  colTitle: string;
  /** Order rows and columns by mean success rate, as Figure 3 does (otherwise: first appearance). */
  sortByRate?: boolean;
  /** Write k/n in each cell (Figure 2); off for large grids of single trials (Figure 3). */
  showCounts?: boolean;
}

function orderBy(cells: MatrixCell[], key: 'row' | 'col', byRate: boolean): string[] {
  const totals = new Map<string, { k: number; n: number }>();
  for (const c of cells) {
    const t = totals.get(c[key]) ?? { k: 0, n: 0 };
    totals.set(c[key], { k: t.k + c.k, n: t.n + c.n });
  }
  const rate = (t: { k: number; n: number }) => (t.n ? t.k / t.n : 0);
  const entries = [...totals];
  if (byRate) entries.sort(([, a], [, b]) => rate(a) - rate(b));
  return entries.map(([name]) => name);
}

/**
 * Figures 2 and 3: success rate as a heat map, rows (e.g. the target's true class or source image)
 * against columns (the desired class or target image), viridis from failure to success, with k/n
 * written in each cell.
 */
export function successMatrixSpec(cells: MatrixCell[], opts: MatrixOptions): VegaLiteSpec {
  if (cells.length === 0) throw new Error('heat map: no cells');
  const values = cells.map((c) => ({ ...c, rate: c.n ? c.k / c.n : 0, text: formatKofN(c.k, c.n) }));
  const rows = orderBy(cells, 'row', opts.sortByRate ?? false);
  const cols = orderBy(cells, 'col', opts.sortByRate ?? false);
  const step = clamp(6, 40, 480 / Math.max(rows.length, cols.length));
  const x: PositionDef = { field: 'col', type: 'nominal', sort: cols, title: opts.colTitle, axis: { labelAngle: -45 } };
  const y: PositionDef = { field: 'row', type: 'nominal', sort: rows, title: opts.rowTitle };
  const layers: LayerSpec[] = [
    {
      mark: 'rect',
      encoding: {
        x,
        y,
        color: {
          field: 'rate',
          type: 'quantitative',
          title: 'success rate',
          scale: { scheme: 'viridis', domain: [0, 1] },
          legend: { format: '%' },
        },
      },
    },
  ];
  if (opts.showCounts ?? true) {
    layers.push({
      mark: { type: 'text', fontSize: clamp(7, 11, step / 3.2) },
      encoding: {
        x,
        y,
        text: { field: 'text' },
        color: { condition: { test: 'datum.rate > 0.6', value: 'black' }, value: 'white' },
      },
    });
  }
  return {
    $schema: SCHEMA,
    ...titled(opts.title),
    data: { values },
    width: { step },
    height: { step },
    layer: layers,
  };
}

// --- Figure 1: the attack in two dimensions ------------------------------------------------------

export interface DecisionPanel {
  title: string;
  /** p(class A) on a resolution × resolution grid over the extent, row-major, top row first. */
  grid: ArrayLike<number>;
  /** Points the attacker added (drawn as poisons; the target is drawn separately). */
  poisons: [number, number][];
  /** Outcome line under the panel, e.g. the model's label for the target. */
  note?: string;
}

export interface DecisionBoundaryData {
  extent: { x: [number, number]; y: [number, number] };
  resolution: number;
  labeled: { point: [number, number]; label: 0 | 1 }[];
  unlabeled: [number, number][];
  target: [number, number];
  panels: DecisionPanel[];
  classNames?: [string, string];
}

/**
 * Figure 1: decision regions of a classifier trained with pseudo-labels on two classes, for each
 * panel (clean; one poison; a bridge), with the labeled points, the unlabeled points, the poisons
 * and the target.
 */
export function decisionBoundarySpec(data: DecisionBoundaryData, opts: { title?: string } = {}): VegaLiteSpec {
  const { extent, resolution: r } = data;
  if (!Number.isInteger(r) || r < 2) throw new Error(`figure 1: resolution must be an integer ≥ 2, got ${r}`);
  const [nameA, nameB] = data.classNames ?? ['red class', 'blue class'];
  const cellW = (extent.x[1] - extent.x[0]) / r;
  const cellH = (extent.y[1] - extent.y[0]) / r;
  const panel = (p: DecisionPanel): VegaLiteSpec => {
    if (p.grid.length !== r * r)
      throw new Error(`figure 1: panel '${p.title}' has ${p.grid.length} grid values, expected ${r * r}`);
    checkFinite(p.grid, `panel '${p.title}' grid`);
    const cells = Array.from({ length: r * r }, (_, i) => {
      const row = Math.floor(i / r);
      const col = i % r;
      const x = extent.x[0] + col * cellW;
      const y = extent.y[1] - (row + 1) * cellH;
      return { x, x2: x + cellW, y, y2: y + cellH, region: p.grid[i] >= 0.5 ? nameA : nameB };
    });
    const points = [
      ...data.unlabeled.map(([x, y]) => ({ x, y, kind: 'unlabeled' })),
      ...data.labeled.map((l) => ({ x: l.point[0], y: l.point[1], kind: `labeled ${l.label === 0 ? nameA : nameB}` })),
      ...p.poisons.map(([x, y]) => ({ x, y, kind: 'poison' })),
      { x: data.target[0], y: data.target[1], kind: 'target x*' },
    ];
    const xScale = { domain: extent.x, nice: false, zero: false };
    const yScale = { domain: extent.y, nice: false, zero: false };
    const kinds = ['unlabeled', `labeled ${nameA}`, `labeled ${nameB}`, 'poison', 'target x*'];
    return {
      title: { text: p.title, subtitle: p.note ?? '' },
      width: 260,
      height: Math.round((260 * (extent.y[1] - extent.y[0])) / (extent.x[1] - extent.x[0])),
      layer: [
        {
          data: { values: cells },
          mark: { type: 'rect', opacity: 0.35 },
          encoding: {
            x: { field: 'x', type: 'quantitative', scale: xScale, axis: null },
            x2: { field: 'x2' },
            y: { field: 'y', type: 'quantitative', scale: yScale, axis: null },
            y2: { field: 'y2' },
            color: {
              field: 'region',
              type: 'nominal',
              title: 'decision region',
              scale: { domain: [nameA, nameB], range: ['#f4a3a3', '#a3c4f4'] },
            },
          },
        },
        {
          data: { values: points },
          mark: { type: 'point', filled: true, size: 28 },
          encoding: {
            x: { field: 'x', type: 'quantitative', scale: xScale, axis: null },
            y: { field: 'y', type: 'quantitative', scale: yScale, axis: null },
            shape: {
              field: 'kind',
              type: 'nominal',
              title: 'point',
              scale: { domain: kinds, range: ['circle', 'square', 'cross', 'diamond', 'triangle-up'] },
            },
            stroke: { value: '#222' },
            strokeWidth: { value: 0.4 },
            fill: {
              field: 'kind',
              type: 'nominal',
              title: 'point',
              scale: { domain: kinds, range: ['#bbbbbb', '#d62728', '#1f77b4', '#ff7f0e', '#000000'] },
            },
          },
        },
      ],
    } as VegaLiteSpec;
  };
  return {
    $schema: SCHEMA,
    title: opts.title ?? 'Poisoning the unlabeled set, in two dimensions (Figure 1)',
    hconcat: data.panels.map(panel),
    resolve: { scale: { color: 'shared', shape: 'shared' } },
  } as VegaLiteSpec;
}
