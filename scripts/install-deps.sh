#!/bin/sh
# Installs facegate's build and test dependencies on Debian 12 (run as root); with --bench, also
# the peers of the benchmarks in bench/ (Python imagesize, node and npm for npm image-size and
# probe-image-size, which bench/ installs from the npm registry).
set -eu
export DEBIAN_FRONTEND=noninteractive
bench_packages=
case "${1:-}" in
  --bench) bench_packages="python3-imagesize nodejs npm" ;;
  "") ;;
  *) echo "usage: $0 [--bench]" >&2; exit 2 ;;
esac
apt-get update
# shellcheck disable=SC2086  # bench_packages is a list of words
apt-get install -y --no-install-recommends \
  meson ninja-build g++ pkg-config ca-certificates \
  libsimdjson-dev libcurl4-openssl-dev libcli11-dev doctest-dev libstb-dev libwebp-dev zlib1g-dev \
  liburing-dev \
  clang libclang-rt-14-dev \
  python3 nginx-light curl openssl webp imagemagick libvips-tools libjxl-testdata \
  $bench_packages
