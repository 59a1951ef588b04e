// Parking: how a task or a plain thread waits for a wake-up, and how others wake it.
#pragma once

#include <atomic>
#include <cstdint>

#include "weft/runtime/detail/spinlock.h"

namespace weft::detail {

// WaitReason says why a task is parked; the task dump and the metrics print it.
enum class WaitReason : uint8_t {
  kNone,
  kChanSend,
  kChanRecv,
  kSelect,
  kMutex,
  kRWMutexRead,
  kRWMutexWrite,
  kCondVar,
  kWaitGroup,
  kSemaphore,
  kSleep,
  kNetRead,
  kNetWrite,
};

// Returns a short name for a wait reason ("chan receive", "sleep", ...).
const char* wait_reason_name(WaitReason r) noexcept;

struct Fiber;
class ThreadParker;

// Returns the running task, or nullptr on a thread that is not running a task.
Fiber* current_fiber() noexcept;

// True when a locker that finds a lock held should spin a little before it parks: on a plain
// thread (parking is a futex sleep), or in a task while other processors run (one may release
// the lock soon) and this one has nothing else to run. A task with other tasks queued parks
// at once instead: they run meanwhile, and a lock fought over by spinning CPUs moves between
// their caches at every acquisition (8 tasks on 2 processors: 20-60 ns an operation spinning,
// 16-21 ns parking).
bool lock_spin_worthwhile() noexcept;

// Parks the running task. commit(arg) runs after the task has been switched out and marked
// parked; it is what makes the task reachable by a waker (it releases the lock the task is
// queued under, publishes it, arms its timer). When it returns false the park is cancelled and
// the task runs again. A waker must not be able to reach the task before the commit: a ready()
// of a task that is not parked ends the program.
// REQUIRES: called from a task.
void park(WaitReason reason, bool (*commit)(void*), void* arg);

// Makes a task parked by park() runnable. Exactly one ready() per park().
void ready(Fiber* f) noexcept;

// Waiter is one blocking wait, by a task or by a plain thread. The party that takes the waiter
// out of whatever queue it was published in calls wake() exactly once.
class Waiter {
 public:
  Waiter() noexcept;
  Waiter(const Waiter&) = delete;
  Waiter& operator=(const Waiter&) = delete;

  // Blocks until wake(). When lock is given it is held on entry and released once a wake-up can
  // no longer be missed; it is not re-acquired.
  void wait(WaitReason reason, SpinLock* lock);
  // Wakes the waiter. Safe from any thread and from timer callbacks.
  void wake() noexcept;

  // Arbitration for waits that several parties may end (select cases, timeouts): the first
  // claim(i) wins and returns true; the winner must then call wake().
  bool claim(int32_t index) noexcept {
    int32_t expected = -1;
    return claimed_.compare_exchange_strong(expected, index, std::memory_order_acq_rel);
  }
  int32_t claimed() const noexcept { return claimed_.load(std::memory_order_acquire); }
  bool is_task() const noexcept { return fiber_ != nullptr; }
  // The waiting task, or nullptr for a plain thread.
  Fiber* task() const noexcept { return fiber_; }
  // Asks the CPU to start loading what wake() touches, for a waker about to wake many.
  void prefetch_for_wake() const noexcept {
    if (fiber_) __builtin_prefetch(fiber_, 1);
  }

 private:
  Fiber* fiber_;
  ThreadParker* parker_;
  std::atomic<bool> woken_{false};
  std::atomic<int32_t> claimed_{-1};
};

// WaitNode links a Waiter into a WaitList. value carries what the queue's owner needs (a
// semaphore weight, a reader/writer flag); linked says whether it is still in a list.
struct WaitNode {
  Waiter* waiter = nullptr;
  WaitNode* prev = nullptr;
  WaitNode* next = nullptr;
  intptr_t value = 0;
  bool linked = false;
  bool timed_out = false;
};

// WaitList is an intrusive FIFO of WaitNodes, guarded by its owner's lock.
class WaitList {
 public:
  bool empty() const noexcept { return head_ == nullptr; }
  WaitNode* front() const noexcept { return head_; }
  void push_back(WaitNode* n) noexcept {
    n->prev = tail_;
    n->next = nullptr;
    if (tail_) {
      tail_->next = n;
    } else {
      head_ = n;
    }
    tail_ = n;
    n->linked = true;
  }
  void push_front(WaitNode* n) noexcept {
    n->next = head_;
    n->prev = nullptr;
    if (head_) {
      head_->prev = n;
    } else {
      tail_ = n;
    }
    head_ = n;
    n->linked = true;
  }
  void remove(WaitNode* n) noexcept {
    if (n->prev) {
      n->prev->next = n->next;
    } else {
      head_ = n->next;
    }
    if (n->next) {
      n->next->prev = n->prev;
    } else {
      tail_ = n->prev;
    }
    n->prev = n->next = nullptr;
    n->linked = false;
  }
  WaitNode* pop_front() noexcept {
    WaitNode* n = head_;
    if (n) remove(n);
    return n;
  }
  // Takes every node out, returning them chained through next (in order), for wake_all().
  WaitNode* take_all() noexcept {
    WaitNode* all = head_;
    for (WaitNode* n = head_; n; n = n->next) n->linked = false;
    head_ = tail_ = nullptr;
    return all;
  }

 private:
  WaitNode* head_ = nullptr;
  WaitNode* tail_ = nullptr;
};

// Wakes every node of a chain made by WaitList::take_all() (or linked through next). Call it
// after releasing the list's lock.
inline void wake_all(WaitNode* chain) noexcept {
  while (chain) {
    WaitNode* next = chain->next;  // read before wake: the node dies with its waiter
    chain->waiter->wake();
    chain = next;
  }
}

// Waits on list under lock until woken or until deadline_ns (steady clock, ns; < 0 means none).
// REQUIRES: lock held; node->waiter set. On return the lock is NOT held. Returns false on timeout,
// in which case the node has been removed from the list.
bool wait_in_list(SpinLock& lock, WaitList& list, WaitNode* node, WaitReason reason,
                  int64_t deadline_ns);

}  // namespace weft::detail
