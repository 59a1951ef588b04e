// Stack memory for tasks: reserved in large mappings, committed lazily by the kernel, pooled,
// and given back to the kernel when idle.
//
// Linux allows 65530 memory mappings per process and a guard page costs one more mapping per
// stack, so only the first `guarded_stacks` stacks are guarded; the rest are carved 64 at a time
// from one mapping and rely on the canary at their base, checked at every switch.
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <mutex>
#include <vector>

#include "runtime/internal.h"
#include "runtime/sanitizers.h"

namespace weft::detail {

namespace {

constexpr std::size_t kChunkStacks = 64;

struct Pool {
  SpinLock lock;
  std::size_t stack_size = 256 * 1024;
  std::size_t page = 4096;
  long guarded_budget = 16384;
  long guarded_made = 0;
  std::vector<Stack> free;     // idle stacks, dirty or clean
  std::size_t clean_from = 0;  // free[0, clean_from) had their memory returned
  std::vector<std::pair<char*, std::size_t>> regions;  // every reservation, for overflow checks
  std::atomic<std::size_t> reserved{0};
  std::atomic<std::size_t> in_use{0};
};

Pool& pool() {
  static Pool* p = new Pool();
  return *p;
}

std::size_t round_up(std::size_t n, std::size_t a) {
  return (n + a - 1) / a * a;
}

// Reserves memory for more stacks and pushes them onto the free list. REQUIRES: pool lock.
void grow(Pool& p) {
  const std::size_t sz = p.stack_size;
  if (p.guarded_made < p.guarded_budget) {
    // A few guarded stacks at a time: each is its own mapping with a PROT_NONE page below.
    for (int i = 0; i < 16 && p.guarded_made < p.guarded_budget; ++i) {
      std::size_t total = sz + p.page;
      void* mem = ::mmap(nullptr, total, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
      if (mem == MAP_FAILED) break;
      char* c = static_cast<char*>(mem);
      if (::mprotect(c, p.page, PROT_NONE) != 0) {
        ::munmap(mem, total);
        p.guarded_budget = p.guarded_made;  // out of mappings: stop guarding
        break;
      }
      p.regions.emplace_back(c, total);
      p.reserved.fetch_add(total, std::memory_order_relaxed);
      p.free.push_back(Stack{c + p.page, sz, true});
      ++p.guarded_made;
    }
    if (!p.free.empty()) return;
  }
  std::size_t total = sz * kChunkStacks;
  void* mem = ::mmap(nullptr, total, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (mem == MAP_FAILED) fatal("out of memory reserving task stacks");
  char* c = static_cast<char*>(mem);
  p.regions.emplace_back(c, total);
  p.reserved.fetch_add(total, std::memory_order_relaxed);
  // Push highest first so the lowest address is handed out first.
  for (std::size_t i = kChunkStacks; i-- > 0;) p.free.push_back(Stack{c + i * sz, sz, false});
}

}  // namespace

void stack_pool_init(std::size_t stack_size, long guarded_stacks) {
  Pool& p = pool();
  std::lock_guard<SpinLock> g(p.lock);
  p.page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  p.stack_size = round_up(std::max<std::size_t>(stack_size, 16 * 1024), p.page);
  if (const char* e = std::getenv("WEFT_GUARDED_STACKS")) guarded_stacks = std::atol(e);
  p.guarded_budget = guarded_stacks < 0 ? 16384 : guarded_stacks;
}

Stack stack_alloc(StackCache* cache) {
  Pool& p = pool();
  p.in_use.fetch_add(1, std::memory_order_relaxed);
  if (cache && cache->count > 0) return cache->items[--cache->count];
  std::lock_guard<SpinLock> g(p.lock);
  if (p.free.empty()) grow(p);
  Stack s = p.free.back();
  p.free.pop_back();
  // Refill the cache with a few more while we hold the lock.
  while (cache && cache->count < StackCache::kBatch / 2 && !p.free.empty()) {
    cache->items[cache->count++] = p.free.back();
    p.free.pop_back();
  }
  if (p.clean_from > p.free.size()) p.clean_from = p.free.size();
  san::unpoison(s.base, s.size);
  return s;
}

void stack_free(StackCache* cache, Stack s) {
  Pool& p = pool();
  p.in_use.fetch_sub(1, std::memory_order_relaxed);
  san::unpoison(s.base, s.size);
  if (cache && cache->count < StackCache::kMax) {
    cache->items[cache->count++] = s;
    return;
  }
  std::lock_guard<SpinLock> g(p.lock);
  p.free.push_back(s);
  // Spill a batch, oldest first, so the cache keeps the warmest stacks.
  if (cache) {
    for (int i = 0; i < StackCache::kBatch; ++i) p.free.push_back(cache->items[i]);
    for (int i = StackCache::kBatch; i < cache->count; ++i)
      cache->items[i - StackCache::kBatch] = cache->items[i];
    cache->count -= StackCache::kBatch;
  }
}

void stack_cache_flush(StackCache* cache) {
  Pool& p = pool();
  std::lock_guard<SpinLock> g(p.lock);
  while (cache->count > 0) p.free.push_back(cache->items[--cache->count]);
}

void stack_pool_trim() {
  Pool& p = pool();
  std::vector<Stack> dirty;
  {
    std::lock_guard<SpinLock> g(p.lock);
    if (p.free.size() <= p.clean_from) return;
    dirty.assign(p.free.begin() + static_cast<std::ptrdiff_t>(p.clean_from), p.free.end());
    p.free.resize(p.clean_from);
  }
  // Coalesce neighbours so one madvise covers a run of stacks.
  std::sort(dirty.begin(), dirty.end(),
            [](const Stack& a, const Stack& b) { return a.base < b.base; });
  for (std::size_t i = 0; i < dirty.size();) {
    char* start = dirty[i].base;
    char* end = dirty[i].base + dirty[i].size;
    std::size_t j = i + 1;
    while (j < dirty.size() && dirty[j].base == end && !dirty[j].guarded) {
      end += dirty[j].size;
      ++j;
    }
    ::madvise(start, static_cast<std::size_t>(end - start), MADV_DONTNEED);
    i = j;
  }
  std::lock_guard<SpinLock> g(p.lock);
  // Stacks freed meanwhile are dirty and must stay above the clean ones.
  std::vector<Stack> newer(p.free.begin() + static_cast<std::ptrdiff_t>(p.clean_from),
                           p.free.end());
  p.free.resize(p.clean_from);
  p.free.insert(p.free.end(), dirty.begin(), dirty.end());
  p.clean_from = p.free.size();
  p.free.insert(p.free.end(), newer.begin(), newer.end());
}

std::size_t stack_reserved_bytes() noexcept {
  return pool().reserved.load(std::memory_order_relaxed);
}
std::size_t stacks_in_use() noexcept {
  return pool().in_use.load(std::memory_order_relaxed);
}

bool stack_is_overflow_address(const void* addr) noexcept {
  // Called from the SIGSEGV handler: no locks, no allocation. A racing grow() may make us miss
  // a brand-new region, which only costs the friendlier message.
  Pool& p = pool();
  const char* a = static_cast<const char*>(addr);
  std::size_t n = p.regions.size();
  for (std::size_t i = 0; i < n && i < p.regions.capacity(); ++i) {
    auto [base, len] = p.regions.data()[i];
    if (a < base || a >= base + len) continue;
    std::size_t off = static_cast<std::size_t>(a - base);
    bool guarded_region = len == p.stack_size + p.page;
    if (guarded_region) return off < 2 * p.page;
    return off % p.stack_size < p.page;
  }
  return false;
}

}  // namespace weft::detail
