// The main job as a user runs it: `demo --quick` (what `make demo-quick` runs) goes through the whole
// story, ends with a one-line verdict, and its HTML report opens in a browser with every figure
// drawn; bad flags exit non-zero with a reason.
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { withFilePage } from '../report/browser.js';

function run(args: string[]) {
  const r = spawnSync('./bin/semipoison.js', args, { encoding: 'utf8', env: { ...process.env, CI: 'true' } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('semipoison demo', () => {
  it('--quick runs the whole story and ends with the verdict; the report shows every figure', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'demo-')), 'demo');
    const r = run(['demo', '--quick', '--out', out]);
    expect(r.code).toBe(0);
    for (const phase of ['without poisons', 'with poisons', 'after the defense'])
      expect(r.err).toContain(`${phase}: 300/300`);
    expect(r.out).toMatch(/^Precision: float32 on cpu\.$/m);
    expect(r.out).toMatch(/0\.1–0\.5%[\s\S]*20% is the\nsmallest share that carried the label to x\*/);
    expect(r.out).toMatch(/Label of each poison from x′ to x\*/);
    expect(r.out).toMatch(/^dynamics\s+\d+/m);
    expect(r.out).toMatch(/^collinear\s+\d+/m);
    expect(r.out).toMatch(/^cluster\s+\d+/m);
    const lines = r.out.trimEnd().split('\n');
    expect(lines.at(-1)).toMatch(
      /^verdict: attack (succeeded|failed) before the defense \(x\* labeled .+\), (succeeded|failed) after it \(x\* labeled .+\); clean accuracy [\d.]+% without poisons, [\d.]+% with, [\d.]+% after the defense$/,
    );
    const html = join(out, 'report', 'report.html');
    expect(r.out).toContain(`HTML report with every figure: ${html}`);
    await withFilePage(html, async (page, requests) => {
      expect(requests.every((u) => u.startsWith('file:') || u.startsWith('data:'))).toBe(true);
      const images = await page.$$eval('img', (imgs) => imgs.map((i) => i.naturalWidth));
      // The bridge, the propagation, and a histogram and a gallery for each of the three detectors.
      expect(images.length).toBe(8);
      expect(images.every((w) => w > 0)).toBe(true);
      const cells = await page.$$eval('td', (tds) => tds.map((t) => t.textContent ?? ''));
      expect(cells).toContain('label of x*');
      expect(cells).toContain('dynamics');
    });
  }, 600_000);

  it.each([
    [['demo', '--steps', 'ten'], /--steps.*expected an integer >= 1, got 'ten'/],
    [['demo', '--steps', '0'], /expected an integer >= 1, got '0'/],
    [['demo', '--threads', '-1'], /expected an integer >= 1/],
    [['demo', '--device', 'tpu'], /unknown device 'tpu'/],
    [['demo', '--precision', 'fp16'], /--precision <p>' argument 'fp16' is invalid/],
    [['demo', '--device', 'cuda'], /no CUDA device/],
    [['nonsense'], /unknown command 'nonsense'/],
  ])('rejects %j', (args, message) => {
    const r = run(args as string[]);
    expect(r.code).not.toBe(0);
    expect(r.err).toMatch(message as RegExp);
  });
});
