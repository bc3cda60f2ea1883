// Wilson intervals against published values, and the three table renderers on one table.
import { describe, expect, it } from 'vitest';
import { formatKofN, tableToHtml, tableToMarkdown, tableToText, wilson, type Table } from '../../src/report/index.js';

describe('wilson', () => {
  it('matches the textbook 95% intervals', () => {
    const cases: [number, number, number, number][] = [
      [7, 8, 0.5291, 0.9776],
      [0, 8, 0, 0.3244],
      [8, 8, 0.6756, 1],
      [4, 8, 0.2152, 0.7848],
      [81, 263, 0.2553, 0.3662],
    ];
    for (const [k, n, low, high] of cases) {
      const w = wilson(k, n);
      expect(w.low, `${k}/${n} low`).toBeCloseTo(low, 4);
      expect(w.high, `${k}/${n} high`).toBeCloseTo(high, 4);
    }
  });

  it('widens with z, is [0, 1] for no trials, and rejects impossible counts', () => {
    expect(wilson(7, 8, 2.576).low).toBeLessThan(wilson(7, 8).low);
    expect(wilson(0, 0)).toEqual({ low: 0, high: 1 });
    expect(() => wilson(9, 8)).toThrow(/k must be an integer in \[0, 8\]/);
    expect(() => wilson(1.5, 8)).toThrow(/k must/);
    expect(() => wilson(1, -1)).toThrow(/n must/);
  });

  it('writes counts as the paper does', () => {
    expect(formatKofN(7, 8)).toBe('7/8');
    expect(() => formatKofN(3, 2)).toThrow();
  });
});

const TABLE: Table = {
  title: 'Table 3: success by density',
  columns: ['density', '0.1%', 'rate'],
  rows: [
    ['1.5 − x', '7/8', 0.875],
    ['x | 1 <b>', '3/8', 0.375],
  ],
  notes: ['FixMatch on CIFAR-10, 40 labels.'],
};

describe('table renderers', () => {
  it('aligns plain text: words left, numbers and counts right', () => {
    expect(tableToText(TABLE)).toBe(
      [
        'Table 3: success by density',
        'density    0.1%   rate',
        '---------  ----  -----',
        '1.5 − x     7/8  0.875',
        'x | 1 <b>   3/8  0.375',
        'FixMatch on CIFAR-10, 40 labels.',
      ].join('\n'),
    );
  });

  it('writes Markdown with escaped pipes and right-aligned number columns', () => {
    const md = tableToMarkdown(TABLE).split('\n');
    expect(md[0]).toBe('**Table 3: success by density**');
    expect(md[2]).toBe('| density | 0.1% | rate |');
    expect(md[3]).toBe('| --- | ---: | ---: |');
    expect(md[5]).toBe('| x \\| 1 <b> | 3/8 | 0.375 |');
    expect(md.at(-1)).toBe('FixMatch on CIFAR-10, 40 labels.');
  });

  it('writes escaped HTML with a caption', () => {
    const html = tableToHtml(TABLE);
    expect(html).toContain('<caption>Table 3: success by density</caption>');
    expect(html).toContain('<td>x | 1 &lt;b&gt;</td><td class="num">3/8</td>');
    expect(html).toContain('<p class="note">FixMatch on CIFAR-10, 40 labels.</p>');
  });

  it('rejects ragged rows', () => {
    const bad = { ...TABLE, rows: [['a', 'b']] };
    for (const render of [tableToText, tableToMarkdown, tableToHtml]) {
      expect(() => render(bad)).toThrow(/row 0 has 2 cells for 3 columns/);
    }
  });
});
