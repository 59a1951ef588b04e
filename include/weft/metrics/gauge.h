// Gauge: a value that goes up and down, or is set.
#pragma once

#include <atomic>

#include "weft/metrics/detail/shards.h"

namespace weft::metrics {

// Gauge is a current value: connections open, queue length, temperature. It is one atomic
// double (set() cannot be spread over shards), on a cache line of its own; set() is a store,
// the other changes a compare-and-swap loop. Safe from any task or thread.
class alignas(detail::kCacheLineBytes) Gauge {
 public:
  Gauge() = default;
  Gauge(const Gauge&) = delete;
  Gauge& operator=(const Gauge&) = delete;

  // Replaces the value with v.
  void set(double v) noexcept { value_.store(v, std::memory_order_relaxed); }
  // Adds 1.
  void inc() noexcept { add(1); }
  // Subtracts 1.
  void dec() noexcept { add(-1); }
  // Adds v (which may be negative).
  void add(double v) noexcept { value_.fetch_add(v, std::memory_order_relaxed); }
  // Subtracts v.
  void sub(double v) noexcept { value_.fetch_sub(v, std::memory_order_relaxed); }

  // The current value.
  double value() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

}  // namespace weft::metrics
