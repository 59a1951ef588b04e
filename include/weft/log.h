// weft::log: a small leveled, structured logger. A record (level, message, key=value fields) is
// formatted in the caller, as text for terminals or as JSON lines, and handed to a bounded
// in-memory queue that one background thread writes out: logging never waits for the output.
// When the queue is full the record is dropped and counted, and the writer reports the loss
// once it catches up.
//
//   weft::log::info("request served", {{"method", "GET"}, {"status", 200}, {"ms", 1.25}});
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <optional>
#include <span>
#include <string_view>
#include <type_traits>

namespace weft::log {

// Level is a record's severity. Records below the configured level are skipped.
enum class Level : uint8_t { kDebug, kInfo, kWarn, kError };

// Format is how records are written, one line each.
enum class Format : uint8_t {
  // `2026-11-26T17:00:00.123Z INFO  request served method=GET status=200`: fields as
  // key=value, values quoted when they hold spaces, quotes, '=' or control characters; the
  // level is coloured when the output is a terminal.
  kText,
  // `{"time":"2026-11-26T17:00:00.123Z","level":"info","msg":"request served",...}`: one JSON
  // object per line, the fields after "msg" in the order given.
  kJson,
};

namespace detail {
// The integer types a Field takes as a number (not bool, not the character types).
template <class T>
concept FieldInteger =
    std::integral<T> && !std::same_as<T, bool> && !std::same_as<T, char> &&
    !std::same_as<T, signed char> && !std::same_as<T, unsigned char> && !std::same_as<T, wchar_t> &&
    !std::same_as<T, char8_t> && !std::same_as<T, char16_t> && !std::same_as<T, char32_t>;
}  // namespace detail

// Field is one key and value of a record: a string, an integer, a floating-point number or a
// bool. It refers to its key and to a string value without copying them, so it must not
// outlive them: build fields in the call that logs them. Strings need not be valid UTF-8
// (invalid bytes are written as U+FFFD).
class Field {
 public:
  // What the value is.
  enum class Kind : uint8_t { kString, kInt, kUint, kDouble, kBool };

  constexpr Field(std::string_view key, std::string_view value) noexcept
      : key_(key), kind_(Kind::kString), string_(value) {}
  // A null pointer is the empty string.
  constexpr Field(std::string_view key, const char* value) noexcept
      : Field(key, value ? std::string_view(value) : std::string_view()) {}
  template <detail::FieldInteger T>
  constexpr Field(std::string_view key, T value) noexcept : key_(key) {
    if constexpr (std::is_signed_v<T>) {
      kind_ = Kind::kInt;
      int_ = value;
    } else {
      kind_ = Kind::kUint;
      uint_ = value;
    }
  }
  // NaN and the infinities are written as "NaN", "+Inf" and "-Inf" (strings in JSON).
  template <std::floating_point T>
  constexpr Field(std::string_view key, T value) noexcept
      : key_(key), kind_(Kind::kDouble), double_(static_cast<double>(value)) {}
  // A template so that pointers do not convert to bool.
  template <std::same_as<bool> B>
  constexpr Field(std::string_view key, B value) noexcept
      : key_(key), kind_(Kind::kBool), bool_(value) {}

  constexpr std::string_view key() const noexcept { return key_; }
  constexpr Kind kind() const noexcept { return kind_; }
  // The value. REQUIRES: kind() is the one the accessor names.
  constexpr std::string_view string_value() const noexcept { return string_; }
  constexpr int64_t int_value() const noexcept { return int_; }
  constexpr uint64_t uint_value() const noexcept { return uint_; }
  constexpr double double_value() const noexcept { return double_; }
  constexpr bool bool_value() const noexcept { return bool_; }

 private:
  std::string_view key_;
  Kind kind_;
  union {
    std::string_view string_;
    int64_t int_;
    uint64_t uint_;
    double double_;
    bool bool_;
  };
};

// Sink takes one formatted line, without its newline.
using Sink = std::function<void(std::string_view line)>;

// Options for configure(). Lines go to sink when it is set, else to fd.
struct Options {
  // Records below this level are skipped. Unset: WEFT_LOG_LEVEL (debug, info, warn or error)
  // when the environment has it, else info.
  std::optional<Level> level = std::nullopt;
  // Unset: WEFT_LOG_FORMAT (text or json) when the environment has it, else text.
  std::optional<Format> format = std::nullopt;
  // The file descriptor lines are written to with write(2), by the writer thread. It stays
  // open; the caller owns it.
  int fd = 2;
  // When set, takes every line instead of fd. It is called on the writer thread, one line at a
  // time in the order the lines were queued; it must not call flush() or configure(). While it
  // is slow, lines wait in the queue and then are dropped.
  Sink sink = nullptr;
  // How many bytes of formatted lines may wait for the writer; a line that does not fit is
  // dropped and counted (a line is always taken when nothing waits).
  std::size_t queue_bytes = std::size_t{1} << 20;
};

// configure replaces the logger's settings. Lines queued before the call are written to the
// previous output first (configure waits for them, as flush() does). Without a call, the
// logger starts on first use with Options{}: the environment's level and format, stderr.
void configure(Options options);

// True when records at level are written; callers check it to skip building costly fields.
bool enabled(Level level) noexcept;

// write formats a record in the calling thread and queues it for the writer thread, unless
// level is below the configured one. It never waits for the output: when the queue is full,
// the record is dropped and counted in dropped(). Safe from any thread or task.
void write(Level level, std::string_view msg, std::span<const Field> fields = {}) noexcept;
inline void write(Level level, std::string_view msg, std::initializer_list<Field> fields) noexcept {
  write(level, msg, std::span<const Field>(fields.begin(), fields.size()));
}

// write at each level.
inline void debug(std::string_view msg, std::initializer_list<Field> fields = {}) noexcept {
  write(Level::kDebug, msg, fields);
}
inline void info(std::string_view msg, std::initializer_list<Field> fields = {}) noexcept {
  write(Level::kInfo, msg, fields);
}
inline void warn(std::string_view msg, std::initializer_list<Field> fields = {}) noexcept {
  write(Level::kWarn, msg, fields);
}
inline void error(std::string_view msg, std::initializer_list<Field> fields = {}) noexcept {
  write(Level::kError, msg, fields);
}

// flush waits until every line queued before the call has been written (or handed to the
// sink). It blocks the calling thread: in a task, call it through weft::blocking() when the
// output may be slow. The logger also flushes at normal exit (std::atexit), waiting a few
// seconds at most for an output that does not drain.
void flush() noexcept;

// The number of records dropped because the queue was full, since the program started.
uint64_t dropped() noexcept;

}  // namespace weft::log
