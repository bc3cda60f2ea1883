// `semipoison data download`: fetch CIFAR-10, SVHN or STL-10 from their official addresses with
// md5 verification and resume, into the folder the dataset registry reads from.
import { Argument, type Command } from 'commander';
import { DATASETS, downloadDataset, type DownloadableName } from '../data/index.js';

interface DownloadFlags {
  dir?: string;
  baseUrl?: string;
  splits?: string[];
  keepArchive: boolean;
}

export function registerData(program: Command): void {
  const data = program.command('data').description('dataset files');
  data
    .command('download')
    .description('download a dataset archive, verify its checksum (resuming partial downloads) and unpack it')
    .addArgument(new Argument('<name>', 'dataset').choices(['cifar10', 'svhn', 'stl10']))
    .option('--dir <dir>', 'destination folder (default: the dataset’s own folder, $SEMIPOISON_DATA_DIR/<name>)')
    .option('--base-url <url>', 'a mirror holding the same files')
    .option('--splits <names...>', 'SVHN only: train, test, extra (default: all)')
    .option('--keep-archive', 'keep the .tar.gz after unpacking', false)
    .action(async (name: DownloadableName, f: DownloadFlags) => {
      const dir = f.dir ?? DATASETS[name].defaultDir;
      let last = '';
      const files = await downloadDataset(name, dir, {
        baseUrl: f.baseUrl,
        splits: f.splits,
        keepArchive: f.keepArchive,
        onProgress: (p) => {
          const pct = p.total ? `${Math.floor((100 * p.done) / p.total)}%` : `${(p.done / 1e6).toFixed(0)} MB`;
          const line = `${p.phase} ${p.file} ${pct}`;
          if (
            line !== last &&
            (p.total === null || p.done === p.total || Math.floor((100 * p.done) / p.total) % 10 === 0)
          ) {
            process.stderr.write(`${line}\n`);
            last = line;
          }
        },
      });
      console.log(`${DATASETS[name].title} ready in ${dir} (${files.length} files)`);
    });
}
