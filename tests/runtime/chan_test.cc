// Chan<T>: Go's channel semantics, from tasks and from plain threads.
#include <gtest/gtest.h>
#include <weft/weft.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "test_util.h"

namespace {

using namespace std::chrono_literals;

using weft_test::eventually;

TEST(Chan, UnbufferedSendWaitsForReceiver) {
  weft::run([] {
    weft::Chan<int> c;
    std::atomic<bool> sent{false};
    weft::go([&] {
      c.send(7);
      sent = true;
    });
    weft::sleep_for(std::chrono::milliseconds(20));
    EXPECT_FALSE(sent.load());  // nobody received yet
    EXPECT_EQ(c.recv(), 7);
  });
}

TEST(Chan, RecvOnClosedDrainsBufferFirst) {
  weft::run([] {
    weft::Chan<std::string> c(3);
    c.send("a");
    c.send("b");
    c.close();
    EXPECT_EQ(c.recv(), "a");
    EXPECT_EQ(c.recv(), "b");
    EXPECT_EQ(c.recv(), std::nullopt);
    EXPECT_EQ(c.recv(), std::nullopt);
  });
}

TEST(Chan, CloseWakesAllReceivers) {
  weft::run([] {
    weft::Chan<int> c;
    weft::WaitGroup wg;
    std::atomic<int> woke{0};
    for (int i = 0; i < 50; ++i) {
      wg.add(1);
      weft::go([&] {
        if (!c.recv()) woke++;
        wg.done();
      });
    }
    weft::sleep_for(std::chrono::milliseconds(10));
    c.close();
    wg.wait();
    EXPECT_EQ(woke.load(), 50);
  });
}

TEST(Chan, SendOnClosedThrows) {
  weft::run([] {
    weft::Chan<int> c(1);
    c.close();
    EXPECT_THROW(c.send(1), weft::ChanClosedError);
    EXPECT_THROW(c.close(), weft::ChanClosedError);
  });
}

TEST(Chan, RangeForUntilClosed) {
  weft::run([] {
    weft::Chan<int> c(4);
    weft::go([c]() mutable {
      for (int i = 0; i < 100; ++i) c.send(i);
      c.close();
    });
    int sum = 0;
    for (int v : c) sum += v;
    EXPECT_EQ(sum, 4950);
  });
}

TEST(Chan, TasksAndThreadsTogether) {
  weft::Chan<int> c(8);
  std::thread producer([c]() mutable {
    for (int i = 1; i <= 1000; ++i) c.send(i);
    c.close();
  });
  long sum = 0;
  weft::run([&] {
    for (int v : c) sum += v;
  });
  producer.join();
  EXPECT_EQ(sum, 500500);
}

TEST(Chan, SizeAndCapacity) {
  weft::Chan<int> unbuffered;
  EXPECT_EQ(unbuffered.capacity(), 0u);
  EXPECT_EQ(unbuffered.size(), 0u);
  EXPECT_FALSE(unbuffered.closed());

  weft::Chan<int> c(3);
  EXPECT_EQ(c.capacity(), 3u);
  EXPECT_EQ(c.size(), 0u);
  c.send(1);
  EXPECT_EQ(c.size(), 1u);
  c.send(2);
  c.send(3);
  EXPECT_EQ(c.size(), 3u);
  EXPECT_EQ(c.capacity(), 3u);
  (void)c.recv();
  EXPECT_EQ(c.size(), 2u);
  c.close();
  EXPECT_TRUE(c.closed());
  EXPECT_EQ(c.size(), 2u);  // closing keeps the buffered values
  EXPECT_EQ(c.capacity(), 3u);

  weft::Chan<int> copy = c;  // copies share the channel
  EXPECT_TRUE(copy == c);
  EXPECT_TRUE(copy.closed());
  EXPECT_EQ(copy.recv(), 2);
  EXPECT_EQ(c.size(), 1u);
  EXPECT_FALSE(weft::Chan<int>(3) == c);
}

TEST(Chan, BufferedFifoOrderAcrossWrapAround) {
  weft::run([] {
    weft::Chan<int> c(4);
    int next_send = 0, next_recv = 0;
    // Keep the ring partly full so sendx/recvx wrap around many times.
    for (int round = 0; round < 50; ++round) {
      while (c.size() < c.capacity()) c.send(next_send++);
      for (int k = 0; k < 3; ++k) {
        auto v = c.recv();
        ASSERT_TRUE(v.has_value());
        EXPECT_EQ(*v, next_recv++);
      }
    }
    while (c.size() > 0) EXPECT_EQ(c.recv(), next_recv++);
    EXPECT_EQ(next_recv, next_send);
  });
}

TEST(Chan, BufferedFifoOrderWithBlockedSenders) {
  weft::run([] {
    weft::Chan<int> c(2);
    c.send(1);
    c.send(2);
    weft::WaitGroup wg;
    wg.add(1);
    weft::go([c, &wg]() mutable {
      for (int i = 3; i <= 10; ++i) c.send(i);  // blocks while the buffer is full
      wg.done();
    });
    weft::sleep_for(10ms);
    EXPECT_EQ(c.size(), 2u);
    for (int i = 1; i <= 10; ++i) EXPECT_EQ(c.recv(), i);
    wg.wait();
    EXPECT_EQ(c.size(), 0u);
  });
}

TEST(Chan, TrySendTryRecvBuffered) {
  weft::run([] {
    weft::Chan<int> c(2);
    EXPECT_EQ(c.try_recv(), std::nullopt);  // empty
    EXPECT_TRUE(c.try_send(1));
    int two = 2;
    EXPECT_TRUE(c.try_send(two));  // const T& overload
    EXPECT_FALSE(c.try_send(3));   // full
    EXPECT_EQ(c.size(), 2u);
    EXPECT_EQ(c.try_recv(), 1);
    EXPECT_TRUE(c.try_send(3));
    EXPECT_EQ(c.try_recv(), 2);
    EXPECT_EQ(c.try_recv(), 3);
    EXPECT_EQ(c.try_recv(), std::nullopt);

    EXPECT_TRUE(c.try_send(4));
    c.close();
    EXPECT_THROW((void)c.try_send(5), weft::ChanClosedError);
    EXPECT_EQ(c.try_recv(), 4);             // buffered value survives the close
    EXPECT_EQ(c.try_recv(), std::nullopt);  // closed and drained
    EXPECT_TRUE(c.closed());
  });
}

TEST(Chan, TrySendFailureLeavesValueUntouched) {
  weft::Chan<std::unique_ptr<int>> c(1);
  EXPECT_TRUE(c.try_send(std::make_unique<int>(1)));
  auto p = std::make_unique<int>(2);
  EXPECT_FALSE(c.try_send(std::move(p)));
  ASSERT_NE(p, nullptr);  // a failed try_send did not consume it
  EXPECT_EQ(*p, 2);
  auto got = c.try_recv();
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(**got, 1);
  EXPECT_TRUE(c.try_send(std::move(p)));
  EXPECT_EQ(p, nullptr);
}

TEST(Chan, TrySendTryRecvUnbuffered) {
  weft::run([] {
    weft::Chan<int> c;
    EXPECT_FALSE(c.try_send(1));  // nobody receiving
    EXPECT_EQ(c.try_recv(), std::nullopt);

    // A parked receiver makes try_send succeed.
    weft::Chan<int> got(1);
    weft::go([c, got]() mutable { got.send(*c.recv()); });
    ASSERT_TRUE(eventually([&] { return c.try_send(42); }));
    EXPECT_EQ(got.recv(), 42);

    // A parked sender makes try_recv succeed.
    weft::go([c]() mutable { c.send(43); });
    std::optional<int> v;
    ASSERT_TRUE(eventually([&] { return (v = c.try_recv()).has_value(); }));
    EXPECT_EQ(v, 43);

    c.close();
    EXPECT_EQ(c.try_recv(), std::nullopt);
    EXPECT_THROW((void)c.try_send(1), weft::ChanClosedError);
  });
}

// More waiters than close() takes off the queue at a time, some of them in selects that another
// channel may win while the close is under way: every one ends exactly once.
TEST(Chan, CloseWakesEveryWaiterAcrossBatches) {
  weft::run([] {
    constexpr int kReceivers = 1000, kSelects = 300, kOther = 100;
    weft::Chan<int> c;
    weft::Chan<int> other;
    weft::WaitGroup wg;
    std::atomic<int> closed_seen{0}, other_seen{0};
    for (int i = 0; i < kReceivers; ++i) {
      wg.add(1);
      weft::go([&] {
        if (!c.recv()) closed_seen++;
        wg.done();
      });
    }
    for (int i = 0; i < kSelects; ++i) {
      wg.add(1);
      weft::go([&] {
        weft::select(weft::on_recv(c, [&](std::optional<int> v) { closed_seen += !v; }),
                     weft::on_recv(other, [&](std::optional<int> v) { other_seen += v ? 1 : 0; }));
        wg.done();
      });
    }
    weft::sleep_for(20ms);
    weft::WaitGroup sender;
    sender.add(1);
    weft::go([&] {
      for (int i = 0; i < kOther; ++i) {
        // A select that already left for the close cannot take this: stop when none waits.
        if (!other.try_send(i)) break;
      }
      sender.done();
    });
    c.close();
    wg.wait();
    sender.wait();
    EXPECT_EQ(closed_seen.load() + other_seen.load(), kReceivers + kSelects);
    EXPECT_GE(closed_seen.load(), kReceivers);
    EXPECT_LE(other_seen.load(), kOther);
  });
}

// How many tasks are parked for `reason` (a name as the task dump prints it).
uint64_t parked_for(std::string_view reason) {
  for (const auto& p : weft::runtime_stats().tasks_parked)
    if (p.reason == reason) return p.tasks;
  return 0;
}

// Waiters that leave a channel's queue early (selects whose timeout fired) do not disturb the
// order of those that stay: values reach the receivers in the order they started waiting,
// across the queue's growth and its clean-up of the slots left behind.
TEST(Chan, ReceiversServedInArrivalOrderWhenOthersLeaveEarly) {
  weft::run([] {
    weft::Chan<int> c;
    constexpr int kStaying = 40;
    constexpr int kLeavingBetween = 50;
    std::vector<int> got(kStaying, -1);
    weft::WaitGroup wg;
    weft::WaitGroup leavers;
    for (int i = 0; i < kStaying; ++i) {
      wg.add(1);
      weft::go([&, i] {
        got[i] = c.recv().value_or(-2);
        wg.done();
      });
      ASSERT_TRUE(eventually([&] { return parked_for("chan receive") == uint64_t(i) + 1; }));
      leavers.add(kLeavingBetween);
      for (int k = 0; k < kLeavingBetween; ++k) {
        weft::go([&, c] {
          EXPECT_EQ(weft::select(weft::on_recv(c), weft::on_timeout(1ms)), 1u);
          leavers.done();
        });
      }
    }
    leavers.wait();
    for (int i = 0; i < kStaying; ++i) c.send(i);
    wg.wait();
    for (int i = 0; i < kStaying; ++i) EXPECT_EQ(got[i], i) << "receiver " << i;
  });
}

// A channel's wait queue grows past a few thousand waiters, gives its ring back once drained
// and grows again: every value reaches exactly one receiver in both rounds.
TEST(Chan, ThousandsOfWaitersTwiceOnOneChannel) {
  weft::run([] {
    weft::Chan<int> c;
    constexpr int kWaiters = 3000;
    for (int round = 0; round < 2; ++round) {
      std::atomic<long> sum{0};
      std::atomic<int> got{0};
      weft::WaitGroup wg;
      wg.add(kWaiters);
      for (int i = 0; i < kWaiters; ++i) {
        weft::go([&, c] {
          sum.fetch_add(c.recv().value_or(-1'000'000));
          got.fetch_add(1);
          wg.done();
        });
      }
      ASSERT_TRUE(eventually([&] { return parked_for("chan receive") == uint64_t{kWaiters}; }));
      for (int i = 0; i < kWaiters; ++i) c.send(i);
      wg.wait();
      EXPECT_EQ(got.load(), kWaiters) << "round " << round;
      EXPECT_EQ(sum.load(), long{kWaiters} * (kWaiters - 1) / 2) << "round " << round;
    }
  });
}

TEST(Chan, CloseWakesBlockedSendersWithChanClosedError) {
  weft::run([] {
    weft::Chan<int> unbuffered;
    weft::Chan<int> full(1);
    full.send(-1);
    weft::WaitGroup wg;
    std::atomic<int> threw{0}, sent{0};
    for (int i = 0; i < 40; ++i) {
      wg.add(1);
      weft::Chan<int> target = i % 2 ? unbuffered : full;
      weft::go([target, i, &wg, &threw, &sent]() mutable {
        try {
          target.send(i);
          sent++;
        } catch (const weft::ChanClosedError&) {
          threw++;
        }
        wg.done();
      });
    }
    // A plain thread blocked in send is woken too.
    std::atomic<bool> thread_threw{false};
    std::thread th([unbuffered, &thread_threw]() mutable {
      try {
        unbuffered.send(100);
      } catch (const weft::ChanClosedError&) {
        thread_threw = true;
      }
    });
    weft::sleep_for(20ms);
    EXPECT_EQ(sent.load(), 0);
    unbuffered.close();
    full.close();
    wg.wait();
    th.join();
    EXPECT_EQ(threw.load(), 40);
    EXPECT_EQ(sent.load(), 0);
    EXPECT_TRUE(thread_threw.load());
    // The value buffered before the close is still delivered, then the close.
    EXPECT_EQ(full.recv(), -1);
    EXPECT_EQ(full.recv(), std::nullopt);
  });
}

TEST(Chan, ClosedErrorMessages) {
  weft::Chan<int> c;
  c.close();
  try {
    c.send(1);
    ADD_FAILURE() << "send on a closed channel did not throw";
  } catch (const weft::ChanClosedError& e) {
    EXPECT_STREQ(e.what(), "send on closed channel");
  }
  try {
    c.close();
    ADD_FAILURE() << "close of a closed channel did not throw";
  } catch (const std::logic_error& e) {  // ChanClosedError is a logic_error
    EXPECT_STREQ(e.what(), "close of closed channel");
  }
}

TEST(Chan, MoveOnlyElements) {
  weft::run([] {
    weft::Chan<std::unique_ptr<int>> buffered(3);
    buffered.send(std::make_unique<int>(1));
    buffered.send(std::make_unique<int>(2));
    auto a = buffered.recv();
    ASSERT_TRUE(a.has_value());
    ASSERT_NE(*a, nullptr);
    EXPECT_EQ(**a, 1);

    weft::Chan<std::unique_ptr<int>> unbuffered;
    weft::go([unbuffered]() mutable {
      for (int i = 0; i < 100; ++i) unbuffered.send(std::make_unique<int>(i));
      unbuffered.close();
    });
    int sum = 0, n = 0;
    for (auto& p : unbuffered) {
      ASSERT_NE(p, nullptr);
      sum += *p;
      ++n;
    }
    EXPECT_EQ(n, 100);
    EXPECT_EQ(sum, 4950);
  });
}

TEST(Chan, BufferedValuesDestroyedWithChannel) {
  auto token = std::make_shared<int>(5);
  {
    weft::Chan<std::shared_ptr<int>> c(4);
    c.send(token);
    c.send(token);
    c.send(token);
    EXPECT_EQ(token.use_count(), 4);
    EXPECT_EQ(**c.recv(), 5);
    EXPECT_EQ(token.use_count(), 3);  // the received copy died with its optional
  }
  EXPECT_EQ(token.use_count(), 1);  // the channel's buffer was destroyed
}

// Producers and consumers spread over every processor; every value arrives exactly once.
void ManyProducersConsumers(std::size_t capacity) {
  constexpr int kProducers = 16, kConsumers = 16, kPerProducer = 5000;
  weft::run([capacity] {
    weft::Chan<int64_t> c(capacity);
    weft::WaitGroup producers, consumers;
    std::atomic<int64_t> sum{0}, count{0};
    std::vector<std::atomic<int>> seen(kProducers * kPerProducer);
    for (int p = 0; p < kProducers; ++p) {
      producers.add(1);
      weft::go([c, p, &producers]() mutable {
        for (int i = 0; i < kPerProducer; ++i) c.send(int64_t{p} * kPerProducer + i);
        producers.done();
      });
    }
    for (int k = 0; k < kConsumers; ++k) {
      consumers.add(1);
      weft::go([c, &consumers, &sum, &count, &seen]() mutable {
        int64_t local_sum = 0, local_count = 0;
        for (int64_t v : c) {
          local_sum += v;
          ++local_count;
          seen[static_cast<std::size_t>(v)].fetch_add(1);
        }
        sum += local_sum;
        count += local_count;
        consumers.done();
      });
    }
    producers.wait();
    c.close();
    consumers.wait();
    constexpr int64_t kTotal = int64_t{kProducers} * kPerProducer;
    EXPECT_EQ(count.load(), kTotal);
    EXPECT_EQ(sum.load(), kTotal * (kTotal - 1) / 2);
    int dup_or_lost = 0;
    for (auto& s : seen) dup_or_lost += s.load() != 1;
    EXPECT_EQ(dup_or_lost, 0);
    EXPECT_EQ(c.size(), 0u);
  });
}

TEST(Chan, ManyProducersConsumersUnbuffered) {
  ManyProducersConsumers(0);
}
TEST(Chan, ManyProducersConsumersBuffered) {
  ManyProducersConsumers(64);
}

TEST(Chan, ProducerThreadsConsumerTasks) {
  constexpr int kThreads = 4, kPer = 2000;
  weft::Chan<int> c(16);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([c]() mutable {
      for (int i = 1; i <= kPer; ++i) c.send(i);
    });
  }
  std::atomic<long> sum{0};
  weft::run([&] {
    weft::WaitGroup wg;
    for (int k = 0; k < 8; ++k) {
      wg.add(1);
      weft::go([c, &sum, &wg]() mutable {
        for (int v : c) sum += v;
        wg.done();
      });
    }
    weft::blocking([&] {
      for (auto& th : threads) th.join();
    });
    c.close();
    wg.wait();
  });
  EXPECT_EQ(sum.load(), long{kThreads} * kPer * (kPer + 1) / 2);
}

}  // namespace

// A channel used by one runtime thread alone for a while has its lock handed to that thread
// (ChanLock); a plain thread using it then takes the lock back. Both sides see every value, in
// order, across the hand-over and the taking back, several times over (each taking back doubles
// the run that hands the lock over again).
TEST(Chan, LockHandedToOneThreadIsTakenBackByAnother) {
  weft::RuntimeOptions opts;
  opts.max_procs = 1;
  weft::run(
      [] {
        const weft::RuntimeStats before = weft::runtime_stats();
        weft::Chan<int> c(8);
        int next = 0;
        for (int round = 0; round < 6; ++round) {
          // This task alone: long enough a run to hand the lock over.
          for (int i = 0; i < (64 << round) + 8; ++i) {
            c.send(next);
            std::optional<int> got = c.recv();
            ASSERT_TRUE(got.has_value());
            ASSERT_EQ(*got, next);
            ++next;
          }
          // A plain thread sends a batch; this task receives it in order.
          const int first = next;
          std::thread other([c, first]() mutable {
            for (int i = 0; i < 100; ++i) c.send(first + i);
          });
          for (int i = 0; i < 100; ++i) {
            std::optional<int> got = c.recv();
            ASSERT_TRUE(got.has_value());
            ASSERT_EQ(*got, first + i);
          }
          weft::blocking([&] { other.join(); });
          next += 100;
        }
        const weft::RuntimeStats after = weft::runtime_stats();
        if (after.chan_lock_biased_total == before.chan_lock_biased_total) {
          GTEST_SKIP() << "channel locks are not handed over in this build (no membarrier, or "
                          "ThreadSanitizer)";
        }
        // The plain thread's batch after a hand-over took the lock back. (A lock is handed only
        // to the first thread it went to, so later rounds hand it over again only while this
        // task still runs on that thread.)
        EXPECT_GE(after.chan_lock_revoked_total - before.chan_lock_revoked_total, 1u);
      },
      opts);
}

// Tasks on every processor and plain threads hammer one channel with blocking and non-blocking
// operations while its lock is handed over and taken back: every value arrives exactly once.
TEST(Chan, LockHandOversUnderMixedLoadLoseNothing) {
  constexpr int kTasks = 6, kThreads = 2, kPer = 20000;
  weft::Chan<int64_t> c(32);
  std::atomic<int64_t> received_sum{0}, received{0};
  auto consume = [&](int64_t v) {
    received_sum += v;
    ++received;
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([c, t]() mutable {
      for (int i = 0; i < kPer; ++i) c.send(int64_t{kTasks + t} * kPer + i);
    });
  }
  weft::run([&] {
    weft::WaitGroup producers, consumers;
    for (int k = 0; k < kTasks; ++k) {
      producers.add(1);
      weft::go([c, k, &producers]() mutable {
        for (int i = 0; i < kPer; ++i) {
          int64_t v = int64_t{k} * kPer + i;
          // Bursts of non-blocking sends from one task build runs for the hand-over.
          if (!c.try_send(v)) c.send(v);
          if (i % 512 == 0) weft::yield();
        }
        producers.done();
      });
    }
    for (int k = 0; k < 3; ++k) {
      consumers.add(1);
      weft::go([c, &consume, &consumers]() mutable {
        for (;;) {
          if (std::optional<int64_t> v = c.try_recv()) {
            consume(*v);
            continue;
          }
          std::optional<int64_t> v = c.recv();
          if (!v) break;
          consume(*v);
        }
        consumers.done();
      });
    }
    producers.wait();
    weft::blocking([&] {
      for (auto& th : threads) th.join();
    });
    c.close();
    consumers.wait();
  });
  constexpr int64_t kTotal = int64_t{kTasks + kThreads} * kPer;
  EXPECT_EQ(received.load(), kTotal);
  EXPECT_EQ(received_sum.load(), kTotal * (kTotal - 1) / 2);
}

// Trivially copyable elements are moved as bytes: every size arrives whole, buffered or handed
// straight to a waiting receiver.
struct Triple {
  int64_t a, b, c;
};
template <class T, class Make>
void RoundTripsWhole(Make make) {
  weft::run([make] {
    for (std::size_t capacity : {std::size_t{0}, std::size_t{3}}) {
      weft::Chan<T> c(capacity);
      weft::go([c, make]() mutable {
        for (int i = 0; i < 100; ++i) c.send(make(i));
        c.close();
      });
      int i = 0;
      for (T v : c) {
        T want = make(i++);
        EXPECT_EQ(std::memcmp(&v, &want, sizeof(T)), 0) << "value " << i - 1;
      }
      EXPECT_EQ(i, 100);
    }
  });
}
TEST(Chan, TrivialElementsOfEverySizeArriveWhole) {
  RoundTripsWhole<char>([](int i) { return static_cast<char>('a' + i % 26); });
  RoundTripsWhole<int16_t>([](int i) { return static_cast<int16_t>(i * 301); });
  RoundTripsWhole<double>([](int i) { return i * 0.5; });
  RoundTripsWhole<std::pair<int64_t, int64_t>>([](int i) {
    return std::pair<int64_t, int64_t>{i, -i};
  });
  RoundTripsWhole<Triple>([](int i) { return Triple{i, i * 2, i * 3}; });
}
