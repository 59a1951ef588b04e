// ServerMetrics: registration of the server's families, and the label mapping the request loop
// uses.
#include "weft/http/server_metrics.h"

#include <algorithm>
#include <array>
#include <stdexcept>

#include "http/server_instruments.h"

namespace weft::http {
namespace detail {

namespace {

constexpr std::array<std::string_view, kMethodLabels> kMethods = {
    "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE", "OTHER"};
constexpr std::array<std::string_view, kStatusClasses> kClasses = {"1xx", "2xx", "3xx",
                                                                   "4xx", "5xx", "other"};
constexpr std::array<std::string_view, static_cast<int>(ParseErrorKind::kCount)> kParseErrors = {
    "bad_request",     "body_too_large",        "target_too_long", "header_too_large",
    "not_implemented", "version_not_supported", "bad_body",        "other"};
constexpr std::array<std::string_view, static_cast<int>(TimeoutKind::kCount)> kTimeouts = {
    "read_header", "read", "write", "idle"};

// Request durations: 100 µs to 10 s.
std::vector<double> duration_buckets() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
          0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10};
}

}  // namespace

int method_label(std::string_view method) noexcept {
  for (int i = 0; i < kMethodLabels - 1; ++i) {
    if (kMethods[static_cast<std::size_t>(i)] == method) return i;
  }
  return kMethodLabels - 1;
}

int status_class_label(int status) noexcept {
  if (status < 100 || status > 599) return kStatusClasses - 1;
  return status / 100 - 1;
}

ParseErrorKind parse_error_kind(int status) noexcept {
  switch (status) {
    case 400:
      return ParseErrorKind::kBadRequest;
    case 413:
      return ParseErrorKind::kBodyTooLarge;
    case 414:
      return ParseErrorKind::kTargetTooLong;
    case 431:
      return ParseErrorKind::kHeaderTooLarge;
    case 501:
      return ParseErrorKind::kNotImplemented;
    case 505:
      return ParseErrorKind::kVersionNotSupported;
    default:
      return ParseErrorKind::kOther;
  }
}

ServerInstruments::ServerInstruments(metrics::Registry& registry)
    : requests_family(registry.counter("weft_http_requests_total",
                                       "HTTP requests answered by a handler.",
                                       {"method", "route", "status_class"})),
      duration_family(registry.histogram(
          "weft_http_request_duration_seconds",
          "Time from a parsed request head to the response handed to the socket, in seconds.",
          duration_buckets(), {"route"})),
      received_bytes(
          registry.counter("weft_http_received_bytes_total", "Bytes read from client connections.")
              .get()),
      sent_bytes(
          registry.counter("weft_http_sent_bytes_total", "Bytes written to client connections.")
              .get()),
      accepted(registry
                   .counter("weft_http_connections_accepted_total",
                            "Client connections accepted (those rejected included).")
                   .get()),
      rejected(registry
                   .counter("weft_http_connections_rejected_total",
                            "Client connections refused with 503 at max_connections.")
                   .get()) {
  metrics::CounterFamily& parse = registry.counter(
      "weft_http_parse_errors_total", "Requests refused before a handler ran, by kind.", {"kind"});
  for (std::size_t i = 0; i < kParseErrors.size(); ++i)
    parse_errors[i] = &parse.with({kParseErrors[i]});
  metrics::CounterFamily& timeout = registry.counter(
      "weft_http_timeouts_total", "Client connections ended by a deadline, by kind.", {"kind"});
  for (std::size_t i = 0; i < kTimeouts.size(); ++i) timeouts[i] = &timeout.with({kTimeouts[i]});
  registry.gauge_func("weft_http_requests_in_flight", "HTTP requests whose handler is running.",
                      [live = live] {
                        // Finished first: every finish follows its start, so this never
                        // reads below zero.
                        double finished = live->requests_finished.value();
                        return std::max(0.0, live->requests_started.value() - finished);
                      });
  registry.gauge_func("weft_http_connections_open", "Client connections open.", [live = live] {
    double closed = live->connections_closed.value();
    return std::max(0.0, live->connections_opened.value() - closed);
  });
}

RouteInstruments* ServerInstruments::route(std::string_view pattern) {
  std::lock_guard<std::mutex> g(mu_);
  auto it = routes_.find(pattern);
  if (it != routes_.end()) return it->second.get();
  auto r = std::make_unique<RouteInstruments>();
  r->pattern = std::string(pattern);
  r->route = r->pattern;
  try {
    r->duration = &duration_family.with({pattern});
  } catch (const std::invalid_argument&) {
    r->route = "invalid_utf8";  // Request::set_pattern may be given any bytes
    r->duration = &duration_family.with({r->route});
  }
  RouteInstruments* raw = r.get();
  routes_.emplace(std::string(pattern), std::move(r));
  return raw;
}

void ServerInstruments::count_request(RouteInstruments* r, int method, int status_class,
                                      double seconds) {
  std::atomic<metrics::Counter*>& slot = r->requests[method][status_class];
  metrics::Counter* c = slot.load(std::memory_order_acquire);
  if (c == nullptr) {
    // Family::with returns the same child every time, so a race here is harmless.
    c = &requests_family.with({kMethods[static_cast<std::size_t>(method)], r->route,
                               kClasses[static_cast<std::size_t>(status_class)]});
    slot.store(c, std::memory_order_release);
  }
  c->inc();
  r->duration->observe(seconds);
}

}  // namespace detail

ServerMetrics::ServerMetrics(metrics::Registry& registry)
    : instruments_(std::make_unique<detail::ServerInstruments>(registry)) {}

ServerMetrics::~ServerMetrics() = default;

const std::shared_ptr<ServerMetrics>& ServerMetrics::global() {
  static const std::shared_ptr<ServerMetrics> instance =
      std::make_shared<ServerMetrics>(metrics::Registry::global());
  return instance;
}

}  // namespace weft::http
