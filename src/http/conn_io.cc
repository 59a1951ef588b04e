// InputBuffer and BodyReader: buffered reads and body framing for server and client.
#include "http/conn_io.h"

#include <algorithm>
#include <cstring>

#include "weft/http/request.h"

namespace weft::http::detail {

Result<std::size_t> InputBuffer::fill(net::Conn& conn, std::size_t max_cap) {
  if (!buf_) {
    // An idle connection holds no buffer while it waits.
    if (auto ec = conn.wait_readable()) return ec;
    reserve(kInitialBuffer);
  }
  if (w_ == cap_) {
    std::size_t base = pinned_ ? pin_ : 0;
    if (r_ > base) {
      std::memmove(buf_.get() + base, buf_.get() + r_, w_ - r_);
      w_ -= r_ - base;
      r_ = base;
    }
    if (w_ == cap_) {
      if (pinned_ || cap_ >= max_cap) return std::errc::no_buffer_space;
      reserve(std::min(cap_ * 2, max_cap));
    }
  }
  auto n = conn.read(buf_.get() + w_, cap_ - w_);
  if (!n) return n;
  w_ += n.value();
  bytes_read_ += n.value();
  return n;
}

void InputBuffer::reserve(std::size_t cap) {
  if (cap <= cap_) return;
  std::unique_ptr<char[]> fresh(new char[cap]);  // no zero fill: every byte is read before use
  if (w_ > r_) std::memcpy(fresh.get(), buf_.get() + r_, w_ - r_);
  w_ -= r_;
  r_ = 0;
  buf_ = std::move(fresh);
  cap_ = cap;
}

void InputBuffer::release_if_empty() noexcept {
  if (r_ != w_ || pinned_) return;
  buf_.reset();
  cap_ = r_ = w_ = 0;
}

void BodyReader::start(InputBuffer* in, net::Conn* conn, BodyKind kind, uint64_t length,
                       uint64_t limit, BeforeFirstRead hook, void* hook_arg) noexcept {
  in_ = in;
  conn_ = conn;
  kind_ = kind;
  remaining_ = kind == BodyKind::kLength ? length : 0;
  limit_ = limit;
  total_ = 0;
  done_ = kind == BodyKind::kNone;
  touched_ = false;
  hook_ = hook;
  hook_arg_ = hook_arg;
  err_ = {};
  chunked_.reset();
}

Result<std::size_t> BodyReader::read(std::span<std::byte> out) {
  if (err_) return err_;
  if (!touched_) {
    touched_ = true;
    if (hook_ && !done_) {
      if (auto ec = hook_(hook_arg_)) return fail(ec);
    }
  }
  if (done_ || out.empty()) return std::size_t{0};
  switch (kind_) {
    case BodyKind::kLength:
      return read_length(out);
    case BodyKind::kChunked:
      return read_chunked(out);
    case BodyKind::kUntilClose:
      return read_until_close(out);
    case BodyKind::kNone:
      break;
  }
  return std::size_t{0};
}

Result<std::size_t> BodyReader::read_length(std::span<std::byte> out) {
  if (total_ + remaining_ > limit_) return fail(BodyError::kTooLarge);
  std::size_t want = static_cast<std::size_t>(std::min<uint64_t>(out.size(), remaining_));
  std::size_t got;
  if (!in_->empty()) {
    got = std::min(want, in_->size());
    std::memcpy(out.data(), in_->data().data(), got);
    in_->consume(got);
  } else if (want >= kInitialBuffer) {
    // A large read goes straight into the caller's buffer.
    auto n = conn_->read(out.data(), want);
    if (!n) return fail(n.error());
    if (n.value() == 0) return fail(BodyError::kTruncated);
    got = n.value();
    in_->count_read(got);
  } else {
    auto n = in_->fill(*conn_, 0);
    if (!n) return fail(n.error());
    if (n.value() == 0) return fail(BodyError::kTruncated);
    got = std::min(want, in_->size());
    std::memcpy(out.data(), in_->data().data(), got);
    in_->consume(got);
  }
  remaining_ -= got;
  total_ += got;
  if (remaining_ == 0) done_ = true;
  return got;
}

Result<std::size_t> BodyReader::read_chunked(std::span<std::byte> out) {
  for (;;) {
    if (!in_->empty()) {
      std::string_view data = in_->data();
      std::size_t produced = 0;
      std::size_t cap = static_cast<std::size_t>(
          std::min<uint64_t>(out.size(), limit_ - std::min(limit_, total_) + 1));
      ParseError perr;
      long used = chunked_.decode(data.data(), data.size(), reinterpret_cast<char*>(out.data()),
                                  cap, &produced, perr);
      if (used < 0) return fail(BodyError::kMalformed);
      in_->consume(static_cast<std::size_t>(used));
      total_ += produced;
      if (total_ > limit_) return fail(BodyError::kTooLarge);
      if (chunked_.done()) done_ = true;
      if (produced > 0 || done_) return produced;
    }
    auto n = in_->fill(*conn_, 0);
    if (!n) return fail(n.error());
    if (n.value() == 0) return fail(BodyError::kTruncated);
  }
}

Result<std::size_t> BodyReader::read_until_close(std::span<std::byte> out) {
  std::size_t got;
  if (!in_->empty()) {
    got = std::min(out.size(), in_->size());
    std::memcpy(out.data(), in_->data().data(), got);
    in_->consume(got);
  } else {
    auto n = conn_->read(out.data(), out.size());
    if (!n) return fail(n.error());
    got = n.value();
    in_->count_read(got);
    if (got == 0) {
      done_ = true;
      return got;
    }
  }
  total_ += got;
  if (total_ > limit_) return fail(BodyError::kTooLarge);
  return got;
}

bool BodyReader::discard(uint64_t max) {
  std::byte scratch[4096];
  uint64_t dropped = 0;
  while (!done_ && !err_ && dropped <= max) {
    auto n = read(scratch);
    if (!n) return false;
    dropped += n.value();
  }
  return done_ && !err_;
}

}  // namespace weft::http::detail
