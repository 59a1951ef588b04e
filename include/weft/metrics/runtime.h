// Runtime metrics: the scheduler, tasks, netpoller, timers and stacks of weft's runtime.
#pragma once

#include "weft/metrics/registry.h"

namespace weft::metrics {

// Adds a collector to registry that reads weft::runtime_stats() at every scrape and exposes:
//   weft_runtime_tasks                        gauge    tasks not yet finished
//   weft_runtime_tasks_running                gauge    tasks on a thread now
//   weft_runtime_tasks_runnable               gauge    tasks waiting in a run queue
//   weft_runtime_tasks_parked{reason}         gauge    parked tasks by wait reason
//                                                      ("chan_receive", "net_read", "sleep", …)
//   weft_runtime_tasks_started_total          counter  tasks ever started
//   weft_runtime_context_switches_total       counter  switches of a task onto a thread
//   weft_runtime_steals_total                 counter  work stolen from another P's queue
//   weft_runtime_procs                        gauge    Ps (weft::max_procs())
//   weft_runtime_procs_running                gauge    Ps running tasks now
//   weft_runtime_machines                     gauge    Ms (threads that run tasks) made
//   weft_runtime_machines_idle                gauge    Ms parked with nothing to do
//   weft_runtime_machines_spinning            gauge    Ms looking for work
//   weft_runtime_global_queue_tasks           gauge    tasks in the global run queue
//   weft_runtime_netpoll_waiting_tasks        gauge    tasks parked on network I/O
//   weft_runtime_netpoll_waits_total          counter  polls of the netpoller
//   weft_runtime_timers_pending               gauge    armed timers
//   weft_runtime_stack_reserved_bytes         gauge    address space reserved for stacks
//   weft_runtime_stack_committed_bytes        gauge    stack memory resident now
//   weft_runtime_stacks_in_use                gauge    stacks held by tasks
//   weft_runtime_sysmon_warnings_total        counter  "task held its processor" warnings
// A scrape costs what runtime_stats() costs (a walk over the task records). Throws
// std::invalid_argument when the registry already has one of these names.
void register_runtime_metrics(Registry& registry);

}  // namespace weft::metrics
