// Fiber switching: the Boost.Context jump, exception state per task, sanitizer hooks, task exit.
#include <cxxabi.h>
#include <unistd.h>

#include <boost/context/detail/fcontext.hpp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>

#include "runtime/internal.h"
#include "runtime/sanitizers.h"

namespace weft::detail {

namespace bctx = boost::context::detail;

namespace {

thread_local Machine* t_machine = nullptr;

EhGlobals* eh_globals() noexcept {
  return reinterpret_cast<EhGlobals*>(abi::__cxa_get_globals());
}

void check_canary(const Fiber* f) {
  if (f->stack.base && *reinterpret_cast<const uint64_t*>(f->stack.base) != kStackCanary) {
    fatal_stack_overflow(f);
  }
}

}  // namespace

__attribute__((noinline)) Machine* current_machine() noexcept {
  Machine* m = t_machine;
  asm volatile("" ::: "memory");
  return m;
}

__attribute__((noinline)) void set_current_machine(Machine* m) noexcept {
  t_machine = m;
  asm volatile("" ::: "memory");
}

void fatal(const char* msg, const Fiber* f) {
  std::string line = "weft: fatal: ";
  line += msg;
  if (f) {
    char buf[512];
    std::snprintf(buf, sizeof buf, " [task %llu created at %s:%u in %s]",
                  static_cast<unsigned long long>(f->id), f->site.file_name(), f->site.line(),
                  f->site.function_name());
    line += buf;
  }
  line += "\n";
  ssize_t ignored = ::write(2, line.data(), line.size());
  (void)ignored;
  std::_Exit(2);
}

void fatal_stack_overflow(const Fiber* f) {
  fatal("stack overflow: the task used more than its stack (raise RuntimeOptions::stack_size)",
        f);
}

// A task's first frame: runs the callable, reports an escaping exception, exits the task.
static void fiber_entry(bctx::transfer_t t) {
  Fiber* f = static_cast<Fiber*>(t.data);
  f->caller = t.fctx;
  san::finish_switch(nullptr);
  *eh_globals() = EhGlobals{};
  try {
    f->fn();
  } catch (...) {
    if (f->main != nullptr) {
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
  if (f->locals) {
    auto* locals = f->locals;
    f->locals = nullptr;
    for (auto& [p, del] : *locals) {
      if (p) del(p);
    }
    delete locals;
  }
  f->state.store(FiberState::kDead, std::memory_order_relaxed);
  Machine* m = current_machine();
  m->post = PostAction::kExit;
  check_canary(f);
  san::start_switch(nullptr, m->sched_stack_bottom, m->sched_stack_size);
  san::tsan_switch(m->tsan_sched_fiber);
  bctx::jump_fcontext(f->caller, nullptr);
  __builtin_unreachable();
}

void switch_to_scheduler(Fiber* f) {
  check_canary(f);
  EhGlobals* g = eh_globals();
  f->eh = *g;
  *g = EhGlobals{};
  Machine* m = current_machine();
  san::start_switch(&f->asan_fake_stack, m->sched_stack_bottom, m->sched_stack_size);
  san::tsan_switch(m->tsan_sched_fiber);
  bctx::transfer_t t = bctx::jump_fcontext(f->caller, nullptr);
  f->caller = t.fctx;
  san::finish_switch(f->asan_fake_stack);
  *eh_globals() = f->eh;
}

void resume_fiber(Machine* m, Fiber* f) {
  if (f->ctx == nullptr) {
    extern StackCache* machine_stack_cache(Machine*);
    f->stack = stack_alloc(machine_stack_cache(m));
    *reinterpret_cast<uint64_t*>(f->stack.base) = kStackCanary;
    f->ctx = bctx::make_fcontext(f->stack.base + f->stack.size, f->stack.size, fiber_entry);
    f->tsan_fiber = san::tsan_create();
  }
  m->current = f;
  f->last_m = m;
  f->state.store(FiberState::kRunning, std::memory_order_relaxed);
  san::start_switch(&m->asan_fake_stack, f->stack.base, f->stack.size);
  san::tsan_switch(f->tsan_fiber);
  bctx::transfer_t t = bctx::jump_fcontext(f->ctx, f);
  san::finish_switch(m->asan_fake_stack);
  f->ctx = t.fctx;
  m->current = nullptr;
}

void fiber_release_resources(Machine* m, Fiber* f) {
  extern StackCache* machine_stack_cache(Machine*);
  san::tsan_destroy(f->tsan_fiber);
  f->tsan_fiber = nullptr;
  if (f->stack.base) {
    check_canary(f);
    stack_free(machine_stack_cache(m), f->stack);
    f->stack = Stack{};
  }
  f->ctx = nullptr;
  f->caller = nullptr;
  f->asan_fake_stack = nullptr;
  f->eh = EhGlobals{};
}

}  // namespace weft::detail
