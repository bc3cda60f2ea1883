// The Tensor class, deterministic memory scopes and the raw operator call every wrapper uses.
import { native, type NativeTensor } from './native.js';

export const DTYPES = [
  'float32',
  'float64',
  'float16',
  'bfloat16',
  'int64',
  'int32',
  'int16',
  'int8',
  'uint8',
  'bool',
] as const;
export type DType = (typeof DTYPES)[number];
/** 'cpu', 'cuda' or 'cuda:N'. */
export type Device = string;
export type Shape = readonly number[];

export const FLOAT_DTYPES: readonly DType[] = ['float32', 'float64', 'float16', 'bfloat16'];
export const INT_DTYPES: readonly DType[] = ['int64', 'int32', 'int16', 'int8', 'uint8'];

export type TypedArrayFor<D extends DType> = D extends 'float32'
  ? Float32Array
  : D extends 'float64'
    ? Float64Array
    : D extends 'int64'
      ? BigInt64Array
      : D extends 'int32'
        ? Int32Array
        : D extends 'int16'
          ? Int16Array
          : D extends 'int8'
            ? Int8Array
            : D extends 'float16' | 'bfloat16'
              ? Uint16Array
              : Uint8Array;

// ------------------------------------------------------------------ scopes

interface Scope {
  tensors: Tensor[];
}
const scopes: Scope[] = [];

function track(t: Tensor): void {
  const s = scopes[scopes.length - 1];
  if (s) s.tensors.push(t);
}

function collectTensors(value: unknown, out: Set<Tensor>, depth = 0): void {
  if (value instanceof Tensor) {
    out.add(value);
  } else if (depth < 4 && Array.isArray(value)) {
    for (const v of value) collectTensors(v, out, depth + 1);
  } else if (depth < 4 && value instanceof Map) {
    for (const v of value.values()) collectTensors(v, out, depth + 1);
  } else if (
    depth < 4 &&
    value !== null &&
    typeof value === 'object' &&
    Object.getPrototypeOf(value) === Object.prototype
  ) {
    for (const v of Object.values(value)) collectTensors(v, out, depth + 1);
  }
}

/**
 * Runs fn and disposes every tensor created inside it, except the tensors it returns
 * (directly, or inside arrays, Maps and plain objects) and those marked with keep().
 * Returned tensors move to the enclosing scope.
 */
export function tidy<T>(fn: () => T): T {
  scopes.push({ tensors: [] });
  let result: T;
  try {
    result = fn();
  } catch (err) {
    const scope = scopes.pop()!;
    for (const t of scope.tensors) if (!t.kept) t.dispose();
    throw err;
  }
  const scope = scopes.pop()!;
  if (result instanceof Promise) {
    for (const t of scope.tensors) if (!t.kept) t.dispose();
    throw new Error('tidy() takes a synchronous function; await outside of it');
  }
  const returned = new Set<Tensor>();
  collectTensors(result, returned);
  for (const t of scope.tensors) {
    if (t.kept || t.isDisposed) continue;
    if (returned.has(t)) track(t);
    else t.dispose();
  }
  return result;
}

/** Exempts tensors from scope disposal; they live until dispose() (or garbage collection). */
export function keep<T extends Tensor | Tensor[]>(x: T): T {
  if (x instanceof Tensor) x.kept = true;
  else for (const t of x as Tensor[]) t.kept = true;
  return x;
}

/** Disposes every tensor found in value (a tensor, or arrays/objects of them). */
export function dispose(value: unknown): void {
  const all = new Set<Tensor>();
  collectTensors(value, all);
  for (const t of all) t.dispose();
}

/** Number of live native tensors (views and gradients included): tests use it to prove there is no leak. */
export function liveTensors(): number {
  return native.liveCount();
}

// ------------------------------------------------------------------ raw call

function toNativeArg(a: unknown, opName: string, index: number): unknown {
  if (a instanceof Tensor) {
    if (a.isDisposed) throw new Error(`${opName}: argument ${index} is a disposed tensor`);
    return a.handle;
  }
  if (Array.isArray(a)) return a.map((x) => toNativeArg(x, opName, index));
  if (typeof a === 'number' && Number.isNaN(a)) throw new Error(`${opName}: argument ${index} is NaN`);
  return a;
}

function wrapResult(r: unknown): unknown {
  if (r instanceof native.NativeTensor) return new Tensor(r as NativeTensor);
  if (Array.isArray(r)) return r.map(wrapResult);
  return r;
}

/**
 * Calls an ATen operator by schema name through the c10 dispatcher. Tensor results come back
 * as tracked Tensors. Typed wrappers below validate their arguments before calling this.
 */
export function callOp<R = Tensor>(
  name: string,
  overload: string,
  args: unknown[],
  kwargs?: Record<string, unknown>,
): R {
  const nargs = args.map((a, i) => toNativeArg(a, name, i));
  let nkw: Record<string, unknown> | undefined;
  if (kwargs) {
    nkw = {};
    for (const [k, v] of Object.entries(kwargs)) if (v !== undefined) nkw[k] = toNativeArg(v, name, -1);
  }
  return wrapResult(native.call(`aten::${name}`, overload, nargs, nkw)) as R;
}

/** Calls an in-place operator and returns its receiver instead of a second handle to it. */
function inplace(
  self: Tensor,
  name: string,
  overload: string,
  args: unknown[],
  kwargs?: Record<string, unknown>,
): Tensor {
  const r = callOp<Tensor>(name, overload, [self, ...args], kwargs);
  r.dispose();
  return self;
}

// ------------------------------------------------------------------ validation helpers

export function checkFinite(opName: string, name: string, v: number): void {
  if (typeof v !== 'number' || !Number.isFinite(v))
    throw new Error(`${opName}: ${name} must be a finite number, got ${v}`);
}

export function checkInt(opName: string, name: string, v: number, min = -Infinity): void {
  if (!Number.isInteger(v) || v < min) {
    throw new Error(`${opName}: ${name} must be an integer${min > -Infinity ? ` >= ${min}` : ''}, got ${v}`);
  }
}

export function checkShape(opName: string, name: string, shape: Shape): void {
  if (!Array.isArray(shape) || shape.some((d) => !Number.isInteger(d) || d < 0)) {
    throw new Error(`${opName}: ${name} must be an array of non-negative integers, got ${JSON.stringify(shape)}`);
  }
}

export function checkDtype(opName: string, t: Tensor, allowed: readonly DType[], name = 'input'): void {
  if (!allowed.includes(t.dtype)) throw new Error(`${opName}: ${name} must be ${allowed.join(' or ')}, got ${t.dtype}`);
}

function normDim(opName: string, t: Tensor, dim: number): number {
  const n = t.ndim;
  if (!Number.isInteger(dim) || dim < -Math.max(n, 1) || dim >= Math.max(n, 1)) {
    throw new Error(`${opName}: dim ${dim} out of range for a tensor of shape [${t.shape.join(',')}]`);
  }
  return dim < 0 ? dim + Math.max(n, 1) : dim;
}

function shapeStr(s: Shape): string {
  return `[${s.join(',')}]`;
}

function broadcastable(a: Shape, b: Shape): boolean {
  for (let i = 1; i <= Math.min(a.length, b.length); i++) {
    const x = a[a.length - i];
    const y = b[b.length - i];
    if (x !== y && x !== 1 && y !== 1) return false;
  }
  return true;
}

function checkBroadcast(opName: string, a: Tensor, b: Tensor | number): void {
  if (b instanceof Tensor && !broadcastable(a.shape, b.shape)) {
    throw new Error(`${opName}: shapes ${shapeStr(a.shape)} and ${shapeStr(b.shape)} cannot be broadcast together`);
  }
}

function binary(name: string, a: Tensor, b: Tensor | number, extra: unknown[] = []): Tensor {
  checkBroadcast(name, a, b);
  if (typeof b === 'number') checkFinite(name, 'other', b);
  return callOp(name, b instanceof Tensor ? 'Tensor' : 'Scalar', [a, b, ...extra]);
}

function compare(name: string, a: Tensor, b: Tensor | number): Tensor {
  checkBroadcast(name, a, b);
  return callOp(name, b instanceof Tensor ? 'Tensor' : 'Scalar', [a, b]);
}

// ------------------------------------------------------------------ Tensor

export class Tensor {
  /** Set by keep(): scopes leave this tensor alone. */
  kept = false;
  #shape: number[] | undefined;
  #dtype: DType | undefined;

  constructor(readonly handle: NativeTensor) {
    track(this);
  }

  get shape(): readonly number[] {
    if (!this.#shape) this.#shape = this.live('shape').shape();
    return this.#shape;
  }
  get dtype(): DType {
    if (!this.#dtype) this.#dtype = this.live('dtype').dtype() as DType;
    return this.#dtype;
  }
  get device(): Device {
    return this.live('device').device();
  }
  get ndim(): number {
    return this.shape.length;
  }
  get numel(): number {
    return this.shape.reduce((a, b) => a * b, 1);
  }
  get isDisposed(): boolean {
    return this.handle.disposed();
  }
  get isFloat(): boolean {
    return FLOAT_DTYPES.includes(this.dtype);
  }

  private live(what: string): NativeTensor {
    if (this.handle.disposed()) throw new Error(`${what}: tensor has been disposed`);
    return this.handle;
  }

  dispose(): void {
    this.handle.free();
  }

  toString(): string {
    return this.isDisposed ? 'Tensor(disposed)' : `Tensor(${shapeStr(this.shape)}, ${this.dtype}, ${this.device})`;
  }

  // ---------------------------------------------------------------- data out

  /** A copy of the data as a TypedArray (float16/bfloat16 as raw Uint16 bits). */
  data<D extends DType = DType>(): TypedArrayFor<D> {
    return this.live('data').toArray() as TypedArrayFor<D>;
  }

  /** The data as float32 values, whatever the dtype. */
  toFloat32(): Float32Array {
    if (this.dtype === 'float32') return this.data<'float32'>();
    return tidy(() => this.to('float32').data<'float32'>());
  }

  /** The data as plain numbers (int64 converted to number). */
  toNumbers(): number[] {
    if (this.dtype === 'int64') return Array.from(this.data<'int64'>(), Number);
    if (this.dtype === 'float16' || this.dtype === 'bfloat16') return Array.from(this.toFloat32());
    return Array.from(this.data() as ArrayLike<number>);
  }

  item(): number {
    if (this.numel !== 1) throw new Error(`item: tensor has ${this.numel} elements, expected 1`);
    return this.toNumbers()[0];
  }

  // ---------------------------------------------------------------- autograd

  get requiresGrad(): boolean {
    return this.live('requiresGrad').requiresGrad();
  }
  setRequiresGrad(flag = true): this {
    this.live('setRequiresGrad').setRequiresGrad(flag);
    return this;
  }
  /** The accumulated gradient (a new handle, tracked by the current scope), or null. */
  get grad(): Tensor | null {
    const g = this.live('grad').grad();
    return g ? new Tensor(g) : null;
  }
  set grad(g: Tensor | null) {
    this.live('grad').setGrad(g ? g.handle : null);
  }
  zeroGrad(): void {
    this.live('zeroGrad').setGrad(null);
  }
  backward(gradient?: Tensor, retainGraph = false): void {
    if (!this.requiresGrad) throw new Error('backward: tensor does not require grad (was it computed under noGrad?)');
    if (!gradient && this.numel !== 1) {
      throw new Error(`backward: a gradient is needed for a non-scalar tensor of shape ${shapeStr(this.shape)}`);
    }
    this.live('backward').backward(gradient?.handle ?? null, retainGraph);
  }
  detach(): Tensor {
    return callOp('detach', '', [this]);
  }
  sameAs(other: Tensor): boolean {
    return this.handle.same(other.handle);
  }

  // ---------------------------------------------------------------- conversion

  /** Converts to a dtype and/or device; when nothing changes the result aliases this tensor, as in PyTorch. */
  to(dtype: DType | null, device?: Device): Tensor {
    return callOp('to', 'dtype_layout', [this], { dtype: dtype ?? undefined, device });
  }
  toDevice(device: Device): Tensor {
    return this.to(null, device);
  }
  float(): Tensor {
    return this.to('float32');
  }
  long(): Tensor {
    return this.to('int64');
  }
  clone(): Tensor {
    return callOp('clone', '', [this]);
  }
  contiguous(): Tensor {
    return callOp('contiguous', '', [this]);
  }
  get isContiguous(): boolean {
    return this.live('isContiguous').isContiguous();
  }

  // ---------------------------------------------------------------- arithmetic

  add(other: Tensor | number, alpha = 1): Tensor {
    return binary('add', this, other, [alpha]);
  }
  sub(other: Tensor | number, alpha = 1): Tensor {
    return binary('sub', this, other, [alpha]);
  }
  mul(other: Tensor | number): Tensor {
    return binary('mul', this, other);
  }
  div(other: Tensor | number): Tensor {
    if (typeof other === 'number' && other === 0) throw new Error('div: division by the scalar 0');
    return binary('div', this, other);
  }
  pow(exponent: Tensor | number): Tensor {
    checkBroadcast('pow', this, exponent);
    if (typeof exponent === 'number') checkFinite('pow', 'exponent', exponent);
    return callOp('pow', exponent instanceof Tensor ? 'Tensor_Tensor' : 'Tensor_Scalar', [this, exponent]);
  }
  maximum(other: Tensor | number): Tensor {
    if (typeof other === 'number') return this.clamp(other, null);
    checkBroadcast('maximum', this, other);
    return callOp('maximum', '', [this, other]);
  }
  minimum(other: Tensor | number): Tensor {
    if (typeof other === 'number') return this.clamp(null, other);
    checkBroadcast('minimum', this, other);
    return callOp('minimum', '', [this, other]);
  }
  neg(): Tensor {
    return callOp('neg', '', [this]);
  }
  abs(): Tensor {
    return callOp('abs', '', [this]);
  }
  sign(): Tensor {
    return callOp('sign', '', [this]);
  }
  sqrt(): Tensor {
    return callOp('sqrt', '', [this]);
  }
  rsqrt(): Tensor {
    return callOp('rsqrt', '', [this]);
  }
  square(): Tensor {
    return callOp('square', '', [this]);
  }
  exp(): Tensor {
    return callOp('exp', '', [this]);
  }
  log(): Tensor {
    return callOp('log', '', [this]);
  }
  log1p(): Tensor {
    return callOp('log1p', '', [this]);
  }
  sin(): Tensor {
    return callOp('sin', '', [this]);
  }
  cos(): Tensor {
    return callOp('cos', '', [this]);
  }
  reciprocal(): Tensor {
    return callOp('reciprocal', '', [this]);
  }
  sigmoid(): Tensor {
    return callOp('sigmoid', '', [this]);
  }
  tanh(): Tensor {
    return callOp('tanh', '', [this]);
  }
  relu(): Tensor {
    return callOp('relu', '', [this]);
  }
  leakyRelu(negativeSlope = 0.01): Tensor {
    checkFinite('leakyRelu', 'negativeSlope', negativeSlope);
    return callOp('leaky_relu', '', [this, negativeSlope]);
  }
  floor(): Tensor {
    return callOp('floor', '', [this]);
  }
  ceil(): Tensor {
    return callOp('ceil', '', [this]);
  }
  /** Rounds half to even, as torch.round. */
  round(): Tensor {
    return callOp('round', '', [this]);
  }
  clamp(min: number | null, max: number | null = null): Tensor {
    if (min === null && max === null) throw new Error('clamp: at least one of min and max is needed');
    if (min !== null) checkFinite('clamp', 'min', min);
    if (max !== null) checkFinite('clamp', 'max', max);
    if (min !== null && max !== null && min > max) throw new Error(`clamp: min ${min} is greater than max ${max}`);
    return callOp('clamp', '', [this, min, max]);
  }
  isnan(): Tensor {
    return callOp('isnan', '', [this]);
  }
  isfinite(): Tensor {
    return callOp('isfinite', '', [this]);
  }

  // in place (used by optimizers and EMA under noGrad)
  add_(other: Tensor | number, alpha = 1): this {
    checkBroadcast('add_', this, other);
    inplace(this, 'add_', other instanceof Tensor ? 'Tensor' : 'Scalar', [other, alpha]);
    return this;
  }
  sub_(other: Tensor | number, alpha = 1): this {
    checkBroadcast('sub_', this, other);
    inplace(this, 'sub_', other instanceof Tensor ? 'Tensor' : 'Scalar', [other, alpha]);
    return this;
  }
  mul_(other: Tensor | number): this {
    checkBroadcast('mul_', this, other);
    inplace(this, 'mul_', other instanceof Tensor ? 'Tensor' : 'Scalar', [other]);
    return this;
  }
  div_(other: Tensor | number): this {
    checkBroadcast('div_', this, other);
    inplace(this, 'div_', other instanceof Tensor ? 'Tensor' : 'Scalar', [other]);
    return this;
  }
  copy_(src: Tensor): this {
    checkBroadcast('copy_', this, src);
    inplace(this, 'copy_', '', [src]);
    return this;
  }
  fill_(value: number): this {
    checkFinite('fill_', 'value', value);
    inplace(this, 'fill_', 'Scalar', [value]);
    return this;
  }
  zero_(): this {
    inplace(this, 'zero_', '', []);
    return this;
  }
  lerp_(end: Tensor, weight: number): this {
    checkFinite('lerp_', 'weight', weight);
    inplace(this, 'lerp_', 'Scalar', [end, weight]);
    return this;
  }
  clamp_(min: number | null, max: number | null = null): this {
    inplace(this, 'clamp_', '', [min, max]);
    return this;
  }
  uniform_(from = 0, to = 1): this {
    checkFinite('uniform_', 'from', from);
    checkFinite('uniform_', 'to', to);
    if (from > to) throw new Error(`uniform_: from ${from} is greater than to ${to}`);
    inplace(this, 'uniform_', '', [from, to]);
    return this;
  }
  normal_(mean = 0, std = 1): this {
    checkFinite('normal_', 'mean', mean);
    checkFinite('normal_', 'std', std);
    if (std < 0) throw new Error(`normal_: std must be >= 0, got ${std}`);
    inplace(this, 'normal_', '', [mean, std]);
    return this;
  }

  // ---------------------------------------------------------------- comparison

  eq(other: Tensor | number): Tensor {
    return compare('eq', this, other);
  }
  ne(other: Tensor | number): Tensor {
    return compare('ne', this, other);
  }
  lt(other: Tensor | number): Tensor {
    return compare('lt', this, other);
  }
  le(other: Tensor | number): Tensor {
    return compare('le', this, other);
  }
  gt(other: Tensor | number): Tensor {
    return compare('gt', this, other);
  }
  ge(other: Tensor | number): Tensor {
    return compare('ge', this, other);
  }
  logicalAnd(other: Tensor): Tensor {
    checkBroadcast('logicalAnd', this, other);
    return callOp('logical_and', '', [this, other]);
  }
  logicalOr(other: Tensor): Tensor {
    checkBroadcast('logicalOr', this, other);
    return callOp('logical_or', '', [this, other]);
  }
  logicalNot(): Tensor {
    return callOp('logical_not', '', [this]);
  }
  maskedFill(mask: Tensor, value: number): Tensor {
    checkDtype('maskedFill', mask, ['bool'], 'mask');
    checkBroadcast('maskedFill', this, mask);
    return callOp('masked_fill', 'Scalar', [this, mask, value]);
  }

  // ---------------------------------------------------------------- reductions

  sum(dim?: number | number[], keepdim = false): Tensor {
    if (dim === undefined) return callOp('sum', '', [this]);
    return callOp('sum', 'dim_IntList', [this, this.dims('sum', dim), keepdim]);
  }
  mean(dim?: number | number[], keepdim = false): Tensor {
    if (!this.isFloat) throw new Error(`mean: input must be a floating-point tensor, got ${this.dtype}`);
    if (dim === undefined) return callOp('mean', '', [this]);
    return callOp('mean', 'dim', [this, this.dims('mean', dim), keepdim]);
  }
  /** Maximum over all elements. */
  max(): Tensor {
    this.nonEmpty('max');
    return callOp('max', '', [this]);
  }
  min(): Tensor {
    this.nonEmpty('min');
    return callOp('min', '', [this]);
  }
  /** Maximum along a dimension: [values, indices]. */
  maxDim(dim: number, keepdim = false): [Tensor, Tensor] {
    this.nonEmpty('maxDim');
    return callOp('max', 'dim', [this, normDim('maxDim', this, dim), keepdim]);
  }
  minDim(dim: number, keepdim = false): [Tensor, Tensor] {
    this.nonEmpty('minDim');
    return callOp('min', 'dim', [this, normDim('minDim', this, dim), keepdim]);
  }
  argmax(dim?: number, keepdim = false): Tensor {
    this.nonEmpty('argmax');
    return callOp('argmax', '', [this, dim === undefined ? null : normDim('argmax', this, dim), keepdim]);
  }
  argmin(dim?: number, keepdim = false): Tensor {
    this.nonEmpty('argmin');
    return callOp('argmin', '', [this, dim === undefined ? null : normDim('argmin', this, dim), keepdim]);
  }
  std(dim?: number | number[], unbiased = true, keepdim = false): Tensor {
    return callOp('std', 'dim', [this, dim === undefined ? null : this.dims('std', dim), unbiased, keepdim]);
  }
  var(dim?: number | number[], unbiased = true, keepdim = false): Tensor {
    return callOp('var', 'dim', [this, dim === undefined ? null : this.dims('var', dim), unbiased, keepdim]);
  }
  logsumexp(dim: number | number[], keepdim = false): Tensor {
    return callOp('logsumexp', '', [this, this.dims('logsumexp', dim), keepdim]);
  }
  /** Vector p-norm over dims (all elements by default). */
  norm(p = 2, dim?: number | number[], keepdim = false): Tensor {
    return callOp('linalg_vector_norm', '', [this, p, dim === undefined ? null : this.dims('norm', dim), keepdim]);
  }
  cumsum(dim: number): Tensor {
    return callOp('cumsum', '', [this, normDim('cumsum', this, dim)]);
  }
  prod(): Tensor {
    return callOp('prod', '', [this]);
  }
  any(): Tensor {
    return callOp('any', '', [this]);
  }
  all(): Tensor {
    return callOp('all', '', [this]);
  }

  private dims(opName: string, dim: number | number[]): number[] {
    return (Array.isArray(dim) ? dim : [dim]).map((d) => normDim(opName, this, d));
  }
  private nonEmpty(opName: string): void {
    if (this.numel === 0) throw new Error(`${opName}: input is empty`);
  }

  // ---------------------------------------------------------------- shape

  reshape(shape: Shape): Tensor {
    const known = shape.filter((d) => d !== -1);
    const inferred = shape.length - known.length;
    if (inferred > 1 || known.some((d) => !Number.isInteger(d) || d < 0)) {
      throw new Error(`reshape: invalid shape ${shapeStr(shape)}`);
    }
    const prod = known.reduce((a, b) => a * b, 1);
    if (inferred === 0 ? prod !== this.numel : prod === 0 || this.numel % prod !== 0) {
      throw new Error(
        `reshape: cannot reshape ${shapeStr(this.shape)} (${this.numel} elements) into ${shapeStr(shape)}`,
      );
    }
    return callOp('reshape', '', [this, [...shape]]);
  }
  view(shape: Shape): Tensor {
    return callOp('view', '', [this, [...shape]]);
  }
  flatten(startDim = 0, endDim = -1): Tensor {
    if (this.ndim === 0) return this.reshape([1]);
    return callOp('flatten', 'using_ints', [
      this,
      normDim('flatten', this, startDim),
      normDim('flatten', this, endDim),
    ]);
  }
  permute(dims: number[]): Tensor {
    if (dims.length !== this.ndim) {
      throw new Error(`permute: ${dims.length} dims given for a tensor of ${this.ndim} dims`);
    }
    return callOp('permute', '', [this, dims.map((d) => normDim('permute', this, d))]);
  }
  transpose(dim0: number, dim1: number): Tensor {
    return callOp('transpose', 'int', [this, normDim('transpose', this, dim0), normDim('transpose', this, dim1)]);
  }
  get T(): Tensor {
    if (this.ndim !== 2) throw new Error(`T: expected a 2-D tensor, got shape ${shapeStr(this.shape)}`);
    return this.transpose(0, 1);
  }
  squeeze(dim?: number): Tensor {
    if (dim === undefined) return callOp('squeeze', '', [this]);
    return callOp('squeeze', 'dim', [this, normDim('squeeze', this, dim)]);
  }
  unsqueeze(dim: number): Tensor {
    const n = this.ndim + 1;
    if (!Number.isInteger(dim) || dim < -n || dim >= n) throw new Error(`unsqueeze: dim ${dim} out of range`);
    return callOp('unsqueeze', '', [this, dim]);
  }
  expand(shape: Shape): Tensor {
    return callOp('expand', '', [this, [...shape]]);
  }
  repeat(repeats: number[]): Tensor {
    return callOp('repeat', '', [this, repeats]);
  }
  /** Elements start..end-1 (step) along dim, as a view. */
  slice(dim: number, start: number, end?: number, step = 1): Tensor {
    checkInt('slice', 'step', step, 1);
    return callOp('slice', 'Tensor', [this, normDim('slice', this, dim), start, end ?? null, step]);
  }
  narrow(dim: number, start: number, length: number): Tensor {
    const d = normDim('narrow', this, dim);
    if (start < 0 || length < 0 || start + length > this.shape[d]) {
      throw new Error(
        `narrow: range [${start}, ${start + length}) out of bounds for dim ${d} of size ${this.shape[d]}`,
      );
    }
    return callOp('narrow', '', [this, d, start, length]);
  }
  /** The index-th entry along dim (the dim is removed). */
  select(dim: number, index: number): Tensor {
    const d = normDim('select', this, dim);
    const n = this.shape[d];
    if (!Number.isInteger(index) || index < -n || index >= n) {
      throw new Error(`select: index ${index} out of range for dim ${d} of size ${n}`);
    }
    return callOp('select', 'int', [this, d, index]);
  }
  split(size: number | number[], dim = 0): Tensor[] {
    const d = normDim('split', this, dim);
    if (Array.isArray(size)) {
      const total = size.reduce((a, b) => a + b, 0);
      if (total !== this.shape[d]) throw new Error(`split: sizes sum to ${total}, dim ${d} has ${this.shape[d]}`);
      return callOp('split_with_sizes', '', [this, size, d]);
    }
    checkInt('split', 'size', size, 1);
    return callOp('split', 'Tensor', [this, size, d]);
  }
  chunk(chunks: number, dim = 0): Tensor[] {
    checkInt('chunk', 'chunks', chunks, 1);
    return callOp('chunk', '', [this, chunks, normDim('chunk', this, dim)]);
  }
  flip(dims: number[]): Tensor {
    return callOp('flip', '', [this, dims.map((d) => normDim('flip', this, d))]);
  }
  roll(shifts: number[], dims: number[]): Tensor {
    if (shifts.length !== dims.length) throw new Error('roll: shifts and dims must have the same length');
    return callOp('roll', '', [this, shifts, dims.map((d) => normDim('roll', this, d))]);
  }

  // ---------------------------------------------------------------- indexing

  /** Rows (entries along dim) at the given int64 indices. */
  indexSelect(dim: number, index: Tensor): Tensor {
    checkDtype('indexSelect', index, ['int64', 'int32'], 'index');
    return callOp('index_select', '', [this, normDim('indexSelect', this, dim), index]);
  }
  gather(dim: number, index: Tensor): Tensor {
    checkDtype('gather', index, ['int64'], 'index');
    if (index.ndim !== this.ndim) {
      throw new Error(`gather: index has ${index.ndim} dims, input has ${this.ndim}`);
    }
    return callOp('gather', '', [this, normDim('gather', this, dim), index]);
  }
  scatter(dim: number, index: Tensor, src: Tensor | number): Tensor {
    checkDtype('scatter', index, ['int64'], 'index');
    const d = normDim('scatter', this, dim);
    return src instanceof Tensor
      ? callOp('scatter', 'src', [this, d, index, src])
      : callOp('scatter', 'value', [this, d, index, src]);
  }
  scatterAdd(dim: number, index: Tensor, src: Tensor): Tensor {
    checkDtype('scatterAdd', index, ['int64'], 'index');
    return callOp('scatter_add', '', [this, normDim('scatterAdd', this, dim), index, src]);
  }
  /** Advanced indexing x[i0, i1, ...] with index tensors (null skips a dim). */
  index(indices: (Tensor | null)[]): Tensor {
    return callOp('index', 'Tensor', [this, indices]);
  }
  /** x[mask] for a boolean mask, flattened. */
  maskedSelect(mask: Tensor): Tensor {
    checkDtype('maskedSelect', mask, ['bool'], 'mask');
    return callOp('masked_select', '', [this, mask]);
  }

  // ---------------------------------------------------------------- linear algebra and nn helpers

  matmul(other: Tensor): Tensor {
    const a = this.shape;
    const b = other.shape;
    if (a.length === 0 || b.length === 0) throw new Error('matmul: both arguments need at least one dimension');
    const k1 = a[a.length - 1];
    const k2 = b.length === 1 ? b[0] : b[b.length - 2];
    if (k1 !== k2) throw new Error(`matmul: shapes ${shapeStr(a)} and ${shapeStr(b)} do not match (${k1} vs ${k2})`);
    return callOp('matmul', '', [this, other]);
  }
  softmax(dim: number): Tensor {
    return callOp('softmax', 'int', [this, normDim('softmax', this, dim)]);
  }
  logSoftmax(dim: number): Tensor {
    return callOp('log_softmax', 'int', [this, normDim('logSoftmax', this, dim)]);
  }
  topk(k: number, dim = -1, largest = true, sorted = true): [Tensor, Tensor] {
    const d = normDim('topk', this, dim);
    if (!Number.isInteger(k) || k < 0 || k > this.shape[d]) {
      throw new Error(`topk: k=${k} out of range for dim ${d} of size ${this.shape[d]}`);
    }
    return callOp('topk', '', [this, k, d, largest, sorted]);
  }
  sort(dim = -1, descending = false): [Tensor, Tensor] {
    return callOp('sort', 'stable', [this], { stable: true, dim: normDim('sort', this, dim), descending });
  }
  argsort(dim = -1, descending = false): Tensor {
    const [values, indices] = this.sort(dim, descending);
    values.dispose();
    return indices;
  }
}
