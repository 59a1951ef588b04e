// weft::log: the text and JSON renderings (fields, quoting, escaping), levels, the environment
// at first use and at configure(), colour on terminals only, the bounded queue (drops counted
// and reported, a task never held up by a stuck output), flush at exit and across many tasks,
// and the HTTP access log, recover and server reporting through the logger.
#include "weft/log.h"

#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <termios.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <regex>
#include <stdexcept>
#include <string>
#include <vector>

#include "http/http_test_util.h"
#include "runtime/test_util.h"
#include "weft/http.h"
#include "weft/weft.h"

namespace {

namespace log = weft::log;
namespace http = weft::http;
using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::StartsWith;
using weft_test::get_request;
using weft_test::RawClient;
using weft_test::TestServer;
using json = nlohmann::json;

// The Field constructors pick the kind from the value's type; a string literal stays a string.
static_assert(log::Field("k", "v").kind() == log::Field::Kind::kString);
static_assert(log::Field("k", 1).kind() == log::Field::Kind::kInt);
static_assert(log::Field("k", 1u).kind() == log::Field::Kind::kUint);
static_assert(log::Field("k", 1.5f).kind() == log::Field::Kind::kDouble);
static_assert(log::Field("k", false).kind() == log::Field::Kind::kBool);
static_assert(!std::is_constructible_v<log::Field, std::string_view, char>);

// A line's time: "2026-11-26T17:00:00.123Z".
const std::regex kTime(R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z)");
constexpr std::size_t kTimeSize = 24;

// Lines keeps what the logger hands its sink (on the writer thread).
class Lines {
 public:
  void add(std::string_view line) {
    std::lock_guard<std::mutex> g(mu_);
    lines_.emplace_back(line);
  }
  std::vector<std::string> get() {
    std::lock_guard<std::mutex> g(mu_);
    return lines_;
  }

 private:
  std::mutex mu_;
  std::vector<std::string> lines_;
};

// Gate holds every sink call until open(); entered() says a call is waiting.
class Gate {
 public:
  void pass() {
    std::unique_lock<std::mutex> l(mu_);
    entered_ = true;
    cv_.notify_all();
    cv_.wait(l, [&] { return open_; });
  }
  void wait_entered() {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait(l, [&] { return entered_; });
  }
  void open() {
    std::lock_guard<std::mutex> l(mu_);
    open_ = true;
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool entered_ = false, open_ = false;
};

// Runs fn as the main task, ending the process if it hangs.
template <class F>
void in_runtime(F&& fn) {
  weft_test::Watchdog dog("log test", std::chrono::seconds(60));
  weft::run(std::forward<F>(fn));
}

// The line without its time, which is checked to have the right shape.
std::string after_time(const std::string& line) {
  EXPECT_GE(line.size(), kTimeSize) << line;
  if (line.size() < kTimeSize) return line;
  EXPECT_TRUE(std::regex_match(line.substr(0, kTimeSize), kTime)) << line;
  return line.substr(kTimeSize);
}

// A JSON line's text after its time field, which is checked to have the right shape.
std::string after_json_time(const std::string& line) {
  const std::string head = R"({"time":")";
  EXPECT_THAT(line, StartsWith(head));
  if (line.size() < head.size() + kTimeSize + 1) return line;
  EXPECT_TRUE(std::regex_match(line.substr(head.size(), kTimeSize), kTime)) << line;
  return line.substr(head.size() + kTimeSize + 1);
}

class LogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    unsetenv("WEFT_LOG_LEVEL");
    unsetenv("WEFT_LOG_FORMAT");
  }
  // Back to the defaults (stderr); waits for the test's lines first.
  void TearDown() override {
    gate_->open();  // a test that failed early leaves no sink stuck
    log::configure({});
  }

  // Sends every record at level and above, rendered in format, to lines().
  void capture(log::Format format, log::Level level = log::Level::kDebug,
               std::size_t queue_bytes = std::size_t{1} << 20) {
    log::configure({.level = level,
                    .format = format,
                    .sink = [lines = lines_](std::string_view l) { lines->add(l); },
                    .queue_bytes = queue_bytes});
  }
  // What the sink got, once everything logged so far is written.
  std::vector<std::string> lines() {
    log::flush();
    return lines_->get();
  }

  std::shared_ptr<Lines> lines_ = std::make_shared<Lines>();
  std::shared_ptr<Gate> gate_ = std::make_shared<Gate>();
};

// ---- Text -------------------------------------------------------------------------------------

TEST_F(LogTest, TextHasTimeLevelMessageAndFields) {
  capture(log::Format::kText);
  log::info("request served", {{"method", "GET"},
                               {"status", 200},
                               {"duration_ms", 1.25},
                               {"ok", true},
                               {"max", std::numeric_limits<uint64_t>::max()},
                               {"delta", int64_t{-7}},
                               {"ratio", 0.1},
                               {"whole", 3.0}});
  log::debug("d");
  log::warn("w");
  log::error("e", {{"code", std::string("E42")}});
  auto got = lines();
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(after_time(got[0]),
            " INFO  request served method=GET status=200 duration_ms=1.25 ok=true "
            "max=18446744073709551615 delta=-7 ratio=0.1 whole=3");
  EXPECT_EQ(after_time(got[1]), " DEBUG d");
  EXPECT_EQ(after_time(got[2]), " WARN  w");
  EXPECT_EQ(after_time(got[3]), " ERROR e code=E42");
}

TEST_F(LogTest, TextQuotesValuesThatWouldNotReadBackAsOne) {
  capture(log::Format::kText);
  log::info("quoting", {{"plain", "a-b/c:d"},
                        {"space", "a b"},
                        {"equals", "a=b"},
                        {"quote", "say \"hi\""},
                        {"empty", ""},
                        {"newline", "a\nb"},
                        {"control", "\x01"},
                        {"backslash", "a\\b"},
                        {"utf8", "größe"},
                        {"invalid",
                         "a\xff"
                         "b"}});
  auto got = lines();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(after_time(got[0]),
            R"( INFO  quoting plain=a-b/c:d space="a b" equals="a=b" quote="say \"hi\"" )"
            R"(empty="" newline="a\nb" control="\u0001" backslash=a\b utf8=größe )"
            "invalid=a\xEF\xBF\xBD"
            "b");
}

TEST_F(LogTest, TextEscapesTheMessageAndKeysAndNamesNonFiniteNumbers) {
  capture(log::Format::kText);
  log::warn("two\nlines, \"quoted\"\x1b[31m", {{"bad key=\"x\"", 1},
                                               {"", 2},
                                               {"nan", std::nan("")},
                                               {"inf", HUGE_VAL},
                                               {"minus_inf", -HUGE_VAL}});
  auto got = lines();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(after_time(got[0]),
            R"( WARN  two\nlines, "quoted"\u001b[31m bad_key__x_=1 _=2 nan=NaN inf=+Inf )"
            R"(minus_inf=-Inf)");
}

// ---- JSON -------------------------------------------------------------------------------------

TEST_F(LogTest, JsonIsOneObjectPerLineWithTypedFields) {
  capture(log::Format::kJson);
  log::info("request served", {{"method", "GET"},
                               {"status", 200},
                               {"duration_ms", 1.25},
                               {"cached", false},
                               {"max", std::numeric_limits<uint64_t>::max()},
                               {"delta", -7}});
  log::error("e");
  auto got = lines();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(after_json_time(got[0]),
            R"(,"level":"info","msg":"request served","method":"GET","status":200,)"
            R"("duration_ms":1.25,"cached":false,"max":18446744073709551615,"delta":-7})");
  EXPECT_EQ(after_json_time(got[1]), R"(,"level":"error","msg":"e"})");

  json j = json::parse(got[0]);
  EXPECT_EQ(j["status"], 200);
  EXPECT_EQ(j["max"].get<uint64_t>(), std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(j["duration_ms"], 1.25);
  EXPECT_EQ(j["cached"], false);
}

TEST_F(LogTest, JsonEscapesControlsQuotesBackslashesAndReplacesInvalidUtf8) {
  capture(log::Format::kJson);
  const std::string msg = "tab\there \"q\" back\\slash\n\b\f\r\x7f";
  const std::string with_nul("a\0b", 3);
  log::info(msg, {{"nul", with_nul},
                  {"k\"ey", "v"},
                  {"emoji", "\xF0\x9F\x98\x80"},
                  {"overlong", "\xC0\xAF"},
                  {"surrogate", "\xED\xA0\x80"},
                  {"truncated", "x\xE2\x82"},
                  {"too_big", "\xF4\x90\x80\x80"},
                  {"nan", std::nan("")},
                  {"inf", -HUGE_VAL}});
  auto got = lines();
  ASSERT_EQ(got.size(), 1u);
  const std::string r3 = "\xEF\xBF\xBD";  // U+FFFD
  EXPECT_EQ(after_json_time(got[0]),
            R"(,"level":"info","msg":"tab\there \"q\" back\\slash\n\b\f\r\u007f",)"
            R"("nul":"a\u0000b","k\"ey":"v","emoji":"😀",)"
            R"("overlong":")" +
                r3 + r3 + R"(","surrogate":")" + r3 + r3 + r3 + R"(","truncated":"x)" + r3 + r3 +
                R"(","too_big":")" + r3 + r3 + r3 + r3 + R"(","nan":"NaN","inf":"-Inf"})");

  // Any JSON reader takes it back.
  json j = json::parse(got[0]);
  EXPECT_EQ(j["msg"], msg);
  EXPECT_EQ(j["nul"], with_nul);
  EXPECT_EQ(j["k\"ey"], "v");
}

// ---- Levels and the environment ---------------------------------------------------------------

TEST_F(LogTest, RecordsBelowTheLevelAreSkipped) {
  capture(log::Format::kText, log::Level::kWarn);
  EXPECT_FALSE(log::enabled(log::Level::kDebug));
  EXPECT_FALSE(log::enabled(log::Level::kInfo));
  EXPECT_TRUE(log::enabled(log::Level::kWarn));
  EXPECT_TRUE(log::enabled(log::Level::kError));
  log::debug("no");
  log::info("no");
  log::write(log::Level::kInfo, "no", {{"k", 1}});
  log::warn("w");
  log::error("e");
  log::write(log::Level::kError, "written", {{"k", 1}});
  auto got = lines();
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(after_time(got[0]), " WARN  w");
  EXPECT_EQ(after_time(got[1]), " ERROR e");
  EXPECT_EQ(after_time(got[2]), " ERROR written k=1");
}

TEST_F(LogTest, TheEnvironmentFillsInWhatOptionsLeaveUnset) {
  auto sink = [lines = lines_](std::string_view l) { lines->add(l); };
  setenv("WEFT_LOG_FORMAT", "json", 1);
  setenv("WEFT_LOG_LEVEL", "debug", 1);
  log::configure({.sink = sink});
  EXPECT_TRUE(log::enabled(log::Level::kDebug));
  log::debug("from the environment");

  // Options set in the code win over the environment.
  log::configure({.level = log::Level::kWarn, .format = log::Format::kText, .sink = sink});
  log::info("skipped");
  log::warn("chosen in code");

  // Any case is fine; a value the logger does not know is ignored.
  setenv("WEFT_LOG_LEVEL", "ERROR", 1);
  setenv("WEFT_LOG_FORMAT", "xml", 1);
  log::configure({.sink = sink});
  log::warn("skipped");
  log::error("upper case level");
  setenv("WEFT_LOG_LEVEL", "loud", 1);
  log::configure({.sink = sink});
  log::debug("skipped");
  log::info("default level");

  auto got = lines();
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(after_json_time(got[0]), R"(,"level":"debug","msg":"from the environment"})");
  EXPECT_EQ(after_time(got[1]), " WARN  chosen in code");
  EXPECT_EQ(after_time(got[2]), " ERROR upper case level");
  EXPECT_EQ(after_time(got[3]), " INFO  default level");
}

// A fresh process that never called configure() reads the environment at its first record, and
// its lines reach stderr when it exits normally (the logger flushes at exit).
TEST_F(LogTest, FirstUseReadsTheEnvironmentAndExitFlushes) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");  // a fresh logger in the child
  EXPECT_EXIT(
      {
        setenv("WEFT_LOG_FORMAT", "json", 1);
        setenv("WEFT_LOG_LEVEL", "warn", 1);
        log::info("below the level");
        for (int i = 0; i < 100; ++i) log::warn("at exit", {{"i", i}});
        std::exit(log::enabled(log::Level::kInfo) ? 1 : 0);
      },
      ::testing::ExitedWithCode(0),
      R"("level":"warn","msg":"at exit","i":0.*"level":"warn","msg":"at exit","i":99)");
}

// The writer is a thread the runtime did not start; it never wakes a task, and the runtime
// knows it, so a deadlock after logging is still reported instead of hanging.
TEST_F(LogTest, ADeadlockAfterLoggingIsStillReported) {
#if defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "TSan's own thread makes deadlock detection stand down";
#endif
  GTEST_FLAG_SET(death_test_style, "threadsafe");  // a fresh logger and runtime in the child
  EXPECT_EXIT(
      {
        log::info("about to wait for nothing");
        log::flush();
        weft::run([] {
          weft::Chan<int> c;
          (void)c.recv();
        });
      },
      ::testing::ExitedWithCode(2), "all tasks are asleep - deadlock!");
}

TEST_F(LogTest, TextColoursTheLevelOnATerminalOnly) {
  int master = -1, slave = -1;
  ASSERT_EQ(openpty(&master, &slave, nullptr, nullptr, nullptr), 0);
  termios raw;
  ASSERT_EQ(tcgetattr(slave, &raw), 0);
  cfmakeraw(&raw);  // no "\r\n" for "\n"
  ASSERT_EQ(tcsetattr(slave, TCSANOW, &raw), 0);
  const char* term = std::getenv("TERM");
  const char* no_color = std::getenv("NO_COLOR");
  std::string saved_term = term ? term : "", saved_no_color = no_color ? no_color : "";
  setenv("TERM", "xterm", 1);
  unsetenv("NO_COLOR");

  // Reads what has reached the terminal by now.
  auto read_terminal = [&] {
    std::string text;
    char buf[4096];
    pollfd p{master, POLLIN, 0};
    while (::poll(&p, 1, 1000) > 0) {
      ssize_t n = ::read(master, buf, sizeof buf);
      if (n <= 0) break;
      text.append(buf, static_cast<std::size_t>(n));
      if (text.back() == '\n') break;
    }
    return text;
  };
  log::configure({.level = log::Level::kInfo, .format = log::Format::kText, .fd = slave});
  log::error("on a terminal");
  log::flush();
  EXPECT_EQ(after_time(read_terminal()), " \x1b[31mERROR\x1b[0m on a terminal\n");

  setenv("NO_COLOR", "1", 1);
  log::configure({.level = log::Level::kInfo, .format = log::Format::kText, .fd = slave});
  log::error("NO_COLOR is set");
  log::flush();
  EXPECT_EQ(after_time(read_terminal()), " ERROR NO_COLOR is set\n");

  unsetenv("NO_COLOR");  // JSON is never coloured
  log::configure({.level = log::Level::kInfo, .format = log::Format::kJson, .fd = slave});
  log::error("json");
  log::flush();
  EXPECT_THAT(read_terminal(), EndsWith(R"(,"level":"error","msg":"json"})"
                                        "\n"));

  log::configure({});
  ::close(slave);
  ::close(master);
  saved_term.empty() ? unsetenv("TERM") : setenv("TERM", saved_term.c_str(), 1);
  if (!saved_no_color.empty()) setenv("NO_COLOR", saved_no_color.c_str(), 1);
}

// ---- The queue --------------------------------------------------------------------------------

TEST_F(LogTest, AFullQueueDropsAndCountsLinesAndTheWriterReportsThemOnce) {
  auto gate = gate_;
  log::configure({.level = log::Level::kInfo,
                  .format = log::Format::kText,
                  .sink =
                      [lines = lines_, gate](std::string_view l) {
                        gate->pass();
                        lines->add(l);
                      },
                  .queue_bytes = 2048});
  uint64_t before = log::dropped();
  log::info("first");
  gate->wait_entered();  // the writer holds "first" and is stuck in the sink
  constexpr int kFillers = 200;
  const std::string pad(60, 'x');
  for (int i = 0; i < kFillers; ++i) log::info("filler", {{"i", i}, {"pad", pad}});
  uint64_t lost = log::dropped() - before;
  EXPECT_GT(lost, 0u);
  EXPECT_LT(lost, static_cast<uint64_t>(kFillers));

  gate->open();
  auto got = lines();
  std::size_t kept = kFillers - lost;
  ASSERT_EQ(got.size(), 1 + kept + 1);
  EXPECT_EQ(after_time(got[0]), " INFO  first");
  for (std::size_t i = 0; i < kept; ++i)  // the first ones queued, in order
    EXPECT_EQ(after_time(got[1 + i]), " INFO  filler i=" + std::to_string(i) + " pad=" + pad);
  EXPECT_EQ(after_time(got.back()), " WARN  log lines dropped count=" + std::to_string(lost));

  // Caught up: nothing more is lost or reported.
  log::info("after");
  got = lines();
  ASSERT_EQ(got.size(), 1 + kept + 2);
  EXPECT_EQ(after_time(got.back()), " INFO  after");
  EXPECT_EQ(log::dropped() - before, lost);
}

TEST_F(LogTest, ATaskLoggingIsNotHeldUpByAStuckOutput) {
  auto gate = gate_;
  log::configure({.level = log::Level::kInfo,
                  .format = log::Format::kJson,
                  .sink =
                      [lines = lines_, gate](std::string_view l) {
                        gate->pass();
                        lines->add(l);
                      },
                  .queue_bytes = 4096});
  uint64_t before = log::dropped();
  // Sysmon's warnings about a task that held its processor go through the logger too.
  uint64_t warnings_before = weft::runtime_stats().sysmon_warnings_total;
  log::info("first");
  gate->wait_entered();

  constexpr int kTasks = 4, kEach = 2000;
  in_runtime([&] {
    weft::WaitGroup wg;
    wg.add(kTasks);
    for (int t = 0; t < kTasks; ++t) {
      weft::go([&wg, t] {
        for (int i = 0; i < kEach; ++i) {
          log::info("from a task", {{"task", t}, {"i", i}});
          if (i % 100 == 0) weft::yield();  // no stuck-processor warnings, as a rule
        }
        wg.done();
      });
    }
    wg.wait();  // a task stuck behind the output would never get here (the watchdog fails it)
  });
  // Every task finished while the sink still held the first line.
  EXPECT_TRUE(lines_->get().empty());
  EXPECT_GT(log::dropped() - before, 0u);

  gate->open();
  auto got = lines();
  ASSERT_GE(got.size(), 3u);
  uint64_t warnings = weft::runtime_stats().sysmon_warnings_total - warnings_before;
  EXPECT_EQ(got.size(), 2 + kTasks * kEach + warnings - (log::dropped() - before));
  EXPECT_THAT(got.back(), HasSubstr(R"("msg":"log lines dropped")"));
}

TEST_F(LogTest, LinesFromManyTasksAllArriveWholeAndInTheirOrder) {
  capture(log::Format::kJson, log::Level::kInfo, std::size_t{16} << 20);
  uint64_t before = log::dropped();
  constexpr int kTasks = 16, kEach = 400;
  const std::string pad(100, 'p');
  in_runtime([&] {
    weft::WaitGroup wg;
    wg.add(kTasks);
    for (int t = 0; t < kTasks; ++t) {
      weft::go([&wg, &pad, t] {
        for (int i = 0; i < kEach; ++i) {
          log::info("line", {{"task", t}, {"seq", i}, {"pad", pad}});
          if (i % 50 == 0) weft::yield();
        }
        wg.done();
      });
    }
    wg.wait();
  });
  auto got = lines();  // flush() waits for all of them
  EXPECT_EQ(log::dropped() - before, 0u);
  ASSERT_EQ(got.size(), static_cast<std::size_t>(kTasks * kEach));
  std::vector<int> next(kTasks, 0);
  for (const std::string& line : got) {
    json j = json::parse(line, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << line;
    ASSERT_EQ(j.size(), 6u) << line;
    EXPECT_EQ(j["msg"], "line");
    EXPECT_EQ(j["pad"], pad);
    int t = j["task"].get<int>();
    ASSERT_TRUE(t >= 0 && t < kTasks) << line;
    EXPECT_EQ(j["seq"].get<int>(), next[t]) << line;
    next[t] = j["seq"].get<int>() + 1;
  }
}

TEST_F(LogTest, FlushWithNothingQueuedReturns) {
  capture(log::Format::kText);
  log::flush();
  log::flush();
  EXPECT_TRUE(lines().empty());
}

// ---- HTTP -------------------------------------------------------------------------------------

TEST_F(LogTest, AccessLogWithoutASinkSendsTheLoggerAJsonRecord) {
  capture(log::Format::kJson, log::Level::kInfo);
  in_runtime([] {
    TestServer s(http::chain(
        [](http::ResponseWriter& w, http::Request& r) {
          if (r.path() == "/made") {
            w.write_header(201);
            (void)w.write("hello");
          }
        },
        http::access_log(), http::request_id()));
    auto addr = s.start();
    RawClient c(addr);
    ASSERT_TRUE(c.send(get_request("/made?q=1",
                                   "Referer: http://example.com/from\r\n"
                                   "User-Agent: tester/1.0 \"quoted\"\r\n")));
    ASSERT_TRUE(c.read_response());
    ASSERT_TRUE(c.send("HEAD /made HTTP/1.0\r\n\r\n"));
    ASSERT_TRUE(c.read_response("HEAD"));
  });
  auto got = lines();
  ASSERT_EQ(got.size(), 2u);

  json first = json::parse(got[0]);
  EXPECT_EQ(first["level"], "info");
  EXPECT_EQ(first["msg"], "request");
  EXPECT_THAT(first["remote"].get<std::string>(), StartsWith("127.0.0.1:"));
  EXPECT_EQ(first["method"], "GET");
  EXPECT_EQ(first["target"], "/made?q=1");
  EXPECT_EQ(first["proto"], "HTTP/1.1");
  EXPECT_EQ(first["status"], 201);
  EXPECT_EQ(first["bytes"], 5);
  EXPECT_TRUE(first["duration_ms"].is_number());
  EXPECT_GE(first["duration_ms"].get<double>(), 0.0);
  EXPECT_EQ(first["referer"], "http://example.com/from");
  EXPECT_EQ(first["user_agent"], "tester/1.0 \"quoted\"");
  EXPECT_TRUE(std::regex_match(first["request_id"].get<std::string>(), std::regex("[0-9a-f]{32}")))
      << got[0];
  // The fields in their documented order.
  EXPECT_TRUE(std::regex_search(got[0], std::regex(R"("msg":"request","remote":"[^"]+",)"
                                                   R"("method":"GET","target":"/made\?q=1",)"
                                                   R"("proto":"HTTP/1.1","status":201,"bytes":5,)"
                                                   R"("duration_ms":[0-9.e+-]+,"referer":)")))
      << got[0];

  // Without Referer and User-Agent, those fields are left out.
  json second = json::parse(got[1]);
  EXPECT_EQ(second["method"], "HEAD");
  EXPECT_EQ(second["proto"], "HTTP/1.0");
  EXPECT_EQ(second["status"], 201);
  EXPECT_EQ(second["bytes"], 0);
  EXPECT_FALSE(second.contains("referer"));
  EXPECT_FALSE(second.contains("user_agent"));
}

TEST_F(LogTest, AccessLogIsSkippedBelowTheLevel) {
  capture(log::Format::kJson, log::Level::kWarn);
  in_runtime([] {
    TestServer s(http::access_log()([](http::ResponseWriter& w, http::Request&) {}));
    auto addr = s.start();
    ASSERT_TRUE(weft_test::roundtrip(addr, get_request("/quiet")));
  });
  EXPECT_TRUE(lines().empty());
}

TEST_F(LogTest, RecoverAndTheServerReportExceptionsToTheLoggerWithoutASink) {
  capture(log::Format::kJson, log::Level::kInfo);
  in_runtime([] {
    auto boom = [](http::ResponseWriter&, http::Request&) { throw std::runtime_error("boom"); };
    TestServer recovered(http::recover()(boom));
    TestServer bare(boom);
    auto a = recovered.start();
    auto b = bare.start();
    auto r = weft_test::roundtrip(a, get_request("/recovered"));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 500);
    r = weft_test::roundtrip(b, get_request("/bare"));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 500);
  });
  auto got = lines();
  ASSERT_EQ(got.size(), 2u);
  for (const std::string& line : got) {
    json j = json::parse(line);
    EXPECT_EQ(j["level"], "error");
    EXPECT_EQ(j["msg"], "handler threw");
    EXPECT_EQ(j["error"], "boom");
    EXPECT_EQ(j["method"], "GET");
    EXPECT_THAT(j["remote"].get<std::string>(), StartsWith("127.0.0.1:"));
  }
  EXPECT_EQ(json::parse(got[0])["target"], "/recovered");
  EXPECT_EQ(json::parse(got[1])["target"], "/bare");
}

}  // namespace
