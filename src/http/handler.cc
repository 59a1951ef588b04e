// Helpers every handler uses: error answers, redirects, and the portable send_file.
#include "weft/http/handler.h"

#include <unistd.h>

#include <string>

#include "weft/http/status.h"
#include "weft/runtime/blocking.h"

namespace weft::http {

std::error_code ResponseWriter::send_file(int fd, int64_t offset, uint64_t count) {
  char buf[32 * 1024];
  while (count > 0) {
    std::size_t want = count < sizeof buf ? static_cast<std::size_t>(count) : sizeof buf;
    ssize_t n = blocking([&] { return ::pread(fd, buf, want, offset); });
    if (n < 0) return {errno, std::generic_category()};
    if (n == 0) return std::make_error_code(std::errc::io_error);  // the file shrank
    auto w = write(std::string_view(buf, static_cast<std::size_t>(n)));
    if (!w) return w.error();
    offset += n;
    count -= static_cast<uint64_t>(n);
  }
  return {};
}

void error(ResponseWriter& w, int code, std::string_view message) {
  Headers& h = w.header();
  h.del("Content-Length");
  h.del("Content-Encoding");
  h.set("Content-Type", "text/plain; charset=utf-8");
  h.set("X-Content-Type-Options", "nosniff");
  w.write_header(code);
  std::string body(message);
  body.push_back('\n');
  (void)w.write(body);
}

bool allow_get_head(ResponseWriter& w, const Request& r) {
  if (r.method() == "GET" || r.method() == "HEAD") return true;
  w.header().set("Allow", "GET, HEAD");
  error(w, status::kMethodNotAllowed, "405 Method Not Allowed");
  return false;
}

void not_found(ResponseWriter& w, Request&) {
  error(w, status::kNotFound, "404 page not found");
}

void append_html_escaped(std::string& out, std::string_view text) {
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&#34;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out.push_back(c);
    }
  }
}

void redirect(ResponseWriter& w, Request& r, std::string_view url, int code) {
  w.header().set("Location", url);
  if (r.method() == "GET" || r.method() == "HEAD") {
    w.header().set("Content-Type", "text/html; charset=utf-8");
    w.write_header(code);
    if (r.method() == "GET") {
      std::string body = "<a href=\"";
      append_html_escaped(body, url);
      body += "\">" + std::string(status_text(code)) + "</a>.\n";
      (void)w.write(body);
    }
    return;
  }
  w.write_header(code);
}

}  // namespace weft::http
