// Helpers for tests that talk HTTP to a real weft::http::Server over loopback: a server that
// lives for one scope, and a raw client that writes request bytes and parses the responses it
// reads (framed by Content-Length, chunked, or ended by the close). Everything lives in
// namespace weft_test and must run inside weft::run (in tasks).
#pragma once

#include <weft/http.h>
#include <weft/weft.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace weft_test {

// RawResponse is one response as read off the wire.
struct RawResponse {
  std::string proto;                                         // "HTTP/1.1"
  int minor_version = 1;                                     // 0 for HTTP/1.0
  int status = 0;                                            // from the status line
  std::string reason;                                        // "OK"
  std::vector<std::pair<std::string, std::string>> headers;  // in order, as sent
  std::string body;                                          // chunk framing removed
  bool chunked = false;                                      // sent with chunked framing
  std::vector<std::string> chunks;  // the payloads of a chunked body, in order
  std::vector<std::pair<std::string, std::string>> trailers;  // after a chunked body
  // The connection stays open after this response: no "Connection: close", and HTTP/1.1 or
  // an HTTP/1.0 response with "Connection: keep-alive".
  bool keep_alive = true;

  // The first value of field name (case-insensitive), or "".
  std::string header(std::string_view name) const {
    for (const auto& [k, v] : headers)
      if (weft::http::equal_fold(k, name)) return v;
    return {};
  }
  bool has_header(std::string_view name) const { return header_count(name) > 0; }
  std::size_t header_count(std::string_view name) const {
    std::size_t n = 0;
    for (const auto& h : headers)
      if (weft::http::equal_fold(h.first, name)) ++n;
    return n;
  }
};

// Collects the lines a server or middleware logs, from any task or thread. The lock is
// what orders a line written by a server task before the test reads it (a reply that
// crossed a socket orders them too, but not in ThreadSanitizer's eyes).
struct LineSink {
  std::mutex mu;
  std::vector<std::string> lines;
  weft::http::LogSink sink() {
    return [this](std::string_view line) {
      std::lock_guard<std::mutex> g(mu);
      lines.emplace_back(line);
    };
  }
  std::vector<std::string> get() {
    std::lock_guard<std::mutex> g(mu);
    return lines;
  }
};

// RawClient holds one connection: send() writes raw bytes, read_response() reads the next
// response (a kept-alive connection carries several; a 1xx interim response is returned as a
// response of its own). Every read waits at most `timeout`, so a server that never answers
// fails the test instead of hanging it. error() says why the last operation failed.
class RawClient {
 public:
  explicit RawClient(const std::string& addr,
                     std::chrono::milliseconds timeout = std::chrono::seconds(10))
      : timeout_(timeout) {
    auto c = weft::net::dial(addr, timeout);
    if (!c) {
      error_ = "dial " + addr + ": " + c.error().message();
      return;
    }
    conn_ = std::move(c.value());
  }

  bool connected() const { return conn_.valid(); }
  const std::string& error() const { return error_; }
  weft::net::Conn& conn() { return conn_; }

  // Writes all of raw; false when that fails.
  bool send(std::string_view raw) {
    if (!conn_.valid()) return false;
    conn_.set_write_deadline(weft::net::Clock::now() + timeout_);
    auto n = conn_.write(raw);
    if (!n) error_ = "write: " + n.error().message();
    return n.ok();
  }

  // Reads one whole response to a request with method (a HEAD response has no body);
  // nullopt when it could not be read whole.
  std::optional<RawResponse> read_response(std::string_view method = "GET") {
    auto r = read_head();
    if (!r) return std::nullopt;
    if (method == "HEAD" || weft::http::status_has_no_body(r->status)) return r;
    if (r->chunked) {
      for (;;) {
        auto chunk = read_chunk(*r);
        if (!chunk) return std::nullopt;
        if (chunk->empty()) return r;
      }
    }
    std::string cl = r->header("Content-Length");
    if (!cl.empty()) {
      std::size_t n = std::stoul(cl);
      if (!need(n)) return std::nullopt;
      r->body = take(n);
      return r;
    }
    // Neither a length nor chunked: the body runs until the server closes.
    while (fill()) {
    }
    if (!eof_) return std::nullopt;
    r->body = take(buf_.size() - pos_);
    return r;
  }

  // Reads a status line and the header fields only; the body is left for read_chunk() (or
  // read_body_until_close-style reading by the caller).
  std::optional<RawResponse> read_head() {
    RawResponse r;
    auto line = read_line();
    if (!line) return std::nullopt;
    std::size_t sp = line->find(' ');
    if (sp == std::string::npos || line->size() < sp + 4) {
      error_ = "malformed status line: " + *line;
      return std::nullopt;
    }
    r.proto = line->substr(0, sp);
    r.minor_version = r.proto == "HTTP/1.0" ? 0 : 1;
    r.status = std::atoi(line->substr(sp + 1, 3).c_str());
    r.reason = line->size() > sp + 5 ? line->substr(sp + 5) : "";
    for (;;) {
      auto field = read_line();
      if (!field) return std::nullopt;
      if (field->empty()) break;
      std::size_t colon = field->find(':');
      if (colon == std::string::npos) {
        error_ = "malformed header field: " + *field;
        return std::nullopt;
      }
      std::string value = field->substr(colon + 1);
      std::size_t b = value.find_first_not_of(" \t");
      value = b == std::string::npos ? "" : value.substr(b);
      while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.pop_back();
      r.headers.emplace_back(field->substr(0, colon), std::move(value));
    }
    r.chunked = weft::http::equal_fold(r.header("Transfer-Encoding"), "chunked");
    std::string connection = r.header("Connection");
    r.keep_alive = r.minor_version == 1 ? !weft::http::equal_fold(connection, "close")
                                        : weft::http::equal_fold(connection, "keep-alive");
    return r;
  }

  // Reads the next chunk of r's chunked body and appends it to r.body and r.chunks. Returns
  // its payload; "" for the last (zero-size) chunk, after the trailer; nullopt on an error.
  std::optional<std::string> read_chunk(RawResponse& r) {
    auto line = read_line();
    if (!line) return std::nullopt;
    std::string digits = line->substr(0, line->find(';'));
    char* end = nullptr;
    unsigned long size = std::strtoul(digits.c_str(), &end, 16);
    if (digits.empty() || end != digits.c_str() + digits.size()) {
      error_ = "malformed chunk size: " + *line;
      return std::nullopt;
    }
    if (size == 0) {
      for (;;) {  // the trailer section
        auto t = read_line();
        if (!t) return std::nullopt;
        if (t->empty()) return std::string();
        std::size_t colon = t->find(':');
        std::size_t v =
            t->find_first_not_of(" \t", colon == std::string::npos ? t->size() : colon + 1);
        r.trailers.emplace_back(t->substr(0, colon), v == std::string::npos ? "" : t->substr(v));
      }
    }
    if (!need(size + 2)) return std::nullopt;
    std::string data = take(size);
    if (take(2) != "\r\n") {
      error_ = "chunk data not followed by CRLF";
      return std::nullopt;
    }
    r.body += data;
    r.chunks.push_back(data);
    return data;
  }

  // True when the server ends the connection (EOF or reset) within the timeout. Bytes that
  // arrive first are kept: pending() shows them.
  bool wait_closed() {
    while (fill()) {
    }
    return eof_ || error_.find("reset") != std::string::npos;
  }

  // The bytes read but not yet consumed by a read_*() call.
  std::string pending() const { return buf_.substr(pos_); }

 private:
  // Reads more bytes; false at EOF or on an error.
  bool fill() {
    if (eof_ || !conn_.valid()) return false;
    if (pos_ > 0 && pos_ == buf_.size()) {
      buf_.clear();
      pos_ = 0;
    }
    char tmp[16 * 1024];
    conn_.set_read_deadline(weft::net::Clock::now() + timeout_);
    auto n = conn_.read(tmp, sizeof tmp);
    if (!n) {
      error_ = "read: " + n.error().message();
      return false;
    }
    if (n.value() == 0) {
      eof_ = true;
      error_ = "connection closed";
      return false;
    }
    buf_.append(tmp, n.value());
    return true;
  }
  bool need(std::size_t n) {
    while (buf_.size() - pos_ < n)
      if (!fill()) return false;
    return true;
  }
  std::string take(std::size_t n) {
    std::string s = buf_.substr(pos_, n);
    pos_ += s.size();
    return s;
  }
  std::optional<std::string> read_line() {
    for (;;) {
      std::size_t end = buf_.find("\r\n", pos_);
      if (end != std::string::npos) {
        std::string line = buf_.substr(pos_, end - pos_);
        pos_ = end + 2;
        return line;
      }
      if (!fill()) return std::nullopt;
    }
  }

  weft::net::Conn conn_;
  std::chrono::milliseconds timeout_;
  std::string buf_;
  std::size_t pos_ = 0;
  bool eof_ = false;
  std::string error_;
};

// get_request is "GET target HTTP/1.1" with a Host field; extra holds more header lines,
// each ending in CRLF.
inline std::string get_request(std::string_view target, std::string_view extra = "") {
  std::string s = "GET ";
  s.append(target).append(" HTTP/1.1\r\nHost: test\r\n").append(extra).append("\r\n");
  return s;
}

// roundtrip dials addr, writes raw_request and reads one response to it (method tells a HEAD
// apart); nullopt when any step fails.
inline std::optional<RawResponse> roundtrip(const std::string& addr, std::string_view raw_request,
                                            std::string_view method = "GET") {
  RawClient c(addr);
  if (!c.send(raw_request)) return std::nullopt;
  return c.read_response(method);
}

// TestServer serves handler on a fresh loopback port from start() until stop() or the
// destructor. Set fields of server() (timeouts, limits, error_log) before start().
class TestServer {
 public:
  explicit TestServer(weft::http::Handler handler) { server_.handler = std::move(handler); }
  ~TestServer() { (void)stop(); }
  TestServer(const TestServer&) = delete;
  TestServer& operator=(const TestServer&) = delete;

  weft::http::Server& server() { return server_; }

  // Listens on 127.0.0.1:0, serves in a new task and returns "127.0.0.1:port" ("" when
  // listening failed).
  std::string start() {
    auto l = weft::net::listen("127.0.0.1:0");
    if (!l) return {};
    listener_ = std::make_unique<weft::net::Listener>(std::move(l.value()));
    std::string addr = listener_->addr();
    running_.store(true);
    weft::go([this, stopped = stopped_] {
      (void)server_.serve(*listener_);
      stopped.close();
    });
    return addr;
  }

  // Shuts the server down gracefully (in-flight requests finish; past timeout the rest are
  // cut) and waits until it stopped serving. Returns shutdown's result; a second call does
  // nothing and returns no error.
  std::error_code stop(std::chrono::nanoseconds timeout = std::chrono::seconds(5)) {
    if (!running_.exchange(false)) return {};
    std::error_code ec = server_.shutdown(timeout);
    (void)stopped_.recv();
    return ec;
  }

 private:
  weft::http::Server server_;
  std::unique_ptr<weft::net::Listener> listener_;
  std::atomic<bool> running_{false};
  weft::Chan<int> stopped_{0};  // closed when serve() has returned
};

// "http://" + addr + path.
inline std::string url_of(const std::string& addr, std::string_view path) {
  return "http://" + addr + std::string(path);
}

// For a handler: holds the request until every request of its batch (batch_size of them,
// counted in `arrived`) has arrived, or 10 s pass, so each request of a batch keeps its own
// connection busy and a client in parallel must dial one per request.
inline void wait_for_whole_batch(std::atomic<int>& arrived, int batch_size) {
  int target = (arrived.fetch_add(1) / batch_size + 1) * batch_size;
  auto until = weft::Clock::now() + std::chrono::seconds(10);
  while (arrived.load() < target && weft::Clock::now() < until)
    weft::sleep_for(std::chrono::milliseconds(1));
}

// Sends n GETs of url at once from n tasks on one client; returns how many got a response.
inline int parallel_gets(weft::http::Client& client, const std::string& url, int n) {
  weft::WaitGroup wg;
  std::atomic<int> ok{0};
  for (int i = 0; i < n; ++i) {
    wg.add(1);
    weft::go([&] {
      if (client.get(url)) ++ok;
      wg.done();
    });
  }
  wg.wait();
  return ok.load();
}

}  // namespace weft_test
