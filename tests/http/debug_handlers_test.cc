// debug_tasks_handler and debug_vars_handler over real loopback connections: the task dump
// shows a task parked on a channel, the vars page is one valid JSON object (checked by
// python3's json module) with the runtime's statistics and the published variables, a
// published function that fails gives 500, and methods other than GET and HEAD get 405.
#include "weft/http/debug_handlers.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "http/http_test_util.h"

namespace {

namespace http = weft::http;
using ::testing::HasSubstr;
using weft_test::get_request;
using weft_test::roundtrip;
using weft_test::TestServer;

// ParkedTasks starts n tasks that each wait to receive from one channel, and lets them go
// (closes the channel and waits for them) when it goes away.
class ParkedTasks {
 public:
  explicit ParkedTasks(int n) {
    ids_ = std::vector<std::atomic<uint64_t>>(n);
    done_.add(n);
    for (int i = 0; i < n; ++i) {
      weft::go([this, i, ch = ch_] {
        ids_[i].store(weft::task_id());
        (void)ch.recv();
        done_.done();
      });
    }
  }
  ~ParkedTasks() {
    ch_.close();
    done_.wait();
  }
  // The id of task i, 0 until it has started.
  uint64_t id(int i) const { return ids_[i].load(); }

 private:
  weft::Chan<int> ch_{0};
  weft::WaitGroup done_;
  std::vector<std::atomic<uint64_t>> ids_;
};

// Fetches url's body from addr until pred holds for it, for at most 5 s; the last body.
template <class Pred>
std::string poll_until(const std::string& addr, const std::string& target, Pred pred) {
  std::string body;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  do {
    auto r = roundtrip(addr, get_request(target));
    body = r ? r->body : "";
    if (pred(body)) break;
    weft::sleep_for(std::chrono::milliseconds(2));
  } while (std::chrono::steady_clock::now() < deadline);
  return body;
}

// Runs python3 on script with the file holding text as its first argument (then args); its
// standard output, or nullopt when it fails (invalid JSON makes json.load raise). Call it
// outside weft::run: it blocks the thread.
std::optional<std::string> python(const std::string& script, const std::string& text,
                                  const std::vector<std::string>& args = {}) {
  char path[] = "/tmp/weft_debug_vars_XXXXXX";
  int fd = ::mkstemp(path);
  if (fd < 0) return std::nullopt;
  FILE* f = ::fdopen(fd, "w");
  std::fwrite(text.data(), 1, text.size(), f);
  std::fclose(f);
  std::string cmd = "python3 -c '" + script + "' " + path;
  for (const std::string& a : args) cmd += " '" + a + "'";  // args hold no single quote
  std::optional<std::string> out;
  if (FILE* p = ::popen(cmd.c_str(), "r")) {
    std::string s;
    char buf[4096];
    while (std::size_t n = std::fread(buf, 1, sizeof buf, p)) s.append(buf, n);
    if (::pclose(p) == 0) out = s;
  }
  ::unlink(path);
  return out;
}

TEST(DebugTasks, ListsATaskParkedOnAChannelWithItsWaitReason) {
  weft::run([&] {
    ParkedTasks parked(1);
    TestServer s(http::debug_tasks_handler());
    auto addr = s.start();
    ASSERT_FALSE(addr.empty());

    std::string want;
    std::string body = poll_until(addr, "/debug/tasks", [&](const std::string& b) {
      want = "task " + std::to_string(parked.id(0)) + " [waiting, chan receive, ";
      return parked.id(0) != 0 && b.find(want) != std::string::npos;
    });
    EXPECT_THAT(body, HasSubstr(want));
    EXPECT_THAT(body, HasSubstr("debug_handlers_test.cc"));  // the creation site

    auto r = roundtrip(addr, get_request("/debug/tasks"));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->header("Content-Type"), "text/plain; charset=utf-8");
    EXPECT_EQ(r->header("Cache-Control"), "no-store");
    EXPECT_THAT(r->body, ::testing::StartsWith("weft: "));

    auto head = roundtrip(addr, "HEAD /debug/tasks HTTP/1.1\r\nHost: x\r\n\r\n", "HEAD");
    ASSERT_TRUE(head);
    EXPECT_EQ(head->status, 200);
    EXPECT_FALSE(head->header("Content-Length").empty());
    EXPECT_TRUE(head->body.empty());

    auto post =
        roundtrip(addr, "POST /debug/tasks HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
    ASSERT_TRUE(post);
    EXPECT_EQ(post->status, 405);
    EXPECT_EQ(post->header("Allow"), "GET, HEAD");
  });
}

// Prints, one per line: whether the top-level names are sorted, the names as JSON,
// runtime.tasks_live, runtime.tasks_parked["chan receive"], the variable named argv[2] as JSON
// (null when absent), and whether cmdline is a non-empty array of strings.
constexpr const char* kVarsScript =
    "import json, sys\n"
    "d = json.load(open(sys.argv[1], encoding=\"utf-8\"))\n"
    "print(list(d) == sorted(d))\n"
    "print(json.dumps(list(d)))\n"
    "print(d[\"runtime\"][\"tasks_live\"])\n"
    "print(d[\"runtime\"][\"tasks_parked\"][\"chan receive\"])\n"
    "print(json.dumps(d.get(sys.argv[2]), sort_keys=True))\n"
    "print(all(isinstance(a, str) for a in d[\"cmdline\"]) and len(d[\"cmdline\"]) > 0)\n";

TEST(DebugVars, ServesTheRuntimeAndPublishedVariablesAsOneJsonObject) {
  // A name that needs escaping (quote, backslash, control characters, UTF-8), and a value
  // with a string that does too.
  const std::string odd_name = "debug_handlers_test.z \"quoted\" \\ \t\x01 \xc3\xa9";
  http::publish_var(odd_name, [] { return std::string(R"({"b": [1, 2.5, "x\ny"], "a": null})"); });
  http::publish_var("debug_handlers_test.a_count", [] { return std::string("42"); });
  constexpr int kParked = 3;
  std::string body, content_type, cache_control;
  weft::run([&] {
    ParkedTasks parked(kParked);
    TestServer s(http::debug_vars_handler());
    auto addr = s.start();
    ASSERT_FALSE(addr.empty());
    // Wait until every parked task is known to be parked.
    (void)poll_until(addr, "/debug/vars", [&](const std::string& b) {
      auto pos = b.find("\"chan receive\":");
      return pos != std::string::npos &&
             std::atoi(b.c_str() + pos + sizeof("\"chan receive\":") - 1) >= kParked;
    });
    auto r = roundtrip(addr, get_request("/debug/vars"));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    body = r->body;
    content_type = r->header("Content-Type");
    cache_control = r->header("Cache-Control");

    auto post =
        roundtrip(addr, "POST /debug/vars HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
    ASSERT_TRUE(post);
    EXPECT_EQ(post->status, 405);
    EXPECT_EQ(post->header("Allow"), "GET, HEAD");
  });
  EXPECT_EQ(content_type, "application/json; charset=utf-8");
  EXPECT_EQ(cache_control, "no-store");
  // The name's escaped form, as a JSON writer must write it.
  EXPECT_THAT(body, HasSubstr(R"("debug_handlers_test.z \"quoted\" \\ \t\u0001 )"
                              "\xc3\xa9\": "));

  auto out = python(kVarsScript, body, {odd_name});
  ASSERT_TRUE(out) << "not valid JSON:\n" << body;
  std::vector<std::string> lines;
  for (std::size_t pos = 0; pos < out->size();) {
    std::size_t end = out->find('\n', pos);
    lines.push_back(out->substr(pos, end - pos));
    pos = end == std::string::npos ? out->size() : end + 1;
  }
  ASSERT_EQ(lines.size(), 6u) << *out;
  EXPECT_EQ(lines[0], "True") << lines[1];  // sorted by name, the built-in members included
  EXPECT_THAT(lines[1], ::testing::StartsWith(R"(["cmdline", )"));
  EXPECT_THAT(lines[1], HasSubstr(R"("debug_handlers_test.a_count", )"));
  EXPECT_THAT(lines[1], HasSubstr(R"("debug_handlers_test.z \"quoted\" \\ \t\u0001 \u00e9", )"));
  EXPECT_THAT(lines[1], ::testing::EndsWith(R"("process", "runtime"])"));
  EXPECT_GE(std::stoull(lines[2]), static_cast<unsigned long long>(kParked + 1));
  EXPECT_GE(std::stoull(lines[3]), static_cast<unsigned long long>(kParked));
  EXPECT_EQ(lines[4], R"({"a": null, "b": [1, 2.5, "x\ny"]})");
  EXPECT_EQ(lines[5], "True");
}

TEST(DebugVars, APublishedFunctionThatFailsGives500) {
  static std::atomic<int> mode{0};  // 0: fine, 1: throws, 2: returns text that is not JSON
  http::publish_var("debug_handlers_test.flaky", [] {
    if (mode.load() == 1) throw std::runtime_error("backend unreachable");
    if (mode.load() == 2) return std::string("{not json");
    return std::string("true");
  });
  weft::run([&] {
    TestServer s(http::debug_vars_handler());
    auto addr = s.start();
    ASSERT_FALSE(addr.empty());

    mode = 1;
    auto thrown = roundtrip(addr, get_request("/debug/vars"));
    ASSERT_TRUE(thrown);
    EXPECT_EQ(thrown->status, 500);
    EXPECT_THAT(thrown->body, HasSubstr("\"debug_handlers_test.flaky\""));
    EXPECT_THAT(thrown->body, HasSubstr("backend unreachable"));

    mode = 2;
    auto invalid = roundtrip(addr, get_request("/debug/vars"));
    ASSERT_TRUE(invalid);
    EXPECT_EQ(invalid->status, 500);
    EXPECT_THAT(invalid->body, HasSubstr("not one JSON value"));

    mode = 0;  // the server carries on
    auto fine = roundtrip(addr, get_request("/debug/vars"));
    ASSERT_TRUE(fine);
    EXPECT_EQ(fine->status, 200);
    EXPECT_THAT(fine->body, HasSubstr("\"debug_handlers_test.flaky\": true"));
  });
}

TEST(DebugVars, PublishVarRefusesBadNames) {
  auto value = [] { return std::string("1"); };
  http::publish_var("debug_handlers_test.once", value);
  EXPECT_THROW(http::publish_var("debug_handlers_test.once", value), std::invalid_argument);
  EXPECT_THROW(http::publish_var("", value), std::invalid_argument);
  EXPECT_THROW(http::publish_var("cmdline", value), std::invalid_argument);
  EXPECT_THROW(http::publish_var("process", value), std::invalid_argument);
  EXPECT_THROW(http::publish_var("runtime", value), std::invalid_argument);
  EXPECT_THROW(http::publish_var("debug_handlers_test.\xff", value), std::invalid_argument);
  EXPECT_THROW(http::publish_var("debug_handlers_test.no_function", nullptr),
               std::invalid_argument);
}

}  // namespace
