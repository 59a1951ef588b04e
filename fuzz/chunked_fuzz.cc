// libFuzzer target for ChunkedDecoder. The input is a chunked body (and whatever follows it); it
// is decoded in one piece, one byte at a time and in random pieces (a PRNG seeded from the input
// picks piece sizes and tiny output buffers), and again by a reset() decoder. Invariants: every
// way of splitting gives the same outcome (error status, or data, trailers, end of body and the
// number of bytes consumed); each call consumes no more than it was given and produces no more
// than its buffer and its input; a finished body ends exactly after the trailer section's CRLF.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fuzz_check.h"
#include "weft/http/parser.h"

namespace {

using weft::http::ChunkedDecoder;
using weft::http::ParseError;

// What decoding the input produced.
struct Outcome {
  int status = 0;  // the error status, 0 when there was no error
  bool done = false;
  std::size_t consumed = 0;
  std::string data;
  std::vector<std::pair<std::string, std::string>> trailers;

  bool operator==(const Outcome& o) const {
    if (status != 0 || o.status != 0) return status == o.status;  // data before an error varies
    return done == o.done && consumed == o.consumed && data == o.data && trailers == o.trailers;
  }
};

// A small deterministic PRNG (xorshift64*), seeded from the input.
struct Rng {
  uint64_t s;
  uint64_t next() {
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    return s * 0x2545F4914F6CDD1DULL;
  }
  std::size_t below(std::size_t n) { return static_cast<std::size_t>(next() % n); }
};

uint64_t fnv1a(const uint8_t* data, std::size_t size) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (std::size_t i = 0; i < size; ++i) h = (h ^ data[i]) * 0x100000001b3ULL;
  return h | 1;  // xorshift needs a non-zero state
}

// Decodes in with d, handing it pieces of next_piece() bytes and an output buffer of out_cap
// bytes, until the body ends, an error or the end of the input.
template <class NextPiece>
Outcome decode(ChunkedDecoder& d, std::string_view in, std::size_t out_cap,
               NextPiece&& next_piece) {
  Outcome res;
  // Exactly sized, so ASan sees a write past out_cap.
  auto out = std::make_unique<char[]>(out_cap);
  std::size_t pos = 0;
  while (pos < in.size() && !d.done()) {
    std::size_t len = next_piece();
    if (len == 0) len = 1;
    if (len > in.size() - pos) len = in.size() - pos;
    // An exactly sized copy of the piece, so ASan sees a read past it.
    auto piece = std::make_unique<char[]>(len);
    std::memcpy(piece.get(), in.data() + pos, len);
    std::size_t off = 0;
    while (off < len && !d.done()) {
      std::size_t produced = 0;
      ParseError err;
      long n = d.decode(piece.get() + off, len - off, out.get(), out_cap, &produced, err);
      if (n < 0) {
        FUZZ_CHECK(n == -1);
        FUZZ_CHECK(err.status == 400 || err.status == 431);
        FUZZ_CHECK(!err.reason.empty());
        res.status = err.status;
        return res;
      }
      auto used = static_cast<std::size_t>(n);
      FUZZ_CHECK(used <= len - off);
      FUZZ_CHECK(produced <= out_cap && produced <= used);
      FUZZ_CHECK(used > 0 || produced > 0 || d.done());  // progress while there is room
      res.data.append(out.get(), produced);
      off += used;
    }
    pos += off;
  }
  res.done = d.done();
  res.consumed = pos;
  if (!res.done) {
    FUZZ_CHECK(pos == in.size());
    FUZZ_CHECK(d.trailers().empty());
  }
  for (const auto& f : d.trailers()) res.trailers.emplace_back(f.name, f.value);
  return res;
}

}  // namespace

// The libFuzzer entry point (its name is fixed).
extern "C" int LLVMFuzzerTestOneInput(  // NOLINT(readability-identifier-naming)
    const uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);

  // Reference: the whole input at once with room for all of it.
  ChunkedDecoder ref_decoder;
  Outcome ref = decode(ref_decoder, in, size + 1, [&] { return size; });
  if (ref.status == 0 && ref.done) {
    FUZZ_CHECK(ref.consumed >= 5 && ref.consumed <= size);
    FUZZ_CHECK(in.substr(ref.consumed - 2, 2) == "\r\n");
    FUZZ_CHECK(ref.data.size() + 5 <= ref.consumed);
    // Decoding just the body gives the same; the bytes after it were never looked at.
    ChunkedDecoder exact;
    FUZZ_CHECK(decode(exact, in.substr(0, ref.consumed), 7, [] { return 3; }) == ref);
    for (const auto& t : ref.trailers) FUZZ_CHECK(!t.first.empty());
  }

  // One byte at a time into a one-byte buffer.
  {
    ChunkedDecoder d;
    FUZZ_CHECK(decode(d, in, 1, [] { return 1; }) == ref);
  }

  // Random pieces and tiny buffers.
  Rng rng{fnv1a(data, size)};
  for (int round = 0; round < 4; ++round) {
    ChunkedDecoder d;
    std::size_t cap = 1 + rng.below(8);
    std::size_t max_piece = 1 + rng.below(1 + rng.below(64));
    FUZZ_CHECK(decode(d, in, cap, [&] { return 1 + rng.below(max_piece); }) == ref);
  }

  // A decoder reused after reset() behaves as a new one, whatever state it was left in.
  {
    ChunkedDecoder d;
    decode(d, in.substr(0, size / 2), 3, [] { return 5; });
    d.reset();
    FUZZ_CHECK(decode(d, in, 2, [&] { return 1 + rng.below(16); }) == ref);
    // And its trailers outlive a move.
    if (ref.status == 0) {
      ChunkedDecoder moved = std::move(d);
      d.reset();  // NOLINT(bugprone-use-after-move): reset() makes it usable again
      decode(d, "0\r\nX: overwritten\r\n\r\n", 4, [] { return 64; });
      std::vector<std::pair<std::string, std::string>> t;
      for (const auto& f : moved.trailers()) t.emplace_back(f.name, f.value);
      FUZZ_CHECK(t == ref.trailers);
    }
  }
  return 0;
}
