// ServerInstruments: what ServerMetrics holds, in the shape the request loop records into.
// Internal to the server.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "weft/metrics/counter.h"
#include "weft/metrics/family.h"
#include "weft/metrics/histogram.h"

namespace weft::http::detail {

// The method labels: the standard methods, then "OTHER".
inline constexpr int kMethodLabels = 10;
// The status class labels: "1xx" … "5xx", then "other".
inline constexpr int kStatusClasses = 6;

// The label index of a method and of a status code.
int method_label(std::string_view method) noexcept;
int status_class_label(int status) noexcept;

enum class ParseErrorKind {
  kBadRequest,
  kBodyTooLarge,
  kTargetTooLong,
  kHeaderTooLarge,
  kNotImplemented,
  kVersionNotSupported,
  kBadBody,
  kOther,
  kCount
};
enum class TimeoutKind { kReadHeader, kRead, kWrite, kIdle, kCount };

// The parse error kind of a status a request was refused with.
ParseErrorKind parse_error_kind(int status) noexcept;

// RouteInstruments: the children of one route, made on first use.
struct RouteInstruments {
  metrics::Histogram* duration = nullptr;
  std::atomic<metrics::Counter*> requests[kMethodLabels][kStatusClasses] = {};
  std::string pattern;  // as the request had it
  std::string route;    // the label value
};

struct ServerInstruments {
  explicit ServerInstruments(metrics::Registry& registry);

  // The instruments of route (the pattern that matched, or ""), made on first use. A pattern
  // that is not valid UTF-8 (a label value must be) is labelled "invalid_utf8".
  RouteInstruments* route(std::string_view pattern);
  // Counts one answered request.
  void count_request(RouteInstruments* r, int method, int status_class, double seconds);

  void count_parse_error(ParseErrorKind kind) noexcept {
    parse_errors[static_cast<int>(kind)]->inc();
  }
  void count_timeout(TimeoutKind kind) noexcept { timeouts[static_cast<int>(kind)]->inc(); }

  metrics::CounterFamily& requests_family;
  metrics::HistogramFamily& duration_family;
  metrics::Counter& received_bytes;
  metrics::Counter& sent_bytes;
  metrics::Counter& accepted;
  metrics::Counter& rejected;
  metrics::Counter* parse_errors[static_cast<int>(ParseErrorKind::kCount)] = {};
  metrics::Counter* timeouts[static_cast<int>(TimeoutKind::kCount)] = {};
  // The gauges are differences of these, taken at scrape time. Shared with the registry's
  // gauge functions, which may outlive this object.
  struct LiveCounts {
    metrics::Counter requests_started, requests_finished;
    metrics::Counter connections_opened, connections_closed;
  };
  std::shared_ptr<LiveCounts> live = std::make_shared<LiveCounts>();

 private:
  std::mutex mu_;  // guards routes_
  std::map<std::string, std::unique_ptr<RouteInstruments>, std::less<>> routes_;
};

}  // namespace weft::http::detail
