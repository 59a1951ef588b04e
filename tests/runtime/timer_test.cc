// Timers: after(), Ticker, sleep_for and sleep_until.
#include <gtest/gtest.h>
#include <weft/runtime/detail/timer.h>
#include <weft/weft.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <random>
#include <stdexcept>
#include <thread>
#include <vector>

#include "test_util.h"

namespace {

using namespace std::chrono_literals;
using weft_test::atomic_max;
using weft_test::Clock;
using weft_test::ping_pong;

// Ticker::chan() is a const reference; receiving needs a (shared) handle.
weft::Chan<Clock::time_point> ch(const weft::Ticker& t) {
  return t.chan();
}

long long ms(Clock::duration d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

TEST(After, DeliversOnceNotEarlier) {
  weft::run([] {
    for (auto d : {0ms, 1ms, 10ms, 30ms}) {
      auto start = Clock::now();
      weft::Chan<Clock::time_point> c = weft::after(d);
      auto t = c.recv();
      auto elapsed = Clock::now() - start;
      ASSERT_TRUE(t.has_value());
      EXPECT_GE(elapsed, d);
      EXPECT_GE(*t, start + d);  // the delivered time is the firing time
      EXPECT_LE(*t, Clock::now());
      // Exactly once: nothing else arrives, and the channel stays open.
      weft::sleep_for(d + 5ms);
      EXPECT_EQ(c.try_recv(), std::nullopt);
      EXPECT_FALSE(c.closed());
    }
  });
}

TEST(After, InSelectAndUnreceived) {
  weft::run([] {
    weft::Chan<int> never;
    auto start = Clock::now();
    std::size_t idx = weft::select(weft::on_recv(never), weft::on_recv(weft::after(15ms)));
    EXPECT_EQ(idx, 1u);
    EXPECT_GE(Clock::now() - start, 15ms);
    // Nobody receives these: firing into an abandoned channel is harmless.
    for (int i = 0; i < 100; ++i) (void)weft::after(std::chrono::milliseconds(i % 5));
    weft::sleep_for(10ms);
  });
}

TEST(After, ManyConcurrentTimersFireInOrderOfDeadline) {
  weft::run([] {
    constexpr int kTimers = 200;
    std::vector<weft::Chan<Clock::time_point>> chans;
    std::vector<Clock::time_point> due;
    auto start = Clock::now();
    for (int i = 0; i < kTimers; ++i) {
      auto d = std::chrono::milliseconds((i * 37) % 40);
      due.push_back(Clock::now() + d);
      chans.push_back(weft::after(d));
    }
    int early = 0;
    for (int i = 0; i < kTimers; ++i) {
      auto t = chans[static_cast<std::size_t>(i)].recv();
      ASSERT_TRUE(t.has_value());
      if (*t < due[static_cast<std::size_t>(i)]) ++early;
    }
    EXPECT_EQ(early, 0);
    EXPECT_GE(Clock::now() - start, 39ms);
  });
}

TEST(After, FromPlainThread) {
  auto start = Clock::now();
  weft::Chan<Clock::time_point> c = weft::after(20ms);
  auto t = c.recv();
  ASSERT_TRUE(t.has_value());
  EXPECT_GE(Clock::now() - start, 20ms);
  EXPECT_GE(*t, start + 20ms);
}

TEST(Ticker, TicksRepeatedly) {
  weft::run([] {
    constexpr auto kPeriod = 10ms;
    auto start = Clock::now();
    weft::Ticker ticker(kPeriod);
    Clock::time_point prev = start;
    for (int k = 1; k <= 6; ++k) {
      auto t = ch(ticker).recv();
      ASSERT_TRUE(t.has_value());
      EXPECT_GT(*t, prev);
      // Tick k fires at a whole multiple of the period, at least k periods in.
      EXPECT_GE(*t, start + k * kPeriod) << "tick " << k << " at " << ms(*t - start) << " ms";
      prev = *t;
    }
    EXPECT_GE(Clock::now() - start, 6 * kPeriod);
  });
}

TEST(Ticker, SlowReceiverMissesTicksInsteadOfPilingUp) {
  weft::run([] {
    weft::Ticker ticker(2ms);
    weft::sleep_for(40ms);
    EXPECT_LE(ticker.chan().size(), 1u);
    EXPECT_EQ(ticker.chan().capacity(), 1u);
    // It keeps ticking after a backlog.
    (void)ch(ticker).recv();
    auto t = ch(ticker).recv();
    EXPECT_TRUE(t.has_value());
  });
}

TEST(Ticker, StopStopsTicks) {
  weft::run([] {
    weft::Ticker ticker(2ms);
    for (int i = 0; i < 3; ++i) (void)ch(ticker).recv();
    ticker.stop();
    (void)ch(ticker).try_recv();  // a tick sent before stop() may still be buffered
    weft::sleep_for(30ms);
    EXPECT_EQ(ch(ticker).try_recv(), std::nullopt) << "a tick arrived after stop()";
    ticker.stop();  // stopping twice is fine
    EXPECT_FALSE(ticker.chan().closed());
  });
}

TEST(Ticker, StopRacesWithFiring) {
  // From a plain thread, so the ticks fire on runtime threads while this one stops the ticker
  // at many points relative to a tick: never a tick after stop() returns.
  int late = 0;
  for (int i = 0; i < 200; ++i) {
    weft::Ticker ticker(std::chrono::microseconds(200 + (i % 7) * 50));
    std::this_thread::sleep_for(std::chrono::microseconds((i * 53) % 400));
    ticker.stop();
    (void)ch(ticker).try_recv();
    std::this_thread::sleep_for(1ms);
    if (ch(ticker).try_recv().has_value()) ++late;
  }
  EXPECT_EQ(late, 0);
}

TEST(Ticker, Reset) {
  weft::run([] {
    weft::Ticker ticker(1h);
    auto start = Clock::now();
    ticker.reset(10ms);
    auto t = ch(ticker).recv();
    ASSERT_TRUE(t.has_value());
    EXPECT_GE(*t, start + 10ms);
    EXPECT_GE(Clock::now() - start, 10ms);

    // Back to a long period: no tick for a while (after draining what may be buffered).
    ticker.reset(1h);
    (void)ch(ticker).try_recv();
    weft::sleep_for(30ms);
    EXPECT_EQ(ch(ticker).try_recv(), std::nullopt);

    // reset after stop restarts it.
    ticker.stop();
    start = Clock::now();
    ticker.reset(5ms);
    t = ch(ticker).recv();
    ASSERT_TRUE(t.has_value());
    EXPECT_GE(*t, start + 5ms);

    EXPECT_THROW(ticker.reset(0ns), std::invalid_argument);
    EXPECT_THROW(ticker.reset(-1ms), std::invalid_argument);
  });
}

TEST(Ticker, DestroyedTickerStops) {
  weft::run([] {
    weft::Chan<Clock::time_point> c;
    {
      weft::Ticker ticker(1ms);
      c = ticker.chan();
      (void)c.recv();
    }
    (void)c.try_recv();
    weft::sleep_for(20ms);
    EXPECT_EQ(c.try_recv(), std::nullopt);
  });
}

TEST(Ticker, InSelectLoop) {
  weft::run([] {
    weft::Ticker ticker(3ms);
    auto timeout = weft::after(40ms);
    int ticks = 0;
    bool done = false;
    while (!done) {
      weft::select(weft::on_recv(ticker.chan(), [&](auto) { ++ticks; }),
                   weft::on_recv(timeout, [&](auto) { done = true; }));
    }
    EXPECT_GE(ticks, 1);
  });
}

TEST(Sleep, SleepForNeverWakesEarly1000Sleepers) {
  weft::run([] {
    constexpr int kSleepers = 1000;
    weft::WaitGroup wg;
    std::atomic<int> early{0};
    std::atomic<long long> worst_early_ns{0};
    for (int i = 0; i < kSleepers; ++i) {
      wg.add(1);
      auto d = std::chrono::microseconds(500 + (i * 7919) % 50000);
      weft::go([d, &wg, &early, &worst_early_ns] {
        auto start = Clock::now();
        weft::sleep_for(d);
        auto elapsed = Clock::now() - start;
        if (elapsed < d) {
          early++;
          long long by = std::chrono::duration_cast<std::chrono::nanoseconds>(d - elapsed).count();
          atomic_max(worst_early_ns, by);
        }
        wg.done();
      });
    }
    wg.wait();
    EXPECT_EQ(early.load(), 0) << "worst: " << worst_early_ns.load() << " ns early";
  });
}

TEST(Sleep, RepeatedShortSleepsNeverEarly) {
  weft::run([] {
    weft::WaitGroup wg;
    std::atomic<int> early{0};
    for (int t = 0; t < 20; ++t) {
      wg.add(1);
      weft::go([&, t] {
        for (int i = 0; i < 50; ++i) {
          auto d = std::chrono::microseconds(50 + (i * t * 31) % 300);
          auto start = Clock::now();
          weft::sleep_for(d);
          if (Clock::now() - start < d) early++;
        }
        wg.done();
      });
    }
    wg.wait();
    EXPECT_EQ(early.load(), 0);
  });
}

TEST(Sleep, SleepUntil) {
  weft::run([] {
    auto target = Clock::now() + 20ms;
    weft::sleep_until(target);
    EXPECT_GE(Clock::now(), target);
    // A time point in the past returns at once (it only yields).
    weft::sleep_until(Clock::now() - 1s);
    // Other durations and representations.
    auto t2 = Clock::now() + std::chrono::microseconds(1500);
    weft::sleep_until(t2);
    EXPECT_GE(Clock::now(), t2);
    auto start = Clock::now();
    weft::sleep_for(std::chrono::duration<double, std::milli>(2.5));
    EXPECT_GE(Clock::now() - start, std::chrono::microseconds(2500));
  });
}

TEST(Sleep, ZeroAndNegative) {
  weft::run([] {
    weft::sleep_for(0ns);
    weft::sleep_for(-5ms);
  });
  weft::sleep_for(0ns);
  weft::sleep_for(-5ms);
}

TEST(Sleep, PlainThreadSleeps) {
  auto start = Clock::now();
  weft::sleep_for(10ms);
  EXPECT_GE(Clock::now() - start, 10ms);
  auto target = Clock::now() + 10ms;
  weft::sleep_until(target);
  EXPECT_GE(Clock::now(), target);
}

TEST(Sleep, SleepersDoNotBlockOtherTasks) {
  weft::run([] {
    weft::WaitGroup wg;
    for (int i = 0; i < 50; ++i) {
      wg.add(1);
      weft::go([&] {
        weft::sleep_for(200ms);
        wg.done();
      });
    }
    // While 50 tasks sleep, a ping-pong pair runs to completion.
    EXPECT_EQ(ping_pong(1000), 1000);
    wg.wait();
  });
}

}  // namespace

namespace {

// A huge duration means "a very long time", never a deadline that wrapped into the past.
TEST(Timer, HugeDurationsDoNotWrapAround) {
  weft::run([] {
    constexpr auto kForever = std::chrono::hours(1'000'000'000);  // beyond int64 nanoseconds
    weft::Chan<int> c;
    weft::go([c] {
      weft::sleep_for(std::chrono::milliseconds(10));
      c.send(7);
    });
    int got = 0;
    std::size_t idx = weft::select(weft::on_recv(c, [&](std::optional<int> v) { got = *v; }),
                                   weft::on_timeout(kForever));
    EXPECT_EQ(idx, 0u);
    EXPECT_EQ(got, 7);

    weft::Mutex mu;
    mu.lock();
    weft::go([&mu] {
      weft::sleep_for(std::chrono::milliseconds(10));
      mu.unlock();
    });
    EXPECT_TRUE(mu.try_lock_for(kForever));
    mu.unlock();
  });
}

// A timer added by a task that holds a P, while another machine is becoming the network poller
// with an older, later deadline, must still fire on time: the adder's machine, finding the poller
// taken, has to shorten the poller's sleep. With that wake-up lost, a short sleep lasts until the
// far timer below. A watchdog thread notices a stall, records it and kicks the runtime by starting
// a task from outside, so the test fails instead of hanging.
TEST(Timer, ShortSleepsBesideAFarTimerAreNotLost) {
  std::atomic<long> progress{0};
  std::atomic<bool> done{false};
  std::atomic<bool> stalled{false};
  std::thread watchdog([&] {
    long last = -1;
    auto last_change = Clock::now();
    while (!done.load()) {
      std::this_thread::sleep_for(50ms);
      long now = progress.load();
      if (now != last) {
        last = now;
        last_change = Clock::now();
      } else if (Clock::now() - last_change > 10s) {
        stalled.store(true);
        weft::go([] {});  // wakes a machine, which runs the overdue timers
        last_change = Clock::now();
      }
    }
  });
  weft::run([&] {
    weft::Chan<int> stop;
    weft::go([stop] {  // keeps a timer an hour out in the heaps for the whole test
      weft::select(weft::on_recv(stop, [](std::optional<int>) {}), weft::on_timeout(1h));
    });
    constexpr int kSleepers = 4;
    constexpr int kRounds = 3000;
    weft::WaitGroup wg;
    wg.add(kSleepers);
    for (int i = 0; i < kSleepers; ++i) {
      weft::go([&, i] {
        std::minstd_rand rng(i + 1);
        for (int r = 0; r < kRounds; ++r) {
          weft::sleep_for(std::chrono::microseconds(rng() % 50));
          progress.fetch_add(1);
        }
        wg.done();
      });
    }
    wg.wait();
    stop.close();
  });
  done.store(true);
  watchdog.join();
  EXPECT_FALSE(stalled.load()) << "a sleeper waited more than 10 s for a timer of under 50 us";
  EXPECT_EQ(progress.load(), 4L * 3000);
}

}  // namespace

namespace timer_heap {

struct Fired {
  std::atomic<int> next{0};
  std::vector<int> order;  // indexes of the timers, in the order they fired
  explicit Fired(int n) : order(static_cast<std::size_t>(n), -1) {}
};

struct Probe {
  weft::detail::TimerEntry entry;
  Fired* fired = nullptr;
  int index = 0;
  int64_t due = 0;
  std::atomic<int> fire_count{0};
  std::atomic<int64_t> fired_at{0};
};

}  // namespace timer_heap

// One processor's heap under arbitrary removals: timers with shuffled deadlines are armed from
// one task (so into one heap), a random share of them is stopped while the others wait, and
// every survivor must fire once, never early, and in order of deadline (the heap pops the
// earliest due first); no stopped timer may fire.
TEST(Timer, HeapKeepsDeadlineOrderThroughRandomRemovals) {
  using timer_heap::Fired;
  using timer_heap::Probe;
  weft::run([] {
    constexpr int kTimers = 3000;
    Fired fired(kTimers);
    std::vector<std::unique_ptr<Probe>> probes;
    std::minstd_rand rng(12345);
    int64_t base = weft::detail::now_ns() + 20'000'000;  // 20 ms out: arming ends first
    for (int i = 0; i < kTimers; ++i) {
      auto p = std::make_unique<Probe>();
      p->fired = &fired;
      p->index = i;
      p->due = base + static_cast<int64_t>(rng() % 30'000) * 1000;  // within 30 ms, µs apart
      p->entry.arg = p.get();
      p->entry.fire = [](void* a) {
        auto* pr = static_cast<Probe*>(a);
        pr->fired_at.store(weft::detail::now_ns());
        pr->fire_count.fetch_add(1);
        int slot = pr->fired->next.fetch_add(1);
        pr->fired->order[static_cast<std::size_t>(slot)] = pr->index;
      };
      probes.push_back(std::move(p));
    }
    for (auto& p : probes) weft::detail::timer_start(&p->entry, p->due);
    std::vector<bool> stopped(kTimers, false);
    for (int i = 0; i < kTimers; ++i) {
      if (rng() % 5 < 2)
        stopped[static_cast<std::size_t>(i)] =
            weft::detail::timer_stop(&probes[static_cast<std::size_t>(i)]->entry);
    }
    int expected = 0;
    for (int i = 0; i < kTimers; ++i) expected += stopped[static_cast<std::size_t>(i)] ? 0 : 1;
    ASSERT_GT(expected, kTimers / 2);
    ASSERT_LT(expected, kTimers);  // some were stopped before their deadline
    while (fired.next.load() < expected) weft::sleep_for(1ms);
    weft::sleep_for(5ms);  // nothing more may come
    EXPECT_EQ(fired.next.load(), expected);
    int64_t last_due = 0;
    for (int k = 0; k < expected; ++k) {
      const Probe& p = *probes[static_cast<std::size_t>(fired.order[static_cast<std::size_t>(k)])];
      EXPECT_FALSE(stopped[static_cast<std::size_t>(p.index)]);
      EXPECT_GE(p.due, last_due) << "timer " << p.index << " fired out of deadline order";
      last_due = p.due;
    }
    for (int i = 0; i < kTimers; ++i) {
      const Probe& p = *probes[static_cast<std::size_t>(i)];
      EXPECT_EQ(p.fire_count.load(), stopped[static_cast<std::size_t>(i)] ? 0 : 1) << "timer " << i;
      if (!stopped[static_cast<std::size_t>(i)])
        EXPECT_GE(p.fired_at.load(), p.due) << "timer " << i;
    }
    for (auto& p : probes) weft::detail::timer_stop(&p->entry);
  });
}
