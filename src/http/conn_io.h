// Connection plumbing shared by the server and the client: the input buffer a head is parsed
// from, and the body reader that applies a message's framing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <system_error>

#include "weft/http/parser.h"
#include "weft/net/net.h"

namespace weft::http::detail {

// InputBuffer holds bytes read from a connection and not yet consumed. While pinned, the bytes
// before the read position never move (a parsed head's views point into them); unpinned, the
// buffer compacts or grows as needed.
class InputBuffer {
 public:
  // The unconsumed bytes.
  std::string_view data() const noexcept { return {buf_.get() + r_, w_ - r_}; }
  std::size_t size() const noexcept { return w_ - r_; }
  bool empty() const noexcept { return r_ == w_; }
  void consume(std::size_t n) noexcept {
    r_ += n;
    if (r_ == w_) r_ = w_ = pinned_ ? pin_ : 0;
  }
  // Reads once from conn into free space: the bytes read, 0 at end of stream. Unpinned, the
  // buffer may grow up to max_cap; std::errc::no_buffer_space when it is full at max_cap (or,
  // pinned, has no room left after the pin).
  Result<std::size_t> fill(net::Conn& conn, std::size_t max_cap);
  // Makes the consumed bytes immovable until unpin().
  void pin() noexcept {
    pinned_ = true;
    pin_ = r_;
  }
  void unpin() noexcept { pinned_ = false; }
  // Free bytes after the first n unconsumed bytes: what a body can use once a head of n bytes
  // is consumed and pinned.
  std::size_t room_after(std::size_t n) const noexcept { return cap_ - r_ - n; }
  // Grows the buffer to at least cap bytes (unpinned only; moves the data).
  void reserve(std::size_t cap);
  // Frees the storage when nothing is buffered (an idle connection keeps no buffer).
  void release_if_empty() noexcept;
  std::size_t capacity() const noexcept { return cap_; }
  // Bytes read from the connection so far: those fill() read, plus those a reader took past
  // the buffer and reported with count_read().
  uint64_t bytes_read() const noexcept { return bytes_read_; }
  void count_read(std::size_t n) noexcept { bytes_read_ += n; }

 private:
  std::unique_ptr<char[]> buf_;
  std::size_t cap_ = 0;
  std::size_t r_ = 0;
  std::size_t w_ = 0;
  std::size_t pin_ = 0;
  bool pinned_ = false;
  uint64_t bytes_read_ = 0;
};

// BodyReader reads one message body off a connection according to its framing, taking the
// bytes already buffered first. Errors are sticky.
class BodyReader {
 public:
  // Called before the first read (the server sends "100 Continue" from it).
  using BeforeFirstRead = std::error_code (*)(void* arg);

  // Starts a body: kind and length from the head; limit caps the decoded bytes.
  void start(InputBuffer* in, net::Conn* conn, BodyKind kind, uint64_t length, uint64_t limit,
             BeforeFirstRead hook = nullptr, void* hook_arg = nullptr) noexcept;
  // Reads up to out.size() decoded bytes; 0 at the end of the body.
  Result<std::size_t> read(std::span<std::byte> out);
  // True once the whole body was consumed.
  bool done() const noexcept { return done_; }
  // The first error read() returned (empty when none).
  std::error_code error() const noexcept { return err_; }
  // Reads and drops the rest of the body, at most max bytes; true when the body ended cleanly.
  bool discard(uint64_t max);
  // The trailers of a chunked body.
  const Headers& trailers() const noexcept { return chunked_.trailers(); }

 private:
  Result<std::size_t> fail(std::error_code ec) {
    err_ = ec;
    return ec;
  }
  Result<std::size_t> read_length(std::span<std::byte> out);
  Result<std::size_t> read_chunked(std::span<std::byte> out);
  Result<std::size_t> read_until_close(std::span<std::byte> out);

  InputBuffer* in_ = nullptr;
  net::Conn* conn_ = nullptr;
  BodyKind kind_ = BodyKind::kNone;
  uint64_t remaining_ = 0;
  uint64_t limit_ = 0;
  uint64_t total_ = 0;
  bool done_ = true;
  bool touched_ = false;
  BeforeFirstRead hook_ = nullptr;
  void* hook_arg_ = nullptr;
  std::error_code err_;
  ChunkedDecoder chunked_;
};

// The largest buffer a connection reads into while it waits for a head is the head limit
// plus this much (a pipelined body may follow the head).
inline constexpr std::size_t kReadSlack = 4096;
// The first allocation of a connection's input buffer.
inline constexpr std::size_t kInitialBuffer = 4096;

}  // namespace weft::http::detail
