// Runtime statistics: what the scheduler, the netpoller, the timers and the stack pool are
// doing, read on demand (for metrics, /debug/vars and diagnostics).
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace weft {

// ParkedTasks is how many tasks wait for one reason ("chan receive", "sleep", "net read", ...).
struct ParkedTasks {
  std::string_view reason;  // the wait reason's name, as the task dump prints it
  uint64_t tasks = 0;
};

// RuntimeStats is a snapshot of the runtime. The fields are read one after another while the
// runtime runs, so they need not add up exactly (a task may start or park between two reads);
// each is exact on its own. Counters (…_total) only grow.
struct RuntimeStats {
  // Tasks not yet finished: running, runnable or parked.
  uint64_t tasks_live = 0;
  // Tasks waiting in a run queue.
  uint64_t tasks_runnable = 0;
  // Tasks on a thread right now (those inside weft::blocking included).
  uint64_t tasks_running = 0;
  // Parked tasks by wait reason; every reason is listed, with 0 when none wait for it.
  std::vector<ParkedTasks> tasks_parked;
  // Tasks ever started (weft::go and weft::run).
  uint64_t tasks_started_total = 0;
  // Times a task was switched onto a thread (started or resumed).
  uint64_t context_switches_total = 0;
  // Successful steals of work from another processor's run queue.
  uint64_t steals_total = 0;
  // Channel locks handed to one processor, which then takes them without a locked instruction,
  // and such hand-overs taken back because another processor or thread used the channel (each
  // costs an asymmetric barrier, microseconds; see ChanLock).
  uint64_t chan_lock_biased_total = 0;
  uint64_t chan_lock_revoked_total = 0;
  // The same for weft::Mutex: mutexes handed to the one thread taking them, and hand-overs
  // taken back because another thread wanted the mutex or a task unlocked it elsewhere.
  uint64_t mutex_biased_total = 0;
  uint64_t mutex_bias_revoked_total = 0;
  // Processors (Ps): how many may run tasks at once (weft::max_procs()), and how many are
  // running tasks now (a P whose task is stuck in a blocking call is not counted).
  uint64_t procs = 0;
  uint64_t procs_running = 0;
  // Machines (Ms, OS threads that run tasks): all made so far, those parked idle, and those
  // spinning in search of work.
  uint64_t machines = 0;
  uint64_t machines_idle = 0;
  uint64_t machines_spinning = 0;
  // Tasks in the global run queue.
  uint64_t global_queue_tasks = 0;
  // Tasks parked on network I/O, and how many times the netpoller has polled.
  uint64_t netpoll_waiting_tasks = 0;
  uint64_t netpoll_waits_total = 0;
  // Timers armed (sleeps, deadlines, weft::after, tickers).
  uint64_t timers_pending = 0;
  // Task stacks: address space reserved for them, the part of it in memory (resident pages,
  // read with mincore(2) at most once every 5 seconds; calls in between get that count), and
  // stacks handed out to tasks.
  uint64_t stack_reserved_bytes = 0;
  uint64_t stack_committed_bytes = 0;
  uint64_t stacks_in_use = 0;
  // Warnings sysmon printed about a task that held its processor too long.
  uint64_t sysmon_warnings_total = 0;
};

// Takes a snapshot of the runtime. Costs a walk over every task record ever made (measured
// 0.7 ms with 100,000 tasks, 14 ms with 1,000,000: bench/metrics_micro.cc, BM_RuntimeStats)
// and, once every 5 seconds, the mincore(2) walk over every stack page (39 ms with 100,000
// tasks, 256 ms with 1,000,000), both inside weft::blocking, so a task calling it lets its
// processor run other tasks meanwhile. Fine for a scrape or a debug page, not for a hot path.
// Before the runtime starts, everything is 0 (and tasks_parked still lists every reason).
RuntimeStats runtime_stats();

}  // namespace weft
