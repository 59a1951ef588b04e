// TaskFn: the move-only, small-buffer-optimised callable a task runs.
#pragma once

#include <cstddef>
#include <new>
#include <type_traits>
#include <utility>

namespace weft::detail {

// TaskFn owns any callable taking no arguments. Callables up to kInline bytes live inside the
// object; larger ones go to the heap. Moving a TaskFn moves the callable.
class TaskFn {
 public:
  static constexpr std::size_t kInline = 48;

  TaskFn() noexcept = default;
  template <class F, class D = std::decay_t<F>,
            class = std::enable_if_t<!std::is_same_v<D, TaskFn> && std::is_invocable_v<D&>>>
  TaskFn(F&& f) {  // NOLINT(google-explicit-constructor): a callable converts to a task.
    if constexpr (sizeof(D) <= kInline && alignof(D) <= alignof(std::max_align_t) &&
                  std::is_nothrow_move_constructible_v<D>) {
      ::new (static_cast<void*>(buf_)) D(std::forward<F>(f));
      ops_ = &kInlineOps<D>;
    } else {
      *reinterpret_cast<D**>(buf_) = new D(std::forward<F>(f));
      ops_ = &kHeapOps<D>;
    }
  }
  TaskFn(TaskFn&& o) noexcept : ops_(o.ops_) {
    if (ops_) ops_->move(buf_, o.buf_);
    o.ops_ = nullptr;
  }
  TaskFn& operator=(TaskFn&& o) noexcept {
    if (this != &o) {
      reset();
      ops_ = o.ops_;
      if (ops_) ops_->move(buf_, o.buf_);
      o.ops_ = nullptr;
    }
    return *this;
  }
  TaskFn(const TaskFn&) = delete;
  TaskFn& operator=(const TaskFn&) = delete;
  ~TaskFn() { reset(); }

  explicit operator bool() const noexcept { return ops_ != nullptr; }
  // Invokes the callable. REQUIRES: non-empty.
  void operator()() { ops_->call(buf_); }
  // Destroys the callable, leaving this empty.
  void reset() noexcept {
    if (ops_) ops_->destroy(buf_);
    ops_ = nullptr;
  }

 private:
  struct Ops {
    void (*call)(void*);
    void (*move)(void* dst, void* src) noexcept;
    void (*destroy)(void*) noexcept;
  };
  template <class D>
  static constexpr Ops kInlineOps = {[](void* p) { (*static_cast<D*>(p))(); },
                                     [](void* d, void* s) noexcept {
                                       ::new (d) D(std::move(*static_cast<D*>(s)));
                                       static_cast<D*>(s)->~D();
                                     },
                                     [](void* p) noexcept { static_cast<D*>(p)->~D(); }};
  template <class D>
  static constexpr Ops kHeapOps = {
      [](void* p) { (**static_cast<D**>(p))(); },
      [](void* d, void* s) noexcept { *static_cast<D**>(d) = *static_cast<D**>(s); },
      [](void* p) noexcept { delete *static_cast<D**>(p); }};

  alignas(std::max_align_t) unsigned char buf_[kInline];
  const Ops* ops_ = nullptr;
};

}  // namespace weft::detail
