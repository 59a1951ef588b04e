// Headers: field storage and case-insensitive lookup.
#include "weft/http/headers.h"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <cstring>

namespace weft::http {

std::string_view trim_ows(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool has_token(std::string_view list, std::string_view token) noexcept {
  for (;;) {
    std::size_t comma = list.find(',');
    if (equal_fold(trim_ows(list.substr(0, comma)), token)) return true;
    if (comma == std::string_view::npos) return false;
    list.remove_prefix(comma + 1);
  }
}

int64_t declared_content_length(const Headers& h) noexcept {
  std::string_view cl = h.get("Content-Length");
  uint64_t v = 0;
  auto r = std::from_chars(cl.data(), cl.data() + cl.size(), v);
  if (cl.empty() || r.ec != std::errc() || r.ptr != cl.data() + cl.size() ||
      v > static_cast<uint64_t>(INT64_MAX))
    return -1;
  return static_cast<int64_t>(v);
}

Headers::Headers(const Headers& o) {
  fields_.reserve(o.fields_.size());
  for (const Field& f : o.fields_) add(f.name, f.value);
}

Headers& Headers::operator=(const Headers& o) {
  if (this == &o) return *this;
  clear();
  for (const Field& f : o.fields_) add(f.name, f.value);
  return *this;
}

std::string_view Headers::get(std::string_view name) const noexcept {
  for (const Field& f : fields_)
    if (equal_fold(f.name, name)) return f.value;
  return {};
}

bool Headers::has(std::string_view name) const noexcept {
  for (const Field& f : fields_)
    if (equal_fold(f.name, name)) return true;
  return false;
}

std::vector<std::string_view> Headers::values(std::string_view name) const {
  std::vector<std::string_view> out;
  for (const Field& f : fields_)
    if (equal_fold(f.name, name)) out.push_back(f.value);
  return out;
}

void Headers::set(std::string_view name, std::string_view value) {
  for (auto it = fields_.begin(); it != fields_.end(); ++it) {
    if (!equal_fold(it->name, name)) continue;
    it->value = intern(value);
    fields_.erase(std::remove_if(it + 1, fields_.end(),
                                 [&](const Field& f) { return equal_fold(f.name, name); }),
                  fields_.end());
    return;
  }
  add(name, value);
}

void Headers::add(std::string_view name, std::string_view value) {
  std::string_view n = intern(name);
  fields_.push_back({n, intern(value)});
}

void Headers::del(std::string_view name) noexcept {
  fields_.erase(std::remove_if(fields_.begin(), fields_.end(),
                               [&](const Field& f) { return equal_fold(f.name, name); }),
                fields_.end());
}

void Headers::clear() noexcept {
  fields_.clear();
  for (Block& b : blocks_) b.used = 0;
  block_ = 0;
}

std::string_view Headers::intern(std::string_view s) {
  if (s.empty()) return {};
  while (block_ < blocks_.size() && blocks_[block_].cap - blocks_[block_].used < s.size()) ++block_;
  // block_ may be past the end in a moved-from Headers (its blocks went, its index stayed).
  if (block_ >= blocks_.size()) {
    block_ = blocks_.size();
    std::size_t cap =
        std::max<std::size_t>(blocks_.empty() ? 256 : 2 * blocks_.back().cap, s.size());
    blocks_.push_back(Block{std::make_unique<char[]>(cap), cap, 0});
  }
  Block& b = blocks_[block_];
  char* dst = b.data.get() + b.used;
  std::memcpy(dst, s.data(), s.size());
  b.used += s.size();
  return {dst, s.size()};
}

}  // namespace weft::http
