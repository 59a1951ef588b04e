// Static files: file_server() confines request paths under its root (openat2 with
// RESOLVE_BENEATH, or a realpath check where the kernel lacks it), answers the conditional and
// range headers of RFC 9110, redirects, indexes or lists directories, and sends bodies through
// the writer's send_file (sendfile(2) on a plain connection).
#include "weft/http/file_server.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <climits>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <utility>
#include <vector>

#include "weft/http/status.h"
#include "weft/runtime/blocking.h"

namespace weft::http {

namespace detail {

namespace {
std::atomic<bool> openat2_allowed{true};
std::atomic<int64_t> cache_settle_seconds{2};
std::atomic<uint64_t> cache_hits{0};
}  // namespace

// Test hook: with enabled false, file servers made afterwards resolve paths with the fallback
// that kernels without openat2 use (a realpath check, openat, then an inode check), so tests can
// exercise it on any kernel.
void set_file_server_openat2(bool enabled) noexcept {
  openat2_allowed.store(enabled, std::memory_order_relaxed);
}

// Test hook: files whose mtime and ctime lie more than seconds in the past may be cached (2 by
// default; a negative value lets tests cache files they have just written).
void set_file_cache_settle_seconds(int64_t seconds) noexcept {
  cache_settle_seconds.store(seconds, std::memory_order_relaxed);
}

// Test hook: how many requests every file server has answered from its cache.
uint64_t file_cache_hits() noexcept {
  return cache_hits.load(std::memory_order_relaxed);
}

}  // namespace detail

namespace {

// ---- content types ----------------------------------------------------------------------

struct TypeEntry {
  std::string_view ext;
  std::string_view type;
};

constexpr TypeEntry kTypes[] = {
    {"html", "text/html; charset=utf-8"},
    {"htm", "text/html; charset=utf-8"},
    {"css", "text/css; charset=utf-8"},
    {"js", "text/javascript; charset=utf-8"},
    {"mjs", "text/javascript; charset=utf-8"},
    {"json", "application/json"},
    {"txt", "text/plain; charset=utf-8"},
    {"xml", "text/xml; charset=utf-8"},
    {"svg", "image/svg+xml"},
    {"png", "image/png"},
    {"jpg", "image/jpeg"},
    {"jpeg", "image/jpeg"},
    {"gif", "image/gif"},
    {"webp", "image/webp"},
    {"avif", "image/avif"},
    {"ico", "image/x-icon"},
    {"wasm", "application/wasm"},
    {"pdf", "application/pdf"},
    {"zip", "application/zip"},
    {"gz", "application/gzip"},
    {"tar", "application/x-tar"},
    {"mp4", "video/mp4"},
    {"webm", "video/webm"},
    {"mp3", "audio/mpeg"},
    {"woff", "font/woff"},
    {"woff2", "font/woff2"},
    {"ttf", "font/ttf"},
    {"otf", "font/otf"},
    {"csv", "text/csv; charset=utf-8"},
    {"md", "text/markdown; charset=utf-8"},
};

constexpr std::string_view kOctetStream = "application/octet-stream";
constexpr std::string_view kHtmlType = "text/html; charset=utf-8";

// ---- small helpers ----------------------------------------------------------------------

// UniqueFd closes the descriptor it holds.
struct UniqueFd {
  int fd = -1;
  UniqueFd() = default;
  explicit UniqueFd(int f) : fd(f) {}
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() {
    if (fd >= 0) ::close(fd);
  }
  int release() noexcept { return std::exchange(fd, -1); }
};

bool is_ows(char c) {
  return c == ' ' || c == '\t';
}

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// Parses a run of digits (all of s), saturating at UINT64_MAX. False when s is empty or holds
// a non-digit.
bool parse_digits(std::string_view s, uint64_t& out) {
  if (s.empty()) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (!is_digit(c)) return false;
    auto d = static_cast<uint64_t>(c - '0');
    v = v > (UINT64_MAX - d) / 10 ? UINT64_MAX : v * 10 + d;
  }
  out = v;
  return true;
}

// Appends v in base to buf at p; returns the new end.
char* put_uint(char* p, char* end, uint64_t v, int base = 10) {
  return std::to_chars(p, end, v, base).ptr;
}

// ---- HTTP dates -------------------------------------------------------------------------

constexpr std::string_view kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
constexpr std::string_view kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                        "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
constexpr std::size_t kHttpDateLen = 29;  // "Sun, 06 Nov 1994 08:49:37 GMT"

void put2(char* p, int v) {
  p[0] = static_cast<char>('0' + v / 10 % 10);
  p[1] = static_cast<char>('0' + v % 10);
}

// Writes t as an IMF-fixdate into buf (kHttpDateLen bytes, locale-independent). Returns false
// for a time gmtime cannot express or a year outside 0-9999.
bool format_http_date(time_t t, char* buf) {
  struct tm tm;
  if (gmtime_r(&t, &tm) == nullptr) return false;
  int year = tm.tm_year + 1900;
  if (year < 0 || year > 9999) return false;
  std::copy_n(kDays[tm.tm_wday].data(), 3, buf);
  buf[3] = ',';
  buf[4] = ' ';
  put2(buf + 5, tm.tm_mday);
  buf[7] = ' ';
  std::copy_n(kMonths[tm.tm_mon].data(), 3, buf + 8);
  buf[11] = ' ';
  put2(buf + 12, year / 100);
  put2(buf + 14, year % 100);
  buf[16] = ' ';
  put2(buf + 17, tm.tm_hour);
  buf[19] = ':';
  put2(buf + 20, tm.tm_min);
  buf[22] = ':';
  put2(buf + 23, tm.tm_sec);
  std::copy_n(" GMT", 4, buf + 25);
  return true;
}

// A cursor over a date string.
struct DateScanner {
  std::string_view s;

  bool lit(std::string_view p) {
    if (s.substr(0, p.size()) != p) return false;
    s.remove_prefix(p.size());
    return true;
  }
  // n digits exactly.
  bool digits(int n, int& out) {
    if (s.size() < static_cast<std::size_t>(n)) return false;
    int v = 0;
    for (int i = 0; i < n; ++i) {
      if (!is_digit(s[i])) return false;
      v = v * 10 + (s[i] - '0');
    }
    s.remove_prefix(static_cast<std::size_t>(n));
    out = v;
    return true;
  }
  // A run of letters (a day name).
  bool word() {
    std::size_t i = 0;
    while (i < s.size() && ((s[i] | 0x20) >= 'a' && (s[i] | 0x20) <= 'z')) ++i;
    if (i == 0) return false;
    s.remove_prefix(i);
    return true;
  }
  bool month(int& out) {
    for (int m = 0; m < 12; ++m) {
      if (lit(kMonths[m])) {
        out = m;
        return true;
      }
    }
    return false;
  }
  // "HH:MM:SS".
  bool clock(struct tm& tm) {
    return digits(2, tm.tm_hour) && lit(":") && digits(2, tm.tm_min) && lit(":") &&
           digits(2, tm.tm_sec);
  }
};

// Parses an HTTP-date in any of the three forms RFC 9110 makes recipients accept: IMF-fixdate
// ("Sun, 06 Nov 1994 08:49:37 GMT"), RFC 850 ("Sunday, 06-Nov-94 08:49:37 GMT") and asctime
// ("Sun Nov  6 08:49:37 1994"). False for anything else.
bool parse_http_date(std::string_view s, time_t& out) {
  struct tm tm {};
  DateScanner d{trim_ows(s)};
  if (!d.word()) return false;
  if (d.lit(", ")) {
    if (!d.digits(2, tm.tm_mday)) return false;
    if (d.lit(" ")) {  // IMF-fixdate
      int year = 0;
      if (!d.month(tm.tm_mon) || !d.lit(" ") || !d.digits(4, year)) return false;
      tm.tm_year = year - 1900;
    } else {  // RFC 850
      int yy = 0;
      if (!d.lit("-") || !d.month(tm.tm_mon) || !d.lit("-") || !d.digits(2, yy)) return false;
      tm.tm_year = yy >= 69 ? yy : yy + 100;
    }
    if (!d.lit(" ") || !d.clock(tm) || !d.lit(" GMT") || !d.s.empty()) return false;
  } else {  // asctime
    int year = 0;
    if (!d.lit(" ") || !d.month(tm.tm_mon) || !d.lit(" ")) return false;
    if (d.lit(" ")) {
      if (!d.digits(1, tm.tm_mday)) return false;
    } else if (!d.digits(2, tm.tm_mday)) {
      return false;
    }
    if (!d.lit(" ") || !d.clock(tm) || !d.lit(" ") || !d.digits(4, year) || !d.s.empty())
      return false;
    tm.tm_year = year - 1900;
  }
  if (tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60)
    return false;
  out = timegm(&tm);
  return true;
}

// ---- entity tags ------------------------------------------------------------------------

enum class Cond { kAbsent, kMatch, kNoMatch };

// Scans the entity-tag list of one If-Match / If-None-Match value for etag (our strong tag,
// quotes included). weak selects the weak comparison (W/ prefixes ignored); the strong one
// never matches a weak tag. "*" matches. Stops at the first malformed element.
bool etag_list_matches(std::string_view v, std::string_view etag, bool weak) {
  for (;;) {
    while (!v.empty() && (is_ows(v.front()) || v.front() == ',')) v.remove_prefix(1);
    if (v.empty()) return false;
    if (v.front() == '*') return true;
    bool is_weak = false;
    if (v.size() >= 2 && v[0] == 'W' && v[1] == '/') {
      is_weak = true;
      v.remove_prefix(2);
    }
    if (v.empty() || v.front() != '"') return false;
    std::size_t i = 1;
    while (i < v.size() && v[i] != '"') {
      auto c = static_cast<unsigned char>(v[i]);
      if (c < 0x21 || c == 0x7f) return false;
      ++i;
    }
    if (i == v.size()) return false;  // no closing quote
    std::string_view tag = v.substr(0, i + 1);
    if (tag == etag && (weak || !is_weak)) return true;
    v.remove_prefix(i + 1);
  }
}

// Evaluates every field named name against etag: kAbsent when there is none with a non-empty
// value, else whether any listed tag matches.
Cond etag_condition(const Headers& h, std::string_view name, std::string_view etag, bool weak) {
  Cond c = Cond::kAbsent;
  for (const auto& f : h) {
    if (!equal_fold(f.name, name) || trim_ows(f.value).empty()) continue;
    if (etag_list_matches(f.value, etag, weak)) return Cond::kMatch;
    c = Cond::kNoMatch;
  }
  return c;
}

// ---- ranges -----------------------------------------------------------------------------

enum class RangeResult { kIgnore, kSatisfiable, kUnsatisfiable };

// Parses a Range value against a representation of size bytes. A single "bytes=a-b",
// "bytes=a-" or "bytes=-n" yields kSatisfiable with [*offset, *offset + *length) or
// kUnsatisfiable (first byte past the end, or a zero suffix); anything malformed, another unit
// or more than one range yields kIgnore (the whole representation is sent). A suffix range of
// an empty file is ignored too: there is no byte range to name.
RangeResult parse_range(std::string_view v, uint64_t size, uint64_t& offset, uint64_t& length) {
  v = trim_ows(v);
  std::size_t eq = v.find('=');
  if (eq == std::string_view::npos || !equal_fold(trim_ows(v.substr(0, eq)), "bytes"))
    return RangeResult::kIgnore;
  std::string_view spec;
  int count = 0;
  for (std::string_view rest = v.substr(eq + 1); !rest.empty();) {
    std::size_t comma = rest.find(',');
    std::string_view item = trim_ows(rest.substr(0, comma));
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    if (item.empty()) continue;
    spec = item;
    ++count;
  }
  if (count != 1) return RangeResult::kIgnore;
  std::size_t dash = spec.find('-');
  if (dash == std::string_view::npos) return RangeResult::kIgnore;
  std::string_view first = spec.substr(0, dash), last = spec.substr(dash + 1);
  if (first.empty()) {  // suffix: the last n bytes
    uint64_t n = 0;
    if (!parse_digits(last, n)) return RangeResult::kIgnore;
    if (n == 0) return RangeResult::kUnsatisfiable;
    if (size == 0) return RangeResult::kIgnore;
    length = std::min(n, size);
    offset = size - length;
    return RangeResult::kSatisfiable;
  }
  uint64_t a = 0, b = UINT64_MAX;
  if (!parse_digits(first, a)) return RangeResult::kIgnore;
  if (!last.empty() && !parse_digits(last, b)) return RangeResult::kIgnore;
  if (b < a) return RangeResult::kIgnore;
  if (a >= size) return RangeResult::kUnsatisfiable;
  if (b >= size) b = size - 1;
  offset = a;
  length = b - a + 1;
  return RangeResult::kSatisfiable;
}

// ---- escaping ---------------------------------------------------------------------------

// Percent-escapes every byte of s outside the unreserved set (and '/' when keep_slash), so the
// result is a relative reference that cannot be read as a scheme and needs no HTML escaping.
void append_path_escaped(std::string& out, std::string_view s, bool keep_slash) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '-' || c == '.' || c == '_' || c == '~' || (keep_slash && c == '/');
    if (plain) {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
}

// ---- the server -------------------------------------------------------------------------

// ---- the small-file cache ----------------------------------------------------------------

// FileMeta is what the validators and the response head need to know about a file.
struct FileMeta {
  uint64_t size = 0;
  time_t mtime = 0;
  char etag[48] = {};
  std::size_t etag_len = 0;

  std::string_view tag() const noexcept { return {etag, etag_len}; }
};

// Fills meta from sb: the size, the Last-Modified second and a strong entity tag made of the
// size and the nanosecond mtime.
void fill_meta(FileMeta& meta, const struct stat& sb) {
  meta.size = static_cast<uint64_t>(sb.st_size);
  meta.mtime = sb.st_mtim.tv_sec;
  char* p = meta.etag;
  char* end = meta.etag + sizeof meta.etag;
  *p++ = '"';
  p = put_uint(p, end, meta.size, 16);
  *p++ = '-';
  uint64_t mtime_ns = static_cast<uint64_t>(sb.st_mtim.tv_sec) * 1000000000u +
                      static_cast<uint64_t>(sb.st_mtim.tv_nsec);
  p = put_uint(p, end - 1, mtime_ns, 16);
  *p++ = '"';
  meta.etag_len = static_cast<std::size_t>(p - meta.etag);
}

// FileCache keeps the contents of small regular files, keyed by their path under the root, so
// that a hit costs one fstatat(2) instead of an open, fstat, read and close. An entry is used
// only while the path still names the same inode (device and inode number) with the same
// size, mtime and ctime: a replaced, rewritten, truncated or chmod-ed file misses and is
// opened afresh through the confined open. Because an entry is only made from a file that
// open_beneath opened, and a hit needs the identical inode, the cache never serves anything
// the confined open would refuse. Least recently used entries go first once the byte budget is
// spent. Safe for concurrent use.
class FileCache {
 public:
  // An entry, shared so a request can keep sending it after it was evicted.
  struct Entry {
    dev_t dev = 0;
    ino_t ino = 0;
    struct timespec mtime {};
    struct timespec ctime {};
    FileMeta meta;
    std::string data;
  };

  FileCache(std::size_t budget, std::size_t file_limit)
      : budget_(budget), file_limit_(file_limit) {}

  // True when files of this size may be cached.
  bool wants(uint64_t size) const noexcept { return budget_ > 0 && size <= file_limit_; }

  // The entry for rel when the path still names the file it was made from; nullptr otherwise.
  // path is rel, NUL-terminated.
  std::shared_ptr<const Entry> find(int root_fd, std::string_view rel, const char* path) {
    std::shared_ptr<const Entry> e;
    {
      std::lock_guard lock(mu_);
      auto it = index_.find(rel);
      if (it == index_.end()) return nullptr;
      lru_.splice(lru_.begin(), lru_, it->second);
      e = it->second->entry;
    }
    struct stat sb;
    if (::fstatat(root_fd, path, &sb, 0) == 0 && same_file(*e, sb)) {
      detail::cache_hits.fetch_add(1, std::memory_order_relaxed);
      return e;
    }
    erase(rel, e);
    return nullptr;
  }

  // Caches data as the contents of rel, the file sb describes.
  std::shared_ptr<const Entry> insert(const std::string& rel, const struct stat& sb,
                                      std::string data) {
    auto e = std::make_shared<Entry>();
    e->dev = sb.st_dev;
    e->ino = sb.st_ino;
    e->mtime = sb.st_mtim;
    e->ctime = sb.st_ctim;
    fill_meta(e->meta, sb);
    e->data = std::move(data);
    std::size_t cost = charge(rel, *e);
    std::lock_guard lock(mu_);
    if (auto it = index_.find(rel); it != index_.end()) drop(it);
    while (bytes_ + cost > budget_ && !lru_.empty()) drop(index_.find(lru_.back().key));
    if (cost > budget_) return e;
    lru_.push_front(Node{rel, e});
    index_.emplace(rel, lru_.begin());
    bytes_ += cost;
    return e;
  }

 private:
  struct Node {
    std::string key;
    std::shared_ptr<const Entry> entry;
  };
  using Lru = std::list<Node>;

  static bool same_file(const Entry& e, const struct stat& sb) noexcept {
    return S_ISREG(sb.st_mode) && sb.st_dev == e.dev && sb.st_ino == e.ino &&
           static_cast<uint64_t>(sb.st_size) == e.meta.size &&
           sb.st_mtim.tv_sec == e.mtime.tv_sec && sb.st_mtim.tv_nsec == e.mtime.tv_nsec &&
           sb.st_ctim.tv_sec == e.ctime.tv_sec && sb.st_ctim.tv_nsec == e.ctime.tv_nsec;
  }

  // What an entry counts against the budget: its bytes, its key and the bookkeeping.
  static std::size_t charge(const std::string& key, const Entry& e) noexcept {
    return e.data.size() + 2 * key.size() + sizeof(Entry) + 128;
  }

  struct KeyHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view k) const noexcept {
      return std::hash<std::string_view>{}(k);
    }
  };
  using Index = std::unordered_map<std::string, Lru::iterator, KeyHash, std::equal_to<>>;

  void drop(Index::iterator it) {
    bytes_ -= charge(it->first, *it->second->entry);
    lru_.erase(it->second);
    index_.erase(it);
  }

  void erase(std::string_view rel, const std::shared_ptr<const Entry>& stale) {
    std::lock_guard lock(mu_);
    auto it = index_.find(rel);
    if (it != index_.end() && it->second->entry == stale) drop(it);
  }

  const std::size_t budget_;
  const std::size_t file_limit_;
  std::mutex mu_;
  Lru lru_;  // most recently used first
  Index index_;
  std::size_t bytes_ = 0;
};

// State is what every copy of one file_server() handler shares.
struct State {
  int root_fd = -1;
  std::string root_real;                        // the root's canonical path, for the fallback check
  mutable std::atomic<bool> use_openat2{true};  // false on kernels without openat2
  FileServerOptions options;
  std::unique_ptr<FileCache> cache;

  State() = default;
  State(const State&) = delete;
  State& operator=(const State&) = delete;
  ~State() {
    if (root_fd >= 0) ::close(root_fd);
  }
};

constexpr int kOpenFlags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;

long sys_openat2(int dirfd, const char* path) {
  struct open_how how {};
  how.flags = kOpenFlags;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
  return ::syscall(SYS_openat2, dirfd, path, &how, sizeof how);
}

// The fallback confinement: the canonical path of rel must lie under the root (checked before
// anything is opened), and the file opened through the root must be the inode that path names
// (a link swapped in between fails the check).
int open_checked(const State& st, const char* rel, struct stat& sb) {
  std::string full = st.root_real;
  if (full.empty() || full.back() != '/') full.push_back('/');
  full += rel;
  std::unique_ptr<char, decltype(&std::free)> real(::realpath(full.c_str(), nullptr), &std::free);
  if (!real) return -errno;
  std::string_view r(real.get()), root(st.root_real);
  bool beneath =
      root == "/" || r == root ||
      (r.size() > root.size() && r.substr(0, root.size()) == root && r[root.size()] == '/');
  if (!beneath) return -EXDEV;
  UniqueFd f(::openat(st.root_fd, rel, kOpenFlags));
  if (f.fd < 0) return -errno;
  if (::fstat(f.fd, &sb) != 0) return -errno;
  struct stat rs;
  if (::stat(real.get(), &rs) != 0) return -errno;
  if (rs.st_dev != sb.st_dev || rs.st_ino != sb.st_ino) return -EXDEV;
  return f.release();
}

// Opens rel (relative, NUL-terminated) beneath the root and fstats it. Returns the descriptor,
// or -errno: EXDEV when a link leads out of the root.
int open_beneath(const State& st, const char* rel, struct stat& sb) {
  if (st.use_openat2.load(std::memory_order_relaxed)) {
    long fd = -1;
    for (int attempt = 0; attempt < 8; ++attempt) {
      fd = sys_openat2(st.root_fd, rel);
      // EAGAIN: a concurrent rename or mount made the kernel give up on a safe lookup.
      if (fd >= 0 || (errno != EAGAIN && errno != EINTR)) break;
    }
    if (fd >= 0) {
      UniqueFd f(static_cast<int>(fd));
      if (::fstat(f.fd, &sb) != 0) return -errno;
      return f.release();
    }
    if (errno != ENOSYS) return -errno;
    st.use_openat2.store(false, std::memory_order_relaxed);
  }
  return open_checked(st, rel, sb);
}

// Answers a failed open: 404 for what does not exist (or lies outside the root), 403 for what
// may not be read, 500 otherwise.
void answer_open_error(ResponseWriter& w, Request& r, int err) {
  switch (err) {
    case ENOENT:
    case ENOTDIR:
    case EXDEV:
    case ELOOP:
    case ENAMETOOLONG:
    case ENXIO:
      not_found(w, r);
      return;
    case EACCES:
    case EPERM:
      error(w, status::kForbidden, "403 Forbidden");
      return;
    default:
      error(w, status::kInternalServerError, "500 Internal Server Error");
  }
}

// True when path holds no ".." segment, backslash or NUL.
bool path_is_safe(std::string_view path) {
  if (path.find_first_of(std::string_view("\\\0", 2)) != std::string_view::npos) return false;
  for (std::size_t i = 0; i <= path.size();) {
    std::size_t slash = path.find('/', i);
    if (slash == std::string_view::npos) slash = path.size();
    if (path.substr(i, slash - i) == "..") return false;
    i = slash + 1;
  }
  return true;
}

// The request headers serve_file consults, found in one pass.
struct Conditionals {
  bool if_match = false;
  bool if_none_match = false;
  std::string_view if_unmodified_since;
  std::string_view if_modified_since;
  std::string_view range;
  std::string_view if_range;
};

Conditionals scan_conditionals(const Headers& h) {
  Conditionals c;
  for (const auto& f : h) {
    std::string_view n = f.name;
    if (n.size() < 5) continue;
    char c0 = static_cast<char>(n[0] | 0x20);
    if (c0 == 'r') {
      if (c.range.empty() && equal_fold(n, "range")) c.range = f.value;
    } else if (c0 == 'i' && (n[1] | 0x20) == 'f') {
      if (equal_fold(n, "if-match")) {
        c.if_match = true;
      } else if (equal_fold(n, "if-none-match")) {
        c.if_none_match = true;
      } else if (equal_fold(n, "if-modified-since")) {
        if (c.if_modified_since.empty()) c.if_modified_since = f.value;
      } else if (equal_fold(n, "if-unmodified-since")) {
        if (c.if_unmodified_since.empty()) c.if_unmodified_since = f.value;
      } else if (equal_fold(n, "if-range")) {
        if (c.if_range.empty()) c.if_range = f.value;
      }
    }
  }
  return c;
}

// True when an If-Range value validates the representation: a strong entity tag equal to
// etag, or a date equal to the Last-Modified second.
bool if_range_matches(std::string_view v, std::string_view etag, time_t mtime) {
  v = trim_ows(v);
  if (v.starts_with("W/")) return false;
  if (v.starts_with("\"")) return v == etag;
  time_t t = 0;
  return parse_http_date(v, t) && t == mtime;
}

// Where a response body comes from: the bytes of a cached file, or an open descriptor.
struct FileBody {
  int fd = -1;
  std::string_view data;  // used when fd < 0
};

// Serves the regular file described by meta, named name: validators, preconditions, range,
// then the body from body.
void serve_file(ResponseWriter& w, Request& r, const FileMeta& meta, std::string_view name,
                FileBody body) {
  Headers& out = w.header();
  uint64_t size = meta.size;
  time_t mtime = meta.mtime;
  std::string_view tag = meta.tag();
  char last_modified[kHttpDateLen];
  bool have_lm = format_http_date(mtime, last_modified);

  out.set("ETag", tag);
  if (have_lm) out.set("Last-Modified", std::string_view(last_modified, kHttpDateLen));

  // Preconditions in the order of RFC 9110 section 13.2.2.
  const Headers& in = r.headers();
  Conditionals c = scan_conditionals(in);
  time_t t = 0;
  Cond im = c.if_match ? etag_condition(in, "If-Match", tag, false) : Cond::kAbsent;
  if (im == Cond::kNoMatch || (im == Cond::kAbsent && !c.if_unmodified_since.empty() &&
                               parse_http_date(c.if_unmodified_since, t) && mtime > t)) {
    error(w, status::kPreconditionFailed, "412 Precondition Failed");
    return;
  }
  bool not_modified = false;
  Cond inm = c.if_none_match ? etag_condition(in, "If-None-Match", tag, true) : Cond::kAbsent;
  if (inm != Cond::kAbsent) {
    not_modified = inm == Cond::kMatch;
  } else if (!c.if_modified_since.empty() && parse_http_date(c.if_modified_since, t)) {
    not_modified = mtime <= t;
  }
  if (not_modified) {
    out.del("Content-Type");
    out.del("Content-Length");
    w.write_header(status::kNotModified);
    return;
  }

  uint64_t offset = 0, length = size;
  int code = status::kOk;
  if (!c.range.empty() && (c.if_range.empty() || if_range_matches(c.if_range, tag, mtime))) {
    switch (parse_range(c.range, size, offset, length)) {
      case RangeResult::kIgnore:
        offset = 0;
        length = size;
        break;
      case RangeResult::kSatisfiable:
        code = status::kPartialContent;
        break;
      case RangeResult::kUnsatisfiable: {
        char cr[40] = "bytes */";
        char* e = put_uint(cr + 8, cr + sizeof cr, size);
        out.set("Content-Range", std::string_view(cr, static_cast<std::size_t>(e - cr)));
        error(w, status::kRangeNotSatisfiable, "416 Requested Range Not Satisfiable");
        return;
      }
    }
  }

  if (!out.has("Content-Type")) out.set("Content-Type", content_type_for(name));
  out.set("Accept-Ranges", "bytes");
  if (code == status::kPartialContent) {
    char cr[80] = "bytes ";
    char* e = put_uint(cr + 6, cr + sizeof cr, offset);
    *e++ = '-';
    e = put_uint(e, cr + sizeof cr, offset + length - 1);
    *e++ = '/';
    e = put_uint(e, cr + sizeof cr, size);
    out.set("Content-Range", std::string_view(cr, static_cast<std::size_t>(e - cr)));
  }
  char cl[24];
  char* e = put_uint(cl, cl + sizeof cl, length);
  out.set("Content-Length", std::string_view(cl, static_cast<std::size_t>(e - cl)));
  w.write_header(code);
  if (length == 0) return;
  // A failure comes after the head went out: there is nothing left to tell the client.
  if (body.fd < 0) {
    (void)w.write(body.data.substr(offset, length));
  } else {
    (void)w.send_file(body.fd, static_cast<int64_t>(offset), length);
  }
}

// True when a file with these times may be cached: both lie two seconds or more in the past.
// The kernel stamps writes with a coarse clock, so a file still being written can keep its
// mtime and ctime across writes; one read while that is possible could cache a torn copy that
// later checks would not notice (git calls this the racy-clean problem).
bool settled(const struct stat& sb) noexcept {
  struct timespec now;
  ::clock_gettime(CLOCK_REALTIME_COARSE, &now);
  int64_t limit = now.tv_sec - detail::cache_settle_seconds.load(std::memory_order_relaxed);
  return sb.st_mtim.tv_sec <= limit && sb.st_ctim.tv_sec <= limit;
}

// Serves rel (NUL-terminated as path) from the cache; false when it is not cached or changed.
bool serve_cached(const State& st, ResponseWriter& w, Request& r, std::string_view rel,
                  const char* path, std::string_view name) {
  if (!st.cache) return false;
  auto e = st.cache->find(st.root_fd, rel, path);
  if (!e) return false;
  serve_file(w, r, e->meta, name, FileBody{-1, e->data});
  return true;
}

// Serves the open regular file fd (stat sb), found at rel: a small settled file is read whole
// and cached on a GET, any other is sent from the descriptor.
void serve_open_file(const State& st, ResponseWriter& w, Request& r, std::string_view rel, int fd,
                     const struct stat& sb, std::string_view name) {
  auto size = static_cast<uint64_t>(sb.st_size);
  if (st.cache && st.cache->wants(size) && r.method() == "GET" && settled(sb)) {
    std::string data(size, '\0');
    ssize_t got = ::pread(fd, data.data(), size, 0);
    if (got == static_cast<ssize_t>(size)) {
      auto e = st.cache->insert(std::string(rel), sb, std::move(data));
      serve_file(w, r, e->meta, name, FileBody{-1, e->data});
      return;
    }
  }
  FileMeta meta;
  fill_meta(meta, sb);
  serve_file(w, r, meta, name, FileBody{fd, {}});
}

// Answers a listing of the open directory dir (sorted names, directories with a '/').
void serve_listing(ResponseWriter& w, Request& r, UniqueFd& dir) {
  struct Entry {
    std::string name;
    bool is_dir;
  };
  std::vector<Entry> entries;
  int err = blocking([&]() -> int {
    DIR* d = ::fdopendir(dir.fd);
    if (d == nullptr) return errno;
    int dfd = dir.release();
    errno = 0;
    while (struct dirent* de = ::readdir(d)) {
      std::string_view n(de->d_name);
      if (n == "." || n == "..") continue;
      bool is_dir = de->d_type == DT_DIR;
      if (de->d_type == DT_UNKNOWN) {
        struct stat es;
        is_dir = ::fstatat(dfd, de->d_name, &es, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(es.st_mode);
      }
      entries.push_back(Entry{std::string(n), is_dir});
      errno = 0;
    }
    int e = errno;
    ::closedir(d);
    return e;
  });
  if (err != 0) {
    answer_open_error(w, r, err);
    return;
  }
  std::sort(entries.begin(), entries.end(),
            [](const Entry& a, const Entry& b) { return a.name < b.name; });
  std::string body =
      "<!doctype html>\n<meta name=\"viewport\" content=\"width=device-width\">\n<pre>\n";
  for (const Entry& e : entries) {
    body += "<a href=\"";
    append_path_escaped(body, e.name, false);
    if (e.is_dir) body.push_back('/');
    body += "\">";
    append_html_escaped(body, e.name);
    if (e.is_dir) body.push_back('/');
    body += "</a>\n";
  }
  body += "</pre>\n";
  Headers& out = w.header();
  out.set("Content-Type", kHtmlType);
  char cl[24];
  char* e = put_uint(cl, cl + sizeof cl, body.size());
  out.set("Content-Length", std::string_view(cl, static_cast<std::size_t>(e - cl)));
  w.write_header(status::kOk);
  (void)w.write(body);
}

// Answers a request for the directory dir (path ends with '/'; rel is its relative path with
// the slash, or "" for the root): the first index file, a listing, or 404.
void serve_directory(const State& st, ResponseWriter& w, Request& r, UniqueFd& dir,
                     std::string_view rel) {
  for (const std::string& index : st.options.index_files) {
    if (index.empty()) continue;
    std::string path;
    path.reserve(rel.size() + index.size());
    path.append(rel).append(index);
    if (serve_cached(st, w, r, path, path.c_str(), index)) return;
    struct stat sb;
    int fd = open_beneath(st, path.c_str(), sb);
    if (fd < 0) continue;
    UniqueFd f(fd);
    if (!S_ISREG(sb.st_mode)) continue;
    serve_open_file(st, w, r, path, f.fd, sb, index);
    return;
  }
  if (!st.options.list_directories) {
    not_found(w, r);
    return;
  }
  serve_listing(w, r, dir);
}

// Answers one request: method check, path confinement, then a file, a directory or an error.
void serve(const State& st, ResponseWriter& w, Request& r) {
  if (!allow_get_head(w, r)) return;
  std::string_view path = r.path();
  if (!path_is_safe(path)) {
    error(w, status::kBadRequest, "400 Bad Request: invalid path");
    return;
  }
  std::size_t start = path.find_first_not_of('/');
  std::string_view rel = start == std::string_view::npos ? std::string_view() : path.substr(start);
  bool trailing_slash = path.empty() || path.back() == '/';
  if (rel.size() >= PATH_MAX) {
    not_found(w, r);
    return;
  }
  char buf[PATH_MAX];
  if (rel.empty()) {
    buf[0] = '.';
    buf[1] = '\0';
  } else {
    std::memcpy(buf, rel.data(), rel.size());
    buf[rel.size()] = '\0';
  }

  if (!rel.empty() && serve_cached(st, w, r, rel, buf, rel)) return;
  struct stat sb;
  int fd = open_beneath(st, buf, sb);
  if (fd < 0) {
    answer_open_error(w, r, -fd);
    return;
  }
  UniqueFd f(fd);
  if (S_ISDIR(sb.st_mode)) {
    if (!trailing_slash) {
      // Relative, so the redirect stays right when a prefix was stripped from the path.
      std::string_view base = path.substr(path.rfind('/') + 1);
      std::string location;
      location.reserve(base.size() + r.raw_query().size() + 8);
      append_path_escaped(location, base, false);
      location.push_back('/');
      if (!r.raw_query().empty()) location.append("?").append(r.raw_query());
      redirect(w, r, location, status::kMovedPermanently);
      return;
    }
    serve_directory(st, w, r, f, rel);
    return;
  }
  if (!S_ISREG(sb.st_mode)) {
    not_found(w, r);
    return;
  }
  serve_open_file(st, w, r, rel, f.fd, sb, rel);
}

}  // namespace

std::string_view content_type_for(std::string_view file_name) noexcept {
  std::size_t slash = file_name.rfind('/');
  if (slash != std::string_view::npos) file_name.remove_prefix(slash + 1);
  std::size_t dot = file_name.rfind('.');
  if (dot == std::string_view::npos) return kOctetStream;
  std::string_view ext = file_name.substr(dot + 1);
  for (const TypeEntry& t : kTypes) {
    if (equal_fold(ext, t.ext)) return t.type;
  }
  return kOctetStream;
}

Handler file_server(std::string root, FileServerOptions options) {
  auto st = std::make_shared<State>();
  st->root_fd = ::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (st->root_fd < 0)
    throw std::system_error(errno, std::generic_category(), "file_server: open " + root);
  std::unique_ptr<char, decltype(&std::free)> real(::realpath(root.c_str(), nullptr), &std::free);
  if (!real)
    throw std::system_error(errno, std::generic_category(), "file_server: realpath " + root);
  st->root_real = real.get();
  st->options = std::move(options);
  if (st->options.cache_bytes > 0)
    st->cache = std::make_unique<FileCache>(st->options.cache_bytes, st->options.cache_file_limit);
  bool use = detail::openat2_allowed.load(std::memory_order_relaxed);
  if (use) {
    // Probe once: ENOSYS on old kernels, EPERM under seccomp filters that predate openat2.
    long fd = sys_openat2(st->root_fd, ".");
    if (fd >= 0) {
      ::close(static_cast<int>(fd));
    } else if (errno == ENOSYS || errno == EPERM) {
      use = false;
    }
  }
  st->use_openat2.store(use, std::memory_order_relaxed);
  return [st = std::shared_ptr<const State>(std::move(st))](ResponseWriter& w, Request& r) {
    serve(*st, w, r);
  };
}

}  // namespace weft::http
