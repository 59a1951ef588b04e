// ServeMux: a request router with Go 1.22's pattern language.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "weft/http/handler.h"

namespace weft::http {

namespace detail {
struct MuxState;
}

// RouteMatch is what ServeMux::match() found for a request.
struct RouteMatch {
  // The handler to run, or nullptr when status says why there is none.
  const Handler* handler = nullptr;
  // The pattern as registered ("GET /items/{id}").
  std::string_view pattern;
  // Wildcard name and matched (decoded) segment text, in pattern order.
  std::vector<std::pair<std::string_view, std::string>> values;
  // 0 when handler is set; 404 (no pattern matches the path), 405 (patterns match the path but
  // not the method; allow lists their methods, comma-separated) or 301 (redirect to
  // redirect_to: the cleaned path, or the path with a trailing slash a subtree pattern wants).
  int status = 0;
  std::string allow;
  std::string redirect_to;
  // Keeps the route table that handler and pattern point into alive.
  std::shared_ptr<const void> hold;
};

// ServeMux routes requests by Go 1.22 patterns: "[METHOD ][HOST]/[PATH]". Segments are
// literals, "{name}" (one whole segment) or "{name...}" (the rest of the path, last only); a
// trailing "/" matches every path below it, and "{$}" at the end matches only the exact path.
// A method "GET" also matches HEAD. When several patterns match, the most specific wins
// (literal beats wildcard segment by segment, a method beats none, a host beats none); two
// patterns that match the same requests with neither more specific are a conflict, reported
// by handle() throwing std::invalid_argument, as is a malformed pattern. No match answers
// 404; a path match with the wrong method answers 405 with Allow. Non-canonical paths ("//",
// "/./", "/../") are redirected to their clean form, as Go does.
//
// ServeMux is a cheap handle (copies share the routes), callable as a Handler. Registering
// while it serves is safe.
class ServeMux {
 public:
  ServeMux();

  // Registers handler for pattern. Throws std::invalid_argument for a malformed pattern, one
  // already registered, or one that conflicts with a registered pattern.
  void handle(std::string_view pattern, Handler handler);
  void handle_func(std::string_view pattern, Handler handler) {
    handle(pattern, std::move(handler));
  }

  // Finds the route for a request (path is the decoded path; host may be "").
  RouteMatch match(std::string_view method, std::string_view host, std::string_view path) const;

  // Serves r: runs the matched handler after setting r's pattern and path values, or answers
  // 404/405/301 itself.
  void operator()(ResponseWriter& w, Request& r) const;

 private:
  std::shared_ptr<detail::MuxState> state_;
};

// The process-wide mux behind handle_func() and listen_and_serve().
ServeMux& default_mux();

}  // namespace weft::http
