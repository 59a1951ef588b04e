// Concurrency tests: many tasks on two processors and plain threads record into the same
// metrics at once, while scrapes run; every total comes out exact.
#include <weft/metrics.h>
#include <weft/weft.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

namespace weft::metrics {
namespace {

using ::testing::ElementsAre;

constexpr int kTasks = 16;
constexpr int kIterationsPerTask = 40000;
constexpr int kThreads = 3;
constexpr int kIterationsPerThread = 100000;
constexpr int kRecorders = kTasks + kThreads;

// The metrics every recorder writes, and what it writes in one iteration.
struct Shared {
  Registry registry;
  Counter& events = registry.counter("events_total", "Events.").get();
  Counter& weight = registry.counter("weight_total", "Fractional adds.").get();
  CounterFamily& by_kind = registry.counter("kind_events_total", "Events by kind.", {"kind"});
  Gauge& level = registry.gauge("level", "Goes up and down.").get();
  Histogram& sizes = registry.histogram("size_units", "Sizes.", {1, 2, 3}).get();

  // Iteration i: one of each; observations cycle over 0.5, 1.5, 2.5, 3.5 (one per bucket).
  void record(int i, Counter& kind) {
    events.inc();
    weight.add(0.25);
    kind.add(2);
    level.inc();
    if (i % 2 == 1) level.dec();
    sizes.observe((i % 4) + 0.5);
  }
};

// Scrapes until stop: every histogram snapshot must be cumulative with count == +Inf bucket.
void scrape_until(Shared& shared, const std::atomic<bool>& stop, std::atomic<int>& scrapes) {
  while (!stop.load(std::memory_order_acquire)) {
    HistogramSnapshot s = shared.sizes.snapshot();
    ASSERT_EQ(s.cumulative_counts.size(), 4u);
    for (std::size_t i = 1; i < s.cumulative_counts.size(); ++i)
      ASSERT_LE(s.cumulative_counts[i - 1], s.cumulative_counts[i]);
    ASSERT_EQ(s.count(), s.cumulative_counts.back());
    std::string text = shared.registry.render(scrapes % 2 ? Format::kText : Format::kOpenMetrics);
    ASSERT_FALSE(text.empty());
    scrapes.fetch_add(1, std::memory_order_relaxed);
  }
}

void run_everyone(Shared& shared) {
  std::atomic<bool> stop{false};
  std::atomic<int> scrapes{0};
  std::thread scraper([&] { scrape_until(shared, stop, scrapes); });

  // The threads start recording when the tasks do, so that both write at once.
  std::atomic<bool> start{false};
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&shared, &start] {
      Counter& kind = shared.by_kind.with({"thread"});
      while (!start.load(std::memory_order_acquire)) std::this_thread::yield();
      for (int i = 0; i < kIterationsPerThread; ++i) shared.record(i, kind);
    });
  }
  std::atomic<uint32_t> processors_seen{0};
  weft::run([&] {
    start.store(true, std::memory_order_release);
    weft::WaitGroup wg;
    for (int t = 0; t < kTasks; ++t) {
      wg.add(1);
      weft::go([&] {
        Counter& kind = shared.by_kind.with({"task"});
        for (int i = 0; i < kIterationsPerTask; ++i) {
          shared.record(i, kind);
          if (i % 500 == 0) {
            int p = weft::detail::current_proc_index();
            if (p >= 0 && p < 32) processors_seen.fetch_or(1u << p, std::memory_order_relaxed);
            weft::yield();  // let the others in, and perhaps move to the other processor
          }
        }
        wg.done();
      });
    }
    // A task inside blocking() has no processor: it records through the shared shard.
    wg.add(1);
    weft::go([&] {
      weft::blocking([&] {
        Counter& kind = shared.by_kind.with({"task"});
        for (int i = 0; i < kIterationsPerTask; ++i) shared.record(i, kind);
      });
      wg.done();
    });
    wg.wait();
  });
  for (std::thread& t : threads) t.join();
  // Let the scraper see at least one scrape before stopping it.
  while (scrapes.load(std::memory_order_relaxed) == 0) std::this_thread::yield();
  stop.store(true, std::memory_order_release);
  scraper.join();
  ::testing::Test::RecordProperty("processors_seen", static_cast<int>(processors_seen.load()));
}

void expect_exact_totals(Shared& shared) {
  constexpr int64_t kTaskIterations = int64_t{kTasks + 1} * kIterationsPerTask;
  constexpr int64_t kThreadIterations = int64_t{kThreads} * kIterationsPerThread;
  constexpr int64_t kAll = kTaskIterations + kThreadIterations;
  EXPECT_EQ(shared.events.value(), static_cast<double>(kAll));
  EXPECT_EQ(shared.weight.value(), 0.25 * static_cast<double>(kAll));
  EXPECT_EQ(shared.by_kind.with({"task"}).value(), 2.0 * static_cast<double>(kTaskIterations));
  EXPECT_EQ(shared.by_kind.with({"thread"}).value(), 2.0 * static_cast<double>(kThreadIterations));
  EXPECT_EQ(shared.level.value(), 0.5 * static_cast<double>(kAll));
  HistogramSnapshot s = shared.sizes.snapshot();
  uint64_t quarter = static_cast<uint64_t>(kAll / 4);
  EXPECT_THAT(s.cumulative_counts, ElementsAre(quarter, 2 * quarter, 3 * quarter, 4 * quarter));
  EXPECT_EQ(s.sum, 8.0 * static_cast<double>(quarter));  // 0.5 + 1.5 + 2.5 + 3.5 per four
}

static_assert(kIterationsPerTask % 4 == 0 && kIterationsPerThread % 4 == 0);

TEST(ConcurrencyTest, MetricsMadeBeforeTheRuntimeStartsCountExactly) {
  // Each test runs in a process of its own under ctest: here the runtime starts after the
  // metrics exist, so their per-processor shards are made by the first write from a task.
  Shared shared;
  run_everyone(shared);
  expect_exact_totals(shared);
}

TEST(ConcurrencyTest, MetricsMadeWhileTheRuntimeRunsCountExactly) {
  weft::run([] {});  // the runtime runs: the shards are made with each metric
  Shared shared;
  run_everyone(shared);
  expect_exact_totals(shared);
}

TEST(ConcurrencyTest, MetricsMadeInsideATaskCountExactly) {
  weft::run([] {
    Shared shared;
    // Recorders start from inside the runtime: threads and tasks alike.
    std::vector<std::thread> threads;
    threads.reserve(kThreads);
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&shared] {
        Counter& kind = shared.by_kind.with({"thread"});
        for (int i = 0; i < kIterationsPerThread; ++i) shared.record(i, kind);
      });
    }
    weft::WaitGroup wg;
    for (int t = 0; t < kTasks + 1; ++t) {
      wg.add(1);
      weft::go([&] {
        Counter& kind = shared.by_kind.with({"task"});
        for (int i = 0; i < kIterationsPerTask; ++i) {
          shared.record(i, kind);
          if (i % 1000 == 0) weft::yield();
        }
        wg.done();
      });
    }
    wg.wait();
    weft::blocking([&] {
      for (std::thread& t : threads) t.join();
    });
    expect_exact_totals(shared);
  });
}

TEST(ConcurrencyTest, ProcessorsMadeWhileOthersAreStuckCountExactly) {
  // Tasks that hold their processor for milliseconds make the watchdog (with a 1 ms threshold)
  // mark processors stuck and start new ones, numbered beyond max_procs: their writes go to
  // overflow shards. The options apply when this test starts the runtime (as under ctest).
  const bool starts_runtime = weft::max_procs() == 0;
  weft::RuntimeOptions options;
  options.max_procs = 2;
  options.stuck_threshold = std::chrono::milliseconds(1);
  Shared shared;
  std::atomic<uint64_t> processors_seen{0};
  weft::run(
      [&] {
        weft::WaitGroup wg;
        for (int t = 0; t < kTasks; ++t) {
          wg.add(1);
          weft::go([&] {
            Counter& kind = shared.by_kind.with({"task"});
            for (int i = 0; i < kIterationsPerTask; ++i) {
              shared.record(i, kind);
              if (i % 4000 == 0) {
                int p = weft::detail::current_proc_index();
                if (p >= 0 && p < 64) processors_seen.fetch_or(uint64_t{1} << p);
                auto busy_until = std::chrono::steady_clock::now() + std::chrono::milliseconds(2);
                while (std::chrono::steady_clock::now() < busy_until) {
                }
              }
            }
            wg.done();
          });
        }
        wg.add(1);
        weft::go([&] {  // the blocking() recorder of the other tests, for the same totals
          weft::blocking([&] {
            Counter& kind = shared.by_kind.with({"task"});
            for (int i = 0; i < kIterationsPerTask; ++i) shared.record(i, kind);
          });
          wg.done();
        });
        std::vector<std::thread> threads;
        threads.reserve(kThreads);
        for (int t = 0; t < kThreads; ++t) {
          threads.emplace_back([&shared] {
            Counter& kind = shared.by_kind.with({"thread"});
            for (int i = 0; i < kIterationsPerThread; ++i) shared.record(i, kind);
          });
        }
        wg.wait();
        weft::blocking([&] {
          for (std::thread& t : threads) t.join();
        });
      },
      options);
  expect_exact_totals(shared);
  uint64_t beyond = processors_seen.load() >> 2;
  ::testing::Test::RecordProperty("processors_seen", std::to_string(processors_seen.load()));
  if (starts_runtime) {
    EXPECT_NE(beyond, 0u) << "no processor beyond max_procs ran a task";
  }
}

}  // namespace
}  // namespace weft::metrics
