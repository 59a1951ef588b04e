#!/usr/bin/env bash
# Installs every build and test dependency of weft from Debian's packages.
# Idempotent and quiet: packages already present are skipped, and `apt-get update`
# runs only when something is missing.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git
  libboost-context-dev
  libgtest-dev libgmock-dev googletest
  libbenchmark-dev
  libcli11-dev libfmt-dev
  zlib1g-dev nlohmann-json3-dev
  python3
  clang clang-format clang-tidy libclang-rt-14-dev
  prometheus
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
((${#missing[@]} == 0)) && exit 0

sudo=""
[[ $(id -u) -ne 0 ]] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq >/dev/null
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
