// Tasks: run, go, yield and sleep — the goroutine half of the runtime.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include "weft/runtime/detail/source_site.h"

#include "weft/runtime/detail/duration.h"
#include "weft/runtime/detail/task_fn.h"

namespace weft {

// RuntimeOptions configure the runtime when it starts (the first run() or go()). Zero values
// take the defaults given on each field.
struct RuntimeOptions {
  // Number of processors (Ps): tasks that run in parallel. 0 takes WEFT_MAXPROCS from the
  // environment, else the CPUs this process may use (affinity mask and cgroup CPU quota).
  int max_procs = 0;
  // Usable stack size of each task, rounded up to pages, from 16 KiB to 1 GiB (values outside
  // are brought to the nearer end). 0 takes 256 KiB.
  std::size_t stack_size = 0;
  // How many stacks get a guard page below them, in whole batches of 64. Stacks beyond this
  // rely on a canary checked at every switch. -1 takes every stack on Linux 6.13 and later
  // (a guard is a page-table marker there) and 16384 before (a guard costs a memory mapping
  // there; Linux allows 65530). WEFT_GUARDED_STACKS overrides.
  long guarded_stacks = -1;
  // Debug: every yield() moves the task to another thread (OS thread), so a stale thread-local
  // shows up in tests. WEFT_DEBUG_MIGRATE=1 turns it on too.
  bool migrate_on_yield = false;
  // A task that runs this long without yielding gets its processor's other tasks moved
  // elsewhere and a warning naming it. 0 takes 10 ms.
  std::chrono::milliseconds stuck_threshold{0};
  // How long an idle processor keeps polling the network without sleeping after recent I/O,
  // at most; 0 (the default) never polls without sleeping. Going to sleep in epoll_wait and
  // being woken costs the waking CPU an interrupt and the sleeper its wake-up; under steady
  // I/O a short poll (Linux's net.core.busy_poll suggests 50 µs) catches the next event first,
  // at the price of the CPU the poll burns. The window halves after each poll that ran its
  // whole length for nothing and comes back in full when an event follows a sleep shorter than
  // it. It acts only while the runtime has one processor (with more, the poll would stand in
  // for the poller that other processors' timers count on). At most 1 ms. weft bench turns it
  // on so that the server under test does not pay for waking the load generator.
  // WEFT_IDLE_POLL_US overrides.
  std::chrono::microseconds idle_poll{0};
};

namespace detail {
void spawn(TaskFn fn, const detail::SourceSite& site);
void run_main(TaskFn fn, const RuntimeOptions& opts, const detail::SourceSite& site);
}  // namespace detail

// run starts the runtime if needed, runs fn as the main task and returns when fn returns.
// An exception escaping fn is rethrown here. Other tasks may still be alive afterwards; they
// keep running on the runtime's threads. Safe to call more than once, one call at a time or
// concurrently from several threads.
template <class F>
void run(F&& fn, const RuntimeOptions& opts = {},
         const detail::SourceSite& site = detail::SourceSite::current()) {
  detail::run_main(detail::TaskFn(std::forward<F>(fn)), opts, site);
}

// go starts a task that runs fn. Callable from tasks and from plain threads. An exception that
// escapes fn ends the program with its message and the task's creation site, as Go's panic does.
template <class F>
void go(F&& fn, const detail::SourceSite& site = detail::SourceSite::current()) {
  detail::spawn(detail::TaskFn(std::forward<F>(fn)), site);
}

// yield lets other runnable tasks run; the caller stays runnable. On a plain thread it yields
// the thread.
void yield();

// sleep_for parks the calling task for at least d (a plain thread sleeps).
void sleep_for(std::chrono::nanoseconds d);
template <class Rep, class Period>
void sleep_for(std::chrono::duration<Rep, Period> d) {
  sleep_for(detail::saturating_ns(d));
}
// sleep_until parks the calling task until t has passed.
template <class Duration>
void sleep_until(std::chrono::time_point<std::chrono::steady_clock, Duration> t) {
  sleep_for(t - std::chrono::steady_clock::now());
}

// max_procs returns the number of processors of the running runtime (0 before it starts).
int max_procs() noexcept;

// TaskId returns the id of the running task (0 on a plain thread); ids start at 1.
uint64_t task_id() noexcept;

// release_idle_memory gives the memory of idle task stacks back to the operating system now
// (sysmon does it about once a second anyway), as Go's debug.FreeOSMemory does.
void release_idle_memory();

// dump_tasks writes every live task to fd: id, state, wait reason, time waited, creation site,
// and a stack trace where one can be had. SIGQUIT does the same on stderr.
void dump_tasks(int fd = 2);
// dump_tasks_string returns the same text.
std::string dump_tasks_string();

}  // namespace weft
