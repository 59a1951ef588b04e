// Pool<T>: Go's sync.Pool — reuse of expensive objects with per-processor caches.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <vector>

#include "weft/runtime/detail/spinlock.h"

namespace weft {

namespace detail {
// Index of the processor the caller runs on, or -1 on a plain thread.
int current_proc_index() noexcept;
// Upper bound on processor indexes (fixed when the runtime starts).
int proc_slots() noexcept;
}  // namespace detail

// Pool<T> keeps released objects for reuse. get() returns a cached object or makes one with the
// factory; put() gives one back. The fast path touches only the calling processor's cache (no
// lock, no shared cache line); a bounded shared list behind a lock catches the overflow. Objects
// are handed out as they were put back: reset them before put() if that matters.
template <class T>
class Pool {
 public:
  using Factory = std::function<std::unique_ptr<T>()>;

  // per_proc bounds each processor's cache; shared bounds the overflow list.
  explicit Pool(
      Factory factory = [] { return std::make_unique<T>(); }, std::size_t per_proc = 64,
      std::size_t shared = 1024)
      : factory_(std::move(factory)),
        per_proc_(per_proc),
        shared_cap_(shared),
        locals_(static_cast<std::size_t>(detail::proc_slots())) {}
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  std::unique_ptr<T> get() {
    int p = detail::current_proc_index();
    if (p >= 0 && static_cast<std::size_t>(p) < locals_.size()) {
      auto& l = locals_[static_cast<std::size_t>(p)].items;
      if (!l.empty()) {
        std::unique_ptr<T> v = std::move(l.back());
        l.pop_back();
        return v;
      }
    }
    {
      std::lock_guard<detail::SpinLock> g(shared_lock_);
      if (!shared_.empty()) {
        std::unique_ptr<T> v = std::move(shared_.back());
        shared_.pop_back();
        return v;
      }
    }
    return factory_();
  }

  void put(std::unique_ptr<T> v) {
    if (!v) return;
    int p = detail::current_proc_index();
    if (p >= 0 && static_cast<std::size_t>(p) < locals_.size()) {
      auto& l = locals_[static_cast<std::size_t>(p)].items;
      if (l.size() < per_proc_) {
        l.push_back(std::move(v));
        return;
      }
    }
    std::lock_guard<detail::SpinLock> g(shared_lock_);
    if (shared_.size() < shared_cap_) shared_.push_back(std::move(v));
  }

 private:
  struct alignas(64) Local {
    std::vector<std::unique_ptr<T>> items;
  };
  Factory factory_;
  std::size_t per_proc_;
  std::size_t shared_cap_;
  std::vector<Local> locals_;
  detail::SpinLock shared_lock_;
  std::vector<std::unique_ptr<T>> shared_;
};

}  // namespace weft
