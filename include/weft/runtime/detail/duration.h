// saturating_ns: a std::chrono duration in nanoseconds, rounded up, clamped instead of
// overflowing (a wait of "a million years" means "forever", not undefined behaviour).
#pragma once

#include <chrono>

namespace weft::detail {

template <class Rep, class Period>
constexpr std::chrono::nanoseconds saturating_ns(std::chrono::duration<Rep, Period> d) {
  using D = std::chrono::duration<Rep, Period>;
  constexpr D kMax = std::chrono::duration_cast<D>(std::chrono::nanoseconds::max());
  if (d >= kMax) return std::chrono::nanoseconds::max();
  if (d <= D::zero()) return std::chrono::nanoseconds::zero();
  return std::chrono::ceil<std::chrono::nanoseconds>(d);
}

}  // namespace weft::detail
