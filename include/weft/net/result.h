// Result<T>: a value or an error code, the error policy of weft's I/O layers.
#pragma once

#include <cassert>
#include <optional>
#include <system_error>
#include <utility>

namespace weft {

// Result<T> holds either a T or a std::error_code, as Go's (value, err) pair. Check ok() (or
// the bool conversion) before value().
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T v) : value_(std::move(v)) {}                     // NOLINT(google-explicit-constructor)
  Result(std::error_code e) : error_(e) { assert(e); }      // NOLINT(google-explicit-constructor)
  Result(std::errc e) : error_(std::make_error_code(e)) {}  // NOLINT

  bool ok() const noexcept { return value_.has_value(); }
  explicit operator bool() const noexcept { return ok(); }
  // REQUIRES: ok().
  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  T&& value() && { return std::move(*value_); }
  T& operator*() & { return *value_; }
  T* operator->() { return &*value_; }
  // The error; an empty error_code when ok().
  std::error_code error() const noexcept { return error_; }

 private:
  std::optional<T> value_;
  std::error_code error_;
};

}  // namespace weft
