// metrics_handler over real loopback connections: the text format by default, OpenMetrics when
// the scrape asks for it, HEAD without a body, and 405 for other methods.
#include "weft/http/metrics_handler.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "http/http_test_util.h"
#include "metrics/promtool.h"
#include "weft/metrics.h"

namespace {

namespace http = weft::http;
namespace metrics = weft::metrics;
using ::testing::EndsWith;
using ::testing::HasSubstr;
using weft_test::get_request;
using weft_test::roundtrip;
using weft_test::TestServer;

TEST(MetricsHandler, ServesTheRegistryInTheFormatTheScrapeAsksFor) {
  metrics::Registry registry;
  registry.counter("demo_requests_total", "Requests seen.", {"code"}).with({"200"}).add(3);
  weft::run([&] {
    TestServer s(http::metrics_handler(registry));
    auto addr = s.start();
    ASSERT_FALSE(addr.empty());

    auto text = roundtrip(addr, get_request("/metrics"));
    ASSERT_TRUE(text);
    EXPECT_EQ(text->status, 200);
    EXPECT_EQ(text->header("Content-Type"), metrics::kTextContentType);
    EXPECT_THAT(text->body, HasSubstr("# TYPE demo_requests_total counter\n"));
    EXPECT_THAT(text->body, HasSubstr("demo_requests_total{code=\"200\"} 3\n"));
    weft_test::CommandResult check = weft_test::promtool_check_metrics(text->body);
    EXPECT_EQ(check.status, 0) << check.output;
    EXPECT_EQ(check.output, "");

    auto om = roundtrip(addr, get_request("/metrics",
                                          "Accept: application/openmetrics-text; "
                                          "version=1.0.0,text/plain;q=0.5\r\n"));
    ASSERT_TRUE(om);
    EXPECT_EQ(om->status, 200);
    EXPECT_EQ(om->header("Content-Type"), metrics::kOpenMetricsContentType);
    EXPECT_THAT(om->body, HasSubstr("# TYPE demo_requests counter\n"));
    EXPECT_THAT(om->body, EndsWith("# EOF\n"));

    auto head = roundtrip(addr, "HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n", "HEAD");
    ASSERT_TRUE(head);
    EXPECT_EQ(head->status, 200);
    EXPECT_EQ(head->header("Content-Length"), std::to_string(text->body.size()));
    EXPECT_TRUE(head->body.empty());

    auto post = roundtrip(addr, "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
    ASSERT_TRUE(post);
    EXPECT_EQ(post->status, 405);
    EXPECT_EQ(post->header("Allow"), "GET, HEAD");
  });
}

TEST(MetricsHandler, EachScrapeSeesTheCurrentValues) {
  metrics::Registry registry;
  metrics::Gauge& g = registry.gauge("demo_queue_length", "Items waiting.").get();
  weft::run([&] {
    TestServer s(http::metrics_handler(registry));
    auto addr = s.start();
    ASSERT_FALSE(addr.empty());
    g.set(5);
    auto first = roundtrip(addr, get_request("/metrics"));
    g.set(7);
    auto second = roundtrip(addr, get_request("/metrics"));
    ASSERT_TRUE(first && second);
    EXPECT_THAT(first->body, HasSubstr("demo_queue_length 5\n"));
    EXPECT_THAT(second->body, HasSubstr("demo_queue_length 7\n"));
    for (const auto& scrape : {first, second}) {
      weft_test::CommandResult check = weft_test::promtool_check_metrics(scrape->body);
      EXPECT_EQ(check.status, 0) << check.output;
      EXPECT_EQ(check.output, "");
    }
  });
}

}  // namespace
