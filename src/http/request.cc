// Request and Body: accessors over the parsed head and the connection's body reader.
#include "weft/http/request.h"

#include "http/conn_io.h"

namespace weft::http {

namespace {
class BodyErrorCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "weft.http.body"; }
  std::string message(int ev) const override {
    switch (static_cast<BodyError>(ev)) {
      case BodyError::kTooLarge:
        return "request body too large";
      case BodyError::kMalformed:
        return "malformed chunked body";
      case BodyError::kTruncated:
        return "body ended before its declared length";
    }
    return "unknown body error";
  }
};
}  // namespace

const std::error_category& body_error_category() noexcept {
  static const BodyErrorCategory category;
  return category;
}

std::error_code make_error_code(BodyError e) noexcept {
  return {static_cast<int>(e), body_error_category()};
}

Result<std::size_t> Body::read(std::span<std::byte> buf) {
  if (!reader_) return std::size_t{0};
  return reader_->read(buf);
}

Result<std::string> Body::read_all() {
  std::string out;
  if (!reader_) return out;
  char chunk[16 * 1024];
  for (;;) {
    auto n = reader_->read(std::span<std::byte>(reinterpret_cast<std::byte*>(chunk), sizeof chunk));
    if (!n) return n.error();
    if (n.value() == 0) return out;
    out.append(chunk, n.value());
  }
}

bool Body::at_end() const noexcept {
  return !reader_ || reader_->done();
}

const QueryParams& Request::query() const {
  if (!query_) query_ = parse_query(target_.raw_query);
  return *query_;
}

std::string_view Request::query_value(std::string_view name) const {
  for (const auto& [k, v] : query())
    if (k == name) return v;
  return {};
}

int64_t Request::content_length() const noexcept {
  switch (head_.body) {
    case BodyKind::kLength:
      return static_cast<int64_t>(head_.content_length);
    case BodyKind::kNone:
      return 0;
    default:
      return -1;
  }
}

const Headers& Request::trailers() const noexcept {
  static const Headers none;
  return body_.reader_ ? body_.reader_->trailers() : none;
}

std::string_view Request::path_value(std::string_view name) const noexcept {
  for (const auto& [k, v] : path_values_)
    if (k == name) return v;
  return {};
}

void Request::set_path_value(std::string_view name, std::string_view value) {
  for (auto& [k, v] : path_values_) {
    if (k == name) {
      v.assign(value);
      return;
    }
  }
  path_values_.emplace_back(std::string(name), std::string(value));
}

void Request::reset() noexcept {
  head_.clear();
  pattern_.clear();
  path_values_.clear();
  query_.reset();
  ctx_override_.reset();
}

}  // namespace weft::http
