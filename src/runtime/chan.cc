// Channels: a ring buffer and two wait queues (segmented rings of waiters) under one lock per
// channel, and select, which enqueues the caller on every channel at once under address-ordered
// locks (as Go does).
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <random>

#include "runtime/internal.h"
#include "weft/runtime/chan.h"

namespace weft::detail {

// ----- ChanLock (see chan_core.h) -----
//
// The owner's side: raise owner_in_, then look at owner_ again, with no fence between (the
// compiler is kept from reordering the two). The revoker's side: clear owner_, run the
// asymmetric barrier, then wait for owner_in_ to fall. After the barrier, either the owner's
// raised flag is visible to the revoker, which waits for it, or the owner's second look sees
// owner_ cleared and it takes the SpinLock instead. The lock is never held across anything but
// a switch to the next task on the same thread, which releases it (park's commit), so the
// thread that takes it is the one that releases it.

inline void ChanLock::lock() noexcept {
  Machine* self = current_machine();
  if (void* owner = owner_.load(std::memory_order_acquire)) [[likely]] {
    if (owner == self) [[likely]] {
      owner_in_.store(kOwnerEntering, std::memory_order_relaxed);
      std::atomic_signal_fence(std::memory_order_seq_cst);
      if (owner_.load(std::memory_order_relaxed) == self) [[likely]] {
        owner_in_.store(kOwnerHolds, std::memory_order_relaxed);
        return;
      }
      owner_in_.store(kOwnerOut, std::memory_order_release);  // revoked meanwhile
    }
  }
  spin_.lock();
  if (owner_.load(std::memory_order_relaxed) != nullptr) [[unlikely]]
    revoke();
  // Count acquisitions in a row from one thread; enough of them bias the lock to it (never to
  // a thread outside the runtime, whose `self` is null, nor to a second thread).
  if (bias_thread_ != nullptr && bias_thread_ != self) return;
  if (self == streak_thread_) {
    if (++streak_ >= (kBiasAfter << revocations_)) [[unlikely]]
      bias_to(self);
  } else {
    streak_thread_ = self;
    streak_ = 1;
  }
}

inline void ChanLock::unlock() noexcept {
  // kOwnerHolds is seen only by the owner holding the lock: a SpinLock holder has revoked the
  // bias, and may at most see the owner's brief kOwnerEntering.
  if (owner_in_.load(std::memory_order_relaxed) == kOwnerHolds) [[likely]] {
    owner_in_.store(kOwnerOut, std::memory_order_release);
  } else {
    spin_.unlock();
  }
}

// The caller is `thread` and holds the SpinLock, so the new owner cannot be inside yet.
void ChanLock::bias_to(void* thread) noexcept {
  streak_ = 0;
#if !WEFT_TSAN
  if (thread != nullptr && bias_allowed()) {
    bias_thread_ = thread;
    owner_.store(thread, std::memory_order_release);
    counters().chan_lock_biased.fetch_add(1, std::memory_order_relaxed);
  }
#endif
}

void ChanLock::revoke() noexcept {
  owner_.store(nullptr, std::memory_order_relaxed);
  asymmetric_barrier();
  for (int spins = 0; owner_in_.load(std::memory_order_acquire) != kOwnerOut; ++spins)
    spin_wait_step(spins);
  if (revocations_ < 24) ++revocations_;
  note_bias_revoked();
  counters().chan_lock_revoked.fetch_add(1, std::memory_order_relaxed);
}

inline void ChanCore::move_elem(void* dst, void* src) const noexcept {
  if (!ops_->trivial) [[unlikely]] {
    ops_->move_construct(dst, src);
    return;
  }
  // The common sizes as single moves.
  const std::size_t size = ops_->size;
  if (size == 8) {
    std::memcpy(dst, src, 8);
  } else if (size == 4) {
    std::memcpy(dst, src, 4);
  } else if (size == 16) {
    std::memcpy(dst, src, 16);
  } else {
    std::memcpy(dst, src, size);
  }
}

inline void ChanCore::destroy_elem(void* p) const noexcept {
  if (!ops_->trivial) ops_->destroy(p);
}

// ChanWaitNode is one waiting send or receive (Go's sudog).
struct ChanWaitNode {
  Waiter* waiter = nullptr;  // null for a task's plain send or receive (its slot names it)
  void* elem = nullptr;
  uint64_t seq = 0;     // its slot in the queue while linked (kept for select and thread waiters)
  int case_index = -1;  // >= 0 when part of a select
  bool success = false;
  bool linked = false;  // kept for select and thread waiters (a task's plain wait never reads it)
};

struct ChanOps {
  using Node = ChanWaitNode;
  using Queue = ChanWaitQueue;
  using Slot = ChanWaitSlot;

  static void lock(ChanCore* c) { c->lock_.lock(); }
  static void unlock(ChanCore* c) { c->lock_.unlock(); }

  static Slot& slot(Queue& q, uint64_t seq) { return q.ring.at(seq); }

  // Queues n. direct is the waiting task when the wait is a task's plain send or receive: its
  // waker may then ready() it straight from the slot. When at least half of a queue of some
  // size is slots left behind by early leavers, the live ones are renumbered toward the head
  // first (O(size), paid for by the leavers since the last time).
  static void push(Queue& q, Node* n, Fiber* direct) {
    if (q.ring.size() >= 64 && uint64_t{q.live} * 2 <= q.ring.size()) [[unlikely]]
      compact(q);
    n->seq = q.ring.push_back(Slot{n, direct});
    ++q.live;
    n->linked = true;
  }

  // Drops the empty slots of q, renumbering the live ones toward the head. Out of line: rare,
  // and kept off the registers of the send and receive paths.
  __attribute__((noinline, cold)) static void compact(Queue& q) {
    // A task's plain wait is never unlinked, so its seq is not read again: its node, on its
    // stack, is left alone.
    q.ring.compact([](const Slot& e) { return e.node != nullptr; },
                   [](const Slot& e, uint64_t seq) {
                     if (!e.task) e.node->seq = seq;
                   });
  }

  static void unlink(Queue& q, Node* n) {
    slot(q, n->seq) = Slot{nullptr, nullptr};
    n->linked = false;
    if (--q.live == 0) {
      q.ring.clear();
      return;
    }
    while (slot(q, q.ring.head()).node == nullptr) q.ring.pop_front();
    while (slot(q, q.ring.tail() - 1).node == nullptr) q.ring.pop_back();
  }

  // Queues n, a plain send or receive, and blocks until its waker takes it; c's lock is held on
  // entry and released once the waiter is parked. A task waits in its record alone (its waker
  // readies it from the slot), so it needs no Waiter; a plain thread waits on one.
  static void wait(ChanCore* c, Queue& q, Node* n, WaitReason reason) {
    Machine* m = current_machine();
    if (Fiber* self = m ? m->current : nullptr) [[likely]] {
      push(q, n, self);
      park_task(
          m, self, reason,
          [](void* chan) {
            static_cast<ChanCore*>(chan)->lock_.unlock();
            return true;
          },
          c);
      return;
    }
    Waiter w;
    n->waiter = &w;
    push(q, n, nullptr);
    c->lock_.unlock();  // a wake-up meanwhile is not missed: the Waiter keeps it
    w.wait(reason, nullptr);
  }

  // Takes the first waiter that can still be woken (an empty slot when none); select waiters
  // already won elsewhere are dropped. A task's plain wait is taken without reading its node.
  static Slot dequeue(Queue& q) {
    while (q.live > 0) {
      Slot e = slot(q, q.ring.head());
      q.ring.pop_front();
      if (!e.node) [[unlikely]]
        continue;
      if (--q.live == 0) q.ring.clear();
      if (e.task) [[likely]]
        return e;
      e.node->linked = false;
      if (e.node->case_index >= 0 && !e.node->waiter->claim(e.node->case_index)) continue;
      return e;
    }
    return Slot{nullptr, nullptr};
  }

  // Wakes the waiter of a dequeued slot. Nothing of it is read afterwards: once woken, its task
  // may run and leave.
  static void wake(const Slot& e) {
    if (e.task) {
      ready_in_place(e.task);
    } else {
      e.node->waiter->wake();
    }
  }

  // Asks the CPU for what waking the waiter `ahead` places behind the head reads, for a walk
  // over many.
  static void prefetch_ahead(Queue& q, uint64_t ahead) {
    if (q.ring.size() > ahead) {
      const Slot& e = slot(q, q.ring.head() + ahead);
      if (e.task) {
        __builtin_prefetch(e.task, 1);
      } else if (e.node) {
        __builtin_prefetch(e.node, 1);
      }
    }
  }

  // Send to a waiting receiver or into the buffer. REQUIRES: c locked, not closed.
  // Returns whether the send happened; *wake gets the receiver to wake, if any.
  static bool try_send_locked(ChanCore* c, void* elem, Slot* wake) {
    if (Slot e = dequeue(c->recvq_); e.node) {
      Node* r = e.node;
      c->move_elem(r->elem, elem);  // the sender still owns (and destroys) *elem
      r->success = true;
      *wake = e;
      return true;
    }
    if (c->count_ < c->capacity_) {
      c->move_elem(c->slot(c->sendx_), elem);
      if (++c->sendx_ == c->capacity_) c->sendx_ = 0;
      ++c->count_;
      return true;
    }
    return false;
  }

  // Receive from a waiting sender or the buffer. REQUIRES: c locked.
  static RecvStatus try_recv_locked(ChanCore* c, void* out, Slot* wake) {
    if (Slot e = dequeue(c->sendq_); e.node) {
      Node* s = e.node;
      if (c->capacity_ == 0) {
        c->move_elem(out, s->elem);
      } else {
        // Buffer full: take its head, put the sender's value at the tail (same slot).
        void* head = c->slot(c->recvx_);
        c->move_elem(out, head);
        c->destroy_elem(head);
        c->move_elem(head, s->elem);
        if (++c->recvx_ == c->capacity_) c->recvx_ = 0;
        c->sendx_ = c->recvx_;
      }
      s->success = true;
      *wake = e;
      return RecvStatus::kValue;
    }
    if (c->count_ > 0) {
      void* head = c->slot(c->recvx_);
      c->move_elem(out, head);
      c->destroy_elem(head);
      if (++c->recvx_ == c->capacity_) c->recvx_ = 0;
      --c->count_;
      return RecvStatus::kValue;
    }
    if (c->closed_) return RecvStatus::kClosed;
    return RecvStatus::kWouldBlock;
  }
};

ChanCore::ChanCore(std::size_t capacity, const ElemOps* ops) : capacity_(capacity), ops_(ops) {
  if (capacity_ > 0) {
    buf_ = static_cast<unsigned char*>(
        ::operator new(capacity_ * ops_->size,
                       std::align_val_t(std::max(ops_->align, alignof(std::max_align_t)))));
  }
}

ChanCore::~ChanCore() {
  for (std::size_t i = 0, x = recvx_; i < count_; ++i) {
    destroy_elem(slot(x));
    if (++x == capacity_) x = 0;
  }
  if (buf_)
    ::operator delete(buf_, std::align_val_t(std::max(ops_->align, alignof(std::max_align_t))));
}

bool ChanCore::send(void* elem, bool block) {
  lock_.lock();
  if (closed_) [[unlikely]] {
    lock_.unlock();
    throw ChanClosedError();
  }
  ChanWaitSlot wake{};
  if (ChanOps::try_send_locked(this, elem, &wake)) {
    lock_.unlock();
    if (wake.node) ChanOps::wake(wake);
    return true;
  }
  if (!block) [[unlikely]] {
    lock_.unlock();
    return false;
  }
  ChanWaitNode n;
  n.elem = elem;
  ChanOps::wait(this, sendq_, &n, WaitReason::kChanSend);
  if (!n.success) throw ChanClosedError();
  return true;
}

RecvStatus ChanCore::recv(void* out, bool block) {
  lock_.lock();
  ChanWaitSlot wake{};
  RecvStatus st = ChanOps::try_recv_locked(this, out, &wake);
  if (st != RecvStatus::kWouldBlock || !block) {
    lock_.unlock();
    if (wake.node) ChanOps::wake(wake);
    return st;
  }
  ChanWaitNode n;
  n.elem = out;
  ChanOps::wait(this, recvq_, &n, WaitReason::kChanRecv);
  return n.success ? RecvStatus::kValue : RecvStatus::kClosed;
}

void ChanCore::close() {
  // Every receiver (the buffer is empty if any wait) and every sender leaves with success=false,
  // which its node holds from the start. They are taken off the queues in batches under the
  // lock and woken outside it; no new ones can join once closed_ is set. A task in a plain send
  // or receive is woken from its slot alone: its node, on its stack, a page away from the next
  // one, is not touched, so a close over many parked tasks reads only the ring and their
  // records. The walk asks for what it will touch 8 places ahead.
  constexpr int kBatch = 64;
  ChanWaitSlot batch[kBatch];
  bool first = true;
  for (;;) {
    int n = 0;
    lock_.lock();
    if (first) {
      if (closed_) {
        lock_.unlock();
        throw ChanClosedError("close of closed channel");
      }
      closed_ = true;
      first = false;
    }
    while (n < kBatch) {
      ChanOps::prefetch_ahead(recvq_, 8);
      ChanOps::prefetch_ahead(sendq_, 8);
      ChanWaitSlot e = ChanOps::dequeue(recvq_);
      if (!e.node) e = ChanOps::dequeue(sendq_);
      if (!e.node) break;
      batch[n++] = e;
    }
    lock_.unlock();
    for (int i = 0; i < n; ++i) {
      if (!batch[i].task) batch[i].node->waiter->prefetch_for_wake();
    }
    for (int i = 0; i < n; ++i) ChanOps::wake(batch[i]);
    if (n < kBatch) return;
  }
}

std::size_t ChanCore::size() noexcept {
  std::lock_guard<ChanLock> g(lock_);
  return count_;
}

bool ChanCore::closed() noexcept {
  std::lock_guard<ChanLock> g(lock_);
  return closed_;
}

namespace {

uint32_t select_rand() {
  static thread_local uint64_t state = [] {
    std::random_device rd;
    return (uint64_t{rd()} << 32) ^ rd() ^ reinterpret_cast<uintptr_t>(&state);
  }();
  // The generator is per thread but only used between switches, never across one.
  state ^= state << 13;
  state ^= state >> 7;
  state ^= state << 17;
  return static_cast<uint32_t>(state >> 32);
}

struct SelectLocks {
  ChanCore** order;
  int n;
  void lock() {
    for (int i = 0; i < n; ++i)
      if (i == 0 || order[i] != order[i - 1]) ChanOps::lock(order[i]);
  }
  void unlock() {
    for (int i = n; i-- > 0;)
      if (i == 0 || order[i] != order[i - 1]) ChanOps::unlock(order[i]);
  }
};

}  // namespace

int select_impl(SelectCase* cases, int n, bool has_default, int64_t deadline_ns) {
  constexpr int kStack = 16;
  int poll_buf[kStack];
  ChanCore* lock_buf[kStack];
  std::unique_ptr<int[]> poll_heap;
  std::unique_ptr<ChanCore*[]> lock_heap;
  int* poll = poll_buf;
  ChanCore** order = lock_buf;
  if (n > kStack) {
    poll_heap.reset(new int[static_cast<std::size_t>(n)]);
    lock_heap.reset(new ChanCore*[static_cast<std::size_t>(n)]);
    poll = poll_heap.get();
    order = lock_heap.get();
  }
  // Random poll order (Fisher-Yates as we fill), locks in address order.
  for (int i = 0; i < n; ++i) {
    int j = static_cast<int>(select_rand() % static_cast<uint32_t>(i + 1));
    poll[i] = poll[j];
    poll[j] = i;
    order[i] = cases[i].chan;
  }
  // Insertion sort: select has a handful of cases.
  for (int i = 1; i < n; ++i) {
    ChanCore* c = order[i];
    int j = i;
    for (; j > 0 && order[j - 1] > c; --j) order[j] = order[j - 1];
    order[j] = c;
  }
  SelectLocks locks{order, n};

  // Tries case i. REQUIRES: its channel locked. kDone: it completed (wake, when set, is a
  // waiter to wake once the lock is released); kClosedSend: a send on a closed channel.
  enum class Poll { kNotReady, kDone, kClosedSend };
  auto poll_locked = [&](int i, ChanWaitSlot* wake) {
    SelectCase& c = cases[i];
    if (c.is_send) {
      if (c.chan->closed_) return Poll::kClosedSend;
      return ChanOps::try_send_locked(c.chan, c.elem, wake) ? Poll::kDone : Poll::kNotReady;
    }
    RecvStatus st = ChanOps::try_recv_locked(c.chan, c.elem, wake);
    if (st == RecvStatus::kWouldBlock) return Poll::kNotReady;
    c.status = st;
    return Poll::kDone;
  };

  // First pass: each case under its own channel's lock, in the random order. The first ready
  // case it finds is the one a pass under all the locks would pick for the same ready cases,
  // and it costs one lock instead of n. Only when none is ready do all the locks get taken,
  // for the pass whose answer (default, or waiting) needs every channel at one instant.
  for (int k = 0; k < n; ++k) {
    int i = poll[k];
    ChanWaitSlot wake{};
    ChanOps::lock(cases[i].chan);
    Poll r = poll_locked(i, &wake);
    ChanOps::unlock(cases[i].chan);
    if (r == Poll::kClosedSend) throw ChanClosedError();
    if (r == Poll::kDone) {
      if (wake.node) ChanOps::wake(wake);
      return i;
    }
  }
  if (n == 0 || (n == 1 && has_default)) {
    // Nothing to wait on at once: the first pass was the whole answer.
    if (has_default) return -1;
  } else {
    locks.lock();
    for (int k = 0; k < n; ++k) {
      int i = poll[k];
      ChanWaitSlot wake{};
      Poll r = poll_locked(i, &wake);
      if (r == Poll::kClosedSend) {
        locks.unlock();
        throw ChanClosedError();
      }
      if (r == Poll::kDone) {
        locks.unlock();
        if (wake.node) ChanOps::wake(wake);
        return i;
      }
    }
    if (has_default) {
      locks.unlock();
      return -1;
    }
  }
  if (deadline_ns >= 0 && deadline_ns <= now_ns()) {
    if (n > 0) locks.unlock();
    return n;
  }

  // Wait on every channel at once.
  std::unique_ptr<ChanWaitNode[]> node_heap;
  ChanWaitNode node_buf[kStack];
  ChanWaitNode* nodes = node_buf;
  if (n > kStack) {
    node_heap.reset(new ChanWaitNode[static_cast<std::size_t>(n)]);
    nodes = node_heap.get();
  }
  Waiter w;
  for (int i = 0; i < n; ++i) {
    ChanWaitNode& node = nodes[i];
    node.waiter = &w;
    node.elem = cases[i].elem;
    node.case_index = i;
    node.success = false;
    if (cases[i].is_send) {
      ChanOps::push(cases[i].chan->sendq_, &node, nullptr);
    } else {
      ChanOps::push(cases[i].chan->recvq_, &node, nullptr);
    }
  }
  struct TimeoutArg {
    Waiter* w;
    int index;
  } targ{&w, n};
  TimerEntry timer;
  if (deadline_ns >= 0) {
    timer.fire = [](void* a) {
      auto* t = static_cast<TimeoutArg*>(a);
      if (t->w->claim(t->index)) t->w->wake();
    };
    timer.arg = &targ;
  }
  if (current_fiber()) {
    // Unlock the channels and arm the timeout once the task is parked (see park()).
    struct Commit {
      SelectLocks* locks;
      TimerEntry* timer;
      int64_t deadline;
    } commit{&locks, &timer, deadline_ns};
    park(
        WaitReason::kSelect,
        [](void* a) {
          // Arm the timer before unlocking: once a channel is unlocked this task may be woken,
          // run elsewhere and leave select, and `commit` and the timer (on its stack) are gone.
          // The locks are released last-first, so the task, which must take the first one again
          // before it can leave, cannot go before unlock() is done with its stack.
          Commit c = *static_cast<Commit*>(a);
          if (c.deadline >= 0) timer_start(c.timer, c.deadline);
          c.locks->unlock();
          return true;
        },
        &commit);
  } else {
    if (deadline_ns >= 0) timer_start(&timer, deadline_ns);
    if (n > 0) locks.unlock();
    w.wait(WaitReason::kSelect, nullptr);
  }
  if (deadline_ns >= 0) timer_stop(&timer);

  // Take our nodes off every channel that did not fire.
  if (n > 0) locks.lock();
  for (int i = 0; i < n; ++i) {
    ChanWaitNode& node = nodes[i];
    if (!node.linked) continue;
    if (cases[i].is_send) {
      ChanOps::unlink(cases[i].chan->sendq_, &node);
    } else {
      ChanOps::unlink(cases[i].chan->recvq_, &node);
    }
  }
  if (n > 0) locks.unlock();
  int won = w.claimed();
  if (won == n || won < 0) return n;
  if (cases[won].is_send) {
    if (!nodes[won].success) throw ChanClosedError();
  } else {
    cases[won].status = nodes[won].success ? RecvStatus::kValue : RecvStatus::kClosed;
  }
  return won;
}

}  // namespace weft::detail
