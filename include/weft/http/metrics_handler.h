// The scrape endpoint: a registry's metrics over HTTP, as Prometheus reads them.
#pragma once

#include "weft/http/handler.h"
#include "weft/metrics/registry.h"

namespace weft::http {

// metrics_handler answers GET and HEAD with the registry's exposition in the format the
// scrape's Accept header asks for (the Prometheus text format 0.0.4, or OpenMetrics 1.0.0 when
// the header prefers application/openmetrics-text), with its Content-Type; other methods get
// 405 with Allow. The registry must outlive the handler.
Handler metrics_handler(metrics::Registry& registry = metrics::Registry::global());

}  // namespace weft::http
