// libFuzzer target for parse_target, parse_query and percent_decode. The input is a request
// target, tried with several methods, and also a query string and an escaped string. Invariants:
// an accepted target's parts are views into it in the form its method allows, the raw path
// holds no '?' or '#', the decoded path never holds a NUL (or any control byte the target could
// not carry) and is the percent-decoding of the raw path; a plain origin-form target is always
// accepted; parse_query keeps or counts every non-empty pair; percent_decode accepts exactly the
// strings whose every '%' starts a two-hex-digit escape, and decodes what it encodes.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.h"
#include "weft/http/headers.h"
#include "weft/http/parser.h"

namespace {

using weft::http::equal_fold;
using weft::http::percent_decode;
using weft::http::QueryParams;
using weft::http::Target;

bool within(std::string_view v, std::string_view outer) {
  if (v.empty()) return true;
  return v.data() >= outer.data() && v.data() + v.size() <= outer.data() + outer.size();
}

bool is_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// True when every '%' in s starts a %XX escape: exactly what percent_decode accepts.
bool escapes_ok(std::string_view s) {
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') continue;
    if (i + 2 >= s.size() || !is_hex(s[i + 1]) || !is_hex(s[i + 2])) return false;
    i += 2;
  }
  return true;
}

bool is_ctl_or_space(char c) {
  return static_cast<uint8_t>(c) <= 0x20 || c == 0x7f;
}

void check_target(std::string_view target, std::string_view method) {
  Target t;
  bool ok = parse_target(target, method, t);
  // The result does not depend on what the Target held before.
  Target again;
  again.path = "stale";
  FUZZ_CHECK(parse_target(target, method, again) == ok);

  bool plain_origin =
      !target.empty() && target[0] == '/' && target.find_first_of("%#") == std::string_view::npos;
  for (char c : target) plain_origin = plain_origin && !is_ctl_or_space(c);
  if (plain_origin) FUZZ_CHECK(ok);
  if (!ok) return;

  FUZZ_CHECK(again.path == t.path && again.raw_path == t.raw_path &&
             again.raw_query == t.raw_query && again.authority == t.authority);
  FUZZ_CHECK(t.path.find('\0') == std::string::npos);
  for (char c : target) FUZZ_CHECK(!is_ctl_or_space(c));
  FUZZ_CHECK(within(t.scheme, target) && within(t.authority, target));
  FUZZ_CHECK(within(t.raw_path, target) && within(t.raw_query, target));
  FUZZ_CHECK(t.raw_path.find_first_of("?#") == std::string_view::npos);
  FUZZ_CHECK(t.raw_query.find('#') == std::string_view::npos);

  if (target == "*") {
    FUZZ_CHECK(method == "OPTIONS" && t.path == "*" && t.raw_path == "*");
    return;
  }
  if (target[0] != '/' && t.scheme.empty()) {
    // authority-form
    FUZZ_CHECK(method == "CONNECT");
    FUZZ_CHECK(t.authority == target && t.raw_path.empty() && t.path.empty());
    FUZZ_CHECK(t.authority.find_first_of("/?#@ ") == std::string_view::npos);
    return;
  }
  if (!t.scheme.empty()) {
    // absolute-form
    FUZZ_CHECK(equal_fold(t.scheme, "http") || equal_fold(t.scheme, "https"));
    FUZZ_CHECK(!t.authority.empty());
    FUZZ_CHECK(t.authority.find_first_of("/?#@") == std::string_view::npos);
  } else {
    FUZZ_CHECK(t.authority.empty() && t.raw_path.data() == target.data());
  }
  FUZZ_CHECK(!t.path.empty() && t.path[0] == '/');
  if (t.raw_path.empty()) {
    FUZZ_CHECK(t.path == "/");
  } else {
    FUZZ_CHECK(t.raw_path[0] == '/');
    std::string decoded;
    FUZZ_CHECK(percent_decode(t.raw_path, decoded));
    FUZZ_CHECK(decoded == t.path);
  }
}

void check_query(std::string_view raw) {
  std::size_t bad = 12345;
  QueryParams q = weft::http::parse_query(raw, &bad);
  // Every non-empty '&'-separated pair is either kept or counted as bad.
  std::size_t pairs = 0, bad_pairs = 0;
  std::string_view rest = raw;
  while (true) {
    std::size_t amp = rest.find('&');
    std::string_view pair = rest.substr(0, amp);
    if (!pair.empty()) {
      ++pairs;
      if (!escapes_ok(pair)) ++bad_pairs;
    }
    if (amp == std::string_view::npos) break;
    rest.remove_prefix(amp + 1);
  }
  FUZZ_CHECK(bad == bad_pairs);
  FUZZ_CHECK(q.size() + bad == pairs);
  std::size_t total = 0;
  for (const auto& [k, v] : q) total += k.size() + v.size();
  FUZZ_CHECK(total <= raw.size());
}

void check_percent_decode(std::string_view in) {
  std::string out;
  bool ok = percent_decode(in, out);
  FUZZ_CHECK(ok == escapes_ok(in));
  std::string out_plus;
  FUZZ_CHECK(percent_decode(in, out_plus, true) == ok);
  if (!ok) return;
  std::size_t escapes = 0;
  for (char c : in) escapes += c == '%';
  FUZZ_CHECK(out.size() == in.size() - 2 * escapes);
  FUZZ_CHECK(out_plus.size() == out.size());
  // Encoding every byte and decoding it again gives the bytes back.
  static const char kHex[] = "0123456789ABCDEF";
  std::string encoded;
  for (char c : out) {
    auto u = static_cast<uint8_t>(c);
    encoded += '%';
    encoded += kHex[u >> 4];
    encoded += kHex[u & 15];
  }
  std::string round_trip;
  FUZZ_CHECK(percent_decode(encoded, round_trip, true) && round_trip == out);
}

}  // namespace

// The libFuzzer entry point (its name is fixed).
extern "C" int LLVMFuzzerTestOneInput(  // NOLINT(readability-identifier-naming)
    const uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  for (std::string_view method : {"GET", "OPTIONS", "CONNECT", "POST"}) check_target(in, method);
  check_query(in);
  check_percent_decode(in);
  return 0;
}
