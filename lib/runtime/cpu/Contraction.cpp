// The matrix-product microkernel: strided batches of oneDNN sgemm calls, with
// a plain loop for layouts a BLAS-style call cannot express. oneDNN, unlike
// Debian's OpenBLAS, picks AVX-512 kernels on every x86 CPU that has them.
#include "lib/runtime/cpu/Contraction.h"

#include <oneapi/dnnl/dnnl.hpp>

#include <omp.h>

#include <algorithm>
#include <map>
#include <memory>
#include <mutex>
#include <tuple>

namespace {

struct View {
  float *base;
  int64_t rowStride, colStride; // of the 2-D matrix this view holds
};

// A BLAS operand needs one unit stride; says whether it is transposed
// ('T': column-major) and gives its leading dimension, or false when
// neither fits.
bool blasLayout(const View &v, int64_t rows, int64_t cols, char &trans, int64_t &ld) {
  if (v.colStride == 1 || cols == 1) {
    trans = 'N';
    ld = std::max<int64_t>({v.rowStride, cols, 1});
    return rows == 1 || v.rowStride >= cols;
  }
  if (v.rowStride == 1 || rows == 1) {
    trans = 'T';
    ld = std::max<int64_t>({v.colStride, rows, 1});
    return cols == 1 || v.colStride >= rows;
  }
  return false;
}

void gemm(const View &a, const View &b, const View &c, int64_t m, int64_t n, int64_t k) {
  char ta, tb, tc;
  int64_t lda, ldb, ldc;
  if (blasLayout(a, m, k, ta, lda) && blasLayout(b, k, n, tb, ldb) &&
      blasLayout(c, m, n, tc, ldc)) {
    // dnnl_sgemm is row-major. A column-major C is computed as C^T = B^T A^T.
    dnnl_status_t status;
    if (tc == 'N') {
      status = dnnl_sgemm(ta, tb, m, n, k, 1.0f, a.base, lda, b.base, ldb, 1.0f, c.base, ldc);
    } else {
      auto flip = [](char t) { return t == 'N' ? 'T' : 'N'; };
      status = dnnl_sgemm(flip(tb), flip(ta), n, m, k, 1.0f, b.base, ldb, a.base, lda, 1.0f,
                          c.base, ldc);
    }
    if (status == dnnl_success)
      return;
  }
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      float acc = c.base[i * c.rowStride + j * c.colStride];
      for (int64_t p = 0; p < k; ++p)
        acc += a.base[i * a.rowStride + p * a.colStride] *
               b.base[p * b.rowStride + j * b.colStride];
      c.base[i * c.rowStride + j * c.colStride] = acc;
    }
}

/// A matmul primitive for one problem shape with its weights already
/// reordered into the layout the primitive prefers.
struct PackedProduct {
  dnnl::matmul product;
  dnnl::memory weights;
  dnnl::memory::desc source, destination;
};

/// Identifies a product: B's address and layout, and the problem's shape and
/// A and C strides.
using PackedKey = std::tuple<const float *, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
                             int64_t, int64_t, int64_t>;

struct PackedCache {
  std::mutex mutex;
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  std::map<PackedKey, std::shared_ptr<PackedProduct>> products;
};

PackedCache &packedCache() {
  static PackedCache *cache = new PackedCache(); // lives as long as the process
  return *cache;
}

std::shared_ptr<PackedProduct> packedProduct(const float *b, int64_t m, int64_t n, int64_t k,
                                             int64_t am, int64_t ak, int64_t bk, int64_t bn,
                                             int64_t cm, int64_t cn) {
  PackedCache &cache = packedCache();
  PackedKey key{b, m, n, k, am, ak, bk, bn, cm, cn};
  std::lock_guard<std::mutex> lock(cache.mutex);
  auto it = cache.products.find(key);
  if (it != cache.products.end())
    return it->second;
  using dt = dnnl::memory::data_type;
  auto product = std::make_shared<PackedProduct>();
  product->source = dnnl::memory::desc({m, k}, dt::f32, {am, ak});
  product->destination = dnnl::memory::desc({m, n}, dt::f32, {cm, cn});
  dnnl::memory::desc anyWeights({k, n}, dt::f32, dnnl::memory::format_tag::any);
  dnnl::post_ops accumulate;
  accumulate.append_sum(1.0f); // C += A B: C may hold a bias already
  dnnl::primitive_attr attr;
  attr.set_post_ops(accumulate);
  dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(product->source, anyWeights,
                                                     product->destination),
                                  attr, cache.engine);
  dnnl::memory user({{k, n}, dt::f32, {bk, bn}}, cache.engine, const_cast<float *>(b));
  product->weights = dnnl::memory(pd.weights_desc(), cache.engine);
  dnnl::stream stream(cache.engine);
  dnnl::reorder(user, product->weights).execute(stream, user, product->weights);
  stream.wait();
  product->product = dnnl::matmul(pd);
  cache.products.emplace(key, product);
  return product;
}

} // namespace

extern "C" void compress_rt_forget_packed_weights(void) {
  PackedCache &cache = packedCache();
  std::lock_guard<std::mutex> lock(cache.mutex);
  cache.products.clear();
}

extern "C" void compress_rt_contract_f32_constant_b(
    int64_t b0, int64_t b1, int64_t b2, int64_t m, int64_t n, int64_t k, int64_t a, int64_t ab0,
    int64_t ab1, int64_t ab2, int64_t am, int64_t ak, int64_t b, int64_t bb0, int64_t bb1,
    int64_t bb2, int64_t bk, int64_t bn, int64_t c, int64_t cb0, int64_t cb1, int64_t cb2,
    int64_t cm, int64_t cn) {
  // Batch dimensions that only continue A's and C's rows fold into M, as in
  // the general entry point; anything else is a batched product of a weight,
  // which the general entry point handles.
  bool folds = true;
  int64_t rows = m;
  for (auto [size, sa, sb, sc] : {std::tuple{b2, ab2, bb2, cb2}, std::tuple{b1, ab1, bb1, cb1},
                                  std::tuple{b0, ab0, bb0, cb0}}) {
    if (size == 1)
      continue;
    folds &= sb == 0 && sa == am * rows && sc == cm * rows;
    rows *= size;
  }
  // oneDNN's fast matmul kernels want a row-major C; other layouts would run
  // its reference implementation, so they take sgemm instead.
  if (!folds || rows == 0 || n == 0 || k == 0 || (ak != 1 && am != 1) || cn != 1 ||
      (bk != 1 && bn != 1)) {
    compress_rt_contract_f32(b0, b1, b2, m, n, k, a, ab0, ab1, ab2, am, ak, b, bb0, bb1, bb2, bk,
                             bn, c, cb0, cb1, cb2, cm, cn);
    return;
  }
  // Rows of size one have arbitrary strides; give them the canonical ones.
  if (rows == 1 && ak == 1)
    am = k;
  if (rows == 1)
    cm = n;
  auto product = packedProduct(reinterpret_cast<const float *>(b), rows, n, k, am, ak, bk, bn,
                               cm, cn);
  PackedCache &cache = packedCache();
  dnnl::memory source(product->source, cache.engine, reinterpret_cast<float *>(a));
  dnnl::memory destination(product->destination, cache.engine, reinterpret_cast<float *>(c));
  dnnl::stream stream(cache.engine);
  product->product.execute(stream, {{DNNL_ARG_SRC, source},
                                    {DNNL_ARG_WEIGHTS, product->weights},
                                    {DNNL_ARG_DST, destination}});
  stream.wait();
}

extern "C" void compress_rt_contract_f32(int64_t b0, int64_t b1, int64_t b2, int64_t m,
                                         int64_t n, int64_t k, int64_t a, int64_t ab0,
                                         int64_t ab1, int64_t ab2, int64_t am, int64_t ak,
                                         int64_t b, int64_t bb0, int64_t bb1, int64_t bb2,
                                         int64_t bk, int64_t bn, int64_t c, int64_t cb0,
                                         int64_t cb1, int64_t cb2, int64_t cm, int64_t cn) {
  if (m == 0 || n == 0)
    return;
  // A batch dimension that B ignores and that continues A's and C's rows is
  // more rows: fold it into M, so that [batch, seq, K] x [K, N] is one call.
  if (bb2 == 0 && b2 > 1 && ab2 == am * m && cb2 == cm * m) {
    m *= b2;
    b2 = 1;
    if (bb1 == 0 && b1 > 1 && ab1 == am * m && cb1 == cm * m) {
      m *= b1;
      b1 = 1;
      if (bb0 == 0 && b0 > 1 && ab0 == am * m && cb0 == cm * m) {
        m *= b0;
        b0 = 1;
      }
    }
  }
  float *pa = reinterpret_cast<float *>(a);
  float *pb = reinterpret_cast<float *>(b);
  float *pc = reinterpret_cast<float *>(c);
  // Many small products (attention heads) run one per thread; oneDNN runs
  // sequentially inside a parallel region. A few large ones use its threads.
  int64_t batches = b0 * b1 * b2;
  bool perThread = batches >= 2 * omp_get_max_threads() && m * n * k <= (int64_t(1) << 22);
#pragma omp parallel for collapse(3) schedule(static) if (perThread)
  for (int64_t i0 = 0; i0 < b0; ++i0)
    for (int64_t i1 = 0; i1 < b1; ++i1)
      for (int64_t i2 = 0; i2 < b2; ++i2) {
        View va{pa + i0 * ab0 + i1 * ab1 + i2 * ab2, am, ak};
        View vb{pb + i0 * bb0 + i1 * bb1 + i2 * bb2, bk, bn};
        View vc{pc + i0 * cb0 + i1 * cb1 + i2 * cb2, cm, cn};
        gemm(va, vb, vc, m, n, k);
      }
}
