// The context switch. See stack_switch.h.
#include "runtime/stack_switch.h"

#if defined(__x86_64__)

// Frame saved by weft_swap_context, from the saved stack pointer up:
//   +0x00 MXCSR without its exception flags (4 bytes), x87 control word (2 bytes), two zero
//         bytes; put together in a register and stored as one word, so the comparison below
//         reads it back whole (two narrow stores read as one load would stall the CPU)
//   +0x08 r15, +0x10 r14, +0x18 r13, +0x20 r12, +0x28 rbx, +0x30 rbp
//   +0x38 resume address
// The control bits of both are callee-saved in the System V ABI, so each context keeps its own;
// they are reloaded only when they differ from the running ones (ldmxcsr and fldcw are slow).
// MXCSR's six exception flags are caller-saved status, sticky and set by any inexact operation:
// they are left out of the saved word, or the comparison would fail on most switches.
// The unwind table describes the frame at every instruction (the stack pointer moves to the
// other stack, which has the same frame shape above it), so profilers and debuggers can walk
// through a switch.
asm(R"(
  .text
  .globl weft_swap_context
  .hidden weft_swap_context
  .type weft_swap_context, @function
  .p2align 4
weft_swap_context:
  .cfi_startproc
  pushq %rbp
  .cfi_adjust_cfa_offset 8
  .cfi_rel_offset %rbp, 0
  pushq %rbx
  .cfi_adjust_cfa_offset 8
  .cfi_rel_offset %rbx, 0
  pushq %r12
  .cfi_adjust_cfa_offset 8
  .cfi_rel_offset %r12, 0
  pushq %r13
  .cfi_adjust_cfa_offset 8
  .cfi_rel_offset %r13, 0
  pushq %r14
  .cfi_adjust_cfa_offset 8
  .cfi_rel_offset %r14, 0
  pushq %r15
  .cfi_adjust_cfa_offset 8
  .cfi_rel_offset %r15, 0
  subq $8, %rsp
  .cfi_adjust_cfa_offset 8
  stmxcsr (%rsp)
  fnstcw 4(%rsp)
  movl (%rsp), %eax
  andl $0xffffffc0, %eax
  movzwl 4(%rsp), %ecx
  shlq $32, %rcx
  orq %rcx, %rax
  movq %rax, (%rsp)
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  cmpq (%rsp), %rax
  jne 2f
1:
  .cfi_remember_state
  addq $8, %rsp
  .cfi_adjust_cfa_offset -8
  popq %r15
  .cfi_adjust_cfa_offset -8
  .cfi_restore %r15
  popq %r14
  .cfi_adjust_cfa_offset -8
  .cfi_restore %r14
  popq %r13
  .cfi_adjust_cfa_offset -8
  .cfi_restore %r13
  popq %r12
  .cfi_adjust_cfa_offset -8
  .cfi_restore %r12
  popq %rbx
  .cfi_adjust_cfa_offset -8
  .cfi_restore %rbx
  popq %rbp
  .cfi_adjust_cfa_offset -8
  .cfi_restore %rbp
  ret
2:
  .cfi_restore_state
  ldmxcsr (%rsp)
  fldcw 4(%rsp)
  jmp 1b
  .cfi_endproc
  .size weft_swap_context, .-weft_swap_context

  .globl weft_context_start
  .hidden weft_context_start
  .type weft_context_start, @function
  .p2align 4
weft_context_start:
  .cfi_startproc
  .cfi_undefined rip
  xorl %ebp, %ebp
  callq *%rbx
  ud2
  .cfi_endproc
  .size weft_context_start, .-weft_context_start
)");

extern "C" void weft_context_start() noexcept;

namespace weft::detail {

SavedContext make_context(void* base, std::size_t size, ContextEntry entry) noexcept {
  auto top = (reinterpret_cast<uintptr_t>(base) + size) & ~uintptr_t{15};
  auto* frame = reinterpret_cast<uint64_t*>(top) - 8;
  // After the switch's ret into weft_context_start the stack pointer is top, 16-byte aligned,
  // so the call there enters `entry` the way any call does.
  uint32_t mxcsr;
  uint16_t fcw;
  asm volatile("stmxcsr %0" : "=m"(mxcsr));
  asm volatile("fnstcw %0" : "=m"(fcw));
  mxcsr &= ~uint32_t{0x3f};  // the exception flags, as the switch saves it
  frame[0] = uint64_t{mxcsr} | (uint64_t{fcw} << 32);
  frame[1] = frame[2] = frame[3] = frame[4] = 0;  // r15, r14, r13, r12
  frame[5] = reinterpret_cast<uint64_t>(entry);   // rbx: called by the trampoline
  frame[6] = 0;                                   // rbp: ends frame-pointer walks
  frame[7] = reinterpret_cast<uint64_t>(&weft_context_start);
  return frame;
}

// Reads another task's stack, which may be running meanwhile (see append_stack).
__attribute__((no_sanitize("thread"))) bool saved_frame(SavedContext ctx, uintptr_t* fp,
                                                        uintptr_t* pc) noexcept {
  auto c = reinterpret_cast<uintptr_t>(ctx);
  *fp = *reinterpret_cast<const uintptr_t*>(c + 0x30);
  *pc = *reinterpret_cast<const uintptr_t*>(c + 0x38);
  return true;
}

}  // namespace weft::detail

#else  // Boost.Context elsewhere

#include <atomic>
#include <boost/context/detail/fcontext.hpp>

namespace weft::detail {
namespace {

namespace bctx = boost::context::detail;

// The runtime starts every context at the same entry; make_context records it.
std::atomic<ContextEntry> g_entry{nullptr};

void boost_start(bctx::transfer_t t) {
  *static_cast<SavedContext*>(t.data) = t.fctx;
  g_entry.load(std::memory_order_acquire)();
}

}  // namespace

SavedContext make_context(void* base, std::size_t size, ContextEntry entry) noexcept {
  g_entry.store(entry, std::memory_order_release);
  return bctx::make_fcontext(static_cast<char*>(base) + size, size, boost_start);
}

void swap_context(SavedContext* save, SavedContext to) noexcept {
  // The context resumed stores who left into the slot that one named.
  bctx::transfer_t t = bctx::jump_fcontext(to, save);
  *static_cast<SavedContext*>(t.data) = t.fctx;
}

bool saved_frame(SavedContext, uintptr_t*, uintptr_t*) noexcept {
  return false;
}

}  // namespace weft::detail

#endif
