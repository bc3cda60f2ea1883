// A forked process that runs trials (child.ts), so that training never blocks the parent's event
// loop (progress display, signal handling, BullMQ's lock renewal) and each process has its own
// libtorch thread pool.
import { fork, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { extname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Device } from '../tensor/index.js';
import type { TrialConfig } from './config.js';
import type { TrialProgress, TrialResult } from './trial.js';
import type { RunOutcome } from './victim.js';

export interface TrialProcessOptions {
  /** Root of the run folders. */
  dir: string;
  threads?: number;
  device?: Device;
  dataDir?: string;
}

/** A whole trial, or only its clean run (trained beside the poisoned run in another process). */
export interface ChildRequest {
  type: 'run' | 'clean';
  config: TrialConfig;
  options: TrialProcessOptions;
}

export type ChildMessage =
  | { type: 'progress'; progress: TrialProgress }
  | { type: 'done'; result: TrialResult }
  | { type: 'clean-done'; outcome: RunOutcome }
  | { type: 'failed'; error: string };

const here = fileURLToPath(import.meta.url);
const entry = fileURLToPath(new URL(`./child${extname(here)}`, import.meta.url));
// Sources run through tsx (bin/semipoison.js, vitest); the child needs the same loader.
const execArgv = entry.endsWith('.ts')
  ? ['--import', pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href]
  : [];

interface Pending {
  resolve: (r: TrialResult | RunOutcome) => void;
  reject: (e: Error) => void;
  onProgress?: (p: TrialProgress) => void;
}

export class TrialProcess {
  private readonly child: ChildProcess;
  private pending: Pending | null = null;
  private exited = false;

  constructor() {
    this.child = fork(entry, [], { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.child.on('message', (m: ChildMessage) => {
      if (m.type === 'progress') this.pending?.onProgress?.(m.progress);
      else if (m.type === 'done') this.settle((p) => p.resolve(m.result));
      else if (m.type === 'clean-done') this.settle((p) => p.resolve(m.outcome));
      else if (m.type === 'failed') this.settle((p) => p.reject(new Error(m.error)));
    });
    this.child.on('exit', (code, signal) => {
      this.exited = true;
      this.settle((p) => p.reject(new Error(`the trial process exited (${signal ?? `code ${code}`})`)));
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get alive(): boolean {
    return !this.exited;
  }

  get busy(): boolean {
    return this.pending !== null;
  }

  private settle(fn: (p: Pending) => void): void {
    const p = this.pending;
    this.pending = null;
    if (p) fn(p);
  }

  /** Runs one trial in the process; rejects with the trial's error, or if the process dies. */
  run(
    config: TrialConfig,
    options: TrialProcessOptions,
    onProgress?: (p: TrialProgress) => void,
  ): Promise<TrialResult> {
    return this.request('run', config, options, onProgress) as Promise<TrialResult>;
  }

  /** Trains only the trial's clean run (progress comes as phase 'clean'). */
  runClean(
    config: TrialConfig,
    options: TrialProcessOptions,
    onProgress?: (p: TrialProgress) => void,
  ): Promise<RunOutcome> {
    return this.request('clean', config, options, onProgress) as Promise<RunOutcome>;
  }

  private request(
    type: ChildRequest['type'],
    config: TrialConfig,
    options: TrialProcessOptions,
    onProgress?: (p: TrialProgress) => void,
  ): Promise<TrialResult | RunOutcome> {
    if (this.exited) return Promise.reject(new Error('the trial process has exited'));
    if (this.pending) return Promise.reject(new Error('the trial process is busy'));
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject, onProgress };
      this.child.send({ type, config, options } satisfies ChildRequest);
    });
  }

  /** Ends the process now (an interrupted trial resumes from its checkpoints later). */
  kill(signal: NodeJS.Signals = 'SIGTERM'): void {
    if (!this.exited) this.child.kill(signal);
  }

  /** Lets an idle process exit (it leaves when its IPC channel closes). */
  close(): void {
    if (!this.exited && this.child.connected) this.child.disconnect();
  }

  /** Resolves once the process has exited. */
  exit(): Promise<void> {
    return this.exited ? Promise.resolve() : new Promise((resolve) => this.child.once('exit', () => resolve()));
  }
}
