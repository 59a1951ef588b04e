// ClientMetrics: the client's families, the per-host children made on first use, and the
// process-wide instance.
#include "weft/http/client_metrics.h"

#include <vector>

#include "weft/metrics/family.h"
#include "weft/metrics/registry.h"

namespace weft::http {

namespace detail {

namespace {

// Label values, indexed by ClientOutcome.
constexpr std::array<std::string_view, kClientOutcomeCount> kOutcomeLabels = {
    "1xx",     "2xx",        "3xx",         "4xx",          "5xx",         "connect_error",
    "timeout", "read_error", "write_error", "bad_response", "bad_request", "too_many_redirects",
};

// The child in slot, made in family with label_values the first time. Two tasks may make it at
// once: Family::with hands both the same child, so either store is right.
template <class Metric>
Metric& child(std::atomic<Metric*>& slot, metrics::Family<Metric>& family,
              std::initializer_list<std::string_view> label_values) {
  Metric* m = slot.load(std::memory_order_acquire);
  if (m == nullptr) {
    m = &family.with(label_values);
    slot.store(m, std::memory_order_release);
  }
  return *m;
}

}  // namespace

std::string_view outcome_label(ClientOutcome o) noexcept {
  return kOutcomeLabels[static_cast<std::size_t>(o)];
}

void ClientHostMetrics::record_call(ClientOutcome outcome, double seconds) {
  child(requests_[static_cast<std::size_t>(outcome)], *owner_.requests_,
        {host_, outcome_label(outcome)})
      .inc();
  child(duration_, *owner_.duration_, {host_}).observe(seconds);
}

void ClientHostMetrics::record_dial(bool ok) {
  if (ok) {
    child(dials_ok_, *owner_.dials_, {host_, "ok"}).inc();
  } else {
    child(dials_error_, *owner_.dials_, {host_, "error"}).inc();
  }
}

metrics::Gauge& ClientHostMetrics::idle() {
  return child(idle_, *owner_.idle_, {host_});
}

}  // namespace detail

ClientMetrics::ClientMetrics(metrics::Registry& registry)
    : registry_(registry),
      requests_(&registry.counter(
          "weft_http_client_requests_total",
          "HTTP client calls (send, get, post), redirects and the transparent retry included, by "
          "the host:port the call ended on and outcome: the response's status class, or why "
          "there was none.",
          {"host", "outcome"})),
      duration_(&registry.histogram(
          "weft_http_client_request_duration_seconds",
          "Duration of HTTP client calls, from the call to the whole response (redirects "
          "included) or the error, by the host:port the call ended on.",
          std::vector<double>(kDurationBuckets.begin(), kDurationBuckets.end()), {"host"})),
      dials_(&registry.counter("weft_http_client_dials_total",
                               "TCP connects made by the HTTP client's pool, by host:port and "
                               "result (ok or error).",
                               {"host", "result"})),
      idle_(&registry.gauge("weft_http_client_idle_connections",
                            "Idle keep-alive connections in the HTTP client's pool, by host:port.",
                            {"host"})),
      in_flight_(
          &registry.gauge("weft_http_client_requests_in_flight", "HTTP client calls in progress.")
               .get()) {}

ClientMetrics::~ClientMetrics() = default;

std::shared_ptr<ClientMetrics> ClientMetrics::global() {
  // Never destroyed, as the global registry: pooled connections may still hold its gauges at
  // exit.
  static const auto* const instance = new std::shared_ptr<ClientMetrics>(
      std::make_shared<ClientMetrics>(metrics::Registry::global()));
  return *instance;
}

detail::ClientHostMetrics& ClientMetrics::host(std::string_view host_port) {
  std::lock_guard<std::mutex> g(mu_);
  auto it = hosts_.find(host_port);
  if (it == hosts_.end() && hosts_.size() >= kMaxHosts) {
    host_port = "other";
    it = hosts_.find(host_port);
  }
  if (it == hosts_.end()) {
    std::unique_ptr<detail::ClientHostMetrics> h(
        new detail::ClientHostMetrics(*this, std::string(host_port)));
    it = hosts_.emplace(std::string(host_port), std::move(h)).first;
  }
  return *it->second;
}

}  // namespace weft::http
