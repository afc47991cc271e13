// Lays the constant weights of quantized linear layers out in the tiles the
// CPU kernels stream (lib/runtime/cpu/QuantizedLayout.h), once, at compile
// time: the weights file then holds them in that layout.
#include "passes/conversion/QuantizedLinearLoop.h"
#include "passes/cpu/ConstantBytes.h"
#include "passes/cpu/Passes.h"

#include "dialects/compress/IR/WeightStore.h"

#include "lib/runtime/cpu/Contraction.h"
#include "lib/runtime/cpu/QuantizedLayout.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/PatternMatch.h"

namespace compress {
#define GEN_PASS_DEF_TILEQUANTIZEDWEIGHTSPASS
#include "passes/cpu/Passes.h.inc"
} // namespace compress

using namespace mlir;
using namespace compress;
namespace layout = compress::quantized_layout;

namespace {

/// The bytes of a constant operand, or nullopt when it is not one.
std::optional<std::vector<char>> constantOperand(Value v) {
  ElementsAttr attr;
  if (!matchPattern(v, m_Constant(&attr)))
    return std::nullopt;
  std::vector<char> storage;
  std::optional<ArrayRef<char>> bytes = constantBytes(attr, storage);
  if (!bytes)
    return std::nullopt;
  std::vector<char> copy(bytes->begin(), bytes->end());
  // Tiling works on the copy: a spilled weight leaves memory again.
  releaseWeightPages(v.getContext(), *bytes);
  return copy;
}

/// A constant of `type` holding `bytes`, kept as a blob named `key`.
Value makeConstant(OpBuilder &b, Location loc, RankedTensorType type, ArrayRef<char> bytes,
                   StringRef key) {
  auto attr = DenseResourceElementsAttr::get(
      type, key, makeWeightBlob(b.getContext(), bytes, 64));
  return arith::ConstantOp::create(b, loc, attr);
}

/// The name of a constant's blob, for naming its tiled copy.
std::string blobName(Value v, StringRef fallback) {
  if (auto constant = v.getDefiningOp<arith::ConstantOp>())
    if (auto resource = dyn_cast<DenseResourceElementsAttr>(constant.getValue()))
      return resource.getRawHandle().getKey().str();
  return fallback.str();
}

LogicalResult tileLayer(linalg::GenericOp op, QuantizedProductAttr product, unsigned index) {
  if (product.getTiled() || !op.hasPureTensorSemantics())
    return failure();
  int64_t bits = product.getBits();
  int64_t group = product.getGroupSize();
  Value weight = op.getDpsInputOperand(1)->get(), scales = op.getDpsInputOperand(2)->get();
  bool hasZeroPoints = op.getNumDpsInputs() == 4;
  Value zeroPoints = hasZeroPoints ? op.getDpsInputOperand(3)->get() : Value();
  auto scalesType = cast<RankedTensorType>(scales.getType());
  int64_t n = scalesType.getDimSize(0), groups = scalesType.getDimSize(1);
  int64_t k = product.getInFeatures();
  if (!scalesType.getElementType().isF32() || !layout::canTile(n, k, bits, group))
    return failure();
  auto weightBytes = constantOperand(weight), scaleBytes = constantOperand(scales);
  std::optional<std::vector<char>> zeroBytes;
  if (hasZeroPoints)
    zeroBytes = constantOperand(zeroPoints);
  if (!weightBytes || !scaleBytes || (hasZeroPoints && !zeroBytes))
    return failure();

  std::vector<char> tiles(layout::tiledWeightBytes(n, k, bits));
  layout::tileWeights(reinterpret_cast<const uint8_t *>(weightBytes->data()), n, k, bits,
                      reinterpret_cast<uint8_t *>(tiles.data()));
  std::vector<char> tiledScales(scaleBytes->size());
  layout::tileGroupTable(reinterpret_cast<const float *>(scaleBytes->data()), n, groups,
                         reinterpret_cast<float *>(tiledScales.data()));

  OpBuilder b(op);
  Location loc = op.getLoc();
  Type i8 = b.getI8Type();
  int64_t depth = layout::featuresPerLane(bits), tileN = n / layout::kTileChannels;
  std::string name = blobName(weight, "quantized_weight" + std::to_string(index));
  QuantizedLinearLoop loop;
  loop.input = op.getDpsInputOperand(0)->get();
  loop.init = op.getDpsInitOperand(0)->get();
  loop.weight = makeConstant(b, loc, RankedTensorType::get({tileN, k / depth, 16, 4}, i8),
                             tiles, name + "_tiled");
  loop.scales = makeConstant(b, loc, RankedTensorType::get({tileN, groups, 16}, b.getF32Type()),
                             tiledScales, blobName(scales, name + "_scales") + "_tiled");
  if (hasZeroPoints) {
    std::vector<char> tiledZeros(zeroBytes->size());
    layout::tileGroupTable(reinterpret_cast<const uint8_t *>(zeroBytes->data()), n, groups,
                           reinterpret_cast<uint8_t *>(tiledZeros.data()));
    loop.zeroPoints = makeConstant(b, loc, RankedTensorType::get({tileN, groups, 16}, i8),
                                   tiledZeros, blobName(zeroPoints, name + "_zero_points") + "_tiled");
  }
  loop.n = n;
  loop.k = k;
  loop.bits = bits;
  loop.groupSize = group;
  loop.int8Activations = product.getInt8Activations();
  loop.layout = QuantizedWeightLayout::Tiled;
  linalg::GenericOp tiled = buildQuantizedLinearLoop(b, loc, loop);
  op.getResult(0).replaceAllUsesWith(tiled.getResult(0));
  op.erase();
  return success();
}

struct TileQuantizedWeightsPass
    : compress::impl::TileQuantizedWeightsPassBase<TileQuantizedWeightsPass> {
  void runOnOperation() override {
    SmallVector<std::pair<linalg::GenericOp, QuantizedProductAttr>> layers;
    getOperation()->walk([&](linalg::GenericOp op) {
      if (auto product = getQuantizedProduct(op))
        layers.push_back({op, product});
    });
    for (auto [index, layer] : llvm::enumerate(layers))
      (void)tileLayer(layer.first, layer.second, index);
  }
};

} // namespace
