// native/libtorch.cjs: the build flags binding.gyp takes for Debian's libtorch or a LIBTORCH distribution.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function flags(what: string, env: Record<string, string> = {}): { code: number | null; out: string; err: string } {
  const base = { ...process.env };
  delete base.LIBTORCH;
  delete base.LIBTORCH_CXX_STD;
  const r = spawnSync(process.execPath, ['native/libtorch.cjs', what], { encoding: 'utf8', env: { ...base, ...env } });
  return { code: r.status, out: r.stdout.trim(), err: r.stderr };
}

/** A fake libtorch distribution: lib/ with the given files (libc10.so holding `c10` bytes). */
function distribution(c10: string, extra: string[] = []): string {
  const root = mkdtempSync(join(tmpdir(), 'libtorch-'));
  dirs.push(root);
  mkdirSync(join(root, 'lib'));
  mkdirSync(join(root, 'include'));
  writeFileSync(join(root, 'lib', 'libtorch.so'), '');
  writeFileSync(join(root, 'lib', 'libc10.so'), c10);
  for (const f of extra) writeFileSync(join(root, 'lib', f), '');
  return root;
}

describe('native/libtorch.cjs', () => {
  it("gives Debian's libtorch C++17 and the cxx11 ABI it was built with", () => {
    const r = flags('cflags');
    expect(r.code).toBe(0);
    expect(r.out).toBe('-std=c++17 -D_GLIBCXX_USE_CXX11_ABI=1');
  });

  it('reads the ABI of a LIBTORCH distribution from its libc10.so and links its CUDA libraries', () => {
    const cxx11 = distribution('\0_ZN3c105ErrorC2ENSt7__cxx1112basic_stringIcSt11char_traitsIcESaIcEEE\0', [
      'libtorch_cuda.so',
      'libc10_cuda.so',
    ]);
    expect(flags('cflags', { LIBTORCH: cxx11 }).out).toBe('-std=c++17 -D_GLIBCXX_USE_CXX11_ABI=1');
    const libs = flags('libs', { LIBTORCH: cxx11 }).out;
    expect(libs).toContain(`-L${join(cxx11, 'lib')}`);
    expect(libs).toContain('-ltorch_cuda');
    expect(libs).toContain('-lc10_cuda');
    expect(flags('include', { LIBTORCH: cxx11 }).out).toBe(
      `${join(cxx11, 'include')} ${join(cxx11, 'include', 'torch', 'csrc', 'api', 'include')}`,
    );

    const preCxx11 = distribution('\0_ZN3c105ErrorC2ESs\0');
    expect(flags('cflags', { LIBTORCH: preCxx11 }).out).toBe('-std=c++17 -D_GLIBCXX_USE_CXX11_ABI=0');
    expect(flags('libs', { LIBTORCH: preCxx11 }).out).not.toContain('cuda');
  });

  it('takes the C++ standard from LIBTORCH_CXX_STD', () => {
    expect(flags('cflags', { LIBTORCH_CXX_STD: 'c++20' }).out).toBe('-std=c++20 -D_GLIBCXX_USE_CXX11_ABI=1');
  });

  it('names the problem when LIBTORCH is not a libtorch, or the request is unknown', () => {
    const empty = mkdtempSync(join(tmpdir(), 'not-libtorch-'));
    dirs.push(empty);
    const r = flags('libs', { LIBTORCH: empty });
    expect(r.code).toBe(1);
    expect(r.err).toContain('has no lib/libtorch.so');
    const bad = flags('everything');
    expect(bad.code).toBe(1);
    expect(bad.err).toContain('usage: libtorch.cjs include|libs|cflags');
  });
});
