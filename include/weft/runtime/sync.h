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

// A tag of the calling thread, distinct among the threads alive and never 0 (the address of its
// thread control block), or kNoThreadTag where it cannot be had in one instruction. Read anew at
// each call: the memory clobber keeps it from being reused across a task switch, after which the
// task may run on another thread.
inline constexpr uintptr_t kNoThreadTag = ~uintptr_t{0};
inline uintptr_t this_thread_tag() noexcept {
#if defined(__x86_64__)
  uintptr_t tag;
  asm volatile("movq %%fs:0, %0" : "=r"(tag) : : "memory");
  return tag;
#else
  return kNoThreadTag;
#endif
}

}  // namespace detail

// Mutex is a mutual-exclusion lock (Go's sync.Mutex) meeting the Lockable and TimedLockable
// requirements, so std::lock_guard and std::unique_lock work. Not recursive. A waiter that has
// waited over 1 ms gets the lock handed to it directly, so nobody starves. As in Go, the lock
// is not tied to its locker: a task may unlock it on another thread than the one it locked it
// on, and one task or thread may unlock what another locked.
//
// A mutex taken kBiasAfter times in a row from one thread, with nobody else in between, is
// handed to ("biased to") that thread, which then takes and releases it with plain loads and
// stores instead of two locked instructions (about 4 ns each here). Whoever else wants it
// (another thread, a task of the owner thread finding it held, or an unlock on another thread)
// revokes the bias first, which costs an asymmetric barrier (microseconds) and turns a biased
// hold into an ordinary one. Each revocation doubles the run that biases again, a mutex is only
// ever biased to the first thread it was biased to, and no lock is biased while the process has
// taken back over 100 in the last 100 ms. Without membarrier(2), and under
// ThreadSanitizer (which does not model it), a mutex is never biased. See Mutex in sync.cc.
class Mutex {
 public:
  // Acquisitions in a row from one thread that bias a mutex never revoked.
  static constexpr uint32_t kBiasAfter = 64;

  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void lock() {
    const uintptr_t self = detail::this_thread_tag();
    if (bias_.load(std::memory_order_relaxed) == self) {
      if (enter_biased(self)) [[likely]]
        return;
    } else {
      uint32_t expected = 0;
      if (state_.compare_exchange_weak(expected, kLocked, std::memory_order_acquire,
                                       std::memory_order_relaxed)) [[likely]] {
        count_streak(self);
        return;
      }
    }
    lock_slow(-1);
  }
  [[nodiscard]] bool try_lock() noexcept {
    const uintptr_t self = detail::this_thread_tag();
    uint32_t expected = 0;
    if (bias_.load(std::memory_order_relaxed) == self) {
      if (owner_in_.load(std::memory_order_relaxed) == kOwnerHolds) return false;
      if (enter_biased(self)) return true;
    } else if (state_.compare_exchange_strong(expected, kLocked, std::memory_order_acquire,
                                              std::memory_order_relaxed)) {
      count_streak(self);
      return true;
    } else if ((expected & kBiased) == 0 ||
               owner_in_.load(std::memory_order_relaxed) == kOwnerHolds) {
      return false;  // held (through the bias, by a task of the owner thread)
    }
    return try_lock_unbiased();
  }
  template <class Rep, class Period>
  [[nodiscard]] bool try_lock_for(std::chrono::duration<Rep, Period> d) {
    return try_lock() || lock_slow(now_plus(d));
  }
  template <class Clock, class Duration>
  [[nodiscard]] bool try_lock_until(std::chrono::time_point<Clock, Duration> t) {
    return try_lock_for(t - Clock::now());
  }
  // REQUIRES: locked (by anyone: as in Go, the lock is not tied to its locker). Throws
  // std::logic_error when it is not.
  void unlock() {
    if (owner_in_.load(std::memory_order_relaxed) == kOwnerHolds) {
      const uintptr_t self = detail::this_thread_tag();
      if (bias_.load(std::memory_order_relaxed) == self) [[likely]] {
        owner_in_.store(kOwnerExiting, std::memory_order_relaxed);
        std::atomic_signal_fence(std::memory_order_seq_cst);
        if (bias_.load(std::memory_order_relaxed) == self) [[likely]] {
          owner_in_.store(kOwnerOut, std::memory_order_release);
          return;
        }
        // Revoked meanwhile: the revoker turns this hold into an ordinary one.
        owner_in_.store(kOwnerHolds, std::memory_order_relaxed);
      }
      unlock_biased();
      return;
    }
    uint32_t expected = kLocked;
    if (state_.compare_exchange_strong(expected, 0, std::memory_order_release,
                                       std::memory_order_relaxed)) [[likely]]
      return;
    unlock_slow();
  }

 private:
  // state_ bits. While kBiased is set it is the only one: the hold is owner_in_'s.
  static constexpr uint32_t kLocked = 1;
  static constexpr uint32_t kWaiters = 2;  // someone may be in waiters_
  static constexpr uint32_t kHandoff = 4;  // the lock is being handed to a woken waiter
  static constexpr uint32_t kBiased = 8;   // biased to the thread bias_ names
  // owner_in_: whether the lock is held through the bias (kOwnerHolds), or the owner thread is
  // on its way in or out (and may yet find the bias revoked).
  static constexpr uint8_t kOwnerOut = 0;
  static constexpr uint8_t kOwnerEntering = 1;
  static constexpr uint8_t kOwnerHolds = 2;
  static constexpr uint8_t kOwnerExiting = 3;

  template <class D>
  static int64_t now_plus(D d) {
    return detail::deadline_after(detail::saturating_ns(d));
  }

  // The owner thread's way in: raise owner_in_, then look at the bias again, with no fence
  // between (the compiler kept from reordering them); a revoker clears the bias, has every
  // thread pass a barrier, then reads owner_in_, so one of the two sees the other.
  bool enter_biased(uintptr_t self) noexcept {
    if (owner_in_.load(std::memory_order_relaxed) != kOwnerOut) return false;  // a task holds it
    owner_in_.store(kOwnerEntering, std::memory_order_relaxed);
    std::atomic_signal_fence(std::memory_order_seq_cst);
    if (bias_.load(std::memory_order_relaxed) == self) [[likely]] {
      owner_in_.store(kOwnerHolds, std::memory_order_relaxed);
      std::atomic_signal_fence(std::memory_order_seq_cst);
      return true;
    }
    owner_in_.store(kOwnerOut, std::memory_order_release);
    return false;
  }
  // Counts an ordinary acquisition towards the bias. REQUIRES: the caller holds the lock, which
  // guards the streak fields.
  void count_streak(uintptr_t self) noexcept {
    if (streak_thread_ == self) {
      if (++streak_ >= (kBiasAfter << revocations_)) [[unlikely]]
        bias_to(self);
    } else {
      streak_restart(self);
    }
  }
  bool lock_slow(int64_t deadline_ns);
  void unlock_slow();
  bool try_lock_unbiased() noexcept;
  void unlock_biased();
  void bias_to(uintptr_t self) noexcept;
  void streak_restart(uintptr_t self) noexcept;
  // Takes the bias back, if any; a biased hold becomes kLocked. REQUIRES: qlock_ held.
  void revoke_locked() noexcept;

  std::atomic<uint32_t> state_{0};
  std::atomic<uint8_t> owner_in_{kOwnerOut};
  uint8_t revocations_ = 0;  // the run that biases is kBiasAfter << revocations_
  bool bias_fixed_ = false;  // biased once: streak_thread_ is the only thread it may be biased to
  detail::SpinLock qlock_;   // guards waiters_ and every change of the bias
  std::atomic<uintptr_t> bias_{0};  // the owner thread's tag while biased, else 0 (no tag)
  uintptr_t streak_thread_ = detail::kNoThreadTag;
  uint32_t streak_ = 0;  // ordinary acquisitions in a row from streak_thread_
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
