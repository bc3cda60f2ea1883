// `train` and `attack craft|eval` as a user runs them: a short poisoned run reports the fields the
// issue promises and draws Figure 5; on a tiny generated dataset, eval finds the data the poisons were
// crafted on, trains on the set with the poisons where the export hides them, and fine-tunes from
// θ_init; the CLI's zero-knowledge and GAN variants; bad arguments exit non-zero with a reason.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import {
  float16ToNumber,
  loadDataset,
  readNpy,
  readNpyImages,
  splitDataset,
  writeIdxImages,
  writeIdxLabels,
  writeNpy,
  type ImageSet,
} from '../../src/data/index.js';
import { loadSafetensors } from '../../src/tensor/index.js';
import { seededRandom } from '../../src/util/random.js';

/** No dataset in a default folder: a command that ignored --data-dir (or the recorded one) fails. */
const NO_DEFAULT_DATA = mkdtempSync(join(tmpdir(), 'no-datasets-'));

function run(args: string[]) {
  const r = spawnSync('./bin/semipoison.js', args, {
    encoding: 'utf8',
    env: { ...process.env, SEMIPOISON_DATA_DIR: NO_DEFAULT_DATA },
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** An MNIST-shaped dataset of random images (labels i mod 10) in a new folder: 80 training, 20 test images. */
function tinyMnist(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tiny-mnist-'));
  const random = seededRandom(11);
  const make = (n: number): ImageSet => ({
    images: Uint8Array.from({ length: n * 784 }, () => Math.floor(random() * 256)),
    n,
    height: 28,
    width: 28,
    channels: 1,
    labels: Int32Array.from({ length: n }, (_, i) => i % 10),
    numClasses: 10,
  });
  for (const [prefix, set] of [
    ['train', make(80)],
    ['t10k', make(20)],
  ] as const) {
    writeIdxImages(join(dir, `${prefix}-images-idx3-ubyte`), set);
    writeIdxLabels(join(dir, `${prefix}-labels-idx1-ubyte`), set.labels!);
  }
  return dir;
}

/** A tiny victim: a few steps of a width-4 CNN, epochs of 16 images. */
const TINY_EVAL = [
  '--steps',
  '8',
  '--batch',
  '8',
  '--uratio',
  '2',
  '--width',
  '4',
  '--epoch-images',
  '16',
  '--threads',
  '1',
  '--precision',
  'fp32',
  '--json',
];

/** Figure 5 as eval writes it: a PNG that decodes and an SVG document. */
async function expectFigure5(dir: string): Promise<void> {
  const png = readFileSync(join(dir, 'figure5-propagation.png'));
  expect(png.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))).toBe(true);
  const meta = await sharp(png).metadata();
  expect(meta.format).toBe('png');
  expect(meta.width).toBeGreaterThan(100);
  const svg = readFileSync(join(dir, 'figure5-propagation.svg'), 'utf8');
  expect(svg).toMatch(/^<svg[^>]*xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  expect(svg.trimEnd()).toMatch(/<\/svg>$/);
  expect(svg).toMatch(/Figure 5/);
}

describe('semipoison attack eval', () => {
  it('trains clean and poisoned victims and reports the target, both accuracies and the propagation', async () => {
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
    expect(result.figures).toEqual(['figure5-propagation.png', 'figure5-propagation.svg']);
    await expectFigure5(dir);
  });

  it('reads the data dir recorded by craft, trains with the poisons at their recorded positions', async () => {
    const data = tinyMnist();
    const dir = join(mkdtempSync(join(tmpdir(), 'eval-tiny-')), 'poison');
    const craftArgs = ['attack', 'craft', '--dataset', 'mnist', '--labels', '10', '--unlabeled', '40'];
    const craft = run([
      ...craftArgs,
      '--data-dir',
      data,
      '--target',
      '3',
      '--desired',
      '5',
      '--count',
      '6',
      '--with-unlabeled',
      '--out',
      dir,
    ]);
    expect(craft.code, craft.err).toBe(0);
    const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
    expect(manifest.split.data_dir).toBe(data);
    const positions: number[] = manifest.positions;
    expect(positions).toHaveLength(6);
    expect([...positions].sort((a, b) => a - b)).not.toEqual(Array.from({ length: 6 }, (_, k) => 40 + k));
    const exported = readNpyImages(join(dir, 'unlabeled-poisoned.npy'));
    const poisons = readNpyImages(join(dir, 'poisons.npy'));
    positions.forEach((slot, k) =>
      expect(Buffer.from(exported.images.subarray(slot * 784, (slot + 1) * 784))).toEqual(
        Buffer.from(poisons.images.subarray(k * 784, (k + 1) * 784)),
      ),
    );

    // Another dataset folder is refused before anything is written.
    const wrong = run(['attack', 'eval', dir, '--data-dir', join(data, 'missing'), ...TINY_EVAL]);
    expect(wrong.code).not.toBe(0);
    expect(wrong.err).toMatch(/missing/);
    expect(existsSync(join(dir, 'eval.json'))).toBe(false);
    expect(existsSync(join(dir, 'victim'))).toBe(false);

    const r = run(['attack', 'eval', dir, ...TINY_EVAL]);
    expect(r.code, r.err).toBe(0);
    const result = JSON.parse(r.out);
    await expectFigure5(dir);
    // The poisoned run trained on the exported set: the prediction log has the poisons at `positions`.
    const log = readNpy(join(dir, 'victim', 'predictions.npy'));
    const [epochs, n, classes] = log.shape;
    expect(n).toBe(46);
    const bits = log.data as Uint16Array;
    const order = [...manifest.poisons].sort((a: { alpha: number }, b: { alpha: number }) => a.alpha - b.alpha);
    const last = result.propagation.epochs[epochs - 1].labels;
    order.forEach((p: { index: number }, k: number) => {
      const probs = Array.from({ length: classes }, (_, c) =>
        float16ToNumber(bits[((epochs - 1) * n + positions[p.index]) * classes + c]),
      );
      expect(last[k]).toBe(probs.indexOf(Math.max(...probs)));
    });
  });

  it('fine-tunes both victims from the θ_init recorded by craft --init, on the share it did not see', () => {
    const data = tinyMnist();
    const root = mkdtempSync(join(tmpdir(), 'eval-init-'));
    const init = join(root, 'init');
    const common = ['--dataset', 'mnist', '--data-dir', data, '--labels', '10', '--threads', '1'];
    const trained = run([
      'train',
      ...common,
      '--unlabeled',
      '20',
      '--steps',
      '2',
      '--batch',
      '8',
      '--uratio',
      '2',
      '--width',
      '4',
      '--precision',
      'fp32',
      '--out',
      init,
    ]);
    expect(trained.code, trained.err).toBe(0);
    const weights = join(init, 'model.safetensors');
    const dir = join(root, 'poison');
    const craft = run([
      'attack',
      'craft',
      ...common,
      '--unlabeled',
      '40',
      '--target',
      '3',
      '--desired',
      '5',
      '--count',
      '4',
      '--init',
      weights,
      '--margin',
      '0.01',
      '--out',
      dir,
    ]);
    expect(craft.code, craft.err).toBe(0);
    const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
    expect(manifest.init).toEqual({ path: weights, share: 0.5 });
    expect(manifest.unlabeled_size).toBe(20);
    expect(manifest.source.split).toBe('crafted');
    // lr 0: fine-tuning changes no weight, so the victims' weights are θ_init's, not a fresh model's.
    const r = run(['attack', 'eval', dir, ...TINY_EVAL, '--lr', '0']);
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out).init).toBe(weights);
    const theta = loadSafetensors(weights).tensors;
    for (const victim of ['victim', 'victim-unpoisoned']) {
      const { options } = JSON.parse(readFileSync(join(dir, victim, 'run.json'), 'utf8'));
      expect(options.init).toBe(weights);
      expect(options.lr).toBe(0);
      // θ_init's own width, not eval's --width.
      expect(options.width).toBe(4);
      const tuned = loadSafetensors(join(dir, victim, 'model.safetensors')).tensors;
      const params = Object.keys(theta).filter((k) => k.endsWith('weight') || k.endsWith('bias'));
      expect(params.length).toBeGreaterThan(4);
      for (const k of params) {
        const a = theta[k].toFloat32();
        const b = tuned[k].toFloat32();
        expect(b.length, k).toBe(a.length);
        for (let i = 0; i < a.length; i++) expect(Math.abs(a[i] - b[i]), k).toBeLessThan(1e-5 + 1e-5 * Math.abs(a[i]));
      }
      for (const t of Object.values(tuned)) t.dispose();
    }
    for (const t of Object.values(theta)) t.dispose();
  });
});

describe('semipoison attack craft variants on a tiny dataset', () => {
  it("zero-knowledge takes x′ from training images outside the victim's labeled set", async () => {
    const data = tinyMnist();
    const root = mkdtempSync(join(tmpdir(), 'zk-'));
    const args = ['attack', 'craft', '--dataset', 'mnist', '--data-dir', data, '--labels', '10'];
    const rest = ['--target', '3', '--desired', '5', '--count', '8', '--variant', 'zero-knowledge'];
    const ok = run([...args, '--unlabeled', '40', ...rest, '--param', 'supports=1', '--out', join(root, 'ok')]);
    expect(ok.code, ok.err).toBe(0);
    const manifest = JSON.parse(readFileSync(join(root, 'ok', 'manifest.json'), 'utf8'));
    expect(manifest.source.split).toBe('attacker');
    expect(manifest.source.from).toBe('train-not-labeled');
    const split = splitDataset(await loadDataset('mnist', 'train', data), { labels: 10, seed: 0, unlabeled: 40 });
    expect(split.indices.labeled).not.toContain(manifest.source.from_index);
    expect(manifest.source.from_index % 10).toBe(5);
    // With the whole training set unlabeled (the paper's setting), x′ is one of the unlabeled images.
    const whole = run([...args, ...rest, '--out', join(root, 'whole')]);
    expect(whole.code, whole.err).toBe(0);
    const wholeSource = JSON.parse(readFileSync(join(root, 'whole', 'manifest.json'), 'utf8')).source;
    const wholeSplit = splitDataset(await loadDataset('mnist', 'train', data), { labels: 10, seed: 0 });
    expect(wholeSplit.indices.labeled).not.toContain(wholeSource.from_index);
    expect(wholeSplit.indices.unlabeled).toContain(wholeSource.from_index);
    const linear = run([
      ...args,
      '--target',
      '3',
      '--desired',
      '5',
      '--count',
      '8',
      '--attacker-pool',
      data,
      '--out',
      join(root, 'linear'),
    ]);
    expect(linear.code).not.toBe(0);
    expect(linear.err).toMatch(/--attacker-pool: the linear variant/);
  });

  it('gan takes its bridge parameters from --param and records them', () => {
    const data = tinyMnist();
    const root = mkdtempSync(join(tmpdir(), 'gan-cli-'));
    const args = ['attack', 'craft', '--dataset', 'mnist', '--data-dir', data, '--labels', '10', '--unlabeled', '40'];
    const rest = ['--target', '3', '--desired', '5', '--count', '10', '--variant', 'gan', '--gan-steps', '2'];
    const bad = run([...args, ...rest, '--param', 'endShare=0.9', '--out', join(root, 'bad')]);
    expect(bad.code).not.toBe(0);
    expect(bad.err).toMatch(/variant gan: endShare must be <= 0.45/);
    expect(existsSync(join(root, 'bad'))).toBe(false);
    const r = run([
      ...args,
      ...rest,
      '--param',
      'endShare=0.2',
      '--param',
      'inversionSteps=3',
      '--threads',
      '1',
      '--out',
      join(root, 'ok'),
    ]);
    expect(r.code, r.err).toBe(0);
    const manifest = JSON.parse(readFileSync(join(root, 'ok', 'manifest.json'), 'utf8'));
    expect(manifest.params).toEqual({ ganSteps: 2, endShare: 0.2, inversionSteps: 3 });
    // endShare 0.2 of 10: two points on each pixel blend, each at its place along the path.
    const alphas: number[] = manifest.poisons.map((p: { alpha: number }) => p.alpha);
    expect(alphas.filter((a) => a === 0)).toHaveLength(1);
    expect(alphas.filter((a) => a === 1)).toHaveLength(1);
    expect([...alphas].sort((a, b) => a - b)).toEqual(alphas);
    // The generator is written inside the folder before it appears, not after.
    expect(existsSync(join(root, 'ok', 'generator.safetensors'))).toBe(true);
    // An existing folder is refused before the DC-GAN trains, and left as it was.
    const again = run([...args, ...rest, '--gan-steps', '100000', '--out', join(root, 'ok')]);
    expect(again.code).not.toBe(0);
    expect(again.err).toMatch(/ok already exists; choose a new output folder/);
    expect(readFileSync(join(root, 'ok', 'manifest.json'), 'utf8')).toContain('"ganSteps": 2');
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
