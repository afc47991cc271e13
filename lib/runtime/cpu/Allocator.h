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

namespace compress {

/// Calls `body(context)`, compiled code, so that an allocation it cannot get
/// (a model whose buffers exceed the machine's memory) ends the call instead
/// of the process: returns the bytes the failed allocation asked for, or 0
/// when `body` returned. The allocator jumps back here (longjmp: compiled
/// code holds no destructors); buffers the call had allocated are lost. An
/// allocation that fails inside a parallel region, or outside such a call,
/// ends the process with a message.
size_t runCatchingOutOfMemory(void (*body)(void *), void *context);

} // namespace compress

#endif
