// The load generator against real loopback servers: URL parsing, coordinated-omission
// correction (a server that stalls for a second), exact accounting of every attempted request
// (responses by status, errors by class, against servers that count what they received), and
// the request it sends.
#include "weft/loadgen/loadgen.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "http/http_test_util.h"
#include "weft/http.h"
#include "weft/net/net.h"
#include "weft/runtime/task.h"

namespace {

namespace http = weft::http;
namespace lg = weft::loadgen;
using namespace std::chrono_literals;
using weft_test::TestServer;

// ---- URLs -------------------------------------------------------------------------------

TEST(ParseUrl, SplitsHostPortAndPath) {
  lg::Target t = lg::parse_url("http://127.0.0.1:8080/api/user?x=1");
  EXPECT_EQ(t.host, "127.0.0.1");
  EXPECT_EQ(t.port, 8080);
  EXPECT_EQ(t.authority, "127.0.0.1:8080");
  EXPECT_EQ(t.path_and_query, "/api/user?x=1");

  t = lg::parse_url("http://example.org");
  EXPECT_EQ(t.host, "example.org");
  EXPECT_EQ(t.port, 80);
  EXPECT_EQ(t.path_and_query, "/");

  t = lg::parse_url("http://[::1]:9000?q");
  EXPECT_EQ(t.host, "::1");
  EXPECT_EQ(t.port, 9000);
  EXPECT_EQ(t.authority, "[::1]:9000");
  EXPECT_EQ(t.path_and_query, "/?q");

  EXPECT_EQ(lg::parse_url("http://h/a#frag").path_and_query, "/a");
}

TEST(ParseUrl, RejectsWhatItCannotServe) {
  for (const char* bad :
       {"https://127.0.0.1/", "ftp://x/", "127.0.0.1:80/", "http://", "http:///path", "http://h:0/",
        "http://h:65536/", "http://h:8x/", "http://[::1/", "http://u@h/", "http://h/a b"}) {
    EXPECT_THROW(lg::parse_url(bad), std::invalid_argument) << bad;
  }
}

// ---- coordinated omission ---------------------------------------------------------------

// A server that, when stall is set, answers nothing during one second in the middle of the
// run (as a stop-the-world pause would), then everything at once.
struct StallingServer {
  std::atomic<int64_t> stall_from{INT64_MAX};
  std::atomic<int64_t> stall_to{0};

  http::Handler handler() {
    return [this](http::ResponseWriter& w, http::Request&) {
      auto now = std::chrono::steady_clock::now().time_since_epoch().count();
      if (now >= stall_from.load() && now < stall_to.load()) {
        weft::sleep_until(std::chrono::steady_clock::time_point(
            std::chrono::steady_clock::duration(stall_to.load())));
      }
      (void)w.write("ok");
    };
  }
};

lg::RunResult open_model_run(bool stall) {
  lg::RunResult result;
  weft::run([&] {
    StallingServer s;
    TestServer server(s.handler());
    std::string addr = server.start();
    ASSERT_FALSE(addr.empty());
    if (stall) {
      auto t0 = std::chrono::steady_clock::now().time_since_epoch();
      s.stall_from = (t0 + 2s).count();
      s.stall_to = (t0 + 3s).count();
    }
    lg::Options o;
    o.url = "http://" + addr + "/";
    o.connections = 10;
    o.rate = 1000;
    o.duration = 5s;
    result = lg::run_load(o);
  });
  return result;
}

TEST(OpenModel, AStallShowsInCorrectedLatencyButNotInServiceTime) {
  lg::RunResult r = open_model_run(true);
  ASSERT_GT(r.responses, 4000u);
  EXPECT_EQ(r.errors.total(), 0u);
  // About a fifth of the requests were due during the stall and waited for it to end.
  EXPECT_GE(r.latency.value_at_percentile(99), 500'000) << "corrected p99 (µs)";
  // Only the request in flight on each connection when the stall began was served slowly.
  EXPECT_LT(r.service.value_at_percentile(99), 100'000) << "service-time p99 (µs)";
  EXPECT_GT(r.late_sends, 100u);
  EXPECT_GE(r.send_lag.max(), 500'000);
}

TEST(OpenModel, WithoutAStallBothLatenciesStaySmall) {
  lg::RunResult r = open_model_run(false);
  ASSERT_GT(r.responses, 4000u);
  EXPECT_EQ(r.errors.total(), 0u);
  EXPECT_LT(r.latency.value_at_percentile(99), 100'000) << "corrected p99 (µs)";
  EXPECT_LT(r.service.value_at_percentile(99), 100'000) << "service-time p99 (µs)";
  // Sent on schedule: about rate × duration requests.
  EXPECT_NEAR(static_cast<double>(r.attempted), 5000.0, 100.0);
}

// ---- exact accounting -------------------------------------------------------------------

void expect_totals_add_up(const lg::RunResult& r) {
  uint64_t by_status = 0;
  for (const auto& [code, n] : r.status_counts) by_status += n;
  EXPECT_EQ(by_status, r.responses);
  EXPECT_EQ(r.attempted, r.responses + r.errors.total());
  EXPECT_EQ(r.latency.count(), r.responses);
  uint64_t timeline_responses = 0, timeline_errors = 0;
  for (const lg::Second& s : r.timeline) {
    timeline_responses += s.responses;
    timeline_errors += s.errors;
  }
  EXPECT_EQ(timeline_responses, r.responses);
  EXPECT_EQ(timeline_errors, r.errors.total());
}

TEST(Accounting, EveryRequestIsAResponseByStatusAndTheServerAgrees) {
  for (int pipeline : {1, 4}) {
    std::atomic<uint64_t> received{0};
    lg::RunResult r;
    weft::run([&] {
      TestServer server([&](http::ResponseWriter& w, http::Request& req) {
        uint64_t n = ++received;
        if (n % 7 == 0) w.write_header(500);
        (void)w.write(req.method() == "POST" ? "posted" : "got");
      });
      std::string addr = server.start();
      ASSERT_FALSE(addr.empty());
      lg::Options o;
      o.url = "http://" + addr + "/count";
      o.method = "POST";
      o.body = "payload";
      o.connections = 8;
      o.pipeline = pipeline;
      o.requests = 3000;
      r = lg::run_load(o);
    });
    SCOPED_TRACE(pipeline);
    EXPECT_EQ(r.attempted, 3000u);
    EXPECT_EQ(r.responses, 3000u);
    EXPECT_EQ(received.load(), 3000u);
    EXPECT_EQ(r.status_counts[500], 3000u / 7);
    EXPECT_EQ(r.status_counts[200], 3000u - 3000u / 7);
    EXPECT_EQ(r.errors.total(), 0u);
    expect_totals_add_up(r);
  }
}

// A raw server: counts each request head it reads; answers with reply(n) for the n-th request
// (1-based) and closes the connection without answering when reply gives "".
class RawServer {
 public:
  explicit RawServer(std::function<std::string(uint64_t)> reply) : reply_(std::move(reply)) {}
  // Stops accepting and waits for every connection task, so none outlives the server (a
  // connection ends when its client closes it, or at its deadline).
  ~RawServer() {
    stop();
    done_.wait();
  }

  std::string start() {
    auto l = weft::net::listen("127.0.0.1:0");
    if (!l) return {};
    listener_ = std::make_shared<weft::net::Listener>(std::move(l.value()));
    done_.add(1);
    weft::go([this, l = listener_] {
      while (true) {
        auto c = l->accept();
        if (!c) break;
        auto conn = std::make_shared<weft::net::Conn>(std::move(c.value()));
        conn->set_deadline(weft::net::Clock::now() + std::chrono::seconds(30));
        done_.add(1);
        weft::go([this, conn] {
          serve(*conn);
          conn->close();
          done_.done();
        });
      }
      done_.done();
    });
    return listener_->addr();
  }
  void stop() {
    if (listener_) listener_->close();
  }
  uint64_t received() const { return received_.load(); }

 private:
  void serve(weft::net::Conn& conn) {
    std::string buf;
    char chunk[4096];
    while (true) {
      std::size_t end = buf.find("\r\n\r\n");
      if (end == std::string::npos) {
        auto n = conn.read(chunk, sizeof chunk);
        if (!n || n.value() == 0) return;
        buf.append(chunk, n.value());
        continue;
      }
      buf.erase(0, end + 4);
      std::string answer = reply_(++received_);
      if (answer.empty()) {
        conn.close();
        return;
      }
      if (!conn.write(answer)) return;
    }
  }

  std::function<std::string(uint64_t)> reply_;
  std::shared_ptr<weft::net::Listener> listener_;
  weft::WaitGroup done_;
  std::atomic<uint64_t> received_{0};
};

constexpr std::string_view kOk = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

TEST(Accounting, ConnectionsClosedWithoutAnAnswerAreReadErrors) {
  lg::RunResult r;
  uint64_t received = 0;
  weft::run([&] {
    RawServer server([](uint64_t n) { return n % 50 == 0 ? std::string() : std::string(kOk); });
    std::string addr = server.start();
    ASSERT_FALSE(addr.empty());
    lg::Options o;
    o.url = "http://" + addr + "/";
    o.connections = 5;
    o.requests = 2000;
    r = lg::run_load(o);
    server.stop();
    received = server.received();
  });
  EXPECT_EQ(r.attempted, 2000u);
  EXPECT_EQ(received, 2000u);
  EXPECT_EQ(r.errors.read, 2000u / 50);
  EXPECT_EQ(r.responses, 2000u - 2000u / 50);
  EXPECT_EQ(r.status_counts[200], r.responses);
  expect_totals_add_up(r);
}

TEST(Accounting, MalformedResponsesAreBadResponses) {
  lg::RunResult r;
  weft::run([&] {
    RawServer server([](uint64_t n) {
      return n % 10 == 0 ? std::string("HTTP/1.1 2OO OK\r\nContent-Length: 2\r\n\r\nok")
                         : std::string(kOk);
    });
    std::string addr = server.start();
    ASSERT_FALSE(addr.empty());
    lg::Options o;
    o.url = "http://" + addr + "/";
    o.connections = 1;
    o.requests = 100;
    r = lg::run_load(o);
    server.stop();
  });
  EXPECT_EQ(r.attempted, 100u);
  EXPECT_EQ(r.errors.bad_response, 10u);
  EXPECT_EQ(r.responses, 90u);
  expect_totals_add_up(r);
}

TEST(Accounting, UnansweredRequestsTimeOut) {
  lg::RunResult r;
  weft::run([&] {
    // Reads each request and answers none within the generator's timeout.
    TestServer silent([](http::ResponseWriter&, http::Request&) { weft::sleep_for(1s); });
    std::string addr = silent.start();
    ASSERT_FALSE(addr.empty());
    lg::Options o;
    o.url = "http://" + addr + "/";
    o.connections = 4;
    o.requests = 8;
    o.timeout = 200ms;
    r = lg::run_load(o);
  });
  EXPECT_EQ(r.attempted, 8u);
  EXPECT_EQ(r.errors.timeout, 8u);
  EXPECT_EQ(r.responses, 0u);
  expect_totals_add_up(r);
}

TEST(Accounting, ARefusedConnectionIsAConnectError) {
  lg::RunResult r;
  weft::run([&] {
    std::string addr;
    {
      auto l = weft::net::listen("127.0.0.1:0");
      ASSERT_TRUE(l);
      addr = l.value().addr();
    }  // closed: nothing listens there now
    lg::Options o;
    o.url = "http://" + addr + "/";
    o.connections = 2;
    o.duration = 300ms;
    r = lg::run_load(o);
  });
  EXPECT_GT(r.attempted, 0u);
  EXPECT_EQ(r.errors.connect, r.attempted);
  EXPECT_EQ(r.responses, 0u);
  expect_totals_add_up(r);
}

TEST(Accounting, WarmUpRequestsAreNotCounted) {
  std::atomic<uint64_t> received{0};
  lg::RunResult r;
  weft::run([&] {
    TestServer server([&](http::ResponseWriter& w, http::Request&) {
      ++received;
      (void)w.write("x");
    });
    std::string addr = server.start();
    ASSERT_FALSE(addr.empty());
    lg::Options o;
    o.url = "http://" + addr + "/";
    o.connections = 2;
    o.warmup = 300ms;
    o.requests = 500;
    r = lg::run_load(o);
  });
  EXPECT_EQ(r.attempted, 500u);
  EXPECT_EQ(r.responses, 500u);
  EXPECT_GT(received.load(), 500u);  // the warm-up's requests reached the server too
  expect_totals_add_up(r);
}

// ---- what goes on the wire --------------------------------------------------------------

TEST(Requests, MethodHeadersBodyAndANewConnectionPerRequest) {
  std::atomic<int> bad{0}, seen{0};
  std::mutex mu;
  std::set<std::string> peers;  // one remote address per connection
  lg::RunResult r;
  weft::run([&] {
    TestServer server([&](http::ResponseWriter& w, http::Request& req) {
      auto body = req.body().read_all();
      // Only what was asked for: no User-Agent unless given, as wrk sends none.
      if (req.method() != "PUT" || req.headers().get("X-Test") != "yes" ||
          req.headers().has("User-Agent") || !body || body.value() != "hello" ||
          req.path() != "/put")
        ++bad;
      ++seen;
      {
        std::lock_guard lock(mu);
        peers.insert(std::string(req.remote_addr()));
      }
      (void)w.write("done");
    });
    std::string addr = server.start();
    ASSERT_FALSE(addr.empty());
    lg::Options o;
    o.url = "http://" + addr + "/put";
    o.method = "PUT";
    o.headers = {"X-Test: yes"};
    o.body = "hello";
    o.connections = 2;
    o.requests = 20;
    o.keep_alive = false;
    r = lg::run_load(o);
  });
  EXPECT_EQ(seen.load(), 20);
  EXPECT_EQ(bad.load(), 0);
  EXPECT_EQ(r.responses, 20u);
  EXPECT_EQ(peers.size(), 20u);
  expect_totals_add_up(r);
}

TEST(Options, BadOptionsThrow) {
  weft::run([] {
    lg::Options o;
    o.url = "http://127.0.0.1:1/";
    o.connections = 0;
    EXPECT_THROW(lg::run_load(o), std::invalid_argument);
    o.connections = 1;
    o.pipeline = 2;
    o.keep_alive = false;
    EXPECT_THROW(lg::run_load(o), std::invalid_argument);
    o.pipeline = 1;
    o.keep_alive = true;
    o.headers = {"no colon"};
    EXPECT_THROW(lg::run_load(o), std::invalid_argument);
    o.headers = {};
    o.url = "https://127.0.0.1/";
    EXPECT_THROW(lg::run_load(o), std::invalid_argument);
  });
}

}  // namespace
