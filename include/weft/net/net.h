// weft::net: TCP listeners and connections whose blocking calls park the task, not the thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include "weft/net/result.h"
#include "weft/runtime/detail/hangup.h"

namespace weft::detail {
struct PollDesc;

// PollHandle owns one registered socket (a PollDesc) for Conn and Listener: move-only; the
// destructor releases it, closing the socket once no operation is in flight.
class PollHandle {
 public:
  PollHandle() = default;
  explicit PollHandle(PollDesc* pd) noexcept : pd_(pd) {}
  PollHandle(PollHandle&& o) noexcept : pd_(o.pd_) { o.pd_ = nullptr; }
  PollHandle& operator=(PollHandle&& o) noexcept;
  PollHandle(const PollHandle&) = delete;
  PollHandle& operator=(const PollHandle&) = delete;
  ~PollHandle();

  PollDesc* get() const noexcept { return pd_; }

 private:
  PollDesc* pd_ = nullptr;
};
}  // namespace weft::detail

namespace weft::net {

using Clock = std::chrono::steady_clock;

// HangupWatch is a callback the runtime runs once when the peer of a watched Conn closes its
// end or the connection fails (the poller saw EPOLLRDHUP, EPOLLHUP or EPOLLERR). Set fn; it
// runs on a runtime thread, outside any task, so it must be short and must not block
// (cancelling a Context is the intended use). The object must outlive unwatch_hangup().
using HangupWatch = weft::detail::HangupHook;

// Conn is a connected TCP socket, move-only; the destructor closes it. read and write park the
// calling task while the socket is not ready (on a plain thread they block the thread) and
// honour the deadlines. Errors are values: std::errc::timed_out when a deadline passes,
// std::errc::connection_reset, std::errc::broken_pipe, std::errc::bad_file_descriptor after
// close(), and so on. One reader and one writer may use a Conn at the same time.
class Conn {
 public:
  Conn() = default;

  // Reads up to buf.size() bytes; returns 0 at end of stream.
  [[nodiscard]] Result<std::size_t> read(std::span<std::byte> buf);
  [[nodiscard]] Result<std::size_t> read(void* buf, std::size_t len) {
    return read(std::span<std::byte>(static_cast<std::byte*>(buf), len));
  }
  // Waits, when the last read showed the socket drained, until a read would find data or the
  // end of the stream; returns at once otherwise. Lets a caller that keeps many idle
  // connections allocate a read buffer only once there is something to read. Honours the read
  // deadline.
  std::error_code wait_readable();
  // Writes all of buf unless an error or a deadline stops it; returns the bytes written.
  [[nodiscard]] Result<std::size_t> write(std::span<const std::byte> buf);
  [[nodiscard]] Result<std::size_t> write(std::string_view s) {
    return write(
        std::span<const std::byte>(reinterpret_cast<const std::byte*>(s.data()), s.size()));
  }
  // Like write, and tells the kernel more data follows at once (MSG_MORE), so a header and
  // the send_file() body after it share packets.
  [[nodiscard]] Result<std::size_t> write_more(std::span<const std::byte> buf);
  [[nodiscard]] Result<std::size_t> write_more(std::string_view s) {
    return write_more(
        std::span<const std::byte>(reinterpret_cast<const std::byte*>(s.data()), s.size()));
  }
  // Closes the socket; parked readers and writers return std::errc::bad_file_descriptor.
  void close() noexcept;
  // Shuts down the read side, the write side or both (SHUT_RD, SHUT_WR, SHUT_RDWR).
  std::error_code shutdown(int how);

  // Deadlines are absolute; Clock::time_point{} clears one. A read or write that would pass its
  // deadline returns std::errc::timed_out; a later deadline makes the socket usable again.
  void set_deadline(Clock::time_point t) noexcept;
  void set_read_deadline(Clock::time_point t) noexcept;
  void set_write_deadline(Clock::time_point t) noexcept;

  // "host:port" of each end ("[::1]:port" for IPv6); "" once closed.
  std::string local_addr() const;
  std::string remote_addr() const;
  // The socket's file descriptor (-1 when none), for setsockopt and the like; do not close it.
  int fd() const noexcept;
  // True while the Conn holds an open socket (false when default-constructed, moved from or
  // closed).
  bool valid() const noexcept;
  // Turns off Nagle's algorithm (on by default for accepted and dialled sockets).
  std::error_code set_nodelay(bool on);

  // Sends count bytes of the open file file_fd starting at offset with sendfile(2), parking
  // while the socket is full; returns the bytes sent (fewer only when the file is shorter).
  [[nodiscard]] Result<std::size_t> send_file(int file_fd, int64_t offset, std::size_t count);

  // Arms w: w->fn runs once if the peer hangs up while it is armed, including a hang-up that
  // already happened (checked with a non-blocking peek). At most one watch per Conn.
  void watch_hangup(HangupWatch* w);
  // Disarms w; once this returns w->fn is not running and will not run. Returns true if fn ran.
  bool unwatch_hangup(HangupWatch* w) noexcept;

  // Adopts a connected socket; it is made non-blocking.
  static Result<Conn> from_fd(int fd);

 private:
  friend class Listener;
  friend Result<Conn> dial(std::string_view, std::chrono::nanoseconds);
  explicit Conn(weft::detail::PollDesc* pd) : handle_(pd) {}
  weft::detail::PollDesc* pd() const noexcept { return handle_.get(); }
  Result<std::size_t> send_all(std::span<const std::byte> buf, int flags);
  weft::detail::PollHandle handle_;
};

// ListenOptions tune listen().
struct ListenOptions {
  int backlog = 4096;
  // SO_REUSEPORT, so several listeners can share a port.
  bool reuse_port = false;
};

// Listener is a listening TCP socket, move-only; the destructor closes it.
class Listener {
 public:
  Listener() = default;

  // Waits for the next connection. After close(), returns std::errc::bad_file_descriptor.
  [[nodiscard]] Result<Conn> accept();
  // The bound address, "host:port" (the real port when listen asked for port 0).
  std::string addr() const;
  uint16_t port() const;
  // Stops listening; a task parked in accept() returns std::errc::bad_file_descriptor.
  void close() noexcept;
  // The listening socket's file descriptor (-1 when none); do not close it.
  int fd() const noexcept;
  // Bounds how long accept() waits; Clock::time_point{} clears it.
  void set_deadline(Clock::time_point t) noexcept;

 private:
  friend Result<Listener> listen(std::string_view, const ListenOptions&);
  explicit Listener(weft::detail::PollDesc* pd) : handle_(pd) {}
  weft::detail::PollDesc* pd() const noexcept { return handle_.get(); }
  weft::detail::PollHandle handle_;
};

// listen binds and listens on addr: "127.0.0.1:8080", "[::1]:0", ":8080" (all interfaces),
// "localhost:0". Port 0 picks a free port; Listener::addr() tells which.
[[nodiscard]] Result<Listener> listen(std::string_view addr, const ListenOptions& opts = {});

// dial connects to addr ("host:port"); names are resolved with getaddrinfo through blocking(),
// and every resolved address is tried in turn until one connects or the timeout passes.
[[nodiscard]] Result<Conn> dial(std::string_view addr,
                                std::chrono::nanoseconds timeout = std::chrono::seconds(30));

// split_host_port splits "host:port" or "[v6]:port"; returns false when malformed.
bool split_host_port(std::string_view addr, std::string& host, std::string& port);

}  // namespace weft::net
