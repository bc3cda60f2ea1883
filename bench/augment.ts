// Times the batched augmentations of src/data/augment.ts on FixMatch's unlabeled batch: μB = 7·64 = 448
// images of 32×32×3 (google-research/fixmatch defaults), and prints milliseconds per batch.
// Usage: npx tsx bench/augment.ts [REPEATS] [THREADS]
import { CTAugment, randAugment, weakAugment } from '../src/data/augment.js';
import { getNumThreads, manualSeed, rand, setNumThreads, tidy, type Tensor } from '../src/tensor/index.js';

const repeats = Number(process.argv[2] ?? 10);
if (process.argv[3]) setNumThreads(Number(process.argv[3]));
if (!Number.isInteger(repeats) || repeats < 1)
  throw new Error(`repeats must be a positive integer, got ${process.argv[2]}`);

manualSeed(0);
const batch = rand([448, 3, 32, 32]);
const cta = new CTAugment();

function time(name: string, fn: (x: Tensor) => Tensor): void {
  tidy(() => fn(batch));
  const ms: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const start = performance.now();
    tidy(() => fn(batch));
    ms.push(performance.now() - start);
  }
  ms.sort((a, b) => a - b);
  const median = ms[Math.floor(ms.length / 2)];
  console.log(
    `${name.padEnd(24)} ${median.toFixed(1).padStart(7)} ms/batch (median of ${repeats}, min ${ms[0].toFixed(1)})`,
  );
}

console.log(`448×3×32×32 float32, ${getNumThreads()} libtorch thread(s)`);
time('weakAugment', (x) => weakAugment(x));
time('randAugment', (x) => randAugment(x));
time('weak + randAugment', (x) => randAugment(weakAugment(x)));
time('CTAugment (sample+apply)', (x) => cta.apply(x, cta.sample(x.shape[0])));
