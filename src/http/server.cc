// Server: the accept loop, connection bookkeeping, shutdown, and the per-connection request
// loop with its ResponseWriter.
#include "weft/http/server.h"

#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <mutex>

#include "http/server_conn.h"
#include "weft/http/mux.h"
#include "weft/http/status.h"
#include "weft/log.h"
#include "weft/runtime/sync.h"
#include "weft/runtime/task.h"
#include "weft/runtime/time.h"

namespace weft::http {
namespace detail {

// ServerState is what a Server shares with its connection tasks.
struct ServerState {
  // Settings copied when serving starts.
  Handler handler;
  ParseLimits limits;
  int64_t read_header_ns = 0, read_ns = 0, write_ns = 0, idle_ns = 0;
  std::size_t max_body = 0;
  std::size_t max_conns = 0;
  std::function<void(std::string_view)> error_log;

  std::mutex mu;  // guards conns, listeners
  ServerConn* conns = nullptr;
  std::vector<net::Listener*> listeners;
  std::atomic<std::size_t> nconns{0};
  std::atomic<bool> shutting_down{false};
  Context base;
  CancelFunc cancel_base;

  // Reports what no client can be told: line to error_log when it is set, else a record for
  // weft::log at level, msg with fields.
  void report(log::Level level, std::string_view line, std::string_view msg,
              std::initializer_list<log::Field> fields) const {
    if (error_log) {
      error_log(line);
    } else {
      log::write(level, msg, fields);
    }
  }
  void add(ServerConn* c) {
    std::lock_guard<std::mutex> g(mu);
    c->next = conns;
    if (conns) conns->prev = c;
    conns = c;
  }
  void remove(ServerConn* c) {
    std::lock_guard<std::mutex> g(mu);
    if (c->prev) c->prev->next = c->next;
    if (c->next) c->next->prev = c->prev;
    if (conns == c) conns = c->next;
    c->prev = c->next = nullptr;
  }
};

namespace {

int64_t now_steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

net::Clock::time_point deadline_in(int64_t ns) {
  if (ns <= 0) return {};
  return net::Clock::now() + std::chrono::nanoseconds(ns);
}

// The Date field for the current second, formatted once per second per thread.
std::string_view date_field() {
  thread_local time_t cached_sec = -1;
  thread_local char buf[64];
  thread_local std::size_t len = 0;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME_COARSE, &ts);
  if (ts.tv_sec != cached_sec) {
    cached_sec = ts.tv_sec;
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    len = strftime(buf, sizeof buf, "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
  }
  return {buf, len};
}

void append_uint(std::string& out, uint64_t v) {
  char tmp[24];
  auto r = std::to_chars(tmp, tmp + sizeof tmp, v);
  out.append(tmp, r.ptr);
}

void append_hex(std::string& out, uint64_t v) {
  char tmp[24];
  auto r = std::to_chars(tmp, tmp + sizeof tmp, v, 16);
  out.append(tmp, r.ptr);
}

void append_status_line(std::string& out, int minor, int code) {
  out.append(minor == 0 ? "HTTP/1.0 " : "HTTP/1.1 ");
  append_uint(out, static_cast<uint64_t>(code));
  out.push_back(' ');
  std::string_view text = status_text(code);
  out.append(text.empty() ? std::string_view("Status") : text);
  out.append("\r\n");
}

// Go's rule of thumb for an unlabelled body: HTML when it looks like HTML, text when it has
// no control bytes, else bytes.
std::string_view sniff_content_type(std::string_view body) {
  std::string_view head = body.substr(0, 512);
  std::size_t i = head.find_first_not_of(" \t\r\n");
  if (i != std::string_view::npos) {
    std::string_view s = head.substr(i);
    auto starts = [&](std::string_view p) {
      return s.size() >= p.size() && equal_fold(s.substr(0, p.size()), p);
    };
    if (starts("<!DOCTYPE HTML") || starts("<html") || starts("<head") || starts("<body"))
      return "text/html; charset=utf-8";
  }
  for (char c : head) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 && c != '\t' && c != '\n' && c != '\r' && c != '\f')
      return "application/octet-stream";
  }
  return "text/plain; charset=utf-8";
}

// Trailers, as Go sends them: fields named in the Trailer header, or set with the "Trailer:"
// prefix, go after a chunked body instead of in the head.
constexpr std::string_view kTrailerPrefix = "Trailer:";

bool has_trailer_prefix(std::string_view name) {
  return name.size() > kTrailerPrefix.size() &&
         equal_fold(name.substr(0, kTrailerPrefix.size()), kTrailerPrefix);
}

constexpr std::size_t kBodyBufferLimit = 32 * 1024;  // buffered before streaming starts
constexpr std::size_t kOutFlushSize = 64 * 1024;     // output flushed once this large
constexpr uint64_t kMaxDiscard = 256 * 1024;         // unread body dropped to keep a conn
constexpr uint64_t kInlineFileBytes = 32 * 1024;     // send_file copies files this small

// A connection over max_connections gets this and is closed.
constexpr std::string_view kOverloaded =
    "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Type: text/plain; "
    "charset=utf-8\r\nContent-Length: 20\r\n\r\ntoo many connections";

}  // namespace

// ---- ConnWriter -------------------------------------------------------------------------

void ConnWriter::reset(bool head_request, int minor_version, bool keep_alive) noexcept {
  header_.clear();
  body_.clear();
  status_ = 0;
  minor_version_ = minor_version;
  head_request_ = head_request;
  keep_alive_ = keep_alive;
  head_sent_ = chunked_ = until_close_ = aborted_ = false;
  declared_length_ = -1;
  written_ = 0;
}

void ConnWriter::discard_unsent() noexcept {
  bool ka = keep_alive_;
  reset(head_request_, minor_version_, ka);
}

void ConnWriter::write_header(int code) {
  if (status_ != 0 && status_ >= 200) return;
  if (code < 100 || code > 999) code = status::kInternalServerError;
  if (code >= 100 && code < 200 && code != status::kSwitchingProtocols) {
    // An informational response goes out at once; the final status comes later.
    std::string& out = conn_->out();
    append_status_line(out, minor_version_, code);
    for (const auto& f : header_) {
      out.append(f.name).append(": ").append(f.value).append("\r\n");
    }
    out.append("\r\n");
    conn_->flush_out();
    return;
  }
  status_ = code;
}

void ConnWriter::send_head(int64_t body_length, std::string_view first_body_bytes) {
  std::string& out = conn_->out();
  append_status_line(out, minor_version_, status_);
  bool has_type = false, has_date = false;
  std::string_view declared = header_.get("Trailer");
  for (const auto& f : header_) {
    if (has_trailer_prefix(f.name) || (!declared.empty() && has_token(declared, f.name)))
      continue;  // a trailer, sent after the body
    // Framing is the server's business; what the handler set for it is replaced below. A
    // handler asks for the connection to end after this response with Connection: close.
    if (equal_fold(f.name, "connection")) {
      if (has_token(f.value, "close")) keep_alive_ = false;
      continue;
    }
    if (equal_fold(f.name, "transfer-encoding")) continue;
    if (equal_fold(f.name, "content-length")) continue;
    if (!has_type && equal_fold(f.name, "content-type")) has_type = true;
    if (!has_date && equal_fold(f.name, "date")) has_date = true;
    out.append(f.name).append(": ").append(f.value).append("\r\n");
  }
  if (!has_date) out.append(date_field());
  bool no_body = status_has_no_body(status_);
  if (!has_type && !no_body && (body_length != 0 || declared_length_ > 0)) {
    std::string_view sniffed = body_.empty() ? first_body_bytes : std::string_view(body_);
    out.append("Content-Type: ").append(sniff_content_type(sniffed)).append("\r\n");
  }
  if (!no_body) {
    if (declared_length_ >= 0) {
      out.append("Content-Length: ");
      append_uint(out, static_cast<uint64_t>(declared_length_));
      out.append("\r\n");
    } else if (body_length >= 0) {
      out.append("Content-Length: ");
      append_uint(out, static_cast<uint64_t>(body_length));
      out.append("\r\n");
    } else if (minor_version_ == 1) {
      chunked_ = true;
      out.append("Transfer-Encoding: chunked\r\n");
    } else {
      until_close_ = true;  // HTTP/1.0 has no chunked: the close ends the body
      keep_alive_ = false;
    }
  }
  if (!keep_alive_) {
    out.append("Connection: close\r\n");
  } else if (minor_version_ == 0) {
    out.append("Connection: keep-alive\r\n");
  }
  out.append("\r\n");
  head_sent_ = true;
}

Result<std::size_t> ConnWriter::stream(const char* p, std::size_t n) {
  std::string& out = conn_->out();
  if (head_request_ || n == 0) return n;
  if (chunked_) {
    append_hex(out, n);
    out.append("\r\n").append(p, n).append("\r\n");
  } else {
    out.append(p, n);
  }
  if (out.size() >= kOutFlushSize && !conn_->flush_out()) return std::errc::broken_pipe;
  return n;
}

Result<std::size_t> ConnWriter::write(std::span<const std::byte> data) {
  if (status_ == 0) write_header(status::kOk);
  if (status_has_no_body(status_)) return std::errc::operation_not_permitted;
  if (declared_length_ < 0 && !head_sent_) declared_length_ = declared_content_length(header_);
  if (declared_length_ >= 0 && written_ + data.size() > static_cast<uint64_t>(declared_length_))
    return std::errc::message_size;
  written_ += data.size();
  const char* p = reinterpret_cast<const char*>(data.data());
  if (!head_sent_ && body_.empty() && declared_length_ >= 0 &&
      written_ == static_cast<uint64_t>(declared_length_) && data.size() <= kInlineFileBytes) {
    // The whole declared body in one write: it goes straight behind the head.
    send_head(declared_length_, std::string_view(p, data.size()));
    if (head_request_) return data.size();
    std::string& out = conn_->out();
    out.append(p, data.size());
    if (out.size() >= kOutFlushSize && !conn_->flush_out()) return std::errc::broken_pipe;
    return data.size();
  }
  if (!head_sent_) {
    if (body_.size() + data.size() <= kBodyBufferLimit) {
      body_.append(p, data.size());
      return data.size();
    }
    send_head(-1);
    std::string buffered = std::move(body_);
    body_.clear();
    if (!buffered.empty()) {
      auto r = stream(buffered.data(), buffered.size());
      if (!r) return r;
    }
  }
  return stream(p, data.size());
}

std::error_code ConnWriter::flush() {
  if (status_ == 0) write_header(status::kOk);
  if (!head_sent_) {
    send_head(status_has_no_body(status_) ? 0 : -1);
    if (!body_.empty()) {
      std::string buffered = std::move(body_);
      body_.clear();
      auto r = stream(buffered.data(), buffered.size());
      if (!r) return r.error();
    }
  }
  if (!conn_->flush_out()) return std::make_error_code(std::errc::broken_pipe);
  return {};
}

std::error_code ConnWriter::send_file(int fd, int64_t offset, uint64_t count) {
  if (status_ == 0) write_header(status::kOk);
  if (declared_length_ < 0 && !head_sent_) declared_length_ = declared_content_length(header_);
  if (head_request_ && declared_length_ < 0) {
    written_ += count;  // nothing goes out for HEAD; no need to read the file
    return {};
  }
  // sendfile(2) needs the bytes to go out as they are: no chunk framing, a known length.
  if (chunked_ || declared_length_ < 0) return ResponseWriter::send_file(fd, offset, count);
  if (written_ + count > static_cast<uint64_t>(declared_length_))
    return std::make_error_code(std::errc::message_size);
  if (!head_sent_) {
    send_head(declared_length_);
    if (!body_.empty()) {
      if (!head_request_) conn_->out().append(body_);
      body_.clear();
    }
  }
  if (head_request_) {
    written_ += count;
    return {};
  }
  if (count <= kInlineFileBytes) {
    // A small file is copied behind the head: one send for both (and for the other answers
    // of a pipelined batch) costs less than a send and a sendfile.
    std::string& out = conn_->out();
    std::size_t at = out.size();
    out.resize(at + count);
    ssize_t got = ::pread(fd, out.data() + at, count, static_cast<off_t>(offset));
    if (got != static_cast<ssize_t>(count)) {
      out.resize(at + (got > 0 ? static_cast<std::size_t>(got) : 0));
      keep_alive_ = false;
      if (got > 0) written_ += static_cast<uint64_t>(got);
      return got < 0 ? std::error_code(errno, std::generic_category())
                     : std::make_error_code(std::errc::io_error);
    }
    written_ += count;
    if (out.size() >= kOutFlushSize && !conn_->flush_out())
      return std::make_error_code(std::errc::broken_pipe);
    return {};
  }
  if (!conn_->flush_out_more()) return std::make_error_code(std::errc::broken_pipe);
  auto n = conn_->conn().send_file(fd, offset, count);
  if (n) {
    written_ += n.value();
    conn_->count_sent(n.value());
  } else {
    conn_->note_write_error(n.error());
  }
  // A body cut short leaves the client waiting for bytes that will never come: end the
  // connection after this response.
  if (!n) {
    keep_alive_ = false;
    return n.error();
  }
  if (n.value() != count) {
    keep_alive_ = false;
    return std::make_error_code(std::errc::io_error);
  }
  return {};
}

bool ConnWriter::finish() {
  if (status_ == 0) write_header(status::kOk);
  if (!head_sent_) {
    int64_t len = status_has_no_body(status_) ? 0 : static_cast<int64_t>(body_.size());
    // A HEAD handler may state the length a GET would have without writing the body.
    if (head_request_ && declared_length_ < 0) declared_length_ = declared_content_length(header_);
    bool trailers = minor_version_ == 1 && !head_request_ && !status_has_no_body(status_) &&
                    declared_length_ < 0 && wants_trailers();
    if (trailers) {
      // Trailers need the chunked framing, even for a body that fits the buffer.
      send_head(-1);
      std::string buffered = std::move(body_);
      body_.clear();
      if (!buffered.empty()) (void)stream(buffered.data(), buffered.size());
      end_chunked();
      return keep_alive_;
    }
    if (declared_length_ >= 0 && declared_length_ != len && !head_request_) {
      // The handler promised more than it wrote: the client must not wait for the rest.
      keep_alive_ = false;
      declared_length_ = len;
    }
    send_head(len);
    if (!head_request_ && !body_.empty()) conn_->out().append(body_);
    body_.clear();
    return keep_alive_;
  }
  if (aborted_) return false;  // no terminator: the client must see the body cut off
  if (chunked_) {
    if (!head_request_) end_chunked();
  } else if (declared_length_ >= 0 && written_ < static_cast<uint64_t>(declared_length_)) {
    keep_alive_ = false;
  }
  return keep_alive_ && !until_close_;
}

bool ConnWriter::wants_trailers() const noexcept {
  if (header_.has("Trailer")) return true;
  for (const auto& f : header_)
    if (has_trailer_prefix(f.name)) return true;
  return false;
}

void ConnWriter::end_chunked() {
  std::string& out = conn_->out();
  out.append("0\r\n");
  std::string_view declared = header_.get("Trailer");
  for (const auto& f : header_) {
    std::string_view name = f.name;
    if (has_trailer_prefix(name)) {
      name.remove_prefix(kTrailerPrefix.size());
    } else if (declared.empty() || !has_token(declared, name)) {
      continue;
    }
    if (equal_fold(name, "content-length") || equal_fold(name, "transfer-encoding") ||
        equal_fold(name, "trailer"))
      continue;
    out.append(name).append(": ").append(f.value).append("\r\n");
  }
  out.append("\r\n");
}

// ---- ServerConn -------------------------------------------------------------------------

ServerConn::ServerConn(std::shared_ptr<ServerState> state, net::Conn conn,
                       std::shared_ptr<ServerMetrics> metrics)
    : state_(std::move(state)),
      conn_(std::move(conn)),
      metrics_owner_(std::move(metrics)),
      metrics_(metrics_owner_ ? &metrics_owner_->instruments() : nullptr) {
  req_.conn_ = this;
  req_.body_.reader_ = &body_;
  watch_.fn = [](weft::detail::HangupHook* h) { static_cast<Watch*>(h)->cancel(); };
}

ServerConn::~ServerConn() {
  end_request_context();
}

std::string_view ServerConn::remote_addr() {
  if (remote_.empty()) remote_ = conn_.remote_addr();
  return remote_;
}

const Context& ServerConn::context() {
  if (!ctx_) {
    auto [ctx, cancel] = with_cancel(state_->base);
    ctx_ = std::move(ctx);
    cancel_ = cancel;
    watch_.cancel = std::move(cancel);
    watching_ = true;
    conn_.watch_hangup(&watch_);
  }
  return *ctx_;
}

void ServerConn::end_request_context() noexcept {
  if (watching_) {
    conn_.unwatch_hangup(&watch_);
    watching_ = false;
  }
  if (ctx_) {
    cancel_();
    ctx_.reset();
    cancel_ = CancelFunc();
    watch_.cancel = CancelFunc();
  }
}

bool ServerConn::flush_out_more() {
  if (out_.empty()) return true;
  auto n = conn_.write_more(out_);
  bool ok = n.ok();
  if (ok) bytes_sent_ += n.value();
  out_.clear();
  if (!ok) {
    note_write_error(n.error());
    conn_.close();
  }
  return ok;
}

bool ServerConn::flush_out() {
  if (out_.empty()) return true;
  auto n = conn_.write(out_);
  bool ok = n.ok();
  if (ok) bytes_sent_ += n.value();
  out_.clear();
  if (out_.capacity() > 4 * kOutFlushSize) out_.shrink_to_fit();
  if (!ok) {
    note_write_error(n.error());
    conn_.close();
  }
  return ok;
}

void ServerConn::note_write_error(std::error_code ec) noexcept {
  // Counted once: the writes after the first failure fail too.
  if (metrics_ && ec == std::errc::timed_out && !write_timed_out_) {
    write_timed_out_ = true;
    metrics_->count_timeout(TimeoutKind::kWrite);
  }
}

void ServerConn::record_bytes() noexcept {
  if (!metrics_) return;
  uint64_t in = in_.bytes_read();
  if (in != reported_in_) {
    metrics_->received_bytes.add(static_cast<double>(in - reported_in_));
    reported_in_ = in;
  }
  if (bytes_sent_ != reported_out_) {
    metrics_->sent_bytes.add(static_cast<double>(bytes_sent_ - reported_out_));
    reported_out_ = bytes_sent_;
  }
}

void ServerConn::record_request(int64_t start_ns, std::string_view method,
                                std::string_view pattern) {
  if (last_route_ == nullptr || last_route_->pattern != pattern)
    last_route_ = metrics_->route(pattern);
  double seconds = static_cast<double>(now_steady_ns() - start_ns) / 1e9;
  metrics_->count_request(last_route_, method_label(method), status_class_label(writer_.status()),
                          seconds);
  metrics_->live->requests_finished.inc();
  record_bytes();
}

bool ServerConn::close_if_idle() noexcept {
  int expected = kIdle;
  if (!phase_.compare_exchange_strong(expected, kClosed, std::memory_order_acq_rel)) return false;
  conn_.close();
  return true;
}

void ServerConn::reject(int status, std::string_view reason) {
  if (metrics_ && status != status::kRequestTimeout)
    metrics_->count_parse_error(parse_error_kind(status));
  std::string& out = out_;
  append_status_line(out, 1, status);
  out.append(date_field());
  out.append("Content-Type: text/plain; charset=utf-8\r\nConnection: close\r\nContent-Length: ");
  append_uint(out, reason.size() + 1);
  out.append("\r\n\r\n").append(reason).append("\n");
  flush_out();
}

std::error_code ServerConn::send_continue(void* self) {
  auto* c = static_cast<ServerConn*>(self);
  if (!c->req_.head().expect_continue || c->writer_.head_sent()) return {};
  c->out_.append("HTTP/1.1 100 Continue\r\n\r\n");
  c->sent_continue_ = true;
  if (!c->flush_out()) return std::make_error_code(std::errc::broken_pipe);
  return {};
}

long ServerConn::read_head(bool first) {
  HeadScan scan;
  ParseError err;
  const ParseLimits& limits = state_->limits;
  std::size_t max_cap = limits.max_header_bytes + kReadSlack;
  first_byte_ns_ = 0;
  for (;;) {
    if (!in_.empty()) {
      long n = parse_request_head(in_.data(), limits, req_.head_, err, &scan);
      if (n > 0) return n;
      if (n < 0) {
        reject(err.status, err.reason);
        return 0;
      }
      if (first_byte_ns_ == 0) start_header_clock();
    }
    // More bytes are needed: answers already made go out before this task waits.
    if (!flush_out()) return 0;
    bool idle = in_.empty();
    if (idle) {
      // Between requests the connection is idle: shutdown may close it.
      if (!first) {
        in_.release_if_empty();
        conn_.set_read_deadline(deadline_in(state_->idle_ns));
      }
      phase_.store(kIdle, std::memory_order_seq_cst);
      if (state_->shutting_down.load(std::memory_order_seq_cst)) {
        close_if_idle();
        return 0;
      }
    }
    auto n = in_.fill(conn_, max_cap);
    if (idle) {
      int expected = kIdle;
      if (!phase_.compare_exchange_strong(expected, kActive, std::memory_order_acq_rel))
        return 0;  // shutdown closed it
    }
    if (!n) {
      if (n.error() == std::errc::no_buffer_space) {
        reject(status::kRequestHeaderFieldsTooLarge, "request header too large");
      } else if (n.error() == std::errc::timed_out) {
        if (metrics_)
          metrics_->count_timeout(idle && !first ? TimeoutKind::kIdle : TimeoutKind::kReadHeader);
        if (!idle) reject(status::kRequestTimeout, "timed out reading the request header");
      }
      return 0;
    }
    if (n.value() == 0) return 0;  // the client closed
    if (idle) start_header_clock();
  }
}

void ServerConn::start_header_clock() {
  // The header deadline counts from the first byte of the request, so trickling bytes cannot
  // extend it.
  first_byte_ns_ = now_steady_ns();
  int64_t ns = state_->read_header_ns;
  if (state_->read_ns > 0 && (ns <= 0 || state_->read_ns < ns)) ns = state_->read_ns;
  conn_.set_read_deadline(
      ns > 0 ? net::Clock::time_point(std::chrono::nanoseconds(first_byte_ns_ + ns))
             : net::Clock::time_point{});
}

bool ServerConn::run_request(long head_len) {
  const RequestHead& head = req_.head_;
  // The bytes views point into must stay put while the handler runs; make sure a body can be
  // read after them without moving them.
  if (head.body != BodyKind::kNone &&
      in_.room_after(static_cast<std::size_t>(head_len)) < kInitialBuffer / 2) {
    in_.reserve(in_.size() + kInitialBuffer);
    ParseError err;
    head_len = parse_request_head(in_.data(), state_->limits, req_.head_, err);
  }
  in_.consume(static_cast<std::size_t>(head_len));
  in_.pin();
  int64_t start_ns = state_->write_ns > 0 || metrics_ ? now_steady_ns() : 0;

  if (!parse_target(head.target, head.method, req_.target_)) {
    reject(status::kBadRequest, "malformed request target");
    return false;
  }
  if (head.body == BodyKind::kLength && head.content_length > state_->max_body) {
    reject(status::kPayloadTooLarge, "request body too large");
    return false;
  }
  if (head.body != BodyKind::kNone) {
    // The whole request, body included, must arrive within read_timeout of its first byte.
    int64_t since = first_byte_ns_ ? first_byte_ns_ : now_steady_ns();
    conn_.set_read_deadline(state_->read_ns > 0 ? net::Clock::time_point(std::chrono::nanoseconds(
                                                      since + state_->read_ns))
                                                : net::Clock::time_point{});
  }
  if (state_->write_ns > 0)
    conn_.set_write_deadline(net::Clock::time_point(std::chrono::nanoseconds(start_ns)) +
                             std::chrono::nanoseconds(state_->write_ns));
  sent_continue_ = false;
  body_.start(&in_, &conn_, head.body, head.content_length, state_->max_body,
              head.expect_continue ? &ServerConn::send_continue : nullptr, this);
  bool keep_alive = head.keep_alive && !state_->shutting_down.load(std::memory_order_acquire);
  writer_.reset(head.method == "HEAD", head.minor_version, keep_alive);
  if (metrics_) metrics_->live->requests_started.inc();

  try {
    state_->handler(writer_, req_);
  } catch (const std::exception& e) {
    if (!writer_.head_sent()) {
      writer_.discard_unsent();
      error(writer_, status::kInternalServerError, "Internal Server Error");
    } else {
      writer_.abort();
    }
    state_->report(log::Level::kError, std::string("handler threw: ") + e.what(), "handler threw",
                   {{"error", e.what()},
                    {"remote", req_.remote_addr()},
                    {"method", req_.method()},
                    {"target", req_.target()}});
  } catch (...) {
    if (!writer_.head_sent()) {
      writer_.discard_unsent();
      error(writer_, status::kInternalServerError, "Internal Server Error");
    } else {
      writer_.abort();
    }
    state_->report(log::Level::kError, "handler threw a non-standard exception", "handler threw",
                   {{"error", "exception of unknown type"},
                    {"remote", req_.remote_addr()},
                    {"method", req_.method()},
                    {"target", req_.target()}});
  }
  end_request_context();

  std::error_code body_err = body_.error();
  if (metrics_ && body_err) {
    if (body_err == BodyError::kTooLarge) {
      metrics_->count_parse_error(ParseErrorKind::kBodyTooLarge);
    } else if (body_err == BodyError::kMalformed) {
      metrics_->count_parse_error(ParseErrorKind::kBadBody);
    } else if (body_err == std::errc::timed_out) {
      metrics_->count_timeout(TimeoutKind::kRead);
    }
  }
  if (body_err == BodyError::kTooLarge && writer_.status() == 0) {
    error(writer_, status::kPayloadTooLarge, "request body too large");
  } else if (body_err == BodyError::kMalformed && writer_.status() == 0) {
    error(writer_, status::kBadRequest, "malformed request body");
  }
  if (body_err) writer_.set_close();
  // A body the handler left unread is dropped if it is short; a client told to wait for
  // "100 Continue" that never came may not send it at all, so that connection closes.
  if (!body_.done() && !body_err) {
    if (head.expect_continue && !sent_continue_) {
      writer_.set_close();
    } else if (writer_.keep_alive() && !body_.discard(kMaxDiscard)) {
      writer_.set_close();
      if (metrics_ && body_.error() == std::errc::timed_out)
        metrics_->count_timeout(TimeoutKind::kRead);
    }
  }
  if (state_->shutting_down.load(std::memory_order_acquire)) writer_.set_close();
  bool again = writer_.finish();
  if (metrics_) record_request(start_ns, head.method, req_.pattern());
  in_.unpin();
  req_.reset();
  if (!again) flush_out();
  return again;
}

void ServerConn::serve() {
  conn_.set_read_deadline(deadline_in(state_->read_header_ns));
  bool first = true;
  for (;;) {
    long n = read_head(first);
    if (n <= 0) break;
    first = false;
    if (!run_request(n)) break;
  }
  flush_out();
  record_bytes();
  phase_.store(kClosed, std::memory_order_release);
  conn_.close();
}

}  // namespace detail

// ---- Request, Body ------------------------------------------------------------------------

std::string_view Request::remote_addr() const {
  return conn_ ? conn_->remote_addr() : "";
}

const Context& Request::context() const {
  static const Context background;
  if (ctx_override_) return *ctx_override_;
  return conn_ ? conn_->context() : background;
}

// ---- Server -------------------------------------------------------------------------------

namespace {

std::size_t default_max_connections() {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return 1 << 20;
  std::size_t n = static_cast<std::size_t>(rl.rlim_cur);
  return std::max<std::size_t>(64, n - n / 16);
}

// Go raises the soft file-descriptor limit to the hard one at start-up; a server needs it.
void raise_fd_limit() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
      rl.rlim_cur = rl.rlim_max;
      setrlimit(RLIMIT_NOFILE, &rl);
    }
  });
}

}  // namespace

Server::Server() : state_(std::make_shared<detail::ServerState>()) {
  auto [ctx, cancel] = with_cancel(Context::background());
  state_->base = std::move(ctx);
  state_->cancel_base = std::move(cancel);
}

Server::~Server() {
  close();
}

std::size_t Server::open_connections() const noexcept {
  return state_->nconns.load(std::memory_order_acquire);
}

std::error_code Server::listen_and_serve() {
  auto l = net::listen(addr);
  if (!l) return l.error();
  return serve(l.value());
}

std::error_code Server::serve(net::Listener& listener) {
  raise_fd_limit();
  auto st = state_;
  if (st->shutting_down.load()) return std::make_error_code(std::errc::operation_canceled);
  auto ns = [](Duration d) { return static_cast<int64_t>(d.count()); };
  st->handler = handler ? handler : Handler(default_mux());
  st->limits = ParseLimits{max_header_bytes, max_header_count, max_target_bytes};
  st->read_header_ns = ns(read_header_timeout);
  st->read_ns = ns(read_timeout);
  st->write_ns = ns(write_timeout);
  st->idle_ns = ns(idle_timeout);
  st->max_body = max_body_bytes;
  st->max_conns = max_connections ? max_connections : default_max_connections();
  st->error_log = error_log;
  // This call's connections record into the metrics set now, and keep them alive.
  std::shared_ptr<ServerMetrics> conn_metrics = metrics;
  detail::ServerInstruments* m = conn_metrics ? &conn_metrics->instruments() : nullptr;
  {
    std::lock_guard<std::mutex> g(st->mu);
    st->listeners.push_back(&listener);
  }
  std::error_code result;
  int backoff_ms = 0;
  for (;;) {
    auto c = listener.accept();
    if (!c) {
      if (st->shutting_down.load(std::memory_order_acquire)) {
        result = std::make_error_code(std::errc::operation_canceled);
        break;
      }
      std::error_code ec = c.error();
      if (ec == std::errc::too_many_files_open || ec == std::errc::too_many_files_open_in_system ||
          ec == std::errc::not_enough_memory || ec == std::errc::no_buffer_space ||
          ec == std::errc::connection_aborted || ec == std::errc::interrupted) {
        // Temporary: back off as Go does (5 ms doubling up to 1 s).
        backoff_ms = backoff_ms ? std::min(backoff_ms * 2, 1000) : 5;
        st->report(log::Level::kWarn, "accept: " + ec.message() + "; retrying",
                   "accept failed; retrying",
                   {{"error", ec.message()}, {"backoff_ms", backoff_ms}});
        sleep_for(std::chrono::milliseconds(backoff_ms));
        continue;
      }
      result = ec;
      break;
    }
    backoff_ms = 0;
    net::Conn conn = std::move(c.value());
    if (m) m->accepted.inc();
    if (st->nconns.load(std::memory_order_relaxed) >= st->max_conns) {
      if (m) m->rejected.inc();
      (void)conn.write(detail::kOverloaded);
      conn.close();
      continue;
    }
    st->nconns.fetch_add(1, std::memory_order_acq_rel);
    if (m) m->live->connections_opened.inc();
    go([st, conn = std::move(conn), conn_metrics]() mutable {
      {
        detail::ServerConn sc(st, std::move(conn), conn_metrics);
        st->add(&sc);
        sc.serve();
        st->remove(&sc);
      }
      if (conn_metrics) conn_metrics->instruments().live->connections_closed.inc();
      st->nconns.fetch_sub(1, std::memory_order_acq_rel);
    });
  }
  {
    std::lock_guard<std::mutex> g(st->mu);
    auto& ls = st->listeners;
    ls.erase(std::remove(ls.begin(), ls.end(), &listener), ls.end());
  }
  return result;
}

std::error_code Server::shutdown(std::chrono::steady_clock::time_point deadline) {
  auto st = state_;
  st->shutting_down.store(true, std::memory_order_seq_cst);
  for (;;) {
    {
      std::lock_guard<std::mutex> g(st->mu);
      for (net::Listener* l : st->listeners) l->close();
      for (detail::ServerConn* c = st->conns; c; c = c->next) c->close_if_idle();
    }
    if (st->nconns.load(std::memory_order_acquire) == 0) return {};
    if (std::chrono::steady_clock::now() >= deadline) {
      close();
      return std::make_error_code(std::errc::timed_out);
    }
    sleep_for(std::chrono::milliseconds(5));
  }
}

void Server::close() {
  auto st = state_;
  st->shutting_down.store(true, std::memory_order_seq_cst);
  st->cancel_base();
  std::lock_guard<std::mutex> g(st->mu);
  for (net::Listener* l : st->listeners) l->close();
  for (detail::ServerConn* c = st->conns; c; c = c->next) c->force_close();
}

void handle_func(std::string_view pattern, Handler fn) {
  default_mux().handle(pattern, std::move(fn));
}

std::error_code listen_and_serve(std::string_view addr, Handler handler) {
  Server srv;
  srv.addr = std::string(addr);
  srv.handler = std::move(handler);
  return srv.listen_and_serve();
}

}  // namespace weft::http
