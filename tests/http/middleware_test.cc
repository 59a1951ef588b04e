// Middleware over real loopback connections: gzip negotiation, thresholds, types, streaming,
// pooled compressors and HEAD; the access log format; recover; timeout (fast, late, cancelled,
// exceptions); request ids; strip_prefix.
#include "weft/http/middleware.h"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <mutex>
#include <optional>
#include <regex>
#include <stdexcept>
#include <string>
#include <vector>

#include "http/http_test_util.h"
#include "runtime/test_util.h"
#include "weft/log.h"

namespace {

namespace http = weft::http;
using ::testing::HasSubstr;
using weft_test::get_request;
using weft_test::LineSink;
using weft_test::RawClient;
using weft_test::RawResponse;
using weft_test::roundtrip;
using weft_test::TestServer;
using namespace std::chrono_literals;

// Runs fn as the main task, ending the process if it hangs.
template <class F>
void in_runtime(F&& fn) {
  weft_test::Watchdog dog("middleware test", std::chrono::seconds(60));
  weft::run(std::forward<F>(fn));
}

// Compressible text of n bytes that differs with seed.
std::string text_body(std::size_t n, int seed = 0) {
  static const char* const kWords[] = {"alpha", "beta",  "gamma", "delta", "epsilon",
                                       "zeta",  "theta", "kappa", "lambda"};
  std::string s;
  s.reserve(n + 16);
  unsigned x = static_cast<unsigned>(seed) * 2654435761u + 1;
  while (s.size() < n) {
    x = x * 1103515245u + 12345u;
    s += kWords[(x >> 16) % 9];
    s += (x >> 8) % 7 == 0 ? '\n' : ' ';
  }
  s.resize(n);
  return s;
}

// Inflater decompresses a gzip stream fed in pieces.
class Inflater {
 public:
  Inflater() { ok_ = inflateInit2(&zs_, 15 + 16) == Z_OK; }
  ~Inflater() { inflateEnd(&zs_); }
  Inflater(const Inflater&) = delete;
  Inflater& operator=(const Inflater&) = delete;

  // Decompresses in; false on corrupt data or bytes after the end of the stream.
  bool feed(std::string_view in) {
    if (!ok_ || (ended_ && !in.empty())) return ok_ = false;
    zs_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    zs_.avail_in = static_cast<uInt>(in.size());
    int rc;
    do {
      unsigned char buf[16384];
      zs_.next_out = buf;
      zs_.avail_out = sizeof buf;
      rc = inflate(&zs_, Z_SYNC_FLUSH);
      out_.append(reinterpret_cast<char*>(buf), sizeof buf - zs_.avail_out);
      if (rc == Z_STREAM_END) {
        ended_ = true;
        return ok_ = zs_.avail_in == 0;
      }
      if (rc != Z_OK && rc != Z_BUF_ERROR) return ok_ = false;
    } while (zs_.avail_out == 0 || (rc == Z_OK && zs_.avail_in > 0));
    return true;
  }
  const std::string& out() const { return out_; }
  bool ended() const { return ended_; }

 private:
  z_stream zs_{};
  bool ok_ = false;
  bool ended_ = false;
  std::string out_;
};

// The whole gzip stream in decompressed, or nullopt when it is not one complete stream.
std::optional<std::string> gunzip(std::string_view in) {
  Inflater z;
  if (!z.feed(in) || !z.ended()) return std::nullopt;
  return z.out();
}

// A handler that answers with body under content type (none when empty).
http::Handler serve_text(std::string body, std::string type = "text/plain; charset=utf-8") {
  return [body = std::move(body), type = std::move(type)](http::ResponseWriter& w, http::Request&) {
    if (!type.empty()) w.header().set("Content-Type", type);
    (void)w.write(body);
  };
}

// ---- gzip -------------------------------------------------------------------------------------

TEST(GzipTest, CompressesForAClientThatAcceptsGzip) {
  in_runtime([] {
    std::string body = text_body(5000);
    TestServer s(http::gzip()([&](http::ResponseWriter& w, http::Request&) {
      w.header().set("Content-Type", "text/html; charset=utf-8");
      w.header().set("Content-Length", std::to_string(body.size()));
      (void)w.write(body);
    }));
    auto addr = s.start();
    auto r = roundtrip(addr, get_request("/", "Accept-Encoding: gzip\r\n"));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->header("Content-Encoding"), "gzip");
    EXPECT_EQ(r->header("Vary"), "Accept-Encoding");
    EXPECT_EQ(r->header("Content-Type"), "text/html; charset=utf-8");
    // The handler's Content-Length described the uncompressed body: it is gone, and the
    // framing describes what was sent.
    EXPECT_NE(r->header("Content-Length"), std::to_string(body.size()));
    if (r->has_header("Content-Length")) {
      EXPECT_EQ(r->header("Content-Length"), std::to_string(r->body.size()));
    }
    EXPECT_LT(r->body.size(), body.size() / 2);
    EXPECT_EQ(gunzip(r->body), body);
  });
}

TEST(GzipTest, NegotiatesByAcceptEncoding) {
  struct Case {
    const char* accept;  // nullptr: no field
    bool gzip;
  };
  const Case cases[] = {
      {nullptr, false},
      {"gzip", true},
      {"GZIP", true},
      {"x-gzip", true},
      {"gzip;q=0", false},
      {"gzip; q=0.000", false},
      {"gzip;q=0.001", true},
      {"deflate, gzip;q=0.5", true},
      {"br;q=1.0, gzip;q=0.8, *;q=0.1", true},
      {"*", true},
      {"*;q=0", false},
      {"gzip;q=0, *", false},
      {"identity", false},
      {"br, deflate", false},
      {"", false},
  };
  in_runtime([&] {
    std::string body = text_body(2000);
    TestServer s(http::gzip()(serve_text(body)));
    auto addr = s.start();
    RawClient c(addr);
    for (const Case& k : cases) {
      std::string extra = k.accept ? "Accept-Encoding: " + std::string(k.accept) + "\r\n" : "";
      ASSERT_TRUE(c.send(get_request("/", extra)));
      auto r = c.read_response();
      ASSERT_TRUE(r) << (k.accept ? k.accept : "(none)");
      std::string label = k.accept ? k.accept : "(none)";
      EXPECT_EQ(r->header("Vary"), "Accept-Encoding") << label;
      if (k.gzip) {
        EXPECT_EQ(r->header("Content-Encoding"), "gzip") << label;
        EXPECT_EQ(gunzip(r->body), body) << label;
      } else {
        EXPECT_FALSE(r->has_header("Content-Encoding")) << label;
        EXPECT_EQ(r->body, body) << label;
      }
    }
  });
}

TEST(GzipTest, BodiesBelowMinSizeGoOutAsTheyAre) {
  in_runtime([] {
    std::string small = text_body(255), exact = text_body(256);
    TestServer s(http::gzip()([&](http::ResponseWriter& w, http::Request& r) {
      w.header().set("Content-Type", "text/plain");
      if (r.path() == "/small") {
        (void)w.write(small);
      } else if (r.path() == "/exact") {
        (void)w.write(exact);
      } else if (r.path() == "/pieces") {
        for (int i = 0; i < 30; ++i) (void)w.write("0123456789");  // 300 bytes in all
      } else if (r.path() == "/declared") {
        // A declared length below min_size settles it at once, and stays.
        w.header().set("Content-Length", "100");
        (void)w.write(std::string(100, 'x'));
      }
    }));
    auto addr = s.start();
    RawClient c(addr);
    const std::string ae = "Accept-Encoding: gzip\r\n";

    ASSERT_TRUE(c.send(get_request("/small", ae)));
    auto r = c.read_response();
    ASSERT_TRUE(r);
    EXPECT_FALSE(r->has_header("Content-Encoding"));
    EXPECT_EQ(r->header("Vary"), "Accept-Encoding");
    EXPECT_EQ(r->header("Content-Length"), "255");
    EXPECT_EQ(r->body, small);

    ASSERT_TRUE(c.send(get_request("/exact", ae)));
    r = c.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->header("Content-Encoding"), "gzip");
    EXPECT_EQ(gunzip(r->body), exact);

    ASSERT_TRUE(c.send(get_request("/pieces", ae)));
    r = c.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->header("Content-Encoding"), "gzip");
    std::string pieces;
    for (int i = 0; i < 30; ++i) pieces += "0123456789";
    EXPECT_EQ(gunzip(r->body), pieces);

    ASSERT_TRUE(c.send(get_request("/declared", ae)));
    r = c.read_response();
    ASSERT_TRUE(r);
    EXPECT_FALSE(r->has_header("Content-Encoding"));
    EXPECT_EQ(r->header("Content-Length"), "100");
    EXPECT_EQ(r->body, std::string(100, 'x'));

    ASSERT_TRUE(c.send(get_request("/empty", ae)));
    r = c.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_FALSE(r->has_header("Content-Encoding"));
    EXPECT_EQ(r->body, "");
  });
}

TEST(GzipTest, MinSizeAndLevelAreOptions) {
  in_runtime([] {
    http::GzipOptions opts;
    opts.min_size = 10;
    opts.level = 9;
    TestServer s(http::gzip(opts)(serve_text("twelve bytes")));
    auto addr = s.start();
    auto r = roundtrip(addr, get_request("/", "Accept-Encoding: gzip\r\n"));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->header("Content-Encoding"), "gzip");
    EXPECT_EQ(gunzip(r->body), "twelve bytes");
  });
}

TEST(GzipTest, OnlyListedContentTypesAreCompressed) {
  in_runtime([] {
    std::string body = text_body(3000);
    TestServer s(http::gzip()([&](http::ResponseWriter& w, http::Request& r) {
      std::string_view p = r.path();
      if (p == "/png") {
        w.header().set("Content-Type", "image/png");
      } else if (p == "/json") {
        w.header().set("Content-Type", "Application/JSON; charset=utf-8");
      } else if (p == "/svg") {
        w.header().set("Content-Type", "image/svg+xml");
      } else if (p == "/encoded") {
        w.header().set("Content-Type", "text/plain");
        w.header().set("Content-Encoding", "br");
      } else if (p == "/no-transform") {
        w.header().set("Content-Type", "text/plain");
        w.header().set("Cache-Control", "public, no-transform");
      } else if (p == "/partial") {
        w.header().set("Content-Type", "text/plain");
        w.header().set("Content-Range", "bytes 0-2999/9000");
        w.write_header(206);
      } else if (p == "/no-content") {
        w.header().set("Content-Type", "text/plain");
        w.write_header(204);
        return;
      }
      // "/untyped" sets nothing: the server sniffs the type later.
      (void)w.write(body);
    }));
    auto addr = s.start();
    RawClient c(addr);
    auto fetch = [&](std::string_view path) {
      EXPECT_TRUE(c.send(get_request(path, "Accept-Encoding: gzip\r\n")));
      auto r = c.read_response();
      EXPECT_TRUE(r) << path;
      return r.value_or(RawResponse{});
    };

    for (const char* path : {"/json", "/svg"}) {
      RawResponse r = fetch(path);
      EXPECT_EQ(r.header("Content-Encoding"), "gzip") << path;
      EXPECT_EQ(gunzip(r.body), body) << path;
    }
    for (const char* path : {"/png", "/untyped"}) {
      RawResponse r = fetch(path);
      EXPECT_FALSE(r.has_header("Content-Encoding")) << path;
      EXPECT_FALSE(r.has_header("Vary")) << path;
      EXPECT_EQ(r.body, body) << path;
    }
    RawResponse r = fetch("/encoded");
    EXPECT_EQ(r.header_count("Content-Encoding"), 1u);
    EXPECT_EQ(r.header("Content-Encoding"), "br");
    EXPECT_EQ(r.body, body);

    for (const char* path : {"/no-transform", "/partial"}) {
      r = fetch(path);
      EXPECT_FALSE(r.has_header("Content-Encoding")) << path;
      EXPECT_EQ(r.body, body) << path;
    }
    r = fetch("/partial");
    EXPECT_EQ(r.status, 206);

    r = fetch("/no-content");
    EXPECT_EQ(r.status, 204);
    EXPECT_FALSE(r.has_header("Content-Encoding"));
  });
}

TEST(GzipTest, KeepsAVaryTheHandlerSet) {
  in_runtime([] {
    TestServer s(http::gzip()([](http::ResponseWriter& w, http::Request&) {
      w.header().set("Content-Type", "text/plain");
      w.header().set("Vary", "Origin, accept-encoding");
      (void)w.write(text_body(1000));
    }));
    auto addr = s.start();
    auto r = roundtrip(addr, get_request("/", "Accept-Encoding: gzip\r\n"));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->header_count("Vary"), 1u);
    EXPECT_EQ(r->header("Content-Encoding"), "gzip");
  });
}

TEST(GzipTest, FlushStreamsDecompressiblePieces) {
  in_runtime([] {
    std::string part1 = "event: one\ndata: " + text_body(100, 1) + "\n\n";
    std::string part2 = "event: two\ndata: " + text_body(5000, 2) + "\n\n";
    weft::Chan<int> go_on(1);
    TestServer s(http::gzip()([&](http::ResponseWriter& w, http::Request&) {
      w.header().set("Content-Type", "text/event-stream");
      (void)w.write(part1);
      EXPECT_FALSE(w.flush());
      (void)go_on.recv();  // the test reads part 1 before part 2 is written
      (void)w.write(part2);
    }));
    auto addr = s.start();
    RawClient c(addr);
    ASSERT_TRUE(c.send(get_request("/", "Accept-Encoding: gzip\r\n")));
    auto head = c.read_head();
    ASSERT_TRUE(head);
    EXPECT_TRUE(head->chunked);
    EXPECT_EQ(head->header("Content-Encoding"), "gzip");
    EXPECT_FALSE(head->has_header("Content-Length"));

    // Everything part 1 compressed to arrives, and decompresses, before part 2 exists.
    Inflater z;
    while (z.out().size() < part1.size()) {
      auto chunk = c.read_chunk(*head);
      ASSERT_TRUE(chunk) << c.error();
      ASSERT_FALSE(chunk->empty()) << "the stream ended early";
      ASSERT_TRUE(z.feed(*chunk));
    }
    EXPECT_EQ(z.out(), part1);
    EXPECT_FALSE(z.ended());

    go_on.send(1);
    for (;;) {
      auto chunk = c.read_chunk(*head);
      ASSERT_TRUE(chunk) << c.error();
      if (chunk->empty()) break;
      ASSERT_TRUE(z.feed(*chunk));
    }
    EXPECT_TRUE(z.ended());
    EXPECT_EQ(z.out(), part1 + part2);
  });
}

TEST(GzipTest, PooledCompressorsGiveCorrectOutputEveryTime) {
  in_runtime([] {
    // Sizes from below min_size to several output buffers, on several connections at once.
    TestServer s(http::gzip()([](http::ResponseWriter& w, http::Request& r) {
      int i = std::stoi(std::string(r.query_value("i")));
      std::size_t n = static_cast<std::size_t>(100 + (i * 7919) % 60000);
      std::string body = text_body(n, i);
      w.header().set("Content-Type", "text/plain");
      // Written in uneven pieces, to cross the held-back and the buffer boundaries.
      std::size_t at = 0, step = static_cast<std::size_t>(1 + i % 5000);
      while (at < body.size()) {
        (void)w.write(std::string_view(body).substr(at, step));
        at += step;
      }
    }));
    auto addr = s.start();
    constexpr int kConns = 4, kPerConn = 60;
    std::atomic<int> good{0};
    weft::WaitGroup wg;
    for (int k = 0; k < kConns; ++k) {
      wg.add(1);
      weft::go([&, k] {
        RawClient c(addr);
        for (int j = 0; j < kPerConn; ++j) {
          int i = k * kPerConn + j;
          if (!c.send(get_request("/?i=" + std::to_string(i), "Accept-Encoding: gzip\r\n"))) break;
          auto r = c.read_response();
          if (!r) break;
          std::string want = text_body(static_cast<std::size_t>(100 + (i * 7919) % 60000), i);
          bool gz = r->header("Content-Encoding") == "gzip";
          std::optional<std::string> got = gz ? gunzip(r->body) : std::optional(r->body);
          if (got == want && gz == (want.size() >= 256)) ++good;
        }
        wg.done();
      });
    }
    wg.wait();
    EXPECT_EQ(good.load(), kConns * kPerConn);
  });
}

TEST(GzipTest, LargeBodyStreamsCompressed) {
  in_runtime([] {
    std::string body = text_body(3 << 20, 9);
    TestServer s(http::gzip()(serve_text(body)));
    auto addr = s.start();
    auto r = roundtrip(addr, get_request("/", "Accept-Encoding: gzip\r\n"));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->header("Content-Encoding"), "gzip");
    EXPECT_EQ(gunzip(r->body), body);
  });
}

TEST(GzipTest, HeadGetsTheHeadersOfGet) {
  in_runtime([] {
    std::string body = text_body(4000);
    TestServer s(http::gzip()(serve_text(body)));
    auto addr = s.start();
    RawClient c(addr);
    ASSERT_TRUE(c.send(get_request("/", "Accept-Encoding: gzip\r\n")));
    auto get = c.read_response();
    ASSERT_TRUE(get);
    ASSERT_TRUE(c.send("HEAD / HTTP/1.1\r\nHost: t\r\nAccept-Encoding: gzip\r\n\r\n"));
    auto head = c.read_response("HEAD");
    ASSERT_TRUE(head);
    for (const char* name : {"Content-Encoding", "Content-Length", "Vary", "Content-Type"})
      EXPECT_EQ(head->header(name), get->header(name)) << name;
    // No body bytes followed the head.
    ASSERT_TRUE(c.send(get_request("/")));
    auto next = c.read_response();
    ASSERT_TRUE(next);
    EXPECT_EQ(next->body, body);
    EXPECT_EQ(c.pending(), "");
  });
}

TEST(GzipTest, SendFileIsCompressedOrPassedThrough) {
  std::string body = text_body(40000, 3);
  char path[] = "/tmp/weft_gzip_sendfile_XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(write(fd, body.data(), body.size()), static_cast<ssize_t>(body.size()));
  in_runtime([&] {
    TestServer s(http::gzip()([&](http::ResponseWriter& w, http::Request&) {
      w.header().set("Content-Type", "text/plain");
      w.header().set("Content-Length", std::to_string(body.size()));
      EXPECT_FALSE(w.send_file(fd, 0, body.size()));
    }));
    auto addr = s.start();
    auto r = roundtrip(addr, get_request("/", "Accept-Encoding: gzip\r\n"));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->header("Content-Encoding"), "gzip");
    EXPECT_EQ(gunzip(r->body), body);
    r = roundtrip(addr, get_request("/"));
    ASSERT_TRUE(r);
    EXPECT_FALSE(r->has_header("Content-Encoding"));
    EXPECT_EQ(r->header("Content-Length"), std::to_string(body.size()));
    EXPECT_EQ(r->body, body);
  });
  close(fd);
  unlink(path);
}

TEST(GzipTest, ErrorAnswersStayReadable) {
  in_runtime([] {
    TestServer s(
        http::gzip()([](http::ResponseWriter& w, http::Request& r) { http::not_found(w, r); }));
    auto addr = s.start();
    auto r = roundtrip(addr, get_request("/x", "Accept-Encoding: gzip\r\n"));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 404);
    EXPECT_EQ(r->body, "404 page not found\n");
  });
}

// ---- access_log -------------------------------------------------------------------------------

TEST(AccessLogTest, WritesOneCombinedLogFormatLinePerRequest) {
  in_runtime([] {
    LineSink log;
    TestServer s(http::access_log(log.sink())([](http::ResponseWriter& w, http::Request& r) {
      if (r.path() == "/made") {
        w.write_header(201);
        (void)w.write("hello");
      }
    }));
    auto addr = s.start();
    RawClient c(addr);
    ASSERT_TRUE(c.send(get_request("/made?q=1",
                                   "Referer: http://example.com/from\r\n"
                                   "User-Agent: tester/1.0 \"quoted\"\r\n")));
    ASSERT_TRUE(c.read_response());
    ASSERT_TRUE(c.send(get_request("/nothing")));
    ASSERT_TRUE(c.read_response());
    ASSERT_TRUE(c.send("HEAD /made HTTP/1.0\r\n\r\n"));
    ASSERT_TRUE(c.read_response("HEAD"));

    // The line is written before the response is completed, so it is there by now.
    auto lines = log.get();
    ASSERT_EQ(lines.size(), 3u);
    const std::string stamp = R"(\[\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} \+0000\])";
    EXPECT_TRUE(std::regex_match(
        lines[0], std::regex(R"(127\.0\.0\.1 - - )" + stamp +
                             R"( "GET /made\?q=1 HTTP/1\.1" 201 5 "http://example\.com/from" )"
                             R"("tester/1\.0 \\x22quoted\\x22" \d+\.\d{3})")))
        << lines[0];
    EXPECT_TRUE(std::regex_match(
        lines[1], std::regex(R"(127\.0\.0\.1 - - )" + stamp +
                             R"( "GET /nothing HTTP/1\.1" 200 0 "-" "-" \d+\.\d{3})")))
        << lines[1];
    EXPECT_TRUE(std::regex_match(lines[2],
                                 std::regex(R"(127\.0\.0\.1 - - )" + stamp +
                                            R"( "HEAD /made HTTP/1\.0" 201 0 "-" "-" \d+\.\d{3})")))
        << lines[2];
  });
}

TEST(AccessLogTest, DefaultSinkSendsARecordToTheLogger) {
  weft_test::StderrCapture capture;
  capture.start();
  // The logger's defaults (text on stderr, info), whatever the environment says.
  weft::log::configure({.level = weft::log::Level::kInfo, .format = weft::log::Format::kText});
  in_runtime([] {
    TestServer s(http::access_log()(serve_text("hi")));
    auto addr = s.start();
    ASSERT_TRUE(roundtrip(addr, get_request("/stderr-check")));
  });
  weft::log::flush();
  std::string text = capture.stop();
  EXPECT_THAT(text, HasSubstr(" INFO  request remote=127.0.0.1:"));
  EXPECT_THAT(text, HasSubstr(" method=GET target=/stderr-check proto=HTTP/1.1 status=200 bytes=2 "
                              "duration_ms="));
  EXPECT_EQ(text.back(), '\n');
}

TEST(AccessLogTest, LogsA500WhenTheHandlerThrows) {
  in_runtime([] {
    LineSink log;
    TestServer s(http::access_log(log.sink())(
        [](http::ResponseWriter&, http::Request&) { throw std::runtime_error("no"); }));
    s.server().error_log = [](std::string_view) {};
    auto addr = s.start();
    auto r = roundtrip(addr, get_request("/t"));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 500);
    auto lines = log.get();
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_THAT(lines[0], HasSubstr("\"GET /t HTTP/1.1\" 500 "));
  });
}

// ---- recover ----------------------------------------------------------------------------------

TEST(RecoverTest, AnswersServerErrorAndTheConnectionStaysUsable) {
  in_runtime([] {
    LineSink log, server_log;
    TestServer s(http::recover(log.sink())([](http::ResponseWriter& w, http::Request& r) {
      if (r.path() == "/boom") throw std::runtime_error("boom");
      if (r.path() == "/partial") {
        w.header().set("X-Partial", "1");
        w.write_header(404);
        (void)w.write("half");
        throw std::logic_error("after a write");
      }
      if (r.path() == "/odd") throw 42;
      (void)w.write("ok");
    }));
    s.server().error_log = server_log.sink();
    auto addr = s.start();
    RawClient c(addr);
    for (const char* path : {"/boom", "/partial", "/odd"}) {
      ASSERT_TRUE(c.send(get_request(path)));
      auto r = c.read_response();
      ASSERT_TRUE(r) << path;
      EXPECT_EQ(r->status, 500) << path;
      EXPECT_EQ(r->body, "Internal Server Error\n") << path;
      EXPECT_FALSE(r->has_header("X-Partial")) << path;
      EXPECT_TRUE(r->keep_alive) << path;
    }
    ASSERT_TRUE(c.send(get_request("/fine")));
    auto r = c.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "ok");

    auto lines = log.get();
    ASSERT_EQ(lines.size(), 3u);
    EXPECT_THAT(lines[0], HasSubstr("panic serving 127.0.0.1:"));
    EXPECT_THAT(lines[0], HasSubstr("GET /boom"));
    EXPECT_THAT(lines[0], HasSubstr("boom"));
    EXPECT_THAT(lines[1], HasSubstr("after a write"));
    EXPECT_THAT(lines[2], HasSubstr("unknown type"));
    EXPECT_TRUE(server_log.get().empty()) << "the server saw no exception";
  });
}

TEST(RecoverTest, AfterTheHeadWentOutTheConnectionCloses) {
  in_runtime([] {
    LineSink log;
    TestServer s(http::recover(log.sink())([](http::ResponseWriter& w, http::Request&) {
      (void)w.write("started");
      (void)w.flush();
      throw std::runtime_error("too late");
    }));
    auto addr = s.start();
    RawClient c(addr);
    ASSERT_TRUE(c.send(get_request("/")));
    auto head = c.read_head();
    ASSERT_TRUE(head);
    EXPECT_EQ(head->status, 200);
    auto first = c.read_chunk(*head);
    ASSERT_TRUE(first);
    EXPECT_EQ(*first, "started");
    EXPECT_TRUE(c.wait_closed());
    EXPECT_EQ(log.get().size(), 1u);
  });
}

TEST(RecoverTest, InsideOtherWrappersTheServerEndsTheResponse) {
  in_runtime([] {
    LineSink log;
    // recover sits inside gzip, which holds the partial body: the exception goes on to the
    // server, which answers 500 since nothing went out.
    TestServer s(http::chain(
        [](http::ResponseWriter& w, http::Request&) {
          w.header().set("Content-Type", "text/plain");
          (void)w.write("held back by gzip");
          throw std::runtime_error("inner");
        },
        http::gzip(), http::recover(log.sink())));
    s.server().error_log = [](std::string_view) {};
    auto addr = s.start();
    RawClient c(addr);
    ASSERT_TRUE(c.send(get_request("/", "Accept-Encoding: gzip\r\n")));
    auto r = c.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 500);
    EXPECT_FALSE(r->has_header("Content-Encoding"));
    EXPECT_EQ(r->body, "Internal Server Error\n");
    EXPECT_EQ(log.get().size(), 1u);
  });
}

// ---- timeout ----------------------------------------------------------------------------------

TEST(TimeoutTest, AHandlerOnTimeAnswersAsUsual) {
  in_runtime([] {
    TestServer s(http::timeout(30s)([](http::ResponseWriter& w, http::Request& r) {
      w.header().set("X-Handler", "yes");
      w.header().set("Content-Type", "text/plain");
      w.write_header(201);
      (void)w.write("made it");
      (void)w.write(r.context().deadline() ? " with a deadline" : " without a deadline");
    }));
    auto addr = s.start();
    RawClient c(addr);
    for (int i = 0; i < 3; ++i) {
      ASSERT_TRUE(c.send(get_request("/")));
      auto r = c.read_response();
      ASSERT_TRUE(r);
      EXPECT_EQ(r->status, 201);
      EXPECT_EQ(r->header("X-Handler"), "yes");
      EXPECT_EQ(r->body, "made it with a deadline");
      EXPECT_TRUE(r->keep_alive);
    }
  });
}

TEST(TimeoutTest, ALateHandlerGets503AtOnceAndIsCancelled) {
  in_runtime([] {
    weft::Chan<int> release(1);
    weft::Chan<std::error_code> cancelled(1), late_write(1);
    std::atomic<bool> finished{false};
    TestServer s(http::timeout(50ms, "too slow")([&](http::ResponseWriter& w, http::Request& r) {
      w.header().set("X-Handler", "yes");
      (void)w.write("early");
      const weft::Context& ctx = r.context();
      ctx.wait();  // until the timeout cancels it
      cancelled.send(ctx.err());
      (void)release.recv();  // the test lets go once it has the 503
      auto n = w.write("late");
      late_write.send(n ? std::error_code() : n.error());
      finished = true;
    }));
    auto addr = s.start();
    RawClient c(addr);
    ASSERT_TRUE(c.send(get_request("/slow")));
    auto r = c.read_response();
    ASSERT_TRUE(r) << c.error();
    // The handler is still blocked on release: the 503 came before it finished.
    EXPECT_FALSE(finished.load());
    EXPECT_EQ(r->status, 503);
    EXPECT_EQ(r->body, "too slow\n");
    EXPECT_FALSE(r->has_header("X-Handler"));
    EXPECT_EQ(r->header("Connection"), "close");

    EXPECT_EQ(cancelled.recv(), std::make_error_code(std::errc::timed_out));
    release.send(1);
    EXPECT_EQ(late_write.recv(), std::make_error_code(std::errc::timed_out));
    // The connection ends once the handler has returned.
    EXPECT_TRUE(c.wait_closed());
    EXPECT_EQ(c.pending(), "");
  });
}

TEST(TimeoutTest, HandlerExceptionsReachTheLayersOutside) {
  in_runtime([] {
    LineSink log;
    TestServer s(http::chain(
        [](http::ResponseWriter& w, http::Request& r) {
          if (r.path() == "/throw") throw std::runtime_error("inner failure");
          (void)w.write("fine");
        },
        http::recover(log.sink()), http::timeout(30s)));
    auto addr = s.start();
    RawClient c(addr);
    ASSERT_TRUE(c.send(get_request("/throw")));
    auto r = c.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 500);
    ASSERT_TRUE(c.send(get_request("/ok")));
    r = c.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->body, "fine");
    auto lines = log.get();
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_THAT(lines[0], HasSubstr("inner failure"));
  });
}

TEST(TimeoutTest, TheOuterContextComesBackAfterwards) {
  in_runtime([] {
    std::atomic<bool> outer_done{true};
    http::Handler inner = [](http::ResponseWriter& w, http::Request&) { (void)w.write("x"); };
    TestServer s([&, h = http::timeout(30s)(inner)](http::ResponseWriter& w, http::Request& r) {
      h(w, r);
      outer_done = r.context().is_done() || r.context().deadline().has_value();
    });
    auto addr = s.start();
    auto r = roundtrip(addr, get_request("/"));
    ASSERT_TRUE(r);
    EXPECT_FALSE(outer_done.load());
  });
}

// ---- request_id -------------------------------------------------------------------------------

TEST(RequestIdTest, GeneratesKeepsAndEchoesIds) {
  in_runtime([] {
    TestServer s(http::request_id()([](http::ResponseWriter& w, http::Request& r) {
      (void)w.write(std::string(http::request_id_of(r)));
    }));
    auto addr = s.start();
    RawClient c(addr);
    auto fetch = [&](const std::string& extra) {
      EXPECT_TRUE(c.send(get_request("/", extra)));
      auto r = c.read_response();
      EXPECT_TRUE(r);
      return r.value_or(RawResponse{});
    };
    const std::regex fresh("[0-9a-f]{32}");

    RawResponse a = fetch("");
    EXPECT_TRUE(std::regex_match(a.header("X-Request-Id"), fresh)) << a.header("X-Request-Id");
    EXPECT_EQ(a.body, a.header("X-Request-Id"));
    RawResponse b = fetch("");
    EXPECT_TRUE(std::regex_match(b.body, fresh));
    EXPECT_NE(a.body, b.body);

    RawResponse kept = fetch("X-Request-Id: abc-123.X_y\r\n");
    EXPECT_EQ(kept.header("X-Request-Id"), "abc-123.X_y");
    EXPECT_EQ(kept.body, "abc-123.X_y");

    std::string longest(128, 'a');
    EXPECT_EQ(fetch("X-Request-Id: " + longest + "\r\n").body, longest);

    for (const std::string& bad : {std::string("bad id!"), std::string(129, 'a'),
                                   std::string("a/b"), std::string("\"q\"")}) {
      RawResponse r = fetch("X-Request-Id: " + bad + "\r\n");
      EXPECT_TRUE(std::regex_match(r.body, fresh)) << bad;
      EXPECT_EQ(r.header("X-Request-Id"), r.body) << bad;
    }
  });
}

TEST(RequestIdTest, TakesTheHeaderName) {
  in_runtime([] {
    TestServer s(http::request_id("X-Trace")([](http::ResponseWriter& w, http::Request& r) {
      (void)w.write(std::string(http::request_id_of(r)));
    }));
    auto addr = s.start();
    auto r = roundtrip(addr, get_request("/", "X-Trace: t-1\r\n"));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->header("X-Trace"), "t-1");
    EXPECT_FALSE(r->has_header("X-Request-Id"));
    EXPECT_EQ(r->body, "t-1");
  });
}

TEST(RequestIdTest, NoIdWithoutTheMiddleware) {
  http::Request r;
  EXPECT_EQ(http::request_id_of(r), "");
}

// ---- strip_prefix -----------------------------------------------------------------------------

TEST(StripPrefixTest, ServesTheRestOfThePathAnd404sOthers) {
  in_runtime([] {
    // Written by the handler's task, read by the test's: the socket orders the two, but
    // ThreadSanitizer cannot see through a socket, so a lock says it.
    std::mutex mu;
    std::string outer_path;
    http::Handler inner = [](http::ResponseWriter& w, http::Request& r) {
      (void)w.write(std::string(r.path()) + "|" + std::string(r.raw_path()) + "|" +
                    std::string(r.raw_query()));
    };
    TestServer s(
        [&, h = http::strip_prefix("/api", inner)](http::ResponseWriter& w, http::Request& r) {
          h(w, r);
          std::lock_guard lock(mu);
          outer_path = std::string(r.path()) + "|" + std::string(r.raw_path());
        });
    auto addr = s.start();
    RawClient c(addr);
    auto fetch = [&](std::string_view target) {
      EXPECT_TRUE(c.send(get_request(target)));
      auto r = c.read_response();
      EXPECT_TRUE(r) << target;
      return r.value_or(RawResponse{});
    };
    EXPECT_EQ(fetch("/api/x%20y?q=1").body, "/x y|/x%20y|q=1");
    {
      std::lock_guard lock(mu);
      EXPECT_EQ(outer_path, "/api/x y|/api/x%20y");
    }
    EXPECT_EQ(fetch("/api").body, "||");
    EXPECT_EQ(fetch("/%61pi/z").body, "/z|/z|");  // the prefix matches the decoded path
    RawResponse other = fetch("/other/x");
    EXPECT_EQ(other.status, 404);
    EXPECT_EQ(other.body, "404 page not found\n");
  });
}

TEST(StripPrefixTest, WorksInFrontOfAMux) {
  in_runtime([] {
    http::ServeMux mux;
    mux.handle("GET /file/{name}", [](http::ResponseWriter& w, http::Request& r) {
      (void)w.write("file " + std::string(r.path_value("name")));
    });
    TestServer s(http::strip_prefix("/static", mux));
    auto addr = s.start();
    auto r = roundtrip(addr, get_request("/static/file/a.txt"));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->body, "file a.txt");
  });
}

// ---- all together -----------------------------------------------------------------------------

TEST(MiddlewareChainTest, TheBuiltinsComposeInOneChain) {
  in_runtime([] {
    LineSink access, panics;
    std::string body = text_body(4000, 5);
    TestServer s(http::chain(
        [&](http::ResponseWriter& w, http::Request& r) {
          w.header().set("Content-Type", "text/plain");
          w.header().set("X-Seen-Id", std::string(http::request_id_of(r)));
          (void)w.write(std::string(r.path()) + "\n" + body);
        },
        http::access_log(access.sink()), http::recover(panics.sink()), http::request_id(),
        http::gzip(), http::timeout(30s)));
    auto addr = s.start();
    auto r = roundtrip(addr, get_request("/chain", "Accept-Encoding: gzip\r\n"));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->header("Content-Encoding"), "gzip");
    EXPECT_EQ(gunzip(r->body), "/chain\n" + body);
    EXPECT_EQ(r->header("X-Seen-Id"), r->header("X-Request-Id"));
    auto lines = access.get();
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_THAT(lines[0],
                HasSubstr("\"GET /chain HTTP/1.1\" 200 " + std::to_string(r->body.size())));
    EXPECT_TRUE(panics.get().empty());
  });
}

}  // namespace
