// The strict HTTP/1.x wire parser shared by the server and the client: message heads, chunked
// bodies, request targets and query strings. Pure functions over bytes; no I/O.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "weft/http/headers.h"

namespace weft::http {

// ParseLimits bound what a head may hold; going over one is an error with its own status.
struct ParseLimits {
  // The whole head: start line, fields and the blank line (431 beyond it).
  std::size_t max_header_bytes = 64 * 1024;
  // Header fields (431 beyond it).
  std::size_t max_header_count = 100;
  // The request target (414 beyond it).
  std::size_t max_target_bytes = 8 * 1024;
};

// ParseError says why a message was rejected: the status a server answers with (400, 413, 414,
// 417, 431, 501, 505) and a short reason for logs and the response body.
struct ParseError {
  int status = 0;
  std::string_view reason;
};

// How a message's body is delimited.
enum class BodyKind : uint8_t {
  kNone,        // no body
  kLength,      // Content-Length bytes
  kChunked,     // Transfer-Encoding: chunked
  kUntilClose,  // a response read until the connection closes
};

// RequestHead is a parsed request line and header block. Every view points into the parsed
// input, which must outlive it.
struct RequestHead {
  std::string_view method;
  std::string_view target;
  int minor_version = 1;  // HTTP/1.<minor_version>: 0 or 1
  Headers headers;
  BodyKind body = BodyKind::kNone;
  uint64_t content_length = 0;  // when body == kLength
  std::string_view host;        // the Host field ("" when absent, allowed for HTTP/1.0 only)
  bool keep_alive = true;       // after the version and the Connection field
  bool expect_continue = false;

  // Resets every member, keeping the headers' storage.
  void clear() noexcept;
};

// ResponseHead is a parsed status line and header block; views point into the input.
struct ResponseHead {
  int status = 0;
  std::string_view reason;
  int minor_version = 1;
  Headers headers;
  BodyKind body = BodyKind::kNone;
  uint64_t content_length = 0;
  bool keep_alive = true;

  void clear() noexcept;
};

// HeadScan remembers how far an incomplete head was already scanned, so feeding it more bytes
// costs only the new bytes. Reset it (= {}) for each new message.
struct HeadScan {
  std::size_t pos = 0;
};

// parse_request_head parses the request head at the start of in. Returns the length of the
// head (> 0) when it is complete, 0 when more bytes are needed, or -1 with err set when the
// request must be rejected. Rejected, among others: bare LF line ends, folded lines, white space
// before a colon, control characters in a field, Content-Length with Transfer-Encoding, a
// repeated or malformed Content-Length, a transfer coding other than chunked (501 when the
// coding is unknown), a missing or repeated Host in HTTP/1.1, versions other than 1.0 and 1.1
// (505). Leading empty lines before the request line are skipped, as RFC 9112 allows.
long parse_request_head(std::string_view in, const ParseLimits& limits, RequestHead& out,
                        ParseError& err, HeadScan* scan = nullptr);

// parse_response_head parses a response head with the same strictness. request_method is the
// method of the request it answers (a response to HEAD has no body whatever it says).
long parse_response_head(std::string_view in, const ParseLimits& limits,
                         std::string_view request_method, ResponseHead& out, ParseError& err,
                         HeadScan* scan = nullptr);

// ChunkedDecoder decodes a chunked body incrementally: feed it bytes as they arrive and it
// hands back the data bytes, rejecting malformed framing (bad sizes, bare LF, missing CRLF
// after data, oversized extensions or trailers). Trailer fields are kept and parsed at the end.
class ChunkedDecoder {
 public:
  // Decodes from in, writing data bytes to out (at most out_cap). Returns how many input bytes
  // were consumed; *produced gets how many data bytes were written. Stops early when out is
  // full or the body ended. Returns -1 with err set on malformed input.
  long decode(const char* in, std::size_t n, char* out, std::size_t out_cap, std::size_t* produced,
              ParseError& err);
  // True once the terminating chunk and the trailer section were consumed.
  bool done() const noexcept { return state_ == State::kDone; }
  // Trailer fields (valid until reset() or destruction); empty until done().
  const Headers& trailers() const noexcept { return trailers_; }
  // Forgets everything, ready for a new body.
  void reset() noexcept;

  // Limits on the chunk-extension bytes of one chunk line and on the whole trailer section.
  static constexpr std::size_t kMaxExtensionBytes = 4096;
  static constexpr std::size_t kMaxTrailerBytes = 16 * 1024;

 private:
  enum class State : uint8_t {
    kSize,
    kExtension,
    kSizeLf,
    kData,
    kDataCr,
    kDataLf,
    kTrailer,
    kDone,
  };
  bool finish_trailers(ParseError& err);

  State state_ = State::kSize;
  int size_digits_ = 0;
  uint64_t remaining_ = 0;
  std::size_t ext_bytes_ = 0;
  std::string trailer_bytes_;
  Headers trailers_;
};

// Target is a request target split into its parts. Views point into the target, except path,
// which is percent-decoded into its own string when it holds escapes.
struct Target {
  std::string_view scheme;     // "http" for absolute-form, else ""
  std::string_view authority;  // host[:port] for absolute- and authority-form, else ""
  std::string_view raw_path;   // as sent ("*" for asterisk-form)
  std::string_view raw_query;  // after '?', without it
  std::string path;            // raw_path percent-decoded
};

// parse_target splits a request target in origin-form ("/a/b?x=1"), absolute-form
// ("http://host/a?x"), authority-form ("host:443", only for CONNECT) or asterisk-form ("*",
// only for OPTIONS). Returns false for anything else, for control bytes, spaces or DEL in the
// target, for a bad percent escape and for a path that decodes to a NUL byte.
bool parse_target(std::string_view target, std::string_view method, Target& out);

// percent_decode decodes %XX escapes (and '+' as space when plus_is_space); returns false on a
// malformed escape.
bool percent_decode(std::string_view in, std::string& out, bool plus_is_space = false);

// QueryParams is the decoded key/value list of a query string, in order; keys may repeat.
using QueryParams = std::vector<std::pair<std::string, std::string>>;

// parse_query decodes "a=1&b=x+y&a=2" into pairs (pairs with a malformed escape are skipped,
// as Go's ParseQuery skips them, and counted in *bad when given).
QueryParams parse_query(std::string_view raw_query, std::size_t* bad = nullptr);

}  // namespace weft::http
