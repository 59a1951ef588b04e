// Debug pages for people, as Go's /debug/pprof/goroutine?debug=2 and expvar's /debug/vars:
// every live task with what it waits for, and the runtime's statistics plus the variables the
// program publishes, as one JSON object. Not for scrapes (see metrics_handler): each request
// walks every task record.
#pragma once

#include <functional>
#include <string>

#include "weft/http/handler.h"

namespace weft::http {

// debug_tasks_handler answers GET and HEAD with weft::dump_tasks_string() (every live task: id,
// state, wait reason and time waited, creation site, the stack of a parked task) as
// "text/plain; charset=utf-8", with "Cache-Control: no-store". Other methods get 405 with
// "Allow: GET, HEAD". Usually mounted at /debug/tasks.
Handler debug_tasks_handler();

// debug_vars_handler answers GET and HEAD with one JSON object ("application/json;
// charset=utf-8", "Cache-Control: no-store"), its members sorted by name:
//   "cmdline"  the process's arguments (/proc/self/cmdline), an array of strings
//   "process"  {"pid": N}
//   "runtime"  every field of weft::runtime_stats(), tasks_parked as {reason: count}
//   and every variable given to publish_var, under its name.
// Strings are escaped as JSON requires; invalid UTF-8 becomes U+FFFD. When a published
// function throws, or returns text that is not one JSON value, the answer is 500 with a
// plain-text message naming the variable (the rest of the page is not sent). Other methods get
// 405 with "Allow: GET, HEAD". Usually mounted at /debug/vars.
Handler debug_vars_handler();

// publish_var adds a variable to every debug_vars_handler page, as Go's expvar.Publish: at
// each request json_value() is called (on the requesting task, with no lock held, so it may
// block or park) and must return the JSON text of the value ("42", "\"ok\"", "{...}").
// Variables live for the rest of the process. Throws std::invalid_argument when name is
// empty, is not valid UTF-8, is "cmdline", "process" or "runtime", or was published before,
// or when json_value is empty. Safe to call from any task or thread, at any time.
void publish_var(std::string name, std::function<std::string()> json_value);

}  // namespace weft::http
