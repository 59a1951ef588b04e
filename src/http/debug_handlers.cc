// /debug/tasks and /debug/vars: the task dump, and the runtime's statistics with the published
// variables as one JSON object (Go's expvar). Strings are escaped by nlohmann::json, as the
// load generator's report does.
#include "weft/http/debug_handlers.h"

#include <unistd.h>

#include <cstdint>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "metrics/proc_file.h"
#include "weft/http/request.h"
#include "weft/http/status.h"
#include "weft/runtime/stats.h"
#include "weft/runtime/task.h"

namespace weft::http {
namespace {

using Json = nlohmann::ordered_json;

// A published variable's function, shared so a request can call it after the lock is let go.
using VarFn = std::shared_ptr<const std::function<std::string()>>;

// The variables given to publish_var, by name. Never destroyed: a task may still serve
// /debug/vars while static objects are torn down at exit.
struct Vars {
  std::mutex mu;  // held only to copy or insert, never while a function runs
  std::map<std::string, VarFn, std::less<>> by_name;
};
Vars& vars() {
  static Vars* v = new Vars;
  return *v;
}

constexpr std::string_view kReserved[] = {"cmdline", "process", "runtime"};

// Sends body with its Content-Type, a Content-Length and "Cache-Control: no-store" (the server
// leaves the body out for HEAD).
void reply(ResponseWriter& w, std::string_view content_type, std::string_view body) {
  w.header().set("Content-Type", content_type);
  w.header().set("Cache-Control", "no-store");
  w.header().set("Content-Length", std::to_string(body.size()));
  w.write_header(status::kOk);
  (void)w.write(body);
}

// The JSON text of v on one line, with each byte of invalid UTF-8 in its strings written as
// U+FFFD.
std::string dump(const Json& v) {
  return v.dump(-1, ' ', false, Json::error_handler_t::replace);
}

// The process's arguments, from /proc/self/cmdline (each one ends in a NUL byte); empty when
// it cannot be read.
std::vector<std::string> read_cmdline() {
  std::vector<std::string> args;
  std::string text = metrics::read_proc_file("/proc/self/cmdline").value_or("");
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\0', start);
    if (end == std::string::npos) end = text.size();  // a rewritten argv may drop the last NUL
    args.emplace_back(text, start, end - start);
    start = end + 1;
  }
  return args;
}

// Every field of RuntimeStats; a field added to it must be added here too.
static_assert(sizeof(RuntimeStats) == 23 * sizeof(uint64_t) + sizeof(std::vector<ParkedTasks>),
              "RuntimeStats changed: list every field in runtime_json()");
Json runtime_json(const RuntimeStats& s) {
  Json parked = Json::object();
  for (const ParkedTasks& p : s.tasks_parked) parked[std::string(p.reason)] = p.tasks;
  Json j = Json::object();
  j["tasks_live"] = s.tasks_live;
  j["tasks_runnable"] = s.tasks_runnable;
  j["tasks_running"] = s.tasks_running;
  j["tasks_parked"] = std::move(parked);
  j["tasks_started_total"] = s.tasks_started_total;
  j["context_switches_total"] = s.context_switches_total;
  j["steals_total"] = s.steals_total;
  j["chan_lock_biased_total"] = s.chan_lock_biased_total;
  j["chan_lock_revoked_total"] = s.chan_lock_revoked_total;
  j["mutex_biased_total"] = s.mutex_biased_total;
  j["mutex_bias_revoked_total"] = s.mutex_bias_revoked_total;
  j["procs"] = s.procs;
  j["procs_running"] = s.procs_running;
  j["machines"] = s.machines;
  j["machines_idle"] = s.machines_idle;
  j["machines_spinning"] = s.machines_spinning;
  j["global_queue_tasks"] = s.global_queue_tasks;
  j["netpoll_waiting_tasks"] = s.netpoll_waiting_tasks;
  j["netpoll_waits_total"] = s.netpoll_waits_total;
  j["timers_pending"] = s.timers_pending;
  j["stack_reserved_bytes"] = s.stack_reserved_bytes;
  j["stack_committed_bytes"] = s.stack_committed_bytes;
  j["stacks_in_use"] = s.stacks_in_use;
  j["sysmon_warnings_total"] = s.sysmon_warnings_total;
  return j;
}

}  // namespace

Handler debug_tasks_handler() {
  return [](ResponseWriter& w, Request& r) {
    if (!allow_get_head(w, r)) return;
    reply(w, "text/plain; charset=utf-8", dump_tasks_string());
  };
}

Handler debug_vars_handler() {
  return [](ResponseWriter& w, Request& r) {
    if (!allow_get_head(w, r)) return;
    std::vector<std::pair<std::string, VarFn>> published;
    {
      Vars& v = vars();
      std::lock_guard<std::mutex> lock(v.mu);
      published.assign(v.by_name.begin(), v.by_name.end());
    }
    std::map<std::string, std::string, std::less<>> members;  // name → JSON text, sorted
    members.emplace("cmdline", dump(Json(read_cmdline())));
    members.emplace("process", dump(Json{{"pid", static_cast<int64_t>(::getpid())}}));
    members.emplace("runtime", dump(runtime_json(runtime_stats())));
    for (auto& [name, fn] : published) {
      std::string text;
      std::string failure;
      try {
        text = (*fn)();
        if (!Json::accept(text)) failure = "returned text that is not one JSON value";
      } catch (const std::exception& e) {
        failure = std::string("threw: ") + e.what();
      } catch (...) {
        failure = "threw an exception that is not a std::exception";
      }
      if (!failure.empty()) {
        error(w, status::kInternalServerError,
              "500 Internal Server Error: published variable " + dump(Json(name)) + " " + failure);
        return;
      }
      members.emplace(name, std::move(text));
    }
    std::string body = "{\n";
    bool first = true;
    for (const auto& [name, text] : members) {
      if (!first) body += ",\n";
      first = false;
      body += dump(Json(name));
      body += ": ";
      body += text;
    }
    body += "\n}\n";
    reply(w, "application/json; charset=utf-8", body);
  };
}

void publish_var(std::string name, std::function<std::string()> json_value) {
  if (name.empty()) throw std::invalid_argument("publish_var: empty name");
  try {
    (void)Json(name).dump();  // the strict error handler throws on invalid UTF-8
  } catch (const Json::type_error&) {
    throw std::invalid_argument("publish_var: name is not valid UTF-8");
  }
  std::string quoted = dump(Json(name));
  if (!json_value) throw std::invalid_argument("publish_var " + quoted + ": no function");
  for (std::string_view reserved : kReserved) {
    if (name == reserved)
      throw std::invalid_argument("publish_var " + quoted + ": the name is taken by the runtime");
  }
  auto fn = std::make_shared<const std::function<std::string()>>(std::move(json_value));
  Vars& v = vars();
  std::lock_guard<std::mutex> lock(v.mu);
  if (!v.by_name.emplace(std::move(name), std::move(fn)).second)
    throw std::invalid_argument("publish_var " + quoted + ": published twice");
}

}  // namespace weft::http
