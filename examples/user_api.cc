// The seed's JSON user API: GET /api/user, GET /api/users/{id}, POST /api/users, with
// nlohmann::json for encoding and decoding.
//   user_api [addr]    (default 127.0.0.1:8080)
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "weft/http.h"
#include "weft/weft.h"

namespace http = weft::http;

namespace {

struct User {
  int id;
  std::string name;
};

void write_json(http::ResponseWriter& w, int status, const nlohmann::json& j) {
  w.header().set("Content-Type", "application/json");
  w.write_header(status);
  (void)w.write(j.dump());
}

}  // namespace

int main(int argc, char** argv) {
  const char* addr = argc > 1 ? argv[1] : "127.0.0.1:8080";
  weft::run([addr] {
    weft::Mutex mu;  // guards users
    std::map<int, User> users{{1, {1, "Alice"}}};
    int next_id = 2;

    http::ServeMux mux;
    mux.handle("GET /api/user", [](http::ResponseWriter& w, http::Request&) {
      write_json(w, 200, {{"id", 1}, {"name", "Alice"}});
    });
    mux.handle("GET /api/users/{id}", [&](http::ResponseWriter& w, http::Request& r) {
      int id = std::atoi(std::string(r.path_value("id")).c_str());
      std::lock_guard<weft::Mutex> g(mu);
      auto it = users.find(id);
      if (it == users.end()) return write_json(w, 404, {{"error", "no such user"}});
      write_json(w, 200, {{"id", it->second.id}, {"name", it->second.name}});
    });
    mux.handle("POST /api/users", [&](http::ResponseWriter& w, http::Request& r) {
      auto body = r.body().read_all();
      if (!body) return write_json(w, 400, {{"error", body.error().message()}});
      auto j = nlohmann::json::parse(body.value(), nullptr, /*allow_exceptions=*/false);
      if (!j.is_object() || !j.contains("name") || !j["name"].is_string())
        return write_json(w, 400, {{"error", "want {\"name\": string}"}});
      std::lock_guard<weft::Mutex> g(mu);
      User u{next_id++, j["name"].get<std::string>()};
      users[u.id] = u;
      write_json(w, 201, {{"id", u.id}, {"name", u.name}});
    });
    std::printf("listening on http://%s\n", addr);
    std::fflush(stdout);
    auto ec = http::listen_and_serve(addr, mux);
    std::fprintf(stderr, "user_api: %s\n", ec.message().c_str());
  });
}
