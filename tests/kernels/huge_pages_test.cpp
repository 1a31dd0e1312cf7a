// The huge-page buffers behind the packed activations of wide sparse layers
// (src/kernels/huge_pages.h): their own mapping, 2 MiB aligned, advised for
// huge pages, and unmapped with the tensor.
#include "../../src/kernels/huge_pages.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>

namespace fd = frugal::kernels::detail;

namespace {

struct Mapping {
  bool found = false;
  uintptr_t start = 0, end = 0;
  std::string flags;  // the VmFlags line of /proc/self/smaps
};

/// Reads the "start-end" that opens a mapping's line in /proc/self/maps or
/// smaps; false for smaps' other lines.
bool parse_range(const std::string& line, uintptr_t& start, uintptr_t& end) {
  char dash = 0;
  std::istringstream head(line);
  return head >> std::hex >> start >> dash >> end && dash == '-';
}

/// The mapping of this process that contains `address`.
Mapping mapping_of(const void* address) {
  const auto a = reinterpret_cast<uintptr_t>(address);
  std::ifstream smaps("/proc/self/smaps");
  Mapping m;
  std::string line;
  while (std::getline(smaps, line)) {
    uintptr_t start = 0, end = 0;
    if (parse_range(line, start, end)) {
      if (m.found) return m;  // the next mapping's header: the one found had no VmFlags
      if (start <= a && a < end) m = {true, start, end, ""};
      continue;
    }
    if (m.found && line.rfind("VmFlags:", 0) == 0) {
      m.flags = line;
      return m;
    }
  }
  return m;
}

TEST(HugePages, LargeBuffersAreTheirOwnAlignedMappingAdvisedForHugePages) {
  // 2.2 MB, just over the threshold, and not a multiple of 2 MiB.
  auto t = fd::empty_huge({1100, 500});
  ASSERT_GE(t.numel() * 4, fd::kHugePageMinBytes);
  EXPECT_EQ(t.sizes(), (std::vector<int64_t>{1100, 500}));
  EXPECT_TRUE(t.is_contiguous());
  EXPECT_EQ(t.scalar_type(), torch::kFloat);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(t.data_ptr()) % (uintptr_t{2} << 20), 0u);
  const Mapping m = mapping_of(t.data_ptr());
  ASSERT_TRUE(m.found);
  EXPECT_EQ(m.start, reinterpret_cast<uintptr_t>(t.data_ptr())) << "the buffer starts its own mapping";
  EXPECT_EQ(m.end - m.start, uintptr_t{4} << 20) << "rounded up to whole huge pages, the slack unmapped";
  // A kernel built without THP refuses the advice; the buffer works the same.
  if (std::ifstream("/sys/kernel/mm/transparent_hugepage/enabled"))
    EXPECT_NE((m.flags + " ").find(" hg "), std::string::npos) << "not advised MADV_HUGEPAGE: " << m.flags;
  // Every byte is usable.
  t.fill_(2.f);
  EXPECT_EQ(t.sum().item<double>(), 2.0 * 1100 * 500);
}

/// Bytes of address space this process has mapped (neighbouring anonymous
/// mappings merge, so a count of mappings would not see a leak).
uintptr_t mapped_bytes() {
  std::ifstream maps("/proc/self/maps");
  uintptr_t total = 0;
  for (std::string line; std::getline(maps, line);) {
    uintptr_t start = 0, end = 0;
    if (parse_range(line, start, end)) total += end - start;
  }
  return total;
}

TEST(HugePages, TheMappingAndItsSlackAreUnmappedWithTheTensor) {
  const void* data = nullptr;
  {
    auto t = fd::empty_huge({600, 1000});
    data = t.data_ptr();
    ASSERT_TRUE(mapping_of(data).found);
  }
  EXPECT_FALSE(mapping_of(data).found);
  // Nothing is left behind either: no alignment slack, no buffer.
  const uintptr_t before = mapped_bytes();
  for (int i = 0; i < 8; ++i) fd::empty_huge({600 + i, 1000}).fill_(1.f);
  EXPECT_EQ(mapped_bytes(), before);
}

TEST(HugePages, SmallBuffersStayWithTheAllocator) {
  auto small = fd::empty_huge({100, 100});
  EXPECT_EQ(small.sizes(), (std::vector<int64_t>{100, 100}));
  const Mapping m = mapping_of(small.data_ptr());
  ASSERT_TRUE(m.found);
  EXPECT_NE(m.start, reinterpret_cast<uintptr_t>(small.data_ptr())) << "a 40 KB buffer got a mapping of its own";
}

}  // namespace
