// libFuzzer target for parse_request_head (and parse_response_head on the same bytes). Each input
// is parsed in one piece and again one byte at a time with a HeadScan, every prefix in its own
// exactly sized buffer so reads past the end are caught. Invariants: the incremental result at
// every prefix equals a fresh one-shot parse of that prefix; a head found incrementally is the
// head the whole input yields and a rejection of a prefix is a rejection of the whole input;
// returned lengths stay within the input; every view of a parsed head points into it; parsed
// heads obey the framing rules (no Content-Length with chunked, Host in HTTP/1.1, limits held).
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string_view>

#include "fuzz_check.h"
#include "weft/http/headers.h"
#include "weft/http/parser.h"

namespace {

using weft::http::BodyKind;
using weft::http::equal_fold;
using weft::http::HeadScan;
using weft::http::ParseError;
using weft::http::ParseLimits;
using weft::http::RequestHead;
using weft::http::ResponseHead;

// Small limits, so inputs of a few hundred bytes reach every limit.
ParseLimits small_limits() {
  ParseLimits l;
  l.max_header_bytes = 512;
  l.max_header_count = 8;
  l.max_target_bytes = 64;
  return l;
}

// Returns true when v is empty or lies inside [base, base + n).
bool within(std::string_view v, const char* base, std::size_t n) {
  if (v.empty()) return true;
  return v.data() >= base && v.data() + v.size() <= base + n;
}

// The offset of v in base, or -1 for a view with no data; heads parsed from different buffers
// holding the same bytes must agree on offsets.
std::ptrdiff_t offset(std::string_view v, const char* base) {
  return v.data() == nullptr ? -1 : v.data() - base;
}

bool same_view(std::string_view a, const char* a_base, std::string_view b, const char* b_base) {
  if (a != b) return false;
  if (a.empty()) return true;  // empty views may or may not carry a position
  return offset(a, a_base) == offset(b, b_base);
}

bool same_headers(const weft::http::Headers& a, const char* a_base, const weft::http::Headers& b,
                  const char* b_base) {
  if (a.size() != b.size()) return false;
  for (auto ia = a.begin(), ib = b.begin(); ia != a.end(); ++ia, ++ib) {
    if (!same_view(ia->name, a_base, ib->name, b_base)) return false;
    if (!same_view(ia->value, a_base, ib->value, b_base)) return false;
  }
  return true;
}

bool same_head(const RequestHead& a, const char* a_base, const RequestHead& b, const char* b_base) {
  return same_view(a.method, a_base, b.method, b_base) &&
         same_view(a.target, a_base, b.target, b_base) && a.minor_version == b.minor_version &&
         a.body == b.body && a.content_length == b.content_length &&
         same_view(a.host, a_base, b.host, b_base) && a.keep_alive == b.keep_alive &&
         a.expect_continue == b.expect_continue &&
         same_headers(a.headers, a_base, b.headers, b_base);
}

bool same_head(const ResponseHead& a, const char* a_base, const ResponseHead& b,
               const char* b_base) {
  return a.status == b.status && same_view(a.reason, a_base, b.reason, b_base) &&
         a.minor_version == b.minor_version && a.body == b.body &&
         a.content_length == b.content_length && a.keep_alive == b.keep_alive &&
         same_headers(a.headers, a_base, b.headers, b_base);
}

bool known_status(int s) {
  return s == 400 || s == 413 || s == 414 || s == 417 || s == 431 || s == 501 || s == 505;
}

bool is_ows(char c) {
  return c == ' ' || c == '\t';
}

// Checks what every parsed header block must satisfy.
void check_fields(const weft::http::Headers& h, const char* base, std::size_t n,
                  const ParseLimits& limits) {
  FUZZ_CHECK(h.size() <= limits.max_header_count);
  int lengths = 0, codings = 0;
  for (const auto& f : h) {
    FUZZ_CHECK(!f.name.empty());
    FUZZ_CHECK(within(f.name, base, n));
    FUZZ_CHECK(within(f.value, base, n));
    for (char c : f.name) FUZZ_CHECK(static_cast<uint8_t>(c) > 0x20 && c != ':' && c != 0x7f);
    for (char c : f.value) {
      auto u = static_cast<uint8_t>(c);
      FUZZ_CHECK(u >= 0x20 || c == '\t');
      FUZZ_CHECK(u != 0x7f);
    }
    if (!f.value.empty()) FUZZ_CHECK(!is_ows(f.value.front()) && !is_ows(f.value.back()));
    if (equal_fold(f.name, "content-length")) ++lengths;
    if (equal_fold(f.name, "transfer-encoding")) ++codings;
  }
  FUZZ_CHECK(lengths <= 1 && codings <= 1 && lengths + codings <= 1);
}

// Checks one parse_request_head result against the input [base, base + n).
void check_request(long r, const RequestHead& h, const ParseError& err, const char* base,
                   std::size_t n, const ParseLimits& limits) {
  if (r < 0) {
    FUZZ_CHECK(r == -1);
    FUZZ_CHECK(known_status(err.status));
    FUZZ_CHECK(!err.reason.empty());
    return;
  }
  if (r == 0) {
    FUZZ_CHECK(n <= limits.max_header_bytes);
    return;
  }
  auto len = static_cast<std::size_t>(r);
  FUZZ_CHECK(len <= n && len <= limits.max_header_bytes);
  FUZZ_CHECK(len >= 4 && std::memcmp(base + len - 4, "\r\n\r\n", 4) == 0);
  FUZZ_CHECK(!h.method.empty() && within(h.method, base, len));
  FUZZ_CHECK(!h.target.empty() && within(h.target, base, len));
  FUZZ_CHECK(h.target.size() <= limits.max_target_bytes);
  for (char c : h.target) FUZZ_CHECK(static_cast<uint8_t>(c) > 0x20 && c != 0x7f);
  FUZZ_CHECK(within(h.host, base, len));
  FUZZ_CHECK(h.minor_version == 0 || h.minor_version == 1);
  if (h.minor_version == 1) FUZZ_CHECK(h.headers.has("host"));
  if (h.minor_version == 0) FUZZ_CHECK(!h.expect_continue && h.body != BodyKind::kChunked);
  if (h.minor_version == 0 && h.keep_alive) FUZZ_CHECK(h.headers.has("connection"));
  FUZZ_CHECK(h.body != BodyKind::kUntilClose);
  FUZZ_CHECK((h.body == BodyKind::kLength) == (h.content_length > 0));
  if (h.body == BodyKind::kChunked) FUZZ_CHECK(h.headers.has("transfer-encoding"));
  if (h.body == BodyKind::kLength) FUZZ_CHECK(h.headers.has("content-length"));
  check_fields(h.headers, base, len, limits);
}

void check_response(long r, const ResponseHead& h, const ParseError& err, const char* base,
                    std::size_t n, const ParseLimits& limits, std::string_view method) {
  if (r < 0) {
    FUZZ_CHECK(r == -1 && known_status(err.status) && !err.reason.empty());
    return;
  }
  if (r == 0) {
    FUZZ_CHECK(n <= limits.max_header_bytes);
    return;
  }
  auto len = static_cast<std::size_t>(r);
  FUZZ_CHECK(len <= n && len <= limits.max_header_bytes);
  FUZZ_CHECK(len >= 4 && std::memcmp(base + len - 4, "\r\n\r\n", 4) == 0);
  FUZZ_CHECK(h.status >= 100 && h.status <= 999);
  FUZZ_CHECK(within(h.reason, base, len));
  FUZZ_CHECK(h.minor_version == 0 || h.minor_version == 1);
  bool no_body = method == "HEAD" || h.status < 200 || h.status == 204 || h.status == 304;
  if (no_body) FUZZ_CHECK(h.body == BodyKind::kNone);
  if (h.body == BodyKind::kUntilClose) FUZZ_CHECK(!h.keep_alive);
  FUZZ_CHECK((h.body == BodyKind::kLength) == (h.content_length > 0));
  check_fields(h.headers, base, len, limits);
}

// An exactly sized heap copy of a prefix, so ASan sees any read past its end.
std::unique_ptr<char[]> copy_prefix(const uint8_t* data, std::size_t k) {
  auto p = std::make_unique<char[]>(k == 0 ? 1 : k);
  if (k > 0) std::memcpy(p.get(), data, k);
  return p;
}

// Parses data incrementally (byte by byte with one HeadScan) and one-shot at every prefix until
// a result; checks they agree with each other and with the whole input's result.
template <class Head, class Parse, class Check>
void check_incremental(const uint8_t* data, std::size_t size, long full_r, const Head& full_head,
                       Parse&& parse, Check&& check) {
  HeadScan scan;
  Head inc, fresh;
  ParseError inc_err, fresh_err;
  for (std::size_t k = 1; k <= size; ++k) {
    auto buf = copy_prefix(data, k);
    std::string_view in(buf.get(), k);
    long ri = parse(in, inc, inc_err, &scan);
    long rf = parse(in, fresh, fresh_err, nullptr);
    check(ri, inc, inc_err, buf.get(), k);
    FUZZ_CHECK(ri == rf);
    if (ri == 0) continue;
    if (ri < 0) {
      FUZZ_CHECK(inc_err.status == fresh_err.status);
      FUZZ_CHECK(full_r < 0);  // a rejected prefix cannot start an acceptable message
    } else {
      FUZZ_CHECK(static_cast<std::size_t>(ri) == k);  // found on its last byte, not later
      FUZZ_CHECK(same_head(inc, buf.get(), fresh, buf.get()));
      FUZZ_CHECK(full_r == ri);
      FUZZ_CHECK(same_head(inc, buf.get(), full_head, reinterpret_cast<const char*>(data)));
    }
    return;
  }
  FUZZ_CHECK(full_r == 0);
}

void fuzz_requests(const uint8_t* data, std::size_t size) {
  const ParseLimits limits = small_limits();
  const char* base = reinterpret_cast<const char*>(data);
  std::string_view all(base, size);

  RequestHead head;
  ParseError err;
  long r = parse_request_head(all, limits, head, err);
  check_request(r, head, err, base, size, limits);

  check_incremental(
      data, size, r, head,
      [&](std::string_view in, RequestHead& h, ParseError& e, HeadScan* scan) {
        return parse_request_head(in, limits, h, e, scan);
      },
      [&](long ri, const RequestHead& h, const ParseError& e, const char* b, std::size_t n) {
        check_request(ri, h, e, b, n, limits);
      });

  // Larger limits accept whatever the small ones accept, with the same result.
  RequestHead big_head;
  ParseError big_err;
  long big_r = parse_request_head(all, ParseLimits{}, big_head, big_err);
  check_request(big_r, big_head, big_err, base, size, ParseLimits{});
  if (r > 0) FUZZ_CHECK(big_r == r && same_head(big_head, base, head, base));
  if (big_r == 0) FUZZ_CHECK(r <= 0);

  // Pipelining: the returned length is where the next head starts.
  std::size_t pos = 0;
  long n = r;
  for (int i = 0; i < 8 && n > 0; ++i) {
    pos += static_cast<std::size_t>(n);
    FUZZ_CHECK(pos <= size);
    if (pos == size) break;
    n = parse_request_head(all.substr(pos), limits, head, err);
    check_request(n, head, err, base + pos, size - pos, limits);
  }
}

void fuzz_responses(const uint8_t* data, std::size_t size, std::string_view method) {
  const ParseLimits limits = small_limits();
  const char* base = reinterpret_cast<const char*>(data);
  ResponseHead head;
  ParseError err;
  long r = parse_response_head(std::string_view(base, size), limits, method, head, err);
  check_response(r, head, err, base, size, limits, method);
  check_incremental(
      data, size, r, head,
      [&](std::string_view in, ResponseHead& h, ParseError& e, HeadScan* scan) {
        return parse_response_head(in, limits, method, h, e, scan);
      },
      [&](long ri, const ResponseHead& h, const ParseError& e, const char* b, std::size_t n) {
        check_response(ri, h, e, b, n, limits, method);
      });
}

}  // namespace

// The libFuzzer entry point (its name is fixed).
extern "C" int LLVMFuzzerTestOneInput(  // NOLINT(readability-identifier-naming)
    const uint8_t* data, std::size_t size) {
  fuzz_requests(data, size);
  // The same bytes as a response head; the last byte picks the request method it answers.
  fuzz_responses(data, size, size > 0 && (data[size - 1] & 1) ? "HEAD" : "GET");
  return 0;
}
