// Process metrics: CPU time, memory, file descriptors and start time, as Prometheus' client
// libraries export them.
#pragma once

#include "weft/metrics/registry.h"

namespace weft::metrics {

// Adds a collector to registry that reads, at every scrape, what Linux reports of this process:
//   process_cpu_seconds_total      user and system CPU time (/proc/self/stat)
//   process_resident_memory_bytes  resident set size (/proc/self/stat)
//   process_virtual_memory_bytes   virtual memory size (/proc/self/stat)
//   process_open_fds               open file descriptors (/proc/self/fd)
//   process_max_fds                the soft limit on them (getrlimit), +Inf when unlimited
//   process_start_time_seconds     start time since the Unix epoch (/proc/self/stat and the
//                                  boot time in /proc/stat, read once, at registration)
// A value that cannot be read is left out of the scrape. Throws std::invalid_argument when the
// registry already has one of these names (a second call, for instance).
void register_process_metrics(Registry& registry);

}  // namespace weft::metrics
