// Int4 g128 dequantize-and-multiply kernels, all on mma.m16n8k16 with W as
// the A operand: for few rows of x a block-per-stripe kernel and a persistent
// one (weights streamed straight into registers, x staged in shared memory),
// for many rows a tiled kernel (cp.async stages, ldmatrix for x); plus the
// repack and the dispatcher. docs/gpu-kernels-notes.md has the measurements
// behind each choice.
#include "lib/runtime/cuda/Int4Linear.cuh"

#include <algorithm>
#include <climits>
#include <cstring>
#include <type_traits>

namespace compress::gpu {
namespace {

constexpr int kStripe = 16;    // output channels per stripe (mma M)
constexpr int kTileK = 64;     // features per 512-byte tile
constexpr int kTileWords = 32; // 16-byte words per tile, one per lane

//===----------------------------------------------------------------------===//
// Device helpers
//===----------------------------------------------------------------------===//

__device__ __forceinline__ __half2 asHalf2(uint32_t v) {
  __half2 h;
  memcpy(&h, &v, 4);
  return h;
}
__device__ __forceinline__ uint32_t asU32(__half2 h) {
  uint32_t v;
  memcpy(&v, &h, 4);
  return v;
}

/// (a & b) | c in one instruction.
__device__ __forceinline__ uint32_t andOr(uint32_t a, uint32_t b, uint32_t c) {
  uint32_t d;
  asm("lop3.b32 %0, %1, %2, %3, 0xEA;" : "=r"(d) : "r"(a), "r"(b), "r"(c));
  return d;
}

/// One packed word (8 codes) to the four A-fragment registers, scaled:
/// OR-ing a nibble under the exponent of 1024.0 gives 1024 + q exactly, so one
/// subtraction (or, for the high nibble, 1024 + 16q times 1/16 minus 72) gives
/// q - 8, the signed code, with no conversion instruction.
__device__ __forceinline__ void dequant(uint32_t q, __half2 sLo, __half2 sHi,
                                        uint32_t a[4]) {
  constexpr uint32_t kLow = 0x000f000f, kHigh = 0x00f000f0, kExp = 0x64006400;
  const __half2 kSub = asHalf2(0x64086408), kMul = asHalf2(0x2c002c00),
                kAdd = asHalf2(0xd480d480);
  uint32_t l0 = andOr(q, kLow, kExp), h0 = andOr(q, kHigh, kExp);
  q >>= 8;
  uint32_t l1 = andOr(q, kLow, kExp), h1 = andOr(q, kHigh, kExp);
  a[0] = asU32(__hmul2(__hsub2(asHalf2(l0), kSub), sLo));
  a[1] = asU32(__hmul2(__hfma2(asHalf2(h0), kMul, kAdd), sHi));
  a[2] = asU32(__hmul2(__hsub2(asHalf2(l1), kSub), sLo));
  a[3] = asU32(__hmul2(__hfma2(asHalf2(h1), kMul, kAdd), sHi));
}

__device__ __forceinline__ void mma(float c[4], const uint32_t a[4],
                                    uint32_t b0, uint32_t b1) {
  asm("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, "
      "{%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

/// Streaming 16-byte load: read once, so it skips L1. Volatile keeps it where
/// it is written, ahead of the arithmetic that hides its latency.
__device__ __forceinline__ uint4 loadStream(const uint4 *p) {
  uint4 v;
  asm volatile("ld.global.nc.L1::no_allocate.v4.u32 {%0,%1,%2,%3}, [%4];"
               : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
               : "l"(p));
  return v;
}

__device__ __forceinline__ uint32_t word(const uint4 &v, int j) {
  return j == 0 ? v.x : j == 1 ? v.y : j == 2 ? v.z : v.w;
}

__device__ __forceinline__ uint32_t smemAddr(const void *p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

__device__ __forceinline__ void cpAsync16(void *dst, const void *src,
                                          bool valid) {
  asm volatile(
      "cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(smemAddr(dst)),
      "l"(src), "r"(valid ? 16 : 0));
}
__device__ __forceinline__ void cpAsyncCommit() {
  asm volatile("cp.async.commit_group;");
}
template <int N> __device__ __forceinline__ void cpAsyncWait() {
  asm volatile("cp.async.wait_group %0;" ::"n"(N));
}

__device__ __forceinline__ void ldmatrix4(const void *p, uint32_t &r0,
                                          uint32_t &r1, uint32_t &r2,
                                          uint32_t &r3) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];"
               : "=r"(r0), "=r"(r1), "=r"(r2), "=r"(r3)
               : "r"(smemAddr(p)));
}

/// The groups [g0, g1) of split `split` out of `kSplit`: splits fall on group
/// boundaries so that each block reads each scale it needs once.
__device__ __forceinline__ void splitGroups(int groups, int split, int kSplit,
                                            int &g0, int &g1) {
  g0 = static_cast<int>(static_cast<long long>(split) * groups / kSplit);
  g1 = static_cast<int>(static_cast<long long>(split + 1) * groups / kSplit);
}

/// Programmatic dependent launch: weights are constants, so a kernel loads its
/// first ones before waiting for the previous kernel (which may write x, y or
/// the workspace); no-ops when launched without the attribute.
__device__ __forceinline__ void waitPrevious() {
#if __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}
__device__ __forceinline__ void releaseNext() {
#if __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;");
#endif
}

/// Split-K epilogue: the last block of a tile to arrive (atomic counter)
/// turns the fp32 sums into fp16 and zeroes the workspace and the counter for
/// the next call, so one launch does it all.
__device__ void finishSplit(float *partial, unsigned *counter, __half *y, int n,
                            int row0, int rows, int tok0, int toks,
                            int kSplit) {
  __shared__ unsigned isLast;
  __threadfence();
  __syncthreads();
  if (threadIdx.x == 0)
    isLast = atomicAdd(counter, 1u) == static_cast<unsigned>(kSplit - 1);
  __syncthreads();
  if (!isLast)
    return;
  __threadfence();
  for (int e = threadIdx.x; e < rows * toks; e += blockDim.x) {
    size_t at = static_cast<size_t>(tok0 + e / rows) * n + row0 + e % rows;
    float v = __ldcg(partial + at);
    __stcg(partial + at, 0.0f);
    y[at] = __float2half_rn(v);
  }
  if (threadIdx.x == 0)
    *counter = 0;
}

//===----------------------------------------------------------------------===//
// Skinny kernel: one block per (stripe of 16 channels, split of K). The warps
// take the split's groups in turn, each lane streaming its 2 x 16 bytes of a
// group straight into registers, DEPTH groups ahead. x (at most TT*8 rows) is
// staged in shared memory once, in fragment order, and the warps' sums meet
// in shared memory at the end.
//===----------------------------------------------------------------------===//

/// x in shared memory: [token][tile][half][quad][8 halves], where half p of a
/// tile holds sub-tiles 2p and 2p+1 and quad q the B fragments of lanes with
/// l%4 == q; the halves swap on odd tokens so that the two tokens a quarter
/// warp reads fall in different banks.
__host__ __device__ __forceinline__ int xSlot(int tok, int tile, int half,
                                              int tiles) {
  return ((tok * tiles + tile) * 2 + (half ^ (tok & 1))) * 4;
}

/// Bytes of x's staged slice, rounded to 16.
__host__ __device__ __forceinline__ size_t xSliceBytes(int m, int tiles) {
  return (static_cast<size_t>(m) * tiles * 128 + 15) / 16 * 16;
}

/// Eight consecutive elements of x as fp16 pairs: loaded as they are, or
/// (float32 x, int4LinearF32) rounded to fp16 here instead of by a kernel
/// of their own.
__device__ __forceinline__ uint4 loadHalf8(const __half *p) {
  return *reinterpret_cast<const uint4 *>(p);
}
__device__ __forceinline__ uint4 loadHalf8(const float *p) {
  float4 a = *reinterpret_cast<const float4 *>(p);
  float4 b = *reinterpret_cast<const float4 *>(p + 4);
  return make_uint4(asU32(__floats2half2_rn(a.x, a.y)), asU32(__floats2half2_rn(a.z, a.w)),
                    asU32(__floats2half2_rn(b.x, b.y)), asU32(__floats2half2_rn(b.z, b.w)));
}

/// Copies x[0:m, 128*g0 : 128*g0 + 64*tiles] (rows `xStride` elements
/// apart) into shared memory in the order above.
template <typename T>
__device__ __forceinline__ void stageX(uint32_t *xs, const T *x, long long xStride, int m,
                                       int g0, int tiles) {
  const int chunksPerTok = tiles * 8, chunks = m * chunksPerTok;
  for (int e = threadIdx.x; e < chunks; e += blockDim.x) {
    int tok = e / chunksPerTok, c = e % chunksPerTok;
    uint4 v = loadHalf8(x + tok * xStride + g0 * kInt4GroupSize + c * 8);
    int tile = c >> 3, sub = (c >> 1) & 3, upper = c & 1;
    uint32_t *dst =
        xs + xSlot(tok, tile, sub >> 1, tiles) * 4 + (sub & 1) * 2 + upper;
    dst[0] = v.x;
    dst[4] = v.y;
    dst[8] = v.z;
    dst[12] = v.w;
  }
}

/// acc += (one 16 x 64 tile of W, scaled) * x[tokens, tile]^T for the TT
/// token tiles, B fragments from the staged x.
template <int TT>
__device__ __forceinline__ void
tileProduct(float (&acc)[TT][4], const uint4 &w, const uint4 *xv, int tile,
            int tiles, int m, __half2 sLo, __half2 sHi) {
  const int lane = threadIdx.x & 31;
  uint4 b[TT][2];
#pragma unroll
  for (int tt = 0; tt < TT; ++tt) {
    int tok = (lane >> 2) + 8 * tt;
    if (tok < m) {
      b[tt][0] = xv[xSlot(tok, tile, 0, tiles) + (lane & 3)];
      b[tt][1] = xv[xSlot(tok, tile, 1, tiles) + (lane & 3)];
    } else {
      b[tt][0] = b[tt][1] = make_uint4(0, 0, 0, 0);
    }
  }
#pragma unroll
  for (int j = 0; j < 4; ++j) {
    uint32_t a[4];
    dequant(word(w, j), sLo, sHi, a);
#pragma unroll
    for (int tt = 0; tt < TT; ++tt) {
      const uint4 &bv = b[tt][j >> 1];
      mma(acc[tt], a, (j & 1) ? bv.z : bv.x, (j & 1) ? bv.w : bv.y);
    }
  }
}

/// How a kernel turns codes into fragments. kScaleHalf: scaled in fp16 per
/// weight (dequant above). kScaleGroup: exact codes q in fp16, the group's
/// products summed apart in fp32 and scaled once per group. kFoldOffset: the
/// raw 1024 + (q + 8) and 1152 + 16 q of the exponent trick go into the
/// product as they are; the offsets come off per group through the sums of
/// x over the group (sum_k (1032 + q) x = 1032 sum_k x + sum_k q x), and the
/// 1/16 of the high nibbles joins the scale: 5 instructions per 8 codes.
enum DequantMode { kScaleHalf = 0, kScaleGroup = 1, kFoldOffset = 2 };

template <int MODE>
__device__ __forceinline__ void dequantRaw(uint32_t q, uint32_t a[4]) {
  constexpr uint32_t kLow = 0x000f000f, kHigh = 0x00f000f0, kExp = 0x64006400;
  uint32_t l0 = andOr(q, kLow, kExp), h0 = andOr(q, kHigh, kExp);
  q >>= 8;
  uint32_t l1 = andOr(q, kLow, kExp), h1 = andOr(q, kHigh, kExp);
  if (MODE == kFoldOffset) {
    a[0] = l0;
    a[1] = h0;
    a[2] = l1;
    a[3] = h1;
  } else {
    const __half2 kSub = asHalf2(0x64086408), kMul = asHalf2(0x2c002c00),
                  kAdd = asHalf2(0xd480d480);
    a[0] = asU32(__hsub2(asHalf2(l0), kSub));
    a[1] = asU32(__hfma2(asHalf2(h0), kMul, kAdd));
    a[2] = asU32(__hsub2(asHalf2(l1), kSub));
    a[3] = asU32(__hfma2(asHalf2(h1), kMul, kAdd));
  }
}

/// g += (one 16 x 64 tile of codes, unscaled) * x[tokens, tile]^T.
template <int TT, int MODE>
__device__ __forceinline__ void tileRaw(float (&g)[TT][4], const uint4 &w,
                                        const uint4 *xv, int tile, int tiles,
                                        int m) {
  const int lane = threadIdx.x & 31;
  uint4 b[TT][2];
#pragma unroll
  for (int tt = 0; tt < TT; ++tt) {
    int tok = (lane >> 2) + 8 * tt;
    if (tok < m) {
      b[tt][0] = xv[xSlot(tok, tile, 0, tiles) + (lane & 3)];
      b[tt][1] = xv[xSlot(tok, tile, 1, tiles) + (lane & 3)];
    } else {
      b[tt][0] = b[tt][1] = make_uint4(0, 0, 0, 0);
    }
  }
#pragma unroll
  for (int j = 0; j < 4; ++j) {
    uint32_t a[4];
    dequantRaw<MODE>(word(w, j), a);
#pragma unroll
    for (int tt = 0; tt < TT; ++tt) {
      const uint4 &bv = b[tt][j >> 1];
      mma(g[tt], a, (j & 1) ? bv.z : bv.x, (j & 1) ? bv.w : bv.y);
    }
  }
}

/// acc += scale * (group sums g, offsets removed); xsum[tok * stride] is the
/// sum of x over the group (kFoldOffset only).
template <int TT, int MODE>
__device__ __forceinline__ void
foldGroup(float (&acc)[TT][4], const float (&g)[TT][4], __half2 s2,
          const float *xsum, int stride, int m) {
  const int lane = threadIdx.x & 31;
  const float sLo = __low2float(s2), sHi = __high2float(s2);
#pragma unroll
  for (int tt = 0; tt < TT; ++tt) {
    if (MODE == kFoldOffset) {
      int tok = 8 * tt + 2 * (lane & 3);
      float x0 = tok < m ? xsum[tok * stride] : 0.0f;
      float x1 = tok + 1 < m ? xsum[(tok + 1) * stride] : 0.0f;
      float sHi16 = sHi * 0.0625f;
      acc[tt][0] = fmaf(sLo, fmaf(-1032.0f, x0, g[tt][0]), acc[tt][0]);
      acc[tt][1] = fmaf(sLo, fmaf(-1032.0f, x1, g[tt][1]), acc[tt][1]);
      acc[tt][2] = fmaf(sHi16, fmaf(-1152.0f, x0, g[tt][2]), acc[tt][2]);
      acc[tt][3] = fmaf(sHi16, fmaf(-1152.0f, x1, g[tt][3]), acc[tt][3]);
    } else {
      acc[tt][0] = fmaf(sLo, g[tt][0], acc[tt][0]);
      acc[tt][1] = fmaf(sLo, g[tt][1], acc[tt][1]);
      acc[tt][2] = fmaf(sHi, g[tt][2], acc[tt][2]);
      acc[tt][3] = fmaf(sHi, g[tt][3], acc[tt][3]);
    }
  }
}

/// One group (two tiles) of one stripe, in any mode.
template <int TT, int MODE>
__device__ __forceinline__ void
groupProduct(float (&acc)[TT][4], const uint4 &w0, const uint4 &w1, __half2 s2,
             const uint4 *xv, int group, int tiles, int m, const float *xsum) {
  if (MODE == kScaleHalf) {
    __half2 sLo = __low2half2(s2), sHi = __high2half2(s2);
    tileProduct<TT>(acc, w0, xv, 2 * group, tiles, m, sLo, sHi);
    tileProduct<TT>(acc, w1, xv, 2 * group + 1, tiles, m, sLo, sHi);
  } else {
    float g[TT][4] = {};
    tileRaw<TT, MODE>(g, w0, xv, 2 * group, tiles, m);
    tileRaw<TT, MODE>(g, w1, xv, 2 * group + 1, tiles, m);
    foldGroup<TT, MODE>(acc, g, s2, xsum + group, tiles / 2, m);
  }
}

/// Sums of x over each group of the slice, [token][group] floats (the
/// offsets of kFoldOffset).
__device__ __forceinline__ void sumX(float *xsum, const __half *x, int m, int k,
                                     int g0, int groups) {
  for (int e = threadIdx.x; e < m * groups; e += blockDim.x) {
    int tok = e / groups, g = e % groups;
    const uint4 *p = reinterpret_cast<const uint4 *>(
        x + static_cast<size_t>(tok) * k + (g0 + g) * kInt4GroupSize);
    float sum = 0.0f;
#pragma unroll 4
    for (int i = 0; i < kInt4GroupSize / 8; ++i) {
      uint4 v = p[i];
      const uint32_t w[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
      for (int h = 0; h < 4; ++h) {
        float2 f = __half22float2(asHalf2(w[h]));
        sum += f.x + f.y;
      }
    }
    xsum[e] = sum;
  }
}

/// One result: fp16 stored; float32 stored or added (int4LinearF32).
__device__ __forceinline__ void storeY(__half *y, float v, bool) { *y = __float2half_rn(v); }
__device__ __forceinline__ void storeY(float *y, float v, bool accumulate) {
  *y = accumulate ? *y + v : v;
}

/// T: fp16 x and y ([m, k] and [m, n], the fp16 entry points), or float32
/// rows `xStride` and `yStride` apart, y set or `accumulate`d (float32 takes
/// no split of K: the host refuses one).
template <int TT, int WARPS, int DEPTH, int MODE, typename T>
__global__ void __launch_bounds__(WARPS * 32)
    skinnyKernel(const T *__restrict__ x, long long xStride, const uint4 *__restrict__ codes,
                 const uint32_t *__restrict__ scales, T *__restrict__ y, long long yStride,
                 bool accumulate, float *__restrict__ partial, unsigned *__restrict__ counters,
                 int m, int n, int k, int kSplit) {
  static_assert(std::is_same_v<T, __half> || MODE != kFoldOffset,
                "the group sums of kFoldOffset read fp16 x");
  extern __shared__ uint4 smem[];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int stripe = blockIdx.x, groups = k / kInt4GroupSize,
            tilesK = k / kTileK;
  int g0, g1;
  splitGroups(groups, blockIdx.y, kSplit, g0, g1);
  const int tiles = 2 * (g1 - g0);
  const int myGroups = (g1 - g0 - warp + WARPS - 1) / WARPS;

  const uint4 *wBase =
      codes + static_cast<size_t>(stripe) * tilesK * kTileWords + lane;
  const uint32_t *sBase =
      scales + static_cast<size_t>(stripe) * groups * 8 + (lane >> 2);
  uint4 wBuf[DEPTH][2];
  uint32_t sBuf[DEPTH];
#pragma unroll
  for (int d = 0; d < DEPTH; ++d) {
    if (d < myGroups) {
      int g = g0 + warp + d * WARPS;
      wBuf[d][0] = loadStream(wBase + static_cast<size_t>(2 * g) * kTileWords);
      wBuf[d][1] =
          loadStream(wBase + static_cast<size_t>(2 * g + 1) * kTileWords);
      sBuf[d] = __ldg(sBase + g * 8);
    }
  }

  // Stage x while the first weights are in flight.
  waitPrevious();
  stageX(reinterpret_cast<uint32_t *>(smem), x, xStride, m, g0, tiles);
  float *xsum = reinterpret_cast<float *>(reinterpret_cast<char *>(smem) +
                                          xSliceBytes(m, tiles));
  if constexpr (MODE == kFoldOffset)
    sumX(xsum, x, m, k, g0, tiles / 2);
  __syncthreads();
  releaseNext();

  float acc[TT][4] = {};
  for (int base = 0; base < myGroups; base += DEPTH) {
#pragma unroll
    for (int d = 0; d < DEPTH; ++d) {
      int i = base + d;
      if (i < myGroups) {
        uint4 w0 = wBuf[d][0], w1 = wBuf[d][1];
        __half2 s = asHalf2(sBuf[d]);
        int next = i + DEPTH;
        if (next < myGroups) {
          int g = g0 + warp + next * WARPS;
          wBuf[d][0] =
              loadStream(wBase + static_cast<size_t>(2 * g) * kTileWords);
          wBuf[d][1] =
              loadStream(wBase + static_cast<size_t>(2 * g + 1) * kTileWords);
          sBuf[d] = __ldg(sBase + g * 8);
        }
        groupProduct<TT, MODE>(acc, w0, w1, s, smem, warp + i * WARPS, tiles, m,
                               xsum);
      }
    }
  }

  // Sum the warps' fragments: [warp][tt*4 + c][lane].
  __syncthreads();
  float *red = reinterpret_cast<float *>(smem);
#pragma unroll
  for (int tt = 0; tt < TT; ++tt)
#pragma unroll
    for (int c = 0; c < 4; ++c)
      red[((warp * TT + tt) * 4 + c) * 32 + lane] = acc[tt][c];
  __syncthreads();
  for (int e = threadIdx.x; e < TT * 128; e += WARPS * 32) {
    int l = e & 31, c = (e >> 5) & 3, tt = e >> 7;
    int tok = tt * 8 + 2 * (l & 3) + (c & 1);
    if (tok >= m)
      continue;
    float v = 0.0f;
#pragma unroll
    for (int w = 0; w < WARPS; ++w)
      v += red[w * TT * 128 + e];
    int column = stripe * kStripe + (l >> 2) + (c & 2) * 4;
    if (kSplit == 1)
      storeY(y + tok * yStride + column, v, accumulate);
    else
      atomicAdd(partial + static_cast<size_t>(tok) * n + column, v);
  }
  if constexpr (std::is_same_v<T, __half>)
    if (kSplit > 1)
      finishSplit(partial, counters + stripe, y, n, stripe * kStripe, kStripe, 0,
                  min(m, TT * 8), kSplit);
}

template <int TT, int WARPS, int MODE>
size_t skinnySmem(int m, int k, int kSplit) {
  int groups = k / kInt4GroupSize;
  int maxTiles = 2 * ((groups + kSplit - 1) / kSplit);
  size_t xBytes = xSliceBytes(m, maxTiles);
  if (MODE == kFoldOffset)
    xBytes += static_cast<size_t>(m) * maxTiles / 2 * sizeof(float);
  size_t redBytes = static_cast<size_t>(WARPS) * TT * 128 * 4;
  return std::max(xBytes, redBytes);
}

//===----------------------------------------------------------------------===//
// Persistent kernel: one wave of blocks, x's slice staged once per block.
// Block b of a K chunk takes stripes b, b + chunkBlocks, ...; within each
// stripe its warps take the chunk's groups in turn (as the skinny kernel),
// keeping DEPTH groups in flight across stripe ends. At a stripe's end the
// warps leave their fragments in shared memory (double-buffered), meet at a
// barrier, and the first TT*128 threads sum and write them. With several K
// chunks the sums go to the workspace and the chunk that finishes a stripe
// last (a count per stripe, settled once at the end of the kernel) writes y.
//===----------------------------------------------------------------------===//

/// x's slice, then (kFoldOffset) its group sums, then the warps' sums.
__host__ __device__ __forceinline__ size_t persistRedOffset(int m, int gc,
                                                            int mode) {
  size_t bytes = xSliceBytes(m, 2 * gc);
  if (mode == kFoldOffset)
    bytes += (static_cast<size_t>(m) * gc * sizeof(float) + 15) / 16 * 16;
  return bytes;
}

template <int TT, int WARPS, int MODE>
size_t persistSmem(int m, int k, int kChunks) {
  int groups = k / kInt4GroupSize;
  int maxGroups = (groups + kChunks - 1) / kChunks;
  return persistRedOffset(m, maxGroups, MODE) +
         2 * static_cast<size_t>(WARPS) * TT * 128 * sizeof(float);
}

template <int TT, int WARPS, int DEPTH, int MODE>
__global__ void __launch_bounds__(WARPS * 32, 1)
    persistKernel(const __half *__restrict__ x, const uint4 *__restrict__ codes,
                  const uint32_t *__restrict__ scales, __half *__restrict__ y,
                  float *__restrict__ partial, unsigned *__restrict__ counters,
                  int m, int n, int k, int kChunks) {
  extern __shared__ uint4 smem[];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int stripes = n / kStripe, groups = k / kInt4GroupSize,
            tilesK = k / kTileK;
  const int chunk = blockIdx.x % kChunks, blk = blockIdx.x / kChunks;
  const int chunkBlocks = gridDim.x / kChunks;
  int g0, g1;
  splitGroups(groups, chunk, kChunks, g0, g1);
  const int gc = g1 - g0;
  const int myStripes = (stripes - blk + chunkBlocks - 1) / chunkBlocks;
  const int per = (gc - warp + WARPS - 1) / WARPS; // >= 1: WARPS <= gc
  const int total = myStripes * per;
  float *xsum = reinterpret_cast<float *>(reinterpret_cast<char *>(smem) +
                                          xSliceBytes(m, 2 * gc));
  float *red = reinterpret_cast<float *>(reinterpret_cast<char *>(smem) +
                                         persistRedOffset(m, gc, MODE));

  uint4 wBuf[DEPTH][2];
  uint32_t sBuf[DEPTH];
  auto load = [&](int d, int j) {
    int si = j / per, i = j - si * per;
    int s = blk + si * chunkBlocks, g = g0 + warp + i * WARPS;
    const uint4 *p =
        codes + (static_cast<size_t>(s) * tilesK + 2 * g) * kTileWords + lane;
    wBuf[d][0] = loadStream(p);
    wBuf[d][1] = loadStream(p + kTileWords);
    sBuf[d] =
        __ldg(scales + (static_cast<size_t>(s) * groups + g) * 8 + (lane >> 2));
  };
#pragma unroll
  for (int d = 0; d < DEPTH; ++d)
    if (d < total)
      load(d, d);

  waitPrevious();
  stageX(reinterpret_cast<uint32_t *>(smem), x, static_cast<long long>(k), m, g0, 2 * gc);
  if (MODE == kFoldOffset)
    sumX(xsum, x, m, k, g0, gc);
  __syncthreads();
  releaseNext();

  float acc[TT][4] = {};
  for (int base = 0; base < total; base += DEPTH) {
#pragma unroll
    for (int d = 0; d < DEPTH; ++d) {
      int j = base + d;
      if (j < total) {
        uint4 w0 = wBuf[d][0], w1 = wBuf[d][1];
        __half2 s2 = asHalf2(sBuf[d]);
        if (j + DEPTH < total)
          load(d, j + DEPTH);
        int si = j / per, i = j - si * per;
        groupProduct<TT, MODE>(acc, w0, w1, s2, smem, warp + i * WARPS, 2 * gc,
                               m, xsum);
        if (i == per - 1) {
          // End of stripe si: every warp arrives here once per stripe.
          float *r = red + ((si & 1) * WARPS + warp) * TT * 128;
#pragma unroll
          for (int tt = 0; tt < TT; ++tt)
#pragma unroll
            for (int c = 0; c < 4; ++c) {
              r[(tt * 4 + c) * 32 + lane] = acc[tt][c];
              acc[tt][c] = 0.0f;
            }
          __syncthreads();
          const int e = threadIdx.x;
          if (e < TT * 128) {
            int l = e & 31, c = (e >> 5) & 3, tt = e >> 7;
            int tok = tt * 8 + 2 * (l & 3) + (c & 1);
            if (tok < m) {
              const float *rs = red + (si & 1) * WARPS * TT * 128 + e;
              float v = 0.0f;
#pragma unroll
              for (int w = 0; w < WARPS; ++w)
                v += rs[w * TT * 128];
              int s = blk + si * chunkBlocks;
              size_t at = static_cast<size_t>(tok) * n + s * kStripe +
                          (l >> 2) + (c & 2) * 4;
              if (kChunks == 1)
                y[at] = __float2half_rn(v);
              else
                atomicAdd(partial + at, v);
            }
          }
        }
      }
    }
  }
  if (kChunks == 1)
    return;
  // Settle the counts: the chunk whose count completes a stripe writes it.
  __threadfence();
  __syncthreads();
  int *list = reinterpret_cast<int *>(red);
  __shared__ int listed;
  if (threadIdx.x == 0)
    listed = 0;
  __syncthreads();
  for (int si = threadIdx.x; si < myStripes; si += blockDim.x) {
    int s = blk + si * chunkBlocks;
    if (atomicAdd(counters + s, 1u) == static_cast<unsigned>(kChunks - 1)) {
      counters[s] = 0;
      list[atomicAdd(&listed, 1)] = s;
    }
  }
  __syncthreads();
  __threadfence();
  const int toks = min(m, TT * 8);
  for (int e = threadIdx.x; e < listed * kStripe * toks; e += blockDim.x) {
    int s = list[e / (kStripe * toks)], r = e % (kStripe * toks);
    size_t at =
        static_cast<size_t>(r / kStripe) * n + s * kStripe + r % kStripe;
    float v = __ldcg(partial + at);
    __stcg(partial + at, 0.0f);
    y[at] = __float2half_rn(v);
  }
}

//===----------------------------------------------------------------------===//
// Tiled kernel: block tile of WN*SW stripes x WM*TT*8 tokens over a split of
// K, STAGES tiles of 64 features in flight through cp.async. Warp (wn, wm)
// owns SW stripes x TT token tiles; its A fragments come from one 16-byte
// shared load per stripe and tile, its B fragments from ldmatrix on x.
//===----------------------------------------------------------------------===//

template <int WN, int WM, int SW, int TT, int STAGES> struct Tiled {
  static constexpr int kThreads = WN * WM * 32;
  static constexpr int kStripes = WN * SW;
  static constexpr int kTokens = WM * TT * 8;
  static constexpr int kWBytes = kStripes * 512;
  static constexpr int kSBytes = kStripes * 32;
  static constexpr int kXBytes = kTokens * 128;
  static constexpr int kStageBytes = kWBytes + kSBytes + kXBytes;
  static constexpr int kSmem = STAGES * kStageBytes;
  static_assert(TT % 2 == 0, "ldmatrix.x4 loads token tiles in pairs");
};

template <int WN, int WM, int SW, int TT, int STAGES, int MODE>
__global__ void __launch_bounds__(WN *WM * 32)
    tiledKernel(const __half *__restrict__ x, const uint4 *__restrict__ codes,
                const uint32_t *__restrict__ scales, __half *__restrict__ y,
                float *__restrict__ partial, unsigned *__restrict__ counters,
                int m, int n, int k, int kSplit) {
  using T = Tiled<WN, WM, SW, TT, STAGES>;
  extern __shared__ uint4 smem[];
  char *sm = reinterpret_cast<char *>(smem);
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int wn = warp % WN, wm = warp / WN;
  const int stripes = n / kStripe, groups = k / kInt4GroupSize,
            tilesK = k / kTileK;
  const int stripe0 = blockIdx.y * T::kStripes, tok0 = blockIdx.x * T::kTokens;
  int g0, g1;
  splitGroups(groups, blockIdx.z, kSplit, g0, g1);
  const int tile0 = 2 * g0, tiles = 2 * (g1 - g0);

  // Each thread's cp.async sources and destinations are the same in every
  // stage up to a per-tile offset: computed once.
  constexpr int kWChunks = T::kStripes * 32, kXChunks = T::kTokens * 8;
  constexpr int kWPer = (kWChunks + T::kThreads - 1) / T::kThreads;
  constexpr int kXPer = (kXChunks + T::kThreads - 1) / T::kThreads;
  const uint4 *wSrc[kWPer];
  bool wOk[kWPer];
#pragma unroll
  for (int i = 0; i < kWPer; ++i) {
    int e = tid + i * T::kThreads, s = e >> 5;
    wOk[i] = e < kWChunks && stripe0 + s < stripes;
    wSrc[i] =
        codes +
        static_cast<size_t>(wOk[i] ? stripe0 + s : 0) * tilesK * kTileWords +
        (e & 31);
  }
  const bool sLoads = tid < T::kStripes * 2;
  const bool sOk = sLoads && stripe0 + (tid >> 1) < stripes;
  const char *sSrc =
      reinterpret_cast<const char *>(scales) +
      static_cast<size_t>(sOk ? stripe0 + (tid >> 1) : 0) * groups * 32 +
      (tid & 1) * 16;
  const __half *xSrc[kXPer];
  bool xOk[kXPer];
  int xDst[kXPer];
#pragma unroll
  for (int i = 0; i < kXPer; ++i) {
    int e = tid + i * T::kThreads, t = e >> 3, c = e & 7;
    xOk[i] = e < kXChunks && tok0 + t < m;
    xSrc[i] = x + static_cast<size_t>(xOk[i] ? tok0 + t : 0) * k + c * 8;
    xDst[i] = T::kWBytes + T::kSBytes + (t * 8 + (c ^ (t & 7))) * 16;
  }
  auto loadW = [&](int slot, int tile) {
    char *st = sm + slot * T::kStageBytes;
#pragma unroll
    for (int i = 0; i < kWPer; ++i)
      if (kWChunks % T::kThreads == 0 || tid + i * T::kThreads < kWChunks)
        cpAsync16(st + (tid + i * T::kThreads) * 16,
                  wSrc[i] + tile * kTileWords, wOk[i]);
    if (sLoads)
      cpAsync16(st + T::kWBytes + tid * 16, sSrc + (tile >> 1) * 32, sOk);
  };
  auto loadX = [&](int slot, int tile) {
    char *st = sm + slot * T::kStageBytes;
#pragma unroll
    for (int i = 0; i < kXPer; ++i)
      if (kXChunks % T::kThreads == 0 || tid + i * T::kThreads < kXChunks)
        cpAsync16(st + xDst[i], xSrc[i] + tile * kTileK, xOk[i]);
  };

  float acc[SW][TT][4] = {};
  // Per-group sums (kScaleGroup); unused, and removed, otherwise.
  float grp[SW][TT][4] = {};
#pragma unroll
  for (int s = 0; s < STAGES - 1; ++s)
    if (s < tiles)
      loadW(s, tile0 + s);
  waitPrevious();
#pragma unroll
  for (int s = 0; s < STAGES - 1; ++s) {
    if (s < tiles)
      loadX(s, tile0 + s);
    cpAsyncCommit();
  }
  releaseNext();
  for (int it = 0; it < tiles; ++it) {
    cpAsyncWait<STAGES - 2>();
    __syncthreads();
    int next = it + STAGES - 1;
    if (next < tiles) {
      loadW(next % STAGES, tile0 + next);
      loadX(next % STAGES, tile0 + next);
    }
    cpAsyncCommit();

    const char *st = sm + (it % STAGES) * T::kStageBytes;
    const uint4 *ws = reinterpret_cast<const uint4 *>(st);
    const uint32_t *ss = reinterpret_cast<const uint32_t *>(st + T::kWBytes);
    const char *xs = st + T::kWBytes + T::kSBytes;
    uint4 wv[SW];
    __half2 s2[SW];
#pragma unroll
    for (int i = 0; i < SW; ++i) {
      wv[i] = ws[(wn * SW + i) * 32 + lane];
      s2[i] = asHalf2(ss[(wn * SW + i) * 8 + (lane >> 2)]);
    }
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      uint32_t b[TT][2];
#pragma unroll
      for (int tp = 0; tp < TT / 2; ++tp) {
        int t = wm * TT * 8 + tp * 16 + (lane & 7) + ((lane >> 4) << 3);
        int c = 2 * j + ((lane >> 3) & 1);
        ldmatrix4(xs + (t * 8 + (c ^ (t & 7))) * 16, b[2 * tp][0], b[2 * tp][1],
                  b[2 * tp + 1][0], b[2 * tp + 1][1]);
      }
#pragma unroll
      for (int i = 0; i < SW; ++i) {
        uint32_t a[4];
        if (MODE == kScaleHalf)
          dequant(word(wv[i], j), __low2half2(s2[i]), __high2half2(s2[i]), a);
        else
          dequantRaw<kScaleGroup>(word(wv[i], j), a);
#pragma unroll
        for (int tt = 0; tt < TT; ++tt)
          mma(MODE == kScaleHalf ? acc[i][tt] : grp[i][tt], a, b[tt][0],
              b[tt][1]);
      }
    }
    if (MODE != kScaleHalf && ((tile0 + it) & 1)) {
      // Second tile of a group: scale its sums once.
#pragma unroll
      for (int i = 0; i < SW; ++i) {
        foldGroup<TT, kScaleGroup>(acc[i], grp[i], s2[i], nullptr, 0, m);
#pragma unroll
        for (int tt = 0; tt < TT; ++tt)
          grp[i][tt][0] = grp[i][tt][1] = grp[i][tt][2] = grp[i][tt][3] = 0.0f;
      }
    }
  }
  cpAsyncWait<0>();

#pragma unroll
  for (int i = 0; i < SW; ++i) {
    int s = stripe0 + wn * SW + i;
    if (s >= stripes)
      continue;
#pragma unroll
    for (int tt = 0; tt < TT; ++tt)
#pragma unroll
      for (int c = 0; c < 4; ++c) {
        int tok = tok0 + wm * TT * 8 + tt * 8 + 2 * (lane & 3) + (c & 1);
        if (tok >= m)
          continue;
        size_t at = static_cast<size_t>(tok) * n + s * kStripe + (lane >> 2) +
                    (c & 2) * 4;
        if (kSplit == 1)
          y[at] = __float2half_rn(acc[i][tt][c]);
        else
          atomicAdd(partial + at, acc[i][tt][c]);
      }
  }
  if (kSplit > 1)
    finishSplit(partial, counters + blockIdx.x * gridDim.y + blockIdx.y, y, n,
                stripe0 * kStripe,
                min(T::kStripes, stripes - stripe0) * kStripe, tok0,
                min(T::kTokens, m - tok0), kSplit);
}

//===----------------------------------------------------------------------===//
// Variants and launch
//===----------------------------------------------------------------------===//

using LaunchFn = cudaError_t (*)(const __half *, const PackedInt4Weight &,
                                 __half *, int, const Int4LaunchOptions &,
                                 cudaStream_t);

int smCount() {
  static int count = [] {
    int dev = 0, c = 0;
    cudaGetDevice(&dev);
    cudaDeviceGetAttribute(&c, cudaDevAttrMultiProcessorCount, dev);
    return c > 0 ? c : 132;
  }();
  return count;
}

/// Raises `kernel`'s dynamic shared memory limit to all the device allows
/// beside its static shared memory, and returns that limit. Each launcher
/// calls it once (a static), so that no call made while a graph is being
/// captured changes it.
template <typename Kernel> int raiseSmemLimit(Kernel kernel) {
  int dev = 0, optin = 48 * 1024;
  cudaGetDevice(&dev);
  cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev);
  cudaFuncAttributes attr{};
  cudaFuncGetAttributes(&attr, kernel);
  int limit = optin - static_cast<int>(attr.sharedSizeBytes);
  if (cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                           limit) != cudaSuccess)
    limit = 48 * 1024 - static_cast<int>(attr.sharedSizeBytes);
  cudaGetLastError(); // leave no error behind for the launch check
  return limit;
}

/// Launches with programmatic stream serialization when asked: the kernel
/// may then start while the previous one in the stream drains.
template <typename... Params, typename... Args>
cudaError_t launchKernel(void (*kernel)(Params...), dim3 grid, int threads,
                         size_t smem, bool overlap, cudaStream_t stream,
                         Args... args) {
  cudaLaunchConfig_t config = {};
  config.gridDim = grid;
  config.blockDim = dim3(threads);
  config.dynamicSmemBytes = smem;
  config.stream = stream;
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr[0].val.programmaticStreamSerializationAllowed = 1;
  config.attrs = attr;
  config.numAttrs = overlap ? 1 : 0;
  return cudaLaunchKernelEx(&config, kernel, static_cast<Params>(args)...);
}

template <int TT, int WARPS, int DEPTH, int MODE>
cudaError_t launchSkinny(const __half *x, const PackedInt4Weight &w, __half *y,
                         int m, const Int4LaunchOptions &opt,
                         cudaStream_t stream) {
  if (m > TT * 8)
    return cudaErrorInvalidValue;
  int stripes = w.n / kStripe, groups = w.k / kInt4GroupSize;
  int kSplit = opt.kSplit;
  if (kSplit <= 0) {
    // Whole K per block unless x's slice would pass 48 KB (measured: a
    // split to fill the machine with blocks costs more than it brings).
    kSplit = 1;
    while (kSplit < groups &&
           skinnySmem<TT, WARPS, MODE>(m, w.k, kSplit) > 48 * 1024)
      ++kSplit;
  }
  kSplit = std::min(kSplit, groups);
  size_t smem = skinnySmem<TT, WARPS, MODE>(m, w.k, kSplit);
  auto kernel = skinnyKernel<TT, WARPS, DEPTH, MODE, __half>;
  static const int smemLimit = raiseSmemLimit(kernel);
  if (smem > static_cast<size_t>(smemLimit))
    return cudaErrorInvalidValue;
  return launchKernel(kernel, dim3(stripes, kSplit), WARPS * 32, smem,
                      opt.overlapPrevious, stream, x, static_cast<long long>(w.k), w.codes,
                      reinterpret_cast<const uint32_t *>(w.scales), y,
                      static_cast<long long>(w.n), false, w.partial, w.counters, m, w.n, w.k,
                      kSplit);
}

template <int TT, int WARPS, int DEPTH, int MODE>
cudaError_t launchPersist(const __half *x, const PackedInt4Weight &w, __half *y,
                          int m, const Int4LaunchOptions &opt,
                          cudaStream_t stream) {
  if (m > TT * 8)
    return cudaErrorInvalidValue;
  int stripes = w.n / kStripe, groups = w.k / kInt4GroupSize;
  auto kernel = persistKernel<TT, WARPS, DEPTH, MODE>;
  static const int smemLimit = raiseSmemLimit(kernel);
  int kChunks = opt.kSplit;
  if (kChunks <= 0) {
    kChunks = 1;
    while (kChunks < groups && persistSmem<TT, WARPS, MODE>(m, w.k, kChunks) >
                                   static_cast<size_t>(smemLimit))
      ++kChunks;
  }
  if (kChunks > kInt4MaxSplitM || groups / kChunks < WARPS ||
      (kChunks > 1 && m > kInt4MaxSplitM))
    return cudaErrorInvalidValue;
  size_t smem = persistSmem<TT, WARPS, MODE>(m, w.k, kChunks);
  if (smem > static_cast<size_t>(smemLimit))
    return cudaErrorInvalidValue;
  int perSm = 0;
  if (cudaError_t err = cudaOccupancyMaxActiveBlocksPerMultiprocessor(
          &perSm, kernel, WARPS * 32, smem))
    return err;
  int chunkBlocks = std::min(stripes, std::max(1, perSm * smCount() / kChunks));
  return launchKernel(kernel, dim3(chunkBlocks * kChunks), WARPS * 32, smem,
                      opt.overlapPrevious, stream, x, w.codes,
                      reinterpret_cast<const uint32_t *>(w.scales), y,
                      w.partial, w.counters, m, w.n, w.k, kChunks);
}

template <int WN, int WM, int SW, int TT, int STAGES, int MODE>
cudaError_t launchTiled(const __half *x, const PackedInt4Weight &w, __half *y,
                        int m, const Int4LaunchOptions &opt,
                        cudaStream_t stream) {
  using T = Tiled<WN, WM, SW, TT, STAGES>;
  int stripes = w.n / kStripe, groups = w.k / kInt4GroupSize;
  int nBlocks = (stripes + T::kStripes - 1) / T::kStripes;
  int mBlocks = (m + T::kTokens - 1) / T::kTokens;
  int kSplit = opt.kSplit;
  if (kSplit <= 0) {
    // Few tokens: memory-bound, so split K until two blocks per
    // multiprocessor are in flight. Many: fill the machine once, as the
    // split costs a pass of fp32 partial sums through L2.
    kSplit = 1;
    if (T::kTokens <= 32)
      while (kSplit < groups / 4 && nBlocks * mBlocks * kSplit < 2 * smCount())
        ++kSplit;
    else
      while (kSplit < groups / 4 &&
             nBlocks * mBlocks * (kSplit + 1) <= smCount() * 2 &&
             nBlocks * mBlocks * kSplit < smCount())
        ++kSplit;
  }
  kSplit = std::min(kSplit, groups);
  if (kSplit > 1 && m > kInt4MaxSplitM)
    kSplit = 1;
  auto kernel = tiledKernel<WN, WM, SW, TT, STAGES, MODE>;
  static const int smemLimit = raiseSmemLimit(kernel);
  if (T::kSmem > smemLimit)
    return cudaErrorInvalidValue;
  return launchKernel(kernel, dim3(mBlocks, nBlocks, kSplit), T::kThreads,
                      T::kSmem, opt.overlapPrevious, stream, x, w.codes,
                      reinterpret_cast<const uint32_t *>(w.scales), y,
                      w.partial, w.counters, m, w.n, w.k, kSplit);
}

struct VariantEntry {
  Int4Variant info;
  LaunchFn launch;
};

// Names: s<TT>w<WARPS>d<DEPTH> block per stripe, q<TT>w<WARPS>d<DEPTH>
// persistent, t<WN>x<WM>s<SW>t<TT>p<STAGES> tiled; suffix e: kScaleGroup,
// f: kFoldOffset, none: kScaleHalf.
const VariantEntry kVariants[] = {
    {{"s1w8d2", 8}, launchSkinny<1, 8, 2, kScaleHalf>},
    {{"s1w8d2e", 8}, launchSkinny<1, 8, 2, kScaleGroup>},
    {{"s1w8d2f", 8}, launchSkinny<1, 8, 2, kFoldOffset>},
    {{"s1w4d2f", 8}, launchSkinny<1, 4, 2, kFoldOffset>},
    {{"s2w8d2e", 16}, launchSkinny<2, 8, 2, kScaleGroup>},
    {{"q2w16d2", 16}, launchPersist<2, 16, 2, kScaleHalf>},
    {{"q2w16d2e", 16}, launchPersist<2, 16, 2, kScaleGroup>},
    {{"q2w16d2f", 16}, launchPersist<2, 16, 2, kFoldOffset>},
    {{"q4w16d2e", 32}, launchPersist<4, 16, 2, kScaleGroup>},
    {{"t8x1s1t2p4", INT_MAX}, launchTiled<8, 1, 1, 2, 4, kScaleHalf>},
    {{"t8x1s1t2p4e", INT_MAX}, launchTiled<8, 1, 1, 2, 4, kScaleGroup>},
    {{"t4x1s2t2p4e", INT_MAX}, launchTiled<4, 1, 2, 2, 4, kScaleGroup>},
    {{"t8x1s1t4p4e", INT_MAX}, launchTiled<8, 1, 1, 4, 4, kScaleGroup>},
    {{"t4x1s2t8p3", INT_MAX}, launchTiled<4, 1, 2, 8, 3, kScaleHalf>},
    {{"t4x1s2t8p4", INT_MAX}, launchTiled<4, 1, 2, 8, 4, kScaleHalf>},
    {{"t4x2s2t8p4", INT_MAX}, launchTiled<4, 2, 2, 8, 4, kScaleHalf>},
};
constexpr int kVariantCount = sizeof(kVariants) / sizeof(kVariants[0]);

int findVariant(const char *name) {
  for (int i = 0; i < kVariantCount; ++i)
    if (strcmp(kVariants[i].info.name, name) == 0)
      return i;
  return 0;
}

bool validShape(const PackedInt4Weight &w, int m) {
  return m >= 1 && w.n > 0 && w.n % kStripe == 0 && w.k > 0 &&
         w.k % kInt4GroupSize == 0 && w.codes && w.scales;
}

} // namespace

//===----------------------------------------------------------------------===//
// Repack
//===----------------------------------------------------------------------===//

void packInt4Layout(const uint8_t *codes, const float *scales, int n, int k,
                    std::vector<uint8_t> &packedCodes,
                    std::vector<__half> &packedScales) {
  const int tilesK = k / kTileK, groups = k / kInt4GroupSize;
  const size_t rowBytes = k / 2;
  packedCodes.assign(static_cast<size_t>(n) * k / 2, 0);
  packedScales.assign(static_cast<size_t>(n) * groups, __float2half(0.0f));
  // Unsigned code (q + 8) of row `row`, feature `col`.
  auto code = [&](int row, int col) -> uint32_t {
    uint8_t byte = codes[row * rowBytes + col / 2];
    return ((col & 1 ? byte >> 4 : byte) & 0xf) ^ 0x8;
  };
  for (int s = 0; s < n / kStripe; ++s)
    for (int t = 0; t < tilesK; ++t) {
      uint8_t *tile = packedCodes.data() +
                      (static_cast<size_t>(s) * tilesK + t) * kTileWords * 16;
      for (int lane = 0; lane < 32; ++lane)
        for (int j = 0; j < 4; ++j) {
          int r = s * kStripe + lane / 4,
              c = t * kTileK + j * 16 + 2 * (lane % 4);
          // Nibble order: (r,c) (r+8,c) (r,c+8) (r+8,c+8), then column + 1.
          const int rows[8] = {r, r + 8, r, r + 8, r, r + 8, r, r + 8};
          const int cols[8] = {c, c, c + 8, c + 8, c + 1, c + 1, c + 9, c + 9};
          uint32_t word = 0;
          for (int p = 0; p < 8; ++p)
            word |= code(rows[p], cols[p]) << (4 * p);
          memcpy(tile + lane * 16 + j * 4, &word, 4);
        }
    }
  for (int s = 0; s < n / kStripe; ++s)
    for (int g = 0; g < groups; ++g)
      for (int r = 0; r < 8; ++r) {
        size_t at = ((static_cast<size_t>(s) * groups + g) * 8 + r) * 2;
        packedScales[at] =
            __float2half_rn(scales[(s * kStripe + r) * groups + g]);
        packedScales[at + 1] =
            __float2half_rn(scales[(s * kStripe + r + 8) * groups + g]);
      }
}

cudaError_t packInt4Weights(const uint8_t *codes, const float *scales, int n,
                            int k, PackedInt4Weight *out) {
  if (n <= 0 || k <= 0 || n % kStripe || k % kInt4GroupSize)
    return cudaErrorInvalidValue;
  std::vector<uint8_t> packedCodes;
  std::vector<__half> packedScales;
  packInt4Layout(codes, scales, n, k, packedCodes, packedScales);
  PackedInt4Weight w;
  w.n = n;
  w.k = k;
  size_t partialCount = static_cast<size_t>(kInt4MaxSplitM) * n;
  size_t counterCount = static_cast<size_t>(n / kStripe) * 16;
  cudaError_t err;
  if ((err = cudaMalloc(&w.codes, packedCodes.size())) ||
      (err = cudaMalloc(&w.scales, packedScales.size() * sizeof(__half))) ||
      (err = cudaMalloc(&w.partial, partialCount * sizeof(float))) ||
      (err = cudaMalloc(&w.counters, counterCount * sizeof(unsigned))) ||
      (err = cudaMemcpy(w.codes, packedCodes.data(), packedCodes.size(),
                        cudaMemcpyHostToDevice)) ||
      (err = cudaMemcpy(w.scales, packedScales.data(),
                        packedScales.size() * sizeof(__half),
                        cudaMemcpyHostToDevice)) ||
      (err = cudaMemset(w.partial, 0, partialCount * sizeof(float))) ||
      (err = cudaMemset(w.counters, 0, counterCount * sizeof(unsigned)))) {
    freeInt4Weights(&w);
    return err;
  }
  *out = w;
  return cudaSuccess;
}

void freeInt4Weights(PackedInt4Weight *w) {
  cudaFree(w->codes);
  cudaFree(w->scales);
  cudaFree(w->partial);
  cudaFree(w->counters);
  *w = PackedInt4Weight{};
}

//===----------------------------------------------------------------------===//
// Entry points
//===----------------------------------------------------------------------===//

int int4VariantCount() { return kVariantCount; }

Int4Variant int4VariantInfo(int variant) {
  return variant >= 0 && variant < kVariantCount ? kVariants[variant].info
                                                 : Int4Variant{nullptr, 0};
}

cudaError_t int4LinearVariant(const __half *x, const PackedInt4Weight &w,
                              __half *y, int m, int variant,
                              const Int4LaunchOptions &options,
                              cudaStream_t stream) {
  if (!validShape(w, m) || variant < 0 || variant >= kVariantCount ||
      m > kVariants[variant].info.maxM)
    return cudaErrorInvalidValue;
  return kVariants[variant].launch(x, w, y, m, options, stream);
}

namespace {

/// The variant and split for a shape: the fastest of the 2026-12-01 H200
/// sweep (docs/gpu-kernels-notes.md) for the three shapes measured, as rules.
void pickVariant(int m, int n, int k, int &variant, int &kSplit) {
  static const int s1 = findVariant("s1w8d2e"), q2 = findVariant("q2w16d2e"),
                   t2 = findVariant("t8x1s1t2p4"),
                   t4 = findVariant("t8x1s1t4p4e"),
                   t16 = findVariant("t4x1s2t2p4e"),
                   t64 = findVariant("t4x1s2t8p4");
  kSplit = 0;
  if (m <= 8) {
    variant = s1;
  } else if (m <= 16) {
    // The persistent kernel while x fits in shared memory whole (K <= ~5k
    // at 16 rows) and each of its 16 warps has a group of K (K >= 2048);
    // otherwise the tiled one, split 8 ways along K.
    bool fits = k / kInt4GroupSize >= 16 && persistSmem<2, 16, kScaleGroup>(m, k, 1) <= 200 * 1024;
    variant = fits ? q2 : t2;
    kSplit = fits ? 1 : 8;
  } else if (m <= 32) {
    variant = t4; // not timed yet
  } else {
    // 128-channel x 64-token tiles when they fill the machine; otherwise a
    // K split (long K) or 16-token tiles (W re-read from L2).
    int tiles = (n / kStripe + 7) / 8 * ((m + 63) / 64);
    if (tiles >= smCount()) {
      variant = t64;
      kSplit = 1;
    } else if (k >= 8192) {
      variant = t64;
      kSplit = 4;
    } else {
      variant = t16;
      kSplit = 1;
    }
  }
}

} // namespace

cudaError_t int4LinearF32(const float *x, long long xStride, const PackedInt4Weight &w,
                          float *y, long long yStride, bool accumulate, int m,
                          cudaStream_t stream, bool overlapPrevious) {
  // The fp16 path's choice for up to 8 rows (s1w8d2e), on float32 rows.
  constexpr int kTT = 1, kWarps = 8, kDepth = 2, kMode = kScaleGroup;
  if (!validShape(w, m) || m > kTT * 8 || reinterpret_cast<uintptr_t>(x) % 16 ||
      xStride % 4 || xStride < w.k || yStride < w.n)
    return cudaErrorNotSupported;
  // Whole K per block: x's slice within 48 KB.
  size_t smem = skinnySmem<kTT, kWarps, kMode>(m, w.k, 1);
  if (smem > 48 * 1024)
    return cudaErrorNotSupported;
  auto kernel = skinnyKernel<kTT, kWarps, kDepth, kMode, float>;
  return launchKernel(kernel, dim3(w.n / kStripe, 1), kWarps * 32, smem, overlapPrevious, stream, x,
                      xStride, w.codes, reinterpret_cast<const uint32_t *>(w.scales), y,
                      yStride, accumulate, w.partial, w.counters, m, w.n, w.k, 1);
}

cudaError_t int4Linear(const __half *x, const PackedInt4Weight &w, __half *y,
                       int m, cudaStream_t stream, bool overlapPrevious) {
  if (!validShape(w, m))
    return cudaErrorInvalidValue;
  Int4LaunchOptions options;
  int variant;
  pickVariant(m, w.n, w.k, variant, options.kSplit);
  options.overlapPrevious = overlapPrevious;
  return kVariants[variant].launch(x, w, y, m, options, stream);
}

} // namespace compress::gpu
