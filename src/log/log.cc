// weft::log: records formatted as text or JSON lines in the caller, a bounded queue of bytes
// under a short lock, and the one writer thread that empties it into a file descriptor or a
// sink.
#include "weft/log.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <utility>

#include "runtime/internal.h"

namespace weft::log {
namespace {

// ---- Formatting -----------------------------------------------------------------------------

// How a record is written: the format, and whether the text format colours the level.
struct Style {
  Format format = Format::kText;
  bool color = false;
};

constexpr std::string_view kTextLevels[] = {"DEBUG", "INFO", "WARN", "ERROR"};
constexpr std::string_view kJsonLevels[] = {"debug", "info", "warn", "error"};
// Cyan, green, yellow, red; the level word only.
constexpr std::string_view kLevelColors[] = {"\x1b[36m", "\x1b[32m", "\x1b[33m", "\x1b[31m"};
constexpr std::string_view kColorReset = "\x1b[0m";
constexpr std::string_view kReplacementCharacter = "\xEF\xBF\xBD";  // U+FFFD

std::size_t level_index(Level level) noexcept {
  auto i = static_cast<std::size_t>(level);
  return i < std::size(kTextLevels) ? i : std::size(kTextLevels) - 1;
}

// Length of the well-formed UTF-8 sequence of two to four bytes that s starts with, or 0 when
// it starts with none (a stray continuation byte, an overlong form, a surrogate, a code point
// past U+10FFFF, a truncated sequence).
std::size_t utf8_sequence_length(std::string_view s) noexcept {
  auto byte = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
  auto continuation = [&](std::size_t i, unsigned char lo = 0x80, unsigned char hi = 0xBF) {
    return byte(i) >= lo && byte(i) <= hi;
  };
  unsigned char lead = byte(0);
  if (lead >= 0xC2 && lead <= 0xDF) return s.size() >= 2 && continuation(1) ? 2 : 0;
  if (lead >= 0xE0 && lead <= 0xEF) {
    if (s.size() < 3) return 0;
    unsigned char lo = lead == 0xE0 ? 0xA0 : 0x80;  // no overlong forms
    unsigned char hi = lead == 0xED ? 0x9F : 0xBF;  // no surrogates
    return continuation(1, lo, hi) && continuation(2) ? 3 : 0;
  }
  if (lead >= 0xF0 && lead <= 0xF4) {
    if (s.size() < 4) return 0;
    unsigned char lo = lead == 0xF0 ? 0x90 : 0x80;  // no overlong forms
    unsigned char hi = lead == 0xF4 ? 0x8F : 0xBF;  // nothing past U+10FFFF
    return continuation(1, lo, hi) && continuation(2) && continuation(3) ? 4 : 0;
  }
  return 0;
}

// True for a byte that goes out as it is: printable ASCII, except '"' and '\\' inside quotes.
bool plain_byte(unsigned char c, bool quoted) noexcept {
  return c >= 0x20 && c < 0x7f && !(quoted && (c == '"' || c == '\\'));
}

// Appends s with control characters escaped as JSON escapes them (\n, \r, \t, \b, \f, \u00XX;
// DEL too), each byte of invalid UTF-8 replaced by U+FFFD and, when quoted (a JSON string or a
// quoted text value), '"' and '\\' escaped with a backslash. The result never holds a newline.
void append_escaped(std::string& out, std::string_view s, bool quoted) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::size_t i = 0;
  while (i < s.size()) {
    std::size_t run = i;
    while (run < s.size() && plain_byte(static_cast<unsigned char>(s[run]), quoted)) ++run;
    out.append(s.data() + i, run - i);
    i = run;
    if (i == s.size()) break;
    auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      std::size_t n = utf8_sequence_length(s.substr(i));
      if (n == 0) {
        out.append(kReplacementCharacter);
        n = 1;
      } else {
        out.append(s.substr(i, n));
      }
      i += n;
      continue;
    }
    switch (c) {
      case '"':
        out.append("\\\"");
        break;
      case '\\':
        out.append("\\\\");
        break;
      case '\n':
        out.append("\\n");
        break;
      case '\r':
        out.append("\\r");
        break;
      case '\t':
        out.append("\\t");
        break;
      case '\b':
        out.append("\\b");
        break;
      case '\f':
        out.append("\\f");
        break;
      default:
        out.append("\\u00");
        out.push_back(kHex[c >> 4]);
        out.push_back(kHex[c & 15]);
    }
    ++i;
  }
}

// True when a text value must be quoted to read back as one value: it is empty, or holds a
// space, a control character, '=' or '"'.
bool text_needs_quotes(std::string_view s) noexcept {
  if (s.empty()) return true;
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (c <= 0x20 || c == 0x7f || c == '=' || c == '"') return true;
  }
  return false;
}

// Appends a text key with every byte that would end it (space, control, '=', '"', invalid
// UTF-8) replaced by '_'; an empty key is "_".
void append_text_key(std::string& out, std::string_view key) {
  if (key.empty()) {
    out.push_back('_');
    return;
  }
  auto ends_key = [](unsigned char c) { return c <= 0x20 || c == 0x7f || c == '=' || c == '"'; };
  std::size_t i = 0;
  while (i < key.size()) {
    std::size_t run = i;
    while (run < key.size() && static_cast<unsigned char>(key[run]) < 0x80 &&
           !ends_key(static_cast<unsigned char>(key[run])))
      ++run;
    out.append(key.data() + i, run - i);
    i = run;
    if (i == key.size()) break;
    std::size_t n =
        static_cast<unsigned char>(key[i]) >= 0x80 ? utf8_sequence_length(key.substr(i)) : 0;
    if (n == 0) {
      out.push_back('_');
      n = 1;
    } else {
      out.append(key.substr(i, n));
    }
    i += n;
  }
}

// Appends a number field's value; a NaN or an infinity is "NaN", "+Inf" or "-Inf", quoted
// when quote_non_finite (JSON has no such numbers).
void append_number(std::string& out, const Field& f, bool quote_non_finite) {
  char buf[32];
  switch (f.kind()) {
    case Field::Kind::kInt:
      out.append(buf, std::to_chars(buf, buf + sizeof buf, f.int_value()).ptr);
      return;
    case Field::Kind::kUint:
      out.append(buf, std::to_chars(buf, buf + sizeof buf, f.uint_value()).ptr);
      return;
    default:
      break;
  }
  double d = f.double_value();
  if (std::isfinite(d)) {
    // The shortest digits that read back as d, in exponent form only for very large or small
    // magnitudes (fmt's "{}"; std::to_chars would write 1e+10 for ten billion).
    out.append(buf, fmt::format_to_n(buf, sizeof buf, "{}", d).out);
    return;
  }
  std::string_view word = std::isnan(d) ? "NaN" : d > 0 ? "+Inf" : "-Inf";
  if (quote_non_finite) out.push_back('"');
  out.append(word);
  if (quote_non_finite) out.push_back('"');
}

void append_value(std::string& out, const Field& f, Format format) {
  switch (f.kind()) {
    case Field::Kind::kString: {
      bool quoted = format == Format::kJson || text_needs_quotes(f.string_value());
      if (quoted) out.push_back('"');
      append_escaped(out, f.string_value(), quoted);
      if (quoted) out.push_back('"');
      return;
    }
    case Field::Kind::kBool:
      out.append(f.bool_value() ? "true" : "false");
      return;
    default:
      append_number(out, f, format == Format::kJson);
  }
}

// Appends "2026-11-26T17:00:00.123Z" for t; the part up to the second is formatted once per
// second per thread.
void append_time(std::string& out, const timespec& t) {
  thread_local time_t cached_second = -1;
  thread_local char cached[32];
  thread_local std::size_t cached_size = 0;
  if (t.tv_sec != cached_second) {
    struct tm tm;
    gmtime_r(&t.tv_sec, &tm);
    auto r = fmt::format_to_n(cached, sizeof cached, "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
                              tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                              tm.tm_sec);
    cached_size = std::min(r.size, sizeof cached);
    cached_second = t.tv_sec;
  }
  out.append(cached, cached_size);
  auto ms = static_cast<int>(t.tv_nsec / 1000000);
  char tail[5] = {'.', static_cast<char>('0' + ms / 100), static_cast<char>('0' + ms / 10 % 10),
                  static_cast<char>('0' + ms % 10), 'Z'};
  out.append(tail, sizeof tail);
}

// Appends one record, ending in a newline and holding no other.
void format_record(std::string& out, Style style, Level level, const timespec& time,
                   std::string_view msg, std::span<const Field> fields) {
  std::size_t li = level_index(level);
  if (style.format == Format::kJson) {
    out.append("{\"time\":\"");
    append_time(out, time);
    out.append("\",\"level\":\"").append(kJsonLevels[li]).append("\",\"msg\":\"");
    append_escaped(out, msg, true);
    out.push_back('"');
    for (const Field& f : fields) {
      out.append(",\"");
      append_escaped(out, f.key(), true);
      out.append("\":");
      append_value(out, f, Format::kJson);
    }
    out.append("}\n");
    return;
  }
  append_time(out, time);
  out.push_back(' ');
  std::string_view name = kTextLevels[li];
  if (style.color) {
    out.append(kLevelColors[li]).append(name).append(kColorReset);
  } else {
    out.append(name);
  }
  out.append(6 - name.size(), ' ');  // the messages line up
  append_escaped(out, msg, false);
  for (const Field& f : fields) {
    out.push_back(' ');
    append_text_key(out, f.key());
    out.push_back('=');
    append_value(out, f, Format::kText);
  }
  out.push_back('\n');
}

// ---- Settings from the environment ------------------------------------------------------------

std::optional<Level> level_from_env() {
  const char* v = std::getenv("WEFT_LOG_LEVEL");
  if (!v) return std::nullopt;
  if (strcasecmp(v, "debug") == 0) return Level::kDebug;
  if (strcasecmp(v, "info") == 0) return Level::kInfo;
  if (strcasecmp(v, "warn") == 0 || strcasecmp(v, "warning") == 0) return Level::kWarn;
  if (strcasecmp(v, "error") == 0) return Level::kError;
  return std::nullopt;
}

std::optional<Format> format_from_env() {
  const char* v = std::getenv("WEFT_LOG_FORMAT");
  if (!v) return std::nullopt;
  if (strcasecmp(v, "text") == 0) return Format::kText;
  if (strcasecmp(v, "json") == 0) return Format::kJson;
  return std::nullopt;
}

// True when text written to fd should be coloured: a terminal, and neither NO_COLOR
// (no-color.org) nor TERM=dumb says otherwise.
bool wants_color(int fd) {
  if (!isatty(fd)) return false;
  const char* no_color = std::getenv("NO_COLOR");
  if (no_color && *no_color) return false;
  const char* term = std::getenv("TERM");
  return !(term && std::string_view(term) == "dumb");
}

// ---- Output -----------------------------------------------------------------------------------

// Where the writer sends lines; replaced whole by configure(), never changed in place.
struct Output {
  int fd = 2;
  Sink sink;
};

// Writes all of data to fd, waiting for a non-blocking fd to take more. False when the output
// failed (the rest is lost).
bool write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n > 0) {
      data.remove_prefix(static_cast<std::size_t>(n));
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      pollfd p{fd, POLLOUT, 0};
      if (::poll(&p, 1, -1) < 0 && errno != EINTR) return false;
    } else {
      return false;
    }
  }
  return true;
}

// Sends lines (each ending in a newline) to out: in one write to the fd, or one sink call per
// line without its newline. A sink that throws loses its line, not the others.
void emit(const Output& out, std::string_view lines) {
  if (!out.sink) {
    (void)write_all(out.fd, lines);
    return;
  }
  while (!lines.empty()) {
    std::size_t end = lines.find('\n');
    std::string_view line = lines.substr(0, end);
    lines.remove_prefix(end == std::string_view::npos ? lines.size() : end + 1);
    try {
      out.sink(line);
    } catch (...) {
    }
  }
}

// ---- The logger -------------------------------------------------------------------------------

// Logger is the process's one logger: its settings, its queue and its writer thread. It is
// never destroyed, so code running during static destruction can still log.
class Logger {
 public:
  Logger() {
    apply(Options{});
    // Lines queued by a program that returns from main or calls exit() still go out.
    std::atexit([] { instance().flush_until(std::chrono::steady_clock::now() + kExitWait); });
    pthread_atfork([] { instance().mu_.lock(); }, [] { instance().mu_.unlock(); },
                   [] { instance().restart_in_child(); });
  }

  static Logger& instance() {
    static Logger* const logger = new Logger();
    return *logger;
  }

  bool enabled(Level level) const noexcept {
    return static_cast<uint8_t>(level) >= min_level_.load(std::memory_order_relaxed);
  }

  Style style() const noexcept {
    return {static_cast<Format>(format_.load(std::memory_order_relaxed)),
            color_.load(std::memory_order_relaxed)};
  }

  // Waits for the lines queued so far, then switches to the options' settings.
  void configure(Options options) {
    flush_until(std::nullopt);
    apply(std::move(options));
  }

  // Queues one formatted line (ending in its newline), or drops and counts it when the queue
  // is full. Holds the lock only to copy the line in; never waits for the writer.
  void enqueue(std::string_view line) {
    std::unique_lock<std::mutex> lock(mu_);
    if (!pending_.empty() && pending_.size() + line.size() > capacity_) {
      ++unreported_drops_;
      dropped_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    pending_.append(line);
    ++queued_;
    if (!writer_started_) start_writer();
    bool wake = writer_idle_;
    writer_idle_ = false;
    lock.unlock();
    if (wake) work_.notify_one();
  }

  // Counts a record lost before it reached the queue (no memory to format it).
  void count_drop() noexcept {
    std::unique_lock<std::mutex> lock(mu_);
    ++unreported_drops_;
    dropped_.fetch_add(1, std::memory_order_relaxed);
    bool wake = writer_idle_;  // so the loss is reported without waiting for another line
    writer_idle_ = false;
    lock.unlock();
    if (wake) work_.notify_one();
  }

  // Waits until every line queued before the call is written, or until deadline. Returns at
  // once on the writer thread (a sink that flushes would wait for itself).
  void flush_until(std::optional<std::chrono::steady_clock::time_point> deadline) {
    std::unique_lock<std::mutex> lock(mu_);
    if (!writer_started_ || std::this_thread::get_id() == writer_id_) return;
    uint64_t target = queued_;
    auto done = [&] { return written_ >= target; };
    ++flush_waiters_;
    if (deadline) {
      written_cv_.wait_until(lock, *deadline, done);
    } else {
      written_cv_.wait(lock, done);
    }
    --flush_waiters_;
  }

  uint64_t dropped() const noexcept { return dropped_.load(std::memory_order_relaxed); }

 private:
  static constexpr auto kExitWait = std::chrono::seconds(3);
  static constexpr auto kGatherTime = std::chrono::microseconds(200);

  // Resolves options against the environment and the defaults, and makes them current.
  void apply(Options options) {
    Level level = options.level.value_or(level_from_env().value_or(Level::kInfo));
    Format format = options.format.value_or(format_from_env().value_or(Format::kText));
    bool color = format == Format::kText && !options.sink && wants_color(options.fd);
    auto output = std::make_shared<const Output>(Output{options.fd, std::move(options.sink)});
    {
      std::lock_guard<std::mutex> lock(mu_);
      output_ = std::move(output);
      capacity_ = options.queue_bytes;
    }
    min_level_.store(static_cast<uint8_t>(level), std::memory_order_relaxed);
    format_.store(static_cast<uint8_t>(format), std::memory_order_relaxed);
    color_.store(color, std::memory_order_relaxed);
  }

  // After fork(), in the child: it has no writer thread (and its wait queues may name threads it
  // does not have). The parent writes the lines queued before the fork; the child starts its
  // own writer on its first line. REQUIRES: mu_ held by the calling thread (taken before fork).
  void restart_in_child() {
    new (&work_) std::condition_variable();
    new (&written_cv_) std::condition_variable();
    pending_.clear();
    written_ = queued_;
    unreported_drops_ = 0;
    flush_waiters_ = 0;
    if (writer_started_) weft::detail::add_service_threads(-1);  // the parent's, not ours
    writer_started_ = false;
    writer_idle_ = false;
    writer_id_ = std::thread::id();
    mu_.unlock();
  }

  // Starts the writer thread with asynchronous signals blocked (they belong to the program's
  // own threads). When no thread can be made, the lines wait and the next line tries again.
  // REQUIRES: mu_ held.
  void start_writer() {
    sigset_t blocked, saved;
    sigfillset(&blocked);
    for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGABRT, SIGSYS})
      sigdelset(&blocked, sig);
    pthread_sigmask(SIG_SETMASK, &blocked, &saved);
    try {
      // Counted first: deadlock detection must never see the thread without knowing it.
      weft::detail::add_service_threads(1);
      std::thread([this] { run_writer(); }).detach();
      writer_started_ = true;
    } catch (const std::system_error&) {
      weft::detail::add_service_threads(-1);
    }
    pthread_sigmask(SIG_SETMASK, &saved, nullptr);
  }

  // The writer thread: takes everything queued at once, writes it outside the lock, reports
  // drops after the lines that were queued before them, and tells flush() how far it got.
  void run_writer() {
    pthread_setname_np(pthread_self(), "weft-log");
    std::string batch, report;
    std::unique_lock<std::mutex> lock(mu_);
    writer_id_ = std::this_thread::get_id();
    for (;;) {
      bool waited = false;
      while (pending_.empty() && unreported_drops_ == 0) {
        writer_idle_ = true;
        work_.wait(lock);
        waited = true;
      }
      writer_idle_ = false;
      if (waited && flush_waiters_ == 0) {
        // Woken by a first line: let the lines after it gather, so that a burst costs its
        // loggers one wake-up (a system call) instead of one each.
        lock.unlock();
        std::this_thread::sleep_for(kGatherTime);
        lock.lock();
      }
      batch.clear();
      batch.swap(pending_);
      uint64_t through = queued_;
      uint64_t drops = std::exchange(unreported_drops_, 0);
      std::shared_ptr<const Output> output = output_;
      std::size_t keep = std::max<std::size_t>(capacity_, 64 * 1024);
      lock.unlock();

      emit(*output, batch);
      if (drops > 0 && enabled(Level::kWarn)) {
        report.clear();
        timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        Field count[] = {{"count", drops}};
        format_record(report, style(), Level::kWarn, now, "log lines dropped", count);
        emit(*output, report);
      }
      if (batch.capacity() > 2 * keep) std::string().swap(batch);  // after one huge line
      output.reset();  // a replaced sink is destroyed here, not under the lock

      lock.lock();
      written_ = through;
      if (flush_waiters_ > 0) written_cv_.notify_all();
    }
  }

  std::atomic<uint8_t> min_level_{static_cast<uint8_t>(Level::kInfo)};
  std::atomic<uint8_t> format_{static_cast<uint8_t>(Format::kText)};
  std::atomic<bool> color_{false};
  std::atomic<uint64_t> dropped_{0};

  std::mutex mu_;                       // guards everything below
  std::condition_variable work_;        // the writer waits here for lines
  std::condition_variable written_cv_;  // flush() waits here for the writer
  std::string pending_;                 // queued lines, each ending in a newline
  std::size_t capacity_ = 0;            // the most bytes pending_ may hold
  std::shared_ptr<const Output> output_;
  uint64_t queued_ = 0;   // lines ever queued
  uint64_t written_ = 0;  // lines written (of the first queued_)
  uint64_t unreported_drops_ = 0;
  int flush_waiters_ = 0;
  bool writer_started_ = false;
  bool writer_idle_ = false;  // the writer waits on work_ and needs a notify
  std::thread::id writer_id_;
};

}  // namespace

void configure(Options options) {
  Logger::instance().configure(std::move(options));
}

bool enabled(Level level) noexcept {
  return Logger::instance().enabled(level);
}

void write(Level level, std::string_view msg, std::span<const Field> fields) noexcept {
  Logger& logger = Logger::instance();
  if (!logger.enabled(level)) return;
  timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  // Formatting and queueing never switch tasks, so a per-thread buffer is safe in a task.
  thread_local std::string line;
  try {
    line.clear();
    format_record(line, logger.style(), level, now, msg, fields);
    logger.enqueue(line);
  } catch (...) {  // std::bad_alloc
    logger.count_drop();
  }
  if (line.capacity() > 64 * 1024) std::string().swap(line);
}

void flush() noexcept {
  Logger::instance().flush_until(std::nullopt);
}

uint64_t dropped() noexcept {
  return Logger::instance().dropped();
}

}  // namespace weft::log
