// Client metrics against real servers on loopback: calls counted once by host and outcome
// (status classes, connect errors, timeouts, read errors, bad requests and responses, too many
// redirects), dials, the idle-connection gauge through every way into and out of the pool, the
// in-flight gauge, registration, and promtool's verdict on the exposition.
#include "weft/http/client_metrics.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>

#include "http/http_test_util.h"
#include "metrics/promtool.h"
#include "weft/http/client.h"
#include "weft/metrics.h"

namespace {

using weft_test::parallel_gets;
using weft_test::TestServer;
using weft_test::url_of;
using weft_test::wait_for_whole_batch;
namespace http = weft::http;
namespace metrics = weft::metrics;
using http::Client;
using http::ClientMetrics;
using http::ClientRequest;

// The value of the sample `series` (a metric name with its labels as the text format writes
// them) in the registry's text exposition, or 0 when the series is not there.
double value_of(const metrics::Registry& r, const std::string& series) {
  std::istringstream lines(r.render(metrics::Format::kText));
  std::string line;
  while (std::getline(lines, line)) {
    if (line.size() > series.size() && line.starts_with(series) && line[series.size()] == ' ')
      return std::stod(line.substr(series.size() + 1));
  }
  return 0;
}

double requests(const metrics::Registry& r, const std::string& host, std::string_view outcome) {
  return value_of(r, "weft_http_client_requests_total{host=\"" + host + "\",outcome=\"" +
                         std::string(outcome) + "\"}");
}
// Every call counted for host, whatever its outcome.
double all_requests(const metrics::Registry& r, const std::string& host) {
  double n = 0;
  for (const char* o : {"1xx", "2xx", "3xx", "4xx", "5xx", "connect_error", "timeout", "read_error",
                        "write_error", "bad_response", "bad_request", "too_many_redirects"})
    n += requests(r, host, o);
  return n;
}
double durations(const metrics::Registry& r, const std::string& host) {
  return value_of(r, "weft_http_client_request_duration_seconds_count{host=\"" + host + "\"}");
}
double dials(const metrics::Registry& r, const std::string& host, std::string_view result) {
  return value_of(r, "weft_http_client_dials_total{host=\"" + host + "\",result=\"" +
                         std::string(result) + "\"}");
}
double idle(const metrics::Registry& r, const std::string& host) {
  return value_of(r, "weft_http_client_idle_connections{host=\"" + host + "\"}");
}
double in_flight(const metrics::Registry& r) {
  return value_of(r, "weft_http_client_requests_in_flight");
}

// A Client recording into a ClientMetrics on r.
Client metered_client(metrics::Registry& r) {
  Client c;
  c.metrics = std::make_shared<ClientMetrics>(r);
  return c;
}

// The peers a server saw, under a lock (the client learns of an insert through the socket,
// which TSan cannot see).
struct Peers {
  std::mutex mu;
  std::set<std::string> set;
  void add(std::string_view peer) {
    std::lock_guard<std::mutex> g(mu);
    set.emplace(peer);
  }
  std::size_t size() {
    std::lock_guard<std::mutex> g(mu);
    return set.size();
  }
};

// RawServer accepts loopback connections and runs fn(conn, index) in a task for each.
class RawServer {
 public:
  using Fn = std::function<void(weft::net::Conn&, int)>;
  explicit RawServer(Fn fn) : fn_(std::move(fn)) {}
  ~RawServer() {
    listener_.close();
    done_.wait();
  }
  std::string start() {
    auto l = weft::net::listen("127.0.0.1:0");
    if (!l) return "";
    listener_ = std::move(l.value());
    done_.add(1);
    weft::go([this] {
      for (int index = 0;; ++index) {
        auto c = listener_.accept();
        if (!c) break;
        auto conn = std::make_shared<weft::net::Conn>(std::move(c.value()));
        conn->set_deadline(weft::net::Clock::now() + std::chrono::seconds(10));
        done_.add(1);
        weft::go([this, conn, index] {
          fn_(*conn, index);
          conn->close();
          done_.done();
        });
      }
      done_.done();
    });
    return listener_.addr();
  }

 private:
  Fn fn_;
  weft::net::Listener listener_;
  weft::WaitGroup done_;
};

// Reads one request head (the tests' requests have no body); false at EOF or on an error.
bool read_head(weft::net::Conn& c, std::string& buf) {
  char tmp[4096];
  for (;;) {
    std::size_t end = buf.find("\r\n\r\n");
    if (end != std::string::npos) {
      buf.erase(0, end + 4);
      return true;
    }
    auto r = c.read(tmp, sizeof tmp);
    if (!r || r.value() == 0) return false;
    buf.append(tmp, r.value());
  }
}

TEST(ClientMetrics, OffByDefaultAndSharedByCopies) {
  Client plain;
  EXPECT_EQ(plain.metrics, nullptr);
  metrics::Registry r;
  Client metered = metered_client(r);
  Client copy = metered;
  EXPECT_EQ(copy.metrics, metered.metrics);
}

TEST(ClientMetrics, RegistersEveryFamilyOnceAndRefusesASecondTime) {
  metrics::Registry r;
  ClientMetrics m(r);
  EXPECT_EQ(&m.registry(), &r);
  EXPECT_THROW(ClientMetrics{r}, std::invalid_argument);
  std::string text = r.render(metrics::Format::kText);
  for (const char* line : {"# TYPE weft_http_client_requests_total counter\n",
                           "# TYPE weft_http_client_request_duration_seconds histogram\n",
                           "# TYPE weft_http_client_dials_total counter\n",
                           "# TYPE weft_http_client_idle_connections gauge\n",
                           "# TYPE weft_http_client_requests_in_flight gauge\n",
                           "\nweft_http_client_requests_in_flight 0\n"})
    EXPECT_NE(text.find(line), std::string::npos) << line << "--- exposition:\n" << text;

  // The global instance is made once, on the global registry.
  std::shared_ptr<ClientMetrics> g = ClientMetrics::global();
  ASSERT_NE(g, nullptr);
  EXPECT_EQ(g, ClientMetrics::global());
  EXPECT_EQ(&g->registry(), &metrics::Registry::global());
}

TEST(ClientMetrics, HostsPastTheLimitShareOneLabelValue) {
  metrics::Registry r;
  ClientMetrics m(r);
  for (std::size_t i = 0; i < ClientMetrics::kMaxHosts; ++i) {
    std::string host = "h" + std::to_string(i) + ".test:80";
    EXPECT_EQ(m.host(host).host(), host);
  }
  EXPECT_EQ(m.host("h0.test:80").host(), "h0.test:80");  // known hosts keep their own
  EXPECT_EQ(m.host("one-too-many.test:80").host(), "other");
  EXPECT_EQ(&m.host("another.test:80"), &m.host("one-too-many.test:80"));
}

TEST(ClientMetrics, CountsEachCallByHostAndStatusClass) {
  weft::run([] {
    metrics::Registry r;
    Peers peers;
    TestServer s([&](http::ResponseWriter& w, http::Request& req) {
      peers.add(req.remote_addr());
      if (req.path() == "/missing") return w.write_header(404);
      if (req.path() == "/boom") return w.write_header(503);
      if (req.path() == "/moved") {
        w.header().set("Location", "/ok");
        return w.write_header(301);
      }
      (void)w.write("ok");
    });
    auto addr = s.start();
    Client client = metered_client(r);
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(client.get(url_of(addr, "/ok")));
    ASSERT_TRUE(client.post(url_of(addr, "/ok"), "text/plain", "body"));
    ClientRequest put;
    put.method = "PUT";
    put.url = url_of(addr, "/ok");
    ASSERT_TRUE(client.send(put));
    for (int i = 0; i < 2; ++i) {
      auto m = client.get(url_of(addr, "/missing"));
      ASSERT_TRUE(m);
      EXPECT_EQ(m->status, 404);
    }
    auto b = client.get(url_of(addr, "/boom"));
    ASSERT_TRUE(b);
    EXPECT_EQ(b->status, 503);
    Client no_follow = client;  // a copy shares the metrics and the pool
    no_follow.max_redirects = 0;
    auto moved = no_follow.get(url_of(addr, "/moved"));
    ASSERT_TRUE(moved);
    EXPECT_EQ(moved->status, 301);

    EXPECT_EQ(requests(r, addr, "2xx"), 5);
    EXPECT_EQ(requests(r, addr, "4xx"), 2);
    EXPECT_EQ(requests(r, addr, "5xx"), 1);
    EXPECT_EQ(requests(r, addr, "3xx"), 1);
    EXPECT_EQ(all_requests(r, addr), 9);
    EXPECT_EQ(durations(r, addr), 9);
    // One dial per connection the server saw, none failed.
    EXPECT_EQ(dials(r, addr, "ok"), static_cast<double>(peers.size()));
    EXPECT_EQ(dials(r, addr, "error"), 0);
    EXPECT_EQ(idle(r, addr), static_cast<double>(client.idle_connections()));
    EXPECT_EQ(in_flight(r), 0);

    client.close_idle_connections();
    EXPECT_EQ(idle(r, addr), 0);
    (void)s.stop();
  });
}

TEST(ClientMetrics, ARedirectChainIsOneCallOnTheHostItEndsOn) {
  weft::run([] {
    metrics::Registry r;
    TestServer other([](http::ResponseWriter& w, http::Request&) { (void)w.write("there"); });
    auto other_addr = other.start();
    TestServer s([&](http::ResponseWriter& w, http::Request& req) {
      auto to = [&](const std::string& location) {
        w.header().set("Location", location);
        w.write_header(302);
        (void)w.write("redirect body");
      };
      if (req.path() == "/a") return to("/b");
      if (req.path() == "/b") return to("/c");
      if (req.path() == "/away") return to(url_of(other_addr, "/final"));
      if (req.path() == "/loop") return to("/loop");
      (void)w.write("end");
    });
    auto addr = s.start();
    Client client = metered_client(r);

    auto chain = client.get(url_of(addr, "/a"));
    ASSERT_TRUE(chain) << chain.error().message();
    EXPECT_EQ(chain->body, "end");
    EXPECT_EQ(requests(r, addr, "2xx"), 1);
    EXPECT_EQ(all_requests(r, addr), 1);
    EXPECT_EQ(durations(r, addr), 1);

    // Counted on the host the call ended on; the dials on the hosts they went to.
    auto away = client.get(url_of(addr, "/away"));
    ASSERT_TRUE(away) << away.error().message();
    EXPECT_EQ(away->body, "there");
    EXPECT_EQ(requests(r, other_addr, "2xx"), 1);
    EXPECT_EQ(all_requests(r, addr), 1);
    EXPECT_EQ(dials(r, other_addr, "ok"), 1);
    EXPECT_GE(dials(r, addr, "ok"), 1);

    client.max_redirects = 3;
    auto loop = client.get(url_of(addr, "/loop"));
    ASSERT_FALSE(loop);
    EXPECT_EQ(loop.error(), http::ClientError::kTooManyRedirects);
    EXPECT_EQ(requests(r, addr, "too_many_redirects"), 1);
    EXPECT_EQ(all_requests(r, addr), 2);
    EXPECT_EQ(in_flight(r), 0);

    client.close_idle_connections();
    EXPECT_EQ(idle(r, addr), 0);
    EXPECT_EQ(idle(r, other_addr), 0);
  });
}

TEST(ClientMetrics, TheTransparentRetryIsPartOfItsCall) {
  weft::run([] {
    metrics::Registry r;
    // The first connection answers one request with keep-alive, then reads the next and closes
    // without answering; later connections answer.
    RawServer server([](weft::net::Conn& c, int index) {
      std::string buf;
      if (index == 0) {
        if (!read_head(c, buf)) return;
        (void)c.write("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst");
        (void)read_head(c, buf);
        return;
      }
      while (read_head(c, buf)) (void)c.write("HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecond");
    });
    auto addr = server.start();
    Client client = metered_client(r);
    auto a = client.get(url_of(addr, "/"));
    ASSERT_TRUE(a) << a.error().message();
    EXPECT_EQ(a->body, "first");
    EXPECT_EQ(idle(r, addr), 1);
    auto b = client.get(url_of(addr, "/"));
    ASSERT_TRUE(b) << b.error().message();
    EXPECT_EQ(b->body, "second");
    EXPECT_EQ(requests(r, addr, "2xx"), 2);
    EXPECT_EQ(all_requests(r, addr), 2);
    EXPECT_EQ(dials(r, addr, "ok"), 2);
    EXPECT_EQ(idle(r, addr), 1);
    client.close_idle_connections();
    EXPECT_EQ(idle(r, addr), 0);
  });
}

TEST(ClientMetrics, ARefusedConnectIsAConnectErrorAndAFailedDial) {
  weft::run([] {
    metrics::Registry r;
    auto l = weft::net::listen("127.0.0.1:0");
    ASSERT_TRUE(l);
    std::string addr = l->addr();
    l->close();
    Client client = metered_client(r);
    auto res = client.get(url_of(addr, "/"));
    ASSERT_FALSE(res);
    EXPECT_EQ(res.error(), std::errc::connection_refused);
    EXPECT_EQ(requests(r, addr, "connect_error"), 1);
    EXPECT_EQ(all_requests(r, addr), 1);
    EXPECT_EQ(durations(r, addr), 1);
    EXPECT_EQ(dials(r, addr, "error"), 1);
    EXPECT_EQ(dials(r, addr, "ok"), 0);
    EXPECT_EQ(idle(r, addr), 0);
    EXPECT_EQ(in_flight(r), 0);
  });
}

TEST(ClientMetrics, ATimeoutIsCountedAsTimeout) {
  weft::run([] {
    metrics::Registry r;
    TestServer s([](http::ResponseWriter& w, http::Request& req) {
      (void)weft::select(weft::on_recv(req.context().done(), [](auto) {}),
                         weft::on_timeout(std::chrono::seconds(10), [] {}));
      (void)w.write("late");
    });
    auto addr = s.start();
    Client client = metered_client(r);
    client.timeout = std::chrono::milliseconds(100);
    auto res = client.get(url_of(addr, "/slow"));
    ASSERT_FALSE(res);
    EXPECT_EQ(res.error(), std::errc::timed_out) << res.error().message();
    EXPECT_EQ(requests(r, addr, "timeout"), 1);
    EXPECT_EQ(all_requests(r, addr), 1);
    EXPECT_EQ(dials(r, addr, "ok"), 1);
    EXPECT_EQ(idle(r, addr), 0);
    EXPECT_EQ(in_flight(r), 0);
  });
}

TEST(ClientMetrics, BadRequestsBadResponsesAndReadErrors) {
  weft::run([] {
    metrics::Registry r;
    RawServer server([](weft::net::Conn& c, int) {
      std::string buf;
      if (!read_head(c, buf)) return;
      // A broken status line.
      (void)c.write("HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n");
    });
    auto addr = server.start();
    RawServer closer([](weft::net::Conn& c, int) {
      std::string buf;
      (void)read_head(c, buf);
    });
    auto closer_addr = closer.start();
    Client client = metered_client(r);

    // Refused before any connect: no host to label but the URL's, when it parses.
    EXPECT_EQ(client.get("http://").error(), http::ClientError::kBadUrl);
    EXPECT_EQ(client.get("https://example.com/").error(), http::ClientError::kUnsupportedScheme);
    EXPECT_EQ(requests(r, "", "bad_request"), 2);
    ClientRequest bad_header;
    bad_header.url = url_of(addr, "/");
    bad_header.headers.add("Bad Name", "x");
    EXPECT_EQ(client.send(bad_header).error(), std::errc::invalid_argument);
    EXPECT_EQ(requests(r, addr, "bad_request"), 1);
    EXPECT_EQ(dials(r, addr, "ok"), 0);
    EXPECT_EQ(dials(r, "", "ok") + dials(r, "", "error"), 0);

    auto malformed = client.get(url_of(addr, "/malformed"));
    ASSERT_FALSE(malformed);
    EXPECT_EQ(malformed.error(), http::ClientError::kMalformedResponse);
    EXPECT_EQ(requests(r, addr, "bad_response"), 1);
    EXPECT_EQ(dials(r, addr, "ok"), 1);

    auto closed = client.get(url_of(closer_addr, "/"));
    ASSERT_FALSE(closed);
    EXPECT_EQ(requests(r, closer_addr, "read_error"), 1) << closed.error().message();
    EXPECT_EQ(all_requests(r, closer_addr), 1);
    EXPECT_EQ(idle(r, addr), 0);
    EXPECT_EQ(idle(r, closer_addr), 0);
    EXPECT_EQ(in_flight(r), 0);
  });
}

TEST(ClientMetrics, IdleGaugeFollowsThePoolExactly) {
  weft::run([] {
    metrics::Registry r;
    constexpr int kParallel = 3;
    std::atomic<int> arrived{0};
    TestServer s([&](http::ResponseWriter& w, http::Request& req) {
      if (req.path() != "/batch") return (void)w.write("ok");
      wait_for_whole_batch(arrived, kParallel);
      (void)w.write("ok");
    });
    auto addr = s.start();
    Client client = metered_client(r);
    client.max_idle_per_host = 2;
    auto batch = [&] { return parallel_gets(client, url_of(addr, "/batch"), kParallel); };
    // Three connections come back; the pool keeps two and closes the third.
    ASSERT_EQ(batch(), kParallel);
    EXPECT_EQ(client.idle_connections(), 2u);
    EXPECT_EQ(idle(r, addr), 2);
    EXPECT_EQ(dials(r, addr, "ok"), kParallel);
    EXPECT_EQ(in_flight(r), 0);

    // close_idle_connections empties it.
    client.close_idle_connections();
    EXPECT_EQ(client.idle_connections(), 0u);
    EXPECT_EQ(idle(r, addr), 0);

    // Expired connections leave the gauge when the next call prunes them.
    ASSERT_EQ(batch(), kParallel);
    EXPECT_EQ(idle(r, addr), 2);
    client.idle_timeout = std::chrono::milliseconds(1);
    weft::sleep_for(std::chrono::milliseconds(20));
    ASSERT_TRUE(client.get(url_of(addr, "/")));
    EXPECT_EQ(client.idle_connections(), 1u);
    EXPECT_EQ(idle(r, addr), 1);
    client.idle_timeout = std::chrono::seconds(90);

    // A copy without metrics shares the pool: what it takes leaves the gauge, what it puts back
    // is not counted; the metered client counts it again when it pools it.
    ASSERT_TRUE(client.get(url_of(addr, "/")));
    Client plain = client;
    plain.metrics = nullptr;
    ASSERT_TRUE(plain.get(url_of(addr, "/")));
    EXPECT_EQ(client.idle_connections(), 1u);
    EXPECT_EQ(idle(r, addr), 0);
    ASSERT_TRUE(client.get(url_of(addr, "/")));
    EXPECT_EQ(idle(r, addr), 1);
    client.close_idle_connections();
    EXPECT_EQ(idle(r, addr), 0);
    (void)s.stop();
  });
}

TEST(ClientMetrics, IdleGaugeReturnsToZeroWhenThePoolGoesAway) {
  weft::run([] {
    metrics::Registry r;
    auto m = std::make_shared<ClientMetrics>(r);
    TestServer s([](http::ResponseWriter& w, http::Request&) { (void)w.write("ok"); });
    auto addr = s.start();
    {
      Client scoped;
      scoped.metrics = m;
      ASSERT_TRUE(scoped.get(url_of(addr, "/")));
      EXPECT_EQ(idle(r, addr), 1);
      Client copy = scoped;
      ASSERT_TRUE(copy.get(url_of(addr, "/")));
      EXPECT_EQ(idle(r, addr), 1);
    }
    EXPECT_EQ(idle(r, addr), 0);
    EXPECT_EQ(requests(r, addr, "2xx"), 2);
    (void)s.stop();
  });
}

TEST(ClientMetrics, InFlightCountsCallsInProgress) {
  weft::run([] {
    metrics::Registry r;
    weft::Chan<int> arrived(1);
    weft::Chan<int> release(1);
    TestServer s([&](http::ResponseWriter& w, http::Request&) {
      arrived.send(1);
      (void)release.recv();
      (void)w.write("ok");
    });
    auto addr = s.start();
    Client client = metered_client(r);
    EXPECT_EQ(in_flight(r), 0);
    weft::Chan<int> done(1);
    weft::go([&] {
      auto res = client.get(url_of(addr, "/"));
      done.send(res && res->status == 200 ? 1 : 0);
    });
    ASSERT_TRUE(arrived.recv());
    EXPECT_EQ(in_flight(r), 1);
    EXPECT_EQ(all_requests(r, addr), 0);  // counted when the call ends
    release.send(1);
    EXPECT_EQ(done.recv(), 1);
    EXPECT_EQ(in_flight(r), 0);
    EXPECT_EQ(requests(r, addr, "2xx"), 1);
    client.close_idle_connections();
    (void)s.stop();
  });
}

// ----- promtool -----

TEST(ClientMetrics, ExpositionPassesPromtool) {
  metrics::Registry r;
  weft::run([&] {
    TestServer s([](http::ResponseWriter& w, http::Request& req) {
      if (req.path() == "/missing") return w.write_header(404);
      (void)w.write("ok");
    });
    auto addr = s.start();
    auto l = weft::net::listen("127.0.0.1:0");
    ASSERT_TRUE(l);
    std::string closed = l->addr();
    l->close();
    Client client = metered_client(r);
    ASSERT_TRUE(client.get(url_of(addr, "/")));
    ASSERT_TRUE(client.get(url_of(addr, "/missing")));
    ASSERT_FALSE(client.get(url_of(closed, "/")));
    ASSERT_FALSE(client.get("http://"));
    (void)s.stop();
    client.close_idle_connections();
  });
  std::string text = r.render(metrics::Format::kText);
  weft_test::CommandResult check = weft_test::promtool_check_metrics(text);
  EXPECT_EQ(check.status, 0) << check.output << "\n--- exposition:\n" << text;
  EXPECT_EQ(check.output, "") << "--- exposition:\n" << text;
}

}  // namespace
