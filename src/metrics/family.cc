// Metric families: children by label values, made on first use.
#include "weft/metrics/family.h"

#include <algorithm>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "names.h"

namespace weft::metrics {

namespace detail {

namespace {

template <class A, class B>
bool lexicographically_less(const A& a, const B& b) {
  return std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end(),
                                      [](std::string_view x, std::string_view y) { return x < y; });
}

}  // namespace

bool LabelValuesLess::operator()(const std::vector<std::string>& a,
                                 const std::vector<std::string>& b) const {
  return lexicographically_less(a, b);
}
bool LabelValuesLess::operator()(const std::vector<std::string>& a,
                                 std::span<const std::string_view> b) const {
  return lexicographically_less(a, b);
}
bool LabelValuesLess::operator()(std::span<const std::string_view> a,
                                 const std::vector<std::string>& b) const {
  return lexicographically_less(a, b);
}

FamilyBase::~FamilyBase() = default;

}  // namespace detail

template <class Metric>
Family<Metric>::Family(FamilyDesc desc) : detail::FamilyBase(std::move(desc)) {
  if constexpr (std::is_same_v<Metric, Histogram>)
    buckets_ = std::make_shared<const std::vector<double>>(desc_.buckets);
  // A family without labels has its one child from the start, so it is exposed at once.
  if (desc_.label_names.empty()) children_.emplace(std::vector<std::string>{}, make_child());
}

template <class Metric>
Metric& Family<Metric>::with(std::initializer_list<std::string_view> label_values) {
  return child(std::span<const std::string_view>(label_values.begin(), label_values.size()));
}

template <class Metric>
Metric& Family<Metric>::with(std::span<const std::string> label_values) {
  std::vector<std::string_view> views(label_values.begin(), label_values.end());
  return child(views);
}

template <class Metric>
Metric& Family<Metric>::child(std::span<const std::string_view> label_values) {
  if (label_values.size() != desc_.label_names.size())
    throw std::invalid_argument(detail::label_count_error(desc_, label_values.size()));
  std::lock_guard<std::mutex> lock(mu_);
  auto it = children_.find(label_values);
  if (it != children_.end()) return *it->second;
  for (std::string_view value : label_values) {
    if (!detail::is_valid_utf8(value))
      throw std::invalid_argument(detail::error_prefix(desc_) + "label value is not valid UTF-8");
  }
  it =
      children_
          .emplace(std::vector<std::string>(label_values.begin(), label_values.end()), make_child())
          .first;
  return *it->second;
}

template <class Metric>
std::unique_ptr<Metric> Family<Metric>::make_child() const {
  if constexpr (std::is_same_v<Metric, Histogram>) {
    return std::unique_ptr<Histogram>(new Histogram(buckets_));
  } else {
    return std::make_unique<Metric>();
  }
}

template <class Metric>
void Family<Metric>::collect(std::vector<detail::Sample>& out) const {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [label_values, metric] : children_) {
    detail::Sample& sample = out.emplace_back();
    sample.label_values = label_values;
    if constexpr (std::is_same_v<Metric, Histogram>) {
      HistogramSnapshot snap = metric->snapshot();
      sample.cumulative_counts = std::move(snap.cumulative_counts);
      sample.sum = snap.sum;
    } else {
      sample.value = metric->value();
    }
  }
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

}  // namespace weft::metrics
