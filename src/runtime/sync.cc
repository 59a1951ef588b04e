// Waiting for tasks and threads alike (Waiter, ThreadParker) and the sync primitives built on
// it: Mutex, RWMutex, CondVar, WaitGroup, Semaphore; plus FiberLocal storage.
#include <mutex>
#include <stdexcept>
#include <unordered_map>
#include <vector>

#include "runtime/futex.h"
#include "runtime/internal.h"
#include "weft/runtime/fiber_local.h"
#include "weft/runtime/sync.h"

namespace weft::detail {

// ThreadParker blocks a plain thread; recycled, never freed, so a late unpark is harmless.
class ThreadParker {
 public:
  void park() {
    while (permit_.exchange(0, std::memory_order_acquire) == 0) futex_wait(&permit_, 0);
  }
  void unpark() {
    permit_.store(1, std::memory_order_release);
    futex_wake(&permit_);
  }
  ThreadParker* next = nullptr;

 private:
  std::atomic<uint32_t> permit_{0};
};

namespace {

SpinLock g_parker_lock;
ThreadParker* g_free_parkers = nullptr;

struct ParkerHolder {
  ThreadParker* p = nullptr;
  ~ParkerHolder() {
    if (!p) return;
    std::lock_guard<SpinLock> g(g_parker_lock);
    p->next = g_free_parkers;
    g_free_parkers = p;
  }
};

ThreadParker* thread_parker() {
  static thread_local ParkerHolder holder;
  if (!holder.p) {
    {
      std::lock_guard<SpinLock> g(g_parker_lock);
      holder.p = g_free_parkers;
      if (holder.p) g_free_parkers = holder.p->next;
    }
    if (!holder.p) holder.p = new ThreadParker();
  }
  return holder.p;
}

bool unlock_spinlock(void* l) {
  static_cast<SpinLock*>(l)->unlock();
  return true;
}

}  // namespace

Waiter::Waiter() noexcept : fiber_(current_fiber()), parker_(fiber_ ? nullptr : thread_parker()) {}

void Waiter::wait(WaitReason reason, SpinLock* lock) {
  if (fiber_) {
    // One park per wake: the waker calls ready() exactly once.
    park(reason, lock ? unlock_spinlock : nullptr, lock);
    return;
  }
  if (lock) lock->unlock();
  while (!woken_.load(std::memory_order_acquire)) parker_->park();
}

void Waiter::wake() noexcept {
  if (fiber_) {
    Fiber* f = fiber_;
    woken_.store(true, std::memory_order_release);
    ready(f);
    return;
  }
  ThreadParker* p = parker_;
  woken_.store(true, std::memory_order_release);
  p->unpark();
}

namespace {
struct ListTimeout {
  SpinLock* lock;
  WaitList* list;
  WaitNode* node;
};
}  // namespace

bool wait_in_list(SpinLock& lock, WaitList& list, WaitNode* node, WaitReason reason,
                  int64_t deadline_ns) {
  if (deadline_ns < 0) {
    node->waiter->wait(reason, &lock);
    return true;
  }
  if (deadline_ns <= now_ns()) {
    if (node->linked) list.remove(node);
    lock.unlock();
    return false;
  }
  ListTimeout lt{&lock, &list, node};
  TimerEntry t;
  t.fire = [](void* a) {
    auto* lt = static_cast<ListTimeout*>(a);
    std::lock_guard<SpinLock> g(*lt->lock);
    if (!lt->node->linked) return;  // already woken
    lt->list->remove(lt->node);
    lt->node->timed_out = true;
    lt->node->waiter->wake();
  };
  t.arg = &lt;
  timer_start(&t, deadline_ns);
  node->waiter->wait(reason, &lock);
  timer_stop(&t);
  return !node->timed_out;
}

}  // namespace weft::detail

namespace weft {

using detail::Waiter;
using detail::WaitNode;
using detail::WaitReason;

// ----- Mutex -----
//
// The bias (see sync.h) follows ChanLock's protocol on the owner's way in: raise owner_in_, look
// at bias_ again. A Mutex differs in that a biased hold may last across a park and end on
// another thread, so a revoker cannot wait for the holder to leave. It turns the hold into an
// ordinary one instead (state_ = kLocked), and the owner's way out is guarded like its way in:
// it lowers owner_in_ to kOwnerExiting, then looks at bias_ again; finding the bias revoked, it
// puts kOwnerHolds back for the revoker to convert and unlocks the ordinary way. Every change
// of the bias happens under qlock_, and while kBiased is set nobody waits in waiters_: a waiter
// revokes first.

void Mutex::revoke_locked() noexcept {
  const uintptr_t owner = bias_.load(std::memory_order_relaxed);
  if (owner == 0) return;
  bias_.store(0, std::memory_order_relaxed);
  // The owner thread revoking is not also halfway in or out: no barrier, none to count.
  if (owner != detail::this_thread_tag()) {
    detail::asymmetric_barrier();
    detail::note_bias_revoked();
  }
  uint8_t in;
  for (int spins = 0;
       (in = owner_in_.load(std::memory_order_acquire)) == kOwnerEntering || in == kOwnerExiting;
       ++spins)
    detail::spin_wait_step(spins);
  // Before state_: the next ordinary holder reads it for its streak.
  if (revocations_ < 24) ++revocations_;
  owner_in_.store(kOwnerOut, std::memory_order_relaxed);
  state_.store(in == kOwnerHolds ? kLocked : 0, std::memory_order_release);
  detail::counters().mutex_bias_revoked.fetch_add(1, std::memory_order_relaxed);
}

void Mutex::bias_to(uintptr_t self) noexcept {
  streak_ = 0;
#if !WEFT_TSAN
  if (self == detail::kNoThreadTag || !detail::bias_allowed()) return;
  std::lock_guard<detail::SpinLock> g(qlock_);
  uint32_t expected = kLocked;  // nobody waiting (a waiter would revoke at once)
  if (!state_.compare_exchange_strong(expected, kBiased, std::memory_order_relaxed)) return;
  bias_fixed_ = true;
  owner_in_.store(kOwnerHolds, std::memory_order_relaxed);
  bias_.store(self, std::memory_order_release);
  detail::counters().mutex_biased.fetch_add(1, std::memory_order_relaxed);
#endif
}

void Mutex::streak_restart(uintptr_t self) noexcept {
  if (bias_fixed_) {
    streak_ = 0;  // another thread broke the owner's run
    return;
  }
  streak_thread_ = self;
  streak_ = 1;
}

bool Mutex::try_lock_unbiased() noexcept {
  {
    std::lock_guard<detail::SpinLock> g(qlock_);
    revoke_locked();
  }
  uint32_t expected = 0;
  if (!state_.compare_exchange_strong(expected, kLocked, std::memory_order_acquire,
                                      std::memory_order_relaxed))
    return false;
  streak_ = 0;
  return true;
}

void Mutex::unlock_biased() {
  {
    std::lock_guard<detail::SpinLock> g(qlock_);
    revoke_locked();  // unless someone did already: the caller's hold becomes kLocked
    // An owner whose unlock found the bias revoked after a revoker had converted its hold put
    // kOwnerHolds back; left there, every later unlock would come this way.
    owner_in_.store(kOwnerOut, std::memory_order_relaxed);
  }
  uint32_t expected = kLocked;
  if (state_.compare_exchange_strong(expected, 0, std::memory_order_release,
                                     std::memory_order_relaxed))
    return;
  unlock_slow();
}

bool Mutex::lock_slow(int64_t deadline_ns) {
  if (state_.load(std::memory_order_relaxed) & kBiased) {
    std::lock_guard<detail::SpinLock> g(qlock_);
    revoke_locked();
  }
  // Spin briefly when another processor may release soon.
  if (detail::lock_spin_worthwhile()) {
    for (int i = 0; i < 64; ++i) {
      uint32_t s = state_.load(std::memory_order_relaxed);
      if ((s & (kLocked | kBiased)) == 0 &&
          state_.compare_exchange_weak(s, s | kLocked, std::memory_order_acquire)) {
        streak_ = 0;
        return true;
      }
      __builtin_ia32_pause();
    }
  }
  int64_t start = detail::now_ns();
  bool front = false;
  for (;;) {
    qlock_.lock();
    uint32_t s = state_.load(std::memory_order_relaxed);
    for (;;) {
      if (s & kBiased) {  // biased again meanwhile
        revoke_locked();
        s = state_.load(std::memory_order_relaxed);
        continue;
      }
      if (s & kLocked) {
        if (state_.compare_exchange_weak(s, s | kWaiters, std::memory_order_relaxed)) break;
        continue;
      }
      if (state_.compare_exchange_weak(s, s | kLocked, std::memory_order_acquire)) {
        qlock_.unlock();
        streak_ = 0;
        return true;
      }
    }
    Waiter w;
    WaitNode n;
    n.waiter = &w;
    if (front) {
      waiters_.push_front(&n);
    } else {
      waiters_.push_back(&n);
    }
    if (!detail::wait_in_list(qlock_, waiters_, &n, WaitReason::kMutex, deadline_ns)) return false;
    if (n.value == 1) {  // handed off: we own the lock
      streak_ = 0;
      return true;
    }
    // Starving waiters (over 1 ms) go back to the front and get the lock handed to them.
    front = detail::now_ns() - start > 1'000'000;
    if (front) {
      state_.fetch_or(kHandoff, std::memory_order_relaxed);
    }
  }
}

void Mutex::unlock_slow() {
  qlock_.lock();
  uint32_t s = state_.load(std::memory_order_relaxed);
  if ((s & kLocked) == 0) {
    qlock_.unlock();
    throw std::logic_error("weft::Mutex: unlock of an unlocked mutex");
  }
  WaitNode* n = waiters_.pop_front();
  if (n && (s & kHandoff)) {
    // Hand the lock straight to the oldest waiter: the lock stays set.
    uint32_t keep = kLocked | (waiters_.empty() ? 0 : kWaiters);
    state_.store(keep, std::memory_order_release);
    n->value = 1;
  } else {
    uint32_t bits = waiters_.empty() ? 0 : kWaiters;
    state_.store(bits, std::memory_order_release);
  }
  qlock_.unlock();
  if (n) n->waiter->wake();
}

// ----- RWMutex -----

void RWMutex::lock() {
  lock_.lock();
  if (!writer_ && readers_ == 0) {
    writer_ = true;
    lock_.unlock();
    return;
  }
  ++writers_waiting_;
  Waiter w;
  WaitNode n;
  n.waiter = &w;
  writeq_.push_back(&n);
  detail::wait_in_list(lock_, writeq_, &n, WaitReason::kRWMutexWrite, -1);
  // The unlocker made us the writer.
}

bool RWMutex::try_lock() noexcept {
  std::lock_guard<detail::SpinLock> g(lock_);
  if (writer_ || readers_ != 0) return false;
  writer_ = true;
  return true;
}

void RWMutex::unlock() {
  lock_.lock();
  if (!writer_) {
    lock_.unlock();
    throw std::logic_error("weft::RWMutex: unlock of an unlocked RWMutex");
  }
  writer_ = false;
  // Readers that queued behind this writer go first, then the next writer.
  WaitNode* wake = nullptr;
  if (!readq_.empty()) {
    wake = readq_.take_all();
    for (WaitNode* n = wake; n; n = n->next) ++readers_;
  } else if ((wake = writeq_.pop_front())) {
    --writers_waiting_;
    writer_ = true;
    wake->next = nullptr;
  }
  lock_.unlock();
  detail::wake_all(wake);
}

void RWMutex::lock_shared() {
  lock_.lock();
  if (!writer_ && writers_waiting_ == 0) {
    ++readers_;
    lock_.unlock();
    return;
  }
  Waiter w;
  WaitNode n;
  n.waiter = &w;
  readq_.push_back(&n);
  detail::wait_in_list(lock_, readq_, &n, WaitReason::kRWMutexRead, -1);
}

bool RWMutex::try_lock_shared() noexcept {
  std::lock_guard<detail::SpinLock> g(lock_);
  if (writer_ || writers_waiting_ != 0) return false;
  ++readers_;
  return true;
}

void RWMutex::unlock_shared() {
  lock_.lock();
  if (readers_ <= 0) {
    lock_.unlock();
    throw std::logic_error("weft::RWMutex: unlock_shared without lock_shared");
  }
  WaitNode* n = nullptr;
  if (--readers_ == 0 && (n = writeq_.pop_front())) {
    --writers_waiting_;
    writer_ = true;
  }
  lock_.unlock();
  if (n) n->waiter->wake();
}

// ----- CondVar -----

void CondVar::notify_one() noexcept {
  qlock_.lock();
  WaitNode* n = waiters_.pop_front();
  qlock_.unlock();
  if (n) n->waiter->wake();
}

void CondVar::notify_all() noexcept {
  qlock_.lock();
  WaitNode* all = waiters_.take_all();
  qlock_.unlock();
  detail::wake_all(all);
}

// ----- WaitGroup -----

void WaitGroup::add(int64_t delta) {
  if (delta > INT32_MAX || delta < INT32_MIN)
    throw std::logic_error("weft::WaitGroup: delta too large");
  uint64_t inc = static_cast<uint64_t>(delta) << 32;
  uint64_t s = state_.fetch_add(inc, std::memory_order_acq_rel) + inc;
  auto counter = static_cast<int32_t>(s >> 32);
  auto waiters = static_cast<uint32_t>(s);
  if (counter < 0) {
    state_.fetch_sub(inc, std::memory_order_acq_rel);
    throw std::logic_error("weft::WaitGroup: negative counter (done() called more than add())");
  }
  if (counter > 0 || waiters == 0) return;
  // Counter hit zero with waiters registered: they cannot leave before we wake them.
  qlock_.lock();
  state_.store(0, std::memory_order_release);
  WaitNode* all = waiters_.take_all();
  qlock_.unlock();
  detail::wake_all(all);
}

void WaitGroup::wait() {
  if ((state_.load(std::memory_order_acquire) >> 32) == 0) return;
  qlock_.lock();
  uint64_t s = state_.load(std::memory_order_acquire);
  for (;;) {
    if ((s >> 32) == 0) {
      qlock_.unlock();
      return;
    }
    if (state_.compare_exchange_weak(s, s + 1, std::memory_order_acq_rel)) break;
  }
  Waiter w;
  WaitNode n;
  n.waiter = &w;
  waiters_.push_back(&n);
  detail::wait_in_list(qlock_, waiters_, &n, WaitReason::kWaitGroup, -1);
}

// ----- Semaphore -----

bool Semaphore::try_acquire(int64_t n) noexcept {
  std::lock_guard<detail::SpinLock> g(qlock_);
  if (count_ >= n && waiters_.empty()) {
    count_ -= n;
    return true;
  }
  return false;
}

void Semaphore::acquire(int64_t n) {
  acquire_until(-1, n);
}

bool Semaphore::acquire_until(int64_t deadline_ns, int64_t n) {
  qlock_.lock();
  if (count_ >= n && waiters_.empty()) {
    count_ -= n;
    qlock_.unlock();
    return true;
  }
  Waiter w;
  WaitNode node;
  node.waiter = &w;
  node.value = n;
  waiters_.push_back(&node);
  // release() takes the units for us before waking us.
  if (detail::wait_in_list(qlock_, waiters_, &node, WaitReason::kSemaphore, deadline_ns))
    return true;
  // We timed out at the head of the queue: those behind may fit now.
  qlock_.lock();
  WaitNode* wake = grant_locked();
  qlock_.unlock();
  detail::wake_all(wake);
  return false;
}

detail::WaitNode* Semaphore::grant_locked() {
  detail::WaitList granted;
  while (WaitNode* front = waiters_.front()) {
    if (front->value > count_) break;
    count_ -= front->value;
    waiters_.remove(front);
    granted.push_back(front);
  }
  return granted.take_all();
}

void Semaphore::release(int64_t n) {
  qlock_.lock();
  count_ += n;
  WaitNode* wake = grant_locked();
  qlock_.unlock();
  detail::wake_all(wake);
}

int64_t Semaphore::available() const noexcept {
  std::lock_guard<detail::SpinLock> g(qlock_);
  return count_;
}

}  // namespace weft

// ----- FiberLocal -----

namespace weft::detail {

namespace {
std::atomic<std::size_t> g_next_key{0};

struct ThreadLocals {
  std::vector<std::pair<void*, void (*)(void*)>> slots;
  ~ThreadLocals() {
    for (auto& [p, del] : slots)
      if (p) del(p);
  }
};
}  // namespace

std::size_t fiber_local_new_key() noexcept {
  return g_next_key.fetch_add(1, std::memory_order_relaxed);
}

void** fiber_local_slot(std::size_t key, void (*deleter)(void*)) {
  std::vector<std::pair<void*, void (*)(void*)>>* slots;
  if (Fiber* f = current_fiber()) {
    if (!(f->flags & Fiber::kHasLocals)) {
      f->locals = new std::vector<std::pair<void*, void (*)(void*)>>();
      f->flags |= Fiber::kHasLocals;
    }
    slots = f->locals;
  } else {
    static thread_local ThreadLocals tl;
    slots = &tl.slots;
  }
  if (slots->size() <= key) slots->resize(key + 1, {nullptr, nullptr});
  (*slots)[key].second = deleter;
  return &(*slots)[key].first;
}

}  // namespace weft::detail
