// PollDesc and the poller's API for the net layer: wait for a socket without blocking a thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <system_error>

#include "runtime/internal.h"
#include "weft/runtime/detail/hangup.h"

namespace weft::detail {

// PollDesc is the runtime's record of one non-blocking fd registered with the epoll instance
// (edge-triggered, once, for both directions). rg/wg hold 0 (nothing), 1 (ready), 2 (a task is
// about to park) or the parked Fiber*. PollDescs are recycled, never freed, so a stale event for
// a reused one is only a spurious wake-up, which every waiter tolerates.
struct PollDesc {
  int fd = -1;
  std::atomic<uintptr_t> rg{0};
  std::atomic<uintptr_t> wg{0};
  std::atomic<bool> closing{false};
  std::atomic<bool> r_expired{false};
  std::atomic<bool> w_expired{false};
  std::atomic<int64_t> rd{0};  // read deadline, steady ns; 0 none
  std::atomic<int64_t> wd{0};
  // Bit 31: closing; low bits: operations in flight. The fd is closed when both say so.
  std::atomic<uint32_t> ops{0};
  std::atomic<bool> fd_closed{false};
  // The last read returned less than it asked for, so the socket was drained then: with
  // edge-triggered epoll, new data will raise an event, and the next read waits for it instead
  // of spending a system call on EAGAIN (nginx's rev->ready). Touched only by the reader.
  bool read_drained = false;
  // The poller saw the peer's FIN or an error: no further event will come, so reads must not
  // wait for one.
  std::atomic<bool> read_hup{false};
  SpinLock deadline_lock;  // serialises deadline changes
  // The armed HangupHook*, taken by the poller when it fires.
  std::atomic<void*> hangup{nullptr};
  TimerEntry rtimer;
  TimerEntry wtimer;
  PollDesc* free_next = nullptr;
};

// Registers fd (already non-blocking) and returns its descriptor, owned by one handle.
PollDesc* poll_open(int fd, std::error_code& ec);
// Brackets one read/write/accept; begin fails (returns false) once pd is closing.
bool poll_op_begin(PollDesc* pd) noexcept;
void poll_op_end(PollDesc* pd) noexcept;
// Marks pd closing and wakes its waiters; the fd is closed once no operation is in flight.
void poll_close(PollDesc* pd) noexcept;
// The owning handle is gone: closes pd if needed and recycles it once the fd is closed.
void poll_release(PollDesc* pd) noexcept;
// Waits until pd is readable (mode 'r') or writable ('w'), its deadline passes or it is
// closed. Returns an empty error_code when the caller should retry its system call.
std::error_code poll_wait(PollDesc* pd, char mode);
// Runs the hang-up watch armed on pd, if any (exactly once per arming).
void poll_fire_hangup(PollDesc* pd) noexcept;
// Sets the read ('r') or write ('w') deadline; 0 clears it.
void poll_set_deadline(PollDesc* pd, char mode, int64_t deadline_ns) noexcept;

}  // namespace weft::detail
