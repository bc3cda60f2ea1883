// Optimizers (SGD with momentum/Nesterov, Adam), the EMA of weights and learning-rate schedules.
// Updates use libtorch's _foreach kernels: one native call per step, not one per parameter.
import { callOp, checkFinite, dispose, keep, noGrad, tidy, type Tensor } from '../tensor/index.js';
import type { Module } from './module.js';

export interface ParamGroup {
  params: Tensor[];
  /** Weight decay for this group; overrides the optimizer's. */
  weightDecay?: number;
}

function foreach(name: string, overload: string, args: unknown[], kwargs?: Record<string, unknown>): void {
  callOp<unknown>(`_foreach_${name}`, overload, args, kwargs);
}

function toGroups(params: Tensor[] | ParamGroup[], weightDecay: number): Required<ParamGroup>[] {
  if (params.length === 0) throw new Error('optimizer: no parameters given');
  const groups = (params[0] as ParamGroup).params ? (params as ParamGroup[]) : [{ params: params as Tensor[] }];
  return groups.map((g) => ({ params: g.params, weightDecay: g.weightDecay ?? weightDecay }));
}

/** Named state tensors for checkpoints. */
export interface Stateful {
  stateDict(): Record<string, Tensor>;
  loadStateDict(state: Record<string, Tensor>): void;
}

export abstract class Optimizer implements Stateful {
  lr: number;
  step = 0;
  protected readonly groups: Required<ParamGroup>[];
  constructor(params: Tensor[] | ParamGroup[], lr: number, weightDecay: number) {
    checkFinite(this.constructor.name, 'lr', lr);
    checkFinite(this.constructor.name, 'weightDecay', weightDecay);
    if (lr < 0 || weightDecay < 0) throw new Error(`${this.constructor.name}: lr and weightDecay must be >= 0`);
    this.lr = lr;
    this.groups = toGroups(params, weightDecay);
  }

  /** Drops every gradient (set to none, as zero_grad(set_to_none=True)). */
  zeroGrad(): void {
    for (const g of this.groups) for (const p of g.params) p.zeroGrad();
  }

  /** Applies one update from the accumulated gradients. */
  update(): void {
    this.step++;
    noGrad(() =>
      tidy(() => {
        this.groups.forEach((g, gi) => {
          const withGrad: [number, Tensor, Tensor][] = [];
          g.params.forEach((p, i) => {
            const grad = p.grad;
            if (grad) withGrad.push([i, p, grad]);
          });
          if (withGrad.length === 0) return;
          const grads = withGrad.map(([, , gr]) => gr);
          const ps = withGrad.map(([, p]) => p);
          // Coupled L2 decay (the gradient of wd·‖w‖²/2), as the reference code's loss term.
          if (g.weightDecay > 0) foreach('add_', 'List', [grads, ps], { alpha: g.weightDecay });
          this.apply(
            gi,
            withGrad.map(([i]) => i),
            ps,
            grads,
          );
        });
      }),
    );
  }

  protected abstract apply(group: number, indices: number[], params: Tensor[], grads: Tensor[]): void;
  abstract stateDict(): Record<string, Tensor>;
  abstract loadStateDict(state: Record<string, Tensor>): void;
}

export interface SgdOptions {
  lr: number;
  momentum?: number;
  nesterov?: boolean;
  weightDecay?: number;
}

/** SGD with (Nesterov) momentum and L2 weight decay, matching torch.optim.SGD. */
export class Sgd extends Optimizer {
  readonly momentum: number;
  readonly nesterov: boolean;
  private readonly buffers: Map<string, Tensor> = new Map();
  constructor(params: Tensor[] | ParamGroup[], opts: SgdOptions) {
    super(params, opts.lr, opts.weightDecay ?? 0);
    this.momentum = opts.momentum ?? 0;
    this.nesterov = opts.nesterov ?? false;
    if (this.nesterov && this.momentum <= 0) throw new Error('Sgd: Nesterov momentum needs momentum > 0');
  }
  protected apply(group: number, indices: number[], params: Tensor[], grads: Tensor[]): void {
    let step = grads;
    if (this.momentum > 0) {
      const bufs = indices.map((i, k) => {
        const key = `${group}.${i}`;
        let b = this.buffers.get(key);
        if (!b) {
          b = keep(grads[k].clone());
          this.buffers.set(key, b);
          return null;
        }
        return b;
      });
      const existing = bufs.flatMap((b, k) => (b ? [[b, grads[k]] as const] : []));
      if (existing.length) {
        const bs = existing.map(([b]) => b);
        foreach('mul_', 'Scalar', [bs, this.momentum]);
        foreach('add_', 'List', [bs, existing.map(([, gr]) => gr)]);
      }
      const all = indices.map((i) => this.buffers.get(`${group}.${i}`)!);
      if (this.nesterov) {
        foreach('add_', 'List', [grads, all], { alpha: this.momentum });
      } else {
        step = all;
      }
    }
    foreach('add_', 'List', [params, step], { alpha: -this.lr });
  }
  stateDict(): Record<string, Tensor> {
    return Object.fromEntries([...this.buffers].map(([k, v]) => [`momentum.${k}`, v]));
  }
  loadStateDict(state: Record<string, Tensor>): void {
    for (const b of this.buffers.values()) b.dispose();
    this.buffers.clear();
    for (const [k, v] of Object.entries(state)) {
      if (!k.startsWith('momentum.')) throw new Error(`Sgd.loadStateDict: unexpected entry "${k}"`);
      this.buffers.set(k.slice('momentum.'.length), keep(v.clone()));
    }
  }
}

export interface AdamOptions {
  lr: number;
  betas?: [number, number];
  eps?: number;
  weightDecay?: number;
}

/** Adam (Kingma & Ba), matching torch.optim.Adam; used for the DC-GAN and latent inversion. */
export class Adam extends Optimizer {
  readonly betas: [number, number];
  readonly eps: number;
  private readonly m = new Map<string, Tensor>();
  private readonly v = new Map<string, Tensor>();
  constructor(params: Tensor[] | ParamGroup[], opts: AdamOptions) {
    super(params, opts.lr, opts.weightDecay ?? 0);
    this.betas = opts.betas ?? [0.9, 0.999];
    this.eps = opts.eps ?? 1e-8;
  }
  protected apply(group: number, indices: number[], params: Tensor[], grads: Tensor[]): void {
    const [b1, b2] = this.betas;
    const get = (map: Map<string, Tensor>, i: number, k: number): Tensor => {
      const key = `${group}.${i}`;
      let t = map.get(key);
      if (!t) {
        t = keep(grads[k].mul(0));
        map.set(key, t);
      }
      return t;
    };
    const ms = indices.map((i, k) => get(this.m, i, k));
    const vs = indices.map((i, k) => get(this.v, i, k));
    foreach('mul_', 'Scalar', [ms, b1]);
    foreach('add_', 'List', [ms, grads], { alpha: 1 - b1 });
    foreach('mul_', 'Scalar', [vs, b2]);
    foreach('addcmul_', 'Scalar', [vs, grads, grads, 1 - b2]);
    const bc1 = 1 - b1 ** this.step;
    const bc2 = 1 - b2 ** this.step;
    const denom = callOp<Tensor[]>('_foreach_sqrt', '', [vs]);
    foreach('div_', 'Scalar', [denom, Math.sqrt(bc2)]);
    foreach('add_', 'Scalar', [denom, this.eps]);
    foreach('addcdiv_', 'Scalar', [params, ms, denom, -this.lr / bc1]);
    dispose(denom);
  }
  stateDict(): Record<string, Tensor> {
    return Object.fromEntries([
      ...[...this.m].map(([k, t]) => [`m.${k}`, t] as const),
      ...[...this.v].map(([k, t]) => [`v.${k}`, t] as const),
    ]);
  }
  loadStateDict(state: Record<string, Tensor>): void {
    for (const t of [...this.m.values(), ...this.v.values()]) t.dispose();
    this.m.clear();
    this.v.clear();
    for (const [k, t] of Object.entries(state)) {
      const [kind, ...rest] = k.split('.');
      const map = kind === 'm' ? this.m : kind === 'v' ? this.v : null;
      if (!map) throw new Error(`Adam.loadStateDict: unexpected entry "${k}"`);
      map.set(rest.join('.'), keep(t.clone()));
    }
  }
}

export interface EmaOptions {
  decay?: number;
  /**
   * 'copy' takes the live model's BatchNorm statistics as they are (the PyTorch ports of FixMatch);
   * 'average' averages them like the weights (the TF reference). Short CPU runs need 'copy'.
   */
  buffers?: 'copy' | 'average';
  /**
   * Use min(decay, (1 + n) / (10 + n)) at update n, as TF's ExponentialMovingAverage with
   * num_updates: the average stops carrying the random initialisation after a few hundred steps.
   */
  warmup?: boolean;
}

/** Exponential moving average of a model's weights, kept in a shadow model used for evaluation. */
export class Ema {
  readonly decay: number;
  readonly bufferMode: 'copy' | 'average';
  readonly warmup: boolean;
  updates = 0;
  constructor(
    readonly source: Module,
    readonly shadow: Module,
    opts: EmaOptions = {},
  ) {
    this.decay = opts.decay ?? 0.999;
    this.bufferMode = opts.buffers ?? 'copy';
    this.warmup = opts.warmup ?? false;
    if (!(this.decay >= 0 && this.decay <= 1)) throw new Error(`Ema: decay must be in [0, 1], got ${this.decay}`);
    shadow.loadStateDict(source.stateDict());
    shadow.eval();
    for (const p of shadow.parameters()) p.setRequiresGrad(false);
  }
  /** The decay applied at the next update. */
  currentDecay(): number {
    return this.warmup ? Math.min(this.decay, (1 + this.updates) / (10 + this.updates)) : this.decay;
  }
  update(): void {
    const decay = this.currentDecay();
    this.updates++;
    noGrad(() => {
      const sp = this.shadow.parameters();
      const lp = this.source.parameters();
      foreach('mul_', 'Scalar', [sp, decay]);
      foreach('add_', 'List', [sp, lp], { alpha: 1 - decay });
      const sb = this.shadow.buffers();
      const lb = this.source.buffers();
      if (sb.length === 0) return;
      if (this.bufferMode === 'copy') {
        sb.forEach((b, i) => b.copy_(lb[i]));
      } else {
        foreach('mul_', 'Scalar', [sb, decay]);
        foreach('add_', 'List', [sb, lb], { alpha: 1 - decay });
      }
    });
  }
}

/** FixMatch's cosine decay: lr·cos(7πk / 16K) at step k of K. */
export function cosineLr(baseLr: number, step: number, totalSteps: number): number {
  if (totalSteps <= 0) return baseLr;
  return baseLr * Math.cos((7 * Math.PI * Math.min(step, totalSteps)) / (16 * totalSteps));
}

/** Linear warm-up of a ramp (e.g. the unsupervised weight of MixMatch and UDA), from 0 to 1. */
export function linearRampUp(step: number, rampSteps: number): number {
  if (rampSteps <= 0) return 1;
  return Math.min(1, Math.max(0, step / rampSteps));
}
