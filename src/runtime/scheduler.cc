// The G-P-M scheduler: per-P run queues with runnext, a global queue, work stealing, spinning
// and parked machines, hand-off of a processor around blocking calls, and deadlock detection.
#include <linux/membarrier.h>
#include <malloc.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <fstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "runtime/futex.h"
#include "runtime/internal.h"
#include "runtime/sanitizers.h"
#include "weft/log.h"
#include "weft/runtime/blocking.h"
#include "weft/runtime/pool.h"
#include "weft/runtime/task.h"

namespace weft::detail {

constinit std::atomic<int> g_procs_running{0};
constinit std::atomic<int> g_lingering{0};
constinit SchedConfig g_sched_config;

struct MainWaiter {
  std::atomic<uint32_t> done{0};
  std::exception_ptr error;
};

void main_task_failed(MainWaiter* w, std::exception_ptr e) noexcept {
  w->error = std::move(e);
}

namespace {

struct Sched {
  // Short critical sections only (queues, idle lists); spins, then yields the thread.
  SpinLock lock;
  // global run queue: fiber pointers in segments, so taking a batch reads an array instead of
  // chasing links through task records, and a burst of a million readied tasks never copies
  // the queue under the lock
  SegRing<Fiber*> gq;
  std::atomic<int64_t> gq_size{0};  // gq.size(), readable without the lock
  // processors
  Processor* allp[kMaxProcs] = {};
  std::atomic<int> nprocs{0};
  Processor* pidle = nullptr;
  std::atomic<int> npidle{0};
  // machines
  Machine* midle = nullptr;
  Machine* allm = nullptr;
  int nmidle = 0;
  std::atomic<int> mcount{0};
  std::atomic<int> nmspinning{0};
  // fibers
  SpinLock free_lock;
  // Free task records shared between processors, as pointers: a processor takes or gives a
  // batch without touching the records, last written on other CPUs.
  SegRing<Fiber*> free_pool;
  std::atomic<uint64_t> id_source{1};
  std::atomic<int> run_callers{0};
  std::atomic<int> service_threads{0};  // see add_service_threads
  std::atomic<int> mains_live{0};
  std::once_flag start_once;
  std::atomic<bool> started{false};
};

__attribute__((noinline)) Sched* make_sched() {
  return new Sched();  // never destroyed: runtime threads may outlive static destructors
}

inline Sched& sched() {
  static Sched* s = make_sched();
  return *s;
}

uint32_t fast_rand(Machine* m) {
  uint64_t x = m->rand_state;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  m->rand_state = x;
  return static_cast<uint32_t>(x >> 32);
}

// ----- global run queue (REQUIRES: sched lock) -----

void globrunqput_locked(Sched& s, Fiber* f) {
  s.gq.push_back(f);
  s.gq_size.fetch_add(1, std::memory_order_relaxed);
}

// Queues n fibers from an array, in order.
void globrunqput_array_locked(Sched& s, Fiber* const* fs, uint64_t n) {
  for (uint64_t i = 0; i < n; ++i) s.gq.push_back(fs[i]);
  s.gq_size.fetch_add(static_cast<int64_t>(n), std::memory_order_relaxed);
}

// Queues a list linked through Fiber::next, in order.
void globrunqput_list_locked(Sched& s, Fiber* head) {
  int64_t n = 0;
  while (head) {
    Fiber* f = head;
    head = f->next;
    f->next = nullptr;
    s.gq.push_back(f);
    ++n;
  }
  s.gq_size.fetch_add(n, std::memory_order_relaxed);
}

// Takes the head of the global queue, leaving gq_size to the caller (one update for a batch:
// a locked instruction a task waited for the stores before it, 8% of spawn_join's time).
// REQUIRES: the queue is not empty.
Fiber* globrunqpop_locked(Sched& s) {
  Fiber* f = s.gq.at(s.gq.head());
  s.gq.pop_front();
  if (s.gq.empty()) s.gq.clear();  // drained after a burst: the segments go back
  return f;
}

// ----- runnext without a locked instruction on the holder's side -----
//
// The holder of a P takes its runnext on most switches and replaces it on most wake-ups. A
// compare-and-swap there (a thief may take it at the same moment) waits for the stores before
// it to drain: about 8 ns of a 50 ns channel hand-off here. Thieves, on the other hand, take a
// runnext only after watching its P make no progress for a while. So the cost moves to them: a
// thief announces itself (runnext_thieves), then has every thread of the process pass a full memory
// barrier (asymmetric_barrier: membarrier(2), an interrupt to the CPUs running them), then waits
// for a take in progress to end (runnext_taking) before its exchange. The holder raises
// runnext_taking, then looks for thieves: when there are none, a thief that comes later will see
// the raised flag after its barrier (or the holder will have seen the thief) and wait, so the
// holder may take runnext with a plain load and store. Without membarrier both sides use the
// exchange.
bool g_runnext_fast = false;

void runnext_fast_init() {
  g_runnext_fast = ::syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0;
}

}  // namespace

bool asymmetric_barrier_ready() noexcept {
  return g_runnext_fast;
}

void asymmetric_barrier() {
  if (::syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) != 0)
    fatal("membarrier failed after it was registered");
}

namespace {
// The revocation budget's window: when it began, and the revocations counted in it. Updated
// loosely (a few revocations more or less per window do not matter).
std::atomic<int64_t> g_revocation_window_start{0};
std::atomic<uint32_t> g_revocations_in_window{0};
}  // namespace

bool bias_allowed() noexcept {
  if (!asymmetric_barrier_ready()) return false;
  if (g_revocations_in_window.load(std::memory_order_relaxed) < kBiasRevocationBudget) return true;
  return now_ns() - g_revocation_window_start.load(std::memory_order_relaxed) >=
         kBiasRevocationWindowNs;
}

void note_bias_revoked() noexcept {
  const int64_t now = now_ns();
  int64_t start = g_revocation_window_start.load(std::memory_order_relaxed);
  if (now - start >= kBiasRevocationWindowNs &&
      g_revocation_window_start.compare_exchange_strong(start, now, std::memory_order_relaxed))
    g_revocations_in_window.store(0, std::memory_order_relaxed);
  g_revocations_in_window.fetch_add(1, std::memory_order_relaxed);
}

namespace {

// Puts f (nullptr to empty it) in p's runnext and returns what was there (nullptr when empty or
// taken by a thief). REQUIRES: the caller holds p.
inline __attribute__((always_inline)) Fiber* swap_runnext(Processor* p, Fiber* f) {
  if (g_runnext_fast) [[likely]] {
    p->runnext_taking.store(true, std::memory_order_relaxed);
    std::atomic_signal_fence(std::memory_order_seq_cst);
    if (p->runnext_thieves.load(std::memory_order_acquire) == 0) [[likely]] {
      Fiber* old = p->runnext.load(std::memory_order_relaxed);
      p->runnext.store(f, std::memory_order_release);  // a thief's exchange reads f's record
      p->runnext_taking.store(false, std::memory_order_release);
      return old;
    }
    p->runnext_taking.store(false, std::memory_order_release);
  }
  return p->runnext.exchange(f, std::memory_order_acq_rel);
}

// Takes p's runnext (nullptr when empty or taken by a thief). REQUIRES: the caller holds p.
inline __attribute__((always_inline)) Fiber* take_runnext(Processor* p) {
  if (!p->runnext.load(std::memory_order_relaxed)) return nullptr;
  return swap_runnext(p, nullptr);
}

// A thief's side of the protocol: from enter to leave it may exchange victim's runnext.
void runnext_thief_enter(Processor* victim) {
  if (!g_runnext_fast) return;  // the holder exchanges too
  victim->runnext_thieves.fetch_add(1, std::memory_order_acq_rel);
  asymmetric_barrier();
  // A take is a few instructions, unless the holder's thread was preempted in the middle.
  for (int spins = 0; victim->runnext_taking.load(std::memory_order_acquire); ++spins)
    spin_wait_step(spins);
}

void runnext_thief_leave(Processor* victim) {
  if (!g_runnext_fast) return;
  victim->runnext_thieves.fetch_sub(1, std::memory_order_release);
}

// ----- local run queue (Go's runq) -----

bool runq_empty(Processor* p) {
  // Retry until head, tail and runnext were read consistently.
  for (;;) {
    uint32_t h = p->runq_head.load(std::memory_order_acquire);
    uint32_t t = p->runq_tail.load(std::memory_order_acquire);
    Fiber* next = p->runnext.load(std::memory_order_acquire);
    if (p->runq_tail.load(std::memory_order_acquire) == t) return h == t && next == nullptr;
  }
}

void runqput_local(Processor* p, Fiber* f);

// Moves half of p's queue plus f to the global queue. Fails when a thief raced us.
bool runqputslow(Processor* p, Fiber* f, uint32_t h, uint32_t t) {
  constexpr uint32_t kHalf = kRunQueueSize / 2;
  Fiber* batch[kHalf + 1];
  uint32_t n = (t - h) / 2;
  if (n != kHalf) fatal("runqputslow: queue is not full");
  for (uint32_t i = 0; i < n; ++i)
    batch[i] = p->runq[(h + i) % kRunQueueSize].load(std::memory_order_relaxed);
  if (!p->runq_head.compare_exchange_strong(h, h + n, std::memory_order_release,
                                            std::memory_order_relaxed))
    return false;
  batch[n] = f;
  Sched& s = sched();
  std::lock_guard<SpinLock> g(s.lock);
  globrunqput_array_locked(s, batch, n + 1);
  return true;
}

// Puts f on p's queue; with next, into runnext (kicking the old runnext to the tail).
// REQUIRES: the caller owns p.
void runqput(Processor* p, Fiber* f, bool next) {
  if (next) {
    // Thieves only ever take a non-empty runnext, so filling an empty one needs no exchange.
    if (p->runnext.load(std::memory_order_relaxed) == nullptr) {
      p->runnext.store(f, std::memory_order_release);
      return;
    }
    Fiber* old = swap_runnext(p, f);
    if (!old) return;
    f = old;
  }
  runqput_local(p, f);
}

void runqput_local(Processor* p, Fiber* f) {
  for (;;) {
    uint32_t h = p->runq_head.load(std::memory_order_acquire);
    uint32_t t = p->runq_tail.load(std::memory_order_relaxed);
    if (t - h < kRunQueueSize) {
      p->runq[t % kRunQueueSize].store(f, std::memory_order_relaxed);
      p->runq_tail.store(t + 1, std::memory_order_release);
      return;
    }
    if (runqputslow(p, f, h, t)) return;
  }
}

Fiber* runq_take_head(Processor* p) {
  for (;;) {
    uint32_t h = p->runq_head.load(std::memory_order_acquire);
    uint32_t t = p->runq_tail.load(std::memory_order_relaxed);
    if (t == h) return nullptr;
    Fiber* f = p->runq[h % kRunQueueSize].load(std::memory_order_relaxed);
    if (p->runq_head.compare_exchange_weak(h, h + 1, std::memory_order_release,
                                           std::memory_order_relaxed))
      return f;
  }
}

// Takes the next fiber of p: runnext first, except that every 64th pick in a row goes to the
// queue, so two tasks handing the processor back and forth through runnext cannot starve the
// rest (Go gets the same from runnext inheriting the time slice). REQUIRES: the caller owns p.
inline __attribute__((always_inline)) Fiber* runqget(Processor* p) {
  if (++p->runnext_streak >= 64) [[unlikely]] {
    p->runnext_streak = 0;
    if (Fiber* f = runq_take_head(p)) return f;
  }
  if (Fiber* next = take_runnext(p)) return next;
  p->runnext_streak = 0;
  return runq_take_head(p);
}

// Grabs half of victim's queue into batch (a ring of kRunQueueSize starting at batch_head).
uint32_t runqgrab(Processor* victim, std::atomic<Fiber*>* batch, uint32_t batch_head,
                  bool steal_next) {
  for (;;) {
    uint32_t h = victim->runq_head.load(std::memory_order_acquire);
    uint32_t t = victim->runq_tail.load(std::memory_order_acquire);
    uint32_t n = t - h;
    n = n - n / 2;
    if (n == 0) {
      if (steal_next) {
        Fiber* next = victim->runnext.load(std::memory_order_acquire);
        if (next) {
          if (victim->status.load(std::memory_order_relaxed) == ProcStatus::kRunning) {
            // Let a running P pick its runnext first: a pair talking over a channel stays on
            // one thread. If the P switched tasks meanwhile it is making progress, and a
            // runnext seen again is a new hand-off (the pair's other task), not one left
            // waiting: leave it. The wait sleeps (3 µs, as Go's): a spin here took the CPU
            // from the victim's own thread when the machine had more threads than CPUs.
            uint64_t tick = victim->published_tick.load(std::memory_order_relaxed);
            std::this_thread::sleep_for(std::chrono::microseconds(3));
            if (victim->published_tick.load(std::memory_order_relaxed) != tick) return 0;
          }
          runnext_thief_enter(victim);
          bool took =
              victim->runnext.compare_exchange_strong(next, nullptr, std::memory_order_acq_rel);
          runnext_thief_leave(victim);
          if (!took) continue;
          batch[batch_head % kRunQueueSize].store(next, std::memory_order_relaxed);
          return 1;
        }
      }
      return 0;
    }
    if (n > kRunQueueSize / 2) continue;  // inconsistent read
    for (uint32_t i = 0; i < n; ++i) {
      Fiber* f = victim->runq[(h + i) % kRunQueueSize].load(std::memory_order_relaxed);
      batch[(batch_head + i) % kRunQueueSize].store(f, std::memory_order_relaxed);
    }
    if (victim->runq_head.compare_exchange_strong(h, h + n, std::memory_order_acq_rel,
                                                  std::memory_order_relaxed))
      return n;
  }
}

// Steals half of victim's queue into p's; returns one fiber to run.
Fiber* runqsteal(Processor* p, Processor* victim, bool steal_next) {
  uint32_t t = p->runq_tail.load(std::memory_order_relaxed);
  uint32_t n = runqgrab(victim, p->runq, t, steal_next);
  if (n == 0) return nullptr;
  counters().steals.fetch_add(1, std::memory_order_relaxed);
  --n;
  Fiber* f = p->runq[(t + n) % kRunQueueSize].load(std::memory_order_relaxed);
  if (n == 0) return f;
  p->runq_tail.store(t + n, std::memory_order_release);
  return f;
}

// Takes a batch from the global queue into p. REQUIRES: sched lock.
Fiber* globrunqget_locked(Sched& s, Processor* p, int max) {
  int64_t size = s.gq_size.load(std::memory_order_relaxed);
  if (size == 0) return nullptr;
  int64_t n = std::min<int64_t>(size, size / std::max(1, g_sched_config.max_procs) + 1);
  if (max > 0) n = std::min<int64_t>(n, max);
  n = std::min<int64_t>(n, kRunQueueSize / 2);
  s.gq_size.fetch_sub(n, std::memory_order_relaxed);
  Fiber* f = globrunqpop_locked(s);
  for (int64_t i = 1; i < n; ++i) runqput_local(p, globrunqpop_locked(s));
  return f;
}

// ----- processors and machines -----

Processor* new_proc_locked(Sched& s) {
  int id = s.nprocs.load(std::memory_order_relaxed);
  if (id >= kMaxProcs) return nullptr;
  auto* p = new Processor();
  p->id = id;
  s.allp[id] = p;
  s.nprocs.store(id + 1, std::memory_order_release);
  return p;
}

// Takes an idle P when fewer than max_procs are running. REQUIRES: sched lock.
Processor* pidleget_locked(Sched& s) {
  if (g_procs_running >= g_sched_config.max_procs) return nullptr;
  Processor* p = s.pidle;
  if (p) {
    s.pidle = p->idle_link;
    s.npidle.fetch_sub(1, std::memory_order_relaxed);
  } else {
    p = new_proc_locked(s);
    if (!p) return nullptr;
  }
  p->idle_link = nullptr;
  p->status.store(ProcStatus::kRunning, std::memory_order_relaxed);
  ++g_procs_running;
  sysmon_wake_if_idle();
  return p;
}

// Returns p to the idle list. REQUIRES: sched lock.
void pidleput_locked(Sched& s, Processor* p) {
  if (p->status.load(std::memory_order_relaxed) == ProcStatus::kRunning) --g_procs_running;
  p->status.store(ProcStatus::kIdle, std::memory_order_relaxed);
  p->m = nullptr;
  p->current.store(nullptr, std::memory_order_relaxed);
  p->idle_link = s.pidle;
  s.pidle = p;
  s.npidle.fetch_add(1, std::memory_order_relaxed);
}

void machine_main(Machine* m);
void check_dead_locked(Sched& s);

// Gives p (or an idle P) to an idle or new machine. spinning: the machine starts out looking
// for work (nmspinning was already raised by the caller).
void start_machine(Processor* p, bool spinning) {
  Sched& s = sched();
  std::unique_lock<SpinLock> g(s.lock);
  if (!p) {
    p = pidleget_locked(s);
    if (!p) {
      g.unlock();
      if (spinning) s.nmspinning.fetch_sub(1, std::memory_order_acq_rel);
      return;
    }
  }
  Machine* m = s.midle;
  if (m) {
    s.midle = m->idle_link;
    --s.nmidle;
    m->next_p = p;
    m->next_spinning = spinning;
    p->m = m;
    g.unlock();
    m->wake_word.store(1, std::memory_order_release);
    futex_wake(&m->wake_word);
    return;
  }
  m = new Machine();
  m->id = s.mcount.fetch_add(1, std::memory_order_relaxed);
  m->all_next = s.allm;
  s.allm = m;
  m->next_p = p;
  m->next_spinning = spinning;
  m->rand_state = 0x9e3779b97f4a7c15ULL * static_cast<uint64_t>(m->id + 1);
  p->m = m;
  g.unlock();
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attr, 1 << 20);
  pthread_t th;
  // Block signals in runtime threads except the synchronous ones, so process signals go to
  // the application's threads.
  sigset_t all, old;
  sigfillset(&all);
  sigdelset(&all, SIGSEGV);
  sigdelset(&all, SIGBUS);
  sigdelset(&all, SIGFPE);
  sigdelset(&all, SIGILL);
  sigdelset(&all, SIGQUIT);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  int rc = pthread_create(
      &th, &attr,
      [](void* a) -> void* {
        machine_main(static_cast<Machine*>(a));
        return nullptr;
      },
      m);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  pthread_attr_destroy(&attr);
  if (rc != 0) fatal("cannot create a runtime thread");
}

// ----- an idle machine that lingers -----
//
// A channel hand-off puts the woken task in its waker's runnext, where it runs as soon as the
// waker parks, which it usually does at once (a request and its reply). Waking an idle machine
// for each such hand-off, as Go does, costs the busy thread more than the wake-up: with two
// processors, unbuffered ping-pong ran 46.5 ns a round trip (median) without those wake-ups
// against 50.4 with them, and moved between 47 and 60 from process to process. So a machine
// that has just found nothing to do lingers for a while (kLingerNs) before it sleeps for good:
// it sleeps in short timed waits, and after each one looks at the running processors, waking a
// machine (itself, as a rule) when a runnext task sat through a whole interval without its
// processor switching tasks. One machine lingers at a time, and while it does, hand-offs into
// runnext wake nobody (ready_in_place). A task readied by a waker that keeps running thus waits at
// most about two intervals (the interval starts at kLingerFirstLookNs and doubles, up to
// kLingerMaxLookNs, while nothing is found), then runs on the idle processor as before.
//
// The last look, when the machine stops lingering, is ordered against the hand-offs as the
// biased locks are: the machine lowers g_lingering, runs the asymmetric barrier, then looks at
// every runnext; a hand-off stores runnext, then reads g_lingering, with no fence between. So a
// hand-off either sees the machine gone and wakes one, or its task is seen by the last look.
constexpr int64_t kLingerNs = 50'000'000;
constexpr int64_t kLingerFirstLookNs = 50'000;
constexpr int64_t kLingerMaxLookNs = 800'000;

// Whether some running processor's runnext holds a task (any_waiting) or holds one it has not
// run through a whole interval: its tick is what ticks[] noted at the last look (updated).
bool runnext_left_waiting(Sched& s, uint64_t* ticks, bool any_waiting) {
  const int n = s.nprocs.load(std::memory_order_acquire);
  bool found = false;
  for (int i = 0; i < n; ++i) {
    Processor* p = s.allp[i];
    const uint64_t tick = p->published_tick.load(std::memory_order_relaxed);
    if (p->status.load(std::memory_order_relaxed) == ProcStatus::kRunning &&
        p->runnext.load(std::memory_order_relaxed) != nullptr && (any_waiting || tick == ticks[i]))
      found = true;
    ticks[i] = tick;
  }
  return found;
}

// Whether a lingering machine has anything to watch for: some processor runs (and may hand
// off), and another may start (else a hand-off would wake nobody anyway).
bool worth_lingering() noexcept {
  return g_procs_running.load(std::memory_order_acquire) > 0 && processor_may_start();
}

// Lingers (see above) until m is handed a processor, lingering stops being worth it, or
// kLingerNs pass. One machine lingers at a time.
void linger(Machine* m) {
  Sched& s = sched();
  if (!asymmetric_barrier_ready() || !worth_lingering()) return;
  int none = 0;
  if (!g_lingering.compare_exchange_strong(none, 1, std::memory_order_seq_cst)) return;
  uint64_t ticks[kMaxProcs] = {};  // a processor made while lingering starts at 0
  runnext_left_waiting(s, ticks, false);
  const int64_t until = now_ns() + kLingerNs;
  int64_t interval = kLingerFirstLookNs;
  while (m->wake_word.load(std::memory_order_acquire) == 0) {
    futex_wait(&m->wake_word, 0, interval);
    if (m->wake_word.load(std::memory_order_acquire) != 0) break;
    if (runnext_left_waiting(s, ticks, false)) {
      wake_processor();
      interval = kLingerFirstLookNs;
      continue;
    }
    interval = std::min(2 * interval, kLingerMaxLookNs);
    if (now_ns() >= until || !worth_lingering()) break;
  }
  g_lingering.store(0, std::memory_order_seq_cst);
  // Handed a processor: it looks for work (runnext included) as a spinning machine.
  if (m->wake_word.load(std::memory_order_acquire) != 0) return;
  asymmetric_barrier();
  if (runnext_left_waiting(s, ticks, true)) wake_processor();
}

// Parks the machine until start_machine hands it a P.
void stop_machine(Machine* m) {
  Sched& s = sched();
  {
    std::lock_guard<SpinLock> g(s.lock);
    m->idle_link = s.midle;
    s.midle = m;
    ++s.nmidle;
    m->wake_word.store(0, std::memory_order_relaxed);
    check_dead_locked(s);
  }
  linger(m);
  while (m->wake_word.load(std::memory_order_acquire) == 0) futex_wait(&m->wake_word, 0);
  m->p = m->next_p;
  m->next_p = nullptr;
  m->spinning = m->next_spinning;
  m->next_spinning = false;
}

// make_runnable's rare paths, out of line so that its common one saves few registers.
__attribute__((noinline)) void globrunqput_one(Fiber* f) {
  Sched& s = sched();
  std::lock_guard<SpinLock> g(s.lock);
  globrunqput_locked(s, f);
}

__attribute__((noinline)) void runqput_out_of_line(Processor* p, Fiber* f, bool next) {
  runqput(p, f, next);
}

void make_runnable(Machine* m, Fiber* f, bool next, bool wake = true) {
  Processor* p = m ? m->p : nullptr;
  if (p && next && p->runnext.load(std::memory_order_relaxed) == nullptr) [[likely]] {
    runnext_put(p, f);  // runqput's first case, inline
  } else {
    f->state.store(FiberState::kRunnable, std::memory_order_release);
    if (!p) {
      globrunqput_one(f);
    } else {
      runqput_out_of_line(p, f, next);
    }
  }
  // wake_processor's first test, inline: with every P running there is nobody to wake.
  if (wake && processor_may_start()) wake_processor();
}

int64_t earliest_timer() {
  Sched& s = sched();
  int n = s.nprocs.load(std::memory_order_acquire);
  int64_t best = INT64_MAX;
  for (int i = 0; i < n; ++i)
    best = std::min(best, s.allp[i]->timers.next_when.load(std::memory_order_acquire));
  return best;
}

void run_all_timers(int64_t now) {
  Sched& s = sched();
  int n = s.nprocs.load(std::memory_order_acquire);
  for (int i = 0; i < n; ++i) {
    TimerHeap* h = &s.allp[i]->timers;
    if (h->next_when.load(std::memory_order_acquire) <= now) run_timers(h, now);
  }
}

// Steals from other Ps (and fires their due timers). REQUIRES: m spinning, m->p set.
Fiber* steal_work(Machine* m) {
  Sched& s = sched();
  Processor* p = m->p;
  int n = s.nprocs.load(std::memory_order_acquire);
  if (n <= 1) {
    return nullptr;
  }
  for (int round = 0; round < 4; ++round) {
    bool last = round == 3;
    uint32_t start = fast_rand(m);
    int64_t now = 0;
    for (int k = 0; k < n; ++k) {
      Processor* v = s.allp[(start + static_cast<uint32_t>(k)) % static_cast<uint32_t>(n)];
      if (v == p) continue;
      int64_t when = v->timers.next_when.load(std::memory_order_acquire);
      if (when != INT64_MAX) {
        if (now == 0) now = now_ns();
        if (when <= now && run_timers(&v->timers, now) > 0) {
          if (Fiber* f = runqget(p)) return f;
        }
      }
      if (!runq_empty(v)) {
        if (Fiber* f = runqsteal(p, v, last)) return f;
      }
    }
  }
  return nullptr;
}

bool any_runq_nonempty(Sched& s) {
  int n = s.nprocs.load(std::memory_order_acquire);
  for (int i = 0; i < n; ++i)
    if (!runq_empty(s.allp[i])) return true;
  return false;
}

// Deals with a P that sysmon marked stuck while its machine ran one task: keep it if there is
// room under max_procs, otherwise give it up. Returns false when m lost its P.
bool reclaim_stuck(Machine* m) {
  Sched& s = sched();
  Processor* p = m->p;
  std::lock_guard<SpinLock> g(s.lock);
  if (g_procs_running < g_sched_config.max_procs) {
    p->status.store(ProcStatus::kRunning, std::memory_order_relaxed);
    ++g_procs_running;
    return true;
  }
  // Move whatever is queued here to the global queue, then idle the P.
  while (Fiber* f = runqget(p)) globrunqput_locked(s, f);
  pidleput_locked(s, p);
  m->p = nullptr;
  return false;
}

// The idle poll's window is idle_poll_ns >> g_idle_poll_shift: halved by every poll that
// ran its whole window for nothing, back in full after an event that followed a sleep shorter
// than the full window.
std::atomic<int> g_idle_poll_shift{0};
constexpr int kIdlePollOff = 12;  // at this shift the window is under 0.1% of itself: skipped

// With network events a moment ago, the next one is likely microseconds away: polls for it
// without sleeping for a short while before m gives up its P. Going to sleep in epoll_wait and
// being woken costs both sides more than that on a virtual machine: the waker's CPU sends an
// interrupt, and the sleeper's thread is charged for its wake-up. Returns a fiber, or nullptr
// when nothing came (or the local or global queue filled meanwhile).
//
// Only while the runtime has one processor. The poll takes the poller's role without being the
// blocked poller that others count on: an M idling another P with timers leaves them to the
// poller with a break, and a break swallowed by this poll would leave those timers to nobody.
// With one P, its timers are m's own and run as soon as m looks for work again.
Fiber* idle_poll(Machine* m) {
  Sched& s = sched();
  int shift = g_idle_poll_shift.load(std::memory_order_relaxed);
  if (g_sched_config.idle_poll_ns == 0 || shift >= kIdlePollOff || proc_count() != 1 ||
      netpoll_waiters() == 0)
    return nullptr;
  int64_t now = now_ns();
  if (now - netpoll_last_ready_ns() > 1'000'000) return nullptr;  // no recent I/O
  if (g_netpoll_blocked.exchange(true, std::memory_order_acq_rel)) return nullptr;
  Processor* p = m->p;
  int64_t window_end = now + (g_sched_config.idle_poll_ns >> shift);
  int64_t until = std::min(window_end, earliest_timer());
  // A timer armed meanwhile for before `until` breaks the poll (netpoll_break), as it would the
  // blocked poller's sleep: the poll ends, and m then runs the timers or polls with them in mind.
  g_netpoll_until.store(until, std::memory_order_release);
  uint64_t breaks = netpoll_breaks_taken();
  Fiber* list = nullptr;
  int64_t t = now;
  do {
    for (int i = 0; i < 64; ++i) __builtin_ia32_pause();
    if (netpoll_break_pending()) break;  // left for the blocking poll that follows
    list = netpoll(0);
    t = now_ns();
  } while (!list && runq_empty(p) && s.gq_size.load(std::memory_order_relaxed) == 0 && t < until &&
           netpoll_breaks_taken() == breaks);
  g_netpoll_until.store(INT64_MAX, std::memory_order_release);
  g_netpoll_blocked.store(false, std::memory_order_release);
  if (!list) {
    // Only a poll that ran its whole window for nothing narrows the next one.
    if (t >= window_end) g_idle_poll_shift.store(shift + 1, std::memory_order_relaxed);
    return nullptr;
  }
  inject_list(list->next);
  return list;
}

// Finds a runnable fiber; blocks (polling the network, or parked) until there is one.
// Returns with m->p set.
Fiber* find_runnable(Machine* m) {
  Sched& s = sched();
top:
  while (!m->p) {
    {
      std::lock_guard<SpinLock> g(s.lock);
      if (Processor* p = pidleget_locked(s)) {
        m->p = p;
        p->m = m;
        break;
      }
    }
    stop_machine(m);
  }
  Processor* p = m->p;
  if (p->status.load(std::memory_order_relaxed) == ProcStatus::kStuck && !reclaim_stuck(m))
    goto top;

  if (p->timers.next_when.load(std::memory_order_relaxed) != INT64_MAX) {
    int64_t now = now_ns();
    if (p->timers.next_when.load(std::memory_order_relaxed) <= now) run_timers(&p->timers, now);
  }
  if (p->schedtick % 61 == 0 && s.gq_size.load(std::memory_order_relaxed) > 0) {
    std::lock_guard<SpinLock> g(s.lock);
    if (Fiber* f = globrunqget_locked(s, p, 1)) return f;
  }
  if (Fiber* f = runqget(p)) return f;
  if (s.gq_size.load(std::memory_order_relaxed) > 0) {
    std::lock_guard<SpinLock> g(s.lock);
    if (Fiber* f = globrunqget_locked(s, p, 0)) return f;
  }
  if (netpoll_waiters() > 0 && !g_netpoll_blocked.load(std::memory_order_relaxed)) {
    if (Fiber* list = netpoll(0)) {
      Fiber* f = list;
      inject_list(list->next);
      return f;
    }
  }
  {
    int busy = g_sched_config.max_procs - s.npidle.load(std::memory_order_relaxed);
    if (m->spinning || 2 * s.nmspinning.load(std::memory_order_relaxed) < busy) {
      if (!m->spinning) {
        m->spinning = true;
        s.nmspinning.fetch_add(1, std::memory_order_acq_rel);
      }
      if (Fiber* f = steal_work(m)) return f;
    }
  }

  // (Work that arrived during an idle poll is found by the checks under the lock below.)
  if (Fiber* f = idle_poll(m)) return f;

  // Nothing to do: give up the P.
  {
    std::lock_guard<SpinLock> g(s.lock);
    if (s.gq_size.load(std::memory_order_relaxed) > 0) {
      if (Fiber* f = globrunqget_locked(s, p, 0)) return f;
    }
    if (!runq_empty(p)) goto top;  // a timer callback refilled it
    pidleput_locked(s, p);
    m->p = nullptr;
  }
  if (m->spinning) {
    m->spinning = false;
    s.nmspinning.fetch_sub(1, std::memory_order_acq_rel);
    // Work may have arrived after we looked and before we stopped spinning.
    if (any_runq_nonempty(s) || s.gq_size.load(std::memory_order_acquire) > 0) {
      std::lock_guard<SpinLock> g(s.lock);
      if (Processor* p2 = pidleget_locked(s)) {
        m->p = p2;
        p2->m = m;
        m->spinning = true;
        s.nmspinning.fetch_add(1, std::memory_order_acq_rel);
        goto top;
      }
    }
  }
  // Become the network poller if there is I/O or a timer to wait for.
  int64_t next_timer = earliest_timer();
  if ((netpoll_waiters() > 0 || next_timer != INT64_MAX) &&
      !g_netpoll_blocked.exchange(true, std::memory_order_acq_rel)) {
    int64_t timeout = -1;
    if (next_timer != INT64_MAX) timeout = std::max<int64_t>(0, next_timer - now_ns());
    g_netpoll_until.store(next_timer, std::memory_order_release);
    if (s.gq_size.load(std::memory_order_acquire) > 0 || any_runq_nonempty(s)) timeout = 0;
    int64_t slept_from = now_ns();
    Fiber* list = netpoll(timeout);
    // An event that came after a sleep shorter than the idle poll's full window: polling would
    // have caught it without this sleep, so the window comes back in full.
    if (list && timeout != 0 && now_ns() - slept_from < g_sched_config.idle_poll_ns)
      g_idle_poll_shift.store(0, std::memory_order_relaxed);
    g_netpoll_until.store(INT64_MAX, std::memory_order_release);
    g_netpoll_blocked.store(false, std::memory_order_release);
    std::unique_lock<SpinLock> g(s.lock);
    if (Processor* p2 = pidleget_locked(s)) {
      g.unlock();
      m->p = p2;
      p2->m = m;
      // With a P in hand, the tasks that due timers wake go onto it, instead of waking another
      // machine to take them while this one goes to sleep (a futex round trip per timer).
      run_all_timers(now_ns());
      if (list) {
        Fiber* f = list;
        inject_list(list->next);
        return f;
      }
      goto top;
    }
    globrunqput_list_locked(s, list);
    g.unlock();
    run_all_timers(now_ns());
  } else if (next_timer < g_netpoll_until.load(std::memory_order_acquire)) {
    // Another machine polls, and it may have read the heaps before a task of ours added an earlier
    // timer (timer_start wakes nobody when the adder holds a P, counting on its machine to come
    // here). Cut the poller's sleep short so it waits for the new deadline instead.
    netpoll_break();
  }
  stop_machine(m);
  goto top;
}

void execute(Machine* m, Fiber* f);

void schedule_loop(Machine* m) {
  Sched& s = sched();
  for (;;) {
    Fiber* f = find_runnable(m);
    if (m->spinning) {
      m->spinning = false;
      // The last spinner found work: start another so parallelism is not lost.
      if (s.nmspinning.fetch_sub(1, std::memory_order_acq_rel) == 1) wake_processor();
    }
    execute(m, f);
  }
}

void finish_fiber(Machine* m, Fiber* f);
void stop_machine(Machine* m);

// The lines of a record that running a task reads: the first two (the third holds what only
// some tasks need; see Fiber).
constexpr std::size_t kRecordHotBytes = 128;
static_assert(kRecordHotBytes <= sizeof(Fiber));

// Asks for those lines of f; for_write when the caller is about to write them.
void prefetch_record(const Fiber* f, bool for_write = false) {
  const char* r = reinterpret_cast<const char*>(f);
  for (std::size_t off = 0; off < kRecordHotBytes; off += 64) {
    if (for_write) {
      __builtin_prefetch(r + off, 1);
    } else {
      __builtin_prefetch(r + off, 0);
    }
  }
}

// Asks the CPU for what the next tasks in p's queue touch first when they run, far enough
// ahead that the misses overlap the tasks running meanwhile. A task parked for a while has its
// record and saved frame out of cache and its stack page out of the TLB (stacks lie a stack
// size apart, so every one is its own page-table line too); a queue of woken tasks (a close()
// of a busy channel) otherwise pays those misses one after another. Three distances:
//   - the record kRecordAhead places on, the lines a run reads (kRecordHotBytes);
//   - the saved frame kFrameAhead places on, its first lines;
//   - every kWalkGroup tasks, one line on each of the next kWalkGroup stacks past that, issued
//     together so the CPU's page walkers translate them side by side instead of one per task.
// Reads records that a thief may take meanwhile: records are never unmapped, and only
// addresses to prefetch come of it (a prefetch does not fault).
__attribute__((no_sanitize("thread"))) void prefetch_upcoming(Processor* p) {
  constexpr uint32_t kRecordAhead = 12;
  constexpr uint32_t kFrameAhead = 2;
  constexpr uint32_t kFrameLines = 8;
  constexpr uint32_t kWalkGroup = 8;
  static_assert(kFrameAhead + kWalkGroup < kRecordAhead, "the group reads prefetched records");
  uint32_t h = p->runq_head.load(std::memory_order_relaxed);
  uint32_t n = p->runq_tail.load(std::memory_order_relaxed) - h;
  if (n == 0 || n > kRunQueueSize) return;  // empty, or a torn read of a changing queue
  auto queued = [&](uint32_t i) {
    return p->runq[(h + i) % kRunQueueSize].load(std::memory_order_relaxed);
  };
  if (n > kRecordAhead) {
    prefetch_record(queued(kRecordAhead));
  }
  const uint32_t frame_at = n > kFrameAhead ? kFrameAhead : n - 1;
  if (auto* ctx = static_cast<const char*>(queued(frame_at)->ctx)) {
    for (uint32_t line = 0; line < kFrameLines; ++line) __builtin_prefetch(ctx + 64 * line);
  }
  if (h % kWalkGroup == 0 && n > kFrameAhead + kWalkGroup) {
    void* frames[kWalkGroup];
    for (uint32_t k = 0; k < kWalkGroup; ++k) frames[k] = queued(kFrameAhead + 1 + k)->ctx;
    for (void* frame : frames) {
      if (frame) __builtin_prefetch(frame);
    }
  }
}

void execute(Machine* m, Fiber* f) {
  Processor* p = m->p;
  prefetch_upcoming(p);
  p->schedtick++;
  p->published_tick.store(p->schedtick, std::memory_order_relaxed);
  p->current.store(f, std::memory_order_relaxed);
  p->thread_id.store(m->tid, std::memory_order_relaxed);
  switch_context(m, nullptr, f);
  // Back on the scheduler context; after_switch already handled the fiber that left.
  if (m->p) m->p->current.store(nullptr, std::memory_order_relaxed);
}

// Takes a record from the shared pool (nullptr when empty). REQUIRES: s.free_lock.
Fiber* take_free_locked(Sched& s) {
  if (s.free_pool.empty()) return nullptr;
  Fiber* f = s.free_pool.at(s.free_pool.tail() - 1);
  s.free_pool.pop_back();
  return f;
}

// Records come from the processor's cache, an array: the one a spawn kAllocAhead spawns from
// now will write is known, and asked for now. A record freed on another CPU (a task spawned
// here and run there) is a few cache-line transfers away; one spawn ahead was too close.
Fiber* alloc_fiber(Processor* p) {
  constexpr int kAllocAhead = 4;
  if (p && p->free_count == 0) {
    // Refill the processor's cache with a batch from the shared pool.
    Sched& s = sched();
    std::lock_guard<SpinLock> g(s.free_lock);
    while (p->free_count < Processor::kFiberBatch) {
      Fiber* f = take_free_locked(s);
      if (!f) break;
      p->free_cache[p->free_count++] = f;
    }
  }
  if (p && p->free_count > 0) {
    Fiber* f = p->free_cache[--p->free_count];
    if (p->free_count >= kAllocAhead)
      prefetch_record(p->free_cache[p->free_count - kAllocAhead], /*for_write=*/true);
    f->next = nullptr;
    return f;
  }
  Sched& s = sched();
  if (!p) {
    std::lock_guard<SpinLock> g(s.free_lock);
    if (Fiber* f = take_free_locked(s)) {
      f->next = nullptr;
      return f;
    }
  }
  // Make fibers a slab at a time: one allocation, one registry entry lock.
  constexpr int kSlab = 64;
  static_assert(kSlab - 1 <= Processor::kFiberCacheMax);
  Fiber* slab = new Fiber[kSlab];
  registry_record_new(slab, kSlab);
  if (p) {
    // The cache is empty here (else a record would have come from it).
    for (int i = kSlab - 1; i >= 1; --i) p->free_cache[p->free_count++] = &slab[i];
  } else {
    std::lock_guard<SpinLock> g(s.free_lock);
    for (int i = 1; i < kSlab; ++i) s.free_pool.push_back(&slab[i]);
  }
  return &slab[0];
}

void free_fiber(Processor* p, Fiber* f) {
  if (f->flags & Fiber::kIsMain) {
    f->main = nullptr;
    f->flags &= ~Fiber::kIsMain;
  }
  f->wait_reason.store(WaitReason::kNone, std::memory_order_relaxed);
  if (!p) {
    Sched& s = sched();
    std::lock_guard<SpinLock> g(s.free_lock);
    s.free_pool.push_back(f);
    return;
  }
  if (p->free_count == Processor::kFiberCacheMax) {
    // Hand the oldest batch to the shared pool in one trip; the cache keeps the warmest.
    constexpr int kBatch = Processor::kFiberBatch;
    {
      Sched& s = sched();
      std::lock_guard<SpinLock> g(s.free_lock);
      for (int i = 0; i < kBatch; ++i) s.free_pool.push_back(p->free_cache[i]);
    }
    std::copy(p->free_cache + kBatch, p->free_cache + p->free_count, p->free_cache);
    p->free_count -= kBatch;
  }
  p->free_cache[p->free_count++] = f;
}

void finish_fiber(Machine* m, Fiber* f) {
  fiber_release_resources(m, f);
  MainWaiter* mw = (f->flags & Fiber::kIsMain) ? f->main : nullptr;
  free_fiber(m->p, f);
  if (mw) {
    sched().mains_live.fetch_sub(1, std::memory_order_acq_rel);
    mw->done.store(1, std::memory_order_release);
    futex_wake(&mw->done, 1 << 30);
  }
}

// Picks the next fiber without going through the scheduler context, when that is safe and
// cheap: a P in good standing with a local fiber ready and no timer due. nullptr otherwise.
inline __attribute__((always_inline)) Fiber* quick_next(Machine* m) {
  Processor* p = m->p;
  if (!p || p->status.load(std::memory_order_relaxed) != ProcStatus::kRunning) return nullptr;
  if ((p->schedtick + 1) % 61 == 0) return nullptr;  // time to look at the global queue
  int64_t when = p->timers.next_when.load(std::memory_order_relaxed);
  if (when != INT64_MAX) [[unlikely]] {
    if (when <= now_ns()) return nullptr;
  }
  return runqget(p);
}

// Records that p now runs `next`, taken from its queue by quick_next; with `prefetch`, asks for
// what the tasks queued behind it will touch (prefetch_upcoming).
inline __attribute__((always_inline)) void start_next(Processor* p, Fiber* next, bool prefetch) {
  // prefetch_upcoming's first test, inline: an empty queue, the usual case, has nothing ahead.
  if (prefetch && p->runq_tail.load(std::memory_order_relaxed) !=
                      p->runq_head.load(std::memory_order_relaxed)) [[unlikely]]
    prefetch_upcoming(p);
  p->schedtick++;
  p->published_tick.store(p->schedtick, std::memory_order_relaxed);
  p->current.store(next, std::memory_order_relaxed);
}

// Switches the running fiber out for `action`, straight to the next local fiber when there is
// one, else to the scheduler context.
inline __attribute__((always_inline)) void switch_out(Machine* m, Fiber* self, PostAction action) {
  m->post = action;
  Fiber* next = quick_next(m);
  // A yield goes back into the queue itself; tasks that park or end are what a queue of woken
  // tasks runs through.
  if (next) start_next(m->p, next, action != PostAction::kYield);
  switch_context(m, self, next);
}

uint64_t next_task_id(Processor* p) {
  Sched& s = sched();
  if (!p) return s.id_source.fetch_add(1, std::memory_order_relaxed);
  if (p->next_id == p->id_limit) {
    p->next_id = s.id_source.fetch_add(1024, std::memory_order_relaxed);
    p->id_limit = p->next_id + 1024;
  }
  return p->next_id++;
}

int process_thread_count() {
  std::ifstream in("/proc/self/stat");
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // Field 20 (num_threads) counted after the ")" that closes the command name.
  auto pos = content.rfind(')');
  if (pos == std::string::npos) return -1;
  int field = 2;
  std::size_t i = pos + 1;
  while (i < content.size() && field < 20) {
    if (content[i] == ' ') ++field;
    ++i;
  }
  return std::atoi(content.c_str() + i);
}

void check_dead_locked(Sched& s) {
  if (s.mains_live.load(std::memory_order_acquire) == 0) return;
  if (s.nmidle != s.mcount.load(std::memory_order_relaxed)) return;
  if (g_netpoll_blocked.load(std::memory_order_acquire)) return;
  if (s.gq_size.load(std::memory_order_acquire) > 0) return;
  if (any_runq_nonempty(s)) return;
  if (timers_pending() > 0) return;
  if (netpoll_waiters() > 0) return;
  int threads = process_thread_count();
  if (threads < 0 || threads > known_thread_count()) return;  // someone outside may wake us
  static const char kMsg[] = "fatal error: all tasks are asleep - deadlock!\n\n";
  ssize_t ignored = ::write(2, kMsg, sizeof kMsg - 1);
  (void)ignored;
  weft::dump_tasks(2);
  std::_Exit(2);
}

void install_altstack(Machine* m) {
  stack_t ss{};
  ss.ss_size = 64 * 1024;
  ss.ss_sp = std::malloc(ss.ss_size);
  ss.ss_flags = 0;
  m->altstack = ss.ss_sp;  // machines live forever; keep the block reachable
  if (ss.ss_sp) ::sigaltstack(&ss, nullptr);
}

void machine_main(Machine* m) {
  set_current_machine(m);
  m->tid = static_cast<int>(::gettid());
  pthread_attr_t attr;
  if (pthread_getattr_np(pthread_self(), &attr) == 0) {
    void* addr = nullptr;
    std::size_t size = 0;
    pthread_attr_getstack(&attr, &addr, &size);
    m->sched_stack_bottom = addr;
    m->sched_stack_size = size;
    pthread_attr_destroy(&attr);
  }
  m->tsan_sched_fiber = san::tsan_current();
  install_altstack(m);
  char name[16];
  std::snprintf(name, sizeof name, "weft-m%d", m->id);
  pthread_setname_np(pthread_self(), name);
  m->p = m->next_p;
  m->next_p = nullptr;
  m->spinning = m->next_spinning;
  m->next_spinning = false;
  schedule_loop(m);
}

int resolve_max_procs(int requested) {
  if (requested > 0) return std::min(requested, kMaxProcs / 2);
  if (const char* e = std::getenv("WEFT_MAXPROCS")) {
    int v = std::atoi(e);
    if (v > 0) return std::min(v, kMaxProcs / 2);
  }
  int cpus = 0;
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) cpus = CPU_COUNT(&set);
  if (cpus <= 0) cpus = static_cast<int>(std::thread::hardware_concurrency());
  // cgroup v2 CPU quota: "max 100000" or "<quota> <period>".
  std::ifstream cg("/sys/fs/cgroup/cpu.max");
  std::string quota, period;
  if (cg >> quota >> period && quota != "max") {
    double q = std::atof(quota.c_str()), per = std::atof(period.c_str());
    if (q > 0 && per > 0) {
      int lim = static_cast<int>((q + per - 1) / per);
      if (lim > 0) cpus = std::min(cpus, lim);
    }
  }
  return std::clamp(cpus, 1, kMaxProcs / 2);
}

}  // namespace

void process_other_post(Machine* m, Fiber* f, PostAction action) {
  switch (action) {
    case PostAction::kPark:
      break;  // handled by process_post
    case PostAction::kYield:
      make_runnable(m, f, false, /*wake=*/false);
      break;
    case PostAction::kYieldGlobal: {
      f->state.store(FiberState::kRunnable, std::memory_order_release);
      Sched& s = sched();
      {
        std::lock_guard<SpinLock> g(s.lock);
        globrunqput_locked(s, f);
      }
      wake_processor();
      break;
    }
    case PostAction::kHandoff: {
      // Debug migration (only ever processed on the scheduler context): hand this P, with f in
      // runnext, to another machine and sleep until given a P again.
      Processor* hp = m->p;
      if (!hp || m->current != nullptr) {
        make_runnable(m, f, true);
        break;
      }
      f->state.store(FiberState::kRunnable, std::memory_order_release);
      runqput(hp, f, false);  // behind the others, as a plain yield
      hp->current.store(nullptr, std::memory_order_relaxed);
      m->p = nullptr;
      start_machine(hp, false);
      stop_machine(m);
      break;
    }
    case PostAction::kExit:
      finish_fiber(m, f);
      break;
    case PostAction::kNone:
      fatal("task switched out without saying why", f);
  }
}

void park_cancelled(Machine* m, Fiber* f) {
  make_runnable(m, f, true);
}

Fiber* finish_current_fiber(Machine* m, Fiber* f) {
  f->state.store(FiberState::kDead, std::memory_order_relaxed);
  Fiber* next = quick_next(m);
  if (next) {
    start_next(m->p, next, true);
    // A task that has never run needs a stack and a first frame, and f's frame below its
    // function is exactly that: it takes f's stack where it is, with no switch.
    if (next->ctx == nullptr) {
      hand_stack_over(m, f, next);
      finish_fiber(m, f);
      return next;
    }
  }
  m->post = PostAction::kExit;
  switch_context(m, f, next);
  fatal("a finished task was resumed", f);
}

// ----- public-to-the-runtime functions -----

void ensure_started(const RuntimeOptions& opts) {
  Sched& s = sched();
  if (s.started.load(std::memory_order_acquire)) return;
  std::call_once(s.start_once, [&] {
    g_sched_config.max_procs = resolve_max_procs(opts.max_procs);
    g_sched_config.stack_size = opts.stack_size ? opts.stack_size : 256 * 1024;
    const char* mig = std::getenv("WEFT_DEBUG_MIGRATE");
    g_sched_config.migrate_on_yield = opts.migrate_on_yield || (mig && std::strcmp(mig, "1") == 0);
    if (opts.stuck_threshold.count() > 0)
      g_sched_config.stuck_threshold_ns = opts.stuck_threshold.count() * 1'000'000;
    int64_t idle_poll_us = opts.idle_poll.count();
    if (const char* e = std::getenv("WEFT_IDLE_POLL_US")) idle_poll_us = std::atoll(e);
    g_sched_config.idle_poll_ns =
        std::clamp<int64_t>(idle_poll_us, 0, 1000) * 1000;  // at most 1 ms
    runnext_fast_init();
    stack_pool_init(g_sched_config.stack_size, opts.guarded_stacks);
    netpoll_init();
    {
      std::lock_guard<SpinLock> g(s.lock);
      for (int i = 0; i < g_sched_config.max_procs; ++i) {
        Processor* p = new_proc_locked(s);
        p->idle_link = s.pidle;
        s.pidle = p;
        s.npidle.fetch_add(1, std::memory_order_relaxed);
      }
    }
    install_signal_handlers();
    sysmon_start();
    s.started.store(true, std::memory_order_release);
  });
}

bool runtime_started() noexcept {
  return sched().started.load(std::memory_order_acquire);
}
int proc_count() noexcept {
  return sched().nprocs.load(std::memory_order_acquire);
}
Processor* proc_at(int i) noexcept {
  return sched().allp[i];
}
int known_thread_count() noexcept {
  Sched& s = sched();
  return s.mcount.load(std::memory_order_relaxed) + 1 +
         s.run_callers.load(std::memory_order_relaxed) +
         s.service_threads.load(std::memory_order_relaxed);
}

void add_service_threads(int delta) noexcept {
  sched().service_threads.fetch_add(delta, std::memory_order_relaxed);
}

std::size_t stacks_in_processor_caches() noexcept {
  Sched& s = sched();
  int n = s.nprocs.load(std::memory_order_acquire);
  std::size_t total = 0;
  for (int i = 0; i < n; ++i)
    total += static_cast<std::size_t>(s.allp[i]->stacks.count_seen.load(std::memory_order_relaxed));
  return total;
}

void wake_processor() noexcept {
  Sched& s = sched();
  if (!processor_may_start()) return;
  int zero = 0;
  if (s.nmspinning.load(std::memory_order_relaxed) != 0 ||
      !s.nmspinning.compare_exchange_strong(zero, 1, std::memory_order_acq_rel))
    return;
  start_machine(nullptr, true);
}

void inject_list(Fiber* head) {
  if (!head) return;
  Machine* m = current_machine();
  int n = 0;
  while (head) {
    Fiber* f = head;
    head = head->next;
    f->next = nullptr;
    if (m && m->p) {
      runqput(m->p, f, false);
    } else {
      Sched& s = sched();
      std::lock_guard<SpinLock> g(s.lock);
      globrunqput_locked(s, f);
    }
    ++n;
  }
  Sched& s = sched();
  for (int i = 0; i < n && s.npidle.load(std::memory_order_acquire) > 0; ++i) {
    int spinning = s.nmspinning.load(std::memory_order_relaxed);
    if (spinning > 0) break;
    wake_processor();
  }
}

void retake_stuck(Processor* p, Fiber* stuck, StuckKind kind) {
  Sched& s = sched();
  {
    std::lock_guard<SpinLock> g(s.lock);
    if (p->status.load(std::memory_order_relaxed) != ProcStatus::kRunning) return;
    if (p->current.load(std::memory_order_relaxed) != stuck) return;
    p->status.store(ProcStatus::kStuck, std::memory_order_relaxed);
    --g_procs_running;
  }
  // Move everything queued on p to the global queue, using the thieves' protocol.
  std::atomic<Fiber*> batch[kRunQueueSize];
  int moved = 0;
  for (;;) {
    uint32_t n = runqgrab(p, batch, 0, true);
    if (n == 0) break;
    std::lock_guard<SpinLock> g(s.lock);
    for (uint32_t i = 0; i < n; ++i) {
      globrunqput_locked(s, batch[i].load(std::memory_order_relaxed));
      ++moved;
    }
  }
  // The OS, not the task, kept a descheduled one from yielding: nothing to warn about (yet).
  if (kind != StuckKind::kDescheduled) warn_stuck(p, stuck, kind, moved);
  wake_processor();
}

void warn_stuck(Processor* p, Fiber* stuck, StuckKind kind, int moved) {
  Sched& s = sched();
  uint64_t id;
  AtomicSite::Value site;
  {
    // Under the lock, stuck is still p's running task and cannot finish meanwhile.
    std::lock_guard<SpinLock> g(s.lock);
    if (p->current.load(std::memory_order_relaxed) != stuck) return;
    id = stuck->id.load(std::memory_order_relaxed);
    site = stuck->site.load(std::memory_order_relaxed);
  }
  counters().sysmon_warnings.fetch_add(1, std::memory_order_relaxed);
  // The site's strings are static (__FILE__ and __func__ of the spawn), so they outlive the
  // task. The record goes through the logger, which never blocks this thread.
  char created_at[512];
  std::snprintf(created_at, sizeof created_at, "%s:%u", site.file_name(), site.line());
  log::warn(kind == StuckKind::kBlocked ? "task blocked in the kernel without yielding"
                                        : "task ran without yielding",
            {{"task", id},
             {"created_at", created_at},
             {"function", site.function_name()},
             {"over_ms", g_sched_config.stuck_threshold_ns / 1'000'000},
             {"moved_tasks", moved}});
}

void park(WaitReason reason, bool (*commit)(void*), void* arg) {
  Machine* m = current_machine();
  Fiber* f = m ? m->current : nullptr;
  if (!f) fatal("park called outside a task");
  park_task(m, f, reason, commit, arg);
}

void park_task(Machine* m, Fiber* f, WaitReason reason, bool (*commit)(void*), void* arg) {
  // No one can ready f yet: waiters become reachable only through commit (see process_post).
  f->state.store(FiberState::kParking, std::memory_order_relaxed);
  f->wait_reason.store(reason, std::memory_order_relaxed);
  f->wait_since_ns.store(coarse_now_ns(), std::memory_order_relaxed);
  m->post_commit = commit;
  m->post_commit_arg = arg;
  switch_out(m, f, PostAction::kPark);
  f->wait_reason.store(WaitReason::kNone, std::memory_order_relaxed);
}

void ready(Fiber* f) noexcept {
  // Only the party that took the task's wait out of its queue (under the queue's lock, or by
  // winning its claim) readies it, so a load and the store in make_runnable suffice, and a
  // second wake-up after the first is caught. Checked builds (Debug and the sanitizers, which
  // the test suites run under) exchange the state instead, so two wakers racing for one park,
  // a bug in the runtime, are caught there too; in a release build that costs a locked
  // instruction on every hand-off (about 5 ns of 50 here).
#if WEFT_RUNTIME_CHECKS
  FiberState st = FiberState::kParked;
  if (!f->state.compare_exchange_strong(st, FiberState::kRunnable, std::memory_order_acq_rel))
    fatal("ready() of a task that is not parked (woken twice, or before it parked)", f);
#else
  if (f->state.load(std::memory_order_relaxed) != FiberState::kParked)
    fatal("ready() of a task that is not parked (woken twice, or before it parked)", f);
#endif
  make_runnable(current_machine(), f, true);
}

Fiber* current_fiber() noexcept {
  Machine* m = current_machine();
  return m ? m->current : nullptr;
}

bool lock_spin_worthwhile() noexcept {
  Machine* m = current_machine();
  if (!m || !m->current) return true;  // a thread: parking costs a futex sleep and wake
  Processor* p = m->p;
  return p && g_sched_config.max_procs > 1 && runq_empty(p);
}

void spawn(TaskFn fn, const SourceSite& site) {
  ensure_started(RuntimeOptions{});
  Machine* m = current_machine();
  Processor* p = m ? m->p : nullptr;
  Fiber* f = alloc_fiber(p);
  f->fn = std::move(fn);
  f->site.store(site, std::memory_order_relaxed);
  f->id.store(next_task_id(p), std::memory_order_relaxed);
  f->state.store(FiberState::kRunnable, std::memory_order_release);
  if (p) {
    p->tasks_started.store(p->tasks_started.load(std::memory_order_relaxed) + 1,
                           std::memory_order_relaxed);
    runqput(p, f, true);
  } else {
    counters().tasks_started_outside.fetch_add(1, std::memory_order_relaxed);
    Sched& s = sched();
    std::lock_guard<SpinLock> g(s.lock);
    globrunqput_locked(s, f);
  }
  wake_processor();
}

void run_main(TaskFn fn, const RuntimeOptions& opts, const SourceSite& site) {
  ensure_started(opts);
  if (current_fiber()) {  // already inside a task: just call it
    fn();
    return;
  }
  Sched& s = sched();
  MainWaiter w;
  Fiber* f = alloc_fiber(nullptr);
  f->fn = std::move(fn);
  f->site.store(site, std::memory_order_relaxed);
  f->id.store(next_task_id(nullptr), std::memory_order_relaxed);
  f->main = &w;
  f->flags |= Fiber::kIsMain;
  f->state.store(FiberState::kRunnable, std::memory_order_release);
  counters().tasks_started_outside.fetch_add(1, std::memory_order_relaxed);
  s.run_callers.fetch_add(1, std::memory_order_acq_rel);
  s.mains_live.fetch_add(1, std::memory_order_acq_rel);
  {
    std::lock_guard<SpinLock> g(s.lock);
    globrunqput_locked(s, f);
  }
  wake_processor();
  while (w.done.load(std::memory_order_acquire) == 0) futex_wait(&w.done, 0);
  s.run_callers.fetch_sub(1, std::memory_order_acq_rel);
  if (w.error) std::rethrow_exception(w.error);
}

int current_proc_index() noexcept {
  Machine* m = current_machine();
  return m && m->p ? m->p->id : -1;
}
int proc_slots() noexcept {
  return kMaxProcs;
}

bool begin_blocking() noexcept {
  Machine* m = current_machine();
  if (!m || !m->current) return false;
  Processor* p = m->p;
  if (!p) return true;
  m->p = nullptr;
  p->current.store(nullptr, std::memory_order_relaxed);
  Sched& s = sched();
  bool work = !runq_empty(p) || s.gq_size.load(std::memory_order_acquire) > 0 ||
              p->timers.next_when.load(std::memory_order_acquire) != INT64_MAX;
  if (work) {
    // Hand p itself, still counted as running, to another machine so its queue runs there.
    start_machine(p, false);
  } else {
    std::lock_guard<SpinLock> g(s.lock);
    pidleput_locked(s, p);
  }
  return true;
}

void end_blocking(bool was_task) noexcept {
  if (!was_task) return;
  Machine* m = current_machine();
  if (m->p) return;
  Sched& s = sched();
  {
    std::lock_guard<SpinLock> g(s.lock);
    if (Processor* p = pidleget_locked(s)) {
      m->p = p;
      p->m = m;
      return;
    }
  }
  // Every P is busy: queue this task and let the thread go idle.
  m->post = PostAction::kYieldGlobal;
  switch_context(m, m->current, nullptr);
}

SchedSnapshot sched_snapshot() noexcept {
  Sched& s = sched();
  SchedSnapshot out;
  int n = s.nprocs.load(std::memory_order_acquire);
  out.procs = static_cast<uint64_t>(g_sched_config.max_procs);
  out.procs_running = static_cast<uint64_t>(g_procs_running.load(std::memory_order_relaxed));
  out.machines = static_cast<uint64_t>(s.mcount.load(std::memory_order_relaxed));
  out.machines_spinning = static_cast<uint64_t>(s.nmspinning.load(std::memory_order_relaxed));
  out.global_queue_tasks = static_cast<uint64_t>(s.gq_size.load(std::memory_order_relaxed));
  {
    std::lock_guard<SpinLock> g(s.lock);
    out.machines_idle = static_cast<uint64_t>(s.nmidle);
  }
  out.tasks_started = counters().tasks_started_outside.load(std::memory_order_relaxed);
  for (int i = 0; i < n; ++i) {
    const Processor* p = s.allp[i];
    if (!p) continue;
    out.tasks_started += p->tasks_started.load(std::memory_order_relaxed);
    out.context_switches += p->published_tick.load(std::memory_order_relaxed);
  }
  return out;
}

RuntimeCounters& counters() noexcept {
  static RuntimeCounters* c = new RuntimeCounters();
  return *c;
}

}  // namespace weft::detail

namespace weft {

void yield() {
  using namespace detail;
  Machine* m = current_machine();
  if (!m || !m->current) {
    std::this_thread::yield();
    return;
  }
  if (g_sched_config.migrate_on_yield) {
    m->post = PostAction::kHandoff;
    switch_context(m, m->current, nullptr);
    return;
  }
  switch_out(m, m->current, PostAction::kYield);
}

void release_idle_memory() {
  using namespace detail;
  // The caller's own processor cache is ours to flush; the others stay warm.
  Machine* m = current_machine();
  if (m && m->p) {
    stack_cache_flush(&m->p->stacks);
  }
  stack_pool_trim(/*all=*/true);
  ::malloc_trim(0);
}

int max_procs() noexcept {
  return detail::runtime_started() ? detail::sched_config().max_procs : 0;
}

uint64_t task_id() noexcept {
  detail::Fiber* f = detail::current_fiber();
  return f ? f->id.load(std::memory_order_relaxed) : 0;
}

}  // namespace weft
