// Formatting shared by the report writers (report.cc and html.cc): units, percentages, the
// one-line description of a run, and the lists of percentiles and error classes every output
// walks, so the text, JSON, CSV and HTML reports agree on names, order and rounding.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "weft/loadgen/report.h"

namespace weft::loadgen::detail {

// A duration given in microseconds, with three significant digits in the largest unit that
// keeps it at or above 1: "1.23 ms", "12.3 s" (seconds stay seconds: "4520 s"). In µs, trailing
// zeros are dropped: "90 µs", "40.6 µs".
std::string format_duration_us(double us);
// A byte count with binary units and three significant digits, as format_duration_us does it:
// "512 B", "1.50 KiB", "12.3 MiB".
std::string format_bytes(double bytes);
// value with exactly `decimals` decimals; NaN and infinities print as 0.
std::string format_fixed(double value, int decimals);
// value with at most two decimals and no trailing zeros: "5000", "0.5", "12.25".
std::string format_plain(double value);
// A share (0 to 1) as a percentage with two decimals: 0.0123 gives "1.23%". A nonzero share
// that would show as 0.00% keeps two significant digits instead: 0.0000144 gives "0.0014%".
std::string format_percent(double share);
// Microseconds as milliseconds with three decimals, the resolution of the histograms: "1.234".
std::string format_ms(int64_t us);

// n / of, or 0 when of is 0.
double share_of(uint64_t n, uint64_t of) noexcept;
// value, or 0 when it is NaN or infinite (JSON has no way to write those).
double finite_or_zero(double value) noexcept;

// One line on what the run did: "GET http://h/p: closed model with 64 connections, 2 threads,
// pipeline 1, 10.0 s after 1.00 s warm-up, keep-alive, 5.00 s timeout".
std::string describe_run(const RunConfig& c);
// How a run is named beside its line in charts and tables: "64 connections".
std::string run_label(const RunResult& r);
// A count and its share of a whole: "3 (0.30%)".
std::string count_with_share(uint64_t n, uint64_t of);
// The responses by status code: "200: 995, 404: 5", or "none".
std::string describe_status_codes(const RunResult& r);
// The generator's CPU time: "1.20 s user + 300 ms system = 1.50 s, 1.50 ms per request" (the
// per-request part over attempted requests, left out when there were none).
std::string describe_cpu(const RunResult& r);

// The percentiles every report lists, with their display label and JSON key.
struct PercentileSpec {
  double percentile;
  std::string_view label;  // "p99.9"
  std::string_view key;    // "p99_9"
};
inline constexpr std::array<PercentileSpec, 6> kPercentiles{{
    {50, "p50", "p50"},
    {75, "p75", "p75"},
    {90, "p90", "p90"},
    {99, "p99", "p99"},
    {99.9, "p99.9", "p99_9"},
    {99.99, "p99.99", "p99_99"},
}};

// The error classes in report order, with their display label, JSON key and counter.
struct ErrorClass {
  std::string_view label;  // "bad response"
  std::string_view key;    // "bad_response"
  uint64_t ErrorCounts::*count;
};
inline constexpr std::array<ErrorClass, 5> kErrorClasses{{
    {"connect", "connect", &ErrorCounts::connect},
    {"read", "read", &ErrorCounts::read},
    {"write", "write", &ErrorCounts::write},
    {"timeout", "timeout", &ErrorCounts::timeout},
    {"bad response", "bad_response", &ErrorCounts::bad_response},
}};

// The levels table: its column names and one run's formatted row (connections, req/s with two
// decimals, p99 in ms, error rate as a percentage).
inline constexpr std::array<std::string_view, 4> kLevelColumns{"connections", "req/s", "p99 (ms)",
                                                               "error rate"};
std::array<std::string, 4> level_row(const RunResult& r);

}  // namespace weft::loadgen::detail
