// The weft command's subcommands: each registers its options on the CLI and runs when chosen.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>

namespace weft::cli {

// Adds `weft serve` to app; the returned callback runs it and gives the exit status.
std::function<int()> add_serve(CLI::App& app);

// Adds `weft bench` (the HTTP load generator) to app; the callback runs it and gives the exit
// status: 0 when the run completed, 1 when nothing answered or a report could not be written,
// 2 for bad options or a bad URL.
std::function<int()> add_bench(CLI::App& app);

}  // namespace weft::cli
