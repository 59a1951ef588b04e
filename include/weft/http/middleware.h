// Built-in middleware: gzip, access logging, exception recovery, per-handler timeouts,
// request ids, and prefix stripping.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "weft/http/handler.h"

namespace weft::http {

// A sink for log lines (no trailing newline). With an empty sink, the middleware sends a
// structured record to weft::log instead (see weft/log.h).
using LogSink = std::function<void(std::string_view line)>;

// GzipOptions tune gzip().
struct GzipOptions {
  // zlib level 1-9 (6 is zlib's and Go's default).
  int level = 6;
  // Bodies shorter than this go out as they are (compressing them costs more than it saves).
  std::size_t min_size = 256;
  // Content types worth compressing, matched as prefixes of the Content-Type value.
  std::vector<std::string> content_types = {
      "text/",           "application/json",     "application/javascript",
      "application/xml", "application/x-ndjson", "image/svg+xml"};
};

// gzip compresses response bodies for clients whose Accept-Encoding allows gzip (q > 0), when
// the handler did not set Content-Encoding, the Content-Type matches and the body reaches
// min_size. It adds "Vary: Accept-Encoding", drops a Content-Length the handler set, and
// reuses compressors through a weft::Pool (as Go servers pool gzip.Writers in a sync.Pool).
Middleware gzip(GzipOptions options = {});

// access_log records every request once its handler has returned. To a sink it writes one line
// in the Combined Log Format, plus the duration:
// `remote - - [time] "METHOD target PROTO" status bytes "referer" "user-agent" duration_ms`.
// Without a sink it sends weft::log an info record "request" with the fields remote (host:port),
// method, target, proto, status, bytes and duration_ms, then referer, user_agent and
// request_id (see request_id()) when they are not empty.
Middleware access_log(LogSink sink = nullptr);

// recover turns an exception thrown by the handler into a 500 (when the head has not gone out)
// and a report naming the request; the connection stays usable. The report is a line for sink,
// or without one an error record "handler threw" for weft::log with the fields error, remote,
// method, target and request_id (when there is one).
Middleware recover(LogSink sink = nullptr);

// timeout gives the handler at most d. On time, the handler's response goes out as usual.
// Late, the client gets 503 with message at once, the handler's context is cancelled, its
// later writes fail, and the connection closes after the handler has returned (the request
// is only released then, so a slow handler never touches freed state).
Middleware timeout(std::chrono::nanoseconds d, std::string message = "Service Unavailable");

// request_id gives every request an id in header (kept from the request when the client sent
// a well-formed one, else a fresh random 128-bit hex id), echoes it on the response, and makes
// it readable with request_id_of().
Middleware request_id(std::string header = "X-Request-Id");
// The id request_id() assigned to r, or "".
std::string_view request_id_of(const Request& r);

// strip_prefix serves requests whose path starts with prefix by h with the prefix removed
// from the path, and answers 404 to the others.
Handler strip_prefix(std::string prefix, Handler h);

}  // namespace weft::http
