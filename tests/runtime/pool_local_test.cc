// Pool<T> (object reuse) and FiberLocal<T> (per-task storage).
#include <gtest/gtest.h>
#include <weft/weft.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <set>
#include <thread>
#include <vector>

#include "test_util.h"

namespace {

using namespace std::chrono_literals;
using weft_test::Clock;
using weft_test::eventually;

// Counts constructions and destructions.
struct Counted {
  static std::atomic<int> made;
  static std::atomic<int> destroyed;
  Counted() { made++; }
  ~Counted() { destroyed++; }
  Counted(const Counted&) = delete;
  Counted& operator=(const Counted&) = delete;
  int value = 0;
  std::atomic<bool> in_use{false};
};
std::atomic<int> Counted::made{0};
std::atomic<int> Counted::destroyed{0};

void reset_counts() {
  Counted::made = 0;
  Counted::destroyed = 0;
}

// ----- Pool -----

TEST(Pool, GetPutReusesAndCallsFactoryOnlyWhenEmpty) {
  weft::run([] {
    std::atomic<int> factory_calls{0};
    weft::Pool<int> pool([&] {
      factory_calls++;
      return std::make_unique<int>(0);
    });
    auto a = pool.get();
    ASSERT_NE(a, nullptr);
    EXPECT_EQ(factory_calls.load(), 1);
    *a = 42;
    int* raw = a.get();
    pool.put(std::move(a));
    auto b = pool.get();
    EXPECT_EQ(b.get(), raw);  // the same object came back
    EXPECT_EQ(*b, 42);        // handed out as it was put back
    EXPECT_EQ(factory_calls.load(), 1);
    auto c = pool.get();  // the pool is empty again
    EXPECT_NE(c.get(), raw);
    EXPECT_EQ(factory_calls.load(), 2);
    pool.put(std::move(b));
    pool.put(std::move(c));
    pool.put(nullptr);  // ignored
    auto d = pool.get();
    auto e = pool.get();
    EXPECT_EQ(factory_calls.load(), 2);
    EXPECT_NE(d, nullptr);
    EXPECT_NE(e, nullptr);
    EXPECT_NE(d.get(), e.get());
  });
}

TEST(Pool, DefaultFactory) {
  weft::Pool<std::vector<int>> pool;
  auto v = pool.get();
  ASSERT_NE(v, nullptr);
  EXPECT_TRUE(v->empty());
  v->push_back(1);
  pool.put(std::move(v));
  auto w = pool.get();
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->size(), 1u);
}

TEST(Pool, PlainThreadUsesSharedList) {
  std::atomic<int> factory_calls{0};
  weft::Pool<int> pool([&] {
    factory_calls++;
    return std::make_unique<int>(7);
  });
  int* raw = nullptr;
  std::thread th([&] {
    auto a = pool.get();
    raw = a.get();
    pool.put(std::move(a));
  });
  th.join();
  auto b = pool.get();  // another plain thread gets it back
  EXPECT_EQ(b.get(), raw);
  EXPECT_EQ(factory_calls.load(), 1);
  // A task finds it too.
  pool.put(std::move(b));
  weft::run([&] {
    auto c = pool.get();
    EXPECT_EQ(c.get(), raw);
  });
  EXPECT_EQ(factory_calls.load(), 1);
}

TEST(Pool, BoundedCachesDropTheOverflow) {
  reset_counts();
  {
    weft::Pool<Counted> pool([] { return std::make_unique<Counted>(); }, /*per_proc=*/2,
                             /*shared=*/1);
    weft::run([&] {
      std::vector<std::unique_ptr<Counted>> objs;
      for (int i = 0; i < 5; ++i) objs.push_back(pool.get());
      EXPECT_EQ(Counted::made.load(), 5);
      for (auto& o : objs) pool.put(std::move(o));  // 2 local + 1 shared kept, 2 dropped
      EXPECT_EQ(Counted::destroyed.load(), 2);
      objs.clear();
      for (int i = 0; i < 5; ++i) objs.push_back(pool.get());
      EXPECT_EQ(Counted::made.load(), 7);  // 3 reused, 2 new
      std::set<Counted*> distinct;
      for (auto& o : objs) distinct.insert(o.get());
      EXPECT_EQ(distinct.size(), 5u);
    });
  }
  EXPECT_EQ(Counted::made.load(), Counted::destroyed.load());  // nothing leaked
}

TEST(Pool, ConcurrentGetPutNeverSharesAnObject) {
  reset_counts();
  std::atomic<int> shared_twice{0};
  {
    weft::Pool<Counted> pool([] { return std::make_unique<Counted>(); });
    auto body = [&](int iters) {
      for (int i = 0; i < iters; ++i) {
        auto o = pool.get();
        if (o->in_use.exchange(true)) shared_twice++;
        o->value++;
        if (i % 50 == 0) weft::yield();  // hold it across a switch
        o->in_use = false;
        pool.put(std::move(o));
      }
    };
    std::thread th([&] { body(5000); });
    weft::run([&] {
      weft::WaitGroup wg;
      for (int t = 0; t < 16; ++t) {
        wg.add(1);
        weft::go([&] {
          body(2000);
          wg.done();
        });
      }
      wg.wait();
    });
    th.join();
    EXPECT_LT(Counted::made.load(), 16 * 2000 + 5000);  // some objects were reused
  }
  EXPECT_EQ(shared_twice.load(), 0);
  EXPECT_EQ(Counted::made.load(), Counted::destroyed.load());
}

// ----- FiberLocal -----

TEST(FiberLocal, DistinctPerTaskAndSurvivesYields) {
  weft::FiberLocal<int> local;
  weft::run([&] {
    constexpr int kTasks = 32;
    std::atomic<int> wrong{0};
    weft::WaitGroup wg;
    *local = -1;  // the main task's own
    for (int i = 0; i < kTasks; ++i) {
      wg.add(1);
      weft::go([&, i] {
        EXPECT_EQ(local.get(), 0);  // fresh, value-initialised
        local.get() = i;
        for (int k = 0; k < 20; ++k) {
          weft::yield();
          if (k % 5 == 0) weft::sleep_for(std::chrono::microseconds(50));
          if (*local != i) wrong++;
          *local = i;
        }
        wg.done();
      });
    }
    wg.wait();
    EXPECT_EQ(wrong.load(), 0);
    EXPECT_EQ(*local, -1);
  });
}

TEST(FiberLocal, DestroyedAtTaskExit) {
  reset_counts();
  weft::FiberLocal<Counted> local;
  weft::run([&] {
    constexpr int kTasks = 50;
    weft::WaitGroup wg;
    for (int i = 0; i < kTasks; ++i) {
      wg.add(1);
      weft::go([&, i] {
        local->value = i;
        weft::yield();
        EXPECT_EQ(local->value, i);
        wg.done();
      });
    }
    // A task that never touches it makes none.
    wg.add(1);
    weft::go([&] { wg.done(); });
    wg.wait();
    EXPECT_EQ(Counted::made.load(), kTasks);
    // Each instance dies when its task ends (just after wg.done()).
    EXPECT_TRUE(eventually([&] { return Counted::destroyed.load() == kTasks; }))
        << Counted::destroyed.load() << " of " << kTasks << " destroyed";
  });
}

TEST(FiberLocal, MainTaskInstanceDestroyedWhenRunReturns) {
  reset_counts();
  weft::FiberLocal<Counted> local;
  weft::run([&] {
    local->value = 3;
    EXPECT_EQ(Counted::made.load(), 1);
    EXPECT_EQ(Counted::destroyed.load(), 0);
  });
  EXPECT_EQ(Counted::destroyed.load(), 1);
}

TEST(FiberLocal, RecycledTasksStartFresh) {
  weft::FiberLocal<int> local;
  weft::run([&] {
    std::atomic<int> stale{0};
    // Sequential short tasks reuse the runtime's task objects.
    for (int i = 0; i < 200; ++i) {
      weft::Chan<int> done;
      weft::go([&, done]() mutable {
        if (*local != 0) stale++;
        *local = 1234;
        done.send(1);
      });
      (void)done.recv();
    }
    EXPECT_EQ(stale.load(), 0);
  });
}

TEST(FiberLocal, SeveralLocalsAreIndependent) {
  weft::FiberLocal<int> a, b;
  weft::FiberLocal<std::vector<int>> v;
  weft::run([&] {
    *a = 1;
    *b = 2;
    v->push_back(3);
    weft::yield();
    EXPECT_EQ(*a, 1);
    EXPECT_EQ(*b, 2);
    ASSERT_EQ(v->size(), 1u);
    EXPECT_EQ(v->front(), 3);
    EXPECT_EQ(&a.get(), &*a);
    EXPECT_NE(static_cast<void*>(&a.get()), static_cast<void*>(&b.get()));
  });
}

TEST(FiberLocal, PlainThreadBehavesAsThreadLocal) {
  reset_counts();
  weft::FiberLocal<Counted> local;
  Counted* main_thread = &local.get();
  Counted* other = nullptr;
  std::thread th([&] {
    other = &local.get();
    local->value = 9;
    EXPECT_EQ(&local.get(), other);
  });
  th.join();
  EXPECT_NE(other, main_thread);
  EXPECT_EQ(local->value, 0);
  EXPECT_EQ(Counted::made.load(), 2);
  EXPECT_EQ(Counted::destroyed.load(), 1);  // the thread's instance died with the thread
  // A task on the runtime gets its own, not a thread's.
  Counted* in_task = nullptr;
  weft::run([&] { in_task = &local.get(); });
  EXPECT_NE(in_task, main_thread);
}

}  // namespace
