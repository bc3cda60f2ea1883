// Shared parsing of numeric and engine options, with errors that name the flag.
import { InvalidArgumentError } from 'commander';
import { checkDevice, resolveBf16, setFlushDenormal, setNumThreads, type Device } from '../tensor/index.js';

export function int(min = 0) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^-?\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min) {
      throw new InvalidArgumentError(`expected an integer >= ${min}, got '${value}'`);
    }
    return n;
  };
}

export function float(min = -Infinity, max = Infinity) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n) || n < min || n > max) {
      throw new InvalidArgumentError(`expected a number in [${min}, ${max}], got '${value}'`);
    }
    return n;
  };
}

export function precision(value: string): boolean | 'auto' {
  if (value === 'auto') return 'auto';
  if (value === 'bf16') return true;
  if (value === 'fp32') return false;
  throw new InvalidArgumentError(`expected auto, bf16 or fp32, got '${value}'`);
}

export interface EngineFlags {
  device: string;
  threads?: number;
  precision: boolean | 'auto';
}

/** Applies --threads and --device, returning the device and whether to use bfloat16 autocast. */
export function setupEngine(flags: EngineFlags): { device: Device; bf16: boolean } {
  const device = checkDevice(flags.device);
  setNumThreads(flags.threads);
  setFlushDenormal(true);
  return { device, bf16: resolveBf16(flags.precision, device) };
}
