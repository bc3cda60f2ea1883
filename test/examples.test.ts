// Every program in examples/ runs as a user would run it (importing 'semipoison') and does what it says.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

/** What each example must print: a check that it computed something, not only that it exited. */
const EXPECTED: Record<string, RegExp[]> = {
  'craft-and-scan.ts': [
    /^20 poisons among 2020 images$/m,
    /collinearity flags (1[89]|20) of them, \d+ clean images, AUROC (0\.9\d\d|1\.000)/,
  ],
};

describe('examples', () => {
  const files = readdirSync('examples').filter((f) => f.endsWith('.ts'));

  it('every example has expectations', () => {
    expect(files.sort()).toEqual(Object.keys(EXPECTED).sort());
  });

  it.each(files)('%s runs', (file) => {
    const r = spawnSync(process.execPath, ['--conditions=source', '--import', 'tsx', `examples/${file}`], {
      encoding: 'utf8',
    });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    for (const re of EXPECTED[file]) expect(r.stdout).toMatch(re);
  });
});
