// select: Go's select statement over channel cases, a timeout and a default.
#pragma once

#include <chrono>
#include <cstddef>
#include <new>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>

#include "weft/runtime/chan.h"
#include "weft/runtime/detail/duration.h"
#include "weft/runtime/detail/timer.h"
#include "weft/runtime/sync.h"

namespace weft {

namespace detail {

struct NoOp {
  template <class... A>
  void operator()(A&&...) const noexcept {}
};

// A channel case refers to its channel's core. Made from a named handle it only borrows it (no
// reference count to touch per select); made from a temporary it keeps the handle in `owned`.
template <class T, class F>
struct RecvCase {
  ChanCore* core;
  std::optional<Chan<T>> owned;
  F fn;
  alignas(T) unsigned char storage[sizeof(T)];
};
template <class T, class F>
struct SendCase {
  ChanCore* core;
  std::optional<Chan<T>> owned;
  T value;
  F fn;
};
template <class F>
struct TimeoutCase {
  std::chrono::nanoseconds after;
  F fn;
};
template <class F>
struct DefaultCase {
  F fn;
};

template <class C>
struct CaseKind {
  static constexpr bool kChan = false, kTimeout = false, kDefault = false;
};
template <class T, class F>
struct CaseKind<RecvCase<T, F>> {
  static constexpr bool kChan = true, kTimeout = false, kDefault = false;
};
template <class T, class F>
struct CaseKind<SendCase<T, F>> {
  static constexpr bool kChan = true, kTimeout = false, kDefault = false;
};
template <class F>
struct CaseKind<TimeoutCase<F>> {
  static constexpr bool kChan = false, kTimeout = true, kDefault = false;
};
template <class F>
struct CaseKind<DefaultCase<F>> {
  static constexpr bool kChan = false, kTimeout = false, kDefault = true;
};

template <class T, class F>
void fill_case(RecvCase<T, F>& c, SelectCase& out) {
  out = SelectCase{c.core, c.storage, false};
}
template <class T, class F>
void fill_case(SendCase<T, F>& c, SelectCase& out) {
  out = SelectCase{c.core, &c.value, true};
}

template <class T, class F>
void run_case(RecvCase<T, F>& c, const SelectCase& sc) {
  if (sc.status == RecvStatus::kValue) {
    T* p = std::launder(reinterpret_cast<T*>(c.storage));
    std::optional<T> v(std::move(*p));
    p->~T();
    c.fn(std::move(v));
  } else {
    c.fn(std::optional<T>());
  }
}
template <class T, class F>
void run_case(SendCase<T, F>& c, const SelectCase&) {
  c.fn();
}

}  // namespace detail

// on_recv(ch, fn): a select case that receives from ch; fn gets the value, or nullopt when ch
// is closed and drained. A case made from a named channel handle refers to it without holding
// it, so use the case while that handle lives, as in select(on_recv(ch, ...)); a case made from
// a temporary handle (on_recv(ctx.done())) holds it.
template <class T, class F = detail::NoOp>
detail::RecvCase<T, std::decay_t<F>> on_recv(const Chan<T>& ch, F&& fn = {}) {
  return {detail::chan_core(ch), std::nullopt, std::forward<F>(fn), {}};
}
template <class T, class F = detail::NoOp>
detail::RecvCase<T, std::decay_t<F>> on_recv(Chan<T>&& ch, F&& fn = {}) {
  detail::ChanCore* core = detail::chan_core(ch);
  return {core, std::move(ch), std::forward<F>(fn), {}};
}
// on_send(ch, value, fn): a select case that sends value on ch, then calls fn(). Holds or
// borrows the channel as on_recv does.
template <class T, class V, class F = detail::NoOp>
detail::SendCase<T, std::decay_t<F>> on_send(const Chan<T>& ch, V&& value, F&& fn = {}) {
  return {detail::chan_core(ch), std::nullopt, T(std::forward<V>(value)), std::forward<F>(fn)};
}
template <class T, class V, class F = detail::NoOp>
detail::SendCase<T, std::decay_t<F>> on_send(Chan<T>&& ch, V&& value, F&& fn = {}) {
  detail::ChanCore* core = detail::chan_core(ch);
  return {core, std::move(ch), T(std::forward<V>(value)), std::forward<F>(fn)};
}
// on_timeout(d, fn): a select case that fires when no other case is ready within d.
template <class Rep, class Period, class F = detail::NoOp>
detail::TimeoutCase<std::decay_t<F>> on_timeout(std::chrono::duration<Rep, Period> d, F&& fn = {}) {
  return {detail::saturating_ns(d), std::forward<F>(fn)};
}
// on_default(fn): a select case that runs when no other case is ready right now.
template <class F = detail::NoOp>
detail::DefaultCase<std::decay_t<F>> on_default(F&& fn = {}) {
  return {std::forward<F>(fn)};
}

// select waits on all its channel cases at once (the task parks; no polling), runs the case that
// proceeds and returns its position among the arguments. When several cases are ready one is
// chosen uniformly at random. A default case makes it non-blocking; a timeout case bounds the
// wait. Sending on a closed channel throws ChanClosedError.
template <class... Cases>
std::size_t select(Cases&&... cases) {
  constexpr std::size_t kCount = sizeof...(Cases);
  constexpr int kChans = (0 + ... + (detail::CaseKind<std::decay_t<Cases>>::kChan ? 1 : 0));
  constexpr int kTimeouts = (0 + ... + (detail::CaseKind<std::decay_t<Cases>>::kTimeout ? 1 : 0));
  constexpr int kDefaults = (0 + ... + (detail::CaseKind<std::decay_t<Cases>>::kDefault ? 1 : 0));
  static_assert(kTimeouts <= 1, "select takes at most one on_timeout case");
  static_assert(kDefaults <= 1, "select takes at most one on_default case");
  static_assert(kCount > 0, "select needs at least one case");

  auto refs = std::forward_as_tuple(cases...);
  detail::SelectCase sc[kChans > 0 ? kChans : 1];
  std::size_t arg_of[kChans > 0 ? kChans : 1] = {};
  int64_t deadline = -1;
  std::size_t timeout_arg = 0, default_arg = 0;
  int next = 0;
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    (
        [&] {
          auto& c = std::get<I>(refs);
          using K = detail::CaseKind<std::decay_t<decltype(c)>>;
          if constexpr (K::kChan) {
            detail::fill_case(c, sc[next]);
            arg_of[next++] = I;
          } else if constexpr (K::kTimeout) {
            deadline = detail::deadline_after(c.after);
            timeout_arg = I;
          } else if constexpr (K::kDefault) {
            default_arg = I;
          }
        }(),
        ...);
  }
  (std::make_index_sequence<kCount>{});

  int r = detail::select_impl(sc, kChans, kDefaults > 0, deadline);
  std::size_t chosen = r < 0 ? default_arg : (r == kChans ? timeout_arg : arg_of[r]);
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    (
        [&] {
          if (I != chosen) return;
          auto& c = std::get<I>(refs);
          using K = detail::CaseKind<std::decay_t<decltype(c)>>;
          if constexpr (K::kChan) {
            detail::run_case(c, sc[r]);
          } else {
            c.fn();
          }
        }(),
        ...);
  }
  (std::make_index_sequence<kCount>{});
  return chosen;
}

}  // namespace weft
