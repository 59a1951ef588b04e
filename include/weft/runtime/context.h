// Context: Go's context — cancellation, deadlines and request-scoped values across tasks.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <system_error>
#include <utility>
#include <variant>

#include "weft/runtime/chan.h"

namespace weft {

namespace detail {
struct ContextImpl;
}

// ContextKey<T> names a value carried by a Context; keys compare by identity, so declare one
// object per meaning (a static or a global).
template <class T>
class ContextKey {
 public:
  ContextKey() = default;
  ContextKey(const ContextKey&) = delete;
  ContextKey& operator=(const ContextKey&) = delete;
};

// Context carries a cancellation signal, an optional deadline and values down a call tree.
// Copies share state. Cancelling a context cancels every context derived from it, never its
// parent. A default-constructed Context is background(): never cancelled, no deadline.
class Context {
 public:
  // The background context.
  Context();
  // The root context: never cancelled.
  static Context background();

  // A channel that is closed when the context is cancelled or its deadline passes; use it in
  // select with on_recv(ctx.done(), ...).
  const Chan<std::monostate>& done() const noexcept;
  // True once cancelled.
  bool is_done() const noexcept;
  // Why it is done: std::errc::operation_canceled after a cancel, std::errc::timed_out after
  // the deadline, or no error while it is live.
  std::error_code err() const noexcept;
  // The deadline, if any context on the way to the root has one.
  std::optional<std::chrono::steady_clock::time_point> deadline() const noexcept;
  // Blocks the caller until the context is done.
  void wait() const;

  // The value stored under key by with_value() here or on an ancestor, or nullptr.
  template <class T>
  const T* value(const ContextKey<T>& key) const noexcept {
    return static_cast<const T*>(find_value(&key));
  }

 private:
  friend class CancelFunc;
  friend std::pair<Context, class CancelFunc> with_cancel(const Context&);
  friend std::pair<Context, CancelFunc> with_deadline(const Context&,
                                                      std::chrono::steady_clock::time_point);
  template <class T, class V>
  friend Context with_value(const Context&, const ContextKey<T>&, V&&);
  static Context with_value_impl(const Context& parent, const void* key,
                                 std::shared_ptr<const void> value);

  explicit Context(std::shared_ptr<detail::ContextImpl> impl) : impl_(std::move(impl)) {}
  const void* find_value(const void* key) const noexcept;

  std::shared_ptr<detail::ContextImpl> impl_;
};

// CancelFunc cancels the context it came with. Calling it more than once does nothing more;
// call it when the work is done, to release the context's resources (its timer, its link to
// the parent).
class CancelFunc {
 public:
  CancelFunc() = default;
  void operator()() const noexcept;

 private:
  friend std::pair<Context, CancelFunc> with_cancel(const Context&);
  friend std::pair<Context, CancelFunc> with_deadline(const Context&,
                                                      std::chrono::steady_clock::time_point);
  explicit CancelFunc(std::shared_ptr<detail::ContextImpl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<detail::ContextImpl> impl_;
};

// with_cancel returns a child of parent and the function that cancels it.
std::pair<Context, CancelFunc> with_cancel(const Context& parent);
// with_deadline returns a child of parent cancelled at deadline (with std::errc::timed_out).
std::pair<Context, CancelFunc> with_deadline(const Context& parent,
                                             std::chrono::steady_clock::time_point deadline);
// with_timeout is with_deadline(parent, now + d).
inline std::pair<Context, CancelFunc> with_timeout(const Context& parent,
                                                   std::chrono::nanoseconds d) {
  return with_deadline(parent, std::chrono::steady_clock::now() + d);
}
// with_value returns a child of parent that carries value under key.
template <class T, class V>
Context with_value(const Context& parent, const ContextKey<T>& key, V&& value) {
  return Context::with_value_impl(parent, &key, std::make_shared<const T>(std::forward<V>(value)));
}

}  // namespace weft
