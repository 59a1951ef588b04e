// Registry: registration checks, collectors, and rendering a scrape.
#include "weft/metrics/registry.h"

#include <algorithm>
#include <map>
#include <mutex>
#include <stdexcept>
#include <unordered_map>
#include <utility>

#include "exposition.h"
#include "names.h"

namespace weft::metrics {

// ----- MetricWriter -----

MetricWriter::MetricWriter(const std::vector<FamilyDesc>& families)
    : families_(families), samples_(families.size()) {}

detail::Sample& MetricWriter::add_sample(std::string_view family, bool histogram,
                                         std::span<const std::string_view> label_values) {
  auto it = std::find_if(families_.begin(), families_.end(),
                         [&](const FamilyDesc& d) { return d.name == family; });
  if (it == families_.end())
    throw std::invalid_argument("weft::metrics: a collector wrote \"" + std::string(family) +
                                "\", a family it did not declare");
  const FamilyDesc& desc = *it;
  if ((desc.type == MetricType::kHistogram) != histogram)
    throw std::invalid_argument(detail::error_prefix(desc) +
                                (histogram ? "write_histogram() is for histograms"
                                           : "a histogram is written with write_histogram()"));
  if (label_values.size() != desc.label_names.size())
    throw std::invalid_argument(detail::label_count_error(desc, label_values.size()));
  for (std::string_view value : label_values) {
    if (!detail::is_valid_utf8(value))
      throw std::invalid_argument(detail::error_prefix(desc) + "label value is not valid UTF-8");
  }
  std::vector<detail::Sample>& list = samples_[static_cast<std::size_t>(it - families_.begin())];
  detail::Sample& sample = list.emplace_back();
  sample.label_values.assign(label_values.begin(), label_values.end());
  return sample;
}

void MetricWriter::write(std::string_view family, double value) {
  write(family, std::initializer_list<std::string_view>{}, value);
}

void MetricWriter::write(std::string_view family,
                         std::initializer_list<std::string_view> label_values, double value) {
  add_sample(family, /*histogram=*/false,
             std::span<const std::string_view>(label_values.begin(), label_values.size()))
      .value = value;
}

void MetricWriter::write(std::string_view family, std::span<const std::string> label_values,
                         double value) {
  std::vector<std::string_view> views(label_values.begin(), label_values.end());
  add_sample(family, /*histogram=*/false, views).value = value;
}

void MetricWriter::write_histogram(std::string_view family,
                                   std::initializer_list<std::string_view> label_values,
                                   const HistogramSnapshot& histogram) {
  auto it = std::find_if(families_.begin(), families_.end(),
                         [&](const FamilyDesc& d) { return d.name == family; });
  if (it != families_.end()) {
    const FamilyDesc& desc = *it;
    const std::vector<uint64_t>& counts = histogram.cumulative_counts;
    if (histogram.upper_bounds != desc.buckets)
      throw std::invalid_argument(detail::error_prefix(desc) +
                                  "a collector wrote other buckets than declared");
    if (counts.size() != desc.buckets.size() + 1 || !std::is_sorted(counts.begin(), counts.end()))
      throw std::invalid_argument(detail::error_prefix(desc) +
                                  "bucket counts must be cumulative, one per bucket and +Inf");
  }
  detail::Sample& sample =
      add_sample(family, /*histogram=*/true,
                 std::span<const std::string_view>(label_values.begin(), label_values.size()));
  sample.cumulative_counts = histogram.cumulative_counts;
  sample.sum = histogram.sum;
}

// ----- Registry -----

struct Registry::State {
  // A collector and the families it declared.
  struct Collector {
    std::vector<FamilyDesc> families;
    CollectFn collect;
  };
  // A family as a scrape finds it: made by the registry, or declared by a collector.
  struct Entry {
    const FamilyDesc* desc = nullptr;
    const detail::FamilyBase* family = nullptr;  // a family the registry made, or else
    const Collector* collector = nullptr;        // the collector that declared it
    std::size_t index = 0;                       // in collector->families
  };

  std::mutex mu;
  std::map<std::string, Entry, std::less<>> entries;  // by name: the exposition's order
  // Every name a registered family may be exposed under, and the family that may.
  std::map<std::string, const FamilyDesc*, std::less<>> exposed;
  std::vector<std::unique_ptr<detail::FamilyBase>> families;
  std::vector<std::unique_ptr<Collector>> collectors;

  // Throws unless desc may join the registered families and those in batch (registered along
  // with it). REQUIRES: mu.
  void check_free(const FamilyDesc& desc, const std::vector<const FamilyDesc*>& batch) const {
    auto clash = [&](const FamilyDesc& other) {
      if (other.name == desc.name)
        throw std::invalid_argument("weft::metrics: metric \"" + desc.name +
                                    "\" is already registered");
      throw std::invalid_argument(detail::error_prefix(desc) + "its exposed names clash with " +
                                  std::string(detail::type_name(other.type)) + " \"" + other.name +
                                  "\"");
    };
    std::vector<std::string> names = detail::exposed_names(desc);
    for (const std::string& name : names) {
      if (auto it = exposed.find(name); it != exposed.end()) clash(*it->second);
    }
    for (const FamilyDesc* other : batch) {
      for (const std::string& name : detail::exposed_names(*other)) {
        if (std::find(names.begin(), names.end(), name) != names.end()) clash(*other);
      }
    }
  }

  // Records desc's names as taken. REQUIRES: mu, and check_free passed.
  void claim(const FamilyDesc& desc, Entry entry) {
    for (std::string& name : detail::exposed_names(desc)) exposed.emplace(std::move(name), &desc);
    entries.emplace(desc.name, entry);
  }
};

Registry::Registry() : state_(std::make_unique<State>()) {}
Registry::~Registry() = default;

Registry& Registry::global() {
  static Registry* registry = new Registry();  // never destroyed: usable until exit
  return *registry;
}

template <class Metric>
Family<Metric>& Registry::add_family(FamilyDesc desc) {
  detail::validate_family(desc);
  std::lock_guard<std::mutex> lock(state_->mu);
  state_->check_free(desc, {});
  std::unique_ptr<Family<Metric>> family(new Family<Metric>(std::move(desc)));
  Family<Metric>& result = *family;
  state_->families.push_back(std::move(family));
  state_->claim(result.desc(), State::Entry{&result.desc(), &result});
  return result;
}

CounterFamily& Registry::counter(std::string_view name, std::string_view help,
                                 std::vector<std::string> label_names) {
  return add_family<Counter>(FamilyDesc{
      std::string(name), std::string(help), MetricType::kCounter, std::move(label_names), {}});
}

GaugeFamily& Registry::gauge(std::string_view name, std::string_view help,
                             std::vector<std::string> label_names) {
  return add_family<Gauge>(FamilyDesc{
      std::string(name), std::string(help), MetricType::kGauge, std::move(label_names), {}});
}

HistogramFamily& Registry::histogram(std::string_view name, std::string_view help,
                                     std::vector<double> buckets,
                                     std::vector<std::string> label_names) {
  return add_family<Histogram>(FamilyDesc{std::string(name), std::string(help),
                                          MetricType::kHistogram, std::move(label_names),
                                          std::move(buckets)});
}

void Registry::add_collector(std::vector<FamilyDesc> families, CollectFn collect) {
  if (!collect) throw std::invalid_argument("weft::metrics: add_collector without a function");
  for (FamilyDesc& desc : families) detail::validate_family(desc);
  auto collector = std::make_unique<State::Collector>();
  collector->families = std::move(families);
  collector->collect = std::move(collect);

  std::lock_guard<std::mutex> lock(state_->mu);
  std::vector<const FamilyDesc*> batch;
  for (const FamilyDesc& desc : collector->families) {
    state_->check_free(desc, batch);
    batch.push_back(&desc);
  }
  const State::Collector& added = *collector;
  state_->collectors.push_back(std::move(collector));
  for (std::size_t i = 0; i < added.families.size(); ++i) {
    const FamilyDesc& desc = added.families[i];
    state_->claim(desc, State::Entry{&desc, nullptr, &added, i});
  }
}

void Registry::gauge_func(std::string_view name, std::string_view help,
                          std::function<double()> value) {
  if (!value) throw std::invalid_argument("weft::metrics: gauge_func without a function");
  std::vector<FamilyDesc> families(1);
  families[0] = FamilyDesc{std::string(name), std::string(help), MetricType::kGauge, {}, {}};
  add_collector(std::move(families), [name = std::string(name), value = std::move(value)](
                                         MetricWriter& out) { out.write(name, value()); });
}

void Registry::counter_func(std::string_view name, std::string_view help,
                            std::function<double()> value) {
  if (!value) throw std::invalid_argument("weft::metrics: counter_func without a function");
  std::vector<FamilyDesc> families(1);
  families[0] = FamilyDesc{std::string(name), std::string(help), MetricType::kCounter, {}, {}};
  add_collector(std::move(families), [name = std::string(name), value = std::move(value)](
                                         MetricWriter& out) { out.write(name, value()); });
}

Exposition Registry::expose(std::string_view accept_header) const {
  Format format = negotiate_format(accept_header);
  return Exposition{std::string(content_type(format)), render(format)};
}

std::string Registry::render(Format format) const {
  // Families are never removed, so their entries stay valid after the lock is released;
  // collectors and children then run without it.
  std::vector<State::Entry> entries;
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    entries.reserve(state_->entries.size());
    for (const auto& [name, entry] : state_->entries) entries.push_back(entry);
  }

  std::unordered_map<const State::Collector*, std::unique_ptr<MetricWriter>> collected;
  for (const State::Entry& entry : entries) {
    if (entry.collector == nullptr || collected.contains(entry.collector)) continue;
    std::unique_ptr<MetricWriter> writer(new MetricWriter(entry.collector->families));
    entry.collector->collect(*writer);
    collected.emplace(entry.collector, std::move(writer));
  }

  std::string out;
  std::vector<detail::Sample> samples;
  for (const State::Entry& entry : entries) {
    if (entry.family != nullptr) {
      samples.clear();
      entry.family->collect(samples);
      detail::render_family(out, *entry.desc, samples, format);
    } else {
      detail::render_family(out, *entry.desc, collected.at(entry.collector)->samples_[entry.index],
                            format);
    }
  }
  detail::finish_exposition(out, format);
  return out;
}

}  // namespace weft::metrics
