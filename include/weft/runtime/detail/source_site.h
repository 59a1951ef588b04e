// SourceSite: where a task was created. std::source_location where the compiler provides it;
// otherwise (clang 14 with libstdc++ 12 lacks its builtin) a stand-in with the same accessors
// built from the __builtin_FILE family, so the library builds with either compiler.
#pragma once

#include <version>
#if defined(__cpp_lib_source_location)
#include <source_location>
#endif

namespace weft::detail {

#if defined(__cpp_lib_source_location)
using SourceSite = std::source_location;
#else
class SourceSite {
 public:
  constexpr SourceSite() noexcept = default;
  static constexpr SourceSite current(const char* file = __builtin_FILE(),
                                      const char* function = __builtin_FUNCTION(),
                                      unsigned line = __builtin_LINE()) noexcept {
    SourceSite s;
    s.file_ = file;
    s.function_ = function;
    s.line_ = line;
    return s;
  }
  constexpr const char* file_name() const noexcept { return file_; }
  constexpr const char* function_name() const noexcept { return function_; }
  constexpr unsigned line() const noexcept { return line_; }
  constexpr unsigned column() const noexcept { return 0; }

 private:
  const char* file_ = "";
  const char* function_ = "";
  unsigned line_ = 0;
};
#endif

}  // namespace weft::detail
