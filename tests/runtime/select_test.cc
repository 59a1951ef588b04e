// select: receive and send cases, default, timeout, closed channels, fairness, plain threads.
#include <gtest/gtest.h>
#include <weft/weft.h>

#include <array>
#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "test_util.h"

namespace {

using namespace std::chrono_literals;
using weft_test::Clock;
using weft_test::eventually;

// Sends v on c from a new task once d has passed.
void send_after(weft::Chan<int> c, std::chrono::milliseconds d, int v) {
  weft::go([c, d, v]() mutable {
    weft::sleep_for(d);
    c.send(v);
  });
}

// Closes c from a new task once d has passed.
void close_after(weft::Chan<int> c, std::chrono::milliseconds d) {
  weft::go([c, d]() mutable {
    weft::sleep_for(d);
    c.close();
  });
}

TEST(Select, RecvCaseTakesTheReadyChannel) {
  weft::run([] {
    weft::Chan<int> a(1), b(1);
    weft::Chan<std::string> s(1);
    s.send("hello");
    std::optional<std::string> got;
    bool a_ran = false, b_ran = false;
    std::size_t idx =
        weft::select(weft::on_recv(a, [&](std::optional<int>) { a_ran = true; }),
                     weft::on_recv(s, [&](std::optional<std::string> v) { got = std::move(v); }),
                     weft::on_recv(b, [&](std::optional<int>) { b_ran = true; }));
    EXPECT_EQ(idx, 1u);
    EXPECT_EQ(got, "hello");
    EXPECT_FALSE(a_ran);
    EXPECT_FALSE(b_ran);
    EXPECT_EQ(s.size(), 0u);
  });
}

TEST(Select, RecvCaseWithoutCallback) {
  weft::run([] {
    weft::Chan<int> a(1), b(1);
    b.send(3);
    EXPECT_EQ(weft::select(weft::on_recv(a), weft::on_recv(b)), 1u);
    EXPECT_EQ(b.size(), 0u);
  });
}

// A case made from a temporary handle keeps the channel alive on its own, even when the case is
// stored and the select comes later; one made from a named handle refers to that handle's channel.
TEST(Select, CaseFromATemporaryChannelHoldsIt) {
  weft::run([] {
    auto ready_channel = [](int v) {
      weft::Chan<int> c(1);
      c.send(v);
      return c;
    };
    int got = 0;
    auto recv_case = weft::on_recv(ready_channel(5), [&](std::optional<int> v) { got = *v; });
    EXPECT_EQ(weft::select(std::move(recv_case)), 0u);
    EXPECT_EQ(got, 5);

    bool sent = false;
    auto send_case = weft::on_send(weft::Chan<int>(1), 9, [&] { sent = true; });
    EXPECT_EQ(weft::select(std::move(send_case)), 0u);
    EXPECT_TRUE(sent);

    weft::Chan<int> named(1);
    named.send(3);
    EXPECT_EQ(weft::select(weft::on_recv(named, [&](std::optional<int> v) { got = *v; })), 0u);
    EXPECT_EQ(got, 3);
    EXPECT_EQ(named.size(), 0u);
  });
}

TEST(Select, SendCaseDeliversValue) {
  weft::run([] {
    weft::Chan<int> full(1), space(1);
    full.send(0);
    bool sent = false;
    std::size_t idx =
        weft::select(weft::on_send(full, 1), weft::on_send(space, 2, [&] { sent = true; }));
    EXPECT_EQ(idx, 1u);
    EXPECT_TRUE(sent);
    EXPECT_EQ(space.recv(), 2);
    EXPECT_EQ(full.size(), 1u);
    EXPECT_EQ(full.recv(), 0);
  });
}

TEST(Select, BlockedRecvWokenBySender) {
  weft::run([] {
    weft::Chan<int> a, b;
    send_after(b, 10ms, 77);
    std::optional<int> got;
    std::size_t idx =
        weft::select(weft::on_recv(a), weft::on_recv(b, [&](std::optional<int> v) { got = v; }));
    EXPECT_EQ(idx, 1u);
    EXPECT_EQ(got, 77);
  });
}

TEST(Select, BlockedSendWokenByReceiver) {
  weft::run([] {
    weft::Chan<int> a, b;
    weft::Chan<int> result(1);
    weft::go([a, result]() mutable {
      weft::sleep_for(10ms);
      result.send(*a.recv());
    });
    bool ran = false;
    std::size_t idx = weft::select(weft::on_send(a, 5, [&] { ran = true; }), weft::on_recv(b));
    EXPECT_EQ(idx, 0u);
    EXPECT_TRUE(ran);
    EXPECT_EQ(result.recv(), 5);
  });
}

TEST(Select, DefaultWhenNothingReady) {
  weft::run([] {
    weft::Chan<int> a, b(1), full(1);
    full.send(1);
    bool def = false, other = false;
    std::size_t idx = weft::select(weft::on_recv(a, [&](std::optional<int>) { other = true; }),
                                   weft::on_recv(b, [&](std::optional<int>) { other = true; }),
                                   weft::on_send(full, 2, [&] { other = true; }),
                                   weft::on_default([&] { def = true; }));
    EXPECT_EQ(idx, 3u);
    EXPECT_TRUE(def);
    EXPECT_FALSE(other);
    EXPECT_EQ(full.size(), 1u);
    EXPECT_EQ(b.size(), 0u);
    // Only a default case.
    EXPECT_EQ(weft::select(weft::on_default()), 0u);
  });
}

TEST(Select, ReadyCaseBeatsDefault) {
  weft::run([] {
    weft::Chan<int> a(1);
    a.send(9);
    std::optional<int> got;
    std::size_t idx =
        weft::select(weft::on_default(), weft::on_recv(a, [&](std::optional<int> v) { got = v; }));
    EXPECT_EQ(idx, 1u);
    EXPECT_EQ(got, 9);
  });
}

TEST(Select, TimeoutFiresNoEarlierThanAsked) {
  weft::run([] {
    weft::Chan<int> a, b;
    for (auto timeout : {1ms, 5ms, 20ms, 50ms}) {
      bool fired = false;
      auto start = Clock::now();
      std::size_t idx = weft::select(
          weft::on_recv(a), weft::on_timeout(timeout, [&] { fired = true; }), weft::on_send(b, 1));
      auto elapsed = Clock::now() - start;
      EXPECT_EQ(idx, 1u);
      EXPECT_TRUE(fired);
      EXPECT_GE(elapsed, timeout) << "timeout of " << timeout.count() << " ms fired early";
    }
    // A timeout alone is a sleep.
    auto start = Clock::now();
    EXPECT_EQ(weft::select(weft::on_timeout(15ms)), 0u);
    EXPECT_GE(Clock::now() - start, 15ms);
  });
}

TEST(Select, ZeroTimeoutWithNothingReady) {
  weft::run([] {
    weft::Chan<int> a;
    EXPECT_EQ(weft::select(weft::on_recv(a), weft::on_timeout(0ms)), 1u);
    EXPECT_EQ(weft::select(weft::on_recv(a), weft::on_timeout(-5ms)), 1u);
  });
}

TEST(Select, CaseReadyBeforeTimeoutWins) {
  weft::run([] {
    weft::Chan<int> a;
    send_after(a, 5ms, 1);
    std::optional<int> got;
    std::size_t idx = weft::select(weft::on_recv(a, [&](std::optional<int> v) { got = v; }),
                                   weft::on_timeout(10s));
    EXPECT_EQ(idx, 0u);
    EXPECT_EQ(got, 1);
    // The stopped timer must not fire into a later select.
    weft::Chan<int> b;
    auto start = Clock::now();
    EXPECT_EQ(weft::select(weft::on_recv(b), weft::on_timeout(30ms)), 1u);
    EXPECT_GE(Clock::now() - start, 30ms);
  });
}

TEST(Select, ClosedChannelRecvGetsNullopt) {
  weft::run([] {
    weft::Chan<int> open, closed(2);
    closed.send(1);
    closed.close();
    std::vector<std::optional<int>> got;
    for (int i = 0; i < 3; ++i) {
      std::size_t idx =
          weft::select(weft::on_recv(open),
                       weft::on_recv(closed, [&](std::optional<int> v) { got.push_back(v); }));
      EXPECT_EQ(idx, 1u);
    }
    ASSERT_EQ(got.size(), 3u);
    EXPECT_EQ(got[0], 1);  // buffered value first
    EXPECT_EQ(got[1], std::nullopt);
    EXPECT_EQ(got[2], std::nullopt);
  });
}

TEST(Select, CloseWakesBlockedSelectRecv) {
  weft::run([] {
    weft::Chan<int> a, b;
    close_after(b, 10ms);
    bool called = false;
    std::optional<int> got = 5;
    std::size_t idx = weft::select(weft::on_recv(a), weft::on_recv(b, [&](std::optional<int> v) {
                                     called = true;
                                     got = v;
                                   }));
    EXPECT_EQ(idx, 1u);
    EXPECT_TRUE(called);
    EXPECT_EQ(got, std::nullopt);
  });
}

TEST(Select, SendToClosedChannelThrows) {
  weft::run([] {
    weft::Chan<int> a, closed(4);
    closed.close();
    bool ran = false;
    EXPECT_THROW(weft::select(weft::on_recv(a), weft::on_send(closed, 1, [&] { ran = true; })),
                 weft::ChanClosedError);
    EXPECT_THROW(weft::select(weft::on_send(closed, 1), weft::on_default()), weft::ChanClosedError);
    EXPECT_FALSE(ran);
  });
}

TEST(Select, CloseWhileBlockedInSelectSendThrows) {
  weft::run([] {
    weft::Chan<int> a, b;
    close_after(a, 10ms);
    bool ran = false;
    EXPECT_THROW(weft::select(weft::on_send(a, 1, [&] { ran = true; }), weft::on_recv(b)),
                 weft::ChanClosedError);
    EXPECT_FALSE(ran);
    // b still works afterwards.
    weft::go([b]() mutable { b.send(4); });
    EXPECT_EQ(b.recv(), 4);
  });
}

TEST(Select, MoveOnlyValues) {
  weft::run([] {
    weft::Chan<std::unique_ptr<int>> in(1), out(1);
    in.send(std::make_unique<int>(11));
    std::unique_ptr<int> got;
    EXPECT_EQ(weft::select(weft::on_recv(
                  in, [&](std::optional<std::unique_ptr<int>> v) { got = std::move(*v); })),
              0u);
    ASSERT_NE(got, nullptr);
    EXPECT_EQ(*got, 11);
    EXPECT_EQ(weft::select(weft::on_send(out, std::move(got))), 0u);
    auto back = out.recv();
    ASSERT_TRUE(back.has_value());
    EXPECT_EQ(**back, 11);
  });
}

TEST(Select, PicksUniformlyAmongReadyCases) {
  weft::run([] {
    constexpr int kSelects = 30000;
    std::array<weft::Chan<int>, 3> ch = {weft::Chan<int>(1), weft::Chan<int>(1),
                                         weft::Chan<int>(1)};
    for (auto& c : ch) c.send(0);
    std::array<int, 3> counts = {0, 0, 0};
    for (int i = 0; i < kSelects; ++i) {
      std::size_t idx =
          weft::select(weft::on_recv(ch[0]), weft::on_recv(ch[1]), weft::on_recv(ch[2]));
      ASSERT_LT(idx, 3u);
      counts[idx]++;
      ch[idx].send(0);                   // always ready again
      if (i % 1000 == 0) weft::yield();  // also after migrations
    }
    double expected = kSelects / 3.0, chi2 = 0;
    for (int c : counts) {
      EXPECT_GE(c, expected * 0.95) << counts[0] << " " << counts[1] << " " << counts[2];
      EXPECT_LE(c, expected * 1.05) << counts[0] << " " << counts[1] << " " << counts[2];
      chi2 += (c - expected) * (c - expected) / expected;
    }
    // 2 degrees of freedom: P(chi2 > 25) is about 4e-6.
    EXPECT_LT(chi2, 25.0) << counts[0] << " " << counts[1] << " " << counts[2];
  });
}

TEST(Select, PicksUniformlyAmongReadySendAndRecvCases) {
  weft::run([] {
    constexpr int kSelects = 30000;
    weft::Chan<int> recv_ready(1), send_ready(1), never;
    recv_ready.send(0);
    std::array<int, 3> counts = {0, 0, 0};
    for (int i = 0; i < kSelects; ++i) {
      std::size_t idx = weft::select(weft::on_recv(recv_ready), weft::on_recv(never),
                                     weft::on_send(send_ready, 1));
      ASSERT_NE(idx, 1u);
      counts[idx]++;
      if (idx == 0) recv_ready.send(0);
      if (idx == 2) (void)send_ready.recv();
    }
    double expected = kSelects / 2.0;
    EXPECT_GE(counts[0], expected * 0.95) << counts[0] << " " << counts[2];
    EXPECT_LE(counts[0], expected * 1.05) << counts[0] << " " << counts[2];
    EXPECT_EQ(counts[1], 0);
  });
}

TEST(Select, FromPlainThread) {
  weft::Chan<int> a, b;
  std::optional<int> got;
  std::size_t idx = 99;
  std::thread th([&] {
    idx = weft::select(weft::on_recv(a), weft::on_recv(b, [&](std::optional<int> v) { got = v; }));
  });
  weft::run([b]() mutable {
    weft::sleep_for(10ms);
    b.send(21);
  });
  th.join();
  EXPECT_EQ(idx, 1u);
  EXPECT_EQ(got, 21);
}

TEST(Select, FromPlainThreadDefaultTimeoutAndSend) {
  weft::Chan<int> a, c(1);
  std::thread th([&] {
    EXPECT_EQ(weft::task_id(), 0u);
    EXPECT_EQ(weft::select(weft::on_recv(a), weft::on_default()), 1u);
    auto start = Clock::now();
    EXPECT_EQ(weft::select(weft::on_recv(a), weft::on_timeout(20ms)), 1u);
    EXPECT_GE(Clock::now() - start, 20ms);
    EXPECT_EQ(weft::select(weft::on_recv(a), weft::on_send(c, 8)), 1u);
  });
  th.join();
  EXPECT_EQ(c.try_recv(), 8);
}

TEST(Select, ThreadSelectWokenByThreadSender) {
  weft::Chan<int> a, b;
  std::thread sender([b]() mutable {
    std::this_thread::sleep_for(10ms);
    b.send(3);
  });
  std::optional<int> got;
  EXPECT_EQ(
      weft::select(weft::on_recv(a), weft::on_recv(b, [&](std::optional<int> v) { got = v; })), 1u);
  sender.join();
  EXPECT_EQ(got, 3);
}

TEST(Select, SameChannelInTwoCases) {
  weft::run([] {
    weft::Chan<int> a;
    send_after(a, 5ms, 1);
    std::optional<int> got;
    std::size_t idx = weft::select(weft::on_recv(a, [&](std::optional<int> v) { got = v; }),
                                   weft::on_recv(a, [&](std::optional<int> v) { got = v; }));
    EXPECT_LT(idx, 2u);
    EXPECT_EQ(got, 1);
    // The other node was taken off the channel: a plain send/recv pair still works.
    weft::go([a]() mutable { a.send(2); });
    EXPECT_EQ(a.recv(), 2);
  });
}

// A select over many channels (more than fit in its on-stack arrays) is woken by whichever
// fires; afterwards none of the other channels holds a stale waiter of it.
TEST(Select, ManyChannelsWokenByAnyNoStaleWaiters) {
  weft::run([] {
    constexpr int kChans = 40;
    std::vector<weft::Chan<int>> chans;
    for (int i = 0; i < kChans; ++i) chans.emplace_back(0);
    for (int round = 0; round < kChans; ++round) {
      int fire = (round * 7) % kChans;
      send_after(chans[static_cast<std::size_t>(fire)], 1ms, 1000 + fire);
      std::optional<int> got;
      int from = -1;
      auto on = [&](int i) {
        return weft::on_recv(chans[static_cast<std::size_t>(i)], [&, i](std::optional<int> v) {
          got = v;
          from = i;
        });
      };
      [&]<std::size_t... I>(std::index_sequence<I...>) {
        std::size_t idx = weft::select(on(static_cast<int>(I))...);
        EXPECT_EQ(idx, static_cast<std::size_t>(fire));
      }
      (std::make_index_sequence<kChans>{});
      EXPECT_EQ(from, fire);
      EXPECT_EQ(got, 1000 + fire);
    }
    // Every channel works normally for other tasks: a stale waiter would swallow a value.
    weft::WaitGroup wg;
    std::atomic<int> sum{0};
    for (int i = 0; i < kChans; ++i) {
      wg.add(2);
      weft::go([c = chans[static_cast<std::size_t>(i)], &sum, &wg]() mutable {
        sum += *c.recv();
        wg.done();
      });
      weft::go([c = chans[static_cast<std::size_t>(i)], i, &wg]() mutable {
        c.send(i);
        wg.done();
      });
    }
    wg.wait();
    EXPECT_EQ(sum.load(), kChans * (kChans - 1) / 2);
    for (auto& c : chans) EXPECT_FALSE(c.try_send(1));  // no receiver left behind on any
  });
}

// Two channels fire at about the same time: select takes one value, the other sender stays
// blocked and hands its value to the next receiver. Nothing is lost or duplicated.
TEST(Select, ConcurrentFiringLosesNothing) {
  weft::run([] {
    constexpr int kRounds = 300;
    constexpr int kChans = 6;
    std::vector<weft::Chan<int>> chans;
    for (int i = 0; i < kChans; ++i) chans.emplace_back(0);
    long total = 0, expected = 0;
    for (int r = 0; r < kRounds; ++r) {
      int x = r % kChans, y = (r * 5 + 1) % kChans;
      if (x == y) y = (y + 1) % kChans;
      weft::go([c = chans[static_cast<std::size_t>(x)], r]() mutable { c.send(2 * r); });
      weft::go([c = chans[static_cast<std::size_t>(y)], r]() mutable { c.send(2 * r + 1); });
      expected += 4 * r + 1;
      std::optional<int> got;
      std::size_t idx = weft::select(
          weft::on_recv(chans[0], [&](std::optional<int> v) { got = v; }),
          weft::on_recv(chans[1], [&](std::optional<int> v) { got = v; }),
          weft::on_recv(chans[2], [&](std::optional<int> v) { got = v; }),
          weft::on_recv(chans[3], [&](std::optional<int> v) { got = v; }),
          weft::on_recv(chans[4], [&](std::optional<int> v) { got = v; }),
          weft::on_recv(chans[5], [&](std::optional<int> v) { got = v; }), weft::on_timeout(10s));
      ASSERT_TRUE(idx == static_cast<std::size_t>(x) || idx == static_cast<std::size_t>(y)) << idx;
      ASSERT_TRUE(got.has_value());
      total += *got;
      int other = idx == static_cast<std::size_t>(x) ? y : x;
      auto v = chans[static_cast<std::size_t>(other)].recv();
      ASSERT_TRUE(v.has_value());
      total += *v;
    }
    EXPECT_EQ(total, expected);
    for (auto& c : chans) EXPECT_EQ(c.try_recv(), std::nullopt);
  });
}

// Many tasks select over a shared set of channels while producers feed them; every value is
// received exactly once.
TEST(Select, ManySelectorsManyProducers) {
  weft::run([] {
    constexpr int kProducers = 8, kPer = 2000, kSelectors = 8;
    weft::Chan<int> a(4), b, c(1);
    weft::Chan<int> quit;
    weft::WaitGroup producers, selectors;
    std::atomic<long> sum{0}, count{0};
    for (int p = 0; p < kProducers; ++p) {
      producers.add(1);
      weft::go([a, b, c, p, &producers]() mutable {
        for (int i = 1; i <= kPer; ++i) {
          switch ((i + p) % 3) {
            case 0:
              a.send(i);
              break;
            case 1:
              b.send(i);
              break;
            default:
              c.send(i);
              break;
          }
        }
        producers.done();
      });
    }
    for (int s = 0; s < kSelectors; ++s) {
      selectors.add(1);
      weft::go([a, b, c, quit, &sum, &count, &selectors]() mutable {
        bool done = false;
        while (!done) {
          auto take = [&](std::optional<int> v) {
            if (v) {
              sum += *v;
              count++;
            }
          };
          weft::select(weft::on_recv(a, take), weft::on_recv(b, take), weft::on_recv(c, take),
                       weft::on_recv(quit, [&](std::optional<int>) { done = true; }));
        }
        selectors.done();
      });
    }
    producers.wait();
    // Let the selectors drain what is buffered, then stop them.
    ASSERT_TRUE(eventually([&] { return count.load() == long{kProducers} * kPer; }));
    quit.close();
    selectors.wait();
    EXPECT_EQ(count.load(), long{kProducers} * kPer);
    EXPECT_EQ(sum.load(), long{kProducers} * kPer * (kPer + 1) / 2);
  });
}

}  // namespace
