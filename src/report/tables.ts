// Success counts and result tables as the paper prints them ("7/8"), with Wilson score intervals
// (eight trials per cell leave wide error bars), rendered for the terminal, Markdown and HTML.

export interface Interval {
  low: number;
  high: number;
}

function checkCount(k: number, n: number): void {
  if (!Number.isInteger(n) || n < 0) throw new Error(`counts: n must be a non-negative integer, got ${n}`);
  if (!Number.isInteger(k) || k < 0 || k > n) throw new Error(`counts: k must be an integer in [0, ${n}], got ${k}`);
}

/**
 * Wilson score interval for k successes in n trials (z = 1.96: 95%). Unlike the normal
 * approximation it stays inside [0, 1] and is not empty at 0/n or n/n; 0/0 gives [0, 1].
 */
export function wilson(k: number, n: number, z = 1.96): Interval {
  checkCount(k, n);
  if (!(z > 0)) throw new Error(`wilson: z must be positive, got ${z}`);
  if (n === 0) return { low: 0, high: 1 };
  const p = k / n;
  const z2 = z * z;
  const denom = 1 + z2 / n;
  const centre = (p + z2 / (2 * n)) / denom;
  const half = (z * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n))) / denom;
  // Clamp the rounding residue at the ends (0/n must give exactly 0).
  return { low: k === 0 ? 0 : Math.max(0, centre - half), high: k === n ? 1 : Math.min(1, centre + half) };
}

/** "7/8", as the paper's tables write success counts. */
export function formatKofN(k: number, n: number): string {
  checkCount(k, n);
  return `${k}/${n}`;
}

export type TableCell = string | number;

export interface Table {
  title: string;
  columns: string[];
  rows: TableCell[][];
  notes?: string[];
}

function checkTable(t: Table): void {
  t.rows.forEach((row, i) => {
    if (row.length !== t.columns.length) {
      throw new Error(`table "${t.title}": row ${i} has ${row.length} cells for ${t.columns.length} columns`);
    }
  });
}

function cellText(c: TableCell): string {
  return typeof c === 'number' ? (Number.isInteger(c) ? String(c) : String(Number(c.toPrecision(4)))) : c;
}

/** A column is right-aligned when all its cells are numbers or counts like "7/8". */
function numericColumns(t: Table): boolean[] {
  return t.columns.map((_, j) =>
    t.rows.every((r) => typeof r[j] === 'number' || /^\s*[-+]?[\d.]+(\/\d+|%)?\s*$/.test(String(r[j]))),
  );
}

/** Aligned plain text for the terminal. */
export function tableToText(t: Table): string {
  checkTable(t);
  const cells = t.rows.map((r) => r.map(cellText));
  const widths = t.columns.map((c, j) => Math.max(c.length, ...cells.map((r) => r[j].length)));
  const right = numericColumns(t);
  const line = (r: string[]) =>
    r
      .map((c, j) => (right[j] ? c.padStart(widths[j]) : c.padEnd(widths[j])))
      .join('  ')
      .trimEnd();
  return [
    t.title,
    line(t.columns),
    widths.map((w) => '-'.repeat(w)).join('  '),
    ...cells.map(line),
    ...(t.notes ?? []),
  ].join('\n');
}

function escapeMarkdown(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

/** A GitHub-flavoured Markdown table under a bold title. */
export function tableToMarkdown(t: Table): string {
  checkTable(t);
  const right = numericColumns(t);
  const row = (r: string[]) => `| ${r.map(escapeMarkdown).join(' | ')} |`;
  return [
    `**${escapeMarkdown(t.title)}**`,
    '',
    row(t.columns),
    `|${right.map((r) => (r ? ' ---: ' : ' --- ')).join('|')}|`,
    ...t.rows.map((r) => row(r.map(cellText))),
    ...(t.notes ?? []).flatMap((n) => ['', escapeMarkdown(n)]),
  ].join('\n');
}

const HTML_ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => HTML_ENTITIES[c]);
}

/** An HTML <table> with the title as its caption and the notes below it. */
export function tableToHtml(t: Table): string {
  checkTable(t);
  const right = numericColumns(t);
  const cls = (j: number) => (right[j] ? ' class="num"' : '');
  const head = t.columns.map((c, j) => `<th${cls(j)}>${escapeHtml(c)}</th>`).join('');
  const body = t.rows
    .map((r) => `<tr>${r.map((c, j) => `<td${cls(j)}>${escapeHtml(cellText(c))}</td>`).join('')}</tr>`)
    .join('\n');
  const notes = (t.notes ?? []).map((n) => `<p class="note">${escapeHtml(n)}</p>`).join('\n');
  return [
    `<table>`,
    `<caption>${escapeHtml(t.title)}</caption>`,
    `<thead><tr>${head}</tr></thead>`,
    `<tbody>\n${body}\n</tbody>`,
    `</table>`,
    notes,
  ]
    .filter((s) => s !== '')
    .join('\n');
}
