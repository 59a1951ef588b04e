// Registration checks of weft::metrics: metric and label names, buckets, UTF-8 text.
#include "names.h"

#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <set>
#include <stdexcept>
#include <system_error>

namespace weft::metrics::detail {

namespace {

constexpr std::string_view kTotalSuffix = "_total";

bool is_letter(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool is_digit(char c) noexcept {
  return c >= '0' && c <= '9';
}

// How a bound is quoted in messages (shortest round trip).
std::string bound_text(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, ec == std::errc() ? end : buf);
}

}  // namespace

bool is_metric_name(std::string_view name) noexcept {
  if (name.empty()) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool ok = is_letter(c) || c == '_' || c == ':' || (i > 0 && is_digit(c));
    if (!ok) return false;
  }
  return true;
}

bool is_label_name(std::string_view name) noexcept {
  if (name.empty()) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool ok = is_letter(c) || c == '_' || (i > 0 && is_digit(c));
    if (!ok) return false;
  }
  return true;
}

bool is_valid_utf8(std::string_view text) noexcept {
  std::size_t i = 0;
  const std::size_t n = text.size();
  while (i < n) {
    auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
    unsigned char lead = byte(i);
    if (lead < 0x80) {
      ++i;
      continue;
    }
    std::size_t len;
    uint32_t cp;
    if ((lead & 0xE0) == 0xC0) {
      len = 2;
      cp = lead & 0x1F;
    } else if ((lead & 0xF0) == 0xE0) {
      len = 3;
      cp = lead & 0x0F;
    } else if ((lead & 0xF8) == 0xF0) {
      len = 4;
      cp = lead & 0x07;
    } else {
      return false;  // a continuation byte, or 0xF8 and above
    }
    if (n - i < len) return false;
    for (std::size_t k = 1; k < len; ++k) {
      unsigned char next = byte(i + k);
      if ((next & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (next & 0x3F);
    }
    static constexpr uint32_t kSmallestOfLength[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kSmallestOfLength[len]) return false;   // overlong
    if (cp >= 0xD800 && cp <= 0xDFFF) return false;  // surrogate
    if (cp > 0x10FFFF) return false;
    i += len;
  }
  return true;
}

std::string_view type_name(MetricType type) noexcept {
  switch (type) {
    case MetricType::kCounter:
      return "counter";
    case MetricType::kGauge:
      return "gauge";
    case MetricType::kHistogram:
      return "histogram";
  }
  return "untyped";
}

std::string label_count_error(const FamilyDesc& desc, std::size_t got) {
  std::string message = error_prefix(desc);
  if (desc.label_names.empty()) {
    message += "has no labels";
  } else {
    message += "has " + std::to_string(desc.label_names.size()) + " label names (";
    for (std::size_t i = 0; i < desc.label_names.size(); ++i)
      message += (i > 0 ? ", " : "") + desc.label_names[i];
    message += ")";
  }
  return message + " but got " + std::to_string(got) + " label values";
}

std::string error_prefix(const FamilyDesc& desc) {
  std::string s = "weft::metrics: ";
  s += type_name(desc.type);
  s += " \"";
  s += desc.name;
  s += "\": ";
  return s;
}

std::vector<double> checked_buckets(std::vector<double> bounds, std::string_view metric) {
  std::string where = metric.empty() ? "weft::metrics: histogram buckets: "
                                     : "weft::metrics: histogram \"" + std::string(metric) + "\": ";
  if (!bounds.empty() && std::isinf(bounds.back()) && bounds.back() > 0) bounds.pop_back();
  for (std::size_t i = 0; i < bounds.size(); ++i) {
    if (!std::isfinite(bounds[i]))
      throw std::invalid_argument(where + "bucket bound " + bound_text(bounds[i]) +
                                  " is not finite (+Inf is implicit)");
    if (i > 0 && !(bounds[i - 1] < bounds[i]))
      throw std::invalid_argument(where + "bucket bounds must be strictly ascending (" +
                                  bound_text(bounds[i - 1]) + " then " + bound_text(bounds[i]) +
                                  ")");
  }
  return bounds;
}

void validate_family(FamilyDesc& desc) {
  auto fail = [&](const std::string& problem) {
    throw std::invalid_argument(error_prefix(desc) + problem);
  };
  if (!is_metric_name(desc.name)) fail("not a valid metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)");
  if (desc.type == MetricType::kCounter) {
    std::string_view name = desc.name;
    if (!name.ends_with(kTotalSuffix)) fail("a counter's name must end in \"_total\"");
    if (name.size() == kTotalSuffix.size()) fail("a counter's name needs a name before \"_total\"");
  }
  if (!is_valid_utf8(desc.help)) fail("help text is not valid UTF-8");
  std::set<std::string_view> seen;
  for (const std::string& label : desc.label_names) {
    std::string quoted = "label name \"" + label + "\"";
    if (!is_label_name(label)) fail(quoted + " is not valid ([a-zA-Z_][a-zA-Z0-9_]*)");
    if (label.starts_with("__")) fail(quoted + " is reserved (starts with \"__\")");
    if (label == "le") fail(quoted + " is reserved for histogram buckets");
    if (label == "quantile") fail(quoted + " is reserved for summary quantiles");
    if (!seen.insert(label).second) fail(quoted + " appears twice");
  }
  if (desc.type == MetricType::kHistogram) {
    desc.buckets = checked_buckets(std::move(desc.buckets), desc.name);
  } else if (!desc.buckets.empty()) {
    fail("only histograms have buckets");
  }
}

std::vector<std::string> exposed_names(const FamilyDesc& desc) {
  const std::string& name = desc.name;
  switch (desc.type) {
    case MetricType::kCounter: {
      std::string family = name.substr(0, name.size() - kTotalSuffix.size());
      return {name, family, family + "_created"};
    }
    case MetricType::kGauge:
      return {name};
    case MetricType::kHistogram:
      return {name, name + "_bucket", name + "_count", name + "_sum", name + "_created"};
  }
  return {name};
}

}  // namespace weft::metrics::detail
