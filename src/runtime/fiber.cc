// Tasks' lives: the first frame of a stack, running a task's callable, a finished task's stack
// handed to the next, fatal errors. The switch itself is in internal.h (inline, for the park path).
#include <cxxabi.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>

#include "runtime/internal.h"
#include "runtime/sanitizers.h"
#include "runtime/stack_switch.h"

// current_machine() names both in an asm string, which link-time optimisation does not see:
// `used` and `externally_visible` keep them, under these names, in an LTO build.
extern "C" {
__thread weft::detail::Machine* weft_tls_machine
    __attribute__((tls_model("initial-exec"), used, externally_visible)) = nullptr;
__attribute__((visibility("hidden"), used, externally_visible)) char weft_current_machine_order = 0;
}

namespace weft::detail {

namespace {

EhGlobals* eh_globals() noexcept {
  return reinterpret_cast<EhGlobals*>(abi::__cxa_get_globals());
}

}  // namespace

#if !defined(__x86_64__)
__attribute__((noinline)) Machine* current_machine() noexcept {
  Machine* m = weft_tls_machine;
  asm volatile("" ::: "memory");
  return m;
}
#endif

__attribute__((noinline)) void set_current_machine(Machine* m) noexcept {
  if (m) m->eh = eh_globals();
  weft_tls_machine = m;
  asm volatile("" ::: "memory");
}

void fatal(const char* msg, const Fiber* f) {
  std::string line = "weft: fatal: ";
  line += msg;
  if (f) {
    char buf[512];
    std::snprintf(buf, sizeof buf, " [task %llu created at %s:%u in %s]",
                  static_cast<unsigned long long>(f->id.load(std::memory_order_relaxed)),
                  f->site.load(std::memory_order_relaxed).file_name(),
                  f->site.load(std::memory_order_relaxed).line(),
                  f->site.load(std::memory_order_relaxed).function_name());
    line += buf;
  }
  line += "\n";
  ssize_t ignored = ::write(2, line.data(), line.size());
  (void)ignored;
  std::_Exit(2);
}

void seg_ring_out_of_memory() {
  fatal("out of memory for a runtime queue");
}

void fatal_stack_overflow(const Fiber* f) {
  fatal("stack overflow: the task used more than its stack (raise RuntimeOptions::stack_size)", f);
}

// Runs f's callable on the current task's stack, reports an escaping exception, releases the
// callable and f's FiberLocals.
static void run_task(Fiber* f) {
  try {
    f->fn();
  } catch (...) {
    if (f->flags & Fiber::kIsMain) {
      extern void main_task_failed(MainWaiter*, std::exception_ptr) noexcept;
      main_task_failed(f->main, std::current_exception());
    } else {
      std::string what = "uncaught exception in a task";
      try {
        throw;
      } catch (const std::exception& e) {
        what += ": ";
        what += e.what();
      } catch (...) {
      }
      fatal(what.c_str(), f);
    }
  }
  f->fn.reset();
  if (f->flags & Fiber::kHasLocals) {
    auto* locals = f->locals;
    f->locals = nullptr;
    f->flags &= ~Fiber::kHasLocals;
    for (auto& [p, del] : *locals) {
      if (p) del(p);
    }
    delete locals;
  }
}

// The first frame of a stack: runs its task, then each never-run task that takes the stack over
// when the one before ends (finish_current_fiber), until one ends with a switch away.
static void fiber_entry() {
  after_switch();
  Fiber* f = current_machine()->current;
  for (;;) {
    run_task(f);
    f = finish_current_fiber(current_machine(), f);
  }
}

void hand_stack_over(Machine* m, Fiber* from, Fiber* to) {
  check_canary(from);
  to->stack = from->stack;
  from->stack = Stack{};
  // The sanitizers see one context go on: `to` keeps from's (TSan's fiber for this stack; ASan's
  // slot is only read across a switch). For TSan, from's end happens before to's start, as on
  // any thread.
  if constexpr (san::kFiberSlotUsed) {
    to->san_fiber = from->san_fiber;
    from->san_fiber = nullptr;
  }
  to->state.store(FiberState::kRunning, std::memory_order_relaxed);
  m->current = to;
}

void give_first_frame(Machine* m, Fiber* f) {
  f->stack = stack_alloc(machine_stack_cache(m));
  f->ctx = make_context(f->stack.base, f->stack.size, fiber_entry);
  if constexpr (san::kFiberSlotUsed) f->san_fiber = san::tsan_create();
}

void fiber_release_resources(Machine* m, Fiber* f) {
  if constexpr (san::kFiberSlotUsed) {
    san::tsan_destroy(f->san_fiber);
    f->san_fiber = nullptr;
  }
  if (f->stack.base) {
    check_canary(f);
    stack_free(machine_stack_cache(m), f->stack);
    f->stack = Stack{};
  }
  f->ctx = nullptr;
  f->flags &= ~Fiber::kEhSaved;
}

}  // namespace weft::detail
