// Timers as channels: after(d) and Ticker, as Go's time.After and time.Ticker.
#pragma once

#include <chrono>
#include <memory>

#include "weft/runtime/chan.h"

namespace weft {

// Clock is the runtime's clock: monotonic, never jumps.
using Clock = std::chrono::steady_clock;

// after returns a channel that receives the time once d has passed (never earlier).
Chan<Clock::time_point> after(std::chrono::nanoseconds d);

// Ticker delivers the time on chan() every period. A slow receiver misses ticks rather than
// letting them pile up (the channel holds one). Stops when stopped or destroyed.
class Ticker {
 public:
  // REQUIRES: period > 0.
  explicit Ticker(std::chrono::nanoseconds period);
  ~Ticker();
  Ticker(const Ticker&) = delete;
  Ticker& operator=(const Ticker&) = delete;

  // The channel the ticks arrive on.
  const Chan<Clock::time_point>& chan() const noexcept;
  // Stops the ticks; no tick is sent after stop() returns.
  void stop() noexcept;
  // Stops, then restarts with a new period counted from now.
  void reset(std::chrono::nanoseconds period);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace weft
