// Exposition tests: the text and OpenMetrics formats (golden outputs), number formatting,
// escaping, and Accept negotiation.
#include <weft/metrics.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>

namespace weft::metrics {
namespace {

using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// A small registry with one family of each kind.
void fill_small_registry(Registry& r) {
  CounterFamily& requests =
      r.counter("http_requests_total", "Requests handled.", {"method", "code"});
  requests.with({"POST", "500"}).inc();
  requests.with({"GET", "200"}).add(3);
  r.gauge("room_temperature_celsius", "Current temperature.").get().set(21.5);
  Histogram& latency =
      r.histogram("request_duration_seconds", "Request latency.", {0.1, 0.5, 1}).get();
  for (double v : {0.25, 0.5, 0.5, 2.0}) latency.observe(v);
}

TEST(ExpositionTest, TextFormatGolden) {
  Registry r;
  fill_small_registry(r);
  EXPECT_EQ(r.render(Format::kText),
            "# HELP http_requests_total Requests handled.\n"
            "# TYPE http_requests_total counter\n"
            "http_requests_total{method=\"GET\",code=\"200\"} 3\n"
            "http_requests_total{method=\"POST\",code=\"500\"} 1\n"
            "# HELP request_duration_seconds Request latency.\n"
            "# TYPE request_duration_seconds histogram\n"
            "request_duration_seconds_bucket{le=\"0.1\"} 0\n"
            "request_duration_seconds_bucket{le=\"0.5\"} 3\n"
            "request_duration_seconds_bucket{le=\"1.0\"} 3\n"
            "request_duration_seconds_bucket{le=\"+Inf\"} 4\n"
            "request_duration_seconds_sum 3.25\n"
            "request_duration_seconds_count 4\n"
            "# HELP room_temperature_celsius Current temperature.\n"
            "# TYPE room_temperature_celsius gauge\n"
            "room_temperature_celsius 21.5\n");
}

TEST(ExpositionTest, OpenMetricsGolden) {
  Registry r;
  fill_small_registry(r);
  EXPECT_EQ(r.render(Format::kOpenMetrics),
            "# TYPE http_requests counter\n"
            "# HELP http_requests Requests handled.\n"
            "http_requests_total{method=\"GET\",code=\"200\"} 3\n"
            "http_requests_total{method=\"POST\",code=\"500\"} 1\n"
            "# TYPE request_duration_seconds histogram\n"
            "# HELP request_duration_seconds Request latency.\n"
            "request_duration_seconds_bucket{le=\"0.1\"} 0\n"
            "request_duration_seconds_bucket{le=\"0.5\"} 3\n"
            "request_duration_seconds_bucket{le=\"1.0\"} 3\n"
            "request_duration_seconds_bucket{le=\"+Inf\"} 4\n"
            "request_duration_seconds_sum 3.25\n"
            "request_duration_seconds_count 4\n"
            "# TYPE room_temperature_celsius gauge\n"
            "# HELP room_temperature_celsius Current temperature.\n"
            "room_temperature_celsius 21.5\n"
            "# EOF\n");
}

TEST(ExpositionTest, EmptyRegistry) {
  Registry r;
  EXPECT_EQ(r.render(Format::kText), "");
  EXPECT_EQ(r.render(Format::kOpenMetrics), "# EOF\n");
}

TEST(ExpositionTest, FamiliesSortedByNameChildrenByLabelValues) {
  Registry r;
  r.gauge("zeta", "z").get().set(1);
  GaugeFamily& alpha = r.gauge("alpha", "a", {"k"});
  alpha.with({"b"}).set(2);
  alpha.with({"a"}).set(1);
  alpha.with({"B"}).set(3);
  r.gauge("mid", "m").get().set(1);
  EXPECT_EQ(r.render(Format::kText),
            "# HELP alpha a\n# TYPE alpha gauge\n"
            "alpha{k=\"B\"} 3\nalpha{k=\"a\"} 1\nalpha{k=\"b\"} 2\n"
            "# HELP mid m\n# TYPE mid gauge\nmid 1\n"
            "# HELP zeta z\n# TYPE zeta gauge\nzeta 1\n");
}

TEST(ExpositionTest, UnusedFamiliesAndFreshMetrics) {
  Registry r;
  r.counter("fresh_total", "No increments yet.");          // no labels: exposed as 0 at once
  r.counter("labelled_total", "No children yet.", {"x"});  // no children: no samples
  EXPECT_EQ(r.render(Format::kText),
            "# HELP fresh_total No increments yet.\n# TYPE fresh_total counter\nfresh_total 0\n"
            "# HELP labelled_total No children yet.\n# TYPE labelled_total counter\n");
}

// The text of gauge "v" set to value.
std::string rendered_value(double value) {
  Registry r;
  r.gauge("v", "").get().set(value);
  std::string text = r.render(Format::kText);
  std::string prefix = "# HELP v \n# TYPE v gauge\nv ";
  EXPECT_THAT(text, StartsWith(prefix));
  return text.substr(prefix.size(), text.size() - prefix.size() - 1);
}

TEST(ExpositionTest, NumberFormatting) {
  EXPECT_EQ(rendered_value(0), "0");
  EXPECT_EQ(rendered_value(-0.0), "0");
  EXPECT_EQ(rendered_value(42), "42");
  EXPECT_EQ(rendered_value(-7), "-7");
  EXPECT_EQ(rendered_value(1e15), "1000000000000000");
  EXPECT_EQ(rendered_value(9007199254740993.0), "9007199254740992");  // 2^53 + 1 rounds
  EXPECT_EQ(rendered_value(1e18), "1000000000000000000");
  EXPECT_EQ(rendered_value(1e20), "1e+20");  // beyond int64: shortest form
  EXPECT_EQ(rendered_value(0.1), "0.1");
  EXPECT_EQ(rendered_value(2.5), "2.5");
  EXPECT_EQ(rendered_value(-0.001), "-0.001");
  EXPECT_EQ(rendered_value(1.0 / 3), "0.3333333333333333");
  EXPECT_EQ(rendered_value(1e-7), "1e-07");
  EXPECT_EQ(rendered_value(123456.789), "123456.789");
  EXPECT_EQ(rendered_value(kInf), "+Inf");
  EXPECT_EQ(rendered_value(-kInf), "-Inf");
  EXPECT_EQ(rendered_value(kNaN), "NaN");
  // Every rendering reads back as the same double.
  for (double v : {0.1, 1.0 / 3, 2.0 / 3, 1e-300, 1.7976931348623157e308, 123.456e-5}) {
    EXPECT_EQ(std::stod(rendered_value(v)), v);
  }
}

TEST(ExpositionTest, BucketBoundsUseCanonicalNumbers) {
  Registry r;
  r.histogram("h", "", {-2, 0, 1e-5, 0.0001, 0.001, 0.25, 1, 10, 100000, 1e6, 1.5e7, 1e23});
  std::string text = r.render(Format::kText);
  for (const char* le : {"-2.0", "0.0", "1e-05", "0.0001", "0.001", "0.25", "1.0", "10.0",
                         "100000.0", "1e+06", "1.5e+07", "1e+23", "+Inf"}) {
    EXPECT_THAT(text, HasSubstr(std::string("h_bucket{le=\"") + le + "\"} 0\n")) << le;
  }
}

TEST(ExpositionTest, HistogramWithLabels) {
  Registry r;
  HistogramFamily& h = r.histogram("size_bytes", "Sizes.", {100, 1000}, {"route"});
  h.with({"/b"}).observe(50);
  h.with({"/a"}).observe(5000);
  h.with({"/a"}).observe(500);
  EXPECT_EQ(r.render(Format::kText),
            "# HELP size_bytes Sizes.\n"
            "# TYPE size_bytes histogram\n"
            "size_bytes_bucket{route=\"/a\",le=\"100.0\"} 0\n"
            "size_bytes_bucket{route=\"/a\",le=\"1000.0\"} 1\n"
            "size_bytes_bucket{route=\"/a\",le=\"+Inf\"} 2\n"
            "size_bytes_sum{route=\"/a\"} 5500\n"
            "size_bytes_count{route=\"/a\"} 2\n"
            "size_bytes_bucket{route=\"/b\",le=\"100.0\"} 1\n"
            "size_bytes_bucket{route=\"/b\",le=\"1000.0\"} 1\n"
            "size_bytes_bucket{route=\"/b\",le=\"+Inf\"} 1\n"
            "size_bytes_sum{route=\"/b\"} 50\n"
            "size_bytes_count{route=\"/b\"} 1\n");
}

TEST(ExpositionTest, OpenMetricsLeavesOutTheSumOfNegativeBuckets) {
  Registry r;
  r.histogram("delta", "Change.", {-1, 1}).get().observe(-3);
  std::string text = r.render(Format::kText);
  EXPECT_THAT(text, HasSubstr("delta_sum -3\ndelta_count 1\n"));
  std::string om = r.render(Format::kOpenMetrics);
  EXPECT_THAT(om, HasSubstr("delta_bucket{le=\"+Inf\"} 1\n# EOF\n"));
  EXPECT_THAT(om, Not(HasSubstr("delta_sum")));
  EXPECT_THAT(om, Not(HasSubstr("delta_count")));
}

TEST(ExpositionTest, Escaping) {
  Registry r;
  r.gauge("g", "Help with \\ backslash,\nnewline and \"quotes\".", {"path"})
      .with({"C:\\dir\\\"file\"\nnext"})
      .set(1);
  EXPECT_EQ(r.render(Format::kText),
            "# HELP g Help with \\\\ backslash,\\nnewline and \"quotes\".\n"
            "# TYPE g gauge\n"
            "g{path=\"C:\\\\dir\\\\\\\"file\\\"\\nnext\"} 1\n");
  // OpenMetrics escapes double quotes in HELP too.
  EXPECT_EQ(r.render(Format::kOpenMetrics),
            "# TYPE g gauge\n"
            "# HELP g Help with \\\\ backslash,\\nnewline and \\\"quotes\\\".\n"
            "g{path=\"C:\\\\dir\\\\\\\"file\\\"\\nnext\"} 1\n"
            "# EOF\n");
}

TEST(ExpositionTest, UnicodePassesThrough) {
  Registry r;
  r.gauge("g", "Temp\xc3\xa9rature \xe2\x82\xac", {"city"}).with({"Z\xc3\xbcrich"}).set(1);
  EXPECT_EQ(
      r.render(Format::kText),
      "# HELP g Temp\xc3\xa9rature \xe2\x82\xac\n# TYPE g gauge\ng{city=\"Z\xc3\xbcrich\"} 1\n");
}

TEST(NegotiationTest, PicksTheFormatTheAcceptHeaderPrefers) {
  EXPECT_EQ(negotiate_format(""), Format::kText);
  EXPECT_EQ(negotiate_format("*/*"), Format::kText);
  EXPECT_EQ(negotiate_format("text/plain"), Format::kText);
  EXPECT_EQ(negotiate_format("text/plain; version=0.0.4"), Format::kText);
  EXPECT_EQ(negotiate_format("application/openmetrics-text"), Format::kOpenMetrics);
  EXPECT_EQ(negotiate_format("application/openmetrics-text; version=1.0.0; charset=utf-8"),
            Format::kOpenMetrics);
  EXPECT_EQ(negotiate_format("APPLICATION/OpenMetrics-Text;Version=\"1.0.0\""),
            Format::kOpenMetrics);
  // What Prometheus sends.
  EXPECT_EQ(negotiate_format("application/openmetrics-text;version=1.0.0,application/"
                             "openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;"
                             "q=0.5,*/*;q=0.1"),
            Format::kOpenMetrics);
  EXPECT_EQ(negotiate_format("text/plain;version=0.0.4;q=1,*/*;q=0.1"), Format::kText);
  // Qualities decide; a tie goes to OpenMetrics.
  EXPECT_EQ(negotiate_format("text/plain, application/openmetrics-text;q=0.5"), Format::kText);
  EXPECT_EQ(negotiate_format("text/plain;q=0.4, application/openmetrics-text;q=0.5"),
            Format::kOpenMetrics);
  EXPECT_EQ(negotiate_format("text/plain, application/openmetrics-text"), Format::kOpenMetrics);
  // Unacceptable or unknown versions do not count.
  EXPECT_EQ(negotiate_format("application/openmetrics-text;q=0"), Format::kText);
  EXPECT_EQ(negotiate_format("application/openmetrics-text;q=bogus"), Format::kText);
  EXPECT_EQ(negotiate_format("application/openmetrics-text; version=2.0.0"), Format::kText);
  EXPECT_EQ(negotiate_format("application/json"), Format::kText);
  EXPECT_EQ(negotiate_format(",,;;="), Format::kText);
}

TEST(NegotiationTest, ExposeAnswersWithTheMatchingContentType) {
  Registry r;
  fill_small_registry(r);
  Exposition text = r.expose("text/plain");
  EXPECT_EQ(text.content_type, "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(text.body, r.render(Format::kText));
  Exposition fallback = r.expose();
  EXPECT_EQ(fallback.content_type, kTextContentType);
  Exposition om = r.expose("application/openmetrics-text; version=1.0.0");
  EXPECT_EQ(om.content_type, "application/openmetrics-text; version=1.0.0; charset=utf-8");
  EXPECT_THAT(om.body, EndsWith("# EOF\n"));
  EXPECT_EQ(om.body, r.render(Format::kOpenMetrics));
  EXPECT_EQ(content_type(Format::kOpenMetrics), kOpenMetricsContentType);
}

}  // namespace
}  // namespace weft::metrics
