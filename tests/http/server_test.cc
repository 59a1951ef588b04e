// Server behaviour over real loopback connections: framing, keep-alive, pipelining, bodies,
// 100-continue, HTTP/1.0, exceptions, contexts, limits, shutdown.
#include <gtest/gtest.h>

#include <atomic>
#include <string>

#include "http/http_test_util.h"

namespace {

using weft_test::get_request;
using weft_test::LineSink;
using weft_test::RawClient;
using weft_test::roundtrip;
using weft_test::TestServer;
namespace http = weft::http;

void hello(http::ResponseWriter& w, http::Request&) {
  (void)w.write("Hello from weft!");
}

TEST(HttpServer, AnswersWithContentLengthDateAndSniffedType) {
  weft::run([] {
    TestServer s(hello);
    auto addr = s.start();
    auto r = roundtrip(addr, get_request("/"));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "Hello from weft!");
    EXPECT_EQ(r->header("Content-Length"), "16");
    EXPECT_EQ(r->header("Content-Type"), "text/plain; charset=utf-8");
    EXPECT_TRUE(r->has_header("Date"));
    EXPECT_FALSE(r->chunked);
  });
}

TEST(HttpServer, ADeclaredLengthWrittenAtOnceIsSniffedAndSentWhole) {
  weft::run([] {
    TestServer s([](http::ResponseWriter& w, http::Request& r) {
      w.header().set("Content-Length", "25");
      if (r.path() == "/once") {
        (void)w.write("<html><p>declared</p>   !");
      } else {
        (void)w.write("<html><p>declared</p>   ");
        (void)w.write("!");
      }
    });
    auto addr = s.start();
    RawClient c(addr);
    for (std::string_view target : {"/once", "/twice", "/once"}) {
      ASSERT_TRUE(c.send(get_request(target)));
      auto r = c.read_response();
      ASSERT_TRUE(r);
      EXPECT_EQ(r->status, 200);
      EXPECT_EQ(r->body, "<html><p>declared</p>   !");
      EXPECT_EQ(r->header("Content-Type"), "text/html; charset=utf-8");
      EXPECT_FALSE(r->chunked);
    }
  });
}

TEST(HttpServer, KeepAliveServesManyRequestsOnOneConnection) {
  weft::run([] {
    std::atomic<int> count{0};
    TestServer s([&](http::ResponseWriter& w, http::Request& r) {
      ++count;
      (void)w.write(std::string(r.path()));
    });
    auto addr = s.start();
    RawClient c(addr);
    for (int i = 0; i < 20; ++i) {
      std::string path = "/n/" + std::to_string(i);
      ASSERT_TRUE(c.send(get_request(path)));
      auto r = c.read_response();
      ASSERT_TRUE(r);
      EXPECT_EQ(r->body, path);
    }
    EXPECT_EQ(count.load(), 20);
  });
}

TEST(HttpServer, PipelinedRequestsAreAnsweredInOrderInOneWrite) {
  weft::run([] {
    TestServer s(
        [](http::ResponseWriter& w, http::Request& r) { (void)w.write(std::string(r.path())); });
    auto addr = s.start();
    RawClient c(addr);
    std::string batch;
    for (int i = 0; i < 16; ++i) batch += get_request("/p" + std::to_string(i));
    ASSERT_TRUE(c.send(batch));
    for (int i = 0; i < 16; ++i) {
      auto r = c.read_response();
      ASSERT_TRUE(r) << i;
      EXPECT_EQ(r->body, "/p" + std::to_string(i));
    }
  });
}

TEST(HttpServer, ReadsContentLengthAndChunkedBodiesWithTrailers) {
  weft::run([] {
    TestServer s([](http::ResponseWriter& w, http::Request& r) {
      auto body = r.body().read_all();
      ASSERT_TRUE(body);
      std::string out = std::string(r.method()) + ":" + body.value();
      for (const auto& f : r.trailers())
        out += "|" + std::string(f.name) + "=" + std::string(f.value);
      (void)w.write(out);
    });
    auto addr = s.start();
    RawClient c(addr);
    ASSERT_TRUE(c.send("POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"));
    auto r = c.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->body, "POST:hello");
    ASSERT_TRUE(
        c.send("POST /b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
               "3\r\nabc\r\n4;ext=1\r\ndefg\r\n0\r\nX-Sum: 7\r\n\r\n"));
    r = c.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->body, "POST:abcdefg|X-Sum=7");
  });
}

TEST(HttpServer, UnreadBodyIsSkippedAndTheConnectionStaysUsable) {
  weft::run([] {
    TestServer s(hello);
    auto addr = s.start();
    RawClient c(addr);
    ASSERT_TRUE(c.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n0123456789" +
                       get_request("/")));
    for (int i = 0; i < 2; ++i) {
      auto r = c.read_response();
      ASSERT_TRUE(r);
      EXPECT_EQ(r->body, "Hello from weft!");
    }
  });
}

TEST(HttpServer, StreamsChunkedAfterFlushAndForHttp10ClosesInstead) {
  weft::run([] {
    TestServer s([](http::ResponseWriter& w, http::Request&) {
      (void)w.write("part1,");
      ASSERT_FALSE(w.flush());
      (void)w.write("part2");
    });
    auto addr = s.start();
    auto r = roundtrip(addr, get_request("/"));
    ASSERT_TRUE(r);
    EXPECT_TRUE(r->chunked);
    EXPECT_EQ(r->body, "part1,part2");
    RawClient c(addr);
    ASSERT_TRUE(c.send("GET / HTTP/1.0\r\n\r\n"));
    auto r10 = c.read_response();
    ASSERT_TRUE(r10);
    EXPECT_EQ(r10->minor_version, 0);
    EXPECT_EQ(r10->body, "part1,part2");
    EXPECT_FALSE(r10->chunked);
  });
}

TEST(HttpServer, LargeBodyOutgrowsTheBufferAndStreams) {
  weft::run([] {
    std::string big(200 * 1024, 'x');
    for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + i % 26);
    TestServer s([&](http::ResponseWriter& w, http::Request&) {
      for (std::size_t off = 0; off < big.size(); off += 1000)
        (void)w.write(std::string_view(big).substr(off, 1000));
    });
    auto addr = s.start();
    auto r = roundtrip(addr, get_request("/"));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->body, big);
  });
}

TEST(HttpServer, HeadGetsHeadersWithoutBody) {
  weft::run([] {
    TestServer s(hello);
    auto addr = s.start();
    RawClient c(addr);
    ASSERT_TRUE(c.send("HEAD / HTTP/1.1\r\nHost: x\r\n\r\n" + get_request("/")));
    auto r = c.read_response("HEAD");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->header("Content-Length"), "16");
    EXPECT_EQ(r->body, "");
    auto r2 = c.read_response();
    ASSERT_TRUE(r2);
    EXPECT_EQ(r2->body, "Hello from weft!");
  });
}

TEST(HttpServer, ConnectionCloseAndHttp10WithoutKeepAliveClose) {
  weft::run([] {
    TestServer s(hello);
    auto addr = s.start();
    {
      RawClient c(addr);
      ASSERT_TRUE(c.send("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
      auto r = c.read_response();
      ASSERT_TRUE(r);
      EXPECT_EQ(r->header("Connection"), "close");
      EXPECT_TRUE(c.wait_closed());
    }
    {
      RawClient c(addr);
      ASSERT_TRUE(c.send("GET / HTTP/1.0\r\n\r\n"));
      auto r = c.read_response();
      ASSERT_TRUE(r);
      EXPECT_TRUE(c.wait_closed());
    }
    {
      RawClient c(addr);
      ASSERT_TRUE(c.send("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
      auto r = c.read_response();
      ASSERT_TRUE(r);
      EXPECT_EQ(r->header("Connection"), "keep-alive");
      ASSERT_TRUE(c.send("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
      EXPECT_TRUE(c.read_response());
    }
  });
}

TEST(HttpServer, HandlerSettingConnectionCloseEndsTheConnection) {
  weft::run([] {
    TestServer s([](http::ResponseWriter& w, http::Request&) {
      w.header().set("Connection", "close");
      (void)w.write("bye");
    });
    auto addr = s.start();
    RawClient c(addr);
    ASSERT_TRUE(c.send(get_request("/")));
    auto r = c.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->body, "bye");
    EXPECT_EQ(r->header("Connection"), "close");
    EXPECT_TRUE(c.wait_closed());
  });
}

TEST(HttpServer, ExpectContinueIsSentOnFirstBodyRead) {
  weft::run([] {
    TestServer s([](http::ResponseWriter& w, http::Request& r) {
      auto body = r.body().read_all();
      (void)w.write(body ? body.value() : "error");
    });
    auto addr = s.start();
    RawClient c(addr);
    ASSERT_TRUE(
        c.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n"));
    auto cont = c.read_response();
    ASSERT_TRUE(cont);
    EXPECT_EQ(cont->status, 100);
    ASSERT_TRUE(c.send("data"));
    auto r = c.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "data");
  });
}

TEST(HttpServer, ExpectContinueNotReadClosesWithoutWaitingForTheBody) {
  weft::run([] {
    TestServer s([](http::ResponseWriter& w, http::Request&) { http::error(w, 401, "no"); });
    auto addr = s.start();
    RawClient c(addr);
    ASSERT_TRUE(
        c.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n"));
    auto r = c.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 401);
    EXPECT_TRUE(c.wait_closed());
  });
}

TEST(HttpServer, HandlerExceptionGives500AndTheConnectionSurvives) {
  weft::run([] {
    TestServer s([](http::ResponseWriter& w, http::Request& r) {
      if (r.path() == "/boom") throw std::runtime_error("boom");
      (void)w.write("ok");
    });
    LineSink logged;
    s.server().error_log = logged.sink();
    auto addr = s.start();
    RawClient c(addr);
    ASSERT_TRUE(c.send(get_request("/boom")));
    auto r = c.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 500);
    ASSERT_TRUE(c.send(get_request("/")));
    r = c.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->body, "ok");
    auto lines = logged.get();
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_NE(lines[0].find("boom"), std::string::npos);
  });
}

TEST(HttpServer, DeclaredTrailersGoAfterAChunkedBody) {
  weft::run([] {
    TestServer s([](http::ResponseWriter& w, http::Request&) {
      w.header().set("Trailer", "X-Sum");
      (void)w.write("abc");
      w.header().set("X-Sum", "3");
      w.header().set("Trailer:X-Late", "yes");
    });
    auto addr = s.start();
    RawClient c(addr);
    ASSERT_TRUE(c.send(get_request("/")));
    auto r = c.read_response();
    ASSERT_TRUE(r);
    EXPECT_TRUE(r->chunked);
    EXPECT_EQ(r->body, "abc");
    EXPECT_FALSE(r->has_header("X-Sum"));
    std::vector<std::pair<std::string, std::string>> want = {{"X-Sum", "3"}, {"X-Late", "yes"}};
    EXPECT_EQ(r->trailers, want);
    ASSERT_TRUE(c.send(get_request("/")));  // the connection is still in step
    EXPECT_TRUE(c.read_response());
  });
}

TEST(HttpServer, HeadKeepsTheContentLengthTheHandlerDeclared) {
  weft::run([] {
    TestServer s(
        [](http::ResponseWriter& w, http::Request&) { w.header().set("Content-Length", "5000"); });
    auto addr = s.start();
    RawClient c(addr);
    ASSERT_TRUE(c.send("HEAD / HTTP/1.1\r\nHost: x\r\n\r\n"));
    auto r = c.read_response("HEAD");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->header("Content-Length"), "5000");
    EXPECT_EQ(r->body, "");
  });
}

TEST(HttpServer, ExceptionAfterTheHeadCutsTheBodyOffInsteadOfEndingIt) {
  weft::run([] {
    TestServer s([](http::ResponseWriter& w, http::Request&) {
      (void)w.write("partial");
      (void)w.flush();
      throw std::runtime_error("late failure");
    });
    s.server().error_log = [](std::string_view) {};
    auto addr = s.start();
    RawClient c(addr);
    ASSERT_TRUE(c.send(get_request("/")));
    EXPECT_FALSE(c.read_response());  // no chunk terminator: the body is not complete
    EXPECT_TRUE(c.wait_closed());
  });
}

TEST(HttpServer, ContextIsCancelledWhenTheClientGoesAway) {
  weft::run([] {
    weft::Chan<int> entered(1), finished(1);
    TestServer s([&](http::ResponseWriter& w, http::Request& r) {
      const weft::Context& ctx = r.context();
      entered.send(1);
      int which = weft::select(weft::on_recv(ctx.done(), [](auto) {}),
                               weft::on_timeout(std::chrono::seconds(10), [] {}));
      finished.send(which);
    });
    auto addr = s.start();
    {
      RawClient c(addr);
      ASSERT_TRUE(c.send(get_request("/")));
      entered.recv();
    }  // the client closes here
    EXPECT_EQ(finished.recv(), 0);
  });
}

TEST(HttpServer, MuxRoutesWithPathValuesAnd404And405) {
  weft::run([] {
    http::ServeMux mux;
    mux.handle("GET /items/{id}", [](http::ResponseWriter& w, http::Request& r) {
      (void)w.write("item " + std::string(r.path_value("id")));
    });
    TestServer s(mux);
    auto addr = s.start();
    auto r = roundtrip(addr, get_request("/items/42"));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->body, "item 42");
    r = roundtrip(addr, get_request("/nope"));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 404);
    r = roundtrip(addr, "DELETE /items/1 HTTP/1.1\r\nHost: x\r\n\r\n");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 405);
    EXPECT_NE(r->header("Allow").find("GET"), std::string::npos);
  });
}

TEST(HttpServer, OverTheConnectionLimitGets503) {
  weft::run([] {
    TestServer s(hello);
    s.server().max_connections = 2;
    auto addr = s.start();
    RawClient a(addr), b(addr);
    ASSERT_TRUE(a.send(get_request("/")));
    ASSERT_TRUE(a.read_response());
    ASSERT_TRUE(b.send(get_request("/")));
    ASSERT_TRUE(b.read_response());
    RawClient c(addr);
    auto r = c.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 503);
  });
}

TEST(HttpServer, HeaderTimeoutCountsFromTheFirstByteAndAnswers408) {
  weft::run([] {
    TestServer s(hello);
    s.server().read_header_timeout = std::chrono::milliseconds(300);
    auto addr = s.start();
    RawClient c(addr);
    ASSERT_TRUE(c.send("GET / HTTP/1.1\r\n"));
    // Trickle a byte every 50 ms: the deadline does not move.
    auto start = std::chrono::steady_clock::now();
    std::optional<weft_test::RawResponse> r;
    for (int i = 0; i < 40; ++i) {
      if (!c.send("X")) break;
      weft::sleep_for(std::chrono::milliseconds(50));
      if (std::chrono::steady_clock::now() - start > std::chrono::milliseconds(1500)) break;
    }
    r = c.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 408);
  });
}

TEST(HttpServer, IdleConnectionsCloseAfterIdleTimeout) {
  weft::run([] {
    TestServer s(hello);
    s.server().idle_timeout = std::chrono::milliseconds(100);
    auto addr = s.start();
    RawClient c(addr);
    ASSERT_TRUE(c.send(get_request("/")));
    ASSERT_TRUE(c.read_response());
    EXPECT_TRUE(c.wait_closed());
  });
}

TEST(HttpServer, ShutdownFinishesInFlightRequestsAndClosesIdleOnes) {
  weft::run([] {
    weft::Chan<int> entered(100), release;
    TestServer s([&](http::ResponseWriter& w, http::Request&) {
      entered.send(1);
      release.recv();
      (void)w.write("done");
    });
    auto addr = s.start();
    RawClient idle(addr);  // connected, never sends
    std::vector<std::unique_ptr<RawClient>> busy;
    for (int i = 0; i < 5; ++i) {
      busy.push_back(std::make_unique<RawClient>(addr));
      ASSERT_TRUE(busy.back()->send(get_request("/")));
    }
    for (int i = 0; i < 5; ++i) entered.recv();
    weft::Chan<std::error_code> stopped(1);
    weft::go([&] { stopped.send(s.stop(std::chrono::seconds(10))); });
    weft::sleep_for(std::chrono::milliseconds(50));
    EXPECT_TRUE(idle.wait_closed());
    release.close();
    for (auto& c : busy) {
      auto r = c->read_response();
      ASSERT_TRUE(r);
      EXPECT_EQ(r->body, "done");
      EXPECT_EQ(r->header("Connection"), "close");
    }
    EXPECT_FALSE(stopped.recv().value());
  });
}

}  // namespace
