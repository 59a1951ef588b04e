// The registry of live tasks, the task dump (weft::dump_tasks, SIGQUIT) and the fatal-signal
// handler that names a stack overflow.
#include <cxxabi.h>
#include <dlfcn.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "runtime/internal.h"
#include "runtime/stack_switch.h"
#include "weft/runtime/task.h"

namespace weft::detail {

namespace {

SpinLock g_all_lock;
// Every Fiber struct ever made; they are never freed. Heap-held so no exit-time destructor
// races a runtime thread still recording one.
std::vector<Fiber*>& g_all = *new std::vector<Fiber*>();
std::atomic<bool> g_dump_requested{false};

const char* state_name(FiberState s) {
  switch (s) {
    case FiberState::kRunnable:
      return "runnable";
    case FiberState::kRunning:
      return "running";
    case FiberState::kParking:
    case FiberState::kParked:
      return "waiting";
    case FiberState::kDead:
      return "dead";
  }
  return "?";
}

void append_symbol(std::string& out, uintptr_t pc) {
  char buf[64];
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(pc), &info) && info.dli_sname) {
    int status = 0;
    char* dem = abi::__cxa_demangle(info.dli_sname, nullptr, nullptr, &status);
    out += status == 0 && dem ? dem : info.dli_sname;
    std::free(dem);
    std::snprintf(buf, sizeof buf, "+0x%lx",
                  static_cast<unsigned long>(pc - reinterpret_cast<uintptr_t>(info.dli_saddr)));
    out += buf;
  } else if (info.dli_fname) {
    out += info.dli_fname;
    std::snprintf(buf, sizeof buf, "+0x%lx",
                  static_cast<unsigned long>(pc - reinterpret_cast<uintptr_t>(info.dli_fbase)));
    out += buf;
  } else {
    std::snprintf(buf, sizeof buf, "0x%lx", static_cast<unsigned long>(pc));
    out += buf;
  }
}

// Walks the frame-pointer chain of a switched-out task from its saved context. The task may
// wake and run (or end, and its stack go to another task) while the walk reads its frames:
// the walk stays inside the stack's bounds and only prints what it read, so a stale frame
// makes a wrong line in a diagnostic, never a fault. Not instrumented by TSan for that reason.
__attribute__((no_sanitize("thread"))) void append_stack(std::string& out, const Fiber* f) {
  if (!f->ctx || !f->stack.base) return;
  auto lo = reinterpret_cast<uintptr_t>(f->stack.base);
  auto hi = lo + f->stack.size;
  auto ctx = reinterpret_cast<uintptr_t>(f->ctx);
  if (ctx < lo || ctx + kSavedFrameBytes > hi) return;
  uintptr_t pc = 0;
  uintptr_t fp = 0;
  if (!saved_frame(f->ctx, &fp, &pc)) return;
  for (int depth = 0; depth < 32 && pc; ++depth) {
    out += "        ";
    append_symbol(out, pc);
    out += "\n";
    if (fp < lo || fp + 16 > hi || (fp & 7) != 0) break;
    uintptr_t next_fp = reinterpret_cast<const uintptr_t*>(fp)[0];
    pc = reinterpret_cast<const uintptr_t*>(fp)[1];
    if (next_fp <= fp) break;
    fp = next_fp;
  }
}

void on_sigquit(int) {
  g_dump_requested.store(true, std::memory_order_release);
  sysmon_kick();
}

struct sigaction g_prev_segv;
struct sigaction g_prev_bus;

void on_fatal_signal(int sig, siginfo_t* info, void* uctx) {
  if (stack_is_overflow_address(info->si_addr)) {
    static const char kMsg[] =
        "weft: fatal: stack overflow: a task ran past the end of its stack (raise "
        "RuntimeOptions::stack_size)\n";
    ssize_t ignored = ::write(2, kMsg, sizeof kMsg - 1);
    (void)ignored;
    Machine* m = current_machine();
    if (m && m->current) {
      char buf[512];
      int n = std::snprintf(
          buf, sizeof buf, "weft: the task was %llu, created at %s:%u\n",
          static_cast<unsigned long long>(m->current->id.load(std::memory_order_relaxed)),
          m->current->site.load(std::memory_order_relaxed).file_name(),
          m->current->site.load(std::memory_order_relaxed).line());
      if (n > 0) ignored = ::write(2, buf, static_cast<std::size_t>(n));
    }
    std::_Exit(2);
  }
  // Not ours: restore the previous disposition and let the fault happen again.
  struct sigaction* prev = sig == SIGSEGV ? &g_prev_segv : &g_prev_bus;
  ::sigaction(sig, prev, nullptr);
  (void)uctx;
}

}  // namespace

void registry_record_new(Fiber* fibers, int count) {
  std::lock_guard<SpinLock> g(g_all_lock);
  for (int i = 0; i < count; ++i) g_all.push_back(&fibers[i]);
}

void count_fibers(uint64_t (&by_state)[kFiberStates], uint64_t (&by_reason)[kWaitReasons]) {
  for (uint64_t& n : by_state) n = 0;
  for (uint64_t& n : by_reason) n = 0;
  std::vector<Fiber*> all;
  {
    std::lock_guard<SpinLock> g(g_all_lock);
    all = g_all;
  }
  for (const Fiber* f : all) {
    FiberState st = f->state.load(std::memory_order_relaxed);
    ++by_state[static_cast<int>(st)];
    if (st == FiberState::kParked || st == FiberState::kParking) {
      int reason = static_cast<int>(f->wait_reason.load(std::memory_order_relaxed));
      if (reason >= 0 && reason < kWaitReasons) ++by_reason[reason];
    }
  }
}

bool take_dump_request() noexcept {
  return g_dump_requested.exchange(false, std::memory_order_acq_rel);
}

void install_signal_handlers() {
  const char* q = std::getenv("WEFT_SIGQUIT");
  if (!q || std::strcmp(q, "0") != 0) {
    struct sigaction cur {};
    ::sigaction(SIGQUIT, nullptr, &cur);
    if (cur.sa_handler == SIG_DFL) {
      struct sigaction sa {};
      sa.sa_handler = on_sigquit;
      sigemptyset(&sa.sa_mask);
      sa.sa_flags = SA_RESTART;
      ::sigaction(SIGQUIT, &sa, nullptr);
    }
  }
  struct sigaction sa {};
  sa.sa_sigaction = on_fatal_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESETHAND;
  ::sigaction(SIGSEGV, &sa, &g_prev_segv);
  ::sigaction(SIGBUS, &sa, &g_prev_bus);
}

const char* wait_reason_name(WaitReason r) noexcept {
  switch (r) {
    case WaitReason::kNone:
      return "";
    case WaitReason::kChanSend:
      return "chan send";
    case WaitReason::kChanRecv:
      return "chan receive";
    case WaitReason::kSelect:
      return "select";
    case WaitReason::kMutex:
      return "mutex";
    case WaitReason::kRWMutexRead:
      return "rwmutex read";
    case WaitReason::kRWMutexWrite:
      return "rwmutex write";
    case WaitReason::kCondVar:
      return "condvar";
    case WaitReason::kWaitGroup:
      return "waitgroup";
    case WaitReason::kSemaphore:
      return "semaphore";
    case WaitReason::kSleep:
      return "sleep";
    case WaitReason::kNetRead:
      return "net read";
    case WaitReason::kNetWrite:
      return "net write";
  }
  return "?";
}

}  // namespace weft::detail

namespace weft {

std::string dump_tasks_string() {
  using namespace detail;
  std::string out;
  int64_t now = now_ns();
  int64_t total = 0;
  std::vector<Fiber*> all;
  {
    std::lock_guard<SpinLock> g(g_all_lock);
    all = g_all;
  }
  for (Fiber* f : all) {
    FiberState st = f->state.load(std::memory_order_acquire);
    if (st == FiberState::kDead) continue;
    ++total;
    {
      char line[1024];
      const char* reason = wait_reason_name(f->wait_reason.load(std::memory_order_relaxed));
      auto site = f->site.load(std::memory_order_relaxed);
      unsigned long long id = f->id.load(std::memory_order_relaxed);
      if (st == FiberState::kParked && *reason) {
        std::snprintf(line, sizeof line,
                      "task %llu [%s, %s, %lld ms]:\n    created at %s:%u in %s\n", id,
                      state_name(st), reason,
                      static_cast<long long>(
                          (now - f->wait_since_ns.load(std::memory_order_relaxed)) / 1'000'000),
                      site.file_name(), site.line(), site.function_name());
      } else {
        std::snprintf(line, sizeof line, "task %llu [%s]:\n    created at %s:%u in %s\n", id,
                      state_name(st), site.file_name(), site.line(), site.function_name());
      }
      out += line;
      if (st == FiberState::kParked) {
        std::string stack;
        append_stack(stack, f);
        if (!stack.empty()) {
          out += "    stack:\n";
          out += stack;
        }
      }
      out += "\n";
    }
  }
  char head[96];
  std::snprintf(head, sizeof head, "weft: %lld live tasks\n\n", static_cast<long long>(total));
  return head + out;
}

void dump_tasks(int fd) {
  std::string s = dump_tasks_string();
  std::size_t off = 0;
  while (off < s.size()) {
    ssize_t n = ::write(fd, s.data() + off, s.size() - off);
    if (n <= 0) break;
    off += static_cast<std::size_t>(n);
  }
}

}  // namespace weft
