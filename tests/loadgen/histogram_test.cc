// Histogram: configuration checks, the empty histogram, exact min/max, HdrHistogram's equivalence
// ranges (unit resolution below 2048 at 3 digits, bounded relative width up to the highest
// value, for every digit count), clamping and saturation, percentiles and mean/deviation against
// a direct computation over 200,000 recorded samples, merge, reset, the percentile distribution
// walk, and the .hgrm text (a golden file and the structure of a large one).
#include "weft/loadgen/histogram.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using weft::loadgen::Histogram;

constexpr int64_t kDefaultHighest = 3'600'000'000;

// 200,000 deterministic latencies in microseconds from 10 µs to 10 s: mostly lognormal around
// 2 ms, with a log-uniform tail over the whole range. Only the engine's raw output is used (its
// sequence is fixed by the standard; the library's distributions are not).
std::vector<int64_t> latency_samples(std::size_t n = 200'000, uint64_t seed = 42) {
  std::mt19937_64 rng(seed);
  auto uniform = [&] { return (static_cast<double>(rng() >> 11) + 0.5) * 0x1p-53; };  // (0, 1)
  std::vector<int64_t> out = {10, 10'000'000};  // the ends of the range, then random ones
  out.reserve(n);
  const double lo = std::log(10.0), hi = std::log(10'000'000.0);
  for (std::size_t i = 2; i < n; ++i) {
    double u1 = uniform(), u2 = uniform(), pick = uniform();
    double log_value;
    if (pick < 0.95) {
      double z = std::sqrt(-2 * std::log(u1)) * std::cos(2 * M_PI * u2);
      log_value = std::log(2000.0) + 1.5 * z;
    } else {
      log_value = lo + (hi - lo) * u1;
    }
    out.push_back(std::clamp<int64_t>(std::llround(std::exp(log_value)), 10, 10'000'000));
  }
  return out;
}

std::string hgrm(const Histogram& h, double scale = 1000.0) {
  std::ostringstream out;
  h.write_hgrm(out, scale);
  return out.str();
}

std::vector<std::string> lines_of(const std::string& s) {
  std::vector<std::string> lines;
  std::istringstream in(s);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

TEST(HistogramTest, RejectsBadConfiguration) {
  EXPECT_THROW(Histogram(1, 3), std::invalid_argument);
  EXPECT_THROW(Histogram(0, 3), std::invalid_argument);
  EXPECT_THROW(Histogram(-5, 3), std::invalid_argument);
  EXPECT_THROW(Histogram(1000, 0), std::invalid_argument);
  EXPECT_THROW(Histogram(1000, 6), std::invalid_argument);
  EXPECT_NO_THROW(Histogram(2, 1));
  EXPECT_NO_THROW(Histogram(1'000'000, 5));
  EXPECT_NO_THROW(Histogram(INT64_MAX, 3));
  Histogram h;
  EXPECT_EQ(h.highest(), kDefaultHighest);
  EXPECT_EQ(h.significant_digits(), 3);
}

TEST(HistogramTest, EmptyHistogram) {
  Histogram h;
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.min(), 0);
  EXPECT_EQ(h.max(), 0);
  EXPECT_EQ(h.mean(), 0);
  EXPECT_EQ(h.stdev(), 0);
  EXPECT_EQ(h.saturated(), 0u);
  for (double p : {0.0, 50.0, 99.9, 100.0}) EXPECT_EQ(h.value_at_percentile(p), 0) << p;
  EXPECT_TRUE(h.percentile_distribution().empty());
  std::vector<std::string> lines = lines_of(hgrm(h));
  ASSERT_EQ(lines.size(), 5u);
  EXPECT_EQ(lines[0], "       Value     Percentile TotalCount 1/(1-Percentile)");
  EXPECT_EQ(lines[1], "");
  EXPECT_EQ(lines[2], "#[Mean    =        0.000, StdDeviation   =        0.000]");
  EXPECT_EQ(lines[3], "#[Max     =        0.000, Total count    =            0]");
  EXPECT_EQ(lines[4], "#[Buckets =           22, SubBuckets     =         2048]");
}

TEST(HistogramTest, ExactMinAndMax) {
  Histogram h;
  for (int64_t v : {123'456'789, 10'007, 2'000'001, 10'003}) h.record(v);
  EXPECT_EQ(h.count(), 4u);
  EXPECT_EQ(h.min(), 10'003);  // not its bucket's lowest (10000)
  EXPECT_EQ(h.max(), 123'456'789);
  EXPECT_NE(h.highest_equivalent(h.max()), h.max());
  EXPECT_EQ(h.value_at_percentile(100), 123'456'789);
}

TEST(HistogramTest, UnitResolutionBelow2048AtThreeDigits) {
  Histogram h;
  for (int64_t v = 0; v < 2048; ++v) {
    ASSERT_EQ(h.lowest_equivalent(v), v);
    ASSERT_EQ(h.highest_equivalent(v), v);
  }
  EXPECT_FALSE(h.equivalent(2046, 2047));
  EXPECT_FALSE(h.equivalent(2047, 2048));
  // From 2048 on, the width doubles with each power of two.
  EXPECT_EQ(h.lowest_equivalent(2048), 2048);
  EXPECT_EQ(h.highest_equivalent(2048), 2049);
  EXPECT_TRUE(h.equivalent(2048, 2049));
  EXPECT_FALSE(h.equivalent(2049, 2050));
  EXPECT_EQ(h.highest_equivalent(4095), 4095);
  EXPECT_EQ(h.lowest_equivalent(4096), 4096);
  EXPECT_EQ(h.highest_equivalent(4096), 4099);
  // 8192 <= 10000 < 16384: width 8, and 10000 = 1250 * 8 starts a bucket.
  EXPECT_EQ(h.lowest_equivalent(10'007), 10'000);
  EXPECT_EQ(h.highest_equivalent(10'000), 10'007);
  EXPECT_TRUE(h.equivalent(10'000, 10'007));
  EXPECT_FALSE(h.equivalent(9'999, 10'000));
  EXPECT_FALSE(h.equivalent(10'007, 10'008));
  // 2^31 <= 3.6e9 < 2^32: width 2^21.
  EXPECT_EQ(h.highest_equivalent(kDefaultHighest) - h.lowest_equivalent(kDefaultHighest) + 1,
            int64_t{1} << 21);
}

TEST(HistogramTest, RelativeBucketWidthAtMostOnePerThousandUpToHighest) {
  Histogram h;
  int64_t buckets_seen = 0;
  for (int64_t v = 1; v <= kDefaultHighest;) {
    int64_t lo = h.lowest_equivalent(v), hi = h.highest_equivalent(v);
    ASSERT_LE(lo, v);
    ASSERT_GE(hi, v);
    ASSERT_TRUE(h.equivalent(lo, hi));
    ASSERT_FALSE(h.equivalent(hi, hi + 1)) << v;  // ranges are contiguous and disjoint
    ASSERT_EQ(h.lowest_equivalent(hi + 1), hi + 1) << v;
    if (lo > 0 && lo < 2048) {
      ASSERT_EQ(hi, lo) << v;
    } else {
      ASSERT_LE(static_cast<double>(hi - lo + 1) / static_cast<double>(lo), 1.0 / 1000) << v;
    }
    ++buckets_seen;
    // Visit each range's ends and a point inside, stepping ~0.3% so every width is seen.
    v = std::max(hi + 1, v + v / 300);
  }
  EXPECT_GT(buckets_seen, 5000);
}

TEST(HistogramTest, RelativeBucketWidthForEveryDigitCount) {
  for (int digits = 1; digits <= 5; ++digits) {
    Histogram h(1'000'000'000'000, digits);
    double bound = std::pow(10.0, -digits);
    int64_t unit_limit = 2;  // values below 2 * 10^digits (rounded up to a power of two) are exact
    for (int i = 0; i < digits; ++i) unit_limit *= 10;
    for (int64_t v = 1; v < unit_limit; v += 1 + v / 7) {
      ASSERT_EQ(h.lowest_equivalent(v), v) << digits << " " << v;
      ASSERT_EQ(h.highest_equivalent(v), v) << digits << " " << v;
    }
    for (int64_t v = unit_limit; v <= h.highest(); v += 1 + v / 97) {
      int64_t lo = h.lowest_equivalent(v), hi = h.highest_equivalent(v);
      ASSERT_LE(lo, v);
      ASSERT_GE(hi, v);
      ASSERT_LE(static_cast<double>(hi - lo + 1) / static_cast<double>(lo), bound)
          << digits << " " << v;
    }
  }
}

TEST(HistogramTest, TopOfTheInt64Range) {
  Histogram h(INT64_MAX, 3);
  EXPECT_EQ(h.highest_equivalent(INT64_MAX), INT64_MAX);
  EXPECT_EQ(h.lowest_equivalent(INT64_MAX), INT64_MAX - ((int64_t{1} << 52) - 1));
  h.record(INT64_MAX);
  h.record(1);
  EXPECT_EQ(h.count(), 2u);
  EXPECT_EQ(h.saturated(), 0u);
  EXPECT_EQ(h.value_at_percentile(50), 1);
  EXPECT_EQ(h.value_at_percentile(99), INT64_MAX);
  EXPECT_EQ(h.max(), INT64_MAX);
}

TEST(HistogramTest, ClampsBelowOneAndSaturatesAboveHighest) {
  Histogram h(1000, 3);
  h.record(0);
  h.record(-17);
  EXPECT_EQ(h.min(), 1);
  EXPECT_EQ(h.saturated(), 0u);
  h.record(5000);
  EXPECT_EQ(h.max(), 1000);
  EXPECT_EQ(h.saturated(), 1u);
  h.record_n(INT64_MAX, 3);
  EXPECT_EQ(h.saturated(), 4u);
  h.record(1000);  // at highest: not saturated
  EXPECT_EQ(h.saturated(), 4u);
  EXPECT_EQ(h.count(), 7u);
  EXPECT_EQ(h.max(), 1000);
  EXPECT_EQ(h.value_at_percentile(50), 1000);
  EXPECT_EQ(h.value_at_percentile(10), 1);
}

TEST(HistogramTest, RecordNCountsManyAndZeroIsANoOp) {
  Histogram h;
  h.record_n(500, 0);
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.max(), 0);
  EXPECT_EQ(h.min(), 0);
  h.record_n(500, 1'000'000);
  h.record_n(700, 3'000'000);
  EXPECT_EQ(h.count(), 4'000'000u);
  EXPECT_EQ(h.value_at_percentile(25), 500);
  EXPECT_EQ(h.value_at_percentile(25.01), 700);
  EXPECT_DOUBLE_EQ(h.mean(), 650.0);
  EXPECT_NEAR(h.stdev(), std::sqrt(0.25 * 150 * 150 + 0.75 * 50 * 50), 1e-9);
}

TEST(HistogramTest, ValueAtPercentileOnExactValues) {
  Histogram h;
  for (int64_t v = 1; v <= 100; ++v) h.record(v);
  EXPECT_EQ(h.value_at_percentile(0), 1);  // at least one value
  EXPECT_EQ(h.value_at_percentile(1), 1);
  EXPECT_EQ(h.value_at_percentile(1.4), 1);  // 1.4 values round to 1
  EXPECT_EQ(h.value_at_percentile(1.6), 2);
  EXPECT_EQ(h.value_at_percentile(50), 50);
  EXPECT_EQ(h.value_at_percentile(90), 90);
  EXPECT_EQ(h.value_at_percentile(99), 99);
  EXPECT_EQ(h.value_at_percentile(99.9), 100);
  EXPECT_EQ(h.value_at_percentile(100), 100);
  EXPECT_EQ(h.value_at_percentile(250), 100);
  EXPECT_EQ(h.value_at_percentile(-3), 1);
}

TEST(HistogramTest, ValueAtPercentileIsHighestEquivalentButNeverAboveMax) {
  Histogram h;
  h.record(10'000);
  h.record(20'000);
  h.record(20'001);
  // The highest value equivalent to 10000 ...
  EXPECT_EQ(h.value_at_percentile(30), 10'007);
  // ... but the bucket of 20000 (width 16) is cut at the exact max.
  EXPECT_EQ(h.highest_equivalent(20'000), 20'015);
  EXPECT_EQ(h.value_at_percentile(50), 20'001);
  EXPECT_EQ(h.value_at_percentile(99.999), 20'001);
  EXPECT_EQ(h.value_at_percentile(100), 20'001);
}

TEST(HistogramTest, PercentilesMatchSortedSamples) {
  std::vector<int64_t> samples = latency_samples();
  Histogram h;
  for (int64_t v : samples) h.record(v);
  std::sort(samples.begin(), samples.end());
  const double n = static_cast<double>(samples.size());
  ASSERT_EQ(h.count(), samples.size());
  EXPECT_EQ(h.min(), samples.front());
  EXPECT_EQ(h.max(), samples.back());
  EXPECT_EQ(h.min(), 10);
  EXPECT_EQ(h.max(), 10'000'000);

  std::vector<double> percentiles = {50, 75, 90, 99, 99.9, 99.99, 100};
  for (int p = 1; p < 100; p += 7) percentiles.push_back(p);
  for (double p : percentiles) {
    // The rank HdrHistogram reports: the ceil(p% of n)-th smallest sample (the epsilon keeps
    // products like 99.99% of 200000 from rounding up past an integer).
    auto rank = static_cast<std::size_t>(std::max(1.0, std::ceil(p / 100 * n - 1e-6))) - 1;
    int64_t expected = samples[rank];
    int64_t got = h.value_at_percentile(p);
    EXPECT_TRUE(h.equivalent(got, expected)) << "p" << p << " got " << got << " want " << expected;
    EXPECT_GE(got, expected) << "p" << p;
    EXPECT_LE(static_cast<double>(got - expected), static_cast<double>(expected) / 1000)
        << "p" << p;
  }
  EXPECT_EQ(h.value_at_percentile(100), samples.back());
}

TEST(HistogramTest, MeanAndStdevMatchDirectComputation) {
  std::vector<int64_t> samples = latency_samples();
  Histogram h;
  long double sum = 0;
  for (int64_t v : samples) {
    h.record(v);
    sum += v;
  }
  const long double n = samples.size();
  long double mean = sum / n, squares = 0;
  for (int64_t v : samples) squares += (v - mean) * (v - mean);
  double stdev = static_cast<double>(std::sqrt(squares / n));
  EXPECT_NEAR(h.mean(), static_cast<double>(mean), 1e-3 * static_cast<double>(mean));
  EXPECT_NEAR(h.stdev(), stdev, 1e-3 * stdev);
}

TEST(HistogramTest, MeanUsesMedianEquivalentValues) {
  Histogram h;
  h.record(1500);    // width 1: counts as 1500
  h.record(2500);    // width 2: counts as 2501
  h.record(10'000);  // width 8: counts as 10004
  EXPECT_DOUBLE_EQ(h.mean(), (1500.0 + 2501 + 10'004) / 3);
}

TEST(HistogramTest, MergeEqualsRecordingIntoOne) {
  std::vector<int64_t> samples = latency_samples(50'000, 7);
  Histogram a(1'000'000), b(1'000'000), all(1'000'000);
  for (std::size_t i = 0; i < samples.size(); ++i) {
    (i % 3 == 0 ? a : b).record(samples[i]);
    all.record(samples[i]);
  }
  a.merge(b);
  EXPECT_EQ(a.count(), all.count());
  EXPECT_EQ(a.min(), all.min());
  EXPECT_EQ(a.max(), all.max());
  EXPECT_GT(all.saturated(), 0u);
  EXPECT_EQ(a.saturated(), all.saturated());
  EXPECT_DOUBLE_EQ(a.mean(), all.mean());
  EXPECT_DOUBLE_EQ(a.stdev(), all.stdev());
  for (double p = 0; p <= 100; p += 0.5)
    EXPECT_EQ(a.value_at_percentile(p), all.value_at_percentile(p)) << p;
  auto da = a.percentile_distribution(), dall = all.percentile_distribution();
  ASSERT_EQ(da.size(), dall.size());
  for (std::size_t i = 0; i < da.size(); ++i) {
    EXPECT_EQ(da[i].percentile, dall[i].percentile) << i;
    EXPECT_EQ(da[i].value, dall[i].value) << i;
    EXPECT_EQ(da[i].total_count, dall[i].total_count) << i;
  }
  EXPECT_EQ(hgrm(a), hgrm(all));
}

TEST(HistogramTest, MergeWithEmptySides) {
  Histogram h, empty;
  h.record(42);
  h.record(9000);
  h.merge(empty);
  EXPECT_EQ(h.count(), 2u);
  EXPECT_EQ(h.min(), 42);
  EXPECT_EQ(h.max(), 9000);
  empty.merge(h);
  EXPECT_EQ(empty.count(), 2u);
  EXPECT_EQ(empty.min(), 42);
  EXPECT_EQ(empty.max(), 9000);
  EXPECT_EQ(hgrm(empty), hgrm(h));
}

TEST(HistogramTest, MergeRejectsDifferentConfiguration) {
  Histogram h(1000, 3);
  h.record(5);
  Histogram other_highest(2000, 3), other_digits(1000, 2);
  other_highest.record(7);
  EXPECT_THROW(h.merge(other_highest), std::invalid_argument);
  EXPECT_THROW(h.merge(other_digits), std::invalid_argument);
  EXPECT_EQ(h.count(), 1u);  // unchanged
  EXPECT_EQ(h.max(), 5);
  EXPECT_NO_THROW(h.merge(Histogram(1000, 3)));
}

TEST(HistogramTest, ResetForgetsEverything) {
  Histogram h(1000);
  h.record(3);
  h.record(5000);
  h.reset();
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.min(), 0);
  EXPECT_EQ(h.max(), 0);
  EXPECT_EQ(h.saturated(), 0u);
  EXPECT_EQ(h.value_at_percentile(50), 0);
  EXPECT_TRUE(h.percentile_distribution().empty());
  h.record(7);
  EXPECT_EQ(h.min(), 7);
  EXPECT_EQ(h.max(), 7);
  EXPECT_EQ(h.value_at_percentile(0), 7);
}

TEST(HistogramTest, PercentileDistributionHalvesTheStepTowards100) {
  Histogram h;
  for (int64_t v = 1; v <= 1000; ++v) h.record(v);
  auto points = h.percentile_distribution(5);
  // 10% steps up to 50%, 5% to 75%, 2.5% to 87.5%, 1.25% to 93.75%, ...
  const std::vector<double> levels = {0,  10,   20, 30,   40, 50,   55,    60, 65,   70,
                                      75, 77.5, 80, 82.5, 85, 87.5, 88.75, 90, 91.25};
  ASSERT_GT(points.size(), levels.size());
  for (std::size_t i = 0; i < levels.size(); ++i) {
    EXPECT_DOUBLE_EQ(points[i].percentile, levels[i]) << i;
    // The first value reaching the level (value i is 0.1 * i percent here).
    int64_t want = std::max<int64_t>(1, static_cast<int64_t>(std::ceil(levels[i] * 10 - 1e-9)));
    EXPECT_EQ(points[i].value, want) << i;
    EXPECT_EQ(points[i].total_count, static_cast<uint64_t>(want)) << i;
  }
  EXPECT_EQ(points.back().percentile, 100.0);
  EXPECT_EQ(points.back().value, 1000);
  EXPECT_EQ(points.back().total_count, 1000u);
  // More ticks per half distance: more rows.
  EXPECT_GT(h.percentile_distribution(10).size(), points.size());
  EXPECT_DOUBLE_EQ(h.percentile_distribution(1)[1].percentile, 50.0);
}

TEST(HistogramTest, PercentileDistributionOfOneValue) {
  Histogram h;
  h.record_n(12'345, 3);
  auto points = h.percentile_distribution();
  ASSERT_EQ(points.size(), 2u);
  EXPECT_EQ(points[0].percentile, 0.0);
  EXPECT_EQ(points[0].value, 12'345);  // clamped to max, below its bucket's highest (12351)
  EXPECT_EQ(points[0].total_count, 3u);
  EXPECT_EQ(points[1].percentile, 100.0);
  EXPECT_EQ(points[1].value, 12'345);
  EXPECT_EQ(points[1].total_count, 3u);
}

TEST(HistogramTest, PercentileDistributionIsMonotoneAndEndsAtMax) {
  std::vector<int64_t> samples = latency_samples();
  Histogram h;
  for (int64_t v : samples) h.record(v);
  auto points = h.percentile_distribution();
  ASSERT_GE(points.size(), 50u);
  EXPECT_EQ(points.front().percentile, 0.0);
  EXPECT_EQ(points.front().value, h.highest_equivalent(h.min()));
  for (std::size_t i = 1; i < points.size(); ++i) {
    EXPECT_GT(points[i].percentile, points[i - 1].percentile) << i;
    EXPECT_GE(points[i].value, points[i - 1].value) << i;
    EXPECT_GE(points[i].total_count, points[i - 1].total_count) << i;
  }
  for (const auto& p : points) {
    // Each row's count reaches its level, and the row's value has that many values at or below.
    EXPECT_GE(100.0 * static_cast<double>(p.total_count) / static_cast<double>(h.count()),
              p.percentile);
    std::size_t at_or_below = static_cast<std::size_t>(
        std::count_if(samples.begin(), samples.end(), [&](int64_t v) { return v <= p.value; }));
    EXPECT_EQ(at_or_below, p.total_count) << p.percentile;
  }
  EXPECT_EQ(points.back().percentile, 100.0);
  EXPECT_EQ(points.back().value, h.max());
  EXPECT_EQ(points.back().total_count, h.count());
}

TEST(HistogramTest, WriteHgrmGolden) {
  Histogram h;
  h.record(1500);
  h.record(2500);
  h.record(10'000);
  // The levels 0..30% fall on 1500 (1/3 of the values), 40..65% on 2500's bucket (highest
  // equivalent 2501), and 70% on the max; then the 100% row without 1/(1-Percentile).
  const std::string want =
      "       Value     Percentile TotalCount 1/(1-Percentile)\n"
      "\n"
      "       1.500 0.000000000000          1           1.00\n"
      "       1.500 0.100000000000          1           1.11\n"
      "       1.500 0.200000000000          1           1.25\n"
      "       1.500 0.300000000000          1           1.43\n"
      "       2.501 0.400000000000          2           1.67\n"
      "       2.501 0.500000000000          2           2.00\n"
      "       2.501 0.550000000000          2           2.22\n"
      "       2.501 0.600000000000          2           2.50\n"
      "       2.501 0.650000000000          2           2.86\n"
      "      10.000 0.700000000000          3           3.33\n"
      "      10.000 1.000000000000          3\n"
      "#[Mean    =        4.668, StdDeviation   =        3.795]\n"
      "#[Max     =       10.000, Total count    =            3]\n"
      "#[Buckets =           22, SubBuckets     =         2048]\n";
  EXPECT_EQ(hgrm(h), want);
  // Scale 1: raw values.
  std::vector<std::string> raw = lines_of(hgrm(h, 1.0));
  EXPECT_EQ(raw[2], "    1500.000 0.000000000000          1           1.00");
  EXPECT_EQ(raw[raw.size() - 2], "#[Max     =    10000.000, Total count    =            3]");
}

TEST(HistogramTest, WriteHgrmStructure) {
  std::vector<int64_t> samples = latency_samples();
  Histogram h;
  for (int64_t v : samples) h.record(v);
  auto points = h.percentile_distribution();
  std::vector<std::string> lines = lines_of(hgrm(h));
  ASSERT_EQ(lines.size(), 2 + points.size() + 3);
  EXPECT_EQ(lines[0], "       Value     Percentile TotalCount 1/(1-Percentile)");
  EXPECT_EQ(lines[1], "");
  for (std::size_t i = 0; i < points.size(); ++i) {
    const std::string& line = lines[2 + i];
    double value = 0, fraction = 0, inverse = 0;
    uint64_t total = 0;
    int fields =
        std::sscanf(line.c_str(), "%lf %lf %" SCNu64 " %lf", &value, &fraction, &total, &inverse);
    bool last = i + 1 == points.size();
    ASSERT_EQ(fields, last ? 3 : 4) << line;
    char want_value[32];
    std::snprintf(want_value, sizeof(want_value), "%12.3f ",
                  static_cast<double>(points[i].value) / 1000);
    EXPECT_EQ(line.substr(0, 13), want_value) << line;
    EXPECT_NEAR(fraction, points[i].percentile / 100, 1e-12) << line;
    EXPECT_EQ(total, points[i].total_count) << line;
    if (!last) {
      EXPECT_NEAR(inverse, 1 / (1 - points[i].percentile / 100), 0.006) << line;
    }
  }
  EXPECT_EQ(lines[lines.size() - 4], "   10000.000 1.000000000000     200000");
  char mean_line[128];
  std::snprintf(mean_line, sizeof(mean_line), "#[Mean    = %12.3f, StdDeviation   = %12.3f]",
                h.mean() / 1000, h.stdev() / 1000);
  EXPECT_EQ(lines[lines.size() - 3], mean_line);
  EXPECT_EQ(lines[lines.size() - 2], "#[Max     =    10000.000, Total count    =       200000]");
  EXPECT_EQ(lines[lines.size() - 1], "#[Buckets =           22, SubBuckets     =         2048]");
}

TEST(HistogramTest, WriteHgrmUsesTheSignificantDigits) {
  Histogram h(1'000'000, 2);
  h.record(1234);
  std::vector<std::string> lines = lines_of(hgrm(h));
  ASSERT_EQ(lines.size(), 7u);
  // 2 digits: 256 sub-buckets, 1234 in a bucket of width 8 (1232..1239), values with 2 decimals.
  EXPECT_EQ(lines[2], "        1.23 0.000000000000          1           1.00");
  EXPECT_EQ(lines[3], "        1.23 1.000000000000          1");
  EXPECT_EQ(lines[4], "#[Mean    =         1.24, StdDeviation   =         0.00]");
  EXPECT_EQ(lines[6], "#[Buckets =           13, SubBuckets     =          256]");
}

}  // namespace
