// Helpers shared by the runtime and net test suites: the clock, waiting for a condition, atomic
// max/min, a channel ping-pong, a hang guard that ends the process, and capturing what the
// process writes to stderr.
// Everything lives in namespace weft_test; a test file names what it uses with using-declarations.
#pragma once

#include <unistd.h>
#include <weft/log.h>
#include <weft/weft.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>

namespace weft_test {

// The clock the tests time things with (the same one the runtime's deadlines use).
using Clock = std::chrono::steady_clock;

// Polls pred() every millisecond (weft::sleep_for, so from tasks and plain threads alike) until it
// holds (returns true) or limit has passed (returns false).
template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds limit = std::chrono::milliseconds(5000)) {
  auto end = Clock::now() + limit;
  while (!pred()) {
    if (Clock::now() > end) return false;
    weft::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

// Raises m to v if v is larger (lock-free, safe against concurrent updates).
template <class T>
void atomic_max(std::atomic<T>& m, std::type_identity_t<T> v) {
  T cur = m.load();
  while (cur < v && !m.compare_exchange_weak(cur, v)) {
  }
}

// Lowers m to v if v is smaller (lock-free, safe against concurrent updates).
template <class T>
void atomic_min(std::atomic<T>& m, std::type_identity_t<T> v) {
  T cur = m.load();
  while (v < cur && !m.compare_exchange_weak(cur, v)) {
  }
}

// Bounces a value `rounds` times between the calling task and a new task that adds one to it,
// then closes the pair; returns the final value (equal to rounds).
inline int ping_pong(int rounds) {
  weft::Chan<int> ping, pong;
  weft::go([ping, pong]() mutable {
    for (int v : ping) pong.send(v + 1);
  });
  int v = 0;
  for (int i = 0; i < rounds; ++i) {
    ping.send(v);
    v = *pong.recv();
  }
  ping.close();
  return v;
}

// Ends the process with exit code 3 and a message naming `what` on stdout and stderr if it is
// still alive after `limit` (a hang guard, not a speed requirement).
class Watchdog {
 public:
  Watchdog(std::string what, std::chrono::seconds limit)
      : th_([this, what = std::move(what), limit] {
          std::unique_lock<std::mutex> l(mu_);
          if (!cv_.wait_for(l, limit, [this] { return done_; })) {
            // stdout too: a test may have redirected stderr.
            for (std::FILE* f : {stdout, stderr})
              std::fprintf(f, "watchdog: %s (no progress within %lld s)\n", what.c_str(),
                           static_cast<long long>(limit.count()));
            std::fflush(nullptr);
            std::_Exit(3);
          }
        }) {}
  ~Watchdog() {
    {
      std::lock_guard<std::mutex> l(mu_);
      done_ = true;
    }
    cv_.notify_all();
    th_.join();
  }
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread th_;
};

// Captures what the process writes to fd 2 (the logger writes the runtime's warnings there) from
// start() to stop(), which returns it; with tee the text also goes on to the real stderr as it
// arrives.
class StderrCapture {
 public:
  explicit StderrCapture(bool tee = false) : tee_(tee) {}
  ~StderrCapture() {
    if (reader_.joinable()) (void)stop();
  }
  StderrCapture(const StderrCapture&) = delete;
  StderrCapture& operator=(const StderrCapture&) = delete;

  // Redirects fd 2 into a pipe that a reader thread drains; found() watches for needle.
  void start(std::string needle = {}) {
    std::fflush(stderr);
    needle_ = std::move(needle);
    found_ = false;
    text_.clear();
    int fds[2];
    if (::pipe(fds) != 0) std::abort();
    saved_ = ::dup(2);
    ::dup2(fds[1], 2);
    ::close(fds[1]);
    reader_ = std::thread([this, in = fds[0]] {
      char buf[4096];
      ssize_t n;
      while ((n = ::read(in, buf, sizeof buf)) > 0) {
        if (tee_) {
          ssize_t ignored = ::write(saved_, buf, static_cast<std::size_t>(n));
          (void)ignored;
        }
        text_.append(buf, static_cast<std::size_t>(n));
        if (!needle_.empty() && text_.find(needle_) != std::string::npos) found_ = true;
      }
      ::close(in);
    });
  }
  // True once the needle given to start() has been written; any thread may ask at any time.
  bool found() const { return found_.load(); }
  // Restores fd 2, waits until the reader has drained the pipe and returns all that was written.
  std::string stop() {
    weft::log::flush();  // the runtime's warnings go through the logger's writer thread
    std::fflush(stderr);
    ::dup2(saved_, 2);  // drops the pipe's last write end: the reader sees EOF
    reader_.join();
    ::close(saved_);
    saved_ = -1;
    return std::move(text_);
  }

 private:
  bool tee_;
  std::string needle_;
  int saved_ = -1;
  std::thread reader_;
  std::string text_;  // written by the reader only, read after it has been joined
  std::atomic<bool> found_{false};
};

}  // namespace weft_test
