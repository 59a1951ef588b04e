// weft: the command-line entry point; dispatches to the subcommands.
#include <cstdio>
#include <functional>

#include "commands.h"

int main(int argc, char** argv) {
  CLI::App app{"weft: Go-style services in C++ (serve, bench, and more to come)"};
  app.require_subcommand(1);
  std::function<int()> serve = weft::cli::add_serve(app);
  std::function<int()> bench = weft::cli::add_bench(app);
  CLI11_PARSE(app, argc, argv);
  if (app.got_subcommand("serve")) return serve();
  if (app.got_subcommand("bench")) return bench();
  return 2;
}
