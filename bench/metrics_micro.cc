// Micro-benchmarks (Google Benchmark) of weft::metrics' hot paths: a counter increment and a
// histogram observation inside a task, the same from both processors at once (per-processor
// shards: the time per operation should not grow), and from plain threads (the shared shard).
// Run with WEFT_MAXPROCS=2 (or more) for the two-processor cases.
#include <benchmark/benchmark.h>
#include <weft/metrics.h>
#include <weft/weft.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <random>

namespace {

using weft::metrics::Counter;
using weft::metrics::Gauge;
using weft::metrics::Histogram;
using weft::metrics::Registry;

// Runs body(state) inside a task on the runtime. The loops never yield, so the stuck-processor
// watchdog is pushed out of the way.
template <class F>
void in_task(benchmark::State& state, F body) {
  weft::RuntimeOptions options;
  options.stuck_threshold = std::chrono::hours(1);
  weft::run([&] { body(state); }, options);
}

Registry& bench_registry() {
  static Registry registry;
  return registry;
}

Counter& shared_counter() {
  static Counter& c = bench_registry()
                          .counter("bench_requests_total", "Requests.", {"method", "code"})
                          .with({"GET", "200"});
  return c;
}

Histogram& shared_histogram() {
  static Histogram& h =
      bench_registry()
          .histogram("bench_request_duration_seconds", "Latency.", weft::metrics::default_buckets())
          .get();
  return h;
}

// Latencies spread over every bucket of default_buckets(), so the bucket search is not a
// single predictable branch pattern.
const std::array<double, 1024>& latencies() {
  static const std::array<double, 1024> kLatencies = [] {
    std::array<double, 1024> v{};
    std::mt19937_64 rng(42);
    std::lognormal_distribution<double> dist(-3.0, 1.5);  // median ~50 ms
    for (double& x : v) x = dist(rng);
    return v;
  }();
  return kLatencies;
}

void BM_CounterIncInTask(benchmark::State& state) {
  in_task(state, [](benchmark::State& s) {
    Counter& c = shared_counter();
    for (auto _ : s) c.inc();
  });
}
BENCHMARK(BM_CounterIncInTask);

void BM_CounterAddFractionInTask(benchmark::State& state) {
  in_task(state, [](benchmark::State& s) {
    Counter& c = shared_counter();
    for (auto _ : s) c.add(0.5);
  });
}
BENCHMARK(BM_CounterAddFractionInTask);

void BM_HistogramObserveInTask(benchmark::State& state) {
  in_task(state, [](benchmark::State& s) {
    Histogram& h = shared_histogram();
    const auto& values = latencies();
    std::size_t i = 0;
    for (auto _ : s) h.observe(values[i++ & (values.size() - 1)]);
  });
}
BENCHMARK(BM_HistogramObserveInTask);

void BM_GaugeIncInTask(benchmark::State& state) {
  in_task(state, [](benchmark::State& s) {
    static Gauge& g = bench_registry().gauge("bench_in_flight", "In flight.").get();
    for (auto _ : s) g.inc();
  });
}
BENCHMARK(BM_GaugeIncInTask);

// Each benchmark thread runs its loop in a task of its own; with two processors the two tasks
// run in parallel, each on its processor's shard. "separate_processors" reports whether they
// did (1) or shared one (0).
std::array<std::atomic<int>, 2> processor_of_thread;

template <class Record>
void from_both_processors(benchmark::State& state, Record record) {
  in_task(state, [&](benchmark::State& s) {
    processor_of_thread[static_cast<std::size_t>(s.thread_index())].store(
        weft::detail::current_proc_index());
    for (auto _ : s) record();
    s.counters["separate_processors"] =
        benchmark::Counter(processor_of_thread[0].load() != processor_of_thread[1].load() ? 1 : 0,
                           benchmark::Counter::kAvgThreads);
  });
}

void BM_CounterIncTwoProcessors(benchmark::State& state) {
  from_both_processors(state, [] { shared_counter().inc(); });
}
BENCHMARK(BM_CounterIncTwoProcessors)->Threads(2)->UseRealTime();

void BM_HistogramObserveTwoProcessors(benchmark::State& state) {
  const auto& values = latencies();
  std::size_t i = static_cast<std::size_t>(state.thread_index()) * 512;
  from_both_processors(state,
                       [&] { shared_histogram().observe(values[i++ & (values.size() - 1)]); });
}
BENCHMARK(BM_HistogramObserveTwoProcessors)->Threads(2)->UseRealTime();

// Plain threads have no processor: they share one shard with atomic read-modify-writes.
void BM_CounterIncPlainThreads(benchmark::State& state) {
  Counter& c = shared_counter();
  for (auto _ : state) c.inc();
}
BENCHMARK(BM_CounterIncPlainThreads)->Threads(1)->Threads(2)->UseRealTime();

void BM_HistogramObservePlainThreads(benchmark::State& state) {
  Histogram& h = shared_histogram();
  const auto& values = latencies();
  std::size_t i = static_cast<std::size_t>(state.thread_index()) * 512;
  for (auto _ : state) h.observe(values[i++ & (values.size() - 1)]);
}
BENCHMARK(BM_HistogramObservePlainThreads)->Threads(1)->Threads(2)->UseRealTime();

// A scrape of the benchmark registry, for scale.
void BM_RenderText(benchmark::State& state) {
  shared_counter();
  shared_histogram();
  for (auto _ : state)
    benchmark::DoNotOptimize(bench_registry().render(weft::metrics::Format::kText));
}
BENCHMARK(BM_RenderText);

// runtime_stats() (what a scrape of the runtime metrics costs) with state.range(0) tasks parked
// on a channel. The task records stay after the run, so the sizes go up.
void BM_RuntimeStats(benchmark::State& state) {
  in_task(state, [](benchmark::State& st) {
    const auto parked = static_cast<int>(st.range(0));
    weft::Chan<int> never;
    weft::WaitGroup wg;
    for (int i = 0; i < parked; ++i) {
      wg.add(1);
      weft::go([&] {
        (void)never.recv();
        wg.done();
      });
    }
    while (weft::runtime_stats().tasks_parked[1].tasks < static_cast<uint64_t>(parked))
      weft::sleep_for(std::chrono::milliseconds(1));
    for (auto _ : st) benchmark::DoNotOptimize(weft::runtime_stats());
    never.close();
    wg.wait();
  });
}
BENCHMARK(BM_RuntimeStats)->Arg(1000)->Arg(100000)->Arg(1000000)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
