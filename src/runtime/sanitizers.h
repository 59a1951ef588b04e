// Hooks that tell ASan and TSan about task switches; empty in normal builds.
#pragma once

#include <cstddef>

#if defined(__SANITIZE_ADDRESS__)
#define WEFT_ASAN 1
#endif
#if defined(__SANITIZE_THREAD__)
#define WEFT_TSAN 1
#endif
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define WEFT_ASAN 1
#endif
#if __has_feature(thread_sanitizer)
#define WEFT_TSAN 1
#endif
#endif

extern "C" {
#if WEFT_ASAN
void __sanitizer_start_switch_fiber(void** fake_stack_save, const void* bottom, size_t size);
void __sanitizer_finish_switch_fiber(void* fake_stack_save, const void** bottom_old,
                                     size_t* size_old);
void __asan_unpoison_memory_region(void const volatile* addr, size_t size);
#endif
#if WEFT_TSAN
void* __tsan_get_current_fiber(void);
void* __tsan_create_fiber(unsigned flags);
void __tsan_destroy_fiber(void* fiber);
void __tsan_switch_to_fiber(void* fiber, unsigned flags);
#endif
}

namespace weft::detail::san {

// Whether this build keeps anything in a task record's sanitizer slot (Fiber::san_fiber):
// ASan's fake-stack save slot or TSan's fiber. Normal builds never touch the slot.
#if WEFT_ASAN || WEFT_TSAN
inline constexpr bool kFiberSlotUsed = true;
#else
inline constexpr bool kFiberSlotUsed = false;
#endif

inline void start_switch(void** fake_save, const void* bottom, size_t size) {
#if WEFT_ASAN
  __sanitizer_start_switch_fiber(fake_save, bottom, size);
#endif
}
inline void finish_switch(void* fake_save) {
#if WEFT_ASAN
  __sanitizer_finish_switch_fiber(fake_save, nullptr, nullptr);
#endif
}
inline void unpoison(const void* p, size_t n) {
#if WEFT_ASAN
  __asan_unpoison_memory_region(p, n);
#endif
}
inline void* tsan_current() {
#if WEFT_TSAN
  return __tsan_get_current_fiber();
#else
  return nullptr;
#endif
}
inline void* tsan_create() {
#if WEFT_TSAN
  return __tsan_create_fiber(0);
#else
  return nullptr;
#endif
}
inline void tsan_destroy(void* f) {
#if WEFT_TSAN
  if (f) __tsan_destroy_fiber(f);
#endif
}
inline void tsan_switch(void* f) {
#if WEFT_TSAN
  __tsan_switch_to_fiber(f, 0);
#endif
}

}  // namespace weft::detail::san
