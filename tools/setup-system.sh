#!/usr/bin/env bash
# Installs the Debian packages that ungil builds, tests and benchmarks with.
# Idempotent: apt runs only when a package is missing.
set -euo pipefail

packages=(
  build-essential pkg-config ninja-build
  libcurl4-openssl-dev libssl-dev libturbojpeg0-dev libspng-dev libpng-dev libxml2-dev libidn2-dev
  libjpeg62-turbo-dev  # JPEG decoding through the libjpeg API (src/core/image_jpeg.c)
  clang libclang-rt-14-dev
  chromium  # tests: graph.html and report.html rendered headless
  nginx wrk  # benchmarks only (bench/bench_download_throughput.py)
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "setup: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
