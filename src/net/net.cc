// TCP on the netpoller: listen, accept, dial, read, write, deadlines. Errors are values.
#include "weft/net/net.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>
#include <vector>

#include "runtime/netpoller.h"
#include "weft/runtime/blocking.h"

namespace weft::net {

namespace {

using weft::detail::poll_close;
using weft::detail::poll_op_begin;
using weft::detail::poll_op_end;
using weft::detail::poll_open;
using weft::detail::poll_release;
using weft::detail::poll_set_deadline;
using weft::detail::poll_wait;
using RtPollDesc = weft::detail::PollDesc;

std::error_code last_error() {
  return {errno, std::system_category()};
}

// Brackets one operation, so a concurrent close() cannot close the fd underneath it.
struct OpGuard {
  RtPollDesc* pd;
  bool ok;
  explicit OpGuard(RtPollDesc* p) : pd(p), ok(poll_op_begin(p)) {}
  ~OpGuard() {
    if (ok) poll_op_end(pd);
  }
};

int64_t to_ns(Clock::time_point t) {
  if (t == Clock::time_point{}) return 0;
  int64_t ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  return ns <= 0 ? 1 : ns;
}

std::string format_addr(const sockaddr_storage& ss) {
  char host[INET6_ADDRSTRLEN] = {};
  uint16_t port = 0;
  if (ss.ss_family == AF_INET) {
    auto* a = reinterpret_cast<const sockaddr_in*>(&ss);
    ::inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
    port = ntohs(a->sin_port);
    return std::string(host) + ":" + std::to_string(port);
  }
  if (ss.ss_family == AF_INET6) {
    auto* a = reinterpret_cast<const sockaddr_in6*>(&ss);
    ::inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
    port = ntohs(a->sin6_port);
    return "[" + std::string(host) + "]:" + std::to_string(port);
  }
  return "";
}

std::string sock_name(int fd, bool peer) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  int rc = peer ? ::getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len)
                : ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  return rc == 0 ? format_addr(ss) : std::string();
}

// Resolves host:port. Numeric hosts skip getaddrinfo; names go through blocking().
Result<std::vector<sockaddr_storage>> resolve(std::string_view addr, bool passive) {
  std::string host, port;
  if (!split_host_port(addr, host, port)) return std::errc::invalid_argument;
  char* end = nullptr;
  long pnum = std::strtol(port.c_str(), &end, 10);
  if (port.empty() || *end != '\0' || pnum < 0 || pnum > 65535) return std::errc::invalid_argument;
  std::vector<sockaddr_storage> out;
  sockaddr_storage ss{};
  auto* a4 = reinterpret_cast<sockaddr_in*>(&ss);
  auto* a6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (host.empty()) {
    if (passive) {
      a6->sin6_family = AF_INET6;
      a6->sin6_addr = in6addr_any;
      a6->sin6_port = htons(static_cast<uint16_t>(pnum));
    } else {
      a4->sin_family = AF_INET;
      a4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      a4->sin_port = htons(static_cast<uint16_t>(pnum));
    }
    out.push_back(ss);
    return out;
  }
  if (::inet_pton(AF_INET, host.c_str(), &a4->sin_addr) == 1) {
    a4->sin_family = AF_INET;
    a4->sin_port = htons(static_cast<uint16_t>(pnum));
    out.push_back(ss);
    return out;
  }
  ss = {};
  if (::inet_pton(AF_INET6, host.c_str(), &a6->sin6_addr) == 1) {
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons(static_cast<uint16_t>(pnum));
    out.push_back(ss);
    return out;
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = passive ? AI_PASSIVE : 0;
  addrinfo* res = nullptr;
  int rc = weft::blocking([&] { return ::getaddrinfo(host.c_str(), port.c_str(), &hints, &res); });
  if (rc != 0) return std::errc::host_unreachable;
  for (addrinfo* ai = res; ai; ai = ai->ai_next) {
    sockaddr_storage s{};
    std::memcpy(&s, ai->ai_addr, ai->ai_addrlen);
    out.push_back(s);
  }
  ::freeaddrinfo(res);
  if (out.empty()) return std::errc::host_unreachable;
  return out;
}

socklen_t addr_len(const sockaddr_storage& ss) {
  return ss.ss_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
}

}  // namespace

bool split_host_port(std::string_view addr, std::string& host, std::string& port) {
  std::string_view h, p;
  if (!addr.empty() && addr.front() == '[') {
    auto close = addr.find(']');
    if (close == std::string_view::npos || close + 1 >= addr.size() || addr[close + 1] != ':')
      return false;
    h = addr.substr(1, close - 1);
    p = addr.substr(close + 2);
  } else {
    auto colon = addr.rfind(':');
    if (colon == std::string_view::npos) return false;
    h = addr.substr(0, colon);
    p = addr.substr(colon + 1);
    if (h.find(':') != std::string_view::npos) return false;  // bare IPv6 needs brackets
  }
  if (h.find_first_of("[]") != std::string_view::npos) return false;
  if (p.find_first_of(":[]") != std::string_view::npos) return false;
  host = std::string(h);
  port = std::string(p);
  return true;
}

// ----- PollHandle -----

}  // namespace weft::net

namespace weft::detail {

PollHandle& PollHandle::operator=(PollHandle&& o) noexcept {
  if (this != &o) {
    if (pd_) poll_release(pd_);
    pd_ = o.pd_;
    o.pd_ = nullptr;
  }
  return *this;
}

PollHandle::~PollHandle() {
  if (pd_) poll_release(pd_);
}

}  // namespace weft::detail

namespace weft::net {

// ----- Conn -----

Result<Conn> Conn::from_fd(int fd) {
  int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) return last_error();
  std::error_code ec;
  RtPollDesc* pd = poll_open(fd, ec);
  if (!pd) return ec;
  return Conn(pd);
}

// The hot path's system calls without glibc's cancellation-point wrappers (which toggle the
// thread's asynchronous cancel state around every call): the sockets are non-blocking, and the
// runtime's threads are never cancelled.
ssize_t raw_read(int fd, void* buf, std::size_t len) {
  return static_cast<ssize_t>(::syscall(SYS_read, fd, buf, len));
}
ssize_t raw_send(int fd, const void* buf, std::size_t len, int flags) {
  return static_cast<ssize_t>(::syscall(SYS_sendto, fd, buf, len, flags, nullptr, 0));
}

// Runs syscall() (non-blocking; >= 0 or -1 with errno) until it succeeds or fails for real,
// parking on EAGAIN until pd is ready in `mode`, and giving up when pd closes or its deadline
// passes. REQUIRES: an OpGuard on pd is held.
template <class Syscall>
Result<ssize_t> retry_io(RtPollDesc* pd, char mode, Syscall syscall) {
  auto& expired = mode == 'r' ? pd->r_expired : pd->w_expired;
  for (;;) {
    if (pd->closing.load(std::memory_order_acquire)) return std::errc::bad_file_descriptor;
    if (expired.load(std::memory_order_acquire)) return std::errc::timed_out;
    ssize_t n = syscall();
    if (n >= 0) return n;
    if (errno == EINTR) continue;
    if (errno != EAGAIN) return last_error();
    if (auto ec = poll_wait(pd, mode)) return ec;
  }
}

Result<std::size_t> Conn::read(std::span<std::byte> buf) {
  if (!pd()) return std::errc::bad_file_descriptor;
  OpGuard op(pd());
  if (!op.ok) return std::errc::bad_file_descriptor;
  if (pd()->read_drained && !buf.empty() && !pd()->read_hup.load(std::memory_order_acquire)) {
    pd()->read_drained = false;
    if (auto ec = poll_wait(pd(), 'r')) return ec;
  }
  auto n = retry_io(pd(), 'r', [&] { return raw_read(pd()->fd, buf.data(), buf.size()); });
  if (!n) return n.error();
  auto got = static_cast<std::size_t>(n.value());
  pd()->read_drained = got > 0 && got < buf.size();
  return got;
}

std::error_code Conn::wait_readable() {
  if (!pd()) return std::make_error_code(std::errc::bad_file_descriptor);
  OpGuard op(pd());
  if (!op.ok) return std::make_error_code(std::errc::bad_file_descriptor);
  if (!pd()->read_drained || pd()->read_hup.load(std::memory_order_acquire)) return {};
  pd()->read_drained = false;
  return poll_wait(pd(), 'r');
}

Result<std::size_t> Conn::write(std::span<const std::byte> buf) {
  return send_all(buf, MSG_NOSIGNAL);
}

Result<std::size_t> Conn::write_more(std::span<const std::byte> buf) {
  return send_all(buf, MSG_NOSIGNAL | MSG_MORE);
}

Result<std::size_t> Conn::send_all(std::span<const std::byte> buf, int flags) {
  if (!pd()) return std::errc::bad_file_descriptor;
  OpGuard op(pd());
  if (!op.ok) return std::errc::bad_file_descriptor;
  std::size_t done = 0;
  while (done < buf.size()) {
    auto n = retry_io(
        pd(), 'w', [&] { return raw_send(pd()->fd, buf.data() + done, buf.size() - done, flags); });
    if (!n) return n.error();
    done += static_cast<std::size_t>(n.value());
  }
  return done;
}

Result<std::size_t> Conn::send_file(int file_fd, int64_t offset, std::size_t count) {
  if (!pd()) return std::errc::bad_file_descriptor;
  OpGuard op(pd());
  if (!op.ok) return std::errc::bad_file_descriptor;
  std::size_t done = 0;
  off_t off = static_cast<off_t>(offset);
  while (done < count) {
    auto n = retry_io(pd(), 'w', [&] { return ::sendfile(pd()->fd, file_fd, &off, count - done); });
    if (!n) return n.error();
    if (n.value() == 0) break;  // the file ended early
    done += static_cast<std::size_t>(n.value());
  }
  return done;
}

void Conn::watch_hangup(HangupWatch* w) {
  if (!pd()) return;
  w->state.store(1, std::memory_order_release);
  pd()->hangup.store(w, std::memory_order_release);
  // A hang-up that happened before the watch was armed left no event to see: peek for it.
  char c;
  ssize_t n = ::recv(pd()->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
    weft::detail::poll_fire_hangup(pd());
}

bool Conn::unwatch_hangup(HangupWatch* w) noexcept {
  if (w->state.load(std::memory_order_acquire) == 0) return false;
  void* expected = w;
  if (pd() && pd()->hangup.compare_exchange_strong(expected, nullptr, std::memory_order_acq_rel)) {
    w->state.store(0, std::memory_order_relaxed);
    return false;
  }
  // The poller (or watch_hangup's peek) took it: wait until fn has returned.
  while (w->state.load(std::memory_order_acquire) != 3) std::this_thread::yield();
  w->state.store(0, std::memory_order_relaxed);
  return true;
}

void Conn::close() noexcept {
  if (pd()) poll_close(pd());
}

std::error_code Conn::shutdown(int how) {
  if (!pd()) return std::make_error_code(std::errc::bad_file_descriptor);
  OpGuard op(pd());
  if (!op.ok) return std::make_error_code(std::errc::bad_file_descriptor);
  if (::shutdown(pd()->fd, how) != 0) return last_error();
  return {};
}

void Conn::set_deadline(Clock::time_point t) noexcept {
  set_read_deadline(t);
  set_write_deadline(t);
}
void Conn::set_read_deadline(Clock::time_point t) noexcept {
  if (pd()) poll_set_deadline(pd(), 'r', to_ns(t));
}
void Conn::set_write_deadline(Clock::time_point t) noexcept {
  if (pd()) poll_set_deadline(pd(), 'w', to_ns(t));
}
namespace {
// The address of one end of pd's socket, or "" once it is closed.
std::string guarded_name(RtPollDesc* pd, bool peer) {
  if (!pd) return "";
  OpGuard op(pd);
  return op.ok ? sock_name(pd->fd, peer) : std::string();
}
}  // namespace

std::string Conn::local_addr() const {
  return guarded_name(pd(), false);
}
std::string Conn::remote_addr() const {
  return guarded_name(pd(), true);
}
int Conn::fd() const noexcept {
  return pd() ? pd()->fd : -1;
}
bool Conn::valid() const noexcept {
  return pd() != nullptr && !pd()->closing.load(std::memory_order_acquire);
}

std::error_code Conn::set_nodelay(bool on) {
  if (!pd()) return std::make_error_code(std::errc::bad_file_descriptor);
  OpGuard op(pd());
  if (!op.ok) return std::make_error_code(std::errc::bad_file_descriptor);
  int v = on ? 1 : 0;
  if (::setsockopt(pd()->fd, IPPROTO_TCP, TCP_NODELAY, &v, sizeof v) != 0) return last_error();
  return {};
}

// ----- Listener -----

Result<Conn> Listener::accept() {
  if (!pd()) return std::errc::bad_file_descriptor;
  OpGuard op(pd());
  if (!op.ok) return std::errc::bad_file_descriptor;
  auto fd = retry_io(pd(), 'r', [&]() -> ssize_t {
    int r = ::accept4(pd()->fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (r < 0 && errno == ECONNABORTED) errno = EINTR;  // the peer gave up: try the next one
    return r;
  });
  if (!fd) return fd.error();
  int cfd = static_cast<int>(fd.value());
  int one = 1;
  ::setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  std::error_code ec;
  RtPollDesc* pd = poll_open(cfd, ec);
  if (!pd) {
    ::close(cfd);
    return ec;
  }
  // Registering a socket with edge-triggered epoll reports data already queued, so the first
  // read may wait for the poller like any later one: a server's idle connections then hold no
  // read buffer from the moment they are accepted.
  pd->read_drained = true;
  return Conn(pd);
}

std::string Listener::addr() const {
  return guarded_name(pd(), false);
}

uint16_t Listener::port() const {
  if (!pd()) return 0;
  OpGuard op(pd());
  if (!op.ok) return 0;
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getsockname(pd()->fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return 0;
  if (ss.ss_family == AF_INET) return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  return ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
}

void Listener::close() noexcept {
  if (pd()) poll_close(pd());
}

int Listener::fd() const noexcept {
  return pd() ? pd()->fd : -1;
}

void Listener::set_deadline(Clock::time_point t) noexcept {
  if (pd()) poll_set_deadline(pd(), 'r', to_ns(t));
}

Result<Listener> listen(std::string_view addr, const ListenOptions& opts) {
  auto addrs = resolve(addr, true);
  if (!addrs) return addrs.error();
  std::error_code last = std::make_error_code(std::errc::address_not_available);
  for (const sockaddr_storage& ss : addrs.value()) {
    int fd = ::socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      last = last_error();
      continue;
    }
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (opts.reuse_port) ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    if (ss.ss_family == AF_INET6) {
      int zero = 0;  // ":port" listens on IPv4 and IPv6 alike
      ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
    }
    if (::bind(fd, reinterpret_cast<const sockaddr*>(&ss), addr_len(ss)) != 0 ||
        ::listen(fd, opts.backlog) != 0) {
      last = last_error();
      ::close(fd);
      continue;
    }
    std::error_code ec;
    RtPollDesc* pd = poll_open(fd, ec);
    if (!pd) {
      ::close(fd);
      last = ec;
      continue;
    }
    return Listener(pd);
  }
  return last;
}

Result<Conn> dial(std::string_view addr, std::chrono::nanoseconds timeout) {
  auto addrs = resolve(addr, false);
  if (!addrs) return addrs.error();
  Clock::time_point deadline = Clock::now() + timeout;
  std::error_code last = std::make_error_code(std::errc::connection_refused);
  for (const sockaddr_storage& ss : addrs.value()) {
    if (Clock::now() >= deadline) return std::errc::timed_out;
    int fd = ::socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      last = last_error();
      continue;
    }
    std::error_code ec;
    RtPollDesc* pd = poll_open(fd, ec);
    if (!pd) {
      ::close(fd);
      last = ec;
      continue;
    }
    Conn conn(pd);
    int rc = ::connect(fd, reinterpret_cast<const sockaddr*>(&ss), addr_len(ss));
    if (rc != 0 && errno != EINPROGRESS) {
      last = last_error();
      continue;
    }
    if (rc != 0) {
      conn.set_write_deadline(deadline);
      std::error_code wait_ec;
      for (;;) {
        int err = 0;
        socklen_t len = sizeof err;
        ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) {
          wait_ec = {err, std::system_category()};
          break;
        }
        // Connected once the peer address is known.
        sockaddr_storage peer{};
        socklen_t plen = sizeof peer;
        if (::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &plen) == 0) break;
        if (auto e = poll_wait(pd, 'w')) {
          wait_ec = e;
          break;
        }
      }
      conn.set_write_deadline(Clock::time_point{});
      if (wait_ec) {
        last = wait_ec;
        continue;
      }
    }
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return conn;
  }
  return last;
}

}  // namespace weft::net
