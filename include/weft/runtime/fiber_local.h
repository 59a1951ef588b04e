// FiberLocal<T>: storage with one instance per task (and one per plain thread).
#pragma once

#include <cstddef>

namespace weft {

namespace detail {
std::size_t fiber_local_new_key() noexcept;
// The slot for key in the running task (or the calling thread); deleter runs at task exit.
void** fiber_local_slot(std::size_t key, void (*deleter)(void*));
}  // namespace detail

// FiberLocal<T> gives each task its own T, made on first use in that task and destroyed when the
// task ends. Use it instead of thread_local inside tasks: a task may resume on another thread,
// so a thread_local read before a switch can be stale after it. On a plain thread it behaves as
// a thread-local.
template <class T>
class FiberLocal {
 public:
  FiberLocal() : key_(detail::fiber_local_new_key()) {}
  FiberLocal(const FiberLocal&) = delete;
  FiberLocal& operator=(const FiberLocal&) = delete;

  // The calling task's instance, default-constructed on first use.
  T& get() {
    void** slot = detail::fiber_local_slot(key_, [](void* p) { delete static_cast<T*>(p); });
    if (*slot == nullptr) *slot = new T();
    return *static_cast<T*>(*slot);
  }
  T& operator*() { return get(); }
  T* operator->() { return &get(); }

 private:
  std::size_t key_;
};

}  // namespace weft
