#!/usr/bin/env bash
# The README's test command (`npm run test:ci`), and what CI runs (.ci/run): installs the Debian packages the
# tests need when one is missing, then `npm ci` and `npm test`.
#
# Test oracles and fixture writers: the real liblmdb (python3-lmdb, lmdb-utils), LevelDB (python3-plyvel) and
# HDF5 (python3-h5py, python3-numpy), and PIL, seen by Debian's /usr/bin/python3; chromium renders the HTML
# report in a test; a compiler with libjpeg62-turbo-dev and libdeflate-dev builds the native JPEG and PNG decoders.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(python3 python3-lmdb lmdb-utils python3-plyvel python3-h5py python3-numpy python3-pil chromium
  g++ make libjpeg62-turbo-dev libdeflate-dev)

have_everything() {
  [ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import lmdb, plyvel, h5py, numpy, PIL' 2>/dev/null || return 1
  for c in chromium mdb_stat g++ make; do command -v "$c" >/dev/null || return 1; done
  { [ -e /usr/include/jpeglib.h ] || compgen -G '/usr/include/*/jpeglib.h' >/dev/null; } || return 1
  [ -e /usr/include/libdeflate.h ]
}

if have_everything; then
  echo "ci-test: system packages present, skipping apt-get"
else
  if [ "$(id -u)" = 0 ]; then SUDO=(); else SUDO=(sudo); fi
  echo "ci-test: installing ${PACKAGES[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${SUDO[@]}" apt-get update -qq
  "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null
fi

npm ci
npm test
