// Unit tests of the JIT engine through its C++ API.
#include "lib/engine/CpuEngine.h"
#include "lib/importer/onnx/Importer.h"

#include "mlir/InitAllDialects.h"
#include "mlir/Parser/Parser.h"

#include "lib/target/cpu/CpuTarget.h"

#include <gtest/gtest.h>

#include <cstring>

using namespace compress;

namespace {

// The engine compiles for the CPU target.
const bool cpuTargetRegistered = (registerCpuTarget(), true);

mlir::OwningOpRef<mlir::ModuleOp> parse(mlir::MLIRContext &ctx, const char *source) {
  mlir::DialectRegistry registry;
  registerOnnxImportDialects(registry);
  ctx.appendDialectRegistry(registry);
  ctx.loadAllAvailableDialects();
  return mlir::parseSourceString<mlir::ModuleOp>(source, &ctx);
}

HostTensor floats(std::vector<int64_t> shape, std::vector<float> values) {
  HostTensor t;
  t.shape = std::move(shape);
  t.data.resize(values.size() * 4);
  memcpy(t.data.data(), values.data(), t.data.size());
  return t;
}

// Two results, one of them dynamic in size, both owned by the caller.
constexpr const char *kLinearModel = R"mlir(
func.func @main(%x: tensor<?x2xf32> {compress.name = "x"})
    -> (tensor<?x3xf32> {compress.name = "y"}, tensor<3xf32> {compress.name = "b"}) {
  %w = arith.constant dense<[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]> : tensor<3x2xf32>
  %b = arith.constant dense<[0.5, 1.0, 1.5]> : tensor<3xf32>
  %y = compress.linear %x, %w, %b : tensor<?x2xf32>, tensor<3x2xf32>, tensor<3xf32> -> tensor<?x3xf32>
  return %y, %b : tensor<?x3xf32>, tensor<3xf32>
}
)mlir";

TEST(CpuEngine, RunsALinearLayerTwice) {
  mlir::MLIRContext ctx;
  auto module = parse(ctx, kLinearModel);
  ASSERT_TRUE(module);
  auto engine = CpuEngine::compile(*module);
  ASSERT_TRUE(bool(engine)) << llvm::toString(engine.takeError());
  EXPECT_EQ((*engine)->inputs()[0].name, "x");
  EXPECT_EQ((*engine)->inputs()[0].shape, (std::vector<int64_t>{-1, 2}));
  for (int64_t rows : {1, 4}) {
    std::vector<float> x;
    for (int64_t i = 0; i < rows * 2; ++i)
      x.push_back(float(i));
    auto out = (*engine)->run({floats({rows, 2}, x)});
    ASSERT_TRUE(bool(out)) << llvm::toString(out.takeError());
    ASSERT_EQ(out->size(), 2u);
    EXPECT_EQ((*out)[0].shape, (std::vector<int64_t>{rows, 3}));
    const float *y = reinterpret_cast<const float *>((*out)[0].data.data());
    for (int64_t r = 0; r < rows; ++r) {
      EXPECT_FLOAT_EQ(y[r * 3 + 0], x[r * 2] + 0.5f);
      EXPECT_FLOAT_EQ(y[r * 3 + 1], x[r * 2 + 1] + 1.0f);
      EXPECT_FLOAT_EQ(y[r * 3 + 2], x[r * 2] + x[r * 2 + 1] + 1.5f);
    }
    const float *b = reinterpret_cast<const float *>((*out)[1].data.data());
    EXPECT_FLOAT_EQ(b[2], 1.5f);
  }
}

TEST(CpuEngine, ChecksInputs) {
  mlir::MLIRContext ctx;
  auto module = parse(ctx, kLinearModel);
  auto engine = CpuEngine::compile(*module);
  ASSERT_TRUE(bool(engine));
  auto wrongShape = (*engine)->run({floats({2, 5}, std::vector<float>(10))});
  ASSERT_FALSE(bool(wrongShape));
  EXPECT_EQ(llvm::toString(wrongShape.takeError()),
            "input 'x' must have shape [?,2], got [2,5]");
  auto none = (*engine)->run({});
  ASSERT_FALSE(bool(none));
  EXPECT_EQ(llvm::toString(none.takeError()), "the model takes 1 inputs, got 0");
}

} // namespace
