// blocking: run a blocking call inside a task without stalling the task's processor.
#pragma once

#include <type_traits>
#include <utility>

namespace weft {

namespace detail {
// Hands the caller's processor to another thread while the caller blocks; returns whether the
// caller is a task (when false, end_blocking must not be called with true).
bool begin_blocking() noexcept;
// Takes a processor back; the task may continue on another thread.
void end_blocking(bool was_task) noexcept;
}  // namespace detail

// blocking(fn) runs fn (file I/O, getaddrinfo, a library's blocking API) on the calling thread
// after handing the task's processor to another thread, so the processor's other tasks keep
// running. Returns fn's result; an exception from fn propagates. On a plain thread it just
// calls fn.
template <class F>
decltype(auto) blocking(F&& fn) {
  struct Guard {
    bool task;
    ~Guard() { detail::end_blocking(task); }
  } guard{detail::begin_blocking()};
  return std::forward<F>(fn)();
}

}  // namespace weft
