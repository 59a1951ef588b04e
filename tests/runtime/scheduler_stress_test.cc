// Scheduler stress: many tasks over channels, a million parked tasks, work stealing.
#include <gtest/gtest.h>
#include <weft/weft.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "test_util.h"

namespace {

// Sanitizers keep per-task shadow state (TSan maps a trace per fiber, ASan fake stacks); the
// stress sizes shrink under them so they fit this machine, while the plain build runs them full.
#if defined(__SANITIZE_THREAD__)
constexpr int kScale = 50;
#elif defined(__SANITIZE_ADDRESS__)
constexpr int kScale = 10;
#else
constexpr int kScale = 1;
#endif

}  // namespace

namespace {

using namespace std::chrono_literals;
using weft_test::Clock;
using weft_test::Watchdog;

// Set of OS threads seen, shared by tasks.
class ThreadSet {
 public:
  void add() {
    std::lock_guard<weft::Mutex> l(mu_);
    ids_.insert(std::this_thread::get_id());
  }
  std::size_t size() {
    std::lock_guard<weft::Mutex> l(mu_);
    return ids_.size();
  }

 private:
  weft::Mutex mu_;
  std::set<std::thread::id> ids_;
};

std::string vm_rss() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return line;
  return "?";
}

// 50,000 pairs = 100,000 tasks, all alive at once behind a start gate, then each pair
// exchanging values over two unbuffered channels.
TEST(SchedulerStress, HundredThousandTasksPingPong) {
  Watchdog dog("HundredThousandTasksPingPong", std::chrono::seconds(300));
  constexpr int kPairs = 50'000 / kScale, kRounds = 4;
  std::atomic<long> total{0};
  std::atomic<int> finished{0};
  ThreadSet threads;
  weft::RuntimeOptions opts;
  opts.stuck_threshold = std::chrono::milliseconds(1000);  // see MillionParkedTasks
  weft::run(
      [&] {
        weft::Chan<int> gate;
        weft::WaitGroup wg;
        for (int p = 0; p < kPairs; ++p) {
          weft::Chan<int> ping, pong;
          wg.add(2);
          weft::go([gate, ping, pong, &wg, &finished, &threads]() mutable {
            (void)gate.recv();
            for (int v : ping) pong.send(v * 2);
            threads.add();
            finished++;
            wg.done();
          });
          weft::go([gate, ping, pong, &wg, &total, &finished, &threads, p]() mutable {
            (void)gate.recv();
            long local = 0;
            for (int r = 0; r < kRounds; ++r) {
              ping.send(p + r);
              local += *pong.recv();
            }
            ping.close();
            threads.add();
            total += local;
            finished++;
            wg.done();
          });
          if (p % 512 == 0) weft::yield();
        }
        weft::sleep_for(1ms);
        EXPECT_EQ(finished.load(), 0);
        gate.close();  // all pairs start at once
        wg.wait();
      },
      opts);
  // sum over p, r of 2 * (p + r)
  long expected = 0;
  for (long p = 0; p < kPairs; ++p)
    for (long r = 0; r < kRounds; ++r) expected += 2 * (p + r);
  EXPECT_EQ(finished.load(), 2 * kPairs);
  EXPECT_EQ(total.load(), expected);
  if (weft::max_procs() > 1) {
    EXPECT_GE(threads.size(), 2u) << "all tasks ran on one thread";
  }
}

// The "1M parked tasks works" test: a million tasks parked at once on one channel, all released
// by close() and joined with a WaitGroup.
TEST(SchedulerStress, MillionParkedTasks) {
  Watchdog dog("MillionParkedTasks", std::chrono::seconds(600));
  // The full million in the plain build; see kScale for the sanitizer builds.
  constexpr int kTasks = kScale == 1 ? 1'000'000 : 100'000 / (kScale * kScale / 10);
  std::atomic<int> started{0}, released{0}, got_value{0};
  // On a loaded machine a task's first run (fresh stack pages) can exceed the default 10 ms
  // stuck threshold; raise it so the log is not flooded with warnings.
  weft::RuntimeOptions opts;
  opts.stuck_threshold = std::chrono::milliseconds(1000);
  weft::run(
      [&] {
        weft::Chan<int> gate;
        weft::WaitGroup wg;
        for (int i = 0; i < kTasks; ++i) {
          wg.add(1);
          weft::go([gate, &wg, &started, &released, &got_value]() mutable {
            started.fetch_add(1, std::memory_order_relaxed);
            if (gate.recv().has_value()) got_value.fetch_add(1, std::memory_order_relaxed);
            released.fetch_add(1, std::memory_order_relaxed);
            wg.done();
          });
          if (i % 1024 == 0) weft::yield();
        }
        // Wait until every task has reached its receive.
        while (started.load() < kTasks) weft::sleep_for(1ms);
        weft::sleep_for(10ms);
        EXPECT_EQ(released.load(), 0) << "a task got past a receive on a channel nobody sends to";
        std::printf("[ info     ] %d tasks parked; %s\n", started.load(), vm_rss().c_str());
        gate.close();
        wg.wait();
      },
      opts);
  EXPECT_EQ(started.load(), kTasks);
  EXPECT_EQ(released.load(), kTasks);
  EXPECT_EQ(got_value.load(), 0);
}

// Tasks spawned by one task run on more than one OS thread: the idle processor steals them.
TEST(SchedulerStress, WorkStealingSpreadsTasksOverThreads) {
  constexpr int kTasks = 64;
  ThreadSet threads;
  std::atomic<int> done{0};
  weft::run(
      [&] {
        ASSERT_EQ(weft::max_procs(), 2);
        weft::WaitGroup wg;
        wg.add(kTasks);  // before wait() can run, as WaitGroup's contract asks
        weft::go([&] {
          for (int i = 0; i < kTasks; ++i) {
            weft::go([&] {
              for (int slice = 0; slice < 5; ++slice) {
                threads.add();
                auto until = Clock::now() + 200us;  // some work between switches
                while (Clock::now() < until) {
                }
                weft::yield();
              }
              done++;
              wg.done();
            });
          }
        });
        weft::sleep_for(1ms);
        wg.wait();
      },
      weft::RuntimeOptions{.max_procs = 2});
  EXPECT_EQ(done.load(), kTasks);
  EXPECT_GE(threads.size(), 2u);
}

// One task spawns far more than a local run queue holds, without yielding.
TEST(SchedulerStress, SpawnBurstOverflowsLocalQueue) {
  constexpr int kTasks = 20'000 / kScale;
  std::atomic<long> sum{0};
  weft::run([&] {
    weft::WaitGroup wg;
    wg.add(kTasks);
    for (int i = 0; i < kTasks; ++i) {
      weft::go([&, i] {
        sum += i;
        wg.done();
      });
    }
    wg.wait();
  });
  EXPECT_EQ(sum.load(), long{kTasks} * (kTasks - 1) / 2);
}

// Plain threads spawn tasks concurrently (through the global queue).
TEST(SchedulerStress, ForeignThreadsSpawnConcurrently) {
  constexpr int kThreads = 4, kPer = 5000;
  std::atomic<long> sum{0};
  weft::WaitGroup wg;
  wg.add(kThreads * kPer);
  std::vector<std::thread> spawners;
  for (int t = 0; t < kThreads; ++t) {
    spawners.emplace_back([&] {
      for (int i = 1; i <= kPer; ++i) {
        weft::go([&, i] {
          sum += i;
          wg.done();
        });
      }
    });
  }
  for (auto& th : spawners) th.join();
  wg.wait();  // from a plain thread
  EXPECT_EQ(sum.load(), long{kThreads} * kPer * (kPer + 1) / 2);
}

TEST(SchedulerStress, YieldStorm) {
  constexpr int kTasks = 1000, kYields = 100;
  std::atomic<long> count{0};
  weft::run([&] {
    weft::WaitGroup wg;
    for (int t = 0; t < kTasks; ++t) {
      wg.add(1);
      weft::go([&] {
        for (int i = 0; i < kYields; ++i) {
          count.fetch_add(1, std::memory_order_relaxed);
          weft::yield();
        }
        wg.done();
      });
    }
    wg.wait();
  });
  EXPECT_EQ(count.load(), long{kTasks} * kYields);
}

// A pipeline of stages connected by channels; every value passes every stage exactly once.
TEST(SchedulerStress, PipelineOfTasks) {
  constexpr int kStages = 200, kValues = 2000;
  long sum = 0;
  weft::run([&] {
    weft::Chan<int> first(8);
    weft::Chan<int> in = first;
    for (int s = 0; s < kStages; ++s) {
      weft::Chan<int> out(s % 2 ? 0 : 4);
      weft::go([in, out]() mutable {
        for (int v : in) out.send(v + 1);
        out.close();
      });
      in = out;
    }
    weft::go([first]() mutable {
      for (int i = 0; i < kValues; ++i) first.send(i);
      first.close();
    });
    for (int v : in) sum += v;
  });
  EXPECT_EQ(sum, long{kValues} * (kValues - 1) / 2 + long{kValues} * kStages);
}

// Sleepers, channel users and spawners together.
TEST(SchedulerStress, MixedSleepersAndChannels) {
  constexpr int kTasks = 10'000 / kScale;
  weft::run([&] {
    weft::Chan<int> results(64);
    for (int i = 0; i < kTasks; ++i) {
      weft::go([results, i]() mutable {
        if (i % 3 == 0) weft::sleep_for(std::chrono::microseconds(i % 5000));
        if (i % 3 == 1) weft::yield();
        results.send(i);
      });
    }
    long sum = 0;
    std::vector<bool> seen(kTasks);
    for (int k = 0; k < kTasks; ++k) {
      int v = *results.recv();
      EXPECT_FALSE(seen[static_cast<std::size_t>(v)]);
      seen[static_cast<std::size_t>(v)] = true;
      sum += v;
    }
    EXPECT_EQ(sum, long{kTasks} * (kTasks - 1) / 2);
  });
}

// A pair of tasks talking over channels hands the processor back and forth through runnext; a
// task that yielded and waits in the run queue behind them must still get to run. One
// processor, so no other processor steals it.
TEST(SchedulerStress, ChannelPairDoesNotStarveQueuedTask) {
  weft::run(
      [] {
        if (weft::max_procs() != 1) GTEST_SKIP() << "needs to be the first run() of its process";
        std::atomic<bool> stop{false};
        weft::Chan<int> queued_ran(1);
        weft::Chan<int> a, b;
        weft::WaitGroup wg;
        wg.add(2);
        weft::go([queued_ran]() mutable {
          weft::yield();  // to the back of the run queue, behind the pair
          queued_ran.send(1);
        });
        weft::go([&, a, b]() mutable {
          while (!stop.load()) {
            a.send(1);
            (void)b.recv();
          }
          a.close();
          wg.done();
        });
        weft::go([&, a, b]() mutable {
          for (int v : a) b.send(v);
          wg.done();
        });
        bool ran = false;
        weft::select(weft::on_recv(queued_ran, [&](std::optional<int>) { ran = true; }),
                     weft::on_timeout(3s));
        stop = true;
        wg.wait();
        EXPECT_TRUE(ran) << "the queued task did not run in 3 s while a channel pair ran";
      },
      weft::RuntimeOptions{.max_procs = 1});
}

// A task wakes another (which goes to its processor's runnext) and then keeps the processor
// busy for a while without yielding, so the idle processor steals the woken task from runnext,
// sometimes while the holder takes it at the same moment (the holder takes it without a locked
// instruction; thieves go through membarrier). Every value must arrive exactly once, in order.
TEST(SchedulerStress, RunnextStolenFromABusyHolderLosesNothing) {
  weft::run(
      [] {
        if (weft::max_procs() != 2) GTEST_SKIP() << "needs to be the first run() of its process";
        Watchdog dog("RunnextStolenFromABusyHolderLosesNothing", std::chrono::seconds(120));
        const int rounds = 2000 / kScale;
        weft::Chan<int> ping;
        weft::Chan<int> acks(static_cast<std::size_t>(rounds));  // never makes the echo wait
        weft::WaitGroup wg;
        wg.add(1);
        weft::go([&, ping, acks]() mutable {
          for (int v : ping) acks.send(v);  // then waits in ping's receive again
          wg.done();
        });
        uint64_t steals_before = weft::runtime_stats().steals_total;
        for (int i = 0; i < rounds; ++i) {
          ping.send(i);  // hands i to the waiting echo task, which goes to runnext
          // Busy for a varying while (0 to 350 µs), so a thief's wait (3 µs asked, about
          // 55 µs with the kernel's timer slack) sometimes ends before it and sometimes after
          // this task parks and the holder takes runnext itself.
          auto until = Clock::now() + std::chrono::microseconds((i % 8) * 50);
          while (Clock::now() < until) {
          }
        }
        ping.close();
        wg.wait();
        acks.close();
        int expect = 0;
        for (int v : acks) ASSERT_EQ(v, expect++);
        EXPECT_EQ(expect, rounds);
        // Not asserted (it depends on the machine's timing); shown for whoever reads the log.
        std::printf(
            "runnext steals seen: %llu\n",
            static_cast<unsigned long long>(weft::runtime_stats().steals_total - steals_before));
      },
      weft::RuntimeOptions{.max_procs = 2});
}

}  // namespace

// A task readied into its waker's runnext while the other processor's thread is idle: the
// waker keeps its processor busy without parking, and sysmon is told to leave it alone (its
// threshold is far above the wait), so only the idle thread can take the woken task. It must,
// while the waker still runs. The waker never parks here, so nothing else wakes that thread:
// it took the woken task's first run, saw it park, found nothing more to do and lingers, looking
// again now and then; or, after the longer waits, stopped lingering and sleeps, so the hand-off
// wakes it.
TEST(SchedulerStress, TaskReadiedByABusyWakerRunsOnTheIdleProcessor) {
  weft::run(
      [] {
        if (weft::max_procs() != 2) GTEST_SKIP() << "needs to be the first run() of its process";
        auto busy_until = [](auto until, const std::atomic<bool>* done) {
          while (Clock::now() < until && !(done && done->load())) {
          }
        };
        for (auto wait :
             {200us, 500us, 1000us, 2000us, 5000us, 10000us, 60000us, 200us, 2000us, 60000us}) {
          weft::Chan<int> c;
          std::atomic<bool> ran{false};
          weft::WaitGroup wg;
          wg.add(1);
          weft::go([&, c]() mutable {
            (void)c.recv();
            ran = true;
            wg.done();
          });
          busy_until(Clock::now() + wait, nullptr);  // the other thread runs it to its park
          c.send(1);
          busy_until(Clock::now() + 20s, &ran);
          EXPECT_TRUE(ran.load()) << "after " << wait.count()
                                  << " us: the woken task did not run in 20 s";
          wg.wait();
        }
      },
      weft::RuntimeOptions{.max_procs = 2, .stuck_threshold = std::chrono::minutes(10)});
}
