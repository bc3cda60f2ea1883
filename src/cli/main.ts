// The semipoison command line: one file per command registers itself here.
import { Command, CommanderError } from 'commander';
import { registerDemo } from './demo.js';
import { registerTrain } from './train.js';
import { registerEvaluate } from './evaluate.js';
import { registerAttack } from './attack.js';
import { registerScan } from './scan.js';
import { registerData } from './data.js';
import { registerExperiment } from './experiment.js';
import { registerReport } from './report.js';
import { registerIllustrate } from './illustrate.js';

export function buildProgram(): Command {
  const program = new Command('semipoison')
    .description('Attack and defend semi-supervised learning through its unlabeled data')
    .exitOverride()
    .showHelpAfterError();
  registerDemo(program);
  registerTrain(program);
  registerEvaluate(program);
  registerAttack(program);
  registerScan(program);
  registerData(program);
  registerExperiment(program);
  registerReport(program);
  registerIllustrate(program);
  return program;
}

/** Runs the CLI; returns the exit code (errors are printed, never thrown). */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    console.error(`semipoison: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  }
}
