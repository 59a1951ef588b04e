// The report writers on hand-built results: what each output shows and that its numbers agree
// with the histograms and counters they come from.
#include "weft/loadgen/report.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

namespace weft::loadgen {
namespace {

using ::testing::ContainsRegex;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

constexpr char kUrl[] = "http://127.0.0.1:8080/api/user";

// Three seconds of 300, 400 and 300 responses (900 at 100 µs, 90 at 2 ms, 10 at 50 ms overall),
// 15 errors (1 connect, 2 read, 3 write, 4 timeout, 5 bad response) and 3 MiB read.
RunResult closed_run(int connections = 64) {
  RunResult r;
  r.config.url = kUrl;
  r.config.connections = connections;
  r.config.threads = 2;
  r.config.duration_s = 3;
  r.elapsed_s = 3;
  r.responses = 1000;
  r.errors = {1, 2, 3, 4, 5};
  r.attempted = r.responses + r.errors.total();
  r.bytes_read = 3 * 1024 * 1024;
  r.status_counts = {{200, 990}, {404, 10}};
  r.latency.record_n(100, 900);
  r.latency.record_n(2000, 90);
  r.latency.record_n(50000, 10);
  r.cpu_user_s = 0.5;
  r.cpu_system_s = 0.25;
  const uint64_t fast[] = {270, 360, 270}, medium[] = {27, 36, 27}, slow[] = {3, 4, 3};
  for (size_t i = 0; i < 3; ++i) {
    Second s;
    s.responses = fast[i] + medium[i] + slow[i];
    s.errors = 5;
    s.bytes = 1024 * 1024;
    s.latency.record_n(100, fast[i]);
    s.latency.record_n(2000, medium[i]);
    s.latency.record_n(50000, slow[i]);
    r.timeline.push_back(std::move(s));
  }
  return r;
}

// closed_run in the open model at 500 req/s: one 1.5 s stall shows in the corrected latency,
// not in the service time; 7 of the 1015 sends were late.
RunResult open_run(int connections = 64) {
  RunResult r = closed_run(connections);
  r.config.rate = 500;
  r.latency.record(1'500'000);
  r.service.record_n(90, 1000);
  r.send_lag.record_n(20, 1008);
  r.send_lag.record_n(3000, 7);
  r.late_sends = 7;
  return r;
}

std::string summary_of(const RunResult& r) {
  std::ostringstream out;
  write_summary(out, r);
  return out.str();
}

template <typename Writer>
std::string written(Writer write, const std::vector<RunResult>& runs) {
  std::ostringstream out;
  write(out, runs);
  return out.str();
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> parts;
  std::istringstream in(s);
  for (std::string part; std::getline(in, part, sep);) parts.push_back(part);
  return parts;
}

std::vector<std::string> words_of(const std::string& s) {
  std::vector<std::string> words;
  std::istringstream in(s);
  for (std::string w; in >> w;) words.push_back(w);
  return words;
}

size_t occurrences(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

std::string ms3(int64_t us) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", static_cast<double>(us) / 1000);
  return buf;
}

TEST(ErrorCounts, AddSumsEachClass) {
  ErrorCounts a{1, 2, 3, 4, 5};
  a.add({10, 20, 30, 40, 50});
  EXPECT_EQ(a.connect, 11u);
  EXPECT_EQ(a.read, 22u);
  EXPECT_EQ(a.write, 33u);
  EXPECT_EQ(a.timeout, 44u);
  EXPECT_EQ(a.bad_response, 55u);
  EXPECT_EQ(a.total(), 165u);
}

TEST(RunResult, RatesAreOverElapsedTimeAndAttemptedRequests) {
  const RunResult r = closed_run();
  EXPECT_DOUBLE_EQ(r.requests_per_second(), 1000.0 / 3);
  EXPECT_DOUBLE_EQ(r.bytes_per_second(), 1024.0 * 1024);
  EXPECT_DOUBLE_EQ(r.error_rate(), 15.0 / 1015);

  const RunResult empty;
  EXPECT_EQ(empty.requests_per_second(), 0);
  EXPECT_EQ(empty.bytes_per_second(), 0);
  EXPECT_EQ(empty.error_rate(), 0);
}

TEST(Summary, FirstLineDescribesTheRun) {
  EXPECT_EQ(lines_of(summary_of(closed_run())).front(),
            std::string("GET ") + kUrl +
                ": closed model with 64 connections, 2 threads, pipeline 1, 3.00 s, keep-alive");

  RunResult r = open_run(1);
  r.config.threads = 1;
  r.config.pipeline = 4;
  r.config.duration_s = 0;
  r.config.requests = 100000;
  r.config.warmup_s = 2;
  r.config.keep_alive = false;
  r.config.timeout_s = 0.5;
  EXPECT_EQ(lines_of(summary_of(r)).front(),
            std::string("GET ") + kUrl +
                ": open model at 500 req/s over 1 connection, 1 thread, pipeline 4, 100000 "
                "requests after 2.00 s warm-up, no keep-alive, 500 ms timeout");
}

TEST(Summary, ShowsTotalsRatesPercentilesAndStatusCodes) {
  const std::string s = summary_of(closed_run());
  EXPECT_THAT(s, HasSubstr("1000 responses, 15 errors, 1015 attempted in 3.00 s"));
  EXPECT_THAT(s, HasSubstr("333.33 req/s, 1.00 MiB/s (3.00 MiB read)"));
  const auto lines = lines_of(s);
  const auto header_with = [&](const std::string& first) {
    for (const std::string& line : lines) {
      const auto words = words_of(line);
      if (!words.empty() && words[0] == first) return words;
    }
    return std::vector<std::string>{};
  };
  EXPECT_EQ(header_with("min"), (std::vector<std::string>{"min", "mean", "stdev", "max"}));
  EXPECT_EQ(header_with("p50"),
            (std::vector<std::string>{"p50", "p75", "p90", "p99", "p99.9", "p99.99"}));
  EXPECT_THAT(s, ContainsRegex("Latency +100 µs"));  // min, then p50 in the second table
  EXPECT_THAT(s, HasSubstr("2.00 ms"));              // p99
  EXPECT_THAT(s, HasSubstr("50.0 ms"));              // p99.9 and max
  EXPECT_THAT(s, HasSubstr("200: 990, 404: 10"));
  EXPECT_THAT(s, HasSubstr("500 ms user + 250 ms system = 750 ms, 739 µs per request"));
}

TEST(Summary, ShowsEachErrorClassWithCountAndShareOfAttempted) {
  const std::string s = summary_of(closed_run());
  EXPECT_THAT(s, HasSubstr("15 of 1015 attempted (1.48%)"));
  EXPECT_THAT(s, ContainsRegex("connect +1 +0.10%"));
  EXPECT_THAT(s, ContainsRegex("read +2 +0.20%"));
  EXPECT_THAT(s, ContainsRegex("write +3 +0.30%"));
  EXPECT_THAT(s, ContainsRegex("timeout +4 +0.39%"));
  EXPECT_THAT(s, ContainsRegex("bad response +5 +0.49%"));
}

TEST(Summary, SmallNonzeroSharesKeepTwoSignificantDigits) {
  RunResult r = closed_run();
  r.responses = 99999;
  r.errors = {0, 1, 0, 0, 0};
  r.attempted = 100000;
  const std::string s = summary_of(r);
  EXPECT_THAT(s, HasSubstr("1 of 100000 attempted (0.001%)"));
  EXPECT_THAT(s, ContainsRegex("connect +0 +0.00%"));
}

TEST(Summary, ClosedModelHasNoOpenModelLines) {
  const std::string s = summary_of(closed_run());
  EXPECT_THAT(s, Not(HasSubstr("Late sends")));
  EXPECT_THAT(s, Not(HasSubstr("Service time")));
  EXPECT_THAT(s, Not(HasSubstr("Send lag")));
}

TEST(Summary, OpenModelShowsCorrectedLatencyServiceTimeAndLateSends) {
  const std::string s = summary_of(open_run());
  EXPECT_THAT(s, HasSubstr("Latency (corrected)"));
  EXPECT_THAT(s, ContainsRegex("Service time +90 µs"));
  EXPECT_THAT(s, ContainsRegex("Send lag +20 µs"));
  EXPECT_THAT(s, HasSubstr("1.50 s"));  // the stall, as the corrected max
  EXPECT_THAT(s, ContainsRegex("Late sends +7 of 1015 sends \\(0.69%\\)"));
}

TEST(Summary, DurationsUseAdaptiveUnitsWithThreeSignificantDigits) {
  RunResult r = closed_run();
  r.latency.reset();
  r.latency.record(850);
  r.latency.record(999'700);  // rounds to 1.00 s, not "1000 ms"
  const std::string s = summary_of(r);
  EXPECT_THAT(s, ContainsRegex("Latency +850 µs +[0-9.]+ ms +[0-9.]+ ms +1.00 s"));
  EXPECT_THAT(s, Not(HasSubstr("1000 ms")));
}

TEST(LevelsTable, OneAlignedRowPerRun) {
  std::vector<RunResult> runs{closed_run(16), closed_run(64), closed_run(256)};
  runs[1].responses = 2000;
  runs[2].errors = {};
  runs[2].attempted = runs[2].responses;
  const auto lines = lines_of(written(write_levels_table, runs));
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(words_of(lines[0]),
            (std::vector<std::string>{"connections", "req/s", "p99", "(ms)", "error", "rate"}));
  EXPECT_EQ(words_of(lines[1]), (std::vector<std::string>{"16", "333.33", "2.000", "1.48%"}));
  EXPECT_EQ(words_of(lines[2]), (std::vector<std::string>{"64", "666.67", "2.000", "1.48%"}));
  EXPECT_EQ(words_of(lines[3]), (std::vector<std::string>{"256", "333.33", "2.000", "0.00%"}));
  for (const std::string& line : lines) EXPECT_EQ(line.size(), lines[0].size()) << line;
}

TEST(Json, ParsesWithEveryFieldOfEachRun) {
  const std::vector<RunResult> runs{closed_run(16), open_run(64)};
  const auto doc = nlohmann::json::parse(written(write_json, runs));
  ASSERT_EQ(doc.at("runs").size(), 2u);
  for (size_t i = 0; i < runs.size(); ++i) {
    const RunResult& r = runs[i];
    const auto& j = doc["runs"][i];
    const auto& config = j.at("config");
    EXPECT_EQ(config.at("url"), kUrl);
    EXPECT_EQ(config.at("method"), "GET");
    EXPECT_EQ(config.at("connections"), r.config.connections);
    EXPECT_EQ(config.at("threads"), 2);
    EXPECT_EQ(config.at("rate"), r.config.rate);
    EXPECT_EQ(config.at("pipeline"), 1);
    EXPECT_EQ(config.at("keep_alive"), true);
    EXPECT_EQ(config.at("duration_s"), 3.0);
    EXPECT_EQ(config.at("requests"), 0);
    EXPECT_EQ(config.at("warmup_s"), 0.0);
    EXPECT_EQ(config.at("timeout_s"), 0.0);

    EXPECT_EQ(j.at("elapsed_s"), 3.0);
    EXPECT_EQ(j.at("responses"), 1000);
    EXPECT_EQ(j.at("bytes_read"), 3 * 1024 * 1024);
    EXPECT_EQ(j.at("attempted").get<uint64_t>(),
              j.at("responses").get<uint64_t>() + j.at("errors").at("total").get<uint64_t>());
    EXPECT_DOUBLE_EQ(j.at("requests_per_second").get<double>(), 1000.0 / 3);
    EXPECT_DOUBLE_EQ(j.at("bytes_per_second").get<double>(), 1024.0 * 1024);
    EXPECT_DOUBLE_EQ(j.at("error_rate").get<double>(), 15.0 / 1015);
    EXPECT_EQ(j.at("status_counts"), (nlohmann::json{{"200", 990}, {"404", 10}}));
    EXPECT_EQ(j.at("errors"), (nlohmann::json{{"connect", 1},
                                              {"read", 2},
                                              {"write", 3},
                                              {"timeout", 4},
                                              {"bad_response", 5},
                                              {"total", 15}}));

    const auto& latency = j.at("latency_us");
    EXPECT_EQ(latency.at("min"), r.latency.min());
    EXPECT_EQ(latency.at("max"), r.latency.max());
    EXPECT_DOUBLE_EQ(latency.at("mean").get<double>(), r.latency.mean());
    EXPECT_DOUBLE_EQ(latency.at("stdev").get<double>(), r.latency.stdev());
    EXPECT_EQ(latency.at("p50"), r.latency.value_at_percentile(50));
    EXPECT_EQ(latency.at("p75"), r.latency.value_at_percentile(75));
    EXPECT_EQ(latency.at("p90"), r.latency.value_at_percentile(90));
    EXPECT_EQ(latency.at("p99"), r.latency.value_at_percentile(99));
    EXPECT_EQ(latency.at("p99_9"), r.latency.value_at_percentile(99.9));
    EXPECT_EQ(latency.at("p99_99"), r.latency.value_at_percentile(99.99));

    EXPECT_EQ(j.at("late_sends"), r.late_sends);
    EXPECT_EQ(j.at("cpu"), (nlohmann::json{{"user_s", 0.5}, {"system_s", 0.25}}));

    const auto& timeline = j.at("timeline");
    ASSERT_EQ(timeline.size(), 3u);
    for (size_t k = 0; k < 3; ++k) {
      const Second& s = r.timeline[k];
      EXPECT_EQ(timeline[k], (nlohmann::json{{"second", k},
                                             {"responses", s.responses},
                                             {"errors", 5},
                                             {"bytes", 1024 * 1024},
                                             {"p50_us", s.latency.value_at_percentile(50)},
                                             {"p99_us", s.latency.value_at_percentile(99)},
                                             {"max_us", s.latency.max()}}));
    }
  }
  EXPECT_FALSE(doc["runs"][0].contains("service_us"));
  EXPECT_FALSE(doc["runs"][0].contains("send_lag_us"));
  EXPECT_EQ(doc["runs"][1].at("service_us").at("p99"), runs[1].service.value_at_percentile(99));
  EXPECT_EQ(doc["runs"][1].at("send_lag_us").at("max"), 3000);
  EXPECT_EQ(doc["runs"][1].at("latency_us").at("max"), 1'500'000);
}

TEST(Json, KeepsKeysInReportOrder) {
  const auto doc = nlohmann::ordered_json::parse(written(write_json, {closed_run()}));
  std::vector<std::string> keys;
  for (const auto& [key, value] : doc["runs"][0].items()) keys.push_back(key);
  EXPECT_EQ(keys, (std::vector<std::string>{"config", "elapsed_s", "attempted", "responses",
                                            "bytes_read", "requests_per_second", "bytes_per_second",
                                            "error_rate", "status_counts", "errors", "latency_us",
                                            "late_sends", "cpu", "timeline"}));
}

TEST(Json, WritesNonFiniteNumbersAsZero) {
  RunResult r;
  r.elapsed_s = std::numeric_limits<double>::quiet_NaN();
  r.cpu_user_s = std::numeric_limits<double>::infinity();
  r.config.duration_s = -std::numeric_limits<double>::infinity();
  const std::string text = written(write_json, {r});
  EXPECT_THAT(text, Not(HasSubstr("null")));
  const auto run = nlohmann::json::parse(text)["runs"][0];
  EXPECT_EQ(run.at("elapsed_s"), 0.0);
  EXPECT_EQ(run.at("requests_per_second"), 0.0);
  EXPECT_EQ(run.at("cpu").at("user_s"), 0.0);
  EXPECT_EQ(run.at("config").at("duration_s"), 0.0);
  EXPECT_EQ(run.at("timeline"), nlohmann::json::array());
}

TEST(Json, NoRunsIsAnEmptyList) {
  EXPECT_EQ(nlohmann::json::parse(written(write_json, {})),
            (nlohmann::json{{"runs", nlohmann::json::array()}}));
}

TEST(Csv, HeaderThenOneRowPerSecondPerRun) {
  const std::vector<RunResult> runs{closed_run(16), closed_run(64)};
  const auto lines = lines_of(written(write_csv, runs));
  ASSERT_EQ(lines.size(), 7u);
  EXPECT_EQ(lines[0], "connections,second,responses,errors,bytes,p50_ms,p99_ms,max_ms");
  for (size_t i = 0; i < runs.size(); ++i) {
    for (size_t k = 0; k < 3; ++k) {
      const Second& s = runs[i].timeline[k];
      EXPECT_EQ(
          split(lines[1 + 3 * i + k], ','),
          (std::vector<std::string>{std::to_string(runs[i].config.connections), std::to_string(k),
                                    std::to_string(s.responses), "5", "1048576",
                                    ms3(s.latency.value_at_percentile(50)),
                                    ms3(s.latency.value_at_percentile(99)), ms3(s.latency.max())}));
    }
  }
  EXPECT_THAT(lines[2], StartsWith("16,1,400,5,1048576,0.100,"));
}

TEST(Html, IsOneSelfContainedPage) {
  const std::string html = written(write_html, {closed_run(), open_run()});
  EXPECT_THAT(html, StartsWith("<!doctype html>"));
  EXPECT_THAT(html, HasSubstr("<svg"));
  EXPECT_THAT(html, HasSubstr("<style>"));
  EXPECT_THAT(html, Not(HasSubstr("<script")));
  EXPECT_THAT(html, Not(HasSubstr("<link")));
  EXPECT_THAT(html, Not(HasSubstr("<img")));
  EXPECT_THAT(html, Not(HasSubstr("url(")));
  EXPECT_THAT(html, Not(HasSubstr("@import")));
  EXPECT_EQ(occurrences(html, "<svg"), occurrences(html, "</svg>"));
  EXPECT_EQ(occurrences(html, "<table"), occurrences(html, "</table>"));
  EXPECT_EQ(occurrences(html, "<section"), occurrences(html, "</section>"));
  EXPECT_THAT(html, HasSubstr("</html>"));
}

TEST(Html, EscapesTheUrlAndFetchesNothing) {
  RunResult r = closed_run();
  r.config.url = "http://example.test/a?b=<x>&c=\"d\"";
  std::string html = written(write_html, {r});
  const std::string escaped = "http://example.test/a?b=&lt;x&gt;&amp;c=&#34;d&#34;";
  EXPECT_THAT(html, HasSubstr(escaped));
  EXPECT_THAT(html, Not(HasSubstr("<x>")));
  EXPECT_THAT(html, Not(HasSubstr("\"d\"")));
  for (size_t at = html.find(escaped); at != std::string::npos; at = html.find(escaped)) {
    html.erase(at, escaped.size());
  }
  EXPECT_THAT(html, Not(HasSubstr("http://")));
  EXPECT_THAT(html, Not(HasSubstr("https://")));
  EXPECT_THAT(html, Not(HasSubstr("src=")));
  EXPECT_THAT(html, Not(HasSubstr("href=")));
}

TEST(Html, PercentileChartHasHdrHistogramTicksAndALinePerRun) {
  const std::string html = written(write_html, {closed_run(16), closed_run(64)});
  for (const char* tick : {">0%<", ">90%<", ">99%<", ">99.9%<", ">99.99%<", ">99.999%<"}) {
    EXPECT_THAT(html, HasSubstr(tick)) << tick;
  }
  EXPECT_THAT(html, HasSubstr("Latency by percentile"));
  EXPECT_THAT(html, HasSubstr("latency (ms)"));
  EXPECT_THAT(html, HasSubstr("<title>16 connections</title>"));
  EXPECT_THAT(html, HasSubstr("<title>64 connections</title>"));
  EXPECT_THAT(html, Not(HasSubstr("stroke-dasharray")));  // no open-model run
}

TEST(Html, SeveralRunsAddTheLevelsTable) {
  const std::string one = written(write_html, {closed_run(16)});
  EXPECT_THAT(one, Not(HasSubstr("<h2>Levels</h2>")));
  const std::string several = written(write_html, {closed_run(16), closed_run(64)});
  EXPECT_THAT(several, HasSubstr("<h2>Levels</h2>"));
  EXPECT_THAT(several, HasSubstr("<td>16</td><td>333.33</td><td>2.000</td><td>1.48%</td>"));
  EXPECT_THAT(several, HasSubstr("<td>64</td><td>333.33</td><td>2.000</td><td>1.48%</td>"));
}

TEST(Html, OpenModelAddsDashedServiceTimeLines) {
  const std::string html = written(write_html, {open_run(64)});
  EXPECT_THAT(html, HasSubstr("stroke-dasharray"));
  EXPECT_THAT(html, HasSubstr("64 connections, service time"));
  EXPECT_THAT(html, HasSubstr("late sends"));
}

TEST(Html, HasTheTimelineCharts) {
  const std::string html = written(write_html, {closed_run()});
  EXPECT_THAT(html, HasSubstr("responses per second"));
  EXPECT_THAT(html, HasSubstr("p99 latency (ms)"));
  EXPECT_THAT(html, HasSubstr(">seconds<"));
  EXPECT_EQ(occurrences(html, "<svg class=\"chart\""), 3u);
}

TEST(Html, EmptySecondsAndHistogramsDrawNoBogusNumbers) {
  RunResult r = open_run();
  r.service.reset();
  r.timeline[1].responses = 0;  // no response completed in second 1: a gap in the p99 line
  r.timeline[1].latency.reset();
  RunResult single = closed_run(8);
  single.timeline.resize(1);
  const RunResult nothing;
  const std::string html = written(write_html, {r, single, nothing});
  EXPECT_THAT(html, Not(ContainsRegex("[^a-zA-Z](nan|inf|NaN|Infinity)[^a-zA-Z]")));
  EXPECT_THAT(html, HasSubstr("d=\"\""));  // the empty service time draws an empty path
}

TEST(Html, NoRunsStillMakesAPage) {
  const std::string html = written(write_html, {});
  EXPECT_THAT(html, StartsWith("<!doctype html>"));
  EXPECT_THAT(html, HasSubstr("</html>"));
}

}  // namespace
}  // namespace weft::loadgen
