// Prints the compiler and linker flags for the libtorch to build against, for binding.gyp.
// LIBTORCH points to a libtorch distribution (for example a CUDA build); otherwise Debian's
// libtorch-dev paths are used.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const root = process.env.LIBTORCH;
const what = process.argv[2];
let include;
let lib;
if (root) {
  include = [path.join(root, 'include'), path.join(root, 'include', 'torch', 'csrc', 'api', 'include')];
  lib = path.join(root, 'lib');
  if (!fs.existsSync(path.join(lib, 'libtorch.so'))) {
    console.error(`LIBTORCH=${root} has no lib/libtorch.so; point it to an unpacked libtorch distribution`);
    process.exit(1);
  }
} else {
  include = ['/usr/include', '/usr/include/torch/csrc/api/include'];
  lib = '/usr/lib/x86_64-linux-gnu';
  const multiarch = fs.readdirSync('/usr/lib').find((d) => fs.existsSync(path.join('/usr/lib', d, 'libtorch.so')));
  if (multiarch) lib = path.join('/usr/lib', multiarch);
  if (!fs.existsSync(path.join(lib, 'libtorch.so'))) {
    console.error('libtorch not found: install Debian libtorch-dev (make setup) or set LIBTORCH');
    process.exit(1);
  }
}
if (what === 'include') {
  console.log(include.join(' '));
} else if (what === 'libs') {
  const libs = [`-L${lib}`, `-Wl,-rpath,${lib}`, '-Wl,--no-as-needed', '-ltorch', '-ltorch_cpu', '-lc10'];
  // CUDA kernels register themselves at load time: keep these linked even though no symbol is used.
  for (const extra of ['torch_cuda', 'c10_cuda']) {
    if (fs.existsSync(path.join(lib, `lib${extra}.so`))) libs.push(`-l${extra}`);
  }
  libs.push('-Wl,--as-needed');
  console.log(libs.join(' '));
} else {
  console.error('usage: libtorch.cjs include|libs');
  process.exit(1);
}
