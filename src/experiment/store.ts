// The result store: one SQLite file (WAL) holding experiments, their trials with status and
// timings, each finished trial's result, its per-epoch curves and where its artifacts are. Trials
// are keyed by their config hash, so a trial shared by two experiments is computed once, and a
// result is inserted at most once (a second completion of the same trial changes nothing).
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { FIELD_NAMES, type TrialConfig, type TrialField } from './config.js';
import type { PlannedTrial } from './spec.js';
import { openDatabase, type Database } from './sqlite.js';
import type { TrialResult } from './trial.js';
import type { RunOutcome } from './victim.js';

export type TrialStatus = 'queued' | 'running' | 'done' | 'failed';
export const TRIAL_STATUSES: TrialStatus[] = ['queued', 'running', 'done', 'failed'];

/** A stored result: the trial's result without the per-epoch curves (those are in `curves`). */
export type StoredResult = Omit<TrialResult, 'clean' | 'poisoned'> & {
  clean: Omit<RunOutcome, 'epochs'>;
  poisoned: Omit<RunOutcome, 'epochs'>;
};

export interface StoredTrial {
  id: string;
  dirName: string;
  config: TrialConfig;
  status: TrialStatus;
  attempts: number;
  worker: string | null;
  error: string | null;
  startedAt: string | null;
  finishedAt: string | null;
  seconds: number | null;
  result: StoredResult | null;
}

export interface CurvePoint {
  run: 'clean' | 'poisoned' | 'defended';
  epochIndex: number;
  epoch: number;
  step: number;
  testAccuracy: number | null;
  /** Share of the main bridge labeled y* after this epoch (poisoned run). */
  bridgeDesired: number | null;
  metrics: Record<string, number>;
}

export interface GroupCount {
  /** The group's value of each grouping field. */
  key: Partial<Record<TrialField, unknown>>;
  trials: number;
  done: number;
  failed: number;
  successes: number;
  /** Done trials with a defense, and their successes after it. */
  defended: number;
  defendedSuccesses: number;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS experiments (
  name TEXT PRIMARY KEY,
  spec_file TEXT,
  description TEXT,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS trials (
  id TEXT PRIMARY KEY,
  dir_name TEXT NOT NULL,
  config TEXT NOT NULL,
  status TEXT NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'running', 'done', 'failed')),
  attempts INTEGER NOT NULL DEFAULT 0,
  worker TEXT,
  error TEXT,
  created_at TEXT NOT NULL,
  started_at TEXT,
  finished_at TEXT,
  seconds REAL
);
CREATE TABLE IF NOT EXISTS experiment_trials (
  experiment TEXT NOT NULL REFERENCES experiments(name),
  trial_id TEXT NOT NULL REFERENCES trials(id),
  position INTEGER NOT NULL,
  PRIMARY KEY (experiment, trial_id)
);
CREATE TABLE IF NOT EXISTS results (
  trial_id TEXT PRIMARY KEY REFERENCES trials(id),
  success INTEGER NOT NULL,
  defended_success INTEGER,
  metrics TEXT NOT NULL,
  stored_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS curves (
  trial_id TEXT NOT NULL REFERENCES trials(id),
  run TEXT NOT NULL,
  epoch_index INTEGER NOT NULL,
  epoch INTEGER NOT NULL,
  step INTEGER NOT NULL,
  test_accuracy REAL,
  bridge_desired REAL,
  metrics TEXT NOT NULL,
  PRIMARY KEY (trial_id, run, epoch_index)
);
CREATE TABLE IF NOT EXISTS artifacts (
  trial_id TEXT NOT NULL REFERENCES trials(id),
  kind TEXT NOT NULL,
  path TEXT NOT NULL,
  PRIMARY KEY (trial_id, kind)
);
`;

interface TrialRow {
  id: string;
  dir_name: string;
  config: string;
  status: TrialStatus;
  attempts: number;
  worker: string | null;
  error: string | null;
  started_at: string | null;
  finished_at: string | null;
  seconds: number | null;
  metrics: string | null;
}

const now = (): string => new Date().toISOString();

function withoutEpochs(run: RunOutcome): Omit<RunOutcome, 'epochs'> {
  const { epochs: _epochs, ...rest } = run;
  return rest;
}

export class Store {
  private constructor(private readonly db: Database) {}

  /** Opens (creating if needed) the store at `path`. */
  static open(path: string): Store {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    const db = openDatabase(path, { timeout: 10_000 });
    db.pragma('journal_mode = WAL');
    db.pragma('foreign_keys = ON');
    db.exec(SCHEMA);
    return new Store(db);
  }

  close(): void {
    this.db.close();
  }

  /** Records an experiment as this list of trials; trials already stored (by id) keep their status and result. */
  addExperiment(
    name: string,
    trials: PlannedTrial[],
    info: { specFile?: string; description?: string | null } = {},
  ): { added: number; existing: number } {
    return this.db.transaction(() => {
      const t = now();
      this.db
        .prepare(
          `INSERT INTO experiments (name, spec_file, description, created_at, updated_at) VALUES (?, ?, ?, ?, ?)
           ON CONFLICT(name) DO UPDATE SET spec_file = excluded.spec_file, description = excluded.description,
             updated_at = excluded.updated_at`,
        )
        .run(name, info.specFile ?? null, info.description ?? null, t, t);
      const insertTrial = this.db.prepare(
        'INSERT INTO trials (id, dir_name, config, created_at) VALUES (?, ?, ?, ?) ON CONFLICT(id) DO NOTHING',
      );
      // The experiment is its current grid: trials dropped from the spec leave it (their results stay stored).
      this.db.prepare('DELETE FROM experiment_trials WHERE experiment = ?').run(name);
      const link = this.db.prepare('INSERT INTO experiment_trials (experiment, trial_id, position) VALUES (?, ?, ?)');
      let added = 0;
      trials.forEach((p, position) => {
        added += insertTrial.run(p.id, p.dirName, JSON.stringify(p.config), t).changes;
        link.run(name, p.id, position);
      });
      return { added, existing: trials.length - added };
    })();
  }

  /** The experiment's trials not done yet, in grid order. */
  pending(experiment: string): PlannedTrial[] {
    const rows = this.db
      .prepare(
        `SELECT t.id, t.dir_name, t.config FROM trials t JOIN experiment_trials e ON e.trial_id = t.id
         WHERE e.experiment = ? AND t.status != 'done' ORDER BY e.position`,
      )
      .all(experiment) as Pick<TrialRow, 'id' | 'dir_name' | 'config'>[];
    return rows.map((r) => ({ id: r.id, dirName: r.dir_name, config: JSON.parse(r.config) as TrialConfig }));
  }

  isDone(id: string): boolean {
    return this.db.prepare('SELECT 1 FROM results WHERE trial_id = ?').get(id) !== undefined;
  }

  /** A worker started the trial (one more attempt). */
  markRunning(id: string, worker: string): void {
    this.db
      .prepare(
        `UPDATE trials SET status = 'running', attempts = attempts + 1, worker = ?, started_at = ?, error = NULL
         WHERE id = ? AND status != 'done'`,
      )
      .run(worker, now(), id);
  }

  /** An interrupted trial goes back to the queue (its run folders let the next attempt resume). */
  requeue(id: string): void {
    this.db.prepare(`UPDATE trials SET status = 'queued' WHERE id = ? AND status = 'running'`).run(id);
  }

  markFailed(id: string, error: string, worker: string | null = null): void {
    this.db
      .prepare(
        `UPDATE trials SET status = 'failed', error = ?, worker = COALESCE(?, worker), finished_at = ?
         WHERE id = ? AND status != 'done'`,
      )
      .run(error, worker, now(), id);
  }

  /** Stores a finished trial's result, curves and artifacts; false (and nothing changes) when it was stored already. */
  complete(id: string, result: TrialResult, worker: string | null = null): boolean {
    return this.db.transaction(() => {
      if (this.db.prepare('SELECT 1 FROM trials WHERE id = ?').get(id) === undefined) {
        throw new Error(`store: no trial ${id}`);
      }
      const stored: StoredResult = {
        ...result,
        clean: withoutEpochs(result.clean),
        poisoned: withoutEpochs(result.poisoned),
        defense: result.defense && {
          ...result.defense,
          run: result.defense.run && (withoutEpochs(result.defense.run) as RunOutcome),
        },
      };
      const inserted = this.db
        .prepare(
          `INSERT INTO results (trial_id, success, defended_success, metrics, stored_at) VALUES (?, ?, ?, ?, ?)
           ON CONFLICT(trial_id) DO NOTHING`,
        )
        .run(
          id,
          result.success ? 1 : 0,
          result.defense ? (result.defense.success ? 1 : 0) : null,
          JSON.stringify(stored),
          now(),
        );
      if (inserted.changes === 0) return false;
      const curve = this.db.prepare(
        `INSERT INTO curves (trial_id, run, epoch_index, epoch, step, test_accuracy, bridge_desired, metrics)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      );
      const runs: [CurvePoint['run'], RunOutcome | null | undefined][] = [
        ['clean', result.clean],
        ['poisoned', result.poisoned],
        ['defended', result.defense?.run],
      ];
      for (const [run, outcome] of runs) {
        outcome?.epochs.forEach((e, i) => {
          const labels = run === 'poisoned' ? result.propagation.epochs[i]?.labels : undefined;
          const bridge = labels?.length ? labels.filter((l) => l === result.desired).length / labels.length : null;
          curve.run(id, run, i, e.epoch, e.step, e.testAccuracy, bridge, JSON.stringify(e.metrics));
        });
      }
      const artifact = this.db.prepare('INSERT OR REPLACE INTO artifacts (trial_id, kind, path) VALUES (?, ?, ?)');
      const paths: [string, string | undefined][] = [
        ['trial', result.dir],
        ['poisons', join(result.dir, 'poisons')],
        ['clean', result.clean.dir],
        ['poisoned', result.poisoned.dir],
        ['predictions', join(result.poisoned.dir, 'predictions.npy')],
        ['defended', result.defense?.run?.dir],
        // The seed comparison's further runs (the first seed's are the clean and defended runs above).
        ...(result.defense?.seeds ?? []).slice(1).flatMap((s): [string, string][] => [
          [`clean-seed${s.seed}`, s.clean.dir],
          [`defended-seed${s.seed}`, s.defended.dir],
        ]),
      ];
      for (const [kind, path] of paths) if (path) artifact.run(id, kind, path);
      this.db
        .prepare(
          `UPDATE trials SET status = 'done', error = NULL, worker = COALESCE(?, worker), finished_at = ?, seconds = ?
           WHERE id = ?`,
        )
        .run(worker, now(), result.seconds, id);
      return true;
    })();
  }

  /** The experiment's trials in grid order, with their results. */
  trials(experiment: string): StoredTrial[] {
    const rows = this.db
      .prepare(
        `SELECT t.*, r.metrics FROM trials t JOIN experiment_trials e ON e.trial_id = t.id
         LEFT JOIN results r ON r.trial_id = t.id WHERE e.experiment = ? ORDER BY e.position`,
      )
      .all(experiment) as TrialRow[];
    return rows.map((r) => ({
      id: r.id,
      dirName: r.dir_name,
      config: JSON.parse(r.config) as TrialConfig,
      status: r.status,
      attempts: r.attempts,
      worker: r.worker,
      error: r.error,
      startedAt: r.started_at,
      finishedAt: r.finished_at,
      seconds: r.seconds,
      result: r.metrics === null ? null : (JSON.parse(r.metrics) as StoredResult),
    }));
  }

  /** How many of the experiment's trials are in each status. */
  counts(experiment: string): Record<TrialStatus, number> {
    const out = Object.fromEntries(TRIAL_STATUSES.map((s) => [s, 0])) as Record<TrialStatus, number>;
    const rows = this.db
      .prepare(
        `SELECT t.status, COUNT(*) AS n FROM trials t JOIN experiment_trials e ON e.trial_id = t.id
         WHERE e.experiment = ? GROUP BY t.status`,
      )
      .all(experiment) as { status: TrialStatus; n: number }[];
    for (const r of rows) out[r.status] = r.n;
    return out;
  }

  /** Trials, done, failed and successes per combination of the given config fields (e.g. the grid's axes). */
  groupedCounts(experiment: string, fields: TrialField[]): GroupCount[] {
    for (const f of fields) if (!FIELD_NAMES.includes(f)) throw new Error(`store: unknown trial field '${f}'`);
    // Field names are checked against the trial fields above, so they are safe inside the SQL.
    const keys = fields.map((f) => `json_extract(t.config, '$.${f}')`);
    const select = keys.map((k, i) => `${k} AS k${i}`);
    const rows = this.db
      .prepare(
        `SELECT ${select.map((s) => `${s},`).join(' ')}
           COUNT(*) AS trials,
           SUM(t.status = 'done') AS done,
           SUM(t.status = 'failed') AS failed,
           COALESCE(SUM(r.success), 0) AS successes,
           COALESCE(SUM(r.defended_success IS NOT NULL), 0) AS defended,
           COALESCE(SUM(r.defended_success), 0) AS defended_successes
         FROM trials t JOIN experiment_trials e ON e.trial_id = t.id LEFT JOIN results r ON r.trial_id = t.id
         WHERE e.experiment = ? ${keys.length ? `GROUP BY ${keys.join(', ')} ORDER BY MIN(e.position)` : ''}`,
      )
      .all(experiment) as Record<string, unknown>[];
    return rows
      .filter((r) => Number(r.trials) > 0)
      .map((r) => ({
        key: Object.fromEntries(fields.map((f, i) => [f, r[`k${i}`]])),
        trials: Number(r.trials),
        done: Number(r.done),
        failed: Number(r.failed),
        successes: Number(r.successes),
        defended: Number(r.defended),
        defendedSuccesses: Number(r.defended_successes),
      }));
  }

  curves(trialId: string): CurvePoint[] {
    const rows = this.db
      .prepare(
        `SELECT run, epoch_index, epoch, step, test_accuracy, bridge_desired, metrics FROM curves
         WHERE trial_id = ? ORDER BY run, epoch_index`,
      )
      .all(trialId) as {
      run: CurvePoint['run'];
      epoch_index: number;
      epoch: number;
      step: number;
      test_accuracy: number | null;
      bridge_desired: number | null;
      metrics: string;
    }[];
    return rows.map((r) => ({
      run: r.run,
      epochIndex: r.epoch_index,
      epoch: r.epoch,
      step: r.step,
      testAccuracy: r.test_accuracy,
      bridgeDesired: r.bridge_desired,
      metrics: JSON.parse(r.metrics) as Record<string, number>,
    }));
  }

  artifacts(trialId: string): Record<string, string> {
    const rows = this.db.prepare('SELECT kind, path FROM artifacts WHERE trial_id = ?').all(trialId) as {
      kind: string;
      path: string;
    }[];
    return Object.fromEntries(rows.map((r) => [r.kind, r.path]));
  }

  /** Every experiment with its trial counts. */
  experiments(): { name: string; specFile: string | null; counts: Record<TrialStatus, number> }[] {
    const rows = this.db.prepare('SELECT name, spec_file FROM experiments ORDER BY created_at').all() as {
      name: string;
      spec_file: string | null;
    }[];
    return rows.map((r) => ({ name: r.name, specFile: r.spec_file, counts: this.counts(r.name) }));
  }
}
