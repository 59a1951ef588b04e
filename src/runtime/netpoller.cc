// The netpoller: one edge-triggered epoll instance, polled by idle processors with the next
// timer as timeout, with I/O deadlines on the runtime's timers.
#include "runtime/netpoller.h"

#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <mutex>
#include <thread>

namespace weft::detail {

std::atomic<int64_t> g_netpoll_until{INT64_MAX};
std::atomic<bool> g_netpoll_blocked{false};

namespace {

constexpr uintptr_t kNil = 0, kReady = 1, kWait = 2;

int g_epfd = -1;
int g_breakfd = -1;
std::atomic<bool> g_break_pending{false};
std::atomic<uint64_t> g_breaks_taken{0};  // breaks a poll has read off the eventfd
std::atomic<int64_t> g_waiters{0};
std::atomic<int64_t> g_last_poll{0};
std::atomic<int64_t> g_last_ready{0};  // when a poll last made a task runnable
char g_break_marker;

SpinLock g_free_lock;
PollDesc* g_free = nullptr;

std::atomic<uintptr_t>& slot(PollDesc* pd, char mode) {
  return mode == 'r' ? pd->rg : pd->wg;
}

// Makes the waiter on pd/mode runnable-or-ready. ioready: readiness (sticky when nobody
// waits); otherwise a deadline or close (only wakes a waiter). Returns a fiber to ready.
Fiber* unblock(PollDesc* pd, char mode, bool ioready) {
  auto& g = slot(pd, mode);
  uintptr_t old = g.load(std::memory_order_acquire);
  for (;;) {
    if (old == kReady) return nullptr;
    if (old == kNil && !ioready) return nullptr;
    uintptr_t next = ioready ? kReady : kNil;
    if (g.compare_exchange_weak(old, next, std::memory_order_acq_rel)) {
      if (old == kNil || old == kWait) return nullptr;
      return reinterpret_cast<Fiber*>(old);
    }
  }
}

void deadline_fired(PollDesc* pd, char mode) {
  (mode == 'r' ? pd->r_expired : pd->w_expired).store(true, std::memory_order_seq_cst);
  if (Fiber* f = unblock(pd, mode, false)) ready(f);
}

// The deadline timer's callback. Deadlines that moved later since the timer was armed are
// left to it (see poll_set_deadline): it re-arms itself for the current deadline, or expires
// it. Setters never wait for this callback while they hold deadline_lock, so taking it here
// cannot deadlock.
void deadline_timer(PollDesc* pd, char mode) {
  std::lock_guard<SpinLock> g(pd->deadline_lock);
  int64_t d = (mode == 'r' ? pd->rd : pd->wd).load(std::memory_order_acquire);
  if (d == 0) return;
  if (d > now_ns()) {
    timer_start(mode == 'r' ? &pd->rtimer : &pd->wtimer, d);
    return;
  }
  deadline_fired(pd, mode);
}

std::error_code check_err(PollDesc* pd, char mode) {
  if (pd->closing.load(std::memory_order_seq_cst))
    return std::make_error_code(std::errc::bad_file_descriptor);
  if ((mode == 'r' ? pd->r_expired : pd->w_expired).load(std::memory_order_seq_cst))
    return std::make_error_code(std::errc::timed_out);
  return {};
}

struct BlockArg {
  std::atomic<uintptr_t>* g;
  Fiber* f;
};

bool block_commit(void* a) {
  auto* b = static_cast<BlockArg*>(a);
  uintptr_t expected = kWait;
  return b->g->compare_exchange_strong(expected, reinterpret_cast<uintptr_t>(b->f),
                                       std::memory_order_acq_rel);
}

// Parks the task until pd/mode is ready; true when readiness (not a deadline/close) woke it.
bool block_task(PollDesc* pd, char mode, Fiber* f) {
  auto& g = slot(pd, mode);
  uintptr_t old = g.load(std::memory_order_acquire);
  for (;;) {
    if (old == kReady) {
      g.store(kNil, std::memory_order_release);
      return true;
    }
    if (old != kNil) fatal("two tasks wait on one socket in the same direction", f);
    if (g.compare_exchange_weak(old, kWait, std::memory_order_seq_cst)) break;
  }
  if (!check_err(pd, mode)) {
    BlockArg arg{&g, f};
    g_waiters.fetch_add(1, std::memory_order_acq_rel);
    counters().netpoll_waits.fetch_add(1, std::memory_order_relaxed);
    park(mode == 'r' ? WaitReason::kNetRead : WaitReason::kNetWrite, block_commit, &arg);
    g_waiters.fetch_sub(1, std::memory_order_acq_rel);
  }
  return g.exchange(kNil, std::memory_order_acq_rel) == kReady;
}

}  // namespace

void netpoll_init() {
  g_epfd = ::epoll_create1(EPOLL_CLOEXEC);
  if (g_epfd < 0) fatal("epoll_create1 failed");
  g_breakfd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (g_breakfd < 0) fatal("eventfd failed");
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = &g_break_marker;
  if (::epoll_ctl(g_epfd, EPOLL_CTL_ADD, g_breakfd, &ev) != 0) fatal("epoll_ctl failed");
}

void netpoll_break() noexcept {
  if (g_break_pending.exchange(true, std::memory_order_acq_rel)) return;
  uint64_t one = 1;
  ssize_t ignored = ::write(g_breakfd, &one, sizeof one);
  (void)ignored;
}

bool netpoll_break_pending() noexcept {
  return g_break_pending.load(std::memory_order_acquire);
}

uint64_t netpoll_breaks_taken() noexcept {
  return g_breaks_taken.load(std::memory_order_acquire);
}

int64_t netpoll_waiters() noexcept {
  return g_waiters.load(std::memory_order_acquire);
}
int64_t netpoll_last_poll_ns() noexcept {
  return g_last_poll.load(std::memory_order_relaxed);
}

int64_t netpoll_last_ready_ns() noexcept {
  return g_last_ready.load(std::memory_order_relaxed);
}

Fiber* netpoll(int64_t timeout_ns) {
  if (g_epfd < 0) return nullptr;
  epoll_event events[128];
  int n;
  if (timeout_ns == 0) {
    n = ::epoll_wait(g_epfd, events, 128, 0);
  } else {
    struct timespec ts;
    struct timespec* tp = nullptr;
    if (timeout_ns > 0) {
      ts.tv_sec = timeout_ns / 1'000'000'000;
      ts.tv_nsec = timeout_ns % 1'000'000'000;
      tp = &ts;
    }
    n = ::epoll_pwait2(g_epfd, events, 128, tp, nullptr);
    if (n < 0 && errno == ENOSYS) {
      int ms = timeout_ns < 0 ? -1 : static_cast<int>((timeout_ns + 999'999) / 1'000'000);
      n = ::epoll_wait(g_epfd, events, 128, ms);
    }
  }
  int64_t polled_at = now_ns();
  g_last_poll.store(polled_at, std::memory_order_relaxed);
  Fiber* head = nullptr;
  auto push = [&head](Fiber* f) {
    if (!f) return;
    // The fiber was parked (its commit published it): mark it runnable for inject_list.
    FiberState st = FiberState::kParked;
    if (f->state.compare_exchange_strong(st, FiberState::kRunnable, std::memory_order_acq_rel)) {
      f->next = head;
      head = f;
    } else {
      ready(f);
    }
  };
  for (int i = 0; i < n; ++i) {
    if (events[i].data.ptr == &g_break_marker) {
      uint64_t v;
      ssize_t ignored = ::read(g_breakfd, &v, sizeof v);
      (void)ignored;
      g_break_pending.store(false, std::memory_order_release);
      g_breaks_taken.fetch_add(1, std::memory_order_release);
      continue;
    }
    auto* pd = static_cast<PollDesc*>(events[i].data.ptr);
    uint32_t e = events[i].events;
    if (e & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
      pd->read_hup.store(true, std::memory_order_release);
      poll_fire_hangup(pd);
    }
    if (e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) push(unblock(pd, 'r', true));
    if (e & (EPOLLOUT | EPOLLHUP | EPOLLERR)) push(unblock(pd, 'w', true));
  }
  if (head) g_last_ready.store(polled_at, std::memory_order_relaxed);
  return head;
}

PollDesc* poll_open(int fd, std::error_code& ec) {
  ensure_started(RuntimeOptions{});
  PollDesc* pd;
  {
    std::lock_guard<SpinLock> g(g_free_lock);
    pd = g_free;
    if (pd) g_free = pd->free_next;
  }
  if (!pd) pd = new PollDesc();
  pd->fd = fd;
  pd->rg.store(kNil);
  pd->wg.store(kNil);
  pd->closing.store(false);
  pd->r_expired.store(false);
  pd->w_expired.store(false);
  pd->rd.store(0);
  pd->wd.store(0);
  pd->ops.store(0);
  pd->fd_closed.store(false);
  pd->hangup.store(nullptr);
  pd->read_drained = false;
  pd->read_hup.store(false, std::memory_order_relaxed);
  pd->rtimer.fire = [](void* a) { deadline_timer(static_cast<PollDesc*>(a), 'r'); };
  pd->rtimer.arg = pd;
  pd->wtimer.fire = [](void* a) { deadline_timer(static_cast<PollDesc*>(a), 'w'); };
  pd->wtimer.arg = pd;
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  ev.data.ptr = pd;
  if (::epoll_ctl(g_epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
    ec = std::error_code(errno, std::system_category());
    pd->fd = -1;
    std::lock_guard<SpinLock> g(g_free_lock);
    pd->free_next = g_free;
    g_free = pd;
    return nullptr;
  }
  return pd;
}

namespace {
constexpr uint32_t kClosingBit = 1u << 31;

void close_fd(PollDesc* pd) {
  ::epoll_ctl(g_epfd, EPOLL_CTL_DEL, pd->fd, nullptr);
  ::close(pd->fd);
  pd->fd_closed.store(true, std::memory_order_release);
}
}  // namespace

bool poll_op_begin(PollDesc* pd) noexcept {
  uint32_t v = pd->ops.load(std::memory_order_acquire);
  for (;;) {
    if (v & kClosingBit) return false;
    if (pd->ops.compare_exchange_weak(v, v + 1, std::memory_order_acq_rel)) return true;
  }
}

void poll_op_end(PollDesc* pd) noexcept {
  uint32_t v = pd->ops.fetch_sub(1, std::memory_order_acq_rel) - 1;
  if (v == kClosingBit) close_fd(pd);  // the last operation after a close
}

void poll_close(PollDesc* pd) noexcept {
  uint32_t v = pd->ops.fetch_or(kClosingBit, std::memory_order_acq_rel);
  if (v & kClosingBit) return;
  pd->closing.store(true, std::memory_order_seq_cst);
  if (Fiber* f = unblock(pd, 'r', false)) ready(f);
  if (Fiber* f = unblock(pd, 'w', false)) ready(f);
  if (v == 0) close_fd(pd);
}

void poll_fire_hangup(PollDesc* pd) noexcept {
  // Most sockets have no watch armed: a load settles those without a read-modify-write (and
  // gives the exchange below the ordering poll_open's stores published).
  if (pd->hangup.load(std::memory_order_acquire) == nullptr) return;
  void* w = pd->hangup.exchange(nullptr, std::memory_order_acq_rel);
  if (!w) return;
  auto* watch = static_cast<HangupHook*>(w);
  watch->state.store(2, std::memory_order_release);
  watch->fn(watch);
  watch->state.store(3, std::memory_order_release);
}

void poll_release(PollDesc* pd) noexcept {
  poll_close(pd);
  // Correct programs have no operation in flight here; wait out a straggler's epilogue.
  while (!pd->fd_closed.load(std::memory_order_acquire)) std::this_thread::yield();
  {
    // With no deadline left, a callback in flight cannot re-arm its timer.
    std::lock_guard<SpinLock> g(pd->deadline_lock);
    pd->rd.store(0, std::memory_order_release);
    pd->wd.store(0, std::memory_order_release);
  }
  timer_stop(&pd->rtimer);
  timer_stop(&pd->wtimer);
  pd->fd = -1;
  std::lock_guard<SpinLock> g(g_free_lock);
  pd->free_next = g_free;
  g_free = pd;
}

std::error_code poll_wait(PollDesc* pd, char mode) {
  if (auto ec = check_err(pd, mode)) return ec;
  if (Fiber* f = current_fiber()) {
    block_task(pd, mode, f);
    return check_err(pd, mode);
  }
  // A plain thread: poll(2) in short slices so close() and deadlines are noticed.
  int64_t deadline = (mode == 'r' ? pd->rd : pd->wd).load(std::memory_order_acquire);
  int64_t slice = 100'000'000;
  if (deadline > 0) {
    int64_t left = deadline - now_ns();
    if (left <= 0) {
      (mode == 'r' ? pd->r_expired : pd->w_expired).store(true);
      return std::make_error_code(std::errc::timed_out);
    }
    slice = std::min(slice, left);
  }
  pollfd p{pd->fd, static_cast<short>(mode == 'r' ? POLLIN : POLLOUT), 0};
  ::poll(&p, 1, static_cast<int>((slice + 999'999) / 1'000'000));
  return check_err(pd, mode);
}

// Servers move deadlines on every request, almost always later, so moving one must be cheap:
// a timer already due at or before the new deadline stays as it is and, when it fires, finds
// the later deadline and re-arms itself (deadline_timer). Only a deadline that moved earlier
// than the pending timer moves the timer.
void poll_set_deadline(PollDesc* pd, char mode, int64_t deadline_ns) noexcept {
  std::lock_guard<SpinLock> g(pd->deadline_lock);
  TimerEntry* t = mode == 'r' ? &pd->rtimer : &pd->wtimer;
  auto& expired = mode == 'r' ? pd->r_expired : pd->w_expired;
  (mode == 'r' ? pd->rd : pd->wd).store(deadline_ns, std::memory_order_release);
  if (deadline_ns == 0) {
    expired.store(false, std::memory_order_seq_cst);
    return;  // a pending timer finds no deadline and does nothing
  }
  // Server deadlines are seconds ahead: the coarse clock (which lags the real one by at most
  // sysmon's longest sleep, 1 s) settles those without reading the clock; near ones get the
  // exact check, so a deadline already passed fails the next operation at once.
  int64_t coarse = coarse_now_ns();
  if (deadline_ns <= coarse || (deadline_ns - coarse < 2'000'000'000 && deadline_ns <= now_ns())) {
    deadline_fired(pd, mode);
    return;
  }
  expired.store(false, std::memory_order_seq_cst);
  int64_t when = 0;
  switch (timer_state(t, &when)) {
    case TimerState::kPending:
      if (when > deadline_ns) timer_reset(t, deadline_ns);  // false: it just began firing
      return;
    case TimerState::kFiring:
      return;  // the callback takes deadline_lock after us and sees the new deadline
    case TimerState::kIdle:
      timer_start(t, deadline_ns);
      return;
  }
}

}  // namespace weft::detail
