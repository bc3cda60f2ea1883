// Thread-local engine state: grad mode, autocast, seeding, threads and devices.
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { native } from './native.js';
import { Tensor, type Device, type DType } from './tensor.js';

/** Runs fn with gradient recording off (evaluation, optimizer updates, EMA). */
export function noGrad<T>(fn: () => T): T {
  const prev = native.setGradEnabled(false);
  try {
    return fn();
  } finally {
    native.setGradEnabled(prev);
  }
}

/** Runs fn with gradient recording on, even inside noGrad. */
export function enableGrad<T>(fn: () => T): T {
  const prev = native.setGradEnabled(true);
  try {
    return fn();
  } finally {
    native.setGradEnabled(prev);
  }
}

export function isGradEnabled(): boolean {
  return native.isGradEnabled();
}

export interface AutocastOptions {
  /** Which device's autocast to switch ('cpu' or 'cuda'; a 'cuda:N' device means 'cuda'). */
  device?: Device;
  /**
   * The lower-precision dtype: bfloat16 by default on every device. float16 (CUDA only) needs loss
   * scaling against underflowing gradients, which the trainers do not do.
   */
  dtype?: 'bfloat16' | 'float16';
  /** When false, fn runs unchanged: lets callers keep one code path for both precisions. */
  enabled?: boolean;
}

/**
 * Runs fn under libtorch's autocast: convolutions and matmuls run in bfloat16 while weights stay
 * float32 (master weights) and precision-sensitive ops (losses, softmax, norms) stay float32.
 */
export function autocast<T>(fn: () => T, opts: AutocastOptions = {}): T {
  if (opts.enabled === false) return fn();
  const deviceType = (opts.device ?? 'cpu').startsWith('cuda') ? 'cuda' : 'cpu';
  const dtype = opts.dtype ?? 'bfloat16';
  if (deviceType === 'cpu' && dtype !== 'bfloat16') throw new Error('autocast: CPU autocast supports bfloat16 only');
  const prev = native.setAutocast(deviceType, true, dtype);
  native.autocastNesting(1);
  try {
    const r = fn();
    if (r instanceof Promise) throw new Error('autocast() takes a synchronous function');
    return r;
  } finally {
    native.autocastNesting(-1);
    native.setAutocast(deviceType, prev, dtype);
  }
}

/** Seeds libtorch's global generators (CPU and, when present, every CUDA device). */
export function manualSeed(seed: number): void {
  if (!Number.isSafeInteger(seed) || seed < 0)
    throw new Error(`manualSeed: seed must be a non-negative integer, got ${seed}`);
  native.manualSeed(seed);
}

/** The CPU generator's state (uint8 tensor), to save in checkpoints for bit-exact resume. */
export function getRngState(): Tensor {
  return new Tensor(native.getRngState());
}

export function setRngState(state: Tensor): void {
  if (state.dtype !== 'uint8') throw new Error(`setRngState: expected a uint8 tensor, got ${state.dtype}`);
  native.setRngState(state.handle);
}

/**
 * Sets libtorch's intra-op thread count, and OpenBLAS's where libtorch links it (its dense products
 * would otherwise run on every core); the default is every core.
 */
export function setNumThreads(n: number = availableParallelism()): void {
  if (!Number.isInteger(n) || n < 1) throw new Error(`setNumThreads: expected a positive integer, got ${n}`);
  native.setNumThreads(n);
}

/**
 * Flushes denormal floats to zero on the CPU (torch.set_flush_denormal). Early training produces
 * many denormals, which run ~5× slower; returns false where the CPU cannot flush them.
 */
export function setFlushDenormal(flag = true): boolean {
  return native.setFlushDenormal(flag);
}

export function getNumThreads(): number {
  return native.getNumThreads();
}

/** OpenBLAS's thread count, or null where libtorch's BLAS is not OpenBLAS (MKL follows setNumThreads). */
export function getBlasThreads(): number | null {
  const n = native.getBlasThreads();
  return n < 0 ? null : n;
}

export function cudaDeviceCount(): number {
  return native.cudaDeviceCount();
}

/** Validates a device string against what this libtorch build has. */
export function checkDevice(device: Device): Device {
  const m = /^(cpu|cuda)(?::(\d+))?$/.exec(device);
  if (!m) throw new Error(`unknown device '${device}': use 'cpu', 'cuda' or 'cuda:N'`);
  if (m[1] === 'cuda') {
    const n = cudaDeviceCount();
    if (n === 0) {
      throw new Error(
        `device '${device}' requested but this libtorch has no CUDA device: build against a CUDA libtorch with ` +
          'LIBTORCH=/path/to/libtorch npm run build:native, on a machine with an NVIDIA GPU',
      );
    }
    const idx = m[2] ? Number(m[2]) : 0;
    if (idx >= n) throw new Error(`device '${device}' does not exist: ${n} CUDA device(s) present`);
  }
  return device;
}

export function engineVersion(): string {
  return native.version();
}

export type { Device, DType };

/**
 * Lets the event loop run. Node-API runs the finalizers of collected tensor handles on the event
 * loop, so a long synchronous loop holds their small native wrappers until it yields: training
 * loops call this once a step.
 */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * Whether this CPU computes bfloat16 natively (AVX-512-BF16 or AMX). Without it libtorch emulates
 * bfloat16 and autocast is many times slower than float32, so 'auto' precision picks float32.
 */
export function cpuHasNativeBf16(): boolean {
  try {
    const info = readFileSync('/proc/cpuinfo', 'utf8');
    return /\b(avx512_bf16|amx_bf16)\b/.test(info);
  } catch {
    return false;
  }
}

/** Resolves a precision choice: 'auto' uses bfloat16 autocast on CUDA and on CPUs with native bfloat16. */
export function resolveBf16(choice: boolean | 'auto', device: Device = 'cpu'): boolean {
  if (choice !== 'auto') return choice;
  return device.startsWith('cuda') || cpuHasNativeBf16();
}
