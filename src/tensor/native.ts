// The one place that loads the compiled libtorch addon, with a fix-it message when it cannot.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface NativeTensor {
  shape(): number[];
  dtype(): string;
  device(): string;
  free(): void;
  disposed(): boolean;
  toArray(): ArrayBufferView;
  requiresGrad(): boolean;
  setRequiresGrad(flag: boolean): void;
  grad(): NativeTensor | null;
  setGrad(g: NativeTensor | null): void;
  backward(grad?: NativeTensor | null, retainGraph?: boolean): void;
  same(other: NativeTensor): boolean;
  isContiguous(): boolean;
}

export interface NativeBinding {
  NativeTensor: abstract new () => NativeTensor;
  call(name: string, overload: string, args: unknown[], kwargs?: Record<string, unknown>): unknown;
  fromArray(data: ArrayBufferView, shape: number[], dtype: string, device?: string): NativeTensor;
  setGradEnabled(enabled: boolean): boolean;
  isGradEnabled(): boolean;
  setAutocast(deviceType: string, enabled: boolean, dtype?: string): boolean;
  autocastNesting(delta: 1 | -1): number;
  manualSeed(seed: number): void;
  getRngState(): NativeTensor;
  setRngState(state: NativeTensor): void;
  setNumThreads(n: number): void;
  getNumThreads(): number;
  getBlasThreads(): number;
  setFlushDenormal(flag: boolean): boolean;
  liveCount(): number;
  cudaDeviceCount(): number;
  grad(
    outputs: NativeTensor[],
    inputs: NativeTensor[],
    gradOutputs: NativeTensor[] | null,
    retainGraph: boolean,
    createGraph: boolean,
  ): (NativeTensor | null)[];
  schema(name: string, overload?: string): string;
  version(): string;
}

function findRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('semipoison: cannot locate the package root');
    dir = up;
  }
  return dir;
}

function load(): NativeBinding {
  const root = findRoot();
  const path = join(root, 'build', 'Release', 'semipoison_native.node');
  const require = createRequire(import.meta.url);
  try {
    return require(path) as NativeBinding;
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    const hint = existsSync(path)
      ? 'The addon exists but failed to load: libtorch may be missing or a different version than it was built ' +
        'against. Run `make setup` (installs Debian libtorch-dev and rebuilds), or `npm run build:native` after ' +
        'changing LIBTORCH.'
      : 'The addon has not been built. Run `make setup` (installs Debian libtorch-dev, then `npm ci` builds it), ' +
        'or set LIBTORCH to a libtorch distribution and run `npm run build:native`.';
    throw new Error(`semipoison: cannot load the libtorch addon at ${path}: ${reason}\n${hint}`);
  }
}

export const native: NativeBinding = load();
