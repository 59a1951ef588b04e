// Synchronisation for tasks and plain threads: Mutex, RWMutex, CondVar, WaitGroup, Once,
// Semaphore. A task that waits parks (its thread runs other tasks); a thread that waits blocks.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <mutex>
#include <stdexcept>
#include <utility>

#include "weft/runtime/detail/duration.h"
#include "weft/runtime/detail/park.h"
#include "weft/runtime/detail/spinlock.h"
#include "weft/runtime/detail/timer.h"

namespace weft {

namespace detail {
inline int64_t deadline_after(std::chrono::nanoseconds d);
}

// Mutex is a mutual-exclusion lock (Go's sync.Mutex) meeting the Lockable and TimedLockable
// requirements, so std::lock_guard and std::unique_lock work. Not recursive. A waiter that has
// waited over 1 ms gets the lock handed to it directly, so nobody starves.
class Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void lock() {
    uint32_t expected = 0;
    if (state_.compare_exchange_weak(expected, kLocked, std::memory_order_acquire,
                                     std::memory_order_relaxed))
      return;
    lock_slow(-1);
  }
  [[nodiscard]] bool try_lock() noexcept {
    uint32_t expected = 0;
    return state_.compare_exchange_strong(expected, kLocked, std::memory_order_acquire,
                                          std::memory_order_relaxed);
  }
  template <class Rep, class Period>
  [[nodiscard]] bool try_lock_for(std::chrono::duration<Rep, Period> d) {
    return try_lock() || lock_slow(now_plus(d));
  }
  template <class Clock, class Duration>
  [[nodiscard]] bool try_lock_until(std::chrono::time_point<Clock, Duration> t) {
    return try_lock_for(t - Clock::now());
  }
  // REQUIRES: locked (by anyone: as in Go, the lock is not tied to its locker).
  void unlock() {
    uint32_t expected = kLocked;
    if (state_.compare_exchange_strong(expected, 0, std::memory_order_release,
                                       std::memory_order_relaxed))
      return;
    unlock_slow();
  }

 private:
  static constexpr uint32_t kLocked = 1;
  static constexpr uint32_t kWaiters = 2;  // someone may be in waiters_
  static constexpr uint32_t kHandoff = 4;  // the lock is being handed to a woken waiter
  template <class D>
  static int64_t now_plus(D d) {
    return detail::deadline_after(detail::saturating_ns(d));
  }
  bool lock_slow(int64_t deadline_ns);
  void unlock_slow();

  std::atomic<uint32_t> state_{0};
  detail::SpinLock qlock_;
  detail::WaitList waiters_;
};

// RWMutex is a reader/writer lock (Go's sync.RWMutex) meeting the SharedLockable requirements,
// so std::shared_lock works. A waiting writer stops new readers from entering, so writers do
// not starve.
class RWMutex {
 public:
  RWMutex() = default;
  RWMutex(const RWMutex&) = delete;
  RWMutex& operator=(const RWMutex&) = delete;

  void lock();
  [[nodiscard]] bool try_lock() noexcept;
  void unlock();
  void lock_shared();
  [[nodiscard]] bool try_lock_shared() noexcept;
  void unlock_shared();

 private:
  detail::SpinLock lock_;
  int readers_ = 0;      // active readers
  bool writer_ = false;  // a writer holds the lock
  int writers_waiting_ = 0;
  detail::WaitList readq_;
  detail::WaitList writeq_;
};

// CondVar is a condition variable (Go's sync.Cond) that works with any BasicLockable, including
// Mutex and std::unique_lock<Mutex>. Waits may wake spuriously: wait in a loop, or use the
// predicate forms.
class CondVar {
 public:
  CondVar() = default;
  CondVar(const CondVar&) = delete;
  CondVar& operator=(const CondVar&) = delete;

  // Atomically releases lock and waits; re-acquires lock before returning.
  template <class Lock>
  void wait(Lock& lock) {
    detail::Waiter w;
    detail::WaitNode n;
    n.waiter = &w;
    qlock_.lock();
    waiters_.push_back(&n);
    lock.unlock();
    detail::wait_in_list(qlock_, waiters_, &n, detail::WaitReason::kCondVar, -1);
    lock.lock();
  }
  template <class Lock, class Pred>
  void wait(Lock& lock, Pred pred) {
    while (!pred()) wait(lock);
  }
  // Waits at most d; returns false on timeout.
  template <class Lock, class Rep, class Period>
  bool wait_for(Lock& lock, std::chrono::duration<Rep, Period> d) {
    detail::Waiter w;
    detail::WaitNode n;
    n.waiter = &w;
    int64_t deadline = detail::deadline_after(detail::saturating_ns(d));
    qlock_.lock();
    waiters_.push_back(&n);
    lock.unlock();
    bool woken = detail::wait_in_list(qlock_, waiters_, &n, detail::WaitReason::kCondVar, deadline);
    lock.lock();
    return woken;
  }
  template <class Lock, class Rep, class Period, class Pred>
  bool wait_for(Lock& lock, std::chrono::duration<Rep, Period> d, Pred pred) {
    int64_t until = detail::deadline_after(detail::saturating_ns(d));
    while (!pred()) {
      int64_t left = until - detail::now_ns();
      if (left <= 0) return pred();
      wait_for(lock, std::chrono::nanoseconds(left));
    }
    return true;
  }
  // Wakes one waiter, if any.
  void notify_one() noexcept;
  // Wakes every waiter.
  void notify_all() noexcept;

 private:
  detail::SpinLock qlock_;
  detail::WaitList waiters_;
};

// WaitGroup waits for a collection of tasks to finish (Go's sync.WaitGroup). add() with a
// negative result, or done() more often than add(), throws std::logic_error.
// It fills a cache line of its own: the tasks calling done() on other CPUs would otherwise
// fight over the line with whatever lies next to it, typically the owner's own stack data
// (1M tasks that only call done(), spawned by a loop beside the WaitGroup: 147 -> 123 ns a
// task at 2 processors).
class alignas(64) WaitGroup {
 public:
  WaitGroup() = default;
  WaitGroup(const WaitGroup&) = delete;
  WaitGroup& operator=(const WaitGroup&) = delete;

  // Adds delta (may be negative) to the counter; when it reaches zero every wait() returns.
  void add(int64_t delta = 1);
  void done() { add(-1); }
  // Waits until the counter is zero.
  void wait();
  // Current counter value (for diagnostics).
  int64_t count() const noexcept {
    return static_cast<int32_t>(state_.load(std::memory_order_acquire) >> 32);
  }

 private:
  // High 32 bits: the counter; low 32 bits: waiters. One word, so done() bringing the counter to
  // zero with no waiter never touches the queue (the WaitGroup may already be gone).
  std::atomic<uint64_t> state_{0};
  detail::SpinLock qlock_;
  detail::WaitList waiters_;
};

// Once runs a function exactly once (Go's sync.Once, std::call_once's contract): concurrent
// callers wait until the first call finishes; if it throws, the next caller tries again.
class Once {
 public:
  Once() = default;
  Once(const Once&) = delete;
  Once& operator=(const Once&) = delete;

  template <class F>
  void call(F&& fn) {
    if (done_.load(std::memory_order_acquire)) return;
    call_slow(std::forward<F>(fn));
  }
  bool done() const noexcept { return done_.load(std::memory_order_acquire); }

 private:
  template <class F>
  void call_slow(F&& fn);

  std::atomic<bool> done_{false};
  Mutex mu_;
};

// Semaphore is a counting semaphore with FIFO waiters. lock()/unlock() take and give one unit,
// so it also meets the Lockable requirements.
class Semaphore {
 public:
  explicit Semaphore(int64_t initial = 0) : count_(initial) {}
  Semaphore(const Semaphore&) = delete;
  Semaphore& operator=(const Semaphore&) = delete;

  // Takes n units, waiting until they are available.
  void acquire(int64_t n = 1);
  [[nodiscard]] bool try_acquire(int64_t n = 1) noexcept;
  // Waits at most d; returns false (taking nothing) on timeout.
  template <class Rep, class Period>
  [[nodiscard]] bool try_acquire_for(std::chrono::duration<Rep, Period> d, int64_t n = 1) {
    return acquire_until(detail::deadline_after(detail::saturating_ns(d)), n);
  }
  // Gives back n units, waking waiters in order.
  void release(int64_t n = 1);
  int64_t available() const noexcept;

  void lock() { acquire(1); }
  [[nodiscard]] bool try_lock() noexcept { return try_acquire(1); }
  void unlock() { release(1); }

 private:
  bool acquire_until(int64_t deadline_ns, int64_t n);
  // Hands units to waiters at the front that can now proceed; returns them to wake.
  detail::WaitNode* grant_locked();

  mutable detail::SpinLock qlock_;
  int64_t count_;
  detail::WaitList waiters_;
};

template <class F>
void Once::call_slow(F&& fn) {
  std::lock_guard<Mutex> g(mu_);
  if (done_.load(std::memory_order_relaxed)) return;
  std::forward<F>(fn)();
  done_.store(true, std::memory_order_release);
}

}  // namespace weft

namespace weft::detail {
// now + d on the runtime's clock, saturating (a huge d means "never", not a wrapped past).
inline int64_t deadline_after(std::chrono::nanoseconds d) {
  int64_t now = now_ns();
  int64_t dn = d.count() > 0 ? d.count() : 0;
  return dn > INT64_MAX - now ? INT64_MAX - 1 : now + dn;
}
}  // namespace weft::detail
