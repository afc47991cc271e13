// Verifiers of the `compress` ops.
#include "dialects/compress/IR/CompressOps.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/OpImplementation.h"

using namespace mlir;
using namespace compress;

// Two dimensions agree when either is dynamic or both are equal.
static bool dimsCompatible(int64_t a, int64_t b) {
  return ShapedType::isDynamic(a) || ShapedType::isDynamic(b) || a == b;
}

static LogicalResult verifySameElementType(Operation *op,
                                           ArrayRef<Type> types) {
  Type first = cast<ShapedType>(types.front()).getElementType();
  if (!isa<FloatType>(first))
    return op->emitOpError("expects a floating-point element type, got ")
           << first;
  for (Type t : types.drop_front())
    if (cast<ShapedType>(t).getElementType() != first)
      return op->emitOpError("expects all operands and the result to have "
                             "element type ")
             << first << ", got " << cast<ShapedType>(t).getElementType();
  return success();
}

/// The output of a layer with N outputs: the input's batch dimensions, then N.
static LogicalResult verifyLayerOutput(Operation *op, RankedTensorType inputType,
                                       RankedTensorType outputType, int64_t n) {
  if (outputType.getRank() != inputType.getRank() ||
      !dimsCompatible(outputType.getShape().back(), n))
    return op->emitOpError("expects an output of the input's rank ending in N = ") << n;
  for (int64_t i = 0; i + 1 < inputType.getRank(); ++i)
    if (!dimsCompatible(inputType.getDimSize(i), outputType.getDimSize(i)))
      return op->emitOpError("output dimension ") << i << " does not match input";
  return success();
}

static LogicalResult verifyBias(Operation *op, Value bias, int64_t features) {
  if (!bias)
    return success();
  auto type = cast<RankedTensorType>(bias.getType());
  if (type.getRank() != 1 || !dimsCompatible(type.getDimSize(0), features))
    return op->emitOpError("expects a bias of shape [")
           << features << "], got " << type;
  return success();
}

LogicalResult LinearOp::verify() {
  auto inputType = getInput().getType();
  auto weightType = getWeight().getType();
  auto outputType = getOutput().getType();
  SmallVector<Type> types = {inputType, weightType, outputType};
  if (getBias())
    types.push_back(getBias().getType());
  if (failed(verifySameElementType(*this, types)))
    return failure();
  if (inputType.getRank() < 1)
    return emitOpError("expects an input of rank >= 1");
  if (weightType.getRank() != 2)
    return emitOpError("expects a weight of rank 2 ([N, K]), got rank ")
           << weightType.getRank();
  int64_t k = weightType.getDimSize(1), n = weightType.getDimSize(0);
  if (!dimsCompatible(inputType.getShape().back(), k))
    return emitOpError("input's last dimension (")
           << inputType.getShape().back() << ") does not match the weight's K ("
           << k << ")";
  if (outputType.getRank() != inputType.getRank())
    return emitOpError("expects the output to have the input's rank");
  for (int64_t i = 0; i + 1 < inputType.getRank(); ++i)
    if (!dimsCompatible(inputType.getDimSize(i), outputType.getDimSize(i)))
      return emitOpError("output dimension ") << i << " does not match input";
  if (!dimsCompatible(outputType.getShape().back(), n))
    return emitOpError("output's last dimension does not match the weight's N (")
           << n << ")";
  return verifyBias(*this, getBias(), n);
}

LogicalResult Conv2DOp::verify() {
  auto inputType = getInput().getType();
  auto weightType = getWeight().getType();
  auto outputType = getOutput().getType();
  SmallVector<Type> types = {inputType, weightType, outputType};
  if (getBias())
    types.push_back(getBias().getType());
  if (failed(verifySameElementType(*this, types)))
    return failure();
  if (inputType.getRank() != 4 || weightType.getRank() != 4 ||
      outputType.getRank() != 4)
    return emitOpError("expects rank-4 input, weight and output");
  if (getStrides().size() != 2 || getDilations().size() != 2 ||
      getPadding().size() != 4)
    return emitOpError("expects 2 strides, 2 dilations and 4 paddings");
  if (llvm::any_of(getStrides(), [](int64_t s) { return s < 1; }) ||
      llvm::any_of(getDilations(), [](int64_t d) { return d < 1; }) ||
      llvm::any_of(getPadding(), [](int64_t p) { return p < 0; }))
    return emitOpError("expects strides and dilations >= 1, padding >= 0");
  int64_t groups = getGroups();
  int64_t channels = inputType.getDimSize(1);
  int64_t filters = weightType.getDimSize(0);
  if (groups < 1)
    return emitOpError("expects groups >= 1");
  if (!ShapedType::isDynamic(filters) && filters % groups != 0)
    return emitOpError("filters (") << filters << ") not divisible by groups ("
                                    << groups << ")";
  if (!ShapedType::isDynamic(channels) &&
      !dimsCompatible(channels, weightType.getDimSize(1) * groups))
    return emitOpError("input channels (")
           << channels << ") do not match weight channels x groups ("
           << weightType.getDimSize(1) << " x " << groups << ")";
  if (!dimsCompatible(outputType.getDimSize(0), inputType.getDimSize(0)) ||
      !dimsCompatible(outputType.getDimSize(1), filters))
    return emitOpError("output must be [N, F, OH, OW]");
  for (int i = 0; i < 2; ++i) {
    int64_t in = inputType.getDimSize(2 + i), k = weightType.getDimSize(2 + i);
    int64_t out = outputType.getDimSize(2 + i);
    if (ShapedType::isDynamic(in) || ShapedType::isDynamic(k) ||
        ShapedType::isDynamic(out))
      continue;
    int64_t padded = in + getPadding()[i] + getPadding()[i + 2];
    int64_t expected =
        (padded - getDilations()[i] * (k - 1) - 1) / getStrides()[i] + 1;
    if (expected != out)
      return emitOpError("output spatial dimension ")
             << i << " is " << out << ", expected " << expected;
  }
  return verifyBias(*this, getBias(), filters);
}

LogicalResult EmbeddingOp::verify() {
  auto tableType = getTable().getType();
  auto indicesType = getIndices().getType();
  auto outputType = getOutput().getType();
  if (tableType.getRank() != 2)
    return emitOpError("expects a table of rank 2 ([V, D])");
  if (!isa<IntegerType>(indicesType.getElementType()))
    return emitOpError("expects integer indices");
  if (tableType.getElementType() != outputType.getElementType())
    return emitOpError("expects the output element type of the table");
  if (outputType.getRank() != indicesType.getRank() + 1)
    return emitOpError("expects output rank = indices rank + 1");
  for (int64_t i = 0; i < indicesType.getRank(); ++i)
    if (!dimsCompatible(indicesType.getDimSize(i), outputType.getDimSize(i)))
      return emitOpError("output dimension ") << i << " does not match indices";
  if (!dimsCompatible(outputType.getShape().back(), tableType.getDimSize(1)))
    return emitOpError("output's last dimension must be the table's D");
  return success();
}

LogicalResult QuantizedLinearOp::verify() {
  auto inputType = getInput().getType();
  auto weightType = getWeight().getType();
  auto scalesType = getScales().getType();
  auto outputType = getOutput().getType();
  int64_t bits = getBits(), group = getGroupSize(), k = getInFeatures();
  if (bits < 2 || bits > 8)
    return emitOpError("expects 2 to 8 bits, got ") << bits;
  if (!isa<FloatType>(inputType.getElementType()) ||
      inputType.getElementType() != outputType.getElementType() ||
      scalesType.getElementType() != inputType.getElementType())
    return emitOpError("expects input, scales and output of one floating-point type");
  if (!weightType.getElementType().isInteger(8) || weightType.getRank() != 2)
    return emitOpError("expects an i8 weight of rank 2");
  if (!weightType.hasStaticShape() || !scalesType.hasStaticShape() || scalesType.getRank() != 2)
    return emitOpError("expects a static weight and rank-2 static scales");
  if (group < 1 || k < 1)
    return emitOpError("group size ") << group << " and in_features " << k
                                      << " must be positive";
  if (!dimsCompatible(inputType.getShape().back(), k))
    return emitOpError("input's last dimension (")
           << inputType.getShape().back() << ") is not in_features = " << k;
  int64_t n = weightType.getDimSize(0);
  int64_t perByte = bits <= 4 ? 2 : 1;
  if (weightType.getDimSize(1) != (k + perByte - 1) / perByte)
    return emitOpError("weight has ") << weightType.getDimSize(1) << " bytes per row, "
                                      << bits << "-bit values of K = " << k << " need "
                                      << (k + perByte - 1) / perByte;
  if (scalesType.getDimSize(0) != n || scalesType.getDimSize(1) != getNumGroups())
    return emitOpError("expects scales of shape [") << n << ", " << getNumGroups() << "]";
  if (getZeroPoints()) {
    auto zpType = cast<RankedTensorType>(getZeroPoints().getType());
    if (zpType.getShape() != scalesType.getShape() || !zpType.getElementType().isInteger(8))
      return emitOpError("expects i8 zero points shaped like the scales");
  }
  if (outputType.getRank() != inputType.getRank() ||
      (!ShapedType::isDynamic(outputType.getShape().back()) && outputType.getShape().back() != n))
    return emitOpError("expects an output of the input's rank ending in N = ") << n;
  return verifyBias(*this, getBias(), n);
}

int64_t SparseLinearOp::getStoredEntries() {
  if (isNM())
    return getInFeatures() / *getBlock() * *getKeep();
  return getIndices().getType().getDimSize(1);
}

LogicalResult SparseLinearOp::verify() {
  auto inputType = getInput().getType();
  auto valuesType = getValues().getType();
  auto indicesType = getIndices().getType();
  auto outputType = getOutput().getType();
  int64_t k = getInFeatures(), bits = getBits(), group = getGroupSize();
  Type floatType = inputType.getElementType();
  if (!isa<FloatType>(floatType) || outputType.getElementType() != floatType)
    return emitOpError("expects a floating-point input and output of one type");
  if (k < 1 || !dimsCompatible(inputType.getShape().back(), k))
    return emitOpError("input's last dimension (")
           << inputType.getShape().back() << ") is not in_features = " << k;
  if (valuesType.getRank() != 2 || !valuesType.hasStaticShape() || indicesType.getRank() != 2 ||
      !indicesType.hasStaticShape())
    return emitOpError("expects static rank-2 values and indices");
  int64_t n = valuesType.getDimSize(0);
  if (indicesType.getDimSize(0) != n)
    return emitOpError("expects indices for the ") << n << " rows of the values";
  if (getKeep().has_value() != getBlock().has_value())
    return emitOpError("expects both keep and block (N:M) or neither (ELL)");
  if (isNM()) {
    int64_t keep = *getKeep(), block = *getBlock();
    if (keep < 1 || keep >= block || block > 16)
      return emitOpError("expects 1 <= keep < block <= 16, got ") << keep << ":" << block;
    if (k % block != 0)
      return emitOpError("block ") << block << " does not divide in_features = " << k;
    if (getCounts())
      return emitOpError("an N:M weight has no counts");
    int64_t bytes = (getStoredEntries() * indexBits(block) + 7) / 8;
    if (!indicesType.getElementType().isInteger(8) || indicesType.getDimSize(1) != bytes)
      return emitOpError("expects i8 indices of shape [") << n << ", " << bytes << "]";
  } else {
    if (!getCounts())
      return emitOpError("expects counts (ELL) or keep and block (N:M)");
    auto countsType = cast<RankedTensorType>(getCounts().getType());
    if (countsType.getRank() != 1 || countsType.getDimSize(0) != n ||
        !countsType.getElementType().isInteger(32))
      return emitOpError("expects i32 counts of shape [") << n << "]";
    Type columnType = indicesType.getElementType();
    if (!columnType.isInteger(16) && !columnType.isInteger(32))
      return emitOpError("expects i16 or i32 column indices");
    if (columnType.isInteger(16) && k > 65536)
      return emitOpError("16-bit column indices cannot address in_features = ") << k;
  }
  int64_t stored = getStoredEntries();
  if (bits == 0) {
    if (valuesType.getElementType() != floatType || valuesType.getDimSize(1) != stored)
      return emitOpError("expects float values of shape [") << n << ", " << stored << "]";
    if (getScales() || getZeroPoints() || group != 0 || getInt8Activations())
      return emitOpError("float values take no scales, zero points, group size or int8 "
                         "activations");
  } else {
    if (bits != 8 && bits != 4)
      return emitOpError("expects 8- or 4-bit codes, got ") << bits;
    int64_t bytes = bits == 4 ? (stored + 1) / 2 : stored;
    if (!valuesType.getElementType().isInteger(8) || valuesType.getDimSize(1) != bytes)
      return emitOpError("expects i8 codes of shape [") << n << ", " << bytes << "]";
    if (group < 1)
      return emitOpError("expects a positive group_size with integer codes");
    if (!getScales())
      return emitOpError("integer codes need scales");
    int64_t groups = (stored + group - 1) / group;
    auto scalesType = cast<RankedTensorType>(getScales().getType());
    if (scalesType.getElementType() != floatType ||
        scalesType.getShape() != ArrayRef<int64_t>{n, groups})
      return emitOpError("expects scales of shape [") << n << ", " << groups << "]";
    if (getZeroPoints()) {
      auto zpType = cast<RankedTensorType>(getZeroPoints().getType());
      if (zpType.getShape() != scalesType.getShape() || !zpType.getElementType().isInteger(8))
        return emitOpError("expects i8 zero points shaped like the scales");
    }
  }
  if (failed(verifyLayerOutput(*this, inputType, outputType, n)))
    return failure();
  return verifyBias(*this, getBias(), n);
}

LogicalResult LowRankLinearOp::verify() {
  auto inputType = getInput().getType();
  auto downType = getDown().getType();
  auto upType = getUp().getType();
  auto outputType = getOutput().getType();
  int64_t k = getInFeatures(), r = getRank(), bits = getBits(), group = getGroupSize();
  Type floatType = inputType.getElementType();
  if (!isa<FloatType>(floatType) || outputType.getElementType() != floatType)
    return emitOpError("expects a floating-point input and output of one type");
  if (k < 1 || r < 1)
    return emitOpError("in_features ") << k << " and rank " << r << " must be positive";
  if (!dimsCompatible(inputType.getShape().back(), k))
    return emitOpError("input's last dimension (")
           << inputType.getShape().back() << ") is not in_features = " << k;
  if (downType.getRank() != 2 || upType.getRank() != 2 || !downType.hasStaticShape() ||
      !upType.hasStaticShape())
    return emitOpError("expects static rank-2 factors");
  int64_t n = upType.getDimSize(0);
  if (bits == 0) {
    if (downType.getElementType() != floatType || upType.getElementType() != floatType)
      return emitOpError("expects float factors of the input's type (bits = 0)");
    if (downType.getShape() != ArrayRef<int64_t>{r, k} || upType.getDimSize(1) != r)
      return emitOpError("expects down [") << r << ", " << k << "] and up [N, " << r << "]";
    if (getDownScales() || getUpScales() || group != 0)
      return emitOpError("float factors take no scales or group size");
  } else {
    if (bits != 8 && bits != 4)
      return emitOpError("expects 8- or 4-bit factors, got ") << bits;
    if (group < 0)
      return emitOpError("expects group_size >= 0 (0: one scale per row)");
    int64_t perByte = bits == 4 ? 2 : 1;
    auto bytes = [&](int64_t features) { return (features + perByte - 1) / perByte; };
    if (!downType.getElementType().isInteger(8) || !upType.getElementType().isInteger(8) ||
        downType.getShape() != ArrayRef<int64_t>{r, bytes(k)} || upType.getDimSize(1) != bytes(r))
      return emitOpError("expects i8 codes: down [")
             << r << ", " << bytes(k) << "] and up [N, " << bytes(r) << "]";
    if (!getDownScales() || !getUpScales())
      return emitOpError("integer factors need scales for both");
    auto downScales = cast<RankedTensorType>(getDownScales().getType());
    auto upScales = cast<RankedTensorType>(getUpScales().getType());
    if (downScales.getElementType() != floatType || upScales.getElementType() != floatType ||
        downScales.getShape() != ArrayRef<int64_t>{r, getNumGroups(k)} ||
        upScales.getShape() != ArrayRef<int64_t>{n, getNumGroups(r)})
      return emitOpError("expects scales [")
             << r << ", " << getNumGroups(k) << "] and [" << n << ", " << getNumGroups(r) << "]";
  }
  if (failed(verifyLayerOutput(*this, inputType, outputType, n)))
    return failure();
  if (getBias() && getAddend())
    return emitOpError("takes a bias or an addend, not both");
  if (getAddend() && getAddend().getType() != outputType)
    return emitOpError("expects an addend of the output's type ") << outputType;
  return verifyBias(*this, getBias(), n);
}

//===----------------------------------------------------------------------===//
// CompressibleLayer
//===----------------------------------------------------------------------===//

StringRef LinearOp::getLayerKind() { return "linear"; }
Value LinearOp::getLayerInput() { return getInput(); }
Value LinearOp::getLayerWeight() { return getWeight(); }
int64_t LinearOp::getLayerInFeatures() { return getWeight().getType().getDimSize(1); }
int64_t LinearOp::getLayerOutFeatures() { return getWeight().getType().getDimSize(0); }

StringRef Conv2DOp::getLayerKind() { return "conv2d"; }
Value Conv2DOp::getLayerInput() { return getInput(); }
Value Conv2DOp::getLayerWeight() { return getWeight(); }
int64_t Conv2DOp::getLayerInFeatures() {
  ArrayRef<int64_t> shape = getWeight().getType().getShape();
  return shape[1] * shape[2] * shape[3];
}
int64_t Conv2DOp::getLayerOutFeatures() { return getWeight().getType().getDimSize(0); }

StringRef EmbeddingOp::getLayerKind() { return "embedding"; }
Value EmbeddingOp::getLayerInput() { return getIndices(); }
Value EmbeddingOp::getLayerWeight() { return getTable(); }
int64_t EmbeddingOp::getLayerInFeatures() { return getTable().getType().getDimSize(0); }
int64_t EmbeddingOp::getLayerOutFeatures() { return getTable().getType().getDimSize(1); }

StringRef QuantizedLinearOp::getLayerKind() { return "quantized_linear"; }
Value QuantizedLinearOp::getLayerInput() { return getInput(); }
Value QuantizedLinearOp::getLayerWeight() { return getWeight(); }
int64_t QuantizedLinearOp::getLayerInFeatures() { return getInFeatures(); }
int64_t QuantizedLinearOp::getLayerOutFeatures() { return getWeight().getType().getDimSize(0); }
bool QuantizedLinearOp::isCompressedLayer() { return true; }

LogicalResult CheckCountOp::verify() {
  if (getSite().empty())
    return emitOpError("needs a non-empty site: the run's error names it");
  return success();
}

StringRef SparseLinearOp::getLayerKind() { return "sparse_linear"; }
Value SparseLinearOp::getLayerInput() { return getInput(); }
Value SparseLinearOp::getLayerWeight() { return getValues(); }
int64_t SparseLinearOp::getLayerInFeatures() { return getInFeatures(); }
int64_t SparseLinearOp::getLayerOutFeatures() { return getValues().getType().getDimSize(0); }
bool SparseLinearOp::isCompressedLayer() { return true; }

StringRef LowRankLinearOp::getLayerKind() { return "low_rank_linear"; }
Value LowRankLinearOp::getLayerInput() { return getInput(); }
Value LowRankLinearOp::getLayerWeight() { return getDown(); }
int64_t LowRankLinearOp::getLayerInFeatures() { return getInFeatures(); }
int64_t LowRankLinearOp::getLayerOutFeatures() { return getOutFeatures(); }
bool LowRankLinearOp::isCompressedLayer() { return true; }

#include "dialects/compress/IR/CompressInterfaces.cpp.inc"

#define GET_OP_CLASSES
#include "dialects/compress/IR/CompressOps.cpp.inc"
