// weft::metrics: Prometheus metrics (counters, gauges, histograms, collectors), exposed in the
// Prometheus text and OpenMetrics formats.
#pragma once

#include "weft/metrics/counter.h"
#include "weft/metrics/family.h"
#include "weft/metrics/gauge.h"
#include "weft/metrics/histogram.h"
#include "weft/metrics/process.h"
#include "weft/metrics/registry.h"
#include "weft/metrics/runtime.h"
