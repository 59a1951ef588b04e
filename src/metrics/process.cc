// Process metrics read from Linux's /proc at scrape time.
#include "weft/metrics/process.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "metrics/proc_file.h"

namespace weft::metrics {

std::optional<std::string> read_proc_file(const char* path) {
  int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::string text;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ::close(fd);
      return std::nullopt;
    }
    if (n == 0) break;
    text.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return text;
}

namespace {

constexpr std::string_view kCpuSeconds = "process_cpu_seconds_total";
constexpr std::string_view kResidentBytes = "process_resident_memory_bytes";
constexpr std::string_view kVirtualBytes = "process_virtual_memory_bytes";
constexpr std::string_view kOpenFds = "process_open_fds";
constexpr std::string_view kMaxFds = "process_max_fds";
constexpr std::string_view kStartTime = "process_start_time_seconds";

std::optional<uint64_t> parse_u64(std::string_view text) {
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return v;
}

// The fields of /proc/self/stat we use (see proc(5)).
struct ProcStat {
  uint64_t utime_ticks = 0;      // field 14
  uint64_t stime_ticks = 0;      // field 15
  uint64_t starttime_ticks = 0;  // field 22: since boot
  uint64_t vsize_bytes = 0;      // field 23
  uint64_t rss_pages = 0;        // field 24
};

std::optional<ProcStat> read_proc_stat() {
  std::optional<std::string> text = read_proc_file("/proc/self/stat");
  if (!text) return std::nullopt;
  // Field 2 is the command name in parentheses, which may hold spaces and parentheses itself:
  // the fields after it start past the last ')'.
  std::size_t close = text->rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::vector<std::string_view> fields;  // fields[0] is field 3
  std::string_view rest = std::string_view(*text).substr(close + 1);
  while (!rest.empty()) {
    std::size_t start = rest.find_first_not_of(" \n");
    if (start == std::string_view::npos) break;
    rest.remove_prefix(start);
    std::size_t end = rest.find_first_of(" \n");
    fields.push_back(rest.substr(0, end));
    rest.remove_prefix(end == std::string_view::npos ? rest.size() : end);
  }
  auto field = [&](std::size_t number) -> std::optional<uint64_t> {
    if (number < 3 || number - 3 >= fields.size()) return std::nullopt;
    return parse_u64(fields[number - 3]);
  };
  auto utime = field(14), stime = field(15), starttime = field(22), vsize = field(23),
       rss = field(24);
  if (!utime || !stime || !starttime || !vsize || !rss) return std::nullopt;
  return ProcStat{*utime, *stime, *starttime, *vsize, *rss};
}

// The boot time, in seconds since the Unix epoch ("btime" in /proc/stat).
std::optional<uint64_t> read_boot_time() {
  std::optional<std::string> text = read_proc_file("/proc/stat");
  if (!text) return std::nullopt;
  std::string_view rest = *text;
  constexpr std::string_view kKey = "btime ";
  while (!rest.empty()) {
    std::size_t end = rest.find('\n');
    std::string_view line = rest.substr(0, end);
    if (line.starts_with(kKey)) return parse_u64(line.substr(kKey.size()));
    rest.remove_prefix(end == std::string_view::npos ? rest.size() : end + 1);
  }
  return std::nullopt;
}

// The number of open file descriptors, not counting the one this count reads through.
std::optional<uint64_t> count_open_fds() {
  DIR* dir = ::opendir("/proc/self/fd");
  if (dir == nullptr) return std::nullopt;
  std::string own = std::to_string(::dirfd(dir));
  uint64_t count = 0;
  while (const dirent* entry = ::readdir(dir)) {
    std::string_view name = entry->d_name;
    if (name == "." || name == ".." || name == own) continue;
    ++count;
  }
  ::closedir(dir);
  return count;
}

// The start time, in seconds since the Unix epoch: the boot time plus the start time since boot.
std::optional<double> read_start_time(double ticks_per_second) {
  std::optional<ProcStat> stat = read_proc_stat();
  std::optional<uint64_t> boot = read_boot_time();
  if (!stat || !boot) return std::nullopt;
  return static_cast<double>(*boot) + static_cast<double>(stat->starttime_ticks) / ticks_per_second;
}

// What the scrape-time collector needs to know, fixed at registration.
struct ProcessFacts {
  double ticks_per_second;
  double page_bytes;
  std::optional<double> start_time;
};

void collect_process_metrics(MetricWriter& out, const ProcessFacts& facts) {
  if (std::optional<ProcStat> stat = read_proc_stat()) {
    out.write(kCpuSeconds,
              static_cast<double>(stat->utime_ticks + stat->stime_ticks) / facts.ticks_per_second);
    out.write(kResidentBytes, static_cast<double>(stat->rss_pages) * facts.page_bytes);
    out.write(kVirtualBytes, static_cast<double>(stat->vsize_bytes));
  }
  if (facts.start_time) out.write(kStartTime, *facts.start_time);
  if (std::optional<uint64_t> open = count_open_fds())
    out.write(kOpenFds, static_cast<double>(*open));
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0) {
    out.write(kMaxFds, limit.rlim_cur == RLIM_INFINITY ? std::numeric_limits<double>::infinity()
                                                       : static_cast<double>(limit.rlim_cur));
  }
}

FamilyDesc gauge_desc(std::string_view name, std::string_view help) {
  return FamilyDesc{std::string(name), std::string(help), MetricType::kGauge, {}, {}};
}

}  // namespace

void register_process_metrics(Registry& registry) {
  std::vector<FamilyDesc> families;
  families.push_back(FamilyDesc{std::string(kCpuSeconds),
                                "Total user and system CPU time spent in seconds.",
                                MetricType::kCounter,
                                {},
                                {}});
  families.push_back(gauge_desc(kResidentBytes, "Resident memory size in bytes."));
  families.push_back(gauge_desc(kVirtualBytes, "Virtual memory size in bytes."));
  families.push_back(gauge_desc(kOpenFds, "Number of open file descriptors."));
  families.push_back(gauge_desc(kMaxFds, "Maximum number of open file descriptors."));
  families.push_back(
      gauge_desc(kStartTime, "Start time of the process since unix epoch in seconds."));

  long ticks = ::sysconf(_SC_CLK_TCK);
  long page = ::sysconf(_SC_PAGESIZE);
  ProcessFacts facts;
  facts.ticks_per_second = ticks > 0 ? static_cast<double>(ticks) : 100;
  facts.page_bytes = page > 0 ? static_cast<double>(page) : 4096;
  facts.start_time = read_start_time(facts.ticks_per_second);
  registry.add_collector(std::move(families),
                         [facts](MetricWriter& out) { collect_process_metrics(out, facts); });
}

}  // namespace weft::metrics
