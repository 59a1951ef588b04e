// ServerMetrics over real loopback connections: requests by method, route and status class,
// durations, bytes, connections, parse errors and timeouts by kind, and in-flight requests.
#include "weft/http/server_metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <string_view>

#include "http/http_test_util.h"
#include "metrics/promtool.h"
#include "runtime/test_util.h"
#include "weft/http.h"
#include "weft/metrics.h"

namespace {

namespace http = weft::http;
namespace metrics = weft::metrics;
using namespace std::chrono_literals;
using ::testing::HasSubstr;
using weft_test::eventually;
using weft_test::get_request;
using weft_test::RawClient;
using weft_test::roundtrip;
using weft_test::TestServer;

// The value of one series ("name{labels}") in a text exposition, or -1 when it is not there.
double sample(const std::string& text, std::string_view series) {
  std::string key = "\n" + std::string(series) + " ";
  std::size_t at = text.find(key);
  if (at == std::string::npos) return -1;
  at += key.size();
  return std::strtod(text.c_str() + at, nullptr);
}

// A registry with the server's families, and a server recording into them.
struct Instrumented {
  metrics::Registry registry;
  std::shared_ptr<http::ServerMetrics> metrics = std::make_shared<http::ServerMetrics>(registry);
  double get(std::string_view series) const {
    return sample(registry.render(metrics::Format::kText), series);
  }
};

http::ServeMux items_mux() {
  http::ServeMux mux;
  mux.handle("GET /items/{id}",
             [](http::ResponseWriter& w, http::Request&) { (void)w.write("item"); });
  mux.handle("POST /items", [](http::ResponseWriter& w, http::Request&) {
    w.write_header(201);
    (void)w.write("made");
  });
  mux.handle("GET /fail",
             [](http::ResponseWriter& w, http::Request&) { http::error(w, 500, "broken"); });
  return mux;
}

TEST(ServerMetricsTest, CountsRequestsByMethodRouteAndStatusClass) {
  Instrumented m;
  EXPECT_THROW(http::ServerMetrics again(m.registry), std::invalid_argument);
  weft::run([&] {
    TestServer s(items_mux());
    s.server().metrics = m.metrics;
    std::string addr = s.start();
    ASSERT_FALSE(addr.empty());
    RawClient c(addr);
    auto send = [&](std::string raw, std::string_view method = "GET") {
      ASSERT_TRUE(c.send(raw)) << c.error();
      ASSERT_TRUE(c.read_response(method)) << c.error();
    };
    for (int i = 0; i < 3; ++i) send(get_request("/items/1"));
    send(get_request("/items/22"));
    send("HEAD /items/3 HTTP/1.1\r\nHost: x\r\n\r\n", "HEAD");
    for (int i = 0; i < 2; ++i)
      send("POST /items HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi");
    send(get_request("/fail"));
    send(get_request("/nowhere"));
    send("BREW /items HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
  });
  auto requests = [&](std::string_view labels) {
    return m.get("weft_http_requests_total{" + std::string(labels) + "}");
  };
  EXPECT_EQ(requests(R"(method="GET",route="GET /items/{id}",status_class="2xx")"), 4);
  EXPECT_EQ(requests(R"(method="HEAD",route="GET /items/{id}",status_class="2xx")"), 1);
  EXPECT_EQ(requests(R"(method="POST",route="POST /items",status_class="2xx")"), 2);
  EXPECT_EQ(requests(R"(method="GET",route="GET /fail",status_class="5xx")"), 1);
  EXPECT_EQ(requests(R"(method="GET",route="",status_class="4xx")"), 1);
  // An unknown method does not make a label value of its own.
  EXPECT_EQ(requests(R"(method="OTHER",route="",status_class="4xx")"), 1);
  EXPECT_EQ(m.get(R"(weft_http_request_duration_seconds_count{route="GET /items/{id}"})"), 5);
  EXPECT_EQ(m.get(R"(weft_http_request_duration_seconds_count{route=""})"), 2);
  EXPECT_GT(m.get(R"(weft_http_request_duration_seconds_sum{route="GET /items/{id}"})"), 0);
  EXPECT_EQ(m.get("weft_http_requests_in_flight"), 0);
  EXPECT_EQ(m.get("weft_http_connections_accepted_total"), 1);
}

TEST(ServerMetricsTest, APatternThatIsNotUtf8GetsAFixedLabel) {
  Instrumented m;
  weft::run([&] {
    TestServer s(http::Handler([](http::ResponseWriter& w, http::Request& r) {
      r.set_pattern("GET /\xff\xfe");  // a handler may set any bytes
      (void)w.write("ok");
    }));
    s.server().metrics = m.metrics;
    std::string addr = s.start();
    ASSERT_FALSE(addr.empty());
    for (int i = 0; i < 2; ++i) {
      auto r = roundtrip(addr, get_request("/"));
      ASSERT_TRUE(r);
      EXPECT_EQ(r->status, 200);
    }
  });
  EXPECT_EQ(
      m.get(R"(weft_http_requests_total{method="GET",route="invalid_utf8",status_class="2xx"})"),
      2);
}

TEST(ServerMetricsTest, CountsEveryByteInAndOut) {
  Instrumented m;
  std::size_t sent = 0, received = 0;
  weft::run([&] {
    TestServer s(items_mux());
    s.server().metrics = m.metrics;
    std::string addr = s.start();
    ASSERT_FALSE(addr.empty());
    const std::string requests[] = {
        get_request("/items/1", "Connection: close\r\n"),
        "POST /items HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 5\r\n\r\nhello",
        "POST /items HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n"
        "\r\n3\r\nabc\r\n0\r\n\r\n",
        get_request("/nowhere", "Connection: close\r\n"),
    };
    for (const std::string& raw : requests) {
      auto conn = weft::net::dial(addr, 5s);
      ASSERT_TRUE(conn.ok());
      ASSERT_TRUE(conn->write(std::string_view(raw)).ok());
      sent += raw.size();
      conn->set_read_deadline(weft::net::Clock::now() + 5s);
      char buf[4096];
      for (;;) {
        auto n = conn->read(buf, sizeof buf);
        ASSERT_TRUE(n.ok()) << n.error().message();
        if (n.value() == 0) break;  // the server closed after its answer
        received += n.value();
      }
    }
    ASSERT_TRUE(eventually([&] { return m.get("weft_http_connections_open") == 0; }));
  });
  EXPECT_GT(received, 0u);
  EXPECT_EQ(m.get("weft_http_received_bytes_total"), static_cast<double>(sent));
  EXPECT_EQ(m.get("weft_http_sent_bytes_total"), static_cast<double>(received));
}

TEST(ServerMetricsTest, CountsConnectionsOpenAcceptedAndRejected) {
  Instrumented m;
  weft::run([&] {
    TestServer s(items_mux());
    s.server().metrics = m.metrics;
    s.server().max_connections = 2;
    std::string addr = s.start();
    ASSERT_FALSE(addr.empty());
    {
      RawClient a(addr), b(addr);
      for (RawClient* c : {&a, &b}) {
        ASSERT_TRUE(c->send(get_request("/items/1")));
        ASSERT_TRUE(c->read_response());
      }
      EXPECT_EQ(m.get("weft_http_connections_open"), 2);
      auto over = roundtrip(addr, get_request("/items/1"));
      ASSERT_TRUE(over);
      EXPECT_EQ(over->status, 503);
      EXPECT_EQ(m.get("weft_http_connections_rejected_total"), 1);
      EXPECT_EQ(m.get("weft_http_connections_accepted_total"), 3);
      EXPECT_EQ(m.get("weft_http_connections_open"), 2);
    }
    EXPECT_TRUE(eventually([&] { return m.get("weft_http_connections_open") == 0; }));
  });
}

TEST(ServerMetricsTest, CountsParseErrorsByKind) {
  Instrumented m;
  weft::run([&] {
    TestServer s(http::Handler([](http::ResponseWriter& w, http::Request& r) {
      // A body that could not be read is left for the server to answer (400 or 413).
      if (r.body().read_all()) (void)w.write("ok");
    }));
    s.server().metrics = m.metrics;
    s.server().max_target_bytes = 64;
    s.server().max_header_bytes = 1024;
    s.server().max_body_bytes = 16;
    std::string addr = s.start();
    ASSERT_FALSE(addr.empty());
    auto status = [&](std::string raw) {
      auto r = roundtrip(addr, raw);
      return r ? r->status : -1;
    };
    EXPECT_EQ(status("GET / HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n"), 400);
    EXPECT_EQ(status(get_request("/" + std::string(100, 'a'))), 414);
    EXPECT_EQ(status(get_request("/", "X-Big: " + std::string(2000, 'b') + "\r\n")), 431);
    EXPECT_EQ(status("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"), 413);
    EXPECT_EQ(status("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "zz\r\nabc\r\n0\r\n\r\n"),
              400);
    EXPECT_EQ(status("GET / HTTP/2.0\r\nHost: x\r\n\r\n"), 505);
  });
  auto errors = [&](std::string_view kind) {
    return m.get("weft_http_parse_errors_total{kind=\"" + std::string(kind) + "\"}");
  };
  EXPECT_EQ(errors("bad_request"), 1);
  EXPECT_EQ(errors("target_too_long"), 1);
  EXPECT_EQ(errors("header_too_large"), 1);
  EXPECT_EQ(errors("body_too_large"), 1);
  EXPECT_EQ(errors("bad_body"), 1);
  EXPECT_EQ(errors("version_not_supported"), 1);
  EXPECT_EQ(errors("not_implemented"), 0);
}

TEST(ServerMetricsTest, CountsTimeoutsByKind) {
  Instrumented m;
  weft::run([&] {
    TestServer s(http::Handler([](http::ResponseWriter& w, http::Request& r) {
      if (r.path() == "/big") {
        std::string chunk(1 << 20, 'x');
        for (int i = 0; i < 256; ++i) {
          if (!w.write(chunk)) return;
        }
        return;
      }
      (void)r.body().read_all();
      (void)w.write("ok");
    }));
    s.server().metrics = m.metrics;
    s.server().read_header_timeout = 200ms;
    s.server().read_timeout = 300ms;
    s.server().idle_timeout = 200ms;
    s.server().write_timeout = 800ms;  // past the read timeout, so only /big meets it
    std::string addr = s.start();
    ASSERT_FALSE(addr.empty());

    RawClient head(addr);  // half a request head, then nothing
    ASSERT_TRUE(head.send("GET / HT"));
    auto r408 = head.read_response();
    ASSERT_TRUE(r408) << head.error();
    EXPECT_EQ(r408->status, 408);

    RawClient body(addr);  // a head promising a body that never comes
    ASSERT_TRUE(body.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc"));
    EXPECT_TRUE(body.wait_closed());

    RawClient idle(addr);  // one request, then silence
    ASSERT_TRUE(idle.send(get_request("/")));
    ASSERT_TRUE(idle.read_response());
    EXPECT_TRUE(idle.wait_closed());

    RawClient slow(addr);  // asks for 256 MiB and never reads it
    ASSERT_TRUE(slow.send(get_request("/big")));
    EXPECT_TRUE(
        eventually([&] { return m.get("weft_http_timeouts_total{kind=\"write\"}") == 1; }, 10s));
    EXPECT_TRUE(eventually([&] { return m.get("weft_http_connections_open") == 0; }, 10s));
  });
  EXPECT_EQ(m.get("weft_http_timeouts_total{kind=\"read_header\"}"), 1);
  EXPECT_EQ(m.get("weft_http_timeouts_total{kind=\"read\"}"), 1);
  EXPECT_EQ(m.get("weft_http_timeouts_total{kind=\"idle\"}"), 1);
  EXPECT_EQ(m.get("weft_http_timeouts_total{kind=\"write\"}"), 1);
}

TEST(ServerMetricsTest, ShowsRequestsInFlight) {
  Instrumented m;
  weft::run([&] {
    weft::Chan<int> release;
    weft::WaitGroup entered;
    entered.add(2);
    TestServer s(http::Handler([&](http::ResponseWriter& w, http::Request&) {
      entered.done();
      (void)release.recv();
      (void)w.write("done");
    }));
    s.server().metrics = m.metrics;
    std::string addr = s.start();
    ASSERT_FALSE(addr.empty());
    weft::WaitGroup clients;
    for (int i = 0; i < 2; ++i) {
      clients.add(1);
      weft::go([&] {
        auto r = roundtrip(addr, get_request("/"));
        EXPECT_TRUE(r && r->status == 200);
        clients.done();
      });
    }
    entered.wait();
    EXPECT_EQ(m.get("weft_http_requests_in_flight"), 2);
    release.close();
    clients.wait();
    EXPECT_EQ(m.get("weft_http_requests_in_flight"), 0);
  });
}

TEST(ServerMetricsTest, PromtoolAcceptsTheExposition) {
  Instrumented m;
  weft::run([&] {
    TestServer s(items_mux());
    s.server().metrics = m.metrics;
    std::string addr = s.start();
    ASSERT_FALSE(addr.empty());
    for (const char* target : {"/items/1", "/fail", "/nowhere"})
      ASSERT_TRUE(roundtrip(addr, get_request(target)));
  });
  std::string text = m.registry.render(metrics::Format::kText);
  weft_test::CommandResult check = weft_test::promtool_check_metrics(text);
  EXPECT_EQ(check.status, 0) << check.output << "\n--- exposition:\n" << text;
  EXPECT_EQ(check.output, "") << text;
}

}  // namespace
