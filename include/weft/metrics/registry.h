// Registry: metric families by name, scrape-time collectors, and the exposition formats.
#pragma once

#include <functional>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "weft/metrics/family.h"

namespace weft::metrics {

// Format is an exposition format.
enum class Format {
  kText,         // the Prometheus text format, version 0.0.4
  kOpenMetrics,  // the OpenMetrics text format, version 1.0.0
};

// The Content-Type of each format.
inline constexpr std::string_view kTextContentType = "text/plain; version=0.0.4; charset=utf-8";
inline constexpr std::string_view kOpenMetricsContentType =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

// The Content-Type of an exposition in format.
std::string_view content_type(Format format) noexcept;

// The format to answer a scrape with, given its Accept header: OpenMetrics when the header
// accepts application/openmetrics-text (version 1.0.0, 0.0.1 or unspecified) with a quality
// above zero and at least that of every acceptable text format; the text format otherwise,
// including for an empty header.
Format negotiate_format(std::string_view accept_header);

// Exposition is the answer to a scrape: a Content-Type and a body.
struct Exposition {
  std::string content_type;
  std::string body;
};

// MetricWriter takes the samples a collector computes at scrape time. Each goes to one of the
// families the collector declared when it was added, with one label value per label name of
// that family (any UTF-8 text). A collector writes each set of label values at most once per
// scrape; samples are exposed in the order written. A sample for a family the collector did
// not declare, of the wrong type, with the wrong number of label values or with invalid UTF-8
// is a programming error: std::invalid_argument, which leaves expose().
class MetricWriter {
 public:
  MetricWriter(const MetricWriter&) = delete;
  MetricWriter& operator=(const MetricWriter&) = delete;

  // The value of a counter or gauge family without labels.
  void write(std::string_view family, double value);
  // The value of a counter or gauge family for these label values.
  void write(std::string_view family, std::initializer_list<std::string_view> label_values,
             double value);
  void write(std::string_view family, std::span<const std::string> label_values, double value);
  // The state of a histogram family for these label values: histogram.upper_bounds must equal
  // the family's buckets, and its counts must be cumulative with one more for +Inf.
  void write_histogram(std::string_view family,
                       std::initializer_list<std::string_view> label_values,
                       const HistogramSnapshot& histogram);

 private:
  friend class Registry;
  explicit MetricWriter(const std::vector<FamilyDesc>& families);

  detail::Sample& add_sample(std::string_view family, bool histogram,
                             std::span<const std::string_view> label_values);

  const std::vector<FamilyDesc>& families_;
  std::vector<std::vector<detail::Sample>> samples_;  // one list per family, in its order
};

// CollectFn computes a collector's samples at scrape time. It may run on several threads at
// once (concurrent scrapes), and must not register anything in the registry that calls it.
using CollectFn = std::function<void(MetricWriter& out)>;

// Registry holds metric families and renders them for a scrape. Registration is thread-safe and
// checks every name then, so that a scrape can never produce a broken exposition: a bad metric
// or label name, a reserved label name ("le", "quantile"), a counter whose name lacks "_total",
// a name already registered, or a name whose samples could clash with another family's (a gauge
// "x_count" beside a histogram "x") throws std::invalid_argument naming the metric. Families
// live as long as the registry; the references it hands out stay valid that long.
//
// A scrape (expose, render) lists the families sorted by name, each with # HELP and # TYPE, and
// its metrics sorted by label values. It reads the metrics without stopping writers, so values
// recorded during the scrape may or may not be in it; each histogram's buckets and count are
// still consistent with each other.
class Registry {
 public:
  Registry();
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // The process-wide registry (never destroyed, so metrics stay usable until exit).
  static Registry& global();

  // Registers a counter family; its name must end in "_total". A family without labels starts
  // with its one counter at 0, so it is exposed before the first increment.
  CounterFamily& counter(std::string_view name, std::string_view help,
                         std::vector<std::string> label_names = {});
  // Registers a gauge family.
  GaugeFamily& gauge(std::string_view name, std::string_view help,
                     std::vector<std::string> label_names = {});
  // Registers a histogram family whose children all have these bucket upper bounds (strictly
  // ascending and finite; +Inf is implicit and may end the list).
  HistogramFamily& histogram(std::string_view name, std::string_view help,
                             std::vector<double> buckets,
                             std::vector<std::string> label_names = {});

  // Adds a collector: families declared now (validated as any registration) whose samples
  // collect computes at every scrape, for values that are cheaper to compute on demand than to
  // maintain (runtime state, process statistics). A family is exposed with no samples when a
  // scrape's collect writes none for it.
  void add_collector(std::vector<FamilyDesc> families, CollectFn collect);
  // A gauge without labels whose value is value() at every scrape.
  void gauge_func(std::string_view name, std::string_view help, std::function<double()> value);
  // A counter without labels (name ending in "_total") whose value is value() at every scrape;
  // value() must never decrease.
  void counter_func(std::string_view name, std::string_view help, std::function<double()> value);

  // Renders every family in the format the Accept header asks for (see negotiate_format).
  Exposition expose(std::string_view accept_header = {}) const;
  // Renders every family in format.
  std::string render(Format format) const;

 private:
  struct State;

  template <class Metric>
  Family<Metric>& add_family(FamilyDesc desc);

  std::unique_ptr<State> state_;
};

}  // namespace weft::metrics
