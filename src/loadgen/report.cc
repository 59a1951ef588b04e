// The text, JSON and CSV reports of weft bench, and the formatting helpers all reports share.
#include "weft/loadgen/report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ostream>
#include <span>
#include <utility>

#include <nlohmann/json.hpp>

#include "loadgen/report_format.h"

namespace weft::loadgen {

void ErrorCounts::add(const ErrorCounts& o) noexcept {
  connect += o.connect;
  read += o.read;
  write += o.write;
  timeout += o.timeout;
  bad_response += o.bad_response;
}

namespace {

// n per second of elapsed_s, 0 when no time elapsed.
double per_second(uint64_t n, double elapsed_s) noexcept {
  return elapsed_s > 0 ? static_cast<double>(n) / elapsed_s : 0;
}

}  // namespace

double RunResult::requests_per_second() const noexcept {
  return per_second(responses, elapsed_s);
}
double RunResult::bytes_per_second() const noexcept {
  return per_second(bytes_read, elapsed_s);
}
double RunResult::error_rate() const noexcept {
  return detail::share_of(errors.total(), attempted);
}

namespace detail {

namespace {

struct Unit {
  double size;  // in the base unit
  std::string_view name;
};
constexpr Unit kTimeUnits[] = {{1, "µs"}, {1e3, "ms"}, {1e6, "s"}};
constexpr Unit kByteUnits[] = {
    {1, "B"}, {1024.0, "KiB"}, {1048576.0, "MiB"}, {1073741824.0, "GiB"}, {1099511627776.0, "TiB"}};

// value with at most `decimals` decimals and no trailing zeros: "5000", "0.5".
std::string format_plain_to(double value, int decimals) {
  std::string s = format_fixed(value, decimals);
  if (s.find('.') == std::string::npos) return s;
  s.erase(s.find_last_not_of('0') + 1);
  if (s.back() == '.') s.pop_back();
  return s;
}

// value (in the ladder's first unit) with three significant digits in the largest unit it
// reaches once rounded that way, so 999.7 µs prints as "1.00 ms" and not "1000 µs". The ladder
// goes from the smallest unit (size 1) up; values beyond its last unit keep more digits.
std::string format_scaled(double value, std::span<const Unit> ladder) {
  if (!std::isfinite(value) || value <= 0) return "0 " + std::string(ladder.front().name);
  size_t u = 0;
  while (u + 1 < ladder.size() && value >= ladder[u + 1].size * 0.9995) ++u;
  const double mantissa = value / ladder[u].size;
  const int decimals = mantissa < 9.995 ? 2 : mantissa < 99.95 ? 1 : 0;
  // In the smallest unit values are mostly whole (histograms count whole µs): "90 µs", not
  // "90.0 µs"; fractions still show ("40.6 µs").
  const std::string digits =
      u == 0 ? format_plain_to(mantissa, decimals) : format_fixed(mantissa, decimals);
  return digits + " " + std::string(ladder[u].name);
}

// "1 connection", "64 connections".
std::string counted(uint64_t n, std::string_view noun) {
  return std::to_string(n) + " " + std::string(noun) + (n == 1 ? "" : "s");
}

}  // namespace

std::string format_duration_us(double us) {
  return format_scaled(us, kTimeUnits);
}
std::string format_bytes(double bytes) {
  return format_scaled(bytes, kByteUnits);
}

std::string format_fixed(double value, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, finite_or_zero(value));
  return buf;
}

std::string format_plain(double value) {
  return format_plain_to(value, 2);
}

std::string format_percent(double share) {
  const double percent = finite_or_zero(share * 100);
  if (percent == 0 || std::abs(percent) >= 0.005) return format_fixed(percent, 2) + "%";
  // Two decimals would show a small nonzero share as 0.00%: keep two significant digits.
  const int decimals = 1 - static_cast<int>(std::floor(std::log10(std::abs(percent))));
  return format_plain_to(percent, decimals) + "%";
}
std::string format_ms(int64_t us) {
  return format_fixed(static_cast<double>(us) / 1000, 3);
}

double share_of(uint64_t n, uint64_t of) noexcept {
  return of ? static_cast<double>(n) / static_cast<double>(of) : 0;
}
double finite_or_zero(double value) noexcept {
  return std::isfinite(value) ? value : 0;
}

std::string describe_run(const RunConfig& c) {
  std::string s = c.method + " " + c.url + ": ";
  const std::string connections = counted(static_cast<uint64_t>(c.connections), "connection");
  if (c.rate > 0) {
    s += "open model at " + format_plain(c.rate) + " req/s over " + connections;
  } else {
    s += "closed model with " + connections;
  }
  s += ", " + counted(static_cast<uint64_t>(c.threads), "thread");
  s += ", pipeline " + std::to_string(c.pipeline);
  s += ", " +
       (c.requests > 0 ? counted(c.requests, "request") : format_duration_us(c.duration_s * 1e6));
  if (c.warmup_s > 0) s += " after " + format_duration_us(c.warmup_s * 1e6) + " warm-up";
  s += c.keep_alive ? ", keep-alive" : ", no keep-alive";
  if (c.timeout_s > 0) s += ", " + format_duration_us(c.timeout_s * 1e6) + " timeout";
  return s;
}

std::string run_label(const RunResult& r) {
  return counted(static_cast<uint64_t>(r.config.connections), "connection");
}

std::string count_with_share(uint64_t n, uint64_t of) {
  return std::to_string(n) + " (" + format_percent(share_of(n, of)) + ")";
}

std::string describe_status_codes(const RunResult& r) {
  std::string codes;
  for (const auto& [code, n] : r.status_counts) {
    if (!codes.empty()) codes += ", ";
    codes += std::to_string(code) + ": " + std::to_string(n);
  }
  return codes.empty() ? "none" : codes;
}

std::string describe_cpu(const RunResult& r) {
  const double cpu_us = (r.cpu_user_s + r.cpu_system_s) * 1e6;
  std::string s = format_duration_us(r.cpu_user_s * 1e6) + " user + " +
                  format_duration_us(r.cpu_system_s * 1e6) +
                  " system = " + format_duration_us(cpu_us);
  if (r.attempted > 0) {
    s += ", " + format_duration_us(cpu_us / static_cast<double>(r.attempted)) + " per request";
  }
  return s;
}

std::array<std::string, 4> level_row(const RunResult& r) {
  return {std::to_string(r.config.connections), format_fixed(r.requests_per_second(), 2),
          format_ms(r.latency.value_at_percentile(99)), format_percent(r.error_rate())};
}

}  // namespace detail

namespace {

using namespace detail;
using Row = std::vector<std::string>;

// Columns a UTF-8 string takes in a terminal (one per code point; "µ" is two bytes, one column).
size_t display_width(std::string_view s) {
  return static_cast<size_t>(
      std::count_if(s.begin(), s.end(), [](char c) { return (c & 0xC0) != 0x80; }));
}

std::string pad(std::string_view s, size_t width, bool right_align) {
  const std::string fill(width - std::min(width, display_width(s)), ' ');
  return right_align ? fill + std::string(s) : std::string(s) + fill;
}

// Writes rows as aligned columns, each line indented by `indent` spaces: the first
// `left_columns` columns left-aligned (labels), the others right-aligned (numbers), three spaces
// between columns.
void write_text_table(std::ostream& out, const std::vector<Row>& rows, size_t indent,
                      size_t left_columns = 1) {
  std::vector<size_t> widths;
  for (const Row& row : rows) {
    widths.resize(std::max(widths.size(), row.size()));
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], display_width(row[i]));
  }
  for (const Row& row : rows) {
    std::string line(indent, ' ');
    for (size_t i = 0; i < row.size(); ++i) {
      if (i > 0) line += "   ";
      line += pad(row[i], widths[i], i >= left_columns);
    }
    line.erase(line.find_last_not_of(' ') + 1);
    out << line << '\n';
  }
}

// One "  Label         value" line of the summary.
void write_field(std::ostream& out, std::string_view label, const std::string& value) {
  out << "  " << pad(label, 15, false) << value << '\n';
}

// The histograms the summary's latency tables show, with their row labels.
std::vector<std::pair<std::string, const Histogram*>> latency_rows(const RunResult& r) {
  if (!r.open_model()) return {{"Latency", &r.latency}};
  return {
      {"Latency (corrected)", &r.latency}, {"Service time", &r.service}, {"Send lag", &r.send_lag}};
}

void write_totals(std::ostream& out, const RunResult& r) {
  write_field(out, "Requests",
              std::to_string(r.responses) + " responses, " + std::to_string(r.errors.total()) +
                  " errors, " + std::to_string(r.attempted) + " attempted in " +
                  format_duration_us(r.elapsed_s * 1e6));
  write_field(out, "Throughput",
              format_fixed(r.requests_per_second(), 2) + " req/s, " +
                  format_bytes(r.bytes_per_second()) + "/s (" + format_bytes(r.bytes_read) +
                  " read)");
}

void write_latency_tables(std::ostream& out, const RunResult& r) {
  const auto rows = latency_rows(r);
  std::vector<Row> moments{{"", "min", "mean", "stdev", "max"}};
  Row percentile_header{""};
  for (const PercentileSpec& p : kPercentiles) percentile_header.emplace_back(p.label);
  std::vector<Row> percentiles{percentile_header};
  for (const auto& [label, h] : rows) {
    moments.push_back({label, format_duration_us(h->min()), format_duration_us(h->mean()),
                       format_duration_us(h->stdev()), format_duration_us(h->max())});
    Row row{label};
    for (const PercentileSpec& p : kPercentiles) {
      row.push_back(format_duration_us(h->value_at_percentile(p.percentile)));
    }
    percentiles.push_back(std::move(row));
  }
  write_text_table(out, moments, 2);
  out << '\n';
  write_text_table(out, percentiles, 2);
  if (r.open_model()) {
    out << "  Latency runs from each request's intended send time (corrected for coordinated\n"
           "  omission); service time from its actual send.\n";
  }
}

void write_status_codes(std::ostream& out, const RunResult& r) {
  write_field(out, "Status codes", describe_status_codes(r));
}

void write_errors(std::ostream& out, const RunResult& r) {
  write_field(out, "Errors",
              std::to_string(r.errors.total()) + " of " + std::to_string(r.attempted) +
                  " attempted (" + format_percent(r.error_rate()) + ")");
  std::vector<Row> rows;
  for (const ErrorClass& e : kErrorClasses) {
    const uint64_t n = r.errors.*e.count;
    rows.push_back(
        {std::string(e.label), std::to_string(n), format_percent(share_of(n, r.attempted))});
  }
  write_text_table(out, rows, 4);
}

void write_late_sends(std::ostream& out, const RunResult& r) {
  const uint64_t sends = r.send_lag.count();
  write_field(out, "Late sends",
              std::to_string(r.late_sends) + " of " + std::to_string(sends) + " sends (" +
                  format_percent(share_of(r.late_sends, sends)) +
                  ") went out 1 ms or more behind schedule");
}

void write_cpu(std::ostream& out, const RunResult& r) {
  write_field(out, "Generator CPU", describe_cpu(r));
}

// A note for each histogram that clamped values above its range (its high percentiles and max
// understate the truth).
void write_saturation_notes(std::ostream& out, const RunResult& r) {
  for (const auto& [label, h] : latency_rows(r)) {
    if (h->saturated() == 0) continue;
    write_field(out, "Note",
                label + ": " + std::to_string(h->saturated()) + " values above " +
                    format_duration_us(h->highest()) + " were counted as that");
  }
}

}  // namespace

void write_summary(std::ostream& out, const RunResult& r) {
  out << describe_run(r.config) << "\n\n";
  write_totals(out, r);
  out << '\n';
  write_latency_tables(out, r);
  out << '\n';
  write_status_codes(out, r);
  write_errors(out, r);
  if (r.open_model()) write_late_sends(out, r);
  write_cpu(out, r);
  write_saturation_notes(out, r);
}

void write_levels_table(std::ostream& out, const std::vector<RunResult>& runs) {
  std::vector<Row> rows{Row(kLevelColumns.begin(), kLevelColumns.end())};
  for (const RunResult& r : runs) {
    const auto cells = level_row(r);
    rows.emplace_back(cells.begin(), cells.end());
  }
  write_text_table(out, rows, 0, 0);
}

namespace {

using Json = nlohmann::ordered_json;

Json config_json(const RunConfig& c) {
  return Json{{"url", c.url},
              {"method", c.method},
              {"connections", c.connections},
              {"threads", c.threads},
              {"rate", finite_or_zero(c.rate)},
              {"pipeline", c.pipeline},
              {"keep_alive", c.keep_alive},
              {"duration_s", finite_or_zero(c.duration_s)},
              {"requests", c.requests},
              {"warmup_s", finite_or_zero(c.warmup_s)},
              {"timeout_s", finite_or_zero(c.timeout_s)}};
}

// {min, mean, stdev, max, p50, ..., p99_99}, in the histogram's unit (µs).
Json histogram_json(const Histogram& h) {
  Json j{{"min", h.min()},
         {"mean", finite_or_zero(h.mean())},
         {"stdev", finite_or_zero(h.stdev())},
         {"max", h.max()}};
  for (const PercentileSpec& p : kPercentiles)
    j[std::string(p.key)] = h.value_at_percentile(p.percentile);
  return j;
}

Json status_json(const std::map<int, uint64_t>& counts) {
  Json j = Json::object();
  for (const auto& [code, n] : counts) j[std::to_string(code)] = n;
  return j;
}

Json errors_json(const ErrorCounts& e) {
  Json j = Json::object();
  for (const ErrorClass& c : kErrorClasses) j[std::string(c.key)] = e.*c.count;
  j["total"] = e.total();
  return j;
}

// One entry per second; "second" is the second's start, counted from the start of measurement.
Json timeline_json(const std::vector<Second>& timeline) {
  Json j = Json::array();
  for (size_t i = 0; i < timeline.size(); ++i) {
    const Second& s = timeline[i];
    j.push_back(Json{{"second", i},
                     {"responses", s.responses},
                     {"errors", s.errors},
                     {"bytes", s.bytes},
                     {"p50_us", s.latency.value_at_percentile(50)},
                     {"p99_us", s.latency.value_at_percentile(99)},
                     {"max_us", s.latency.max()}});
  }
  return j;
}

Json run_json(const RunResult& r) {
  Json j{{"config", config_json(r.config)},
         {"elapsed_s", finite_or_zero(r.elapsed_s)},
         {"attempted", r.attempted},
         {"responses", r.responses},
         {"bytes_read", r.bytes_read},
         {"requests_per_second", finite_or_zero(r.requests_per_second())},
         {"bytes_per_second", finite_or_zero(r.bytes_per_second())},
         {"error_rate", finite_or_zero(r.error_rate())},
         {"status_counts", status_json(r.status_counts)},
         {"errors", errors_json(r.errors)},
         {"latency_us", histogram_json(r.latency)}};
  if (r.open_model()) {
    j["service_us"] = histogram_json(r.service);
    j["send_lag_us"] = histogram_json(r.send_lag);
  }
  j["late_sends"] = r.late_sends;
  j["cpu"] =
      Json{{"user_s", finite_or_zero(r.cpu_user_s)}, {"system_s", finite_or_zero(r.cpu_system_s)}};
  j["timeline"] = timeline_json(r.timeline);
  return j;
}

}  // namespace

void write_json(std::ostream& out, const std::vector<RunResult>& runs) {
  Json list = Json::array();
  for (const RunResult& r : runs) list.push_back(run_json(r));
  out << Json{{"runs", std::move(list)}}.dump(2) << '\n';
}

void write_csv(std::ostream& out, const std::vector<RunResult>& runs) {
  out << "connections,second,responses,errors,bytes,p50_ms,p99_ms,max_ms\n";
  for (const RunResult& r : runs) {
    for (size_t i = 0; i < r.timeline.size(); ++i) {
      const Second& s = r.timeline[i];
      out << r.config.connections << ',' << i << ',' << s.responses << ',' << s.errors << ','
          << s.bytes << ',' << format_ms(s.latency.value_at_percentile(50)) << ','
          << format_ms(s.latency.value_at_percentile(99)) << ',' << format_ms(s.latency.max())
          << '\n';
    }
  }
}

}  // namespace weft::loadgen
