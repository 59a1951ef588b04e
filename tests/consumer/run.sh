#!/usr/bin/env bash
# Installs a weft build into a scratch prefix, then configures, builds and runs an outside
# project (this directory) against it with find_package(weft).
# Usage: run.sh <weft build dir> <weft source dir> <scratch dir>
set -euo pipefail

if [[ $# -ne 3 ]]; then
  echo "usage: $0 <weft build dir> <weft source dir> <scratch dir>" >&2
  exit 2
fi
build=$(realpath "$1")
src=$(realpath "$2")
scratch=$(realpath -m "$3")
prefix=$scratch/prefix

# Start from nothing, so nothing from an earlier run can satisfy find_package.
rm -rf "$scratch"
mkdir -p "$scratch"

cmake --install "$build" --prefix "$prefix"

# The install must hold the headers, the library and the package files (under lib/ or lib64/,
# whatever CMAKE_INSTALL_LIBDIR says).
missing=0
for f in include/weft/weft.h include/weft/net/net.h include/weft/net/result.h \
         include/weft/runtime/task.h include/weft/runtime/detail/task_fn.h; do
  [[ -f $prefix/$f ]] || { echo "run.sh: $prefix/$f was not installed" >&2; missing=1; }
done
for g in 'lib*/libweft.*' 'lib*/cmake/weft/weftConfig.cmake' \
         'lib*/cmake/weft/weftConfigVersion.cmake' 'lib*/cmake/weft/weftTargets.cmake'; do
  compgen -G "$prefix/$g" > /dev/null || { echo "run.sh: no $prefix/$g installed" >&2; missing=1; }
done
[[ $missing -eq 0 ]] || exit 1

# Configure like the weft build: same build type, and a sanitizer build's flags, which a
# static libweft needs at link time.
cache_get() { sed -n "s/^$1:[A-Z]*=//p" "$build/CMakeCache.txt"; }
build_type=$(cache_get CMAKE_BUILD_TYPE)
flags=
case "$(cache_get WEFT_SANITIZE)" in
  address) flags="-fsanitize=address,undefined" ;;
  thread) flags="-fsanitize=thread" ;;
esac

# The consumer finds weft only in the scratch prefix: not in the user package registry, and
# not in the source or build tree.
cmake -S "$src/tests/consumer" -B "$scratch/build" -G Ninja \
  -DCMAKE_BUILD_TYPE="${build_type:-Release}" \
  -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF \
  -DCMAKE_CXX_FLAGS="$flags" \
  -DCMAKE_EXE_LINKER_FLAGS="$flags"
cmake --build "$scratch/build"

# find_package must have taken the installed copy.
found=$(sed -n 's/^weft_DIR:PATH=//p' "$scratch/build/CMakeCache.txt")
case "$found" in
  "$prefix"/*) ;;
  *) echo "run.sh: find_package(weft) used $found, not the install in $prefix" >&2; exit 1 ;;
esac

"$scratch/build/app"
