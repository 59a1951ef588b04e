// Sysmon: a thread that watches the processors. It moves the queue of a processor stuck in
// one task away from it, polls the network when nobody has for a while, returns idle stack
// memory, and prints the task dump on SIGQUIT.
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

#include <thread>
#include <vector>

#include "runtime/futex.h"
#include "runtime/internal.h"
#include "weft/runtime/task.h"

namespace weft::detail {

namespace {

std::atomic<uint32_t> g_sysmon_word{0};
std::atomic<bool> g_sysmon_idle{false};  // sleeping long because every processor was idle

struct ProcWatch {
  uint64_t tick = 0;
  int64_t since = 0;
  bool warned = false;
  int tid = 0;              // the thread seen running the task, once it ran past one look
  int64_t cpu_base = -1;    // that thread's CPU time then (-1: not taken)
  int64_t base_at = 0;      // when it was taken
  bool warn_later = false;  // retaken while descheduled: warn if it turns out to run after all
};

// The CPU time of thread tid of this process in nanoseconds, or -1. The clock id is the
// kernel's encoding of a per-thread CPU clock (what pthread_getcpuclockid returns).
int64_t thread_cpu_ns(int tid) {
  if (tid <= 0) return -1;
  auto clock = static_cast<clockid_t>((~static_cast<unsigned>(tid) << 3) | 6u);
  struct timespec ts;
  if (::clock_gettime(clock, &ts) != 0) return -1;
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// Whether thread tid is runnable ('R' in /proc), as opposed to asleep in the kernel.
bool thread_runnable(int tid) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/self/task/%d/stat", tid);
  int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char buf[512];
  ssize_t n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  if (n <= 0) return false;
  buf[n] = '\0';
  const char* paren = std::strrchr(buf, ')');  // the name may hold spaces and parentheses
  return paren != nullptr && paren[1] == ' ' && paren[2] == 'R';
}

// Why the task has held its processor since w.base_at, by the CPU time its thread used: a
// quarter of the time or more is a task that runs (sharing a busy machine's CPUs); less is a
// thread asleep in the kernel, or one the OS did not run (which is no fault of the task).
StuckKind stuck_kind(const ProcWatch& w, int64_t now) {
  int64_t cpu = thread_cpu_ns(w.tid);
  if (w.cpu_base < 0 || cpu < 0) return StuckKind::kRunning;
  if (4 * (cpu - w.cpu_base) >= now - w.base_at) return StuckKind::kRunning;
  return thread_runnable(w.tid) ? StuckKind::kDescheduled : StuckKind::kBlocked;
}

void sysmon_main() {
  pthread_setname_np(pthread_self(), "weft-sysmon");
  std::vector<ProcWatch> watch(kMaxProcs);
  int64_t last_trim = now_ns();
  const int64_t threshold = sched_config().stuck_threshold_ns;
  auto any_busy = [] {
    int n = proc_count();
    for (int i = 0; i < n; ++i)
      if (proc_at(i)->status.load(std::memory_order_seq_cst) != ProcStatus::kIdle) return true;
    return false;
  };
  for (;;) {
    int n = proc_count();
    bool busy = any_busy();
    if (!busy) {
      // Raise the flag first, then look again: a processor starting after our first look
      // either sees the flag (and wakes us) or is seen by the second look.
      g_sysmon_idle.store(true, std::memory_order_seq_cst);
      busy = any_busy();
      if (busy) g_sysmon_idle.store(false, std::memory_order_relaxed);
    }
    // Busy: look often enough to catch a stuck processor near the threshold. Idle: sleep until
    // a processor starts (sysmon_wake_if_idle) or the next stack trim is due.
    int64_t sleep_ns = busy ? std::min<int64_t>(threshold / 5, 2'000'000) : 1'000'000'000;
    futex_wait(&g_sysmon_word, 0, sleep_ns);
    g_sysmon_word.store(0, std::memory_order_relaxed);
    g_sysmon_idle.store(false, std::memory_order_relaxed);
    g_coarse_now.store(now_ns(), std::memory_order_relaxed);
    if (take_dump_request()) weft::dump_tasks(2);

    int64_t now = now_ns();
    g_coarse_now.store(now, std::memory_order_relaxed);
    for (int i = 0; i < n; ++i) {
      Processor* p = proc_at(i);
      ProcWatch& w = watch[static_cast<std::size_t>(i)];
      uint64_t tick = p->published_tick.load(std::memory_order_relaxed);
      Fiber* cur = p->current.load(std::memory_order_relaxed);
      ProcStatus st = p->status.load(std::memory_order_relaxed);
      if (tick != w.tick || cur == nullptr || st == ProcStatus::kIdle) {
        w.tick = tick;
        w.since = now;
        w.warned = false;
        w.cpu_base = -1;
        w.warn_later = false;
        continue;
      }
      if (st == ProcStatus::kStuck) {
        if (w.warn_later && stuck_kind(w, now) != StuckKind::kDescheduled) {
          w.warn_later = false;
          warn_stuck(p, cur, stuck_kind(w, now), 0);
        }
        // Nobody else fires this processor's timers while its thread is busy.
        if (p->timers.next_when.load(std::memory_order_acquire) <= now) run_timers(&p->timers, now);
        continue;
      }
      if (w.cpu_base < 0) {
        // The same task for a second look: note its thread's CPU time to judge it by later.
        w.tid = p->thread_id.load(std::memory_order_relaxed);
        w.cpu_base = thread_cpu_ns(w.tid);
        w.base_at = now;
      }
      if (!w.warned && now - w.since >= threshold) {
        w.warned = true;
        StuckKind kind = stuck_kind(w, now);
        w.warn_later = kind == StuckKind::kDescheduled;
        retake_stuck(p, cur, kind);
      }
    }
    // Poll the network if no idle processor has for 10 ms.
    if (netpoll_waiters() > 0 && !g_netpoll_blocked.load(std::memory_order_acquire) &&
        now - netpoll_last_poll_ns() > 10'000'000) {
      if (Fiber* list = netpoll(0)) inject_list(list);
    }
    if (now - last_trim > 1'000'000'000) {
      last_trim = now;
      stack_pool_trim();
    }
  }
}

}  // namespace

void sysmon_start() {
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  std::thread(sysmon_main).detach();
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

std::atomic<int64_t> g_coarse_now{0};

void sysmon_wake_if_idle() noexcept {
  if (g_sysmon_idle.load(std::memory_order_relaxed) &&
      g_sysmon_idle.exchange(false, std::memory_order_acq_rel))
    sysmon_kick();
}

void sysmon_kick() noexcept {
  g_sysmon_word.store(1, std::memory_order_release);
  futex_wake(&g_sysmon_word);
}

}  // namespace weft::detail
