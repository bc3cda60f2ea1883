// `semipoison illustrate`: the paper's Figure 1, computed (three small pseudo-label runs on two
// half-moons) and drawn as PNG and SVG, with its data as JSON.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { illustration } from '../experiment/index.js';
import { decisionBoundarySpec, renderVegaLite } from '../report/index.js';
import { setNumThreads } from '../tensor/index.js';
import { writeDirAtomic } from '../util/atomic.js';
import { int } from './options.js';

interface IllustrateFlags {
  out: string;
  seed: number;
  steps: number;
  bridge: number;
  threads?: number;
}

export function registerIllustrate(program: Command): void {
  program
    .command('illustrate')
    .description("the paper's Figure 1: decision regions after clean training, one poison, and a bridge (2-D)")
    .requiredOption('--out <dir>', 'new folder for figure1.png, figure1.svg and figure1.json')
    .option('--seed <n>', 'seed of the data and of training', int(0), 0)
    .option('--steps <n>', 'training steps of each of the three runs', int(2), 800)
    .option('--bridge <n>', 'points on the bridge (the target included)', int(2), 12)
    .option('--threads <n>', 'libtorch threads', int(1))
    .action(async (f: IllustrateFlags) => {
      if (f.threads) setNumThreads(f.threads);
      const r = await illustration({ seed: f.seed, steps: f.steps, bridge: f.bridge });
      const spec = decisionBoundarySpec({
        ...r,
        panels: r.panels.map((p) => ({
          title:
            p.name === 'clean' ? '(a) clean training' : p.name === 'one poison' ? '(b) one poison' : '(c) a bridge',
          grid: p.grid,
          poisons: p.poisons,
          note: `target: p(red) = ${p.targetRed.toFixed(2)}, labeled ${p.targetRed >= 0.5 ? 'red' : 'blue'}`,
        })),
      });
      const { svg, png } = await renderVegaLite(spec);
      await writeDirAtomic(f.out, (dir) => {
        writeFileSync(join(dir, 'figure1.png'), png);
        writeFileSync(join(dir, 'figure1.svg'), svg);
        const data = { ...r, panels: r.panels.map((p) => ({ ...p, grid: Array.from(p.grid) })) };
        writeFileSync(join(dir, 'figure1.json'), JSON.stringify(data) + '\n');
      });
      for (const p of r.panels) {
        console.log(
          `${p.name.padEnd(10)} target p(red) = ${p.targetRed.toFixed(3)} -> ${p.targetRed >= 0.5 ? 'red' : 'blue'}`,
        );
      }
      console.log(`figure 1: ${join(f.out, 'figure1.png')}`);
    });
}
