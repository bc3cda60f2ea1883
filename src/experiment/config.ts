// The trial config: one attack trial (split, victim training, poisons, target, optional defense) as
// plain data. Every field is declared once below with its JSON Schema, default and description;
// specs are validated against these schemas, and a resolved config (defaults and the algorithm's
// and variant's parameters filled in) is hashed into the trial's stable id.
import {
  DEFAULT_DENSITY,
  densityCdf,
  GAN_BRIDGE_PARAMS,
  resolveDensity,
  VARIANTS,
  type VariantName,
} from '../attack/index.js';
import { DATASETS, type DatasetName } from '../data/index.js';
import { DEFENSES, type DefenseName } from '../defense/index.js';
import { MODELS, type ModelName } from '../nn/index.js';
import { ALGORITHMS, type AlgorithmName } from '../ssl/index.js';
import { resolveBf16, type Device } from '../tensor/index.js';
import { num, resolveParams, type ParamSchema } from '../util/params.js';
import { configHash } from './hash.js';

export type Precision = 'auto' | 'bf16' | 'fp32';

/** Whether a trial of this precision trains with bfloat16 autocast on the device ('auto': where it is fast). */
export function usesBf16(precision: Precision, device: Device): boolean {
  return resolveBf16(precision === 'auto' ? 'auto' : precision === 'bf16', device);
}

/**
 * Variants that need a trained network before crafting, so they live at the trial level: the
 * GAN-latent bridge (section 4.2; a DC-GAN trained on the clean unlabeled set, shared by the trials
 * of a split) and the transfer-learning attack (section 4.3; θ_init is a model trained on the first
 * share of the unlabeled set, shared likewise; x′ = x* + δ with f_θinit(x′) = y*; the victim
 * fine-tunes from θ_init on the rest of the unlabeled set and the poisons).
 */
export const TRIAL_VARIANTS = {
  gan: {
    description: 'GAN-latent interpolation: the bridge runs through a DC-GAN latent space (section 4.2)',
    params: {
      ganSteps: num(2000, 'DC-GAN training steps on the clean unlabeled set', { min: 1, integer: true }),
      ...GAN_BRIDGE_PARAMS,
    },
  },
  transfer: {
    description: 'transfer learning: θ_init known to the attacker, x′ the nearest image it labels y* (section 4.3)',
    params: {
      pretrainSteps: num(3000, 'training steps of θ_init on the first share of the unlabeled set', {
        min: 1,
        integer: true,
      }),
      share: num(0.5, 'share of the unlabeled set that trains θ_init (the victim fine-tunes on the rest)', {
        min: 0.05,
        max: 0.95,
      }),
      lrScale: num(
        Math.cos((7 * Math.PI) / 16),
        "fine-tuning learning rate as a share of lr (default: where θ_init's cosine schedule ended, as resuming would)",
        { min: 0, max: 1 },
      ),
      margin: num(0.5, 'logit margin κ by which θ_init must prefer y* on x′ = x* + δ', { min: 0 }),
    },
  },
} satisfies Record<string, { description: string; params: ParamSchema }>;

export type TrialVariantName = VariantName | keyof typeof TRIAL_VARIANTS;

/** Every variant a trial can name, with its description and parameters. */
export function trialVariant(name: string): { description: string; params: ParamSchema } | undefined {
  if (Object.hasOwn(TRIAL_VARIANTS, name)) return TRIAL_VARIANTS[name as keyof typeof TRIAL_VARIANTS];
  if (Object.hasOwn(VARIANTS, name)) return VARIANTS[name as VariantName];
  return undefined;
}
export type TrialDefense = 'none' | DefenseName;

export interface TrialConfig {
  dataset: DatasetName;
  labels: number;
  unlabeled: number | null;
  algorithm: AlgorithmName;
  params: Record<string, unknown>;
  model: ModelName;
  width: number | null;
  steps: number;
  batch: number;
  uratio: number;
  epochImages: number;
  testEvery: number;
  lr: number;
  strongAugment: 'randaugment' | 'ctaugment';
  flip: boolean;
  precision: Precision;
  variant: TrialVariantName;
  variantParams: Record<string, unknown>;
  density: string;
  ratio: number | null;
  count: number | null;
  target: number | null;
  desired: number | null;
  source: number | null;
  defense: TrialDefense;
  defenseK: number;
  linkage: 'single' | 'average';
  flagZ: number;
  flagCount: number | null;
  flagThreshold: number | null;
  retrainSeeds: number;
  defenseRounds: number;
  splitSeed: number;
  trainSeed: number;
  seed: number;
}

export type TrialField = keyof TrialConfig;
export type JsonSchema = Record<string, unknown>;

export interface FieldSpec<T> {
  schema: JsonSchema;
  default: T;
  description: string;
}

const int = (minimum: number, nullable = false): JsonSchema => ({
  type: nullable ? ['integer', 'null'] : 'integer',
  minimum,
});
const oneOf = (values: readonly string[]): JsonSchema => ({ enum: [...values] });

export const TRIAL_FIELDS: { [K in TrialField]-?: FieldSpec<TrialConfig[K]> } = {
  dataset: { schema: oneOf(Object.keys(DATASETS)), default: 'fashion-mnist', description: 'dataset of the victim' },
  labels: { schema: int(1), default: 40, description: 'labeled examples, balanced over classes' },
  unlabeled: { schema: int(1, true), default: null, description: 'cap on the clean unlabeled set (null: all)' },
  algorithm: { schema: oneOf(Object.keys(ALGORITHMS)), default: 'fixmatch', description: 'training algorithm' },
  params: { schema: { type: 'object' }, default: {}, description: "the algorithm's hyperparameters" },
  model: { schema: oneOf(Object.keys(MODELS)), default: 'cnn', description: 'victim model' },
  width: { schema: int(1, true), default: 16, description: "model width (null: the model's default)" },
  steps: { schema: int(1), default: 3500, description: 'training steps of each victim run' },
  batch: { schema: int(1), default: 32, description: 'labeled batch size' },
  uratio: { schema: int(1), default: 3, description: 'unlabeled images per labeled one in a batch (μ)' },
  epochImages: { schema: int(1), default: 8192, description: 'training images per epoch (prediction-log period)' },
  testEvery: { schema: int(1), default: 1, description: 'test accuracy every this many epochs (and at the end)' },
  lr: { schema: { type: 'number', exclusiveMinimum: 0 }, default: 0.03, description: 'base learning rate' },
  strongAugment: {
    schema: oneOf(['randaugment', 'ctaugment']),
    default: 'randaugment',
    description: 'strong augmentation',
  },
  flip: { schema: { type: 'boolean' }, default: true, description: 'random horizontal flips in weak augmentation' },
  precision: { schema: oneOf(['auto', 'bf16', 'fp32']), default: 'auto', description: 'bfloat16 autocast' },
  variant: {
    schema: oneOf([...Object.keys(VARIANTS), ...Object.keys(TRIAL_VARIANTS)]),
    default: 'linear',
    description: 'attack variant',
  },
  variantParams: { schema: { type: 'object' }, default: {}, description: "the variant's parameters" },
  density: {
    schema: { type: 'string', minLength: 1 },
    default: DEFAULT_DENSITY,
    description: 'density of the bridge points (a Table 3 name or an expression in x)',
  },
  ratio: {
    schema: { type: ['number', 'null'], exclusiveMinimum: 0, maximum: 1 },
    default: 0.01,
    description: 'poisons as a share of the unlabeled set (default when count is not given)',
  },
  count: { schema: int(1, true), default: null, description: 'number of poisons (instead of ratio)' },
  target: { schema: int(0, true), default: null, description: 'test index of x* (null: drawn from seed)' },
  desired: { schema: int(0, true), default: null, description: 'label y* (null: drawn from seed)' },
  source: {
    schema: int(0, true),
    default: null,
    description: 'labeled index of x′ (null: drawn from seed among class y*)',
  },
  defense: {
    schema: oneOf(['none', ...Object.keys(DEFENSES)]),
    default: 'none',
    description: 'detector run on the poisoned unlabeled set; flagged examples are removed and the victim retrained',
  },
  defenseK: { schema: int(1), default: 5, description: 'neighbours averaged by the dynamics score' },
  linkage: { schema: oneOf(['single', 'average']), default: 'single', description: 'cluster linkage' },
  flagZ: {
    schema: { type: 'number', exclusiveMinimum: 0 },
    default: 5,
    description: 'automatic flag rule: robust z-score of the log-score',
  },
  flagCount: { schema: int(0, true), default: null, description: 'flag exactly this many examples instead' },
  flagThreshold: {
    schema: { type: ['number', 'null'] },
    default: null,
    description: 'flag scores beyond this instead',
  },
  retrainSeeds: {
    schema: int(1),
    default: 1,
    description:
      'training seeds (trainSeed, trainSeed + 1, …) of the unpoisoned and the defended victim whose clean accuracies are compared (Welch t-test)',
  },
  defenseRounds: {
    schema: int(1),
    default: 1,
    description:
      'scan what is left and remove again, up to this many rounds or until a round flags nothing (the dynamics detector retrains between rounds)',
  },
  splitSeed: { schema: int(0), default: 0, description: 'seed of the labeled/unlabeled split' },
  trainSeed: { schema: int(0), default: 0, description: 'seed of victim training (shared by clean and poisoned runs)' },
  seed: { schema: int(0), default: 0, description: 'trial seed: target, desired label, source and crafting' },
};

export const FIELD_NAMES = Object.keys(TRIAL_FIELDS) as TrialField[];

const DEFENSE_FIELDS: TrialField[] = [
  'defenseK',
  'linkage',
  'flagZ',
  'flagCount',
  'flagThreshold',
  'retrainSeeds',
  'defenseRounds',
];

/** Fields added after trials were first stored: at these values they stay out of the id. */
const LATER_FIELDS: Partial<TrialConfig> = { retrainSeeds: 1, defenseRounds: 1 };

/** A config value that cannot work, naming the field so a spec can point at its line. */
export class ConfigError extends Error {
  constructor(
    readonly field: TrialField,
    readonly detail: string,
  ) {
    super(`${field}: ${detail}`);
  }
}

export function isTrialField(name: string): name is TrialField {
  return Object.hasOwn(TRIAL_FIELDS, name);
}

/** Fills defaults and checks what the schemas cannot: parameters, density, budget. */
export function resolveTrialConfig(input: Partial<TrialConfig>): TrialConfig {
  for (const key of Object.keys(input)) {
    if (!isTrialField(key)) throw new Error(`unknown trial field '${key}'`);
  }
  const out = {} as Record<TrialField, unknown>;
  for (const name of FIELD_NAMES) {
    out[name] = input[name] !== undefined ? input[name] : structuredClone(TRIAL_FIELDS[name].default);
  }
  const c = out as unknown as TrialConfig;
  if (!Object.hasOwn(ALGORITHMS, c.algorithm)) throw new ConfigError('algorithm', `unknown '${c.algorithm}'`);
  const variant = trialVariant(c.variant);
  if (!variant) throw new ConfigError('variant', `unknown '${c.variant}'`);
  c.params = resolveWith('params', () => resolveParams(c.algorithm, ALGORITHMS[c.algorithm].params, c.params));
  c.variantParams = resolveWith('variantParams', () =>
    resolveParams(`variant ${c.variant}`, variant.params, c.variantParams),
  );
  resolveWith('density', () => densityCdf(resolveDensity(c.density), `density '${c.density}'`));
  if (input.count != null) {
    if (input.ratio != null) throw new ConfigError('count', 'give either ratio or count, not both');
    c.ratio = null;
  } else if (c.ratio == null) {
    throw new ConfigError('ratio', 'give ratio or count');
  }
  if (c.defense === 'none') {
    // Detector settings do not change an undefended trial, so they must not change its id either.
    for (const f of DEFENSE_FIELDS) out[f] = TRIAL_FIELDS[f].default;
  } else if (c.flagCount !== null && c.flagThreshold !== null) {
    throw new ConfigError('flagCount', 'give either flagCount or flagThreshold, not both');
  }
  return c;
}

function resolveWith<T>(field: TrialField, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw new ConfigError(field, (err as Error).message);
  }
}

/**
 * The stable id of a resolved config. Fields added later (`retrainSeeds`, `defenseRounds`) enter
 * it only away from their defaults, so trials stored before they existed keep their ids.
 */
export function trialId(config: TrialConfig): string {
  const hashed: Record<string, unknown> = { ...config };
  for (const [field, value] of Object.entries(LATER_FIELDS)) if (hashed[field] === value) delete hashed[field];
  return configHash(hashed);
}

/** A readable folder name for a resolved trial: its main axes, then its id. */
export function trialDirName(config: TrialConfig): string {
  const budget = config.count !== null ? `n${config.count}` : `r${config.ratio}`;
  const parts = [config.dataset, config.algorithm, config.variant, budget, config.defense, `s${config.seed}`];
  return `${parts.join('-')}-${trialId(config)}`.replace(/[^A-Za-z0-9._-]/g, '_');
}
