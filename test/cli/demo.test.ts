// The command line as a user runs it: a short demo prints an accuracy; bad flags exit non-zero with a reason.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

function run(args: string[]) {
  const r = spawnSync('./bin/semipoison.js', args, { encoding: 'utf8', env: { ...process.env, CI: 'true' } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('semipoison demo', () => {
  it('trains briefly and prints the test accuracy', () => {
    const r = run(['demo', '--quick', '--steps', '60', '--threads', '1', '--precision', 'fp32']);
    expect(r.err).toContain('training: 60/60');
    expect(r.code).toBe(0);
    const m = /test accuracy: ([\d.]+)%/.exec(r.out);
    expect(m).not.toBeNull();
    // 60 steps already beat chance (10%) clearly on Fashion-MNIST.
    expect(Number(m![1])).toBeGreaterThan(25);
  });

  it.each([
    [['demo', '--steps', 'ten'], /--steps.*expected an integer >= 1, got 'ten'/],
    [['demo', '--steps', '0'], /expected an integer >= 1, got '0'/],
    [['demo', '--precision', 'fp8'], /expected auto, bf16 or fp32, got 'fp8'/],
    [['demo', '--lr', 'NaN'], /expected a number/],
    [['demo', '--device', 'tpu'], /unknown device 'tpu'/],
    [['demo', '--device', 'cuda'], /no CUDA device/],
    [['nonsense'], /unknown command 'nonsense'/],
  ])('rejects %j', (args, message) => {
    const r = run(args as string[]);
    expect(r.code).not.toBe(0);
    expect(r.err).toMatch(message as RegExp);
  });
});
