// A high-dynamic-range latency histogram in the layout of Gil Tene's HdrHistogram: values are
// kept losslessly to a fixed number of significant decimal digits across the whole range, in
// buckets whose width doubles with each power of two, so memory stays small and recording is a
// few instructions.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <vector>

namespace weft::loadgen {

// Histogram counts integer values (weft bench records microseconds) from 1 to highest() with
// significant_digits decimal digits of precision: any two values that the histogram tells
// apart differ by more than 1 part in 10^significant_digits. Not thread-safe: each thread
// records into its own and the results are merged.
class Histogram {
 public:
  // Tracks 1..highest (highest >= 2) with 1 to 5 significant digits; throws
  // std::invalid_argument otherwise.
  explicit Histogram(int64_t highest, int significant_digits = 3);
  // Covers 1 µs to one hour at 3 digits (values recorded in microseconds).
  Histogram() : Histogram(3'600'000'000, 3) {}

  // Counts value once (or n times). Values below 1 count as 1; values above highest() count as
  // highest() and are tallied in saturated().
  void record(int64_t value) noexcept { record_n(value, 1); }
  void record_n(int64_t value, uint64_t n) noexcept;

  // Adds every count of other, which must have the same highest() and significant digits
  // (std::invalid_argument otherwise).
  void merge(const Histogram& other);
  // Forgets every count.
  void reset() noexcept;

  uint64_t count() const noexcept { return total_; }
  // The exact smallest and largest values recorded (0 when empty).
  int64_t min() const noexcept { return total_ ? min_ : 0; }
  int64_t max() const noexcept { return max_; }
  // Mean and population standard deviation, from the buckets' middle values (0 when empty).
  double mean() const noexcept;
  double stdev() const noexcept;
  // How many recorded values were above highest().
  uint64_t saturated() const noexcept { return saturated_; }

  // The value at percentile (0 to 100) as HdrHistogram defines it: the highest value
  // equivalent to the smallest recorded value v such that at least percentile% of all values
  // are <= v (0 when empty). percentile 100 gives max().
  int64_t value_at_percentile(double percentile) const noexcept;

  // The range of values that share value's bucket: [lowest_equivalent, highest_equivalent].
  int64_t lowest_equivalent(int64_t value) const noexcept;
  int64_t highest_equivalent(int64_t value) const noexcept;
  // True when a and b fall in the same bucket.
  bool equivalent(int64_t a, int64_t b) const noexcept {
    return lowest_equivalent(a) == lowest_equivalent(b);
  }

  int64_t highest() const noexcept { return highest_; }
  int significant_digits() const noexcept { return digits_; }

  // One row of the percentile distribution.
  struct PercentilePoint {
    double percentile = 0;     // 0 to 100
    int64_t value = 0;         // as HdrHistogram's percentile iterator reports it (<= max())
    uint64_t total_count = 0;  // values <= value
  };
  // The percentile distribution as HdrHistogram's outputPercentileDistribution walks it:
  // ticks_per_half_distance steps in each halving of the distance to 100% (0%, 50%, 75%,
  // 87.5%, ... with 5 ticks), ending with the 100% row. Empty when the histogram is empty.
  std::vector<PercentilePoint> percentile_distribution(int ticks_per_half_distance = 5) const;

  // Writes the distribution in HdrHistogram's .hgrm text format (the header line, one row per
  // point with Value, Percentile, TotalCount and 1/(1-Percentile), then the Mean/StdDeviation/
  // Max/Total count/Buckets/SubBuckets footer). Values are divided by value_scale (1000 turns
  // microseconds into the milliseconds HdrHistogram's plotter expects).
  void write_hgrm(std::ostream& out, double value_scale = 1000.0,
                  int ticks_per_half_distance = 5) const;

 private:
  int index_of(int64_t value) const noexcept;
  int64_t value_from_index(int index) const noexcept;

  int64_t highest_;
  int digits_;
  int sub_bucket_half_count_magnitude_ = 0;
  int64_t sub_bucket_count_ = 0;
  int64_t sub_bucket_half_count_ = 0;
  int64_t sub_bucket_mask_ = 0;
  int bucket_count_ = 0;
  std::vector<uint64_t> counts_;
  uint64_t total_ = 0;
  uint64_t saturated_ = 0;
  int64_t min_ = INT64_MAX;
  int64_t max_ = 0;
};

}  // namespace weft::loadgen
