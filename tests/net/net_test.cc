// weft::net: TCP listen, dial, accept, read, write, deadlines and close, from tasks and threads.
// Tasks take their channels by value (a Chan is a handle), so a sender never touches a Chan
// object that the receiver's scope has already destroyed.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <weft/weft.h>

#include <array>
#include <atomic>
#include <cstring>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "../runtime/test_util.h"

namespace {

namespace net = weft::net;
using weft_test::Clock;
static_assert(std::is_same_v<Clock, net::Clock>, "deadlines take net::Clock time points");
using namespace std::chrono_literals;

// Calls wg.done() when it goes out of scope, so a failed ASSERT in a task does not hang wait().
struct Done {
  weft::WaitGroup& wg;
  ~Done() { wg.done(); }
};

// Nanoseconds from t to now: negative when now is before t.
int64_t ns_since(Clock::time_point t) {
  return (Clock::now() - t).count();
}

// Reads until n bytes have arrived, EOF or an error; returns the bytes read or the error.
weft::Result<std::size_t> read_full(net::Conn& c, void* buf, std::size_t n) {
  std::size_t got = 0;
  while (got < n) {
    auto r = c.read(static_cast<char*>(buf) + got, n - got);
    if (!r) return r.error();
    if (*r == 0) break;
    got += *r;
  }
  return got;
}

// Reads exactly n bytes as a string; shorter when EOF or an error came first.
std::string read_string(net::Conn& c, std::size_t n) {
  std::string s(n, '\0');
  auto r = read_full(c, s.data(), n);
  s.resize(r ? *r : 0);
  return s;
}

// Echoes what c reads back to it until EOF or an error; returns the bytes echoed.
std::size_t echo(net::Conn& c) {
  std::array<std::byte, 4096> buf;
  std::size_t total = 0;
  for (;;) {
    auto r = c.read(buf);
    if (!r || *r == 0) return total;
    auto w = c.write(std::span<const std::byte>(buf.data(), *r));
    if (!w) return total;
    total += *w;
  }
}

// Dials ln and accepts the connection; fatal test failures on error.
void connect_pair(net::Listener& ln, net::Conn& client, net::Conn& server) {
  auto c = net::dial(ln.addr());
  ASSERT_TRUE(c.ok()) << c.error().message();
  auto s = ln.accept();
  ASSERT_TRUE(s.ok()) << s.error().message();
  client = std::move(*c);
  server = std::move(*s);
}

// Accepts one connection on ln in a new task and echoes it until EOF; wg (added to here) is done
// after that, and *echoed, when given, holds the bytes echoed.
void echo_one_conn(net::Listener& ln, weft::WaitGroup& wg, std::size_t* echoed = nullptr) {
  wg.add(1);
  weft::go([&ln, &wg, echoed] {
    Done done{wg};
    auto s = ln.accept();
    ASSERT_TRUE(s.ok()) << s.error().message();
    std::size_t n = echo(*s);
    if (echoed) *echoed = n;
  });
}

// Starts a task that reads from c once (nothing is expected to arrive); the returned channel
// receives how the read ended: its error, or an empty error_code when it returned bytes or EOF.
weft::Chan<std::error_code> read_in_task(net::Conn& c) {
  weft::Chan<std::error_code> result(1);
  weft::go([&c, result]() mutable {
    char buf[16];
    auto r = c.read(buf, sizeof buf);
    result.send(r ? std::error_code{} : r.error());
  });
  return result;
}

net::Listener listen_local() {
  auto ln = net::listen("127.0.0.1:0");
  EXPECT_TRUE(ln.ok()) << ln.error().message();
  return ln ? std::move(*ln) : net::Listener{};
}

// True when this machine can bind a TCP socket to the IPv6 loopback address.
bool have_ipv6_loopback() {
  int fd = ::socket(AF_INET6, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  a.sin6_addr = in6addr_loopback;
  bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

// ----- listen and dial -----

TEST(NetListen, PortZeroPicksAPortThatAddrAndPortReport) {
  weft::run([] {
    auto ln = net::listen("127.0.0.1:0");
    ASSERT_TRUE(ln.ok()) << ln.error().message();
    uint16_t port = ln->port();
    EXPECT_NE(port, 0);
    EXPECT_EQ(ln->addr(), "127.0.0.1:" + std::to_string(port));

    // The kernel agrees.
    sockaddr_in a{};
    socklen_t len = sizeof a;
    ASSERT_EQ(::getsockname(ln->fd(), reinterpret_cast<sockaddr*>(&a), &len), 0);
    EXPECT_EQ(a.sin_family, AF_INET);
    EXPECT_EQ(ntohs(a.sin_port), port);

    // And the port is really listening there.
    auto c = net::dial("127.0.0.1:" + std::to_string(port));
    ASSERT_TRUE(c.ok()) << c.error().message();
    EXPECT_EQ(c->remote_addr(), ln->addr());
    auto s = ln->accept();
    ASSERT_TRUE(s.ok()) << s.error().message();
    EXPECT_EQ(s->local_addr(), ln->addr());
    EXPECT_EQ(s->remote_addr(), c->local_addr());
  });
}

TEST(NetListen, TwoListenersOnOnePortWithoutReusePortFails) {
  weft::run([] {
    net::Listener ln = listen_local();
    auto again = net::listen(ln.addr());
    ASSERT_FALSE(again.ok());
    EXPECT_EQ(again.error(), std::errc::address_in_use) << again.error().message();
  });
}

TEST(NetListen, ReusePortLetsTwoListenersShareAPort) {
  weft::run([] {
    net::ListenOptions opts;
    opts.reuse_port = true;
    auto a = net::listen("127.0.0.1:0", opts);
    ASSERT_TRUE(a.ok()) << a.error().message();
    auto b = net::listen(a->addr(), opts);
    ASSERT_TRUE(b.ok()) << b.error().message();
    EXPECT_EQ(a->port(), b->port());
  });
}

TEST(NetListen, EmptyHostListensOnAllInterfaces) {
  bool v6 = have_ipv6_loopback();
  weft::run([v6] {
    auto ln = net::listen(":0");
    ASSERT_TRUE(ln.ok()) << ln.error().message();
    ASSERT_NE(ln->port(), 0);
    std::vector<std::string> addrs = {"127.0.0.1:" + std::to_string(ln->port())};
    if (v6) addrs.push_back("[::1]:" + std::to_string(ln->port()));
    for (const std::string& addr : addrs) {
      auto c = net::dial(addr);
      ASSERT_TRUE(c.ok()) << addr << ": " << c.error().message();
      auto s = ln->accept();
      ASSERT_TRUE(s.ok()) << s.error().message();
      auto w = c->write("any");
      ASSERT_TRUE(w.ok()) << w.error().message();
      EXPECT_EQ(read_string(*s, 3), "any") << addr;
    }
  });
}

TEST(NetListen, MalformedAddressesReturnErrors) {
  weft::run([] {
    for (const char* addr : {"", "127.0.0.1", "127.0.0.1:", "127.0.0.1:abc", "127.0.0.1:80x",
                             "127.0.0.1:-1", "127.0.0.1:65536", "127.0.0.1:99999", "[::1", "[::1]",
                             "[::1]80", "::1:80", "1.2.3.4:5:6"}) {
      auto ln = net::listen(addr);
      EXPECT_FALSE(ln.ok()) << "listen(\"" << addr << "\") succeeded on " << ln->addr();
      if (!ln.ok()) {
        EXPECT_TRUE(ln.error()) << addr;
      }
    }
  });
}

TEST(NetDial, MalformedAddressesReturnErrors) {
  weft::run([] {
    for (const char* addr :
         {"", "127.0.0.1", "127.0.0.1:abc", "127.0.0.1:70000", "[::1", "::1:80"}) {
      auto c = net::dial(addr, 2s);
      EXPECT_FALSE(c.ok()) << "dial(\"" << addr << "\") succeeded";
      if (!c.ok()) {
        EXPECT_TRUE(c.error()) << addr;
      }
    }
  });
}

TEST(NetDial, EchoRoundTrip) {
  weft::run([] {
    net::Listener ln = listen_local();
    weft::WaitGroup wg;
    std::size_t echoed = 0;
    echo_one_conn(ln, wg, &echoed);

    auto c = net::dial(ln.addr());
    ASSERT_TRUE(c.ok()) << c.error().message();
    auto w = c->write("hello, weft");
    ASSERT_TRUE(w.ok()) << w.error().message();
    EXPECT_EQ(*w, 11u);
    EXPECT_EQ(read_string(*c, 11), "hello, weft");

    w = c->write("second");
    ASSERT_TRUE(w.ok()) << w.error().message();
    EXPECT_EQ(read_string(*c, 6), "second");

    c->close();
    wg.wait();
    EXPECT_EQ(echoed, 17u);
  });
}

TEST(NetConn, FromFdAdoptsAConnectedSocket) {
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  weft::run([&] {
    auto a = net::Conn::from_fd(sv[0]);
    ASSERT_TRUE(a.ok()) << a.error().message();
    auto b = net::Conn::from_fd(sv[1]);
    ASSERT_TRUE(b.ok()) << b.error().message();
    EXPECT_EQ(a->fd(), sv[0]);
    // The fd was made non-blocking, so a read with nothing to read parks and times out.
    a->set_read_deadline(Clock::now() + 20ms);
    char buf[8];
    auto r = a->read(buf, sizeof buf);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), std::errc::timed_out) << r.error().message();
    auto w = b->write("pair");
    ASSERT_TRUE(w.ok()) << w.error().message();
    a->set_read_deadline(Clock::time_point{});
    EXPECT_EQ(read_string(*a, 4), "pair");
    b->close();  // the Conn owns the fd now
    EXPECT_EQ(read_string(*a, 4), "");
  });
}

TEST(NetConn, MovedFromConnIsInvalid) {
  weft::run([] {
    net::Listener ln = listen_local();
    net::Conn client, server;
    ASSERT_NO_FATAL_FAILURE(connect_pair(ln, client, server));
    int fd = client.fd();
    net::Conn moved = std::move(client);
    EXPECT_FALSE(client.valid());  // NOLINT(bugprone-use-after-move)
    EXPECT_EQ(client.fd(), -1);
    char buf[1];
    auto r = client.read(buf, 1);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), std::errc::bad_file_descriptor);
    EXPECT_TRUE(moved.valid());
    EXPECT_EQ(moved.fd(), fd);
    EXPECT_FALSE(moved.set_nodelay(true));
    auto w = moved.write("m");
    ASSERT_TRUE(w.ok()) << w.error().message();
    EXPECT_EQ(read_string(server, 1), "m");
  });
}

TEST(NetDial, LargeTransferArrivesIntact) {
  weft::run([] {
    net::Listener ln = listen_local();
    weft::WaitGroup wg;
    std::size_t echoed = 0;
    echo_one_conn(ln, wg, &echoed);

    auto c = net::dial(ln.addr());
    ASSERT_TRUE(c.ok()) << c.error().message();
    // 8 MiB is more than the socket buffers hold, so writer and reader must interleave.
    constexpr std::size_t kSize = 8 << 20;
    std::vector<unsigned char> out(kSize);
    for (std::size_t i = 0; i < kSize; ++i) out[i] = static_cast<unsigned char>(i * 131 + i / 7);
    std::vector<unsigned char> in(kSize);
    weft::Chan<std::size_t> got(1);
    net::Conn& conn = *c;
    weft::go([&, got]() mutable {
      auto r = read_full(conn, in.data(), kSize);
      got.send(r ? *r : 0);
    });
    auto w = conn.write(std::as_bytes(std::span(out)));
    ASSERT_TRUE(w.ok()) << w.error().message();
    EXPECT_EQ(*w, kSize);
    EXPECT_EQ(got.recv(), kSize);
    EXPECT_TRUE(in == out);
    conn.close();
    wg.wait();
    EXPECT_EQ(echoed, kSize);
  });
}

TEST(NetDial, ManyConcurrentClientsEchoExactBytes) {
  constexpr int kClients = 200;
  constexpr int kMessages = 100;
  // Message m of client c is msg_len(c, m) bytes, so the sizes vary from 1 to 700.
  auto msg_len = [](int c, int m) { return static_cast<std::size_t>(1 + (c * 31 + m * 17) % 700); };
  std::size_t expected_total = 0;
  for (int c = 0; c < kClients; ++c)
    for (int m = 0; m < kMessages; ++m) expected_total += msg_len(c, m);

  weft::run([&] {
    net::Listener ln = listen_local();
    std::atomic<std::size_t> server_bytes{0};
    std::atomic<int> accepted{0};
    weft::WaitGroup handlers;
    handlers.add(1);  // the accept loop itself
    weft::go([&] {
      for (int i = 0; i < kClients; ++i) {
        auto s = ln.accept();
        if (!s) {
          ADD_FAILURE() << "accept: " << s.error().message();
          break;
        }
        accepted++;
        handlers.add(1);
        weft::go([&, conn = std::move(*s)]() mutable {
          server_bytes += echo(conn);
          handlers.done();
        });
      }
      handlers.done();
    });

    std::atomic<std::size_t> client_bytes{0};
    std::atomic<int> clients_ok{0};
    weft::WaitGroup clients;
    for (int ci = 0; ci < kClients; ++ci) {
      clients.add(1);
      weft::go([&, ci] {
        auto finish = [&] { clients.done(); };
        auto c = net::dial(ln.addr());
        if (!c) {
          ADD_FAILURE() << "client " << ci << " dial: " << c.error().message();
          return finish();
        }
        std::string msg, back;
        for (int m = 0; m < kMessages; ++m) {
          std::size_t n = msg_len(ci, m);
          msg.assign(n, '\0');
          for (std::size_t i = 0; i < n; ++i) msg[i] = static_cast<char>('a' + (ci + m + i) % 26);
          auto w = c->write(msg);
          if (!w || *w != n) {
            ADD_FAILURE() << "client " << ci << " message " << m << " write: "
                          << (w ? std::to_string(*w) + " bytes" : w.error().message());
            return finish();
          }
          back = read_string(*c, n);
          if (back != msg) {
            ADD_FAILURE() << "client " << ci << " message " << m << ": got " << back.size()
                          << " bytes, want " << n;
            return finish();
          }
          client_bytes += n;
        }
        clients_ok++;
        c->close();
        finish();
      });
    }
    clients.wait();
    handlers.wait();
    EXPECT_EQ(clients_ok.load(), kClients);
    EXPECT_EQ(accepted.load(), kClients);
    EXPECT_EQ(client_bytes.load(), expected_total);
    EXPECT_EQ(server_bytes.load(), expected_total);
  });
}

TEST(NetDial, ClosedPortIsConnectionRefused) {
  // A socket bound but not listening holds the port, so nobody else can take it meanwhile.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  socklen_t len = sizeof a;
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len), 0);
  uint16_t port = ntohs(a.sin_port);

  weft::run([port] {
    auto c = net::dial("127.0.0.1:" + std::to_string(port), 5s);
    ASSERT_FALSE(c.ok());
    EXPECT_EQ(c.error(), std::errc::connection_refused) << c.error().message();
  });
  ::close(fd);
}

TEST(NetDial, HostnameGoesThroughTheResolver) {
  weft::run([] {
    net::Listener ln = listen_local();
    weft::WaitGroup wg;
    echo_one_conn(ln, wg);
    // "localhost" may resolve to ::1 first; dial must go on to 127.0.0.1.
    auto c = net::dial("localhost:" + std::to_string(ln.port()));
    ASSERT_TRUE(c.ok()) << c.error().message();
    EXPECT_EQ(c->remote_addr(), ln.addr());
    auto w = c->write("by name");
    ASSERT_TRUE(w.ok()) << w.error().message();
    EXPECT_EQ(read_string(*c, 7), "by name");
    c->close();
    wg.wait();
  });
}

TEST(NetListen, Ipv6Loopback) {
  if (!have_ipv6_loopback()) GTEST_SKIP() << "no IPv6 loopback on this machine";
  weft::run([] {
    auto ln = net::listen("[::1]:0");
    ASSERT_TRUE(ln.ok()) << ln.error().message();
    uint16_t port = ln->port();
    EXPECT_NE(port, 0);
    EXPECT_EQ(ln->addr(), "[::1]:" + std::to_string(port));
    weft::WaitGroup wg;
    wg.add(1);
    weft::go([&] {
      Done done{wg};
      auto s = ln->accept();
      ASSERT_TRUE(s.ok()) << s.error().message();
      EXPECT_EQ(s->local_addr(), ln->addr());
      echo(*s);
    });
    auto c = net::dial("[::1]:" + std::to_string(port));
    ASSERT_TRUE(c.ok()) << c.error().message();
    EXPECT_EQ(c->remote_addr(), ln->addr());
    EXPECT_EQ(c->local_addr().rfind("[::1]:", 0), 0u) << c->local_addr();
    auto w = c->write("six");
    ASSERT_TRUE(w.ok()) << w.error().message();
    EXPECT_EQ(read_string(*c, 3), "six");
    c->close();
    wg.wait();
  });
}

// ----- deadlines -----

TEST(NetDeadline, ReadTimesOutNotBeforeTheDeadline) {
  weft::run([] {
    net::Listener ln = listen_local();
    net::Conn client, server;
    ASSERT_NO_FATAL_FAILURE(connect_pair(ln, client, server));
    auto start = Clock::now();
    auto deadline = start + 100ms;
    client.set_read_deadline(deadline);
    char buf[16];
    auto r = client.read(buf, sizeof buf);
    int64_t late_ns = ns_since(deadline);
    ASSERT_FALSE(r.ok()) << "read returned " << *r << " bytes";
    EXPECT_EQ(r.error(), std::errc::timed_out) << r.error().message();
    EXPECT_GE(late_ns, 0) << "timed out before the deadline";

    // Still expired: the next read fails at once.
    r = client.read(buf, sizeof buf);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), std::errc::timed_out);
  });
}

TEST(NetDeadline, LaterReadDeadlineMakesTheConnUsableAgain) {
  weft::run([] {
    net::Listener ln = listen_local();
    net::Conn client, server;
    ASSERT_NO_FATAL_FAILURE(connect_pair(ln, client, server));
    char buf[16];
    client.set_read_deadline(Clock::now() + 30ms);
    auto r = client.read(buf, sizeof buf);
    ASSERT_FALSE(r.ok());
    ASSERT_EQ(r.error(), std::errc::timed_out);

    // A later deadline: data sent after the read parks arrives.
    client.set_read_deadline(Clock::now() + 60s);
    weft::WaitGroup wg;
    wg.add(1);
    weft::go([&] {
      Done done{wg};
      weft::sleep_for(20ms);
      auto w = server.write("again");
      EXPECT_TRUE(w.ok()) << w.error().message();
    });
    EXPECT_EQ(read_string(client, 5), "again");
    wg.wait();

    // Expire it again, then clear it: no deadline at all.
    client.set_read_deadline(Clock::now() - 1s);
    r = client.read(buf, sizeof buf);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), std::errc::timed_out);
    client.set_read_deadline(Clock::time_point{});
    auto w = server.write("cleared");
    ASSERT_TRUE(w.ok()) << w.error().message();
    EXPECT_EQ(read_string(client, 7), "cleared");

    // The write side was never affected.
    w = client.write("ok");
    ASSERT_TRUE(w.ok()) << w.error().message();
    EXPECT_EQ(read_string(server, 2), "ok");
  });
}

TEST(NetDeadline, DeadlineSetWhileParkedWakesTheReader) {
  weft::run([] {
    net::Listener ln = listen_local();
    net::Conn client, server;
    ASSERT_NO_FATAL_FAILURE(connect_pair(ln, client, server));
    weft::Chan<std::error_code> result = read_in_task(client);  // no deadline yet
    weft::sleep_for(30ms);
    auto deadline = Clock::now() + 50ms;
    client.set_read_deadline(deadline);
    auto ec = result.recv();
    ASSERT_TRUE(ec.has_value());
    EXPECT_EQ(*ec, std::errc::timed_out) << ec->message();
    EXPECT_GE(ns_since(deadline), 0) << "timed out before the deadline";
  });
}

TEST(NetDeadline, WriteTimesOutWhenThePeerNeverReads) {
  weft::run([] {
    net::Listener ln = listen_local();
    net::Conn client, server;
    ASSERT_NO_FATAL_FAILURE(connect_pair(ln, client, server));
    std::vector<std::byte> chunk(1 << 20, std::byte{'x'});
    auto deadline = Clock::now() + 200ms;
    client.set_write_deadline(deadline);
    std::size_t written = 0;
    std::error_code ec;
    // The socket buffers hold a few MiB at most; 1 GiB without an error means no deadline.
    while (written < (std::size_t{1} << 30)) {
      auto w = client.write(chunk);
      if (!w) {
        ec = w.error();
        break;
      }
      written += *w;
    }
    EXPECT_EQ(ec, std::errc::timed_out) << ec.message() << " after " << written << " bytes";
    EXPECT_GE(ns_since(deadline), 0) << "timed out before the deadline";

    // Reads were never affected, and a later write deadline lets writing go on.
    auto w = server.write("r");
    ASSERT_TRUE(w.ok());
    EXPECT_EQ(read_string(client, 1), "r");
    client.set_write_deadline(Clock::time_point{});
    weft::WaitGroup wg;
    wg.add(1);
    weft::go([&] {  // the peer starts reading, so the write can finish
      Done done{wg};
      std::vector<std::byte> buf(1 << 16);
      for (;;) {
        auto r = server.read(buf);
        if (!r || *r == 0) break;
      }
    });
    w = client.write(chunk);
    EXPECT_TRUE(w.ok()) << w.error().message();
    if (w) {
      EXPECT_EQ(*w, chunk.size());
    }
    client.close();  // the reader sees EOF
    wg.wait();
  });
}

TEST(NetDeadline, AcceptTimesOut) {
  weft::run([] {
    net::Listener ln = listen_local();
    auto deadline = Clock::now() + 100ms;
    ln.set_deadline(deadline);
    auto s = ln.accept();
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error(), std::errc::timed_out) << s.error().message();
    EXPECT_GE(ns_since(deadline), 0) << "timed out before the deadline";

    // Cleared, accept works again.
    ln.set_deadline(Clock::time_point{});
    auto c = net::dial(ln.addr());
    ASSERT_TRUE(c.ok()) << c.error().message();
    s = ln.accept();
    ASSERT_TRUE(s.ok()) << s.error().message();
    EXPECT_EQ(s->remote_addr(), c->local_addr());
  });
}

// ----- close and EOF -----

TEST(NetClose, CloseFromAnotherTaskWakesParkedReader) {
  weft::run([] {
    net::Listener ln = listen_local();
    net::Conn client, server;
    ASSERT_NO_FATAL_FAILURE(connect_pair(ln, client, server));
    weft::Chan<std::error_code> result = read_in_task(client);
    weft::sleep_for(50ms);  // let the reader park
    client.close();
    auto ec = result.recv();
    ASSERT_TRUE(ec.has_value());
    EXPECT_EQ(*ec, std::errc::bad_file_descriptor) << ec->message();

    // A closed Conn keeps failing the same way.
    EXPECT_FALSE(client.valid());
    char buf[4];
    auto r = client.read(buf, sizeof buf);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), std::errc::bad_file_descriptor);
    auto w = client.write("x");
    ASSERT_FALSE(w.ok());
    EXPECT_EQ(w.error(), std::errc::bad_file_descriptor);

    // The peer sees the close as EOF.
    EXPECT_EQ(read_string(server, 1), "");
  });
}

// close() may come at any moment of a read in another task, not only once the reader has
// parked; the read must end with bad_file_descriptor every time.
TEST(NetClose, CloseRacingAReadAlwaysEndsIt) {
  weft::run([] {
    net::Listener ln = listen_local();
    for (int i = 0; i < 20000; ++i) {
      net::Conn client, server;
      ASSERT_NO_FATAL_FAILURE(connect_pair(ln, client, server));
      weft::Chan<std::error_code> result = read_in_task(client);
      for (int y = 0; y < i % 4; ++y) weft::yield();
      client.close();
      auto ec = result.recv();
      ASSERT_TRUE(ec.has_value());
      ASSERT_EQ(*ec, std::errc::bad_file_descriptor) << "round " << i << ": " << ec->message();
    }
  });
}

TEST(NetClose, CloseFromAnotherTaskWakesParkedWriter) {
  weft::run([] {
    net::Listener ln = listen_local();
    net::Conn client, server;
    ASSERT_NO_FATAL_FAILURE(connect_pair(ln, client, server));
    weft::Chan<std::error_code> result(1);
    weft::go([&, result]() mutable {
      std::vector<std::byte> chunk(1 << 20, std::byte{'y'});
      for (int i = 0; i < 1024; ++i) {  // the peer never reads: this parks
        auto w = client.write(chunk);
        if (!w) {
          result.send(w.error());
          return;
        }
      }
      result.send(std::error_code{});
    });
    weft::sleep_for(100ms);
    client.close();
    auto ec = result.recv();
    ASSERT_TRUE(ec.has_value());
    EXPECT_EQ(*ec, std::errc::bad_file_descriptor) << ec->message();
  });
}

TEST(NetClose, CloseFromAnotherTaskWakesParkedAccept) {
  weft::run([] {
    net::Listener ln = listen_local();
    weft::Chan<std::error_code> result(1);
    weft::go([&, result]() mutable {
      auto s = ln.accept();
      result.send(s ? std::error_code{} : s.error());
    });
    weft::sleep_for(50ms);
    ln.close();
    auto ec = result.recv();
    ASSERT_TRUE(ec.has_value());
    EXPECT_EQ(*ec, std::errc::bad_file_descriptor) << ec->message();
  });
}

TEST(NetClose, PeerCloseIsEndOfStream) {
  weft::run([] {
    net::Listener ln = listen_local();
    net::Conn client, server;
    ASSERT_NO_FATAL_FAILURE(connect_pair(ln, client, server));
    auto w = server.write("last");
    ASSERT_TRUE(w.ok());
    server.close();
    EXPECT_EQ(read_string(client, 4), "last");
    char buf[8];
    auto r = client.read(buf, sizeof buf);
    ASSERT_TRUE(r.ok()) << r.error().message();
    EXPECT_EQ(*r, 0u);
    r = client.read(buf, sizeof buf);  // and stays at EOF
    ASSERT_TRUE(r.ok()) << r.error().message();
    EXPECT_EQ(*r, 0u);
  });
}

TEST(NetClose, PeerCloseWakesParkedReaderWithEndOfStream) {
  weft::run([] {
    net::Listener ln = listen_local();
    net::Conn client, server;
    ASSERT_NO_FATAL_FAILURE(connect_pair(ln, client, server));
    weft::Chan<std::size_t> result(1);
    weft::go([&, result]() mutable {
      char buf[8];
      auto r = client.read(buf, sizeof buf);
      EXPECT_TRUE(r.ok()) << r.error().message();
      result.send(r ? *r : 99);
    });
    weft::sleep_for(50ms);
    server.close();
    EXPECT_EQ(result.recv(), 0u);
  });
}

TEST(NetClose, ShutdownWriteIsEndOfStreamButReadingGoesOn) {
  weft::run([] {
    net::Listener ln = listen_local();
    net::Conn client, server;
    ASSERT_NO_FATAL_FAILURE(connect_pair(ln, client, server));
    auto w = client.write("request");
    ASSERT_TRUE(w.ok());
    ASSERT_FALSE(client.shutdown(SHUT_WR));
    EXPECT_EQ(read_string(server, 100), "request");  // then EOF
    w = server.write("response");
    ASSERT_TRUE(w.ok()) << w.error().message();
    server.close();
    EXPECT_EQ(read_string(client, 100), "response");
  });
}

// ----- plain threads -----

TEST(NetThread, ConnWorksFromAPlainThread) {
  weft::run([] {
    net::Listener ln = listen_local();
    std::string addr = ln.addr();
    weft::WaitGroup wg;
    std::size_t echoed = 0;
    echo_one_conn(ln, wg, &echoed);

    std::size_t sent = 0;
    std::thread client([addr, &sent] {
      EXPECT_EQ(weft::task_id(), 0u);  // really not a task
      auto c = net::dial(addr);
      ASSERT_TRUE(c.ok()) << c.error().message();
      for (int i = 0; i < 20; ++i) {
        std::string msg = "thread message " + std::to_string(i);
        auto w = c->write(msg);
        ASSERT_TRUE(w.ok()) << w.error().message();
        EXPECT_EQ(read_string(*c, msg.size()), msg);
        sent += msg.size();
      }
      // Deadlines work on a thread too.
      auto deadline = Clock::now() + 100ms;
      c->set_read_deadline(deadline);
      char buf[8];
      auto r = c->read(buf, sizeof buf);
      ASSERT_FALSE(r.ok());
      EXPECT_EQ(r.error(), std::errc::timed_out) << r.error().message();
      EXPECT_GE(ns_since(deadline), 0) << "timed out before the deadline";
      c->set_read_deadline(Clock::time_point{});
      auto w = c->write("after");
      ASSERT_TRUE(w.ok());
      EXPECT_EQ(read_string(*c, 5), "after");
      sent += 5;
    });
    weft::blocking([&] { client.join(); });
    wg.wait();
    EXPECT_EQ(sent, 10 * 16u + 10 * 17u + 5u);
    EXPECT_EQ(echoed, sent);
  });
}

TEST(NetThread, ListenAcceptAndCloseFromPlainThreads) {
  // No task at all: listen, accept, read and close on plain threads.
  auto ln = net::listen("127.0.0.1:0");
  ASSERT_TRUE(ln.ok()) << ln.error().message();
  std::string addr = ln->addr();
  std::thread server([&] {
    auto s = ln->accept();
    ASSERT_TRUE(s.ok()) << s.error().message();
    echo(*s);
  });
  auto c = net::dial(addr);
  ASSERT_TRUE(c.ok()) << c.error().message();
  auto w = c->write("no tasks");
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(read_string(*c, 8), "no tasks");
  c->close();
  server.join();

  // close() from one thread wakes another blocked in read().
  net::Listener& l = *ln;
  std::thread dialer([&] {
    auto d = net::dial(addr);
    ASSERT_TRUE(d.ok());
    auto s = l.accept();
    ASSERT_TRUE(s.ok());
    net::Conn conn = std::move(*d);
    std::error_code ec;
    std::thread reader([&] {
      char buf[4];
      auto r = conn.read(buf, sizeof buf);
      ec = r ? std::error_code{} : r.error();
    });
    std::this_thread::sleep_for(50ms);
    conn.close();
    reader.join();
    EXPECT_EQ(ec, std::errc::bad_file_descriptor) << ec.message();
  });
  dialer.join();
}

// ----- split_host_port -----

TEST(NetSplitHostPort, WellFormed) {
  struct Case {
    const char* in;
    const char* host;
    const char* port;
  };
  for (const Case& c :
       {Case{"127.0.0.1:80", "127.0.0.1", "80"}, Case{"localhost:0", "localhost", "0"},
        Case{"example.com:https", "example.com", "https"}, Case{":8080", "", "8080"},
        Case{"[::1]:443", "::1", "443"}, Case{"[::]:0", "::", "0"},
        Case{"[fe80::1%lo]:22", "fe80::1%lo", "22"},
        Case{"[2001:db8::1]:65535", "2001:db8::1", "65535"}, Case{"host:", "host", ""},
        Case{"[::1]:", "::1", ""}}) {
    std::string host = "junk", port = "junk";
    ASSERT_TRUE(net::split_host_port(c.in, host, port)) << c.in;
    EXPECT_EQ(host, c.host) << c.in;
    EXPECT_EQ(port, c.port) << c.in;
  }
}

TEST(NetSplitHostPort, Malformed) {
  for (const char* in :
       {"", "localhost", "127.0.0.1", "::1", "::1:80", "[::1]", "[::1]80", "[::1", "[]80"}) {
    std::string host, port;
    EXPECT_FALSE(net::split_host_port(in, host, port))
        << in << " gave host \"" << host << "\" port \"" << port << "\"";
  }
}

// Stray colons and brackets outside the host part are malformed too (Go's SplitHostPort rejects
// every one of these).
TEST(NetSplitHostPort, MalformedStrayColonsAndBrackets) {
  for (const char* in : {"[::1]:80:90", "[::1]:80]", "host]:80", "ho[st:80"}) {
    std::string host, port;
    EXPECT_FALSE(net::split_host_port(in, host, port))
        << in << " gave host \"" << host << "\" port \"" << port << "\"";
  }
}

}  // namespace
