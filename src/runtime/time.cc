// after() and Ticker: timers that deliver on channels.
#include "weft/runtime/time.h"

#include "runtime/internal.h"
#include "weft/runtime/sync.h"

namespace weft {

namespace {
struct AfterTimer {
  detail::TimerEntry entry;
  Chan<Clock::time_point> chan{1};
};
}  // namespace

Chan<Clock::time_point> after(std::chrono::nanoseconds d) {
  auto* t = new AfterTimer();
  Chan<Clock::time_point> out = t->chan;
  t->entry.fire = [](void* a) {
    auto* self = static_cast<AfterTimer*>(a);
    (void)self->chan.try_send(Clock::now());
    delete self;  // the firing code does not touch a one-shot timer after its callback
  };
  t->entry.arg = t;
  detail::timer_start(&t->entry, detail::deadline_after(d));
  return out;
}

struct Ticker::State {
  detail::TimerEntry entry;
  Chan<Clock::time_point> chan{1};
};

Ticker::Ticker(std::chrono::nanoseconds period) : state_(std::make_unique<State>()) {
  reset(period);
}

Ticker::~Ticker() {
  stop();
}

const Chan<Clock::time_point>& Ticker::chan() const noexcept {
  return state_->chan;
}

void Ticker::stop() noexcept {
  detail::timer_stop(&state_->entry);
}

void Ticker::reset(std::chrono::nanoseconds period) {
  if (period.count() <= 0) throw std::invalid_argument("weft::Ticker: period must be positive");
  stop();
  state_->entry.period_ns = period.count();
  state_->entry.fire = [](void* a) { (void)static_cast<State*>(a)->chan.try_send(Clock::now()); };
  state_->entry.arg = state_.get();
  detail::timer_start(&state_->entry, detail::deadline_after(period));
}

}  // namespace weft
