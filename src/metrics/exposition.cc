// The Prometheus text (0.0.4) and OpenMetrics (1.0.0) renderings, and Accept negotiation.
#include "exposition.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <system_error>

#include "names.h"

namespace weft::metrics {

namespace detail {

namespace {

constexpr std::string_view kTotalSuffix = "_total";

// Appends text with backslash, line feed and (when escape_quotes) double quote escaped.
void append_escaped(std::string& out, std::string_view text, bool escape_quotes) {
  for (char c : text) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '"':
        out += escape_quotes ? "\\\"" : "\"";
        break;
      default:
        out += c;
    }
  }
}

// Appends {name="value",...}, with one more label (extra_name="extra_value", the value already
// formatted) when extra_name is not empty; nothing when there are no labels at all.
void append_labels(std::string& out, const std::vector<std::string>& names,
                   const std::vector<std::string>& values, std::string_view extra_name = {},
                   std::string_view extra_value = {}) {
  if (names.empty() && extra_name.empty()) return;
  out += '{';
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += ',';
    out += names[i];
    out += "=\"";
    append_escaped(out, values[i], /*escape_quotes=*/true);
    out += '"';
  }
  if (!extra_name.empty()) {
    if (!names.empty()) out += ',';
    out += extra_name;
    out += "=\"";
    out += extra_value;
    out += '"';
  }
  out += '}';
}

void append_chars(std::string& out, double v, std::chars_format format) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v, format);
  if (ec == std::errc()) out.append(buf, end);
}

bool append_special(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
  } else if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
  } else {
    return false;
  }
  return true;
}

}  // namespace

void append_value(std::string& out, double v) {
  if (append_special(out, v)) return;
  constexpr double kInt64Limit = 0x1p63;
  if (v == std::trunc(v) && std::fabs(v) < kInt64Limit) {
    char buf[32];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, static_cast<int64_t>(v));
    if (ec == std::errc()) out.append(buf, end);
    return;
  }
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);  // shortest round trip
  if (ec == std::errc()) out.append(buf, end);
}

void append_bound(std::string& out, double bound) {
  if (append_special(out, bound)) return;
  // Go's %g on the shortest digits: exponent form when the decimal exponent is below -4 or at
  // least 6 (to_chars' scientific form matches Go's: "1e+06", "1.5e-07"), fixed otherwise.
  std::string scientific;
  append_chars(scientific, bound, std::chars_format::scientific);
  std::size_t e = scientific.find('e');
  int exponent = e == std::string::npos ? 0 : std::atoi(scientific.c_str() + e + 1);
  if (exponent < -4 || exponent >= 6) {
    out += scientific;
    return;
  }
  std::size_t start = out.size();
  append_chars(out, bound, std::chars_format::fixed);
  if (out.find('.', start) == std::string::npos) out += ".0";
}

void render_family(std::string& out, const FamilyDesc& desc, std::span<const Sample> samples,
                   Format format) {
  const bool open_metrics = format == Format::kOpenMetrics;
  const std::string& name = desc.name;
  // OpenMetrics names a counter's family without "_total"; its samples keep it.
  std::string_view family_name = name;
  if (open_metrics && desc.type == MetricType::kCounter)
    family_name.remove_suffix(kTotalSuffix.size());

  auto append_help = [&] {
    out += "# HELP ";
    out += family_name;
    out += ' ';
    append_escaped(out, desc.help, /*escape_quotes=*/open_metrics);
    out += '\n';
  };
  auto append_type = [&] {
    out += "# TYPE ";
    out += family_name;
    out += ' ';
    out += type_name(desc.type);
    out += '\n';
  };
  if (open_metrics) {  // OpenMetrics asks for TYPE first, Prometheus' clients write HELP first
    append_type();
    append_help();
  } else {
    append_help();
    append_type();
  }

  // OpenMetrics: a sum is a counter, so a histogram with negative buckets (or a sum that went
  // negative or NaN) has neither _sum nor _count.
  const bool negative_buckets = !desc.buckets.empty() && desc.buckets.front() < 0;
  std::string bound;
  for (const Sample& sample : samples) {
    if (desc.type != MetricType::kHistogram) {
      out += name;
      append_labels(out, desc.label_names, sample.label_values);
      out += ' ';
      append_value(out, sample.value);
      out += '\n';
      continue;
    }
    for (std::size_t i = 0; i < sample.cumulative_counts.size(); ++i) {
      bound.clear();
      if (i < desc.buckets.size()) {
        append_bound(bound, desc.buckets[i]);
      } else {
        bound = "+Inf";
      }
      out += name;
      out += "_bucket";
      append_labels(out, desc.label_names, sample.label_values, "le", bound);
      out += ' ';
      append_value(out, static_cast<double>(sample.cumulative_counts[i]));
      out += '\n';
    }
    bool with_sum = !open_metrics || (!negative_buckets && sample.sum >= 0);
    if (!with_sum) continue;
    uint64_t count = sample.cumulative_counts.empty() ? 0 : sample.cumulative_counts.back();
    out += name;
    out += "_sum";
    append_labels(out, desc.label_names, sample.label_values);
    out += ' ';
    append_value(out, sample.sum);
    out += '\n';
    out += name;
    out += "_count";
    append_labels(out, desc.label_names, sample.label_values);
    out += ' ';
    append_value(out, static_cast<double>(count));
    out += '\n';
  }
}

void finish_exposition(std::string& out, Format format) {
  if (format == Format::kOpenMetrics) out += "# EOF\n";
}

}  // namespace detail

// ----- content negotiation -----

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool equal_fold(std::string_view a, std::string_view b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
    auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c | 0x20) : c; };
    return lower(x) == lower(y);
  });
}

// One media range of an Accept header: "type/subtype; version=1.0.0; q=0.5".
struct MediaRange {
  std::string_view type;
  std::string_view version;
  double quality = 1;
};

MediaRange parse_media_range(std::string_view text) {
  MediaRange range;
  std::size_t semi = text.find(';');
  range.type = trim(text.substr(0, semi));
  while (semi != std::string_view::npos) {
    text.remove_prefix(semi + 1);
    semi = text.find(';');
    std::string_view param = trim(text.substr(0, semi));
    std::size_t eq = param.find('=');
    if (eq == std::string_view::npos) continue;
    std::string_view key = trim(param.substr(0, eq));
    std::string_view value = trim(param.substr(eq + 1));
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"')
      value = value.substr(1, value.size() - 2);
    if (equal_fold(key, "q")) {
      double q = 0;
      auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), q);
      range.quality = ec == std::errc() && end == value.data() + value.size()
                          ? std::clamp(q, 0.0, 1.0)
                          : 0;  // an unreadable quality makes the range unacceptable
    } else if (equal_fold(key, "version")) {
      range.version = value;
    }
  }
  return range;
}

}  // namespace

std::string_view content_type(Format format) noexcept {
  return format == Format::kOpenMetrics ? kOpenMetricsContentType : kTextContentType;
}

Format negotiate_format(std::string_view accept_header) {
  double open_metrics_quality = -1;
  double text_quality = -1;
  while (!accept_header.empty()) {
    std::size_t comma = accept_header.find(',');
    MediaRange range = parse_media_range(accept_header.substr(0, comma));
    accept_header.remove_prefix(comma == std::string_view::npos ? accept_header.size() : comma + 1);
    if (equal_fold(range.type, "application/openmetrics-text")) {
      if (range.version.empty() || range.version == "1.0.0" || range.version == "0.0.1")
        open_metrics_quality = std::max(open_metrics_quality, range.quality);
    } else if (equal_fold(range.type, "text/plain")) {
      if (range.version.empty() || range.version == "0.0.4")
        text_quality = std::max(text_quality, range.quality);
    } else if (equal_fold(range.type, "*/*") || equal_fold(range.type, "text/*")) {
      text_quality = std::max(text_quality, range.quality);
    }
  }
  return open_metrics_quality > 0 && open_metrics_quality >= text_quality ? Format::kOpenMetrics
                                                                          : Format::kText;
}

}  // namespace weft::metrics
