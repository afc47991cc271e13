// The allocator compiled code calls for its buffers. Freed blocks are kept
// per size and handed out again, so that a model run many times does not map
// fresh pages (and take their page faults) for every large temporary.
#include "lib/runtime/cpu/Allocator.h"

#include <csetjmp>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <unordered_map>
#include <vector>

extern "C" int omp_in_parallel(void); // the OpenMP runtime compiled code runs on

namespace {

// Every block starts with a header that keeps the payload 64-byte aligned
// and remembers the block's size class.
constexpr size_t kHeader = 64;
constexpr size_t kGranule = 4096;

struct Cache {
  std::mutex mutex;
  std::unordered_map<size_t, std::vector<void *>> freeBlocks;
};

Cache &cache() {
  static Cache *instance = new Cache(); // never destroyed: blocks may outlive main's statics
  return *instance;
}

size_t sizeClass(size_t bytes) { return (bytes + kGranule - 1) / kGranule * kGranule; }

/// Where runCatchingOutOfMemory() waits on this thread, and what failed.
thread_local std::jmp_buf *outOfMemoryJump = nullptr;
thread_local size_t failedBytes = 0;

[[noreturn]] void outOfMemory(size_t bytes) {
  if (outOfMemoryJump && !omp_in_parallel()) {
    failedBytes = bytes;
    std::longjmp(*outOfMemoryJump, 1);
  }
  std::fprintf(stderr, "compress runtime: out of memory: compiled code asked for %zu bytes\n", bytes);
  std::_Exit(1);
}

} // namespace

size_t compress::runCatchingOutOfMemory(void (*body)(void *), void *context) {
  std::jmp_buf here;
  std::jmp_buf *outer = outOfMemoryJump;
  failedBytes = 0;
  if (setjmp(here) == 0) {
    outOfMemoryJump = &here;
    body(context);
  }
  outOfMemoryJump = outer;
  return failedBytes;
}

extern "C" {

void *_mlir_memref_to_llvm_aligned_alloc(size_t alignment, size_t bytes) {
  if (alignment > kHeader)
    return nullptr; // generated code asks for at most 64 bytes of alignment
  size_t size = sizeClass(bytes);
  {
    Cache &c = cache();
    std::lock_guard<std::mutex> lock(c.mutex);
    auto it = c.freeBlocks.find(size);
    if (it != c.freeBlocks.end() && !it->second.empty()) {
      void *block = it->second.back();
      it->second.pop_back();
      return static_cast<char *>(block) + kHeader;
    }
  }
  void *block = size + kHeader < size ? nullptr : aligned_alloc(kHeader, kHeader + size);
  if (!block)
    outOfMemory(bytes);
  *static_cast<size_t *>(block) = size;
  return static_cast<char *>(block) + kHeader;
}

void *_mlir_memref_to_llvm_alloc(size_t bytes) {
  return _mlir_memref_to_llvm_aligned_alloc(kHeader, bytes);
}

void _mlir_memref_to_llvm_free(void *ptr) {
  if (!ptr)
    return;
  void *block = static_cast<char *>(ptr) - kHeader;
  size_t size = *static_cast<size_t *>(block);
  Cache &c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  c.freeBlocks[size].push_back(block);
}

void compress_rt_release_cached_memory(void) {
  Cache &c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  for (auto &entry : c.freeBlocks)
    for (void *block : entry.second)
      free(block);
  c.freeBlocks.clear();
}

} // extern "C"
