// The README cannot drift: it opens with `make demo` and `make test`, its TypeScript example is the
// file in examples/ that the example test runs, and every command line it shows is accepted by the
// CLI's own parser (flags, arguments and their validation; the actions are not run).
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { buildProgram } from '../src/cli/main.js';

const README = readFileSync('README.md', 'utf8');

function blocks(lang: string): string[] {
  return [...README.matchAll(new RegExp('```' + lang + '\\n([\\s\\S]*?)```', 'g'))].map((m) => m[1]);
}

/** Splits a shell line into words (no quoting is used in the README's commands). */
function words(line: string): string[] {
  return line.replace(/#.*$/, '').trim().split(/\s+/).filter(Boolean);
}

function parseOnly(): Command {
  const program = buildProgram();
  const silence = (c: Command): void => {
    c.action(() => undefined);
    c.configureOutput({ writeErr: () => undefined, writeOut: () => undefined });
    c.exitOverride();
    c.commands.forEach(silence);
  };
  program.commands.forEach(silence);
  return program;
}

describe('README', () => {
  it('opens with make demo and make test, both Makefile targets', () => {
    const first = words(blocks('sh')[0].split('\n')[0]).concat(words(blocks('sh')[0].split('\n')[1]));
    expect(first).toEqual(['make', 'demo', 'make', 'test']);
    const makefile = readFileSync('Makefile', 'utf8');
    for (const target of ['demo', 'demo-quick', 'test', 'lint', 'bench', 'setup']) {
      expect(makefile).toMatch(new RegExp(`^${target}:`, 'm'));
    }
  });

  it('shows examples/craft-and-scan.ts verbatim as its library example', () => {
    expect(blocks('ts')).toContain(readFileSync('examples/craft-and-scan.ts', 'utf8'));
  });

  const commands = blocks('sh')
    .flatMap((b) => b.split('\n'))
    .filter((l) => l.startsWith('./bin/semipoison.js '))
    .map((l) => words(l).slice(1));

  it('shows every command of the CLI', () => {
    const shown = new Set(commands.map((c) => c[0]));
    for (const c of buildProgram().commands.map((c) => c.name())) expect(shown).toContain(c);
  });

  it('the parser check rejects what the CLI rejects', async () => {
    await expect(parseOnly().parseAsync(['train', '--no-such-flag'], { from: 'user' })).rejects.toThrow(
      /unknown option/,
    );
    await expect(parseOnly().parseAsync(['train', '--steps', 'ten'], { from: 'user' })).rejects.toThrow(
      /expected an integer/,
    );
  });

  it.each(commands.map((c) => [c.join(' '), c]))('accepts: %s', async (_, argv) => {
    await expect(parseOnly().parseAsync(argv as string[], { from: 'user' })).resolves.toBeDefined();
  });
});
