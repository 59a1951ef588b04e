// Server: an HTTP/1.1 server in the shape of Go's http.Server, with limits and deadlines on by
// default. Every connection is a task written in blocking style.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <system_error>

#include "weft/http/handler.h"
#include "weft/http/server_metrics.h"
#include "weft/net/net.h"

namespace weft::http {

namespace detail {
struct ServerState;
}

// Server serves HTTP/1.1 (and 1.0) on a listener. A default-constructed Server is ready to use:
// it serves the default mux on ":8080" with the limits below. Set the fields before serving;
// changing them while it serves is not supported. Not copyable.
class Server {
 public:
  using Duration = std::chrono::nanoseconds;

  // The address listen_and_serve() listens on ("127.0.0.1:8080", ":8080", "[::1]:0").
  std::string addr = ":8080";
  // The handler every request goes to; empty means the default mux (handle_func()).
  Handler handler;
  // Reading a request head, counted from its first byte (so trickling bytes cannot extend it);
  // on a new connection, counted from the accept. 408 when it passes. 0 disables.
  Duration read_header_timeout = std::chrono::seconds(10);
  // Reading a whole request, head and body, counted from its first byte. 0 disables.
  Duration read_timeout = std::chrono::seconds(60);
  // Writing the response, counted from the end of the request head. 0 disables.
  Duration write_timeout = std::chrono::seconds(60);
  // Waiting for the next request on a kept-alive connection. 0 disables.
  Duration idle_timeout = std::chrono::seconds(120);
  // The request line plus header fields, in bytes (431 beyond it).
  std::size_t max_header_bytes = 64 * 1024;
  // Header fields per request (431 beyond it).
  std::size_t max_header_count = 100;
  // The request target (414 beyond it).
  std::size_t max_target_bytes = 8 * 1024;
  // Request body bytes (413 beyond it); raise it per server, or read less in the handler.
  std::size_t max_body_bytes = 8 * 1024 * 1024;
  // Open connections; a connection over the limit gets 503 and is closed. 0 picks the process's
  // file-descriptor limit less a headroom of 1/16 (and at least 64).
  std::size_t max_connections = 0;
  // Where errors the server cannot report to a client go (accept failures, handler exceptions
  // after the head went out), one line each. Empty sends weft::log a record instead: an error
  // "handler threw" (fields error, remote, method, target) or a warning "accept failed;
  // retrying" (fields error, backoff_ms).
  std::function<void(std::string_view)> error_log;
  // Where the server records its metrics (requests, durations, bytes, connections, errors;
  // see ServerMetrics); empty records none. ServerMetrics::global() exposes them in
  // metrics::Registry::global().
  std::shared_ptr<ServerMetrics> metrics;

  Server();
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Listens on addr and serves until shutdown() or close(); returns the listen error, or
  // std::errc::operation_canceled after shutdown()/close().
  std::error_code listen_and_serve();
  // Serves connections accepted from listener until shutdown() or close() (the listener is
  // closed then). Returns std::errc::operation_canceled after those; another error when
  // accepting fails for good.
  std::error_code serve(net::Listener& listener);
  // Stops accepting, closes idle connections, lets in-flight requests finish and then closes
  // their connections. Returns once every connection is gone, or std::errc::timed_out when the
  // deadline passes first (the remaining connections are closed then).
  std::error_code shutdown(std::chrono::steady_clock::time_point deadline);
  std::error_code shutdown(Duration timeout) {
    return shutdown(std::chrono::steady_clock::now() + timeout);
  }
  // Closes the listener and every connection now.
  void close();

  // Connections open right now.
  std::size_t open_connections() const noexcept;

 private:
  std::shared_ptr<detail::ServerState> state_;
};

// handle_func registers fn for pattern on the default mux (see ServeMux::handle).
void handle_func(std::string_view pattern, Handler fn);
// listen_and_serve serves the default mux (or handler, when given) on addr with a default
// Server; it returns only on failure.
std::error_code listen_and_serve(std::string_view addr, Handler handler = nullptr);

}  // namespace weft::http
