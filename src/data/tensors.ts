// Bridges image sets to tensors: uint8 NHWC batches to normalised float NCHW on a device.
import { tensor, tidy, type Device, type Tensor } from '../tensor/index.js';
import { imageSize, type ImageSet } from './imageset.js';

export interface Normalization {
  /** Per-channel mean and standard deviation of pixels scaled to [0, 1]. */
  mean: number[];
  std: number[];
}

/** Per-channel mean and std of a set's pixels in [0, 1] (the reference code normalises by these). */
export function channelStats(set: ImageSet): Normalization {
  const c = set.channels;
  const sum = new Float64Array(c);
  const sq = new Float64Array(c);
  const px = set.images;
  for (let i = 0; i < px.length; i++) {
    const v = px[i] / 255;
    sum[i % c] += v;
    sq[i % c] += v * v;
  }
  const n = px.length / c;
  const mean = Array.from(sum, (s) => s / n);
  const std = Array.from(sq, (s, k) => Math.sqrt(Math.max(s / n - mean[k] ** 2, 1e-12)));
  return { mean, std };
}

/** Gathers images (all, or the given indices) into a uint8 N×C×H×W tensor. */
export function imagesToUint8(set: ImageSet, indices?: ArrayLike<number>, device?: Device): Tensor {
  const size = imageSize(set);
  const n = indices ? indices.length : set.n;
  let bytes: Uint8Array;
  if (!indices) {
    bytes = set.images;
  } else {
    bytes = new Uint8Array(n * size);
    for (let k = 0; k < n; k++) {
      const i = indices[k];
      if (!(i >= 0 && i < set.n)) throw new Error(`imagesToUint8: index ${i} out of range for ${set.n} images`);
      bytes.set(set.images.subarray(i * size, (i + 1) * size), k * size);
    }
  }
  return tidy(() =>
    tensor(bytes, [n, set.height, set.width, set.channels], { dtype: 'uint8', device })
      .permute([0, 3, 1, 2])
      .contiguous(),
  );
}

/** Float images in [0, 1] (N×C×H×W) → (x − mean) / std per channel, the model's input space. */
export function standardize(x01: Tensor, norm: Normalization): Tensor {
  const c = x01.shape[1];
  if (norm.mean.length !== c || norm.std.length !== c) {
    throw new Error(`standardize: statistics for ${norm.mean.length} channels, images have ${c}`);
  }
  return tidy(() => {
    const dev = x01.device;
    const mean = tensor(norm.mean, [1, c, 1, 1], { device: dev });
    const std = tensor(norm.std, [1, c, 1, 1], { device: dev });
    return x01.sub(mean).div(std);
  });
}

/** uint8 N×C×H×W → float32, scaled to [0, 1] and normalised per channel. */
export function normalizeImages(u8: Tensor, norm: Normalization): Tensor {
  return tidy(() => standardize(u8.to('float32').div(255), norm));
}

/** Images (all, or at indices) as float32 N×C×H×W in [0, 1], the space augmentations work in. */
export function imagesToUnit(set: ImageSet, indices?: ArrayLike<number>, device?: Device): Tensor {
  return tidy(() => imagesToUint8(set, indices, device).to('float32').div(255));
}

/** Images as a normalised float32 N×C×H×W tensor. */
export function imagesToTensor(
  set: ImageSet,
  norm: Normalization,
  indices?: ArrayLike<number>,
  device?: Device,
): Tensor {
  return tidy(() => normalizeImages(imagesToUint8(set, indices, device), norm));
}

/** Labels (all, or at indices) as an int64 tensor. */
export function labelsToTensor(set: ImageSet, indices?: ArrayLike<number>, device?: Device): Tensor {
  if (!set.labels) throw new Error('labelsToTensor: the image set has no labels');
  const labels = set.labels;
  const n = indices ? indices.length : set.n;
  const out = new BigInt64Array(n);
  for (let k = 0; k < n; k++) out[k] = BigInt(labels[indices ? indices[k] : k]);
  return tensor(out, [n], { dtype: 'int64', device });
}
