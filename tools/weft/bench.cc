// `weft bench`: the HTTP load generator. Parses the options, runs one measurement per
// connection level on the weft runtime, prints the summary (and the seed 2.5 table for several
// levels), and writes the JSON, CSV, .hgrm and HTML reports asked for.
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "commands.h"
#include "weft/loadgen/loadgen.h"
#include "weft/loadgen/report.h"
#include "weft/runtime/task.h"

namespace weft::cli {

namespace {

struct BenchOptions {
  std::string url;
  int connections = 10;
  int threads = 0;
  std::string duration = "10s";
  uint64_t requests = 0;
  std::string warmup = "0s";
  double rate = 0;
  std::string method = "GET";
  std::vector<std::string> headers;
  std::string body;
  std::string body_file;
  int pipeline = 1;
  bool no_keepalive = false;
  std::string timeout = "10s";
  std::string connect_timeout = "5s";
  std::vector<int> levels;
  std::string json_path, csv_path, hgrm_path, html_path;
};

// Parses "10s", "250ms", "1.5m", "2h", "100us" or a bare number of seconds.
std::chrono::nanoseconds parse_duration(const std::string& text, const char* what) {
  std::size_t used = 0;
  double value = 0;
  try {
    value = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  std::string unit = text.substr(used);
  double scale = 0;
  if (unit.empty() || unit == "s") {
    scale = 1e9;
  } else if (unit == "ms") {
    scale = 1e6;
  } else if (unit == "us" || unit == "µs") {
    scale = 1e3;
  } else if (unit == "m") {
    scale = 60e9;
  } else if (unit == "h") {
    scale = 3600e9;
  }
  if (used == 0 || scale == 0 || !std::isfinite(value) || value < 0 || value * scale > 1e18)
    throw std::invalid_argument(std::string("bad ") + what + " '" + text +
                                "' (want a number with s, ms, us, m or h)");
  return std::chrono::nanoseconds(static_cast<int64_t>(std::llround(value * scale)));
}

void write_file(const std::string& path, const char* what,
                const std::function<void(std::ostream&)>& write) {
  if (path.empty()) return;
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (out) write(out);
  out.flush();
  if (!out) throw std::runtime_error(std::string("cannot write the ") + what + " to " + path);
}

std::string read_body_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::invalid_argument("cannot read --body-file " + path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

loadgen::Options to_options(const BenchOptions& b) {
  loadgen::Options o;
  o.url = b.url;
  o.method = b.method;
  o.headers = b.headers;
  if (!b.body.empty() && !b.body_file.empty())
    throw std::invalid_argument("give --body or --body-file, not both");
  o.body = b.body_file.empty() ? b.body : read_body_file(b.body_file);
  o.connections = b.connections;
  o.threads = b.threads;
  o.duration = parse_duration(b.duration, "duration");
  o.requests = b.requests;
  o.warmup = parse_duration(b.warmup, "warm-up");
  o.rate = b.rate;
  o.pipeline = b.pipeline;
  o.keep_alive = !b.no_keepalive;
  o.timeout = parse_duration(b.timeout, "timeout");
  o.connect_timeout = parse_duration(b.connect_timeout, "connect timeout");
  (void)loadgen::parse_url(o.url);  // a bad URL fails before anything runs
  return o;
}

// One progress line a second, only when stdout is a terminal.
void print_progress(const loadgen::Progress& p) {
  std::printf("  %4.0fs  %10.0f req/s  p99 %9.3f ms  %llu errors\n", p.elapsed_s, p.last_second_rps,
              static_cast<double>(p.p99_us) / 1000.0, static_cast<unsigned long long>(p.errors));
  std::fflush(stdout);
}

// Raises the open-file limit to its hard maximum, as Go does at start-up, and checks that the
// largest connection level fits under it. Returns an error message, or "".
std::string make_room_for(int connections) {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return {};
  if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    (void)setrlimit(RLIMIT_NOFILE, &rl);
    (void)getrlimit(RLIMIT_NOFILE, &rl);
  }
  if (rl.rlim_cur != RLIM_INFINITY && static_cast<rlim_t>(connections) + 64 > rl.rlim_cur)
    return std::to_string(connections) + " connections need more open files than the limit of " +
           std::to_string(rl.rlim_cur) + " allows (raise it with ulimit -n)";
  return {};
}

int run_bench(const BenchOptions& b) {
  loadgen::Options base;
  try {
    base = to_options(b);
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "weft bench: %s\n", e.what());
    return 2;
  }
  if (isatty(STDOUT_FILENO) != 0) base.on_progress = print_progress;
  std::vector<int> levels = b.levels.empty() ? std::vector<int>{b.connections} : b.levels;
  if (std::string room = make_room_for(*std::max_element(levels.begin(), levels.end()));
      !room.empty()) {
    std::fprintf(stderr, "weft bench: %s\n", room.c_str());
    return 2;
  }

  std::vector<loadgen::RunResult> runs;
  std::string failure;
  int status = 0;
  RuntimeOptions ro;
  ro.max_procs = b.threads;
  // Between answers the generator polls instead of sleeping, so the server under test does not
  // pay an interrupt to wake it for every answer (see RuntimeOptions::idle_poll).
  ro.idle_poll = std::chrono::microseconds(50);
  weft::run(
      [&] {
        for (int level : levels) {
          loadgen::Options o = base;
          o.connections = level;
          if (levels.size() > 1) std::printf("-- %d connections\n", level);
          try {
            runs.push_back(loadgen::run_load(o));
          } catch (const std::invalid_argument& e) {
            failure = e.what();
            status = 2;
            return;
          } catch (const std::exception& e) {
            failure = e.what();
            status = 1;
            return;
          }
          loadgen::write_summary(std::cout, runs.back());
          std::cout << std::endl;
        }
      },
      ro);
  if (!failure.empty()) {
    std::fprintf(stderr, "weft bench: %s\n", failure.c_str());
    return status;
  }
  if (runs.size() > 1) {
    loadgen::write_levels_table(std::cout, runs);
    std::cout << std::endl;
  }
  try {
    write_file(b.json_path, "JSON report", [&](std::ostream& o) { loadgen::write_json(o, runs); });
    write_file(b.csv_path, "CSV timeline", [&](std::ostream& o) { loadgen::write_csv(o, runs); });
    write_file(b.hgrm_path, "percentile distribution",
               [&](std::ostream& o) { runs.back().latency.write_hgrm(o); });
    write_file(b.html_path, "HTML report", [&](std::ostream& o) { loadgen::write_html(o, runs); });
  } catch (const std::exception& e) {
    std::fprintf(stderr, "weft bench: %s\n", e.what());
    return 1;
  }
  // A run that reached nothing is a failure, after saying what was attempted.
  for (const loadgen::RunResult& r : runs) {
    if (r.responses == 0) {
      std::fprintf(stderr,
                   "weft bench: no response from %s (%llu attempted, %llu connect errors)\n",
                   b.url.c_str(), static_cast<unsigned long long>(r.attempted),
                   static_cast<unsigned long long>(r.errors.connect));
      return 1;
    }
  }
  return 0;
}

}  // namespace

std::function<int()> add_bench(CLI::App& app) {
  auto b = std::make_shared<BenchOptions>();
  CLI::App* cmd = app.add_subcommand(
      "bench", "Load-test an HTTP server; latency corrected for coordinated omission with -R");
  cmd->add_option("url", b->url, "http://host[:port]/path")->required();
  cmd->add_option("-c,--connections", b->connections, "Connections to keep open")
      ->capture_default_str()
      ->check(CLI::Range(1, 1'000'000));
  cmd->add_option("-t,--threads", b->threads, "Threads (default: the CPUs this process may use)")
      ->check(CLI::Range(1, 256));
  cmd->add_option("-d,--duration", b->duration, "How long to measure (10s, 500ms, 2m)")
      ->capture_default_str();
  cmd->add_option("-n,--requests", b->requests, "Stop after this many requests instead")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--warmup", b->warmup, "Load sent first and not counted (e.g. 2s)")
      ->capture_default_str();
  cmd->add_option("-R,--rate", b->rate,
                  "Open model: requests per second across all connections; latency is measured "
                  "from each request's intended send time")
      ->check(CLI::PositiveNumber);
  cmd->add_option("-m,--method", b->method, "Request method")->capture_default_str();
  cmd->add_option("-H,--header", b->headers, "Request header \"Name: value\" (repeatable)");
  cmd->add_option("--body", b->body, "Request body");
  cmd->add_option("--body-file", b->body_file, "Read the request body from this file");
  cmd->add_option("--pipeline", b->pipeline, "Requests in flight per connection")
      ->capture_default_str()
      ->check(CLI::Range(1, 1024));
  cmd->add_flag("--no-keepalive", b->no_keepalive, "A new connection for every request");
  cmd->add_option("--timeout", b->timeout, "Per-request timeout")->capture_default_str();
  cmd->add_option("--connect-timeout", b->connect_timeout, "Connect timeout")
      ->capture_default_str();
  cmd->add_option("--concurrency", b->levels,
                  "Connection levels, one measurement each, e.g. 100,500,1000")
      ->delimiter(',')
      ->check(CLI::Range(1, 1'000'000));
  cmd->add_option("--json", b->json_path, "Write the results as JSON to this file");
  cmd->add_option("--csv", b->csv_path, "Write the per-second timeline as CSV to this file");
  cmd->add_option("--hgrm", b->hgrm_path,
                  "Write the latency percentile distribution (HdrHistogram .hgrm, ms)");
  cmd->add_option("--html", b->html_path, "Write a self-contained HTML report to this file");
  return [b] { return run_bench(*b); };
}

}  // namespace weft::cli
