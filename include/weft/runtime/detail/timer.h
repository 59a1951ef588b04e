// TimerEntry: the runtime's timer, kept in per-processor heaps and fired by the scheduler.
#pragma once

#include <atomic>
#include <cstdint>

namespace weft::detail {

struct TimerHeap;

// Returns the steady clock in nanoseconds.
int64_t now_ns() noexcept;

// TimerEntry calls fire(arg) on a runtime thread no earlier than when_ns. The callback must be
// short and must not block: it readies a task or offers a value to a channel. A periodic timer
// (period_ns > 0) fires again every period, dropping ticks that fall behind, as Go's Ticker does.
struct TimerEntry {
  int64_t when_ns = 0;
  int64_t period_ns = 0;
  void (*fire)(void* arg) = nullptr;
  void* arg = nullptr;
  // Internal: the heap holding this timer and its index there (-1 when not in a heap).
  std::atomic<TimerHeap*> heap{nullptr};
  int32_t index = -1;
  std::atomic<int32_t> firing{0};
};

// Arms t to fire at when_ns. REQUIRES: t is not armed.
void timer_start(TimerEntry* t, int64_t when_ns);
// Disarms t. Returns true if it was removed before firing. When its callback is running on
// another thread, waits for the callback to finish, so t may be destroyed after this returns.
bool timer_stop(TimerEntry* t) noexcept;

}  // namespace weft::detail
