// Experiment specs: a YAML or JSON file declaring a grid of trials. Every trial field may be a
// value (fixed) or a list (an axis); `trials: N` repeats each combination with seeds seed..seed+N−1;
// `grids` lists sub-grids merged over the top-level fields (e.g. one per algorithm, with its own
// params). The file is checked against a JSON Schema generated from the trial fields, and every
// error names the file, line and field.
import { readFileSync } from 'node:fs';
import { basename, extname } from 'node:path';
import { Ajv, type ErrorObject } from 'ajv';
import { isMap, isScalar, LineCounter, parseDocument, type Document } from 'yaml';
import {
  ConfigError,
  FIELD_NAMES,
  resolveTrialConfig,
  trialDirName,
  trialId,
  TRIAL_FIELDS,
  type JsonSchema,
  type TrialConfig,
} from './config.js';

type Fields = Record<string, unknown>;

export interface ExperimentSpec {
  name: string;
  description: string | null;
  file: string;
  /** Top-level fields (values or axes), `trials` included. */
  base: Fields;
  /** Sub-grids merged over `base`; empty for a single grid. */
  grids: Fields[];
  /** Line and column of a path in the file, for error messages. */
  locate(path: (string | number)[]): { line: number; col: number } | null;
}

export interface PlannedTrial {
  id: string;
  /** The trial's run folder name (readable prefix + id). */
  dirName: string;
  config: TrialConfig;
}

export class SpecError extends Error {
  constructor(
    readonly file: string,
    readonly line: number | null,
    readonly field: string | null,
    readonly detail: string,
  ) {
    super(`${file}${line !== null ? `:${line}` : ''}: ${field ? `${field}: ` : ''}${detail}`);
  }
}

const axis = (schema: JsonSchema): JsonSchema => ({ anyOf: [schema, { type: 'array', items: schema, minItems: 1 }] });
const fieldSchemas = Object.fromEntries(FIELD_NAMES.map((f) => [f, axis(TRIAL_FIELDS[f].schema)]));
const trialsSchema = { type: 'integer', minimum: 1 };

/** The JSON Schema of a spec file (also usable by editors). */
export const SPEC_SCHEMA: JsonSchema = {
  type: 'object',
  properties: {
    name: { type: 'string', pattern: '^[A-Za-z0-9._-]+$' },
    description: { type: 'string' },
    trials: trialsSchema,
    grids: {
      type: 'array',
      minItems: 1,
      items: { type: 'object', properties: { ...fieldSchemas, trials: trialsSchema }, additionalProperties: false },
    },
    ...fieldSchemas,
  },
  additionalProperties: false,
};

const validate = new Ajv({ allErrors: true, allowUnionTypes: true }).compile(SPEC_SCHEMA);

function pointerPath(e: ErrorObject): (string | number)[] {
  const parts = e.instancePath
    .split('/')
    .slice(1)
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((p) => (/^\d+$/.test(p) ? Number(p) : p));
  if (e.keyword === 'additionalProperties') parts.push(String(e.params.additionalProperty));
  return parts;
}

function fieldName(path: (string | number)[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i ? `.${p}` : p)).join('') || '(top level)';
}

/**
 * Of ajv's errors, the one that explains most. Each field is "a value or a list of values" (anyOf):
 * only the branch matching what was written (a list or not) is kept, then the deepest error wins.
 */
function bestError(errors: ErrorObject[], value: unknown): ErrorObject {
  const at = (path: (string | number)[]): unknown =>
    path.reduce<unknown>((v, k) => (v as Record<string | number, unknown> | undefined)?.[k], value);
  const kept = errors.filter((e) => {
    if (e.keyword === 'anyOf') return false;
    const branch = errors.find((a) => a.keyword === 'anyOf' && e.schemaPath.startsWith(`${a.schemaPath}/`));
    if (!branch) return true;
    const listBranch = e.schemaPath.startsWith(`${branch.schemaPath}/1/`);
    return listBranch === Array.isArray(at(pointerPath(branch)));
  });
  return kept.sort((a, b) => pointerPath(b).length - pointerPath(a).length)[0] ?? errors[0];
}

function describe(e: ErrorObject): string {
  if (e.keyword === 'additionalProperties') return 'unknown field';
  if (e.keyword === 'enum') return `must be one of ${(e.params.allowedValues as unknown[]).join(', ')}`;
  return e.message ?? 'is invalid';
}

function locator(doc: Document, counter: LineCounter): ExperimentSpec['locate'] {
  return (path) => {
    for (let n = path.length; n >= 0; n--) {
      const parent = n > 0 ? doc.getIn(path.slice(0, n - 1), true) : null;
      // A key's own position reads better than its value's (and exists for unknown fields).
      const key =
        n > 0 && isMap(parent)
          ? parent.items.find((p) => isScalar(p.key) && p.key.value === path[n - 1])?.key
          : undefined;
      const node = (isScalar(key) ? key : null) ?? (n > 0 ? doc.getIn(path.slice(0, n), true) : doc.contents);
      const range = (node as { range?: [number, number, number] } | null)?.range;
      if (range) return counter.linePos(range[0]);
    }
    return null;
  };
}

/** Parses and validates a spec's text; `file` names it in errors and gives the default name. */
export function parseSpec(text: string, file: string): ExperimentSpec {
  const counter = new LineCounter();
  const doc = parseDocument(text, { lineCounter: counter });
  if (doc.errors.length) {
    const e = doc.errors[0];
    throw new SpecError(file, e.linePos?.[0].line ?? null, null, e.message.split('\n')[0]);
  }
  const value = doc.toJS() as unknown;
  const locate = locator(doc, counter);
  if (!validate(value)) {
    const e = bestError(validate.errors ?? [], value);
    const path = pointerPath(e);
    throw new SpecError(file, locate(path)?.line ?? null, fieldName(path), describe(e));
  }
  const { name, description, grids, ...base } = value as Fields & {
    name?: string;
    description?: string;
    grids?: Fields[];
  };
  return {
    name: name ?? basename(file, extname(file)),
    description: description ?? null,
    file,
    base,
    grids: grids ?? [],
    locate,
  };
}

export function loadSpec(path: string): ExperimentSpec {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new SpecError(path, null, null, `cannot read the spec (${(err as NodeJS.ErrnoException).code ?? err})`);
  }
  return parseSpec(text, path);
}

function product(axes: [string, unknown[]][]): Fields[] {
  return axes.reduce<Fields[]>(
    (combos, [key, values]) => combos.flatMap((c) => values.map((v) => ({ ...c, [key]: v }))),
    [{}],
  );
}

/** Every trial of the spec, resolved, in grid order, each once (by id). */
export function expandGrid(spec: ExperimentSpec): PlannedTrial[] {
  const entries = spec.grids.length ? spec.grids.map((g, i) => ({ fields: { ...spec.base, ...g }, grid: i })) : [];
  if (!entries.length) entries.push({ fields: spec.base, grid: -1 });
  const out = new Map<string, PlannedTrial>();
  for (const { fields, grid } of entries) {
    const where = (field: string): (string | number)[] =>
      grid >= 0 && field in spec.grids[grid] ? ['grids', grid, field] : field in spec.base ? [field] : [];
    const fail = (field: string, detail: string): never => {
      throw new SpecError(spec.file, spec.locate(where(field))?.line ?? null, field, detail);
    };
    const { trials, ...rest } = fields as Fields & { trials?: number };
    if (trials !== undefined) {
      if (Array.isArray(rest.seed)) fail('seed', 'give one seed with trials: N (the trials take seed, seed+1, …)');
      const first = (rest.seed as number | undefined) ?? 0;
      rest.seed = Array.from({ length: trials }, (_, k) => first + k);
    }
    const axes = Object.entries(rest).map(([k, v]): [string, unknown[]] => [k, Array.isArray(v) ? v : [v]]);
    for (const combo of product(axes)) {
      let config: TrialConfig;
      try {
        config = resolveTrialConfig(combo as Partial<TrialConfig>);
      } catch (err) {
        if (err instanceof ConfigError) return fail(err.field, err.detail);
        throw err;
      }
      const id = trialId(config);
      if (!out.has(id)) out.set(id, { id, dirName: trialDirName(config), config });
    }
  }
  return [...out.values()];
}

/** The fields whose values differ between trials (the grid's effective axes), in field order. */
export function varyingFields(trials: PlannedTrial[]): (keyof TrialConfig)[] {
  return FIELD_NAMES.filter((f) => new Set(trials.map((t) => JSON.stringify(t.config[f]))).size > 1);
}
