// ShardSet: the per-processor storage behind Counter and Histogram, written without locks.
#pragma once

#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "weft/runtime/pool.h"

namespace weft::metrics::detail {

// The size of the cache lines shards are made of.
inline constexpr std::size_t kCacheLineBytes = 64;

// CacheLine is eight atomic words on one cache line of their own. Shards are whole lines, so
// two processors never write the same line.
struct alignas(kCacheLineBytes) CacheLine {
  static constexpr std::size_t kWords = kCacheLineBytes / sizeof(std::atomic<uint64_t>);
  std::atomic<uint64_t> words[kWords] = {};
};

// Adds n to a word of the caller's own shard. Only the caller writes it, so a relaxed load and
// store do (no read-modify-write, no lock prefix); scrapes read it with relaxed loads.
inline void owned_add(std::atomic<uint64_t>& word, uint64_t n) noexcept {
  word.store(word.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

// Adds v to a word of the caller's own shard that holds the bits of a double.
inline void owned_add_double(std::atomic<uint64_t>& word, double v) noexcept {
  double sum = std::bit_cast<double>(word.load(std::memory_order_relaxed)) + v;
  word.store(std::bit_cast<uint64_t>(sum), std::memory_order_relaxed);
}

// Adds n to a word of the shared shard, which several threads write at once.
inline void shared_add(std::atomic<uint64_t>& word, uint64_t n) noexcept {
  word.fetch_add(n, std::memory_order_relaxed);
}

// Adds v to a word of the shared shard that holds the bits of a double (a compare-and-swap
// loop: there is no atomic floating-point add on the bits).
inline void shared_add_double(std::atomic<uint64_t>& word, double v) noexcept {
  uint64_t seen = word.load(std::memory_order_relaxed);
  while (!word.compare_exchange_weak(seen, std::bit_cast<uint64_t>(std::bit_cast<double>(seen) + v),
                                     std::memory_order_relaxed)) {
  }
}

// Reads a word that holds the bits of a double.
inline double load_double(const std::atomic<uint64_t>& word) noexcept {
  return std::bit_cast<double>(word.load(std::memory_order_relaxed));
}

// ShardSet holds a shard of words for each processor of the runtime, plus one shared shard for
// threads that are not running a task. A task is the only writer of its processor's shard until
// it next parks or yields (the runtime is cooperative, and recording a value never parks), so it
// updates its words with owned_add*; everyone else uses the shared shard's read-modify-writes.
//
// The per-processor shards are sized by weft::max_procs(): made at construction when the
// runtime has started, otherwise by the first write from a processor. A processor numbered
// beyond them (the runtime makes one while another is stuck) gets its shard from an overflow
// segment made by its first write; segments double in size, so few are ever made.
class ShardSet {
 public:
  // words_per_shard words in each shard, rounded up to whole cache lines.
  explicit ShardSet(std::size_t words_per_shard);
  ~ShardSet();
  ShardSet(const ShardSet&) = delete;
  ShardSet& operator=(const ShardSet&) = delete;

  // The words of the calling processor's shard, or nullptr when the caller must write shared():
  // a plain thread, a task inside blocking(), or a processor whose shard could not be made.
  std::atomic<uint64_t>* owned() noexcept {
    int proc = weft::detail::current_proc_index();
    CacheLine* lines = per_proc_.load(std::memory_order_acquire);
    const bool has_shard =
        lines != nullptr && static_cast<unsigned>(proc) < procs_.load(std::memory_order_relaxed);
    if (has_shard) [[likely]] {
      return lines[static_cast<std::size_t>(proc) * lines_per_shard_].words;
    }
    return proc >= 0 ? owned_slow(static_cast<unsigned>(proc)) : nullptr;
  }

  // The words of the shared shard.
  std::atomic<uint64_t>* shared() noexcept { return shared_[0].words; }

  // Calls visit(const std::atomic<uint64_t>* words) for every shard, the shared one included.
  template <class Visit>
  void for_each_shard(Visit&& visit) const {
    visit(static_cast<const std::atomic<uint64_t>*>(shared_[0].words));
    const CacheLine* lines = per_proc_.load(std::memory_order_acquire);
    if (lines == nullptr) return;  // no overflow segment either
    const std::size_t procs = procs_.load(std::memory_order_relaxed);
    for (std::size_t p = 0; p < procs; ++p)
      visit(static_cast<const std::atomic<uint64_t>*>(lines[p * lines_per_shard_].words));
    const Overflow* overflow = overflow_.load(std::memory_order_acquire);
    if (overflow == nullptr) return;
    for (int k = 0; k < kOverflowSegments; ++k) {
      const CacheLine* segment = overflow->segments[k].load(std::memory_order_acquire);
      if (segment == nullptr) continue;
      for (std::size_t i = 0; i < (procs << k); ++i)
        visit(static_cast<const std::atomic<uint64_t>*>(segment[i * lines_per_shard_].words));
    }
  }

 private:
  // Overflow segment k holds the shards of processors [n * 2^k, n * 2^(k+1)), n = max_procs():
  // eight of them reach past the runtime's 256 processor numbers.
  static constexpr int kOverflowSegments = 8;
  struct Overflow {
    std::atomic<CacheLine*> segments[kOverflowSegments] = {};
  };

  // proc's shard when the fast path found none: makes the per-processor shards or proc's
  // overflow segment as needed; nullptr when memory ran out.
  std::atomic<uint64_t>* owned_slow(unsigned proc) noexcept;
  // The per-processor shards, made unless they exist; nullptr before the runtime starts or
  // when memory runs out.
  CacheLine* per_proc_shards() noexcept;
  // `shards` shards of zeros; nullptr when memory runs out.
  CacheLine* make_shards(std::size_t shards) const noexcept;

  std::size_t lines_per_shard_;
  std::unique_ptr<CacheLine[]> shared_;
  std::atomic<CacheLine*> per_proc_{nullptr};
  std::atomic<unsigned> procs_{0};
  std::atomic<Overflow*> overflow_{nullptr};
};

}  // namespace weft::metrics::detail
