// Registry tests: registration checks, children by label values, metric values, collectors.
#include "weft/metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

namespace weft::metrics {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// The message of the std::invalid_argument fn throws, or "<no exception>".
template <class F>
std::string error_of(F&& fn) {
  try {
    fn();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "<no exception>";
}

// ----- registration checks -----

TEST(RegistryTest, RejectsBadMetricNames) {
  Registry r;
  for (const char* name : {"", "1abc", "a-b", "a b", "a.b", "caf\xc3\xa9", "a\n"}) {
    SCOPED_TRACE(name);
    EXPECT_THROW(r.gauge(name, "help"), std::invalid_argument);
  }
  EXPECT_THAT(error_of([&] { r.gauge("bad-name", "help"); }),
              HasSubstr("gauge \"bad-name\": not a valid metric name"));
  // Colons and leading underscores are valid.
  EXPECT_NO_THROW(r.gauge("ns:sub:metric", "help"));
  EXPECT_NO_THROW(r.gauge("_private", "help"));
  EXPECT_NO_THROW(r.counter("job:requests:rate5m_total", "help"));
}

TEST(RegistryTest, RejectsBadLabelNames) {
  Registry r;
  for (const char* label : {"", "1a", "a-b", "a:b", "a b", "__reserved", "__"}) {
    SCOPED_TRACE(label);
    EXPECT_THROW(r.gauge("g", "help", {label}), std::invalid_argument);
  }
  EXPECT_THAT(error_of([&] {
                r.gauge("g", "help", {"ok", "not-ok"});
              }),
              HasSubstr("gauge \"g\": label name \"not-ok\" is not valid"));
  EXPECT_THAT(error_of([&] { r.counter("c_total", "help", {"__name__"}); }),
              HasSubstr("counter \"c_total\": label name \"__name__\" is reserved"));
  EXPECT_THAT(error_of([&] { r.gauge("g", "help", {"a", "a"}); }), HasSubstr("appears twice"));
  EXPECT_NO_THROW(r.gauge("g", "help", {"_a", "b1", "Mixed_Case"}));
}

TEST(RegistryTest, ReservesLeAndQuantile) {
  Registry r;
  EXPECT_THAT(error_of([&] { r.histogram("h_seconds", "help", {1}, {"le"}); }),
              HasSubstr("histogram \"h_seconds\": label name \"le\" is reserved"));
  EXPECT_THAT(error_of([&] { r.gauge("g", "help", {"quantile"}); }),
              HasSubstr("\"quantile\" is reserved"));
  EXPECT_THROW(r.counter("c_total", "help", {"le"}), std::invalid_argument);
}

TEST(RegistryTest, CounterNamesMustEndInTotal) {
  Registry r;
  EXPECT_THAT(error_of([&] { r.counter("requests", "help"); }),
              HasSubstr("counter \"requests\": a counter's name must end in \"_total\""));
  EXPECT_THAT(error_of([&] { r.counter("_total", "help"); }),
              HasSubstr("needs a name before \"_total\""));
  EXPECT_THROW(r.counter("requests_totals", "help"), std::invalid_argument);
  EXPECT_THROW(r.counter_func("ticks", "help", [] { return 1.0; }), std::invalid_argument);
  EXPECT_NO_THROW(r.counter("requests_total", "help"));
}

TEST(RegistryTest, RejectsDuplicateNames) {
  Registry r;
  r.counter("requests_total", "help");
  EXPECT_THAT(error_of([&] { r.counter("requests_total", "other help"); }),
              HasSubstr("metric \"requests_total\" is already registered"));
  EXPECT_THROW(r.gauge("requests_total", "help"), std::invalid_argument);
  EXPECT_THROW(r.gauge_func("requests_total", "help", [] { return 1.0; }), std::invalid_argument);
  // Another registry is independent.
  Registry other;
  EXPECT_NO_THROW(other.counter("requests_total", "help"));
}

TEST(RegistryTest, RejectsNamesWhoseSamplesWouldClash) {
  Registry r;
  r.histogram("latency_seconds", "help", {1});
  EXPECT_THAT(error_of([&] { r.gauge("latency_seconds_count", "help"); }),
              HasSubstr("clash with histogram \"latency_seconds\""));
  EXPECT_THROW(r.gauge("latency_seconds_bucket", "help"), std::invalid_argument);
  EXPECT_THROW(r.gauge("latency_seconds_sum", "help"), std::invalid_argument);
  // A counter's OpenMetrics family name is its name without "_total".
  r.counter("jobs_total", "help");
  EXPECT_THROW(r.gauge("jobs", "help"), std::invalid_argument);
  EXPECT_THROW(r.gauge("jobs_created", "help"), std::invalid_argument);
  // And the other way round.
  r.gauge("queue_sum", "help");
  EXPECT_THROW(r.histogram("queue", "help", {1}), std::invalid_argument);
}

TEST(RegistryTest, RejectsBadBuckets) {
  Registry r;
  EXPECT_THAT(error_of([&] {
                r.histogram("h", "help", {1, 0.5});
              }),
              HasSubstr("histogram \"h\": bucket bounds must be strictly ascending (1 then 0.5)"));
  EXPECT_THROW(r.histogram("h", "help", {1, 1}), std::invalid_argument);
  EXPECT_THROW(r.histogram("h", "help", {kNaN}), std::invalid_argument);
  EXPECT_THROW(r.histogram("h", "help", {-kInf, 1}), std::invalid_argument);
  EXPECT_THROW(r.histogram("h", "help", {1, kInf, 2}), std::invalid_argument);
  EXPECT_THROW(Histogram({2, 1}), std::invalid_argument);
  // A last +Inf is the implicit bucket: accepted and dropped.
  HistogramFamily& h = r.histogram("h", "help", {0.5, 1, kInf});
  EXPECT_THAT(h.get().upper_bounds(), ElementsAre(0.5, 1));
  // Only +Inf: one bucket.
  EXPECT_TRUE(r.histogram("h2", "help", {}).get().upper_bounds().empty());
  // Buckets on a collector's non-histogram family are a mistake.
  EXPECT_THROW(r.add_collector({FamilyDesc{"g", "help", MetricType::kGauge, {}, {1, 2}}},
                               [](MetricWriter&) {}),
               std::invalid_argument);
}

TEST(RegistryTest, RejectsHelpThatIsNotUtf8) {
  Registry r;
  EXPECT_THAT(error_of([&] { r.gauge("g", "bad \xff byte"); }), HasSubstr("not valid UTF-8"));
  EXPECT_NO_THROW(r.gauge("g", "temp\xc3\xa9rature \xe2\x82\xac \xf0\x9f\x98\x80"));
}

TEST(RegistryTest, FailedRegistrationLeavesNoTrace) {
  Registry r;
  EXPECT_THROW(r.counter("ok_total", "help", {"le"}), std::invalid_argument);
  EXPECT_NO_THROW(r.counter("ok_total", "help"));
  EXPECT_THROW(r.add_collector({FamilyDesc{"a", "", MetricType::kGauge, {}, {}},
                                FamilyDesc{"a", "", MetricType::kGauge, {}, {}}},
                               [](MetricWriter&) {}),
               std::invalid_argument);
  EXPECT_NO_THROW(r.gauge("a", "help"));
}

// ----- children -----

TEST(RegistryTest, WithReturnsOneStableChildPerLabelValues) {
  Registry r;
  CounterFamily& requests = r.counter("requests_total", "help", {"method", "path", "code"});
  Counter& a = requests.with({"GET", "/x", "2xx"});
  Counter& b = requests.with({"GET", "/x", "4xx"});
  EXPECT_NE(&a, &b);
  EXPECT_EQ(&requests.with({"GET", "/x", "2xx"}), &a);
  std::vector<std::string> values = {"GET", "/x", "2xx"};
  EXPECT_EQ(&requests.with(values), &a);
  for (int i = 0; i < 100; ++i) requests.with({"GET", "/y" + std::to_string(i), "2xx"});
  EXPECT_EQ(&requests.with({"GET", "/x", "2xx"}), &a);  // still the same after growth
  EXPECT_EQ(requests.name(), "requests_total");
  EXPECT_THAT(requests.label_names(), ElementsAre("method", "path", "code"));
}

TEST(RegistryTest, WithRejectsTheWrongNumberOfLabelValues) {
  Registry r;
  CounterFamily& requests = r.counter("requests_total", "help", {"method", "code"});
  EXPECT_THAT(error_of([&] { requests.with({"GET"}); }),
              HasSubstr("counter \"requests_total\": has 2 label names (method, code) but got 1"));
  EXPECT_THROW(requests.with({"GET", "200", "x"}), std::invalid_argument);
  EXPECT_THROW(requests.get(), std::invalid_argument);
  GaugeFamily& plain = r.gauge("plain", "help");
  EXPECT_THAT(error_of([&] { plain.with({"x"}); }),
              HasSubstr("gauge \"plain\": has no labels but got 1 label values"));
  EXPECT_EQ(&plain.with({}), &plain.get());
}

TEST(RegistryTest, WithRejectsLabelValuesThatAreNotUtf8) {
  Registry r;
  GaugeFamily& g = r.gauge("g", "help", {"name"});
  EXPECT_THROW(g.with({"\xc0\xaf"}), std::invalid_argument);      // overlong '/'
  EXPECT_THROW(g.with({"\xed\xa0\x80"}), std::invalid_argument);  // surrogate
  EXPECT_THROW(g.with({"\xe2\x82"}), std::invalid_argument);      // cut short
  EXPECT_NO_THROW(g.with({""}));
  EXPECT_NO_THROW(g.with({"any \"text\"\\ with\nnewlines \xe2\x82\xac"}));
}

// ----- values -----

TEST(CounterTest, IncAndAdd) {
  Counter c;
  EXPECT_EQ(c.value(), 0);
  c.inc();
  c.inc();
  c.add(3);
  EXPECT_EQ(c.value(), 5);
  c.add(0.25);
  c.add(0.5);
  EXPECT_EQ(c.value(), 5.75);
  c.add(0);
  EXPECT_EQ(c.value(), 5.75);
  c.add(1e18);  // whole but beyond exact doubles: kept in the double part
  EXPECT_EQ(c.value(), 1e18 + 5.75);
}

TEST(CounterTest, AddRejectsNegativeAndNaN) {
  Counter c;
  EXPECT_THROW(c.add(-1), std::invalid_argument);
  EXPECT_THROW(c.add(-0.001), std::invalid_argument);
  EXPECT_THROW(c.add(kNaN), std::invalid_argument);
  EXPECT_EQ(c.value(), 0);
}

TEST(GaugeTest, SetIncDecAddSub) {
  Gauge g;
  EXPECT_EQ(g.value(), 0);
  g.set(10);
  g.inc();
  g.inc();
  g.dec();
  EXPECT_EQ(g.value(), 11);
  g.add(2.5);
  g.sub(0.5);
  EXPECT_EQ(g.value(), 13);
  g.add(-20);
  EXPECT_EQ(g.value(), -7);
  g.set(kNaN);
  EXPECT_TRUE(std::isnan(g.value()));
}

TEST(HistogramTest, BucketsAreCumulativeWithSumAndCount) {
  Histogram h({0.1, 0.5, 1});
  for (double v : {0.05, 0.1, 0.25, 0.5, 0.75, 5.0, -1.0}) h.observe(v);
  HistogramSnapshot s = h.snapshot();
  EXPECT_THAT(s.upper_bounds, ElementsAre(0.1, 0.5, 1));
  // A value equal to a bound counts in that bucket (le: less or equal).
  EXPECT_THAT(s.cumulative_counts, ElementsAre(3, 5, 6, 7));
  EXPECT_EQ(s.count(), 7u);
  EXPECT_DOUBLE_EQ(s.sum, 0.05 + 0.1 + 0.25 + 0.5 + 0.75 + 5.0 - 1.0);
}

TEST(HistogramTest, InfinitiesAndNaN) {
  Histogram h({1, 2});
  h.observe(kInf);
  h.observe(-kInf);
  h.observe(kNaN);  // ignored
  HistogramSnapshot s = h.snapshot();
  EXPECT_THAT(s.cumulative_counts, ElementsAre(1, 1, 2));
  EXPECT_TRUE(std::isnan(s.sum));  // +Inf + -Inf
}

TEST(HistogramTest, ManyBucketsSearchAgreesWithFewBuckets) {
  // 20 bounds take the binary search, their first 10 the linear scan.
  std::vector<double> many = exponential_buckets(1, 2, 20);
  std::vector<double> few(many.begin(), many.begin() + 10);
  Histogram big(many), small(few);
  std::vector<double> values = {0, 0.5, 1, 1.5, 2, 3, 4, 100, 511, 512, 513, 1e6, 1e9};
  for (double v : values) {
    big.observe(v);
    small.observe(v);
  }
  HistogramSnapshot b = big.snapshot(), s = small.snapshot();
  for (std::size_t i = 0; i < few.size(); ++i)
    EXPECT_EQ(b.cumulative_counts[i], s.cumulative_counts[i]) << i;
  EXPECT_EQ(b.count(), values.size());
  EXPECT_EQ(s.count(), values.size());
  EXPECT_EQ(b.cumulative_counts[0], 3u);    // 0, 0.5, 1
  EXPECT_EQ(b.cumulative_counts[9], 10u);   // <= 512
  EXPECT_EQ(b.cumulative_counts[19], 11u);  // <= 524288: all but 1e6 and 1e9
}

TEST(BucketsTest, Generators) {
  EXPECT_THAT(default_buckets(), ElementsAre(.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10));
  EXPECT_THAT(linear_buckets(1, 2.5, 4), ElementsAre(1, 3.5, 6, 8.5));
  EXPECT_THAT(linear_buckets(-1, 1, 3), ElementsAre(-1, 0, 1));
  EXPECT_THAT(exponential_buckets(0.001, 10, 4), ElementsAre(0.001, 0.01, 0.1, 1));
  EXPECT_THAT(exponential_buckets(1, 2, 3), ElementsAre(1, 2, 4));
  EXPECT_THROW(linear_buckets(0, 1, 0), std::invalid_argument);
  EXPECT_THROW(linear_buckets(0, 0, 3), std::invalid_argument);
  EXPECT_THROW(linear_buckets(0, -1, 3), std::invalid_argument);
  EXPECT_THROW(exponential_buckets(0, 2, 3), std::invalid_argument);
  EXPECT_THROW(exponential_buckets(1, 1, 3), std::invalid_argument);
  EXPECT_THROW(exponential_buckets(1, 2, 0), std::invalid_argument);
  EXPECT_THROW(exponential_buckets(1e300, 1e10, 3), std::invalid_argument);  // overflows
}

// ----- collectors -----

TEST(CollectorTest, FuncsAreReadAtEveryScrape) {
  Registry r;
  double level = 1;
  int calls = 0;
  r.gauge_func("level", "help", [&] { return level; });
  r.counter_func("polls_total", "help", [&] { return ++calls; });
  EXPECT_THAT(r.render(Format::kText), HasSubstr("\nlevel 1\n"));
  level = 2.5;
  std::string second = r.render(Format::kText);
  EXPECT_THAT(second, HasSubstr("\nlevel 2.5\n"));
  EXPECT_THAT(second, HasSubstr("\npolls_total 2\n"));
  EXPECT_THROW(r.gauge_func("empty", "help", nullptr), std::invalid_argument);
}

TEST(CollectorTest, WritesLabelledAndHistogramFamilies) {
  Registry r;
  r.add_collector(
      {FamilyDesc{"queue_length", "Items waiting.", MetricType::kGauge, {"queue"}, {}},
       FamilyDesc{"wait_seconds", "Waits.", MetricType::kHistogram, {}, {0.5, 1}}},
      [](MetricWriter& out) {
        out.write("queue_length", {"b"}, 2);
        out.write("queue_length", {"a"}, 1);
        std::vector<std::string> labels = {"c"};
        out.write("queue_length", labels, 3);
        out.write_histogram("wait_seconds", {}, HistogramSnapshot{{0.5, 1}, {1, 2, 4}, 7.5});
      });
  EXPECT_EQ(r.render(Format::kText),
            "# HELP queue_length Items waiting.\n"
            "# TYPE queue_length gauge\n"
            "queue_length{queue=\"b\"} 2\n"
            "queue_length{queue=\"a\"} 1\n"
            "queue_length{queue=\"c\"} 3\n"
            "# HELP wait_seconds Waits.\n"
            "# TYPE wait_seconds histogram\n"
            "wait_seconds_bucket{le=\"0.5\"} 1\n"
            "wait_seconds_bucket{le=\"1.0\"} 2\n"
            "wait_seconds_bucket{le=\"+Inf\"} 4\n"
            "wait_seconds_sum 7.5\n"
            "wait_seconds_count 4\n");
}

TEST(CollectorTest, MisuseOfTheWriterThrowsFromTheScrape) {
  auto scrape_error = [](std::function<void(MetricWriter&)> collect) {
    Registry r;
    r.add_collector({FamilyDesc{"g", "help", MetricType::kGauge, {"a"}, {}},
                     FamilyDesc{"h", "help", MetricType::kHistogram, {}, {1}}},
                    std::move(collect));
    return error_of([&] { r.render(Format::kText); });
  };
  EXPECT_THAT(scrape_error([](MetricWriter& out) { out.write("other", 1); }),
              HasSubstr("a family it did not declare"));
  EXPECT_THAT(scrape_error([](MetricWriter& out) { out.write("g", 1); }),
              HasSubstr("gauge \"g\": has 1 label names (a) but got 0 label values"));
  EXPECT_THAT(scrape_error([](MetricWriter& out) { out.write("h", 1); }),
              HasSubstr("write_histogram"));
  EXPECT_THAT(scrape_error([](MetricWriter& out) {
                out.write_histogram("h", {}, HistogramSnapshot{{2}, {1, 1}, 1});
              }),
              HasSubstr("other buckets"));
  EXPECT_THAT(scrape_error([](MetricWriter& out) {
                out.write_histogram("h", {}, HistogramSnapshot{{1}, {2, 1}, 1});
              }),
              HasSubstr("cumulative"));
  EXPECT_THAT(scrape_error([](MetricWriter& out) { out.write("g", {"\xff"}, 1); }),
              HasSubstr("UTF-8"));
}

TEST(CollectorTest, AFamilyWithoutSamplesIsStillDescribed) {
  Registry r;
  r.add_collector({FamilyDesc{"maybe", "Sometimes there.", MetricType::kGauge, {}, {}}},
                  [](MetricWriter&) {});
  EXPECT_EQ(r.render(Format::kText), "# HELP maybe Sometimes there.\n# TYPE maybe gauge\n");
}

TEST(RegistryTest, GlobalIsOneRegistry) {
  EXPECT_EQ(&Registry::global(), &Registry::global());
  Counter& c = Registry::global().counter("registry_test_global_total", "help").get();
  c.inc();
  EXPECT_THAT(Registry::global().render(Format::kText),
              HasSubstr("\nregistry_test_global_total 1\n"));
}

}  // namespace
}  // namespace weft::metrics
