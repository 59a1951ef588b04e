// Context: cancellation trees, deadlines, values and done() in select.
#include <gtest/gtest.h>
#include <weft/weft.h>

#include <atomic>
#include <chrono>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "test_util.h"

namespace {

using namespace std::chrono_literals;
using weft_test::Clock;

// done() of a cancelled context is closed: a receive returns nullopt at once.
bool done_closed(const weft::Context& ctx) {
  weft::Chan<std::monostate> d = ctx.done();
  return d.closed() && !d.try_recv().has_value();
}

TEST(Context, BackgroundIsNeverDone) {
  weft::Context bg = weft::Context::background();
  EXPECT_FALSE(bg.is_done());
  EXPECT_FALSE(bg.err());
  EXPECT_FALSE(bg.deadline().has_value());
  EXPECT_FALSE(bg.done().closed());
  weft::Context def;
  EXPECT_FALSE(def.is_done());
  weft::run([bg] {
    std::size_t idx = weft::select(weft::on_recv(bg.done()), weft::on_timeout(10ms));
    EXPECT_EQ(idx, 1u);
  });
}

TEST(Context, WithCancelCancels) {
  auto [ctx, cancel] = weft::with_cancel(weft::Context::background());
  EXPECT_FALSE(ctx.is_done());
  EXPECT_FALSE(ctx.err());
  EXPECT_FALSE(ctx.done().closed());
  cancel();
  EXPECT_TRUE(ctx.is_done());
  EXPECT_EQ(ctx.err(), std::errc::operation_canceled);
  EXPECT_EQ(ctx.err(), std::make_error_code(std::errc::operation_canceled));
  EXPECT_TRUE(done_closed(ctx));
  ctx.wait();  // returns at once
  cancel();    // a second call does nothing more
  EXPECT_EQ(ctx.err(), std::errc::operation_canceled);
  weft::CancelFunc empty;
  empty();  // a default CancelFunc is a no-op
}

TEST(Context, CancelWakesWaitingTasksAndThreads) {
  auto [ctx, cancel] = weft::with_cancel(weft::Context::background());
  std::atomic<int> woke{0};
  std::thread th([ctx = ctx, &woke] {
    ctx.wait();
    woke++;
  });
  weft::run([&, ctx = ctx, cancel = cancel] {
    weft::WaitGroup wg;
    for (int i = 0; i < 20; ++i) {
      wg.add(1);
      weft::go([&, ctx] {
        ctx.wait();
        EXPECT_EQ(ctx.err(), std::errc::operation_canceled);
        woke++;
        wg.done();
      });
    }
    weft::sleep_for(10ms);
    EXPECT_EQ(woke.load(), 0);
    cancel();
    wg.wait();
  });
  th.join();
  EXPECT_EQ(woke.load(), 21);
}

TEST(Context, CancellationReachesAllDescendantsNeverParent) {
  weft::run([] {
    static const weft::ContextKey<int> kKey;
    auto [root, cancel_root] = weft::with_cancel(weft::Context::background());
    auto [mid, cancel_mid] = weft::with_cancel(root);
    auto [sibling, cancel_sibling] = weft::with_cancel(root);
    weft::Context valued = weft::with_value(mid, kKey, 1);  // a value node in between
    std::vector<weft::Context> children, grandchildren;
    std::vector<weft::CancelFunc> cancels;
    for (int i = 0; i < 10; ++i) {
      auto [c, cc] = weft::with_cancel(i % 2 ? mid : valued);
      children.push_back(c);
      cancels.push_back(cc);
      for (int j = 0; j < 5; ++j) {
        auto [g, gc] = j % 2 ? weft::with_cancel(c) : weft::with_timeout(c, 1h);
        grandchildren.push_back(g);
        cancels.push_back(gc);
      }
    }
    // Every descendant has a task waiting on it.
    weft::WaitGroup wg;
    std::atomic<int> woke{0};
    for (auto& c : children) {
      wg.add(1);
      weft::go([&, c] {
        c.wait();
        woke++;
        wg.done();
      });
    }
    for (auto& g : grandchildren) {
      wg.add(1);
      weft::go([&, g] {
        weft::select(weft::on_recv(g.done()));
        woke++;
        wg.done();
      });
    }
    weft::sleep_for(5ms);
    EXPECT_EQ(woke.load(), 0);
    cancel_mid();
    wg.wait();
    EXPECT_EQ(woke.load(), 60);
    EXPECT_TRUE(mid.is_done());
    EXPECT_TRUE(valued.is_done());  // value nodes share their parent's cancellation
    for (auto& c : children) {
      EXPECT_EQ(c.err(), std::errc::operation_canceled);
      EXPECT_TRUE(done_closed(c));
    }
    for (auto& g : grandchildren) {
      EXPECT_EQ(g.err(), std::errc::operation_canceled);
      EXPECT_TRUE(done_closed(g));
    }
    // Never the parent, nor the sibling.
    EXPECT_FALSE(root.is_done());
    EXPECT_FALSE(root.done().closed());
    EXPECT_FALSE(sibling.is_done());
    cancel_root();
    EXPECT_TRUE(sibling.is_done());
    for (auto& c : cancels) c();
  });
}

TEST(Context, CancellingAChildLeavesParentAndSiblings) {
  auto [parent, cancel_parent] = weft::with_cancel(weft::Context::background());
  auto [a, cancel_a] = weft::with_cancel(parent);
  auto [b, cancel_b] = weft::with_cancel(parent);
  auto [a1, cancel_a1] = weft::with_cancel(a);
  cancel_a();
  EXPECT_TRUE(a.is_done());
  EXPECT_TRUE(a1.is_done());
  EXPECT_FALSE(parent.is_done());
  EXPECT_FALSE(b.is_done());
  cancel_parent();
  EXPECT_TRUE(b.is_done());
  EXPECT_EQ(a.err(), std::errc::operation_canceled);
  cancel_a1();
  cancel_b();
}

TEST(Context, WithTimeoutFiresNoEarlierThanTimeout) {
  weft::run([] {
    for (auto d : {1ms, 10ms, 30ms}) {
      auto start = Clock::now();
      auto [ctx, cancel] = weft::with_timeout(weft::Context::background(), d);
      ASSERT_TRUE(ctx.deadline().has_value());
      EXPECT_GE(*ctx.deadline(), start + d);
      ctx.wait();
      auto elapsed = Clock::now() - start;
      EXPECT_GE(elapsed, d);
      EXPECT_EQ(ctx.err(), std::errc::timed_out);
      EXPECT_TRUE(done_closed(ctx));
      cancel();  // after the timeout: err stays timed_out
      EXPECT_EQ(ctx.err(), std::errc::timed_out);
    }
  });
}

TEST(Context, TimeoutReachesChildren) {
  weft::run([] {
    auto start = Clock::now();
    auto [parent, cancel_parent] = weft::with_timeout(weft::Context::background(), 20ms);
    auto [child, cancel_child] = weft::with_cancel(parent);
    auto [grandchild, cancel_gc] = weft::with_cancel(child);
    grandchild.wait();
    EXPECT_GE(Clock::now() - start, 20ms);
    EXPECT_EQ(grandchild.err(), std::errc::timed_out);
    EXPECT_EQ(child.err(), std::errc::timed_out);
    EXPECT_EQ(parent.err(), std::errc::timed_out);
    cancel_gc();
    cancel_child();
    cancel_parent();
  });
}

TEST(Context, CancelBeforeTimeout) {
  weft::run([] {
    auto [ctx, cancel] = weft::with_timeout(weft::Context::background(), 1h);
    weft::go([cancel] {
      weft::sleep_for(5ms);
      cancel();
    });
    ctx.wait();
    EXPECT_EQ(ctx.err(), std::errc::operation_canceled);
  });
}

TEST(Context, WithDeadlineInThePast) {
  auto [ctx, cancel] =
      weft::with_deadline(weft::Context::background(), Clock::now() - std::chrono::seconds(1));
  EXPECT_TRUE(ctx.is_done());
  EXPECT_EQ(ctx.err(), std::errc::timed_out);
  EXPECT_TRUE(done_closed(ctx));
  cancel();
}

TEST(Context, DoneUsableInSelect) {
  weft::run([] {
    auto [ctx, cancel] = weft::with_cancel(weft::Context::background());
    weft::Chan<int> work;
    weft::go([cancel] {
      weft::sleep_for(10ms);
      cancel();
    });
    bool cancelled = false;
    std::size_t idx = weft::select(weft::on_recv(work),
                                   weft::on_recv(ctx.done(), [&](std::optional<std::monostate> v) {
                                     cancelled = !v.has_value();
                                   }));
    EXPECT_EQ(idx, 1u);
    EXPECT_TRUE(cancelled);
    // Once done, select on done() is always ready.
    EXPECT_EQ(weft::select(weft::on_recv(ctx.done()), weft::on_default()), 0u);

    // A worker loop that stops on cancellation.
    auto start = Clock::now();  // before the deadline is set
    auto [ctx2, cancel2] = weft::with_timeout(weft::Context::background(), 20ms);
    weft::Chan<int> jobs(1);
    int handled = 0;
    bool stopped = false;
    while (!stopped) {
      (void)jobs.try_send(1);
      weft::select(
          weft::on_recv(ctx2.done(), [&](std::optional<std::monostate>) { stopped = true; }),
          weft::on_recv(jobs, [&](std::optional<int>) {
            ++handled;
            weft::sleep_for(1ms);
          }));
    }
    EXPECT_GE(Clock::now() - start, 20ms);
    EXPECT_GT(handled, 0);
    EXPECT_EQ(ctx2.err(), std::errc::timed_out);
    cancel2();
  });
}

TEST(Context, ValuesLookedUpThroughChildren) {
  static const weft::ContextKey<int> kUser;
  static const weft::ContextKey<int> kOtherInt;  // same type, different key
  static const weft::ContextKey<std::string> kName;
  weft::Context root = weft::with_value(weft::Context::background(), kUser, 7);
  weft::Context named = weft::with_value(root, kName, std::string("weft"));
  auto [cancellable, cancel] = weft::with_cancel(named);
  auto [timed, cancel_timed] = weft::with_timeout(cancellable, 1h);
  weft::Context shadow = weft::with_value(timed, kUser, 8);

  ASSERT_NE(root.value(kUser), nullptr);
  EXPECT_EQ(*root.value(kUser), 7);
  EXPECT_EQ(root.value(kName), nullptr);
  EXPECT_EQ(root.value(kOtherInt), nullptr);
  ASSERT_NE(timed.value(kUser), nullptr);
  EXPECT_EQ(*timed.value(kUser), 7);
  ASSERT_NE(timed.value(kName), nullptr);
  EXPECT_EQ(*timed.value(kName), "weft");
  EXPECT_EQ(*shadow.value(kUser), 8);  // the nearest wins
  EXPECT_EQ(*timed.value(kUser), 7);   // the parent still sees its own
  EXPECT_EQ(*shadow.value(kName), "weft");
  EXPECT_EQ(shadow.value(kOtherInt), nullptr);
  EXPECT_EQ(weft::Context::background().value(kUser), nullptr);

  // Values stay readable after cancellation and in other tasks.
  cancel();
  EXPECT_TRUE(shadow.is_done());
  weft::run([shadow] {
    weft::Chan<int> out(1);
    weft::go([shadow, out]() mutable { out.send(*shadow.value(kUser) * 10); });
    EXPECT_EQ(out.recv(), 80);
  });
  cancel_timed();
}

TEST(Context, DeadlineInherited) {
  auto start = Clock::now();
  EXPECT_FALSE(weft::Context::background().deadline().has_value());
  auto [c0, k0] = weft::with_cancel(weft::Context::background());
  EXPECT_FALSE(c0.deadline().has_value());

  auto [t, kt] = weft::with_timeout(c0, 1h);
  ASSERT_TRUE(t.deadline().has_value());
  auto d = *t.deadline();
  EXPECT_GE(d, start + 1h);

  static const weft::ContextKey<int> kKey;
  weft::Context v = weft::with_value(t, kKey, 1);
  auto [c1, k1] = weft::with_cancel(v);
  EXPECT_EQ(v.deadline(), d);
  EXPECT_EQ(c1.deadline(), d);

  // A later deadline on a child does not extend the parent's.
  auto [later, kl] = weft::with_timeout(c1, 2h);
  EXPECT_EQ(later.deadline(), d);
  // An earlier one does.
  auto [earlier, ke] = weft::with_timeout(c1, 1min);
  ASSERT_TRUE(earlier.deadline().has_value());
  EXPECT_LT(*earlier.deadline(), d);
  auto [under_earlier, kue] = weft::with_cancel(earlier);
  EXPECT_EQ(under_earlier.deadline(), earlier.deadline());
  for (auto* k : {&k0, &kt, &k1, &kl, &ke, &kue}) (*k)();
}

TEST(Context, CancelAfterParentAlreadyCancelled) {
  auto [parent, cancel_parent] = weft::with_cancel(weft::Context::background());
  cancel_parent();
  auto [child, cancel_child] = weft::with_cancel(parent);
  EXPECT_TRUE(child.is_done());  // born cancelled
  EXPECT_EQ(child.err(), std::errc::operation_canceled);
  EXPECT_TRUE(done_closed(child));
  cancel_child();  // nothing more happens
  EXPECT_EQ(child.err(), std::errc::operation_canceled);
  auto [timed, cancel_timed] = weft::with_timeout(parent, 10ms);
  EXPECT_TRUE(timed.is_done());
  EXPECT_EQ(timed.err(), std::errc::operation_canceled);  // the parent's reason, not timed_out
  weft::run([timed] {
    weft::sleep_for(20ms);  // its own timer must not change the reason
    EXPECT_EQ(timed.err(), std::errc::operation_canceled);
  });
  cancel_timed();
  cancel_parent();  // again: no effect
  EXPECT_EQ(parent.err(), std::errc::operation_canceled);
}

TEST(Context, ChildCancelledFirstKeepsItsReason) {
  weft::run([] {
    auto [parent, cancel_parent] = weft::with_cancel(weft::Context::background());
    auto [child, cancel_child] = weft::with_timeout(parent, 5ms);
    child.wait();
    EXPECT_EQ(child.err(), std::errc::timed_out);
    cancel_parent();
    EXPECT_EQ(child.err(), std::errc::timed_out);  // the first cancel wins
    EXPECT_EQ(parent.err(), std::errc::operation_canceled);
    cancel_child();
  });
}

TEST(Context, ConcurrentCancelAndDerive) {
  weft::run([] {
    for (int round = 0; round < 50; ++round) {
      auto [root, cancel_root] = weft::with_cancel(weft::Context::background());
      weft::WaitGroup wg;
      std::atomic<int> done{0};
      for (int i = 0; i < 8; ++i) {
        wg.add(1);
        weft::go([&, root] {
          // Derive while the root is being cancelled: every child ends up cancelled.
          auto [c, k] = weft::with_cancel(root);
          c.wait();
          if (c.err() == std::errc::operation_canceled) done++;
          k();
          wg.done();
        });
      }
      weft::go([cancel_root] { cancel_root(); });
      wg.wait();
      EXPECT_EQ(done.load(), 8);
    }
  });
}

TEST(Context, ReleasedChildrenAreDetached) {
  auto [root, cancel_root] = weft::with_cancel(weft::Context::background());
  for (int i = 0; i < 1000; ++i) {
    auto [c, k] = weft::with_cancel(root);
    auto [t, kt] = weft::with_timeout(c, 1h);
    kt();
    k();
    EXPECT_TRUE(t.is_done());
  }
  EXPECT_FALSE(root.is_done());
  cancel_root();
  EXPECT_TRUE(root.is_done());
}

}  // namespace
