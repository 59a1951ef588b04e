// Headers: the case-insensitive multi-map of HTTP header fields used by requests and responses.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace weft::http {

// equal_fold compares two ASCII strings ignoring case, as header names and tokens compare.
// Inline: most comparisons end at the length check.
inline bool equal_fold(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    unsigned char x = static_cast<unsigned char>(a[i]), y = static_cast<unsigned char>(b[i]);
    if (x == y) continue;
    unsigned char lx = x | 0x20;
    if (lx != (y | 0x20) || lx < 'a' || lx > 'z') return false;
  }
  return true;
}

// trim_ows returns s without its leading and trailing spaces and tabs (HTTP's optional white
// space).
std::string_view trim_ows(std::string_view s) noexcept;

// has_token is true when the comma-separated field value list names token, ignoring case and
// the white space around elements ("keep-alive, Close" has "close").
bool has_token(std::string_view list, std::string_view token) noexcept;

class Headers;
// declared_content_length is the Content-Length field of h as a number, or -1 when it is
// absent or not a plain decimal.
int64_t declared_content_length(const Headers& h) noexcept;

// Headers is an ordered multi-map from field name to value; names compare case-insensitively
// and keep the spelling they were added with. Fields parsed off the wire are views into the
// connection's buffer (valid for the request's lifetime); fields set by code are copied into
// storage the Headers owns. Copying a Headers copies the values into the copy's own storage.
class Headers {
 public:
  // One header field.
  struct Field {
    std::string_view name;
    std::string_view value;
  };

  Headers() = default;
  Headers(const Headers& o);
  Headers& operator=(const Headers& o);
  Headers(Headers&&) noexcept = default;
  Headers& operator=(Headers&&) noexcept = default;
  ~Headers() = default;

  // The first value stored under name, or "" when there is none.
  std::string_view get(std::string_view name) const noexcept;
  // True when at least one field is named name.
  bool has(std::string_view name) const noexcept;
  // Every value stored under name, in order.
  std::vector<std::string_view> values(std::string_view name) const;
  // Replaces every field named name with one field holding value.
  void set(std::string_view name, std::string_view value);
  // Appends a field (earlier fields with that name stay).
  void add(std::string_view name, std::string_view value);
  // Removes every field named name.
  void del(std::string_view name) noexcept;
  // Removes every field; storage is kept for reuse.
  void clear() noexcept;

  // Appends a field whose name and value the caller keeps alive (no copy): the parser's path.
  void add_view(std::string_view name, std::string_view value) { fields_.push_back({name, value}); }

  std::size_t size() const noexcept { return fields_.size(); }
  bool empty() const noexcept { return fields_.empty(); }
  auto begin() const noexcept { return fields_.begin(); }
  auto end() const noexcept { return fields_.end(); }

 private:
  // Copies s into storage that never moves while this Headers lives (blocks from 256 bytes up,
  // kept across clear()).
  std::string_view intern(std::string_view s);

  struct Block {
    std::unique_ptr<char[]> data;
    std::size_t cap = 0;
    std::size_t used = 0;
  };
  std::vector<Field> fields_;
  std::vector<Block> blocks_;
  std::size_t block_ = 0;  // index of the block being filled
};

}  // namespace weft::http
