// Tasks: go, run, yield, task ids, the task dump and per-task exception state.
#include <gtest/gtest.h>
#include <unistd.h>
#include <weft/weft.h>

#include <signal.h>

#include <array>
#include <atomic>
#include <cfenv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "test_util.h"

namespace {

using namespace std::chrono_literals;
using weft_test::eventually;
using weft_test::ping_pong;
using weft_test::StderrCapture;
using weft_test::Watchdog;

// ----- go and run -----

TEST(Task, GoFromTask) {
  weft::run([] {
    // A tree of tasks: each spawns children from inside a task.
    std::atomic<int> ran{0};
    weft::WaitGroup wg;
    std::function<void(int)> spawn_tree = [&](int depth) {
      wg.add(1);
      weft::go([&, depth] {
        ran++;
        if (depth < 3)
          for (int i = 0; i < 5; ++i) spawn_tree(depth + 1);
        wg.done();
      });
    };
    spawn_tree(0);
    wg.wait();
    EXPECT_EQ(ran.load(), 1 + 5 + 25 + 125);
  });
}

// The floating-point control state (rounding mode, in MXCSR and the x87 control word) is
// callee-saved in the ABI: each task keeps its own across switches, whichever thread resumes it.
TEST(Task, FloatingPointRoundingModeIsPerTask) {
  weft::run([] {
    constexpr int kRounds = 200;
    std::atomic<int> wrong{0};
    weft::WaitGroup wg;
    const int modes[] = {FE_UPWARD, FE_DOWNWARD, FE_TOWARDZERO, FE_TONEAREST};
    for (int mode : modes) {
      wg.add(1);
      weft::go([&, mode] {
        std::fesetround(mode);
        for (int r = 0; r < kRounds; ++r) {
          weft::yield();
          if (std::fegetround() != mode) wrong.fetch_add(1);
          // An inexact operation sets MXCSR's sticky flags; they must not leak into the mode.
          volatile double x = 1.0;
          x = x / 3.0;
        }
        std::fesetround(FE_TONEAREST);
        wg.done();
      });
    }
    wg.wait();
    EXPECT_EQ(wrong.load(), 0);
    EXPECT_EQ(std::fegetround(), FE_TONEAREST);
  });
}

TEST(Task, GoFromPlainThread) {
  weft::Chan<uint64_t> c(16);
  // Before any run(): go() starts the runtime itself.
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([c]() {
      EXPECT_EQ(weft::task_id(), 0u);
      for (int i = 0; i < 4; ++i) weft::go([c]() mutable { c.send(weft::task_id()); });
    });
  }
  for (auto& th : threads) th.join();
  std::set<uint64_t> ids;
  weft::run([&] {
    for (int i = 0; i < 16; ++i) ids.insert(*c.recv());
  });
  EXPECT_EQ(ids.size(), 16u);
  EXPECT_EQ(ids.count(0), 0u);
}

TEST(Task, GoWithLargeAndMoveOnlyCallables) {
  weft::run([] {
    weft::Chan<long> out(2);
    std::array<long, 64> big{};
    for (int i = 0; i < 64; ++i) big[static_cast<std::size_t>(i)] = i;
    weft::go([big, out]() mutable {  // larger than the inline buffer
      long s = 0;
      for (long v : big) s += v;
      out.send(s);
    });
    weft::go([p = std::make_unique<long>(99), out]() mutable { out.send(*p); });
    long a = *out.recv(), b = *out.recv();
    EXPECT_EQ(a + b, 2016 + 99);
  });
}

TEST(Task, CallableDestroyedWhenTaskEnds) {
  weft::run([] {
    auto token = std::make_shared<int>(1);
    weft::Chan<int> done;
    weft::go([token, done]() mutable { done.send(*token); });
    EXPECT_EQ(done.recv(), 1);
    EXPECT_TRUE(eventually([&] { return token.use_count() == 1; }));
  });
}

TEST(Task, RunRethrowsMainTaskException) {
  try {
    weft::run([] { throw std::runtime_error("main task failed"); });
    ADD_FAILURE() << "run() returned normally";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "main task failed");
  }
  struct MyError {
    int code;
  };
  try {
    weft::run([] {
      weft::sleep_for(1ms);  // throw after a switch, maybe on another thread
      weft::yield();
      throw MyError{7};
    });
    ADD_FAILURE() << "run() returned normally";
  } catch (const MyError& e) {
    EXPECT_EQ(e.code, 7);
  }
  EXPECT_THROW(weft::run([] {
                 weft::Chan<int> c;
                 c.close();
                 c.close();
               }),
               weft::ChanClosedError);
  int x = 0;
  weft::run([&] { x = 1; });  // still usable
  EXPECT_EQ(x, 1);
}

TEST(Task, RunTwiceSequentially) {
  weft::Chan<int> c(1);
  uint64_t first = 0, second = 0;
  weft::run([&] {
    first = weft::task_id();
    // Outlives this run(): still alive when the next one starts.
    weft::go([c]() mutable {
      weft::sleep_for(20ms);
      c.send(5);
    });
  });
  weft::run([&] {
    second = weft::task_id();
    EXPECT_EQ(c.recv(), 5);
  });
  EXPECT_NE(first, 0u);
  EXPECT_NE(second, 0u);
  EXPECT_NE(first, second);
}

TEST(Task, RunConcurrentlyFromThreads) {
  constexpr int kThreads = 4;
  std::atomic<int> total{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] { weft::run([&] { total += ping_pong(200); }); });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(total.load(), kThreads * 200);
}

TEST(Task, RunInsideTaskJustCalls) {
  weft::run([] {
    uint64_t outer = weft::task_id();
    bool ran = false;
    weft::run([&] {
      ran = true;
      EXPECT_EQ(weft::task_id(), outer);
    });
    EXPECT_TRUE(ran);
    EXPECT_THROW(weft::run([] { throw std::runtime_error("inner"); }), std::runtime_error);
  });
}

TEST(Task, MaxProcs) {
  weft::run([] {
    EXPECT_GE(weft::max_procs(), 1);
    if (const char* e = std::getenv("WEFT_MAXPROCS")) {
      EXPECT_EQ(weft::max_procs(), std::atoi(e));
    }
  });
  EXPECT_GE(weft::max_procs(), 1);  // still running after run() returns
}

// ----- yield -----

TEST(Task, YieldLetsOthersRun) {
  Watchdog dog("yield never let the other task run", std::chrono::seconds(20));
  weft::run([] {
    std::atomic<bool> flag{false};
    weft::go([&] { flag = true; });
    int spins = 0;
    while (!flag.load()) {
      weft::yield();
      ++spins;
    }
    EXPECT_TRUE(flag.load());
  });
}

// More tasks than processors, each yielding until all have arrived: only yield lets the later
// ones run, and nobody is reported as running without yielding.
TEST(Task, YieldRendezvousMoreTasksThanProcs) {
  Watchdog dog("yield did not let every task run", std::chrono::seconds(20));
  StderrCapture cap;
  cap.start();
  weft::run([] {
    const int n = 8 * std::max(1, weft::max_procs());
    std::atomic<int> arrived{0};
    std::atomic<long> yields{0};
    weft::WaitGroup wg;
    for (int i = 0; i < n; ++i) {
      wg.add(1);
      weft::go([&, n] {
        arrived++;
        while (arrived.load() < n) {
          weft::yield();
          yields++;
        }
        wg.done();
      });
    }
    wg.wait();
    EXPECT_EQ(arrived.load(), n);
  });
  std::string err = cap.stop();
  EXPECT_EQ(err.find("without yielding"), std::string::npos) << err;
}

// A task that sleeps in the kernel (a blocking call outside weft::blocking) holds its
// processor as surely as a spinning one; the warning says which of the two it was.
TEST(Task, BlockingCallOutsideBlockingIsReportedAsBlocked) {
  StderrCapture cap;
  cap.start();
  weft::run([] {
    weft::go([] {});  // something queued behind the sleeper, to be moved elsewhere
    ::usleep(300'000);
  });
  std::string err = cap.stop();
  EXPECT_NE(err.find("task blocked in the kernel without yielding"), std::string::npos) << err;
  EXPECT_EQ(err.find("task ran without yielding"), std::string::npos) << err;
}

TEST(Task, YieldOnPlainThread) {
  weft::yield();  // just yields the thread
  std::thread th([] { weft::yield(); });
  th.join();
}

// ----- task ids -----

TEST(Task, TaskIdUniqueNonzeroInsideZeroOutside) {
  EXPECT_EQ(weft::task_id(), 0u);
  std::thread th([] { EXPECT_EQ(weft::task_id(), 0u); });
  th.join();
  constexpr int kTasks = 3000;
  std::set<uint64_t> ids;
  weft::Mutex mu;
  std::atomic<int> changed{0};
  uint64_t main_id = 0;
  weft::run([&] {
    main_id = weft::task_id();
    EXPECT_NE(main_id, 0u);
    weft::WaitGroup wg;
    for (int i = 0; i < kTasks; ++i) {
      wg.add(1);
      weft::go([&] {
        uint64_t id = weft::task_id();
        weft::yield();
        weft::sleep_for(std::chrono::microseconds(10));
        if (weft::task_id() != id) changed++;  // stable across switches
        {
          std::lock_guard<weft::Mutex> l(mu);
          ids.insert(id);
        }
        wg.done();
      });
    }
    wg.wait();
    EXPECT_EQ(weft::task_id(), main_id);
  });
  EXPECT_EQ(weft::task_id(), 0u);
  EXPECT_EQ(changed.load(), 0);
  EXPECT_EQ(ids.size(), static_cast<std::size_t>(kTasks));
  EXPECT_EQ(ids.count(0), 0u);
  EXPECT_EQ(ids.count(main_id), 0u);
}

// A task that has never run takes over the stack of the task before it when that one ends
// (no switch). Each must still start clean: its own id, no exception state, fresh FiberLocals,
// the whole stack usable, and a task that parks after such a start resumes where it was.
TEST(Task, TasksThatStartOnAnEndedTasksStackStartClean) {
  constexpr int kTasks = 2000;
  struct Seen {
    uint64_t id = 0;
    int uncaught_at_start = -1;
    bool exception_at_start = true;
    int local_at_start = -1;
    bool local_kept_across_park = false;
    bool id_kept_across_park = false;
    int deep_sum = 0;
  };
  std::vector<Seen> seen(kTasks);
  weft::FiberLocal<int> local;
  weft::run(
      [&] {
        weft::WaitGroup wg;
        wg.add(kTasks);
        for (int i = 0; i < kTasks; ++i) {
          weft::go([&, i] {
            Seen& s = seen[static_cast<std::size_t>(i)];
            s.id = weft::task_id();
            s.uncaught_at_start = std::uncaught_exceptions();
            s.exception_at_start = std::current_exception() != nullptr;
            s.local_at_start = local.get();
            local.get() = i + 1;
            try {
              throw std::runtime_error("caught in the task");
            } catch (const std::runtime_error&) {
            }
            if (i % 4 == 0) {
              weft::sleep_for(std::chrono::microseconds(1));
              s.local_kept_across_park = local.get() == i + 1;
              s.id_kept_across_park = weft::task_id() == s.id;
            } else {
              s.local_kept_across_park = s.id_kept_across_park = true;
            }
            // Uses 64 KiB of the stack.
            std::function<int(int)> deep = [&](int depth) {
              volatile char pad[1024];
              pad[0] = static_cast<char>(depth);
              return depth == 0 ? pad[0] : pad[0] + deep(depth - 1);
            };
            s.deep_sum = deep(63);
            wg.done();
          });
        }
        wg.wait();
      },
      weft::RuntimeOptions{.max_procs = 1});
  std::set<uint64_t> ids;
  for (int i = 0; i < kTasks; ++i) {
    const Seen& s = seen[static_cast<std::size_t>(i)];
    SCOPED_TRACE(i);
    ids.insert(s.id);
    EXPECT_EQ(s.uncaught_at_start, 0);
    EXPECT_FALSE(s.exception_at_start);
    EXPECT_EQ(s.local_at_start, 0);
    EXPECT_TRUE(s.local_kept_across_park);
    EXPECT_TRUE(s.id_kept_across_park);
    EXPECT_EQ(s.deep_sum, 63 * 64 / 2);
  }
  EXPECT_EQ(ids.size(), static_cast<std::size_t>(kTasks));
  EXPECT_EQ(ids.count(0), 0u);
}

// ----- the task dump -----

TEST(Task, DumpListsParkedTaskWithWaitReasonAndSite) {
  weft::run([] {
    weft::Chan<int> c;
    weft::Chan<int> got(1);
    auto receiver = [c, got]() mutable { got.send(*c.recv()); };
    const int line = __LINE__ + 1;
    weft::go(receiver);
    std::string dump;
    std::size_t pos = std::string::npos;
    bool found = eventually([&] {
      dump = weft::dump_tasks_string();
      pos = dump.find("chan receive");
      return pos != std::string::npos;
    });
    ASSERT_TRUE(found) << dump;
    // The parked task's entry: "task N [waiting, chan receive, T ms]:\n    created at F:L in ..."
    std::size_t start = dump.rfind("task ", pos);
    std::size_t end = dump.find("\n\n", pos);
    std::string entry = dump.substr(start, end - start);
    EXPECT_NE(entry.find("waiting"), std::string::npos) << entry;
    EXPECT_NE(entry.find("created at"), std::string::npos) << entry;
    EXPECT_NE(entry.find("task_test.cc:" + std::to_string(line)), std::string::npos) << entry;
    EXPECT_NE(dump.find("live tasks"), std::string::npos);
    c.send(1);
    EXPECT_EQ(got.recv(), 1);
    // Once it has run to its end it is no longer listed.
    EXPECT_TRUE(eventually(
        [&] { return weft::dump_tasks_string().find("chan receive") == std::string::npos; }));
  });
}

// SIGQUIT prints the same dump on stderr and the program goes on.
TEST(Task, SigquitPrintsTheDumpAndKeepsRunning) {
#if defined(__SANITIZE_THREAD__)
  // TSan defers a signal handler until the receiving thread leaves its system call; the run()
  // caller sleeps in a raw futex call, so the dump would come only after the test.
  GTEST_SKIP() << "TSan defers asynchronous signals";
#endif
  weft::run([] {
    weft::Chan<int> c;
    weft::Chan<int> got(1);
    weft::go([c, got] { got.send(*c.recv()); });
    ASSERT_TRUE(eventually(
        [&] { return weft::dump_tasks_string().find("chan receive") != std::string::npos; }));
    StderrCapture capture;
    capture.start("chan receive");
    ASSERT_EQ(::kill(::getpid(), SIGQUIT), 0);
    bool printed = eventually([&] { return capture.found(); });
    std::string text = capture.stop();
    EXPECT_TRUE(printed) << text;
    EXPECT_NE(text.find("live tasks"), std::string::npos) << text;
    EXPECT_NE(text.find("task_test.cc:"), std::string::npos) << text;
    c.send(1);  // still alive and scheduling
    EXPECT_EQ(got.recv(), 1);
  });
}

TEST(Task, DumpNamesOtherWaitReasons) {
  weft::run([] {
    weft::Chan<int> full(0), stop;
    weft::Mutex mu;
    weft::WaitGroup never_done;
    never_done.add(1);
    weft::Semaphore sem(0);
    weft::WaitGroup wg;
    mu.lock();
    auto spawn = [&](auto fn) {
      wg.add(1);
      weft::go([&wg, fn]() mutable {
        fn();
        wg.done();
      });
    };
    spawn([full]() mutable { full.send(1); });
    spawn([stop]() { weft::select(weft::on_recv(stop)); });
    spawn([&mu] {
      mu.lock();
      mu.unlock();
    });
    spawn([&never_done] { never_done.wait(); });
    spawn([&sem] { sem.acquire(); });
    spawn([] { weft::sleep_for(300ms); });
    std::string dump;
    bool all = eventually([&] {
      dump = weft::dump_tasks_string();
      for (const char* r : {"chan send", "select", "mutex", "waitgroup", "semaphore", "sleep"})
        if (dump.find(r) == std::string::npos) return false;
      return true;
    });
    EXPECT_TRUE(all) << dump;
    // Release everyone.
    (void)full.recv();
    stop.close();
    mu.unlock();
    never_done.done();
    sem.release();
    wg.wait();
  });
}

TEST(Task, DumpTasksToFd) {
  weft::run([] {
    std::FILE* f = std::tmpfile();
    weft::dump_tasks(::fileno(f));
    std::rewind(f);
    char buf[256] = {};
    std::size_t n = std::fread(buf, 1, sizeof buf - 1, f);
    std::fclose(f);
    std::string text(buf, n);
    EXPECT_NE(text.find("live tasks"), std::string::npos) << text;
  });
}

// ----- exception state is per task -----

TEST(Task, CurrentExceptionSurvivesSwitchWhileOtherTaskThrows) {
  weft::run([] {
    constexpr int kPairs = 20;
    weft::WaitGroup wg;
    for (int i = 0; i < kPairs; ++i) {
      weft::Chan<int> a_in_catch, b_done;
      const std::string a_msg = "A" + std::to_string(i);
      wg.add(2);
      weft::go([a_in_catch, b_done, a_msg, &wg]() mutable {
        EXPECT_FALSE(std::current_exception());
        try {
          throw std::runtime_error(a_msg);
        } catch (const std::runtime_error& e) {
          a_in_catch.send(1);  // B throws and catches now
          (void)b_done.recv();
          weft::yield();
          weft::sleep_for(std::chrono::microseconds(100));
          EXPECT_EQ(std::uncaught_exceptions(), 0);
          std::exception_ptr cur = std::current_exception();
          ASSERT_TRUE(cur);
          try {
            std::rethrow_exception(cur);
          } catch (const std::runtime_error& again) {
            EXPECT_EQ(std::string(again.what()), a_msg);
            EXPECT_EQ(&again, &e);  // the very same exception object
          } catch (...) {
            ADD_FAILURE() << "wrong exception type after the switch";
          }
          try {
            throw;  // a bare rethrow after the switch
          } catch (const std::runtime_error& again) {
            EXPECT_EQ(std::string(again.what()), a_msg);
          } catch (...) {
            ADD_FAILURE() << "wrong exception rethrown";
          }
          EXPECT_EQ(std::string(e.what()), a_msg);
        }
        EXPECT_FALSE(std::current_exception());
        wg.done();
      });
      weft::go([a_in_catch, b_done, &wg]() mutable {
        (void)a_in_catch.recv();
        EXPECT_FALSE(std::current_exception()) << "A's exception leaked into B";
        EXPECT_EQ(std::uncaught_exceptions(), 0);
        try {
          throw std::logic_error("B");
        } catch (const std::logic_error&) {
          weft::yield();
          try {
            std::rethrow_exception(std::current_exception());
          } catch (const std::logic_error& e) {
            EXPECT_STREQ(e.what(), "B");
          } catch (...) {
            ADD_FAILURE() << "B sees the wrong exception";
          }
        }
        EXPECT_FALSE(std::current_exception());
        b_done.send(1);
        wg.done();
      });
    }
    wg.wait();
  });
}

struct UnwindProbe {
  weft::Chan<int> to_other, from_other;
  int* before;
  int* after;
  ~UnwindProbe() {
    *before = std::uncaught_exceptions();
    to_other.send(1);  // the other task runs while this one is mid-unwind
    (void)from_other.recv();
    weft::yield();
    *after = std::uncaught_exceptions();
  }
};

TEST(Task, UncaughtExceptionsCorrectAcrossSwitchDuringUnwinding) {
  weft::run([] {
    constexpr int kPairs = 10;
    weft::WaitGroup wg;
    std::vector<std::array<int, 3>> seen(kPairs, {-1, -1, -1});
    for (int i = 0; i < kPairs; ++i) {
      weft::Chan<int> to_b, from_b;
      auto& s = seen[static_cast<std::size_t>(i)];
      wg.add(2);
      weft::go([to_b, from_b, &s, &wg] {
        bool caught = false;
        try {
          UnwindProbe probe{to_b, from_b, &s[0], &s[1]};
          throw std::runtime_error("unwinding");
        } catch (const std::runtime_error&) {
          caught = true;
        }
        EXPECT_TRUE(caught);
        EXPECT_EQ(std::uncaught_exceptions(), 0);
        wg.done();
      });
      weft::go([to_b, from_b, &s, &wg]() mutable {
        (void)to_b.recv();
        s[2] = std::uncaught_exceptions();
        try {
          throw 5;
        } catch (int) {
        }
        from_b.send(1);
        wg.done();
      });
    }
    wg.wait();
    for (const auto& s : seen) {
      EXPECT_EQ(s[0], 1) << "in the destructor before the switch";
      EXPECT_EQ(s[1], 1) << "in the destructor after the switch";
      EXPECT_EQ(s[2], 0) << "in the other task";
    }
  });
}

}  // namespace
