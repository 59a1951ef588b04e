// SpinLock: a tiny test-and-test-and-set lock for the runtime's short critical sections.
#pragma once

#include <atomic>
#include <thread>

namespace weft::detail {

// One step of a short wait for another thread (spins counts the steps so far): a pause for the
// first 64, then a yield of the thread, so a waiter cannot starve a preempted thread it waits on.
inline void spin_wait_step(int spins) noexcept {
  if (spins < 64) {
    __builtin_ia32_pause();
  } else {
    std::this_thread::yield();
  }
}

// SpinLock guards a few loads and stores; it is never held across a task switch or a system call.
// After a short spin it yields the thread, so a preempted holder cannot starve a waiter for long.
// Meets the Lockable requirements.
class SpinLock {
 public:
  SpinLock() = default;
  SpinLock(const SpinLock&) = delete;
  SpinLock& operator=(const SpinLock&) = delete;

  void lock() noexcept {
    for (int spins = 0;; ++spins) {
      if (!locked_.exchange(true, std::memory_order_acquire)) return;
      while (locked_.load(std::memory_order_relaxed)) spin_wait_step(spins++);
    }
  }
  bool try_lock() noexcept {
    return !locked_.load(std::memory_order_relaxed) &&
           !locked_.exchange(true, std::memory_order_acquire);
  }
  void unlock() noexcept { locked_.store(false, std::memory_order_release); }

 private:
  std::atomic<bool> locked_{false};
};

}  // namespace weft::detail
