// Counter: a monotonic total, incremented without locks from any task or thread.
#pragma once

#include <cstddef>

#include "weft/metrics/detail/shards.h"

namespace weft::metrics {

// Counter is a total that only goes up: requests served, bytes sent, errors seen. Registries hand
// out counters through CounterFamily::with(); one made directly works the same but is exposed
// nowhere.
//
// inc() and add() take no lock and touch no cache line that another processor writes: a task
// adds to its processor's shard, a plain thread to a shared shard with an atomic add. value()
// adds the shards up, so it sees every increment that happened before it.
class alignas(detail::kCacheLineBytes) Counter {
 public:
  Counter();
  Counter(const Counter&) = delete;
  Counter& operator=(const Counter&) = delete;

  // Adds 1.
  void inc() noexcept {
    if (std::atomic<uint64_t>* own = shards_.owned()) {
      detail::owned_add(own[kWholeWord], 1);
    } else {
      detail::shared_add(shards_.shared()[kWholeWord], 1);
    }
  }

  // Adds v. Throws std::invalid_argument when v is negative or NaN. Whole numbers (below 2^53)
  // are kept exactly in an integer; other values in a double.
  void add(double v);

  // The current total.
  double value() const noexcept;

 private:
  // The words of each shard: whole increments, and the sum of the other additions.
  static constexpr std::size_t kWholeWord = 0;
  static constexpr std::size_t kFractionWord = 1;

  detail::ShardSet shards_;
};

}  // namespace weft::metrics
