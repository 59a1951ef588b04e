// Client against real servers on loopback: bodies, headers, chunked and until-close responses,
// gzip, redirects, the connection pool, the retry on a reused connection, timeouts, malformed
// and oversized responses, URLs, and many tasks sharing one Client.
#include "weft/http/client.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "http/http_test_util.h"

namespace {

// The size of a container a server handler fills under mu. The client learns of the insert
// through the socket, which TSan cannot see, so the read takes the lock too.
template <class Mutex, class Container>
std::size_t locked_size(Mutex& mu, const Container& c) {
  std::lock_guard<Mutex> g(mu);
  return c.size();
}

using weft_test::parallel_gets;
using weft_test::TestServer;
using weft_test::url_of;
using weft_test::wait_for_whole_batch;
namespace http = weft::http;
using http::Client;
using http::ClientError;
using http::ClientRequest;

// Echoes the method, the target and the body as "METHOD target\nbody".
void echo(http::ResponseWriter& w, http::Request& r) {
  auto body = r.body().read_all();
  w.header().set("X-Content-Type", r.header("Content-Type"));
  (void)w.write(std::string(r.method()) + " " + std::string(r.target()) + "\n" +
                (body ? body.value() : "<body error>"));
}

// gzip-compresses in with zlib (several members when split > 0: one per split bytes).
std::string gzip_bytes(std::string_view in, std::size_t split = 0) {
  std::string out;
  std::size_t step = split == 0 ? in.size() : split;
  for (std::size_t off = 0; off < in.size() || (off == 0 && in.empty());) {
    std::string_view part = in.substr(off, step);
    z_stream zs{};
    deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
    std::string buf(deflateBound(&zs, part.size()) + 64, '\0');
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(part.data()));
    zs.avail_in = static_cast<uInt>(part.size());
    zs.next_out = reinterpret_cast<Bytef*>(buf.data());
    zs.avail_out = static_cast<uInt>(buf.size());
    deflate(&zs, Z_FINISH);
    buf.resize(zs.total_out);
    deflateEnd(&zs);
    out += buf;
    off += part.size();
    if (part.empty()) break;
  }
  return out;
}

// Reads one request (head and Content-Length body) from a raw connection; false at EOF or on
// an error.
bool read_request(weft::net::Conn& c, std::string& buf, std::string* method = nullptr) {
  http::RequestHead head;
  http::ParseError err;
  long n;
  char tmp[4096];
  for (;;) {
    n = http::parse_request_head(buf, http::ParseLimits{}, head, err);
    if (n < 0) return false;
    if (n > 0) break;
    auto r = c.read(tmp, sizeof tmp);
    if (!r || r.value() == 0) return false;
    buf.append(tmp, r.value());
  }
  if (method) method->assign(head.method);
  std::size_t need = static_cast<std::size_t>(n) + static_cast<std::size_t>(head.content_length);
  while (buf.size() < need) {
    auto r = c.read(tmp, sizeof tmp);
    if (!r || r.value() == 0) return false;
    buf.append(tmp, r.value());
  }
  buf.erase(0, need);
  return true;
}

// RawServer accepts loopback connections and runs fn(conn, index) in a task for each (index
// counts from 0). Connections get a 10 s deadline so no task outlives a test for long.
class RawServer {
 public:
  using Fn = std::function<void(weft::net::Conn&, int)>;
  explicit RawServer(Fn fn) : fn_(std::move(fn)) {}
  ~RawServer() {
    listener_.close();
    done_.wait();
  }

  std::string start(std::string_view addr = "127.0.0.1:0") {
    auto l = weft::net::listen(addr);
    if (!l) return "";
    listener_ = std::move(l.value());
    done_.add(1);
    weft::go([this] {
      for (;;) {
        auto c = listener_.accept();
        if (!c) break;
        auto conn = std::make_shared<weft::net::Conn>(std::move(c.value()));
        conn->set_deadline(weft::net::Clock::now() + std::chrono::seconds(10));
        int index = accepted_.fetch_add(1);
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
  int connections() const { return accepted_.load(); }

 private:
  Fn fn_;
  weft::net::Listener listener_;
  std::atomic<int> accepted_{0};
  weft::WaitGroup done_;
};

// A server that reads one request per connection and answers with the canned bytes.
RawServer::Fn canned(const std::string& response) {
  return [response](weft::net::Conn& c, int) {
    std::string buf;
    if (read_request(c, buf)) (void)c.write(response);
  };
}

TEST(HttpClient, GetAndPostRoundTripWithEcho) {
  weft::run([] {
    TestServer s(echo);
    auto addr = s.start();
    Client client;
    auto r = client.get(url_of(addr, "/hello?x=1&y=two"));
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->reason, "OK");
    EXPECT_EQ(r->minor_version, 1);
    EXPECT_EQ(r->body, "GET /hello?x=1&y=two\n");
    EXPECT_EQ(r->url, url_of(addr, "/hello?x=1&y=two"));

    auto p = client.post(url_of(addr, "/submit"), "application/json", R"({"a":1})");
    ASSERT_TRUE(p) << p.error().message();
    EXPECT_EQ(p->status, 200);
    EXPECT_EQ(p->body, "POST /submit\n{\"a\":1}");
    EXPECT_EQ(p->headers.get("X-Content-Type"), "application/json");

    // No path means "/"; a fragment is not sent.
    auto root = client.get("http://" + addr + "#frag");
    ASSERT_TRUE(root);
    EXPECT_EQ(root->body, "GET /\n");

    ClientRequest put;
    put.method = "PUT";
    put.url = url_of(addr, "/item");
    auto u = client.send(put);
    ASSERT_TRUE(u);
    EXPECT_EQ(u->body, "PUT /item\n");
  });
}

TEST(HttpClient, HeadersRoundTrip) {
  weft::run([] {
    TestServer s([](http::ResponseWriter& w, http::Request& r) {
      w.header().set("X-Host", r.host());
      w.header().set("X-UA", r.header("User-Agent"));
      w.header().set("X-Custom", r.header("X-Custom"));
      w.header().set("X-CL", r.header("Content-Length"));
      w.header().add("X-Multi", "a");
      w.header().add("X-Multi", "b");
      w.write_header(201);
    });
    auto addr = s.start();
    Client client;
    auto r = client.get(url_of(addr, "/"));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 201);
    EXPECT_EQ(r->reason, "Created");
    EXPECT_EQ(r->headers.get("X-Host"), addr);
    EXPECT_EQ(r->headers.get("X-UA"), "weft-http-client/0.1");
    EXPECT_EQ(r->headers.get("X-CL"), "");
    auto multi = r->headers.values("x-multi");
    ASSERT_EQ(multi.size(), 2u);
    EXPECT_EQ(multi[0], "a");
    EXPECT_EQ(multi[1], "b");

    ClientRequest req;
    req.url = url_of(addr, "/");
    req.headers.set("User-Agent", "custom-agent/2");
    req.headers.set("X-Custom", "value with spaces");
    req.headers.set("Host", "virtual.example");
    auto c = client.send(req);
    ASSERT_TRUE(c);
    EXPECT_EQ(c->headers.get("X-UA"), "custom-agent/2");
    EXPECT_EQ(c->headers.get("X-Custom"), "value with spaces");
    EXPECT_EQ(c->headers.get("X-Host"), "virtual.example");

    // An empty POST still says how long its body is.
    auto p = client.post(url_of(addr, "/"), "text/plain", "");
    ASSERT_TRUE(p);
    EXPECT_EQ(p->headers.get("X-CL"), "0");
  });
}

TEST(HttpClient, ChunkedResponseFromAFlushingHandler) {
  weft::run([] {
    TestServer s([](http::ResponseWriter& w, http::Request&) {
      for (int i = 0; i < 50; ++i) {
        (void)w.write("part" + std::to_string(i) + ";");
        (void)w.flush();
      }
    });
    auto addr = s.start();
    Client client;
    std::string want;
    for (int i = 0; i < 50; ++i) want += "part" + std::to_string(i) + ";";
    for (int round = 0; round < 3; ++round) {
      auto r = client.get(url_of(addr, "/"));
      ASSERT_TRUE(r) << r.error().message();
      EXPECT_EQ(r->headers.get("Transfer-Encoding"), "chunked");
      EXPECT_EQ(r->body, want);
    }
    EXPECT_EQ(client.idle_connections(), 1u);
  });
}

TEST(HttpClient, LargeBodiesBothWays) {
  weft::run([] {
    std::string big(5 * 1024 * 1024 + 17, '\0');
    for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + i % 26);
    TestServer s([&](http::ResponseWriter& w, http::Request& r) {
      if (r.method() == "POST") {
        auto body = r.body().read_all();
        (void)w.write(body
                          ? std::to_string(body->size()) + (body.value() == big ? " same" : " diff")
                          : "error");
        return;
      }
      w.header().set("Content-Type", "application/octet-stream");
      (void)w.write(big);
    });
    auto addr = s.start();
    Client client;
    auto r = client.get(url_of(addr, "/big"));
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r->body.size(), big.size());
    EXPECT_TRUE(r->body == big);

    auto p = client.post(url_of(addr, "/up"), "application/octet-stream", big);
    ASSERT_TRUE(p) << p.error().message();
    EXPECT_EQ(p->body, std::to_string(big.size()) + " same");
  });
}

TEST(HttpClient, GzipIsRequestedAndDecodedTransparently) {
  weft::run([] {
    std::string text;
    for (int i = 0; i < 2000; ++i)
      text += "line " + std::to_string(i) + " of a compressible body\n";
    std::atomic<int> asked{0};
    http::Handler plain = [&](http::ResponseWriter& w, http::Request& r) {
      if (r.header("Accept-Encoding") == "gzip") ++asked;
      w.header().set("Content-Type", "text/plain");
      (void)w.write(text);
    };
    TestServer s(http::chain(plain, http::gzip()));
    auto addr = s.start();

    Client client;
    auto r = client.get(url_of(addr, "/"));
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r->body, text);
    EXPECT_FALSE(r->headers.has("Content-Encoding"));
    EXPECT_FALSE(r->headers.has("Content-Length"));
    EXPECT_EQ(asked.load(), 1);

    // Off: no Accept-Encoding goes out, so the body comes back as it is.
    Client raw;
    raw.decompress = false;
    auto n = raw.get(url_of(addr, "/"));
    ASSERT_TRUE(n);
    EXPECT_EQ(n->body, text);
    EXPECT_EQ(asked.load(), 1);

    // A caller that asks for gzip itself gets the compressed bytes.
    ClientRequest req;
    req.url = url_of(addr, "/");
    req.headers.set("Accept-Encoding", "gzip");
    auto g = client.send(req);
    ASSERT_TRUE(g);
    EXPECT_EQ(g->headers.get("Content-Encoding"), "gzip");
    EXPECT_NE(g->body, text);
    EXPECT_EQ(asked.load(), 2);
  });
}

TEST(HttpClient, GzipMembersCorruptionAndBombs) {
  weft::run([] {
    std::string text(300000, 'z');
    for (std::size_t i = 0; i < text.size(); i += 7) text[i] = 'q';
    std::string members = gzip_bytes(text, 100000);
    std::string corrupt = gzip_bytes(text);
    corrupt[corrupt.size() / 2] ^= 0x55;
    std::string truncated = gzip_bytes(text);
    truncated.resize(truncated.size() - 12);
    TestServer s([&](http::ResponseWriter& w, http::Request& r) {
      w.header().set("Content-Encoding", "gzip");
      if (r.path() == "/members") (void)w.write(members);
      if (r.path() == "/corrupt") (void)w.write(corrupt);
      if (r.path() == "/truncated") (void)w.write(truncated);
      if (r.path() == "/garbage") (void)w.write("definitely not gzip");
    });
    auto addr = s.start();
    Client client;
    auto m = client.get(url_of(addr, "/members"));
    ASSERT_TRUE(m) << m.error().message();
    EXPECT_TRUE(m->body == text);
    for (const char* path : {"/corrupt", "/truncated", "/garbage"}) {
      auto r = client.get(url_of(addr, path));
      ASSERT_FALSE(r) << path;
      EXPECT_EQ(r.error(), ClientError::kMalformedResponse) << path << ": " << r.error().message();
    }
    // The compressed body fits, the decoded one does not.
    client.max_response_bytes = 100000;
    auto bomb = client.get(url_of(addr, "/members"));
    ASSERT_FALSE(bomb);
    EXPECT_EQ(bomb.error(), ClientError::kResponseTooLarge);
  });
}

TEST(HttpClient, FollowsRedirects) {
  weft::run([] {
    std::atomic<int> loops{0};
    TestServer s([&](http::ResponseWriter& w, http::Request& r) {
      std::string_view p = r.path();
      // The server's own address, as the client named it (the test's copy is written after
      // the server task started, so the handler must not read it).
      const std::string addr(r.host());
      auto to = [&](int code, const std::string& loc) {
        w.header().set("Location", loc);
        w.write_header(code);
        (void)w.write("redirect body");
      };
      if (p == "/abs") return to(302, "http://" + addr + "/final?from=abs");
      if (p == "/dir/rel") return to(301, "../final?from=rel");
      if (p == "/dir/sibling") return to(308, "sib#frag");
      if (p == "/dir/sib") return to(302, "//" + addr + "/final?from=sib");
      if (p == "/see-other") return to(303, "/final?from=303");
      if (p == "/found") return to(302, "/final?from=302");
      if (p == "/temp") return to(307, "/final?from=307");
      if (p == "/chain") return to(302, "/abs");
      if (p == "/loop") {
        ++loops;
        return to(302, "/loop");
      }
      if (p == "/nolocation") return w.write_header(302);
      auto body = r.body().read_all();
      w.header().set("X-Content-Type", r.header("Content-Type"));
      w.header().set("X-Auth", r.header("Authorization"));
      (void)w.write(std::string(r.method()) + " " + std::string(r.target()) + " [" +
                    (body ? body.value() : "?") + "]");
    });
    const std::string addr = s.start();
    Client client;

    auto a = client.get(url_of(addr, "/abs"));
    ASSERT_TRUE(a) << a.error().message();
    EXPECT_EQ(a->status, 200);
    EXPECT_EQ(a->body, "GET /final?from=abs []");
    EXPECT_EQ(a->url, url_of(addr, "/final?from=abs"));

    auto rel = client.get(url_of(addr, "/dir/rel"));
    ASSERT_TRUE(rel);
    EXPECT_EQ(rel->body, "GET /final?from=rel []");

    auto sib = client.get(url_of(addr, "/dir/sibling"));
    ASSERT_TRUE(sib);
    EXPECT_EQ(sib->body, "GET /final?from=sib []");
    EXPECT_EQ(sib->url, url_of(addr, "/final?from=sib"));

    auto chain = client.get(url_of(addr, "/chain"));
    ASSERT_TRUE(chain);
    EXPECT_EQ(chain->body, "GET /final?from=abs []");

    // 303 turns a POST into a GET without body or body headers.
    auto see = client.post(url_of(addr, "/see-other"), "text/plain", "payload");
    ASSERT_TRUE(see);
    EXPECT_EQ(see->body, "GET /final?from=303 []");
    EXPECT_EQ(see->headers.get("X-Content-Type"), "");

    // So does 302 (as browsers and Go do).
    auto found = client.post(url_of(addr, "/found"), "text/plain", "payload");
    ASSERT_TRUE(found);
    EXPECT_EQ(found->body, "GET /final?from=302 []");

    // 307 keeps the method, the body and the headers.
    ClientRequest req;
    req.method = "POST";
    req.url = url_of(addr, "/temp");
    req.body = "keep me";
    req.headers.set("Content-Type", "text/plain");
    req.headers.set("Authorization", "Bearer t");
    auto temp = client.send(req);
    ASSERT_TRUE(temp);
    EXPECT_EQ(temp->body, "POST /final?from=307 [keep me]");
    EXPECT_EQ(temp->headers.get("X-Content-Type"), "text/plain");
    EXPECT_EQ(temp->headers.get("X-Auth"), "Bearer t");

    // A redirect without Location is the answer.
    auto nl = client.get(url_of(addr, "/nolocation"));
    ASSERT_TRUE(nl);
    EXPECT_EQ(nl->status, 302);

    auto loop = client.get(url_of(addr, "/loop"));
    ASSERT_FALSE(loop);
    EXPECT_EQ(loop.error(), ClientError::kTooManyRedirects);
    EXPECT_EQ(loops.load(), 11);  // the request and 10 redirects

    // max_redirects = 0 hands back the redirect itself.
    Client no_follow;
    no_follow.max_redirects = 0;
    auto first = no_follow.get(url_of(addr, "/abs"));
    ASSERT_TRUE(first);
    EXPECT_EQ(first->status, 302);
    EXPECT_EQ(first->headers.get("Location"), "http://" + addr + "/final?from=abs");
    EXPECT_EQ(first->body, "redirect body");

    // Redirect hops reuse the connection.
    EXPECT_EQ(client.idle_connections(), 1u);
  });
}

TEST(HttpClient, RedirectToAnotherHostDropsCredentials) {
  weft::run([] {
    TestServer target([](http::ResponseWriter& w, http::Request& r) {
      (void)w.write("auth=" + std::string(r.header("Authorization")) + " cookie=" +
                    std::string(r.header("Cookie")) + " host=" + std::string(r.host()));
    });
    auto target_addr = target.start();
    // "localhost" is another host name for the same server.
    std::string other = "localhost:" + target_addr.substr(target_addr.rfind(':') + 1);
    TestServer origin([&](http::ResponseWriter& w, http::Request&) {
      w.header().set("Location", "http://" + other + "/x");
      w.write_header(302);
    });
    auto origin_addr = origin.start();
    Client client;
    ClientRequest req;
    req.url = url_of(origin_addr, "/");
    req.headers.set("Authorization", "secret");
    req.headers.set("Cookie", "a=b");
    auto r = client.send(req);
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r->body, "auth= cookie= host=" + other);
  });
}

TEST(HttpClient, PoolReusesOneConnectionForSequentialCalls) {
  weft::run([] {
    std::mutex mu;
    std::set<std::string> peers;
    TestServer s([&](http::ResponseWriter& w, http::Request& r) {
      {
        std::lock_guard<std::mutex> g(mu);
        peers.insert(std::string(r.remote_addr()));
      }
      (void)w.write("ok");
    });
    auto addr = s.start();
    Client client;
    for (int i = 0; i < 10; ++i) {
      auto r = client.get(url_of(addr, "/"));
      ASSERT_TRUE(r);
      EXPECT_EQ(r->body, "ok");
    }
    EXPECT_EQ(locked_size(mu, peers), 1u);
    EXPECT_EQ(client.idle_connections(), 1u);

    // Copies share the pool.
    Client copy = client;
    ASSERT_TRUE(copy.get(url_of(addr, "/")));
    EXPECT_EQ(locked_size(mu, peers), 1u);

    client.close_idle_connections();
    EXPECT_EQ(client.idle_connections(), 0u);
    ASSERT_TRUE(client.get(url_of(addr, "/")));
    EXPECT_EQ(locked_size(mu, peers), 2u);

    // A request that says "Connection: close" does not leave its connection behind.
    client.close_idle_connections();
    ClientRequest req;
    req.url = url_of(addr, "/");
    req.headers.set("Connection", "close");
    ASSERT_TRUE(client.send(req));
    EXPECT_EQ(client.idle_connections(), 0u);
  });
}

TEST(HttpClient, PoolKeepsAtMostMaxIdlePerHost) {
  weft::run([] {
    constexpr int kParallel = 6;
    std::atomic<int> arrived{0};
    std::mutex mu;
    std::set<std::string> peers;
    TestServer s([&](http::ResponseWriter& w, http::Request& r) {
      {
        std::lock_guard<std::mutex> g(mu);
        peers.insert(std::string(r.remote_addr()));
      }
      wait_for_whole_batch(arrived, kParallel);
      (void)w.write("ok");
    });
    auto addr = s.start();
    Client client;
    client.max_idle_per_host = 2;
    auto batch = [&] { return parallel_gets(client, url_of(addr, "/"), kParallel); };
    EXPECT_EQ(batch(), kParallel);
    EXPECT_EQ(locked_size(mu, peers), static_cast<std::size_t>(kParallel));
    EXPECT_EQ(client.idle_connections(), 2u);
    // The second batch reuses the two idle connections and dials the rest.
    EXPECT_EQ(batch(), kParallel);
    EXPECT_EQ(locked_size(mu, peers), static_cast<std::size_t>(2 * kParallel - 2));
    EXPECT_EQ(client.idle_connections(), 2u);
  });
}

TEST(HttpClient, IdleTimeoutDropsOldConnections) {
  weft::run([] {
    std::mutex mu;
    std::set<std::string> peers;
    TestServer s([&](http::ResponseWriter& w, http::Request& r) {
      std::lock_guard<std::mutex> g(mu);
      peers.insert(std::string(r.remote_addr()));
    });
    auto addr = s.start();
    Client client;
    client.idle_timeout = std::chrono::milliseconds(50);
    ASSERT_TRUE(client.get(url_of(addr, "/")));
    ASSERT_TRUE(client.get(url_of(addr, "/")));
    EXPECT_EQ(locked_size(mu, peers), 1u);
    weft::sleep_for(std::chrono::milliseconds(200));
    ASSERT_TRUE(client.get(url_of(addr, "/")));
    EXPECT_EQ(locked_size(mu, peers), 2u);

    // idle_timeout 0 keeps nothing.
    Client none;
    none.idle_timeout = std::chrono::nanoseconds(0);
    ASSERT_TRUE(none.get(url_of(addr, "/")));
    ASSERT_TRUE(none.get(url_of(addr, "/")));
    EXPECT_EQ(none.idle_connections(), 0u);
    EXPECT_EQ(locked_size(mu, peers), 4u);
  });
}

TEST(HttpClient, ConnectionsTheServerClosesAreNotReused) {
  weft::run([] {
    for (const char* response :
         {"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
          "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok"}) {
      RawServer server(canned(response));
      auto addr = server.start();
      Client client;
      for (int i = 0; i < 2; ++i) {
        auto r = client.get(url_of(addr, "/"));
        ASSERT_TRUE(r) << r.error().message();
        EXPECT_EQ(r->body, "ok");
        EXPECT_EQ(client.idle_connections(), 0u);
      }
      EXPECT_EQ(server.connections(), 2) << response;
    }
  });
}

// The first connection answers one request with keep-alive, then reads the next request and
// closes without answering (as a server whose idle timeout fired just then would); later
// connections answer normally.
void close_after_first(weft::net::Conn& c, int index) {
  std::string buf;
  if (index == 0) {
    if (!read_request(c, buf)) return;
    (void)c.write("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst");
    (void)read_request(c, buf);
    return;
  }
  while (read_request(c, buf)) (void)c.write("HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecond");
}

TEST(HttpClient, IdempotentRequestIsRetriedOnceOnAFreshConnection) {
  weft::run([] {
    RawServer server(close_after_first);
    auto addr = server.start();
    Client client;
    auto a = client.get(url_of(addr, "/"));
    ASSERT_TRUE(a) << a.error().message();
    EXPECT_EQ(a->body, "first");
    EXPECT_EQ(client.idle_connections(), 1u);
    auto b = client.get(url_of(addr, "/"));
    ASSERT_TRUE(b) << b.error().message();
    EXPECT_EQ(b->body, "second");
    EXPECT_EQ(server.connections(), 2);
    client.close_idle_connections();
  });
}

TEST(HttpClient, PostIsNotRetried) {
  weft::run([] {
    RawServer server(close_after_first);
    auto addr = server.start();
    Client client;
    auto a = client.post(url_of(addr, "/"), "text/plain", "one");
    ASSERT_TRUE(a) << a.error().message();
    EXPECT_EQ(a->body, "first");
    auto b = client.post(url_of(addr, "/"), "text/plain", "two");
    ASSERT_FALSE(b);
    EXPECT_EQ(server.connections(), 1);
  });
}

TEST(HttpClient, OverallTimeout) {
  weft::run([] {
    TestServer s([](http::ResponseWriter& w, http::Request& r) {
      if (r.path() == "/slow") {
        (void)weft::select(weft::on_recv(r.context().done(), [](auto) {}),
                           weft::on_timeout(std::chrono::seconds(10), [] {}));
      }
      (void)w.write("late");
    });
    auto addr = s.start();
    Client client;
    client.timeout = std::chrono::milliseconds(200);
    auto start = weft::Clock::now();
    auto r = client.get(url_of(addr, "/slow"));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error(), std::errc::timed_out) << r.error().message();
    EXPECT_LT(weft::Clock::now() - start, std::chrono::seconds(8));
    // The timed-out connection is gone; the client still works.
    EXPECT_EQ(client.idle_connections(), 0u);
    auto ok = client.get(url_of(addr, "/fast"));
    ASSERT_TRUE(ok) << ok.error().message();
    EXPECT_EQ(ok->body, "late");
  });
}

TEST(HttpClient, MalformedResponsesAreErrors) {
  weft::run([] {
    struct Case {
      const char* name;
      std::string response;
      std::error_code want;
    };
    std::vector<Case> cases = {
        {"cl+te",
         "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
         ClientError::kMalformedResponse},
        {"bare lf", "HTTP/1.1 200 OK\nContent-Length: 2\n\nhi", ClientError::kMalformedResponse},
        {"two lengths", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nhi",
         ClientError::kMalformedResponse},
        {"bad chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhi\r\n0\r\n\r\n",
         ClientError::kMalformedResponse},
        {"bad version", "HTTP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n",
         ClientError::kMalformedResponse},
        {"bad status", "HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n",
         ClientError::kMalformedResponse},
        {"folded", "HTTP/1.1 200 OK\r\nX-A: 1\r\n 2\r\nContent-Length: 0\r\n\r\n",
         ClientError::kMalformedResponse},
        {"not http", "SSH-2.0-OpenSSH\r\n\r\n", ClientError::kMalformedResponse},
        {"truncated head", "HTTP/1.1 200 OK\r\nContent-Len", ClientError::kMalformedResponse},
        {"truncated body", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhi",
         http::BodyError::kTruncated},
        {"nothing", "", std::make_error_code(std::errc::connection_reset)},
    };
    for (const auto& c : cases) {
      RawServer server(canned(c.response));
      auto addr = server.start();
      Client client;
      auto r = client.get(url_of(addr, "/"));
      ASSERT_FALSE(r) << c.name;
      EXPECT_EQ(r.error(), c.want) << c.name << ": " << r.error().message();
    }
  });
}

TEST(HttpClient, InterimResponsesAreSkippedAndUntilCloseBodiesRead) {
  weft::run([] {
    RawServer interim(
        canned("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n"
               "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"));
    auto a = interim.start();
    Client client;
    auto r = client.get(url_of(a, "/"));
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "ok");
    EXPECT_FALSE(r->headers.has("Link"));

    RawServer until_close(canned("HTTP/1.0 200 OK\r\nX-A: b\r\n\r\nuntil the end"));
    auto b = until_close.start();
    auto u = client.get(url_of(b, "/"));
    ASSERT_TRUE(u) << u.error().message();
    EXPECT_EQ(u->minor_version, 0);
    EXPECT_EQ(u->body, "until the end");
    EXPECT_EQ(u->headers.get("X-A"), "b");
  });
}

TEST(HttpClient, HeadAnd204And304HaveNoBody) {
  weft::run([] {
    TestServer s([](http::ResponseWriter& w, http::Request& r) {
      if (r.path() == "/204") return w.write_header(204);
      if (r.path() == "/304") return w.write_header(304);
      w.header().set("Content-Length", "11");
      (void)w.write("hello world");
    });
    auto addr = s.start();
    Client client;
    ClientRequest head;
    head.method = "HEAD";
    head.url = url_of(addr, "/");
    auto h = client.send(head);
    ASSERT_TRUE(h) << h.error().message();
    EXPECT_EQ(h->status, 200);
    EXPECT_EQ(h->headers.get("Content-Length"), "11");
    EXPECT_EQ(h->body, "");
    EXPECT_EQ(client.idle_connections(), 1u);
    for (const char* p : {"/204", "/304"}) {
      auto r = client.get(url_of(addr, p));
      ASSERT_TRUE(r) << p;
      EXPECT_EQ(r->body, "");
    }
    auto g = client.get(url_of(addr, "/"));
    ASSERT_TRUE(g);
    EXPECT_EQ(g->body, "hello world");
    EXPECT_EQ(client.idle_connections(), 1u);
  });
}

TEST(HttpClient, ResponsesOverTheLimitsAreRejected) {
  weft::run([] {
    TestServer s([](http::ResponseWriter& w, http::Request& r) {
      std::string chunk(64 * 1024, 'x');
      if (r.path() == "/chunked") {
        for (int i = 0; i < 40; ++i) {
          (void)w.write(chunk);
          (void)w.flush();
        }
        return;
      }
      if (r.path() == "/headers") w.header().set("X-Big", std::string(8 * 1024, 'h'));
      (void)w.write(std::string(2 * 1024 * 1024, 'y'));
    });
    auto addr = s.start();
    Client client;
    client.max_response_bytes = std::size_t{1} << 20;
    for (const char* p : {"/length", "/chunked"}) {
      auto r = client.get(url_of(addr, p));
      ASSERT_FALSE(r) << p;
      EXPECT_EQ(r.error(), ClientError::kResponseTooLarge) << p << ": " << r.error().message();
    }
    client.max_response_bytes = std::size_t{4} << 20;
    client.max_header_bytes = 4096;
    auto h = client.get(url_of(addr, "/headers"));
    ASSERT_FALSE(h);
    EXPECT_EQ(h.error(), ClientError::kResponseTooLarge) << h.error().message();

    RawServer until_close(canned("HTTP/1.1 200 OK\r\n\r\n" + std::string(300000, 'u')));
    auto b = until_close.start();
    client.max_response_bytes = 100000;
    auto u = client.get(url_of(b, "/"));
    ASSERT_FALSE(u);
    EXPECT_EQ(u.error(), ClientError::kResponseTooLarge);
  });
}

TEST(HttpClient, BadUrlsAndRequests) {
  weft::run([] {
    Client client;
    for (const char* url : {"", "example.com", "/just/a/path", "http:", "http:/x", "http://",
                            "http:///x", "http://ho st/", "http://h:99999/", "http://h:0/",
                            "http://h:8a/", "http://[::1/", "http://[zz::1]/", "http://user@h/",
                            "http://h/a\x01", "http://h/%zz", "http://a:1:2/", "1http://h/"}) {
      auto r = client.get(url);
      ASSERT_FALSE(r) << url;
      EXPECT_EQ(r.error(), ClientError::kBadUrl) << url << ": " << r.error().message();
    }
    for (const char* url : {"https://example.com/", "ftp://h/", "HTTPS://h", "localhost:80/x"}) {
      auto r = client.get(url);
      ASSERT_FALSE(r) << url;
      EXPECT_EQ(r.error(), ClientError::kUnsupportedScheme) << url;
    }
    ClientRequest bad_method;
    bad_method.method = "GE T";
    bad_method.url = "http://127.0.0.1:1/";
    EXPECT_EQ(client.send(bad_method).error(), std::errc::invalid_argument);
    ClientRequest injection;
    injection.url = "http://127.0.0.1:1/";
    injection.headers.set("X-A", "b\r\nX-Injected: 1");
    EXPECT_EQ(client.send(injection).error(), std::errc::invalid_argument);
    EXPECT_EQ(std::error_code(ClientError::kBadUrl).message(), "malformed URL");
    EXPECT_STREQ(std::error_code(ClientError::kBadUrl).category().name(), "weft.http.client");
  });
}

TEST(HttpClient, PathsAreEscapedAndSchemesFolded) {
  weft::run([] {
    TestServer s(echo);
    auto addr = s.start();
    Client client;
    auto r = client.get("HTTP://" + addr + "/a b/\xc3\xa9?q=x y");
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r->body, "GET /a%20b/%C3%A9?q=x%20y\n");
  });
}

TEST(HttpClient, Ipv6Literal) {
  weft::run([] {
    auto l = weft::net::listen("[::1]:0");
    if (!l) GTEST_SKIP() << "no IPv6 loopback";
    http::Server server;
    server.handler = [](http::ResponseWriter& w, http::Request& r) {
      (void)w.write(std::string(r.host()));
    };
    weft::WaitGroup done;
    done.add(1);
    weft::go([&] {
      (void)server.serve(l.value());
      done.done();
    });
    Client client;
    std::string url = "http://[::1]:" + std::to_string(l->port()) + "/";
    auto r = client.get(url);
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r->body, "[::1]:" + std::to_string(l->port()));
    EXPECT_EQ(r->url, url);
    (void)server.shutdown(std::chrono::seconds(5));
    done.wait();
  });
}

TEST(HttpClient, ConnectionRefusedPassesThrough) {
  weft::run([] {
    auto l = weft::net::listen("127.0.0.1:0");
    ASSERT_TRUE(l);
    std::string addr = l->addr();
    l->close();
    Client client;
    auto r = client.get(url_of(addr, "/"));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error(), std::errc::connection_refused) << r.error().message();
  });
}

TEST(HttpClient, ManyTasksShareOneClient) {
  weft::run([] {
    std::atomic<int> served{0};
    TestServer s([&](http::ResponseWriter& w, http::Request& r) {
      ++served;
      (void)w.write(std::string(r.target()));
    });
    auto addr = s.start();
    Client client;
    constexpr int kTasks = 50;
    constexpr int kCalls = 20;
    constexpr int kTotal = kTasks * kCalls;
    std::atomic<int> ok{0};
    weft::WaitGroup wg;
    for (int t = 0; t < kTasks; ++t) {
      wg.add(1);
      weft::go([&, t] {
        for (int i = 0; i < kCalls; ++i) {
          std::string path = "/t" + std::to_string(t) + "/" + std::to_string(i);
          auto r = client.get(url_of(addr, path));
          if (r && r->status == 200 && r->body == path) ++ok;
        }
        wg.done();
      });
    }
    wg.wait();
    EXPECT_EQ(ok.load(), kTotal);
    EXPECT_EQ(served.load(), kTotal);
    EXPECT_LE(client.idle_connections(), client.max_idle_per_host);
  });
}

}  // namespace
