// Client: an HTTP/1.1 client in the shape of Go's http.Client, with a keep-alive connection pool,
// redirects, gzip decoding, one transparent retry and limits and timeouts on by default.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>

#include "weft/http/client_metrics.h"
#include "weft/http/headers.h"
#include "weft/net/result.h"

namespace weft::http {

namespace detail {
class ClientPool;
}

// The error category of client calls: errors that come from the URL, the server's response or
// the client's limits rather than from the socket.
enum class ClientError {
  kBadUrl = 1,         // the URL (or a redirect's Location) is malformed
  kTooManyRedirects,   // more than Client::max_redirects redirects
  kMalformedResponse,  // the response broke HTTP/1.1's framing rules, or its gzip is corrupt
  kResponseTooLarge,   // the head or the body went over max_header_bytes / max_response_bytes
  kUnsupportedScheme,  // a scheme other than http (https included: no TLS yet)
};
const std::error_category& client_error_category() noexcept;
std::error_code make_error_code(ClientError e) noexcept;

// ClientRequest is one request for Client::send(). Fields the client manages itself: Host
// (from the URL, unless headers set it; a redirect to another host sets it afresh),
// Content-Length (from body; a caller's Content-Length or Transfer-Encoding is dropped),
// User-Agent and Accept-Encoding (added unless headers set them).
struct ClientRequest {
  // The method, sent as is ("GET", "POST", …); it must be an HTTP token.
  std::string method = "GET";
  // "http://host[:port]/path?query"; an IPv6 host goes in brackets ("http://[::1]:8080/"). A
  // "#fragment" is not sent; spaces and non-ASCII bytes in the path and query are
  // percent-encoded; user info ("user@host") is not supported.
  std::string url;
  // Header fields to send; names must be tokens and values must not hold control characters
  // (tab aside).
  Headers headers;
  // The body, sent with a Content-Length (an empty body sends "Content-Length: 0" for POST,
  // PUT and PATCH, and no Content-Length otherwise).
  std::string body;
};

// Response is a response read in full. The headers own their values.
struct Response {
  // The status code (200, 404, …) and the reason phrase as sent.
  int status = 0;
  std::string reason;
  // HTTP/1.<minor_version> of the response.
  int minor_version = 1;
  // The header fields. After transparent gzip decoding, Content-Encoding and Content-Length are
  // removed, as Go does.
  Headers headers;
  // The whole body (decoded when gzip was decoded; empty for HEAD, 101, 204 and 304).
  std::string body;
  // The URL of the request that produced this response: the final one after redirects.
  std::string url;
};

// Client sends HTTP/1.1 requests and reads whole responses. A default-constructed Client is
// ready to use with the limits below. Calls park the calling task (on a plain thread they block
// it) and return errors as values: a ClientError, std::errc::timed_out when timeout or
// dial_timeout passes, std::errc::connection_reset when the server closed the connection before
// a response began, BodyError::kTruncated when it closed before the body ended, or the socket's
// error as it came.
//
// Copies share the pool of idle connections (as copies of a Go http.Client share their
// Transport); each copy has its own settings. Many tasks may call one Client (or copies of it)
// at once; set the fields before the calls start and do not change them while calls run.
//
// A connection goes back to the pool only when its response was read completely and both sides
// kept it alive. An idempotent request (GET, HEAD, OPTIONS, TRACE, PUT, DELETE) that fails on a
// reused connection before any byte of a response arrived is sent once more on a fresh
// connection (the server may have closed the idle connection as the request went out).
class Client {
 public:
  using Duration = std::chrono::nanoseconds;

  // Connecting, the name lookup excluded. 0 leaves only timeout.
  Duration dial_timeout = std::chrono::seconds(10);
  // The whole call: every redirect hop with its connect, request and response body. 0 disables.
  Duration timeout = std::chrono::seconds(30);
  // Idle connections kept per host:port; more are closed once their response was read.
  std::size_t max_idle_per_host = 32;
  // How long a connection may sit idle in the pool before it is no longer used (checked when one
  // is taken). 0 keeps no idle connections.
  Duration idle_timeout = std::chrono::seconds(90);
  // Redirects followed per call; one more is ClientError::kTooManyRedirects. 0 follows none: the
  // 3xx response is returned to the caller.
  int max_redirects = 10;
  // Body bytes of a response, before and after gzip decoding (kResponseTooLarge beyond).
  std::size_t max_response_bytes = std::size_t{64} << 20;
  // The status line plus header fields of a response (kResponseTooLarge beyond).
  std::size_t max_header_bytes = std::size_t{64} << 10;
  // When the caller set no Accept-Encoding (nor Range), asks for gzip and decodes a gzip body
  // transparently; HEAD requests ask for nothing.
  bool decompress = true;
  // The User-Agent sent when the request sets none ("" sends none).
  std::string user_agent = "weft-http-client/0.1";
  // Where the client's Prometheus metrics go; nullptr (the default) records none. Set it to
  // ClientMetrics::global() (or a ClientMetrics on a registry of your own, which must outlive
  // every Client using it) to count each call of send(), get() and post() once, by the
  // "host:port" it ended on and its outcome, with its duration; every TCP connect; the calls in
  // flight; and the connections this Client puts into the idle pool (an idle connection stays
  // counted in the gauge of the ClientMetrics that pooled it until it leaves the pool, whichever
  // Client takes it). Copies share it, as they share the pool.
  std::shared_ptr<ClientMetrics> metrics;

  Client();
  // Copying (moving too) shares the pool; a moved-from Client stays usable.
  Client(const Client&) = default;
  Client& operator=(const Client&) = default;
  ~Client() = default;

  // Sends GET url.
  Result<Response> get(std::string_view url);
  // Sends POST url with body and "Content-Type: content_type".
  Result<Response> post(std::string_view url, std::string_view content_type, std::string body);
  // Sends req, following redirects: 301 and 302 turn a POST into a GET without body, 303 turns
  // every method but HEAD into a GET without body, 307 and 308 resend the method and body.
  // A relative Location is resolved against the current URL; Authorization, Cookie and
  // Proxy-Authorization are dropped when a redirect leaves the host. Method or header fields
  // that cannot go on the wire give std::errc::invalid_argument.
  Result<Response> send(const ClientRequest& req);
  // Closes every idle connection of the pool (connections in use are unaffected).
  void close_idle_connections();
  // The idle connections in the pool right now, over all hosts (for diagnostics and tests).
  std::size_t idle_connections() const;

 private:
  std::shared_ptr<detail::ClientPool> pool_;
};

}  // namespace weft::http

template <>
struct std::is_error_code_enum<weft::http::ClientError> : std::true_type {};
