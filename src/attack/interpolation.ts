// Interpolation-consistency poisoning (paper section 3): poisons x′·(1 − α) + x*·α along the
// bridge from a labeled-class source x′ to the target x*, quantised to the images' 8-bit pixels,
// with α placed by a density. The target itself (α = 1) is one of the poisons.
import { sampleAlphas } from './density.js';

/** One image: H×W×C uint8 pixels. */
export type Pixels = Uint8Array;

export interface BridgePoint {
  image: Pixels;
  alpha: number;
}

/** Round-half-up quantisation to 8 bits, clamped, as saving to a PNG or a uint8 array does. */
export function quantize(v: number): number {
  return Math.min(255, Math.max(0, Math.floor(v + 0.5)));
}

/** x′·(1 − α) + x*·α for each α, quantised. */
export function interpolate(source: Pixels, target: Pixels, alphas: readonly number[]): BridgePoint[] {
  if (source.length !== target.length) {
    throw new Error(`interpolate: source has ${source.length} pixels, target ${target.length}`);
  }
  return alphas.map((alpha) => {
    if (!(alpha >= 0 && alpha <= 1)) throw new Error(`interpolate: α must be in [0, 1], got ${alpha}`);
    const image = new Uint8Array(source.length);
    for (let i = 0; i < source.length; i++) image[i] = quantize(source[i] * (1 - alpha) + target[i] * alpha);
    return { image, alpha };
  });
}

/** The bridge of `count` points from source to target with α placed by the density. */
export function bridge(source: Pixels, target: Pixels, count: number, density?: string): BridgePoint[] {
  return interpolate(source, target, sampleAlphas(count, density));
}
