// The allocator that compiled code calls (finalize-memref-to-llvm with
// use-generic-functions), and that frees the results it hands back.
#ifndef COMPRESS_LIB_RUNTIME_CPU_ALLOCATOR_H
#define COMPRESS_LIB_RUNTIME_CPU_ALLOCATOR_H

#include <cstddef>
#include <cstdint>

extern "C" {
void *_mlir_memref_to_llvm_alloc(size_t bytes);
void *_mlir_memref_to_llvm_aligned_alloc(size_t alignment, size_t bytes);
void _mlir_memref_to_llvm_free(void *ptr);
/// Gives the cached free blocks back to the system.
void compress_rt_release_cached_memory(void);
/// The strided copy lowered memref.copy calls (see MemrefCopy.cpp).
void memrefCopy(int64_t elementSize, void *source, void *destination);
}

#endif
