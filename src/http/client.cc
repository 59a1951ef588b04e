// Client: URL parsing and resolution, the idle-connection pool, one request/response exchange on
// a connection (with the transparent retry), redirects, gzip decoding and the metrics of a call.
#include "weft/http/client.h"

#include <sys/socket.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <mutex>
#include <span>
#include <unordered_map>
#include <utility>
#include <vector>

#include "http/conn_io.h"
#include "weft/http/parser.h"
#include "weft/http/request.h"
#include "weft/metrics/gauge.h"
#include "weft/net/net.h"
#include "weft/runtime/sync.h"

namespace weft::http {

namespace {

class ClientErrorCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "weft.http.client"; }
  std::string message(int ev) const override {
    switch (static_cast<ClientError>(ev)) {
      case ClientError::kBadUrl:
        return "malformed URL";
      case ClientError::kTooManyRedirects:
        return "too many redirects";
      case ClientError::kMalformedResponse:
        return "malformed HTTP response";
      case ClientError::kResponseTooLarge:
        return "HTTP response too large";
      case ClientError::kUnsupportedScheme:
        return "unsupported URL scheme";
    }
    return "unknown client error";
  }
};

}  // namespace

const std::error_category& client_error_category() noexcept {
  static const ClientErrorCategory kCategory;
  return kCategory;
}

std::error_code make_error_code(ClientError e) noexcept {
  return {static_cast<int>(e), client_error_category()};
}

namespace detail {

// PooledConn is a client connection with its input buffer (kept together: a body reader points
// at both).
struct PooledConn {
  PooledConn() = default;
  PooledConn(const PooledConn&) = delete;
  PooledConn& operator=(const PooledConn&) = delete;
  // A connection closed while in the pool (expired, dropped, close_all, the pool's end) leaves
  // the idle gauge here.
  ~PooledConn() { leave_pool(); }

  // Counts the connection out of the idle gauge that counted it into the pool, if any.
  void leave_pool() noexcept {
    if (idle_gauge != nullptr) idle_gauge->dec();
    idle_gauge = nullptr;
  }

  net::Conn conn;
  InputBuffer in;
  net::Clock::time_point idle_since;
  // While the connection sits in the pool: the idle gauge of the ClientMetrics of the Client
  // that put it there (null when that Client had none), so the gauge stays exact whichever
  // Client takes or drops it.
  metrics::Gauge* idle_gauge = nullptr;
};

// ClientPool keeps idle connections per "host:port", oldest first. The lock guards the map only:
// connections are closed, checked and used outside it. A connection leaves its idle gauge when
// it is taken out (leave_pool) or destroyed while pooled (~PooledConn).
class ClientPool {
 public:
  using Duration = std::chrono::nanoseconds;
  using ConnPtr = std::unique_ptr<PooledConn>;

  // The most recently used live idle connection for key, or null. Connections idle for
  // idle_timeout or more, and those the server closed (or sent unasked bytes on), are dropped.
  ConnPtr take(const std::string& key, Duration idle_timeout) {
    std::vector<ConnPtr> dropped;  // closed after the lock is released
    for (;;) {
      ConnPtr found;
      {
        std::lock_guard<Mutex> g(mu_);
        auto it = idle_.find(key);
        if (it == idle_.end()) return nullptr;
        prune_locked(it->second, idle_timeout, dropped);
        if (!it->second.empty()) {
          found = std::move(it->second.back());
          it->second.pop_back();
          --count_;
          found->leave_pool();
        }
        if (it->second.empty()) idle_.erase(it);
      }
      if (!found) return nullptr;
      if (looks_alive(found->conn)) return found;
      dropped.push_back(std::move(found));
    }
  }

  // Keeps c for reuse unless key already has max_idle idle connections; idle_gauge (may be null)
  // counts it while it stays.
  void put(const std::string& key, ConnPtr c, std::size_t max_idle, Duration idle_timeout,
           metrics::Gauge* idle_gauge) {
    std::vector<ConnPtr> dropped;
    if (max_idle == 0 || idle_timeout <= Duration::zero()) return;
    std::lock_guard<Mutex> g(mu_);
    auto& list = idle_[key];
    prune_locked(list, idle_timeout, dropped);
    if (list.size() >= max_idle) {
      dropped.push_back(std::move(c));
      return;
    }
    c->idle_since = net::Clock::now();
    c->idle_gauge = idle_gauge;
    if (idle_gauge != nullptr) idle_gauge->inc();
    list.push_back(std::move(c));
    ++count_;
  }

  // Closes every idle connection.
  void close_all() {
    std::unordered_map<std::string, std::vector<ConnPtr>> all;
    std::lock_guard<Mutex> g(mu_);
    all.swap(idle_);
    count_ = 0;
  }

  std::size_t size() const {
    std::lock_guard<Mutex> g(mu_);
    return count_;
  }

 private:
  // Moves the expired connections at the front of list to dropped.
  void prune_locked(std::vector<ConnPtr>& list, Duration idle_timeout,
                    std::vector<ConnPtr>& dropped) {
    auto now = net::Clock::now();
    std::size_t n = 0;
    while (n < list.size() && now - list[n]->idle_since >= idle_timeout) ++n;
    if (n == 0) return;
    for (std::size_t i = 0; i < n; ++i) dropped.push_back(std::move(list[i]));
    list.erase(list.begin(), list.begin() + static_cast<std::ptrdiff_t>(n));
    count_ -= n;
  }

  // An idle connection is usable while reading it would block: no EOF, no error, and no bytes
  // the server sent without being asked.
  static bool looks_alive(const net::Conn& c) {
    char b;
    ssize_t n = ::recv(c.fd(), &b, 1, MSG_PEEK | MSG_DONTWAIT);
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
  }

  mutable Mutex mu_;
  std::unordered_map<std::string, std::vector<ConnPtr>> idle_;
  std::size_t count_ = 0;
};

}  // namespace detail

namespace {

using detail::BodyReader;
using detail::ClientPool;
using detail::kReadSlack;
using detail::PooledConn;
using net::Clock;

// Url is a parsed "http://" URL.
struct Url {
  std::string authority;  // host[:port] as written, for the Host field
  std::string hostname;   // the host, lower-cased, without brackets
  std::string dial_addr;  // "host:port" or "[v6]:port", lower-cased: also the pool key
  std::string path;       // escaped, starting with '/'
  std::string query;      // "?..." as written (escaped), or ""

  std::string target() const { return path + query; }
  std::string full() const { return "http://" + authority + path + query; }
};

// How much of a redirect's body is read (to keep its connection) before giving the connection
// up instead.
constexpr uint64_t kRedirectDrainBytes = uint64_t{64} << 10;
// Interim (1xx) responses accepted before the final one.
constexpr int kMaxInterimResponses = 16;
// A body of unknown length is read into free room of at least kMinReadRoom, growing the string
// by kBodyGrowth or more at a time.
constexpr std::size_t kMinReadRoom = std::size_t{16} << 10;
constexpr std::size_t kBodyGrowth = std::size_t{64} << 10;
// Request bodies up to this size go out in one write with the head.
constexpr std::size_t kCoalesceBytes = std::size_t{64} << 10;

bool is_alpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_hex(char c) {
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
char lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

bool is_tchar(char c) {
  if (is_alpha(c) || is_digit(c)) return true;
  switch (c) {
    case '!':
    case '#':
    case '$':
    case '%':
    case '&':
    case '\'':
    case '*':
    case '+':
    case '-':
    case '.':
    case '^':
    case '_':
    case '`':
    case '|':
    case '~':
      return true;
    default:
      return false;
  }
}

bool is_token(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), is_tchar);
}

bool is_field_value(std::string_view s) {
  return std::none_of(s.begin(), s.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return (u < 0x20 && c != '\t') || u == 0x7f;
  });
}

// Appends the URL part s (a path or a query) to out, escaping what cannot appear in a request
// line raw; false on a control character or a malformed escape.
bool append_escaped(std::string_view s, std::string& out) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (std::size_t i = 0; i < s.size(); ++i) {
    auto u = static_cast<unsigned char>(s[i]);
    if (u < 0x20 || u == 0x7f) return false;
    if (s[i] == '%') {
      if (i + 2 >= s.size() || !is_hex(s[i + 1]) || !is_hex(s[i + 2])) return false;
      out += s.substr(i, 3);
      i += 2;
      continue;
    }
    bool escape = u >= 0x80;
    switch (s[i]) {
      case ' ':
      case '"':
      case '<':
      case '>':
      case '\\':
      case '^':
      case '`':
      case '{':
      case '|':
      case '}':
        escape = true;
        break;
      default:
        break;
    }
    if (escape) {
      out += '%';
      out += kHex[u >> 4];
      out += kHex[u & 15];
    } else {
      out += s[i];
    }
  }
  return true;
}

// The length of the scheme at the start of s (before its ':'), or 0 when s has none.
std::size_t scheme_length(std::string_view s) {
  if (s.empty() || !is_alpha(s[0])) return 0;
  for (std::size_t i = 1; i < s.size(); ++i) {
    char c = s[i];
    if (c == ':') return i;
    if (!(is_alpha(c) || is_digit(c) || c == '+' || c == '-' || c == '.')) return 0;
  }
  return 0;
}

std::error_code parse_url(std::string_view s, Url& u) {
  std::size_t sl = scheme_length(s);
  if (sl == 0) return ClientError::kBadUrl;
  std::string_view scheme = s.substr(0, sl);
  if (!equal_fold(scheme, "http")) return ClientError::kUnsupportedScheme;
  s.remove_prefix(sl + 1);
  if (!s.starts_with("//")) return ClientError::kBadUrl;
  s.remove_prefix(2);
  std::size_t auth_end = s.find_first_of("/?#");
  std::string_view auth = s.substr(0, auth_end);
  s = auth_end == std::string_view::npos ? std::string_view() : s.substr(auth_end);

  std::string_view host, port;
  bool v6 = false;
  if (auth.starts_with('[')) {
    std::size_t close = auth.find(']');
    if (close == std::string_view::npos) return ClientError::kBadUrl;
    host = auth.substr(1, close - 1);
    std::string_view rest = auth.substr(close + 1);
    if (!rest.empty()) {
      if (rest[0] != ':') return ClientError::kBadUrl;
      port = rest.substr(1);
      auth = auth.substr(0, close + 1 + (port.empty() ? 0 : rest.size()));
    }
    if (host.find(':') == std::string_view::npos ||
        !std::all_of(host.begin(), host.end(),
                     [](char c) { return is_hex(c) || c == ':' || c == '.'; }))
      return ClientError::kBadUrl;
    v6 = true;
  } else {
    std::size_t colon = auth.find(':');
    host = auth.substr(0, colon);
    if (colon != std::string_view::npos) {
      port = auth.substr(colon + 1);
      if (port.empty()) auth = auth.substr(0, colon);
    }
    if (!std::all_of(host.begin(), host.end(), [](char c) {
          return is_alpha(c) || is_digit(c) || c == '-' || c == '.' || c == '_' || c == '~';
        }))
      return ClientError::kBadUrl;
  }
  if (host.empty()) return ClientError::kBadUrl;
  unsigned port_num = 80;
  if (!port.empty()) {
    if (port.size() > 5 || !std::all_of(port.begin(), port.end(), is_digit))
      return ClientError::kBadUrl;
    port_num = 0;
    for (char c : port) port_num = port_num * 10 + static_cast<unsigned>(c - '0');
    if (port_num == 0 || port_num > 65535) return ClientError::kBadUrl;
  }

  std::size_t hash = s.find('#');
  if (hash != std::string_view::npos) s = s.substr(0, hash);
  std::size_t q = s.find('?');
  std::string_view path = s.substr(0, q);
  std::string_view query = q == std::string_view::npos ? std::string_view() : s.substr(q);

  Url out;
  out.authority.assign(auth);
  out.hostname.reserve(host.size());
  for (char c : host) out.hostname += lower(c);
  std::string port_str = std::to_string(port_num);
  out.dial_addr = v6 ? "[" + out.hostname + "]:" + port_str : out.hostname + ":" + port_str;
  if (path.empty()) {
    out.path = "/";
  } else if (!append_escaped(path, out.path)) {
    return ClientError::kBadUrl;
  }
  if (!append_escaped(query, out.query)) return ClientError::kBadUrl;
  u = std::move(out);
  return {};
}

// RFC 3986 section 5.2.4, for a path that starts with '/'.
std::string remove_dot_segments(std::string_view path) {
  std::vector<std::string_view> out;
  bool trailing_slash = false;
  std::string_view rest = path.substr(1);
  for (;;) {
    std::size_t slash = rest.find('/');
    std::string_view seg = rest.substr(0, slash);
    bool last = slash == std::string_view::npos;
    trailing_slash = false;
    if (seg == ".") {
      trailing_slash = true;
    } else if (seg == "..") {
      if (!out.empty()) out.pop_back();
      trailing_slash = true;
    } else {
      out.push_back(seg);
    }
    if (last) break;
    rest = rest.substr(slash + 1);
  }
  std::string result;
  for (auto seg : out) {
    result += '/';
    result += seg;
  }
  if (result.empty() || trailing_slash) result += '/';
  return result;
}

// Resolves a Location value against the URL of the request it answered.
std::string resolve_reference(const Url& base, std::string_view ref) {
  if (auto hash = ref.find('#'); hash != std::string_view::npos) ref = ref.substr(0, hash);
  if (scheme_length(ref) > 0) return std::string(ref);
  if (ref.starts_with("//")) return "http:" + std::string(ref);
  std::string origin = "http://" + base.authority;
  if (ref.empty()) return origin + base.target();
  if (ref[0] == '?') return origin + base.path + std::string(ref);
  std::size_t q = ref.find('?');
  std::string_view rpath = ref.substr(0, q);
  std::string_view rquery = q == std::string_view::npos ? std::string_view() : ref.substr(q);
  std::string merged;
  if (rpath.starts_with('/')) {
    merged.assign(rpath);
  } else {
    merged = base.path.substr(0, base.path.rfind('/') + 1);
    merged += rpath;
  }
  return origin + remove_dot_segments(merged) + std::string(rquery);
}

bool is_redirect(int status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

bool is_idempotent(std::string_view method) {
  return method == "GET" || method == "HEAD" || method == "OPTIONS" || method == "TRACE" ||
         method == "PUT" || method == "DELETE";
}

Clock::time_point deadline_after(std::chrono::nanoseconds d) {
  if (d <= std::chrono::nanoseconds::zero()) return {};
  auto now = Clock::now();
  if (d >= Clock::time_point::max() - now) return {};
  return now + std::chrono::duration_cast<Clock::duration>(d);
}

bool past(Clock::time_point deadline) {
  return deadline != Clock::time_point{} && Clock::now() >= deadline;
}

// The request head as it goes on the wire. Sets asked_gzip when it asks for gzip itself.
std::string build_head(const Client& c, std::string_view method, const Url& u, const Headers& h,
                       std::string_view body, bool& asked_gzip) {
  std::string s;
  s.reserve(256);
  s.append(method).append(" ").append(u.path).append(u.query).append(" HTTP/1.1\r\nHost: ");
  std::string_view host = h.get("Host");
  s.append(host.empty() ? std::string_view(u.authority) : host).append("\r\n");
  for (const auto& f : h) {
    if (equal_fold(f.name, "Host") || equal_fold(f.name, "Content-Length") ||
        equal_fold(f.name, "Transfer-Encoding"))
      continue;
    s.append(f.name).append(": ").append(f.value).append("\r\n");
  }
  if (!c.user_agent.empty() && !h.has("User-Agent"))
    s.append("User-Agent: ").append(c.user_agent).append("\r\n");
  asked_gzip = c.decompress && method != "HEAD" && !h.has("Accept-Encoding") && !h.has("Range");
  if (asked_gzip) s.append("Accept-Encoding: gzip\r\n");
  if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH")
    s.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n");
  s.append("\r\n");
  return s;
}

// a + b, saturating (a limit of SIZE_MAX means "none").
std::size_t sat_add(std::size_t a, std::size_t b) {
  return a > SIZE_MAX - b ? SIZE_MAX : a + b;
}

std::error_code map_body_error(std::error_code ec) {
  if (ec == BodyError::kTooLarge) return ClientError::kResponseTooLarge;
  if (ec == BodyError::kMalformed) return ClientError::kMalformedResponse;
  return ec;
}

// What an exchange learned besides its result.
struct ExchangeState {
  bool got_bytes = false;       // a response byte arrived
  bool keep = false;            // the connection may be reused
  std::error_code write_error;  // writing the request failed with this
};

// Where the last hop of a call failed, for the outcome label of its metrics.
enum class FailedAt {
  kNone,   // no hop failed (or none ran)
  kDial,   // connecting
  kWrite,  // writing the request
  kRead,   // reading (or decoding) the response
};

// CallTrace is what a call keeps for its metrics.
struct CallTrace {
  ClientMetrics* metrics = nullptr;           // null: record nothing
  detail::ClientHostMetrics* host = nullptr;  // the children of the host the call is on
  FailedAt failed_at = FailedAt::kNone;

  // Moves the call to u's host, looking its children up only when the host changed.
  void on(const Url& u) {
    if (metrics != nullptr && (host == nullptr || host->host() != u.dial_addr))
      host = &metrics->host(u.dial_addr);
  }
};

// Reads the body of a response whose head was consumed into out.
std::error_code read_body(BodyReader& br, BodyKind kind, uint64_t length, std::size_t max,
                          std::string& out) {
  std::size_t got = 0;
  if (kind == BodyKind::kLength) {
    if (length > max) return ClientError::kResponseTooLarge;
    out.resize(static_cast<std::size_t>(length));
  }
  while (!br.done()) {
    if (kind != BodyKind::kLength && out.size() - got < kMinReadRoom) {
      std::size_t grown = std::max(out.size() * 2, got + kBodyGrowth);
      out.resize(std::min(grown, sat_add(std::max(max, got), kBodyGrowth)));
    }
    auto n = br.read(
        std::span<std::byte>(reinterpret_cast<std::byte*>(out.data() + got), out.size() - got));
    if (!n) return map_body_error(n.error());
    got += n.value();
    if (n.value() == 0) break;
  }
  out.resize(got);
  return {};
}

// Sends one request on pc and reads its response. stop_on_write_error: return a failed write
// at once (the caller retries); otherwise a response the server sent before the write failed
// is still read. skip_redirect_body: drain the body of a redirect that will be followed.
Result<Response> exchange(PooledConn& pc, const Client& c, const std::string& head,
                          std::string_view body, std::string_view method, bool stop_on_write_error,
                          bool skip_redirect_body, ExchangeState& st) {
  std::error_code write_ec;
  if (body.size() <= kCoalesceBytes) {
    std::string wire;
    wire.reserve(head.size() + body.size());
    wire.append(head).append(body);
    if (auto w = pc.conn.write(wire); !w) write_ec = w.error();
  } else if (auto w = pc.conn.write(head); !w) {
    write_ec = w.error();
  } else if (auto wb = pc.conn.write(body); !wb) {
    write_ec = wb.error();
  }
  st.write_error = write_ec;
  if (write_ec && (stop_on_write_error || write_ec == std::errc::timed_out)) return write_ec;
  auto fail = [&](std::error_code ec) -> Result<Response> { return write_ec ? write_ec : ec; };

  ParseLimits limits;
  limits.max_header_bytes = c.max_header_bytes;
  ResponseHead rh;
  ParseError perr;
  HeadScan scan;
  int interim = 0;
  long n;
  for (;;) {
    n = parse_response_head(pc.in.data(), limits, method, rh, perr, &scan);
    if (n < 0)
      return fail(perr.status == 431 ? ClientError::kResponseTooLarge
                                     : ClientError::kMalformedResponse);
    if (n == 0) {
      auto r = pc.in.fill(pc.conn, sat_add(c.max_header_bytes, kReadSlack));
      if (!r)
        return fail(r.error() == std::errc::no_buffer_space ? ClientError::kResponseTooLarge
                                                            : r.error());
      if (r.value() == 0)
        return fail(st.got_bytes ? make_error_code(ClientError::kMalformedResponse)
                                 : std::make_error_code(std::errc::connection_reset));
      st.got_bytes = true;
      continue;
    }
    if (rh.status >= 100 && rh.status < 200 && rh.status != 101) {
      if (++interim > kMaxInterimResponses) return fail(ClientError::kMalformedResponse);
      pc.in.consume(static_cast<std::size_t>(n));
      scan = {};
      continue;
    }
    break;
  }

  Response resp;
  resp.status = rh.status;
  resp.reason.assign(rh.reason);
  resp.minor_version = rh.minor_version;
  resp.headers = rh.headers;
  BodyKind kind = rh.body;
  uint64_t length = rh.content_length;
  bool keep_alive = rh.keep_alive && !write_ec && resp.status != 101;
  bool drain =
      skip_redirect_body && is_redirect(resp.status) && !rh.headers.get("Location").empty();
  pc.in.consume(static_cast<std::size_t>(n));
  if (resp.status == 101) return resp;  // the connection now speaks another protocol

  BodyReader br;
  br.start(&pc.in, &pc.conn, kind, length, c.max_response_bytes);
  if (drain) {
    st.keep = keep_alive && br.discard(kRedirectDrainBytes) && pc.in.empty();
    return resp;
  }
  if (auto ec = read_body(br, kind, length, c.max_response_bytes, resp.body)) return ec;
  st.keep = keep_alive && br.done() && pc.in.empty();
  return resp;
}

// A new connection to u, counted in hm (when not null) as a dial.
Result<std::unique_ptr<PooledConn>> dial_conn(const Client& c, const Url& u,
                                              Clock::time_point deadline,
                                              detail::ClientHostMetrics* hm) {
  std::chrono::nanoseconds budget = std::chrono::hours(24);
  if (c.dial_timeout > std::chrono::nanoseconds::zero()) budget = std::min(budget, c.dial_timeout);
  if (deadline != Clock::time_point{}) {
    auto left = deadline - Clock::now();
    if (left <= Clock::duration::zero()) return std::errc::timed_out;
    budget = std::min(budget, std::chrono::duration_cast<std::chrono::nanoseconds>(left));
  }
  auto conn = net::dial(u.dial_addr, budget);
  if (hm != nullptr) hm->record_dial(conn.ok());
  if (!conn) return conn.error();
  auto pc = std::make_unique<PooledConn>();
  pc->conn = std::move(conn.value());
  return pc;
}

// One hop: a pooled (or new) connection, the exchange, and the one retry on a fresh connection.
// Records its dials and the connection it pools in trace.host, and where it failed.
Result<Response> round_trip(ClientPool& pool, const Client& c, const Url& u,
                            std::string_view method, const std::string& head, std::string_view body,
                            Clock::time_point deadline, bool skip_redirect_body, bool request_close,
                            CallTrace& trace) {
  bool idempotent = is_idempotent(method);
  for (int attempt = 0;; ++attempt) {
    trace.failed_at = FailedAt::kNone;
    std::unique_ptr<PooledConn> pc;
    if (attempt == 0) pc = pool.take(u.dial_addr, c.idle_timeout);
    bool reused = pc != nullptr;
    if (!pc) {
      auto d = dial_conn(c, u, deadline, trace.host);
      if (!d) {
        trace.failed_at = FailedAt::kDial;
        return d.error();
      }
      pc = std::move(d.value());
    }
    pc->conn.set_deadline(deadline);
    bool may_retry = reused && idempotent;
    ExchangeState st;
    auto r = exchange(*pc, c, head, body, method, may_retry, skip_redirect_body, st);
    if (!r) {
      if (may_retry && !st.got_bytes && r.error() != std::errc::timed_out && !past(deadline))
        continue;
      trace.failed_at =
          st.write_error && r.error() == st.write_error ? FailedAt::kWrite : FailedAt::kRead;
      return r;
    }
    if (st.keep && !request_close) {
      pc->conn.set_deadline(Clock::time_point{});
      pc->in.release_if_empty();
      pool.put(u.dial_addr, std::move(pc), c.max_idle_per_host, c.idle_timeout,
               trace.host != nullptr ? &trace.host->idle() : nullptr);
    }
    return r;
  }
}

// Decodes a gzip body (one or more members) in place, producing at most max bytes.
std::error_code gunzip(std::string& body, std::size_t max) {
  z_stream zs{};
  if (inflateInit2(&zs, 15 + 16) != Z_OK) return std::make_error_code(std::errc::not_enough_memory);
  std::string out;
  std::size_t cap = sat_add(max, 1);  // one byte more than allowed tells a body too large
  out.resize(std::min(std::max<std::size_t>(body.size() * 4, 4096), cap));
  std::size_t produced = 0;
  zs.next_in = reinterpret_cast<Bytef*>(body.data());
  zs.avail_in = static_cast<uInt>(std::min<std::size_t>(body.size(), UINT_MAX));
  std::size_t in_left = body.size() - zs.avail_in;
  std::error_code ec;
  for (;;) {
    if (produced == out.size()) {
      if (out.size() > max) {
        ec = ClientError::kResponseTooLarge;
        break;
      }
      out.resize(std::min(out.size() * 2, cap));
    }
    if (zs.avail_in == 0 && in_left > 0) {
      zs.avail_in = static_cast<uInt>(std::min<std::size_t>(in_left, UINT_MAX));
      in_left -= zs.avail_in;
    }
    std::size_t room = std::min<std::size_t>(out.size() - produced, UINT_MAX);
    zs.next_out = reinterpret_cast<Bytef*>(out.data() + produced);
    zs.avail_out = static_cast<uInt>(room);
    int rc = inflate(&zs, Z_NO_FLUSH);
    produced += room - zs.avail_out;
    if (produced > max) {
      ec = ClientError::kResponseTooLarge;
      break;
    }
    if (rc == Z_STREAM_END) {
      if (zs.avail_in == 0 && in_left == 0) break;
      inflateReset(&zs);  // another gzip member follows
      continue;
    }
    if (rc == Z_OK) continue;
    if (rc == Z_BUF_ERROR && zs.avail_out == 0) continue;  // out of room: grow
    ec = rc == Z_MEM_ERROR ? std::make_error_code(std::errc::not_enough_memory)
                           : make_error_code(ClientError::kMalformedResponse);
    break;
  }
  inflateEnd(&zs);
  if (ec) return ec;
  out.resize(produced);
  body.swap(out);
  return {};
}

// Checks what send() is about to put on the wire.
bool valid_request(const ClientRequest& req, const Client& c) {
  if (!is_token(req.method) || !is_field_value(c.user_agent)) return false;
  return std::all_of(req.headers.begin(), req.headers.end(), [](const Headers::Field& f) {
    return is_token(f.name) && is_field_value(f.value);
  });
}

// The body of Client::send, recording in trace the host the call is on and where it failed.
Result<Response> send_call(const Client& c, ClientPool& pool, const ClientRequest& req,
                           CallTrace& trace) {
  if (!valid_request(req, c)) {
    Url u;
    if (trace.metrics != nullptr && !parse_url(req.url, u)) trace.on(u);
    return std::errc::invalid_argument;
  }
  Clock::time_point deadline = deadline_after(c.timeout);
  Url url;
  if (auto ec = parse_url(req.url, url)) return ec;
  std::string method = req.method;
  std::string_view body = req.body;
  Headers headers = req.headers;
  bool request_close = has_token(headers.get("Connection"), "close");
  bool follow = c.max_redirects > 0;
  for (int redirects = 0;; ++redirects) {
    trace.on(url);
    if (past(deadline)) return std::errc::timed_out;
    bool asked_gzip = false;
    std::string head = build_head(c, method, url, headers, body, asked_gzip);
    auto r = round_trip(pool, c, url, method, head, body, deadline, follow, request_close, trace);
    if (!r) return r;
    Response& resp = r.value();
    if (follow && is_redirect(resp.status)) {
      std::string_view location = resp.headers.get("Location");
      if (!location.empty()) {
        if (redirects >= c.max_redirects) return make_error_code(ClientError::kTooManyRedirects);
        Url next;
        if (auto ec = parse_url(resolve_reference(url, location), next)) return ec;
        bool to_get = (resp.status == 303 && method != "HEAD") ||
                      ((resp.status == 301 || resp.status == 302) && method == "POST");
        if (to_get) {
          method = "GET";
          body = {};
          for (auto name : {"Content-Type", "Content-Length", "Content-Encoding",
                            "Content-Language", "Transfer-Encoding", "Expect", "Trailer"})
            headers.del(name);
        }
        if (next.hostname != url.hostname) {
          headers.del("Authorization");
          headers.del("Proxy-Authorization");
          headers.del("Cookie");
        }
        if (next.authority != url.authority) headers.del("Host");
        url = std::move(next);
        continue;
      }
    }
    if (asked_gzip && equal_fold(resp.headers.get("Content-Encoding"), "gzip")) {
      if (!resp.body.empty()) {
        if (auto ec = gunzip(resp.body, c.max_response_bytes)) {
          trace.failed_at = FailedAt::kRead;
          return ec;
        }
      }
      resp.headers.del("Content-Encoding");
      resp.headers.del("Content-Length");
    }
    resp.url = url.full();
    return r;
  }
}

// The outcome of a call: ok with the response's status, or its error and where it failed.
detail::ClientOutcome outcome_of(bool ok, int status, std::error_code ec, FailedAt failed_at) {
  using Outcome = detail::ClientOutcome;
  if (ok) {
    int status_class = status / 100;
    if (status_class >= 1 && status_class <= 5) return static_cast<Outcome>(status_class - 1);
    return Outcome::kBadResponse;  // 600 and up: outside what RFC 9110 allows
  }
  if (ec == std::errc::timed_out) return Outcome::kTimeout;
  if (ec.category() == client_error_category()) {
    switch (static_cast<ClientError>(ec.value())) {
      case ClientError::kBadUrl:
      case ClientError::kUnsupportedScheme:
        return Outcome::kBadRequest;
      case ClientError::kTooManyRedirects:
        return Outcome::kTooManyRedirects;
      case ClientError::kMalformedResponse:
      case ClientError::kResponseTooLarge:
        return Outcome::kBadResponse;
    }
  }
  switch (failed_at) {
    case FailedAt::kDial:
      return Outcome::kConnectError;
    case FailedAt::kWrite:
      return Outcome::kWriteError;
    case FailedAt::kRead:
      return Outcome::kReadError;
    case FailedAt::kNone:
      break;
  }
  return Outcome::kBadRequest;  // refused before any hop: a method or header field
}

}  // namespace

Client::Client() : pool_(std::make_shared<ClientPool>()) {}

Result<Response> Client::get(std::string_view url) {
  ClientRequest req;
  req.url.assign(url);
  return send(req);
}

Result<Response> Client::post(std::string_view url, std::string_view content_type,
                              std::string body) {
  ClientRequest req;
  req.method = "POST";
  req.url.assign(url);
  req.headers.set("Content-Type", content_type);
  req.body = std::move(body);
  return send(req);
}

Result<Response> Client::send(const ClientRequest& req) {
  CallTrace trace;
  if (!metrics) return send_call(*this, *pool_, req, trace);
  trace.metrics = metrics.get();
  metrics::Gauge& in_flight = trace.metrics->in_flight();
  in_flight.inc();
  struct InFlight {
    metrics::Gauge& gauge;
    ~InFlight() { gauge.dec(); }
  } leave{in_flight};
  auto start = Clock::now();
  Result<Response> r = send_call(*this, *pool_, req, trace);
  double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  detail::ClientHostMetrics& host =
      trace.host != nullptr ? *trace.host : trace.metrics->host(std::string_view());
  host.record_call(outcome_of(r.ok(), r.ok() ? r->status : 0, r.error(), trace.failed_at), seconds);
  return r;
}

void Client::close_idle_connections() {
  pool_->close_all();
}

std::size_t Client::idle_connections() const {
  return pool_->size();
}

}  // namespace weft::http
