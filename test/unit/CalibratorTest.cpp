// Unit tests of segmented calibration: which layers one segment measures,
// that a layer's statistics see the layers compressed before it, and that
// each segment starts from the stored frontier. Expected values are
// computed here in float64 from the inputs and weights.
#include "lib/calibration/Calibrator.h"
#include "lib/importer/onnx/Importer.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/Parser/Parser.h"

#include "lib/target/cpu/CpuTarget.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

using namespace compress;

namespace {

// The engine compiles for the CPU target.
const bool cpuTargetRegistered = (registerCpuTarget(), true);

// Two layers on the input (a and b, as query and key projections), a third
// on their sum.
constexpr const char *kBranchingModel = R"mlir(
func.func @main(%x: tensor<4x3xf32> {compress.name = "x"})
    -> (tensor<4x2xf32> {compress.name = "y"}) {
  %wa = arith.constant dense<[[1.0, 0.0, 2.0], [0.0, 1.0, 0.0], [1.0, 1.0, 1.0]]> : tensor<3x3xf32>
  %wb = arith.constant dense<[[0.5, 0.0, 0.0], [0.0, -1.0, 1.0], [2.0, 0.0, 1.0]]> : tensor<3x3xf32>
  %wc = arith.constant dense<[[1.0, 2.0, 3.0], [-1.0, 0.0, 1.0]]> : tensor<2x3xf32>
  %a = compress.linear %x, %wa : tensor<4x3xf32>, tensor<3x3xf32> -> tensor<4x3xf32>
  %b = compress.linear %x, %wb : tensor<4x3xf32>, tensor<3x3xf32> -> tensor<4x3xf32>
  %e = tensor.empty() : tensor<4x3xf32>
  %s = linalg.add ins(%a, %b : tensor<4x3xf32>, tensor<4x3xf32>) outs(%e : tensor<4x3xf32>) -> tensor<4x3xf32>
  %y = compress.linear %s, %wc : tensor<4x3xf32>, tensor<2x3xf32> -> tensor<4x2xf32>
  return %y : tensor<4x2xf32>
}
)mlir";

using Matrix = std::vector<std::vector<double>>;

const Matrix kInput = {{1, 2, 3}, {0, -1, 4}, {2, 2, -2}, {0.5, 0, 1}};

InputSet inputSet(const Matrix &x) {
  HostTensor t;
  t.shape = {int64_t(x.size()), int64_t(x[0].size())};
  for (const auto &row : x)
    for (double v : row) {
      float f = float(v);
      const char *bytes = reinterpret_cast<const char *>(&f);
      t.data.insert(t.data.end(), bytes, bytes + 4);
    }
  return {"set0", {std::move(t)}};
}

// x w^T for x [M, K], w [N, K].
Matrix product(const Matrix &x, const Matrix &w) {
  Matrix y(x.size(), std::vector<double>(w.size(), 0.0));
  for (size_t m = 0; m < x.size(); ++m)
    for (size_t n = 0; n < w.size(); ++n)
      for (size_t k = 0; k < w[n].size(); ++k)
        y[m][n] += x[m][k] * w[n][k];
  return y;
}

// 2/M x^T x, row-major.
std::vector<double> expectedHessian(const Matrix &x) {
  size_t k = x[0].size();
  std::vector<double> h(k * k, 0.0);
  for (const auto &row : x)
    for (size_t i = 0; i < k; ++i)
      for (size_t j = 0; j < k; ++j)
        h[i * k + j] += 2.0 * row[i] * row[j] / double(x.size());
  return h;
}

void expectNear(const std::vector<double> &got, const std::vector<double> &want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i)
    EXPECT_NEAR(got[i], want[i], 1e-4 * (1 + std::abs(want[i]))) << "element " << i;
}

struct Fixture {
  mlir::MLIRContext ctx;
  mlir::OwningOpRef<mlir::ModuleOp> module;
  llvm::SmallVector<LinearOp> layers;
  explicit Fixture(const char *source = kBranchingModel) {
    mlir::DialectRegistry registry;
    registerOnnxImportDialects(registry);
    ctx.appendDialectRegistry(registry);
    ctx.loadAllAvailableDialects();
    module = mlir::parseSourceString<mlir::ModuleOp>(source, &ctx);
    module->walk([&](LinearOp op) { layers.push_back(op); });
  }
};

// Per-feature statistics of the rows of x: L2 norm, mean, max |x|.
void expectChannelStatistics(const InputStatistics &s, const Matrix &x) {
  size_t k = x[0].size();
  ASSERT_EQ(s.l2Norm.size(), k);
  EXPECT_EQ(s.rows, int64_t(x.size()));
  for (size_t j = 0; j < k; ++j) {
    double squares = 0, sum = 0, maxAbs = 0;
    for (const auto &row : x) {
      squares += row[j] * row[j];
      sum += row[j];
      maxAbs = std::max(maxAbs, std::abs(row[j]));
    }
    EXPECT_NEAR(s.l2Norm[j], std::sqrt(squares), 1e-5) << "feature " << j;
    EXPECT_NEAR(s.mean[j], sum / double(x.size()), 1e-6) << "feature " << j;
    EXPECT_NEAR(s.maxAbs[j], maxAbs, 1e-6) << "feature " << j;
  }
}

TEST(Calibrator, MeasuresLayersThatShareNoPendingProducerInOneSegment) {
  Fixture f;
  ASSERT_EQ(f.layers.size(), 3u);
  Calibrator calibrator({inputSet(kInput)});
  auto session = calibrator.open(*f.module);
  auto sa = session->inputStatistics(f.layers[0]);
  ASSERT_TRUE(bool(sa)) << llvm::toString(sa.takeError());
  expectNear(sa->hessian, expectedHessian(kInput));
  expectChannelStatistics(*sa, kInput);
  // a reads the model's input: nothing to compile.
  EXPECT_EQ(calibrator.segmentsCompiled(), 0u);
  // b reads the model input too: measured at the same time.
  auto sb = session->inputStatistics(f.layers[1]);
  ASSERT_TRUE(bool(sb)) << llvm::toString(sb.takeError());
  expectNear(sb->hessian, expectedHessian(kInput));
  EXPECT_EQ(calibrator.segmentsCompiled(), 0u);
}

TEST(Calibrator, MeasuresALayerAfterTheLayersBeforeItChanged) {
  Fixture f;
  Calibrator calibrator({inputSet(kInput)});
  auto session = calibrator.open(*f.module);
  ASSERT_TRUE(bool(session->inputStatistics(f.layers[0])));
  ASSERT_TRUE(bool(session->inputStatistics(f.layers[1])));
  // Stand-in for compression: a's weight is replaced before c is measured.
  const Matrix wa = {{1, 0, 2.5}, {0, 1, 0}, {1, 0, 1}}, wb = {{0.5, 0, 0}, {0, -1, 1}, {2, 0, 1}};
  std::vector<float> flat;
  for (const auto &row : wa)
    for (double v : row)
      flat.push_back(float(v));
  mlir::OpBuilder b(f.layers[0]);
  auto type = mlir::RankedTensorType::get({3, 3}, b.getF32Type());
  auto newWeight = mlir::arith::ConstantOp::create(
      b, f.layers[0].getLoc(), mlir::DenseElementsAttr::get(type, llvm::ArrayRef<float>(flat)));
  f.layers[0].getWeightMutable().assign(newWeight);

  auto sc = session->inputStatistics(f.layers[2]);
  ASSERT_TRUE(bool(sc)) << llvm::toString(sc.takeError());
  Matrix a = product(kInput, wa), bOut = product(kInput, wb), sum = a;
  for (size_t m = 0; m < sum.size(); ++m)
    for (size_t n = 0; n < sum[m].size(); ++n)
      sum[m][n] += bOut[m][n];
  expectNear(sc->hessian, expectedHessian(sum));
  expectChannelStatistics(*sc, sum);
  EXPECT_EQ(calibrator.segmentsCompiled(), 1u);
}

// A chain of layers: each after the first (which reads the model's input)
// is measured by a segment that starts from the frontier the previous one
// stored, and a later layer's statistics see every earlier change.
constexpr const char *kChainModel = R"mlir(
func.func @main(%x: tensor<4x3xf32> {compress.name = "x"})
    -> (tensor<4x3xf32> {compress.name = "y"}) {
  %w = arith.constant dense<[[1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 3.0]]> : tensor<3x3xf32>
  %a = compress.linear %x, %w : tensor<4x3xf32>, tensor<3x3xf32> -> tensor<4x3xf32>
  %b = compress.linear %a, %w : tensor<4x3xf32>, tensor<3x3xf32> -> tensor<4x3xf32>
  %c = compress.linear %b, %w : tensor<4x3xf32>, tensor<3x3xf32> -> tensor<4x3xf32>
  %d = compress.linear %c, %w : tensor<4x3xf32>, tensor<3x3xf32> -> tensor<4x3xf32>
  return %d : tensor<4x3xf32>
}
)mlir";

TEST(Calibrator, OneSegmentPerLayerOfAChain) {
  Fixture f(kChainModel);
  ASSERT_EQ(f.layers.size(), 4u);
  Calibrator calibrator({inputSet(kInput)});
  auto session = calibrator.open(*f.module);
  Matrix x = kInput;
  const Matrix w = {{1, 0, 0}, {0, 2, 0}, {0, 0, 3}};
  for (size_t i = 0; i < f.layers.size(); ++i) {
    auto s = session->inputStatistics(f.layers[i]);
    ASSERT_TRUE(bool(s)) << llvm::toString(s.takeError());
    expectNear(s->hessian, expectedHessian(x));
    EXPECT_EQ(calibrator.segmentsCompiled(), i);
    x = product(x, w);
  }
}

// A skip connection: a (the first layer's output) is read again after the
// last layer, so every frontier holds it; it is carried from one frontier to
// the next rather than recomputed, and the last layer's input (c + a) is
// still right.
constexpr const char *kSkipModel = R"mlir(
func.func @main(%x: tensor<4x3xf32> {compress.name = "x"})
    -> (tensor<4x3xf32> {compress.name = "y"}) {
  %w = arith.constant dense<[[1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 3.0]]> : tensor<3x3xf32>
  %a = compress.linear %x, %w : tensor<4x3xf32>, tensor<3x3xf32> -> tensor<4x3xf32>
  %b = compress.linear %a, %w : tensor<4x3xf32>, tensor<3x3xf32> -> tensor<4x3xf32>
  %c = compress.linear %b, %w : tensor<4x3xf32>, tensor<3x3xf32> -> tensor<4x3xf32>
  %e = tensor.empty() : tensor<4x3xf32>
  %s = linalg.add ins(%c, %a : tensor<4x3xf32>, tensor<4x3xf32>) outs(%e : tensor<4x3xf32>) -> tensor<4x3xf32>
  %d = compress.linear %s, %w : tensor<4x3xf32>, tensor<3x3xf32> -> tensor<4x3xf32>
  return %d : tensor<4x3xf32>
}
)mlir";

TEST(Calibrator, CarriesStoredValuesAcrossSegments) {
  Fixture f(kSkipModel);
  ASSERT_EQ(f.layers.size(), 4u);
  Calibrator calibrator({inputSet(kInput)});
  auto session = calibrator.open(*f.module);
  const Matrix w = {{1, 0, 0}, {0, 2, 0}, {0, 0, 3}};
  Matrix a = product(kInput, w), b = product(a, w), c = product(b, w), s = c;
  for (size_t m = 0; m < s.size(); ++m)
    for (size_t n = 0; n < s[m].size(); ++n)
      s[m][n] += a[m][n];
  const Matrix *inputs[] = {&kInput, &a, &b, &s};
  for (size_t i = 0; i < f.layers.size(); ++i) {
    auto stats = session->inputStatistics(f.layers[i]);
    ASSERT_TRUE(bool(stats)) << llvm::toString(stats.takeError());
    expectNear(stats->hessian, expectedHessian(*inputs[i]));
  }
  EXPECT_EQ(calibrator.segmentsCompiled(), 3u);
}

TEST(Calibrator, VisitsTheModelOutputs) {
  Fixture f(kChainModel);
  const Matrix other = {{-1, 0.5, 2}, {1, 1, 1}, {0, 3, -2}, {4, 0, 0.25}};
  Calibrator calibrator({inputSet(kInput), inputSet(other)});
  auto session = calibrator.open(*f.module);
  std::vector<size_t> visited;
  llvm::Error e = session->visitModelOutputs(
      *f.module, [&](size_t set, llvm::ArrayRef<HostTensor> outputs) -> llvm::Error {
        visited.push_back(set);
        EXPECT_EQ(outputs.size(), 1u);
        EXPECT_EQ(outputs[0].shape, (std::vector<int64_t>{4, 3}));
        // y = x diag(1, 16, 81) after four layers of diag(1, 2, 3).
        const float *y = reinterpret_cast<const float *>(outputs[0].data.data());
        const Matrix &x = set == 0 ? kInput : other;
        EXPECT_NEAR(y[1], x[0][1] * 16, 1e-3);
        EXPECT_NEAR(y[2], x[0][2] * 81, 1e-3);
        return llvm::Error::success();
      });
  ASSERT_FALSE(bool(e)) << llvm::toString(std::move(e));
  EXPECT_EQ(visited, (std::vector<size_t>{0, 1}));
}

TEST(Calibrator, NamesTheSetThatFails) {
  Fixture f;
  Matrix wrongWidth = {{1, 2}, {3, 4}, {5, 6}, {7, 8}};
  Calibrator calibrator({inputSet(wrongWidth)});
  auto s = calibrator.open(*f.module)->inputStatistics(f.layers[0]);
  ASSERT_FALSE(bool(s));
  EXPECT_EQ(llvm::toString(s.takeError()),
            "calibration set 'set0': the layer's input has shape [4,2], not 3 features");
}

} // namespace
