// Int4 group-wise (g128, symmetric) linear layers on CUDA: y = x * W^T with
// x and y fp16, W int4 dequantised in registers, fp32 accumulation. The
// compiler's lowering calls int4Linear; packInt4Weights runs once at load.
//
// Packed layout (built by packInt4Layout from the dialect's row-major codes):
//   - codes: output channels in stripes of 16 (the M of mma.m16n8k16, W being
//     the A operand), each stripe split along K into tiles of 64 features,
//     512 bytes each, stripe-major ([N/16][K/64][512 B]). Within a tile, lane
//     l of a warp owns bytes 16l..16l+15: four 32-bit words, word j holding
//     the A fragment of the 16x16 sub-tile j (features 16j..16j+15) for lane
//     l, i.e. rows r = l/4 and r+8, columns c = 2(l%4), c+1, c+8, c+9. The
//     eight nibbles of a word are (r,c) (r+8,c) (r,c+8) (r+8,c+8) (r,c+1)
//     (r+8,c+1) (r,c+9) (r+8,c+9) from the lowest up, each code + 8 (0..15),
//     so that a mask with 0x000f000f / 0x00f000f0 and an OR into the fp16
//     exponent yields fragment registers directly.
//   - scales: fp16, [N/16][K/128][8] pairs (scale of row r, scale of row r+8)
//     of each stripe, so a lane reads its two scales with one 4-byte load.
#ifndef COMPRESS_LIB_RUNTIME_CUDA_INT4LINEAR_CUH
#define COMPRESS_LIB_RUNTIME_CUDA_INT4LINEAR_CUH

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <vector>

namespace compress::gpu {

inline constexpr int kInt4GroupSize = 128;
/// Largest M for which a split along K (partial sums in the workspace) is
/// allowed; larger M runs unsplit.
inline constexpr int kInt4MaxSplitM = 128;

/// Weights repacked for the kernels, on the device. `partial` and `counters`
/// are the split-K workspace: zero between calls, and each call leaves them
/// zero, so calls on one weight must be ordered (one stream).
struct PackedInt4Weight {
  int n = 0, k = 0;
  uint4 *codes = nullptr;       // [N/16][K/64][32] x 16 bytes
  __half2 *scales = nullptr;    // [N/16][K/128][8]
  float *partial = nullptr;     // [kInt4MaxSplitM][N]
  unsigned *counters = nullptr; // [N/16 * 16]
};

/// Repacks on the host. `codes` is the dialect's [n, k/2] bytes (feature 2j
/// in the low nibble, two's complement), `scales` [n, k/128] floats.
/// Requires n % 16 == 0 and k % 128 == 0.
void packInt4Layout(const uint8_t *codes, const float *scales, int n, int k,
                    std::vector<uint8_t> &packedCodes,
                    std::vector<__half> &packedScales);

/// Repacks and uploads, allocating the workspace.
cudaError_t packInt4Weights(const uint8_t *codes, const float *scales, int n,
                            int k, PackedInt4Weight *out);
void freeInt4Weights(PackedInt4Weight *w);

/// y[m, n] = x[m, k] * W^T; x and y row-major fp16, 16-byte aligned.
/// With `overlapPrevious` the kernel is launched as a programmatic dependent
/// of the previous kernel in the stream: it starts loading weights while that
/// one drains and waits for it before reading x or writing y. Calls on one
/// weight must stay ordered on one stream (the split-K workspace).
cudaError_t int4Linear(const __half *x, const PackedInt4Weight &w, __half *y,
                       int m, cudaStream_t stream,
                       bool overlapPrevious = false);

/// y = x * W^T (or y += with `accumulate`) on float32 rows: x [m, k] with
/// rows `xStride` elements apart (16-byte aligned, xStride % 4 == 0), y
/// [m, n] rows `yStride` apart; x rounded to fp16 as the kernel stages it,
/// fp32 sums added to y as they are. One launch, no conversion kernels: for
/// up to 8 rows whose x fits the skinny kernel's shared memory whole (K up
/// to about 24k at one row); cudaErrorNotSupported otherwise, with nothing
/// launched (use int4Linear on fp16 copies). `overlapPrevious` as for
/// int4Linear.
cudaError_t int4LinearF32(const float *x, long long xStride, const PackedInt4Weight &w,
                          float *y, long long yStride, bool accumulate, int m,
                          cudaStream_t stream, bool overlapPrevious = false);

/// Tuning interface for the benchmark: every compiled kernel variant.
struct Int4Variant {
  const char *name;
  int maxM; // largest M the variant handles (INT32_MAX: any)
};
struct Int4LaunchOptions {
  int kSplit = 0; // chunks of K (0: the variant's own choice)
  bool overlapPrevious = false;
};
int int4VariantCount();
Int4Variant int4VariantInfo(int variant);
cudaError_t int4LinearVariant(const __half *x, const PackedInt4Weight &w,
                              __half *y, int m, int variant,
                              const Int4LaunchOptions &options,
                              cudaStream_t stream);

} // namespace compress::gpu

#endif // COMPRESS_LIB_RUNTIME_CUDA_INT4LINEAR_CUH
