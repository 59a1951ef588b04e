// `weft serve`: the seed's demo service (hello, a user API, echo) plus static files and the
// Prometheus scrape endpoint, with the server's limits and deadlines as flags.
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

#include "commands.h"
#include "weft/http.h"
#include "weft/metrics.h"
#include "weft/weft.h"

namespace weft::cli {
namespace {

struct ServeOptions {
  std::string addr = "127.0.0.1:8080";
  std::string root;
  double read_header_timeout = 10, read_timeout = 60, write_timeout = 60, idle_timeout = 120;
  std::size_t max_header_bytes = 64 * 1024, max_body_bytes = 8 * 1024 * 1024;
  std::size_t max_header_count = 100, max_connections = 0;
  bool access_log = false;
  std::string admin_addr;  // where /metrics is served; empty: on addr
};

std::chrono::nanoseconds seconds(double s) {
  return std::chrono::nanoseconds(static_cast<int64_t>(s * 1e9));
}

// The 40 users of the seed's list endpoint, encoded once: the data never changes, so encoding
// it per request would only measure the JSON library.
const std::string& users_json() {
  static const std::string body = [] {
    nlohmann::ordered_json list = nlohmann::ordered_json::array();
    for (int i = 1; i <= 40; ++i) {
      list.push_back({{"id", i},
                      {"name", "user-" + std::to_string(i)},
                      {"email", "user" + std::to_string(i) + "@example.com"},
                      {"city", "Hangzhou"}});
    }
    return list.dump() + "\n";
  }();
  return body;
}

// The introspection endpoints: Prometheus metrics, the live-task dump and expvar-style JSON.
void add_admin_routes(http::ServeMux& mux) {
  mux.handle("GET /metrics", http::metrics_handler());
  mux.handle("GET /debug/tasks", http::debug_tasks_handler());
  mux.handle("GET /debug/vars", http::debug_vars_handler());
}

http::Handler build_handler(const ServeOptions& o) {
  http::ServeMux mux;
  mux.handle("GET /{$}",
             [](http::ResponseWriter& w, http::Request&) { (void)w.write("Hello from weft!"); });
  mux.handle("GET /api/user", [](http::ResponseWriter& w, http::Request&) {
    static const std::string body = nlohmann::ordered_json{{"id", 1}, {"name", "Alice"}}.dump();
    w.header().set("Content-Type", "application/json");
    (void)w.write(body);
  });
  mux.handle("GET /api/users", http::chain(
                                   [](http::ResponseWriter& w, http::Request&) {
                                     w.header().set("Content-Type", "application/json");
                                     (void)w.write(users_json());
                                   },
                                   http::gzip()));
  mux.handle("POST /api/echo", [](http::ResponseWriter& w, http::Request& r) {
    std::string_view type = r.header("Content-Type");
    w.header().set("Content-Type", type.empty() ? "application/octet-stream" : type);
    char buf[16 * 1024];
    for (;;) {
      auto n = r.body().read(buf, sizeof buf);
      if (!n) {
        if (n.error() == http::BodyError::kTooLarge) {
          http::error(w, http::status::kPayloadTooLarge, "request body too large");
        } else {
          http::error(w, http::status::kBadRequest, n.error().message());
        }
        return;
      }
      if (n.value() == 0) return;
      (void)w.write(std::string_view(buf, n.value()));
    }
  });
  if (o.admin_addr.empty()) add_admin_routes(mux);
  if (!o.root.empty()) mux.handle("GET /", http::file_server(o.root));
  http::Handler h = mux;
  h = http::chain(std::move(h), http::recover());
  if (o.access_log) h = http::chain(std::move(h), http::access_log());
  return h;
}

int run_serve(const ServeOptions& o) {
  int status = 0;
  metrics::register_process_metrics(metrics::Registry::global());
  metrics::register_runtime_metrics(metrics::Registry::global());
  weft::run([&] {
    http::Server srv;
    srv.addr = o.addr;
    srv.read_header_timeout = seconds(o.read_header_timeout);
    srv.read_timeout = seconds(o.read_timeout);
    srv.write_timeout = seconds(o.write_timeout);
    srv.idle_timeout = seconds(o.idle_timeout);
    srv.max_header_bytes = o.max_header_bytes;
    srv.max_header_count = o.max_header_count;
    srv.max_body_bytes = o.max_body_bytes;
    srv.max_connections = o.max_connections;
    srv.handler = build_handler(o);
    srv.metrics = http::ServerMetrics::global();
    auto l = net::listen(o.addr);
    if (!l) {
      std::fprintf(stderr, "weft serve: listen %s: %s\n", o.addr.c_str(),
                   l.error().message().c_str());
      status = 1;
      return;
    }
    std::fprintf(stderr, "weft serve: listening on http://%s\n", l->addr().c_str());
    http::Server admin;
    WaitGroup admin_done;  // the admin server's task, waited for before admin goes away
    if (!o.admin_addr.empty()) {
      auto al = net::listen(o.admin_addr);
      if (!al) {
        std::fprintf(stderr, "weft serve: listen %s: %s\n", o.admin_addr.c_str(),
                     al.error().message().c_str());
        status = 1;
        return;
      }
      http::ServeMux admin_mux;
      add_admin_routes(admin_mux);
      admin.handler = admin_mux;
      std::fprintf(stderr, "weft serve: metrics and /debug on http://%s\n", al->addr().c_str());
      admin_done.add(1);
      weft::go(
          [&admin, &admin_done, listener = std::make_shared<net::Listener>(std::move(al.value()))] {
            (void)admin.serve(*listener);
            admin_done.done();
          });
    }
    auto ec = srv.serve(l.value());
    admin.close();
    admin_done.wait();
    if (ec && ec != std::errc::operation_canceled) {
      std::fprintf(stderr, "weft serve: %s\n", ec.message().c_str());
      status = 1;
    }
  });
  return status;
}

}  // namespace

std::function<int()> add_serve(CLI::App& app) {
  auto opts = std::make_shared<ServeOptions>();
  CLI::App* cmd = app.add_subcommand("serve", "Serve the demo API and static files over HTTP");
  cmd->add_option("--addr", opts->addr, "Address to listen on (host:port)")->capture_default_str();
  cmd->add_option("--root", opts->root, "Serve static files from this directory");
  cmd->add_option("--read-header-timeout", opts->read_header_timeout,
                  "Seconds to read a request head, from its first byte")
      ->capture_default_str();
  cmd->add_option("--read-timeout", opts->read_timeout, "Seconds to read a whole request")
      ->capture_default_str();
  cmd->add_option("--write-timeout", opts->write_timeout, "Seconds to write a response")
      ->capture_default_str();
  cmd->add_option("--idle-timeout", opts->idle_timeout,
                  "Seconds a kept-alive connection may wait for its next request")
      ->capture_default_str();
  cmd->add_option("--max-header-bytes", opts->max_header_bytes, "Request head limit (431)")
      ->capture_default_str();
  cmd->add_option("--max-header-count", opts->max_header_count, "Header field limit (431)")
      ->capture_default_str();
  cmd->add_option("--max-body-bytes", opts->max_body_bytes, "Request body limit (413)")
      ->capture_default_str();
  cmd->add_option("--max-connections", opts->max_connections,
                  "Open connection limit (0: the fd limit less 1/16)")
      ->capture_default_str();
  cmd->add_flag("--access-log", opts->access_log, "Log every request to stderr");
  cmd->add_option("--admin-addr", opts->admin_addr,
                  "Serve /metrics, /debug/tasks and /debug/vars on this address instead of on "
                  "--addr (host:port)");
  return [opts] { return run_serve(*opts); };
}

}  // namespace weft::cli
