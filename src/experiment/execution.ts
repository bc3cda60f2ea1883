// What local and distributed execution report while they run a grid, and what they return.
import type { TrialProgress, TrialResult } from './trial.js';

export type ExecutionEvent =
  | { type: 'start'; id: string; worker: string }
  | { type: 'progress'; id: string; progress: TrialProgress }
  | { type: 'done'; id: string; result: TrialResult; stored: boolean }
  | { type: 'failed'; id: string; error: string };

export interface ExecutionSummary {
  /** Trials finished and stored by this run. */
  done: number;
  failed: number;
  /** Trials cut off by a stop request; they resume on the next run. */
  interrupted: number;
}
