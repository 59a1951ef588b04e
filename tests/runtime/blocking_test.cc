// blocking(): running a blocking call without stalling the other tasks of the processor.
// Every test passes max_procs = 1 (the first run() in a process decides), so a task that held
// on to its processor while blocked would stop every other task.
#include <gtest/gtest.h>
#include <weft/weft.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>

#include "test_util.h"

namespace {

using namespace std::chrono_literals;
using weft_test::atomic_max;
using weft_test::Clock;

const weft::RuntimeOptions kOneProc{.max_procs = 1};

TEST(Blocking, ReturnsTheCallablesValue) {
  weft::run(
      [] {
        EXPECT_EQ(weft::max_procs(), 1);
        int v = weft::blocking([] { return 42; });
        EXPECT_EQ(v, 42);
        std::string s = weft::blocking([] { return std::string("from a blocking call"); });
        EXPECT_EQ(s, "from a blocking call");
        auto p = weft::blocking([] { return std::make_unique<int>(5); });  // move-only
        ASSERT_NE(p, nullptr);
        EXPECT_EQ(*p, 5);
        int x = 1;
        int& ref = weft::blocking([&]() -> int& { return x; });  // references pass through
        EXPECT_EQ(&ref, &x);
        bool ran = false;
        weft::blocking([&] { ran = true; });  // void
        EXPECT_TRUE(ran);
      },
      kOneProc);
}

TEST(Blocking, PropagatesException) {
  weft::run(
      [] {
        try {
          weft::blocking([]() -> int { throw std::runtime_error("blocking failed"); });
          ADD_FAILURE() << "no exception";
        } catch (const std::runtime_error& e) {
          EXPECT_STREQ(e.what(), "blocking failed");
        }
        EXPECT_THROW(weft::blocking([] {
                       std::this_thread::sleep_for(5ms);
                       throw std::logic_error("after a while");
                     }),
                     std::logic_error);
        // The task still works normally afterwards: it got its processor back.
        weft::Chan<int> c;
        weft::go([c]() mutable { c.send(3); });
        EXPECT_EQ(c.recv(), 3);
        auto start = Clock::now();
        weft::sleep_for(5ms);
        EXPECT_GE(Clock::now() - start, 5ms);
        EXPECT_EQ(weft::blocking([] { return 1; }), 1);
      },
      kOneProc);
}

TEST(Blocking, OtherTasksProgressWhileMainTaskBlocks) {
  weft::run(
      [] {
        ASSERT_EQ(weft::max_procs(), 1);
        std::atomic<bool> stop{false};
        std::atomic<long> yields{0}, sleeps{0}, pings{0};
        weft::WaitGroup wg;
        wg.add(4);
        weft::go([&] {  // runs by yielding
          while (!stop.load()) {
            yields++;
            weft::yield();
          }
          wg.done();
        });
        weft::go([&] {  // runs on timers
          while (!stop.load()) {
            weft::sleep_for(2ms);
            sleeps++;
          }
          wg.done();
        });
        weft::Chan<int> ping, pong;
        weft::go([&, ping, pong]() mutable {  // runs on channels
          for (int v : ping) pong.send(v);
          wg.done();
        });
        weft::go([&, ping, pong]() mutable {
          while (!stop.load()) {
            ping.send(1);
            (void)pong.recv();
            pings++;
          }
          ping.close();
          wg.done();
        });
        weft::sleep_for(10ms);
        long y0 = yields.load(), s0 = sleeps.load(), p0 = pings.load();
        weft::blocking([] { std::this_thread::sleep_for(200ms); });
        long y1 = yields.load(), s1 = sleeps.load(), p1 = pings.load();
        stop = true;
        wg.wait();
        EXPECT_GT(y1 - y0, 0) << "the yielding task stalled";
        EXPECT_GT(s1 - s0, 0) << "the sleeping task stalled";
        EXPECT_GT(p1 - p0, 0) << "the channel pair stalled";
      },
      kOneProc);
}

TEST(Blocking, OtherTasksProgressWhileATaskBlocks) {
  weft::run(
      [] {
        ASSERT_EQ(weft::max_procs(), 1);
        std::atomic<bool> in_call{false}, blocker_done{false};
        std::atomic<long> progress_during{0};
        weft::go([&] {
          weft::blocking([&] {
            in_call = true;
            std::this_thread::sleep_for(200ms);
            in_call = false;
          });
          blocker_done = true;
        });
        // This task (the main one) shares the only processor with the blocked one.
        while (!blocker_done.load()) {
          if (in_call.load()) progress_during++;
          weft::sleep_for(1ms);
        }
        EXPECT_GT(progress_during.load(), 0);
      },
      kOneProc);
}

TEST(Blocking, ConcurrentBlockingCallsOverlap) {
  weft::run(
      [] {
        constexpr int kTasks = 6;
        std::atomic<int> inside{0}, max_inside{0};
        weft::WaitGroup wg;
        for (int i = 0; i < kTasks; ++i) {
          wg.add(1);
          weft::go([&] {
            weft::blocking([&] {
              atomic_max(max_inside, inside.fetch_add(1) + 1);
              std::this_thread::sleep_for(100ms);
              inside.fetch_sub(1);
            });
            wg.done();
          });
        }
        wg.wait();
        // With one processor they still ran side by side: each gave its processor away.
        EXPECT_GE(max_inside.load(), 2);
      },
      kOneProc);
}

TEST(Blocking, ManyShortBlockingCallsFromManyTasks) {
  weft::run(
      [] {
        std::atomic<long> sum{0};
        weft::WaitGroup wg;
        for (int t = 0; t < 20; ++t) {
          wg.add(1);
          weft::go([&, t] {
            for (int i = 0; i < 50; ++i) {
              sum += weft::blocking([&] { return t * 100 + i; });
              if (i % 10 == 0) weft::yield();
            }
            wg.done();
          });
        }
        wg.wait();
        long expected = 0;
        for (int t = 0; t < 20; ++t)
          for (int i = 0; i < 50; ++i) expected += t * 100 + i;
        EXPECT_EQ(sum.load(), expected);
      },
      kOneProc);
}

TEST(Blocking, OnPlainThreadJustCalls) {
  auto id = std::this_thread::get_id();
  std::thread::id ran_on;
  int v = weft::blocking([&] {
    ran_on = std::this_thread::get_id();
    return 7;
  });
  EXPECT_EQ(v, 7);
  EXPECT_EQ(ran_on, id);
  EXPECT_THROW(weft::blocking([] { throw std::runtime_error("x"); }), std::runtime_error);
  weft::run([] { EXPECT_EQ(weft::max_procs(), 1); }, kOneProc);
}

}  // namespace
