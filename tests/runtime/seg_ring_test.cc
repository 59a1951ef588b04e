// SegRing, the segmented queue behind channel wait queues, the global run queue and the stack
// pool: checked step by step against std::deque through small, segmented and shrinking forms.
#include "weft/runtime/detail/seg_ring.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <deque>
#include <random>

namespace weft::detail {
namespace {

struct Entry {
  uint64_t value;
  uint64_t seq;  // where the ring said it put the value
};

// Every value of ring is where the reference says, at the sequence number it was given.
void expect_same(SegRing<uint64_t>& ring, const std::deque<Entry>& ref) {
  ASSERT_EQ(ring.size(), ref.size());
  for (std::size_t i = 0; i < ref.size(); ++i) {
    ASSERT_EQ(ring.head() + i, ref[i].seq);
    ASSERT_EQ(ring.at(ref[i].seq), ref[i].value) << "at position " << i;
  }
}

TEST(SegRing, PushesAndPopsInOrderAcrossSegments) {
  SegRing<uint64_t> ring;
  std::deque<Entry> ref;
  for (uint64_t v = 0; v < 5000; ++v) {
    uint64_t seq = ring.push_back(v);
    EXPECT_EQ(seq, ring.tail() - 1);
    ref.push_back({v, seq});
  }
  expect_same(ring, ref);
  while (!ref.empty()) {
    ASSERT_EQ(ring.at(ring.head()), ref.front().value);
    ring.pop_front();
    ref.pop_front();
  }
  EXPECT_TRUE(ring.empty());
}

TEST(SegRing, SequenceNumbersSurviveGrowth) {
  // A value keeps its sequence number while the ring doubles and then turns into segments,
  // whatever the head's offset when that happens.
  for (int offset : {0, 1, 3, 100, 255}) {
    SegRing<uint64_t> ring;
    std::deque<Entry> ref;
    for (int i = 0; i < offset; ++i) {
      ring.push_back(0);
      ring.pop_front();
    }
    for (uint64_t v = 1; v <= 1000; ++v) ref.push_back({v, ring.push_back(v)});
    expect_same(ring, ref);
  }
}

TEST(SegRing, RandomOperationsMatchADeque) {
  std::mt19937_64 rng(12345);
  SegRing<uint64_t> ring;
  std::deque<Entry> ref;
  uint64_t next = 1;
  for (int step = 0; step < 200000; ++step) {
    // Phases that favour growth, then shrinking, so the ring crosses its forms many times.
    bool growing = (step / 5000) % 2 == 0;
    unsigned roll = static_cast<unsigned>(rng() % 100);
    if (ref.empty() || roll < (growing ? 60u : 30u)) {
      ref.push_back({next, ring.push_back(next)});
      ++next;
    } else if (roll < 85) {
      ASSERT_EQ(ring.at(ring.head()), ref.front().value);
      ring.pop_front();
      ref.pop_front();
    } else {
      ASSERT_EQ(ring.at(ring.tail() - 1), ref.back().value);
      ring.pop_back();
      ref.pop_back();
    }
    if (step % 997 == 0) expect_same(ring, ref);
  }
  expect_same(ring, ref);
}

TEST(SegRing, CompactKeepsOrderAndRenumbers) {
  SegRing<uint64_t> ring;
  for (uint64_t v = 0; v < 3000; ++v) ring.push_back(v);
  for (int i = 0; i < 700; ++i) ring.pop_front();  // the head mid-segment
  uint64_t first = ring.head();
  std::deque<Entry> ref;
  uint64_t renumbered = 0;
  ring.compact([](uint64_t v) { return v % 3 == 0; },
               [&](uint64_t v, uint64_t seq) {
                 EXPECT_EQ(seq, first + ref.size());
                 ref.push_back({v, seq});
                 ++renumbered;
               });
  EXPECT_EQ(renumbered, 766u);  // the multiples of 3 in [700, 3000): 702 to 2997
  expect_same(ring, ref);
  // Still a working queue afterwards.
  for (uint64_t v = 10000; v < 10600; ++v) ref.push_back({v, ring.push_back(v)});
  expect_same(ring, ref);
}

TEST(SegRing, ClearAndReleaseLeaveAnEmptyUsableRing) {
  SegRing<uint64_t> ring;
  for (uint64_t v = 0; v < 2000; ++v) ring.push_back(v);
  ring.clear();
  EXPECT_TRUE(ring.empty());
  EXPECT_EQ(ring.push_back(7), ring.head());
  EXPECT_EQ(ring.at(ring.head()), 7u);
  ring.release();
  EXPECT_TRUE(ring.empty());
  std::deque<Entry> ref;
  for (uint64_t v = 0; v < 300; ++v) ref.push_back({v, ring.push_back(v)});
  expect_same(ring, ref);
}

}  // namespace
}  // namespace weft::detail
