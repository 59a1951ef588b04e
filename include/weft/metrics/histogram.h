// Histogram: observations counted into buckets, recorded without locks from any task or thread.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "weft/metrics/detail/shards.h"

namespace weft::metrics {

template <class Metric>
class Family;

// The buckets Prometheus' client libraries use by default, for latencies in seconds:
// .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10.
std::vector<double> default_buckets();
// count bounds: start, start + width, start + 2 * width, ... Throws std::invalid_argument unless
// count >= 1, width > 0 and every bound is finite.
std::vector<double> linear_buckets(double start, double width, int count);
// count bounds: start, start * factor, start * factor^2, ... Throws std::invalid_argument unless
// count >= 1, start > 0, factor > 1 and every bound is finite.
std::vector<double> exponential_buckets(double start, double factor, int count);

// HistogramSnapshot is a histogram's state at one moment, as a scrape exposes it.
struct HistogramSnapshot {
  // The finite upper bounds of the buckets, ascending; the +Inf bucket is implicit.
  std::vector<double> upper_bounds;
  // Observations <= each bound, then one more entry for the +Inf bucket (every observation):
  // cumulative and never decreasing.
  std::vector<uint64_t> cumulative_counts;
  // The sum of every observation.
  double sum = 0;

  // The number of observations: the +Inf bucket.
  uint64_t count() const noexcept {
    return cumulative_counts.empty() ? 0 : cumulative_counts.back();
  }
};

// Histogram counts observations (latencies, sizes) into buckets with configurable upper bounds
// (an observation v counts in the first bucket whose bound is >= v, or in +Inf), and sums them.
// Registries hand out histograms through HistogramFamily::with().
//
// observe() takes no lock and touches no cache line that another processor writes: a task adds
// to its processor's shard (a bucket count and the sum), a plain thread to a shared shard with
// atomic adds.
class alignas(detail::kCacheLineBytes) Histogram {
 public:
  // Buckets with these upper bounds: strictly ascending and finite; a last bound of +Inf is
  // allowed and dropped (the +Inf bucket is always there). Throws std::invalid_argument
  // otherwise.
  explicit Histogram(std::vector<double> upper_bounds);
  Histogram(const Histogram&) = delete;
  Histogram& operator=(const Histogram&) = delete;

  // Records v. NaN is ignored (it belongs to no bucket, and would make the sum NaN forever).
  void observe(double v) noexcept {
    if (std::isnan(v)) return;
    std::size_t bucket = bucket_of(v);
    if (std::atomic<uint64_t>* own = shards_.owned()) {
      detail::owned_add(own[bucket], 1);
      detail::owned_add_double(own[sum_word_], v);
    } else {
      std::atomic<uint64_t>* shared = shards_.shared();
      detail::shared_add(shared[bucket], 1);
      detail::shared_add_double(shared[sum_word_], v);
    }
  }

  // The buckets' counts and the sum, added up over the shards. Buckets and count come from the
  // same reads, so they always agree; the sum may lag or lead them by observations made during
  // the call.
  HistogramSnapshot snapshot() const;

  // The finite upper bounds, ascending.
  const std::vector<double>& upper_bounds() const noexcept { return *upper_bounds_; }

 private:
  // Below this many bounds a branch-free scan beats a binary search.
  static constexpr std::size_t kLinearSearchBounds = 16;

  // The index of the bucket v belongs to: the number of bounds below v.
  std::size_t bucket_of(double v) const noexcept {
    if (bound_count_ <= kLinearSearchBounds) {
      std::size_t below = 0;
      for (std::size_t i = 0; i < bound_count_; ++i) below += bounds_[i] < v;
      return below;
    }
    return bucket_by_search(v);
  }
  std::size_t bucket_by_search(double v) const noexcept;

  // A family's children share its (already checked) buckets.
  template <class Metric>
  friend class Family;
  explicit Histogram(std::shared_ptr<const std::vector<double>> upper_bounds);

  std::shared_ptr<const std::vector<double>> upper_bounds_;
  const double* bounds_;     // upper_bounds_->data()
  std::size_t bound_count_;  // upper_bounds_->size()
  std::size_t sum_word_;     // the word after the +Inf bucket's
  detail::ShardSet shards_;
};

}  // namespace weft::metrics
