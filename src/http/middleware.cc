// Built-in middleware: gzip (with pooled compressors), access logging, exception recovery,
// per-handler timeouts, request ids and prefix stripping.
#include "weft/http/middleware.h"

#include <time.h>
#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <random>
#include <utility>

#if defined(__GLIBCXX__)
#include <cxxabi.h>  // abi::__forced_unwind
#endif

#include "http/server_conn.h"
#include "weft/http/status.h"
#include "weft/log.h"
#include "weft/runtime/chan.h"
#include "weft/runtime/context.h"
#include "weft/runtime/pool.h"
#include "weft/runtime/select.h"
#include "weft/runtime/task.h"

namespace weft::http {
namespace {

// ---- Shared helpers -----------------------------------------------------------------------

// True when s starts with prefix, ignoring ASCII case.
bool has_prefix_fold(std::string_view s, std::string_view prefix) noexcept {
  return s.size() >= prefix.size() && equal_fold(s.substr(0, prefix.size()), prefix);
}

// Calls fn(token) for every element of a comma-separated field value, trimmed, empty ones
// skipped. fn returns false to stop.
template <class F>
void for_each_element(std::string_view list, F&& fn) {
  while (!list.empty()) {
    std::size_t comma = list.find(',');
    std::string_view item = trim_ows(list.substr(0, comma));
    list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
    if (!item.empty() && !fn(item)) return;
  }
}

// True when some field named name lists token (case-insensitively) among its elements.
bool lists_token(const Headers& h, std::string_view name, std::string_view token) {
  bool found = false;
  for (const auto& f : h) {
    if (!equal_fold(f.name, name)) continue;
    for_each_element(f.value, [&](std::string_view item) {
      found = equal_fold(trim_ows(item.substr(0, item.find(';'))), token);
      return !found;
    });
    if (found) return true;
  }
  return false;
}

// Appends v in decimal.
void append_uint(std::string& out, uint64_t v) {
  char tmp[24];
  auto r = std::to_chars(tmp, tmp + sizeof tmp, v);
  out.append(tmp, r.ptr);
}

// Writers defined here that sit on top of another writer derive from this, so code that
// must reach the server's writer (to end the connection) can walk down to it.
class WrappingWriter : public ResponseWriter {
 public:
  explicit WrappingWriter(ResponseWriter& inner) : inner_(&inner) {}
  ResponseWriter& inner() const noexcept { return *inner_; }

 protected:
  ResponseWriter* inner_;
};

// The server's own writer under w (through the wrappers defined here), or nullptr.
detail::ConnWriter* conn_writer_of(ResponseWriter& w) {
  ResponseWriter* p = &w;
  for (;;) {
    if (auto* c = dynamic_cast<detail::ConnWriter*>(p)) return c;
    auto* wrapping = dynamic_cast<WrappingWriter*>(p);
    if (!wrapping) return nullptr;
    p = &wrapping->inner();
  }
}

// Asks for the connection to close after this response: sets "Connection: close" on the
// header (which the server honours when it frames the head) and, when the server's writer is
// reachable through the wrappers here, tells it directly as well.
void request_close(ResponseWriter& w) {
  w.header().set("Connection", "close");
  if (detail::ConnWriter* c = conn_writer_of(w)) c->set_close();
}

// ---- gzip ---------------------------------------------------------------------------------

constexpr std::size_t kGzipBufferSize = std::size_t{16} * 1024;

// Deflater is one pooled compressor: a gzip z_stream and the buffer its output collects in.
struct Deflater {
  z_stream zs{};
  bool ready = false;
  std::unique_ptr<unsigned char[]> out =
      std::make_unique_for_overwrite<unsigned char[]>(kGzipBufferSize);

  explicit Deflater(int level) {
    ready = deflateInit2(&zs, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK;
  }
  ~Deflater() {
    if (ready) deflateEnd(&zs);
  }
  Deflater(const Deflater&) = delete;
  Deflater& operator=(const Deflater&) = delete;
};

// GzipState is what one gzip() middleware shares across its requests.
struct GzipState {
  explicit GzipState(GzipOptions o)
      : options(std::move(o)),
        // A deflate state holds ~270 KiB; keep a few per processor, as sync.Pool keeps a few
        // per P between collections.
        pool(
            [level = std::clamp(options.level, 1, 9)]() -> std::unique_ptr<Deflater> {
              auto d = std::make_unique<Deflater>(level);
              if (!d->ready) return nullptr;
              return d;
            },
            8, 64) {}

  bool type_matches(std::string_view type) const noexcept {
    type = trim_ows(type);
    if (type.empty()) return false;
    for (const std::string& p : options.content_types)
      if (has_prefix_fold(type, p)) return true;
    return false;
  }

  GzipOptions options;
  Pool<Deflater> pool;
};

// True when the q-value is above zero; a malformed one counts as zero.
bool positive_q(std::string_view q) noexcept {
  if (q.empty() || q.size() > 5) return false;
  if (q[0] == '1') return true;
  if (q[0] != '0') return false;
  if (q.size() == 1) return false;
  if (q[1] != '.') return false;
  for (char c : q.substr(2)) {
    if (c < '0' || c > '9') return false;
    if (c != '0') return true;
  }
  return false;
}

// True when the request's Accept-Encoding allows gzip: "gzip" (or "x-gzip") with q > 0, or,
// when gzip is not listed, "*" with q > 0.
bool accepts_gzip(const Headers& h) {
  int gzip = -1, star = -1;  // -1 unlisted, 0 refused, 1 accepted
  for (const auto& f : h) {
    if (!equal_fold(f.name, "accept-encoding")) continue;
    for_each_element(f.value, [&](std::string_view item) {
      std::size_t semi = item.find(';');
      std::string_view coding = trim_ows(item.substr(0, semi));
      bool ok = true;
      while (semi != std::string_view::npos) {
        item.remove_prefix(semi + 1);
        semi = item.find(';');
        std::string_view param = trim_ows(item.substr(0, semi));
        if (param.size() >= 2 && (param[0] == 'q' || param[0] == 'Q') && param[1] == '=')
          ok = positive_q(trim_ows(param.substr(2)));
      }
      if (equal_fold(coding, "gzip") || equal_fold(coding, "x-gzip")) {
        gzip = std::max(gzip, ok ? 1 : 0);
      } else if (coding == "*") {
        star = std::max(star, ok ? 1 : 0);
      }
      return true;
    });
  }
  return gzip >= 0 ? gzip > 0 : star > 0;
}

// GzipWriter compresses what the handler writes when the response qualifies. It holds the
// status and up to min_size body bytes back until it knows (from the headers, a declared
// Content-Length, the body size, a flush or the end of the handler) whether to compress.
class GzipWriter final : public WrappingWriter {
 public:
  GzipWriter(ResponseWriter& inner, GzipState& state, bool accepts)
      : WrappingWriter(inner), state_(state), accepts_(accepts) {}
  ~GzipWriter() override { release(); }
  GzipWriter(const GzipWriter&) = delete;
  GzipWriter& operator=(const GzipWriter&) = delete;

  Headers& header() override { return inner_->header(); }

  void write_header(int code) override {
    // Interim responses go out at once; the final status waits for the decision, since the
    // headers may still change with it.
    if (mode_ != Mode::kUndecided || (code >= 100 && code < 200 && code != 101)) {
      inner_->write_header(code);
    } else if (code_ == 0) {
      code_ = code;
    }
  }

  using ResponseWriter::write;
  Result<std::size_t> write(std::span<const std::byte> data) override {
    if (mode_ == Mode::kUndecided) {
      probe();
      std::size_t min = state_.options.min_size;
      bool compress;
      if (!eligible_) {
        compress = false;
      } else if (declared_ >= 0) {
        compress = static_cast<uint64_t>(declared_) >= min;
      } else if (pending_.size() + data.size() < min) {
        pending_.append(reinterpret_cast<const char*>(data.data()), data.size());
        written_ += data.size();
        return data.size();
      } else {
        compress = true;
      }
      if (std::error_code ec = start(compress)) return ec;
    }
    if (mode_ == Mode::kPlain) {
      auto r = inner_->write(data);
      if (r) written_ += r.value();
      return r;
    }
    if (std::error_code ec = deflate_bytes(data.data(), data.size(), Z_NO_FLUSH)) return ec;
    written_ += data.size();
    return data.size();
  }

  // A flush means the handler streams: a response that qualifies is compressed whatever its
  // size so far, and what was compressed goes out now (Z_SYNC_FLUSH).
  std::error_code flush() override {
    if (mode_ == Mode::kUndecided) {
      probe();
      bool compress = eligible_ && (declared_ < 0 ||
                                    static_cast<uint64_t>(declared_) >= state_.options.min_size);
      if (std::error_code ec = start(compress)) return ec;
    }
    if (mode_ == Mode::kGzip) {
      if (std::error_code ec = deflate_bytes(nullptr, 0, Z_SYNC_FLUSH)) return ec;
      if (std::error_code ec = drain()) return ec;
    }
    return inner_->flush();
  }

  // Uncompressed, the file goes to the inner writer's send_file (sendfile(2) when it can);
  // compressed, it is read and written through write().
  std::error_code send_file(int fd, int64_t offset, uint64_t count) override {
    if (mode_ == Mode::kUndecided) {
      probe();
      uint64_t size = declared_ >= 0 ? static_cast<uint64_t>(declared_) : pending_.size() + count;
      if (std::error_code ec = start(eligible_ && size >= state_.options.min_size)) return ec;
    }
    if (mode_ == Mode::kGzip) return ResponseWriter::send_file(fd, offset, count);
    std::error_code ec = inner_->send_file(fd, offset, count);
    if (!ec) written_ += count;
    return ec;
  }

  int status() const noexcept override {
    return mode_ == Mode::kUndecided ? code_ : inner_->status();
  }
  uint64_t bytes_written() const noexcept override { return written_; }

  // Ends the response after the handler returned: settles a body that stayed below min_size
  // (it goes out as it is) or ends the gzip stream, then gives the compressor back.
  std::error_code finish() {
    std::error_code ec;
    if (mode_ == Mode::kUndecided) {
      probe();
      ec = start(eligible_ && !pending_.empty() && pending_.size() >= state_.options.min_size);
    }
    if (!ec && mode_ == Mode::kGzip) {
      ec = deflate_bytes(nullptr, 0, Z_FINISH);
      if (!ec) ec = drain();
    }
    release();
    return ec;
  }

 private:
  enum class Mode { kUndecided, kPlain, kGzip };

  // Reads what the headers say about the response (once, at the first decision point).
  void probe() {
    const Headers& h = inner_->header();
    int code = code_ != 0 ? code_ : status::kOk;
    bool typed = !h.has("Content-Encoding") && state_.type_matches(h.get("Content-Type"));
    vary_ = typed;
    eligible_ = accepts_ && typed && !status_has_no_body(code) && code != status::kPartialContent &&
                !h.has("Content-Range") && !lists_token(h, "Cache-Control", "no-transform");
    declared_ = declared_content_length(h);
  }

  // Settles the response: fixes the headers, sends the held status and the held bytes.
  std::error_code start(bool compress) {
    Headers& h = inner_->header();
    if (vary_ && !lists_token(h, "Vary", "Accept-Encoding") && !lists_token(h, "Vary", "*"))
      h.add("Vary", "Accept-Encoding");
    if (compress) {
      d_ = state_.pool.get();
      compress = d_ != nullptr;  // no memory for a compressor: send it as it is
    }
    mode_ = compress ? Mode::kGzip : Mode::kPlain;
    if (compress) {
      h.del("Content-Length");
      h.set("Content-Encoding", "gzip");
    }
    if (code_ != 0) inner_->write_header(code_);
    if (pending_.empty()) return {};
    std::string held = std::move(pending_);
    pending_.clear();
    if (compress) return deflate_bytes(held.data(), held.size(), Z_NO_FLUSH);
    auto r = inner_->write(held);
    return r ? std::error_code() : r.error();
  }

  // Runs deflate over n bytes at p with the flush mode, passing each full output buffer on.
  std::error_code deflate_bytes(const void* p, std::size_t n, int mode) {
    if (n == 0 && mode == Z_NO_FLUSH) return {};
    z_stream& zs = d_->zs;
    const auto* in = static_cast<const unsigned char*>(p);
    zs.avail_in = 0;
    for (;;) {
      // avail_in is 32 bits wide: hand over at most 1 GiB at a time.
      if (zs.avail_in == 0 && n > 0) {
        std::size_t take = std::min<std::size_t>(n, std::size_t{1} << 30);
        zs.next_in = const_cast<unsigned char*>(in);
        zs.avail_in = static_cast<uInt>(take);
        in += take;
        n -= take;
      }
      int flush = n > 0 ? Z_NO_FLUSH : mode;
      zs.next_out = d_->out.get() + used_;
      zs.avail_out = static_cast<uInt>(kGzipBufferSize - used_);
      int rc = ::deflate(&zs, flush);
      used_ = kGzipBufferSize - zs.avail_out;
      if (rc == Z_STREAM_ERROR || (rc == Z_BUF_ERROR && flush == Z_FINISH))
        return std::make_error_code(std::errc::io_error);
      if (used_ == kGzipBufferSize) {
        if (std::error_code ec = drain()) return ec;
        continue;  // the output filled up: there may be more to come
      }
      if (zs.avail_in > 0 || n > 0) continue;
      if (flush != Z_FINISH || rc == Z_STREAM_END) return {};
    }
  }

  // Passes the collected compressed bytes to the inner writer.
  std::error_code drain() {
    if (used_ == 0) return {};
    auto r = inner_->write(
        std::span<const std::byte>(reinterpret_cast<const std::byte*>(d_->out.get()), used_));
    used_ = 0;
    return r ? std::error_code() : r.error();
  }

  // Gives the compressor back to the pool, reset for its next user.
  void release() noexcept {
    if (!d_) return;
    if (deflateReset(&d_->zs) == Z_OK) {
      state_.pool.put(std::move(d_));
    } else {
      d_.reset();
    }
    used_ = 0;
  }

  GzipState& state_;
  bool accepts_;
  Mode mode_ = Mode::kUndecided;
  int code_ = 0;           // the held status
  bool eligible_ = false;  // compress if the size allows
  bool vary_ = false;      // the response depends on Accept-Encoding
  int64_t declared_ = -1;  // the handler's Content-Length, or -1
  std::string pending_;    // body bytes held back while the size is unknown
  uint64_t written_ = 0;   // body bytes accepted from the handler
  std::unique_ptr<Deflater> d_;
  std::size_t used_ = 0;  // bytes of d_->out in use
};

// ---- access_log -----------------------------------------------------------------------------

// "[26/Nov/2026:13:44:28 +0000] " for the given second, formatted once per second per thread.
std::string_view log_time(time_t sec) {
  thread_local time_t cached = -1;
  thread_local char buf[40];
  thread_local std::size_t len = 0;
  if (sec != cached) {
    cached = sec;
    struct tm tm;
    gmtime_r(&sec, &tm);
    len = strftime(buf, sizeof buf, "[%d/%b/%Y:%H:%M:%S +0000] ", &tm);
  }
  return {buf, len};
}

// Appends s with '"', '\\', control and non-ASCII bytes written as \xHH (as nginx escapes
// its log fields), or "-" when s is empty.
void append_escaped(std::string& out, std::string_view s) {
  if (s.empty()) {
    out.push_back('-');
    return;
  }
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u >= 0x7f || c == '"' || c == '\\') {
      out.append("\\x");
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 15]);
    } else {
      out.push_back(c);
    }
  }
}

// The host part of "host:port" or "[v6]:port".
std::string_view host_of(std::string_view addr) {
  if (!addr.empty() && addr.front() == '[') {
    std::size_t end = addr.find(']');
    return end == std::string_view::npos ? addr : addr.substr(1, end - 1);
  }
  std::size_t colon = addr.rfind(':');
  return colon == std::string_view::npos ? addr : addr.substr(0, colon);
}

// Hands sink the request's Combined Log Format line, plus the duration in milliseconds.
void write_access_line(const LogSink& sink, const Request& r, time_t wall_sec, int64_t us, int code,
                       uint64_t bytes) {
  std::string line;
  line.reserve(192 + r.target().size());
  line.append(host_of(r.remote_addr()));
  line.append(" - - ");
  line.append(log_time(wall_sec));
  line.push_back('"');
  append_escaped(line, r.method());
  line.push_back(' ');
  append_escaped(line, r.target());
  line.push_back(' ');
  line.append(r.proto());
  line.append("\" ");
  append_uint(line, static_cast<uint64_t>(code));
  line.push_back(' ');
  append_uint(line, bytes);
  line.append(" \"");
  append_escaped(line, r.header("Referer"));
  line.append("\" \"");
  append_escaped(line, r.header("User-Agent"));
  line.append("\" ");
  append_uint(line, static_cast<uint64_t>(us / 1000));
  line.push_back('.');
  char frac[3] = {static_cast<char>('0' + us / 100 % 10), static_cast<char>('0' + us / 10 % 10),
                  static_cast<char>('0' + us % 10)};
  line.append(frac, 3);
  sink(line);
}

// Sends the request's record to weft::log at info: the message "request" with the request's
// and the response's fields; referer, user_agent and request_id only when they are not empty.
void log_access(const Request& r, int64_t us, int code, uint64_t bytes) {
  if (!log::enabled(log::Level::kInfo)) return;
  log::Field fields[] = {
      {"remote", r.remote_addr()},
      {"method", r.method()},
      {"target", r.target()},
      {"proto", r.proto()},
      {"status", code},
      {"bytes", bytes},
      {"duration_ms", static_cast<double>(us) / 1000.0},
      {"referer", r.header("Referer")},
      {"user_agent", r.header("User-Agent")},
      {"request_id", request_id_of(r)},
  };
  constexpr std::size_t kAlwaysThere = 7;
  std::size_t n = kAlwaysThere;
  for (std::size_t i = kAlwaysThere; i < std::size(fields); ++i)
    if (!fields[i].string_value().empty()) fields[n++] = fields[i];
  log::write(log::Level::kInfo, "request", std::span<const log::Field>(fields, n));
}

// Records one served request: a line for sink, or a record for weft::log when sink is empty.
void record_access(const LogSink& sink, const Request& r, time_t wall_sec,
                   std::chrono::steady_clock::time_point start, int code, uint64_t bytes) {
  int64_t us = std::chrono::duration_cast<std::chrono::microseconds>(
                   std::chrono::steady_clock::now() - start)
                   .count();
  if (us < 0) us = 0;
  if (sink) {
    write_access_line(sink, r, wall_sec, us, code, bytes);
  } else {
    log_access(r, us, code, bytes);
  }
}

// ---- recover ------------------------------------------------------------------------------

// Sends weft::log an error record for an exception the handler of r threw; request_id only
// when there is one.
void log_handler_exception(const Request& r, std::string_view what) {
  log::Field fields[] = {{"error", what},
                         {"remote", r.remote_addr()},
                         {"method", r.method()},
                         {"target", r.target()},
                         {"request_id", request_id_of(r)}};
  std::size_t n = std::size(fields) - (fields[4].string_value().empty() ? 1 : 0);
  log::write(log::Level::kError, "handler threw", std::span<const log::Field>(fields, n));
}

// ---- timeout ------------------------------------------------------------------------------

// BufferWriter holds a whole response (header, status, body) in memory for a handler running
// under timeout(). Once timed out, its writes fail with std::errc::timed_out.
class BufferWriter final : public ResponseWriter {
 public:
  explicit BufferWriter(const Headers& start) : header_(start) {}

  Headers& header() override { return header_; }
  void write_header(int code) override {
    // Interim responses cannot be held back; they are dropped.
    if (code_ != 0 || (code >= 100 && code < 200 && code != 101)) return;
    if (timed_out_.load(std::memory_order_acquire)) return;
    code_ = code < 100 || code > 999 ? status::kInternalServerError : code;
  }
  using ResponseWriter::write;
  Result<std::size_t> write(std::span<const std::byte> data) override {
    if (timed_out_.load(std::memory_order_acquire)) return std::errc::timed_out;
    if (code_ == 0) code_ = status::kOk;
    if (status_has_no_body(code_)) return std::errc::operation_not_permitted;
    body_.append(reinterpret_cast<const char*>(data.data()), data.size());
    return data.size();
  }
  // Nothing goes out before the handler returns.
  std::error_code flush() override {
    if (timed_out_.load(std::memory_order_acquire))
      return std::make_error_code(std::errc::timed_out);
    return {};
  }
  int status() const noexcept override { return code_; }
  uint64_t bytes_written() const noexcept override { return body_.size(); }

  // Makes every later write fail. Callable from any task.
  void set_timed_out() noexcept { timed_out_.store(true, std::memory_order_release); }

  // Sends the held response through w. REQUIRES: the handler has returned.
  void replay(ResponseWriter& w) {
    w.header() = header_;
    if (lists_token(header_, "Connection", "close")) request_close(w);
    if (code_ != 0) w.write_header(code_);
    if (!body_.empty()) (void)w.write(body_);
  }

 private:
  Headers header_;
  int code_ = 0;
  std::string body_;
  std::atomic<bool> timed_out_{false};
};

// Answers 503 with body, framed by its length, and sends it now.
void answer_timeout(ResponseWriter& w, std::string_view body) {
  Headers& h = w.header();
  h.del("Content-Encoding");
  h.set("Content-Type", "text/plain; charset=utf-8");
  h.set("X-Content-Type-Options", "nosniff");
  std::string len;
  append_uint(len, body.size());
  h.set("Content-Length", len);
  w.write_header(status::kServiceUnavailable);
  (void)w.write(body);
  (void)w.flush();
}

// ---- request_id ---------------------------------------------------------------------------

const ContextKey<std::string> kRequestIdKey;

bool valid_request_id(std::string_view id) noexcept {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

// xoshiro256**: a fast generator, one per thread, seeded from std::random_device.
class FastRandom {
 public:
  FastRandom() {
    std::random_device rd;
    uint64_t seed = (static_cast<uint64_t>(rd()) << 32) ^ rd();
    for (uint64_t& v : s_) {  // splitmix64 spreads the seed over the state
      seed += 0x9e3779b97f4a7c15ULL;
      uint64_t z = seed;
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
      v = z ^ (z >> 31);
    }
  }
  uint64_t next() noexcept {
    uint64_t result = rotl(s_[1] * 5, 7) * 9;
    uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }

 private:
  static uint64_t rotl(uint64_t x, int k) noexcept { return (x << k) | (x >> (64 - k)); }
  uint64_t s_[4];
};

// A fresh 128-bit id as 32 lowercase hex digits.
std::string new_request_id() {
  thread_local FastRandom rng;
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id(32, '0');
  for (std::size_t half = 0; half < 2; ++half) {
    uint64_t v = rng.next();
    for (std::size_t i = 0; i < 16; ++i, v >>= 4) id[half * 16 + i] = kHex[v & 15];
  }
  return id;
}

}  // namespace

// ---- The middleware -----------------------------------------------------------------------

Middleware gzip(GzipOptions options) {
  auto state = std::make_shared<GzipState>(std::move(options));
  return [state](Handler next) -> Handler {
    return [state, next = std::move(next)](ResponseWriter& w, Request& r) {
      GzipWriter gw(w, *state, accepts_gzip(r.headers()));
      next(gw, r);
      (void)gw.finish();
    };
  };
}

Middleware access_log(LogSink sink) {
  return [sink = std::move(sink)](Handler next) -> Handler {
    return [sink, next = std::move(next)](ResponseWriter& w, Request& r) {
      // The writer already reports the status and the body bytes; no wrapper is needed.
      struct timespec ts;
      clock_gettime(CLOCK_REALTIME_COARSE, &ts);
      auto start = std::chrono::steady_clock::now();
      bool head = r.method() == "HEAD";
      try {
        next(w, r);
      } catch (...) {
        // The server answers 500 unless the head is out already.
        detail::ConnWriter* c = conn_writer_of(w);
        bool out = c ? c->head_sent() : w.status() != 0;
        record_access(sink, r, ts.tv_sec, start, out ? w.status() : 500,
                      out && !head ? w.bytes_written() : 0);
        throw;
      }
      int code = w.status() != 0 ? w.status() : status::kOk;
      record_access(sink, r, ts.tv_sec, start, code, head ? 0 : w.bytes_written());
    };
  };
}

Middleware recover(LogSink sink) {
  return [sink = std::move(sink)](Handler next) -> Handler {
    return [sink, next = std::move(next)](ResponseWriter& w, Request& r) {
      // Returns true when the exception is dealt with here, false to rethrow it.
      auto handle = [&](std::string_view what) {
        if (sink) {
          std::string line = "panic serving ";
          line.append(r.remote_addr()).append(" (");
          line.append(r.method()).append(" ").append(r.target()).append("): ").append(what);
          sink(line);
        } else {
          log_handler_exception(r, what);
        }
        if (w.status() == 0 && w.bytes_written() == 0) {
          // Nothing reached w: it can still carry the 500.
          error(w, status::kInternalServerError, "Internal Server Error");
          return true;
        }
        if (auto* c = dynamic_cast<detail::ConnWriter*>(&w)) {
          // Directly on the server's writer: what the server itself does.
          if (!c->head_sent()) {
            c->discard_unsent();
            error(w, status::kInternalServerError, "Internal Server Error");
          } else {
            c->abort();  // the body is cut short: no terminator, then a close
          }
          return true;
        }
        // A response is under way in writers between here and the server: only the server
        // can end it correctly, once they have unwound.
        return false;
      };
      try {
        next(w, r);
#if defined(__GLIBCXX__)
      } catch (abi::__forced_unwind&) {  // thread cancellation must go on unwinding
        throw;
#endif
      } catch (const std::exception& e) {
        if (!handle(e.what())) throw;
      } catch (...) {
        if (!handle("exception of unknown type")) throw;
      }
    };
  };
}

Middleware timeout(std::chrono::nanoseconds d, std::string message) {
  // A deadline past the clock's range would wrap around: a century is forever enough.
  d = std::min<std::chrono::nanoseconds>(d, std::chrono::hours(24 * 365 * 100));
  auto body = std::make_shared<const std::string>(std::move(message) + "\n");
  return [d, body](Handler next) -> Handler {
    return [d, body, next = std::move(next)](ResponseWriter& w, Request& r) {
      Context saved = r.context();
      auto [ctx, cancel] = with_timeout(saved, d);
      r.set_context(ctx);
      BufferWriter bw(w.header());
      Chan<std::exception_ptr> done(1);
      go([&next, &bw, &r, done] {
        std::exception_ptr err;
        try {
          next(bw, r);
        } catch (...) {
          err = std::current_exception();
        }
        done.send(std::move(err));  // the channel has room: never waits
      });

      // The handler task uses bw and r until it sends on done: wait for it whatever happens.
      std::optional<std::exception_ptr> result;
      struct Join {
        Chan<std::exception_ptr>& done;
        std::optional<std::exception_ptr>& result;
        ~Join() {
          if (!result) result = done.recv();
        }
      } join{done, result};

      select(on_recv(done, [&](std::optional<std::exception_ptr> e) { result = std::move(e); }),
             on_recv(ctx.done()));
      if (!result) result = done.try_recv();  // finished just as time ran out
      bool late = !result;
      if (late) {
        bw.set_timed_out();
        cancel();
        request_close(w);
        answer_timeout(w, *body);
        result = done.recv();
      }
      cancel();
      r.set_context(std::move(saved));
      if (*result) std::rethrow_exception(*result);
      if (!late) bw.replay(w);
    };
  };
}

Middleware request_id(std::string header) {
  if (header.empty()) header = "X-Request-Id";
  return [header = std::move(header)](Handler next) -> Handler {
    return [header, next = std::move(next)](ResponseWriter& w, Request& r) {
      std::string_view sent = r.header(header);
      std::string id = valid_request_id(sent) ? std::string(sent) : new_request_id();
      w.header().set(header, id);
      r.set_context(with_value(r.context(), kRequestIdKey, std::move(id)));
      next(w, r);
    };
  };
}

std::string_view request_id_of(const Request& r) {
  const std::string* id = r.context().value(kRequestIdKey);
  return id ? std::string_view(*id) : std::string_view();
}

Handler strip_prefix(std::string prefix, Handler h) {
  if (prefix.empty()) return h;
  return [prefix = std::move(prefix), h = std::move(h)](ResponseWriter& w, Request& r) {
    std::string_view path = r.path();
    if (path.substr(0, prefix.size()) != prefix) {
      not_found(w, r);
      return;
    }
    // The escaped path loses the bytes that decode to the prefix: each %XX is one byte.
    std::string_view raw = r.raw_path();
    std::size_t at = 0;
    for (std::size_t n = 0; n < prefix.size() && at < raw.size(); ++n) at += raw[at] == '%' ? 3 : 1;
    raw = raw.substr(std::min(at, raw.size()));

    // The layers outside see the request as it came, as with Go's copied request.
    struct Restore {
      Request& r;
      std::string path;
      std::string_view raw;
      ~Restore() { r.set_path(std::move(path), raw); }
    } restore{r, std::string(path), r.raw_path()};
    r.set_path(std::string(path.substr(prefix.size())), raw);
    h(w, r);
  };
}

}  // namespace weft::http
