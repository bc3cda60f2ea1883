// `semipoison report`: the paper's tables and figures for experiments in a result store, printed
// and written as PNG/SVG figures and one self-contained HTML file.
import { existsSync } from 'node:fs';
import { extname, join } from 'node:path';
import type { Command } from 'commander';
import { loadSpec, Store } from '../experiment/index.js';
import { tableToText, writeExperimentReport, type ExperimentReportInput } from '../report/index.js';
import { DEFAULT_RUNS_DIR, storePath } from './experiment.js';

interface ReportFlags {
  store?: string;
  runsDir: string;
  out?: string;
  json: boolean;
}

export function registerReport(program: Command): void {
  program
    .command('report')
    .description('tables (successes k/n with Wilson 95% intervals), figures and an HTML report of experiments')
    .argument('<spec|store>', 'a YAML/JSON spec (its experiment), or a .sqlite store (all its experiments)')
    .option('--store <path>', 'the result store, for a spec (default: <runs-dir>/store.sqlite)')
    .option('--runs-dir <dir>', 'root of the run folders', DEFAULT_RUNS_DIR)
    .option('--out <dir>', 'report folder: report.html and the figures (default: <runs-dir>/report-<name>)')
    .option('--json', 'print one JSON object with the tables and written files', false)
    .action(async (target: string, f: ReportFlags) => {
      const isSpec = ['.yaml', '.yml', '.json'].includes(extname(target).toLowerCase());
      const path = isSpec ? storePath(f) : target;
      if (!existsSync(path)) throw new Error(`${path}: no result store there (nothing has run yet)`);
      const store = Store.open(path);
      let inputs: ExperimentReportInput[];
      try {
        const names = isSpec ? [loadSpec(target).name] : store.experiments().map((e) => e.name);
        const known = new Map(store.experiments().map((e) => [e.name, e]));
        inputs = names.map((name) => {
          if (!known.has(name)) throw new Error(`${path}: no experiment '${name}' in the store (run it first)`);
          return { name, trials: store.trials(name) };
        });
      } finally {
        store.close();
      }
      if (inputs.length === 0) throw new Error(`${path}: the store holds no experiments`);
      const out = f.out ?? join(isSpec ? f.runsDir : join(path, '..'), `report-${inputs.map((i) => i.name).join('+')}`);
      const written = await writeExperimentReport(inputs, out);
      if (f.json) {
        console.log(JSON.stringify({ html: written.html, figures: written.figures, tables: written.tables }));
        return;
      }
      for (const t of written.tables) console.log(`${tableToText(t)}\n`);
      console.log(`report: ${written.html} (${written.figures.length / 2} figures)`);
    });
}
