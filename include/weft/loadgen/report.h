// What one load-generation run measured, and the ways weft bench writes it out: a summary for
// people, JSON, a per-second CSV timeline, HdrHistogram's .hgrm text, and one self-contained
// HTML page with charts.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <map>
#include <string>
#include <vector>

#include "weft/loadgen/histogram.h"

namespace weft::loadgen {

// Errors by class. Every attempted request ends as exactly one response or one error.
struct ErrorCounts {
  uint64_t connect = 0;       // the connection for it could not be made
  uint64_t read = 0;          // reading the response failed or the peer closed first
  uint64_t write = 0;         // sending the request failed
  uint64_t timeout = 0;       // no complete response within the request timeout
  uint64_t bad_response = 0;  // the response was not valid HTTP/1.1

  // Every error of every class.
  uint64_t total() const noexcept { return connect + read + write + timeout + bad_response; }
  // Adds o's counts class by class.
  void add(const ErrorCounts& o) noexcept;
};

// One second of a run's timeline (seconds counted from the start of measurement).
struct Second {
  uint64_t responses = 0;
  uint64_t errors = 0;
  uint64_t bytes = 0;                   // response bytes read (head and body)
  Histogram latency{3'600'000'000, 2};  // of the responses that completed in this second, µs
};

// The settings a run used, echoed into every output.
struct RunConfig {
  std::string url;
  std::string method = "GET";
  int connections = 0;
  int threads = 0;
  double rate = 0;  // requests per second across all connections; 0 for the closed model
  int pipeline = 1;
  bool keep_alive = true;
  double duration_s = 0;  // planned measurement time (0 when bounded by a request count)
  uint64_t requests = 0;  // planned request count (0 when bounded by time)
  double warmup_s = 0;
  double timeout_s = 0;
};

// RunResult is everything one run measured. Latencies are in microseconds.
struct RunResult {
  RunConfig config;
  double elapsed_s = 0;    // measurement time: from its start until the last request resolved
  uint64_t attempted = 0;  // requests attempted = responses + errors.total()
  uint64_t responses = 0;
  uint64_t bytes_read = 0;
  std::map<int, uint64_t> status_counts;  // responses by status code
  ErrorCounts errors;
  // The latency users saw: in the open model measured from each request's intended send time
  // (corrected for coordinated omission); in the closed model from the actual send.
  Histogram latency;
  // The open model's uncorrected service time: from the actual send to the response's end.
  // Empty in the closed model (where it equals latency).
  Histogram service;
  // How late each send went out after its intended time (open model only).
  Histogram send_lag;
  uint64_t late_sends = 0;  // sends that went out 1 ms or more after their intended time
  double cpu_user_s = 0;    // the generator's own CPU time over the run
  double cpu_system_s = 0;
  std::vector<Second> timeline;

  // True for a run at a fixed rate (-R), where latency counts from the intended send time.
  bool open_model() const noexcept { return config.rate > 0; }
  // Responses (not errors) per second of elapsed_s.
  double requests_per_second() const noexcept;
  // Response bytes read per second of elapsed_s.
  double bytes_per_second() const noexcept;
  // Errors over attempted requests (0 when nothing was attempted).
  double error_rate() const noexcept;
};

// The summary people read at a glance: requests, rates, the latency line and percentiles
// (corrected and uncorrected in the open model), status codes, errors by class over attempted
// requests, send lag and the generator's CPU time.
void write_summary(std::ostream& out, const RunResult& r);

// The seed 2.5 table for a set of runs at different connection counts: connections, req/s,
// p99 and error rate, one row per run.
void write_levels_table(std::ostream& out, const std::vector<RunResult>& runs);

// All runs as one JSON document: {"runs": [ {config, totals, latency percentiles, status
// codes, errors, send lag, cpu, timeline}, ... ]}.
void write_json(std::ostream& out, const std::vector<RunResult>& runs);

// The per-second timeline as CSV with a header row: connections, second, responses, errors,
// bytes, p50_ms, p99_ms, max_ms, one row per second per run.
void write_csv(std::ostream& out, const std::vector<RunResult>& runs);

// One self-contained HTML page (inline SVG and CSS, no scripts or fetched resources): the
// summary table of each run, a latency-by-percentile chart on a log-scaled percentile axis
// (as HdrHistogram's plotter draws it), and the per-second throughput and latency timeline;
// with several runs, the levels table and one line per run in each chart.
void write_html(std::ostream& out, const std::vector<RunResult>& runs);

}  // namespace weft::loadgen
