// ServerConn: one accepted connection served by a task, and the ResponseWriter it hands to
// handlers. Internal to the server.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "http/conn_io.h"
#include "http/server_instruments.h"
#include "weft/http/handler.h"
#include "weft/http/request.h"
#include "weft/http/server_metrics.h"
#include "weft/net/net.h"
#include "weft/runtime/context.h"

namespace weft::http::detail {

struct ServerState;
class ServerConn;

// ConnWriter is the server's ResponseWriter: it buffers a small body so it can send a
// Content-Length, and streams chunked once flushed or once the body outgrows the buffer.
class ConnWriter final : public ResponseWriter {
 public:
  explicit ConnWriter(ServerConn* conn) : conn_(conn) {}

  Headers& header() override { return header_; }
  void write_header(int code) override;
  using ResponseWriter::write;
  Result<std::size_t> write(std::span<const std::byte> data) override;
  std::error_code flush() override;
  std::error_code send_file(int fd, int64_t offset, uint64_t count) override;
  int status() const noexcept override { return status_; }
  uint64_t bytes_written() const noexcept override { return written_; }

  // Starts the response to one request.
  void reset(bool head_request, int minor_version, bool keep_alive) noexcept;
  // Completes the response (head if not sent, buffered body, chunk terminator). Returns false
  // when the connection cannot carry another request afterwards.
  bool finish();
  // True once the head went into the output.
  bool head_sent() const noexcept { return head_sent_; }
  // Forgets a response that never went out (for the 500 after a handler exception).
  void discard_unsent() noexcept;
  // The response will end with Connection: close.
  void set_close() noexcept { keep_alive_ = false; }
  // The handler failed after the head went out: end the connection without completing the
  // body, so the client cannot take the cut-off body for a whole one.
  void abort() noexcept {
    aborted_ = true;
    keep_alive_ = false;
  }
  bool keep_alive() const noexcept { return keep_alive_; }

 private:
  // Serializes the head into the connection's output; body_length < 0 means streaming.
  // first_body_bytes stand in for the buffered body when sniffing a missing Content-Type.
  void send_head(int64_t body_length, std::string_view first_body_bytes = {});
  Result<std::size_t> stream(const char* p, std::size_t n);
  // True when the handler declared trailers (a Trailer field or "Trailer:"-prefixed fields).
  bool wants_trailers() const noexcept;
  // Appends the last chunk and the trailer fields.
  void end_chunked();

  ServerConn* conn_;
  Headers header_;
  std::string body_;  // the body, while it is buffered
  int status_ = 0;
  int minor_version_ = 1;
  bool head_request_ = false;
  bool keep_alive_ = true;
  bool head_sent_ = false;
  bool chunked_ = false;
  bool until_close_ = false;
  bool aborted_ = false;
  int64_t declared_length_ = -1;
  uint64_t written_ = 0;
};

// ServerConn runs the request loop of one connection.
class ServerConn {
 public:
  // metrics, when set, is where this connection records (see ServerMetrics).
  ServerConn(std::shared_ptr<ServerState> state, net::Conn conn,
             std::shared_ptr<ServerMetrics> metrics);
  ~ServerConn();

  // Serves requests until the connection ends; called on the connection's task.
  void serve();

  // Shutdown: closes the connection now if it is waiting for a request. Returns true if it did.
  bool close_if_idle() noexcept;
  // Closes the connection whatever it is doing.
  void force_close() noexcept { conn_.close(); }

  // For Request, Body and ConnWriter.
  std::string_view remote_addr();
  const Context& context();
  std::string& out() noexcept { return out_; }
  // Writes the pending output; false (and the connection is done) when that fails.
  bool flush_out();
  // Counts bytes sent past out(), and a write that failed for its deadline.
  void count_sent(std::size_t n) noexcept { bytes_sent_ += n; }
  void note_write_error(std::error_code ec) noexcept;
  // The same, telling the kernel that more bytes follow at once (before a sendfile).
  bool flush_out_more();
  net::Conn& conn() noexcept { return conn_; }

  ServerConn* prev = nullptr;
  ServerConn* next = nullptr;

 private:
  enum Phase : int { kIdle, kActive, kClosed };

  // Reads until a whole head is buffered; returns its length, or 0 when the connection is
  // done (after answering an error where one is due).
  long read_head(bool first);
  // Answers a rejected request with status and reason, then closes.
  void reject(int status, std::string_view reason);
  // Records one request the handler answered, and the bytes moved since the last report.
  void record_request(int64_t start_ns, std::string_view method, std::string_view pattern);
  // Adds the bytes moved since the last report to the server's totals.
  void record_bytes() noexcept;
  // Runs one parsed request through the handler; false when the connection must close.
  bool run_request(long head_len);
  void end_request_context() noexcept;
  // Arms the header deadline for a request whose first byte just arrived.
  void start_header_clock();
  static std::error_code send_continue(void* self);

  std::shared_ptr<ServerState> state_;
  net::Conn conn_;
  InputBuffer in_;
  std::string out_;
  BodyReader body_;
  Request req_;
  ConnWriter writer_{this};
  std::string remote_;
  std::atomic<int> phase_{kActive};
  bool sent_continue_ = false;
  int64_t first_byte_ns_ = 0;  // when the current request's first byte arrived
  // Metrics (when the server records them): the route served last, and bytes counted so far.
  std::shared_ptr<ServerMetrics> metrics_owner_;
  ServerInstruments* metrics_ = nullptr;
  RouteInstruments* last_route_ = nullptr;
  uint64_t bytes_sent_ = 0;
  uint64_t reported_in_ = 0, reported_out_ = 0;
  bool write_timed_out_ = false;

  // The request context, made on first use.
  std::optional<Context> ctx_;
  CancelFunc cancel_;
  struct Watch : net::HangupWatch {
    CancelFunc cancel;
  } watch_;
  bool watching_ = false;
};

}  // namespace weft::http::detail
