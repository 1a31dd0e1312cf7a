#include <frugal/core/allocator.h>

#include <gtest/gtest.h>

#include <malloc.h>

#include <cstdlib>
#include <cstring>

namespace {

// A block the size of a large activation comes from the heap, not a fresh
// mapping, and its memory stays in the heap once freed, ready for the next
// step. (With glibc's defaults the block is mapped, or the freed top of the
// heap is returned to the system.)
TEST(KeepFreedMemory, LargeBlocksStayInTheHeapAfterFree) {
  ASSERT_TRUE(frugal::core::keep_freed_memory());
  constexpr size_t kBlock = 30 << 20;
  const size_t mapped_before = mallinfo2().hblkhd;
  void* block = std::malloc(kBlock);
  ASSERT_NE(block, nullptr);
  std::memset(block, 1, kBlock);
  EXPECT_EQ(mallinfo2().hblkhd, mapped_before) << "the block was mapped on its own";
  std::free(block);
  EXPECT_GE(mallinfo2().keepcost, kBlock) << "the freed block was returned to the system";
}

}  // namespace
