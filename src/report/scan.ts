// The figures of one detector's scan: its score histogram (Figure 7: benign vs poisoned when the
// ground truth is known, the flag threshold drawn) and its most suspicious benign examples beside
// their nearest neighbours in the score's own space (Figure 8's near false positives).
import type { ImageSet } from '../data/index.js';
import { knn, rankOrder, DEFENSES, type NeighbourSpace, type SetScan, type DefenseName } from '../defense/index.js';
import { tensor, tidy } from '../tensor/index.js';
import { scoreHistogramSpec } from './figures.js';
import { neighbourGrid, type NeighbourRow } from './gallery.js';
import { renderVegaLite } from './render.js';

/** What each detector's score measures, for the histogram's axis. */
export const SCORE_NAMES: Record<DefenseName, string> = {
  dynamics: 'influence',
  collinear: 'collinearity residual',
  cluster: 'cluster size',
  duplicates: 'nearest-neighbour distance / median',
};

/** Figure 8 as in the paper: five examples, each beside its four nearest neighbours. */
const FIGURE8_ROWS = 5;
const FIGURE8_NEIGHBOURS = 4;

/** The k nearest keys of each given example, itself left out. */
export function neighboursOf(space: NeighbourSpace, examples: number[], k: number): number[][] {
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

export interface ScanFigures {
  histogram: { svg: string; png: Buffer };
  /** Null without the images. */
  gallery: Buffer | null;
}

export async function renderScanFigures(
  scan: SetScan,
  opts: { truth?: Uint8Array | null; set?: ImageSet | null; title?: string } = {},
): Promise<ScanFigures> {
  const { method, scores, flags, space } = scan;
  const truth = opts.truth ?? null;
  const histogram = await renderVegaLite(
    scoreHistogramSpec(
      { scores, isPoison: truth ?? undefined, threshold: flags.threshold },
      { scoreName: SCORE_NAMES[method], title: opts.title ?? `${method} scores (Figure 7)` },
    ),
  );
  const k = Math.min(FIGURE8_NEIGHBOURS, scores.length - 1);
  if (!opts.set || k <= 0) return { histogram, gallery: null };
  const order = rankOrder(scores, DEFENSES[method].direction);
  const rank = new Int32Array(scores.length);
  order.forEach((i, r) => (rank[i] = r + 1));
  // With ground truth these are the near false positives; without it, simply the top of the ranking.
  const examples = order.filter((i) => !truth?.[i]).slice(0, FIGURE8_ROWS);
  const neighbours = neighboursOf(space, examples, k);
  const rows: NeighbourRow[] = examples.map((index, r) => ({
    index,
    neighbours: neighbours[r],
    caption: `#${index} rank ${rank[index]}`,
  }));
  return { histogram, gallery: await neighbourGrid(opts.set, rows, { isPoison: truth }) };
}
