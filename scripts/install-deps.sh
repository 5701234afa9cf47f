#!/bin/sh
# Installs facegate's build, test and benchmark dependencies on Debian 12 (run as root).
set -eu
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends \
  meson ninja-build g++ pkg-config ca-certificates \
  libsimdjson-dev libcurl4-openssl-dev libcli11-dev doctest-dev libstb-dev libwebp-dev \
  liburing-dev \
  clang libclang-rt-14-dev \
  python3 nginx-light curl openssl webp imagemagick libvips-tools libjxl-testdata
