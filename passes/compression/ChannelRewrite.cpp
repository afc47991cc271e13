// Structured pruning's rewriter: applies a plan, slicing constants and shrinking types.
#include "passes/compression/ChannelPropagation.h"

#include "passes/compression/LayerWeights.h"

#include "dialects/compress/IR/CompressOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/Matchers.h"

using namespace mlir;
using llvm::SmallVector;

namespace compress::structured {
namespace {

/// The bytes of a constant's value (a splat expanded).
std::vector<char> constantBytes(Attribute value, RankedTensorType type) {
  if (auto resource = dyn_cast<DenseResourceElementsAttr>(value)) {
    ArrayRef<char> data = resource.getRawHandle().getBlob()->getData();
    return std::vector<char>(data.begin(), data.end());
  }
  auto dense = cast<DenseElementsAttr>(value);
  ArrayRef<char> raw = dense.getRawData();
  if (!dense.isSplat())
    return std::vector<char>(raw.begin(), raw.end());
  std::vector<char> out;
  out.reserve(raw.size() * type.getNumElements());
  for (int64_t i = 0; i < type.getNumElements(); ++i)
    out.insert(out.end(), raw.begin(), raw.end());
  return out;
}

/// Indices kept along a dimension of `size` made of `units` blocks.
std::vector<int64_t> keptIndices(int64_t size, int64_t units, ArrayRef<int64_t> keptUnits) {
  int64_t block = size / units;
  std::vector<int64_t> out;
  for (int64_t u : keptUnits)
    for (int64_t j = 0; j < block; ++j)
      out.push_back(u * block + j);
  return out;
}

/// A new constant holding `constant`'s value with only the kept blocks of
/// dimension `dim`.
Value sliceConstant(OpBuilder &b, Location loc, Value constant, int64_t dim, int64_t units,
                    ArrayRef<int64_t> keptUnits, StringRef key) {
  auto type = cast<RankedTensorType>(constant.getType());
  Attribute value = constant.getDefiningOp<arith::ConstantOp>().getValue();
  ArrayRef<int64_t> shape = type.getShape();
  std::vector<int64_t> keep = keptIndices(shape[dim], units, keptUnits);
  SmallVector<int64_t> newShape(shape);
  newShape[dim] = int64_t(keep.size());
  auto newType = type.clone(newShape);
  if (auto dense = dyn_cast<DenseElementsAttr>(value); dense && dense.isSplat())
    return arith::ConstantOp::create(b, loc, dense.resizeSplat(newType));
  std::vector<char> bytes = constantBytes(value, type);
  int64_t element = int64_t(bytes.size()) / type.getNumElements();
  int64_t outer = 1, inner = element;
  for (int64_t i = 0; i < dim; ++i)
    outer *= shape[i];
  for (int64_t i = dim + 1; i < int64_t(shape.size()); ++i)
    inner *= shape[i];
  std::vector<char> out;
  out.reserve(outer * keep.size() * inner);
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t k : keep) {
      const char *from = bytes.data() + (o * shape[dim] + k) * inner;
      out.insert(out.end(), from, from + inner);
    }
  return makeConstant(b, loc, newType, ArrayRef<char>(out), key);
}

std::string resourceKey(Value constant, StringRef fallback) {
  if (auto op = constant.getDefiningOp<arith::ConstantOp>())
    if (auto resource = dyn_cast<DenseResourceElementsAttr>(op.getValue()))
      return (resource.getRawHandle().getKey() + ".structured").str();
  return fallback.str();
}

int64_t numElements(Value v) {
  return v ? cast<RankedTensorType>(v.getType()).getNumElements() : 0;
}

void replaceOperandWithSlice(OpOperand &operand, int64_t dim, const Plan &plan, StringRef key,
                             llvm::SetVector<Operation *> &maybeDead) {
  Operation *owner = operand.getOwner();
  OpBuilder b(owner);
  Value old = operand.get();
  Value sliced =
      sliceConstant(b, old.getLoc(), old, dim, plan.units, plan.kept, resourceKey(old, key));
  operand.set(sliced);
  if (Operation *def = old.getDefiningOp())
    maybeDead.insert(def);
}

} // namespace

int64_t parameters(const Plan &plan) {
  int64_t total = 0;
  llvm::DenseSet<Value> counted;
  auto add = [&](Value v) {
    if (v && counted.insert(v).second)
      total += numElements(v);
  };
  for (Operation *seed : plan.seeds) {
    if (auto linear = dyn_cast<LinearOp>(seed)) {
      add(linear.getWeight());
      add(linear.getBias());
    } else if (auto conv = dyn_cast<Conv2DOp>(seed)) {
      add(conv.getWeight());
      add(conv.getBias());
    }
  }
  if (auto linear = dyn_cast<LinearOp>(plan.sink))
    add(linear.getWeight());
  else if (auto conv = dyn_cast<Conv2DOp>(plan.sink))
    add(conv.getWeight());
  for (const ConstantSlice &s : plan.constants) {
    auto dense =
        dyn_cast<DenseElementsAttr>(s.operand->get().getDefiningOp<arith::ConstantOp>().getValue());
    if (!dense || !dense.isSplat())
      add(s.operand->get());
  }
  return total;
}

void apply(Plan &plan, llvm::SetVector<Operation *> &maybeDead) {
  int64_t kept = int64_t(plan.kept.size());
  auto shrink = [&](int64_t size) { return size / plan.units * kept; };
  std::string sinkName = layerName(plan.sink);

  // Layers' weights first (operand numbers: weight 1, bias 2).
  for (Operation *seed : plan.seeds) {
    std::string name = layerName(seed);
    replaceOperandWithSlice(seed->getOpOperand(1), 0, plan, name + ".weight", maybeDead);
    if (seed->getNumOperands() > 2)
      replaceOperandWithSlice(seed->getOpOperand(2), 0, plan, name + ".bias", maybeDead);
  }
  replaceOperandWithSlice(plan.sink->getOpOperand(1), 1, plan, sinkName + ".weight", maybeDead);
  for (const ConstantSlice &s : plan.constants)
    replaceOperandWithSlice(*s.operand, s.dim, plan, sinkName + ".constant", maybeDead);

  // Shapes of reshapes, sizes of slices (read before the types change).
  for (ShapeRewrite s : plan.shapes) {
    OpBuilder b(s.op);
    Location loc = s.op.getLoc();
    int64_t size = shrink(s.op.getResult().getType().getDimSize(s.index));
    Value shape = s.op.getShape();
    Value newShape;
    if (auto elements = shape.getDefiningOp<tensor::FromElementsOp>()) {
      SmallVector<Value> entries(elements.getElements());
      Type elementType = entries[s.index].getType();
      entries[s.index] = elementType.isIndex()
                             ? Value(arith::ConstantIndexOp::create(b, loc, size))
                             : Value(arith::ConstantIntOp::create(b, loc, elementType, size));
      newShape = tensor::FromElementsOp::create(b, loc, elements.getType(), entries);
    } else {
      DenseIntElementsAttr attr;
      matchPattern(shape, m_Constant(&attr));
      SmallVector<APInt> values(attr.getValues<APInt>());
      values[s.index] = APInt(values[s.index].getBitWidth(), size, /*isSigned=*/true);
      newShape = arith::ConstantOp::create(
          b, loc, DenseIntElementsAttr::get(cast<ShapedType>(attr.getType()), values));
    }
    s.op.getShapeMutable().set(newShape);
    if (Operation *def = shape.getDefiningOp())
      maybeDead.insert(def);
  }
  for (Operation *op : plan.slices) {
    if (auto slice = dyn_cast<tensor::ExtractSliceOp>(op)) {
      int64_t dim = plan.dims.lookup(slice.getResult());
      SmallVector<int64_t> sizes(slice.getStaticSizes());
      sizes[dim] = shrink(sizes[dim]);
      slice.setStaticSizes(sizes);
    } else if (auto slice = dyn_cast<tensor::InsertSliceOp>(op)) {
      int64_t dim = plan.dims.lookup(slice.getResult());
      SmallVector<int64_t> sizes(slice.getStaticSizes());
      sizes[dim] = shrink(sizes[dim]);
      slice.setStaticSizes(sizes);
    }
  }
  for (auto [value, dim] : plan.dims) {
    auto type = cast<RankedTensorType>(value.getType());
    SmallVector<int64_t> shape(type.getShape());
    shape[dim] = shrink(shape[dim]);
    value.setType(type.clone(shape));
  }
}

} // namespace compress::structured
