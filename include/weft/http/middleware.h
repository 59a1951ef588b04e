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

// A sink for log lines (no trailing newline). An empty sink means one line on stderr.
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

// access_log writes one line per request in the Combined Log Format, plus the duration:
// `remote - - [time] "METHOD target PROTO" status bytes "referer" "user-agent" duration_ms`.
Middleware access_log(LogSink sink = nullptr);

// recover turns an exception thrown by the handler into a 500 (when the head has not gone out)
// and a log line naming the request; the connection stays usable.
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
