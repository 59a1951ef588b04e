// Runtime metrics: weft::runtime_stats() as Prometheus families.
#include "weft/metrics/runtime.h"

#include <string>
#include <vector>

#include "weft/runtime/stats.h"

namespace weft::metrics {

namespace {

// One family without labels and the RuntimeStats field it exposes.
struct PlainMetric {
  const char* name;
  const char* help;
  MetricType type;
  uint64_t RuntimeStats::*field;
};

constexpr PlainMetric kPlain[] = {
    {"weft_runtime_tasks", "Tasks not yet finished: running, runnable or parked.",
     MetricType::kGauge, &RuntimeStats::tasks_live},
    {"weft_runtime_tasks_running", "Tasks on a thread now.", MetricType::kGauge,
     &RuntimeStats::tasks_running},
    {"weft_runtime_tasks_runnable", "Tasks waiting in a run queue.", MetricType::kGauge,
     &RuntimeStats::tasks_runnable},
    {"weft_runtime_tasks_started_total", "Tasks started.", MetricType::kCounter,
     &RuntimeStats::tasks_started_total},
    {"weft_runtime_context_switches_total", "Times a task was switched onto a thread.",
     MetricType::kCounter, &RuntimeStats::context_switches_total},
    {"weft_runtime_steals_total", "Times work was stolen from another processor's run queue.",
     MetricType::kCounter, &RuntimeStats::steals_total},
    {"weft_runtime_chan_lock_biased_total",
     "Channel locks handed to one processor (then taken without a locked instruction).",
     MetricType::kCounter, &RuntimeStats::chan_lock_biased_total},
    {"weft_runtime_chan_lock_revoked_total",
     "Channel lock hand-overs taken back because another processor or thread used the channel.",
     MetricType::kCounter, &RuntimeStats::chan_lock_revoked_total},
    {"weft_runtime_mutex_biased_total",
     "Mutexes handed to the one thread taking them (then taken without a locked instruction).",
     MetricType::kCounter, &RuntimeStats::mutex_biased_total},
    {"weft_runtime_mutex_bias_revoked_total",
     "Mutex hand-overs taken back because another thread wanted the mutex, or a task unlocked "
     "it on another thread.",
     MetricType::kCounter, &RuntimeStats::mutex_bias_revoked_total},
    {"weft_runtime_procs", "Processors (Ps): tasks that may run at once.", MetricType::kGauge,
     &RuntimeStats::procs},
    {"weft_runtime_procs_running", "Processors running tasks now.", MetricType::kGauge,
     &RuntimeStats::procs_running},
    {"weft_runtime_machines", "Machines (Ms): threads made to run tasks.", MetricType::kGauge,
     &RuntimeStats::machines},
    {"weft_runtime_machines_idle", "Machines parked with nothing to do.", MetricType::kGauge,
     &RuntimeStats::machines_idle},
    {"weft_runtime_machines_spinning", "Machines looking for work.", MetricType::kGauge,
     &RuntimeStats::machines_spinning},
    {"weft_runtime_global_queue_tasks", "Tasks in the global run queue.", MetricType::kGauge,
     &RuntimeStats::global_queue_tasks},
    {"weft_runtime_netpoll_waiting_tasks", "Tasks parked on network I/O.", MetricType::kGauge,
     &RuntimeStats::netpoll_waiting_tasks},
    {"weft_runtime_netpoll_waits_total", "Polls of the netpoller.", MetricType::kCounter,
     &RuntimeStats::netpoll_waits_total},
    {"weft_runtime_timers_pending", "Armed timers (sleeps, deadlines, tickers).",
     MetricType::kGauge, &RuntimeStats::timers_pending},
    {"weft_runtime_stack_reserved_bytes", "Address space reserved for task stacks in bytes.",
     MetricType::kGauge, &RuntimeStats::stack_reserved_bytes},
    {"weft_runtime_stack_committed_bytes", "Task stack memory resident in bytes.",
     MetricType::kGauge, &RuntimeStats::stack_committed_bytes},
    {"weft_runtime_stacks_in_use", "Task stacks held by tasks.", MetricType::kGauge,
     &RuntimeStats::stacks_in_use},
    {"weft_runtime_sysmon_warnings_total",
     "Warnings about a task that held its processor too long.", MetricType::kCounter,
     &RuntimeStats::sysmon_warnings_total},
};

constexpr const char* kParked = "weft_runtime_tasks_parked";

// "chan receive" -> "chan_receive": label values PromQL users can type without quoting spaces.
std::string reason_label(std::string_view reason) {
  std::string out(reason);
  for (char& c : out) {
    if (c == ' ') c = '_';
  }
  return out;
}

void collect_runtime_metrics(MetricWriter& out) {
  RuntimeStats stats = runtime_stats();
  for (const PlainMetric& m : kPlain) out.write(m.name, static_cast<double>(stats.*(m.field)));
  for (const ParkedTasks& p : stats.tasks_parked)
    out.write(kParked, {reason_label(p.reason)}, static_cast<double>(p.tasks));
}

}  // namespace

void register_runtime_metrics(Registry& registry) {
  std::vector<FamilyDesc> families;
  for (const PlainMetric& m : kPlain)
    families.push_back(FamilyDesc{m.name, m.help, m.type, {}, {}});
  families.push_back(
      FamilyDesc{kParked, "Parked tasks by wait reason.", MetricType::kGauge, {"reason"}, {}});
  registry.add_collector(std::move(families), collect_runtime_metrics);
}

}  // namespace weft::metrics
