// Batched augmentations (src/data/augment.ts, after the FixMatch reference's libml/augment.py and
// libml/ctaugment.py): every op kernel against values computed here in plain JS, the weak
// flip-and-shift against reflect-padded shifts, RandAugment and CTAugment sampling, MixUp, noise,
// seeding, bad inputs and memory.
import { describe, expect, it } from 'vitest';
import {
  AUGMENTATIONS,
  applyRandAugment,
  CTAugment,
  CTAUGMENT_OPS,
  ctaProximity,
  gaussianNoise,
  mixup,
  OPS,
  randAugment,
  sampleBeta,
  weakAugment,
  type CtaOp,
  type CtaPolicy,
} from '../../src/data/augment.js';
import { liveTensors, manualSeed, oneHot, rand, tensor, tidy, type Tensor } from '../../src/tensor/index.js';
import { expectClose } from '../helpers.js';

/** A batch whose pixel (i, c, y, x) is f(i, c, y, x), as float32. */
function image(shape: [number, number, number, number], f: (i: number, c: number, y: number, x: number) => number) {
  const [n, c, h, w] = shape;
  const data = new Float32Array(n * c * h * w);
  let k = 0;
  for (let i = 0; i < n; i++)
    for (let ch = 0; ch < c; ch++) for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) data[k++] = f(i, ch, y, x);
  return tensor(data, shape);
}

/** A pattern with no symmetry: every pixel of an image has a distinct value in (0, 1). */
const distinct = (shape: [number, number, number, number]) =>
  image(shape, (i, c, y, x) => (((i * 31 + c * 17 + y * shape[3] + x) % 97) + 1) / 100);

/** Reads pixel (i, c, y, x) of a flat N×C×H×W array. */
function at(data: Float32Array, shape: readonly number[], i: number, c: number, y: number, x: number): number {
  const [, cs, h, w] = shape;
  return data[((i * cs + c) * h + y) * w + x];
}

/** Same values exactly. */
function expectEqual(a: Tensor, b: Tensor, what = 'tensor'): void {
  expect([...a.shape], `${what} shape`).toEqual([...b.shape]);
  expect(Array.from(a.toFloat32()), what).toEqual(Array.from(b.toFloat32()));
}

function sameValues(a: Tensor, b: Tensor): boolean {
  const x = a.toFloat32();
  const y = b.toFloat32();
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

function expectInUnitRange(t: Tensor): void {
  const v = t.toFloat32();
  expect(v.every((p) => p >= 0 && p <= 1)).toBe(true);
}

describe('weakAugment', () => {
  it('flips every image exactly when the flip is forced and there is no shift', () => {
    tidy(() => {
      const x = distinct([3, 2, 5, 7]);
      expectEqual(weakAugment(x, { flipProbability: 1, translate: 0 }), x.flip([3]), 'forced flip');
      expectEqual(weakAugment(x, { flipProbability: 0, translate: 0 }), x, 'no flip');
    });
  });

  it('shifts every image by whole pixels within the pad, with reflection at the borders', () => {
    tidy(() => {
      manualSeed(3);
      const shape: [number, number, number, number] = [24, 2, 8, 8];
      const x = distinct(shape);
      const y = weakAugment(x, { flip: false, translate: 0.5 });
      const xs = x.toFloat32();
      const ys = y.toFloat32();
      const reflect = (k: number, n: number) => (k < 0 ? -k : k >= n ? 2 * (n - 1) - k : k);
      const seen = new Set<string>();
      for (let i = 0; i < shape[0]; i++) {
        let match: string | null = null;
        for (let dy = -4; dy <= 4 && !match; dy++) {
          for (let dx = -4; dx <= 4 && !match; dx++) {
            let ok = true;
            for (let c = 0; c < 2 && ok; c++)
              for (let r = 0; r < 8 && ok; r++)
                for (let q = 0; q < 8 && ok; q++) {
                  ok = at(ys, shape, i, c, r, q) === at(xs, shape, i, c, reflect(r + dy, 8), reflect(q + dx, 8));
                }
            if (ok) match = `${dy},${dx}`;
          }
        }
        expect(match, `image ${i} is no reflect-padded shift of its input`).not.toBeNull();
        seen.add(match!);
      }
      expect(seen.size).toBeGreaterThan(5);
    });
  });

  it('pads 32-pixel images by 4 pixels at the default translate, and draws per image', () => {
    tidy(() => {
      manualSeed(5);
      const x = distinct([2, 1, 32, 32]).narrow(0, 0, 1).repeat([16, 1, 1, 1]);
      const y = weakAugment(x);
      const ys = y.toFloat32();
      const firsts = new Set<number>();
      for (let i = 0; i < 16; i++) firsts.add(ys[i * 32 * 32 + 16 * 32 + 16]);
      expect(firsts.size).toBeGreaterThan(3);
      // the centre pixel moves at most 4 pixels (and flips about the centre column)
      const xs = x.toFloat32();
      const near = new Set<number>();
      for (let dy = -4; dy <= 4; dy++)
        for (let dx = -5; dx <= 4; dx++) near.add(xs[(16 + dy) * 32 + 16 + dx]).add(xs[(16 + dy) * 32 + 15 - dx]);
      for (const v of firsts) expect(near.has(v)).toBe(true);
    });
  });

  it('is reproducible under manualSeed and changes with the seed', () => {
    tidy(() => {
      const x = distinct([8, 3, 16, 16]);
      manualSeed(11);
      const a = weakAugment(x);
      manualSeed(11);
      const b = weakAugment(x);
      manualSeed(12);
      const c = weakAugment(x);
      expectEqual(a, b, 'same seed');
      expect(sameValues(a, c)).toBe(false);
    });
  });

  it('rejects bad inputs with clear errors', () => {
    tidy(() => {
      expect(() => weakAugment(rand([3, 8, 8]))).toThrow(/N×C×H×W/);
      expect(() => weakAugment(rand([1, 1, 8, 8]).mul(255).to('uint8'))).toThrow(/float32 or float64/);
      expect(() => weakAugment(rand([1, 1, 8, 8]), { translate: 1 })).toThrow(/smaller than the 8×8 image/);
      expect(() => weakAugment(rand([1, 1, 8, 8]), { flipProbability: 2 })).toThrow(/flipProbability/);
    });
  });
});

describe('op kernels', () => {
  it('identity copies the batch', () => {
    tidy(() => {
      const x = distinct([2, 3, 4, 5]);
      const y = OPS.identity(x);
      expectEqual(y, x);
      expect(y.sameAs(x)).toBe(false);
    });
  });

  it('solarize inverts the pixels at or above each image threshold', () => {
    tidy(() => {
      const shape: [number, number, number, number] = [2, 1, 4, 4];
      const x = distinct(shape);
      const xs = x.toFloat32();
      const ys = OPS.solarize(x, [0.3, 0.9]).toFloat32();
      xs.forEach((v, k) => {
        const t = k < 16 ? 0.3 : 0.9;
        expect(ys[k]).toBe(v >= Math.fround(t) ? Math.fround(1 - v) : v);
      });
    });
  });

  it('posterize keeps the top bits of the 8-bit value', () => {
    tidy(() => {
      const levels = Array.from({ length: 256 }, (_, k) => k);
      const x = tensor(
        levels.map((k) => k / 255),
        [1, 1, 16, 16],
      );
      for (const bits of [1, 3, 4, 8]) {
        const mask = 256 - 2 ** (8 - bits);
        const ys = OPS.posterize(x, bits).toFloat32();
        levels.forEach((k) => expect(ys[k]).toBeCloseTo((k & mask) / 255, 6));
      }
      expect(() => OPS.posterize(x, 2.5)).toThrow(/integer/);
      expect(() => OPS.posterize(x, 9)).toThrow(/\[1, 8\]/);
    });
  });

  it('autoContrast maps each image channel min to 0 and max to 1, flat channels unchanged', () => {
    tidy(() => {
      const shape: [number, number, number, number] = [2, 2, 3, 3];
      const x = image(shape, (i, c, y, xx) => (i === 1 && c === 1 ? 0.4 : 0.2 + 0.05 * (y * 3 + xx) + 0.1 * c));
      const xs = x.toFloat32();
      const ys = OPS.autoContrast(x).toFloat32();
      for (let i = 0; i < 2; i++) {
        for (let c = 0; c < 2; c++) {
          const vals = Array.from(xs.subarray((i * 2 + c) * 9, (i * 2 + c + 1) * 9));
          const out = Array.from(ys.subarray((i * 2 + c) * 9, (i * 2 + c + 1) * 9));
          const lo = Math.min(...vals);
          const hi = Math.max(...vals);
          if (hi === lo) expect(out).toEqual(vals);
          else vals.forEach((v, k) => expect(out[k]).toBeCloseTo((v - lo) / (hi - lo), 5));
        }
      }
    });
  });

  it('equalize reproduces PIL on a known histogram and leaves single-level channels alone', () => {
    tidy(() => {
      // 1024 pixels, 256 each at levels 10, 50, 100, 200: step = ⌊768/255⌋ = 3, lut = ⌊(1 + below)/3⌋
      const level = (y: number) => [10, 50, 100, 200][y >> 3];
      const x = image([2, 1, 32, 32], (i, _c, y) => (i === 0 ? level(y) : 77) / 255);
      const ys = OPS.equalize(x).toFloat32();
      const expected: Record<number, number> = { 10: 0, 50: 85, 100: 171, 200: 255 };
      for (let y = 0; y < 32; y++) expect(ys[y * 32 + 5]).toBeCloseTo(expected[level(y)] / 255, 6);
      expect(ys.subarray(1024).every((v) => v === Math.fround(77 / 255))).toBe(true);
    });
  });

  it('equalize matches a plain-JS port of PIL ImageOps.equalize per image and channel', () => {
    tidy(() => {
      const pilEqualize = (levels: number[]): number[] => {
        const h = new Array<number>(256).fill(0);
        for (const v of levels) h[v]++;
        const histo = h.filter((count) => count > 0);
        if (histo.length <= 1) return levels;
        const step = Math.floor((levels.length - histo[histo.length - 1]) / 255);
        if (step === 0) return levels;
        const lut: number[] = [];
        let n = Math.floor(step / 2);
        for (let i = 0; i < 256; i++) {
          lut.push(Math.min(255, Math.floor(n / step)));
          n += h[i];
        }
        return levels.map((v) => lut[v]);
      };
      manualSeed(19);
      const shape: [number, number, number, number] = [2, 3, 32, 32];
      // skewed histograms: levels 40–199 for image 0, 0–29 for image 1
      const u = rand(shape).toFloat32();
      const levels = Array.from(u, (v, k) => (k < 3072 ? 40 + Math.floor(v * v * 160) : Math.floor(v * 30)));
      const x = tensor(
        levels.map((v) => v / 255),
        shape,
      );
      const ys = OPS.equalize(x).toFloat32();
      for (let plane = 0; plane < 6; plane++) {
        const expected = pilEqualize(levels.slice(plane * 1024, (plane + 1) * 1024));
        expected.forEach((v, k) => expect(ys[plane * 1024 + k]).toBeCloseTo(v / 255, 6));
      }
    });
  });

  it('brightness 1 is the identity and 0 is black', () => {
    tidy(() => {
      const x = distinct([2, 3, 4, 4]);
      expectEqual(OPS.brightness(x, 1), x);
      expect(
        OPS.brightness(x, 0)
          .toFloat32()
          .every((v) => v === 0),
      ).toBe(true);
    });
  });

  it('contrast 0 is a flat image at the mean of the grayscale image; 1 is the identity', () => {
    tidy(() => {
      const shape: [number, number, number, number] = [2, 3, 4, 4];
      const x = distinct(shape);
      const xs = x.toFloat32();
      const ys = OPS.contrast(x, 0).toFloat32();
      for (let i = 0; i < 2; i++) {
        let mean = 0;
        for (let y = 0; y < 4; y++)
          for (let q = 0; q < 4; q++) {
            mean +=
              0.299 * at(xs, shape, i, 0, y, q) + 0.587 * at(xs, shape, i, 1, y, q) + 0.114 * at(xs, shape, i, 2, y, q);
          }
        mean /= 16;
        for (let k = i * 48; k < (i + 1) * 48; k++) expect(ys[k]).toBeCloseTo(mean, 5);
      }
      expectClose(OPS.contrast(x, 1), x, 1e-7, 0);
    });
  });

  it('color 0 is the grayscale image, and color leaves 1-channel images alone', () => {
    tidy(() => {
      const shape: [number, number, number, number] = [1, 3, 2, 2];
      const x = distinct(shape);
      const xs = x.toFloat32();
      const ys = OPS.color(x, 0).toFloat32();
      for (let k = 0; k < 4; k++) {
        const g = 0.299 * xs[k] + 0.587 * xs[4 + k] + 0.114 * xs[8 + k];
        for (let c = 0; c < 3; c++) expect(ys[c * 4 + k]).toBeCloseTo(g, 5);
      }
      const gray = distinct([2, 1, 3, 3]);
      expectEqual(OPS.color(gray, 0), gray);
    });
  });

  it('sharpness 0 is the SMOOTH filter with the border kept, 1 the identity', () => {
    tidy(() => {
      const shape: [number, number, number, number] = [1, 1, 5, 6];
      const x = distinct(shape);
      const xs = x.toFloat32();
      const ys = OPS.sharpness(x, 0).toFloat32();
      for (let y = 0; y < 5; y++) {
        for (let q = 0; q < 6; q++) {
          if (y === 0 || y === 4 || q === 0 || q === 5) {
            expect(ys[y * 6 + q]).toBeCloseTo(xs[y * 6 + q], 6);
            continue;
          }
          let s = 4 * xs[y * 6 + q];
          for (let a = -1; a <= 1; a++) for (let b = -1; b <= 1; b++) s += xs[(y + a) * 6 + q + b];
          expect(ys[y * 6 + q]).toBeCloseTo(s / 13, 5);
        }
      }
      expectClose(OPS.sharpness(x, 1), x, 1e-7, 0);
    });
  });

  it('translateX/Y by whole pixels move each image and fill with gray', () => {
    tidy(() => {
      const shape: [number, number, number, number] = [2, 3, 6, 8];
      const x = distinct(shape);
      const xs = x.toFloat32();
      const shifts = [2, -3];
      const tx = OPS.translateX(x, [2 / 8, -3 / 8]).toFloat32();
      const ty = OPS.translateY(x, [2 / 6, -3 / 6]).toFloat32();
      for (let i = 0; i < 2; i++)
        for (let c = 0; c < 3; c++)
          for (let y = 0; y < 6; y++)
            for (let q = 0; q < 8; q++) {
              const sx = q + shifts[i];
              const sy = y + shifts[i];
              expect(at(tx, shape, i, c, y, q)).toBe(sx >= 0 && sx < 8 ? at(xs, shape, i, c, y, sx) : 0.5);
              expect(at(ty, shape, i, c, y, q)).toBe(sy >= 0 && sy < 6 ? at(xs, shape, i, c, sy, q) : 0.5);
            }
    });
  });

  it('rotate by 0 is the identity and by ±90° on a square image is a transpose and flip', () => {
    tidy(() => {
      const x = distinct([3, 2, 6, 6]);
      const y = OPS.rotate(x, [90, -90, 0]);
      const t = x.transpose(2, 3);
      expectClose(y.narrow(0, 0, 1), t.flip([2]).narrow(0, 0, 1), 1e-6, 0, 'rotate 90° (counter-clockwise)');
      expectClose(y.narrow(0, 1, 1), t.flip([3]).narrow(0, 1, 1), 1e-6, 0, 'rotate −90°');
      expectEqual(y.narrow(0, 2, 1), x.narrow(0, 2, 1), 'rotate 0°');
    });
  });

  it('shearX follows PIL: input x = x + shear·y about the top-left corner, with fill', () => {
    tidy(() => {
      const shape: [number, number, number, number] = [1, 1, 4, 16];
      const x = distinct(shape);
      const xs = x.toFloat32();
      // pixel centres: (x + ½) + 2·(y + ½) = x + 2y + 1.5, inside pixel x + 2y + 1
      const ys = OPS.shearX(x, 2, 0.25).toFloat32();
      for (let y = 0; y < 4; y++)
        for (let q = 0; q < 16; q++) {
          const s = q + 2 * y + 1;
          expect(ys[y * 16 + q]).toBe(s < 16 ? xs[y * 16 + s] : 0.25);
        }
      expectEqual(OPS.shearY(x, 0), x, 'shear 0');
    });
  });

  it('cutout fills exactly one (clipped) square of gray per image', () => {
    tidy(() => {
      manualSeed(9);
      const shape: [number, number, number, number] = [20, 3, 10, 10];
      const x = image(shape, (i, c, y, q) => 0.1 + 0.003 * (i + c + y * 10 + q));
      const xs = x.toFloat32();
      const ys = OPS.cutout(x, 4).toFloat32();
      for (let i = 0; i < 20; i++) {
        const rows = new Set<number>();
        const cols = new Set<number>();
        let changed = 0;
        for (let c = 0; c < 3; c++)
          for (let y = 0; y < 10; y++)
            for (let q = 0; q < 10; q++) {
              const v = at(ys, shape, i, c, y, q);
              if (v === at(xs, shape, i, c, y, q)) continue;
              expect(v).toBe(0.5);
              changed++;
              rows.add(y);
              cols.add(q);
            }
        // a rectangle of 2–4 rows and columns, the same in every channel
        expect(rows.size).toBeGreaterThanOrEqual(2);
        expect(rows.size).toBeLessThanOrEqual(4);
        expect(cols.size).toBeGreaterThanOrEqual(2);
        expect(cols.size).toBeLessThanOrEqual(4);
        expect(changed).toBe(3 * rows.size * cols.size);
        expect(Math.max(...rows) - Math.min(...rows) + 1).toBe(rows.size);
        expect(Math.max(...cols) - Math.min(...cols) + 1).toBe(cols.size);
      }
    });
  });

  it('every kernel keeps shape and dtype, stays in [0, 1] and has no NaN', () => {
    tidy(() => {
      manualSeed(1);
      for (const dtype of ['float32', 'float64'] as const) {
        const x = rand([4, 3, 9, 9]).to(dtype);
        const params: Record<string, unknown[]> = {
          brightness: [1.7],
          color: [1.9],
          contrast: [1.9],
          sharpness: [1.9],
          posterize: [3],
          solarize: [0.5],
          rotate: [[30, -17, 45, 3]],
          shearX: [0.3],
          shearY: [-0.3],
          translateX: [0.3],
          translateY: [-0.3],
          rescale: [0.2],
          cutout: [5],
        };
        for (const [name, kernel] of Object.entries(OPS)) {
          const y = (kernel as (x: Tensor, ...p: unknown[]) => Tensor)(x, ...(params[name] ?? []));
          expect([...y.shape], name).toEqual([4, 3, 9, 9]);
          expect(y.dtype, name).toBe(dtype);
          expectInUnitRange(y);
        }
      }
    });
  });

  it('rejects bad inputs and parameters with clear errors', () => {
    tidy(() => {
      const x = rand([2, 1, 4, 4]);
      expect(() => OPS.rotate(rand([4, 4]), 10)).toThrow(/rotate: expected an N×C×H×W batch/);
      expect(() => OPS.equalize(x.to('int32'))).toThrow(/equalize: expected float32 or float64/);
      expect(() => OPS.brightness(x, [1, 2, 3])).toThrow(/one value per image \(2\), got 3/);
      expect(() => OPS.solarize(x, 1.5)).toThrow(/threshold must be in \[0, 1\]/);
      expect(() => OPS.contrast(x, Number.NaN)).toThrow(/must be finite/);
    });
  });
});

describe('randAugment', () => {
  it('keeps shape, dtype and [0, 1], with no NaN', () => {
    tidy(() => {
      manualSeed(2);
      for (const dtype of ['float32', 'float64'] as const) {
        const x = rand([32, 3, 16, 16]).to(dtype);
        const y = randAugment(x);
        expect([...y.shape]).toEqual([32, 3, 16, 16]);
        expect(y.dtype).toBe(dtype);
        expectInUnitRange(y);
      }
      const empty = rand([0, 3, 8, 8]);
      expect([...randAugment(empty).shape]).toEqual([0, 3, 8, 8]);
      expect([...weakAugment(empty).shape]).toEqual([0, 3, 8, 8]);
      expect([...new CTAugment().apply(empty, []).shape]).toEqual([0, 3, 8, 8]);
    });
  });

  it('draws its own ops and magnitudes for every image', () => {
    tidy(() => {
      manualSeed(4);
      const x = rand([1, 3, 16, 16]).repeat([2, 1, 1, 1]);
      const y = randAugment(x, { cutout: 0, probability: 1 });
      expect(sameValues(y.narrow(0, 0, 1), y.narrow(0, 1, 1))).toBe(false);
    });
  });

  it('is reproducible under manualSeed and changes with the seed', () => {
    tidy(() => {
      const x = distinct([16, 3, 16, 16]);
      manualSeed(21);
      const a = randAugment(x);
      manualSeed(21);
      const b = randAugment(x);
      manualSeed(22);
      const c = randAugment(x);
      expectEqual(a, b, 'same seed');
      expect(sameValues(a, c)).toBe(false);
    });
  });

  it('runs a batch of hand-written policies exactly as the kernels one by one', () => {
    tidy(() => {
      const x = distinct([5, 3, 8, 8]);
      const y = applyRandAugment(x, [
        [
          { op: 'rotate', params: [90] },
          { op: 'solarize', params: [0.5] },
        ],
        [{ op: 'translateX', params: [0.25] }],
        [
          { op: 'solarize', params: [0.2] },
          { op: 'shearY', params: [-0.2] },
        ],
        [],
        [
          { op: 'posterize', params: [4] },
          { op: 'identity', params: [] },
        ],
      ]);
      const one = (i: number) => x.narrow(0, i, 1);
      expectEqual(y.narrow(0, 0, 1), OPS.solarize(OPS.rotate(one(0), 90), 0.5), 'image 0');
      expectEqual(y.narrow(0, 1, 1), OPS.translateX(one(1), 0.25), 'image 1');
      expectEqual(y.narrow(0, 2, 1), OPS.shearY(OPS.solarize(one(2), 0.2), -0.2), 'image 2');
      expectEqual(y.narrow(0, 3, 1), one(3), 'image 3');
      expectEqual(y.narrow(0, 4, 1), OPS.posterize(one(4), 4), 'image 4');
    });
  });

  it('rejects bad options and policies with clear errors', () => {
    tidy(() => {
      const x = rand([2, 3, 8, 8]);
      expect(() => randAugment(x, { magnitude: 1.5 })).toThrow(/magnitude .* must be a number in \[0, 1\], got 1.5/);
      expect(() => randAugment(x, { magnitude: -0.1 })).toThrow(/magnitude/);
      expect(() => randAugment(x, { n: 1.5 })).toThrow(/n must be a non-negative integer/);
      expect(() => randAugment(x, { cutout: 2 })).toThrow(/cutout must be a number in \[0, 1\]/);
      expect(() => randAugment(rand([3, 8, 8]))).toThrow(/N×C×H×W/);
      expect(() => randAugment(x.to('int64'))).toThrow(/float32 or float64/);
      expect(() => applyRandAugment(x, [[{ op: 'zoom' as 'rotate', params: [1] }], []])).toThrow(/unknown op 'zoom'/);
      expect(() => applyRandAugment(x, [[{ op: 'rotate', params: [] }], []])).toThrow(/takes 1 parameter/);
      expect(() => applyRandAugment(x, [[]])).toThrow(/1 policies for a batch of 2/);
    });
  });
});

describe('CTAugment', () => {
  const binOf = (level: number, bins: number) => Math.min(bins - 1, Math.floor(level * bins));

  it('moves the probed bins towards the proximity: rate·decay + proximity·(1 − decay)', () => {
    const cta = new CTAugment();
    const state = cta.state();
    state.rates.rotate = [new Array(17).fill(0.5)];
    cta.loadState(state);
    const policy: CtaPolicy = [
      { op: 'rotate', levels: [0.5] },
      { op: 'rescale', levels: [0.99, 0.2] },
    ];
    cta.update([policy], [1]);
    expect(cta.rates.rotate[0][8]).toBeCloseTo(0.5 * 0.99 + 0.01, 12);
    expect(cta.rates.rotate[0].filter((r) => r === 0.5)).toHaveLength(16);
    expect(cta.rates.rescale[0][16]).toBe(1);
    cta.update([policy, policy], [0, 0.5]);
    const r0 = 0.5 * 0.99 + 0.01;
    expect(cta.rates.rotate[0][8]).toBeCloseTo((r0 * 0.99 + 0) * 0.99 + 0.5 * 0.01, 12);
    expect(cta.rates.rescale[0][16]).toBeCloseTo(0.99 * 0.99 + 0.005, 12);
    expect(cta.rates.rescale[1][1]).toBeCloseTo(0.99 * 0.99 + 0.005, 12);
    expect(cta.rates.rescale[1][0]).toBe(1);
  });

  it('round-trips its state through JSON', () => {
    const a = new CTAugment({ depth: 3, threshold: 0.7, decay: 0.95 });
    manualSeed(6);
    const probes = a.sample(50, true);
    a.update(
      probes,
      probes.map((_, i) => (i % 5) / 4),
    );
    const b = new CTAugment();
    b.loadState(JSON.parse(JSON.stringify(a.state())));
    expect(b.state()).toEqual(a.state());
    manualSeed(7);
    const pa = a.sample(20);
    manualSeed(7);
    expect(b.sample(20)).toEqual(pa);
    const bad = a.state();
    bad.rates.posterize = [new Array(17).fill(1)];
    expect(() => b.loadState(bad)).toThrow(/op 'posterize' needs rates with bins \[8\]/);
  });

  it('never samples bins below the threshold for training, but probes every bin', () => {
    const cta = new CTAugment();
    const state = cta.state();
    // bin 2 of every parameter keeps weight 1, the others fall to 0.5: (0.5 + 0.01)/1.01 < 0.8
    for (const op of Object.keys(state.rates))
      state.rates[op] = state.rates[op].map((r) => r.map((_, j) => (j === 2 ? 1 : 0.5)));
    // all-equal weights (here all 0) leave every bin usable
    state.rates.rotate = [new Array(17).fill(0)];
    cta.loadState(state);
    manualSeed(8);
    const rotateBins = new Set<number>();
    const probeBins = new Set<number>();
    for (const policy of cta.sample(400)) {
      expect(policy).toHaveLength(2);
      for (const { op, levels } of policy) {
        levels.forEach((level, j) => {
          const bins = CTAUGMENT_OPS[op].bins[j];
          expect(level).toBeGreaterThanOrEqual(0);
          expect(level).toBeLessThan(1);
          if (op === 'rotate') rotateBins.add(binOf(level, bins));
          else expect(binOf(level, bins), `${op} parameter ${j}`).toBe(2);
        });
      }
    }
    expect(rotateBins.size).toBeGreaterThan(10);
    for (const policy of cta.sample(200, true)) {
      for (const { op, levels } of policy) if (op === 'shearX') probeBins.add(binOf(levels[0], 17));
    }
    expect(probeBins.size).toBeGreaterThan(3);
  });

  it('applies every op on a batch: shape, dtype, [0, 1], reproducible', () => {
    tidy(() => {
      const cta = new CTAugment();
      const ops = Object.keys(CTAUGMENT_OPS) as CtaOp[];
      const policies: CtaPolicy[] = [];
      for (const op of ops) {
        for (const level of [0, 0.37, 0.999]) {
          policies.push([{ op, levels: CTAUGMENT_OPS[op].bins.map(() => level) }]);
        }
      }
      manualSeed(10);
      const x = rand([policies.length, 3, 12, 12]);
      const y = cta.apply(x, policies);
      expect([...y.shape]).toEqual([...x.shape]);
      expect(y.dtype).toBe('float32');
      expectInUnitRange(y);
      manualSeed(13);
      const p = cta.sample(policies.length);
      manualSeed(14);
      const a = cta.apply(x, p);
      manualSeed(14);
      expectEqual(cta.apply(x, p), a, 'same seed');
      // the reference's conventions: rotate level 1 is +45°, blends at level 0 are the identity
      const one = x.narrow(0, 0, 1);
      expectEqual(cta.apply(one, [[{ op: 'rotate', levels: [1] }]]), OPS.rotate(one, 45, 0), 'rotate at level 1');
      expectClose(cta.apply(one, [[{ op: 'equalize', levels: [0] }]]), one, 1e-7, 0, 'equalize at level 0');
    });
  });

  it('computes proximity as 1 − ½·Σ|p − onehot(label)|', () => {
    tidy(() => {
      const probs = tensor([1, 0, 0, 0.5, 0.5, 0, 0, 0, 1], [3, 3]);
      const labels = tensor(BigInt64Array.from([0n, 0n, 1n]), [3], { dtype: 'int64' });
      const p = ctaProximity(probs, labels);
      expect(p[0]).toBeCloseTo(1, 6);
      expect(p[1]).toBeCloseTo(0.5, 6);
      expect(p[2]).toBeCloseTo(0, 6);
    });
  });

  it('keeps proximity in [0, 1] when a softmax sums to 1 only within rounding', () => {
    tidy(() => {
      // float32: 0.6 + 0.4000002 and 1 − 0.3 + 0.3000001 exceed their exact sums by an ulp or two.
      const probs = tensor([0, 0.6, 0.4000002, 0.7, 0.3000001, 0], [2, 3]);
      const labels = tensor(BigInt64Array.from([0n, 0n]), [2], { dtype: 'int64' });
      const raw = oneHot(labels, 3).sub(probs).abs().sum(1).mul(-0.5).add(1).toNumbers();
      expect(raw[0]).toBeLessThan(0);
      const p = ctaProximity(probs, labels);
      expect(p[0]).toBe(0);
      expect(p[1]).toBeGreaterThanOrEqual(0);
      expect(p[1]).toBeLessThanOrEqual(1);
      const cta = new CTAugment();
      expect(() => cta.update(cta.sample(2, true), p)).not.toThrow();
    });
  });

  it('rejects bad options, policies and updates', () => {
    expect(() => new CTAugment({ threshold: 1.5 })).toThrow(/threshold/);
    expect(() => new CTAugment({ decay: 1 })).toThrow(/decay/);
    const cta = new CTAugment();
    expect(() => cta.update([[{ op: 'rotate', levels: [0.5] }]], [0.5, 1])).toThrow(/1 policies but 2 proximities/);
    expect(() => cta.update([[{ op: 'rotate', levels: [0.5] }]], [2])).toThrow(/proximity must be in \[0, 1\]/);
    expect(() => cta.update([[{ op: 'rotate', levels: [0.5, 0.1] }]], [1])).toThrow(/has 1 parameter/);
    expect(() => cta.update([[{ op: 'toString' as CtaOp, levels: [] }]], [1])).toThrow(/unknown op 'toString'/);
    tidy(() => {
      expect(() => cta.apply(rand([1, 3, 8, 8]), [[{ op: 'rescale', levels: [0.5] }]])).toThrow(/takes 2 parameter/);
      expect(() => cta.apply(rand([1, 3, 8, 8]), [[{ op: 'rotate', levels: [1.5] }]])).toThrow(/levels in \[0, 1\]/);
    });
  });
});

describe('mixup and noise', () => {
  it('mixes each example with a partner by λ ≥ ½, reproducibly', () => {
    tidy(() => {
      const x = rand([8, 3, 4, 4]);
      const y = oneHot(tensor(BigInt64Array.from([0n, 1n, 2n, 3n, 0n, 1n, 2n, 3n]), [8], { dtype: 'int64' }), 4);
      manualSeed(15);
      const m = mixup(x, y, 0.75);
      manualSeed(15);
      const again = mixup(x, y, 0.75);
      expectEqual(again.x, m.x, 'same seed');
      const lam = m.lambda.toFloat32();
      expect(lam.every((l) => l >= 0.5 && l <= 1)).toBe(true);
      expect(new Set(lam).size).toBeGreaterThan(4);
      const idx = m.index.toNumbers();
      expect([...idx].sort()).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
      const l4 = m.lambda.reshape([8, 1, 1, 1]);
      const partner = x.indexSelect(0, m.index);
      expectClose(m.x, x.mul(l4).add(partner.mul(l4.neg().add(1))), 1e-6, 1e-5, 'mixed x');
      expectClose(m.y.sum(1), tensor(new Array(8).fill(1), [8]), 1e-6, 0, 'soft targets sum to 1');
      const shared = mixup(x, y, 0.75, { perExample: false, majority: false });
      expect(new Set(shared.lambda.toFloat32()).size).toBe(1);
      expect(() => mixup(x, tensor(BigInt64Array.from([0n]), [1], { dtype: 'int64' }), 0.75)).toThrow(/soft targets/);
      expect(() => mixup(x, y, 0)).toThrow(/alpha must be > 0/);
    });
  });

  it('samples Beta(α, α) with the right mean and variance', () => {
    tidy(() => {
      manualSeed(16);
      const b = sampleBeta(0.75, 20000);
      const mean = b.mean().item();
      const variance = b.sub(mean).square().mean().item();
      expect(mean).toBeCloseTo(0.5, 1);
      expect(Math.abs(variance - 1 / (4 * 2.5))).toBeLessThan(0.01);
    });
  });

  it('gaussianNoise adds N(0, std²) noise, reproducibly', () => {
    tidy(() => {
      const x = rand([16, 3, 16, 16]);
      manualSeed(17);
      const y = gaussianNoise(x, 0.1);
      manualSeed(17);
      expectEqual(gaussianNoise(x, 0.1), y, 'same seed');
      const d = y.sub(x);
      expect(d.mean().item()).toBeCloseTo(0, 2);
      expect(d.std().item()).toBeCloseTo(0.1, 2);
      expectEqual(gaussianNoise(x, 0), x, 'std 0');
      expect(() => gaussianNoise(x, -1)).toThrow(/std must be >= 0/);
    });
  });
});

describe('registry and memory', () => {
  it('every registered augmentation keeps shape and range', () => {
    tidy(() => {
      manualSeed(18);
      const x = rand([6, 3, 32, 32]);
      for (const [name, aug] of Object.entries(AUGMENTATIONS)) {
        for (const flip of [true, false]) {
          const y = aug.apply(x, { flip });
          expect([...y.shape], name).toEqual([6, 3, 32, 32]);
          expectInUnitRange(y);
        }
        expect(aug.description.length).toBeGreaterThan(10);
      }
    });
  });

  it('leaves no tensor behind', () => {
    const x = rand([12, 3, 16, 16]);
    const y = oneHot(
      tensor(
        BigInt64Array.from({ length: 12 }, (_, i) => BigInt(i % 3)),
        [12],
        { dtype: 'int64' },
      ),
      3,
    );
    const cta = new CTAugment();
    const run = () =>
      tidy(() => {
        weakAugment(x);
        randAugment(x);
        const p = cta.sample(12, true);
        cta.apply(x, p);
        cta.update(p, ctaProximity(y, y.argmax(1)));
        mixup(x, y, 0.75);
        gaussianNoise(x, 0.1);
        for (const aug of Object.values(AUGMENTATIONS)) aug.apply(x);
        for (const kernel of [OPS.equalize, OPS.autoContrast, OPS.blur]) kernel(x);
      });
    run();
    const before = liveTensors();
    run();
    expect(liveTensors()).toBe(before);
    const kept = randAugment(x);
    expect(liveTensors()).toBe(before + 1);
    kept.dispose();
    x.dispose();
    y.dispose();
  });
});
