// SegRing: a FIFO of small trivially copyable values, addressed by sequence number, that never
// moves more than one segment's worth of elements when it grows.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <new>
#include <type_traits>

namespace weft::detail {

// [[noreturn]] handler for SegRing when memory runs out (defined in the runtime).
[[noreturn]] void seg_ring_out_of_memory();

// SegRing<T> holds values at consecutive sequence numbers [head(), tail()). A small queue is one
// ring of 4 to 256 slots that doubles as it fills; past that, the slots live in segments of 256,
// found through a directory, a ring of segment pointers. Growing allocates one segment (or
// doubles the small directory) and never copies the queue, so the runtime's queues can hold a
// million waiters without a pause of milliseconds under their lock. A segment is freed as soon
// as the head leaves it. Sequence numbers stay with their values until compact() renumbers them.
// Not thread-safe: the owner's lock guards it. Neither copyable nor movable (the small form
// points into the object).
template <class T>
class SegRing {
  static_assert(std::is_trivially_copyable_v<T> && std::is_trivially_destructible_v<T>);

 public:
  static constexpr unsigned kMinShift = 2;  // the first ring: 4 slots
  static constexpr unsigned kSegShift = 8;  // 256 slots per segment

  SegRing() = default;
  SegRing(const SegRing&) = delete;
  SegRing& operator=(const SegRing&) = delete;
  ~SegRing() { release(); }

  uint64_t head() const noexcept { return head_; }
  uint64_t tail() const noexcept { return tail_; }
  uint64_t size() const noexcept { return tail_ - head_; }
  bool empty() const noexcept { return head_ == tail_; }

  // The value at seq. REQUIRES: head() <= seq < tail().
  T& at(uint64_t seq) noexcept {
    if (dir_mask_ == 0) [[likely]]
      return small_ring_[seq & ((uint64_t{1} << shift_) - 1)];
    return dir_[(seq >> kSegShift) & dir_mask_][seq & kSegMask];
  }

  // Appends v and returns its sequence number. (v is a copy: it may come from the ring itself.)
  uint64_t push_back(T v) {
    uint64_t seq = tail_;
    if (dir_mask_ != 0) [[unlikely]] {  // segments: the tail's segment always exists
      dir_[(seq >> kSegShift) & dir_mask_][seq & kSegMask] = v;
      tail_ = seq + 1;
      if ((tail_ & kSegMask) == 0) add_tail_segment();
      return seq;
    }
    if (dir_ && size() < (uint64_t{1} << shift_)) [[likely]] {  // a small ring with room
      tail_ = seq + 1;
      small_ring_[seq & ((uint64_t{1} << shift_) - 1)] = v;
      return seq;
    }
    return push_back_slow(v);
  }

  // Drops the value at head(). REQUIRES: !empty().
  void pop_front() noexcept {
    ++head_;
    if (dir_mask_ != 0 && (head_ & kSegMask) == 0) free_segment((head_ >> kSegShift) - 1);
  }

  // Drops the value at tail() - 1. REQUIRES: !empty().
  void pop_back() noexcept {
    if (dir_mask_ != 0 && (tail_ & kSegMask) == 0) free_segment(tail_ >> kSegShift);
    --tail_;
  }

  // Empties the queue. A small ring is kept for reuse; segments are given back.
  void clear() noexcept {
    if (dir_ && dir_mask_ != 0) {
      release();
      return;
    }
    head_ = tail_ = 0;
  }

  // Empties the queue and gives back all of its memory.
  void release() noexcept {
    if (!dir_) return;
    if (dir_mask_ == 0) {
      std::free(small_ring_);
      small_ring_ = nullptr;
    } else {
      for (uint64_t s = head_ >> kSegShift, last = tail_ >> kSegShift; s <= last; ++s)
        std::free(dir_[s & dir_mask_]);
      std::free(dir_);
    }
    std::free(spare_);
    spare_ = nullptr;
    dir_ = nullptr;
    dir_mask_ = 0;
    head_ = tail_ = 0;
  }

  // Keeps the values for which keep(v) is true, in order, moving them toward the head and
  // renumbering them: renumbered(v, new_seq) is called for each one kept. Runs in O(size()).
  template <class Keep, class Renumbered>
  void compact(Keep keep, Renumbered renumbered) {
    uint64_t w = head_;
    for (uint64_t r = head_; r != tail_; ++r) {
      T v = at(r);
      if (!keep(v)) continue;
      if (w != r) at(w) = v;
      renumbered(v, w);
      ++w;
    }
    while (tail_ != w) pop_back();
  }

 private:
  static constexpr uint64_t kSegMask = (uint64_t{1} << kSegShift) - 1;

  // Appends v when the queue has no memory yet or its small ring is full.
  __attribute__((noinline)) uint64_t push_back_slow(T v) {
    if (!dir_) start();
    if (dir_mask_ == 0 && size() == (uint64_t{1} << shift_)) {
      if (shift_ < kSegShift) {
        grow_small();
      } else {
        split_small();
      }
    }
    uint64_t seq = tail_++;
    at(seq) = v;
    if (dir_mask_ != 0 && (tail_ & kSegMask) == 0) add_tail_segment();
    return seq;
  }

  static T* alloc_slots(uint64_t n) {
    void* p = std::malloc(n * sizeof(T));
    if (!p) seg_ring_out_of_memory();
    return static_cast<T*>(p);
  }

  void start() {
    shift_ = kMinShift;
    small_ring_ = alloc_slots(uint64_t{1} << kMinShift);
    dir_ = &small_ring_;
    dir_mask_ = 0;
    head_ = tail_ = 0;
  }

  // A full small ring below the segment size: doubles it, keeping every sequence number.
  void grow_small() {
    unsigned nshift = shift_ + 1;
    T* ring = alloc_slots(uint64_t{1} << nshift);
    uint64_t nmask = (uint64_t{1} << nshift) - 1;
    for (uint64_t s = head_; s != tail_; ++s) ring[s & nmask] = at(s);
    std::free(small_ring_);
    small_ring_ = ring;
    shift_ = nshift;
  }

  // A full small ring of segment size becomes segments: the ring itself serves the head's
  // segment, and what of the queue lies in the next segment moves to a new one.
  void split_small() {
    T* ring = small_ring_;
    T** dir = static_cast<T**>(std::malloc(4 * sizeof(T*)));
    if (!dir) seg_ring_out_of_memory();
    uint64_t h = head_ >> kSegShift;
    T* next = alloc_slots(uint64_t{1} << kSegShift);
    for (uint64_t s = (h + 1) << kSegShift; s < tail_; ++s) next[s & kSegMask] = ring[s & kSegMask];
    dir[h & 3] = ring;
    dir[(h + 1) & 3] = next;
    small_ring_ = nullptr;
    dir_ = dir;
    dir_mask_ = 3;
  }

  // The tail has just entered a new segment: gives it one, growing the directory if needed.
  __attribute__((noinline)) void add_tail_segment() {
    uint64_t first = head_ >> kSegShift;
    uint64_t last = tail_ >> kSegShift;
    if (last - first + 1 > uint64_t{dir_mask_} + 1) {
      uint64_t nsize = (uint64_t{dir_mask_} + 1) * 2;
      T** dir = static_cast<T**>(std::malloc(nsize * sizeof(T*)));
      if (!dir) seg_ring_out_of_memory();
      for (uint64_t s = first; s < last; ++s) dir[s & (nsize - 1)] = dir_[s & dir_mask_];
      std::free(dir_);
      dir_ = dir;
      dir_mask_ = static_cast<uint32_t>(nsize - 1);
    }
    T* seg = spare_;
    spare_ = nullptr;
    if (!seg) seg = alloc_slots(uint64_t{1} << kSegShift);
    dir_[last & dir_mask_] = seg;
  }

  void free_segment(uint64_t index) noexcept {
    T* seg = dir_[index & dir_mask_];
    if (!spare_) {
      spare_ = seg;
    } else {
      std::free(seg);
    }
  }

  T** dir_ = nullptr;           // the directory; &small_ring_ while the queue is one small ring
  T* small_ring_ = nullptr;     // the small ring
  T* spare_ = nullptr;          // one freed segment kept for the next
  uint64_t head_ = 0;           // sequence number of the oldest value
  uint64_t tail_ = 0;           // sequence number the next value takes
  uint32_t dir_mask_ = 0;       // directory size - 1 (0: one small ring)
  unsigned shift_ = kMinShift;  // log2 of the slots per ring or segment
};

}  // namespace weft::detail
