// Unit tests of the strict HTTP/1.x parser: request and response heads (valid, incremental,
// pipelined and hostile input), the chunked body decoder, request targets, query strings, status
// texts and the Headers multi-map.
#include "weft/http/parser.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "weft/http/headers.h"
#include "weft/http/status.h"

namespace weft::http {
namespace {

using namespace std::string_literals;

// ---------------------------------------------------------------------------------------------
// Helpers

// The outcome of one parse_request_head call, with a copy of the input the views point into.
struct ReqResult {
  std::shared_ptr<const std::string> input;
  long n = 0;
  RequestHead head;
  ParseError err;
};

ReqResult parse_req(std::string_view in, const ParseLimits& limits = {}) {
  ReqResult r;
  r.input = std::make_shared<const std::string>(in);
  r.n = parse_request_head(*r.input, limits, r.head, r.err);
  return r;
}

// The status a request is rejected with, 0 when it is accepted or incomplete.
int reject_status(std::string_view in, const ParseLimits& limits = {}) {
  ReqResult r = parse_req(in, limits);
  return r.n < 0 ? r.err.status : 0;
}

// A minimal valid HTTP/1.1 head with extra field lines (each ending in CRLF) inserted.
std::string req_with(std::string_view fields) {
  return "GET / HTTP/1.1\r\nHost: example.com\r\n"s.append(fields).append("\r\n");
}

// prefix followed by the decimal i ("X-" and 7 give "X-7").
std::string numbered(std::string_view prefix, int i) {
  std::string s(prefix);
  s += std::to_string(i);
  return s;
}

// Offset of view v inside base, for comparing heads parsed from different buffers.
std::ptrdiff_t offset(std::string_view v, const char* base) {
  return v.data() == nullptr ? -1 : v.data() - base;
}

// Expects two request heads to hold the same values at the same offsets of their buffers.
void expect_same_head(const RequestHead& a, const char* a_base, const RequestHead& b,
                      const char* b_base) {
  EXPECT_EQ(a.method, b.method);
  EXPECT_EQ(offset(a.method, a_base), offset(b.method, b_base));
  EXPECT_EQ(a.target, b.target);
  EXPECT_EQ(offset(a.target, a_base), offset(b.target, b_base));
  EXPECT_EQ(a.minor_version, b.minor_version);
  EXPECT_EQ(a.body, b.body);
  EXPECT_EQ(a.content_length, b.content_length);
  EXPECT_EQ(a.host, b.host);
  EXPECT_EQ(a.keep_alive, b.keep_alive);
  EXPECT_EQ(a.expect_continue, b.expect_continue);
  ASSERT_EQ(a.headers.size(), b.headers.size());
  auto ia = a.headers.begin();
  auto ib = b.headers.begin();
  for (; ia != a.headers.end(); ++ia, ++ib) {
    EXPECT_EQ(ia->name, ib->name);
    EXPECT_EQ(ia->value, ib->value);
    EXPECT_EQ(offset(ia->name, a_base), offset(ib->name, b_base));
    EXPECT_EQ(offset(ia->value, a_base), offset(ib->value, b_base));
  }
}

// Feeds in one byte at a time into a growing buffer (which moves as it grows, as a connection's
// buffer does) with one HeadScan. Expects 0 until the last byte; returns the final call's result
// and leaves the buffer in *buf.
ReqResult parse_req_bytewise(std::string_view in, std::string* buf,
                             const ParseLimits& limits = {}) {
  ReqResult r;
  HeadScan scan;
  buf->clear();
  for (std::size_t i = 0; i < in.size(); ++i) {
    buf->push_back(in[i]);
    buf->shrink_to_fit();  // make the buffer move now and then
    r.n = parse_request_head(*buf, limits, r.head, r.err, &scan);
    if (r.n != 0) {
      EXPECT_EQ(i + 1, in.size()) << "finished early at byte " << i;
      return r;
    }
  }
  return r;
}

// ---------------------------------------------------------------------------------------------
// Valid requests

TEST(RequestHead, SimpleGet) {
  std::string in =
      "GET /index.html?x=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: test/1.0\r\n"
      "Accept: */*\r\n\r\n";
  ReqResult r = parse_req(in);
  ASSERT_EQ(r.n, static_cast<long>(in.size()));
  EXPECT_EQ(r.head.method, "GET");
  EXPECT_EQ(r.head.target, "/index.html?x=1");
  EXPECT_EQ(r.head.minor_version, 1);
  EXPECT_EQ(r.head.host, "example.com");
  EXPECT_EQ(r.head.body, BodyKind::kNone);
  EXPECT_TRUE(r.head.keep_alive);
  EXPECT_FALSE(r.head.expect_continue);
  ASSERT_EQ(r.head.headers.size(), 3u);
  EXPECT_EQ(r.head.headers.get("user-agent"), "test/1.0");
  EXPECT_EQ(r.head.headers.get("ACCEPT"), "*/*");
  // Names keep the spelling they were sent with; views point into the input.
  EXPECT_EQ(r.head.headers.begin()->name, "Host");
  EXPECT_GE(r.head.target.data(), r.input->data());
  EXPECT_LE(r.head.target.data() + r.head.target.size(), r.input->data() + in.size());
}

TEST(RequestHead, PostWithContentLength) {
  std::string head = "POST /submit HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\n";
  std::string in = head + "hello";
  ReqResult r = parse_req(in);
  ASSERT_EQ(r.n, static_cast<long>(head.size()));  // the body is not part of the head
  EXPECT_EQ(r.head.method, "POST");
  EXPECT_EQ(r.head.body, BodyKind::kLength);
  EXPECT_EQ(r.head.content_length, 5u);
}

TEST(RequestHead, ContentLengthZeroAndLeadingZeros) {
  ReqResult r = parse_req(req_with("Content-Length: 0\r\n"));
  ASSERT_GT(r.n, 0);
  EXPECT_EQ(r.head.body, BodyKind::kNone);
  EXPECT_EQ(r.head.content_length, 0u);

  r = parse_req(req_with("Content-Length: 007\r\n"));
  ASSERT_GT(r.n, 0);
  EXPECT_EQ(r.head.body, BodyKind::kLength);
  EXPECT_EQ(r.head.content_length, 7u);

  r = parse_req(req_with("content-length:  123456789012345678 \r\n"));  // 18 digits
  ASSERT_GT(r.n, 0);
  EXPECT_EQ(r.head.content_length, 123456789012345678u);
}

TEST(RequestHead, Chunked) {
  ReqResult r = parse_req(req_with("Transfer-Encoding: chunked\r\n"));
  ASSERT_GT(r.n, 0);
  EXPECT_EQ(r.head.body, BodyKind::kChunked);

  r = parse_req(req_with("transfer-encoding:   Chunked  \r\n"));
  ASSERT_GT(r.n, 0);
  EXPECT_EQ(r.head.body, BodyKind::kChunked);
}

TEST(RequestHead, Http10KeepAliveRules) {
  ReqResult r = parse_req("GET / HTTP/1.0\r\n\r\n");  // no Host needed in 1.0
  ASSERT_GT(r.n, 0);
  EXPECT_EQ(r.head.minor_version, 0);
  EXPECT_EQ(r.head.host, "");
  EXPECT_FALSE(r.head.keep_alive);

  r = parse_req("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  ASSERT_GT(r.n, 0);
  EXPECT_TRUE(r.head.keep_alive);

  r = parse_req("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\nHost: h\r\n\r\n");
  ASSERT_GT(r.n, 0);
  EXPECT_TRUE(r.head.keep_alive);
  EXPECT_EQ(r.head.host, "h");

  r = parse_req("GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n");
  ASSERT_GT(r.n, 0);
  EXPECT_FALSE(r.head.keep_alive);

  r = parse_req("GET / HTTP/1.0\r\nConnection: upgrade\r\n\r\n");
  ASSERT_GT(r.n, 0);
  EXPECT_FALSE(r.head.keep_alive);
}

TEST(RequestHead, ConnectionClose) {
  ReqResult r = parse_req(req_with("Connection: close\r\n"));
  ASSERT_GT(r.n, 0);
  EXPECT_FALSE(r.head.keep_alive);

  r = parse_req(req_with("Connection: Upgrade, CLOSE\r\n"));
  ASSERT_GT(r.n, 0);
  EXPECT_FALSE(r.head.keep_alive);

  // Two Connection fields combine.
  r = parse_req(req_with("Connection: upgrade\r\nConnection: close\r\n"));
  ASSERT_GT(r.n, 0);
  EXPECT_FALSE(r.head.keep_alive);

  r = parse_req(req_with("Connection: keep-alive\r\n"));
  ASSERT_GT(r.n, 0);
  EXPECT_TRUE(r.head.keep_alive);

  r = parse_req(req_with("Connection: closed\r\n"));
  ASSERT_GT(r.n, 0);
  EXPECT_TRUE(r.head.keep_alive);
}

TEST(RequestHead, ConnectionCloseAfterEmptyOrOddElements) {
  // A list may hold empty elements (RFC 9110 5.6.1); "close" after one still closes.
  for (const char* v : {"keep-alive, , close", ", close", "foo/bar, close", "close,"}) {
    SCOPED_TRACE(v);
    ReqResult r = parse_req(req_with("Connection: "s + v + "\r\n"));
    ASSERT_GT(r.n, 0);
    EXPECT_FALSE(r.head.keep_alive);
  }
}

TEST(RequestHead, LeadingEmptyLinesSkipped) {
  std::string in = "\r\n\r\n\r\nGET /x HTTP/1.1\r\nHost: h\r\n\r\n";
  ReqResult r = parse_req(in);
  ASSERT_EQ(r.n, static_cast<long>(in.size()));
  EXPECT_EQ(r.head.method, "GET");
  EXPECT_EQ(r.head.target, "/x");
}

TEST(RequestHead, AbsoluteFormTarget) {
  ReqResult r =
      parse_req("GET http://example.com:8080/a/b?c=d HTTP/1.1\r\nHost: example.com\r\n\r\n");
  ASSERT_GT(r.n, 0);
  EXPECT_EQ(r.head.target, "http://example.com:8080/a/b?c=d");

  r = parse_req("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n");
  ASSERT_GT(r.n, 0);
  EXPECT_EQ(r.head.target, "*");

  r = parse_req("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n");
  ASSERT_GT(r.n, 0);
  EXPECT_EQ(r.head.method, "CONNECT");
  EXPECT_EQ(r.head.target, "example.com:443");
}

TEST(RequestHead, ExpectContinue) {
  ReqResult r = parse_req(
      "POST /u HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\nExpect: 100-continue\r\n\r\n");
  ASSERT_GT(r.n, 0);
  EXPECT_TRUE(r.head.expect_continue);

  r = parse_req(req_with("Expect: 100-Continue\r\n"));  // case-insensitive
  ASSERT_GT(r.n, 0);
  EXPECT_TRUE(r.head.expect_continue);

  // HTTP/1.0 clients do not wait for 100 Continue: the expectation is ignored.
  r = parse_req("POST /u HTTP/1.0\r\nContent-Length: 1\r\nExpect: 100-continue\r\n\r\n");
  ASSERT_GT(r.n, 0);
  EXPECT_FALSE(r.head.expect_continue);
}

TEST(RequestHead, FieldValuesTrimmed) {
  ReqResult r = parse_req(req_with("A:   spaced  value \t \r\nB:\tx\r\nC:\r\nD:    \r\nE:v\r\n"));
  ASSERT_GT(r.n, 0);
  EXPECT_EQ(r.head.headers.get("A"), "spaced  value");
  EXPECT_EQ(r.head.headers.get("B"), "x");
  EXPECT_EQ(r.head.headers.get("C"), "");
  EXPECT_TRUE(r.head.headers.has("C"));
  EXPECT_EQ(r.head.headers.get("D"), "");
  EXPECT_EQ(r.head.headers.get("E"), "v");
}

TEST(RequestHead, ObsTextAllowedInValues) {
  ReqResult r = parse_req(req_with("X-Name: caf\xc3\xa9 \xff\x80\r\n"));
  ASSERT_GT(r.n, 0);
  EXPECT_EQ(r.head.headers.get("x-name"), "caf\xc3\xa9 \xff\x80");
}

TEST(RequestHead, RepeatedFieldsKeptInOrder) {
  ReqResult r = parse_req(req_with("Accept: a\r\nX: 1\r\naccept: b\r\n"));
  ASSERT_GT(r.n, 0);
  std::vector<std::string_view> v = r.head.headers.values("Accept");
  ASSERT_EQ(v.size(), 2u);
  EXPECT_EQ(v[0], "a");
  EXPECT_EQ(v[1], "b");
}

TEST(RequestHead, HostForms) {
  for (const char* h : {"example.com:8080", "[::1]:80", "127.0.0.1", "xn--bcher-kva.example"}) {
    SCOPED_TRACE(h);
    ReqResult r = parse_req("GET / HTTP/1.1\r\nHost: "s + h + "\r\n\r\n");
    ASSERT_GT(r.n, 0);
    EXPECT_EQ(r.head.host, h);
  }
  // An empty Host is allowed when the target carries no authority.
  ReqResult r = parse_req("GET / HTTP/1.1\r\nHost:\r\n\r\n");
  ASSERT_GT(r.n, 0);
  EXPECT_EQ(r.head.host, "");
}

TEST(RequestHead, MinorVersionsAboveOneAnsweredAsOneOne) {
  ReqResult r = parse_req("GET / HTTP/1.2\r\nHost: h\r\n\r\n");
  ASSERT_GT(r.n, 0);
  EXPECT_EQ(r.head.minor_version, 1);
}

TEST(RequestHead, OtherMethodsAreTokens) {
  for (const char* m : {"PATCH", "DELETE", "PROPFIND", "M-SEARCH", "get"}) {
    SCOPED_TRACE(m);
    ReqResult r = parse_req(m + " / HTTP/1.1\r\nHost: h\r\n\r\n"s);
    ASSERT_GT(r.n, 0);
    EXPECT_EQ(r.head.method, m);
  }
}

TEST(RequestHead, ClearResetsHeadBetweenParses) {
  RequestHead head;
  ParseError err;
  std::string a =
      "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nExpect: 100-continue\r\n"
      "Connection: close\r\n\r\n";
  ASSERT_GT(parse_request_head(a, {}, head, err), 0);
  std::string b = "GET / HTTP/1.1\r\nHost: b\r\n\r\n";
  ASSERT_GT(parse_request_head(b, {}, head, err), 0);
  EXPECT_EQ(head.body, BodyKind::kNone);
  EXPECT_EQ(head.content_length, 0u);
  EXPECT_FALSE(head.expect_continue);
  EXPECT_TRUE(head.keep_alive);
  EXPECT_EQ(head.headers.size(), 1u);
  EXPECT_EQ(head.host, "b");
}

// ---------------------------------------------------------------------------------------------
// Incremental parsing

TEST(RequestHeadIncremental, ByteAtATimeEqualsOneShot) {
  const std::string inputs[] = {
      "GET /index.html?x=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: t\r\n\r\n",
      "\r\n\r\nPOST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 12\r\nConnection: close\r\n\r\n",
      "PUT /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nX:  a  \r\n\r\n",
      "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
      "POST /e HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n",
  };
  for (const std::string& in : inputs) {
    SCOPED_TRACE(in);
    ReqResult one = parse_req(in);
    ASSERT_EQ(one.n, static_cast<long>(in.size()));
    std::string buf;
    ReqResult inc = parse_req_bytewise(in, &buf);
    ASSERT_EQ(inc.n, one.n);
    expect_same_head(inc.head, buf.data(), one.head, one.input->data());
  }
}

TEST(RequestHeadIncremental, ChunksOfEverySize) {
  std::string in =
      "DELETE /items/42 HTTP/1.1\r\nHost: api.example\r\nAuthorization: Bearer abc\r\n"
      "Content-Length: 0\r\n\r\n";
  ReqResult one = parse_req(in);
  ASSERT_EQ(one.n, static_cast<long>(in.size()));
  for (std::size_t step = 1; step <= in.size(); ++step) {
    SCOPED_TRACE(step);
    HeadScan scan;
    ReqResult inc;
    std::size_t have = 0;
    while (true) {
      have = std::min(in.size(), have + step);
      inc.n =
          parse_request_head(std::string_view(in).substr(0, have), {}, inc.head, inc.err, &scan);
      if (inc.n != 0 || have == in.size()) break;
    }
    ASSERT_EQ(inc.n, one.n);
    expect_same_head(inc.head, in.data(), one.head, one.input->data());
  }
}

TEST(RequestHeadIncremental, BytesAfterTheHeadAreNotPartOfIt) {
  std::string head = "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\n";
  std::string in = head + "body";
  HeadScan scan;
  RequestHead h;
  ParseError err;
  std::string buf;
  long n = 0;
  for (char c : in) {
    buf.push_back(c);
    n = parse_request_head(buf, {}, h, err, &scan);
    if (n != 0) break;
  }
  EXPECT_EQ(n, static_cast<long>(head.size()));
  EXPECT_EQ(buf.size(), head.size());  // it finished on the head's last byte
}

TEST(RequestHeadIncremental, RejectsAsSoonAsTheBadByteArrives) {
  std::string in = "GET / HTTP/1.1\r\nHost: h\nX: y\r\n\r\n";
  std::size_t bad = in.find("h\n") + 1;
  HeadScan scan;
  RequestHead h;
  ParseError err;
  for (std::size_t k = 1; k <= in.size(); ++k) {
    long n = parse_request_head(std::string_view(in).substr(0, k), {}, h, err, &scan);
    if (k <= bad) {
      ASSERT_EQ(n, 0) << k;
    } else {
      EXPECT_EQ(n, -1);
      EXPECT_EQ(err.status, 400);
      break;
    }
  }
}

TEST(RequestHeadIncremental, TargetAtTheLimitAcceptedWhateverTheSegmentation) {
  // The incomplete request line must only be refused for its target, not for the version that
  // follows it: a request accepted in one piece is accepted byte by byte too.
  ParseLimits limits;
  limits.max_target_bytes = 16;
  std::string target = "/" + std::string(15, 'a');
  std::string in = "GET " + target + " HTTP/1.1\r\nHost: h\r\n\r\n";
  ReqResult one = parse_req(in, limits);
  ASSERT_EQ(one.n, static_cast<long>(in.size()));
  std::string buf;
  ReqResult inc = parse_req_bytewise(in, &buf, limits);
  EXPECT_EQ(inc.n, one.n) << inc.err.status << " " << inc.err.reason;
  EXPECT_EQ(inc.head.target, target);
}

// ---------------------------------------------------------------------------------------------
// Pipelining

TEST(RequestHeadPipeline, TwoHeadsBackToBack) {
  std::string first = "GET /one HTTP/1.1\r\nHost: h\r\n\r\n";
  std::string second = "GET /two HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
  std::string third_partial = "GET /three HTTP/1.1\r\nHo";
  std::string in = first + second + third_partial;

  ReqResult r = parse_req(in);
  ASSERT_EQ(r.n, static_cast<long>(first.size()));
  EXPECT_EQ(r.head.target, "/one");
  EXPECT_TRUE(r.head.keep_alive);

  std::string_view rest = std::string_view(in).substr(r.n);
  r = parse_req(rest);
  ASSERT_EQ(r.n, static_cast<long>(second.size()));
  EXPECT_EQ(r.head.target, "/two");
  EXPECT_FALSE(r.head.keep_alive);

  rest.remove_prefix(r.n);
  r = parse_req(rest);
  EXPECT_EQ(r.n, 0);  // incomplete third request
}

TEST(RequestHeadPipeline, HeadThenBodyThenHead) {
  std::string first = "POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\n";
  std::string second = "GET /b HTTP/1.1\r\nHost: h\r\n\r\n";
  std::string in = first + "hello" + second;
  ReqResult r = parse_req(in);
  ASSERT_EQ(r.n, static_cast<long>(first.size()));
  ASSERT_EQ(r.head.body, BodyKind::kLength);
  std::string_view rest = std::string_view(in).substr(r.n + r.head.content_length);
  r = parse_req(rest);
  ASSERT_EQ(r.n, static_cast<long>(second.size()));
  EXPECT_EQ(r.head.target, "/b");
}

// ---------------------------------------------------------------------------------------------
// Hostile requests: each is rejected with its exact status.

TEST(RequestHeadHostile, ContentLengthWithTransferEncoding) {
  EXPECT_EQ(reject_status(req_with("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n")), 400);
  EXPECT_EQ(reject_status(req_with("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n")), 400);
  EXPECT_EQ(reject_status(req_with("Transfer-Encoding: chunked\r\nContent-Length: 0\r\n")), 400);
}

TEST(RequestHeadHostile, RepeatedContentLength) {
  EXPECT_EQ(reject_status(req_with("Content-Length: 5\r\nContent-Length: 5\r\n")), 400);
  EXPECT_EQ(reject_status(req_with("Content-Length: 5\r\ncontent-length: 6\r\n")), 400);
  EXPECT_EQ(reject_status(req_with("Content-Length: 0\r\nContent-Length: 0\r\n")), 400);
}

TEST(RequestHeadHostile, InvalidContentLength) {
  for (const char* v : {"+5", "-1", "5,5", "5, 5", "0x10", "", "   ", "12345678901234567890",
                        "1234567890123456789", "5 5", "1e3", "five", "5;x", "\xd9\xa5"}) {
    SCOPED_TRACE(v);
    EXPECT_EQ(reject_status(req_with("Content-Length: "s + v + "\r\n")), 400);
  }
}

TEST(RequestHeadHostile, TransferCodingOtherThanChunked) {
  for (const char* v : {"gzip, chunked", "chunked, chunked", "chunked, gzip", "gzip", "deflate",
                        "chunked,", ",chunked", "", "chunked;q=1", "chunked chunked"}) {
    SCOPED_TRACE(v);
    EXPECT_EQ(reject_status(req_with("Transfer-Encoding: "s + v + "\r\n")), 400);
  }
  EXPECT_EQ(reject_status(req_with("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n")),
            400);
}

TEST(RequestHeadHostile, UnknownTransferCoding) {
  EXPECT_EQ(reject_status(req_with("Transfer-Encoding: foo\r\n")), 501);
  EXPECT_EQ(reject_status(req_with("Transfer-Encoding: foo, chunked\r\n")), 501);
}

TEST(RequestHeadHostile, BareLineFeeds) {
  const char* inputs[] = {
      "GET / HTTP/1.1\nHost: h\r\n\r\n",      // request line
      "GET / HTTP/1.1\r\nHost: h\n\r\n",      // field line
      "GET / HTTP/1.1\r\nHost: h\r\n\n",      // final blank line
      "GET / HTTP/1.1\nHost: h\n\n",          // all of them
      "\nGET / HTTP/1.1\r\nHost: h\r\n\r\n",  // leading empty line
      "\r\n\nGET / HTTP/1.1\r\nHost: h\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: h\r\nX: a\nb\r\n\r\n",  // inside a value
  };
  for (const char* in : inputs) {
    SCOPED_TRACE(in);
    EXPECT_EQ(reject_status(in), 400);
  }
}

TEST(RequestHeadHostile, BareCarriageReturns) {
  const char* inputs[] = {
      "GET /\r HTTP/1.1\r\nHost: h\r\n\r\n",           // in the request line
      "GET / HTTP/1.1\rX\r\nHost: h\r\n\r\n",          // after the version
      "GET / HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n",  // in a value
      "GET / HTTP/1.1\r\nHost: h\r\nX\r: a\r\n\r\n",   // in a name
      "GET / HTTP/1.1\r\nHost: h\r\nX: a\r\r\n\r\n",   // before a CRLF
      "GET / HTTP/1.1\r\nHost: h\r\n\r\r\n\r\n",       // a lone CR line
  };
  for (const char* in : inputs) {
    SCOPED_TRACE(in);
    EXPECT_EQ(reject_status(in), 400);
  }
}

TEST(RequestHeadHostile, ObsFold) {
  EXPECT_EQ(reject_status(req_with("X: a\r\n b\r\n")), 400);
  EXPECT_EQ(reject_status(req_with("X: a\r\n\tb\r\n")), 400);
  // White space before the first field line (RFC 9112 2.2).
  EXPECT_EQ(reject_status("GET / HTTP/1.1\r\n Host: h\r\n\r\n"), 400);
  EXPECT_EQ(reject_status("GET / HTTP/1.1\r\n\tHost: h\r\n\r\n"), 400);
}

TEST(RequestHeadHostile, WhiteSpaceBeforeColon) {
  EXPECT_EQ(reject_status("GET / HTTP/1.1\r\nHost : x\r\n\r\n"), 400);
  EXPECT_EQ(reject_status("GET / HTTP/1.1\r\nHost\t: x\r\n\r\n"), 400);
  EXPECT_EQ(reject_status(req_with("Content-Length : 5\r\n")), 400);
}

TEST(RequestHeadHostile, ControlCharactersInValues) {
  for (const std::string& c : {"\0"s, "\x01"s, "\x7f"s, "\r"s, "\x0b"s, "\x0c"s, "\x1f"s}) {
    SCOPED_TRACE(static_cast<int>(c[0]));
    EXPECT_EQ(reject_status(req_with("X: a" + c + "b\r\n")), 400);
    EXPECT_EQ(reject_status(req_with("X: " + c + "\r\n")), 400);
  }
}

TEST(RequestHeadHostile, InvalidHeaderNames) {
  for (const std::string& name : {"X@Y"s, "X(Y"s, "X\"Y"s, "X/Y"s, "X\x80Y"s, "X\x7fY"s, "X\0Y"s,
                                  "X[Y"s, "X{Y"s, "X;Y"s, ""s}) {
    SCOPED_TRACE(name);
    EXPECT_EQ(reject_status(req_with(name + ": v\r\n")), 400);
  }
  EXPECT_EQ(reject_status(req_with("NoColon\r\n")), 400);
}

TEST(RequestHeadHostile, Host) {
  EXPECT_EQ(reject_status("GET / HTTP/1.1\r\n\r\n"), 400);                        // missing
  EXPECT_EQ(reject_status("GET / HTTP/1.1\r\nX: y\r\n\r\n"), 400);                // missing
  EXPECT_EQ(reject_status("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n"), 400);  // repeated
  EXPECT_EQ(reject_status("GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n"), 400);
  EXPECT_EQ(reject_status("GET / HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n"), 400);
  for (const char* h : {"a b", "a/b", "a@b", "a\"b", "a\\b", "\xc3\xa9"}) {
    SCOPED_TRACE(h);
    EXPECT_EQ(reject_status("GET / HTTP/1.1\r\nHost: "s + h + "\r\n\r\n"), 400);
  }
}

TEST(RequestHeadHostile, TransferEncodingInHttp10) {
  EXPECT_EQ(reject_status("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"), 400);
}

TEST(RequestHeadHostile, MalformedRequestLine) {
  for (const char* in : {
           "GET  / HTTP/1.1\r\nHost: h\r\n\r\n",  // empty target
           "GET / HTTP/1.1 \r\nHost: h\r\n\r\n",  // trailing space
           "GET /\r\nHost: h\r\n\r\n",            // no version
           " GET / HTTP/1.1\r\nHost: h\r\n\r\n",  // no method
           "G(T / HTTP/1.1\r\nHost: h\r\n\r\n",   // not a token
           "GET\t/ HTTP/1.1\r\nHost: h\r\n\r\n",  // tab as separator
           "GET /a\x01z HTTP/1.1\r\nHost: h\r\n\r\n",
           "GET /a\x7fz HTTP/1.1\r\nHost: h\r\n\r\n",
       }) {
    SCOPED_TRACE(in);
    EXPECT_EQ(reject_status(in), 400);
  }
  EXPECT_EQ(reject_status("GET /a\0z HTTP/1.1\r\nHost: h\r\n\r\n"s), 400);
}

TEST(RequestHeadHostile, MalformedVersions) {
  for (const char* v : {"HTTP/1", "HTTX/1.1", "http/1.1", "HTTP/1.", "HTTP/1,1", "HTTP/11.1",
                        "HTTP/1.1.1", "HTTP/a.b", "HTTP /1.1", "HTTP/-.1"}) {
    SCOPED_TRACE(v);
    EXPECT_EQ(reject_status("GET / "s + v + "\r\nHost: h\r\n\r\n"), 400);
  }
}

TEST(RequestHeadHostile, UnsupportedVersions) {
  for (const char* v : {"HTTP/2.0", "HTTP/0.9", "HTTP/3.0", "HTTP/9.9"}) {
    SCOPED_TRACE(v);
    EXPECT_EQ(reject_status("GET / "s + v + "\r\nHost: h\r\n\r\n"), 505);
  }
}

TEST(RequestHeadHostile, TargetTooLong) {
  ParseLimits limits;
  limits.max_target_bytes = 16;
  std::string at_limit = "/" + std::string(15, 'a');
  std::string over = "/" + std::string(16, 'a');
  EXPECT_EQ(reject_status("GET " + at_limit + " HTTP/1.1\r\nHost: h\r\n\r\n", limits), 0);
  EXPECT_GT(parse_req("GET " + at_limit + " HTTP/1.1\r\nHost: h\r\n\r\n", limits).n, 0);
  EXPECT_EQ(reject_status("GET " + over + " HTTP/1.1\r\nHost: h\r\n\r\n", limits), 414);
  // Still incomplete: refused as soon as the target is over the limit.
  EXPECT_EQ(reject_status("GET " + over, limits), 414);
  EXPECT_EQ(reject_status("GET " + at_limit, limits), 0);
  EXPECT_EQ(reject_status("GET " + at_limit + " HTTP/1.1", limits), 0);
  // The request line ended but the head did not: the same answer as before the CR arrived.
  EXPECT_EQ(reject_status("GET " + over + " HTTP/1.1\r\nHost: h\r\n", limits), 414);
  EXPECT_EQ(reject_status("GET " + at_limit + " HTTP/1.1\r\nHost: h\r\n", limits), 0);
  // A SP past the request line does not start a target.
  EXPECT_EQ(reject_status("GET\r\nX: " + over, limits), 0);
  // Default limits: 8 KiB.
  EXPECT_EQ(reject_status("GET /" + std::string(9000, 'x') + " HTTP/1.1\r\nHost: h\r\n\r\n"), 414);
  EXPECT_EQ(reject_status("GET /" + std::string(9000, 'x')), 414);
}

TEST(RequestHeadHostile, TooManyFields) {
  ParseLimits limits;
  limits.max_header_count = 3;
  EXPECT_GT(parse_req(req_with("A: 1\r\nB: 2\r\n"), limits).n, 0);  // Host + 2
  EXPECT_EQ(reject_status(req_with("A: 1\r\nB: 2\r\nC: 3\r\n"), limits), 431);
  // Default limit: 100.
  std::string many;
  for (int i = 0; i < 100; ++i) many += numbered("X-", i) + ": v\r\n";
  EXPECT_EQ(reject_status(req_with(many)), 431);
  EXPECT_GT(parse_req(req_with(many.substr(many.find('\n') + 1))).n, 0);  // exactly 100
}

TEST(RequestHeadHostile, HeadTooLarge) {
  std::string in = req_with("X: " + std::string(40, 'v') + "\r\n");
  ParseLimits limits;
  limits.max_header_bytes = in.size();
  EXPECT_GT(parse_req(in, limits).n, 0);  // exactly at the limit
  limits.max_header_bytes = in.size() - 1;
  EXPECT_EQ(reject_status(in, limits), 431);  // complete, one byte over
  // Incomplete and already over the limit.
  limits.max_header_bytes = 32;
  EXPECT_EQ(reject_status("GET / HTTP/1.1\r\nHost: h\r\nX: " + std::string(20, 'v'), limits), 431);
  EXPECT_EQ(reject_status("GET / HTTP/1.1\r\nHost: h\r\nX: v", limits), 0);
  // Default limit: 64 KiB.
  EXPECT_EQ(reject_status(req_with("X: " + std::string(70000, 'v') + "\r\n")), 431);
  EXPECT_EQ(reject_status("GET / HTTP/1.1\r\nHost: h\r\nX: " + std::string(70000, 'v')), 431);
}

TEST(RequestHeadHostile, UnsupportedExpectation) {
  EXPECT_EQ(reject_status(req_with("Expect: foo\r\n")), 417);
  EXPECT_EQ(reject_status(req_with("Expect: 100-continue, foo\r\n")), 417);
  EXPECT_EQ(reject_status(req_with("Expect: 200-ok\r\n")), 417);
}

TEST(RequestHeadHostile, ErrorsCarryAReason) {
  ReqResult r = parse_req(req_with("Content-Length: 1\r\nTransfer-Encoding: chunked\r\n"));
  ASSERT_EQ(r.n, -1);
  EXPECT_EQ(r.err.status, 400);
  EXPECT_FALSE(r.err.reason.empty());
}

// ---------------------------------------------------------------------------------------------
// Response heads

struct RespResult {
  std::shared_ptr<const std::string> input;
  long n = 0;
  ResponseHead head;
  ParseError err;
};

RespResult parse_resp(std::string_view in, std::string_view method = "GET",
                      const ParseLimits& limits = {}) {
  RespResult r;
  r.input = std::make_shared<const std::string>(in);
  r.n = parse_response_head(*r.input, limits, method, r.head, r.err);
  return r;
}

TEST(ResponseHead, StatusLine) {
  std::string head = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Type: text/plain\r\n\r\n";
  RespResult r = parse_resp(head + "abc");
  ASSERT_EQ(r.n, static_cast<long>(head.size()));
  EXPECT_EQ(r.head.status, 200);
  EXPECT_EQ(r.head.reason, "OK");
  EXPECT_EQ(r.head.minor_version, 1);
  EXPECT_EQ(r.head.body, BodyKind::kLength);
  EXPECT_EQ(r.head.content_length, 3u);
  EXPECT_TRUE(r.head.keep_alive);
  EXPECT_EQ(r.head.headers.get("content-type"), "text/plain");

  r = parse_resp("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
  ASSERT_GT(r.n, 0);
  EXPECT_EQ(r.head.status, 404);
  EXPECT_EQ(r.head.reason, "Not Found");

  r = parse_resp("HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n");  // empty reason
  ASSERT_GT(r.n, 0);
  EXPECT_EQ(r.head.reason, "");

  r = parse_resp("HTTP/1.0 599 Custom Thing\r\nContent-Length: 0\r\n\r\n");
  ASSERT_GT(r.n, 0);
  EXPECT_EQ(r.head.status, 599);
  EXPECT_EQ(r.head.minor_version, 0);
}

TEST(ResponseHead, BodyKinds) {
  std::string with_length = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n";
  RespResult r = parse_resp(with_length, "HEAD");
  ASSERT_GT(r.n, 0);
  EXPECT_EQ(r.head.body, BodyKind::kNone);  // a response to HEAD has no body
  EXPECT_TRUE(r.head.keep_alive);

  for (const char* status : {"100 Continue", "101 Switching Protocols", "103 Early Hints",
                             "204 No Content", "304 Not Modified"}) {
    SCOPED_TRACE(status);
    r = parse_resp("HTTP/1.1 "s + status + "\r\nContent-Length: 10\r\n\r\n");
    ASSERT_GT(r.n, 0);
    EXPECT_EQ(r.head.body, BodyKind::kNone);
    r = parse_resp("HTTP/1.1 "s + status + "\r\n\r\n");
    ASSERT_GT(r.n, 0);
    EXPECT_EQ(r.head.body, BodyKind::kNone);
    EXPECT_TRUE(r.head.keep_alive);
  }

  r = parse_resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
  ASSERT_GT(r.n, 0);
  EXPECT_EQ(r.head.body, BodyKind::kChunked);

  r = parse_resp("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  ASSERT_GT(r.n, 0);
  EXPECT_EQ(r.head.body, BodyKind::kNone);
  EXPECT_TRUE(r.head.keep_alive);

  // Neither length nor chunked: read until the connection closes, never kept alive.
  r = parse_resp("HTTP/1.1 200 OK\r\nServer: x\r\n\r\n");
  ASSERT_GT(r.n, 0);
  EXPECT_EQ(r.head.body, BodyKind::kUntilClose);
  EXPECT_FALSE(r.head.keep_alive);

  // A successful CONNECT switches to a tunnel.
  r = parse_resp("HTTP/1.1 200 Connection Established\r\n\r\n", "CONNECT");
  ASSERT_GT(r.n, 0);
  EXPECT_EQ(r.head.body, BodyKind::kNone);
}

TEST(ResponseHead, KeepAlive) {
  RespResult r = parse_resp("HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n");
  ASSERT_GT(r.n, 0);
  EXPECT_FALSE(r.head.keep_alive);
  r = parse_resp("HTTP/1.0 200 OK\r\nContent-Length: 1\r\nConnection: keep-alive\r\n\r\n");
  ASSERT_GT(r.n, 0);
  EXPECT_TRUE(r.head.keep_alive);
  r = parse_resp("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nConnection: close\r\n\r\n");
  ASSERT_GT(r.n, 0);
  EXPECT_FALSE(r.head.keep_alive);
}

TEST(ResponseHead, Hostile) {
  auto status_of = [](std::string_view in, std::string_view method = "GET") {
    RespResult r = parse_resp(in, method);
    return r.n < 0 ? r.err.status : 0;
  };
  EXPECT_EQ(status_of("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n"),
            400);
  // The framing rules hold even when the body is ignored.
  EXPECT_EQ(status_of("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
                      "HEAD"),
            400);
  EXPECT_EQ(status_of("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n"), 400);
  EXPECT_EQ(status_of("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n"), 400);
  EXPECT_EQ(status_of("HTTP/1.1 200 OK\r\nTransfer-Encoding: foo\r\n\r\n"), 501);
  EXPECT_EQ(status_of("HTTP/1.1 20 OK\r\n\r\n"), 400);
  EXPECT_EQ(status_of("HTTP/1.1 2000 OK\r\n\r\n"), 400);
  EXPECT_EQ(status_of("HTTP/1.1 099 Low\r\n\r\n"), 400);
  EXPECT_EQ(status_of("HTTP/1.1 2x0 OK\r\n\r\n"), 400);
  EXPECT_EQ(status_of("HTTP/1.1  200 OK\r\n\r\n"), 400);
  EXPECT_EQ(status_of("HTTP/1.1 200 O\x01K\r\n\r\n"), 400);
  EXPECT_EQ(status_of("HTTP/2.0 200 OK\r\n\r\n"), 505);
  EXPECT_EQ(status_of("HTTX/1.1 200 OK\r\n\r\n"), 400);
  EXPECT_EQ(status_of("HTTP/1.1 200 OK\nX: y\r\n\r\n"), 400);
  EXPECT_EQ(status_of("HTTP/1.1 200 OK\r\nX: y\r\n z\r\n\r\n"), 400);
  EXPECT_EQ(status_of("HTTP/1.1 200 OK\r\nX : y\r\n\r\n"), 400);
  EXPECT_EQ(status_of("HTTP/1.1\r\n\r\n"), 400);
  EXPECT_EQ(status_of("\r\n\r\n"), 400);
}

TEST(ResponseHead, LimitsAndIncremental) {
  std::string in = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX: yz\r\n\r\n";
  RespResult one = parse_resp(in);
  ASSERT_EQ(one.n, static_cast<long>(in.size()));
  HeadScan scan;
  ResponseHead head;
  ParseError err;
  for (std::size_t k = 1; k <= in.size(); ++k) {
    long n = parse_response_head(std::string_view(in).substr(0, k), {}, "GET", head, err, &scan);
    if (k < in.size()) {
      ASSERT_EQ(n, 0) << k;
    } else {
      ASSERT_EQ(n, one.n);
    }
  }
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.content_length, 2u);
  EXPECT_EQ(head.headers.get("x"), "yz");

  ParseLimits limits;
  limits.max_header_bytes = in.size() - 1;
  RespResult r = parse_resp(in, "GET", limits);
  EXPECT_EQ(r.n, -1);
  EXPECT_EQ(r.err.status, 431);
  r = parse_resp(std::string_view(in).substr(0, in.size() - 1), "GET", limits);
  EXPECT_EQ(r.n, 0);
  limits.max_header_bytes = 8;
  r = parse_resp(std::string_view(in).substr(0, 9), "GET", limits);
  EXPECT_EQ(r.n, -1);
  EXPECT_EQ(r.err.status, 431);
  limits = {};
  limits.max_header_count = 1;
  r = parse_resp(in, "GET", limits);
  EXPECT_EQ(r.n, -1);
  EXPECT_EQ(r.err.status, 431);
}

// ---------------------------------------------------------------------------------------------
// ChunkedDecoder

// What decoding a whole input produced.
struct Decoded {
  int status = 0;     // error status, 0 when none
  bool done = false;  // the body ended
  std::size_t consumed = 0;
  std::string data;
  std::vector<std::pair<std::string, std::string>> trailers;

  bool operator==(const Decoded&) const = default;
};

// Decodes in, handing the decoder pieces whose sizes next_piece() picks, with an output buffer of
// out_cap bytes; stops at the end of the body, at an error or at the end of the input.
template <class NextPiece>
Decoded decode_pieces(ChunkedDecoder& d, std::string_view in, std::size_t out_cap,
                      NextPiece&& next_piece) {
  Decoded res;
  auto out = std::make_unique<char[]>(out_cap + 1);
  std::size_t pos = 0;
  while (pos < in.size() && !d.done()) {
    std::size_t len = std::min(in.size() - pos, std::max<std::size_t>(1, next_piece()));
    std::size_t off = 0;
    while (off < len && !d.done()) {
      std::size_t produced = 12345;
      ParseError err;
      long n = d.decode(in.data() + pos + off, len - off, out.get(), out_cap, &produced, err);
      if (n < 0) {
        res.status = err.status;
        res.consumed = pos + off;
        return res;
      }
      EXPECT_LE(static_cast<std::size_t>(n), len - off);
      EXPECT_LE(produced, out_cap);
      EXPECT_LE(produced, static_cast<std::size_t>(n));
      res.data.append(out.get(), produced);
      off += static_cast<std::size_t>(n);
      if (n == 0 && produced == 0) {
        ADD_FAILURE() << "no progress";
        return res;
      }
    }
    pos += off;
  }
  res.done = d.done();
  res.consumed = pos;
  for (const auto& f : d.trailers()) res.trailers.emplace_back(f.name, f.value);
  return res;
}

Decoded decode_whole(std::string_view in, std::size_t out_cap = 1 << 16) {
  ChunkedDecoder d;
  return decode_pieces(d, in, out_cap, [&] { return in.size(); });
}

TEST(ChunkedDecoder, Basic) {
  std::string body = "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
  Decoded d = decode_whole(body);
  EXPECT_EQ(d.status, 0);
  EXPECT_TRUE(d.done);
  EXPECT_EQ(d.consumed, body.size());
  EXPECT_EQ(d.data, "hello world");
  EXPECT_TRUE(d.trailers.empty());
}

TEST(ChunkedDecoder, HexSizes) {
  std::string data(0x1aB, 'z');
  std::string body = "1aB\r\n" + data + "\r\n0\r\n\r\n";
  Decoded d = decode_whole(body);
  EXPECT_TRUE(d.done);
  EXPECT_EQ(d.data, data);
  // Leading zeros count as digits but are fine within the limit.
  d = decode_whole("0003\r\nabc\r\n000\r\n\r\n");
  EXPECT_TRUE(d.done);
  EXPECT_EQ(d.data, "abc");
}

TEST(ChunkedDecoder, ByteAtATimeAndRandomSplits) {
  std::string body =
      "4\r\nWiki\r\n5;ext=1\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n1a;a=\"b c\"\r\n"
      "abcdefghijklmnopqrstuvwxyz\r\n0\r\nExpires: never\r\nX-Sum: 42\r\n\r\n";
  Decoded whole = decode_whole(body);
  ASSERT_TRUE(whole.done);
  EXPECT_EQ(whole.data, "Wikipedia in\r\n\r\nchunks.abcdefghijklmnopqrstuvwxyz");
  ASSERT_EQ(whole.trailers.size(), 2u);

  for (std::size_t cap : {1, 2, 3, 7, 64}) {
    SCOPED_TRACE(cap);
    ChunkedDecoder d;
    EXPECT_EQ(decode_pieces(d, body, cap, [] { return 1; }), whole);
  }
  std::mt19937 rng(12345);
  for (int round = 0; round < 300; ++round) {
    std::size_t cap = 1 + rng() % 9;
    std::size_t max_piece = 1 + rng() % 17;
    ChunkedDecoder d;
    Decoded got = decode_pieces(d, body, cap, [&] { return 1 + rng() % max_piece; });
    ASSERT_EQ(got, whole) << "round " << round;
  }
}

TEST(ChunkedDecoder, Extensions) {
  Decoded d = decode_whole("3;name=value\r\nabc\r\n2;a;b=\"q s\"\t\r\nde\r\n0;last\r\n\r\n");
  EXPECT_EQ(d.status, 0);
  EXPECT_TRUE(d.done);
  EXPECT_EQ(d.data, "abcde");
  // Control characters and oversized extensions are refused.
  EXPECT_EQ(decode_whole("3;a\x01\r\nabc\r\n0\r\n\r\n").status, 400);
  EXPECT_EQ(decode_whole("3;a\nb\r\nabc\r\n0\r\n\r\n").status, 400);
  // The limit counts the bytes after the first ';'.
  std::string big = "3;" + std::string(ChunkedDecoder::kMaxExtensionBytes + 1, 'e') + "\r\nabc\r\n";
  EXPECT_EQ(decode_whole(big).status, 400);
  std::string fits =
      "3;" + std::string(ChunkedDecoder::kMaxExtensionBytes, 'e') + "\r\nabc\r\n0\r\n\r\n";
  EXPECT_TRUE(decode_whole(fits).done);
}

TEST(ChunkedDecoder, Trailers) {
  ChunkedDecoder dec;
  std::string body = "2\r\nhi\r\n0\r\nX-Checksum: abc \r\nX-Other:1\r\nx-checksum: def\r\n\r\n";
  Decoded d = decode_pieces(dec, body, 100, [&] { return body.size(); });
  ASSERT_TRUE(d.done);
  EXPECT_EQ(d.consumed, body.size());
  EXPECT_EQ(d.data, "hi");
  EXPECT_EQ(dec.trailers().size(), 3u);
  EXPECT_EQ(dec.trailers().get("x-checksum"), "abc");
  EXPECT_EQ(dec.trailers().get("X-OTHER"), "1");
  EXPECT_EQ(dec.trailers().values("X-Checksum").size(), 2u);
}

TEST(ChunkedDecoder, ForbiddenAndMalformedTrailers) {
  for (const char* t :
       {"Content-Length: 5", "Transfer-Encoding: chunked", "Host: evil", "content-length: 0"}) {
    SCOPED_TRACE(t);
    EXPECT_EQ(decode_whole("0\r\n"s + t + "\r\n\r\n").status, 400);
  }
  EXPECT_EQ(decode_whole("0\r\nX: a\r\n b\r\n\r\n").status, 400);  // obs-fold
  EXPECT_EQ(decode_whole("0\r\nX : a\r\n\r\n").status, 400);       // space before colon
  EXPECT_EQ(decode_whole("0\r\nX: a\x01\r\n\r\n").status, 400);    // control character
  EXPECT_EQ(decode_whole("0\r\nX: a\n\r\n").status, 400);          // bare LF
  EXPECT_EQ(decode_whole("0\r\nX: a\r\n\n").status, 400);          // bare LF at the end
  EXPECT_EQ(decode_whole("0\r\n\n").status, 400);                  // bare LF, no trailers
  EXPECT_EQ(decode_whole("0\r\nX: a\rb\r\n\r\n").status, 400);     // bare CR
  std::string huge = "0\r\nX: " + std::string(ChunkedDecoder::kMaxTrailerBytes, 'a') + "\r\n\r\n";
  EXPECT_EQ(decode_whole(huge).status, 431);
  std::string many = "0\r\n";
  for (int i = 0; i < 101; ++i) many += numbered("T", i) + ": v\r\n";
  EXPECT_EQ(decode_whole(many + "\r\n").status, 431);
}

TEST(ChunkedDecoder, ZeroSizeTerminalChunk) {
  Decoded d = decode_whole("0\r\n\r\n");
  EXPECT_EQ(d.status, 0);
  EXPECT_TRUE(d.done);
  EXPECT_EQ(d.consumed, 5u);
  EXPECT_TRUE(d.data.empty());
  // Not done until the blank line after the last chunk arrives.
  d = decode_whole("0\r\n");
  EXPECT_EQ(d.status, 0);
  EXPECT_FALSE(d.done);
  EXPECT_EQ(d.consumed, 3u);
  d = decode_whole("0\r\n\r");
  EXPECT_FALSE(d.done);
}

TEST(ChunkedDecoder, MalformedSize) {
  for (const char* b : {"x\r\n", "\r\n", "-1\r\n", " 5\r\n", "5 \r\n", "0x5\r\nhello\r\n", "+5\r\n",
                        "5\r\r\n", "g\r\n", ";ext\r\n", "5 ;ext\r\n"}) {
    SCOPED_TRACE(b);
    EXPECT_EQ(decode_whole(b).status, 400);
  }
}

TEST(ChunkedDecoder, SizeOverflow) {
  EXPECT_EQ(decode_whole("10000000000000000\r\n").status, 400);  // 17 digits
  EXPECT_EQ(decode_whole("1000000000000000\r\n").status, 400);   // 16 digits
  EXPECT_EQ(decode_whole("ffffffffffffffff\r\n").status, 400);
  EXPECT_EQ(decode_whole("0000000000000000\r\n").status, 400);  // too many digits even as 0
  Decoded d = decode_whole("fffffffffffffff\r\nabc");           // 15 digits: accepted, data follows
  EXPECT_EQ(d.status, 0);
  EXPECT_FALSE(d.done);
  EXPECT_EQ(d.data, "abc");
}

TEST(ChunkedDecoder, MissingCrlfAfterData) {
  EXPECT_EQ(decode_whole("5\r\nhelloX\r\n0\r\n\r\n").status, 400);
  EXPECT_EQ(decode_whole("5\r\nhello\rX0\r\n\r\n").status, 400);
  EXPECT_EQ(decode_whole("5\r\nhello0\r\n\r\n").status, 400);
  EXPECT_EQ(decode_whole("5\r\nhello world\r\n0\r\n\r\n").status, 400);  // longer than declared
}

TEST(ChunkedDecoder, BareLineFeeds) {
  EXPECT_EQ(decode_whole("5\nhello\r\n0\r\n\r\n").status, 400);
  EXPECT_EQ(decode_whole("5\r\nhello\n0\r\n\r\n").status, 400);
  EXPECT_EQ(decode_whole("5;x\nhello\r\n0\r\n\r\n").status, 400);
  EXPECT_EQ(decode_whole("5\r\nhello\r\n0\n\r\n").status, 400);
  EXPECT_EQ(decode_whole("5\r\nhello\r\n0\r\n\n").status, 400);
}

TEST(ChunkedDecoder, StopsAtTheEndOfTheTrailerSection) {
  std::string body = "3\r\nabc\r\n0\r\nT: v\r\n\r\n";
  std::string next = "GET /next HTTP/1.1\r\nHost: h\r\n\r\n";
  std::string in = body + next;
  ChunkedDecoder d;
  char out[64];
  std::size_t produced = 0;
  ParseError err;
  long n = d.decode(in.data(), in.size(), out, sizeof out, &produced, err);
  ASSERT_EQ(n, static_cast<long>(body.size()));
  EXPECT_TRUE(d.done());
  EXPECT_EQ(std::string_view(out, produced), "abc");
  EXPECT_EQ(d.trailers().get("T"), "v");
  // Once done it consumes nothing more.
  n = d.decode(in.data() + body.size(), next.size(), out, sizeof out, &produced, err);
  EXPECT_EQ(n, 0);
  EXPECT_EQ(produced, 0u);
  // The same holds byte by byte.
  ChunkedDecoder d2;
  std::size_t pos = 0;
  while (!d2.done()) {
    ASSERT_LT(pos, in.size());
    n = d2.decode(in.data() + pos, 1, out, sizeof out, &produced, err);
    ASSERT_EQ(n, 1);
    ++pos;
  }
  EXPECT_EQ(pos, body.size());
  // And without trailers.
  ChunkedDecoder d3;
  std::string plain = "0\r\n\r\n" + next;
  EXPECT_EQ(d3.decode(plain.data(), plain.size(), out, sizeof out, &produced, err), 5);
}

TEST(ChunkedDecoder, OutBufferSmallerThanAChunk) {
  std::string body = "a\r\n0123456789\r\n0\r\n\r\n";
  ChunkedDecoder d;
  char out[3];
  std::size_t produced = 0;
  ParseError err;
  long n = d.decode(body.data(), body.size(), out, sizeof out, &produced, err);
  ASSERT_EQ(n, 3 + 3);  // the chunk line and three data bytes
  EXPECT_EQ(std::string_view(out, produced), "012");
  std::string data(out, produced);
  std::size_t pos = static_cast<std::size_t>(n);
  while (!d.done()) {
    n = d.decode(body.data() + pos, body.size() - pos, out, sizeof out, &produced, err);
    ASSERT_GT(n, 0);
    data.append(out, produced);
    pos += static_cast<std::size_t>(n);
  }
  EXPECT_EQ(data, "0123456789");
  EXPECT_EQ(pos, body.size());

  // With no room at all it still consumes the framing, but no data.
  ChunkedDecoder d2;
  n = d2.decode(body.data(), body.size(), nullptr, 0, &produced, err);
  EXPECT_EQ(n, 3);
  EXPECT_EQ(produced, 0u);
}

TEST(ChunkedDecoder, ResetForANewBody) {
  ChunkedDecoder dec;
  Decoded a = decode_pieces(dec, "1\r\na\r\n0\r\nA: 1\r\n\r\n", 8, [] { return 100; });
  ASSERT_TRUE(a.done);
  dec.reset();
  EXPECT_FALSE(dec.done());
  EXPECT_TRUE(dec.trailers().empty());
  Decoded b = decode_pieces(dec, "2\r\nbc\r\n0\r\n\r\n", 8, [] { return 100; });
  ASSERT_TRUE(b.done);
  EXPECT_EQ(b.data, "bc");
  // A reset in the middle of a body forgets the partial state.
  ChunkedDecoder mid;
  decode_pieces(mid, "5\r\nab", 8, [] { return 100; });
  mid.reset();
  Decoded c = decode_pieces(mid, "0\r\n\r\n", 8, [] { return 100; });
  EXPECT_TRUE(c.done);
  EXPECT_TRUE(c.data.empty());
}

TEST(ChunkedDecoder, TrailersSurviveAMove) {
  // Short trailers must not point into storage the moved-from decoder reuses.
  auto a = std::make_unique<ChunkedDecoder>();
  decode_pieces(*a, "0\r\nA: 1\r\n\r\n", 8, [] { return 100; });
  ASSERT_TRUE(a->done());
  ChunkedDecoder b = std::move(*a);
  a->reset();
  decode_pieces(*a, "0\r\nA: 2\r\n\r\n", 8, [] { return 100; });
  EXPECT_EQ(a->trailers().get("A"), "2");
  EXPECT_EQ(b.trailers().get("A"), "1");
  a.reset();
  EXPECT_EQ(b.trailers().get("A"), "1");
  EXPECT_TRUE(b.done());
}

// ---------------------------------------------------------------------------------------------
// parse_target

TEST(ParseTarget, OriginForm) {
  Target t;
  ASSERT_TRUE(parse_target("/a/b?x=1&y=2", "GET", t));
  EXPECT_EQ(t.scheme, "");
  EXPECT_EQ(t.authority, "");
  EXPECT_EQ(t.raw_path, "/a/b");
  EXPECT_EQ(t.raw_query, "x=1&y=2");
  EXPECT_EQ(t.path, "/a/b");

  ASSERT_TRUE(parse_target("/", "GET", t));
  EXPECT_EQ(t.path, "/");
  EXPECT_EQ(t.raw_query, "");

  ASSERT_TRUE(parse_target("/p?", "GET", t));
  EXPECT_EQ(t.raw_path, "/p");
  EXPECT_EQ(t.raw_query, "");

  ASSERT_TRUE(parse_target("/p?a?b=/c", "GET", t));  // '?' and '/' allowed in the query
  EXPECT_EQ(t.raw_query, "a?b=/c");
}

TEST(ParseTarget, AbsoluteForm) {
  Target t;
  ASSERT_TRUE(parse_target("http://example.com:8080/a%20b?q=1", "GET", t));
  EXPECT_EQ(t.scheme, "http");
  EXPECT_EQ(t.authority, "example.com:8080");
  EXPECT_EQ(t.raw_path, "/a%20b");
  EXPECT_EQ(t.path, "/a b");
  EXPECT_EQ(t.raw_query, "q=1");

  ASSERT_TRUE(parse_target("https://example.com/x", "POST", t));
  EXPECT_EQ(t.scheme, "https");

  ASSERT_TRUE(parse_target("HTTP://Example.COM/Y", "GET", t));  // scheme is case-insensitive
  EXPECT_EQ(t.scheme, "HTTP");
  EXPECT_EQ(t.authority, "Example.COM");
  EXPECT_EQ(t.path, "/Y");

  ASSERT_TRUE(parse_target("http://example.com", "GET", t));  // empty path is "/"
  EXPECT_EQ(t.path, "/");
  EXPECT_EQ(t.raw_path, "");

  ASSERT_TRUE(parse_target("http://example.com?a=b", "GET", t));
  EXPECT_EQ(t.authority, "example.com");
  EXPECT_EQ(t.path, "/");
  EXPECT_EQ(t.raw_query, "a=b");

  ASSERT_TRUE(parse_target("http://[::1]:8080/", "GET", t));
  EXPECT_EQ(t.authority, "[::1]:8080");

  for (const char* bad : {"ftp://example.com/", "http:/example.com/", "http://", "http:///x",
                          "http://user@host/", "http://a b/", "httpx://h/", "://h/", "h/x"}) {
    SCOPED_TRACE(bad);
    EXPECT_FALSE(parse_target(bad, "GET", t));
  }
}

TEST(ParseTarget, AuthorityFormOnlyForConnect) {
  Target t;
  ASSERT_TRUE(parse_target("example.com:443", "CONNECT", t));
  EXPECT_EQ(t.authority, "example.com:443");
  EXPECT_EQ(t.raw_path, "");
  EXPECT_FALSE(parse_target("example.com:443", "GET", t));
  EXPECT_FALSE(parse_target("example.com:443", "OPTIONS", t));
  EXPECT_FALSE(parse_target("example.com:443/x", "CONNECT", t));
  EXPECT_FALSE(parse_target("example.com:443?x", "CONNECT", t));
  EXPECT_FALSE(parse_target("example.com:443#x", "CONNECT", t));
  EXPECT_FALSE(parse_target("ex ample.com:443", "CONNECT", t));
  EXPECT_FALSE(parse_target("user@example.com:443", "CONNECT", t));
}

TEST(ParseTarget, AsteriskOnlyForOptions) {
  Target t;
  ASSERT_TRUE(parse_target("*", "OPTIONS", t));
  EXPECT_EQ(t.raw_path, "*");
  EXPECT_EQ(t.path, "*");
  EXPECT_FALSE(parse_target("*", "GET", t));
  EXPECT_FALSE(parse_target("*", "CONNECT", t));
  EXPECT_FALSE(parse_target("*", "options", t));  // methods are case-sensitive
  EXPECT_FALSE(parse_target("*x", "OPTIONS", t));
  EXPECT_FALSE(parse_target("", "GET", t));
}

TEST(ParseTarget, PercentDecoding) {
  Target t;
  ASSERT_TRUE(parse_target("/a%2Fb/%7e%41%c3%A9", "GET", t));
  EXPECT_EQ(t.raw_path, "/a%2Fb/%7e%41%c3%A9");
  EXPECT_EQ(t.path, "/a/b/~A\xc3\xa9");
  ASSERT_TRUE(parse_target("/a+b", "GET", t));  // '+' stays in paths
  EXPECT_EQ(t.path, "/a+b");
  ASSERT_TRUE(parse_target("/q?x=%zz", "GET", t));  // the query is not decoded here
  EXPECT_EQ(t.raw_query, "x=%zz");

  for (const char* bad : {"/%", "/%4", "/%zz", "/%4g", "/a%", "/%%41", "/%00", "/a%00b",
                          "http://h/%00", "http://h/%x"}) {
    SCOPED_TRACE(bad);
    EXPECT_FALSE(parse_target(bad, "GET", t));
  }
}

TEST(ParseTarget, ControlBytesRejected) {
  // The request line never yields these, but parse_target holds its contract on its own.
  Target t;
  EXPECT_FALSE(parse_target("/a\0b"s, "GET", t));
  EXPECT_FALSE(parse_target("/a b", "GET", t));
  EXPECT_FALSE(parse_target("/a\x7f", "GET", t));
  EXPECT_FALSE(parse_target("/a?b\rc", "GET", t));
  EXPECT_FALSE(parse_target("http://h/\x01", "GET", t));
  EXPECT_FALSE(parse_target("h:1\0"s, "CONNECT", t));
}

TEST(ParseTarget, Fragments) {
  Target t;
  // A fragment after the query is dropped; one inside the path is refused.
  ASSERT_TRUE(parse_target("/p?a=1#frag", "GET", t));
  EXPECT_EQ(t.raw_path, "/p");
  EXPECT_EQ(t.raw_query, "a=1");
  ASSERT_TRUE(parse_target("/p?#frag", "GET", t));
  EXPECT_EQ(t.raw_query, "");
  EXPECT_FALSE(parse_target("/p#frag", "GET", t));
  EXPECT_FALSE(parse_target("/#", "GET", t));
  EXPECT_FALSE(parse_target("http://h/p#frag", "GET", t));
  EXPECT_FALSE(parse_target("http://h#frag", "GET", t));
  // An escaped '#' is data.
  ASSERT_TRUE(parse_target("/a%23b", "GET", t));
  EXPECT_EQ(t.path, "/a#b");
}

TEST(ParseTarget, ResetsOutput) {
  Target t;
  ASSERT_TRUE(parse_target("http://h/a?b", "GET", t));
  ASSERT_TRUE(parse_target("/c", "GET", t));
  EXPECT_EQ(t.scheme, "");
  EXPECT_EQ(t.authority, "");
  EXPECT_EQ(t.raw_query, "");
  EXPECT_EQ(t.path, "/c");
}

// ---------------------------------------------------------------------------------------------
// parse_query and percent_decode

TEST(ParseQuery, PairsInOrder) {
  std::size_t bad = 99;
  QueryParams q = parse_query("a=1&b=x+y&a=2&c=%41%42&d=&e", &bad);
  EXPECT_EQ(bad, 0u);
  QueryParams want = {{"a", "1"}, {"b", "x y"}, {"a", "2"}, {"c", "AB"}, {"d", ""}, {"e", ""}};
  EXPECT_EQ(q, want);
}

TEST(ParseQuery, EmptyPairsSkipped) {
  std::size_t bad = 99;
  QueryParams q = parse_query("&&a=1&&b=2&", &bad);
  EXPECT_EQ(bad, 0u);
  QueryParams want = {{"a", "1"}, {"b", "2"}};
  EXPECT_EQ(q, want);
  EXPECT_TRUE(parse_query("").empty());
  EXPECT_TRUE(parse_query("&").empty());
}

TEST(ParseQuery, BadEscapesSkippedAndCounted) {
  std::size_t bad = 0;
  QueryParams q = parse_query("a=%zz&b=2&%=x&c=%4&d=%41", &bad);
  EXPECT_EQ(bad, 3u);
  QueryParams want = {{"b", "2"}, {"d", "A"}};
  EXPECT_EQ(q, want);
  q = parse_query("x=%", nullptr);  // counting is optional
  EXPECT_TRUE(q.empty());
}

TEST(ParseQuery, SpecialCharacters) {
  QueryParams q = parse_query("k%3D=v%26w&plus=%2B&eq=a=b&sp=%20+");
  QueryParams want = {{"k=", "v&w"}, {"plus", "+"}, {"eq", "a=b"}, {"sp", "  "}};
  EXPECT_EQ(q, want);
  q = parse_query("=v");
  ASSERT_EQ(q.size(), 1u);
  EXPECT_EQ(q[0].first, "");
  EXPECT_EQ(q[0].second, "v");
}

TEST(PercentDecode, Basics) {
  std::string out;
  EXPECT_TRUE(percent_decode("a%20b+c", out));
  EXPECT_EQ(out, "a b+c");
  EXPECT_TRUE(percent_decode("a%20b+c", out, true));
  EXPECT_EQ(out, "a b c");
  EXPECT_TRUE(percent_decode("%00%ff%FF", out));
  EXPECT_EQ(out, "\0\xff\xff"s);
  EXPECT_TRUE(percent_decode("", out));
  EXPECT_EQ(out, "");
  for (const char* bad : {"%", "%1", "%g0", "%0g", "a%", "a%2", "%%"}) {
    SCOPED_TRACE(bad);
    EXPECT_FALSE(percent_decode(bad, out));
  }
}

// ---------------------------------------------------------------------------------------------
// status_text, equal_fold, Headers

TEST(StatusText, KnownAndUnknown) {
  EXPECT_EQ(status_text(200), "OK");
  EXPECT_EQ(status_text(404), "Not Found");
  EXPECT_EQ(status_text(status::kRequestHeaderFieldsTooLarge), "Request Header Fields Too Large");
  EXPECT_EQ(status_text(505), "HTTP Version Not Supported");
  EXPECT_EQ(status_text(100), "Continue");
  EXPECT_EQ(status_text(299), "");
  EXPECT_EQ(status_text(0), "");
  EXPECT_EQ(status_text(-1), "");
  EXPECT_TRUE(status_has_no_body(100));
  EXPECT_TRUE(status_has_no_body(204));
  EXPECT_TRUE(status_has_no_body(304));
  EXPECT_FALSE(status_has_no_body(200));
  EXPECT_FALSE(status_has_no_body(404));
}

TEST(EqualFold, AsciiCaseOnly) {
  EXPECT_TRUE(equal_fold("Content-Length", "content-length"));
  EXPECT_TRUE(equal_fold("", ""));
  EXPECT_TRUE(equal_fold("X-1_~", "x-1_~"));
  EXPECT_FALSE(equal_fold("abc", "abcd"));
  EXPECT_FALSE(equal_fold("abc", "abd"));
  // Pairs that differ only in bit 0x20 but are not letters.
  EXPECT_FALSE(equal_fold("@", "`"));
  EXPECT_FALSE(equal_fold("[", "{"));
  EXPECT_FALSE(equal_fold("\x01", "!"));
  EXPECT_FALSE(equal_fold("\xc0", "\xe0"));
}

TEST(Headers, SetAddGetDel) {
  Headers h;
  EXPECT_TRUE(h.empty());
  EXPECT_EQ(h.get("X"), "");
  EXPECT_FALSE(h.has("X"));
  h.add("Accept", "a");
  h.add("X-Two", "2");
  h.add("accept", "b");
  EXPECT_EQ(h.size(), 3u);
  EXPECT_EQ(h.get("ACCEPT"), "a");
  EXPECT_EQ(h.values("Accept"), (std::vector<std::string_view>{"a", "b"}));
  EXPECT_TRUE(h.has("x-two"));

  h.set("ACCEPT", "c");  // replaces every field of that name, keeping the first's place
  EXPECT_EQ(h.size(), 2u);
  EXPECT_EQ(h.values("accept"), (std::vector<std::string_view>{"c"}));
  EXPECT_EQ(h.begin()->name, "Accept");
  h.set("New", "n");
  EXPECT_EQ(h.get("new"), "n");
  EXPECT_EQ(h.size(), 3u);

  h.del("x-TWO");
  EXPECT_FALSE(h.has("X-Two"));
  EXPECT_EQ(h.size(), 2u);
  h.del("absent");
  EXPECT_EQ(h.size(), 2u);
  h.add("Empty", "");
  EXPECT_TRUE(h.has("empty"));
  EXPECT_EQ(h.get("empty"), "");

  h.clear();
  EXPECT_TRUE(h.empty());
  h.add("After", "clear");
  EXPECT_EQ(h.get("after"), "clear");
}

TEST(Headers, AddCopiesTheValue) {
  Headers h;
  std::string name = "Name", value = "value";
  h.add(name, value);
  name.assign("XXXX");
  value.assign("yyyyy");
  EXPECT_EQ(h.get("name"), "value");
  // Setting a field from another of its own values is fine.
  h.add("Other", "o");
  h.set("Name", h.get("Other"));
  EXPECT_EQ(h.get("Name"), "o");
}

TEST(Headers, LargeAndManyValues) {
  Headers h;
  std::string big(5000, 'b');
  for (int i = 0; i < 200; ++i) h.add(numbered("K", i), std::string(i, 'v'));
  h.add("Big", big);
  for (int i = 0; i < 200; ++i) ASSERT_EQ(h.get(numbered("k", i)), std::string(i, 'v'));
  EXPECT_EQ(h.get("big"), big);
  h.clear();
  h.add("Big", big);
  h.add("Small", "s");
  EXPECT_EQ(h.get("big"), big);
  EXPECT_EQ(h.get("small"), "s");
}

TEST(Headers, CopyOwnsItsValues) {
  std::string wire = "Host: h\r\nX: abc\r\n";
  Headers views;
  views.add_view(std::string_view(wire).substr(0, 4), std::string_view(wire).substr(6, 1));
  views.add_view(std::string_view(wire).substr(9, 1), std::string_view(wire).substr(12, 3));
  Headers copy(views);
  Headers assigned;
  assigned.add("Old", "o");
  assigned = views;
  std::fill(wire.begin(), wire.end(), '#');  // the views now see garbage
  EXPECT_EQ(copy.get("host"), "h");
  EXPECT_EQ(copy.get("x"), "abc");
  EXPECT_EQ(assigned.get("x"), "abc");
  EXPECT_FALSE(assigned.has("old"));
  const Headers& alias = assigned;
  assigned = alias;  // self-assignment is harmless
  EXPECT_EQ(assigned.get("host"), "h");
  // Copies are independent of each other.
  copy.set("X", "changed");
  EXPECT_EQ(assigned.get("x"), "abc");
}

TEST(Headers, MovedFromIsReusable) {
  Headers a;
  for (int i = 0; i < 8; ++i)
    a.add(numbered("Field-", i), std::string(600, static_cast<char>('a' + i)));
  Headers b = std::move(a);
  EXPECT_EQ(b.size(), 8u);
  EXPECT_EQ(b.get("field-7"), std::string(600, 'h'));
  a.add("X", "after move");  // NOLINT(bugprone-use-after-move): a moved-from Headers is usable
  EXPECT_EQ(a.get("x"), "after move");
  Headers c;
  c.add("Y", std::string(3000, 'y'));
  c.add("Z", std::string(3000, 'z'));
  a = std::move(c);
  c.set("W", "w");  // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(c.get("w"), "w");
  EXPECT_EQ(a.get("z"), std::string(3000, 'z'));
}

}  // namespace
}  // namespace weft::http
