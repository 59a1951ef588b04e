// ServeMux: Go 1.22 pattern parsing, conflict detection and the copy-on-write routing tree.
#include "weft/http/mux.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <unordered_map>

#include "weft/http/headers.h"
#include "weft/http/parser.h"

namespace weft::http {

namespace detail::mux {

enum class SegKind : uint8_t {
  kLiteral,  // one path segment, compared with the decoded request segment
  kWild,     // "{name}": any one non-empty-slash segment
  kMulti,    // "{name...}" or a trailing '/': the rest of the path (name "" when anonymous)
  kDollar,   // "{$}": the path ends here, with a trailing slash
};

struct Segment {
  SegKind kind;
  std::string text;  // the decoded literal or the wildcard name
};

// Route is one registered pattern. Routes are immutable once published and shared by every
// table registered after them, so handler and pattern views stay put for the table's life.
struct Route {
  std::string pattern;
  std::string method;  // "" matches every method
  std::string host;    // lower-cased; "" matches every host
  std::vector<Segment> segs;
  std::vector<std::string> names;  // the named wildcards, in pattern order
  Handler handler;

  bool ends_in_multi() const { return segs.back().kind == SegKind::kMulti; }
};

struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept {
    return std::hash<std::string_view>{}(s);
  }
};

// Host names compare ASCII case-insensitively; the hash folds case the same way.
struct FoldHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept {
    uint64_t h = 14695981039346656037ULL;
    for (char c : s) {
      unsigned char u = static_cast<unsigned char>(c);
      if (u >= 'A' && u <= 'Z') u = static_cast<unsigned char>(u | 0x20);
      h = (h ^ u) * 1099511628211ULL;
    }
    return static_cast<std::size_t>(h);
  }
};

struct FoldEqual {
  using is_transparent = void;
  bool operator()(std::string_view a, std::string_view b) const noexcept {
    return equal_fold(a, b);
  }
};

// Node is a position in a pattern path. Matching tries the literal child, then the single
// wildcard, then the multi wildcard: registration rejects every pair of patterns for which
// that order would not pick the more specific one.
struct Node {
  const Route* leaf = nullptr;    // a pattern whose path ends exactly here
  const Route* dollar = nullptr;  // a pattern ending in "{$}" here
  const Route* multi = nullptr;   // a pattern ending in "{name...}" or '/' here
  std::unique_ptr<Node> wild;
  std::unordered_map<std::string, std::unique_ptr<Node>, StringHash, std::equal_to<>> literals;
};

struct HostTree {
  std::vector<std::pair<std::string, std::unique_ptr<Node>>> by_method;
  std::unique_ptr<Node> any_method;
};

// Table is one immutable generation of the routes; handle() publishes a new one.
struct Table {
  std::vector<std::shared_ptr<const Route>> routes;
  HostTree no_host;
  std::unordered_map<std::string, HostTree, FoldHash, FoldEqual> hosts;
  std::size_t max_values = 0;  // the most named wildcards any route has
};

}  // namespace detail::mux

namespace detail {

// MuxState publishes route tables copy-on-write. Readers take no lock: they announce
// themselves in readers_, copy the shared_ptr the current slot holds, and leave. A writer
// swaps in a new slot and frees retired slots only once it has seen readers_ at zero after
// the swap, which (all four operations being seq_cst) proves no reader still copies from
// them. The tables themselves live as long as any copy does.
struct MuxState {
 public:
  using TableRef = std::shared_ptr<const mux::Table>;

  MuxState() : current_(new TableRef(std::make_shared<const mux::Table>())) {}
  ~MuxState() { delete current_.load(std::memory_order_relaxed); }
  MuxState(const MuxState&) = delete;
  MuxState& operator=(const MuxState&) = delete;

  TableRef snapshot() const {
    readers_.fetch_add(1, std::memory_order_seq_cst);
    TableRef t = *current_.load(std::memory_order_seq_cst);
    readers_.fetch_sub(1, std::memory_order_release);
    return t;
  }

  // The table writers build on; the caller holds write_mu.
  const TableRef& latest() const { return *current_.load(std::memory_order_relaxed); }

  // Makes next the table readers see; the caller holds write_mu.
  void publish(TableRef next) {
    retired_.reserve(retired_.size() + 1);
    const TableRef* old =
        current_.exchange(new TableRef(std::move(next)), std::memory_order_seq_cst);
    retired_.emplace_back(old);
    if (readers_.load(std::memory_order_seq_cst) == 0) retired_.clear();
  }

  std::mutex write_mu;  // serializes handle()

 private:
  std::atomic<const TableRef*> current_;
  mutable std::atomic<uint64_t> readers_{0};
  std::vector<std::unique_ptr<const TableRef>> retired_;  // guarded by write_mu
};

}  // namespace detail

namespace {

using detail::mux::FoldEqual;
using detail::mux::HostTree;
using detail::mux::Node;
using detail::mux::Route;
using detail::mux::SegKind;
using detail::mux::Segment;
using detail::mux::Table;

constexpr std::size_t kInlineValues = 16;
constexpr std::size_t kInlinePath = 256;

bool is_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool is_token(std::string_view s) {
  if (s.empty()) return false;
  constexpr std::string_view kTokenPunct = "!#$%&'*+-.^_`|~";
  for (char c : s)
    if (!is_alnum(c) && kTokenPunct.find(c) == std::string_view::npos) return false;
  return true;
}

// Wildcard names are ASCII identifiers.
bool is_identifier(std::string_view s) {
  if (s.empty()) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    if (!letter && (i == 0 || c < '0' || c > '9')) return false;
  }
  return true;
}

std::string_view trim_space(std::string_view s) {
  constexpr std::string_view kSpace = " \t\r\n\v\f";
  std::size_t b = s.find_first_not_of(kSpace);
  if (b == std::string_view::npos) return {};
  return s.substr(b, s.find_last_not_of(kSpace) - b + 1);
}

// True when p is what clean_path(p) returns: rooted, no empty, "." or ".." segments.
bool is_clean(std::string_view p) {
  if (p.empty() || p[0] != '/') return false;
  std::size_t i = 1;
  while (i < p.size()) {
    std::size_t j = p.find('/', i);
    if (j == std::string_view::npos) j = p.size();
    std::string_view seg = p.substr(i, j - i);
    if (seg.empty() || seg == "." || seg == "..") return false;
    i = j + 1;
  }
  return true;
}

// Go's cleanPath: path.Clean of the rooted path, keeping a trailing slash.
std::string clean_path(std::string_view p) {
  std::vector<std::string_view> parts;
  std::size_t i = 0;
  while (i <= p.size()) {
    std::size_t j = p.find('/', i);
    if (j == std::string_view::npos) j = p.size();
    std::string_view seg = p.substr(i, j - i);
    if (seg == "..") {
      if (!parts.empty()) parts.pop_back();
    } else if (!seg.empty() && seg != ".") {
      parts.push_back(seg);
    }
    i = j + 1;
  }
  std::string out;
  out.reserve(p.size() + 1);
  for (std::string_view part : parts) {
    out.push_back('/');
    out.append(part);
  }
  if (out.empty()) return "/";
  if (!p.empty() && p.back() == '/') out.push_back('/');
  return out;
}

// Drops a trailing ":port" as Go's stripHostPort does; a host that does not split into host
// and port (a bare IPv6 address, "[::1]") comes back unchanged.
std::string_view strip_port(std::string_view h) {
  std::size_t colon = h.rfind(':');
  if (colon == std::string_view::npos) return h;
  if (h.front() == '[') {
    std::size_t close = h.find(']');
    if (close == std::string_view::npos || close + 1 != colon) return h;
    return h.substr(1, close - 1);
  }
  if (h.find(':') != colon || h.find_first_of("[]") != std::string_view::npos) return h;
  return h.substr(0, colon);
}

// Escapes a decoded path for a Location header as Go's URL.EscapedPath does.
std::string escape_path(std::string_view p) {
  constexpr std::string_view kKeep = "-_.~$&+,/:;=@";
  constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(p.size());
  for (char c : p) {
    if (is_alnum(c) || kKeep.find(c) != std::string_view::npos) {
      out.push_back(c);
    } else {
      unsigned char u = static_cast<unsigned char>(c);
      out.push_back('%');
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 15]);
    }
  }
  return out;
}

[[noreturn]] void bad_pattern(std::string_view pattern, std::string_view why) {
  std::string msg = "http: invalid pattern \"";
  msg.append(pattern).append("\": ").append(why);
  throw std::invalid_argument(msg);
}

Route parse_pattern(std::string_view s) {
  if (s.empty()) bad_pattern(s, "empty pattern");
  Route r;
  r.pattern.assign(s);

  std::string_view method, rest = s;
  if (std::size_t sp = s.find_first_of(" \t"); sp != std::string_view::npos) {
    method = s.substr(0, sp);
    rest = trim_space(s.substr(sp + 1));
  }
  if (!method.empty() && !is_token(method)) bad_pattern(s, "invalid method");
  r.method.assign(method);

  std::size_t slash = rest.find('/');
  if (slash == std::string_view::npos) bad_pattern(s, "host/path missing /");
  std::string_view host = rest.substr(0, slash);
  if (host.find('{') != std::string_view::npos)
    bad_pattern(s, "host contains '{' (missing initial '/'?)");
  r.host.reserve(host.size());
  for (char c : host) r.host.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c | 0x20) : c);

  std::string_view path = rest.substr(slash);
  // Request paths are cleaned before matching (except CONNECT's), so such a pattern could
  // never match anything.
  if (!method.empty() && method != "CONNECT" && !is_clean(path))
    bad_pattern(s, "non-CONNECT pattern with unclean path can never match");

  while (!path.empty()) {
    path.remove_prefix(1);  // the '/' that starts every segment
    if (path.empty()) {
      r.segs.push_back({SegKind::kMulti, {}});
      break;
    }
    std::size_t end = path.find('/');
    if (end == std::string_view::npos) end = path.size();
    std::string_view seg = path.substr(0, end);
    path.remove_prefix(end);

    std::size_t brace = seg.find('{');
    if (brace == std::string_view::npos) {
      std::string lit;
      if (!percent_decode(seg, lit)) lit.assign(seg);  // a bad escape stays literal, as in Go
      // Matching splits the already-decoded request path at every '/', so a segment holding
      // an escaped slash could never match.
      if (lit.find('/') != std::string::npos)
        bad_pattern(s, "literal segment contains an escaped '/'");
      r.segs.push_back({SegKind::kLiteral, std::move(lit)});
      continue;
    }
    if (brace != 0) bad_pattern(s, "bad wildcard segment (must start with '{')");
    if (seg.back() != '}') bad_pattern(s, "bad wildcard segment (must end with '}')");
    std::string_view name = seg.substr(1, seg.size() - 2);
    if (name == "$") {
      if (!path.empty()) bad_pattern(s, "{$} not at end");
      r.segs.push_back({SegKind::kDollar, {}});
      break;
    }
    bool multi = name.ends_with("...");
    if (multi) {
      name.remove_suffix(3);
      if (!path.empty()) bad_pattern(s, "{...} wildcard not at end");
    }
    if (name.empty()) bad_pattern(s, "empty wildcard");
    if (!is_identifier(name)) bad_pattern(s, "bad wildcard name \"" + std::string(name) + "\"");
    if (std::find(r.names.begin(), r.names.end(), name) != r.names.end())
      bad_pattern(s, "duplicate wildcard name \"" + std::string(name) + "\"");
    r.names.emplace_back(name);
    r.segs.push_back({multi ? SegKind::kMulti : SegKind::kWild, std::string(name)});
  }
  return r;
}

// How the requests two patterns match relate; read "p1 is <rel> p2".
enum class Rel : uint8_t { kEquivalent, kMoreGeneral, kMoreSpecific, kDisjoint, kOverlaps };

Rel inverse(Rel r) {
  if (r == Rel::kMoreGeneral) return Rel::kMoreSpecific;
  if (r == Rel::kMoreSpecific) return Rel::kMoreGeneral;
  return r;
}

// The relationship of two patterns from the relationships of two independent parts of them.
Rel combine(Rel a, Rel b) {
  switch (a) {
    case Rel::kEquivalent:
      return b;
    case Rel::kDisjoint:
      return Rel::kDisjoint;
    case Rel::kOverlaps:
      return b == Rel::kDisjoint ? Rel::kDisjoint : Rel::kOverlaps;
    case Rel::kMoreGeneral:
    case Rel::kMoreSpecific:
      if (b == Rel::kEquivalent) return a;
      if (b == inverse(a)) return Rel::kOverlaps;
      return b;
  }
  return Rel::kDisjoint;
}

Rel compare_methods(const Route& a, const Route& b) {
  if (a.method == b.method) return Rel::kEquivalent;
  if (a.method.empty()) return Rel::kMoreGeneral;
  if (b.method.empty()) return Rel::kMoreSpecific;
  if (a.method == "GET" && b.method == "HEAD") return Rel::kMoreGeneral;
  if (a.method == "HEAD" && b.method == "GET") return Rel::kMoreSpecific;
  return Rel::kDisjoint;
}

Rel compare_segments(const Segment& a, const Segment& b) {
  if (a.kind == SegKind::kMulti && b.kind == SegKind::kMulti) return Rel::kEquivalent;
  if (a.kind == SegKind::kMulti) return Rel::kMoreGeneral;
  if (b.kind == SegKind::kMulti) return Rel::kMoreSpecific;
  if (a.kind == SegKind::kWild && b.kind == SegKind::kWild) return Rel::kEquivalent;
  // A single wildcard never matches the trailing slash "{$}" stands for.
  if (a.kind == SegKind::kWild)
    return b.kind == SegKind::kDollar ? Rel::kDisjoint : Rel::kMoreGeneral;
  if (b.kind == SegKind::kWild)
    return a.kind == SegKind::kDollar ? Rel::kDisjoint : Rel::kMoreSpecific;
  return a.kind == b.kind && a.text == b.text ? Rel::kEquivalent : Rel::kDisjoint;
}

Rel compare_paths(const Route& a, const Route& b) {
  std::size_t na = a.segs.size(), nb = b.segs.size();
  if (na != nb && !a.ends_in_multi() && !b.ends_in_multi()) return Rel::kDisjoint;
  Rel rel = Rel::kEquivalent;
  for (std::size_t i = 0; i < na && i < nb; ++i) {
    rel = combine(rel, compare_segments(a.segs[i], b.segs[i]));
    if (rel == Rel::kDisjoint) return rel;
  }
  if (na == nb) return rel;
  // Only a shorter pattern ending in a multi wildcard can still match what the longer does.
  if (na < nb && a.ends_in_multi()) return combine(rel, Rel::kMoreGeneral);
  if (nb < na && b.ends_in_multi()) return combine(rel, Rel::kMoreSpecific);
  return Rel::kDisjoint;
}

void write_segment(std::string& out, const Segment& s) {
  out.push_back('/');
  if (s.kind == SegKind::kLiteral || s.kind == SegKind::kWild) out.append(s.text);
}

// A path both patterns match (they are known to overlap), for the conflict message.
std::string common_path(const Route& a, const Route& b) {
  std::string out;
  std::size_t n = std::min(a.segs.size(), b.segs.size());
  for (std::size_t i = 0; i < n; ++i) {
    bool a_wild = a.segs[i].kind == SegKind::kWild || a.segs[i].kind == SegKind::kMulti;
    write_segment(out, a_wild ? b.segs[i] : a.segs[i]);
  }
  const Route& longer = a.segs.size() > n ? a : b;
  for (std::size_t i = n; i < longer.segs.size(); ++i) write_segment(out, longer.segs[i]);
  return out;
}

// Checks the new route a against the registered b; throws when neither takes precedence.
// A host pattern always beats a hostless one, and two different hosts never match the same
// request, so only patterns with equal hosts can conflict.
void check_conflict(const Route& a, const Route& b) {
  if (a.host != b.host) return;
  Rel mrel = compare_methods(a, b);
  if (mrel == Rel::kDisjoint) return;
  Rel prel = compare_paths(a, b);
  Rel rel = combine(mrel, prel);
  if (rel != Rel::kEquivalent && rel != Rel::kOverlaps) return;

  std::string msg = "http: pattern \"";
  msg.append(a.pattern).append("\" conflicts with pattern \"").append(b.pattern).append("\": ");
  if (a.pattern == b.pattern) {
    msg.append("it is already registered");
  } else if (rel == Rel::kEquivalent) {
    msg.append("they match the same requests");
  } else if (prel == Rel::kOverlaps) {
    msg.append("both match some paths, like \"")
        .append(common_path(a, b))
        .append("\", but neither is more specific than the other");
  } else if (mrel == Rel::kMoreGeneral) {
    msg.append("the first matches more methods, but has a more specific path");
  } else {
    msg.append("the first matches fewer methods, but has a more general path");
  }
  throw std::invalid_argument(msg);
}

void insert(Table& t, const Route* r) {
  HostTree& ht = r->host.empty() ? t.no_host : t.hosts[r->host];
  std::unique_ptr<Node>* root = &ht.any_method;
  if (!r->method.empty()) {
    auto it = std::find_if(ht.by_method.begin(), ht.by_method.end(),
                           [&](const auto& e) { return e.first == r->method; });
    if (it == ht.by_method.end()) it = ht.by_method.insert(it, {r->method, nullptr});
    root = &it->second;
  }
  if (!*root) *root = std::make_unique<Node>();
  Node* n = root->get();
  for (const Segment& seg : r->segs) {
    switch (seg.kind) {
      case SegKind::kLiteral: {
        std::unique_ptr<Node>& child = n->literals[seg.text];
        if (!child) child = std::make_unique<Node>();
        n = child.get();
        break;
      }
      case SegKind::kWild:
        if (!n->wild) n->wild = std::make_unique<Node>();
        n = n->wild.get();
        break;
      case SegKind::kMulti:
        n->multi = r;
        return;
      case SegKind::kDollar:
        n->dollar = r;
        return;
    }
  }
  n->leaf = r;
}

// Matches rest (empty, or starting with '/') below n. Wildcard values go to caps[k...]; on
// success caps[0, route->names.size()) hold the winning route's values.
const Route* match_path(const Node* n, std::string_view rest, std::string_view* caps,
                        std::size_t k) {
  if (rest.empty()) return n->leaf;
  if (rest.size() == 1) {  // the trailing slash
    if (n->dollar) return n->dollar;
    if (n->multi && !n->multi->segs.back().text.empty()) caps[k] = {};
    return n->multi;
  }
  std::size_t end = rest.find('/', 1);
  std::string_view seg = rest.substr(1, end - 1);
  std::string_view after = end == std::string_view::npos ? std::string_view() : rest.substr(end);
  if (!n->literals.empty()) {
    auto it = n->literals.find(seg);
    if (it != n->literals.end()) {
      if (const Route* r = match_path(it->second.get(), after, caps, k)) return r;
    }
  }
  if (n->wild) {
    caps[k] = seg;
    if (const Route* r = match_path(n->wild.get(), after, caps, k + 1)) return r;
  }
  if (n->multi) {
    if (!n->multi->segs.back().text.empty()) caps[k] = rest.substr(1);
    return n->multi;
  }
  return nullptr;
}

const Route* match_method_and_path(const HostTree& ht, std::string_view method,
                                   std::string_view path, std::string_view* caps) {
  const Node* get = nullptr;
  for (const auto& [m, node] : ht.by_method) {
    if (m == method) {
      if (const Route* r = match_path(node.get(), path, caps, 0)) return r;
    } else if (m == "GET") {
      get = node.get();
    }
  }
  if (get && method == "HEAD") {
    if (const Route* r = match_path(get, path, caps, 0)) return r;
  }
  return ht.any_method ? match_path(ht.any_method.get(), path, caps, 0) : nullptr;
}

const Route* lookup(const Table& t, std::string_view host, std::string_view method,
                    std::string_view path, std::string_view* caps) {
  if (!host.empty() && !t.hosts.empty()) {
    auto it = t.hosts.find(host);
    if (it != t.hosts.end()) {
      if (const Route* r = match_method_and_path(it->second, method, path, caps)) return r;
    }
  }
  return match_method_and_path(t.no_host, method, path, caps);
}

// Go's exactMatch: true unless a multi wildcard swallowed a non-empty rest of the path.
bool exact_match(const Route* r, std::string_view path) {
  if (!r) return false;
  if (!r->ends_in_multi()) return true;
  if (!path.empty() && path.back() != '/') return false;
  return r->segs.size() == static_cast<std::size_t>(std::count(path.begin(), path.end(), '/'));
}

void collect_methods(const HostTree& ht, std::string_view path, std::string_view* caps,
                     std::vector<std::string_view>& out) {
  for (const auto& [m, node] : ht.by_method)
    if (match_path(node.get(), path, caps, 0)) out.push_back(m);
}

// Go's matchingMethods: the methods some pattern would accept for this path (or for the path
// with a trailing slash, which the redirect rule would try), sorted, GET implying HEAD.
std::string allowed_methods(const Table& t, std::string_view host, std::string_view path,
                            std::string_view with_slash, std::string_view* caps) {
  std::vector<std::string_view> methods;
  const HostTree* host_tree = nullptr;
  if (!host.empty()) {
    auto it = t.hosts.find(host);
    if (it != t.hosts.end()) host_tree = &it->second;
  }
  for (std::string_view p : {path, with_slash}) {
    if (p.empty()) continue;
    if (host_tree) collect_methods(*host_tree, p, caps, methods);
    collect_methods(t.no_host, p, caps, methods);
  }
  if (std::find(methods.begin(), methods.end(), "GET") != methods.end()) methods.push_back("HEAD");
  std::sort(methods.begin(), methods.end());
  methods.erase(std::unique(methods.begin(), methods.end()), methods.end());
  std::string allow;
  for (std::string_view m : methods) {
    if (!allow.empty()) allow.append(", ");
    allow.append(m);
  }
  return allow;
}

}  // namespace

ServeMux::ServeMux() : state_(std::make_shared<detail::MuxState>()) {}

void ServeMux::handle(std::string_view pattern, Handler handler) {
  if (!handler) bad_pattern(pattern, "nil handler");
  auto route = std::make_shared<Route>(parse_pattern(pattern));
  route->handler = std::move(handler);

  std::lock_guard<std::mutex> lock(state_->write_mu);
  std::shared_ptr<const Table> cur = state_->latest();
  for (const auto& other : cur->routes) check_conflict(*route, *other);

  // Rebuilding the tree from the route list keeps published tables immutable; registration
  // is rare and the list is short.
  auto next = std::make_shared<Table>();
  next->routes.reserve(cur->routes.size() + 1);
  next->routes.assign(cur->routes.begin(), cur->routes.end());
  next->routes.push_back(std::move(route));
  for (const auto& r : next->routes) {
    insert(*next, r.get());
    next->max_values = std::max(next->max_values, r->names.size());
  }
  state_->publish(std::move(next));
}

RouteMatch ServeMux::match(std::string_view method, std::string_view host,
                           std::string_view path) const {
  RouteMatch m;
  std::shared_ptr<const Table> t = state_->snapshot();

  // CONNECT targets are used as sent, as Go does: no port stripping, no path cleaning.
  std::string cleaned;
  if (method != "CONNECT") {
    host = strip_port(host);
    if (!is_clean(path)) {
      cleaned = clean_path(path);
      path = cleaned;
    }
  }
  if (path.empty() || path[0] != '/') {
    m.status = 404;
    return m;
  }

  // Room for two sets of wildcard values: the match and the trailing-slash probe.
  std::array<std::string_view, kInlineValues> inline_caps;
  std::vector<std::string_view> heap_caps;
  std::string_view* caps = inline_caps.data();
  if (2 * t->max_values > inline_caps.size()) {
    heap_caps.resize(2 * t->max_values);
    caps = heap_caps.data();
  }

  const Route* r = lookup(*t, host, method, path, caps);

  // The path with a slash appended, for the subtree redirect and the 405 method list.
  std::array<char, kInlinePath> inline_path;
  std::string heap_path;
  std::string_view with_slash;
  if (path.back() != '/' && !exact_match(r, path)) {
    if (path.size() < inline_path.size()) {
      std::copy(path.begin(), path.end(), inline_path.begin());
      inline_path[path.size()] = '/';
      with_slash = std::string_view(inline_path.data(), path.size() + 1);
    } else {
      heap_path.reserve(path.size() + 1);
      heap_path.append(path).push_back('/');
      with_slash = heap_path;
    }
    const Route* subtree = lookup(*t, host, method, with_slash, caps + t->max_values);
    if (exact_match(subtree, with_slash)) {
      m.status = 301;
      m.redirect_to.assign(with_slash);
      return m;
    }
  }
  if (!cleaned.empty()) {
    m.status = 301;
    m.redirect_to = std::move(cleaned);
    return m;
  }
  if (!r) {
    m.allow = allowed_methods(*t, host, path, with_slash, caps);
    m.status = m.allow.empty() ? 404 : 405;
    return m;
  }

  m.handler = &r->handler;
  m.pattern = r->pattern;
  m.values.reserve(r->names.size());
  for (std::size_t i = 0; i < r->names.size(); ++i)
    m.values.emplace_back(r->names[i], std::string(caps[i]));
  m.hold = std::move(t);
  return m;
}

void ServeMux::operator()(ResponseWriter& w, Request& r) const {
  // "OPTIONS *" names no resource a pattern could match; Go's ServeMux rejects it the same way.
  if (r.target() == "*") {
    if (r.proto_minor() >= 1) w.header().set("Connection", "close");
    w.write_header(400);
    return;
  }
  RouteMatch m = match(r.method(), r.host(), r.path());
  switch (m.status) {
    case 0:
      r.set_pattern(m.pattern);
      for (const auto& [name, value] : m.values) r.set_path_value(name, value);
      (*m.handler)(w, r);
      return;
    case 301: {
      std::string url = escape_path(m.redirect_to);
      if (!r.raw_query().empty()) url.append("?").append(r.raw_query());
      redirect(w, r, url, 301);
      return;
    }
    case 405:
      w.header().set("Allow", m.allow);
      error(w, 405, "Method Not Allowed");
      return;
    default:
      not_found(w, r);
      return;
  }
}

ServeMux& default_mux() {
  static ServeMux mux;
  return mux;
}

}  // namespace weft::http
