// The Prometheus text and OpenMetrics renderings of metric families.
#pragma once

#include <span>
#include <string>

#include "weft/metrics/family.h"
#include "weft/metrics/registry.h"

namespace weft::metrics::detail {

// Appends a sample value: whole numbers below 2^63 in magnitude as integers, others in the
// shortest form that reads back exactly; +Inf, -Inf and NaN as Prometheus spells them.
void append_value(std::string& out, double v);

// Appends a bucket bound as the "le" label value: OpenMetrics' canonical form (Go's %g, with
// ".0" added to whole numbers: 0.005, 1.0, 100000.0, 1e+06), used in both formats so a bucket
// keeps one series whichever format a scrape negotiates.
void append_bound(std::string& out, double bound);

// Appends one family (metadata lines, then every sample) in format.
void render_family(std::string& out, const FamilyDesc& desc, std::span<const Sample> samples,
                   Format format);

// Appends what ends an exposition in format ("# EOF" for OpenMetrics).
void finish_exposition(std::string& out, Format format);

}  // namespace weft::metrics::detail
