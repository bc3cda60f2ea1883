// Applies per-image augmentation policies (lists of ops with parameters, as the FixMatch reference's
// RandAugment and CTAugment draw them for every image) to a whole batch at once. Step k of every
// image's policy runs as one kernel call per distinct op on the images that chose it, and all
// geometric ops of the step share a single gridSample, so the cost grows with the number of ops,
// not with the batch size.
import { cat, tensor, tidy, type Tensor } from '../../tensor/index.js';
import { affine, checkImages } from './ops.js';

/** One op applied to one image: its name and its parameters, as plain data. */
export interface OpApplication<Name extends string = string> {
  op: Name;
  params: number[];
}

/** How a policy table runs one op on a sub-batch; params are per-image columns (params[j][i]). */
export interface PolicyOp {
  /** Number of parameters each application carries. */
  arity: number;
  /** Output→input pixel-space affine matrices (n×2×3): ops with one are resampled together. */
  matrix?: (x: Tensor, params: number[][]) => Tensor;
  /** The op on a sub-batch, for ops that are not affine. */
  run?: (x: Tensor, params: number[][]) => Tensor;
}

function columns(apps: OpApplication[], arity: number): number[][] {
  const cols: number[][] = [];
  for (let j = 0; j < arity; j++) cols.push(apps.map((a) => a.params[j]));
  return cols;
}

function indexTensor(idx: number[], like: Tensor): Tensor {
  return tensor(BigInt64Array.from(idx, BigInt), [idx.length], { dtype: 'int64', device: like.device });
}

/**
 * Runs policies[i] on image i, step by step (policies may differ in length: a missing step is the
 * identity). fill is the value geometric ops give pixels that come from outside the image.
 */
export function applyPolicies<Name extends string>(
  opName: string,
  x: Tensor,
  policies: readonly (readonly OpApplication<Name>[])[],
  table: Readonly<Record<Name, PolicyOp>>,
  fill: number,
): Tensor {
  checkImages(opName, x);
  const n = x.shape[0];
  if (policies.length !== n) throw new Error(`${opName}: ${policies.length} policies for a batch of ${n} images`);
  const depth = policies.reduce((d, p) => Math.max(d, p.length), 0);
  for (const policy of policies) {
    for (const app of policy) {
      if (!Object.hasOwn(table, app.op)) throw new Error(`${opName}: unknown op '${app.op}'`);
      const spec = table[app.op];
      if (!Array.isArray(app.params) || app.params.length !== spec.arity) {
        throw new Error(
          `${opName}: op '${app.op}' takes ${spec.arity} parameter(s), got ${JSON.stringify(app.params)}`,
        );
      }
      if (app.params.some((v) => typeof v !== 'number' || !Number.isFinite(v))) {
        throw new Error(`${opName}: op '${app.op}' has a non-finite parameter: ${JSON.stringify(app.params)}`);
      }
    }
  }
  return tidy(() => {
    let current = x;
    for (let k = 0; k < depth; k++) {
      const groups = new Map<Name, number[]>();
      const unchanged: number[] = [];
      for (let i = 0; i < n; i++) {
        const app = policies[i][k];
        const spec = app ? table[app.op] : undefined;
        if (!app || !spec || (!spec.run && !spec.matrix)) {
          unchanged.push(i);
          continue;
        }
        const g = groups.get(app.op);
        if (g) g.push(i);
        else groups.set(app.op, [i]);
      }
      if (groups.size === 0) continue;
      const src = current;
      const pick = (idx: number[]): Tensor => (idx.length === n ? src : src.indexSelect(0, indexTensor(idx, src)));
      const parts: Tensor[] = [];
      const order: number[] = [];
      const affineIdx: number[] = [];
      const affineMats: Tensor[] = [];
      for (const [op, idx] of groups) {
        const spec = table[op];
        const sub = pick(idx);
        const params = columns(
          idx.map((i) => policies[i][k]),
          spec.arity,
        );
        if (spec.matrix) {
          affineMats.push(spec.matrix(sub, params));
          affineIdx.push(...idx);
        } else {
          parts.push(spec.run!(sub, params));
          order.push(...idx);
        }
      }
      if (affineIdx.length > 0) {
        parts.push(affine(pick(affineIdx), cat(affineMats), fill));
        order.push(...affineIdx);
      }
      if (unchanged.length > 0) {
        parts.push(pick(unchanged));
        order.push(...unchanged);
      }
      const inverse = new Array<number>(n);
      order.forEach((i, pos) => (inverse[i] = pos));
      const joined = parts.length === 1 ? parts[0] : cat(parts);
      current = inverse.every((pos, i) => pos === i) ? joined : joined.indexSelect(0, indexTensor(inverse, joined));
    }
    return current === x ? x.clone() : current;
  });
}
