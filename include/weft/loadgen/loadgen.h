// The load generator behind `weft bench`: HTTP/1.1 requests over many connections in the
// closed model (each connection sends its next request when the answer to the last arrives) or
// the open model (requests at a fixed rate, each with an intended send time that its latency
// is measured from, so a stalled server cannot hide its stall: coordinated omission corrected).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "weft/loadgen/report.h"

namespace weft::loadgen {

// Target is a parsed http:// URL.
struct Target {
  std::string host;  // as written, without brackets ("127.0.0.1", "::1", "example.org")
  uint16_t port = 80;
  std::string authority;       // the Host field: host[:port] as written in the URL
  std::string path_and_query;  // "/" when the URL has no path
};

// parse_url parses "http://host[:port][/path][?query]" (IPv6 hosts in brackets). Throws
// std::invalid_argument with a message saying what is wrong (https is refused: weft bench
// speaks plain HTTP/1.1).
Target parse_url(std::string_view url);

// Progress is what the generator knows a second at a time, for a live display.
struct Progress {
  double elapsed_s = 0;        // since measurement started
  uint64_t responses = 0;      // so far
  uint64_t errors = 0;         // so far
  double last_second_rps = 0;  // responses in the last second
  int64_t p99_us = 0;          // p99 latency of every response so far
};

// Options say what to send, how hard and for how long.
struct Options {
  std::string url;
  std::string method = "GET";
  // "Name: value" lines, added after Host (no other field is sent unless given here, as wrk
  // sends none: each one is work for the server under test).
  std::vector<std::string> headers;
  std::string body;  // sent with a Content-Length when not empty
  int connections = 10;
  int threads = 0;  // echoed in the result; the caller sizes the runtime
  // Measurement ends after duration, or after requests requests when requests > 0.
  std::chrono::nanoseconds duration = std::chrono::seconds(10);
  uint64_t requests = 0;
  // Load sent before measurement starts, not counted.
  std::chrono::nanoseconds warmup{0};
  // Requests per second across all connections; 0 is the closed model.
  double rate = 0;
  // Requests a connection may have outstanding at once.
  int pipeline = 1;
  // false: a new connection for every request (sent with Connection: close).
  bool keep_alive = true;
  // A request with no complete response this long after it was sent is a timeout error.
  std::chrono::nanoseconds timeout = std::chrono::seconds(10);
  std::chrono::nanoseconds connect_timeout = std::chrono::seconds(5);
  // Called from a task about once a second while measuring.
  std::function<void(const Progress&)> on_progress;
};

// run_load runs one measurement and returns what it measured. Call it from a task on a running
// weft runtime (inside weft::run); the runtime's processors do the work. Throws
// std::invalid_argument for a bad URL or bad options, and std::runtime_error when the host
// name cannot be resolved. A host that refuses connections is not an exception: the result
// says so through its connect errors.
RunResult run_load(const Options& opts);

}  // namespace weft::loadgen
