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
// The C++ standard library ABI libtorch was built with (pre-C++11 distributions still exist): the
// addon passes std::string to libtorch, so it must match.
function abiFlag() {
  const bytes = fs.readFileSync(path.join(lib, 'libc10.so'));
  return `-D_GLIBCXX_USE_CXX11_ABI=${bytes.includes('__cxx11') ? 1 : 0}`;
}

// C++17 builds against libtorch 1.13 (Debian) through 2.11 (checked on PyTorch 2.11.0+cu130's);
// LIBTORCH_CXX_STD overrides it for a libtorch whose headers need a newer standard.
function standardFlag() {
  return `-std=${process.env.LIBTORCH_CXX_STD || 'c++17'}`;
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
} else if (what === 'cflags') {
  console.log([standardFlag(), abiFlag()].join(' '));
} else {
  console.error('usage: libtorch.cjs include|libs|cflags');
  process.exit(1);
}
