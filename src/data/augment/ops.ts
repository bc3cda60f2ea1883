// The image operations behind FixMatch's strong augmentations (google-research/fixmatch
// `third_party/auto_augment/augmentations.py` and `libml/ctaugment.py`), as batched tensor kernels.
// The reference applies PIL operations to one uint8 image at a time; here every kernel takes a float
// batch N×C×H×W with values in [0, 1] (before normalisation) and one parameter per image, and works
// in float without re-quantising to 8 bits after each op, except where the op is defined on 8-bit
// values (Posterize, Equalize).
import {
  affineGrid,
  arange,
  cat,
  conv2d,
  fullLike,
  gridSample,
  ones,
  pad,
  randint,
  stack,
  tensor,
  tidy,
  where,
  zeros,
  Tensor,
} from '../../tensor/index.js';

/** One value per image: a tensor with N elements, one number for all, or an array of N numbers. */
export type PerImage = Tensor | number | readonly number[];

/** Checks that x is a float N×C×H×W batch; every public augmentation calls this first. */
export function checkImages(op: string, x: Tensor): void {
  if (!(x instanceof Tensor)) throw new Error(`${op}: expected a Tensor, got ${typeof x}`);
  if (x.ndim !== 4) throw new Error(`${op}: expected an N×C×H×W batch, got shape [${x.shape.join(',')}]`);
  if (x.dtype !== 'float32' && x.dtype !== 'float64') {
    throw new Error(`${op}: expected float32 or float64 images with values in [0, 1], got ${x.dtype}`);
  }
}

/**
 * A per-image parameter as an N×1×1×1 tensor of x's dtype and device. Numbers given from JS are
 * checked against range; tensors are taken as they are (reading them back would cost a sync).
 */
export function perImage(op: string, name: string, p: PerImage, x: Tensor, range?: [number, number]): Tensor {
  const n = x.shape[0];
  if (p instanceof Tensor) {
    if (p.numel !== n) throw new Error(`${op}: ${name} needs one value per image (${n}), got shape [${p.shape}]`);
    return tidy(() => p.reshape([n, 1, 1, 1]).to(x.dtype, x.device));
  }
  const values = typeof p === 'number' ? new Array<number>(n).fill(p) : Array.from(p);
  if (values.length !== n) throw new Error(`${op}: ${name} needs one value per image (${n}), got ${values.length}`);
  for (const v of values) {
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error(`${op}: ${name} must be finite, got ${v}`);
    if (range && (v < range[0] || v > range[1])) {
      throw new Error(`${op}: ${name} must be in [${range[0]}, ${range[1]}], got ${v}`);
    }
  }
  return tensor(values, [n, 1, 1, 1], { dtype: x.dtype, device: x.device });
}

/** im1·(1 − alpha) + im2·alpha, clipped to [0, 1] as PIL's Image.blend clips to 8 bits. */
export function blend(im1: Tensor, im2: Tensor, alpha: Tensor): Tensor {
  return tidy(() => im1.add(im2.sub(im1).mul(alpha)).clamp(0, 1));
}

/** PIL's "L" conversion (ITU-R 601-2 luma); the channel mean for channel counts other than 1 and 3. */
export function grayscale(x: Tensor): Tensor {
  const c = x.shape[1];
  if (c === 1) return x.clone();
  if (c !== 3) return x.mean(1, true);
  return tidy(() =>
    x.mul(tensor([0.299, 0.587, 0.114], [1, 3, 1, 1], { dtype: x.dtype, device: x.device })).sum(1, true),
  );
}

/** Pixel values as 8-bit levels (int64), the way the reference converts images to uint8. */
function levels8(x: Tensor): Tensor {
  return tidy(() => x.mul(255).round().clamp(0, 255).to('int64'));
}

/**
 * A depthwise k×k filter whose border pixels keep their input values: PIL's ImageFilter kernels
 * (and ImageEnhance.Sharpness's degenerate image) leave the outer ring unfiltered.
 */
function filterKeepBorder(x: Tensor, kernel: readonly number[], k: number): Tensor {
  const [, c, h, w] = x.shape;
  const r = (k - 1) / 2;
  if (h < k || w < k) return x.clone();
  return tidy(() => {
    const sum = kernel.reduce((a, b) => a + b, 0);
    const weight = tensor(
      kernel.map((v) => v / sum),
      [1, 1, k, k],
      { dtype: x.dtype, device: x.device },
    ).repeat([c, 1, 1, 1]);
    const inner = pad(conv2d(x, weight, null, { groups: c }), [r, r, r, r]);
    const interior = pad(ones([1, 1, h - 2 * r, w - 2 * r], { device: x.device }), [r, r, r, r]).gt(0.5);
    return where(interior, inner, x);
  });
}

// PIL ImageFilter.SMOOTH (also ImageEnhance.Sharpness's degenerate image) and ImageFilter.BLUR.
const SMOOTH_KERNEL = [1, 1, 1, 1, 5, 1, 1, 1, 1];
const BLUR_KERNEL = [1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 1, 0, 0, 0, 1, 1, 0, 0, 0, 1, 1, 1, 1, 1, 1];

// ------------------------------------------------------------------ geometry

/**
 * Resamples each image through its own affine map in one gridSample call. m (N×2×3) maps output
 * pixel coordinates to input pixel coordinates, origin at the top-left corner and pixel centres at
 * +0.5, exactly PIL's Image.transform(AFFINE) convention. Nearest-neighbour sampling as PIL's
 * default resample, so whole-pixel shifts are exact; pixels mapped from outside take fill.
 */
export function affine(
  x: Tensor,
  m: Tensor,
  fill: number,
  mode: 'nearest' | 'bilinear' | 'bicubic' = 'nearest',
): Tensor {
  checkImages('affine', x);
  const [n, c, h, w] = x.shape;
  if (m.ndim !== 3 || m.shape[0] !== n || m.shape[1] !== 2 || m.shape[2] !== 3) {
    throw new Error(`affine: matrices must be ${n}×2×3, got [${m.shape.join(',')}]`);
  }
  if (n === 0) return x.clone();
  return tidy(() => {
    const opts = { dtype: x.dtype, device: x.device };
    // theta = S⁻¹·M·S with S taking gridSample's [−1, 1] coordinates (align_corners=false) to pixels.
    const toPixels = tensor([w / 2, 0, w / 2, 0, h / 2, h / 2, 0, 0, 1], [3, 3], opts);
    const toGrid = tensor([2 / w, 0, -1, 0, 2 / h, -1], [2, 3], opts);
    const m3 = cat([m.to(x.dtype), tensor([0, 0, 1], [1, 1, 3], opts).expand([n, 1, 3])], 1);
    const theta = toGrid.matmul(m3).matmul(toPixels);
    // A channel of ones marks which output pixels came from inside the image.
    const withMask = cat([x, ones([n, 1, h, w], opts)], 1);
    const grid = affineGrid(theta, [n, c + 1, h, w], false);
    const sampled = gridSample(withMask, grid, {
      mode,
      paddingMode: mode === 'nearest' ? 'zeros' : 'border',
      alignCorners: false,
    });
    const inside = sampled.narrow(1, c, 1);
    const image = sampled.narrow(1, 0, c);
    if (mode !== 'nearest') return image.clamp(0, 1);
    return image.add(inside.sub(1).mul(-fill));
  });
}

/** Builds N×2×3 matrices from six entries, each a per-image N×1×1×1 tensor or a constant. */
function matrices(like: Tensor, entries: (Tensor | number)[]): Tensor {
  const n = like.shape[0];
  return tidy(() => {
    const cols = entries.map((e) =>
      e instanceof Tensor ? e.reshape([n]) : zeros([n], { dtype: like.dtype, device: like.device }).add(e),
    );
    return stack(cols, 1).reshape([n, 2, 3]);
  });
}

/** Counter-clockwise rotation by degrees about the image centre (PIL Image.rotate). */
export function rotateMatrix(x: Tensor, degrees: PerImage): Tensor {
  const [, , h, w] = x.shape;
  return tidy(() => {
    const rad = perImage('rotate', 'degrees', degrees, x).mul(Math.PI / 180);
    const cos = rad.cos();
    const sin = rad.sin();
    const [cx, cy] = [w / 2, h / 2];
    const tx = cos.mul(-cx).add(sin.mul(cy)).add(cx);
    const ty = sin.mul(-cx).sub(cos.mul(cy)).add(cy);
    return matrices(x, [cos, sin.neg(), tx, sin, cos, ty]);
  });
}

/** PIL's ShearX: input x = x + shear·y, about the top-left corner as the reference does. */
export function shearXMatrix(x: Tensor, shear: PerImage): Tensor {
  return tidy(() => matrices(x, [1, perImage('shearX', 'shear', shear, x), 0, 0, 1, 0]));
}

export function shearYMatrix(x: Tensor, shear: PerImage): Tensor {
  return tidy(() => matrices(x, [1, 0, 0, perImage('shearY', 'shear', shear, x), 1, 0]));
}

/** Samples input x + fraction·width: a positive fraction moves the content left, as PIL's TranslateX. */
export function translateXMatrix(x: Tensor, fraction: PerImage): Tensor {
  const w = x.shape[3];
  return tidy(() => matrices(x, [1, 0, perImage('translateX', 'fraction', fraction, x).mul(w), 0, 1, 0]));
}

export function translateYMatrix(x: Tensor, fraction: PerImage): Tensor {
  const h = x.shape[2];
  return tidy(() => matrices(x, [1, 0, 0, 0, 1, perImage('translateY', 'fraction', fraction, x).mul(h)]));
}

/** Crops `crop`·size from every side and scales the rest back to full size (CTAugment's rescale). */
export function rescaleMatrix(x: Tensor, crop: PerImage): Tensor {
  const [, , h, w] = x.shape;
  return tidy(() => {
    const s = perImage('rescale', 'crop', crop, x, [0, 0.49]);
    const scale = s.mul(-2).add(1);
    return matrices(x, [scale, 0, s.mul(w), 0, scale, s.mul(h)]);
  });
}

// ------------------------------------------------------------------ kernels

/**
 * The op kernels, each on a whole batch with one parameter per image (natural units, documented
 * per op). Geometric ops fill uncovered pixels with `fill` (gray 0.5 by default: RandAugment's
 * reference fills with the normalised value 0, i.e. gray).
 */
export const OPS = {
  identity(x: Tensor): Tensor {
    checkImages('identity', x);
    return x.clone();
  },

  /** ImageOps.autocontrast: per image and channel, min → 0 and max → 1; flat channels unchanged. */
  autoContrast(x: Tensor): Tensor {
    checkImages('autoContrast', x);
    const [n, c] = x.shape;
    if (x.numel === 0) return x.clone();
    return tidy(() => {
      const flat = x.flatten(2);
      const lo = flat.minDim(2, true)[0].reshape([n, c, 1, 1]);
      const hi = flat.maxDim(2, true)[0].reshape([n, c, 1, 1]);
      const span = hi.sub(lo);
      const flatChannel = span.le(0);
      return where(
        flatChannel,
        x,
        x
          .sub(lo)
          .div(where(flatChannel, 1, span))
          .clamp(0, 1),
      );
    });
  },

  /**
   * ImageOps.equalize on the 8-bit levels, per image and channel: 256-bin histograms by scatter-add,
   * then PIL's lookup table lut[i] = (step/2 + #pixels below i) / step with
   * step = (#pixels − #pixels at the top level) / 255 (integer divisions); step 0 leaves the channel as it was.
   */
  equalize(x: Tensor): Tensor {
    checkImages('equalize', x);
    const [n, c, h, w] = x.shape;
    if (x.numel === 0) return x.clone();
    return tidy(() => {
      const opts = { dtype: 'float64' as const, device: x.device };
      const q = levels8(x).reshape([n * c, h * w]);
      const hist = zeros([n * c, 256], opts).scatterAdd(1, q, ones([n * c, h * w], opts));
      const top = q.maxDim(1, true)[0];
      const step = hist
        .gather(1, top)
        .neg()
        .add(h * w)
        .div(255)
        .floor();
      const valid = step.gt(0);
      const below = hist.cumsum(1).sub(hist);
      const lut = step
        .div(2)
        .floor()
        .add(below)
        .div(where(valid, step, 1))
        .floor()
        .clamp(0, 255);
      const mapped = lut.gather(1, q).div(255).to(x.dtype).reshape([n, c, h, w]);
      return where(valid.reshape([n, c, 1, 1]), mapped, x);
    });
  },

  /** ImageOps.invert: 1 − x. */
  invert(x: Tensor): Tensor {
    checkImages('invert', x);
    return tidy(() => x.neg().add(1));
  },

  /** ImageEnhance.Brightness: factor 0 is black, 1 the original. */
  brightness(x: Tensor, factor: PerImage): Tensor {
    checkImages('brightness', x);
    return tidy(() => x.mul(perImage('brightness', 'factor', factor, x)).clamp(0, 1));
  },

  /** ImageEnhance.Color: factor 0 is the grayscale image, 1 the original; identity on 1-channel images. */
  color(x: Tensor, factor: PerImage): Tensor {
    checkImages('color', x);
    if (x.shape[1] === 1) return x.clone();
    return tidy(() => blend(grayscale(x), x, perImage('color', 'factor', factor, x)));
  },

  /** ImageEnhance.Contrast: factor 0 is a flat image at the mean of the grayscale image, 1 the original. */
  contrast(x: Tensor, factor: PerImage): Tensor {
    checkImages('contrast', x);
    if (x.numel === 0) return x.clone();
    return tidy(() => blend(grayscale(x).mean([1, 2, 3], true), x, perImage('contrast', 'factor', factor, x)));
  },

  /** ImageEnhance.Sharpness: factor 0 is PIL's SMOOTH-filtered image, 1 the original, above 1 sharper. */
  sharpness(x: Tensor, factor: PerImage): Tensor {
    checkImages('sharpness', x);
    return tidy(() => blend(filterKeepBorder(x, SMOOTH_KERNEL, 3), x, perImage('sharpness', 'factor', factor, x)));
  },

  /** ImageFilter.SMOOTH (3×3, centre weight 5, border kept). */
  smooth(x: Tensor): Tensor {
    checkImages('smooth', x);
    return filterKeepBorder(x, SMOOTH_KERNEL, 3);
  },

  /** ImageFilter.BLUR (5×5 ring, border kept). */
  blur(x: Tensor): Tensor {
    checkImages('blur', x);
    return filterKeepBorder(x, BLUR_KERNEL, 5);
  },

  /** ImageOps.posterize: keeps the top `bits` (1–8) of each 8-bit level. */
  posterize(x: Tensor, bits: PerImage): Tensor {
    checkImages('posterize', x);
    if (typeof bits === 'number' && !Number.isInteger(bits)) {
      throw new Error(`posterize: bits must be an integer, got ${bits}`);
    }
    return tidy(() => {
      const drop = perImage('posterize', 'bits', bits, x, [1, 8]).neg().add(8);
      const step = fullLike(drop, 2).pow(drop).round();
      return levels8(x).to(x.dtype).div(step).floor().mul(step).div(255);
    });
  },

  /** ImageOps.solarize: pixels at or above threshold (in [0, 1]) are inverted. */
  solarize(x: Tensor, threshold: PerImage): Tensor {
    checkImages('solarize', x);
    return tidy(() => {
      const t = perImage('solarize', 'threshold', threshold, x, [0, 1]);
      return where(x.ge(t), x.neg().add(1), x);
    });
  },

  /** Counter-clockwise rotation by degrees about the centre. */
  rotate(x: Tensor, degrees: PerImage, fill = 0.5): Tensor {
    checkImages('rotate', x);
    return tidy(() => affine(x, rotateMatrix(x, degrees), fill));
  },

  shearX(x: Tensor, shear: PerImage, fill = 0.5): Tensor {
    checkImages('shearX', x);
    return tidy(() => affine(x, shearXMatrix(x, shear), fill));
  },

  shearY(x: Tensor, shear: PerImage, fill = 0.5): Tensor {
    checkImages('shearY', x);
    return tidy(() => affine(x, shearYMatrix(x, shear), fill));
  },

  /** Shift by fraction·width: output(x) = input(x + fraction·width). */
  translateX(x: Tensor, fraction: PerImage, fill = 0.5): Tensor {
    checkImages('translateX', x);
    return tidy(() => affine(x, translateXMatrix(x, fraction), fill));
  },

  translateY(x: Tensor, fraction: PerImage, fill = 0.5): Tensor {
    checkImages('translateY', x);
    return tidy(() => affine(x, translateYMatrix(x, fraction), fill));
  },

  /** Crop `crop` (0–0.49) of the size from every side and resize back with the given interpolation. */
  rescale(x: Tensor, crop: PerImage, mode: 'nearest' | 'bilinear' | 'bicubic' = 'bicubic'): Tensor {
    checkImages('rescale', x);
    return tidy(() => affine(x, rescaleMatrix(x, crop), 0, mode));
  },

  /**
   * Cutout (DeVries & Taylor), as the reference's create_cutout_mask: a centre drawn uniformly over
   * the image, the square [centre − ⌊size/2⌋, centre + ⌊size/2⌋) clipped to the image, set to fill.
   */
  cutout(x: Tensor, size: PerImage, fill = 0.5): Tensor {
    checkImages('cutout', x);
    const [n, , h, w] = x.shape;
    return tidy(() => {
      const half = perImage('cutout', 'size', size, x, [0, Math.max(h, w)])
        .div(2)
        .floor();
      const cy = randint(0, h, [n, 1, 1, 1], { device: x.device }).to(x.dtype);
      const cx = randint(0, w, [n, 1, 1, 1], { device: x.device }).to(x.dtype);
      const rows = arange(0, h, 1, { dtype: x.dtype, device: x.device }).reshape([1, 1, h, 1]);
      const cols = arange(0, w, 1, { dtype: x.dtype, device: x.device }).reshape([1, 1, 1, w]);
      const inRows = rows.ge(cy.sub(half)).logicalAnd(rows.lt(cy.add(half)));
      const inCols = cols.ge(cx.sub(half)).logicalAnd(cols.lt(cx.add(half)));
      return where(inRows.logicalAnd(inCols), fill, x);
    });
  },
};

export type OpName = keyof typeof OPS;
