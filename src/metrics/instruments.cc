// Counter and Histogram over per-processor shards; the bucket generators.
#include <algorithm>
#include <bit>
#include <cmath>
#include <new>
#include <numeric>
#include <stdexcept>
#include <string>

#include "names.h"
#include "weft/metrics/counter.h"
#include "weft/metrics/histogram.h"
#include "weft/runtime/task.h"

namespace weft::metrics {

namespace detail {

ShardSet::ShardSet(std::size_t words_per_shard)
    : lines_per_shard_(
          std::max<std::size_t>(1, (words_per_shard + CacheLine::kWords - 1) / CacheLine::kWords)),
      shared_(new CacheLine[lines_per_shard_]) {
  if (weft::max_procs() > 0) per_proc_shards();  // the runtime runs: make them now
}

ShardSet::~ShardSet() {
  delete[] per_proc_.load(std::memory_order_relaxed);
  if (Overflow* overflow = overflow_.load(std::memory_order_relaxed)) {
    for (auto& segment : overflow->segments) delete[] segment.load(std::memory_order_relaxed);
    delete overflow;
  }
}

CacheLine* ShardSet::make_shards(std::size_t shards) const noexcept {
  return new (std::nothrow) CacheLine[shards * lines_per_shard_];
}

namespace {

// Installs the shards made into slot unless another thread installed its own first (then made
// is freed); returns the installed shards.
CacheLine* install_shards(std::atomic<CacheLine*>& slot, CacheLine* made) noexcept {
  CacheLine* seen = nullptr;
  if (slot.compare_exchange_strong(seen, made, std::memory_order_acq_rel)) return made;
  delete[] made;
  return seen;
}

}  // namespace

CacheLine* ShardSet::per_proc_shards() noexcept {
  CacheLine* lines = per_proc_.load(std::memory_order_acquire);
  if (lines != nullptr) return lines;
  int procs = weft::max_procs();
  if (procs <= 0) return nullptr;
  CacheLine* made = make_shards(static_cast<std::size_t>(procs));
  if (made == nullptr) return nullptr;
  // Racing makers store the same count; the pointer's release publishes it.
  procs_.store(static_cast<unsigned>(procs), std::memory_order_relaxed);
  return install_shards(per_proc_, made);
}

std::atomic<uint64_t>* ShardSet::owned_slow(unsigned proc) noexcept {
  CacheLine* lines = per_proc_shards();
  if (lines == nullptr) return nullptr;
  const unsigned procs = procs_.load(std::memory_order_relaxed);
  if (proc < procs) return lines[static_cast<std::size_t>(proc) * lines_per_shard_].words;

  // Segment k starts at procs * 2^k and holds as many shards.
  const int k = static_cast<int>(std::bit_width(proc / procs)) - 1;
  if (k >= kOverflowSegments) return nullptr;
  const unsigned first = procs << k;
  Overflow* overflow = overflow_.load(std::memory_order_acquire);
  if (overflow == nullptr) {
    auto* made = new (std::nothrow) Overflow;
    if (made == nullptr) return nullptr;
    if (overflow_.compare_exchange_strong(overflow, made, std::memory_order_acq_rel)) {
      overflow = made;
    } else {
      delete made;  // overflow is the one installed first
    }
  }
  CacheLine* segment = overflow->segments[k].load(std::memory_order_acquire);
  if (segment == nullptr) {
    CacheLine* made = make_shards(first);
    if (made == nullptr) return nullptr;
    segment = install_shards(overflow->segments[k], made);
  }
  return segment[static_cast<std::size_t>(proc - first) * lines_per_shard_].words;
}

}  // namespace detail

// ----- Counter -----

Counter::Counter() : shards_(2) {}

void Counter::add(double v) {
  if (!(v >= 0))
    throw std::invalid_argument("weft::metrics: Counter::add of a negative or NaN value");
  constexpr double kExactWholeLimit = 0x1p53;  // doubles below it hold every whole number
  bool whole = v < kExactWholeLimit && v == std::trunc(v);
  if (std::atomic<uint64_t>* own = shards_.owned()) {
    if (whole) {
      detail::owned_add(own[kWholeWord], static_cast<uint64_t>(v));
    } else {
      detail::owned_add_double(own[kFractionWord], v);
    }
  } else {
    std::atomic<uint64_t>* shared = shards_.shared();
    if (whole) {
      detail::shared_add(shared[kWholeWord], static_cast<uint64_t>(v));
    } else {
      detail::shared_add_double(shared[kFractionWord], v);
    }
  }
}

double Counter::value() const noexcept {
  uint64_t whole = 0;
  double fraction = 0;
  shards_.for_each_shard([&](const std::atomic<uint64_t>* words) {
    whole += words[kWholeWord].load(std::memory_order_relaxed);
    fraction += detail::load_double(words[kFractionWord]);
  });
  return static_cast<double>(whole) + fraction;
}

// ----- Histogram -----

Histogram::Histogram(std::vector<double> upper_bounds)
    : Histogram(std::make_shared<const std::vector<double>>(
          detail::checked_buckets(std::move(upper_bounds), {}))) {}

Histogram::Histogram(std::shared_ptr<const std::vector<double>> upper_bounds)
    : upper_bounds_(std::move(upper_bounds)),
      bounds_(upper_bounds_->data()),
      bound_count_(upper_bounds_->size()),
      sum_word_(bound_count_ + 1),
      shards_(bound_count_ + 2) {}

std::size_t Histogram::bucket_by_search(double v) const noexcept {
  return static_cast<std::size_t>(std::lower_bound(bounds_, bounds_ + bound_count_, v) - bounds_);
}

HistogramSnapshot Histogram::snapshot() const {
  HistogramSnapshot snap;
  snap.upper_bounds = *upper_bounds_;
  snap.cumulative_counts.assign(bound_count_ + 1, 0);
  shards_.for_each_shard([&](const std::atomic<uint64_t>* words) {
    for (std::size_t i = 0; i <= bound_count_; ++i)
      snap.cumulative_counts[i] += words[i].load(std::memory_order_relaxed);
    snap.sum += detail::load_double(words[sum_word_]);
  });
  std::partial_sum(snap.cumulative_counts.begin(), snap.cumulative_counts.end(),
                   snap.cumulative_counts.begin());
  return snap;
}

// ----- bucket generators -----

std::vector<double> default_buckets() {
  return {.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10};
}

std::vector<double> linear_buckets(double start, double width, int count) {
  if (count < 1) throw std::invalid_argument("weft::metrics: linear_buckets needs count >= 1");
  if (!(width > 0)) throw std::invalid_argument("weft::metrics: linear_buckets needs width > 0");
  std::vector<double> bounds(static_cast<std::size_t>(count));
  for (int i = 0; i < count; ++i) bounds[static_cast<std::size_t>(i)] = start + i * width;
  return detail::checked_buckets(std::move(bounds), {});
}

std::vector<double> exponential_buckets(double start, double factor, int count) {
  if (count < 1) throw std::invalid_argument("weft::metrics: exponential_buckets needs count >= 1");
  if (!(start > 0))
    throw std::invalid_argument("weft::metrics: exponential_buckets needs start > 0");
  if (!(factor > 1))
    throw std::invalid_argument("weft::metrics: exponential_buckets needs factor > 1");
  std::vector<double> bounds(static_cast<std::size_t>(count));
  double bound = start;
  for (int i = 0; i < count; ++i, bound *= factor) bounds[static_cast<std::size_t>(i)] = bound;
  return detail::checked_buckets(std::move(bounds), {});
}

}  // namespace weft::metrics
