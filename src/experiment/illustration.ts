// Figure 1 of the paper: the intuition of the attack in two dimensions. Two classes (red, labeled
// with a few points each, and blue), many unlabeled points, a small MLP trained with confident
// pseudo-labels under input noise (FixMatch's idea with Gaussian noise as augmentation). Three
// runs with the same seed: (a) clean, (b) one poison — the target alone, inserted near the
// boundary, takes its neighbours' label, (c) a bridge from a labeled red point to the target — the
// red label walks along it and the boundary bends to enclose the target.
import { Adam, Mlp } from '../nn/index.js';
import { crossEntropy, manualSeed, noGrad, randn, tensor, tidy, yieldToEventLoop } from '../tensor/index.js';
import { seededRandom } from '../util/random.js';

export type Point = [number, number];

export interface IllustrationOptions {
  seed?: number;
  /** Unlabeled points per class. */
  unlabeledPerClass?: number;
  /** Poisons on the bridge (the target included). */
  bridge?: number;
  steps?: number;
  /** Confidence needed for a pseudo-label. */
  threshold?: number;
  /** Side of the decision-function grid. */
  resolution?: number;
}

export interface IllustrationPanel {
  name: 'clean' | 'one poison' | 'bridge';
  /** Unlabeled points added by the attacker (the target last). */
  poisons: Point[];
  /** p(red) on a resolution × resolution grid over `extent`, row-major, y from top to bottom. */
  grid: Float32Array;
  /** The model's p(red) on the target. */
  targetRed: number;
}

export interface Illustration {
  extent: { x: [number, number]; y: [number, number] };
  resolution: number;
  labeled: { point: Point; label: 0 | 1 }[];
  unlabeled: Point[];
  target: Point;
  panels: IllustrationPanel[];
}

/** Two interleaved half-moons: class 0 (red) on top, class 1 (blue) below. */
function moons(count: number, cls: 0 | 1, rand: () => number): Point[] {
  return Array.from({ length: count }, () => {
    const t = Math.PI * rand();
    const noise = (): number => 0.08 * Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
    return cls === 0
      ? [Math.cos(t) + noise(), Math.sin(t) + noise()]
      : [1 - Math.cos(t) + noise(), 0.5 - Math.sin(t) + noise()];
  });
}

async function trainPanel(
  labeled: Illustration['labeled'],
  unlabeled: Point[],
  o: Required<IllustrationOptions>,
): Promise<Mlp> {
  manualSeed(o.seed);
  const model = new Mlp({ inFeatures: 2, hidden: [64, 64], numClasses: 2, activation: 'relu' });
  const opt = new Adam(model.parameters(), { lr: 0.01 });
  const lx = tensor(
    labeled.flatMap((l) => l.point),
    [labeled.length, 2],
  );
  const ly = tensor(
    labeled.map((l) => l.label),
    [labeled.length],
    { dtype: 'int64' },
  );
  const ux = tensor(unlabeled.flat(), [unlabeled.length, 2]);
  for (let step = 0; step < o.steps; step++) {
    tidy(() => {
      opt.zeroGrad();
      // Weak view: small noise (its confident prediction is the pseudo-label); strong view: more noise.
      const weak = noGrad(() => model.forward(ux.add(randn(ux.shape).mul(0.02))).softmax(1));
      const [conf, pseudo] = weak.maxDim(1);
      const mask = conf.ge(o.threshold).to('float32');
      const strong = model.forward(ux.add(randn(ux.shape).mul(0.1)));
      const lossU = crossEntropy(strong, pseudo, { reduction: 'none' }).mul(mask).mean();
      const loss = crossEntropy(model.forward(lx), ly).add(lossU);
      loss.backward();
      opt.update();
    });
    if (step % 50 === 0) await yieldToEventLoop();
  }
  for (const t of [lx, ly, ux]) t.dispose();
  return model;
}

export async function illustration(opts: IllustrationOptions = {}): Promise<Illustration> {
  const o: Required<IllustrationOptions> = {
    seed: 0,
    unlabeledPerClass: 100,
    bridge: 12,
    steps: 800,
    threshold: 0.95,
    resolution: 120,
    ...opts,
  };
  for (const k of ['unlabeledPerClass', 'bridge', 'steps', 'resolution'] as const) {
    if (!Number.isInteger(o[k]) || o[k] < 2) throw new Error(`illustration: ${k} must be an integer ≥ 2, got ${o[k]}`);
  }
  if (!(o.threshold > 0 && o.threshold < 1)) {
    throw new Error(`illustration: threshold must be in (0, 1), got ${o.threshold}`);
  }
  const rand = seededRandom(o.seed);
  const red = moons(3 + o.unlabeledPerClass, 0, rand);
  const blue = moons(3 + o.unlabeledPerClass, 1, rand);
  const labeled = [
    ...red.slice(0, 3).map((point) => ({ point, label: 0 as const })),
    ...blue.slice(0, 3).map((point) => ({ point, label: 1 as const })),
  ];
  const unlabeled = [...red.slice(3), ...blue.slice(3)];
  // The target: the blue unlabeled point nearest to the first labeled red point but clearly blue.
  const source = labeled[0].point;
  const dist = (a: Point, b: Point): number => Math.hypot(a[0] - b[0], a[1] - b[1]);
  const target = blue
    .slice(3)
    .filter((p) => p[1] < 0.2)
    .sort((a, b) => dist(a, source) - dist(b, source))[0];
  const bridge: Point[] = Array.from({ length: o.bridge }, (_, i) => {
    const a = (i + 1) / o.bridge;
    return [source[0] * (1 - a) + target[0] * a, source[1] * (1 - a) + target[1] * a];
  });
  const extent = { x: [-1.5, 2.5] as [number, number], y: [-1.0, 1.5] as [number, number] };
  const gridPoints: number[] = [];
  for (let r = 0; r < o.resolution; r++) {
    const y = extent.y[1] - ((r + 0.5) / o.resolution) * (extent.y[1] - extent.y[0]);
    for (let c = 0; c < o.resolution; c++) {
      gridPoints.push(extent.x[0] + ((c + 0.5) / o.resolution) * (extent.x[1] - extent.x[0]), y);
    }
  }
  const panels: IllustrationPanel[] = [];
  for (const [name, poisons] of [
    ['clean', []],
    ['one poison', [target]],
    ['bridge', bridge],
  ] as const) {
    const model = await trainPanel(labeled, [...unlabeled, ...poisons], o);
    const [grid, targetRed] = noGrad(() =>
      tidy(() => {
        const g = model
          .forward(tensor(gridPoints, [gridPoints.length / 2, 2]))
          .softmax(1)
          .select(1, 0);
        const t = model
          .forward(tensor(target, [1, 2]))
          .softmax(1)
          .select(1, 0);
        return [g.toFloat32(), t.item()] as const;
      }),
    );
    model.dispose();
    panels.push({ name, poisons: [...poisons], grid, targetRed });
  }
  return { extent, resolution: o.resolution, labeled, unlabeled, target, panels };
}
