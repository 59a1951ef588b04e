// ChanCore: the type-erased channel behind Chan<T> (buffer, wait queues, select).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "weft/runtime/detail/seg_ring.h"
#include "weft/runtime/detail/spinlock.h"

namespace weft::detail {

// ElemOps tells the type-erased channel how to move and destroy its element type. A trivial
// one (trivially copyable and destructible) is moved by copying its bytes, with no call.
struct ElemOps {
  std::size_t size;
  std::size_t align;
  bool trivial;
  void (*move_construct)(void* dst, void* src) noexcept;
  void (*destroy)(void* p) noexcept;
};

template <class T>
inline constexpr ElemOps kElemOps = {
    sizeof(T), alignof(T), std::is_trivially_copyable_v<T>&& std::is_trivially_destructible_v<T>,
    [](void* d, void* s) noexcept { ::new (d) T(static_cast<T&&>(*static_cast<T*>(s))); },
    [](void* p) noexcept { static_cast<T*>(p)->~T(); }};

struct ChanWaitNode;
struct Fiber;

// ChanWaitSlot is one place in a wait queue: the waiter's node, which lives on the waiting
// task's (or thread's) stack, and, for a task in a plain send or receive, the task itself, so
// that close() can wake it from its record without touching its stack. node is null for a
// waiter that left early.
struct ChanWaitSlot {
  ChanWaitNode* node;
  Fiber* task;  // set only for a task's plain send or receive (never for select or a thread)
};

// ChanWaitQueue holds a channel's waiting senders or receivers in arrival order, addressed by
// sequence number, so a walk over many waiters (close) reads them in order. A waiter that leaves
// early (a select that fired elsewhere) leaves an empty slot behind.
struct ChanWaitQueue {
  SegRing<ChanWaitSlot> ring;
  uint32_t live = 0;  // waiters queued (the non-empty slots in the ring)
};

// ChanLock is a channel's lock: a SpinLock that a channel used from one runtime thread for a
// while is handed to ("biased to"), as HotSpot once did with its monitors. The owner thread then
// takes and releases it with plain loads and stores, no locked instruction (each cost about 4 ns
// of a 55 ns unbuffered ping-pong here). Anyone else first takes the SpinLock, then revokes the
// bias: it clears the owner, runs an asymmetric barrier (membarrier), after which the owner can
// no longer enter, and waits for the owner to leave if it is inside. A revocation costs
// microseconds, so a lock is biased only after kBiasAfter acquisitions in a row from one thread
// with nobody else in between, and each revocation doubles that count for the lock. A lock is
// only ever biased to one thread, the first, and none is while the process has taken back over
// 100 biased locks in the last 100 ms. Without
// membarrier, and under ThreadSanitizer (which does not model it), locks are never biased.
// Lockable. Defined in chan.cc, where every channel takes it.
class ChanLock {
 public:
  // Acquisitions in a row from one thread that bias a lock never revoked.
  static constexpr uint32_t kBiasAfter = 64;

  ChanLock() = default;
  ChanLock(const ChanLock&) = delete;
  ChanLock& operator=(const ChanLock&) = delete;

  // Takes the lock, spinning (then yielding) while another thread holds it. Never held across
  // anything but a switch to the next task on the same thread, so the thread that takes it
  // releases it.
  void lock() noexcept;
  // Releases the lock. REQUIRES: the calling thread holds it.
  void unlock() noexcept;

 private:
  // owner_in_: the owner thread is out, is entering (and may yet find the bias revoked), or
  // holds the lock. Written by the owner thread only.
  static constexpr uint8_t kOwnerOut = 0;
  static constexpr uint8_t kOwnerEntering = 1;
  static constexpr uint8_t kOwnerHolds = 2;

  void bias_to(void* thread) noexcept;
  void revoke() noexcept;

  SpinLock spin_;
  std::atomic<uint8_t> owner_in_{kOwnerOut};
  uint8_t revocations_ = 0;            // the streak that biases is kBiasAfter << revocations_
  uint32_t streak_ = 0;                // SpinLock holders in a row from streak_thread_
  std::atomic<void*> owner_{nullptr};  // the thread (its Machine) the lock is biased to, or null
  void* streak_thread_ = nullptr;
  // The one thread the lock may ever be biased to: the first it was biased to. owner_in_ is
  // that thread's alone, so a stale write of an earlier owner (preempted between its look at
  // owner_ and its store to owner_in_) can never overwrite a later owner's flag.
  void* bias_thread_ = nullptr;
};

// RecvStatus is what a receive found.
enum class RecvStatus { kValue, kClosed, kWouldBlock };

// ChanCore is shared by every Chan<T> handle that copies the same channel; reference counted.
// Aligned to a cache line, so that the lock and the fields that every operation reads share
// the first one.
class alignas(64) ChanCore {
 public:
  ChanCore(std::size_t capacity, const ElemOps* ops);
  ~ChanCore();
  ChanCore(const ChanCore&) = delete;
  ChanCore& operator=(const ChanCore&) = delete;

  void add_ref() noexcept { refs_.fetch_add(1, std::memory_order_relaxed); }
  void release() noexcept {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

  // Moves *elem into the channel. When block is false and the send would wait, returns false and
  // leaves *elem untouched. Throws ChanClosedError when the channel is or becomes closed.
  bool send(void* elem, bool block);
  // Move-constructs a received value at out (raw storage) when it returns kValue.
  RecvStatus recv(void* out, bool block);
  // Closes the channel: wakes every receiver and every sender. Throws ChanClosedError when it
  // is already closed, as Go panics.
  void close();

  std::size_t size() noexcept;
  std::size_t capacity() const noexcept { return capacity_; }
  bool closed() noexcept;

 private:
  friend int select_impl(struct SelectCase* cases, int n, bool has_default, int64_t deadline_ns);
  friend struct ChanOps;

  void* slot(std::size_t i) const noexcept { return buf_ + i * ops_->size; }
  // Moves the element at src into raw storage at dst; src keeps a moved-from element.
  void move_elem(void* dst, void* src) const noexcept;
  // Destroys the element at p.
  void destroy_elem(void* p) const noexcept;

  // The first cache line: what every operation reads.
  ChanLock lock_;
  std::atomic<int> refs_{1};
  bool closed_ = false;
  const std::size_t capacity_;
  const ElemOps* ops_;
  unsigned char* buf_ = nullptr;
  std::size_t count_ = 0;
  std::size_t sendx_ = 0;
  std::size_t recvx_ = 0;
  ChanWaitQueue recvq_;
  ChanWaitQueue sendq_;
};

// SelectCase is one channel case of select_impl. For a send, elem points at the value to send;
// for a receive, at raw storage for the value; status says what a receive found.
struct SelectCase {
  ChanCore* chan;
  void* elem;
  bool is_send;
  RecvStatus status = RecvStatus::kWouldBlock;
};

// Waits until one of cases can proceed, performs it and returns its index. Among ready cases one
// is chosen uniformly at random. Returns -1 at once when none is ready and has_default; returns n
// when deadline_ns (steady ns, < 0 for none) passes first. Throws ChanClosedError when the chosen
// case sends on a closed channel.
int select_impl(SelectCase* cases, int n, bool has_default, int64_t deadline_ns);

}  // namespace weft::detail
