// ResponseWriter, Handler and Middleware: the shapes every HTTP handler in weft has.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string_view>
#include <system_error>
#include <utility>

#include "weft/http/headers.h"
#include "weft/http/request.h"
#include "weft/net/result.h"

namespace weft::http {

// ResponseWriter builds the response to one request, as Go's http.ResponseWriter does.
// Set header() fields, then write_header(code) (optional: the first write sends 200), then
// write() the body. When the handler returns before flush(), the server sends the body with a
// Content-Length; after a flush() (or once the body outgrows the server's buffer) it streams
// the rest chunked, unless the handler set Content-Length itself. Header changes after the
// head went out are ignored. A handler that sets "Connection: close" has the connection closed
// after this response; the other framing fields (Transfer-Encoding, and Content-Length beyond
// stating the length) are the server's. Trailers work as in Go: name them in a "Trailer" field
// before the body (or set fields named "Trailer:Name" at any time) and set their values while
// or after writing; they go out after a chunked body. Wrappers (gzip, logging) derive from it
// and forward.
class ResponseWriter {
 public:
  virtual ~ResponseWriter() = default;

  // The header fields to send; changes after write_header() have no effect.
  virtual Headers& header() = 0;
  // Sends the status (once; later calls are ignored). 1xx codes other than 101 may be sent
  // before the final status.
  virtual void write_header(int code) = 0;
  // Appends body bytes (calling write_header(200) first if needed). Fails when the connection
  // failed or the body exceeds a Content-Length the handler set.
  virtual Result<std::size_t> write(std::span<const std::byte> data) = 0;
  Result<std::size_t> write(std::string_view s) {
    return write(
        std::span<const std::byte>(reinterpret_cast<const std::byte*>(s.data()), s.size()));
  }
  // Sends what is buffered now (the head and the body so far).
  virtual std::error_code flush() = 0;
  // Sends count bytes of the open file fd from offset as body bytes. The server's writer uses
  // sendfile(2) when nothing sits in between; the default reads and calls write().
  virtual std::error_code send_file(int fd, int64_t offset, uint64_t count);

  // The status sent (0 before write_header) and the body bytes accepted so far.
  virtual int status() const noexcept = 0;
  virtual uint64_t bytes_written() const noexcept = 0;
};

// Handler serves one request. Any callable with this shape converts to it.
using Handler = std::function<void(ResponseWriter&, Request&)>;

// Middleware wraps a handler in another (logging, gzip, timeouts…).
using Middleware = std::function<Handler(Handler)>;

// chain(h, a, b) is a(b(h)): the first middleware listed is the outermost.
template <class... M>
Handler chain(Handler h, M&&... middleware) {
  Middleware list[] = {Middleware(std::forward<M>(middleware))...};
  for (std::size_t i = sizeof...(M); i-- > 0;) h = list[i](std::move(h));
  return h;
}
inline Handler chain(Handler h) {
  return h;
}

// Appends text to out with the characters that are markup in HTML (& < > " ') written as
// entities, so it is safe in element content and in quoted attribute values.
void append_html_escaped(std::string& out, std::string_view text);

// error(w, code, message) answers with code and a plain-text message, as Go's http.Error.
void error(ResponseWriter& w, int code, std::string_view message);

// For handlers that serve only reads: true when r is a GET or a HEAD; otherwise answers 405
// with "Allow: GET, HEAD" and returns false.
bool allow_get_head(ResponseWriter& w, const Request& r);
// not_found answers 404 "404 page not found".
void not_found(ResponseWriter& w, Request& r);
// redirect answers code (301, 302, 303, 307, 308) with Location set to url.
void redirect(ResponseWriter& w, Request& r, std::string_view url, int code);

}  // namespace weft::http
