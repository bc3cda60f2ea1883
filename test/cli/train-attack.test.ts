// `train` and `attack eval` as a user runs them: a short poisoned run reports the fields the issue
// promises, and bad arguments exit non-zero with a reason.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeNpy } from '../../src/data/index.js';

function run(args: string[]) {
  const r = spawnSync('./bin/semipoison.js', args, { encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('semipoison attack eval', () => {
  it('trains clean and poisoned victims and reports the target, both accuracies and the propagation', () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'eval-')), 'poison');
    const craft = run([
      'attack',
      'craft',
      '--target',
      '9',
      '--desired',
      '1',
      '--count',
      '10',
      '--unlabeled',
      '300',
      '--out',
      dir,
    ]);
    expect(craft.code, craft.err).toBe(0);
    const r = run([
      'attack',
      'eval',
      dir,
      '--steps',
      '24',
      '--batch',
      '16',
      '--uratio',
      '2',
      '--width',
      '8',
      '--epoch-images',
      '128',
      '--threads',
      '1',
      '--precision',
      'fp32',
      '--json',
    ]);
    expect(r.code, r.err).toBe(0);
    const result = JSON.parse(r.out);
    for (const key of [
      'success',
      'target_prediction',
      'desired',
      'clean_accuracy',
      'clean_accuracy_unpoisoned',
      'target_prediction_unpoisoned',
    ]) {
      expect(result, key).toHaveProperty(key);
    }
    expect(result.desired).toBe(1);
    expect(typeof result.success).toBe('boolean');
    expect(result.propagation.alphas).toHaveLength(10);
    expect(result.propagation.epochs.length).toBeGreaterThanOrEqual(3);
    expect(result.propagation.epochs[0].labels).toHaveLength(10);
    expect(existsSync(join(dir, 'victim', 'predictions.npy'))).toBe(true);
    expect(JSON.parse(readFileSync(join(dir, 'eval.json'), 'utf8')).desired).toBe(1);
  });
});

describe('semipoison train errors', () => {
  it.each([
    [['train', '--algorithm', 'fixmatc'], /unknown 'fixmatc'/],
    [['train', '--param', 'treshold=0.9'], /unknown parameter 'treshold'/],
    [['train', '--param', 'threshold=2'], /threshold must be <= 1/],
    [['train', '--labels', '70000'], /exceed the 60000 images/],
    [['train', '--labels', '5'], /at least one per class \(10\)/],
    [['train', '--model', 'resnet'], /unknown 'resnet'/],
    [['train', '--dataset', 'imagenet'], /unknown dataset 'imagenet'/],
    [['train', '--dataset', 'cifar10', '--data-dir', '/nonexistent'], /semipoison data download cifar10/],
    [['train', '--resume'], /--resume needs --out/],
    [['train', '--strong', 'autoaugment'], /Allowed choices are randaugment, ctaugment/],
  ])('rejects %j', (args, message) => {
    const r = run(args as string[]);
    expect(r.code).not.toBe(0);
    expect(r.err).toMatch(message as RegExp);
  });

  it('rejects extra unlabeled images of the wrong shape', () => {
    const dir = mkdtempSync(join(tmpdir(), 'extra-'));
    writeNpy(join(dir, 'x.npy'), { dtype: 'uint8', shape: [3, 32, 32, 3], data: new Uint8Array(3 * 32 * 32 * 3) });
    const r = run(['train', '--steps', '1', '--extra-unlabeled', join(dir, 'x.npy')]);
    expect(r.code).not.toBe(0);
    expect(r.err).toMatch(/x\.npy: images are 32×32×3, the dataset's are 28×28×1/);
  });

  it('names the manifest that attack eval cannot use', () => {
    const cases: [string, RegExp][] = [
      ['{"poisons": [', /manifest\.json: not a readable JSON manifest/],
      ['{"count": 3}', /manifest\.json: not a poison manifest/],
      ['{"poisons": [], "file": "p.npy"}', /does not record the victim's split/],
      [
        '{"poisons": [], "file": "p.npy", "split": {"dataset": "fashion-mnist"}}',
        /does not record the target and the desired label/,
      ],
    ];
    for (const [text, message] of cases) {
      const dir = mkdtempSync(join(tmpdir(), 'eval-bad-'));
      writeFileSync(join(dir, 'manifest.json'), text);
      const r = run(['attack', 'eval', dir]);
      expect(r.code, text).not.toBe(0);
      expect(r.err).toMatch(message);
    }
  });
});
