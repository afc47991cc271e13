// Unit tests of layer-by-layer calibration: which layers one run measures,
// and that a layer's Hessian sees the layers compressed before it.
#include "lib/calibration/Calibrator.h"
#include "lib/importer/onnx/Importer.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/Parser/Parser.h"

#include <gtest/gtest.h>

#include <cstring>

using namespace compress;

namespace {

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
  Fixture() {
    mlir::DialectRegistry registry;
    registerOnnxImportDialects(registry);
    ctx.appendDialectRegistry(registry);
    ctx.loadAllAvailableDialects();
    module = mlir::parseSourceString<mlir::ModuleOp>(kBranchingModel, &ctx);
    module->walk([&](LinearOp op) { layers.push_back(op); });
  }
};

TEST(Calibrator, MeasuresLayersThatShareNoPendingProducerInOneRun) {
  Fixture f;
  ASSERT_EQ(f.layers.size(), 3u);
  Calibrator calibrator(*f.module, {inputSet(kInput)});
  auto ha = calibrator.hessian(f.layers[0]);
  ASSERT_TRUE(bool(ha)) << llvm::toString(ha.takeError());
  expectNear(*ha, expectedHessian(kInput));
  EXPECT_EQ(calibrator.compilations(), 1u);
  // b reads the model input too: measured by the same run.
  auto hb = calibrator.hessian(f.layers[1]);
  ASSERT_TRUE(bool(hb)) << llvm::toString(hb.takeError());
  expectNear(*hb, expectedHessian(kInput));
  EXPECT_EQ(calibrator.compilations(), 1u);
}

TEST(Calibrator, MeasuresALayerAfterTheLayersBeforeItChanged) {
  Fixture f;
  Calibrator calibrator(*f.module, {inputSet(kInput)});
  ASSERT_TRUE(bool(calibrator.hessian(f.layers[0])));
  ASSERT_TRUE(bool(calibrator.hessian(f.layers[1])));
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

  auto hc = calibrator.hessian(f.layers[2]);
  ASSERT_TRUE(bool(hc)) << llvm::toString(hc.takeError());
  Matrix a = product(kInput, wa), bOut = product(kInput, wb), sum = a;
  for (size_t m = 0; m < sum.size(); ++m)
    for (size_t n = 0; n < sum[m].size(); ++n)
      sum[m][n] += bOut[m][n];
  expectNear(*hc, expectedHessian(sum));
  EXPECT_EQ(calibrator.compilations(), 2u);
}

TEST(Calibrator, NamesTheSetThatFails) {
  Fixture f;
  Matrix wrongWidth = {{1, 2}, {3, 4}, {5, 6}, {7, 8}};
  Calibrator calibrator(*f.module, {inputSet(wrongWidth)});
  auto h = calibrator.hessian(f.layers[0]);
  ASSERT_FALSE(bool(h));
  EXPECT_EQ(llvm::toString(h.takeError()),
            "calibration set 'set0': input 'x' must have shape [4,3], got [4,2]");
}

} // namespace
