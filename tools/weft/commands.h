// The weft command's subcommands: each registers its options on the CLI and runs when chosen.
#pragma once

#include <CLI/CLI.hpp>

namespace weft::cli {

// Adds `weft serve` to app; the returned callback runs it and gives the exit status.
std::function<int()> add_serve(CLI::App& app);

}  // namespace weft::cli
