// file_server over real loopback connections: content types and validators, HEAD, the
// conditional headers, ranges and If-Range, directories (redirect, index, listing), path
// confinement (dot segments, backslashes, NUL, symbolic links out of the root, on both the
// openat2 and the fallback path), methods, large bodies through sendfile, keep-alive, and the
// small-file cache (hits, and misses on every kind of change to the file or the path).
#include "weft/http/file_server.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <system_error>

#include "http/http_test_util.h"

namespace weft::http::detail {
// Defined in the library: file servers made while it is off use the fallback confinement.
void set_file_server_openat2(bool enabled) noexcept;
// Defined in the library: how old a file must be before the cache keeps it, and the hit count.
void set_file_cache_settle_seconds(int64_t seconds) noexcept;
uint64_t file_cache_hits() noexcept;
}  // namespace weft::http::detail

namespace {

namespace fs = std::filesystem;
namespace http = weft::http;
using ::testing::HasSubstr;
using ::testing::Not;
using weft_test::get_request;
using weft_test::RawClient;
using weft_test::RawResponse;
using weft_test::roundtrip;
using weft_test::TestServer;

constexpr std::string_view kHello = "hello, world\n";  // 13 bytes
constexpr int64_t kHelloSec = 1614834367;              // Thu, 04 Mar 2021 05:06:07 GMT
constexpr int64_t kHelloNsec = 123456789;
constexpr std::string_view kHelloDate = "Thu, 04 Mar 2021 05:06:07 GMT";
constexpr std::size_t kBigSize = 1 << 20;

void write_file(const fs::path& p, std::string_view data) {
  std::ofstream f(p, std::ios::binary);
  f.write(data.data(), static_cast<std::streamsize>(data.size()));
}

void set_mtime(const fs::path& p, int64_t sec, int64_t nsec) {
  struct timespec ts[2];
  ts[0].tv_sec = ts[1].tv_sec = static_cast<time_t>(sec);
  ts[0].tv_nsec = ts[1].tv_nsec = nsec;
  ASSERT_EQ(::utimensat(AT_FDCWD, p.c_str(), ts, 0), 0);
}

// The ETag the server gives hello.txt: size and mtime in nanoseconds, both in hex.
std::string hello_etag() {
  char buf[64];
  std::snprintf(buf, sizeof buf, "\"%zx-%llx\"", kHello.size(),
                static_cast<unsigned long long>(kHelloSec * 1000000000LL + kHelloNsec));
  return buf;
}

// The tree every test serves:
//   root/hello.txt, page.html, style.css, data.json, blob.xyz, noext, empty.txt, big.bin
//   root/sub/index.html, sub/a.txt
//   root/list/{b.txt, a.txt, <x&y>.txt, c:d.txt, zz/}, root/a b/
//   root/link_in -> hello.txt, root/link_out -> ../outside/secret.txt,
//   root/link_out_abs -> /abs/outside/secret.txt, root/linkdir_out -> ../outside
//   outside/secret.txt
class FileServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    std::string tmpl = (fs::temp_directory_path() / "weft-file-server-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    base_dir = new fs::path(tmpl);
    fs::path root = *base_dir / "root";
    fs::path outside = *base_dir / "outside";
    fs::create_directories(root / "sub");
    fs::create_directories(root / "list" / "zz");
    fs::create_directories(outside);
    write_file(outside / "secret.txt", "secret\n");
    write_file(root / "hello.txt", kHello);
    set_mtime(root / "hello.txt", kHelloSec, kHelloNsec);
    write_file(root / "page.html", "<p>page</p>\n");
    write_file(root / "style.css", "p{}\n");
    write_file(root / "data.json", "{}\n");
    write_file(root / "blob.xyz", "xyz");
    write_file(root / "noext", "noext");
    write_file(root / "empty.txt", "");
    write_file(root / "sub" / "index.html", "<h1>sub</h1>\n");
    write_file(root / "sub" / "a.txt", "a\n");
    write_file(root / "list" / "b.txt", "b");
    write_file(root / "list" / "a.txt", "a");
    write_file(root / "list" / "<x&y>.txt", "x");
    write_file(root / "list" / "c:d.txt", "c");
    fs::create_directories(root / "a b");
    big_data = new std::string(kBigSize, '\0');
    std::mt19937 rng(42);
    for (char& c : *big_data) c = static_cast<char>(rng());
    write_file(root / "big.bin", *big_data);
    fs::create_symlink("hello.txt", root / "link_in");
    fs::create_symlink("../outside/secret.txt", root / "link_out");
    fs::create_symlink(outside / "secret.txt", root / "link_out_abs");
    fs::create_symlink("../outside", root / "linkdir_out");
  }
  static void TearDownTestSuite() {
    std::error_code ec;
    fs::remove_all(*base_dir, ec);
    delete base_dir;
    delete big_data;
  }

  static std::string root() { return (*base_dir / "root").string(); }
  static const std::string& big() { return *big_data; }

  // GETs target (with extra header lines) from a file server made with options.
  static std::optional<RawResponse> fetch(std::string_view target, std::string_view extra = "",
                                          http::FileServerOptions options = {}) {
    std::optional<RawResponse> r;
    weft::run([&] {
      TestServer s(http::file_server(root(), options));
      auto addr = s.start();
      r = roundtrip(addr, get_request(target, extra));
    });
    return r;
  }

  static fs::path* base_dir;
  static std::string* big_data;
};

fs::path* FileServerTest::base_dir = nullptr;
std::string* FileServerTest::big_data = nullptr;

// ---- content types ----------------------------------------------------------------------

TEST(ContentTypeFor, KnownExtensionsCaseInsensitively) {
  EXPECT_EQ(http::content_type_for("a.html"), "text/html; charset=utf-8");
  EXPECT_EQ(http::content_type_for("A.HTM"), "text/html; charset=utf-8");
  EXPECT_EQ(http::content_type_for("x/y/app.js"), "text/javascript; charset=utf-8");
  EXPECT_EQ(http::content_type_for("m.mjs"), "text/javascript; charset=utf-8");
  EXPECT_EQ(http::content_type_for("s.css"), "text/css; charset=utf-8");
  EXPECT_EQ(http::content_type_for("d.json"), "application/json");
  EXPECT_EQ(http::content_type_for("t.txt"), "text/plain; charset=utf-8");
  EXPECT_EQ(http::content_type_for("r.md"), "text/markdown; charset=utf-8");
  EXPECT_EQ(http::content_type_for("c.csv"), "text/csv; charset=utf-8");
  EXPECT_EQ(http::content_type_for("i.svg"), "image/svg+xml");
  EXPECT_EQ(http::content_type_for("i.PNG"), "image/png");
  EXPECT_EQ(http::content_type_for("i.jpeg"), "image/jpeg");
  EXPECT_EQ(http::content_type_for("i.jpg"), "image/jpeg");
  EXPECT_EQ(http::content_type_for("w.wasm"), "application/wasm");
  EXPECT_EQ(http::content_type_for("f.woff2"), "font/woff2");
  EXPECT_EQ(http::content_type_for("a.tar.gz"), "application/gzip");
  EXPECT_EQ(http::content_type_for("v.webm"), "video/webm");
  EXPECT_EQ(http::content_type_for("s.mp3"), "audio/mpeg");
}

TEST(ContentTypeFor, UnknownOrMissingExtensionIsOctetStream) {
  EXPECT_EQ(http::content_type_for("blob.xyz"), "application/octet-stream");
  EXPECT_EQ(http::content_type_for("noext"), "application/octet-stream");
  EXPECT_EQ(http::content_type_for("dir.html/noext"), "application/octet-stream");
  EXPECT_EQ(http::content_type_for("trailing."), "application/octet-stream");
  EXPECT_EQ(http::content_type_for(""), "application/octet-stream");
}

// ---- plain GET and HEAD -----------------------------------------------------------------

TEST_F(FileServerTest, ServesAFileWithTypeLengthAndValidators) {
  auto r = fetch("/hello.txt");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, kHello);
  EXPECT_EQ(r->header("Content-Type"), "text/plain; charset=utf-8");
  EXPECT_EQ(r->header("Content-Length"), std::to_string(kHello.size()));
  EXPECT_EQ(r->header("Last-Modified"), kHelloDate);
  EXPECT_EQ(r->header("ETag"), hello_etag());
  EXPECT_EQ(r->header("Accept-Ranges"), "bytes");
  EXPECT_FALSE(r->chunked);
}

TEST_F(FileServerTest, ContentTypeFollowsTheExtension) {
  weft::run([] {
    TestServer s(http::file_server(root()));
    auto addr = s.start();
    auto type_of = [&](std::string_view path) {
      auto r = roundtrip(addr, get_request(path));
      EXPECT_TRUE(r && r->status == 200) << path;
      return r ? r->header("Content-Type") : "";
    };
    EXPECT_EQ(type_of("/page.html"), "text/html; charset=utf-8");
    EXPECT_EQ(type_of("/style.css"), "text/css; charset=utf-8");
    EXPECT_EQ(type_of("/data.json"), "application/json");
    EXPECT_EQ(type_of("/blob.xyz"), "application/octet-stream");
    EXPECT_EQ(type_of("/noext"), "application/octet-stream");
  });
}

TEST_F(FileServerTest, EmptyFileHasZeroLength) {
  auto r = fetch("/empty.txt");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->header("Content-Length"), "0");
  EXPECT_EQ(r->body, "");
}

TEST_F(FileServerTest, HeadSendsTheSameHeadersAndNoBody) {
  weft::run([] {
    TestServer s(http::file_server(root()));
    auto addr = s.start();
    RawClient c(addr);
    ASSERT_TRUE(c.send(get_request("/hello.txt")));
    auto get = c.read_response("GET");
    ASSERT_TRUE(get);
    ASSERT_TRUE(c.send("HEAD /hello.txt HTTP/1.1\r\nHost: test\r\n\r\n"));
    auto head = c.read_response("HEAD");
    ASSERT_TRUE(head);
    EXPECT_EQ(head->status, 200);
    EXPECT_EQ(head->body, "");
    for (const char* name :
         {"Content-Type", "Content-Length", "Last-Modified", "ETag", "Accept-Ranges"}) {
      EXPECT_EQ(head->header(name), get->header(name)) << name;
    }
    // No body bytes followed the head: the next response on the connection parses cleanly.
    ASSERT_TRUE(c.send(get_request("/page.html")));
    auto next = c.read_response("GET");
    ASSERT_TRUE(next);
    EXPECT_EQ(next->status, 200);
    EXPECT_EQ(next->body, "<p>page</p>\n");
    EXPECT_EQ(c.pending(), "");
  });
}

// ---- conditional requests ---------------------------------------------------------------

TEST_F(FileServerTest, IfNoneMatchAnswers304WithValidatorsAndNoBody) {
  weft::run([] {
    TestServer s(http::file_server(root()));
    auto addr = s.start();
    std::string tag = hello_etag();
    auto status_with = [&](const std::string& value) {
      auto r = roundtrip(addr, get_request("/hello.txt", "If-None-Match: " + value + "\r\n"));
      return r ? r->status : -1;
    };
    auto r = roundtrip(addr, get_request("/hello.txt", "If-None-Match: " + tag + "\r\n"));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 304);
    EXPECT_EQ(r->body, "");
    EXPECT_EQ(r->header("ETag"), tag);
    EXPECT_EQ(r->header("Last-Modified"), kHelloDate);
    EXPECT_FALSE(r->has_header("Content-Length"));
    EXPECT_FALSE(r->has_header("Content-Type"));
    EXPECT_EQ(status_with("W/" + tag), 304);  // weak comparison
    EXPECT_EQ(status_with("\"nope\", " + tag), 304);
    EXPECT_EQ(status_with("*"), 304);
    EXPECT_EQ(status_with("\"nope\""), 200);
    EXPECT_EQ(status_with("\"nope\", W/\"other\""), 200);

    // HEAD too.
    RawClient c(addr);
    ASSERT_TRUE(
        c.send("HEAD /hello.txt HTTP/1.1\r\nHost: t\r\nIf-None-Match: " + tag + "\r\n\r\n"));
    auto h = c.read_response("HEAD");
    ASSERT_TRUE(h);
    EXPECT_EQ(h->status, 304);
  });
}

TEST_F(FileServerTest, IfModifiedSinceAnswers304UnlessModified) {
  weft::run([] {
    TestServer s(http::file_server(root()));
    auto addr = s.start();
    auto status_with = [&](std::string_view extra) {
      auto r = roundtrip(addr, get_request("/hello.txt", extra));
      return r ? r->status : -1;
    };
    EXPECT_EQ(status_with("If-Modified-Since: Thu, 04 Mar 2021 05:06:07 GMT\r\n"), 304);
    EXPECT_EQ(status_with("If-Modified-Since: Fri, 05 Mar 2021 00:00:00 GMT\r\n"), 304);
    EXPECT_EQ(status_with("If-Modified-Since: Thu, 04 Mar 2021 05:06:06 GMT\r\n"), 200);
    // The obsolete forms RFC 9110 still makes recipients accept.
    EXPECT_EQ(status_with("If-Modified-Since: Thursday, 04-Mar-21 05:06:07 GMT\r\n"), 304);
    EXPECT_EQ(status_with("If-Modified-Since: Thu Mar  4 05:06:07 2021\r\n"), 304);
    // A date that does not parse is ignored.
    EXPECT_EQ(status_with("If-Modified-Since: yesterday\r\n"), 200);
    // If-None-Match takes precedence: a mismatching tag means 200 whatever the date says.
    EXPECT_EQ(status_with("If-None-Match: \"nope\"\r\n"
                          "If-Modified-Since: Fri, 05 Mar 2021 00:00:00 GMT\r\n"),
              200);
  });
}

TEST_F(FileServerTest, IfMatchAndIfUnmodifiedSinceAnswer412WhenTheyFail) {
  weft::run([] {
    TestServer s(http::file_server(root()));
    auto addr = s.start();
    std::string tag = hello_etag();
    auto status_with = [&](const std::string& extra) {
      auto r = roundtrip(addr, get_request("/hello.txt", extra));
      return r ? r->status : -1;
    };
    EXPECT_EQ(status_with("If-Match: \"nope\"\r\n"), 412);
    EXPECT_EQ(status_with("If-Match: W/" + tag + "\r\n"), 412);  // strong comparison
    EXPECT_EQ(status_with("If-Match: " + tag + "\r\n"), 200);
    EXPECT_EQ(status_with("If-Match: \"a\", " + tag + "\r\n"), 200);
    EXPECT_EQ(status_with("If-Match: *\r\n"), 200);
    EXPECT_EQ(status_with("If-Unmodified-Since: Wed, 03 Mar 2021 00:00:00 GMT\r\n"), 412);
    EXPECT_EQ(status_with("If-Unmodified-Since: Thu, 04 Mar 2021 05:06:07 GMT\r\n"), 200);
    // A passing If-Match makes If-Unmodified-Since irrelevant.
    EXPECT_EQ(status_with("If-Match: " + tag +
                          "\r\nIf-Unmodified-Since: Wed, 03 Mar 2021 00:00:00 GMT\r\n"),
              200);
    // An empty If-Match counts as absent: If-Unmodified-Since decides.
    EXPECT_EQ(status_with("If-Match: \r\nIf-Unmodified-Since: Wed, 03 Mar 2021 00:00:00 GMT\r\n"),
              412);
    // If-Match is evaluated before If-None-Match.
    EXPECT_EQ(status_with("If-Match: \"nope\"\r\nIf-None-Match: " + tag + "\r\n"), 412);
  });
}

// ---- ranges -----------------------------------------------------------------------------

TEST_F(FileServerTest, SingleRangesAnswer206WithContentRange) {
  weft::run([] {
    TestServer s(http::file_server(root()));
    auto addr = s.start();
    auto range = [&](std::string_view spec) {
      auto r = roundtrip(addr, get_request("/hello.txt", "Range: " + std::string(spec) + "\r\n"));
      EXPECT_TRUE(r) << spec;
      return r.value_or(RawResponse{});
    };
    auto r = range("bytes=0-4");
    EXPECT_EQ(r.status, 206);
    EXPECT_EQ(r.body, "hello");
    EXPECT_EQ(r.header("Content-Range"), "bytes 0-4/13");
    EXPECT_EQ(r.header("Content-Length"), "5");
    EXPECT_EQ(r.header("Content-Type"), "text/plain; charset=utf-8");
    EXPECT_EQ(r.header("ETag"), hello_etag());

    r = range("bytes=7-");  // open-ended
    EXPECT_EQ(r.status, 206);
    EXPECT_EQ(r.body, "world\n");
    EXPECT_EQ(r.header("Content-Range"), "bytes 7-12/13");

    r = range("bytes=-6");  // suffix
    EXPECT_EQ(r.status, 206);
    EXPECT_EQ(r.body, "world\n");
    EXPECT_EQ(r.header("Content-Range"), "bytes 7-12/13");

    r = range("bytes=-100");  // a suffix longer than the file is the whole file
    EXPECT_EQ(r.status, 206);
    EXPECT_EQ(r.body, kHello);
    EXPECT_EQ(r.header("Content-Range"), "bytes 0-12/13");

    r = range("bytes=5-1000");  // the end is clamped
    EXPECT_EQ(r.status, 206);
    EXPECT_EQ(r.body, ", world\n");
    EXPECT_EQ(r.header("Content-Range"), "bytes 5-12/13");

    r = range("bytes=12-12");
    EXPECT_EQ(r.status, 206);
    EXPECT_EQ(r.body, "\n");

    r = range("bytes=3-3,");  // an empty list element does not make it a multi-range
    EXPECT_EQ(r.status, 206);
    EXPECT_EQ(r.body, "l");
  });
}

TEST_F(FileServerTest, UnsatisfiableRangeAnswers416) {
  weft::run([] {
    TestServer s(http::file_server(root()));
    auto addr = s.start();
    for (std::string_view spec : {"bytes=13-", "bytes=100-200", "bytes=-0"}) {
      auto r = roundtrip(addr, get_request("/hello.txt", "Range: " + std::string(spec) + "\r\n"));
      ASSERT_TRUE(r) << spec;
      EXPECT_EQ(r->status, 416) << spec;
      EXPECT_EQ(r->header("Content-Range"), "bytes */13") << spec;
    }
  });
}

TEST_F(FileServerTest, MalformedAndMultipleRangesServeTheWholeFile) {
  weft::run([] {
    TestServer s(http::file_server(root()));
    auto addr = s.start();
    for (std::string_view spec : {"bytes=x-y", "bytes=5-2", "bytes=", "bytes=-", "bytes 0-1",
                                  "items=0-1", "bytes=0-1,3-4", "bytes=0-1, 100-200"}) {
      auto r = roundtrip(addr, get_request("/hello.txt", "Range: " + std::string(spec) + "\r\n"));
      ASSERT_TRUE(r) << spec;
      EXPECT_EQ(r->status, 200) << spec;
      EXPECT_EQ(r->body, kHello) << spec;
      EXPECT_FALSE(r->has_header("Content-Range")) << spec;
    }
  });
}

TEST_F(FileServerTest, IfRangeHonoursTheRangeOnlyWhenTheValidatorMatches) {
  weft::run([] {
    TestServer s(http::file_server(root()));
    auto addr = s.start();
    std::string tag = hello_etag();
    auto status_with = [&](const std::string& if_range) {
      auto r = roundtrip(
          addr, get_request("/hello.txt", "Range: bytes=0-4\r\nIf-Range: " + if_range + "\r\n"));
      return r ? r->status : -1;
    };
    EXPECT_EQ(status_with(tag), 206);
    EXPECT_EQ(status_with("\"other\""), 200);
    EXPECT_EQ(status_with("W/" + tag), 200);  // weak tags never validate a range
    EXPECT_EQ(status_with(std::string(kHelloDate)), 206);
    EXPECT_EQ(status_with("Thu, 04 Mar 2021 05:06:08 GMT"), 200);
    EXPECT_EQ(status_with("garbage"), 200);
  });
}

TEST_F(FileServerTest, HeadWithRangeSendsThePartialHeadersOnly) {
  weft::run([] {
    TestServer s(http::file_server(root()));
    auto addr = s.start();
    RawClient c(addr);
    ASSERT_TRUE(c.send("HEAD /hello.txt HTTP/1.1\r\nHost: t\r\nRange: bytes=0-4\r\n\r\n"));
    auto r = c.read_response("HEAD");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 206);
    EXPECT_EQ(r->header("Content-Range"), "bytes 0-4/13");
    EXPECT_EQ(r->header("Content-Length"), "5");
    EXPECT_EQ(r->body, "");
    ASSERT_TRUE(c.send(get_request("/noext")));
    auto next = c.read_response();
    ASSERT_TRUE(next);
    EXPECT_EQ(next->body, "noext");
  });
}

// ---- directories ------------------------------------------------------------------------

TEST_F(FileServerTest, DirectoryWithoutSlashRedirectsKeepingTheQuery) {
  auto r = fetch("/sub");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 301);
  EXPECT_EQ(r->header("Location"), "sub/");
  r = fetch("/sub?x=1&y=2");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 301);
  EXPECT_EQ(r->header("Location"), "sub/?x=1&y=2");
  r = fetch("/list/zz");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 301);
  EXPECT_EQ(r->header("Location"), "zz/");
  r = fetch("/a%20b");  // the name is escaped again in the Location
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 301);
  EXPECT_EQ(r->header("Location"), "a%20b/");
}

TEST_F(FileServerTest, DirectoryWithSlashServesItsIndexFile) {
  auto r = fetch("/sub/");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "<h1>sub</h1>\n");
  EXPECT_EQ(r->header("Content-Type"), "text/html; charset=utf-8");
  EXPECT_TRUE(r->has_header("ETag"));

  // Index files are tried in order.
  http::FileServerOptions o;
  o.index_files = {"missing.html", "a.txt"};
  r = fetch("/sub/", "", o);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "a\n");
  EXPECT_EQ(r->header("Content-Type"), "text/plain; charset=utf-8");
}

TEST_F(FileServerTest, DirectoryListingIsSortedEscapedAndOptional) {
  http::FileServerOptions o;
  o.list_directories = true;
  auto r = fetch("/list/", "", o);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->header("Content-Type"), "text/html; charset=utf-8");
  const std::string& b = r->body;
  std::size_t special = b.find("<a href=\"%3Cx%26y%3E.txt\">&lt;x&amp;y&gt;.txt</a>");
  std::size_t a = b.find("<a href=\"a.txt\">a.txt</a>");
  std::size_t bb = b.find("<a href=\"b.txt\">b.txt</a>");
  std::size_t colon = b.find("<a href=\"c%3Ad.txt\">c:d.txt</a>");  // never read as a scheme
  std::size_t zz = b.find("<a href=\"zz/\">zz/</a>");
  ASSERT_NE(special, std::string::npos) << b;
  ASSERT_NE(colon, std::string::npos) << b;
  ASSERT_NE(a, std::string::npos) << b;
  ASSERT_NE(bb, std::string::npos) << b;
  ASSERT_NE(zz, std::string::npos) << b;
  EXPECT_LT(special, a);  // '<' sorts before letters
  EXPECT_LT(a, bb);
  EXPECT_LT(bb, colon);
  EXPECT_LT(colon, zz);
  EXPECT_THAT(b, Not(HasSubstr("<x&y>")));

  // Off by default: 404.
  r = fetch("/list/");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
}

// ---- errors and confinement -------------------------------------------------------------

TEST_F(FileServerTest, MissingFilesAre404) {
  weft::run([] {
    TestServer s(http::file_server(root()));
    auto addr = s.start();
    for (std::string_view path : {"/nope.txt", "/sub/nope", "/nope/deeper", "/hello.txt/"}) {
      auto r = roundtrip(addr, get_request(path));
      ASSERT_TRUE(r) << path;
      EXPECT_EQ(r->status, 404) << path;
    }
  });
}

TEST_F(FileServerTest, DotDotBackslashAndNulAre400) {
  weft::run([] {
    TestServer s(http::file_server(root()));
    auto addr = s.start();
    for (std::string_view path :
         {"/../outside/secret.txt", "/sub/../hello.txt", "/sub/..", "/..",
          "/%2e%2e/outside/secret.txt", "/sub/%2E%2E/hello.txt", "/sub%2f..%2fhello.txt",
          "/sub%5c..%5chello.txt", "/a%5cb", "/hello.txt%00", "/%00"}) {
      auto r = roundtrip(addr, get_request(path));
      ASSERT_TRUE(r) << path;
      EXPECT_EQ(r->status, 400) << path;
      EXPECT_THAT(r->body, Not(HasSubstr("secret"))) << path;
    }
    // Dots that are not a whole segment are ordinary names.
    auto r = roundtrip(addr, get_request("/..hello.txt"));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 404);
  });
}

TEST_F(FileServerTest, SymlinksInsideTheRootAreFollowedButNotOutOfIt) {
  weft::run([] {
    TestServer s(http::file_server(root()));
    auto addr = s.start();
    auto r = roundtrip(addr, get_request("/link_in"));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, kHello);
    for (std::string_view path : {"/link_out", "/link_out_abs", "/linkdir_out/secret.txt",
                                  "/linkdir_out/", "/linkdir_out"}) {
      r = roundtrip(addr, get_request(path));
      ASSERT_TRUE(r) << path;
      EXPECT_EQ(r->status, 404) << path;
      EXPECT_THAT(r->body, Not(HasSubstr("secret"))) << path;
    }
  });
}

TEST_F(FileServerTest, FallbackWithoutOpenat2ConfinesTheSameWay) {
  http::detail::set_file_server_openat2(false);
  weft::run([] {
    TestServer s(http::file_server(root()));
    auto addr = s.start();
    auto r = roundtrip(addr, get_request("/hello.txt"));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, kHello);
    r = roundtrip(addr, get_request("/link_in"));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, kHello);
    r = roundtrip(addr, get_request("/sub/"));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "<h1>sub</h1>\n");
    for (std::string_view path :
         {"/link_out", "/link_out_abs", "/linkdir_out/secret.txt", "/linkdir_out/", "/nope"}) {
      r = roundtrip(addr, get_request(path));
      ASSERT_TRUE(r) << path;
      EXPECT_EQ(r->status, 404) << path;
    }
  });
  http::detail::set_file_server_openat2(true);
}

TEST_F(FileServerTest, OtherMethodsAre405WithAllow) {
  weft::run([] {
    TestServer s(http::file_server(root()));
    auto addr = s.start();
    for (std::string_view method : {"POST", "PUT", "DELETE", "OPTIONS"}) {
      std::string req =
          std::string(method) + " /hello.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n";
      auto r = roundtrip(addr, req, method);
      ASSERT_TRUE(r) << method;
      EXPECT_EQ(r->status, 405) << method;
      EXPECT_EQ(r->header("Allow"), "GET, HEAD") << method;
    }
  });
}

TEST_F(FileServerTest, MissingRootThrows) {
  EXPECT_THROW(http::file_server(root() + "/does-not-exist"), std::system_error);
  EXPECT_THROW(http::file_server(root() + "/hello.txt"), std::system_error);
}

// ---- large bodies and keep-alive --------------------------------------------------------

TEST_F(FileServerTest, OneMebibyteFileArrivesIntact) {
  auto r = fetch("/big.bin");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->header("Content-Length"), std::to_string(kBigSize));
  ASSERT_EQ(r->body.size(), kBigSize);
  EXPECT_TRUE(r->body == big());

  r = fetch("/big.bin", "Range: bytes=500000-600000\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 206);
  EXPECT_EQ(r->header("Content-Range"), "bytes 500000-600000/" + std::to_string(kBigSize));
  EXPECT_TRUE(r->body == big().substr(500000, 100001));
}

TEST_F(FileServerTest, KeepAliveCarriesManyFileResponsesOnOneConnection) {
  weft::run([] {
    TestServer s(http::file_server(root()));
    auto addr = s.start();
    RawClient c(addr);
    std::string tag = hello_etag();
    for (int round = 0; round < 3; ++round) {
      ASSERT_TRUE(c.send(get_request("/hello.txt")));
      auto r = c.read_response();
      ASSERT_TRUE(r);
      EXPECT_EQ(r->body, kHello);

      ASSERT_TRUE(c.send(get_request("/big.bin")));
      r = c.read_response();
      ASSERT_TRUE(r);
      EXPECT_EQ(r->body.size(), kBigSize);
      EXPECT_TRUE(r->body == big());

      ASSERT_TRUE(c.send(get_request("/hello.txt", "If-None-Match: " + tag + "\r\n")));
      r = c.read_response();
      ASSERT_TRUE(r);
      EXPECT_EQ(r->status, 304);

      ASSERT_TRUE(c.send(get_request("/hello.txt", "Range: bytes=-6\r\n")));
      r = c.read_response();
      ASSERT_TRUE(r);
      EXPECT_EQ(r->status, 206);
      EXPECT_EQ(r->body, "world\n");

      ASSERT_TRUE(c.send(get_request("/nope")));
      r = c.read_response();
      ASSERT_TRUE(r);
      EXPECT_EQ(r->status, 404);
      EXPECT_TRUE(r->keep_alive);
    }
    // Pipelined: three requests in one write, answered in order.
    ASSERT_TRUE(c.send(get_request("/noext") + get_request("/big.bin") + get_request("/sub/")));
    auto a = c.read_response();
    auto b = c.read_response();
    auto d = c.read_response();
    ASSERT_TRUE(a && b && d);
    EXPECT_EQ(a->body, "noext");
    EXPECT_TRUE(b->body == big());
    EXPECT_EQ(d->body, "<h1>sub</h1>\n");
  });
}

// ---- the small-file cache ---------------------------------------------------------------

// Each test gets its own tree, and files count as settled the moment they are written.
class FileCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "weft-file-cache-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    base_ = tmpl;
    fs::create_directories(base_ / "root" / "sub");
    fs::create_directories(base_ / "outside");
    http::detail::set_file_cache_settle_seconds(-1000);
  }
  void TearDown() override {
    http::detail::set_file_cache_settle_seconds(2);
    std::error_code ec;
    fs::remove_all(base_, ec);
  }

  fs::path root() const { return base_ / "root"; }

  // Runs body with a file server on root() (made with options) and its address.
  template <typename Body>
  void with_server(Body body, http::FileServerOptions options = {}) {
    weft::run([&] {
      TestServer s(http::file_server(root().string(), options));
      auto addr = s.start();
      ASSERT_FALSE(addr.empty());
      body(addr);
    });
  }

  // GETs target and returns the response (status 0 when the exchange failed).
  static RawResponse get(const std::string& addr, std::string_view target,
                         std::string_view extra = "") {
    auto r = roundtrip(addr, get_request(target, extra));
    return r ? *r : RawResponse{};
  }

  fs::path base_;
};

TEST_F(FileCacheTest, SecondRequestIsAHitWithTheSameAnswer) {
  write_file(root() / "a.txt", "cached body\n");
  with_server([&](const std::string& addr) {
    RawResponse first = get(addr, "/a.txt");
    uint64_t hits = http::detail::file_cache_hits();
    RawResponse second = get(addr, "/a.txt");
    EXPECT_EQ(http::detail::file_cache_hits(), hits + 1);
    EXPECT_EQ(first.status, 200);
    EXPECT_EQ(second.status, 200);
    EXPECT_EQ(second.body, "cached body\n");
    for (const char* name : {"Content-Type", "Content-Length", "ETag", "Last-Modified"})
      EXPECT_EQ(second.header(name), first.header(name)) << name;
  });
}

TEST_F(FileCacheTest, CachedFilesKeepRangesConditionalsAndHead) {
  write_file(root() / "digits.txt", "0123456789");
  with_server([&](const std::string& addr) {
    RawResponse warm = get(addr, "/digits.txt");
    ASSERT_EQ(warm.status, 200);
    uint64_t hits = http::detail::file_cache_hits();
    RawResponse part = get(addr, "/digits.txt", "Range: bytes=2-4\r\n");
    EXPECT_EQ(part.status, 206);
    EXPECT_EQ(part.body, "234");
    EXPECT_EQ(part.header("Content-Range"), "bytes 2-4/10");
    RawResponse same = get(addr, "/digits.txt", "If-None-Match: " + warm.header("ETag") + "\r\n");
    EXPECT_EQ(same.status, 304);
    EXPECT_TRUE(same.body.empty());
    auto head = roundtrip(addr, "HEAD /digits.txt HTTP/1.1\r\nHost: x\r\n\r\n", "HEAD");
    ASSERT_TRUE(head);
    EXPECT_EQ(head->status, 200);
    EXPECT_EQ(head->header("Content-Length"), "10");
    EXPECT_TRUE(head->body.empty());
    EXPECT_EQ(http::detail::file_cache_hits(), hits + 3);
  });
}

TEST_F(FileCacheTest, AnInPlaceEditShowsAtOnceEvenWithTheOldMtime) {
  fs::path f = root() / "a.txt";
  write_file(f, "version one\n");
  set_mtime(f, kHelloSec, kHelloNsec);
  with_server([&](const std::string& addr) {
    EXPECT_EQ(get(addr, "/a.txt").body, "version one\n");
    EXPECT_EQ(get(addr, "/a.txt").body, "version one\n");
    // Same size, and the mtime put back: only the ctime tells the change.
    write_file(f, "version two\n");
    set_mtime(f, kHelloSec, kHelloNsec);
    EXPECT_EQ(get(addr, "/a.txt").body, "version two\n");
  });
}

TEST_F(FileCacheTest, ARenamedReplacementShowsAtOnce) {
  write_file(root() / "a.txt", "old\n");
  with_server([&](const std::string& addr) {
    EXPECT_EQ(get(addr, "/a.txt").body, "old\n");
    write_file(root() / "a.tmp", "new!\n");
    fs::rename(root() / "a.tmp", root() / "a.txt");
    EXPECT_EQ(get(addr, "/a.txt").body, "new!\n");
  });
}

TEST_F(FileCacheTest, ADeletedFileIs404) {
  write_file(root() / "a.txt", "here\n");
  with_server([&](const std::string& addr) {
    EXPECT_EQ(get(addr, "/a.txt").status, 200);
    fs::remove(root() / "a.txt");
    EXPECT_EQ(get(addr, "/a.txt").status, 404);
  });
}

TEST_F(FileCacheTest, ALinkSwappedInOutOfTheRootIsRefused) {
  write_file(base_ / "outside" / "secret.txt", "secret\n");
  write_file(root() / "sub" / "a.txt", "public\n");
  with_server([&](const std::string& addr) {
    EXPECT_EQ(get(addr, "/sub/a.txt").body, "public\n");
    // The file, then its directory, replaced by links that leave the root.
    fs::remove(root() / "sub" / "a.txt");
    fs::create_symlink(base_ / "outside" / "secret.txt", root() / "sub" / "a.txt");
    RawResponse r = get(addr, "/sub/a.txt");
    EXPECT_EQ(r.status, 404);
    EXPECT_THAT(r.body, Not(HasSubstr("secret")));
    write_file(root() / "b.txt", "public\n");
    EXPECT_EQ(get(addr, "/b.txt").body, "public\n");
    fs::remove_all(root() / "sub");
    fs::create_symlink(base_ / "outside", root() / "sub");
    write_file(base_ / "outside" / "a.txt", "secret too\n");
    r = get(addr, "/sub/a.txt");
    EXPECT_EQ(r.status, 404);
    EXPECT_THAT(r.body, Not(HasSubstr("secret")));
  });
}

TEST_F(FileCacheTest, IndexFilesAreCachedToo) {
  write_file(root() / "sub" / "index.html", "<p>index</p>\n");
  with_server([&](const std::string& addr) {
    EXPECT_EQ(get(addr, "/sub/").body, "<p>index</p>\n");
    uint64_t hits = http::detail::file_cache_hits();
    EXPECT_EQ(get(addr, "/sub/").body, "<p>index</p>\n");
    EXPECT_EQ(http::detail::file_cache_hits(), hits + 1);
  });
}

TEST_F(FileCacheTest, FreshFilesLargeFilesAndADisabledCacheAreNotCached) {
  write_file(root() / "a.txt", "small\n");
  write_file(root() / "large.bin", std::string(64 * 1024, 'x'));
  // Disabled.
  http::FileServerOptions off;
  off.cache_bytes = 0;
  with_server(
      [&](const std::string& addr) {
        uint64_t hits = http::detail::file_cache_hits();
        for (int i = 0; i < 3; ++i) EXPECT_EQ(get(addr, "/a.txt").body, "small\n");
        EXPECT_EQ(http::detail::file_cache_hits(), hits);
      },
      off);
  // Over the per-file limit.
  with_server([&](const std::string& addr) {
    uint64_t hits = http::detail::file_cache_hits();
    for (int i = 0; i < 3; ++i) EXPECT_EQ(get(addr, "/large.bin").body.size(), 64u * 1024);
    EXPECT_EQ(http::detail::file_cache_hits(), hits);
  });
  // Written just now, with the default settle time.
  http::detail::set_file_cache_settle_seconds(2);
  with_server([&](const std::string& addr) {
    uint64_t hits = http::detail::file_cache_hits();
    for (int i = 0; i < 3; ++i) EXPECT_EQ(get(addr, "/a.txt").body, "small\n");
    EXPECT_EQ(http::detail::file_cache_hits(), hits);
  });
}

TEST_F(FileCacheTest, ASmallBudgetEvictsTheLeastRecentlyUsed) {
  for (char c : std::string("abcd"))
    write_file(root() / (std::string(1, c) + ".bin"), std::string(4000, c));
  http::FileServerOptions small;
  small.cache_bytes = 10000;  // room for two of the four files
  with_server(
      [&](const std::string& addr) {
        for (char c : std::string("abcdabcd")) {
          RawResponse r = get(addr, "/" + std::string(1, c) + ".bin");
          EXPECT_EQ(r.body, std::string(4000, c));
        }
        // c and d are the two most recent: both hit; a was evicted and misses.
        uint64_t hits = http::detail::file_cache_hits();
        EXPECT_EQ(get(addr, "/d.bin").body, std::string(4000, 'd'));
        EXPECT_EQ(get(addr, "/c.bin").body, std::string(4000, 'c'));
        EXPECT_EQ(http::detail::file_cache_hits(), hits + 2);
        EXPECT_EQ(get(addr, "/a.bin").body, std::string(4000, 'a'));
        EXPECT_EQ(http::detail::file_cache_hits(), hits + 2);
      },
      small);
}

}  // namespace
