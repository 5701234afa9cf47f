#!/bin/sh
# Installs facegate's build and test dependencies on Debian 12 (run as root; the Python package's
# are for /usr/bin/python3: pybind11, meson-python, pytest, dask); with --bench, also
# the peers of the benchmarks in bench/ (Python imagesize, node and npm for npm image-size and
# probe-image-size, which bench/ installs from the npm registry).
set -eu
export DEBIAN_FRONTEND=noninteractive
bench_packages=
case "${1:-}" in
  --bench)
    bench_packages="python3-imagesize"
    # Only what is missing: a nodejs from elsewhere (NodeSource, say) ships its own npm, and
    # Debian's npm conflicts with it, so apt would refuse the whole install.
    command -v node >/dev/null 2>&1 || bench_packages="$bench_packages nodejs"
    command -v npm >/dev/null 2>&1 || bench_packages="$bench_packages npm"
    ;;
  "") ;;
  *) echo "usage: $0 [--bench]" >&2; exit 2 ;;
esac
apt-get update
# shellcheck disable=SC2086  # bench_packages is a list of words
apt-get install -y --no-install-recommends \
  meson ninja-build g++ pkg-config ca-certificates \
  libsimdjson-dev libcurl4-openssl-dev libcli11-dev doctest-dev libstb-dev libwebp-dev zlib1g-dev \
  liburing-dev \
  libsqlite3-dev sqlite3 libssl-dev libmicrohttpd-dev \
  clang libclang-rt-14-dev \
  python3 python3-pil nginx-light curl openssl webp imagemagick libvips-tools libjxl-testdata \
  python3-dev pybind11-dev python3-mesonpy python3-pytest python3-venv python3-pip \
  python3-dask python3-distributed \
  $bench_packages
