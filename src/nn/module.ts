// Module: named parameters, buffers and children, train/eval mode, state dicts and devices.
import { keep, noGrad, Tensor, type Device } from '../tensor/index.js';

export interface ParameterOptions {
  /** Whether weight decay applies: FixMatch decays conv and dense kernels only, not biases or BatchNorm. */
  decay?: boolean;
}

export abstract class Module {
  training = true;
  /** Parameters by local name; layers read them through this record so that to() can swap them. */
  protected readonly p: Record<string, Tensor> = {};
  protected readonly b: Record<string, Tensor> = {};
  private readonly children = new Map<string, Module>();
  private readonly noDecay = new Set<string>();

  abstract forward(x: Tensor): Tensor;

  protected registerParameter(name: string, t: Tensor, opts: ParameterOptions = {}): Tensor {
    if (name in this.p || name in this.b) throw new Error(`${this.constructor.name}: "${name}" is already registered`);
    keep(t).setRequiresGrad(true);
    this.p[name] = t;
    if (opts.decay === false) this.noDecay.add(name);
    return t;
  }

  protected registerBuffer(name: string, t: Tensor): Tensor {
    if (name in this.p || name in this.b) throw new Error(`${this.constructor.name}: "${name}" is already registered`);
    this.b[name] = keep(t);
    return t;
  }

  protected registerModule<M extends Module>(name: string, m: M): M {
    if (this.children.has(name)) throw new Error(`${this.constructor.name}: child "${name}" is already registered`);
    this.children.set(name, m);
    return m;
  }

  namedChildren(): [string, Module][] {
    return [...this.children.entries()];
  }

  /** This module and all its descendants, depth first. */
  modules(): Module[] {
    return [this, ...[...this.children.values()].flatMap((c) => c.modules())];
  }

  namedParameters(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = Object.entries(this.p).map(([n, t]) => [prefix + n, t]);
    for (const [n, c] of this.children) out.push(...c.namedParameters(`${prefix}${n}.`));
    return out;
  }

  namedBuffers(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = Object.entries(this.b).map(([n, t]) => [prefix + n, t]);
    for (const [n, c] of this.children) out.push(...c.namedBuffers(`${prefix}${n}.`));
    return out;
  }

  parameters(): Tensor[] {
    return this.namedParameters().map(([, t]) => t);
  }

  buffers(): Tensor[] {
    return this.namedBuffers().map(([, t]) => t);
  }

  /** Parameters split by whether weight decay applies to them. */
  parameterGroups(): { decay: Tensor[]; noDecay: Tensor[] } {
    const decay: Tensor[] = [];
    const noDecay: Tensor[] = [];
    const walk = (m: Module): void => {
      for (const [n, t] of Object.entries(m.p)) (m.noDecay.has(n) ? noDecay : decay).push(t);
      for (const c of m.children.values()) walk(c);
    };
    walk(this);
    return { decay, noDecay };
  }

  numParameters(): number {
    return this.parameters().reduce((a, t) => a + t.numel, 0);
  }

  train(flag = true): this {
    this.training = flag;
    for (const c of this.children.values()) c.train(flag);
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /** Parameters and buffers by dotted name (the tensors themselves, not copies). */
  stateDict(): Record<string, Tensor> {
    return Object.fromEntries([...this.namedParameters(), ...this.namedBuffers()]);
  }

  /** Copies values in; with strict, missing or unexpected names and any shape mismatch are errors. */
  loadStateDict(state: Record<string, Tensor>, strict = true): void {
    const own = this.stateDict();
    const errors: string[] = [];
    for (const name of Object.keys(own)) if (!(name in state) && strict) errors.push(`missing "${name}"`);
    for (const name of Object.keys(state)) if (!(name in own) && strict) errors.push(`unexpected "${name}"`);
    for (const [name, t] of Object.entries(own)) {
      const src = state[name];
      if (src && src.shape.join(',') !== t.shape.join(',')) {
        errors.push(`"${name}" has shape [${src.shape.join(',')}], the model expects [${t.shape.join(',')}]`);
      }
    }
    if (errors.length) throw new Error(`loadStateDict: ${errors.join('; ')}`);
    noGrad(() => {
      for (const [name, t] of Object.entries(own)) if (state[name]) t.copy_(state[name]);
    });
  }

  /** Moves every parameter and buffer to a device (or dtype); gradients are dropped. */
  to(device: Device): this {
    const move = (rec: Record<string, Tensor>, isParam: boolean): void => {
      for (const [n, t] of Object.entries(rec)) {
        const moved = noGrad(() => t.to(null, device).detach());
        if (moved.sameAs(t)) {
          moved.dispose();
          continue;
        }
        keep(moved);
        if (isParam) moved.setRequiresGrad(true);
        t.dispose();
        rec[n] = moved;
      }
    };
    move(this.p, true);
    move(this.b, false);
    for (const c of this.children.values()) c.to(device);
    return this;
  }

  /** Frees every parameter and buffer; the module cannot be used afterwards. */
  dispose(): void {
    for (const t of Object.values(this.p)) t.dispose();
    for (const t of Object.values(this.b)) t.dispose();
    for (const c of this.children.values()) c.dispose();
  }
}

/** Applies children in order. */
export class Sequential extends Module {
  private readonly layers: Module[];
  constructor(...layers: Module[]) {
    super();
    this.layers = layers;
    layers.forEach((l, i) => this.registerModule(String(i), l));
  }
  forward(x: Tensor): Tensor {
    let y = x;
    for (const l of this.layers) {
      const next = l.forward(y);
      if (y !== x) y.dispose();
      y = next;
    }
    return y;
  }
}
