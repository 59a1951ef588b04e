// Mutex, RWMutex, CondVar, WaitGroup, Once and Semaphore, from tasks and plain threads.
#include <gtest/gtest.h>

#include <weft/weft.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include "test_util.h"

namespace {

using namespace std::chrono_literals;
using weft_test::atomic_max;
using weft_test::Clock;
using weft_test::eventually;

// Runs body on `threads` plain threads and, meanwhile, in `tasks` tasks of one run(); returns
// once every call has returned.
template <class F>
void run_on_threads_and_tasks(int threads, int tasks, const F& body) {
  std::vector<std::thread> ths;
  for (int t = 0; t < threads; ++t) ths.emplace_back(body);
  weft::run([&] {
    weft::WaitGroup wg;
    for (int t = 0; t < tasks; ++t) {
      wg.add(1);
      weft::go([&] {
        body();
        wg.done();
      });
    }
    wg.wait();
  });
  for (auto& th : ths) th.join();
}

// ----- Mutex -----

TEST(Mutex, MutualExclusionTasksAndThreads) {
  constexpr int kTasks = 16, kThreads = 3, kIters = 20000;
  weft::Mutex mu;
  long counter = 0;  // deliberately not atomic
  std::atomic<int> inside{0}, max_inside{0};
  auto body = [&] {
    for (int i = 0; i < kIters; ++i) {
      mu.lock();
      int n = inside.fetch_add(1) + 1;
      atomic_max(max_inside, n);
      ++counter;
      if (i % 1000 == 0) weft::yield();  // hold the lock across a switch now and then
      inside.fetch_sub(1);
      mu.unlock();
    }
  };
  run_on_threads_and_tasks(kThreads, kTasks, body);
  EXPECT_EQ(counter, long{kTasks + kThreads} * kIters);
  EXPECT_EQ(max_inside.load(), 1);
}

TEST(Mutex, StdLockTypes) {
  weft::run([] {
    weft::Mutex a, b;
    {
      std::lock_guard<weft::Mutex> g(a);
      EXPECT_FALSE(a.try_lock());
    }
    EXPECT_TRUE(a.try_lock());
    a.unlock();
    {
      std::unique_lock<weft::Mutex> l(a);
      EXPECT_TRUE(l.owns_lock());
      l.unlock();
      EXPECT_TRUE(a.try_lock());
      a.unlock();
      l.lock();
      EXPECT_FALSE(a.try_lock());
    }
    {
      std::unique_lock<weft::Mutex> l(a, std::defer_lock);
      EXPECT_FALSE(l.owns_lock());
      EXPECT_TRUE(l.try_lock());
      std::unique_lock<weft::Mutex> l2(a, std::try_to_lock);
      EXPECT_FALSE(l2.owns_lock());
      std::unique_lock<weft::Mutex> l3(b, 5ms);  // timed constructor
      EXPECT_TRUE(l3.owns_lock());
    }
    {
      std::scoped_lock both(a, b);
      EXPECT_FALSE(a.try_lock());
      EXPECT_FALSE(b.try_lock());
    }
    EXPECT_TRUE(a.try_lock());
    EXPECT_TRUE(b.try_lock());
    a.unlock();
    b.unlock();
  });
}

TEST(Mutex, TryLock) {
  weft::Mutex mu;
  EXPECT_TRUE(mu.try_lock());
  EXPECT_FALSE(mu.try_lock());
  std::thread th([&] { EXPECT_FALSE(mu.try_lock()); });
  th.join();
  mu.unlock();
  EXPECT_TRUE(mu.try_lock());
  mu.unlock();
}

TEST(Mutex, UnlockOfUnlockedThrows) {
  weft::Mutex mu;
  EXPECT_THROW(mu.unlock(), std::logic_error);
  mu.lock();
  mu.unlock();
}

TEST(Mutex, TryLockForTimesOutWhenHeld) {
  weft::run([] {
    weft::Mutex mu;
    weft::Chan<int> locked, release;
    weft::go([&, locked, release]() mutable {
      mu.lock();
      locked.send(1);
      (void)release.recv();
      mu.unlock();
    });
    (void)locked.recv();
    for (auto d : {1ms, 20ms}) {
      auto start = Clock::now();
      EXPECT_FALSE(mu.try_lock_for(d));
      EXPECT_GE(Clock::now() - start, d);
    }
    auto start = Clock::now();
    EXPECT_FALSE(mu.try_lock_until(Clock::now() + 10ms));
    EXPECT_GE(Clock::now() - start, 10ms);
    // From a plain thread too.
    std::thread th([&] {
      auto t0 = Clock::now();
      EXPECT_FALSE(mu.try_lock_for(15ms));
      EXPECT_GE(Clock::now() - t0, 15ms);
    });
    weft::blocking([&] { th.join(); });
    release.send(1);
    // Succeeds once the holder lets go while we wait.
    EXPECT_TRUE(mu.try_lock_for(10s));
    mu.unlock();
  });
}

TEST(Mutex, TryLockForSucceedsWhenReleasedDuringWait) {
  weft::run([] {
    weft::Mutex mu;
    mu.lock();
    weft::go([&] {
      weft::sleep_for(10ms);
      mu.unlock();  // the lock is not tied to its locker
    });
    EXPECT_TRUE(mu.try_lock_for(10s));
    mu.unlock();
  });
}

TEST(Mutex, TimedOutWaiterDoesNotBreakTheLock) {
  weft::run([] {
    weft::Mutex mu;
    mu.lock();
    weft::WaitGroup wg;
    std::atomic<int> timeouts{0}, acquired{0};
    for (int i = 0; i < 20; ++i) {
      wg.add(1);
      weft::go([&, i] {
        if (i % 2) {
          if (!mu.try_lock_for(5ms)) timeouts++;
        } else {
          mu.lock();
          acquired++;
          mu.unlock();
        }
        wg.done();
      });
    }
    // Every timed waiter gives up while the lock is still held (however slowly they start).
    EXPECT_TRUE(eventually([&] { return timeouts.load() == 10; }, 60000ms));
    EXPECT_EQ(acquired.load(), 0);
    mu.unlock();
    wg.wait();
    EXPECT_EQ(timeouts.load(), 10);
    EXPECT_EQ(acquired.load(), 10);
    EXPECT_TRUE(mu.try_lock());
    mu.unlock();
  });
}

// ----- Mutex handed to one thread (biased) -----

// Takes mu kBiasAfter times and more from the calling thread, so that it is handed over to it.
void bias_to_this_thread(weft::Mutex& mu, long& counter) {
  for (uint32_t i = 0; i < 4 * weft::Mutex::kBiasAfter; ++i) {
    mu.lock();
    ++counter;
    mu.unlock();
  }
}

// Whether this build hands mutexes over (membarrier, and no ThreadSanitizer), found by trying
// on a plain thread once the runtime has started.
bool mutexes_are_biased() {
  weft::run([] {});
  const uint64_t before = weft::runtime_stats().mutex_biased_total;
  weft::Mutex mu;
  long counter = 0;
  std::thread([&] { bias_to_this_thread(mu, counter); }).join();
  return weft::runtime_stats().mutex_biased_total > before;
}

// While the owner thread holds a handed-over mutex, another thread waits for it, then takes it
// back; nobody is ever inside at the same time.
TEST(MutexBias, AnotherThreadWaitsForTheOwnerThenTakesItBack) {
  if (!mutexes_are_biased()) GTEST_SKIP() << "mutexes are not handed over in this build";
  weft::Mutex mu;
  long counter = 0;
  std::atomic<bool> inside{false}, holding{false};
  const weft::RuntimeStats before = weft::runtime_stats();
  std::thread owner([&] {
    bias_to_this_thread(mu, counter);
    mu.lock();
    inside = true;
    holding = true;
    std::this_thread::sleep_for(20ms);
    inside = false;
    mu.unlock();
  });
  while (!holding) std::this_thread::yield();
  std::thread other([&] {
    mu.lock();
    EXPECT_FALSE(inside.load());
    ++counter;
    mu.unlock();
  });
  owner.join();
  other.join();
  const weft::RuntimeStats after = weft::runtime_stats();
  EXPECT_GE(after.mutex_biased_total - before.mutex_biased_total, 1u);
  EXPECT_GE(after.mutex_bias_revoked_total - before.mutex_bias_revoked_total, 1u);
  EXPECT_EQ(counter, 4 * weft::Mutex::kBiasAfter + 1);
  // Ordinary again: both threads still take it.
  std::thread([&] { std::lock_guard<weft::Mutex> g(mu); }).join();
  std::lock_guard<weft::Mutex> g(mu);
}

// A hold taken through the bias ends on another thread (as Go allows): the mutex is free again
// for everyone, the owner thread included.
TEST(MutexBias, HoldEndedOnAnotherThread) {
  if (!mutexes_are_biased()) GTEST_SKIP() << "mutexes are not handed over in this build";
  weft::Mutex mu;
  long counter = 0;
  std::atomic<int> step{0};
  std::thread owner([&] {
    bias_to_this_thread(mu, counter);
    mu.lock();  // through the bias
    step = 1;
    while (step != 2) std::this_thread::yield();
    EXPECT_FALSE(mu.try_lock());  // the other thread has not unlocked yet
    step = 3;
    while (step != 4) std::this_thread::yield();
    mu.lock();  // free again: must not wait forever
    ++counter;
    mu.unlock();
  });
  std::thread other([&] {
    while (step != 1) std::this_thread::yield();
    EXPECT_FALSE(mu.try_lock());
    step = 2;
    while (step != 3) std::this_thread::yield();
    mu.unlock();  // ends the owner's hold
    step = 4;
  });
  owner.join();
  other.join();
  EXPECT_EQ(counter, 4 * weft::Mutex::kBiasAfter + 1);
  EXPECT_TRUE(mu.try_lock());
  mu.unlock();
  EXPECT_THROW(mu.unlock(), std::logic_error);
}

// A plain thread that has mu handed over to it, takes it through the bias, and then stays
// alive (so that no thread started meanwhile gets its tag) until finish(), which ends it; with
// unlock_at_finish it unlocks mu first.
class BiasedHolder {
 public:
  BiasedHolder(weft::Mutex& mu, long& counter, bool unlock_at_finish)
      : thread_([this, &mu, &counter, unlock_at_finish] {
          bias_to_this_thread(mu, counter);
          mu.lock();
          step_ = 1;
          while (step_ != 2) std::this_thread::yield();
          if (unlock_at_finish) mu.unlock();
        }) {
    while (step_ != 1) std::this_thread::yield();
  }
  void finish() {
    step_ = 2;
    thread_.join();
  }

 private:
  std::atomic<int> step_{0};
  std::thread thread_;
};

// The owner thread takes a handed-over mutex through the bias and another thread unlocks it
// (as Go allows), with the bias still in place: the hold ends, the bias is taken back, and the
// mutex is free for everyone.
TEST(MutexBias, UnlockOnAnotherThreadWhileBiased) {
  if (!mutexes_are_biased()) GTEST_SKIP() << "mutexes are not handed over in this build";
  weft::Mutex mu;
  long counter = 0;
  const uint64_t before = weft::runtime_stats().mutex_bias_revoked_total;
  BiasedHolder owner(mu, counter, /*unlock_at_finish=*/false);
  EXPECT_EQ(weft::runtime_stats().mutex_bias_revoked_total, before);
  std::thread([&] { mu.unlock(); }).join();
  EXPECT_EQ(weft::runtime_stats().mutex_bias_revoked_total - before, 1u);
  owner.finish();
  std::thread([&] {
    EXPECT_TRUE(mu.try_lock());
    mu.unlock();
  }).join();
  EXPECT_TRUE(mu.try_lock());
  mu.unlock();
  EXPECT_THROW(mu.unlock(), std::logic_error);
}

// A try_lock from another thread that finds the owner thread holding a handed-over mutex fails
// and leaves the bias in place.
TEST(MutexBias, TryLockFromAnotherThreadFailsWhileHeld) {
  if (!mutexes_are_biased()) GTEST_SKIP() << "mutexes are not handed over in this build";
  weft::Mutex mu;
  long counter = 0;
  BiasedHolder owner(mu, counter, /*unlock_at_finish=*/true);
  const uint64_t before = weft::runtime_stats().mutex_bias_revoked_total;
  EXPECT_FALSE(mu.try_lock());
  EXPECT_EQ(weft::runtime_stats().mutex_bias_revoked_total, before);
  owner.finish();
  EXPECT_TRUE(mu.try_lock());  // free now: taken back from the owner thread
  mu.unlock();
}

// Each revocation interrupts every CPU running the process, so their rate is capped: past the
// budget (100 in 100 ms), no mutex is handed over until the window ends. One thread has mutex
// after mutex handed to it and another takes each back at once, as fast as they can.
TEST(MutexBias, RevocationsPastTheBudgetStopNewHandOvers) {
  if (!mutexes_are_biased()) GTEST_SKIP() << "mutexes are not handed over in this build";
  weft::run([] {});  // let an earlier test's window pass first
  std::this_thread::sleep_for(150ms);
  constexpr int kMutexes = 400;
  std::vector<std::unique_ptr<weft::Mutex>> mutexes;
  for (int i = 0; i < kMutexes; ++i) mutexes.push_back(std::make_unique<weft::Mutex>());
  std::atomic<int> handed{-1}, taken{-1};  // kMutexes in handed: no more
  std::atomic<bool> refused{false};
  const auto start = Clock::now();
  std::thread owner([&] {
    long counter = 0;
    for (int i = 0; i < kMutexes && !refused; ++i) {
      const uint64_t before = weft::runtime_stats().mutex_biased_total;
      bias_to_this_thread(*mutexes[static_cast<std::size_t>(i)], counter);
      if (weft::runtime_stats().mutex_biased_total == before) refused = true;
      handed = i;
      while (taken != i) std::this_thread::yield();
    }
    handed = kMutexes;
  });
  std::thread revoker([&] {
    for (int i = 0;; ++i) {
      while (handed < i) std::this_thread::yield();
      if (handed == kMutexes) return;
      std::lock_guard<weft::Mutex> g(*mutexes[static_cast<std::size_t>(i)]);  // takes it back
      taken = i;
    }
  });
  owner.join();
  revoker.join();
  const auto took = Clock::now() - start;
  // The budget's window, and everything afterwards, starts clean for the tests after this one.
  std::this_thread::sleep_for(150ms);
  if (!refused && took > 300ms) GTEST_SKIP() << "too slow here to spend the budget in a window";
  EXPECT_TRUE(refused.load());
}

// One task of the owner thread holds a handed-over mutex across a park; another task of the
// same thread wants it meanwhile and waits (the owner thread's fast path does not let it in).
TEST(MutexBias, HeldAcrossAParkOnTheOwnerThread) {
  if (!mutexes_are_biased()) GTEST_SKIP() << "mutexes are not handed over in this build";
  weft::RuntimeOptions opts;
  opts.max_procs = 1;
  weft::run(
      [] {
        weft::Mutex mu;
        long counter = 0;
        bias_to_this_thread(mu, counter);
        std::atomic<bool> inside{false}, second_in{false};
        mu.lock();
        inside = true;
        weft::WaitGroup wg;
        wg.add(1);
        weft::go([&] {
          EXPECT_FALSE(mu.try_lock());
          mu.lock();
          EXPECT_FALSE(inside.load());
          second_in = true;
          ++counter;
          mu.unlock();
          wg.done();
        });
        weft::sleep_for(10ms);  // parks holding the mutex; the other task runs and waits
        EXPECT_FALSE(second_in.load());
        inside = false;
        mu.unlock();
        wg.wait();
        EXPECT_TRUE(second_in.load());
        EXPECT_EQ(counter, 4 * weft::Mutex::kBiasAfter + 1);
      },
      opts);
}

// An unlock of a handed-over mutex that nobody holds is caught, as for any other.
TEST(MutexBias, UnlockOfUnlockedThrows) {
  if (!mutexes_are_biased()) GTEST_SKIP() << "mutexes are not handed over in this build";
  weft::Mutex mu;
  long counter = 0;
  std::thread([&] {
    bias_to_this_thread(mu, counter);
    EXPECT_THROW(mu.unlock(), std::logic_error);
    mu.lock();
    mu.unlock();
  }).join();
  EXPECT_THROW(mu.unlock(), std::logic_error);
}

// A thread that takes the mutex in long runs (so it is handed over again and again), tasks on
// every processor and another thread taking it now and then: no update is lost and nobody is
// ever inside together.
TEST(MutexBias, HandOversUnderMixedLoadLoseNothing) {
  constexpr int kRuns = 40, kRun = 1000, kTasks = 6, kPerTask = 3000, kPerThread = 2000;
  weft::Mutex mu;
  long counter = 0;
  std::atomic<int> inside{0}, overlaps{0};
  auto critical = [&] {
    if (inside.fetch_add(1) != 0) overlaps++;
    ++counter;
    inside.fetch_sub(1);
  };
  weft::run([] {});
  const weft::RuntimeStats before = weft::runtime_stats();
  std::thread runner([&] {
    for (int r = 0; r < kRuns; ++r) {
      for (int i = 0; i < kRun; ++i) {
        std::lock_guard<weft::Mutex> g(mu);
        critical();
      }
      std::this_thread::sleep_for(200us);
    }
  });
  std::thread sometimes([&] {
    for (int i = 0; i < kPerThread; ++i) {
      {
        std::lock_guard<weft::Mutex> g(mu);
        critical();
      }
      if (i % 16 == 0) std::this_thread::sleep_for(50us);
    }
  });
  weft::run([&] {
    weft::WaitGroup wg;
    for (int t = 0; t < kTasks; ++t) {
      wg.add(1);
      weft::go([&, t] {
        for (int i = 0; i < kPerTask; ++i) {
          std::lock_guard<weft::Mutex> g(mu);
          critical();
          if ((i + t) % 64 == 0) weft::yield();  // sometimes park holding it
        }
        wg.done();
      });
    }
    wg.wait();
  });
  runner.join();
  sometimes.join();
  EXPECT_EQ(overlaps.load(), 0);
  EXPECT_EQ(counter, long{kRuns} * kRun + long{kTasks} * kPerTask + kPerThread);
  const weft::RuntimeStats after = weft::runtime_stats();
  // Every hand-over taken back is one made before.
  EXPECT_LE(after.mutex_bias_revoked_total - before.mutex_bias_revoked_total,
            after.mutex_biased_total - before.mutex_biased_total);
  if (mutexes_are_biased()) {
    // The runner's runs (1000 in a row, then a pause) outlast the first few thresholds (64,
    // 128, 256, 512), so the mutex was handed over and taken back under the load.
    EXPECT_GE(after.mutex_biased_total - before.mutex_biased_total, 1u);
    EXPECT_GE(after.mutex_bias_revoked_total - before.mutex_bias_revoked_total, 1u);
  }
}

// ----- RWMutex -----

TEST(RWMutex, ReadersShare) {
  weft::run([] {
    constexpr int kReaders = 8;
    weft::RWMutex rw;
    std::atomic<int> inside{0}, max_inside{0}, arrived{0};
    weft::WaitGroup wg;
    for (int i = 0; i < kReaders; ++i) {
      wg.add(1);
      weft::go([&] {
        {
          std::shared_lock<weft::RWMutex> l(rw);
          atomic_max(max_inside, inside.fetch_add(1) + 1);
          arrived++;
          // Stay inside until every reader got in (or give up after a while).
          eventually([&] { return arrived.load() == kReaders; }, 3000ms);
          inside.fetch_sub(1);
        }
        wg.done();
      });
    }
    wg.wait();
    EXPECT_EQ(max_inside.load(), kReaders);
    // With readers in, try_lock_shared works and try_lock fails.
    rw.lock_shared();
    EXPECT_TRUE(rw.try_lock_shared());
    EXPECT_FALSE(rw.try_lock());
    rw.unlock_shared();
    rw.unlock_shared();
    ASSERT_TRUE(rw.try_lock());
    rw.unlock();
  });
}

TEST(RWMutex, WriterExcludes) {
  weft::run([] {
    weft::RWMutex rw;
    long value = 0;
    std::atomic<int> writers_in{0}, readers_in{0};
    std::atomic<bool> bad{false};
    weft::WaitGroup wg;
    for (int t = 0; t < 12; ++t) {
      wg.add(1);
      weft::go([&, t] {
        for (int i = 0; i < 2000; ++i) {
          if (t % 3 == 0) {
            std::unique_lock<weft::RWMutex> l(rw);
            if (writers_in.fetch_add(1) != 0 || readers_in.load() != 0) bad = true;
            ++value;
            if (i % 200 == 0) weft::yield();
            writers_in.fetch_sub(1);
          } else {
            std::shared_lock<weft::RWMutex> l(rw);
            readers_in.fetch_add(1);
            if (writers_in.load() != 0) bad = true;
            if (i % 200 == 0) weft::yield();
            readers_in.fetch_sub(1);
          }
        }
        wg.done();
      });
    }
    wg.wait();
    EXPECT_FALSE(bad.load());
    EXPECT_EQ(value, 4 * 2000);

    // While a writer holds it, readers wait.
    rw.lock();
    EXPECT_FALSE(rw.try_lock_shared());
    EXPECT_FALSE(rw.try_lock());
    std::atomic<bool> read{false};
    weft::go([&] {
      rw.lock_shared();
      read = true;
      rw.unlock_shared();
    });
    weft::sleep_for(20ms);
    EXPECT_FALSE(read.load());
    rw.unlock();
    EXPECT_TRUE(eventually([&] { return read.load(); }));
  });
}

TEST(RWMutex, WriterNotStarvedByStreamOfReaders) {
  weft::run([] {
    weft::RWMutex rw;
    std::atomic<bool> stop{false};
    std::atomic<long> reads{0};
    weft::WaitGroup readers;
    // Overlapping readers: at every moment some reader holds the lock.
    for (int i = 0; i < 6; ++i) {
      readers.add(1);
      weft::go([&, i] {
        weft::sleep_for(std::chrono::microseconds(300 * i));
        while (!stop.load()) {
          rw.lock_shared();
          reads++;
          weft::sleep_for(2ms);
          rw.unlock_shared();
        }
        readers.done();
      });
    }
    EXPECT_TRUE(eventually([&] { return reads.load() > 20; }));
    weft::Chan<int> got(1);
    weft::go([&, got]() mutable {
      rw.lock();
      got.send(1);
      rw.unlock();
    });
    bool acquired = false;
    weft::select(weft::on_recv(got, [&](std::optional<int>) { acquired = true; }),
                 weft::on_timeout(3s));
    EXPECT_TRUE(acquired) << "the writer waited 3 s behind a stream of readers";
    stop = true;
    readers.wait();
    if (!acquired) (void)got.recv();
  });
}

TEST(RWMutex, MisuseThrows) {
  weft::RWMutex rw;
  EXPECT_THROW(rw.unlock(), std::logic_error);
  EXPECT_THROW(rw.unlock_shared(), std::logic_error);
}

TEST(RWMutex, FromPlainThreads) {
  weft::RWMutex rw;
  long value = 0;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 5000; ++i) {
        if (t % 2) {
          std::lock_guard<weft::RWMutex> l(rw);
          ++value;
        } else {
          std::shared_lock<weft::RWMutex> l(rw);
          EXPECT_GE(value, 0);
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(value, 2 * 5000);
}

// ----- CondVar -----

TEST(CondVar, WaitNotifyOne) {
  weft::run([] {
    weft::Mutex mu;
    weft::CondVar cv;
    int stage = 0;
    weft::WaitGroup wg;
    wg.add(1);
    weft::go([&] {
      std::unique_lock<weft::Mutex> l(mu);
      cv.wait(l, [&] { return stage == 1; });
      stage = 2;
      l.unlock();
      cv.notify_one();
      wg.done();
    });
    weft::sleep_for(5ms);
    {
      std::lock_guard<weft::Mutex> l(mu);
      stage = 1;
    }
    cv.notify_one();
    std::unique_lock<weft::Mutex> l(mu);
    cv.wait(l, [&] { return stage == 2; });
    EXPECT_EQ(stage, 2);
    l.unlock();
    wg.wait();
  });
}

TEST(CondVar, NotifyOneWakesOneAtATime) {
  weft::run([] {
    constexpr int kWaiters = 10;
    weft::Mutex mu;
    weft::CondVar cv;
    int tokens = 0, waiting = 0;
    std::atomic<int> woke{0};
    weft::WaitGroup wg;
    for (int i = 0; i < kWaiters; ++i) {
      wg.add(1);
      weft::go([&] {
        std::unique_lock<weft::Mutex> l(mu);
        ++waiting;
        cv.wait(l, [&] { return tokens > 0; });
        --tokens;
        woke++;
        l.unlock();
        wg.done();
      });
    }
    ASSERT_TRUE(eventually([&] {
      std::lock_guard<weft::Mutex> l(mu);
      return waiting == kWaiters;
    }));
    for (int i = 1; i <= kWaiters; ++i) {
      {
        std::lock_guard<weft::Mutex> l(mu);
        ++tokens;
      }
      cv.notify_one();
      ASSERT_TRUE(eventually([&] { return woke.load() == i; }));
    }
    wg.wait();
    EXPECT_EQ(woke.load(), kWaiters);
  });
}

TEST(CondVar, NotifyAllWakesEveryone) {
  weft::run([] {
    constexpr int kWaiters = 50;
    weft::Mutex mu;
    weft::CondVar cv;
    bool go = false;
    int waiting = 0;
    std::atomic<int> woke{0};
    weft::WaitGroup wg;
    for (int i = 0; i < kWaiters; ++i) {
      wg.add(1);
      weft::go([&] {
        std::unique_lock<weft::Mutex> l(mu);
        ++waiting;
        while (!go) cv.wait(l);
        woke++;
        l.unlock();
        wg.done();
      });
    }
    // A plain thread waits too, with the Mutex itself as the lock.
    std::thread th([&] {
      mu.lock();
      ++waiting;
      while (!go) cv.wait(mu);
      mu.unlock();
      woke++;
    });
    ASSERT_TRUE(eventually([&] {
      std::lock_guard<weft::Mutex> l(mu);
      return waiting == kWaiters + 1;
    }));
    EXPECT_EQ(woke.load(), 0);
    {
      std::lock_guard<weft::Mutex> l(mu);
      go = true;
    }
    cv.notify_all();
    wg.wait();
    weft::blocking([&] { th.join(); });
    EXPECT_EQ(woke.load(), kWaiters + 1);
  });
}

TEST(CondVar, WaitForTimesOut) {
  weft::run([] {
    weft::Mutex mu;
    weft::CondVar cv;
    std::unique_lock<weft::Mutex> l(mu);
    auto start = Clock::now();
    EXPECT_FALSE(cv.wait_for(l, 20ms));
    EXPECT_GE(Clock::now() - start, 20ms);
    EXPECT_TRUE(l.owns_lock());
    EXPECT_FALSE(mu.try_lock());  // re-acquired
    start = Clock::now();
    EXPECT_FALSE(cv.wait_for(l, 15ms, [] { return false; }));
    EXPECT_GE(Clock::now() - start, 15ms);
    EXPECT_TRUE(cv.wait_for(l, 1ms, [] { return true; }));
  });
}

TEST(CondVar, WaitForNotifiedBeforeTimeout) {
  weft::run([] {
    weft::Mutex mu;
    weft::CondVar cv;
    bool ready = false;
    weft::go([&] {
      weft::sleep_for(5ms);
      std::lock_guard<weft::Mutex> l(mu);
      ready = true;
      cv.notify_all();
    });
    std::unique_lock<weft::Mutex> l(mu);
    EXPECT_TRUE(cv.wait_for(l, 10s, [&] { return ready; }));
  });
}

TEST(CondVar, NotifyWithoutWaitersIsHarmless) {
  weft::CondVar cv;
  cv.notify_one();
  cv.notify_all();
}

// ----- WaitGroup -----

TEST(WaitGroup, WaitForAll) {
  weft::run([] {
    weft::WaitGroup wg;
    std::atomic<int> done{0};
    wg.add(30);
    EXPECT_EQ(wg.count(), 30);
    for (int i = 0; i < 30; ++i) {
      weft::go([&, i] {
        weft::sleep_for(std::chrono::milliseconds(i % 5));
        done++;
        wg.done();
      });
    }
    wg.wait();
    EXPECT_EQ(done.load(), 30);
    EXPECT_EQ(wg.count(), 0);
    wg.wait();  // zero: returns at once
  });
}

TEST(WaitGroup, ManyWaitersTasksAndThreads) {
  weft::WaitGroup wg;
  wg.add(1);
  std::atomic<int> released{0};
  std::thread th([&] {
    wg.wait();
    released++;
  });
  weft::run([&] {
    weft::WaitGroup inner;
    for (int i = 0; i < 10; ++i) {
      inner.add(1);
      weft::go([&] {
        wg.wait();
        released++;
        inner.done();
      });
    }
    weft::sleep_for(10ms);
    EXPECT_EQ(released.load(), 0);
    wg.done();
    inner.wait();
  });
  th.join();
  EXPECT_EQ(released.load(), 11);
}

TEST(WaitGroup, MisuseIsCaught) {
  weft::WaitGroup wg;
  EXPECT_THROW(wg.done(), std::logic_error);
  EXPECT_EQ(wg.count(), 0);
  wg.add(2);
  wg.done();
  wg.done();
  EXPECT_THROW(wg.done(), std::logic_error);
  EXPECT_EQ(wg.count(), 0);
  wg.add(1);
  EXPECT_THROW(wg.add(-2), std::logic_error);
  EXPECT_EQ(wg.count(), 1);
  wg.done();
  wg.wait();
}

TEST(WaitGroup, Reuse) {
  weft::run([] {
    weft::WaitGroup wg;
    for (int round = 0; round < 20; ++round) {
      std::atomic<int> n{0};
      for (int i = 0; i < 5; ++i) {
        wg.add(1);
        weft::go([&] {
          n++;
          wg.done();
        });
      }
      wg.wait();
      EXPECT_EQ(n.load(), 5);
    }
  });
}

// ----- Once -----

TEST(Once, RunsOnceUnderConcurrency) {
  weft::Once once;
  std::atomic<int> calls{0};
  std::atomic<int> value{0};
  std::atomic<int> saw_unset{0};
  auto caller = [&] {
    once.call([&] {
      calls++;
      weft::sleep_for(20ms);  // others arrive while this runs
      value = 42;
    });
    if (value.load() != 42) saw_unset++;  // every caller returns after the call finished
  };
  run_on_threads_and_tasks(3, 40, caller);
  EXPECT_EQ(calls.load(), 1);
  EXPECT_EQ(saw_unset.load(), 0);
  EXPECT_TRUE(once.done());
}

TEST(Once, RetriesAfterThrow) {
  weft::run([] {
    weft::Once once;
    int calls = 0;
    EXPECT_FALSE(once.done());
    EXPECT_THROW(once.call([&] {
      ++calls;
      throw std::runtime_error("first try fails");
    }),
                 std::runtime_error);
    EXPECT_FALSE(once.done());
    once.call([&] { ++calls; });
    EXPECT_TRUE(once.done());
    once.call([&] { ++calls; });
    EXPECT_EQ(calls, 2);
  });
}

TEST(Once, WaitersRetryWhenTheFirstCallThrows) {
  weft::run([] {
    weft::Once once;
    std::atomic<int> calls{0}, threw{0}, succeeded{0};
    weft::WaitGroup wg;
    for (int i = 0; i < 10; ++i) {
      wg.add(1);
      weft::go([&] {
        try {
          once.call([&] {
            int n = calls.fetch_add(1);
            weft::sleep_for(5ms);
            if (n == 0) throw std::runtime_error("no");
          });
          succeeded++;
        } catch (const std::runtime_error&) {
          threw++;
        }
        wg.done();
      });
    }
    wg.wait();
    EXPECT_EQ(threw.load(), 1);
    EXPECT_EQ(calls.load(), 2);
    EXPECT_EQ(succeeded.load(), 9);
    EXPECT_TRUE(once.done());
  });
}

// ----- Semaphore -----

TEST(Semaphore, AcquireRelease) {
  weft::Semaphore s(3);
  EXPECT_EQ(s.available(), 3);
  s.acquire();
  s.acquire(2);
  EXPECT_EQ(s.available(), 0);
  EXPECT_FALSE(s.try_acquire());
  s.release(2);
  EXPECT_EQ(s.available(), 2);
  EXPECT_FALSE(s.try_acquire(3));
  EXPECT_TRUE(s.try_acquire(2));
  EXPECT_FALSE(s.try_acquire());
  s.release();
  {
    std::lock_guard<weft::Semaphore> g(s);  // Lockable: one unit
    EXPECT_EQ(s.available(), 0);
  }
  EXPECT_EQ(s.available(), 1);
}

TEST(Semaphore, LimitsConcurrency) {
  weft::run([] {
    weft::Semaphore s(3);
    std::atomic<int> inside{0}, max_inside{0};
    weft::WaitGroup wg;
    for (int i = 0; i < 30; ++i) {
      wg.add(1);
      weft::go([&] {
        s.acquire();
        atomic_max(max_inside, inside.fetch_add(1) + 1);
        weft::sleep_for(1ms);
        inside.fetch_sub(1);
        s.release();
        wg.done();
      });
    }
    wg.wait();
    EXPECT_LE(max_inside.load(), 3);
    EXPECT_GE(max_inside.load(), 1);
    EXPECT_EQ(s.available(), 3);
  });
}

TEST(Semaphore, AcquireWaitsForRelease) {
  weft::run([] {
    weft::Semaphore s(0);
    std::atomic<bool> got{false};
    weft::go([&] {
      s.acquire(2);
      got = true;
    });
    weft::sleep_for(10ms);
    EXPECT_FALSE(got.load());
    s.release();
    weft::sleep_for(10ms);
    EXPECT_FALSE(got.load());  // one unit is not enough
    s.release();
    EXPECT_TRUE(eventually([&] { return got.load(); }));
    EXPECT_EQ(s.available(), 0);
  });
}

TEST(Semaphore, TryAcquireFor) {
  weft::run([] {
    weft::Semaphore s(0);
    auto start = Clock::now();
    EXPECT_FALSE(s.try_acquire_for(20ms));
    EXPECT_GE(Clock::now() - start, 20ms);
    EXPECT_EQ(s.available(), 0);  // took nothing
    weft::go([&] {
      weft::sleep_for(5ms);
      s.release(2);
    });
    EXPECT_TRUE(s.try_acquire_for(10s, 2));
    EXPECT_EQ(s.available(), 0);
  });
}

TEST(Semaphore, FifoWaiters) {
  weft::run([] {
    weft::Semaphore s(0);
    std::vector<int> order;
    weft::Mutex mu;
    weft::WaitGroup wg;
    auto got = [&] {
      std::lock_guard<weft::Mutex> l(mu);
      return order.size();
    };
    for (int i = 0; i < 5; ++i) {
      wg.add(1);
      weft::go([&, i] {
        s.acquire();
        {
          std::lock_guard<weft::Mutex> l(mu);
          order.push_back(i);
        }
        wg.done();
      });
      weft::sleep_for(3ms);  // queue them in order
    }
    // One unit at a time: each goes to the longest waiter.
    for (std::size_t k = 1; k <= 5; ++k) {
      s.release(1);
      ASSERT_TRUE(eventually([&] { return got() == k; }));
    }
    wg.wait();
    EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4}));
    // try_acquire does not jump the queue while someone waits.
    wg.add(1);
    weft::go([&] {
      s.acquire(2);
      wg.done();
    });
    weft::sleep_for(5ms);
    s.release(1);
    EXPECT_FALSE(s.try_acquire());
    s.release(1);
    wg.wait();
    EXPECT_EQ(s.available(), 0);
  });
}

// A waiter at the head of the queue that gives up must not keep the units from the waiters
// behind it.
TEST(Semaphore, TimedOutHeadWaiterDoesNotBlockOthers) {
  weft::run([] {
    weft::Semaphore s(3);
    std::atomic<bool> big_result{true};
    weft::WaitGroup wg;
    wg.add(1);
    weft::go([&] {
      big_result = s.try_acquire_for(20ms, 5);  // cannot be satisfied: 3 < 5
      wg.done();
    });
    weft::sleep_for(5ms);  // the big waiter is queued first
    auto start = Clock::now();
    bool small = s.try_acquire_for(2s, 1);  // 3 units are free once the big waiter leaves
    auto waited = Clock::now() - start;
    wg.wait();
    EXPECT_FALSE(big_result.load());
    EXPECT_TRUE(small) << "waited "
                       << std::chrono::duration_cast<std::chrono::milliseconds>(waited).count()
                       << " ms with " << s.available() << " units available";
    EXPECT_EQ(s.available(), small ? 2 : 3);
  });
}

TEST(Semaphore, FromPlainThreads) {
  weft::Semaphore s(1);
  long counter = 0;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 5000; ++i) {
        s.acquire();
        ++counter;
        s.release();
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(counter, 4 * 5000);
  EXPECT_EQ(s.available(), 1);
}

}  // namespace

namespace {

// wait() may return (and the WaitGroup be destroyed) while the last done() is still returning:
// done() must not touch the group after the counter reaches zero with nobody waiting. ASan
// catches a use after free here if it does.
TEST(WaitGroup, DestroyedRightAfterWaitReturns) {
  weft::run([] {
    for (int i = 0; i < 2000; ++i) {
      auto wg = std::make_unique<weft::WaitGroup>();
      wg->add(1);
      weft::WaitGroup* raw = wg.get();
      weft::go([raw] { raw->done(); });
      if (i % 2 == 0) weft::yield();  // sometimes the done() comes first, sometimes wait()
      wg->wait();
      wg.reset();
    }
  });
}

}  // namespace
