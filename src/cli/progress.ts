// Progress bars for long-running commands (one place, so every command looks the same).
import cliProgress from 'cli-progress';

export interface Progress {
  update(value: number, payload?: Record<string, string | number>): void;
  stop(): void;
}

/**
 * A bar with ETA on stderr; in a non-TTY (CI, pipes, nohup logs) it prints a line every 10% with the
 * elapsed time and, once it has moved, the time left at the rate since its first update (a resumed
 * run's first value is its start). With `scale`, the bar advances in 1/scale steps of an item (a
 * trial's share done) and shows counts in items.
 */
export function progressBar(title: string, total: number, fields = '', scale = 1): Progress {
  const items = (v: number): string => (scale === 1 ? String(v) : String(Math.round((10 * v) / scale) / 10));
  if (!process.stderr.isTTY) {
    let lastDecile = -1;
    const start = Date.now();
    let first: number | null = null;
    return {
      update(value, payload = {}) {
        first ??= value;
        const decile = Math.floor((10 * value) / Math.max(total, 1));
        if (decile === lastDecile) return;
        lastDecile = decile;
        const extra = Object.entries(payload)
          .map(([k, v]) => `${k} ${v}`)
          .join(' ');
        const elapsed = (Date.now() - start) / 1000;
        const left = value > first && value < total ? (elapsed * (total - value)) / (value - first) : null;
        const eta = left === null ? '' : `, ETA ${formatDuration(left)}`;
        process.stderr.write(`${title}: ${items(value)}/${items(total)} ${extra} (${elapsed.toFixed(0)}s${eta})\n`);
      },
      stop() {},
    };
  }
  const bar = new cliProgress.SingleBar(
    {
      format: `${title.padEnd(18)} {bar} {percentage}% | {value}/{total} | ETA {eta_formatted}${fields ? ` | ${fields}` : ''}`,
      hideCursor: true,
      stream: process.stderr,
      etaBuffer: 50,
      formatValue: (v: number, _o: unknown, type: string) =>
        type === 'value' || type === 'total' ? items(v) : String(v),
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0);
  return {
    update: (value, payload) => bar.update(value, payload),
    stop: () => bar.stop(),
  };
}

/** 75 → '1m15s', 3700 → '1h01m', 42 → '42s'. */
export function formatDuration(seconds: number): string {
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** Bars that may advance at the same time (e.g. two runs trained side by side), drawn together. */
export interface ProgressGroup {
  bar(title: string, total: number): Progress;
  stop(): void;
}

export function progressGroup(): ProgressGroup {
  if (!process.stderr.isTTY) return { bar: (title, total) => progressBar(title, total), stop() {} };
  const multi = new cliProgress.MultiBar(
    {
      format: `{title} {bar} {percentage}% | {value}/{total} | ETA {eta_formatted}`,
      hideCursor: true,
      stream: process.stderr,
      etaBuffer: 50,
    },
    cliProgress.Presets.shades_classic,
  );
  return {
    bar(title, total) {
      const bar = multi.create(total, 0, { title: title.padEnd(18) });
      return { update: (value) => bar.update(value), stop: () => bar.stop() };
    },
    stop: () => multi.stop(),
  };
}
