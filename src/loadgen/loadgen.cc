// The load generator: one task per connection, each keeping up to `pipeline` requests in
// flight, in the closed or the open model; results kept per processor and merged at the end.
#include "weft/loadgen/loadgen.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstring>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <system_error>

#include "weft/http/parser.h"
#include "weft/net/net.h"
#include "weft/runtime/blocking.h"
#include "weft/runtime/pool.h"
#include "weft/runtime/sync.h"
#include "weft/runtime/task.h"

namespace weft::loadgen {

namespace {

using Clock = std::chrono::steady_clock;

int64_t now_ns() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

Clock::time_point to_time_point(int64_t ns) {
  return Clock::time_point(
      std::chrono::duration_cast<Clock::duration>(std::chrono::nanoseconds(ns)));
}

constexpr int64_t kLateNs = 1'000'000;  // a send this far behind its intended time is late
// Open model: when sends are closer than kReleaseGapNs on average, they are released in steps of
// kReleaseStepNs (see Shared::release_time).
constexpr double kReleaseGapNs = 50'000;
constexpr int64_t kReleaseStepNs = 100'000;
constexpr std::size_t kReadChunk = 16 * 1024;
constexpr int kMaxStatus = 600;

// ---- per-processor results --------------------------------------------------------------

// ProcStats is one processor's share of the results. Only tasks running on that processor
// record into it (a record never parks, so the task cannot move mid-way); the lock is
// uncontended except for the once-a-second progress read.
struct ProcStats {
  std::mutex mu;
  Histogram latency;
  Histogram service;
  Histogram lag;
  uint64_t attempted = 0;
  uint64_t responses = 0;
  uint64_t bytes = 0;
  uint64_t late = 0;
  ErrorCounts errors;
  std::array<uint64_t, kMaxStatus> status{};
  std::vector<Second> timeline;

  Second& second(std::size_t i) {
    while (timeline.size() <= i) timeline.emplace_back();
    return timeline[i];
  }
};

// The error classes, for counting a request's end.
enum class ErrorClass { kConnect, kRead, kWrite, kTimeout, kBadResponse };

void count_error(ErrorCounts& e, ErrorClass c, uint64_t n) {
  switch (c) {
    case ErrorClass::kConnect:
      e.connect += n;
      break;
    case ErrorClass::kRead:
      e.read += n;
      break;
    case ErrorClass::kWrite:
      e.write += n;
      break;
    case ErrorClass::kTimeout:
      e.timeout += n;
      break;
    case ErrorClass::kBadResponse:
      e.bad_response += n;
      break;
  }
}

// ---- the run's shared state -------------------------------------------------------------

struct Shared {
  const Options& opts;
  std::string request;    // one request, ready to send
  std::string dial_addr;  // numeric host:port
  bool open = false;
  int64_t interval_ns = 0;       // open model: between one connection's sends
  int64_t release_ns = 0;        // open model: sends due within one such step go out together
  int64_t schedule_start = 0;    // when sending starts (warm-up included)
  int64_t measure_start = 0;     // requests starting before this are not counted
  int64_t send_end = INT64_MAX;  // no request starts at or after this
  std::atomic<int64_t> tickets{INT64_MAX};  // requests left to start (count mode)
  std::vector<std::unique_ptr<ProcStats>> procs;
  // For a task on a processor numbered beyond those counted at the start (the runtime adds
  // processors while others are stuck) or on none: shared, so its lock may be contended.
  ProcStats spare;

  explicit Shared(const Options& o) : opts(o) {}

  ProcStats& here() {
    int p = weft::detail::current_proc_index();
    if (p < 0 || static_cast<std::size_t>(p) >= procs.size()) return spare;
    return *procs[static_cast<std::size_t>(p)];
  }

  // Takes the right to start one more request now; false once sending is over.
  bool may_start(int64_t start) {
    if (start >= send_end) return false;
    if (start < measure_start) return true;  // warm-up requests take no ticket
    if (tickets.load(std::memory_order_relaxed) == INT64_MAX) return true;
    return tickets.fetch_sub(1, std::memory_order_relaxed) > 0;
  }

  bool counted(int64_t start) const noexcept { return start >= measure_start; }

  // When a send intended for t is released: t itself, or at high rates the end of its
  // release step, so that one wake-up sends several requests instead of one.
  int64_t release_time(int64_t t) const noexcept {
    if (release_ns <= 0) return t;
    int64_t offset = t - schedule_start;
    return schedule_start + (offset + release_ns - 1) / release_ns * release_ns;
  }

  // The timeline second that t falls in. Answers that arrive after the last send (the drain
  // at the end of a timed run) count in the run's last second, so the timeline does not end
  // with a nearly empty partial second.
  std::size_t second_of(int64_t t) const noexcept {
    if (t <= measure_start) return 0;
    int64_t capped = send_end == INT64_MAX ? t : std::min(t, send_end - 1);
    return static_cast<std::size_t>((capped - measure_start) / 1'000'000'000);
  }

  void record_response(int64_t start, int64_t sent, int64_t done, int status, uint64_t bytes) {
    if (!counted(start)) return;
    ProcStats& s = here();
    int64_t latency_us = std::max<int64_t>(1, (done - start + 500) / 1000);
    std::lock_guard lock(s.mu);
    ++s.attempted;
    ++s.responses;
    s.bytes += bytes;
    s.latency.record(latency_us);
    if (open) {
      s.service.record(std::max<int64_t>(1, (done - sent + 500) / 1000));
      int64_t lag = sent - start;
      s.lag.record(std::max<int64_t>(1, (lag + 500) / 1000));
      if (lag >= kLateNs) ++s.late;
    }
    if (status >= 0 && status < kMaxStatus) ++s.status[static_cast<std::size_t>(status)];
    Second& sec = s.second(second_of(done));
    ++sec.responses;
    sec.bytes += bytes;
    sec.latency.record(latency_us);
  }

  void record_error(int64_t start, int64_t when, ErrorClass c) {
    if (!counted(start)) return;
    ProcStats& s = here();
    std::lock_guard lock(s.mu);
    ++s.attempted;
    count_error(s.errors, c, 1);
    ++s.second(second_of(when)).errors;
  }
};

// ---- one response off the wire ----------------------------------------------------------

// ResponseReader consumes responses from a connection's read buffer, head then body, keeping
// its place across reads.
class ResponseReader {
 public:
  enum class Step { kNeedMore, kDone, kBad, kTruncated };

  void reset() {
    state_ = State::kHead;
    scan_ = {};
    chunked_.reset();
  }

  // Consumes from buf[pos, end): kDone with status(), bytes() and keep_alive() once a whole
  // response was read (pos moves past it), kNeedMore when it needs more bytes (pos moves past
  // what was used), kBad for a malformed response, kTruncated when at_eof (the peer closed)
  // comes before the response is complete.
  Step consume(const char* buf, std::size_t& pos, std::size_t end, std::string_view method,
               bool at_eof) {
    if (state_ == State::kHead) {
      http::ParseError err;
      head_.clear();
      long n = http::parse_response_head(std::string_view(buf + pos, end - pos), limits_, method,
                                         head_, err, &scan_);
      if (n < 0) return Step::kBad;
      if (n == 0) return at_eof ? Step::kTruncated : Step::kNeedMore;
      pos += static_cast<std::size_t>(n);
      bytes_ = static_cast<uint64_t>(n);
      status_ = head_.status;
      keep_alive_ = head_.keep_alive;
      switch (head_.body) {
        case http::BodyKind::kNone:
          return finish();
        case http::BodyKind::kLength:
          remaining_ = head_.content_length;
          state_ = State::kLength;
          break;
        case http::BodyKind::kChunked:
          chunked_.reset();
          state_ = State::kChunked;
          break;
        case http::BodyKind::kUntilClose:
          keep_alive_ = false;
          state_ = State::kUntilClose;
          break;
      }
    }
    switch (state_) {
      case State::kLength: {
        std::size_t take = static_cast<std::size_t>(
            std::min<uint64_t>(remaining_, static_cast<uint64_t>(end - pos)));
        pos += take;
        bytes_ += take;
        remaining_ -= take;
        if (remaining_ == 0) return finish();
        return at_eof ? Step::kTruncated : Step::kNeedMore;
      }
      case State::kChunked: {
        while (pos < end) {
          http::ParseError err;
          std::size_t produced = 0;
          long used =
              chunked_.decode(buf + pos, end - pos, scratch_, sizeof scratch_, &produced, err);
          if (used < 0) return Step::kBad;
          pos += static_cast<std::size_t>(used);
          bytes_ += static_cast<uint64_t>(used);
          if (chunked_.done()) return finish();
          if (used == 0 && produced == 0) break;
        }
        return at_eof ? Step::kTruncated : Step::kNeedMore;
      }
      case State::kUntilClose:
        bytes_ += end - pos;
        pos = end;
        return at_eof ? finish() : Step::kNeedMore;
      case State::kHead:
        break;
    }
    return Step::kBad;
  }

  int status() const noexcept { return status_; }
  uint64_t bytes() const noexcept { return bytes_; }
  bool keep_alive() const noexcept { return keep_alive_; }

 private:
  enum class State { kHead, kLength, kChunked, kUntilClose };

  Step finish() {
    state_ = State::kHead;
    scan_ = {};
    return Step::kDone;
  }

  State state_ = State::kHead;
  http::ParseLimits limits_;
  http::HeadScan scan_;
  http::ResponseHead head_;
  http::ChunkedDecoder chunked_;
  uint64_t remaining_ = 0;
  uint64_t bytes_ = 0;
  int status_ = 0;
  bool keep_alive_ = true;
  char scratch_[4096];
};

// ---- one connection ---------------------------------------------------------------------

// Worker drives one connection: sends what is due, reads what arrives, records each request's
// end, reconnects after a failure, until sending is over and nothing is outstanding.
class Worker {
 public:
  Worker(Shared& sh, int index) : sh_(sh), ring_(static_cast<std::size_t>(sh.opts.pipeline)) {
    if (sh_.open) next_ = sh_.schedule_start + index * (sh_.interval_ns / sh_.opts.connections);
    buf_.resize(kReadChunk);
  }

  void run() {
    while (true) {
      send_due();
      if (outstanding_ == 0) {
        if (sending_over_) break;
        if (sh_.open && next_ > now_ns()) weft::sleep_until(to_time_point(sh_.release_time(next_)));
        continue;
      }
      receive();
    }
    conn_.close();
  }

 private:
  struct InFlight {
    int64_t start = 0;  // intended time (open) or the send, or the dial before it (closed)
    int64_t sent = 0;
  };

  // Starts every request that is due and has a free slot; sets sending_over_ when no more
  // requests may start.
  void send_due() {
    if (sending_over_) return;
    std::size_t batch = 0;
    int64_t now = now_ns();
    while (outstanding_ + batch < ring_.size()) {
      int64_t start = sh_.open ? next_ : now;
      if (sh_.open && start > now) break;
      if (!sh_.may_start(start)) {
        sending_over_ = true;
        break;
      }
      if (sh_.open) next_ += sh_.interval_ns;
      if (!conn_.valid()) {
        int64_t dial_start = now;
        if (!connect()) {
          sh_.record_error(start, now_ns(), ErrorClass::kConnect);
          if (!sh_.open) backoff();
          return;
        }
        connect_failures_ = 0;
        if (!sh_.open) start = dial_start;
        now = now_ns();
      }
      push(InFlight{start, 0});
      ++batch;
      if (!sh_.opts.keep_alive) break;  // one request per connection
    }
    if (batch == 0) return;
    int64_t sent = now_ns();
    for (std::size_t i = 0; i < batch; ++i) at(outstanding_ - batch + i).sent = sent;
    conn_.set_write_deadline(to_time_point(sent + sh_.opts.timeout.count()));
    std::string_view out = sh_.request;
    std::string joined;
    if (batch > 1) {
      joined.reserve(out.size() * batch);
      for (std::size_t i = 0; i < batch; ++i) joined.append(out);
      out = joined;
    }
    auto w = conn_.write(out);
    if (!w) fail_all(ErrorClass::kWrite);
  }

  // Waits for bytes and consumes every complete response among them.
  void receive() {
    int64_t timeout_at = at(0).sent + sh_.opts.timeout.count();
    int64_t wake = timeout_at;
    bool want_send = sh_.open && !sending_over_ && outstanding_ < ring_.size();
    if (want_send) wake = std::min(wake, sh_.release_time(next_));
    conn_.set_read_deadline(to_time_point(wake));
    if (end_ == buf_.size()) {
      if (begin_ > 0) {
        std::memmove(buf_.data(), buf_.data() + begin_, end_ - begin_);
        end_ -= begin_;
        begin_ = 0;
      } else {
        buf_.resize(buf_.size() * 2);
      }
    }
    auto r = conn_.read(buf_.data() + end_, buf_.size() - end_);
    if (!r) {
      if (r.error() == std::errc::timed_out) {
        if (now_ns() >= timeout_at) fail_all(ErrorClass::kTimeout);
        return;  // else: time to send the next request
      }
      fail_all(ErrorClass::kRead);
      return;
    }
    bool eof = r.value() == 0;
    end_ += r.value();
    consume(eof);
  }

  void consume(bool eof) {
    int64_t done = now_ns();
    std::string_view method = sh_.opts.method;
    while (outstanding_ > 0) {
      std::size_t pos = begin_;
      auto step = reader_.consume(buf_.data(), pos, end_, method, eof);
      begin_ = pos;
      if (step == ResponseReader::Step::kNeedMore) break;
      if (step == ResponseReader::Step::kBad) {
        fail_all(ErrorClass::kBadResponse);
        return;
      }
      if (step == ResponseReader::Step::kTruncated) {
        fail_all(ErrorClass::kRead);  // the peer closed before answering in full
        return;
      }
      InFlight f = pop();
      sh_.record_response(f.start, f.sent, done, reader_.status(), reader_.bytes());
      if (!reader_.keep_alive() || !sh_.opts.keep_alive) {
        // The server ends the connection: what else was sent on it will not be answered.
        fail_all(ErrorClass::kRead);
        return;
      }
    }
    if (begin_ == end_) begin_ = end_ = 0;
    if (eof) {
      if (outstanding_ > 0) {
        fail_all(ErrorClass::kRead);
      } else {
        drop_connection();
      }
    } else if (outstanding_ == 0 && begin_ != end_) {
      // Bytes nobody asked for.
      drop_connection();
    }
  }

  // Ends every outstanding request with error class c and drops the connection.
  void fail_all(ErrorClass c) {
    int64_t when = now_ns();
    while (outstanding_ > 0) {
      InFlight f = pop();
      sh_.record_error(f.start, when, c);
    }
    drop_connection();
  }

  void drop_connection() {
    conn_.close();
    conn_ = net::Conn();
    reader_.reset();
    begin_ = end_ = 0;
  }

  bool connect() {
    auto c = net::dial(sh_.dial_addr, sh_.opts.connect_timeout);
    if (!c) {
      ++connect_failures_;
      return false;
    }
    conn_ = std::move(c.value());
    (void)conn_.set_nodelay(true);
    return true;
  }

  // After a failed connect in the closed model: 10 ms, doubling to 1 s, so a dead host is not
  // hammered in a tight loop.
  void backoff() {
    int shift = std::min(connect_failures_ - 1, 7);
    auto d = std::chrono::milliseconds(10) * (1 << std::max(shift, 0));
    weft::sleep_for(std::min<std::chrono::nanoseconds>(d, std::chrono::seconds(1)));
  }

  void push(InFlight f) {
    ring_[(head_ + outstanding_) % ring_.size()] = f;
    ++outstanding_;
  }
  InFlight pop() {
    InFlight f = ring_[head_];
    head_ = (head_ + 1) % ring_.size();
    --outstanding_;
    return f;
  }
  InFlight& at(std::size_t i) { return ring_[(head_ + i) % ring_.size()]; }

  Shared& sh_;
  net::Conn conn_;
  std::vector<InFlight> ring_;
  std::size_t head_ = 0;
  std::size_t outstanding_ = 0;
  int64_t next_ = 0;
  bool sending_over_ = false;
  int connect_failures_ = 0;
  std::string buf_;
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
  ResponseReader reader_;
};

// ---- setting up -------------------------------------------------------------------------

void validate(const Options& o) {
  if (o.connections < 1) throw std::invalid_argument("connections must be at least 1");
  if (o.pipeline < 1) throw std::invalid_argument("pipeline depth must be at least 1");
  if (o.pipeline > 1 && !o.keep_alive)
    throw std::invalid_argument("pipelining needs keep-alive connections");
  if (o.rate < 0 || !std::isfinite(o.rate)) throw std::invalid_argument("rate must be positive");
  if (o.requests == 0 && o.duration <= std::chrono::nanoseconds::zero())
    throw std::invalid_argument("duration must be positive");
  if (o.warmup < std::chrono::nanoseconds::zero())
    throw std::invalid_argument("warm-up must not be negative");
  if (o.timeout <= std::chrono::nanoseconds::zero() ||
      o.connect_timeout <= std::chrono::nanoseconds::zero())
    throw std::invalid_argument("timeouts must be positive");
  if (o.method.empty() || o.method.find_first_of(" \t\r\n") != std::string::npos)
    throw std::invalid_argument("bad method: '" + o.method + "'");
  for (const std::string& h : o.headers) {
    std::size_t colon = h.find(':');
    if (colon == 0 || colon == std::string::npos || h.find_first_of("\r\n") != std::string::npos)
      throw std::invalid_argument("bad header (want \"Name: value\"): '" + h + "'");
  }
}

bool has_header(const Options& o, std::string_view name) {
  for (const std::string& h : o.headers) {
    std::string_view n = std::string_view(h).substr(0, h.find(':'));
    if (n.size() == name.size() && std::equal(n.begin(), n.end(), name.begin(), [](char a, char b) {
          return (a | 0x20) == (b | 0x20);
        }))
      return true;
  }
  return false;
}

std::string build_request(const Options& o, const Target& t) {
  std::string r;
  r.append(o.method).append(" ").append(t.path_and_query).append(" HTTP/1.1\r\n");
  if (!has_header(o, "host")) r.append("Host: ").append(t.authority).append("\r\n");
  for (const std::string& h : o.headers) r.append(h).append("\r\n");
  if (!o.body.empty() && !has_header(o, "content-length"))
    r.append("Content-Length: ").append(std::to_string(o.body.size())).append("\r\n");
  if (!o.keep_alive) r.append("Connection: close\r\n");
  r.append("\r\n").append(o.body);
  return r;
}

// Resolves the target's host once, so reconnects do not repeat the lookup.
std::string resolve_once(const Target& t) {
  std::string port = std::to_string(t.port);
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  int rc =
      weft::blocking([&] { return ::getaddrinfo(t.host.c_str(), port.c_str(), &hints, &res); });
  if (rc != 0 || res == nullptr)
    throw std::runtime_error("cannot resolve " + t.host + ": " + ::gai_strerror(rc));
  char ip[INET6_ADDRSTRLEN] = {};
  std::string out;
  if (res->ai_family == AF_INET6) {
    ::inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(res->ai_addr)->sin6_addr, ip, sizeof ip);
    out = "[" + std::string(ip) + "]:" + port;
  } else {
    ::inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(res->ai_addr)->sin_addr, ip, sizeof ip);
    out = std::string(ip) + ":" + port;
  }
  ::freeaddrinfo(res);
  return out;
}

double cpu_seconds(const timeval& tv) {
  return static_cast<double>(tv.tv_sec) + tv.tv_usec / 1e6;
}

// Once a second while measuring: totals and p99 so far, to opts.on_progress.
void report_progress(Shared& sh, const std::atomic<bool>& done) {
  uint64_t last = 0;
  Histogram merged;
  for (int64_t k = 1; !done.load(std::memory_order_acquire); ++k) {
    int64_t at = sh.measure_start + k * 1'000'000'000;
    while (now_ns() < at && !done.load(std::memory_order_acquire))
      weft::sleep_for(std::min<std::chrono::nanoseconds>(std::chrono::milliseconds(100),
                                                         std::chrono::nanoseconds(at - now_ns())));
    if (done.load(std::memory_order_acquire)) break;
    Progress p;
    p.elapsed_s = static_cast<double>(k);
    merged.reset();
    for (auto& ps : sh.procs) {
      std::lock_guard lock(ps->mu);
      p.responses += ps->responses;
      p.errors += ps->errors.total();
      merged.merge(ps->latency);
    }
    p.last_second_rps = static_cast<double>(p.responses - last);
    last = p.responses;
    p.p99_us = merged.value_at_percentile(99);
    sh.opts.on_progress(p);
  }
}

void merge_into(RunResult& r, ProcStats& s) {
  std::lock_guard lock(s.mu);
  r.attempted += s.attempted;
  r.responses += s.responses;
  r.bytes_read += s.bytes;
  r.late_sends += s.late;
  r.errors.add(s.errors);
  r.latency.merge(s.latency);
  r.service.merge(s.service);
  r.send_lag.merge(s.lag);
  for (std::size_t code = 0; code < s.status.size(); ++code)
    if (s.status[code] != 0) r.status_counts[static_cast<int>(code)] += s.status[code];
  if (r.timeline.size() < s.timeline.size()) r.timeline.resize(s.timeline.size());
  for (std::size_t i = 0; i < s.timeline.size(); ++i) {
    r.timeline[i].responses += s.timeline[i].responses;
    r.timeline[i].errors += s.timeline[i].errors;
    r.timeline[i].bytes += s.timeline[i].bytes;
    r.timeline[i].latency.merge(s.timeline[i].latency);
  }
}

}  // namespace

Target parse_url(std::string_view url) {
  constexpr std::string_view kScheme = "http://";
  if (url.size() >= 8 && url.substr(0, 8) == "https://")
    throw std::invalid_argument("https is not supported (weft bench speaks plain HTTP/1.1): " +
                                std::string(url));
  if (url.substr(0, kScheme.size()) != kScheme)
    throw std::invalid_argument("URL must start with http:// : '" + std::string(url) + "'");
  std::string_view rest = url.substr(kScheme.size());
  std::size_t slash = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, slash);
  std::string_view tail = slash == std::string_view::npos ? "" : rest.substr(slash);
  if (std::size_t hash = tail.find('#'); hash != std::string_view::npos)
    tail = tail.substr(0, hash);
  if (authority.empty()) throw std::invalid_argument("URL has no host: '" + std::string(url) + "'");
  if (authority.find('@') != std::string_view::npos)
    throw std::invalid_argument("user information in the URL is not supported");
  for (char c : url)
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f)
      throw std::invalid_argument("URL holds a space or control character");
  Target t;
  t.authority = std::string(authority);
  std::string_view host = authority, port;
  if (authority.front() == '[') {
    std::size_t close = authority.find(']');
    if (close == std::string_view::npos) throw std::invalid_argument("unclosed '[' in URL host");
    host = authority.substr(1, close - 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') throw std::invalid_argument("bad URL host: '" + t.authority + "'");
      port = after.substr(1);
    }
  } else if (std::size_t colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  if (host.empty()) throw std::invalid_argument("URL has no host: '" + std::string(url) + "'");
  t.host = std::string(host);
  if (!port.empty()) {
    unsigned value = 0;
    for (char c : port) {
      if (c < '0' || c > '9' || value > 65535)
        throw std::invalid_argument("bad port in URL: '" + std::string(port) + "'");
      value = value * 10 + static_cast<unsigned>(c - '0');
    }
    if (value == 0 || value > 65535)
      throw std::invalid_argument("bad port in URL: '" + std::string(port) + "'");
    t.port = static_cast<uint16_t>(value);
  }
  t.path_and_query =
      tail.empty() || tail.front() == '?' ? "/" + std::string(tail) : std::string(tail);
  return t;
}

RunResult run_load(const Options& opts) {
  validate(opts);
  Target target = parse_url(opts.url);
  Shared sh(opts);
  sh.request = build_request(opts, target);
  sh.dial_addr = resolve_once(target);
  sh.open = opts.rate > 0;
  if (sh.open) {
    double ns = 1e9 * opts.connections / opts.rate;
    sh.interval_ns = std::max<int64_t>(1, static_cast<int64_t>(std::llround(ns)));
    // Above 20,000 req/s a thread would sleep and wake for every send, and on a virtual
    // machine each round costs several microseconds of CPU: release the sends due within
    // 100 µs together (at most 100 µs late; the lag is measured and counts in the latency).
    if (1e9 / opts.rate < kReleaseGapNs) sh.release_ns = kReleaseStepNs;
  }
  int procs = std::max(1, weft::max_procs());
  for (int i = 0; i < procs; ++i) sh.procs.push_back(std::make_unique<ProcStats>());

  sh.schedule_start = now_ns();
  sh.measure_start = sh.schedule_start + opts.warmup.count();
  if (opts.requests > 0) {
    sh.tickets.store(static_cast<int64_t>(opts.requests), std::memory_order_relaxed);
  } else {
    sh.send_end = sh.measure_start + opts.duration.count();
  }

  rusage before{};
  WaitGroup workers;
  workers.add(opts.connections);
  for (int i = 0; i < opts.connections; ++i) {
    weft::go([&sh, &workers, i] {
      Worker(sh, i).run();
      workers.done();
    });
  }
  if (opts.warmup.count() > 0) weft::sleep_until(to_time_point(sh.measure_start));
  ::getrusage(RUSAGE_SELF, &before);

  std::atomic<bool> done{false};
  WaitGroup monitor;
  if (opts.on_progress) {
    monitor.add(1);
    weft::go([&] {
      report_progress(sh, done);
      monitor.done();
    });
  }
  workers.wait();
  int64_t finished = now_ns();
  done.store(true, std::memory_order_release);
  monitor.wait();
  rusage after{};
  ::getrusage(RUSAGE_SELF, &after);

  RunResult r;
  r.config.url = opts.url;
  r.config.method = opts.method;
  r.config.connections = opts.connections;
  r.config.threads = opts.threads > 0 ? opts.threads : procs;
  r.config.rate = opts.rate;
  r.config.pipeline = opts.pipeline;
  r.config.keep_alive = opts.keep_alive;
  r.config.duration_s =
      opts.requests > 0 ? 0 : std::chrono::duration<double>(opts.duration).count();
  r.config.requests = opts.requests;
  r.config.warmup_s = std::chrono::duration<double>(opts.warmup).count();
  r.config.timeout_s = std::chrono::duration<double>(opts.timeout).count();
  r.elapsed_s = std::max(0.0, static_cast<double>(finished - sh.measure_start) / 1e9);
  for (auto& ps : sh.procs) merge_into(r, *ps);
  merge_into(r, sh.spare);
  r.cpu_user_s = cpu_seconds(after.ru_utime) - cpu_seconds(before.ru_utime);
  r.cpu_system_s = cpu_seconds(after.ru_stime) - cpu_seconds(before.ru_stime);
  return r;
}

}  // namespace weft::loadgen
