// Chan<T>: Go's channel semantics, from tasks and from plain threads.
#include <gtest/gtest.h>
#include <weft/weft.h>

#include <string>
#include <thread>
#include <vector>

namespace {

TEST(Chan, UnbufferedSendWaitsForReceiver) {
  weft::run([] {
    weft::Chan<int> c;
    std::atomic<bool> sent{false};
    weft::go([&] {
      c.send(7);
      sent = true;
    });
    weft::sleep_for(std::chrono::milliseconds(20));
    EXPECT_FALSE(sent.load());  // nobody received yet
    EXPECT_EQ(c.recv(), 7);
  });
}

TEST(Chan, RecvOnClosedDrainsBufferFirst) {
  weft::run([] {
    weft::Chan<std::string> c(3);
    c.send("a");
    c.send("b");
    c.close();
    EXPECT_EQ(c.recv(), "a");
    EXPECT_EQ(c.recv(), "b");
    EXPECT_EQ(c.recv(), std::nullopt);
    EXPECT_EQ(c.recv(), std::nullopt);
  });
}

TEST(Chan, CloseWakesAllReceivers) {
  weft::run([] {
    weft::Chan<int> c;
    weft::WaitGroup wg;
    std::atomic<int> woke{0};
    for (int i = 0; i < 50; ++i) {
      wg.add(1);
      weft::go([&] {
        if (!c.recv()) woke++;
        wg.done();
      });
    }
    weft::sleep_for(std::chrono::milliseconds(10));
    c.close();
    wg.wait();
    EXPECT_EQ(woke.load(), 50);
  });
}

TEST(Chan, SendOnClosedThrows) {
  weft::run([] {
    weft::Chan<int> c(1);
    c.close();
    EXPECT_THROW(c.send(1), weft::ChanClosedError);
    EXPECT_THROW(c.close(), weft::ChanClosedError);
  });
}

TEST(Chan, RangeForUntilClosed) {
  weft::run([] {
    weft::Chan<int> c(4);
    weft::go([c]() mutable {
      for (int i = 0; i < 100; ++i) c.send(i);
      c.close();
    });
    int sum = 0;
    for (int v : c) sum += v;
    EXPECT_EQ(sum, 4950);
  });
}

TEST(Chan, TasksAndThreadsTogether) {
  weft::Chan<int> c(8);
  std::thread producer([c]() mutable {
    for (int i = 1; i <= 1000; ++i) c.send(i);
    c.close();
  });
  long sum = 0;
  weft::run([&] {
    for (int v : c) sum += v;
  });
  producer.join();
  EXPECT_EQ(sum, 500500);
}

}  // namespace
