// The experiment report from stored trials: the success table counts successes per group with a
// Wilson interval, each trial shows both verdicts, the figures follow the grid's axes, and the
// report folder is written whole (or replaces an earlier report whole); `semipoison report` prints it.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { expandGrid, parseSpec, Store, type StoredTrial } from '../../src/experiment/index.js';
import { accuracyCost } from '../../src/experiment/compare.js';
import {
  defenseCostTable,
  experimentFigures,
  groupingFields,
  successTable,
  trialTable,
  writeExperimentReport,
} from '../../src/report/index.js';
import { result, tempDir } from '../experiment/helpers.js';

const SPEC = 'name: ratios\nsteps: 5\nratio: [0.005, 0.01]\ntrials: 4\n';

/** Stored trials of SPEC: at ratio 0.01 three of four succeed, at 0.005 one of four; one trial unfinished. */
function storedTrials(): StoredTrial[] {
  return expandGrid(parseSpec(SPEC, 'spec.yaml')).map((p, i) => {
    const high = p.config.ratio === 0.01;
    const seed = p.config.seed;
    const success = high ? seed < 3 : seed === 0;
    const unfinished = !high && seed === 3;
    return {
      id: p.id,
      dirName: p.dirName,
      config: p.config,
      status: unfinished ? 'running' : 'done',
      attempts: 1,
      worker: 'w',
      error: null,
      startedAt: null,
      finishedAt: null,
      seconds: 10,
      result: unfinished ? null : { ...result(p.id, success, { trueLabel: i % 5, desired: (i + 1) % 10 }) },
    } as StoredTrial;
  });
}

describe('experiment report', () => {
  it('counts successes per group with Wilson intervals and lists both verdicts per trial', () => {
    const trials = storedTrials();
    expect(groupingFields(trials)).toEqual(['ratio']);
    const t = successTable({ name: 'ratios', trials });
    const byRatio = Object.fromEntries(t.rows.map((r) => [r[0], r]));
    expect(byRatio['ratio=0.01'].slice(1, 3)).toEqual(['3/4', '[30%, 95%]']);
    expect(byRatio['ratio=0.005'].slice(1, 3)).toEqual(['1/3', '[6%, 79%]']);
    expect(byRatio['ratio=0.005'][6]).toBe('1'); // not finished
    const rows = trialTable({ name: 'ratios', trials }).rows;
    expect(rows).toHaveLength(7);
    expect(rows[0]).toContain('1, 0.910'); // poisoned verdict and p(y*)
    expect(rows[0]).toContain('7, 0.010'); // unpoisoned verdict
  });

  it('tabulates the clean accuracy a defense cost over training seeds, one row per defended trial', () => {
    const trials = storedTrials();
    expect(defenseCostTable({ name: 'ratios', trials })).toBeNull();
    const run = (dir: string, accuracy: number, prediction: number) => ({ dir, prediction, pDesired: 0.1, accuracy });
    const clean = [0.7, 0.696, 0.712, 0.705];
    const defended = [0.684, 0.69, 0.701, 0.695];
    const t0 = trials[0];
    const base = t0.result!;
    const withDefense = {
      ...t0,
      result: {
        ...base,
        defense: {
          flagged: 9,
          truePositives: 8,
          success: false,
          rounds: [{ round: 1 }, { round: 2 }],
          seeds: clean.map((a, i) => ({
            seed: 1 + i,
            clean: run(`c${i}`, a, 7),
            defended: run(`d${i}`, defended[i], i === 2 ? base.desired : 7),
            success: i === 2,
          })),
          accuracyCost: accuracyCost(clean, defended),
        },
      },
    } as StoredTrial;
    // A defended result stored before seeds were compared has no `seeds`, and no row.
    const older = { ...trials[1], result: { ...trials[1].result!, defense: { flagged: 3 } } } as StoredTrial;
    const table = defenseCostTable({ name: 'ratios', trials: [withDefense, older, ...trials.slice(2)] })!;
    expect(table.rows).toHaveLength(1);
    const cells = Object.fromEntries(table.columns.map((c, i) => [c, table.rows[0][i]]));
    expect(cells).toMatchObject({
      ratio: '0.005',
      'removed (poisons)': '9 (8)',
      'training seeds': '1, 2, 3, 4',
      'unpoisoned acc. (mean ± sd)': '70.3% ± 0.7',
      'defended acc. (mean ± sd)': '69.3% ± 0.7',
      'cost (points)': '1.07',
      'cost 95% CI (points)': '[−0.15, 2.30]',
      'p (any change)': '0.075',
      'p (cost < 1 point)': '0.557',
      'attack after defense': 'poisoned in 1/4 seeds',
    });
    expect(trialTable({ name: 'ratios', trials: [withDefense] }).rows[0]).toContain('defeated (9 removed in 2 rounds)');
  });

  it('draws success by axis, accuracy against success, true × desired classes, bridge fronts and one propagation', () => {
    const figures = experimentFigures({ name: 'ratios', trials: storedTrials() });
    const names = figures.map((f) => f.name);
    expect(names).toEqual([
      'success-by-axis',
      'accuracy-vs-success',
      'true-vs-desired',
      'bridge-front',
      'label-propagation',
    ]);
    // One line per finished trial with a logged bridge.
    const front = figures.find((f) => f.name === 'bridge-front')!.spec;
    const lines = new Set((front.data as { values: { trial: string }[] }).values.map((v) => v.trial));
    expect(lines.size).toBe(storedTrials().filter((t) => t.result?.propagation.epochs.length).length);
    // Cells of the grid that share the pair and the seed (as Table 3's densities do) keep their own lines.
    const samePair = storedTrials().map((t) =>
      t.result ? { ...t, result: { ...t.result, target: 5, trueLabel: 1, desired: 2 } } : t,
    );
    const sameFront = experimentFigures({ name: 'ratios', trials: samePair }).find((f) => f.name === 'bridge-front')!;
    const sameLines = new Set((sameFront.spec.data as { values: { trial: string }[] }).values.map((v) => v.trial));
    expect(sameLines.size).toBe(lines.size);
    expect([...sameLines].every((l) => /ratio=/.test(l))).toBe(true);
    expect(experimentFigures({ name: 'none', trials: [] })).toEqual([]);
  });

  it('writes the folder whole, replaces an earlier report, and refuses a folder that is not one', async () => {
    const dir = join(tempDir('report'), 'out');
    const first = await writeExperimentReport([{ name: 'ratios', trials: storedTrials() }], dir);
    expect(existsSync(first.html)).toBe(true);
    expect(readdirSync(dir).filter((f) => f.endsWith('.png'))).toHaveLength(5);
    await writeExperimentReport([{ name: 'ratios', trials: storedTrials().slice(0, 2) }], dir);
    expect(readdirSync(join(dir, '..')).filter((f) => f.startsWith('.'))).toEqual([]);
    const other = join(tempDir('report'), 'other');
    mkdirSync(other);
    writeFileSync(join(other, 'notes.txt'), 'mine');
    await expect(writeExperimentReport([{ name: 'ratios', trials: storedTrials() }], other)).rejects.toThrow(
      /exists and is not a report folder/,
    );
  });

  it('semipoison report prints the tables and writes the HTML; a missing store is an error', () => {
    const runs = tempDir('report-cli');
    const specPath = join(runs, 'ratios.yaml');
    writeFileSync(specPath, SPEC);
    const store = Store.open(join(runs, 'store.sqlite'));
    const trials = storedTrials();
    store.addExperiment('ratios', expandGrid(parseSpec(SPEC, specPath)));
    for (const t of trials) if (t.result) store.complete(t.id, result(t.id, t.result.success), 'w');
    store.close();
    const r = spawnSync('./bin/semipoison.js', ['report', specPath, '--runs-dir', runs], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/ratio=0\.01\s+3\/4\s+\[30%, 95%\]/);
    expect(r.stdout).toContain(`report: ${join(runs, 'report-ratios', 'report.html')}`);
    const missing = spawnSync('./bin/semipoison.js', ['report', join(runs, 'none.sqlite')], { encoding: 'utf8' });
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/no result store there/);
  });
});
