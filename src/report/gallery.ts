// Image grids as PNG: rows of small images with a caption under each, for Figure 8 (each suspect
// beside its nearest neighbours) and for bridges (x′ … x*). Images are enlarged by sharp with
// nearest-neighbour sampling, so pixels stay crisp, then laid out with their captions in one SVG
// that resvg renders with the figures' font.
import sharp from 'sharp';
import { imageSize, type ImageSet } from '../data/index.js';
import { escapeHtml } from './tables.js';
import { FIGURE_FONT, svgToPng } from './render.js';

export interface GalleryRow {
  /** Each image H×W or H×W×C, row-major uint8 (the layout of an ImageSet's images). */
  images: Uint8Array[];
  /** One caption per image (shorter lists leave the rest blank). */
  captions?: string[];
}

export interface GridOptions {
  height: number;
  width: number;
  channels: number;
  /** Screen pixels per image pixel. */
  scale?: number;
  /** Space between cells, in screen pixels. */
  gap?: number;
  /** Set the first column apart (the example each row is about). */
  separateFirst?: boolean;
}

const FONT_SIZE = 11;
/** Average DejaVu Sans advance at FONT_SIZE, to size cells to their captions. */
const CHAR_WIDTH = 6.8;
const CAPTION_HEIGHT = 16;

function checkOptions(o: GridOptions): void {
  for (const key of ['height', 'width'] as const) {
    if (!Number.isInteger(o[key]) || o[key] < 1) throw new Error(`gallery: ${key} must be a positive integer`);
  }
  if (![1, 2, 3, 4].includes(o.channels)) throw new Error(`gallery: channels must be 1 to 4, got ${o.channels}`);
  const scale = o.scale ?? 1;
  if (!Number.isInteger(scale) || scale < 1) throw new Error(`gallery: scale must be a positive integer, got ${scale}`);
}

async function enlarged(image: Uint8Array, o: GridOptions, scale: number, where: string): Promise<string> {
  const expected = o.height * o.width * o.channels;
  if (image.length !== expected) {
    throw new Error(`gallery: ${where} has ${image.length} bytes, expected ${o.height}×${o.width}×${o.channels}`);
  }
  const png = await sharp(image, { raw: { width: o.width, height: o.height, channels: o.channels as 1 | 2 | 3 | 4 } })
    .resize(o.width * scale, o.height * scale, { kernel: 'nearest' })
    .png()
    .toBuffer();
  return `data:image/png;base64,${png.toString('base64')}`;
}

/** A PNG grid: one row per entry, images left-aligned, captions centred under them. */
export async function imageGrid(rows: GalleryRow[], opts: GridOptions): Promise<Buffer> {
  checkOptions(opts);
  const scale = opts.scale ?? 1;
  const gap = opts.gap ?? 6;
  const columns = Math.max(0, ...rows.map((r) => r.images.length));
  if (columns === 0) throw new Error('gallery: no images');
  const imgW = opts.width * scale;
  const imgH = opts.height * scale;
  const longest = Math.max(0, ...rows.flatMap((r) => (r.captions ?? []).map((c) => c.length)));
  const captionH = longest > 0 ? CAPTION_HEIGHT : 0;
  const cellW = Math.max(imgW, Math.ceil(longest * CHAR_WIDTH) + 4);
  const rowH = imgH + captionH + gap;
  const lead = opts.separateFirst && columns > 1 ? 2 * gap : 0;
  const width = gap + columns * (cellW + gap) + lead;
  const height = gap + rows.length * rowH;
  const parts: string[] = [];
  for (const [r, row] of rows.entries()) {
    const top = gap + r * rowH;
    for (const [c, image] of row.images.entries()) {
      const left = gap + c * (cellW + gap) + (c > 0 ? lead : 0);
      const href = await enlarged(image, opts, scale, `row ${r} image ${c}`);
      parts.push(
        `<image x="${left + (cellW - imgW) / 2}" y="${top}" width="${imgW}" height="${imgH}" href="${href}"/>`,
      );
      const caption = row.captions?.[c];
      if (caption) {
        parts.push(
          `<text x="${left + cellW / 2}" y="${top + imgH + captionH - 4}" text-anchor="middle">${escapeHtml(caption)}</text>`,
        );
      }
    }
  }
  const svg =
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" ` +
    `font-family="${FIGURE_FONT}" font-size="${FONT_SIZE}" fill="#222">${parts.join('')}</svg>`;
  return svgToPng(svg, { scale: 1 });
}

export interface NeighbourRow {
  /** The example the row is about (a suspect, a near false positive). */
  index: number;
  /** Its neighbours in the same set, nearest first. */
  neighbours: number[];
  /** Caption under the example; its index by default. */
  caption?: string;
}

/** Enough screen pixels per image pixel for a thumbnail about 96 px across. */
export function thumbnailScale(set: Pick<ImageSet, 'height' | 'width'>): number {
  return Math.max(1, Math.round(96 / Math.max(set.height, set.width)));
}

/**
 * Figure 8's layout: each example of a set beside its neighbours, one row per example, captioned
 * with indices; neighbours that are known poisons say so.
 */
export async function neighbourGrid(
  set: ImageSet,
  rows: NeighbourRow[],
  opts: { isPoison?: ArrayLike<boolean | number> | null; scale?: number } = {},
): Promise<Buffer> {
  const size = imageSize(set);
  const image = (i: number) => {
    if (!Number.isInteger(i) || i < 0 || i >= set.n)
      throw new Error(`gallery: example ${i} is not in the set of ${set.n}`);
    return set.images.subarray(i * size, (i + 1) * size);
  };
  const poison = (i: number) => (opts.isPoison?.[i] ? ' poison' : '');
  return imageGrid(
    rows.map((r) => ({
      images: [r.index, ...r.neighbours].map(image),
      captions: [r.caption ?? `#${r.index}${poison(r.index)}`, ...r.neighbours.map((j) => `#${j}${poison(j)}`)],
    })),
    {
      height: set.height,
      width: set.width,
      channels: set.channels,
      scale: opts.scale ?? thumbnailScale(set),
      separateFirst: true,
    },
  );
}
