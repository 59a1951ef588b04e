// Runtime statistics and runtime metrics: the snapshot sees tasks parked for each reason, the
// counters move, and the families render.
#include <weft/metrics.h>
#include <weft/weft.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/test_util.h"

namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using weft_test::eventually;

uint64_t parked(const weft::RuntimeStats& s, std::string_view reason) {
  for (const weft::ParkedTasks& p : s.tasks_parked) {
    if (p.reason == reason) return p.tasks;
  }
  ADD_FAILURE() << "no wait reason " << reason;
  return 0;
}

TEST(RuntimeStatsTest, ListsEveryWaitReason) {
  weft::RuntimeStats s = weft::runtime_stats();
  std::vector<std::string_view> reasons;
  for (const weft::ParkedTasks& p : s.tasks_parked) reasons.push_back(p.reason);
  EXPECT_THAT(reasons, ::testing::IsSupersetOf({"chan send", "chan receive", "select", "mutex",
                                                "sleep", "net read", "net write", "other"}));
}

TEST(RuntimeStatsTest, SeesParkedTasksByReasonAndCountsThem) {
  weft::run([] {
    constexpr int kReceivers = 40, kSleepers = 25;
    weft::RuntimeStats before = weft::runtime_stats();
    weft::Chan<int> never;
    weft::Chan<int> stop;
    weft::WaitGroup wg;
    for (int i = 0; i < kReceivers; ++i) {
      wg.add(1);
      weft::go([&] {
        (void)never.recv();
        wg.done();
      });
    }
    for (int i = 0; i < kSleepers; ++i) {
      wg.add(1);
      weft::go([&] {
        weft::select(weft::on_recv(stop, [](std::optional<int>) {}), weft::on_timeout(1h, [] {}));
        wg.done();
      });
    }
    // A task parked on a socket read.
    auto listener = weft::net::listen("127.0.0.1:0");
    ASSERT_TRUE(listener.ok());
    auto client = weft::net::dial(listener->addr(), 5s);
    ASSERT_TRUE(client.ok());
    auto server = listener->accept();
    ASSERT_TRUE(server.ok());
    wg.add(1);
    weft::go([&] {
      char buf[16];
      (void)server->read(buf, sizeof buf);
      wg.done();
    });

    weft::RuntimeStats s;
    ASSERT_TRUE(eventually([&] {
      s = weft::runtime_stats();
      return parked(s, "chan receive") >= kReceivers && parked(s, "select") >= kSleepers &&
             parked(s, "net read") >= 1;
    })) << "chan receive "
        << parked(s, "chan receive") << ", select " << parked(s, "select") << ", net read "
        << parked(s, "net read");
    EXPECT_GE(s.tasks_live, static_cast<uint64_t>(kReceivers + kSleepers + 2));
    EXPECT_GE(s.tasks_running, 1u);  // this one
    EXPECT_GE(s.tasks_started_total - before.tasks_started_total,
              static_cast<uint64_t>(kReceivers + kSleepers + 1));
    EXPECT_GT(s.context_switches_total, before.context_switches_total);
    EXPECT_GE(s.timers_pending, static_cast<uint64_t>(kSleepers));
    EXPECT_GE(s.netpoll_waiting_tasks, 1u);
    EXPECT_GE(s.stacks_in_use, static_cast<uint64_t>(kReceivers + kSleepers + 2));
    EXPECT_GT(s.stack_committed_bytes, 0u);
    EXPECT_LE(s.stack_committed_bytes, s.stack_reserved_bytes);
    EXPECT_EQ(s.procs, static_cast<uint64_t>(weft::max_procs()));
    EXPECT_GE(s.procs_running, 1u);
    EXPECT_LE(s.procs_running, s.procs);
    EXPECT_GE(s.machines, 1u);
    EXPECT_LE(s.machines_idle + s.machines_spinning, s.machines);

    // Everyone wakes and finishes: the parked counts fall back.
    never.close();
    stop.close();
    ASSERT_TRUE(client->write(std::string_view("x")).ok());
    wg.wait();
    ASSERT_TRUE(eventually([&] {
      s = weft::runtime_stats();
      return parked(s, "chan receive") < kReceivers && parked(s, "select") < kSleepers;
    }));
    EXPECT_LT(s.timers_pending, static_cast<uint64_t>(kSleepers));
  });
}

TEST(RuntimeMetricsTest, RendersEveryFamily) {
  weft::run([] {
    weft::metrics::Registry r;
    weft::metrics::register_runtime_metrics(r);
    EXPECT_THROW(weft::metrics::register_runtime_metrics(r), std::invalid_argument);
    weft::Chan<int> never;
    weft::WaitGroup wg;
    wg.add(1);
    weft::go([&] {
      (void)never.recv();
      wg.done();
    });
    ASSERT_TRUE(eventually([] {
      for (const weft::ParkedTasks& p : weft::runtime_stats().tasks_parked) {
        if (p.reason == "chan receive" && p.tasks > 0) return true;
      }
      return false;
    }));
    std::string text = r.render(weft::metrics::Format::kText);
    for (const char* family : {"weft_runtime_tasks",
                               "weft_runtime_tasks_running",
                               "weft_runtime_tasks_runnable",
                               "weft_runtime_tasks_started_total",
                               "weft_runtime_context_switches_total",
                               "weft_runtime_steals_total",
                               "weft_runtime_chan_lock_biased_total",
                               "weft_runtime_chan_lock_revoked_total",
                               "weft_runtime_mutex_biased_total",
                               "weft_runtime_mutex_bias_revoked_total",
                               "weft_runtime_procs",
                               "weft_runtime_procs_running",
                               "weft_runtime_machines",
                               "weft_runtime_machines_idle",
                               "weft_runtime_machines_spinning",
                               "weft_runtime_global_queue_tasks",
                               "weft_runtime_netpoll_waiting_tasks",
                               "weft_runtime_netpoll_waits_total",
                               "weft_runtime_timers_pending",
                               "weft_runtime_stack_reserved_bytes",
                               "weft_runtime_stack_committed_bytes",
                               "weft_runtime_stacks_in_use",
                               "weft_runtime_sysmon_warnings_total"}) {
      EXPECT_THAT(text, HasSubstr(std::string("\n") + family + " ")) << family;
    }
    EXPECT_THAT(text, HasSubstr("# TYPE weft_runtime_tasks_started_total counter"));
    EXPECT_THAT(text, HasSubstr("weft_runtime_tasks_parked{reason=\"chan_receive\"} "));
    EXPECT_THAT(text, HasSubstr("weft_runtime_tasks_parked{reason=\"net_read\"} "));
    // The receiver shows up as a parked task (the value is at least 1).
    std::size_t at = text.find("weft_runtime_tasks_parked{reason=\"chan_receive\"} ");
    ASSERT_NE(at, std::string::npos);
    std::string value = text.substr(at + 49, text.find('\n', at) - at - 49);
    EXPECT_NE(value, "0") << value;
    never.close();
    wg.wait();
  });
}

}  // namespace
