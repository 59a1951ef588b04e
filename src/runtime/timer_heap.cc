// Timers: one 4-ary heap per processor, fired by the scheduler, plus sleep_for.
#include <time.h>

#include <algorithm>
#include <thread>

#include "runtime/internal.h"
#include "weft/runtime/sync.h"
#include "weft/runtime/task.h"

namespace weft::detail {

namespace {

std::atomic<int64_t> g_timers_pending{0};

using Heap = std::vector<TimerHeapSlot>;
constexpr std::size_t kArity = 4;

// Puts s at i and tells its timer where it is.
void place(Heap& h, std::size_t i, TimerHeapSlot s) {
  h[i] = s;
  s.timer->index = static_cast<int32_t>(i);
}

// Moves the slot at i up past later parents. Returns where it stopped.
std::size_t sift_up(Heap& h, std::size_t i) {
  TimerHeapSlot s = h[i];
  while (i > 0) {
    std::size_t parent = (i - 1) / kArity;
    if (h[parent].when <= s.when) break;
    place(h, i, h[parent]);
    i = parent;
  }
  place(h, i, s);
  return i;
}

// Moves the slot at i down past earlier children.
void sift_down(Heap& h, std::size_t i) {
  TimerHeapSlot s = h[i];
  const std::size_t n = h.size();
  for (;;) {
    std::size_t first = kArity * i + 1;
    if (first >= n) break;
    std::size_t best = first;
    for (std::size_t c = first + 1; c < std::min(first + kArity, n); ++c)
      if (h[c].when < h[best].when) best = c;
    if (s.when <= h[best].when) break;
    place(h, i, h[best]);
    i = best;
  }
  place(h, i, s);
}

void heap_push(TimerHeap* hp, TimerEntry* t) {
  hp->heap.push_back(TimerHeapSlot{t->when_ns, t});
  sift_up(hp->heap, hp->heap.size() - 1);
}

void heap_remove(TimerHeap* hp, TimerEntry* t) {
  Heap& h = hp->heap;
  std::size_t i = static_cast<std::size_t>(t->index);
  TimerHeapSlot last = h.back();
  h.pop_back();
  t->index = -1;
  if (i < h.size()) {
    place(h, i, last);
    if (sift_up(h, i) == i) sift_down(h, i);
  }
}

void publish_next(TimerHeap* hp) {
  hp->next_when.store(hp->heap.empty() ? INT64_MAX : hp->heap.front().when,
                      std::memory_order_release);
}

}  // namespace

int64_t now_ns() noexcept {
  struct timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

int64_t timers_pending() noexcept {
  return g_timers_pending.load(std::memory_order_acquire);
}

void timer_start(TimerEntry* t, int64_t when_ns) {
  ensure_started(RuntimeOptions{});
  Machine* m = current_machine();
  TimerHeap* hp = (m && m->p) ? &m->p->timers : &proc_at(0)->timers;
  t->when_ns = when_ns;
  g_timers_pending.fetch_add(1, std::memory_order_acq_rel);
  {
    std::lock_guard<SpinLock> g(hp->lock);
    t->heap.store(hp, std::memory_order_release);
    heap_push(hp, t);
    publish_next(hp);
  }
  // Make sure somebody waits for it: interrupt a poller sleeping past it, or start a machine. An
  // adder holding a P needs neither: before its machine sleeps, find_runnable either polls with
  // this timer in view or cuts the current poller's sleep short.
  if (g_netpoll_blocked.load(std::memory_order_acquire)) {
    if (when_ns < g_netpoll_until.load(std::memory_order_acquire)) netpoll_break();
  } else if (!(m && m->p)) {
    wake_processor();
  }
}

bool timer_stop(TimerEntry* t) noexcept {
  TimerHeap* hp = t->heap.load(std::memory_order_acquire);
  if (!hp) return false;
  bool removed = false;
  {
    std::lock_guard<SpinLock> g(hp->lock);
    if (t->index >= 0) {
      heap_remove(hp, t);
      publish_next(hp);
      removed = true;
      g_timers_pending.fetch_sub(1, std::memory_order_acq_rel);
    }
  }
  // Wait out a callback in flight on another thread.
  while (hp->firing.load(std::memory_order_acquire) == t) std::this_thread::yield();
  return removed;
}

TimerState timer_state(TimerEntry* t, int64_t* when_ns) noexcept {
  TimerHeap* hp = t->heap.load(std::memory_order_acquire);
  if (!hp) return TimerState::kIdle;
  std::lock_guard<SpinLock> g(hp->lock);
  if (t->index >= 0) {
    *when_ns = t->when_ns;
    return TimerState::kPending;
  }
  if (hp->firing.load(std::memory_order_acquire) == t) return TimerState::kFiring;
  return TimerState::kIdle;
}

bool timer_reset(TimerEntry* t, int64_t when_ns) noexcept {
  TimerHeap* hp = t->heap.load(std::memory_order_acquire);
  if (!hp) return false;
  {
    std::lock_guard<SpinLock> g(hp->lock);
    if (t->index < 0) return false;
    heap_remove(hp, t);
    t->when_ns = when_ns;
    heap_push(hp, t);
    publish_next(hp);
  }
  if (g_netpoll_blocked.load(std::memory_order_acquire) &&
      when_ns < g_netpoll_until.load(std::memory_order_acquire))
    netpoll_break();
  return true;
}

int run_timers(TimerHeap* hp, int64_t now) {
  if (hp->running.exchange(true, std::memory_order_acquire)) return 0;
  int fired = 0;
  hp->lock.lock();
  while (!hp->heap.empty() && hp->heap.front().when <= now) {
    TimerEntry* t = hp->heap.front().timer;
    heap_remove(hp, t);
    if (t->period_ns > 0) {
      int64_t behind = now - t->when_ns;
      t->when_ns += t->period_ns * (1 + behind / t->period_ns);
      heap_push(hp, t);
    } else {
      g_timers_pending.fetch_sub(1, std::memory_order_acq_rel);
    }
    publish_next(hp);
    hp->firing.store(t, std::memory_order_release);
    void (*fn)(void*) = t->fire;
    void* arg = t->arg;
    hp->lock.unlock();
    fn(arg);  // t may be gone once a one-shot callback has run
    hp->firing.store(nullptr, std::memory_order_release);
    ++fired;
    hp->lock.lock();
  }
  publish_next(hp);
  hp->lock.unlock();
  hp->running.store(false, std::memory_order_release);
  return fired;
}

}  // namespace weft::detail

namespace weft {

void sleep_for(std::chrono::nanoseconds d) {
  using namespace detail;
  Fiber* f = current_fiber();
  if (!f) {
    if (d.count() > 0) std::this_thread::sleep_for(d);
    return;
  }
  if (d.count() <= 0) {
    yield();
    return;
  }
  struct Sleep {
    Waiter waiter;
    TimerEntry timer;
    int64_t when;
  } sl;
  sl.timer.fire = [](void* a) { static_cast<Waiter*>(a)->wake(); };
  sl.timer.arg = &sl.waiter;
  sl.when = deadline_after(d);
  // The timer is armed by the park's commit, once the task is parked, so it cannot fire early.
  park(
      WaitReason::kSleep,
      [](void* a) {
        auto* s = static_cast<Sleep*>(a);
        timer_start(&s->timer, s->when);
        return true;
      },
      &sl);
  timer_stop(&sl.timer);
}

}  // namespace weft
