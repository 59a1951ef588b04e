// libFuzzer target for ServeMux pattern parsing, conflict detection and match(). Two modes:
//
//  - Patterns and requests (any input not starting with '!'): the lines before the first empty
//    line are patterns (at most kMaxPatterns), each registered if handle() accepts it; every
//    later line (at most kMaxRequests) is a request "METHOD HOST PATH", "METHOD PATH" or "PATH"
//    (fields split at the first two spaces; the method defaults to GET, the host to ""), whose
//    path is percent-decoded when its escapes are valid, so any byte can reach the router.
//  - Fixed routes ("!" then a path): a realistic route set is registered once, and the raw bytes
//    after the '!' are matched as the path with each of a few methods and hosts.
//
// Invariants: nothing but std::invalid_argument escapes handle(), and re-registering an accepted
// pattern throws; the accepted patterns register in reverse order without a conflict and that mux
// answers every request the same way; matching is deterministic. status is 0, 301, 404 or 405.
// On 0 the handler is the one registered for the returned pattern, which (per a reference
// matcher written from the documented pattern language) matches the request with exactly the
// returned wildcard values, and no other matching pattern is more specific (a host beats no host,
// a method beats none, then the narrower path wins). On 404/405 no pattern matches the request;
// on 404 none matches its path with any method; on 405 allow is a sorted list of registered
// methods without the request's. On 301 redirect_to is rooted, is the clean path when the path
// was not clean, and is not redirected again.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fuzz_check.h"
#include "weft/http/handler.h"
#include "weft/http/headers.h"
#include "weft/http/mux.h"
#include "weft/http/parser.h"

namespace {

using weft::http::equal_fold;
using weft::http::Handler;
using weft::http::Request;
using weft::http::ResponseWriter;
using weft::http::RouteMatch;
using weft::http::ServeMux;

constexpr std::size_t kMaxPatterns = 16;
constexpr std::size_t kMaxRequests = 16;

// The handler registered for the pattern with index id; match() results are traced back to
// their pattern through it.
struct RouteTag {
  std::size_t id;
  void operator()(ResponseWriter& /*w*/, Request& /*r*/) const {}
};

enum class Kind : uint8_t { kLiteral, kWild, kMulti, kDollar };

struct Seg {
  Kind kind;
  std::string text;  // the decoded literal, or the wildcard name ("" for a trailing '/')
};

// An accepted pattern, parsed again by the reference rules below.
struct RefPattern {
  std::string text;
  std::string method;  // "" for any
  std::string host;    // lower-cased, "" for any
  std::vector<Seg> segs;
  std::vector<std::string> names;
};

// Only called on patterns handle() accepted: "[METHOD<space>][HOST]/PATH", whose path segments
// are literals (percent-decoded where the escapes are valid), "{name}", "{name...}" (last), or
// "{$}" (last); a trailing '/' is an anonymous "{...}".
RefPattern parse_ref(std::string_view s) {
  RefPattern p;
  p.text.assign(s);
  std::string_view rest = s;
  if (std::size_t sp = s.find_first_of(" \t"); sp != std::string_view::npos) {
    p.method.assign(s.substr(0, sp));
    rest = s.substr(sp + 1);
    constexpr std::string_view kSpace = " \t\r\n\v\f";
    std::size_t b = rest.find_first_not_of(kSpace);
    rest = b == std::string_view::npos ? std::string_view() : rest.substr(b);
    rest = rest.substr(0, rest.find_last_not_of(kSpace) + 1);
  }
  std::size_t slash = rest.find('/');
  FUZZ_CHECK(slash != std::string_view::npos);
  for (char c : rest.substr(0, slash))
    p.host.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c);
  std::string_view path = rest.substr(slash);
  while (!path.empty()) {
    path.remove_prefix(1);
    std::size_t end = path.find('/');
    std::string_view seg = path.substr(0, end);
    path = end == std::string_view::npos ? std::string_view() : path.substr(end);
    if (seg.empty() && path.empty()) {
      p.segs.push_back({Kind::kMulti, {}});
    } else if (seg.starts_with('{')) {
      std::string_view name = seg.substr(1, seg.size() - 2);
      if (name == "$") {
        p.segs.push_back({Kind::kDollar, {}});
        continue;
      }
      bool multi = name.ends_with("...");
      if (multi) name.remove_suffix(3);
      p.segs.push_back({multi ? Kind::kMulti : Kind::kWild, std::string(name)});
      p.names.emplace_back(name);
    } else {
      std::string lit;
      if (!weft::http::percent_decode(seg, lit)) lit.assign(seg);
      p.segs.push_back({Kind::kLiteral, std::move(lit)});
    }
  }
  return p;
}

// A clean path is rooted and has no empty, "." or ".." segment (a trailing '/' is fine).
bool is_clean(std::string_view p) {
  if (p.empty() || p[0] != '/') return false;
  for (std::string_view bad : {"//", "/./", "/../"})
    if (p.find(bad) != std::string_view::npos) return false;
  return !p.ends_with("/.") && !p.ends_with("/..");
}

// The host a request is routed by: without a ":port" (the bracketed IPv6 form loses its
// brackets), and unchanged when it does not split that way.
std::string_view route_host(std::string_view h) {
  std::size_t colon = h.rfind(':');
  if (colon == std::string_view::npos) return h;
  if (h[0] == '[') {
    std::size_t close = h.find(']');
    return close != std::string_view::npos && close + 1 == colon ? h.substr(1, close - 1) : h;
  }
  if (h.find(':') != colon || h.find_first_of("[]") != std::string_view::npos) return h;
  return h.substr(0, colon);
}

// How well a pattern's method fits a request method: -1 not at all, 0 any method, 1 GET for a
// HEAD request, 2 the method itself.
int method_rank(const RefPattern& p, std::string_view method) {
  if (p.method.empty()) return 0;
  if (p.method == method) return 2;
  return p.method == "GET" && method == "HEAD" ? 1 : -1;
}

bool host_fits(const RefPattern& p, std::string_view host) {
  return p.host.empty() || equal_fold(p.host, host);
}

// Matches a request path against p's segments. A single wildcard or a literal takes one
// segment but never the bare trailing '/', which only "{$}" and a multi wildcard match; the
// values of the named wildcards go to values.
bool path_fits(const RefPattern& p, std::string_view rest, std::vector<std::string>* values) {
  for (const Seg& s : p.segs) {
    if (rest.empty() || rest[0] != '/') return false;
    if (s.kind == Kind::kMulti) {
      if (!s.text.empty() && values) values->emplace_back(rest.substr(1));
      return true;
    }
    if (s.kind == Kind::kDollar) return rest == "/";
    if (rest == "/") return false;
    std::size_t end = rest.find('/', 1);
    std::string_view seg = rest.substr(1, end == std::string_view::npos ? end : end - 1);
    rest = end == std::string_view::npos ? std::string_view() : rest.substr(end);
    if (s.kind == Kind::kLiteral && seg != s.text) return false;
    if (s.kind == Kind::kWild && values) values->emplace_back(seg);
  }
  return rest.empty();
}

// True when every path a matches, b matches too.
bool path_within(const RefPattern& a, const RefPattern& b) {
  for (std::size_t i = 0;; ++i) {
    if (i == b.segs.size()) return i == a.segs.size();
    if (i == a.segs.size()) return false;
    const Seg& x = a.segs[i];
    const Seg& y = b.segs[i];
    if (y.kind == Kind::kMulti) return true;
    if (x.kind == Kind::kMulti) return false;
    if (y.kind == Kind::kDollar || x.kind == Kind::kDollar) return x.kind == y.kind;
    if (y.kind == Kind::kLiteral && (x.kind != Kind::kLiteral || x.text != y.text)) return false;
  }
}

// The mux under test, the same accepted patterns registered in reverse order, and their
// reference parses (index = RouteTag id).
struct Routes {
  ServeMux mux;
  ServeMux reversed;
  std::vector<RefPattern> patterns;
};

bool try_handle(ServeMux& mux, std::string_view pattern, std::size_t id) {
  try {
    mux.handle(pattern, RouteTag{id});
    return true;
  } catch (const std::invalid_argument&) {
    return false;
  }
}

void add_pattern(Routes& rs, std::string_view pattern) {
  if (try_handle(rs.mux, pattern, rs.patterns.size())) rs.patterns.push_back(parse_ref(pattern));
}

// Registers the accepted patterns in reverse order: conflicts are pairwise and symmetric, so
// none may be refused. An accepted pattern cannot be registered twice.
void finish(Routes& rs) {
  for (std::size_t i = rs.patterns.size(); i-- > 0;)
    FUZZ_CHECK(try_handle(rs.reversed, rs.patterns[i].text, i));
  if (!rs.patterns.empty()) FUZZ_CHECK(!try_handle(rs.mux, rs.patterns.back().text, 0));
  bool threw = false;
  try {
    rs.mux.handle("/never-registered", Handler());
  } catch (const std::invalid_argument&) {
    threw = true;
  }
  FUZZ_CHECK(threw);
}

// The RouteTag id of a match's handler (patterns.size() for none).
std::size_t tag_of(const RouteMatch& m, std::size_t none) {
  if (!m.handler) return none;
  const RouteTag* tag = m.handler->target<RouteTag>();
  FUZZ_CHECK(tag != nullptr);
  return tag->id;
}

bool same(const RouteMatch& a, const RouteMatch& b) {
  return a.status == b.status && tag_of(a, SIZE_MAX) == tag_of(b, SIZE_MAX) &&
         a.pattern == b.pattern && a.values == b.values && a.allow == b.allow &&
         a.redirect_to == b.redirect_to;
}

// The comma-separated methods of an Allow value.
std::vector<std::string_view> split_allow(std::string_view allow) {
  std::vector<std::string_view> out;
  while (true) {
    std::size_t comma = allow.find(", ");
    out.push_back(allow.substr(0, comma));
    if (comma == std::string_view::npos) return out;
    allow.remove_prefix(comma + 2);
  }
}

void check_allow(const Routes& rs, std::string_view allow, std::string_view method) {
  FUZZ_CHECK(!allow.empty());
  std::vector<std::string_view> methods = split_allow(allow);
  bool get = false;
  for (const RefPattern& p : rs.patterns) get = get || p.method == "GET";
  for (std::size_t i = 0; i < methods.size(); ++i) {
    std::string_view m = methods[i];
    FUZZ_CHECK(!m.empty() && m != method);
    if (i > 0) FUZZ_CHECK(methods[i - 1] < m);
    bool known = m == "HEAD" && get;
    for (const RefPattern& p : rs.patterns) known = known || p.method == m;
    FUZZ_CHECK(known);
  }
}

void check_request(const Routes& rs, std::string_view method, std::string_view host,
                   std::string_view path) {
  RouteMatch m = rs.mux.match(method, host, path);
  FUZZ_CHECK(same(m, rs.mux.match(method, host, path)));
  FUZZ_CHECK(same(m, rs.reversed.match(method, host, path)));

  bool connect = method == "CONNECT";
  // CONNECT requests are routed as sent; others by the clean path and the host without port.
  std::string_view rhost = connect ? host : route_host(host);
  bool clean = connect || is_clean(path);
  const std::size_t n = rs.patterns.size();

  switch (m.status) {
    case 0: {
      FUZZ_CHECK(clean && m.allow.empty() && m.redirect_to.empty() && m.hold != nullptr);
      std::size_t id = tag_of(m, n);
      FUZZ_CHECK(id < n);
      const RefPattern& p = rs.patterns[id];
      FUZZ_CHECK(m.pattern == p.text);
      std::vector<std::string> values;
      FUZZ_CHECK(method_rank(p, method) >= 0 && host_fits(p, rhost));
      FUZZ_CHECK(path_fits(p, path, &values));
      FUZZ_CHECK(m.values.size() == p.names.size() && values.size() == p.names.size());
      for (std::size_t i = 0; i < values.size(); ++i) {
        FUZZ_CHECK(!m.values[i].first.empty() && m.values[i].first == p.names[i]);
        FUZZ_CHECK(m.values[i].second == values[i]);
      }
      // Nothing else that matches takes precedence.
      for (std::size_t j = 0; j < n; ++j) {
        const RefPattern& q = rs.patterns[j];
        if (j == id || method_rank(q, method) < 0 || !host_fits(q, rhost) ||
            !path_fits(q, path, nullptr))
          continue;
        FUZZ_CHECK(!p.host.empty() || q.host.empty());
        if (p.host.empty() != q.host.empty()) continue;
        FUZZ_CHECK(method_rank(p, method) >= method_rank(q, method));
        if (method_rank(p, method) == method_rank(q, method)) FUZZ_CHECK(path_within(p, q));
      }
      return;
    }
    case 301: {
      FUZZ_CHECK(!m.redirect_to.empty() && m.redirect_to[0] == '/');
      if (clean) {
        FUZZ_CHECK(m.redirect_to == std::string(path) + "/");
      } else {
        FUZZ_CHECK(is_clean(m.redirect_to));
      }
      FUZZ_CHECK(rs.mux.match(method, host, m.redirect_to).status != 301);
      break;
    }
    case 404:
    case 405:
      FUZZ_CHECK(clean);
      for (const RefPattern& q : rs.patterns) {
        if (!host_fits(q, rhost) || !path_fits(q, path, nullptr)) continue;
        FUZZ_CHECK(method_rank(q, method) < 0 && m.status == 405);
      }
      if (m.status == 404) {
        FUZZ_CHECK(m.allow.empty());
      } else {
        check_allow(rs, m.allow, method);
      }
      break;
    default:
      FUZZ_CHECK(m.status == 0 || m.status == 301 || m.status == 404 || m.status == 405);
  }
  FUZZ_CHECK(m.handler == nullptr && m.pattern.empty() && m.values.empty());
  if (m.status != 405) FUZZ_CHECK(m.allow.empty());
  if (m.status != 301) FUZZ_CHECK(m.redirect_to.empty());
}

// Splits a line into the request fields and matches it.
void run_request_line(const Routes& rs, std::string_view line) {
  std::string_view fields[3];
  std::size_t count = 0;
  while (count < 2) {
    std::size_t sp = line.find(' ');
    if (sp == std::string_view::npos) break;
    fields[count++] = line.substr(0, sp);
    line.remove_prefix(sp + 1);
  }
  fields[count++] = line;
  std::string_view method = count >= 2 ? fields[0] : "GET";
  std::string_view host = count == 3 ? fields[1] : "";
  std::string_view raw_path = fields[count - 1];
  std::string path;
  if (!weft::http::percent_decode(raw_path, path)) path.assign(raw_path);
  check_request(rs, method, host, path);
}

void run_patterns_and_requests(std::string_view in) {
  Routes rs;
  std::size_t pattern_lines = 0;
  std::size_t requests = 0;
  bool in_patterns = true;
  while (!in.empty() && requests < kMaxRequests) {
    std::size_t nl = in.find('\n');
    std::string_view line = in.substr(0, nl);
    in = nl == std::string_view::npos ? std::string_view() : in.substr(nl + 1);
    if (in_patterns) {
      if (!line.empty() && pattern_lines < kMaxPatterns) {
        ++pattern_lines;
        add_pattern(rs, line);
        continue;
      }
      in_patterns = false;
      finish(rs);
      if (line.empty()) continue;
    }
    ++requests;
    run_request_line(rs, line);
  }
  if (in_patterns) finish(rs);
}

// A route set like a real service's: subtrees, wildcards, {$}, methods (GET also serving HEAD,
// a HEAD of its own), host patterns, CONNECT and an escaped literal.
constexpr std::string_view kFixedPatterns[] = {
    "GET /{$}",
    "GET /favicon.ico",
    "GET /static/",
    "GET /ping",
    "HEAD /ping",
    "OPTIONS /{$}",
    "GET /items/",
    "POST /items/{$}",
    "GET /items/new",
    "GET /items/{id}",
    "PUT /items/{id}",
    "DELETE /items/{id}",
    "GET /items/{id}/edit",
    "/users/{user}/",
    "GET /users/me/settings",
    "GET /users/{user}/repos/{repo}/issues/{number}",
    "/files/{path...}",
    "GET /files/README",
    "GET /docs/{$}",
    "GET /docs/{page}",
    "GET /docs/{section}/{page}",
    "GET /caf%C3%A9/{$}",
    "GET /a/{x}/b/{y}/c/{z}/{rest...}",
    "CONNECT /tunnel/{target...}",
    "api.example.com/",
    "api.example.com/v1/{rest...}",
    "GET api.example.com/v1/health",
    "GET api.example.com/v1/items/{id}",
    "POST api.example.com/v1/items/{$}",
};

constexpr std::string_view kMethods[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT"};
constexpr std::string_view kHosts[] = {"", "api.example.com", "API.Example.COM:8443", "other.test"};

Routes make_fixed_routes() {
  Routes rs;
  for (std::string_view p : kFixedPatterns) {
    std::size_t before = rs.patterns.size();
    add_pattern(rs, p);
    if (rs.patterns.size() == before)
      std::fprintf(stderr, "fixed pattern refused: %.*s\n", static_cast<int>(p.size()), p.data());
    FUZZ_CHECK(rs.patterns.size() == before + 1);
  }
  finish(rs);
  return rs;
}

void run_fixed(std::string_view path) {
  static const Routes kFixedRoutes = make_fixed_routes();
  for (std::string_view method : kMethods)
    for (std::string_view host : kHosts) check_request(kFixedRoutes, method, host, path);
}

}  // namespace

// The libFuzzer entry point (its name is fixed).
extern "C" int LLVMFuzzerTestOneInput(  // NOLINT(readability-identifier-naming)
    const uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  if (!in.empty() && in[0] == '!') {
    run_fixed(in.substr(1));
  } else {
    run_patterns_and_requests(in);
  }
  return 0;
}
