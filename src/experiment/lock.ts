// An exclusive lock on a run folder, so that two trials sharing a clean run (in two local processes
// or on two machines over shared storage) never train into the same folder at once. The lock is a
// sibling file created with O_EXCL; its holder touches it periodically, and a lock whose holder
// died (same host: the process is gone; other host: no heartbeat for staleMs) is taken over.
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname } from 'node:path';

export interface LockOptions {
  /** A lock untouched for this long is abandoned (holders on other hosts). */
  staleMs?: number;
  heartbeatMs?: number;
  pollMs?: number;
}

export interface RunLock {
  release(): void;
}

interface Holder {
  host: string;
  pid: number;
}

const DEFAULTS = { staleMs: 5 * 60_000, heartbeatMs: 15_000, pollMs: 500 };

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function abandoned(path: string, staleMs: number): boolean {
  let holder: Holder;
  let mtime: number;
  try {
    holder = JSON.parse(readFileSync(path, 'utf8')) as Holder;
    mtime = statSync(path).mtimeMs;
  } catch {
    // Unreadable or half-written by its creator a moment ago: judge it on the next poll.
    return false;
  }
  if (holder.host === hostname()) return !alive(holder.pid);
  return Date.now() - mtime > staleMs;
}

/** Takes the lock on `dir` if it is free (or abandoned); null when another live process holds it. */
export function tryLock(dir: string, opts: LockOptions = {}): RunLock | null {
  const { staleMs, heartbeatMs } = { ...DEFAULTS, ...opts };
  const path = `${dir}.lock`;
  mkdirSync(dirname(path), { recursive: true });
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(path, JSON.stringify({ host: hostname(), pid: process.pid } satisfies Holder), { flag: 'wx' });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      if (attempt === 0 && abandoned(path, staleMs)) {
        rmSync(path, { force: true });
        continue;
      }
      return null;
    }
    const beat = setInterval(() => {
      const now = new Date();
      if (existsSync(path)) utimesSync(path, now, now);
    }, heartbeatMs);
    beat.unref();
    return {
      release() {
        clearInterval(beat);
        rmSync(path, { force: true });
      },
    };
  }
  return null;
}

/** Waits until the lock on `dir` is free and takes it. */
export async function lockRun(dir: string, opts: LockOptions = {}): Promise<RunLock> {
  const pollMs = opts.pollMs ?? DEFAULTS.pollMs;
  for (;;) {
    const lock = tryLock(dir, opts);
    if (lock) return lock;
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}
