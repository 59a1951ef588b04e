// FUZZ_CHECK, the invariant check the fuzz targets share: a failed check prints what failed and
// traps, which libFuzzer reports as a crash and saves the input for.
#pragma once

#include <cstdio>

#define FUZZ_CHECK(cond)                                                                  \
  do {                                                                                    \
    if (!(cond)) {                                                                        \
      std::fprintf(stderr, "%s:%d: invariant violated: %s\n", __FILE__, __LINE__, #cond); \
      __builtin_trap();                                                                   \
    }                                                                                     \
  } while (0)
