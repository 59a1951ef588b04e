// Fatal conditions, checked in death tests: deadlock, an uncaught exception in a task, stack
// overflow, and the warning about a task that runs without yielding.
#include <gtest/gtest.h>
#include <weft/weft.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <thread>

#include "test_util.h"

// TSan runs a background thread of its own; the deadlock detector counts any thread it does not
// know as one that might still wake a task, so it (rightly) never fires under TSan.
#if defined(__SANITIZE_THREAD__)
#define SKIP_UNDER_TSAN() GTEST_SKIP() << "TSan's own thread makes deadlock detection stand down"
#else
#define SKIP_UNDER_TSAN() (void)0
#endif

// Running off an unguarded stack writes over the memory below it before anything faults: ASan
// reports that itself (stack-buffer-overflow), TSan as a race with the memory's last writer.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SKIP_UNDER_SANITIZERS() GTEST_SKIP() << "the sanitizer reports the overflow itself"
#else
#define SKIP_UNDER_SANITIZERS() (void)0
#endif

namespace {

using namespace std::chrono_literals;
using ::testing::ExitedWithCode;
using weft_test::atomic_min;
using weft_test::Clock;
using weft_test::StderrCapture;

[[noreturn]] void exit_now(int code) {
  std::fflush(nullptr);
  std::_Exit(code);
}

// ----- deadlock -----

TEST(FatalDeathTest, DeadlockMainTaskReceivesFromNobody) {
  SKIP_UNDER_TSAN();
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(weft::run([] {
                weft::Chan<int> c;
                (void)c.recv();
              }),
              ExitedWithCode(2), "all tasks are asleep - deadlock!");
}

TEST(FatalDeathTest, DeadlockReportDumpsTheParkedTasks) {
  SKIP_UNDER_TSAN();
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  // The dump that follows names the wait reasons and the creation sites.
  EXPECT_EXIT(weft::run([] {
                weft::Chan<int> c;
                weft::WaitGroup wg;
                wg.add(1);
                weft::go([&] {
                  (void)c.recv();
                  wg.done();
                });
                wg.wait();
              }),
              ExitedWithCode(2),
              "fatal error: all tasks are asleep - deadlock!.*waitgroup.*chan receive|"
              "fatal error: all tasks are asleep - deadlock!.*chan receive.*waitgroup");
  EXPECT_EXIT(weft::run([] {
                weft::Chan<int> c;
                (void)c.recv();
              }),
              ExitedWithCode(2), "deadlock!.*chan receive.*fatal_test\\.cc");
}

TEST(FatalDeathTest, DeadlockOnMutexAndSelect) {
  SKIP_UNDER_TSAN();
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(weft::run([] {
                weft::Mutex mu;
                mu.lock();
                mu.lock();  // not recursive
              }),
              ExitedWithCode(2), "all tasks are asleep - deadlock!.*mutex");
  EXPECT_EXIT(weft::run([] {
                weft::Chan<int> a, b;
                weft::select(weft::on_recv(a), weft::on_send(b, 1));
              }),
              ExitedWithCode(2), "all tasks are asleep - deadlock!.*select");
}

// Not deadlocks: a pending timer, or a plain thread that may still send.
TEST(FatalDeathTest, NoFalseDeadlock) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        weft::run([] {
          weft::Chan<int> c;
          weft::sleep_for(50ms);  // everyone asleep, but a timer is pending
          auto t = weft::after(20ms);
          (void)t.recv();
          weft::select(weft::on_recv(c), weft::on_timeout(20ms));
        });
        std::fprintf(stderr, "finished normally\n");
        exit_now(0);
      },
      ExitedWithCode(0), "finished normally");
  EXPECT_EXIT(
      {
        weft::Chan<int> c;
        std::thread sender([c]() mutable {
          std::this_thread::sleep_for(100ms);
          c.send(7);
        });
        int got = 0;
        weft::run([&] { got = *c.recv(); });
        sender.join();
        std::fprintf(stderr, "received %d\n", got);
        exit_now(0);
      },
      ExitedWithCode(0), "received 7");
}

// ----- uncaught exceptions -----

TEST(FatalDeathTest, UncaughtExceptionInTaskPrintsWhatAndSite) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  auto thrower = [] { throw std::runtime_error("kaboom 42"); };
  const int line = __LINE__ + 1;
  auto spawn = [&] { weft::go(thrower); };
  EXPECT_EXIT(weft::run([&] {
                spawn();
                weft::sleep_for(10s);
              }),
              ExitedWithCode(2),
              "uncaught exception in a task: kaboom 42.*fatal_test\\.cc:" + std::to_string(line));
}

TEST(FatalDeathTest, UncaughtExceptionAfterSwitchesAndNonStdException) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(weft::run([] {
                weft::go([] {
                  weft::sleep_for(1ms);
                  weft::yield();
                  weft::Chan<int> c;
                  c.close();
                  c.close();
                });
                weft::sleep_for(10s);
              }),
              ExitedWithCode(2), "close of closed channel.*fatal_test\\.cc");
  EXPECT_EXIT(weft::run([] {
                weft::go([] { throw 42; });
                weft::sleep_for(10s);
              }),
              ExitedWithCode(2), "uncaught exception in a task.*fatal_test\\.cc");
}

// ----- stack overflow -----

volatile bool g_never = false;

__attribute__((noinline)) int recurse(volatile char* up, int depth) {
  volatile char frame[256];
  frame[0] = static_cast<char>(depth);
  frame[255] = up ? up[0] : 0;
  if (g_never) return frame[0];
  return recurse(frame, depth + 1) + frame[255];  // not a tail call
}

TEST(FatalDeathTest, InfiniteRecursionInTaskIsStackOverflow) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(weft::run([] {
                weft::go([] { (void)recurse(nullptr, 0); });
                weft::sleep_for(10s);
              }),
              ExitedWithCode(2), "stack overflow.*fatal_test\\.cc");
}

// Stacks without a guard page (older kernels, past the mapping budget) still end in a stack
// overflow report, not in silent corruption.
TEST(FatalDeathTest, InfiniteRecursionOnAnUnguardedStackIsStackOverflow) {
  SKIP_UNDER_SANITIZERS();
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  weft::RuntimeOptions unguarded;
  unguarded.guarded_stacks = 0;
  EXPECT_EXIT(weft::run(
                  [] {
                    weft::go([] { (void)recurse(nullptr, 0); });
                    weft::sleep_for(10s);
                  },
                  unguarded),
              ExitedWithCode(2), "stack overflow");
}

TEST(FatalDeathTest, InfiniteRecursionInMainTaskIsStackOverflow) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(weft::run([] { (void)recurse(nullptr, 0); }), ExitedWithCode(2), "stack overflow");
}

// ----- a task that does not yield -----

// Spins at least 50 ms without yielding, and on until the warning has gone out and the other
// tasks got somewhere meanwhile (at most 5 s: how soon the monitor thread gets a CPU on a busy
// machine is not what is tested). Returns the other tasks' progress meanwhile.
long spin(const std::atomic<long>& progress, const StderrCapture& watch) {
  long before = progress.load();
  auto start = Clock::now();
  for (;;) {
    auto spun = Clock::now() - start;
    if (spun >= 5s) break;
    if (spun >= 50ms && watch.found() && progress.load() > before) break;
  }
  return progress.load() - before;
}

// The spinner's creation site is in this function, so the warning names it.
void SpawnSpinner(const std::atomic<long>* progress, std::atomic<long>* during,
                  const StderrCapture* watch, weft::WaitGroup* wg) {
  weft::go([progress, during, watch, wg] {
    long made = spin(*progress, *watch);
    std::fprintf(stderr, "spinner %llu: other tasks progressed %ld while it spun\n",
                 static_cast<unsigned long long>(weft::task_id()), made);
    atomic_min(*during, made);
    wg->done();
  });
}

// Runs spinners next to workers that sleep in short steps; returns how far the workers got
// while the spinners spun (the least over the spinners).
long SpinScenario(const weft::RuntimeOptions& opts, int spinners) {
  StderrCapture watch(/*tee=*/true);  // the death test matches the warning on stderr
  watch.start("without yielding");
  std::atomic<long> progress{0};
  std::atomic<long> during{1L << 40};
  std::atomic<bool> stop{false};
  weft::run(
      [&] {
        weft::WaitGroup workers, spinning;
        for (int i = 0; i < 8; ++i) {
          workers.add(1);
          weft::go([&] {
            while (!stop.load()) {
              progress++;
              weft::sleep_for(1ms);
            }
            workers.done();
          });
        }
        for (int s = 0; s < spinners; ++s) {
          spinning.add(1);
          SpawnSpinner(&progress, &during, &watch, &spinning);
        }
        spinning.wait();
        stop = true;
        workers.wait();
      },
      opts);
  (void)watch.stop();
  return during.load();
}

const char* const kSpinWarning =
    "task ran without yielding task=[0-9]+ created_at=[^ \n]*fatal_test\\.cc:[0-9]+ "
    "function=\"[^\n]*SpawnSpinner[^\n]*over_ms=[0-9]+ moved_tasks=[0-9]+";

TEST(FatalDeathTest, SpinningTaskIsReportedAndOthersKeepRunning) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(exit_now(SpinScenario(weft::RuntimeOptions{}, 1) > 0 ? 0 : 3), ExitedWithCode(0),
              kSpinWarning);
}

// The spinner holds the only processor: its queued tasks must go to another thread.
TEST(FatalDeathTest, SpinningTaskOnOnlyProcessorOthersKeepRunning) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(exit_now(SpinScenario(weft::RuntimeOptions{.max_procs = 1}, 1) > 0 ? 0 : 3),
              ExitedWithCode(0), kSpinWarning);
}

// Every processor is taken by a spinner: the runtime must still find a thread for the others.
TEST(FatalDeathTest, SpinnersOnAllProcessorsOthersKeepRunning) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(exit_now(SpinScenario(weft::RuntimeOptions{.max_procs = 2}, 2) > 0 ? 0 : 3),
              ExitedWithCode(0), kSpinWarning);
}

}  // namespace
