// runtime_bench: the cases of the Go reference benchmark, printed as "name value unit".
// Reads WEFT_MAXPROCS like the Go program reads GOMAXPROCS. Compare with
//   ../shared/anchors/runtime-compare.sh -- build/release/bench/runtime_bench
// With no arguments every case runs once, in the reference's order. Naming cases runs only
// those, and --rounds repeats them, so one case can be measured alone:
//   WEFT_MAXPROCS=2 build/release/bench/runtime_bench spawn_join --rounds 5
#include <weft/weft.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

double rss_kb() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stod(line.substr(6));
  }
  return 0;
}

void emit(const char* name, double v, const char* unit) {
  std::printf("%s %.1f %s\n", name, v, unit);
  std::fflush(stdout);
}

double per_op(Clock::duration d, long n) {
  return static_cast<double>(std::chrono::duration_cast<std::chrono::nanoseconds>(d).count()) /
         static_cast<double>(n);
}

// spawn_join: start 1M short tasks that only signal a WaitGroup, then wait for all.
void spawn_join() {
  weft::WaitGroup wg;
  const long n = 1000000;
  auto t0 = Clock::now();
  wg.add(n);
  for (long i = 0; i < n; ++i) weft::go([&wg] { wg.done(); });
  wg.wait();
  emit("spawn_join", per_op(Clock::now() - t0, n), "ns/task");
}

// pingpong: two tasks bounce a value over two unbuffered channels; one round trip.
void pingpong() {
  const long n = 2000000;
  weft::Chan<int> a, b;
  weft::go([a, b]() mutable {
    for (int v : a) b.send(v);
  });
  auto t0 = Clock::now();
  for (long i = 0; i < n; ++i) {
    a.send(static_cast<int>(i));
    (void)b.recv();
  }
  emit("pingpong", per_op(Clock::now() - t0, n), "ns/roundtrip");
  a.close();
}

// chan_buffered: one producer, one consumer, capacity 1024.
void chan_buffered() {
  const long n = 20000000;
  weft::Chan<int> c(1024);
  weft::Chan<int> done;
  weft::go([c, done]() mutable {
    for (int v : c) (void)v;
    done.close();
  });
  auto t0 = Clock::now();
  for (long i = 0; i < n; ++i) c.send(static_cast<int>(i));
  c.close();
  (void)done.recv();
  emit("chan_buffered", per_op(Clock::now() - t0, n), "ns/item");
}

// select2: a consumer selects over two buffered channels fed by two producers.
void select2() {
  const long n = 2000000;
  weft::Chan<int> c1(128), c2(128);
  for (weft::Chan<int> c : {c1, c2}) {
    weft::go([c, n]() mutable {
      for (long i = 0; i < n / 2; ++i) c.send(static_cast<int>(i));
    });
  }
  auto t0 = Clock::now();
  for (long got = 0; got < n; ++got) {
    weft::select(weft::on_recv(c1), weft::on_recv(c2));
  }
  emit("select2", per_op(Clock::now() - t0, n), "ns/item");
}

// mutex_contended: 8 tasks each lock/unlock one mutex 1M times.
void mutex_contended() {
  weft::WaitGroup wg;
  weft::Mutex mu;
  const long g = 8, per = 1000000;
  long cnt = 0;
  auto t0 = Clock::now();
  wg.add(g);
  for (long j = 0; j < g; ++j) {
    weft::go([&] {
      for (long i = 0; i < per; ++i) {
        mu.lock();
        ++cnt;
        mu.unlock();
      }
      wg.done();
    });
  }
  wg.wait();
  emit("mutex_contended", per_op(Clock::now() - t0, g * per), "ns/op");
  if (cnt != g * per) std::fprintf(stderr, "mutex_contended: lost updates\n");
}

// sleep_100k: 100k tasks each sleep 1 ms; total wall time until all are done.
void sleep_100k() {
  weft::WaitGroup wg;
  const long n = 100000;
  std::atomic<long> early{0};
  auto t0 = Clock::now();
  wg.add(n);
  for (long i = 0; i < n; ++i) {
    weft::go([&] {
      auto s = Clock::now();
      weft::sleep_for(std::chrono::milliseconds(1));
      if (Clock::now() - s < std::chrono::milliseconds(1)) early++;
      wg.done();
    });
  }
  wg.wait();
  emit("sleep_100k",
       static_cast<double>(
           std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0).count()) /
           1000,
       "ms");
  if (early) std::fprintf(stderr, "sleep_100k: %ld sleepers woke early\n", early.load());
}

// parked_1m: 1M tasks that each block on one channel; cost to start them and memory while
// parked.
void parked_1m() {
  weft::WaitGroup wg;
  const long n = 1000000;
  weft::release_idle_memory();  // where Go's reference calls runtime.GC()
  double base = rss_kb();
  weft::Chan<int> start;
  std::atomic<long> arrived{0};
  auto t0 = Clock::now();
  wg.add(n);
  for (long i = 0; i < n; ++i) {
    weft::go([start, &wg, &arrived]() mutable {
      arrived.fetch_add(1, std::memory_order_relaxed);
      (void)start.recv();
      wg.done();
    });
  }
  auto spawn = Clock::now() - t0;
  // Let every task reach its park (Go's reference sleeps 100 ms; we also wait for all).
  weft::sleep_for(std::chrono::milliseconds(100));
  while (arrived.load() < n) weft::sleep_for(std::chrono::milliseconds(10));
  weft::sleep_for(std::chrono::milliseconds(10));
  double rss = rss_kb() - base;
  t0 = Clock::now();
  start.close();
  wg.wait();
  emit("parked_1m_spawn", per_op(spawn, n), "ns/task");
  emit("parked_1m_rss", rss * 1024 / static_cast<double>(n), "bytes/task");
  emit("parked_1m_wake", per_op(Clock::now() - t0, n), "ns/task");
}

struct Case {
  const char* name;
  void (*run)();
};

// In the Go reference's order.
constexpr Case kCases[] = {
    {"spawn_join", spawn_join},
    {"pingpong", pingpong},
    {"chan_buffered", chan_buffered},
    {"select2", select2},
    {"mutex_contended", mutex_contended},
    {"sleep_100k", sleep_100k},
    {"parked_1m", parked_1m},
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"weft runtime benchmark: the cases of the Go reference, as \"name value unit\""};
  std::vector<std::string> names;
  int rounds = 1;
  std::vector<std::string> known;
  for (const Case& c : kCases) known.emplace_back(c.name);
  app.add_option("cases", names, "cases to run (all when none is named)")
      ->check(CLI::IsMember(known));
  app.add_option("--rounds", rounds, "times to run each chosen case")->check(CLI::Range(1, 1000));
  CLI11_PARSE(app, argc, argv);
  std::vector<const Case*> chosen;
  for (const Case& c : kCases) {
    if (names.empty() || std::find(names.begin(), names.end(), c.name) != names.end())
      chosen.push_back(&c);
  }
  weft::run([&] {
    std::printf("# weft WEFT_MAXPROCS=%d\n", weft::max_procs());
    for (int r = 0; r < rounds; ++r) {
      for (const Case* c : chosen) c->run();
    }
  });
}
