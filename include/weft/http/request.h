// Request: an incoming HTTP request as a handler sees it, with its body as a stream.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "weft/http/headers.h"
#include "weft/http/parser.h"
#include "weft/net/result.h"
#include "weft/runtime/context.h"

namespace weft::http {

namespace detail {
class BodyReader;
class ServerConn;
}  // namespace detail

// The error category of body reads: errors that come from the peer's framing or the limits
// rather than from the socket.
enum class BodyError {
  kTooLarge = 1,  // more than the server's max_body_bytes (answer 413)
  kMalformed,     // bad chunked framing (answer 400)
  kTruncated,     // the connection ended before the declared length
};
const std::error_category& body_error_category() noexcept;
std::error_code make_error_code(BodyError e) noexcept;

// Body is a request body as a stream. read() hands out the decoded bytes (chunked framing
// removed) and returns 0 at the end; the first read of a request that sent
// "Expect: 100-continue" sends "100 Continue" first. Reading more than the server's
// max_body_bytes fails with BodyError::kTooLarge. Errors are values, like net::Conn's.
class Body {
 public:
  // Reads up to buf.size() bytes; 0 at the end of the body.
  [[nodiscard]] Result<std::size_t> read(std::span<std::byte> buf);
  [[nodiscard]] Result<std::size_t> read(void* buf, std::size_t len) {
    return read(std::span<std::byte>(static_cast<std::byte*>(buf), len));
  }
  // Reads the rest of the body into a string.
  [[nodiscard]] Result<std::string> read_all();
  // True once read() returned 0.
  bool at_end() const noexcept;

 private:
  friend class detail::ServerConn;
  friend class Request;
  detail::BodyReader* reader_ = nullptr;
};

// Request is one HTTP request received by a Server. Views (method, target, header values…)
// stay valid until the handler returns; copy what must outlive it.
class Request {
 public:
  Request() = default;
  Request(const Request&) = delete;
  Request& operator=(const Request&) = delete;

  // "GET", "POST"… as sent (methods are case-sensitive).
  std::string_view method() const noexcept { return head_.method; }
  // The request target exactly as sent ("/a%20b?x=1").
  std::string_view target() const noexcept { return head_.target; }
  // The target's path, percent-decoded ("/a b").
  std::string_view path() const noexcept { return target_.path; }
  // The path as sent, still escaped.
  std::string_view raw_path() const noexcept { return target_.raw_path; }
  // Replaces the path the rest of the handler chain sees (strip_prefix uses it): path is the
  // decoded form, raw_path the escaped one. raw_path is not copied: it must stay valid until
  // the handler returns (a suffix of raw_path() does). target() is left as sent.
  void set_path(std::string path, std::string_view raw_path) {
    target_.path = std::move(path);
    target_.raw_path = raw_path;
  }
  // The query string after '?', still escaped.
  std::string_view raw_query() const noexcept { return target_.raw_query; }
  // The decoded query parameters, in order (parsed on first use).
  const QueryParams& query() const;
  // The first value of query parameter name, or "".
  std::string_view query_value(std::string_view name) const;
  // "HTTP/1.1" or "HTTP/1.0", and the minor version alone.
  std::string_view proto() const noexcept {
    return head_.minor_version == 1 ? "HTTP/1.1" : "HTTP/1.0";
  }
  int proto_minor() const noexcept { return head_.minor_version; }
  // The Host field, or the authority of an absolute-form target (which takes precedence).
  std::string_view host() const noexcept {
    return target_.authority.empty() ? head_.host : target_.authority;
  }
  // The header fields; header(name) is headers().get(name).
  const Headers& headers() const noexcept { return head_.headers; }
  std::string_view header(std::string_view name) const noexcept { return head_.headers.get(name); }
  // The declared body length, or -1 when the body is chunked.
  int64_t content_length() const noexcept;
  // The body stream.
  Body& body() noexcept { return body_; }
  // The trailer fields of a chunked body, once it was read to the end.
  const Headers& trailers() const noexcept;
  // The client's address, "host:port".
  std::string_view remote_addr() const;
  // A context cancelled when the client goes away (the connection closes or errors), when the
  // server shuts down, and when the handler returns.
  const Context& context() const;
  // Replaces the context the rest of the handler chain sees (Go's r.WithContext); middleware
  // uses it to add a deadline or values.
  void set_context(Context ctx) { ctx_override_ = std::move(ctx); }
  // The value matched by the {name} or {name...} wildcard of the ServeMux pattern, or "".
  std::string_view path_value(std::string_view name) const noexcept;
  // Sets a path value (the mux does this; middleware and tests may too).
  void set_path_value(std::string_view name, std::string_view value);
  // The ServeMux pattern that matched ("GET /items/{id}"), or "".
  std::string_view pattern() const noexcept { return pattern_; }
  void set_pattern(std::string_view p) { pattern_.assign(p); }
  // The whole parsed head, for code that needs the framing details.
  const RequestHead& head() const noexcept { return head_; }

 private:
  friend class detail::ServerConn;
  void reset() noexcept;

  RequestHead head_;
  Target target_;
  Body body_;
  std::string pattern_;
  std::vector<std::pair<std::string, std::string>> path_values_;
  mutable std::optional<QueryParams> query_;
  std::optional<Context> ctx_override_;
  detail::ServerConn* conn_ = nullptr;
};

}  // namespace weft::http

template <>
struct std::is_error_code_enum<weft::http::BodyError> : std::true_type {};
