// Switching the processor between stacks: the only machine-specific code of the runtime.
//
// On x86-64 the switch is the runtime's own: it saves the callee-saved registers and the
// SSE/x87 control words on the stack it leaves and returns on the stack it enters, so calls and
// returns stay paired for the CPU's return predictor (Boost.Context resumes with an indirect
// jump, which leaves one return address unmatched and makes every return after a switch a
// mispredict; docs/architecture.md has the measurement). Other architectures use
// Boost.Context's jump_fcontext.
#pragma once

#include <cstddef>
#include <cstdint>

namespace weft::detail {

// A suspended context: the stack pointer it was saved at. Only make_context and swap_context
// create one; only swap_context resumes one, and at most once.
using SavedContext = void*;

// The first function a new context runs. It must never return (a task leaves its stack by
// switching away for good).
using ContextEntry = void (*)();

// Prepares a context on the stack [base, base + size) that calls entry() when first resumed.
SavedContext make_context(void* base, std::size_t size, ContextEntry entry) noexcept;

#if defined(__x86_64__)
extern "C" void weft_swap_context(void** save, void* to) noexcept;
#endif

// Suspends the running context, storing it in *save, and resumes `to`. Returns when another
// context resumes *save. *save is written before `to` starts to run.
#if defined(__x86_64__)
inline void swap_context(SavedContext* save, SavedContext to) noexcept {
  weft_swap_context(save, to);
}
#else
void swap_context(SavedContext* save, SavedContext to) noexcept;
#endif

// The frame pointer and resume address saved in a suspended context, for walking its frames.
// False where the layout is not known.
bool saved_frame(SavedContext ctx, uintptr_t* fp, uintptr_t* pc) noexcept;

// Bytes from a SavedContext to the end of the frame the switch saved (for bounds checks).
constexpr std::size_t kSavedFrameBytes = 0x40;

}  // namespace weft::detail
