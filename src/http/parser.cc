// The strict HTTP/1.x parser: heads, chunked bodies, targets and query strings.
#include "weft/http/parser.h"

#include <array>
#include <cstring>

namespace weft::http {
namespace {

// Character classes of RFC 9110, one table lookup per byte.
enum : uint8_t { kTchar = 1, kVchar = 2, kHostChar = 4 };

constexpr std::array<uint8_t, 256> make_classes() {
  std::array<uint8_t, 256> t{};
  for (int c = 0x21; c <= 0x7e; ++c) t[c] |= kVchar;
  for (int c = 0x80; c <= 0xff; ++c) t[c] |= kVchar;  // obs-text
  for (int c = '0'; c <= '9'; ++c) t[c] |= kTchar | kHostChar;
  for (int c = 'a'; c <= 'z'; ++c) t[c] |= kTchar | kHostChar;
  for (int c = 'A'; c <= 'Z'; ++c) t[c] |= kTchar | kHostChar;
  for (char c : std::string_view("!#$%&'*+-.^_`|~")) t[static_cast<uint8_t>(c)] |= kTchar;
  for (char c : std::string_view("-._~!$&'()*+,;=:[]%")) t[static_cast<uint8_t>(c)] |= kHostChar;
  return t;
}
constexpr std::array<uint8_t, 256> kClass = make_classes();

inline bool is_tchar(char c) {
  return kClass[static_cast<uint8_t>(c)] & kTchar;
}
inline bool is_vchar(char c) {
  return kClass[static_cast<uint8_t>(c)] & kVchar;
}
inline bool is_ows(char c) {
  return c == ' ' || c == '\t';
}
inline char lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
}

long fail(ParseError& err, int status, std::string_view reason) {
  err.status = status;
  err.reason = reason;
  return -1;
}

// Splits a comma-separated list of tokens; calls fn(token) for each. Returns false when an
// element is empty or not a token.
template <class Fn>
bool for_each_token(std::string_view list, Fn&& fn) {
  for (;;) {
    std::size_t comma = list.find(',');
    std::string_view item = trim_ows(list.substr(0, comma));
    if (item.empty()) return false;
    for (char c : item)
      if (!is_tchar(c)) return false;
    fn(item);
    if (comma == std::string_view::npos) return true;
    list.remove_prefix(comma + 1);
  }
}

bool parse_decimal(std::string_view s, uint64_t& out) {
  if (s.empty() || s.size() > 18) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  out = v;
  return true;
}

// Finds the end of a head that starts at in[start]: the index just past the blank line, 0 when
// it is not complete yet, -1 for a bare LF. scan->pos carries the progress between calls.
long find_head_end(std::string_view in, std::size_t start, HeadScan* scan, ParseError& err) {
  std::size_t pos = scan && scan->pos > start ? scan->pos : start;
  const char* base = in.data();
  while (pos < in.size()) {
    const void* hit = std::memchr(base + pos, '\n', in.size() - pos);
    if (!hit) {
      pos = in.size();
      break;
    }
    std::size_t i = static_cast<const char*>(hit) - base;
    if (i == start || base[i - 1] != '\r') return fail(err, 400, "bare LF line ending");
    if (i >= start + 3 && base[i - 2] == '\n') {
      if (scan) scan->pos = 0;
      return static_cast<long>(i + 1);
    }
    pos = i + 1;
  }
  if (scan) scan->pos = pos;
  return 0;
}

// Parses the field lines in [p, end) (which ends with the blank line's CRLF), calling
// on_field(name, value) for each; returns false with err set on a malformed line.
template <class OnField>
bool parse_fields(const char* p, const char* end, std::size_t max_count, ParseError& err,
                  OnField&& on_field) {
  std::size_t count = 0;
  while (p < end) {
    if (*p == '\r') {  // the blank line ends the block
      if (p + 2 == end && p[1] == '\n') return true;
      return fail(err, 400, "malformed header block") == 0;
    }
    if (is_ows(*p)) return fail(err, 400, "folded header line (obs-fold)") == 0;
    const char* name = p;
    while (p < end && is_tchar(*p)) ++p;
    if (p == end) return fail(err, 400, "malformed header line") == 0;
    if (*p != ':') {
      if (is_ows(*p)) return fail(err, 400, "white space before the colon") == 0;
      return fail(err, 400, "invalid character in a header name") == 0;
    }
    if (p == name) return fail(err, 400, "empty header name") == 0;
    std::string_view field_name(name, p - name);
    ++p;
    while (p < end && is_ows(*p)) ++p;
    const char* value = p;
    while (p < end && (is_vchar(*p) || is_ows(*p))) ++p;
    if (p + 1 >= end || p[0] != '\r' || p[1] != '\n')
      return fail(err, 400, "control character in a header field") == 0;
    const char* value_end = p;
    while (value_end > value && is_ows(value_end[-1])) --value_end;
    p += 2;
    if (++count > max_count) return fail(err, 431, "too many header fields") == 0;
    if (!on_field(field_name, std::string_view(value, value_end - value))) return false;
  }
  return fail(err, 400, "malformed header block") == 0;
}

// Parses "HTTP/1.x"; returns the minor version, -1 for a well-formed other version (505), -2
// for garbage (400).
int parse_version(std::string_view v) {
  if (v.size() != 8 || v.substr(0, 5) != "HTTP/" || v[6] != '.') return -2;
  char major = v[5], minor = v[7];
  if (major < '0' || major > '9' || minor < '0' || minor > '9') return -2;
  if (major != '1') return -1;
  return minor == '0' ? 0 : 1;  // 1.2 and up are answered as 1.1 (RFC 9110 2.5)
}

// The framing and connection semantics both heads share.
struct FieldSemantics {
  bool has_length = false;
  bool has_te = false;
  bool chunked = false;
  bool conn_close = false;
  bool conn_keep_alive = false;
  uint64_t length = 0;

  // Returns false with err set when the field breaks the framing rules.
  bool apply(std::string_view name, std::string_view value, ParseError& err) {
    if (name.size() == 14 && equal_fold(name, "content-length")) {
      if (has_length) return fail(err, 400, "repeated Content-Length") == 0;
      if (!parse_decimal(value, length)) return fail(err, 400, "invalid Content-Length") == 0;
      has_length = true;
    } else if (name.size() == 17 && equal_fold(name, "transfer-encoding")) {
      if (has_te) return fail(err, 400, "repeated Transfer-Encoding") == 0;
      has_te = true;
      int count = 0;
      bool unknown = false;
      bool valid = for_each_token(value, [&](std::string_view t) {
        ++count;
        if (equal_fold(t, "chunked")) {
          chunked = true;
        } else if (!(equal_fold(t, "gzip") || equal_fold(t, "deflate") ||
                     equal_fold(t, "compress") || equal_fold(t, "x-gzip") ||
                     equal_fold(t, "x-compress"))) {
          unknown = true;
        }
      });
      if (!valid) return fail(err, 400, "malformed Transfer-Encoding") == 0;
      if (unknown) return fail(err, 501, "unknown transfer coding") == 0;
      if (count != 1 || !chunked)
        return fail(err, 400, "Transfer-Encoding other than chunked") == 0;
    } else if (name.size() == 10 && equal_fold(name, "connection")) {
      // Every element counts: an empty or odd one (lists may hold empty elements, RFC 9110
      // 5.6.1) must not hide a "close" after it.
      conn_close = conn_close || has_token(value, "close");
      conn_keep_alive = conn_keep_alive || has_token(value, "keep-alive");
    }
    return true;
  }

  bool check(ParseError& err) const {
    if (has_length && has_te)
      return fail(err, 400, "both Content-Length and Transfer-Encoding") == 0;
    return true;
  }
};

bool valid_host(std::string_view h) {
  for (char c : h)
    if (!(kClass[static_cast<uint8_t>(c)] & kHostChar)) return false;
  return true;
}

}  // namespace

void RequestHead::clear() noexcept {
  method = target = host = {};
  minor_version = 1;
  headers.clear();
  body = BodyKind::kNone;
  content_length = 0;
  keep_alive = true;
  expect_continue = false;
}

void ResponseHead::clear() noexcept {
  status = 0;
  reason = {};
  minor_version = 1;
  headers.clear();
  body = BodyKind::kNone;
  content_length = 0;
  keep_alive = true;
}

long parse_request_head(std::string_view in, const ParseLimits& limits, RequestHead& out,
                        ParseError& err, HeadScan* scan) {
  // Skip empty lines before the request line.
  std::size_t start = 0;
  while (start + 1 < in.size() && in[start] == '\r' && in[start + 1] == '\n') start += 2;
  long end = find_head_end(in, start, scan, err);
  if (end < 0) return -1;
  if (end == 0) {
    // An incomplete head is refused as soon as its target is over the limit, whether or not
    // the request line has ended. Only the target counts (from the line's first SP to the next
    // SP or control byte, as below), so how the bytes arrive never changes the answer.
    std::size_t line_end = in.find('\r', start);  // npos while the request line is arriving
    std::size_t sp = in.find(' ', start);
    if (sp < line_end) {
      std::size_t t = sp + 1, e = t;
      while (e < in.size() && e - t <= limits.max_target_bytes &&
             static_cast<uint8_t>(in[e]) > 0x20 && in[e] != 0x7f)
        ++e;
      if (e - t > limits.max_target_bytes) return fail(err, 414, "request target too long");
    }
    if (in.size() > limits.max_header_bytes) return fail(err, 431, "request header too large");
    return 0;
  }
  if (static_cast<std::size_t>(end) > limits.max_header_bytes)
    return fail(err, 431, "request header too large");

  out.clear();
  const char* p = in.data() + start;
  const char* head_end = in.data() + end;
  // Request line: method SP target SP version CRLF.
  const char* m = p;
  while (is_tchar(*p)) ++p;
  if (p == m || *p != ' ') return fail(err, 400, "malformed request line");
  out.method = std::string_view(m, p - m);
  const char* t = ++p;
  while (static_cast<uint8_t>(*p) > 0x20 && *p != 0x7f) ++p;
  if (p == t || *p != ' ') return fail(err, 400, "malformed request target");
  if (static_cast<std::size_t>(p - t) > limits.max_target_bytes)
    return fail(err, 414, "request target too long");
  out.target = std::string_view(t, p - t);
  const char* v = ++p;
  while (*p != '\r') ++p;
  int minor = parse_version(std::string_view(v, p - v));
  if (minor == -2) return fail(err, 400, "malformed HTTP version");
  if (minor == -1) return fail(err, 505, "HTTP version not supported");
  out.minor_version = minor;
  if (p[1] != '\n') return fail(err, 400, "malformed request line");
  p += 2;

  FieldSemantics sem;
  bool has_host = false;
  bool expect_other = false;
  bool ok = parse_fields(p, head_end, limits.max_header_count, err,
                         [&](std::string_view name, std::string_view value) {
                           if (!sem.apply(name, value, err)) return false;
                           if (name.size() == 4 && equal_fold(name, "host")) {
                             if (has_host) return fail(err, 400, "repeated Host") == 0;
                             if (!valid_host(value)) return fail(err, 400, "invalid Host") == 0;
                             has_host = true;
                             out.host = value;
                           } else if (name.size() == 6 && equal_fold(name, "expect")) {
                             if (equal_fold(value, "100-continue"))
                               out.expect_continue = true;
                             else
                               expect_other = true;
                           }
                           out.headers.add_view(name, value);
                           return true;
                         });
  if (!ok || !sem.check(err)) return -1;
  if (minor == 1 && !has_host) return fail(err, 400, "missing Host");
  if (minor == 0 && sem.has_te) return fail(err, 400, "Transfer-Encoding in HTTP/1.0");
  if (expect_other) return fail(err, 417, "unsupported expectation");
  if (minor == 0) out.expect_continue = false;
  if (sem.chunked) {
    out.body = BodyKind::kChunked;
  } else if (sem.has_length && sem.length > 0) {
    out.body = BodyKind::kLength;
    out.content_length = sem.length;
  }
  out.keep_alive = minor == 1 ? !sem.conn_close : (sem.conn_keep_alive && !sem.conn_close);
  return end;
}

long parse_response_head(std::string_view in, const ParseLimits& limits,
                         std::string_view request_method, ResponseHead& out, ParseError& err,
                         HeadScan* scan) {
  long end = find_head_end(in, 0, scan, err);
  if (end < 0) return -1;
  if (end == 0) {
    if (in.size() > limits.max_header_bytes) return fail(err, 431, "response header too large");
    return 0;
  }
  if (static_cast<std::size_t>(end) > limits.max_header_bytes)
    return fail(err, 431, "response header too large");
  out.clear();
  const char* p = in.data();
  const char* head_end = in.data() + end;
  if (end < 12) return fail(err, 400, "malformed status line");
  int minor = parse_version(std::string_view(p, 8));
  if (minor < 0) return fail(err, minor == -1 ? 505 : 400, "malformed status line version");
  out.minor_version = minor;
  p += 8;
  if (*p++ != ' ') return fail(err, 400, "malformed status line");
  int code = 0;
  for (int i = 0; i < 3; ++i, ++p) {
    if (*p < '0' || *p > '9') return fail(err, 400, "malformed status code");
    code = code * 10 + (*p - '0');
  }
  if (code < 100) return fail(err, 400, "malformed status code");
  out.status = code;
  if (*p == ' ') {
    const char* r = ++p;
    while (is_vchar(*p) || is_ows(*p)) ++p;
    out.reason = std::string_view(r, p - r);
  }
  if (p[0] != '\r' || p[1] != '\n') return fail(err, 400, "malformed status line");
  p += 2;
  FieldSemantics sem;
  bool ok = parse_fields(p, head_end, limits.max_header_count, err,
                         [&](std::string_view name, std::string_view value) {
                           if (!sem.apply(name, value, err)) return false;
                           out.headers.add_view(name, value);
                           return true;
                         });
  if (!ok || !sem.check(err)) return -1;
  out.keep_alive = minor == 1 ? !sem.conn_close : (sem.conn_keep_alive && !sem.conn_close);
  bool no_body = request_method == "HEAD" || (code >= 100 && code < 200) || code == 204 ||
                 code == 304 || (request_method == "CONNECT" && code >= 200 && code < 300);
  if (no_body) {
    out.body = BodyKind::kNone;
  } else if (sem.chunked) {
    out.body = BodyKind::kChunked;
  } else if (sem.has_length) {
    out.body = sem.length > 0 ? BodyKind::kLength : BodyKind::kNone;
    out.content_length = sem.length;
  } else {
    out.body = BodyKind::kUntilClose;
    out.keep_alive = false;
  }
  return end;
}

void ChunkedDecoder::reset() noexcept {
  state_ = State::kSize;
  size_digits_ = 0;
  remaining_ = 0;
  ext_bytes_ = 0;
  trailer_bytes_.clear();
  trailers_.clear();
}

bool ChunkedDecoder::finish_trailers(ParseError& err) {
  const char* p = trailer_bytes_.data();
  const char* end = p + trailer_bytes_.size();
  return parse_fields(p, end, 100, err, [&](std::string_view name, std::string_view value) {
    if (equal_fold(name, "content-length") || equal_fold(name, "transfer-encoding") ||
        equal_fold(name, "host"))
      return fail(err, 400, "forbidden trailer field") == 0;
    // Copied: views into trailer_bytes_ would dangle once the decoder is moved (a short
    // string moves its bytes).
    trailers_.add(name, value);
    return true;
  });
}

long ChunkedDecoder::decode(const char* in, std::size_t n, char* out, std::size_t out_cap,
                            std::size_t* produced, ParseError& err) {
  std::size_t i = 0, made = 0;
  while (i < n && state_ != State::kDone) {
    char c = in[i];
    switch (state_) {
      case State::kSize: {
        int digit = (c >= '0' && c <= '9')   ? c - '0'
                    : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                    : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                                             : -1;
        if (digit >= 0) {
          if (++size_digits_ > 15) return fail(err, 400, "chunk size too long");
          remaining_ = remaining_ * 16 + static_cast<uint64_t>(digit);
        } else if (size_digits_ == 0) {
          return fail(err, 400, "malformed chunk size");
        } else if (c == ';') {
          state_ = State::kExtension;
        } else if (c == '\r') {
          state_ = State::kSizeLf;
        } else {
          return fail(err, 400, "malformed chunk size");
        }
        ++i;
        break;
      }
      case State::kExtension:
        if (c == '\r') {
          state_ = State::kSizeLf;
        } else if (!(is_vchar(c) || c == '\t' || c == ' ')) {
          return fail(err, 400, "control character in a chunk extension");
        } else if (++ext_bytes_ > kMaxExtensionBytes) {
          return fail(err, 400, "chunk extension too long");
        }
        ++i;
        break;
      case State::kSizeLf:
        if (c != '\n') return fail(err, 400, "malformed chunk line");
        ++i;
        ext_bytes_ = 0;
        size_digits_ = 0;
        state_ = remaining_ == 0 ? State::kTrailer : State::kData;
        break;
      case State::kData: {
        std::size_t take = n - i;
        if (take > remaining_) take = static_cast<std::size_t>(remaining_);
        if (take > out_cap - made) take = out_cap - made;
        if (take == 0) {
          *produced = made;
          return static_cast<long>(i);
        }
        std::memcpy(out + made, in + i, take);
        made += take;
        i += take;
        remaining_ -= take;
        if (remaining_ == 0) state_ = State::kDataCr;
        break;
      }
      case State::kDataCr:
        if (c != '\r') return fail(err, 400, "missing CRLF after chunk data");
        state_ = State::kDataLf;
        ++i;
        break;
      case State::kDataLf:
        if (c != '\n') return fail(err, 400, "missing CRLF after chunk data");
        state_ = State::kSize;
        ++i;
        break;
      case State::kTrailer: {
        if (c == '\n' && (trailer_bytes_.empty() || trailer_bytes_.back() != '\r'))
          return fail(err, 400, "bare LF line ending");
        if (trailer_bytes_.size() >= kMaxTrailerBytes) return fail(err, 431, "trailer too large");
        trailer_bytes_.push_back(c);
        ++i;
        std::size_t sz = trailer_bytes_.size();
        bool ended = c == '\n' && (sz == 2 || (sz >= 4 && trailer_bytes_[sz - 3] == '\n'));
        if (ended) {
          if (!finish_trailers(err)) return -1;
          state_ = State::kDone;
        }
        break;
      }
      case State::kDone:
        break;
    }
  }
  *produced = made;
  return static_cast<long>(i);
}

bool percent_decode(std::string_view in, std::string& out, bool plus_is_space) {
  out.clear();
  out.reserve(in.size());
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (std::size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size()) return false;
      int hi = hex(in[i + 1]);
      int lo = hex(in[i + 2]);
      if (hi < 0 || lo < 0) return false;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return true;
}

bool parse_target(std::string_view target, std::string_view method, Target& out) {
  out = Target{};
  if (target.empty()) return false;
  // The request line never yields SP, DEL or control bytes; refuse them here too so a caller
  // with another source still never gets them (a NUL above all) in a path.
  for (char c : target)
    if (static_cast<uint8_t>(c) <= 0x20 || c == 0x7f) return false;
  std::string_view rest = target;
  if (target[0] == '/') {
    // origin-form
  } else if (target == "*") {
    if (method != "OPTIONS") return false;
    out.raw_path = target;
    out.path = "*";
    return true;
  } else if (method == "CONNECT") {
    if (target.find_first_of("/?#") != std::string_view::npos) return false;
    out.authority = target;
    return valid_host(target);
  } else {
    std::size_t colon = target.find("://");
    if (colon == std::string_view::npos) return false;
    std::string_view scheme = target.substr(0, colon);
    if (!equal_fold(scheme, "http") && !equal_fold(scheme, "https")) return false;
    out.scheme = scheme;
    rest = target.substr(colon + 3);
    std::size_t slash = rest.find_first_of("/?");
    out.authority = rest.substr(0, slash);
    if (out.authority.empty() || !valid_host(out.authority)) return false;
    rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash);
  }
  std::size_t q = rest.find('?');
  out.raw_path = rest.substr(0, q);
  if (q != std::string_view::npos) out.raw_query = rest.substr(q + 1);
  std::size_t hash = out.raw_query.find('#');
  if (hash != std::string_view::npos) out.raw_query = out.raw_query.substr(0, hash);
  if (out.raw_path.find('#') != std::string_view::npos) return false;
  if (out.raw_path.empty()) {
    out.path = "/";
    return true;
  }
  if (out.raw_path.find('%') == std::string_view::npos) {
    out.path.assign(out.raw_path);
    return true;
  }
  if (!percent_decode(out.raw_path, out.path)) return false;
  return out.path.find('\0') == std::string::npos;
}

QueryParams parse_query(std::string_view raw, std::size_t* bad) {
  QueryParams params;
  std::size_t bad_count = 0;
  while (!raw.empty()) {
    std::size_t amp = raw.find('&');
    std::string_view pair = raw.substr(0, amp);
    raw = amp == std::string_view::npos ? std::string_view() : raw.substr(amp + 1);
    if (pair.empty()) continue;
    std::size_t eq = pair.find('=');
    std::string key, value;
    bool ok = percent_decode(pair.substr(0, eq), key, true);
    if (ok && eq != std::string_view::npos) ok = percent_decode(pair.substr(eq + 1), value, true);
    if (!ok) {
      ++bad_count;
      continue;
    }
    params.emplace_back(std::move(key), std::move(value));
  }
  if (bad) *bad = bad_count;
  return params;
}

}  // namespace weft::http
