// Figures render headless to valid SVG and to PNG of the declared size with real content; the
// builders reject data they cannot draw.
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import {
  accuracySuccessSpec,
  bridgeFront,
  bridgeFrontSpec,
  decisionBoundarySpec,
  labelPropagationSpec,
  lineChartSpec,
  logFloor,
  renderVegaLite,
  scoreHistogramSpec,
  successMatrixSpec,
  successRateSpec,
  writeFigure,
  type VegaLiteSpec,
} from '../../src/report/index.js';

/** Width and height from the SVG root, and the PNG's decoded size and pixel spread. */
async function checkRendered(spec: VegaLiteSpec, scale = 2) {
  const { svg, png } = await renderVegaLite(spec, { scale });
  expect(svg.startsWith('<svg')).toBe(true);
  expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
  const [, w, h] = svg.match(/^<svg[^>]*width="(\d+)" height="(\d+)"/) ?? [];
  expect(Number(w)).toBeGreaterThan(50);
  expect(png.subarray(1, 4).toString('latin1')).toBe('PNG');
  const meta = await sharp(png).metadata();
  expect(meta.format).toBe('png');
  expect(meta.width).toBe(Number(w) * scale);
  expect(meta.height).toBe(Number(h) * scale);
  const stats = await sharp(png).stats();
  // Opaque white background with drawn marks: corners white, some channel far from white.
  expect(stats.isOpaque).toBe(true);
  expect(Math.min(...stats.channels.map((c) => c.min))).toBeLessThan(100);
  expect(stats.channels[0].max).toBe(255);
  return svg;
}

const ALPHAS = [0, 0.25, 0.5, 0.75, 1];

describe('figures', () => {
  it('Figure 5 orders poisons by α and colours desired / true / other', async () => {
    const spec = labelPropagationSpec({
      alphas: [0.5, 0, 1, 0.25, 0.75],
      epochs: [
        { epoch: 0, labels: [2, 3, 1, 1, 2] },
        { epoch: 10, labels: [3, 3, 1, 3, 2] },
      ],
      desired: 3,
      trueLabel: 1,
    });
    const values = (spec.data as { values: { position: number; epoch: number; outcome: string }[] }).values;
    // Epoch 10, sorted by α: 0 (3), 0.25 (3), 0.5 (3), 0.75 (2), 1 (1).
    expect(values.filter((v) => v.epoch === 10).map((v) => v.outcome[0])).toEqual(['d', 'd', 'd', 'a', 't']);
    const svg = await checkRendered(spec);
    expect(svg).toContain('0.75');
    expect(svg).toContain('desired label y* = 3');
  });

  it('Figure 5 rejects epochs that do not cover every poison', () => {
    expect(() =>
      labelPropagationSpec({ alphas: ALPHAS, epochs: [{ epoch: 1, labels: [1, 2] }], desired: 1, trueLabel: 0 }),
    ).toThrow(/epoch 1 has 2 labels for 5 poisons/);
  });

  it('the bridge front counts the share of each bridge labeled y* and draws one line per trial', async () => {
    const points = bridgeFront({
      alphas: [0.5, 0, 1, 0.25],
      epochs: [
        { epoch: 1, labels: [2, 3, 1, 1] },
        { epoch: 2, labels: [3, 3, 1, 1] },
        { epoch: 2, labels: [3, 3, 1, 3] },
      ],
      desired: 3,
      trueLabel: 1,
    });
    // The repeated epoch (a run ending in a partial one) is drawn once, from its last row.
    expect(points).toEqual([
      { epoch: 1, share: 0.25 },
      { epoch: 2, share: 0.75 },
    ]);
    const spec = bridgeFrontSpec([
      { label: '#7 1 → 3 (seed 1)', success: false, points },
      { label: '#9 2 → 0 (seed 2)', success: true, points: [{ epoch: 1, share: 1 }] },
    ]);
    const values = (spec.data as { values: { trial: string; outcome: string }[] }).values;
    expect(values.map((v) => v.outcome)).toEqual(['failure', 'failure', 'success']);
    const svg = await checkRendered(spec);
    expect(svg).toContain('share of the bridge labeled y*');
    expect(() => bridgeFrontSpec([])).toThrow(/no trials/);
    expect(() => bridgeFrontSpec([{ label: 'x', success: true, points: [{ epoch: 1, share: NaN }] }])).toThrow(
      /finite/,
    );
  });

  it('Figure 7 draws zeros one decade below the smallest score, with ground truth and threshold', async () => {
    const scores = [...Array.from({ length: 200 }, (_, i) => 0.01 + i * 1e-4), 3e-5, 4e-5, 0];
    expect(logFloor(scores)).toBeCloseTo(3e-6, 12);
    expect(logFloor([0, 0])).toBe(1e-12);
    const isPoison = scores.map((_, i) => i >= 200);
    const svg = await checkRendered(scoreHistogramSpec({ scores, isPoison, threshold: 2e-4 }));
    expect(svg).toContain('poisoned');
    expect(svg).toContain('threshold 2.0e-4');
    expect(svg).toContain('0 drawn at 3e-6');
    expect(() => scoreHistogramSpec({ scores: [1, -1] })).toThrow(/scores\[1\] is -1/);
    expect(() => scoreHistogramSpec({ scores: [1, NaN] })).toThrow(/scores\[1\] is NaN/);
    expect(() => scoreHistogramSpec({ scores: [1, 2], isPoison: [true] })).toThrow(/1 ground-truth flags/);
  });

  it('Table 3 bars, Figure 4 scatter, a line chart and Figures 2–3 heat maps render', async () => {
    await checkRendered(
      successRateSpec(
        [
          { category: '1.5 − x', group: '0.1%', k: 7, n: 8 },
          { category: '1.5 − x', group: '0.5%', k: 8, n: 8 },
          { category: '(1 − x)²', group: '0.1%', k: 0, n: 8 },
        ],
        { xTitle: 'density', yTitle: 'success rate', groupTitle: 'poisoned' },
      ),
      1,
    );
    await checkRendered(
      accuracySuccessSpec([
        { label: 'FixMatch', accuracy: 0.93, k: 9, n: 10 },
        { label: 'Pi-Model', accuracy: 0.58, k: 1, n: 10 },
      ]),
      1,
    );
    await checkRendered(
      lineChartSpec(
        [0.001, 0.002, 0.005].map((x, i) => ({ x, y: 0.5 + i / 5, series: 'FixMatch' })),
        { xTitle: 'poison ratio', yTitle: 'success', xScale: 'log' },
      ),
      1,
    );
    const cells = ['airplane', 'cat'].flatMap((row, i) =>
      ['bird', 'horse'].map((col, j) => ({ row, col, k: 2 * i + j, n: 4 })),
    );
    const heat = successMatrixSpec(cells, { rowTitle: 'true label', colTitle: 'desired label', sortByRate: true });
    const svg = await checkRendered(heat, 1);
    expect(svg).toContain('3/4');
    const order = (heat as { layer: { encoding: { y: { sort: string[] } } }[] }).layer[0].encoding.y.sort;
    expect(order).toEqual(['airplane', 'cat']);
  });

  it('writeFigure writes PNG and SVG atomically, and only the formats asked for', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'figure-'));
    const spec = successRateSpec([{ category: 'a', k: 1, n: 2 }], { xTitle: 'x', yTitle: 'y' });
    expect(await writeFigure(join(dir, 'fig'), spec)).toEqual([join(dir, 'fig.png'), join(dir, 'fig.svg')]);
    expect(await writeFigure(join(dir, 'only'), spec, ['svg'])).toEqual([join(dir, 'only.svg')]);
    expect(readdirSync(dir).sort()).toEqual(['fig.png', 'fig.svg', 'only.svg']);
    expect(readFileSync(join(dir, 'fig.svg'), 'utf8')).toMatch(/^<svg/);
    await expect(writeFigure(join(dir, 'x'), spec, [])).rejects.toThrow(/no formats/);
  });

  it('Figure 1 draws one decision-region panel per run with every kind of point, and checks the grid', async () => {
    const r = 10;
    const grid = Array.from({ length: r * r }, (_, i) => (i % r < r / 2 ? 0.9 : 0.1));
    const data = {
      extent: { x: [-1, 1] as [number, number], y: [-1, 1] as [number, number] },
      resolution: r,
      labeled: [
        { point: [-0.5, 0] as [number, number], label: 0 as const },
        { point: [0.5, 0] as [number, number], label: 1 as const },
      ],
      unlabeled: [[0, 0.5]] as [number, number][],
      target: [0.3, 0.3] as [number, number],
      panels: [
        { title: 'clean', grid, poisons: [] },
        { title: 'bridge', grid, poisons: [[0, 0]] as [number, number][], note: 'target flipped' },
      ],
    };
    const svg = await checkRendered(decisionBoundarySpec(data));
    for (const text of ['clean', 'bridge', 'target flipped', 'target x*', 'poison', 'labeled red class']) {
      expect(svg).toContain(text);
    }
    expect(() => decisionBoundarySpec({ ...data, panels: [{ title: 'short', grid: [0.5], poisons: [] }] })).toThrow(
      /panel 'short' has 1 grid values, expected 100/,
    );
    expect(() =>
      decisionBoundarySpec({ ...data, panels: [{ title: 'nan', grid: grid.map(() => NaN), poisons: [] }] }),
    ).toThrow(/is NaN/);
  });
});
