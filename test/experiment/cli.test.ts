// The experiment commands as a user runs them: a bad spec fails with file, line and field; a dry run
// lists the grid; status reads the store.
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from './helpers.js';

function run(args: string[]) {
  const r = spawnSync('./bin/semipoison.js', args, { encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('semipoison experiment', () => {
  const dir = tempDir('experiment-cli');

  it('rejects a bad spec with its file, line and field', () => {
    const spec = join(dir, 'bad.yaml');
    writeFileSync(spec, 'labels: 40\nalgorithm: [fixmatch, fixmach]\n');
    const r = run(['experiment', 'run', spec, '--runs-dir', join(dir, 'runs')]);
    expect(r.code).not.toBe(0);
    expect(r.err).toContain(`${spec}:2: algorithm[1]: must be one of fixmatch`);
  });

  it('prints the expanded grid on a dry run and runs nothing', () => {
    const spec = join(dir, 'grid.yaml');
    writeFileSync(spec, 'name: grid\nratio: [0.005, 0.01]\ntrials: 2\n');
    const r = run(['experiment', 'run', spec, '--runs-dir', join(dir, 'runs'), '--dry-run']);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/^id +ratio +seed +status$/m);
    expect(r.out).toContain('grid: 4 trials (axes: ratio, seed), 0 already done, 4 to run');
    const status = run(['experiment', 'status', spec, '--runs-dir', join(dir, 'runs')]);
    expect(status.code).not.toBe(0);
    expect(status.err).toMatch(/no result store there/);
  });
});
