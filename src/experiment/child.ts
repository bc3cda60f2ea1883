// The entry of a forked trial process: runs the trials (or only their clean runs) that its parent
// sends, one at a time, and reports progress and results over IPC. It never writes the store. It
// ignores Ctrl-C (the parent decides what an interruption means and ends it) and exits when the
// parent goes away.
import { runTrial, trainCleanRun, type TrialProgress } from './trial.js';
import type { ChildMessage, ChildRequest } from './process.js';

const PROGRESS_EVERY_MS = 250;

function send(message: ChildMessage): void {
  process.send?.(message);
}

if (!process.send) throw new Error('child.ts runs as a trial process forked by the experiment runner');
process.on('SIGINT', () => {});
process.on('disconnect', () => process.exit(0));
process.on('message', (request: ChildRequest) => {
  let last = 0;
  const progress = (p: TrialProgress): void => {
    const now = Date.now();
    if (now - last < PROGRESS_EVERY_MS && p.fraction < 1) return;
    last = now;
    send({ type: 'progress', progress: p });
  };
  const failed = (err: unknown): void =>
    send({ type: 'failed', error: err instanceof Error ? err.message : String(err) });
  if (request.type === 'clean') {
    trainCleanRun(request.config, {
      ...request.options,
      onStep: (step, steps) => progress({ phase: 'clean', step, steps, fraction: step / steps }),
    }).then((outcome) => send({ type: 'clean-done', outcome }), failed);
  } else {
    runTrial(request.config, { ...request.options, onProgress: progress }).then(
      (result) => send({ type: 'done', result }),
      failed,
    );
  }
});
