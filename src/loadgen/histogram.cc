// Histogram: HdrHistogram's bucket layout and index math, percentiles, mean and deviation, and
// the percentile distribution in HdrHistogram's .hgrm text format.
//
// Layout (unit magnitude 0, so the lowest discernible value is 1): the counts array holds
// bucket_count_ + 1 halves of sub_bucket_count_ slots. Bucket 0 covers 0 .. sub_bucket_count_-1
// with unit width; each bucket b >= 1 covers sub_bucket_half_count_ << b .. (sub_bucket_count_
// << b) - 1 with width 1 << b, using only its upper half of sub-buckets (the lower half would
// repeat the previous bucket). A value's bucket is found from its leading zeros.
#include "weft/loadgen/histogram.h"

#include <algorithm>
#include <bit>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <ostream>
#include <stdexcept>

namespace weft::loadgen {

namespace {

// The number of buckets HdrHistogram needs so that highest falls inside the last one.
int buckets_to_cover(int64_t highest, int64_t sub_bucket_count) {
  int64_t smallest_untrackable = sub_bucket_count;
  int buckets = 1;
  while (smallest_untrackable <= highest) {
    if (smallest_untrackable > INT64_MAX / 2) return buckets + 1;
    smallest_untrackable <<= 1;
    ++buckets;
  }
  return buckets;
}

// The next percentile level of HdrHistogram's percentile iterator: ticks_per_half_distance
// equal steps in each halving of the distance to 100%, so the step halves at 50%, 75%, 87.5%...
// Computed exactly as HdrHistogram does, so the rows match its output. Infinity once the level
// reaches 100% or the step falls below a double's resolution, which ends the walk.
double next_percentile_level(double level, int ticks_per_half_distance) {
  double halvings = std::log(100.0 / (100.0 - level)) / std::log(2.0);
  if (!(halvings < 1000)) return HUGE_VAL;
  double reporting_ticks = ticks_per_half_distance *
                           std::ldexp(1.0, static_cast<int>(static_cast<int64_t>(halvings)) + 1);
  double next = level + 100.0 / reporting_ticks;
  return next > level ? next : HUGE_VAL;
}

}  // namespace

Histogram::Histogram(int64_t highest, int significant_digits)
    : highest_(highest), digits_(significant_digits) {
  if (highest < 2) throw std::invalid_argument("Histogram: highest must be at least 2");
  if (significant_digits < 1 || significant_digits > 5)
    throw std::invalid_argument("Histogram: significant digits must be 1 to 5");
  int64_t single_unit_resolution = 2;  // 2 * 10^digits
  for (int i = 0; i < significant_digits; ++i) single_unit_resolution *= 10;
  // ceil(log2(single_unit_resolution)), in integers.
  int sub_bucket_count_magnitude =
      std::bit_width(static_cast<uint64_t>(single_unit_resolution - 1));
  sub_bucket_half_count_magnitude_ = sub_bucket_count_magnitude - 1;
  sub_bucket_count_ = int64_t{1} << sub_bucket_count_magnitude;
  sub_bucket_half_count_ = sub_bucket_count_ / 2;
  sub_bucket_mask_ = sub_bucket_count_ - 1;
  bucket_count_ = buckets_to_cover(highest, sub_bucket_count_);
  counts_.assign(static_cast<std::size_t>(bucket_count_ + 1) * sub_bucket_half_count_, 0);
}

// value >= 0. OR-ing in the mask puts every value below sub_bucket_count_ in bucket 0.
inline int Histogram::index_of(int64_t value) const noexcept {
  int bucket = 64 - std::countl_zero(static_cast<uint64_t>(value | sub_bucket_mask_)) -
               (sub_bucket_half_count_magnitude_ + 1);
  int sub_bucket = static_cast<int>(value >> bucket);
  return ((bucket + 1) << sub_bucket_half_count_magnitude_) + sub_bucket -
         static_cast<int>(sub_bucket_half_count_);
}

// The lowest value counted at index (the inverse of index_of on bucket boundaries).
int64_t Histogram::value_from_index(int index) const noexcept {
  int bucket = (index >> sub_bucket_half_count_magnitude_) - 1;
  int64_t sub_bucket = (index & (sub_bucket_half_count_ - 1)) + sub_bucket_half_count_;
  if (bucket < 0) {
    sub_bucket -= sub_bucket_half_count_;
    bucket = 0;
  }
  return sub_bucket << bucket;
}

void Histogram::record_n(int64_t value, uint64_t n) noexcept {
  if (n == 0) return;
  if (value < 1) value = 1;
  if (value > highest_) {
    value = highest_;
    saturated_ += n;
  }
  counts_[index_of(value)] += n;
  total_ += n;
  if (value < min_) min_ = value;
  if (value > max_) max_ = value;
}

void Histogram::merge(const Histogram& other) {
  if (other.highest_ != highest_ || other.digits_ != digits_)
    throw std::invalid_argument("Histogram::merge: histograms have different configurations");
  if (other.total_ == 0) return;
  for (std::size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
  total_ += other.total_;
  saturated_ += other.saturated_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
}

void Histogram::reset() noexcept {
  std::fill(counts_.begin(), counts_.end(), 0);
  total_ = 0;
  saturated_ = 0;
  min_ = INT64_MAX;
  max_ = 0;
}

int64_t Histogram::lowest_equivalent(int64_t value) const noexcept {
  if (value < 0) value = 0;
  int bucket = 64 - std::countl_zero(static_cast<uint64_t>(value | sub_bucket_mask_)) -
               (sub_bucket_half_count_magnitude_ + 1);
  return (value >> bucket) << bucket;
}

// HdrHistogram's next_non_equivalent - 1, written as lowest + (width - 1) so that it cannot
// overflow at the top of the int64 range.
int64_t Histogram::highest_equivalent(int64_t value) const noexcept {
  if (value < 0) value = 0;
  int bucket = 64 - std::countl_zero(static_cast<uint64_t>(value | sub_bucket_mask_)) -
               (sub_bucket_half_count_magnitude_ + 1);
  return ((value >> bucket) << bucket) + ((int64_t{1} << bucket) - 1);
}

double Histogram::mean() const noexcept {
  if (total_ == 0) return 0;
  // Each bucket counts as its median-equivalent value, lowest + width / 2, as in HdrHistogram.
  long double sum = 0;
  for (std::size_t i = 0; i < counts_.size(); ++i) {
    if (counts_[i] == 0) continue;
    int64_t lowest = value_from_index(static_cast<int>(i));
    int64_t median = lowest + (highest_equivalent(lowest) - lowest + 1) / 2;
    sum += static_cast<long double>(median) * counts_[i];
  }
  return static_cast<double>(sum / total_);
}

double Histogram::stdev() const noexcept {
  if (total_ == 0) return 0;
  long double m = mean();
  long double sum = 0;
  for (std::size_t i = 0; i < counts_.size(); ++i) {
    if (counts_[i] == 0) continue;
    int64_t lowest = value_from_index(static_cast<int>(i));
    long double dev = lowest + (highest_equivalent(lowest) - lowest + 1) / 2 - m;
    sum += dev * dev * counts_[i];
  }
  return static_cast<double>(std::sqrt(sum / total_));
}

int64_t Histogram::value_at_percentile(double percentile) const noexcept {
  if (total_ == 0) return 0;
  if (percentile >= 100) return max_;
  if (!(percentile > 0)) percentile = 0;  // negative or NaN
  uint64_t count_at = static_cast<uint64_t>(percentile / 100 * static_cast<double>(total_) + 0.5);
  count_at = std::clamp<uint64_t>(count_at, 1, total_);
  uint64_t cumulative = 0;
  for (std::size_t i = 0; i < counts_.size(); ++i) {
    cumulative += counts_[i];
    if (cumulative >= count_at)
      return std::min(highest_equivalent(value_from_index(static_cast<int>(i))), max_);
  }
  return max_;
}

// HdrHistogram's PercentileIterator: a row for each level the cumulative percentage reaches (at
// the first non-empty bucket that reaches it, so a bucket spanning several levels gives several
// rows with the same value), then one final 100% row. Values are the buckets' highest
// equivalents, clamped to the exact max() as value_at_percentile does. ticks below 1 count as 1.
std::vector<Histogram::PercentilePoint> Histogram::percentile_distribution(
    int ticks_per_half_distance) const {
  std::vector<PercentilePoint> points;
  if (total_ == 0) return points;
  ticks_per_half_distance = std::max(ticks_per_half_distance, 1);
  double level = 0;
  uint64_t cumulative = 0;
  for (std::size_t i = 0; i < counts_.size() && cumulative < total_; ++i) {
    if (counts_[i] == 0) continue;
    cumulative += counts_[i];
    int64_t value = std::min(highest_equivalent(value_from_index(static_cast<int>(i))), max_);
    while (100.0 * static_cast<double>(cumulative) / static_cast<double>(total_) >= level) {
      points.push_back({level, value, cumulative});
      level = next_percentile_level(level, ticks_per_half_distance);
      if (cumulative == total_) break;  // every count seen: only the 100% row is left
    }
  }
  points.push_back({100.0, max_, total_});
  return points;
}

// The layout of HdrHistogram's (Java) outputPercentileDistribution: values with as many decimals
// as significant digits, the 100% row without the infinite 1/(1-Percentile) column.
void Histogram::write_hgrm(std::ostream& out, double value_scale,
                           int ticks_per_half_distance) const {
  char line[256];
  auto emit = [&](int n) {
    if (n > 0) out.write(line, std::min<int>(n, sizeof(line) - 1));
  };
  emit(std::snprintf(line, sizeof(line), "%12s %14s %10s %14s\n\n", "Value", "Percentile",
                     "TotalCount", "1/(1-Percentile)"));
  for (const PercentilePoint& p : percentile_distribution(ticks_per_half_distance)) {
    double fraction = p.percentile / 100.0;
    double value = static_cast<double>(p.value) / value_scale;
    if (p.percentile != 100.0) {
      emit(std::snprintf(line, sizeof(line), "%12.*f %2.12f %10" PRIu64 " %14.2f\n", digits_, value,
                         fraction, p.total_count, 1.0 / (1.0 - fraction)));
    } else {
      emit(std::snprintf(line, sizeof(line), "%12.*f %2.12f %10" PRIu64 "\n", digits_, value,
                         fraction, p.total_count));
    }
  }
  emit(std::snprintf(line, sizeof(line), "#[Mean    = %12.*f, StdDeviation   = %12.*f]\n", digits_,
                     mean() / value_scale, digits_, stdev() / value_scale));
  emit(std::snprintf(line, sizeof(line), "#[Max     = %12.*f, Total count    = %12" PRIu64 "]\n",
                     digits_, static_cast<double>(max()) / value_scale, total_));
  emit(std::snprintf(line, sizeof(line), "#[Buckets = %12d, SubBuckets     = %12d]\n",
                     bucket_count_, static_cast<int>(sub_bucket_count_)));
}

}  // namespace weft::loadgen
