// Local execution: a pool of forked trial processes, each with its own libtorch threads, working
// through an experiment's unfinished trials; this process alone writes the store. Stopping (Ctrl-C,
// SIGTERM, an aborted signal) ends the trial processes and puts their trials back in the queue:
// finished trials stay stored, interrupted ones resume from their checkpoints on the next run.
import type { Device } from '../tensor/index.js';
import type { ExecutionEvent, ExecutionSummary } from './execution.js';
import { TrialProcess } from './process.js';
import type { Store } from './store.js';

export interface LocalOptions {
  /** Trial processes running at once. */
  workers: number;
  /** libtorch threads of each process. */
  threads: number;
  /** Root of the run folders. */
  runsDir: string;
  device?: Device;
  dataDir?: string;
  signal?: AbortSignal;
  onEvent?: (e: ExecutionEvent) => void;
}

/** Runs the experiment's trials that are not done yet; resolves when all ran or the signal stopped them. */
export async function runLocal(store: Store, experiment: string, opts: LocalOptions): Promise<ExecutionSummary> {
  if (!Number.isInteger(opts.workers) || opts.workers < 1)
    throw new Error(`workers must be at least 1, got ${opts.workers}`);
  const queue = store.pending(experiment);
  const summary: ExecutionSummary = { done: 0, failed: 0, interrupted: 0 };
  const processes: TrialProcess[] = [];
  const stop = (): void => processes.forEach((p) => p.kill());
  if (opts.signal?.aborted) return summary;
  opts.signal?.addEventListener('abort', stop, { once: true });
  const options = { dir: opts.runsDir, threads: opts.threads, device: opts.device, dataDir: opts.dataDir };

  const slot = async (k: number): Promise<void> => {
    while (queue.length && !opts.signal?.aborted) {
      const trial = queue.shift()!;
      if (!processes[k]?.alive) processes[k] = new TrialProcess();
      const proc = processes[k];
      const worker = `local:${proc.pid}`;
      store.markRunning(trial.id, worker);
      opts.onEvent?.({ type: 'start', id: trial.id, worker });
      try {
        const result = await proc.run(trial.config, options, (progress) =>
          opts.onEvent?.({ type: 'progress', id: trial.id, progress }),
        );
        const stored = store.complete(trial.id, result, worker);
        summary.done++;
        opts.onEvent?.({ type: 'done', id: trial.id, result, stored });
      } catch (err) {
        if (opts.signal?.aborted) {
          store.requeue(trial.id);
          summary.interrupted++;
        } else {
          const error = (err as Error).message;
          store.markFailed(trial.id, error, worker);
          summary.failed++;
          opts.onEvent?.({ type: 'failed', id: trial.id, error });
        }
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(opts.workers, queue.length) }, (_, k) => slot(k)));
  } finally {
    opts.signal?.removeEventListener('abort', stop);
    processes.forEach((p) => p.close());
    await Promise.all(processes.map((p) => p.exit()));
  }
  return summary;
}
