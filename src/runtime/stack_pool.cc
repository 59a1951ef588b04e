// Stack memory for tasks: reserved in large mappings, committed lazily by the kernel, pooled,
// and given back to the kernel when idle.
//
// Stacks are carved 64 at a time from one mapping, each above a guard page. On Linux 6.13 and
// later a guard page is a marker in the page table (MADV_GUARD_INSTALL): no mapping of its own,
// a fraction of mprotect's cost, so every stack gets one. Older kernels guard with mprotect,
// which costs a mapping per stack out of the 65530 Linux allows, so only the first
// `guarded_stacks` (16384) are guarded there; the rest rely on the canary at their base,
// checked at every switch.
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <mutex>
#include <vector>

#include "runtime/internal.h"
#include "runtime/sanitizers.h"

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102  // Linux 6.13
#endif

namespace weft::detail {

namespace {

constexpr std::size_t kChunkStacks = 64;

struct Pool {
  SpinLock lock;
  std::size_t stack_size = 256 * 1024;
  std::size_t page = 4096;
  long guarded_budget = 16384;
  long guarded_made = 0;
  bool light_guards = false;  // the kernel has MADV_GUARD_INSTALL
  // Idle stacks whose memory is still resident, oldest first: handed out from the back (the
  // warmest), given back to the kernel from the front. Segmented, so a million stacks coming
  // back never copy the list under the lock.
  SegRing<Stack> dirty;
  std::size_t aged = 0;  // dirty's first `aged` were idle at the last trim too
  SegRing<Stack> clean;  // idle stacks whose memory went back to the kernel
  struct Region {
    char* base;
    std::size_t len;
    std::size_t stride;  // distance between stacks (guarded ones have a guard page each)
    bool guarded;
  };
  std::vector<Region> regions;  // every reservation, for overflow checks
  std::atomic<std::size_t> reserved{0};
  // Stacks out of the shared pool: in use by tasks, or in a processor's cache. Changed under
  // the lock; kept off the per-task path, where a shared counter would bounce between CPUs.
  std::atomic<std::size_t> outside{0};
};

Pool& pool() {
  static Pool* p = new Pool();
  return *p;
}

std::size_t round_up(std::size_t n, std::size_t a) {
  return (n + a - 1) / a * a;
}

// Reserves memory for kChunkStacks more stacks and adds them to the free list. The system calls
// run without the pool lock held. REQUIRES: the pool lock is NOT held.
void grow(Pool& p) {
  const std::size_t sz = p.stack_size;
  bool guarded;
  bool light;
  {
    std::lock_guard<SpinLock> g(p.lock);
    guarded = p.guarded_made + static_cast<long>(kChunkStacks) <= p.guarded_budget;
    if (guarded) p.guarded_made += static_cast<long>(kChunkStacks);
    light = p.light_guards;
  }
  // Guarded stacks sit one page apart, each with a PROT_NONE page below it (two mappings per
  // stack once protected); unguarded ones are packed.
  const std::size_t stride = guarded ? sz + p.page : sz;
  const std::size_t total = stride * kChunkStacks;
  void* mem = ::mmap(nullptr, total, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (mem == MAP_FAILED) fatal("out of memory reserving task stacks");
  char* c = static_cast<char*>(mem);
  std::size_t protected_count = kChunkStacks;
  if (guarded) {
    for (std::size_t i = 0; i < kChunkStacks; ++i) {
      int r = light ? ::madvise(c + i * stride, p.page, MADV_GUARD_INSTALL)
                    : ::mprotect(c + i * stride, p.page, PROT_NONE);
      if (r != 0) {
        protected_count = i;  // out of mappings: the rest go without a guard
        break;
      }
    }
  }
  std::lock_guard<SpinLock> g(p.lock);
  if (guarded && protected_count < kChunkStacks) p.guarded_budget = p.guarded_made;
  p.regions.push_back(Pool::Region{c, total, stride, guarded});
  p.reserved.fetch_add(total, std::memory_order_relaxed);
  // Push highest first so the lowest address is handed out first. Fresh stacks count as clean.
  for (std::size_t i = kChunkStacks; i-- > 0;) {
    char* base = guarded ? c + i * stride + p.page : c + i * stride;
    p.clean.push_back(Stack{base, static_cast<uint32_t>(sz), guarded && i < protected_count});
  }
}

// True when madvise(MADV_GUARD_INSTALL) works here (Linux 6.13 and later).
bool light_guards_supported(std::size_t page) {
  void* m = ::mmap(nullptr, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) return false;
  bool ok = ::madvise(m, page, MADV_GUARD_INSTALL) == 0;
  ::munmap(m, 2 * page);
  return ok;
}

}  // namespace

void stack_pool_init(std::size_t stack_size, long guarded_stacks) {
  Pool& p = pool();
  std::lock_guard<SpinLock> g(p.lock);
  p.page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  p.stack_size = round_up(std::clamp<std::size_t>(stack_size, 16 * 1024, kMaxStackSize), p.page);
  p.light_guards = light_guards_supported(p.page);
  if (const char* e = std::getenv("WEFT_GUARDED_STACKS")) guarded_stacks = std::atol(e);
  if (guarded_stacks < 0) guarded_stacks = p.light_guards ? LONG_MAX : 16384;
  p.guarded_budget = guarded_stacks;
}

namespace {

// Takes the warmest idle stack. REQUIRES: the pool lock held and an idle stack.
Stack take_idle_locked(Pool& p) {
  SegRing<Stack>& from = p.dirty.empty() ? p.clean : p.dirty;
  Stack s = from.at(from.tail() - 1);
  from.pop_back();
  if (p.aged > p.dirty.size()) p.aged = p.dirty.size();
  return s;
}

void put_idle_locked(Pool& p, const Stack& s) {
  p.dirty.push_back(s);
}

}  // namespace

Stack stack_alloc_slow(StackCache* cache) {
  Pool& p = pool();
  for (;;) {
    {
      std::lock_guard<SpinLock> g(p.lock);
      if (!p.dirty.empty() || !p.clean.empty()) {
        Stack s = take_idle_locked(p);
        std::size_t taken = 1;
        // Refill the cache with a few more while we hold the lock.
        while (cache && cache->count < StackCache::kBatch / 2 &&
               (!p.dirty.empty() || !p.clean.empty())) {
          cache->items[cache->count++] = take_idle_locked(p);
          ++taken;
        }
        if (cache) cache->count_seen.store(cache->count, std::memory_order_relaxed);
        p.outside.fetch_add(taken, std::memory_order_relaxed);
        san::unpoison(s.base, s.size);
        return s;
      }
    }
    grow(p);
  }
}

void stack_free_slow(StackCache* cache, Stack s) {
  Pool& p = pool();
  std::lock_guard<SpinLock> g(p.lock);
  std::size_t returned = 1;
  // Spill a batch, oldest first, so the cache keeps the warmest stacks.
  if (cache) {
    for (int i = 0; i < StackCache::kBatch; ++i) put_idle_locked(p, cache->items[i]);
    for (int i = StackCache::kBatch; i < cache->count; ++i)
      cache->items[i - StackCache::kBatch] = cache->items[i];
    cache->count -= StackCache::kBatch;
    cache->count_seen.store(cache->count, std::memory_order_relaxed);
    returned += StackCache::kBatch;
  }
  put_idle_locked(p, s);
  p.outside.fetch_sub(returned, std::memory_order_relaxed);
}

void stack_cache_flush(StackCache* cache) {
  Pool& p = pool();
  std::lock_guard<SpinLock> g(p.lock);
  p.outside.fetch_sub(static_cast<std::size_t>(cache->count), std::memory_order_relaxed);
  for (int i = 0; i < cache->count; ++i) put_idle_locked(p, cache->items[i]);
  cache->count = 0;
  cache->count_seen.store(0, std::memory_order_relaxed);
}

void stack_pool_trim(bool all) {
  // Unless asked for all, only stacks that were already idle at the previous pass go back to
  // the kernel, so a working set that cycles through the pool stays warm. The lock is taken
  // for one batch at a time, so tasks freeing and taking stacks meanwhile wait for a batch at
  // most, never for the whole pass.
  constexpr std::size_t kTrimBatch = 4096;
  Pool& p = pool();
  std::size_t left;
  {
    std::lock_guard<SpinLock> g(p.lock);
    left = all ? p.dirty.size() : p.aged;
  }
  std::vector<Stack> batch;
  batch.reserve(std::min(left, kTrimBatch));
  while (left > 0) {
    batch.clear();
    {
      std::lock_guard<SpinLock> g(p.lock);
      // Stacks handed out meanwhile came from the back, and take_idle_locked lowered `aged`
      // for them: the front is still the oldest, and still aged for the first `aged`.
      left = std::min(left, all ? p.dirty.size() : p.aged);
      while (left > 0 && batch.size() < kTrimBatch) {
        batch.push_back(p.dirty.at(p.dirty.head()));
        p.dirty.pop_front();
        --left;
        if (p.aged > 0) --p.aged;
      }
    }
    if (batch.empty()) break;
    // Coalesce neighbours so one madvise covers a run of stacks.
    std::sort(batch.begin(), batch.end(),
              [](const Stack& a, const Stack& b) { return a.base < b.base; });
    for (std::size_t i = 0; i < batch.size();) {
      char* start = batch[i].base;
      char* end = batch[i].base + batch[i].size;
      std::size_t j = i + 1;
      while (j < batch.size() && batch[j].base == end) {
        end += batch[j].size;
        ++j;
      }
      ::madvise(start, static_cast<std::size_t>(end - start), MADV_DONTNEED);
      i = j;
    }
    std::lock_guard<SpinLock> g(p.lock);
    for (const Stack& s : batch) p.clean.push_back(s);
  }
  std::lock_guard<SpinLock> g(p.lock);
  p.aged = p.dirty.size();
}

std::size_t stack_reserved_bytes() noexcept {
  return pool().reserved.load(std::memory_order_relaxed);
}
std::size_t stacks_in_use() noexcept {
  // Read without the lock, the two counts may disagree for a moment.
  std::size_t outside = pool().outside.load(std::memory_order_relaxed);
  std::size_t cached = stacks_in_processor_caches();
  return outside > cached ? outside - cached : 0;
}

std::size_t stack_committed_bytes() {
  // mincore(2) looks at every page of every reservation: about a quarter of a microsecond per
  // stack. Scrapes that come close together share one count.
  constexpr int64_t kReuseNs = 5'000'000'000;
  static std::mutex mu;
  static int64_t counted_at = INT64_MIN;
  static std::size_t counted = 0;
  std::lock_guard<std::mutex> once(mu);
  int64_t now = now_ns();
  if (counted_at != INT64_MIN && now - counted_at < kReuseNs) return counted;
  Pool& p = pool();
  std::vector<Pool::Region> regions;
  {
    std::lock_guard<SpinLock> g(p.lock);
    regions = p.regions;
  }
  std::size_t resident_pages = 0;
  std::vector<unsigned char> pages;
  for (const Pool::Region& r : regions) {
    pages.resize((r.len + p.page - 1) / p.page);
    if (::mincore(r.base, r.len, pages.data()) != 0) continue;
    for (unsigned char v : pages) resident_pages += v & 1;
  }
  counted = resident_pages * p.page;
  counted_at = now;
  return counted;
}

bool stack_is_overflow_address(const void* addr) noexcept {
  // Called from the SIGSEGV handler: no locks, no allocation. A racing grow() may make us miss
  // a brand-new region, which only costs the friendlier message.
  Pool& p = pool();
  const char* a = static_cast<const char*>(addr);
  std::size_t n = p.regions.size();
  for (std::size_t i = 0; i < n && i < p.regions.capacity(); ++i) {
    const Pool::Region& r = p.regions.data()[i];
    // An unguarded stack at the bottom of its mapping overflows into the page below it.
    if (!r.guarded && a < r.base && a >= r.base - p.page) return true;
    if (a < r.base || a >= r.base + r.len) continue;
    std::size_t in_slot = static_cast<std::size_t>(a - r.base) % r.stride;
    // The guard page and the stack's lowest page, or an unguarded stack's lowest page.
    return in_slot < (r.guarded ? 2 * p.page : p.page);
  }
  return false;
}

}  // namespace weft::detail
