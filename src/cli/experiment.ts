// `semipoison experiment run|status` and `semipoison worker`: expand a spec into trials, run the
// unfinished ones on a local pool or through Redis workers, and show where an experiment stands.
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { extname, join } from 'node:path';
import type { Command } from 'commander';
import {
  DEFAULT_QUEUE,
  expandGrid,
  loadSpec,
  runDistributed,
  runLocal,
  runWorker,
  Store,
  varyingFields,
  type ExecutionEvent,
  type ExecutionSummary,
  type PlannedTrial,
  type TrialField,
} from '../experiment/index.js';
import { checkDevice } from '../tensor/index.js';
import { int } from './options.js';
import { progressBar } from './progress.js';

export const DEFAULT_RUNS_DIR = join('runs', 'experiments');

interface RunFlags {
  store?: string;
  runsDir: string;
  workers: number;
  threads?: number;
  redis?: string;
  queue: string;
  device: string;
  dataDir?: string;
  dryRun: boolean;
}

interface StatusFlags {
  store?: string;
  runsDir: string;
  json: boolean;
}

interface WorkerFlags {
  redis: string;
  queue: string;
  runsDir: string;
  threads?: number;
  concurrency: number;
  device: string;
  dataDir?: string;
  stalledMs: number;
}

export const storePath = (f: { store?: string; runsDir: string }): string => f.store ?? join(f.runsDir, 'store.sqlite');

/** An AbortSignal fired by the first Ctrl-C or SIGTERM; a second Ctrl-C exits at once. */
function stopSignal(what: string): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const onSignal = (): void => {
    if (controller.signal.aborted) process.exit(130);
    process.stderr.write(`\nstopping: ${what} (Ctrl-C again to quit now)\n`);
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    signal: controller.signal,
    dispose() {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}

function table(rows: string[][]): string {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows.map((r) => r.map((cell, c) => cell.padEnd(widths[c])).join('  ')).join('\n');
}

const show = (v: unknown): string => (typeof v === 'string' ? v : JSON.stringify(v));

function gridTable(trials: PlannedTrial[], status: (t: PlannedTrial) => string): string {
  const axes = varyingFields(trials);
  return table([
    ['id', ...axes, 'status'],
    ...trials.map((t) => [t.id, ...axes.map((a) => show(t.config[a])), status(t)]),
  ]);
}

function groupTable(store: Store, experiment: string, fields: TrialField[]): string {
  const groups = store.groupedCounts(experiment, fields);
  const rate = (k: number, n: number): string => (n ? `${k}/${n} (${((100 * k) / n).toFixed(0)}%)` : '-');
  return table([
    [...fields, 'trials', 'done', 'failed', 'success', 'after defense'],
    ...groups.map((g) => [
      ...fields.map((f) => show(g.key[f])),
      String(g.trials),
      String(g.done),
      String(g.failed),
      rate(g.successes, g.done),
      rate(g.defendedSuccesses, g.defended),
    ]),
  ]);
}

/** A whole-grid progress bar with ETA: each trial counts 100 units, split by its share done. */
function gridProgress(total: number): { onEvent(e: ExecutionEvent): void; stop(): void } {
  const bar = progressBar('trials', total * 100, 'done {done} failed {failed}', 100);
  const running = new Map<string, number>();
  let finished = 0;
  let failed = 0;
  const update = (): void => {
    const partial = [...running.values()].reduce((a, b) => a + b, 0);
    bar.update(Math.round(100 * (finished + partial)), { done: finished - failed, failed });
  };
  return {
    onEvent(e) {
      if (e.type === 'start') running.set(e.id, 0);
      else if (e.type === 'progress') running.set(e.id, e.progress.fraction);
      else {
        running.delete(e.id);
        finished++;
        if (e.type === 'failed') failed++;
      }
      update();
    },
    stop: () => bar.stop(),
  };
}

function finish(summary: ExecutionSummary, store: Store, experiment: string, trials: PlannedTrial[]): void {
  const fields = varyingFields(trials).filter((f) => f !== 'seed');
  console.log(groupTable(store, experiment, fields));
  const counts = store.counts(experiment);
  console.log(
    `${experiment}: ${counts.done}/${trials.length} trials done (${summary.done} this run), ${counts.failed} failed`,
  );
  if (summary.interrupted) {
    throw new Error(`stopped: ${summary.interrupted} trials interrupted; run the same command again to resume them`);
  }
  if (counts.failed) {
    const errors = store
      .trials(experiment)
      .filter((t) => t.status === 'failed')
      .map((t) => `  ${t.id}: ${t.error}`);
    throw new Error(`${counts.failed} trials failed:\n${errors.slice(0, 10).join('\n')}`);
  }
}

/** Registers `experiment run|status` and `worker`. */
export function registerExperiment(program: Command): void {
  registerWorker(program);
  const experiment = program.command('experiment').description('run grids of attack trials declared in a spec');

  experiment
    .command('run')
    .description('run the unfinished trials of a spec (finished ones are never recomputed)')
    .argument('<spec>', 'a YAML or JSON spec')
    .option('--store <path>', 'the SQLite result store (default: <runs-dir>/store.sqlite)')
    .option('--runs-dir <dir>', 'root of the run folders', DEFAULT_RUNS_DIR)
    .option('--workers <n>', 'trial processes on this machine', int(1), 1)
    .option('--threads <n>', 'libtorch threads per trial process (default: cores / workers)', int(1))
    .option('--redis <url>', 'enqueue the trials on Redis for `semipoison worker`s instead of running them here')
    .option('--queue <name>', 'BullMQ queue name', DEFAULT_QUEUE)
    .option('--device <d>', "'cpu', 'cuda' or 'cuda:N'", 'cpu')
    .option('--data-dir <dir>', 'where the dataset files are (default: each dataset’s own folder)')
    .option('--dry-run', 'print the expanded grid and what is already done, run nothing', false)
    .action(async (specPath: string, f: RunFlags) => {
      const spec = loadSpec(specPath);
      const trials = expandGrid(spec);
      const path = storePath(f);
      if (f.dryRun) {
        const store = existsSync(path) ? Store.open(path) : null;
        const done = new Set(trials.filter((t) => store?.isDone(t.id)).map((t) => t.id));
        store?.close();
        console.log(gridTable(trials, (t) => (done.has(t.id) ? 'done' : 'to run')));
        console.log(
          `${spec.name}: ${trials.length} trials (axes: ${varyingFields(trials).join(', ') || 'none'}), ` +
            `${done.size} already done, ${trials.length - done.size} to run`,
        );
        return;
      }
      const device = checkDevice(f.device);
      const store = Store.open(path);
      try {
        store.addExperiment(spec.name, trials, { specFile: specPath, description: spec.description });
        const pending = store.pending(spec.name).length;
        const progress = gridProgress(pending);
        const stop = stopSignal(f.redis ? 'leaving queued trials to the workers' : 'interrupting running trials');
        let summary: ExecutionSummary;
        try {
          summary = f.redis
            ? await runDistributed(store, spec.name, {
                redis: f.redis,
                queue: f.queue,
                signal: stop.signal,
                onEvent: progress.onEvent,
              })
            : await runLocal(store, spec.name, {
                workers: f.workers,
                threads: f.threads ?? Math.max(1, Math.floor(availableParallelism() / f.workers)),
                runsDir: f.runsDir,
                device,
                dataDir: f.dataDir,
                signal: stop.signal,
                onEvent: progress.onEvent,
              });
        } finally {
          progress.stop();
          stop.dispose();
        }
        finish(summary, store, spec.name, trials);
      } finally {
        store.close();
      }
    });

  experiment
    .command('status')
    .description('trial counts and success rates of an experiment (a spec) or of every experiment in a store')
    .argument('<spec|store>', 'a YAML/JSON spec, or a .sqlite store')
    .option('--store <path>', 'the result store, for a spec (default: <runs-dir>/store.sqlite)')
    .option('--runs-dir <dir>', 'root of the run folders', DEFAULT_RUNS_DIR)
    .option('--json', 'print one JSON object', false)
    .action((target: string, f: StatusFlags) => {
      const isSpec = ['.yaml', '.yml', '.json'].includes(extname(target).toLowerCase());
      const path = isSpec ? storePath(f) : target;
      if (!existsSync(path)) throw new Error(`${path}: no result store there (nothing has run yet)`);
      const store = Store.open(path);
      try {
        if (!isSpec) {
          const all = store.experiments();
          if (f.json) console.log(JSON.stringify(all));
          else {
            console.log(
              table([
                ['experiment', 'queued', 'running', 'done', 'failed', 'spec'],
                ...all.map((e) => [
                  e.name,
                  ...[e.counts.queued, e.counts.running, e.counts.done, e.counts.failed].map(String),
                  e.specFile ?? '',
                ]),
              ]),
            );
          }
          return;
        }
        const spec = loadSpec(target);
        const trials = expandGrid(spec);
        const stored = new Map(store.trials(spec.name).map((t) => [t.id, t]));
        const fields = varyingFields(trials).filter((x) => x !== 'seed');
        if (f.json) {
          console.log(
            JSON.stringify({
              experiment: spec.name,
              trials: trials.length,
              counts: store.counts(spec.name),
              groups: store.groupedCounts(spec.name, fields),
              failed: [...stored.values()]
                .filter((t) => t.status === 'failed')
                .map((t) => ({ id: t.id, error: t.error })),
            }),
          );
          return;
        }
        console.log(gridTable(trials, (t) => stored.get(t.id)?.status ?? 'not queued'));
        console.log();
        console.log(groupTable(store, spec.name, fields));
        for (const t of stored.values()) if (t.status === 'failed') console.log(`failed ${t.id}: ${t.error}`);
      } finally {
        store.close();
      }
    });
}

function registerWorker(program: Command): void {
  program
    .command('worker')
    .description('pull trials from a Redis queue and run them (start any number, on any machines)')
    .requiredOption('--redis <url>', 'the coordinator’s Redis, e.g. redis://host:6379')
    .option('--queue <name>', 'BullMQ queue name', DEFAULT_QUEUE)
    .option(
      '--runs-dir <dir>',
      'root of the run folders: shared storage (the coordinator’s --runs-dir) lets a retried trial resume; ' +
        'otherwise only the results travel back',
      DEFAULT_RUNS_DIR,
    )
    .option('--threads <n>', 'libtorch threads per trial (default: cores / concurrency)', int(1))
    .option('--concurrency <n>', 'trials at once, each in its own process', int(1), 1)
    .option('--device <d>', "'cpu', 'cuda' or 'cuda:N'", 'cpu')
    .option('--data-dir <dir>', 'where the dataset files are (default: each dataset’s own folder)')
    .option('--stalled-ms <ms>', 'a dead worker’s trial is handed to another after about this long', int(100), 30_000)
    .action(async (f: WorkerFlags) => {
      const stop = stopSignal('handing running trials back to the queue');
      const log = (e: ExecutionEvent): void => {
        if (e.type === 'start') console.log(`start ${e.id}`);
        else if (e.type === 'done')
          console.log(`done ${e.id}: ${e.result.success ? 'success' : 'failure'} in ${e.result.seconds.toFixed(0)}s`);
        else if (e.type === 'failed') console.log(`failed ${e.id}: ${e.error}`);
      };
      try {
        await runWorker({
          redis: f.redis,
          queue: f.queue,
          runsDir: f.runsDir,
          threads: f.threads ?? Math.max(1, Math.floor(availableParallelism() / f.concurrency)),
          concurrency: f.concurrency,
          device: checkDevice(f.device),
          dataDir: f.dataDir,
          stalledMs: f.stalledMs,
          signal: stop.signal,
          onEvent: log,
          onReady: (name) => console.log(`worker ${name} pulling trials from ${f.queue} at ${f.redis}`),
        });
      } finally {
        stop.dispose();
      }
    });
}
