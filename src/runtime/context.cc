// Context: cancellation trees with deadlines and values.
#include "weft/runtime/context.h"

#include <algorithm>
#include <vector>

#include "runtime/internal.h"

namespace weft::detail {

struct ContextImpl : std::enable_shared_from_this<ContextImpl> {
  std::shared_ptr<ContextImpl> parent;
  // Values
  const void* key = nullptr;
  std::shared_ptr<const void> value;
  // Cancellation (only on cancellable nodes; value nodes forward to their parent's)
  bool cancellable = false;
  SpinLock lock;
  std::error_code err;
  std::vector<std::pair<ContextImpl*, std::weak_ptr<ContextImpl>>> children;
  ContextImpl* cancel_parent = nullptr;  // set once: the cancellable ancestor we joined
  Chan<std::monostate> done{0};
  std::optional<std::chrono::steady_clock::time_point> deadline;
  TimerEntry timer;
  bool timer_armed = false;

  ~ContextImpl() {
    if (timer_armed) timer_stop(&timer);
    detach();
  }

  void detach() {
    if (!cancel_parent) return;
    std::lock_guard<SpinLock> g(cancel_parent->lock);
    auto& c = cancel_parent->children;
    c.erase(std::remove_if(c.begin(), c.end(), [this](const auto& e) { return e.first == this; }),
            c.end());
  }

  // Cancels this node and its descendants with e (first cancel wins).
  void cancel(std::error_code e) {
    std::vector<std::shared_ptr<ContextImpl>> kids;
    {
      std::lock_guard<SpinLock> g(lock);
      if (err) return;
      err = e;
      for (auto& [raw, weak] : children) {
        if (auto k = weak.lock()) kids.push_back(std::move(k));
      }
      children.clear();
    }
    done.close();
    for (auto& k : kids) k->cancel(e);
  }
};

namespace {

// The nearest ancestor-or-self that can be cancelled.
ContextImpl* cancellable_of(ContextImpl* c) {
  while (c && !c->cancellable) c = c->parent.get();
  return c;
}

const Chan<std::monostate>& never_done() {
  static auto* c = new Chan<std::monostate>(0);
  return *c;
}

std::shared_ptr<ContextImpl> make_cancellable(const std::shared_ptr<ContextImpl>& parent) {
  auto impl = std::make_shared<ContextImpl>();
  impl->parent = parent;
  impl->cancellable = true;
  ContextImpl* up = cancellable_of(parent.get());
  if (up) {
    impl->deadline = up->deadline;
    std::error_code parent_err;
    {
      std::lock_guard<SpinLock> g(up->lock);
      parent_err = up->err;
      if (!parent_err) {
        up->children.emplace_back(impl.get(), impl);
        impl->cancel_parent = up;
      }
    }
    if (parent_err) impl->cancel(parent_err);
  }
  return impl;
}

}  // namespace

}  // namespace weft::detail

namespace weft {

using detail::ContextImpl;

Context::Context() = default;
Context Context::background() {
  return Context();
}

const Chan<std::monostate>& Context::done() const noexcept {
  ContextImpl* c = detail::cancellable_of(impl_.get());
  return c ? c->done : detail::never_done();
}

bool Context::is_done() const noexcept {
  return static_cast<bool>(err());
}

std::error_code Context::err() const noexcept {
  ContextImpl* c = detail::cancellable_of(impl_.get());
  if (!c) return {};
  std::lock_guard<detail::SpinLock> g(c->lock);
  return c->err;
}

std::optional<std::chrono::steady_clock::time_point> Context::deadline() const noexcept {
  ContextImpl* c = detail::cancellable_of(impl_.get());
  return c ? c->deadline : std::nullopt;
}

void Context::wait() const {
  Chan<std::monostate> d = done();
  (void)d.recv();
}

const void* Context::find_value(const void* key) const noexcept {
  for (ContextImpl* c = impl_.get(); c; c = c->parent.get())
    if (c->key == key) return c->value.get();
  return nullptr;
}

Context Context::with_value_impl(const Context& parent, const void* key,
                                 std::shared_ptr<const void> value) {
  auto impl = std::make_shared<ContextImpl>();
  impl->parent = parent.impl_;
  impl->key = key;
  impl->value = std::move(value);
  return Context(std::move(impl));
}

void CancelFunc::operator()() const noexcept {
  if (!impl_) return;
  impl_->cancel(std::make_error_code(std::errc::operation_canceled));
  impl_->detach();
}

std::pair<Context, CancelFunc> with_cancel(const Context& parent) {
  auto impl = detail::make_cancellable(parent.impl_);
  return {Context(impl), CancelFunc(impl)};
}

std::pair<Context, CancelFunc> with_deadline(const Context& parent,
                                             std::chrono::steady_clock::time_point deadline) {
  auto parent_deadline = parent.deadline();
  auto impl = detail::make_cancellable(parent.impl_);
  if (parent_deadline && *parent_deadline <= deadline) {
    return {Context(impl), CancelFunc(impl)};  // the parent's earlier deadline governs
  }
  impl->deadline = deadline;
  auto left = deadline - std::chrono::steady_clock::now();
  if (left <= left.zero()) {
    impl->cancel(std::make_error_code(std::errc::timed_out));
  } else {
    impl->timer.fire = [](void* a) {
      static_cast<ContextImpl*>(a)->cancel(std::make_error_code(std::errc::timed_out));
    };
    impl->timer.arg = impl.get();
    impl->timer_armed = true;
    detail::timer_start(
        &impl->timer,
        detail::now_ns() + std::chrono::duration_cast<std::chrono::nanoseconds>(left).count());
  }
  return {Context(impl), CancelFunc(impl)};
}

}  // namespace weft
