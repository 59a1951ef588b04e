// Registration checks of weft::metrics: metric and label names, buckets, UTF-8 text.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "weft/metrics/family.h"

namespace weft::metrics::detail {

// Whether name matches [a-zA-Z_:][a-zA-Z0-9_:]*.
bool is_metric_name(std::string_view name) noexcept;
// Whether name matches [a-zA-Z_][a-zA-Z0-9_]* (the "__" prefix is checked apart).
bool is_label_name(std::string_view name) noexcept;
// Whether text is well-formed UTF-8 (no overlong forms, surrogates or code points past U+10FFFF).
bool is_valid_utf8(std::string_view text) noexcept;

// "counter", "gauge" or "histogram", as # TYPE lines say.
std::string_view type_name(MetricType type) noexcept;

// Upper bounds checked for a histogram: strictly ascending and finite, a last +Inf dropped.
// Throws std::invalid_argument naming metric (when not empty).
std::vector<double> checked_buckets(std::vector<double> bounds, std::string_view metric);

// Checks desc for registration (name, help, label names, buckets) and drops a last +Inf bound.
// Throws std::invalid_argument naming the metric.
void validate_family(FamilyDesc& desc);

// Every name desc may be exposed under, in either format: its sample names (with the suffixes
// of its type, "_created" included) and its OpenMetrics family name. Two families whose lists
// share a name cannot both be registered.
std::vector<std::string> exposed_names(const FamilyDesc& desc);

// The start of every error message: `weft::metrics: counter "name": `.
std::string error_prefix(const FamilyDesc& desc);

// The message for label values that do not match desc's label names in number.
std::string label_count_error(const FamilyDesc& desc, std::size_t got);

}  // namespace weft::metrics::detail
