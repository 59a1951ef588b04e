// Running Prometheus' promtool from tests: find it, run a command, check an exposition.
// Everything lives in namespace weft_test.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <system_error>

namespace weft_test {

// The path of an executable named name on PATH, or "".
inline std::string find_on_path(std::string_view name) {
  const char* path = std::getenv("PATH");
  if (path == nullptr) return {};
  std::string_view dirs = path;
  while (!dirs.empty()) {
    std::size_t colon = dirs.find(':');
    std::string dir(dirs.substr(0, colon));
    dirs.remove_prefix(colon == std::string_view::npos ? dirs.size() : colon + 1);
    if (dir.empty()) continue;
    std::string candidate = dir + "/" + std::string(name);
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return {};
}

// A scratch directory removed at the end of the scope (path is empty when it could not be
// made).
struct ScratchDir {
  std::filesystem::path path;
  ScratchDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "weft-test-XXXXXX").string();
    path = ::mkdtemp(pattern.data()) ? std::filesystem::path(pattern) : std::filesystem::path();
  }
  ~ScratchDir() {
    std::error_code ec;
    if (!path.empty()) std::filesystem::remove_all(path, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
};

struct CommandResult {
  int status = -1;     // the exit status; -1 when it did not run or did not exit
  std::string output;  // stdout and stderr
};

// Runs command with the shell and collects what it prints.
inline CommandResult run_command(const std::string& command) {
  CommandResult result;
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return result;
  char buf[4096];
  while (std::size_t n = std::fread(buf, 1, sizeof buf, pipe)) result.output.append(buf, n);
  int status = ::pclose(pipe);
  result.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

// A path quoted for the shell (the paths here hold no single quote).
inline std::string shell_quoted(const std::filesystem::path& p) {
  return "'" + p.string() + "'";
}

inline void write_file(const std::filesystem::path& p, const std::string& text) {
  std::ofstream(p, std::ios::binary) << text;
}

// `promtool check metrics` on a text-format exposition. Status 0 and no output is a clean
// pass; a missing promtool (Debian package prometheus, which scripts/install-deps.sh installs)
// is a failure with output saying so.
inline CommandResult promtool_check_metrics(const std::string& exposition) {
  std::string promtool = find_on_path("promtool");
  if (promtool.empty()) return {-1, "promtool is not on PATH (Debian package prometheus)"};
  ScratchDir dir;
  if (dir.path.empty()) return {-1, "cannot make a scratch directory"};
  std::filesystem::path file = dir.path / "metrics.txt";
  write_file(file, exposition);
  return run_command(shell_quoted(promtool) + " check metrics < " + shell_quoted(file));
}

}  // namespace weft_test
