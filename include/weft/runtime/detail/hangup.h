// HangupHook: a callback the netpoller runs when the peer of a registered socket hangs up.
#pragma once

#include <atomic>

namespace weft::detail {

// HangupHook is run once by the poller when it sees EPOLLRDHUP, EPOLLHUP or EPOLLERR for the
// socket the hook is armed on. fn runs on a runtime thread outside any task, so it must be
// short and must not block. state: 0 idle, 1 armed, 2 running, 3 ran.
struct HangupHook {
  void (*fn)(HangupHook*) = nullptr;
  std::atomic<int> state{0};
};

}  // namespace weft::detail
