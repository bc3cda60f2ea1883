// Every training method by name: one place to add an algorithm.
import { fixmatch } from './fixmatch.js';
import { mixmatch } from './mixmatch.js';
import { uda } from './uda.js';
import { pseudoLabel } from './pseudo-label.js';
import { meanTeacher } from './mean-teacher.js';
import { piModel } from './pi-model.js';
import { vat } from './vat.js';
import { supervised } from './supervised.js';

export const ALGORITHMS = {
  fixmatch,
  mixmatch,
  uda,
  pseudo_label: pseudoLabel,
  mean_teacher: meanTeacher,
  pi_model: piModel,
  vat,
  supervised,
};

export type AlgorithmName = keyof typeof ALGORITHMS;

export function isAlgorithmName(name: string): name is AlgorithmName {
  return Object.hasOwn(ALGORITHMS, name);
}
