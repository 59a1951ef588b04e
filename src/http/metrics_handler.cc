// The scrape endpoint: renders the registry on each request.
#include "weft/http/metrics_handler.h"

#include <string>

#include "weft/http/request.h"
#include "weft/http/status.h"

namespace weft::http {

Handler metrics_handler(metrics::Registry& registry) {
  return [&registry](ResponseWriter& w, Request& r) {
    if (!allow_get_head(w, r)) return;
    metrics::Exposition e = registry.expose(r.header("Accept"));
    w.header().set("Content-Type", e.content_type);
    w.header().set("Content-Length", std::to_string(e.body.size()));
    w.write_header(status::kOk);
    (void)w.write(e.body);
  };
}

}  // namespace weft::http
