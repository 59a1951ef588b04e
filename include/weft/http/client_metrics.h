// ClientMetrics: Prometheus instruments for http::Client (calls by host and outcome, call
// duration, dials, idle pooled connections, calls in flight), opt-in per Client.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

namespace weft::metrics {
class Registry;
class Counter;
class Gauge;
class Histogram;
template <class Metric>
class Family;
}  // namespace weft::metrics

namespace weft::http {

class ClientMetrics;

namespace detail {

// ClientOutcome is how a call of Client::send() (get(), post()) ended, as the outcome label of
// weft_http_client_requests_total says it: the class of the response's status, or why no
// response came back. A response whose status is 600 or more (outside the range RFC 9110
// allows, though the client returns it) counts as kBadResponse.
enum class ClientOutcome : uint8_t {
  k1xx,  // "1xx".."5xx": a response (after redirects) with a status of that class
  k2xx,
  k3xx,
  k4xx,
  k5xx,
  kConnectError,     // "connect_error": the name lookup or TCP connect failed (refused, …)
  kTimeout,          // "timeout": Client::timeout or dial_timeout passed, in any phase
  kReadError,        // "read_error": reading the response failed, or the server closed early
  kWriteError,       // "write_error": writing the request failed (and no response came)
  kBadResponse,      // "bad_response": malformed or too large, corrupt gzip included
  kBadRequest,       // "bad_request": bad URL (a redirect's Location too), unsupported scheme,
                     // a method or header field that cannot go on the wire
  kTooManyRedirects  // "too_many_redirects": more than Client::max_redirects
};
inline constexpr std::size_t kClientOutcomeCount =
    static_cast<std::size_t>(ClientOutcome::kTooManyRedirects) + 1;

// The outcome label value of o ("2xx", "connect_error", …).
std::string_view outcome_label(ClientOutcome o) noexcept;

// ClientHostMetrics is the children of one "host:port" label value in every per-host family of
// a ClientMetrics. Client looks it up once per call (again only when a redirect changes the
// host) and records into it without a lock; each child is made in its family on first use, so
// a scrape shows only what happened. Internal to the client: not an API.
class ClientHostMetrics {
 public:
  ClientHostMetrics(const ClientHostMetrics&) = delete;
  ClientHostMetrics& operator=(const ClientHostMetrics&) = delete;

  // The host label value: "host:port", or "" when the call's URL could not be parsed.
  const std::string& host() const noexcept { return host_; }
  // Counts one call that ended with outcome and observes its duration.
  void record_call(ClientOutcome outcome, double seconds);
  // Counts one TCP connect, successful or not.
  void record_dial(bool ok);
  // The gauge of this host's idle pooled connections.
  metrics::Gauge& idle();

 private:
  friend class weft::http::ClientMetrics;
  ClientHostMetrics(ClientMetrics& owner, std::string host)
      : owner_(owner), host_(std::move(host)) {}

  ClientMetrics& owner_;
  std::string host_;
  std::array<std::atomic<metrics::Counter*>, kClientOutcomeCount> requests_{};
  std::atomic<metrics::Histogram*> duration_{nullptr};
  std::atomic<metrics::Counter*> dials_ok_{nullptr};
  std::atomic<metrics::Counter*> dials_error_{nullptr};
  std::atomic<metrics::Gauge*> idle_{nullptr};
};

}  // namespace detail

// ClientMetrics is the instruments of http::Client, registered once in a registry and shared by
// any number of Clients (set Client::metrics; copies of a Client share it as they share their
// other settings). The families it registers:
//
//   weft_http_client_requests_total{host, outcome}          counter: calls of send(), get(),
//       post(), one per call whatever it took on the wire (redirect hops and the transparent
//       retry are part of their call); host is the "host:port" of the URL the call ended on
//       (after redirects; "" when the first URL could not be parsed), outcome the status class
//       of the response ("1xx".."5xx") or why there was none (see detail::ClientOutcome)
//   weft_http_client_request_duration_seconds{host}         histogram: the whole call
//   weft_http_client_dials_total{host, result}              counter: TCP connects, "ok"/"error"
//   weft_http_client_idle_connections{host}                 gauge: idle pooled connections
//   weft_http_client_requests_in_flight                     gauge: calls in progress
//
// Labels stay bounded: one host value per host:port the program calls, up to kMaxHosts of them
// (a server redirecting to ever new hosts cannot grow the series without end; calls to hosts
// past the limit count under host "other"), and a fixed set of outcomes.
// The registry must outlive this object and every Client (and copy) that uses it: idle pooled
// connections hold its gauge until they are closed. Thread-safe.
class ClientMetrics {
 public:
  // Distinct host label values; later hosts share the value "other".
  static constexpr std::size_t kMaxHosts = 1000;
  // The upper bounds of the duration histogram's buckets, in seconds: 0.5 ms to 10 s.
  static constexpr std::array<double, 14> kDurationBuckets = {
      .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10};

  // Registers the families above in registry. Throws std::invalid_argument when one of them is
  // already there (a second ClientMetrics on the same registry: share the first instead); the
  // families registered before the clash stay in the registry.
  explicit ClientMetrics(metrics::Registry& registry);
  ~ClientMetrics();
  ClientMetrics(const ClientMetrics&) = delete;
  ClientMetrics& operator=(const ClientMetrics&) = delete;

  // The instance on metrics::Registry::global(), made on first use (thread-safe) and never
  // destroyed. Throws std::invalid_argument, as the constructor, when the global registry
  // already holds one of the families (registered by other code).
  static std::shared_ptr<ClientMetrics> global();

  // The registry the families are in.
  metrics::Registry& registry() const noexcept { return registry_; }

  // What Client records into. The children of host (a "host:port" label value, or "other"
  // past kMaxHosts), made on first use; the reference stays valid as long as this object. Takes a
  // lock: Client looks a host up once per call.
  detail::ClientHostMetrics& host(std::string_view host_port);
  // What Client records into: the gauge of calls in progress.
  metrics::Gauge& in_flight() noexcept { return *in_flight_; }

 private:
  friend class detail::ClientHostMetrics;

  metrics::Registry& registry_;
  metrics::Family<metrics::Counter>* requests_;
  metrics::Family<metrics::Histogram>* duration_;
  metrics::Family<metrics::Counter>* dials_;
  metrics::Family<metrics::Gauge>* idle_;
  metrics::Gauge* in_flight_;

  std::mutex mu_;
  std::map<std::string, std::unique_ptr<detail::ClientHostMetrics>, std::less<>> hosts_;
};

}  // namespace weft::http
