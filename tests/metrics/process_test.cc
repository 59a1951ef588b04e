// Process metrics tests, and promtool's verdict on a registry with every kind of metric.
#include <weft/metrics.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>

#include "metrics/promtool.h"

namespace weft::metrics {
namespace {

using ::testing::HasSubstr;
using weft_test::CommandResult;
using weft_test::find_on_path;
using weft_test::promtool_check_metrics;
using weft_test::run_command;
using weft_test::ScratchDir;
using weft_test::shell_quoted;
using weft_test::write_file;

// The value of the sample line that starts with "name " in a text exposition.
std::optional<double> sample_value(const std::string& text, std::string_view name) {
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.size() > name.size() && line.starts_with(name) && line[name.size()] == ' ')
      return std::stod(line.substr(name.size() + 1));
  }
  return std::nullopt;
}

double seconds_since_epoch() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

TEST(ProcessMetricsTest, PresentAndPlausible) {
  Registry r;
  register_process_metrics(r);
  std::string text = r.render(Format::kText);
  for (const char* family : {"process_cpu_seconds_total", "process_resident_memory_bytes",
                             "process_virtual_memory_bytes", "process_open_fds", "process_max_fds",
                             "process_start_time_seconds"}) {
    SCOPED_TRACE(family);
    EXPECT_THAT(text, HasSubstr(std::string("# HELP ") + family + " "));
    EXPECT_TRUE(sample_value(text, family).has_value());
  }
  EXPECT_THAT(text, HasSubstr("# TYPE process_cpu_seconds_total counter\n"));
  EXPECT_THAT(text, HasSubstr("# TYPE process_open_fds gauge\n"));

  double open_fds = *sample_value(text, "process_open_fds");
  double max_fds = *sample_value(text, "process_max_fds");
  double rss = *sample_value(text, "process_resident_memory_bytes");
  double vsize = *sample_value(text, "process_virtual_memory_bytes");
  double cpu = *sample_value(text, "process_cpu_seconds_total");
  double start = *sample_value(text, "process_start_time_seconds");
  EXPECT_GE(open_fds, 3);  // stdin, stdout, stderr at least
  EXPECT_GE(max_fds, open_fds);
  EXPECT_GT(rss, 0);
  EXPECT_GE(vsize, rss);
  EXPECT_GE(cpu, 0);
  double now = seconds_since_epoch();
  EXPECT_LE(start, now + 1);
  EXPECT_GT(start, now - 3600);
}

TEST(ProcessMetricsTest, FollowChanges) {
  Registry r;
  register_process_metrics(r);
  double before = *sample_value(r.render(Format::kText), "process_open_fds");
  int extra[4];
  for (int& fd : extra) fd = ::dup(2);
  double during = *sample_value(r.render(Format::kText), "process_open_fds");
  for (int fd : extra) ::close(fd);
  EXPECT_EQ(during, before + 4);

  double cpu_before = *sample_value(r.render(Format::kText), "process_cpu_seconds_total");
  // Burn 50 ms of CPU (five ticks of the kernel's usual 100 Hz accounting).
  auto cpu_now = [] {
    timespec ts{};
    ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
  };
  double burn_until = cpu_now() + 0.05;
  volatile uint64_t spin = 0;
  while (cpu_now() < burn_until) spin = spin + 1;
  double cpu_after = *sample_value(r.render(Format::kText), "process_cpu_seconds_total");
  EXPECT_GT(cpu_after, cpu_before);
}

TEST(ProcessMetricsTest, RegisteringTwiceIsAnError) {
  Registry r;
  register_process_metrics(r);
  EXPECT_THROW(register_process_metrics(r), std::invalid_argument);
  r.gauge("other", "help");  // the registry still works
}

TEST(ProcessMetricsTest, OpenMetricsNamesTheCpuFamilyWithoutTotal) {
  Registry r;
  register_process_metrics(r);
  std::string om = r.render(Format::kOpenMetrics);
  EXPECT_THAT(om, HasSubstr("# TYPE process_cpu_seconds counter\n"));
  EXPECT_THAT(om, HasSubstr("\nprocess_cpu_seconds_total "));
}

// ----- promtool -----

// A registry with every kind of metric: labels, escapes, unicode, histograms (with labels,
// negative and huge bounds), collectors and process metrics.
void fill_everything(Registry& r) {
  CounterFamily& requests =
      r.counter("http_requests_total", "Requests handled, by \"method\".", {"method", "code"});
  requests.with({"GET", "200"}).add(12);
  requests.with({"POST", "500"}).inc();
  requests.with({"PUT", "201"}).add(0.5);
  Counter& odd =
      r.counter("odd_labels_total", "Label values that need escaping:\n\\ and \".", {"value"})
          .with({"back\\slash \"quote\"\nnewline \xe2\x82\xac"});
  odd.inc();
  r.gauge("room_temperature_celsius",
          "Temperature in \xc2\xb0"
          "C.",
          {"room"})
      .with({"Z\xc3\xbcrich"})
      .set(-3.5);
  r.gauge("not_a_number_ratio", "A gauge may be NaN.").get().set(std::nan(""));
  r.gauge("infinite_ratio", "Or infinite.").get().set(-std::numeric_limits<double>::infinity());
  HistogramFamily& latency =
      r.histogram("request_duration_seconds", "Request latency.", default_buckets(), {"route"});
  for (double v : {0.001, 0.02, 0.3, 0.3, 4.0, 60.0}) latency.with({"/api"}).observe(v);
  latency.with({"/"}).observe(0.007);
  r.histogram("payload_bytes", "Payload sizes.", exponential_buckets(64, 4, 8)).get().observe(1e9);
  r.histogram("temperature_change_celsius", "Negative buckets.", linear_buckets(-10, 5, 5))
      .get()
      .observe(-12);
  r.gauge_func("uptime_seconds", "Seconds since the test started.", [] { return 12.5; });
  r.counter_func("collections_total", "Times collected.", [] { return 3.0; });
  r.add_collector(
      {FamilyDesc{"queue_length", "Items waiting.", MetricType::kGauge, {"queue"}, {}},
       FamilyDesc{"batch_size_items", "Batch sizes.", MetricType::kHistogram, {}, {1, 10}}},
      [](MetricWriter& out) {
        out.write("queue_length", {"incoming"}, 4);
        out.write("queue_length", {"outgoing"}, 0);
        out.write_histogram("batch_size_items", {}, HistogramSnapshot{{1, 10}, {2, 5, 6}, 40});
      });
  register_process_metrics(r);
  register_runtime_metrics(r);
}

TEST(PromtoolTest, ChecksTheTextFormatClean) {
  Registry r;
  fill_everything(r);
  std::string text = r.render(Format::kText);
  CommandResult check = promtool_check_metrics(text);
  EXPECT_EQ(check.status, 0) << check.output << "\n--- exposition:\n" << text;
  EXPECT_EQ(check.output, "") << "--- exposition:\n" << text;
}

TEST(PromtoolTest, ParsesTheOpenMetricsFormat) {
  std::string promtool = find_on_path("promtool");
  ASSERT_FALSE(promtool.empty()) << "promtool is not on PATH (Debian package prometheus)";
  Registry r;
  fill_everything(r);
  // promtool reads OpenMetrics through its backfill command, which wants a timestamp on every
  // sample: add one to each sample line, change nothing else.
  std::string om = r.render(Format::kOpenMetrics);
  std::istringstream lines(om);
  std::string stamped, line;
  while (std::getline(lines, line))
    stamped += line + (line.starts_with("#") ? "\n" : " 1700000000\n");
  ScratchDir dir;
  ASSERT_FALSE(dir.path.empty());
  std::filesystem::path om_file = dir.path / "metrics.om";
  write_file(om_file, stamped);
  CommandResult parse =
      run_command(shell_quoted(promtool) + " tsdb create-blocks-from openmetrics " +
                  shell_quoted(om_file) + " " + shell_quoted(dir.path / "blocks"));
  EXPECT_EQ(parse.status, 0) << parse.output << "\n--- exposition:\n" << stamped;
}

}  // namespace
}  // namespace weft::metrics
