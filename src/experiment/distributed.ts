// Distributed execution on BullMQ queues over Redis. The coordinator enqueues an experiment's
// unfinished trials (job id = trial id, so a trial is never queued twice), listens for completions
// and alone writes the store. Stateless workers on any machine pull trials, run each in a forked
// trial process (so BullMQ's lock renewal never waits on training) and return the result as the
// job's return value. A worker that dies mid-trial stops renewing its lock; BullMQ's stalled-job
// check hands the trial to another worker, which resumes from the checkpoints when the run folders
// are on shared storage (and retrains from the start otherwise). Results are stored once per trial.
import { hostname } from 'node:os';
import { Job, Queue, QueueEvents, WaitingError, Worker } from 'bullmq';
import type { Device } from '../tensor/index.js';
import type { TrialConfig } from './config.js';
import type { ExecutionEvent, ExecutionSummary } from './execution.js';
import { TrialProcess } from './process.js';
import type { Store } from './store.js';
import type { TrialProgress, TrialResult } from './trial.js';

export const DEFAULT_QUEUE = 'semipoison-trials';

interface JobData {
  id: string;
  config: TrialConfig;
}

interface JobResult {
  result: TrialResult;
  worker: string;
}

export interface RedisTarget {
  /** redis://[user:password@]host:port[/db] */
  redis: string;
  queue?: string;
  /** How long to wait for Redis before giving up (ms). */
  connectTimeoutMs?: number;
}

export interface CoordinatorOptions extends RedisTarget {
  signal?: AbortSignal;
  onEvent?: (e: ExecutionEvent) => void;
}

export interface WorkerOptions extends RedisTarget {
  /** Root of the run folders; shared storage lets a retried trial resume where a dead worker left it. */
  runsDir: string;
  threads?: number;
  /** Trials this worker runs at once, each in its own process. */
  concurrency?: number;
  device?: Device;
  dataDir?: string;
  /**
   * Lock duration and stalled-job check period (ms): a dead worker's trial is retried after about
   * this long. Training runs in a child process, so a long step never delays the lock renewal.
   */
  stalledMs?: number;
  signal?: AbortSignal;
  onEvent?: (e: ExecutionEvent) => void;
  /** Called with the worker's name once it is connected and pulling trials. */
  onReady?: (name: string) => void;
}

/** BullMQ refuses integer-looking custom ids, which a hex hash can be. */
const jobId = (trialId: string): string => `trial-${trialId}`;
const trialOf = (job: string): string => job.replace(/^trial-/, '');

async function ready(target: RedisTarget, clients: { waitUntilReady(): Promise<unknown> }[]): Promise<void> {
  const ms = target.connectTimeoutMs ?? 10_000;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`cannot reach Redis at ${target.redis} within ${ms / 1000}s`)), ms);
  });
  try {
    await Promise.race([Promise.all(clients.map((c) => c.waitUntilReady())), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

const parseReturn = (v: unknown): JobResult => (typeof v === 'string' ? JSON.parse(v) : v) as JobResult;

/** Enqueues the experiment's unfinished trials and stores results as workers return them. */
export async function runDistributed(
  store: Store,
  experiment: string,
  opts: CoordinatorOptions,
): Promise<ExecutionSummary> {
  const summary: ExecutionSummary = { done: 0, failed: 0, interrupted: 0 };
  const pending = store.pending(experiment);
  if (!pending.length || opts.signal?.aborted) return summary;
  const name = opts.queue ?? DEFAULT_QUEUE;
  const connection = { url: opts.redis };
  const queue = new Queue<JobData, JobResult>(name, { connection });
  queue.on('error', () => {});
  await ready(opts, [queue]);
  // QueueEvents reads the event stream from the moment its first XREAD runs, which can be after a
  // worker already took a job. A marker entry appended before anything is enqueued gives the stream
  // position to read from, so no event is lost (a missed 'active' would undercount attempts).
  const lastEventId = await (
    await queue.getBackend().client
  ).xadd(queue.keys.events, '*', { event: 'semipoison:coordinator' });
  const events = new QueueEvents(name, { connection, lastEventId });
  // Connection errors surface through ready() and the awaited calls; the emitters must not throw them.
  events.on('error', () => {});
  const waiting = new Set(pending.map((t) => t.id));
  let finish!: () => void;
  const finished = new Promise<void>((resolve) => (finish = resolve));
  const settle = (id: string): void => {
    waiting.delete(id);
    if (!waiting.size) finish();
  };
  const done = (id: string, value: JobResult): void => {
    if (!waiting.has(id)) return;
    const stored = store.complete(id, value.result, value.worker);
    summary.done++;
    settle(id);
    opts.onEvent?.({ type: 'done', id, result: value.result, stored });
  };
  const failed = (id: string, error: string): void => {
    if (!waiting.has(id)) return;
    store.markFailed(id, error);
    summary.failed++;
    settle(id);
    opts.onEvent?.({ type: 'failed', id, error });
  };
  events.on('active', ({ jobId: j }) => {
    const id = trialOf(j);
    if (!waiting.has(id)) return;
    void Job.fromId<JobData, JobResult>(queue, j).then((job) => {
      const worker = job?.processedBy ?? 'remote';
      store.markRunning(id, worker);
      opts.onEvent?.({ type: 'start', id, worker });
    });
  });
  events.on('progress', ({ jobId: j, data }) => {
    const id = trialOf(j);
    if (waiting.has(id)) opts.onEvent?.({ type: 'progress', id, progress: data as unknown as TrialProgress });
  });
  events.on('completed', ({ jobId: j, returnvalue }) => done(trialOf(j), parseReturn(returnvalue)));
  events.on('failed', ({ jobId: j, failedReason }) => {
    // A failed attempt that will be retried is not the end of the trial.
    void Job.fromId(queue, j)
      .then((job) => job?.getState())
      .then((state) => state === 'failed' && failed(trialOf(j), failedReason));
  });
  const stop = (): void => finish();
  opts.signal?.addEventListener('abort', stop, { once: true });
  try {
    await ready(opts, [events]);
    for (const t of pending) {
      const existing = await Job.fromId<JobData, JobResult>(queue, jobId(t.id));
      const state = await existing?.getState();
      if (existing && state === 'completed') {
        // Finished while no coordinator was listening.
        done(t.id, parseReturn(existing.returnvalue));
        continue;
      }
      if (existing && state === 'failed') await existing.remove();
      else if (existing && state !== 'unknown') continue;
      store.requeue(t.id);
      await queue.add('trial', { id: t.id, config: t.config }, { jobId: jobId(t.id), attempts: 1 });
    }
    await finished;
  } finally {
    opts.signal?.removeEventListener('abort', stop);
    await Promise.allSettled([events.close(), queue.close()]);
  }
  for (const id of waiting) store.requeue(id);
  summary.interrupted = waiting.size;
  return summary;
}

/** Pulls trials from the queue and runs them until the signal stops it. */
export async function runWorker(opts: WorkerOptions): Promise<void> {
  const name = `${hostname()}:${process.pid}`;
  const stalledMs = opts.stalledMs ?? 30_000;
  const processes: TrialProcess[] = [];
  const options = { dir: opts.runsDir, threads: opts.threads, device: opts.device, dataDir: opts.dataDir };
  let stopping = false;
  const worker = new Worker<JobData, JobResult>(
    opts.queue ?? DEFAULT_QUEUE,
    async (job, token) => {
      const id = job.data.id;
      let proc = processes.find((p) => p.alive && !p.busy);
      if (!proc) processes.push((proc = new TrialProcess()));
      opts.onEvent?.({ type: 'start', id, worker: name });
      let last = 0;
      try {
        const result = await proc.run(job.data.config, options, (progress) => {
          opts.onEvent?.({ type: 'progress', id, progress });
          if (Date.now() - last < 1000 && progress.fraction < 1) return;
          last = Date.now();
          void job.updateProgress({ ...progress }).catch(() => {});
        });
        opts.onEvent?.({ type: 'done', id, result, stored: false });
        return { result, worker: name };
      } catch (err) {
        if (stopping) {
          // Back to the queue at once, for this worker's next start or another worker.
          await job.moveToWait(token);
          throw new WaitingError();
        }
        opts.onEvent?.({ type: 'failed', id, error: (err as Error).message });
        throw err;
      }
    },
    {
      connection: { url: opts.redis },
      concurrency: opts.concurrency ?? 1,
      name,
      lockDuration: stalledMs,
      stalledInterval: stalledMs,
      maxStalledCount: 3,
      autorun: false,
    },
  );
  worker.on('error', (e) => process.stderr.write(`worker: ${e.message}\n`));
  await ready(opts, [worker]);
  const running = worker.run();
  opts.onReady?.(name);
  await new Promise<void>((resolve) => {
    if (opts.signal?.aborted) resolve();
    opts.signal?.addEventListener('abort', () => resolve(), { once: true });
  });
  stopping = true;
  const closing = worker.close();
  processes.forEach((p) => p.kill());
  await closing;
  await running;
  await Promise.all(processes.map((p) => p.exit()));
}
