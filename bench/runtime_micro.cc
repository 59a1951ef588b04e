// Micro-benchmarks (Google Benchmark) of the runtime's hot paths: a task switch, a spawn, a
// channel hand-off and an uncontended mutex. Each runs its loop inside one task.
#include <benchmark/benchmark.h>
#include <weft/weft.h>

namespace {

// Runs body(state) inside a task on the runtime.
template <class F>
void in_task(benchmark::State& state, F body) {
  weft::run([&] { body(state); });
}

void BM_Yield(benchmark::State& state) {
  in_task(state, [](benchmark::State& s) {
    for (auto _ : s) weft::yield();
  });
}
BENCHMARK(BM_Yield);

void BM_SwitchPair(benchmark::State& state) {
  in_task(state, [](benchmark::State& s) {
    std::atomic<bool> stop{false};
    weft::WaitGroup wg;
    wg.add(1);
    weft::go([&] {
      while (!stop.load(std::memory_order_relaxed)) weft::yield();
      wg.done();
    });
    for (auto _ : s) weft::yield();  // two switches per iteration: to the other task and back
    stop = true;
    wg.wait();
  });
}
BENCHMARK(BM_SwitchPair);

void BM_SpawnJoin(benchmark::State& state) {
  in_task(state, [](benchmark::State& s) {
    weft::WaitGroup wg;
    for (auto _ : s) {
      wg.add(1);
      weft::go([&wg] { wg.done(); });
    }
    wg.wait();
  });
}
BENCHMARK(BM_SpawnJoin);

void BM_ChanUnbufferedHandoff(benchmark::State& state) {
  in_task(state, [](benchmark::State& s) {
    weft::Chan<int> c;
    weft::go([c]() mutable {
      for (int v : c) benchmark::DoNotOptimize(v);
    });
    for (auto _ : s) c.send(1);
    c.close();
  });
}
BENCHMARK(BM_ChanUnbufferedHandoff);

void BM_ChanBufferedSendRecv(benchmark::State& state) {
  in_task(state, [](benchmark::State& s) {
    weft::Chan<int> c(64);
    for (auto _ : s) {
      c.send(1);
      benchmark::DoNotOptimize(c.recv());
    }
  });
}
BENCHMARK(BM_ChanBufferedSendRecv);

void BM_MutexUncontended(benchmark::State& state) {
  in_task(state, [](benchmark::State& s) {
    weft::Mutex mu;
    for (auto _ : s) {
      mu.lock();
      mu.unlock();
    }
  });
}
BENCHMARK(BM_MutexUncontended);

void BM_SelectTwoReady(benchmark::State& state) {
  in_task(state, [](benchmark::State& s) {
    weft::Chan<int> a(1), b(1);
    for (auto _ : s) {
      (void)a.try_send(1);
      (void)b.try_send(2);
      weft::select(weft::on_recv(a), weft::on_recv(b));
    }
  });
}
BENCHMARK(BM_SelectTwoReady);

}  // namespace

BENCHMARK_MAIN();
