// Typed hyperparameter schemas: each algorithm, attack and defense declares its parameters with
// defaults and a one-line description beside its code; configs are validated once, here.
export interface NumberParam {
  kind: 'number';
  default: number;
  description: string;
  min?: number;
  max?: number;
  integer?: boolean;
}
export interface BooleanParam {
  kind: 'boolean';
  default: boolean;
  description: string;
}
export interface ChoiceParam<C extends string = string> {
  kind: 'choice';
  default: C;
  choices: readonly C[];
  description: string;
}
export type Param = NumberParam | BooleanParam | ChoiceParam;
export type ParamSchema = Record<string, Param>;

/** The resolved values of a schema: numbers, booleans and the choices' string unions. */
export type ParamValues<S extends ParamSchema> = {
  [K in keyof S]: S[K] extends NumberParam
    ? number
    : S[K] extends BooleanParam
      ? boolean
      : S[K] extends ChoiceParam<infer C>
        ? C
        : never;
};

export function num(
  def: number,
  description: string,
  range: Omit<NumberParam, 'kind' | 'default' | 'description'> = {},
): NumberParam {
  return { kind: 'number', default: def, description, ...range };
}
export function bool(def: boolean, description: string): BooleanParam {
  return { kind: 'boolean', default: def, description };
}
export function choice<C extends string>(def: C, choices: readonly C[], description: string): ChoiceParam<C> {
  return { kind: 'choice', default: def, choices, description };
}

/** Fills defaults and validates overrides; `owner` names the algorithm or attack in errors. */
export function resolveParams<S extends ParamSchema>(
  owner: string,
  schema: S,
  overrides: Record<string, unknown> = {},
): ParamValues<S> {
  for (const key of Object.keys(overrides)) {
    if (!(key in schema)) {
      throw new Error(`${owner}: unknown parameter '${key}' (known: ${Object.keys(schema).join(', ') || 'none'})`);
    }
  }
  const out: Record<string, unknown> = {};
  for (const [key, p] of Object.entries(schema)) {
    const v = overrides[key] ?? p.default;
    if (p.kind === 'number') {
      if (typeof v !== 'number' || !Number.isFinite(v))
        throw new Error(`${owner}: ${key} must be a finite number, got ${String(v)}`);
      if (p.integer && !Number.isInteger(v)) throw new Error(`${owner}: ${key} must be an integer, got ${v}`);
      if (p.min !== undefined && v < p.min) throw new Error(`${owner}: ${key} must be >= ${p.min}, got ${v}`);
      if (p.max !== undefined && v > p.max) throw new Error(`${owner}: ${key} must be <= ${p.max}, got ${v}`);
    } else if (p.kind === 'boolean') {
      if (typeof v !== 'boolean') throw new Error(`${owner}: ${key} must be true or false, got ${String(v)}`);
    } else if (!p.choices.includes(v as string)) {
      throw new Error(`${owner}: ${key} must be one of ${p.choices.join(', ')}, got ${String(v)}`);
    }
    out[key] = v;
  }
  return out as ParamValues<S>;
}

/** Parses "key=value" strings from the command line against a schema's kinds. */
export function parseParamAssignments(
  owner: string,
  schema: ParamSchema,
  assignments: string[],
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const a of assignments) {
    const m = /^([A-Za-z_][\w]*)=(.*)$/.exec(a);
    if (!m) throw new Error(`${owner}: expected key=value, got '${a}'`);
    const [, key, raw] = m;
    const p = schema[key];
    if (!p) throw new Error(`${owner}: unknown parameter '${key}' (known: ${Object.keys(schema).join(', ')})`);
    if (p.kind === 'number') out[key] = raw.trim() === '' ? NaN : Number(raw);
    else if (p.kind === 'boolean') {
      if (raw !== 'true' && raw !== 'false') throw new Error(`${owner}: ${key} must be true or false, got '${raw}'`);
      out[key] = raw === 'true';
    } else out[key] = raw;
  }
  return out;
}
