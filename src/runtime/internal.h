// Internal structures of the runtime: Fiber (G), Processor (P), Machine (M) and the scheduler.
// Nothing here is part of the public API.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <vector>
#include "weft/runtime/detail/source_site.h"

#include "runtime/sanitizers.h"
#include "runtime/stack_switch.h"
#include "weft/runtime/detail/park.h"
#include "weft/runtime/detail/seg_ring.h"
#include "weft/runtime/detail/spinlock.h"
#include "weft/runtime/detail/task_fn.h"
#include "weft/runtime/detail/timer.h"
#include "weft/runtime/task.h"

namespace weft::detail {

inline constexpr int kMaxProcs = 256;
inline constexpr uint32_t kRunQueueSize = 256;

// ---------------------------------------------------------------------------------------------
// Stacks (stack_pool.cc)

// Stack is a task's stack: [base, base + size) usable, growing down from base + size. Guarded
// stacks have an inaccessible page just below base. Unguarded ones keep their lowest word zero
// (the canary): memory fresh from the kernel reads as zero, so the canary is never written and a
// parked task costs one page, not two. A task that reaches the bottom breaks the canary, which
// every switch checks.
// Sixteen bytes, so a Stack travels in two registers.
struct Stack {
  char* base = nullptr;
  uint32_t size = 0;  // at most kMaxStackSize
  bool guarded = false;
};
static_assert(sizeof(Stack) == 16);
inline constexpr std::size_t kMaxStackSize = std::size_t{1} << 30;

inline constexpr uint64_t kStackCanary = 0;

// Configures the stack pool; called once when the runtime starts.
void stack_pool_init(std::size_t stack_size, long guarded_stacks);
// stack_alloc and stack_free (below StackCache) past the processor cache: the shared pool.
Stack stack_alloc_slow(struct StackCache* cache);
void stack_free_slow(struct StackCache* cache, Stack s);
// Moves a processor cache's stacks to the shared pool. REQUIRES: the caller owns the cache.
void stack_cache_flush(struct StackCache* cache);
// Returns the memory of pooled stacks to the kernel: those idle since the previous call (sysmon,
// about once a second), or every pooled stack when all is true.
void stack_pool_trim(bool all = false);
// Bytes of stack address space reserved, and stacks handed out now.
std::size_t stack_reserved_bytes() noexcept;
// Bytes of stack memory resident (mincore(2) over every reservation), counted at most once
// every 5 seconds: calls within that time get the last count.
std::size_t stack_committed_bytes();
std::size_t stacks_in_use() noexcept;
// True when addr falls in the guard page (or the lowest page) of some task stack.
bool stack_is_overflow_address(const void* addr) noexcept;

struct StackCache {
  static constexpr int kMax = 32;
  static constexpr int kBatch = 16;  // moved to or from the shared pool in one trip
  Stack items[kMax];
  int count = 0;                   // owner only
  std::atomic<int> count_seen{0};  // count, for readers on other threads (statistics)
};
// Stacks sitting in the processors' caches (scheduler.cc; a racy sum, for statistics).
std::size_t stacks_in_processor_caches() noexcept;

// Takes a stack from the processor-local cache (cache may be null) or the shared pool.
inline Stack stack_alloc(StackCache* cache) {
  if (cache && cache->count > 0) {
    Stack s = cache->items[--cache->count];
    cache->count_seen.store(cache->count, std::memory_order_relaxed);
    return s;
  }
  return stack_alloc_slow(cache);
}
// Gives a stack back.
inline void stack_free(StackCache* cache, Stack s) {
  san::unpoison(s.base, s.size);
  if (cache && cache->count < StackCache::kMax) {
    cache->items[cache->count++] = s;
    cache->count_seen.store(cache->count, std::memory_order_relaxed);
    return;
  }
  stack_free_slow(cache, s);
}

// ---------------------------------------------------------------------------------------------
// Fibers (fiber.cc)

enum class FiberState : uint8_t {
  kRunnable,  // in a run queue
  kRunning,   // on a thread
  kParking,   // switching out to park
  kParked,    // waiting for ready(); reachable by wakers only after its commit ran
  kDead,
};

struct EhGlobals {
  void* caught = nullptr;
  unsigned int uncaught = 0;
};

struct MainWaiter;

// AtomicSite is a task's creation site as other threads read it (the dump, sysmon, the
// fatal-signal handler) while the record may be recycled: lock-free, never a lock. Where
// SourceSite is std::source_location (one pointer to static data) it is that pointer, read and
// written whole; otherwise three lock-free fields.
#if defined(__cpp_lib_source_location)
#define WEFT_SITE_IS_ONE_WORD 1
struct AtomicSite {
  using Value = SourceSite;
  void store(const SourceSite& s, std::memory_order order) noexcept { site_.store(s, order); }
  Value load(std::memory_order order) const noexcept { return site_.load(order); }

 private:
  std::atomic<SourceSite> site_{};
};
static_assert(sizeof(AtomicSite) == sizeof(void*) && std::atomic<SourceSite>::is_always_lock_free);
#else
#define WEFT_SITE_IS_ONE_WORD 0
struct AtomicSite {
  struct Value {
    const char* file;
    const char* function;
    unsigned line_no;
    const char* file_name() const noexcept { return file; }
    const char* function_name() const noexcept { return function; }
    unsigned line() const noexcept { return line_no; }
  };
  void store(const SourceSite& s, std::memory_order order) noexcept {
    file_.store(s.file_name(), order);
    function_.store(s.function_name(), order);
    line_.store(s.line(), order);
  }
  Value load(std::memory_order order) const noexcept {
    return {file_.load(order), function_.load(order), line_.load(order)};
  }

 private:
  std::atomic<const char*> file_{""};
  std::atomic<const char*> function_{""};
  std::atomic<unsigned> line_{0};
};
#endif

// Fiber is a task (Go's G). Laid out in three cache lines by use, so that a task that is
// spawned, runs without throwing and ends touches only the first two:
//   - the first holds what a spawn writes and the scheduler touches on every switch and exit;
//   - the second the task's function;
//   - the third what only some tasks need: a saved exception state, the main task's waiter,
//     FiberLocals, the sanitizers' slot. Flags in the first line say which of
//     these are set, so the common path never reads the third.
// A record moves between CPUs with its task (made on one, run and freed on another), and under
// a backlog it is out of every cache: every line it spans is a transfer.
struct alignas(64) Fiber {
  // Bits of `flags`. Written only by whoever owns the record at the time (its spawner, the
  // thread running it, the one switching it out); a task's queueing orders them for the next.
  static constexpr uint8_t kIsMain = 1;     // `main` is set
  static constexpr uint8_t kHasLocals = 2;  // `locals` is set
  static constexpr uint8_t kEhSaved = 4;    // `eh` holds the state saved at the last switch
  Fiber* next = nullptr;  // link of a list of woken tasks (netpoll, inject_list); null otherwise
  std::atomic<FiberState> state{FiberState::kDead};
  std::atomic<WaitReason> wait_reason{WaitReason::kNone};  // relaxed: read by the dump
  uint8_t flags = 0;
  void* ctx = nullptr;  // saved context while switched out
  Stack stack;
  // Read by sysmon and the dump while the fiber may be recycled: relaxed atomics, no locks.
  std::atomic<uint64_t> id{0};
#if WEFT_SITE_IS_ONE_WORD
  AtomicSite site;
#endif
  std::atomic<int64_t> wait_since_ns{0};  // when the last park began; read by the dump
  TaskFn fn;
  EhGlobals eh;                // valid while kEhSaved
  MainWaiter* main = nullptr;  // valid while kIsMain
#if !WEFT_SITE_IS_ONE_WORD
  AtomicSite site;
#endif
  // The sanitizer's own record of this fiber: ASan's fake-stack save slot or TSan's fiber,
  // whichever is built in (they never are together); untouched otherwise.
  void* san_fiber = nullptr;
  std::vector<std::pair<void*, void (*)(void*)>>* locals = nullptr;  // valid while kHasLocals
};
static_assert(sizeof(Fiber) == 192, "a task record is three cache lines");

// Gives f, a task that has never run, a stack and a first frame that runs it (fiber.cc).
void give_first_frame(struct Machine* m, Fiber* f);
// park() for a caller that has the machine and its running task f in hand already.
void park_task(struct Machine* m, Fiber* f, WaitReason reason, bool (*commit)(void*), void* arg);
// Releases what a dead fiber holds (called on the scheduler after its last switch).
void fiber_release_resources(struct Machine* m, Fiber* f);
// Gives the running `from`, whose function has returned, its stack to `to`, a task that has never
// run, and makes `to` m's current task (fiber.cc).
void hand_stack_over(struct Machine* m, Fiber* from, Fiber* to);
// Ends the running task f, whose function has returned: returns the task that takes over its
// stack (see hand_stack_over), or switches away for good (scheduler.cc).
Fiber* finish_current_fiber(struct Machine* m, Fiber* f);
// Ends the program because f overflowed its stack.
[[noreturn]] void fatal_stack_overflow(const Fiber* f);
// Ends the program when f's unguarded stack has lost its canary (see Stack).
inline void check_canary(const Fiber* f) {
  if (f->stack.base && !f->stack.guarded &&
      *reinterpret_cast<const volatile uint64_t*>(f->stack.base) != kStackCanary) [[unlikely]]
    fatal_stack_overflow(f);
}
// Ends the program, printing msg and, when f is given, the task and its creation site.
[[noreturn]] void fatal(const char* msg, const Fiber* f = nullptr);

// ---------------------------------------------------------------------------------------------
// Timers (timer_heap.cc)

// TimerHeapSlot is one place in a TimerHeap: the timer and a copy of its deadline, so that
// ordering the heap reads the heap's own array and not the timers, which live on their tasks'
// stacks, a cache miss each (Go's timer heap keeps the deadline beside the pointer too).
struct TimerHeapSlot {
  int64_t when;
  TimerEntry* timer;
};

// TimerHeap is one processor's timers: a 4-ary min-heap on when (half the depth of a binary
// one; a node's four children are 64 contiguous bytes).
struct TimerHeap {
  SpinLock lock;
  std::vector<TimerHeapSlot> heap;
  std::atomic<int64_t> next_when{INT64_MAX};
  std::atomic<bool> running{false};  // only one thread fires a heap's timers at a time
  std::atomic<TimerEntry*> firing{nullptr};
};

// Fires the due timers of h (skips when another thread is doing it). Returns how many fired.
int run_timers(TimerHeap* h, int64_t now);
// Total armed timers across the runtime.
int64_t timers_pending() noexcept;

enum class TimerState : uint8_t { kIdle, kPending, kFiring };
// Where t is: idle, pending in a heap (*when_ns gets its time) or its callback running now.
TimerState timer_state(TimerEntry* t, int64_t* when_ns) noexcept;
// Moves a pending t to when_ns without waiting for anything; false when t is not pending.
bool timer_reset(TimerEntry* t, int64_t when_ns) noexcept;

// ---------------------------------------------------------------------------------------------
// Processors and machines (scheduler.cc)

enum class ProcStatus : int { kIdle, kRunning, kStuck };

// Processor is a P: the right to run tasks, with its local run queue, timers and caches.
struct alignas(64) Processor {
  int id = 0;
  std::atomic<ProcStatus> status{ProcStatus::kIdle};
  std::atomic<uint32_t> runq_head{0};
  std::atomic<uint32_t> runq_tail{0};
  std::atomic<Fiber*> runq[kRunQueueSize] = {};
  // Only the P's holder puts a task in runnext; thieves (and sysmon) may take it. The holder
  // takes or replaces it without a locked instruction while no thief is at work (see
  // swap_runnext in scheduler.cc): runnext_taking says it is in such a swap, runnext_thieves
  // counts the thieves between announcing themselves and finishing their exchange.
  std::atomic<Fiber*> runnext{nullptr};
  std::atomic<bool> runnext_taking{false};
  std::atomic<int> runnext_thieves{0};
  struct Machine* m = nullptr;
  uint64_t schedtick = 0;
  std::atomic<uint64_t> published_tick{0};  // read by sysmon
  std::atomic<Fiber*> current{nullptr};
  std::atomic<int> thread_id{0};  // the thread running `current` (Linux tid), for sysmon
  Processor* idle_link = nullptr;
  TimerHeap timers;
  StackCache stacks;
  // Free task records, newest last; over kFiberCacheMax the oldest kFiberBatch go to the
  // shared pool, and an empty cache takes a batch back.
  static constexpr int kFiberCacheMax = 512;
  static constexpr int kFiberBatch = 128;
  Fiber* free_cache[kFiberCacheMax];
  int free_count = 0;
  uint64_t next_id = 0, id_limit = 0;
  uint32_t runnext_streak = 0;  // runnext picks in a row; bounded so the queue is not starved
  // Tasks started on this P. Only the P's holder writes it (a load and a store, no locked
  // instruction); runtime_stats() reads it from anywhere.
  std::atomic<uint64_t> tasks_started{0};
};

enum class PostAction : uint8_t { kNone, kPark, kYield, kYieldGlobal, kHandoff, kExit };

// Machine is an M: an OS thread that runs tasks while it holds a P.
struct Machine {
  int id = 0;
  int tid = 0;  // the thread's Linux id
  Processor* p = nullptr;
  Processor* next_p = nullptr;  // handed over by start_machine
  bool spinning = false;
  bool next_spinning = false;
  std::atomic<uint32_t> wake_word{0};
  Machine* idle_link = nullptr;
  Fiber* current = nullptr;   // the fiber on this thread, nullptr while the scheduler runs
  Fiber* prev = nullptr;      // the fiber just switched out, until after_switch
  void* sched_ctx = nullptr;  // the scheduler context while a fiber runs
  PostAction post = PostAction::kNone;
  // With post == kPark: run after the switch, it makes the parked task reachable (see park).
  bool (*post_commit)(void*) = nullptr;
  void* post_commit_arg = nullptr;
  // sanitizer bookkeeping for the scheduler's own stack
  void* tsan_sched_fiber = nullptr;
  const void* sched_stack_bottom = nullptr;
  std::size_t sched_stack_size = 0;
  void* asan_fake_stack = nullptr;
  uint64_t rand_state = 0;
  struct EhGlobals* eh = nullptr;  // this thread's C++ exception globals (fixed per thread)
  void* altstack = nullptr;        // signal stack for the overflow handler
  Machine* all_next = nullptr;     // every machine ever made, for diagnostics
};

// The stack cache of the processor m holds, or nullptr.
inline StackCache* machine_stack_cache(Machine* m) {
  return m && m->p ? &m->p->stacks : nullptr;
}

}  // namespace weft::detail

// The calling thread's machine (fiber.cc). Read only through current_machine().
extern "C" __thread weft::detail::Machine* weft_tls_machine
    __attribute__((tls_model("initial-exec")));
// Never written. current_machine()'s asm reads it (as far as the compiler knows), and any call
// the compiler cannot see into may write it, so the read cannot move above such a call: a
// switch is one.
extern "C" __attribute__((visibility("hidden"))) char weft_current_machine_order;

namespace weft::detail {

// The calling thread's machine, or nullptr. Never cached across a switch, after which the
// task may run on another thread: the compiler may neither keep nor reuse the thread-local's
// address, so every call reads the thread pointer anew. On x86-64 that is an opaque two-load
// sequence in place: a volatile asm, which the compiler neither merges nor drops, with an input
// that keeps it below any call before it (weft_current_machine_order). Elsewhere an
// out-of-line call that clobbers memory.
#if defined(__x86_64__)
inline Machine* current_machine() noexcept {
  Machine* m;
  asm volatile(
      "movq weft_tls_machine@gottpoff(%%rip), %0\n\t"
      "movq %%fs:(%0), %0"
      : "=r"(m)
      : "m"(weft_current_machine_order));
  return m;
}
#else
Machine* current_machine() noexcept;
#endif
void set_current_machine(Machine* m) noexcept;

// Whether asymmetric_barrier() works here (membarrier(2), registered when the runtime starts;
// false before that).
bool asymmetric_barrier_ready() noexcept;
// Has every other running thread of the process pass a full memory barrier. A thread that
// stores a flag and then loads another with no fence between (and the compiler kept from
// reordering them) is thereby ordered against one that stores the other flag, calls this, then
// loads the first: at least one of them sees the other's store. REQUIRES: ready.
void asymmetric_barrier();

// Biased locks (ChanLock, Mutex) are taken back with an asymmetric barrier: an interrupt to
// every CPU running the process, microseconds each. So that a program whose locks keep changing
// threads does not pay that at every change, a budget caps revocations: once
// kBiasRevocationBudget of them came within kBiasRevocationWindowNs, no lock is biased until the
// window is over. bias_allowed() says whether a lock may be biased now (the barrier works and
// the budget is not spent); note_bias_revoked() counts a revocation.
inline constexpr uint32_t kBiasRevocationBudget = 100;
inline constexpr int64_t kBiasRevocationWindowNs = 100'000'000;
bool bias_allowed() noexcept;
void note_bias_revoked() noexcept;

// The post actions other than a park (scheduler.cc).
void process_other_post(Machine* m, Fiber* prev, PostAction action);
// Queues prev again: its park's commit found the wait already over (scheduler.cc).
void park_cancelled(Machine* m, Fiber* prev);

// Carries out m->post for prev, the context just switched out; a park, the common case, in
// place. prev's context is saved, so it is parked; the commit then makes it reachable (releases
// the lock it is queued under, publishes it to the poller, arms its timer). Nobody can ready it
// before that, so no atomic read-modify-write is needed here. After a successful commit prev
// may already run elsewhere: it is not touched again.
inline void process_post(Machine* m, Fiber* prev) {
  PostAction action = m->post;
  m->post = PostAction::kNone;
  if (action != PostAction::kPark) [[unlikely]] {
    process_other_post(m, prev, action);
    return;
  }
  prev->state.store(FiberState::kParked, std::memory_order_release);
  bool (*commit)(void*) = m->post_commit;
  if (commit && !commit(m->post_commit_arg)) park_cancelled(m, prev);
}

// Done by every context right after it gains the thread: carries out the post action of the
// context that was switched out. Inline, as is switch_context: a channel hand-off runs both on
// every park, and their calls and returns were a fifth of its taken branches.
inline __attribute__((always_inline)) void after_switch() {
  Machine* m = current_machine();
  Fiber* self = m->current;
  san::finish_switch(self ? self->san_fiber : m->asan_fake_stack);
  Fiber* prev = m->prev;
  m->prev = nullptr;
  // The thread's exception state is empty here: whoever switched out emptied it (switch_context)
  // or never had one (the scheduler context). Only a task that saved one gets it back.
  if (self && (self->flags & Fiber::kEhSaved)) [[unlikely]]
    *m->eh = self->eh;
  if (prev) process_post(m, prev);
}

// Switches the calling thread from `from` to `to` (nullptr stands for the thread's scheduler
// context). m->post says what must happen to `from` once it is switched out; whoever runs next
// does it (process_post). Returns when `from` is resumed, possibly on another thread: the
// caller must not use m, or anything else of the thread, afterwards.
inline __attribute__((always_inline)) void switch_context(Machine* m, Fiber* from, Fiber* to) {
  if (from) {
    check_canary(from);
    // The exception state goes into the third line of the record only when there is one.
    EhGlobals* g = m->eh;
    if (g->caught != nullptr || g->uncaught != 0) [[unlikely]] {
      from->eh = *g;
      *g = EhGlobals{};
      from->flags |= Fiber::kEhSaved;
    } else {
      from->flags &= ~Fiber::kEhSaved;
    }
  }
  const void* bottom;
  std::size_t size;
  void* target;
  void* tsan_target;
  if (to) {
    if (to->ctx == nullptr) give_first_frame(m, to);
    to->state.store(FiberState::kRunning, std::memory_order_relaxed);
    bottom = to->stack.base;
    size = to->stack.size;
    target = to->ctx;
    tsan_target = to->san_fiber;
  } else {
    bottom = m->sched_stack_bottom;
    size = m->sched_stack_size;
    target = m->sched_ctx;
    tsan_target = m->tsan_sched_fiber;
  }
  m->prev = from;
  m->current = to;
  void** fake =
      from ? (m->post == PostAction::kExit ? nullptr : &from->san_fiber) : &m->asan_fake_stack;
  san::start_switch(fake, bottom, size);
  san::tsan_switch(tsan_target);
  swap_context(from ? &from->ctx : &m->sched_ctx, target);
  after_switch();
}

// Scheduler options as resolved at start.
struct SchedConfig {
  int max_procs = 1;
  std::size_t stack_size = 256 * 1024;
  bool migrate_on_yield = false;
  int64_t stuck_threshold_ns = 10'000'000;
  int64_t idle_poll_ns = 0;  // 0: off
};
// The options, written once while the runtime starts, before any of its threads exist, and only
// read afterwards (scheduler.cc).
extern SchedConfig g_sched_config;
inline const SchedConfig& sched_config() noexcept {
  return g_sched_config;
}
// Starts the runtime once (later calls do nothing).
void ensure_started(const RuntimeOptions& opts);
bool runtime_started() noexcept;

// Makes a list of runnable fibers (linked by next) runnable from a thread without a P.
void inject_list(Fiber* head);
// Wakes an idle machine when there is an idle processor and nobody spinning.
void wake_processor() noexcept;

// Processors running tasks now (kRunning; changed under the scheduler's lock, read anywhere).
// Defined in scheduler.cc; here so that a hand-off's wake test needs no call.
extern std::atomic<int> g_procs_running;
// 1 while an idle machine lingers after it found nothing to do (see linger in scheduler.cc),
// else 0: while one lingers, a hand-off into runnext wakes nobody.
extern std::atomic<int> g_lingering;

// Whether a P may start running: fewer than max_procs run now (an idle P, or a new one in the
// place a stuck P left). An idle P beyond that (a stuck P given up) cannot run, and a machine
// woken for it would only go back to sleep.
inline bool processor_may_start() noexcept {
  return g_procs_running.load(std::memory_order_acquire) < g_sched_config.max_procs;
}

// Puts f in p's runnext, which is empty, and marks it runnable: make_runnable's common case
// (thieves only ever take a non-empty runnext, so no read-modify-write). REQUIRES: the caller
// holds p.
inline void runnext_put(Processor* p, Fiber* f) noexcept {
  f->state.store(FiberState::kRunnable, std::memory_order_release);
  p->runnext.store(f, std::memory_order_release);
}

// ready(f) (park.h) with its common case in place: a parked task woken by a task of a
// processor whose runnext is free goes there. A channel hand-off does this on every wake; the
// call cost 26 of the 787 instructions of an unbuffered round trip. While a machine lingers
// (g_lingering), it wakes nobody. Checked builds take ready()'s exchange, which catches two
// wakers racing for one park, and its unconditional wake.
inline void ready_in_place(Fiber* f) noexcept {
#if !WEFT_RUNTIME_CHECKS
  Machine* m = current_machine();
  Processor* p = m ? m->p : nullptr;
  if (p && f->state.load(std::memory_order_relaxed) == FiberState::kParked &&
      p->runnext.load(std::memory_order_relaxed) == nullptr) [[likely]] {
    runnext_put(p, f);
    // The store above, then the loads below, kept in that order by the compiler only: a
    // lingering machine that stops runs the asymmetric barrier before its last look.
    std::atomic_signal_fence(std::memory_order_seq_cst);
    if (processor_may_start() && g_lingering.load(std::memory_order_relaxed) == 0) [[unlikely]]
      wake_processor();
    return;
  }
#endif
  ready(f);
}

// Snapshot helpers for sysmon and the dump.
int proc_count() noexcept;
Processor* proc_at(int i) noexcept;

// The scheduler's part of runtime_stats(): read without stopping anything.
struct SchedSnapshot {
  uint64_t procs = 0, procs_running = 0;
  uint64_t machines = 0, machines_idle = 0, machines_spinning = 0;
  uint64_t global_queue_tasks = 0;
  uint64_t tasks_started = 0;
  uint64_t context_switches = 0;
};
SchedSnapshot sched_snapshot() noexcept;

// Why a processor's task has not yielded for the stuck threshold.
enum class StuckKind : uint8_t {
  kRunning,      // its thread spent the time on the CPU: a loop that never yields
  kBlocked,      // its thread sleeps in the kernel: a blocking call outside weft::blocking
  kDescheduled,  // its thread was runnable but the OS ran others: no fault of the task
};
// Sysmon's view: moves the runnable fibers of a stuck P away and lets another P run them; logs
// a warning unless kind is kDescheduled.
void retake_stuck(Processor* p, Fiber* stuck, StuckKind kind);
// Logs the warning (weft::log, level warn) about stuck (still p's running task), which held p
// for kind's reason;
// moved is how many queued tasks went elsewhere.
void warn_stuck(Processor* p, Fiber* stuck, StuckKind kind, int moved);

// Number of threads the runtime knows (machines, sysmon, callers blocked in run()).
int known_thread_count() noexcept;
// Counts delta threads (+1 when one starts, -1 when it is gone) that belong to the library and
// never wake a task, such as the log writer, so that deadlock detection still knows every
// thread that might.
void add_service_threads(int delta) noexcept;

// ---------------------------------------------------------------------------------------------
// Netpoller (netpoller.cc)

void netpoll_init();
// Polls for I/O readiness for at most timeout_ns (<0: forever, 0: do not block). Returns the
// fibers made runnable, linked by next.
Fiber* netpoll(int64_t timeout_ns);
// Interrupts a blocked netpoll.
void netpoll_break() noexcept;
// Number of tasks parked on I/O now.
int64_t netpoll_waiters() noexcept;
int64_t netpoll_last_poll_ns() noexcept;
// Whether a break (netpoll_break) waits to be read by a poll.
bool netpoll_break_pending() noexcept;
// How many breaks polls have read so far.
uint64_t netpoll_breaks_taken() noexcept;
// When a poll last made a task runnable (steady ns; 0 if never).
int64_t netpoll_last_ready_ns() noexcept;
// The deadline the blocked poller sleeps until (INT64_MAX when none is blocked or forever).
extern std::atomic<int64_t> g_netpoll_until;
extern std::atomic<bool> g_netpoll_blocked;

// ---------------------------------------------------------------------------------------------
// Sysmon and the task registry (sysmon.cc, task_registry.cc)

void sysmon_start();
// Wakes sysmon so it acts on a pending signal request.
void sysmon_kick() noexcept;
// Wakes sysmon from its long idle sleep (a processor just became busy).
void sysmon_wake_if_idle() noexcept;

// Every Fiber struct ever made is recorded once (they are recycled, never freed, like Go's
// allgs); the dump walks them and shows those not dead. Spawn and exit cost nothing here.
void registry_record_new(Fiber* fibers, int count);
// Counts the live fibers: by_state[FiberState] for each state, and for parked (or parking) ones
// by_reason[WaitReason] too (kNone for a park without a reason). Both arrays are zeroed first.
inline constexpr int kFiberStates = 5;
inline constexpr int kWaitReasons = static_cast<int>(WaitReason::kNetWrite) + 1;
void count_fibers(uint64_t (&by_state)[kFiberStates], uint64_t (&by_reason)[kWaitReasons]);
void install_signal_handlers();
// Called by sysmon when SIGQUIT arrived.
bool take_dump_request() noexcept;

// sysmon's last reading of now_ns() (0 before its first tick); see coarse_now_ns.
extern std::atomic<int64_t> g_coarse_now;

// A clock with sysmon's resolution (a few ms), for the dump's "waited for" figures.
inline int64_t coarse_now_ns() noexcept {
  int64_t t = g_coarse_now.load(std::memory_order_relaxed);
  return t ? t : now_ns();
}

// Counters for diagnostics and metrics.
struct RuntimeCounters {
  std::atomic<uint64_t> steals{0};
  std::atomic<uint64_t> sysmon_warnings{0};
  std::atomic<uint64_t> netpoll_waits{0};
  std::atomic<uint64_t> tasks_started_outside{0};  // by threads that hold no P
  std::atomic<uint64_t> chan_lock_biased{0};       // see ChanLock
  std::atomic<uint64_t> chan_lock_revoked{0};
  std::atomic<uint64_t> mutex_biased{0};  // see Mutex
  std::atomic<uint64_t> mutex_bias_revoked{0};
};
RuntimeCounters& counters() noexcept;

}  // namespace weft::detail
