// Metric families: one name and help text, one child metric per set of label values.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "weft/metrics/counter.h"
#include "weft/metrics/gauge.h"
#include "weft/metrics/histogram.h"

namespace weft::metrics {

class Registry;

// MetricType is the kind of a family, as its # TYPE line says.
enum class MetricType { kCounter, kGauge, kHistogram };

// FamilyDesc describes a metric family: what registration validates and what the exposition's
// # HELP and # TYPE lines say.
struct FamilyDesc {
  // [a-zA-Z_:][a-zA-Z0-9_:]*; a counter's ends in "_total".
  std::string name;
  // Free text (UTF-8); exposed with backslashes and line feeds escaped.
  std::string help;
  MetricType type = MetricType::kGauge;
  // [a-zA-Z_][a-zA-Z0-9_]*, not starting with "__", none of them "le" or "quantile".
  std::vector<std::string> label_names;
  // Histograms only: the finite upper bounds of the buckets, ascending (+Inf is implicit).
  std::vector<double> buckets;
};

namespace detail {

// Sample is one metric of a family at scrape time.
struct Sample {
  // One per label name of the family, in the same order.
  std::vector<std::string> label_values;
  // Counters and gauges: the value.
  double value = 0;
  // Histograms: one count per bucket, cumulative, the +Inf bucket last.
  std::vector<uint64_t> cumulative_counts;
  // Histograms: the sum of the observations.
  double sum = 0;
};

// Orders label value lists lexicographically, and finds a stored list by a list of views.
struct LabelValuesLess {
  using is_transparent = void;
  bool operator()(const std::vector<std::string>& a, const std::vector<std::string>& b) const;
  bool operator()(const std::vector<std::string>& a, std::span<const std::string_view> b) const;
  bool operator()(std::span<const std::string_view> a, const std::vector<std::string>& b) const;
};

// FamilyBase is what a Registry keeps of each family it made.
class FamilyBase {
 public:
  virtual ~FamilyBase();
  FamilyBase(const FamilyBase&) = delete;
  FamilyBase& operator=(const FamilyBase&) = delete;

  // The family's validated description.
  const FamilyDesc& desc() const noexcept { return desc_; }

 protected:
  explicit FamilyBase(FamilyDesc desc) : desc_(std::move(desc)) {}

  FamilyDesc desc_;

 private:
  friend class weft::metrics::Registry;
  // Appends one sample per child, ordered by label values.
  virtual void collect(std::vector<Sample>& out) const = 0;
};

}  // namespace detail

// Family holds the metrics of one name: one child per set of label values, made on first use
// and kept for the life of the registry, so a reference to a child stays valid. Children are
// made under the family's lock; look one up once and keep the reference on a hot path.
template <class Metric>
class Family final : public detail::FamilyBase {
 public:
  // The child for these label values (one per label name, in order; any UTF-8 text), made the
  // first time. Throws std::invalid_argument when the count does not match the label names or
  // a value is not valid UTF-8.
  Metric& with(std::initializer_list<std::string_view> label_values);
  Metric& with(std::span<const std::string> label_values);
  // The one child of a family without labels: with({}).
  Metric& get() { return with({}); }

  // The family's name, as registered.
  const std::string& name() const noexcept { return desc_.name; }
  // The family's label names, as registered.
  const std::vector<std::string>& label_names() const noexcept { return desc_.label_names; }

 private:
  friend class weft::metrics::Registry;
  explicit Family(FamilyDesc desc);

  Metric& child(std::span<const std::string_view> label_values);
  std::unique_ptr<Metric> make_child() const;
  void collect(std::vector<detail::Sample>& out) const override;

  // Histograms: the buckets every child shares.
  std::shared_ptr<const std::vector<double>> buckets_;
  mutable std::mutex mu_;
  std::map<std::vector<std::string>, std::unique_ptr<Metric>, detail::LabelValuesLess> children_;
};

// The family types a Registry hands out.
using CounterFamily = Family<Counter>;
using GaugeFamily = Family<Gauge>;
using HistogramFamily = Family<Histogram>;

extern template class Family<Counter>;
extern template class Family<Gauge>;
extern template class Family<Histogram>;

}  // namespace weft::metrics
