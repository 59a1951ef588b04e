// Static files: a handler that serves a directory tree safely and fast.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "weft/http/handler.h"

namespace weft::http {

// FileServerOptions tune file_server().
struct FileServerOptions {
  // Files served for a directory request ("/docs/" serves "docs/index.html").
  std::vector<std::string> index_files = {"index.html"};
  // Answer a directory without an index file with a listing (otherwise 404).
  bool list_directories = false;
  // Bytes of small files kept in memory (0 turns the cache off). A cached file is served after
  // one fstatat(2) that checks the path still names the same inode with the same size, mtime
  // and ctime; anything else is opened afresh, so edits show at once. Files modified within
  // the last two seconds are not cached.
  std::size_t cache_bytes = 16u << 20;
  // The largest file the cache keeps.
  std::size_t cache_file_limit = 32u << 10;
};

// file_server serves the files under root for GET and HEAD (405 otherwise): Content-Type from
// the extension, Last-Modified and If-Modified-Since, a strong ETag (size and mtime) with
// If-None-Match, single Range requests with If-Range (206; 416 when unsatisfiable; a multi-range
// request is answered with the whole file), the body through sendfile(2). The request path is
// confined under root: "..", backslashes and NUL bytes are refused with 400, and symbolic links
// that resolve outside root are refused with 404 (openat2 with RESOLVE_BENEATH). A directory
// path without its trailing slash is redirected to it.
Handler file_server(std::string root, FileServerOptions options = {});

// The Content-Type for a file name by its extension ("application/octet-stream" when unknown).
std::string_view content_type_for(std::string_view file_name) noexcept;

}  // namespace weft::http
