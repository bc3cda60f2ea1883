// The HTML report opened in headless chromium: one self-contained file whose tables read back
// cell by cell and whose every figure decodes, with no request leaving the file.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  imageGrid,
  renderHtmlReport,
  renderVegaLite,
  successRateSpec,
  writeHtmlReport,
  type HtmlReport,
} from '../../src/report/index.js';
import { withFilePage } from './browser.js';

async function report(dir: string): Promise<HtmlReport> {
  const chart = await renderVegaLite(
    successRateSpec(
      [
        { category: '1.5 − x', k: 7, n: 8 },
        { category: '1 − x', k: 3, n: 8 },
      ],
      { xTitle: 'density', yTitle: 'success rate' },
    ),
    { scale: 1 },
  );
  const grid = await imageGrid([{ images: [new Uint8Array(9).fill(40)], captions: ['x′'] }], {
    height: 3,
    width: 3,
    channels: 1,
    scale: 6,
  });
  writeFileSync(join(dir, 'grid.png'), grid);
  return {
    title: 'Reproduction <draft>',
    sections: [
      {
        heading: 'Density functions (Table 3)',
        text: 'FixMatch on CIFAR-10.\n\nEight trials per cell.',
        tables: [
          {
            title: 'Success rate',
            columns: ['density', '0.1%'],
            rows: [
              ['1.5 − x', '7/8'],
              ['1 − x', '3/8'],
            ],
            notes: ['95% Wilson intervals in the figure.'],
          },
        ],
        figures: [{ caption: 'Success by density', png: chart.png, svg: chart.svg }],
      },
      { heading: 'Bridge', figures: [{ caption: 'x′ to x*', png: join(dir, 'grid.png') }] },
    ],
  };
}

describe('HTML report', () => {
  it('shows its tables and figures in chromium without any outside request', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'report-'));
    const path = join(dir, 'report.html');
    writeHtmlReport(path, await report(dir));
    const html = readFileSync(path, 'utf8');
    expect(html).toContain('<title>Reproduction &lt;draft&gt;</title>');
    expect(html).not.toMatch(/(src|href)="(https?:|\/\/)/);
    await withFilePage(path, async (page, requests) => {
      const rows = await page.locator('table tr').all();
      const cells = await Promise.all(rows.map((r) => r.locator('th, td').allTextContents()));
      expect(cells).toEqual([
        ['density', '0.1%'],
        ['1.5 − x', '7/8'],
        ['1 − x', '3/8'],
      ]);
      expect(await page.textContent('h1')).toBe('Reproduction <draft>');
      expect(await page.locator('section p').allTextContents()).toEqual([
        'FixMatch on CIFAR-10.',
        'Eight trials per cell.',
        '95% Wilson intervals in the figure.',
      ]);
      const images = await page.$$eval('img', (imgs) =>
        imgs.map((i) => ({ complete: i.complete, width: i.naturalWidth, scheme: i.src.slice(0, 15) })),
      );
      expect(images).toHaveLength(2);
      for (const img of images) {
        expect(img.complete).toBe(true);
        expect(img.width).toBeGreaterThan(0);
        expect(img.scheme).toBe('data:image/png;');
      }
      expect(await page.$$eval('figcaption a[download]', (as) => as.map((a) => a.getAttribute('download')))).toEqual([
        'figure-1-1.svg',
      ]);
      expect(requests.filter((u) => !u.startsWith('data:') && !u.startsWith('file:'))).toEqual([]);
    });
  });

  it('refuses a figure that is not a PNG', () => {
    expect(() =>
      renderHtmlReport({
        title: 't',
        sections: [{ heading: 'h', figures: [{ caption: 'c', png: Buffer.from('GIF89a') }] }],
      }),
    ).toThrow(/not a PNG/);
  });
});
