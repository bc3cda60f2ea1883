// Figures from Vega-Lite specs without a browser: Vega-Lite compiles to Vega, Vega's headless view
// writes SVG, and resvg rasterises it to PNG with the system fonts.
import { Resvg } from '@resvg/resvg-js';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { writeFileAtomic } from '../util/atomic.js';

export type VegaLiteSpec = TopLevelSpec;

export interface RenderOptions {
  /** PNG pixels per SVG pixel (2 gives print-quality figures). */
  scale?: number;
  /** PNG background; the SVG keeps Vega-Lite's own. */
  background?: string;
}

export interface RenderedFigure {
  svg: string;
  png: Buffer;
}

export type FigureFormat = 'png' | 'svg';

/** The font the figures are set in; fonts-dejavu-core is on every machine the setup script prepares. */
export const FIGURE_FONT = 'DejaVu Sans';

/** SVG text rasterised with the system fonts, on an opaque background. */
export function svgToPng(svg: string, opts: RenderOptions = {}): Buffer {
  const scale = opts.scale ?? 2;
  if (!(scale > 0 && Number.isFinite(scale))) throw new Error(`render: scale must be a positive number, got ${scale}`);
  const resvg = new Resvg(svg, {
    fitTo: { mode: 'zoom', value: scale },
    background: opts.background ?? 'white',
    font: { loadSystemFonts: true, defaultFontFamily: FIGURE_FONT, sansSerifFamily: FIGURE_FONT },
  });
  return resvg.render().asPng();
}

/** Renders a Vega-Lite spec to SVG and PNG. */
export async function renderVegaLite(spec: VegaLiteSpec, opts: RenderOptions = {}): Promise<RenderedFigure> {
  const { spec: vgSpec } = compile(spec, { config: { font: FIGURE_FONT } });
  const view = new vega.View(vega.parse(vgSpec), { renderer: 'none' });
  try {
    const svg = await view.toSVG();
    return { svg, png: svgToPng(svg, opts) };
  } finally {
    view.finalize();
  }
}

/**
 * Renders `spec` and writes `<pathWithoutExt>.png` and/or `.svg`, each atomically; returns the paths
 * written.
 */
export async function writeFigure(
  pathWithoutExt: string,
  spec: VegaLiteSpec,
  formats: readonly FigureFormat[] = ['png', 'svg'],
  opts: RenderOptions = {},
): Promise<string[]> {
  if (formats.length === 0) throw new Error('writeFigure: no formats requested');
  for (const f of formats) if (f !== 'png' && f !== 'svg') throw new Error(`writeFigure: unknown format ${f}`);
  const figure = await renderVegaLite(spec, opts);
  return formats.map((format) => {
    const path = `${pathWithoutExt}.${format}`;
    writeFileAtomic(path, format === 'png' ? figure.png : Buffer.from(figure.svg, 'utf8'));
    return path;
  });
}
