// ServerMetrics: the HTTP server's Prometheus instruments.
#pragma once

#include <memory>

#include "weft/metrics/registry.h"

namespace weft::http {

namespace detail {
struct ServerInstruments;
}

// ServerMetrics registers the server's metric families in a registry and is what a Server
// records into when its `metrics` field points at it. Several Servers may share one; their
// figures add up. The families:
//
//   weft_http_requests_total{method, route, status_class}   counter
//       Requests answered by a handler. method is the request's method when it is one of
//       GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS, CONNECT and TRACE, else "OTHER" (so a
//       client cannot grow the label set); route is the ServeMux pattern that matched
//       ("GET /items/{id}"), "" when none did or the handler is not a ServeMux;
//       status_class is "1xx" … "5xx" ("other" for a code outside 100–599).
//   weft_http_request_duration_seconds{route}               histogram
//       From the parsed request head to the response handed to the socket.
//   weft_http_requests_in_flight                            gauge
//       Requests whose handler is running.
//   weft_http_received_bytes_total, weft_http_sent_bytes_total   counter
//       Bytes read from and written to client connections (heads and bodies).
//   weft_http_connections_open                              gauge
//   weft_http_connections_accepted_total                    counter
//   weft_http_connections_rejected_total                    counter
//       Connections accepted while max_connections were already open (answered 503, closed).
//   weft_http_parse_errors_total{kind}                      counter
//       Malformed or refused requests: kind is bad_request (400), body_too_large (413),
//       target_too_long (414), header_too_large (431), not_implemented (501),
//       version_not_supported (505), bad_body (a malformed chunked body) or other. A body
//       found malformed or too large while its handler reads it counts here too, beside the
//       request's answer in weft_http_requests_total.
//   weft_http_timeouts_total{kind}                          counter
//       Connections ended by a deadline: read_header (Server::read_header_timeout, a 408
//       when part of a head had come), read (the body within read_timeout), write
//       (write_timeout) or idle (idle_timeout between requests).
//   A route label is the pattern as registered; one that is not valid UTF-8 (which a label
//   value must be) is "invalid_utf8".
//
// Recording takes no lock and no shared cache line while a connection stays on one route:
// counters are sharded per processor, gauges are computed from counters at scrape time, and
// each connection keeps the children of the route it served last (a request on another route
// looks that route up under a mutex).
//
// The registry must outlive this object. Servers keep it alive while they serve: each
// connection holds the ServerMetrics its serve() call started with.
class ServerMetrics {
 public:
  // Registers the families in registry; throws std::invalid_argument when one is already
  // there (a second ServerMetrics on the same registry).
  explicit ServerMetrics(metrics::Registry& registry);
  ~ServerMetrics();
  ServerMetrics(const ServerMetrics&) = delete;
  ServerMetrics& operator=(const ServerMetrics&) = delete;

  // The instance registered in metrics::Registry::global(), made on first use.
  static const std::shared_ptr<ServerMetrics>& global();

  // For the server's own use.
  detail::ServerInstruments& instruments() noexcept { return *instruments_; }

 private:
  std::unique_ptr<detail::ServerInstruments> instruments_;
};

}  // namespace weft::http
