// A model that `train` saved (a run folder or its model.safetensors), loaded for a set of images:
// its metadata read first (the dataset it was trained on, its input normalisation), then checked
// against the images, so that a mismatch reads as one, not as a shape error deep in libtorch.
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { ImageSet } from '../data/index.js';
import { loadClassifier, type Classifier } from '../nn/index.js';
import { checkNormalization } from '../ssl/index.js';
import type { Normalization } from '../data/tensors.js';
import { loadSafetensors, type Device } from '../tensor/index.js';

export interface TrainedModelFile {
  file: string;
  metadata: Record<string, string>;
  /** The dataset the model was trained on, when its metadata says. */
  dataset?: string;
}

/** The model file of a run folder (or the file itself) and its metadata. */
export function readModelFile(path: string): TrainedModelFile {
  if (!existsSync(path)) throw new Error(`${path} does not exist`);
  const file = statSync(path).isDirectory() ? join(path, 'model.safetensors') : path;
  if (!existsSync(file)) throw new Error(`${path}: no model.safetensors in this folder (a run folder of \`train\`?)`);
  const { tensors, metadata } = loadSafetensors(file);
  for (const t of Object.values(tensors)) t.dispose();
  if (!metadata.norm)
    throw new Error(`${file}: its metadata has no input normalisation ('norm'): not a model of \`train\``);
  const config = metaJson<{ dataset?: string }>(file, metadata, 'config') ?? {};
  return { file, metadata, dataset: config.dataset };
}

/** A JSON entry of a model's metadata, with an error that names the file and the key. */
function metaJson<T>(file: string, metadata: Record<string, string>, key: string): T | undefined {
  if (metadata[key] === undefined) return undefined;
  try {
    return JSON.parse(metadata[key]) as T;
  } catch {
    throw new Error(`${file}: its metadata '${key}' is not JSON`);
  }
}

/** The classifier and its input normalisation, for these images (`what` names them in errors). */
export function loadTrainedModel(
  m: TrainedModelFile,
  set: ImageSet,
  what: string,
  device: Device,
): { model: Classifier; norm: Normalization } {
  const channels = metaJson<{ mean?: unknown[] }>(m.file, m.metadata, 'norm')?.mean?.length;
  if (channels !== set.channels) {
    throw new Error(
      `${m.file}: the model takes ${String(channels)}-channel images, ${what} has ${set.channels}-channel ones`,
    );
  }
  const norm = checkNormalization(m.metadata.norm, set.channels, m.file);
  try {
    const { model } = loadClassifier(m.file, {
      numClasses: set.numClasses,
      inChannels: set.channels,
      imageSize: set.height,
      device,
    });
    return { model, norm };
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new Error(
      `${m.file}: its weights do not fit ${set.height}×${set.width}×${set.channels} images of ${set.numClasses} classes: ${why}`,
    );
  }
}
