// Helpers shared by the HTTP test suites: a server on a free loopback port, and a raw client
// that writes bytes and reads responses back with the library's strict response parser.
// Everything lives in namespace weft_test; call these from inside weft::run.
#pragma once

#include <weft/http.h>
#include <weft/weft.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace weft_test {

// TestServer serves handler on 127.0.0.1 (a free port) until stop() or destruction. Set
// fields of server() before start().
class TestServer {
 public:
  explicit TestServer(weft::http::Handler handler) { server_.handler = std::move(handler); }
  ~TestServer() { stop(); }

  weft::http::Server& server() { return server_; }

  // Listens and starts serving in a new task; returns the address ("127.0.0.1:port").
  std::string start() {
    auto l = weft::net::listen("127.0.0.1:0");
    if (!l) throw std::runtime_error("listen: " + l.error().message());
    listener_ = std::make_unique<weft::net::Listener>(std::move(l.value()));
    addr_ = listener_->addr();
    done_.add(1);
    weft::go([this] {
      serve_result_ = server_.serve(*listener_);
      done_.done();
    });
    return addr_;
  }
  const std::string& addr() const { return addr_; }

  // Shuts down gracefully (within timeout) and waits for serve() to return; returns what
  // shutdown() returned.
  std::error_code stop(std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    if (!listener_ || stopped_) return {};
    stopped_ = true;
    auto ec = server_.shutdown(timeout);
    done_.wait();
    return ec;
  }
  std::error_code serve_result() const { return serve_result_; }

 private:
  weft::http::Server server_;
  std::unique_ptr<weft::net::Listener> listener_;
  std::string addr_;
  weft::WaitGroup done_;
  std::error_code serve_result_;
  bool stopped_ = false;
};

// One response as read off the wire.
struct RawResponse {
  int status = 0;
  int minor_version = 1;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string trailers;  // "name: value\n" lines
  bool chunked = false;
  bool keep_alive = true;

  // The first value of header name (case-insensitive), or "".
  std::string header(std::string_view name) const {
    for (const auto& [k, v] : headers)
      if (weft::http::equal_fold(k, name)) return v;
    return "";
  }
  bool has_header(std::string_view name) const {
    for (const auto& [k, v] : headers)
      if (weft::http::equal_fold(k, name)) return true;
    return false;
  }
};

// RawClient is one client connection that sends raw bytes and parses responses.
class RawClient {
 public:
  explicit RawClient(const std::string& addr) {
    auto c = weft::net::dial(addr, std::chrono::seconds(5));
    if (!c) throw std::runtime_error("dial: " + c.error().message());
    conn_ = std::move(c.value());
    conn_.set_deadline(weft::net::Clock::now() + std::chrono::seconds(20));
  }
  weft::net::Conn& conn() { return conn_; }

  bool send(std::string_view bytes) { return conn_.write(bytes).ok(); }

  // Reads the next response; nullopt when the connection ended or the bytes were malformed.
  // method: the request's method (a response to HEAD has no body).
  std::optional<RawResponse> read_response(std::string_view method = "GET") {
    using namespace weft::http;
    ResponseHead head;
    ParseError err;
    long n;
    for (;;) {
      n = parse_response_head(buf_, ParseLimits{}, method, head, err);
      if (n < 0) return std::nullopt;
      if (n > 0) break;
      if (!fill()) return std::nullopt;
    }
    RawResponse r;
    r.status = head.status;
    r.minor_version = head.minor_version;
    r.keep_alive = head.keep_alive;
    for (const auto& f : head.headers) r.headers.emplace_back(f.name, f.value);
    BodyKind kind = head.body;
    uint64_t length = head.content_length;
    buf_.erase(0, static_cast<std::size_t>(n));
    if (kind == BodyKind::kLength) {
      while (buf_.size() < length)
        if (!fill()) return std::nullopt;
      r.body = buf_.substr(0, length);
      buf_.erase(0, length);
    } else if (kind == BodyKind::kChunked) {
      r.chunked = true;
      ChunkedDecoder dec;
      for (;;) {
        std::string out(buf_.size() + 1, '\0');
        std::size_t produced = 0;
        long used = dec.decode(buf_.data(), buf_.size(), out.data(), out.size(), &produced, err);
        if (used < 0) return std::nullopt;
        r.body.append(out.data(), produced);
        buf_.erase(0, static_cast<std::size_t>(used));
        if (dec.done()) break;
        if (buf_.empty() && !fill()) return std::nullopt;
      }
      for (const auto& f : dec.trailers())
        r.trailers += std::string(f.name) + ": " + std::string(f.value) + "\n";
    } else if (kind == BodyKind::kUntilClose) {
      while (fill()) {
      }
      r.body = std::move(buf_);
      buf_.clear();
    }
    return r;
  }

  // Reads until the server closes the connection; true if it closed (EOF or reset) with no
  // further bytes beyond what was already buffered.
  bool wait_closed() {
    char tmp[4096];
    for (;;) {
      auto n = conn_.read(tmp, sizeof tmp);
      if (!n) return n.error() != std::errc::timed_out;
      if (n.value() == 0) return true;
      buf_.append(tmp, n.value());
    }
  }
  // Bytes received but not yet consumed by read_response().
  const std::string& pending() const { return buf_; }

 private:
  bool fill() {
    char tmp[16 * 1024];
    auto n = conn_.read(tmp, sizeof tmp);
    if (!n || n.value() == 0) return false;
    buf_.append(tmp, n.value());
    return true;
  }

  weft::net::Conn conn_;
  std::string buf_;
};

// Sends one raw request on a fresh connection and reads one response.
inline std::optional<RawResponse> roundtrip(const std::string& addr, std::string_view raw,
                                            std::string_view method = "GET") {
  RawClient c(addr);
  if (!c.send(raw)) return std::nullopt;
  return c.read_response(method);
}

// A minimal well-formed GET.
inline std::string get_request(std::string_view path, std::string_view extra_headers = "") {
  return "GET " + std::string(path) + " HTTP/1.1\r\nHost: test\r\n" + std::string(extra_headers) +
         "\r\n";
}

}  // namespace weft_test
