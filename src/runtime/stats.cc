// runtime_stats(): one snapshot of the scheduler, the task records, the netpoller, the timers
// and the stack pool.
#include "weft/runtime/stats.h"

#include "runtime/internal.h"
#include "weft/runtime/blocking.h"

namespace weft {

RuntimeStats runtime_stats() {
  using namespace detail;
  RuntimeStats out;
  uint64_t by_state[kFiberStates] = {};
  uint64_t by_reason[kWaitReasons] = {};
  const bool started = runtime_started();
  std::size_t committed = 0;
  if (started) {
    // The walks take milliseconds with many tasks: off the processor, so the other tasks run
    // meanwhile and sysmon does not take the caller for a stuck task.
    weft::blocking([&] {
      count_fibers(by_state, by_reason);
      committed = stack_committed_bytes();
    });
  }
  // Every reason, in the order of the enum; a park without a reason is "other".
  for (int r = 1; r < kWaitReasons; ++r)
    out.tasks_parked.push_back({wait_reason_name(static_cast<WaitReason>(r)), by_reason[r]});
  out.tasks_parked.push_back({"other", by_reason[0]});
  if (!started) return out;

  auto state = [&](FiberState s) { return by_state[static_cast<int>(s)]; };
  out.tasks_runnable = state(FiberState::kRunnable);
  out.tasks_running = state(FiberState::kRunning);
  out.tasks_live = out.tasks_runnable + out.tasks_running + state(FiberState::kParking) +
                   state(FiberState::kParked);

  SchedSnapshot s = sched_snapshot();
  out.tasks_started_total = s.tasks_started;
  out.context_switches_total = s.context_switches;
  out.procs = s.procs;
  out.procs_running = s.procs_running;
  out.machines = s.machines;
  out.machines_idle = s.machines_idle;
  out.machines_spinning = s.machines_spinning;
  out.global_queue_tasks = s.global_queue_tasks;

  RuntimeCounters& c = counters();
  out.steals_total = c.steals.load(std::memory_order_relaxed);
  out.chan_lock_biased_total = c.chan_lock_biased.load(std::memory_order_relaxed);
  out.chan_lock_revoked_total = c.chan_lock_revoked.load(std::memory_order_relaxed);
  out.mutex_biased_total = c.mutex_biased.load(std::memory_order_relaxed);
  out.mutex_bias_revoked_total = c.mutex_bias_revoked.load(std::memory_order_relaxed);
  out.netpoll_waits_total = c.netpoll_waits.load(std::memory_order_relaxed);
  out.sysmon_warnings_total = c.sysmon_warnings.load(std::memory_order_relaxed);
  int64_t waiting = netpoll_waiters();
  out.netpoll_waiting_tasks = waiting > 0 ? static_cast<uint64_t>(waiting) : 0;
  int64_t timers = timers_pending();
  out.timers_pending = timers > 0 ? static_cast<uint64_t>(timers) : 0;

  out.stack_reserved_bytes = stack_reserved_bytes();
  out.stack_committed_bytes = committed;
  out.stacks_in_use = stacks_in_use();
  return out;
}

}  // namespace weft
