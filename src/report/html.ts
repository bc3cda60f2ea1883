// The HTML report: one self-contained file (figures inlined as data: URIs, inline CSS, a content
// security policy that forbids any request), so it can be mailed, archived or opened offline.
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { writeFileAtomic } from '../util/atomic.js';
import { escapeHtml, tableToHtml, type Table } from './tables.js';

export interface ReportFigure {
  caption: string;
  /** PNG bytes or the path of a .png file. */
  png: Buffer | string;
  /** SVG markup, or the path of a .svg file, offered as a vector download beside the PNG. */
  svg?: string;
}

export interface ReportSection {
  heading: string;
  /** Prose; blank lines separate paragraphs. */
  text?: string;
  tables?: Table[];
  figures?: ReportFigure[];
}

export interface HtmlReport {
  title: string;
  sections: ReportSection[];
}

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

const STYLE = `
body { font-family: 'DejaVu Sans', system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; line-height: 1.45; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; margin-top: 2em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 1em 0 .3em; font-variant-numeric: tabular-nums; }
caption { text-align: left; font-weight: bold; padding-bottom: .4em; }
th, td { padding: .25em .8em; border-bottom: 1px solid #e4e4e4; text-align: left; }
th { border-bottom: 2px solid #999; } .num { text-align: right; }
p.note { font-size: .9em; color: #555; margin: .2em 0; }
figure { margin: 1.5em 0; } figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: .92em; color: #444; margin-top: .3em; }
`;

function pngBytes(png: Buffer | string): Buffer {
  const bytes = typeof png === 'string' ? readFileSync(png) : png;
  if (!bytes.subarray(0, 8).equals(PNG_SIGNATURE)) {
    throw new Error(`report: ${typeof png === 'string' ? png : 'a figure'} is not a PNG image`);
  }
  return bytes;
}

function svgMarkup(svg: string): string {
  return svg.trimStart().startsWith('<') ? svg : readFileSync(svg, 'utf8');
}

function figureHtml(f: ReportFigure, id: string): string {
  const src = `data:image/png;base64,${pngBytes(f.png).toString('base64')}`;
  const name = typeof f.png === 'string' ? basename(f.png).replace(/\.png$/i, '') : id;
  const vector = f.svg
    ? ` <a download="${escapeHtml(name)}.svg" href="data:image/svg+xml;base64,${Buffer.from(svgMarkup(f.svg)).toString('base64')}">(SVG)</a>`
    : '';
  return `<figure><img src="${src}" alt="${escapeHtml(f.caption)}"><figcaption>${escapeHtml(f.caption)}${vector}</figcaption></figure>`;
}

function paragraphs(text: string): string {
  return text
    .split(/\n\s*\n/)
    .map((p) => p.trim())
    .filter((p) => p !== '')
    .map((p) => `<p>${escapeHtml(p)}</p>`)
    .join('\n');
}

/** The report as one HTML document. */
export function renderHtmlReport(report: HtmlReport): string {
  const sections = report.sections.map((s, i) =>
    [
      `<section>`,
      `<h2>${escapeHtml(s.heading)}</h2>`,
      s.text ? paragraphs(s.text) : '',
      ...(s.tables ?? []).map(tableToHtml),
      ...(s.figures ?? []).map((f, j) => figureHtml(f, `figure-${i + 1}-${j + 1}`)),
      `</section>`,
    ]
      .filter((x) => x !== '')
      .join('\n'),
  );
  return [
    '<!doctype html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">`,
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${escapeHtml(report.title)}</title>`,
    `<style>${STYLE}</style>`,
    '</head>',
    '<body>',
    `<h1>${escapeHtml(report.title)}</h1>`,
    ...sections,
    '</body>',
    '</html>',
    '',
  ].join('\n');
}

/** Writes the report atomically to `path`. */
export function writeHtmlReport(path: string, report: HtmlReport): void {
  writeFileAtomic(path, Buffer.from(renderHtmlReport(report), 'utf8'));
}
