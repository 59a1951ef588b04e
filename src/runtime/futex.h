// Thin wrappers over the Linux futex system call.
#pragma once

#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>

namespace weft::detail {

// Sleeps while *word == expected, at most timeout_ns (< 0: no limit). Spurious returns happen.
inline void futex_wait(std::atomic<uint32_t>* word, uint32_t expected, int64_t timeout_ns = -1) {
  struct timespec ts;
  struct timespec* tp = nullptr;
  if (timeout_ns >= 0) {
    ts.tv_sec = timeout_ns / 1'000'000'000;
    ts.tv_nsec = timeout_ns % 1'000'000'000;
    tp = &ts;
  }
  ::syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAIT_PRIVATE, expected, tp, nullptr,
            0);
}

inline void futex_wake(std::atomic<uint32_t>* word, int count = 1) {
  ::syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAKE_PRIVATE, count, nullptr,
            nullptr, 0);
}

}  // namespace weft::detail
