// Reading the small files under /proc (internal to weft's libraries).
#pragma once

#include <optional>
#include <string>

namespace weft::metrics {

// The whole of a small file, read until the end (files under /proc report a size of 0);
// nullopt when it cannot be opened or read.
std::optional<std::string> read_proc_file(const char* path);

}  // namespace weft::metrics
