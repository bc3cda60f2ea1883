// `semipoison train` as a user runs it: extra unlabeled images from a .npy or a PNG folder join the
// unlabeled set; the EMA flags are validated and recorded; a resume with other settings is refused.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeNpy, writePngFolder } from '../../src/data/index.js';

const BASE = ['train', '--steps', '2', '--batch', '8', '--uratio', '2', '--labels', '20', '--unlabeled', '100'];
const MORE = ['--width', '4', '--threads', '1', '--precision', 'fp32', '--epoch-images', '16', '--json'];

function train(args: string[]) {
  const r = spawnSync('./bin/semipoison.js', [...BASE, ...MORE, ...args], { encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** n Fashion-MNIST-sized grey images with a pattern of their own. */
function pixels(n: number): Uint8Array {
  return Uint8Array.from({ length: n * 28 * 28 }, (_, i) => (i * 7 + Math.floor(i / 784) * 31) % 256);
}

describe('semipoison train --extra-unlabeled', () => {
  it('appends an N×H×W uint8 .npy to the unlabeled set', () => {
    const root = mkdtempSync(join(tmpdir(), 'extra-npy-'));
    const npy = join(root, 'extra.npy');
    writeNpy(npy, { dtype: 'uint8', shape: [5, 28, 28], data: pixels(5) });
    const r = train(['--extra-unlabeled', npy, '--out', join(root, 'run')]);
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out).unlabeled).toBe(105);
    const config = JSON.parse(readFileSync(join(root, 'run', 'config.json'), 'utf8'));
    expect(config).toMatchObject({ unlabeled: 105, extraUnlabeled: npy });
  }, 120_000);

  it('appends a folder of PNG images to the unlabeled set', async () => {
    const root = mkdtempSync(join(tmpdir(), 'extra-png-'));
    const dir = join(root, 'poisons');
    await writePngFolder(dir, {
      images: pixels(4),
      n: 4,
      height: 28,
      width: 28,
      channels: 1,
      labels: null,
      numClasses: 10,
    });
    const r = train(['--extra-unlabeled', dir]);
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out).unlabeled).toBe(104);
  }, 120_000);
});

describe('semipoison train EMA flags', () => {
  it.each([
    [['--ema-decay', '1.5'], /--ema-decay.*expected a number in \[0, 1\], got '1.5'/],
    [['--ema-decay', 'x'], /--ema-decay.*expected a number in \[0, 1\]/],
    [['--ema-buffers', 'median'], /--ema-buffers.*Allowed choices are copy, average/],
    [['--weight-decay', '-1'], /--weight-decay.*expected a number in \[0, Infinity\]/],
    [['--bn-momentum', '2'], /--bn-momentum.*expected a number in \[0, 1\]/],
  ])('rejects %j', (args, message) => {
    const r = train(args as string[]);
    expect(r.code).not.toBe(0);
    expect(r.err).toMatch(message as RegExp);
  });

  it('trains with the EMA settings given, records them, and refuses to resume with others', () => {
    const out = join(mkdtempSync(join(tmpdir(), 'ema-flags-')), 'run');
    const first = train(['--ema-decay', '0.9', '--ema-buffers', 'average', '--out', out]);
    expect(first.code, first.err).toBe(0);
    const config = readFileSync(join(out, 'config.json'), 'utf8');
    // Fashion-MNIST flips by default; the reference's decay and this trainer's BatchNorm momentum.
    expect(JSON.parse(config)).toMatchObject({
      emaDecay: 0.9,
      emaBuffers: 'average',
      flip: true,
      weightDecay: 5e-4,
      bnMomentum: 0.01,
    });
    const tuned = join(mkdtempSync(join(tmpdir(), 'train-flags-')), 'run');
    const r = train([
      ...['--no-flip', '--weight-decay', '0.001', '--bn-momentum', '0.001', '--validation', '30'],
      ...['--out', tuned],
    ]);
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(readFileSync(join(tuned, 'config.json'), 'utf8'))).toMatchObject({
      flip: false,
      weightDecay: 0.001,
      bnMomentum: 0.001,
      validation: 30,
    });
    // The held-out examples are scored at each evaluation, and the last score is reported.
    const summary = JSON.parse(r.out);
    expect(summary.validation).toBe(30);
    const lines = readFileSync(join(tuned, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const scored = lines.filter((l) => l.validationAccuracy !== null);
    expect(scored.length).toBeGreaterThan(0);
    for (const l of scored) expect(Math.round(l.validationAccuracy * 30)).toBeCloseTo(l.validationAccuracy * 30, 6);
    expect(summary.validation_accuracy).toBe(lines[lines.length - 1].validationAccuracy);

    const other = train(['--ema-decay', '0.9', '--ema-buffers', 'copy', '--seed', '1', '--out', out, '--resume']);
    expect(other.code).not.toBe(0);
    expect(other.err).toMatch(/checkpoint was made with other settings/);
    expect(other.err).toMatch(/seed: 0 in the checkpoint, 1 now/);
    expect(other.err).toMatch(/emaBuffers: "average" in the checkpoint, "copy" now/);
    // The refused resume leaves the run's config as it was.
    expect(readFileSync(join(out, 'config.json'), 'utf8')).toBe(config);

    const same = train(['--ema-decay', '0.9', '--ema-buffers', 'average', '--out', out, '--resume']);
    expect(same.code, same.err).toBe(0);
    expect(JSON.parse(same.out).resumed_from).toBe(2);
  }, 120_000);
});
