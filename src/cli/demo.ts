// `semipoison demo`: the end-to-end story on Fashion-MNIST. Today: supervised training of the
// CPU-sized CNN with a progress bar, then its test accuracy.
import type { Command } from 'commander';
import { loadDataset, subset } from '../data/index.js';
import { trainSupervised } from '../ssl/index.js';
import { float, int, precision, setupEngine } from './options.js';
import { progressBar } from './progress.js';

interface DemoFlags {
  quick: boolean;
  steps?: number;
  width: number;
  lr: number;
  seed: number;
  device: string;
  threads?: number;
  precision: boolean | 'auto';
}

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('train the CPU-sized CNN on Fashion-MNIST and report its test accuracy')
    .option('--quick', 'a shorter run (about a minute)', false)
    .option('--steps <n>', 'training steps (default 3000, or 600 with --quick)', int(1))
    .option('--width <n>', 'CNN width (filters of the first layer)', int(1), 16)
    .option('--lr <x>', 'base learning rate', float(0), 0.03)
    .option('--seed <n>', 'random seed', int(0), 0)
    .option('--device <d>', "'cpu', 'cuda' or 'cuda:N'", 'cpu')
    .option('--threads <n>', 'libtorch threads (default: all cores)', int(1))
    .option('--precision <p>', 'auto, bf16 or fp32 (auto: bf16 where the hardware has it)', precision, 'auto')
    .action(async (flags: DemoFlags) => {
      const { device, bf16 } = setupEngine(flags);
      const steps = flags.steps ?? (flags.quick ? 600 : 3000);
      const train = await loadDataset('fashion-mnist', 'train');
      const test = await loadDataset('fashion-mnist', 'test');
      const evalSet = flags.quick
        ? subset(
            test,
            Array.from({ length: 2000 }, (_, i) => i),
          )
        : test;
      console.log(
        `Fashion-MNIST: ${train.n} training and ${evalSet.n} test images; CNN width ${flags.width}, ` +
          `${steps} steps of 64, ${bf16 ? 'bfloat16 autocast' : 'float32'} on ${device}`,
      );
      const bar = progressBar('training', steps, 'loss {loss}');
      const started = Date.now();
      const result = await trainSupervised(
        { model: 'cnn', width: flags.width, steps, lr: flags.lr, seed: flags.seed, device, bf16 },
        train,
        evalSet,
        { onStep: (s) => bar.update(s.step, { loss: s.loss.toFixed(3) }) },
      );
      bar.stop();
      const secs = ((Date.now() - started) / 1000).toFixed(0);
      console.log(`test accuracy: ${(100 * result.testAccuracy!).toFixed(2)}% (${secs} s)`);
      result.model.dispose();
      result.ema.dispose();
    });
}
