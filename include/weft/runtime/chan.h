// Chan<T>: Go's channel — a typed, optionally buffered queue that tasks and threads block on.
#pragma once

#include <cstddef>
#include <iterator>
#include <new>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include "weft/runtime/detail/chan_core.h"

namespace weft {

// ChanClosedError is thrown by a send on a closed channel and by closing a closed channel.
class ChanClosedError : public std::logic_error {
 public:
  ChanClosedError() : std::logic_error("send on closed channel") {}
  explicit ChanClosedError(const char* what) : std::logic_error(what) {}
};

template <class T>
class Chan;

namespace detail {
template <class T>
detail::ChanCore* chan_core(const Chan<T>& c) noexcept;
}  // namespace detail

// Chan<T> is a cheap copyable handle to a shared channel, as in Go: copies refer to the same
// channel, and the operations are const (they change the channel, not the handle). Chan<T>(0) is
// unbuffered (a send waits for a receiver); Chan<T>(n) buffers n values. Usable from tasks (which
// park) and from plain threads (which block) alike. T must be nothrow move-constructible.
template <class T>
class Chan {
  static_assert(std::is_nothrow_move_constructible_v<T>,
                "Chan<T> needs a nothrow move-constructible T");

 public:
  // Makes a new channel with room for capacity buffered values.
  explicit Chan(std::size_t capacity = 0)
      : core_(new detail::ChanCore(capacity, &detail::kElemOps<T>)) {}
  Chan(const Chan& o) noexcept : core_(o.core_) { core_->add_ref(); }
  Chan(Chan&& o) noexcept : core_(o.core_) { o.core_ = nullptr; }
  Chan& operator=(Chan o) noexcept {
    std::swap(core_, o.core_);
    return *this;
  }
  ~Chan() {
    if (core_) core_->release();
  }

  // Sends v, waiting until a receiver takes it or buffer space frees up.
  // Throws ChanClosedError when the channel is closed, before or during the wait.
  void send(T v) const { core_->send(&v, true); }
  // Sends without waiting; returns false (and leaves v untouched) when the send would wait.
  // Throws ChanClosedError when the channel is closed.
  [[nodiscard]] bool try_send(T&& v) const { return core_->send(&v, false); }
  [[nodiscard]] bool try_send(const T& v) const {
    T copy(v);
    return core_->send(&copy, false);
  }

  // Receives a value, waiting for one. Buffered values are drained before a close is seen;
  // returns nullopt once the channel is closed and empty.
  std::optional<T> recv() const { return recv_impl(true); }
  // Receives without waiting: nullopt when no value is ready now (see closed()).
  std::optional<T> try_recv() const { return recv_impl(false); }

  // Closes the channel: receivers drain the buffer, then see nullopt; waiting senders throw.
  // Throws ChanClosedError when already closed.
  void close() const { core_->close(); }
  // Number of values in the buffer now.
  std::size_t size() const noexcept { return core_->size(); }
  // The buffer size given at construction (0: unbuffered).
  std::size_t capacity() const noexcept { return core_->capacity(); }
  // True once close() has been called (values may still be buffered).
  bool closed() const noexcept { return core_->closed(); }

  // Handles are equal when they refer to the same channel.
  bool operator==(const Chan& o) const noexcept { return core_ == o.core_; }

  // Range-for over the channel receives until it is closed and drained.
  class iterator {  // NOLINT(readability-identifier-naming): the standard's name
   public:
    using value_type = T;
    using difference_type = std::ptrdiff_t;
    iterator() = default;
    explicit iterator(const Chan* c) : chan_(c) { ++*this; }
    T& operator*() { return *cur_; }
    iterator& operator++() {
      cur_ = chan_->recv();
      if (!cur_) chan_ = nullptr;
      return *this;
    }
    void operator++(int) { ++*this; }
    bool operator==(std::default_sentinel_t) const { return chan_ == nullptr; }

   private:
    const Chan* chan_ = nullptr;
    std::optional<T> cur_;
  };
  iterator begin() const { return iterator(this); }
  std::default_sentinel_t end() const { return {}; }

 private:
  friend detail::ChanCore* detail::chan_core<T>(const Chan<T>&) noexcept;

  std::optional<T> recv_impl(bool block) const {
    alignas(T) unsigned char storage[sizeof(T)];
    if (core_->recv(storage, block) != detail::RecvStatus::kValue) return std::nullopt;
    T* p = std::launder(reinterpret_cast<T*>(storage));
    std::optional<T> out(std::move(*p));
    p->~T();
    return out;
  }

  detail::ChanCore* core_;
};

namespace detail {
template <class T>
detail::ChanCore* chan_core(const Chan<T>& c) noexcept {
  return c.core_;
}
}  // namespace detail

}  // namespace weft
