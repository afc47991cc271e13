// memrefCopy: the strided copy that lowered memref.copy calls when source or
// destination is not contiguous (a padded buffer, a slice). MLIR's runner
// utilities provide one for the JIT; artifacts carry this one instead.
#include "lib/runtime/cpu/Allocator.h"

#include <cstdint>
#include <cstring>
#include <vector>

namespace {
/// The C layout of an unranked memref argument: rank, then a pointer to a
/// ranked descriptor {allocated, aligned, offset, sizes[rank], strides[rank]}.
struct UnrankedMemRef {
  int64_t rank;
  int64_t *descriptor;
};
} // namespace

extern "C" void memrefCopy(int64_t elementSize, void *sourceArg, void *destinationArg) {
  auto *source = static_cast<UnrankedMemRef *>(sourceArg);
  auto *destination = static_cast<UnrankedMemRef *>(destinationArg);
  int64_t rank = source->rank;
  const int64_t *s = source->descriptor, *d = destination->descriptor;
  const char *from = reinterpret_cast<const char *>(s[1]) + s[2] * elementSize;
  char *to = reinterpret_cast<char *>(d[1]) + d[2] * elementSize;
  const int64_t *sizes = s + 3, *fromStrides = s + 3 + rank, *toStrides = d + 3 + rank;
  int64_t total = 1;
  for (int64_t i = 0; i < rank; ++i)
    total *= sizes[i];
  if (total == 0)
    return;
  // Copy the innermost dimension in one run when both sides are contiguous there.
  int64_t inner = rank > 0 && fromStrides[rank - 1] == 1 && toStrides[rank - 1] == 1
                      ? sizes[rank - 1]
                      : 1;
  int64_t outerRank = inner > 1 ? rank - 1 : rank;
  std::vector<int64_t> index(outerRank, 0);
  for (int64_t done = 0; done < total; done += inner) {
    int64_t fromOffset = 0, toOffset = 0;
    for (int64_t i = 0; i < outerRank; ++i) {
      fromOffset += index[i] * fromStrides[i];
      toOffset += index[i] * toStrides[i];
    }
    memcpy(to + toOffset * elementSize, from + fromOffset * elementSize, inner * elementSize);
    for (int64_t i = outerRank - 1; i >= 0; --i) {
      if (++index[i] < sizes[i])
        break;
      index[i] = 0;
    }
  }
}
