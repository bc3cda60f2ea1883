#!/usr/bin/env bash
# Idempotent machine setup: Debian packages the engine and the default dataset need, then the
# npm dependencies (whose install step builds the libtorch addon). Safe to run any number of times.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
# redis-server: the distributed-execution tests; chromium: the HTML report tests; fonts for figure text.
for pkg in libtorch-dev dataset-fashion-mnist redis-server chromium fonts-dejavu-core "$@"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${need[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# npm ci when the lockfile changed since the last install; rebuild the addon when its sources changed.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
  touch node_modules/.package-lock.json
elif [ ! -f build/Release/semipoison_native.node ] || [ native/addon.cc -nt build/Release/semipoison_native.node ] \
  || [ binding.gyp -nt build/Release/semipoison_native.node ]; then
  npm run build:native
fi
