// Progress bars for long-running commands (one place, so every command looks the same).
import cliProgress from 'cli-progress';

export interface Progress {
  update(value: number, payload?: Record<string, string | number>): void;
  stop(): void;
}

/**
 * A bar with ETA on stderr; in a non-TTY (CI, pipes) it prints a line every 10%. With `scale`, the
 * bar advances in 1/scale steps of an item (a trial's share done) and shows counts in items.
 */
export function progressBar(title: string, total: number, fields = '', scale = 1): Progress {
  const items = (v: number): string => (scale === 1 ? String(v) : String(Math.round((10 * v) / scale) / 10));
  if (!process.stderr.isTTY) {
    let lastDecile = -1;
    const start = Date.now();
    return {
      update(value, payload = {}) {
        const decile = Math.floor((10 * value) / Math.max(total, 1));
        if (decile === lastDecile) return;
        lastDecile = decile;
        const extra = Object.entries(payload)
          .map(([k, v]) => `${k} ${v}`)
          .join(' ');
        const secs = ((Date.now() - start) / 1000).toFixed(0);
        process.stderr.write(`${title}: ${items(value)}/${items(total)} ${extra} (${secs}s)\n`);
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
