// Structured pruning's planner: follows a structure's channel dimension through the ops.
#include "passes/compression/ChannelPropagation.h"

#include "passes/compression/LayerWeights.h"

#include "dialects/compress/IR/CompressOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/Matchers.h"

#include "llvm/Support/FormatVariadic.h"

#include <numeric>

using namespace mlir;
using llvm::SmallVector;

namespace compress::structured {

std::string describe(Operation *op) {
  std::string out = ("'" + op->getName().getStringRef() + "'").str();
  Location loc = op->getLoc();
  if (auto fused = dyn_cast<FusedLoc>(loc); fused && !fused.getLocations().empty())
    loc = fused.getLocations().front();
  if (auto name = dyn_cast<NameLoc>(loc))
    return out + " (node '" + name.getName().str() + "')";
  if (auto file = dyn_cast<FileLineColLoc>(loc)) {
    if (file.getLine() == 0)
      return out + " in " + file.getFilename().str();
    return out + llvm::formatv(" at {0}:{1}:{2}", file.getFilename().getValue(), file.getLine(),
                               file.getColumn())
                     .str();
  }
  return out;
}

std::string layerName(Operation *op) {
  if (auto layer = dyn_cast<CompressibleLayer>(op))
    return layer.getLayerName(describe(op));
  return describe(op);
}

namespace {

/// A product of dimensions: the static ones multiplied, the dynamic ones
/// counted (two products with as many dynamic factors and the same static
/// part are taken to be equal, as broadcasting takes facing dynamic extents).
struct Product {
  int64_t known = 1, dynamic = 0;
  bool operator==(const Product &o) const { return known == o.known && dynamic == o.dynamic; }
};
Product product(ArrayRef<int64_t> dims) {
  Product p;
  for (int64_t d : dims) {
    if (ShapedType::isDynamic(d))
      ++p.dynamic;
    else
      p.known *= d;
  }
  return p;
}

/// Plans one structure by propagating its channel dimension from the
/// consumer's input through every op it reaches.
class Propagation {
public:
  Propagation(Plan &plan) : plan(plan) {}

  std::optional<Failure> run(OpOperand &sinkInput, int64_t dim) {
    if (failed(labelOperand(sinkInput, dim)))
      return error;
    while (!worklist.empty()) {
      Value v = worklist.pop_back_val();
      if (auto arg = dyn_cast<BlockArgument>(v)) {
        (void)fail(arg.getOwner()->getParentOp(), "the channels reach an argument of the function");
        return error;
      }
      if (failed(visit(v.getDefiningOp(), v, nullptr)))
        return error;
      for (OpOperand &use : v.getUses())
        if (failed(visit(use.getOwner(), Value(), &use)))
          return error;
    }
    if (plan.seeds.empty()) {
      (void)fail(plan.sink, "no layer produces the channels it reads");
      return error;
    }
    return std::nullopt;
  }

private:
  LogicalResult fail(Operation *op, const Twine &why) {
    if (!error)
      error =
          Failure{"cannot propagate the pruned channels through " + describe(op) + ": " + why.str(),
                  std::nullopt};
    return mlir::failure();
  }

  int64_t units() const { return plan.units; }

  /// Records that `v` holds the channels in dimension `dim`.
  LogicalResult label(Value v, int64_t dim, Operation *at) {
    auto type = dyn_cast<RankedTensorType>(v.getType());
    if (!type || dim < 0 || dim >= type.getRank())
      return fail(at, "the channels do not lie in a ranked tensor dimension");
    int64_t size = type.getDimSize(dim);
    if (ShapedType::isDynamic(size)) {
      // The op computing the value is the one whose shape is unknown.
      Operation *producer = v.getDefiningOp() ? v.getDefiningOp() : at;
      return fail(producer, "the channel dimension " + std::to_string(dim) + " of its result " +
                                llvm::formatv("{0}", type).str() +
                                " is dynamic (a shape computed at run time)");
    }
    if (size % units() != 0)
      return fail(at, llvm::formatv("its channel dimension of {0} does not split into {1} groups",
                                    size, units())
                          .str());
    auto [it, inserted] = plan.dims.insert({v, dim});
    if (!inserted) {
      if (it->second != dim)
        return fail(at, llvm::formatv("the channels meet in dimensions {0} and {1} of one value",
                                      it->second, dim)
                            .str());
      return success();
    }
    worklist.push_back(v);
    return success();
  }

  /// Records that operand `operand` holds the channels in dimension `dim`:
  /// a constant is sliced for this use; any other value is labelled.
  LogicalResult labelOperand(OpOperand &operand, int64_t dim) {
    Operation *owner = operand.getOwner();
    Value v = operand.get();
    if (auto arg = dyn_cast<BlockArgument>(v))
      return fail(owner, "its operand " + std::to_string(operand.getOperandNumber()) +
                             " holding the channels is the function's argument " +
                             std::to_string(arg.getArgNumber()));
    if (auto constant = v.getDefiningOp<arith::ConstantOp>()) {
      auto type = dyn_cast<RankedTensorType>(v.getType());
      if (!type || dim >= type.getRank() || ShapedType::isDynamic(type.getDimSize(dim)) ||
          type.getDimSize(dim) % units() != 0)
        return fail(owner, "a constant operand does not hold the channels in a static dimension");
      Attribute value = constant.getValue();
      bool readable = false;
      if (auto resource = dyn_cast<DenseResourceElementsAttr>(value))
        readable = resource.getRawHandle().getBlob() != nullptr;
      else if (auto dense = dyn_cast<DenseElementsAttr>(value))
        readable = dense.isSplat() || !type.getElementType().isInteger(1);
      if (!readable)
        return fail(owner, "a constant operand cannot be read");
      for (const ConstantSlice &s : plan.constants)
        if (s.operand == &operand)
          return s.dim == dim ? success()
                              : fail(owner, "a constant operand holds the channels twice");
      plan.constants.push_back({&operand, dim});
      return success();
    }
    return label(v, dim, owner);
  }

  LogicalResult visit(Operation *op, Value result, OpOperand *operand) {
    int64_t dim = result ? plan.dims.lookup(result) : plan.dims.lookup(operand->get());
    if (auto linear = dyn_cast<LinearOp>(op))
      return visitLinear(linear, result, operand, dim);
    if (auto conv = dyn_cast<Conv2DOp>(op))
      return visitConv(conv, result, operand, dim);
    if (auto linalgOp = dyn_cast<linalg::LinalgOp>(op))
      return visitLinalg(linalgOp, result, operand, dim);
    if (isa<tensor::EmptyOp>(op))
      return success(); // its type follows; the label checked the dimension is static
    if (auto reshape = dyn_cast<tensor::ReshapeOp>(op))
      return visitReshape(reshape, result, operand, dim);
    if (auto slice = dyn_cast<tensor::ExtractSliceOp>(op))
      return visitExtractSlice(slice, dim);
    if (auto slice = dyn_cast<tensor::InsertSliceOp>(op))
      return visitInsertSlice(slice, dim);
    if (auto dimOp = dyn_cast<tensor::DimOp>(op)) {
      std::optional<int64_t> index = dimOp.getConstantIndex();
      if (!index || *index == dim)
        return fail(op, "it reads the size of the channel dimension");
      return success();
    }
    if (auto cast = dyn_cast<tensor::CastOp>(op)) {
      if (failed(labelOperand(cast.getSourceMutable(), dim)))
        return failure();
      return label(cast.getResult(), dim, op);
    }
    if (isa<func::ReturnOp>(op)) {
      unsigned index = operand->getOperandNumber();
      auto function = op->getParentOfType<func::FuncOp>();
      auto name = function.getResultAttrOfType<StringAttr>(index, "compress.name");
      return fail(op, "the channels reach the model's output " +
                          (name ? "'" + name.getValue().str() + "'" : std::to_string(index)));
    }
    return fail(op, "it is not an op structured pruning can rewrite");
  }

  LogicalResult visitLinear(LinearOp linear, Value result, OpOperand *operand, int64_t dim) {
    Operation *op = linear;
    int64_t last = linear.getOutput().getType().getRank() - 1;
    if (result) {
      if (dim != last)
        return fail(op, "the channels are not the layer's output features");
      if (op == plan.sink)
        return fail(op, "the layer both produces and consumes the channels");
      if (!constantFloats(linear.getWeight()) ||
          (linear.getBias() && !constantFloats(linear.getBias())))
        return fail(op, "the producing layer's weight or bias is not a float32 constant");
      plan.seeds.insert(op);
      return success();
    }
    if (operand->getOperandNumber() != 0 || op != plan.sink)
      return fail(op, "the channels reach a second consuming layer '" + layerName(op) + "'");
    return success();
  }

  LogicalResult visitConv(Conv2DOp conv, Value result, OpOperand *operand, int64_t dim) {
    Operation *op = conv;
    if (result) {
      if (dim != 1)
        return fail(op, "the channels are not the convolution's output channels");
      if (conv.getGroups() != 1)
        return fail(op, "a grouped convolution produces the channels");
      if (op == plan.sink)
        return fail(op, "the layer both produces and consumes the channels");
      if (!constantFloats(conv.getWeight()) || (conv.getBias() && !constantFloats(conv.getBias())))
        return fail(op, "the producing layer's weight or bias is not a float32 constant");
      plan.seeds.insert(op);
      return success();
    }
    if (operand->getOperandNumber() != 0 || op != plan.sink)
      return fail(op, conv.getGroups() != 1
                          ? "the channels reach a grouped (depthwise) convolution '" +
                                layerName(op) + "'"
                          : "the channels reach a second consuming layer '" + layerName(op) + "'");
    return success();
  }

  LogicalResult visitLinalg(linalg::LinalgOp op, Value result, OpOperand *operand, int64_t dim) {
    if (!op.hasPureTensorSemantics())
      return fail(op, "it works on buffers");
    OpOperand *trigger =
        result ? op.getDpsInitOperand(cast<OpResult>(result).getResultNumber()) : operand;
    AffineMap map = op.getMatchingIndexingMap(trigger);
    auto dimExpr = dyn_cast<AffineDimExpr>(map.getResult(dim));
    if (!dimExpr)
      return fail(op, "it indexes the channel dimension by an expression");
    unsigned loop = dimExpr.getPosition();
    if (op.getIteratorTypesArray()[loop] != utils::IteratorType::parallel)
      return fail(op, "it reduces over the channel dimension");
    if (auto generic = dyn_cast<linalg::GenericOp>(op.getOperation())) {
      bool readsIndex = false;
      generic.getBody()->walk([&](linalg::IndexOp index) { readsIndex |= index.getDim() == loop; });
      if (readsIndex)
        return fail(op, "its body reads the channel index");
    }
    for (OpOperand &o : op->getOpOperands()) {
      if (!isa<RankedTensorType>(o.get().getType()))
        continue;
      AffineMap m = op.getMatchingIndexingMap(&o);
      std::optional<int64_t> at;
      for (auto [position, expr] : llvm::enumerate(m.getResults())) {
        if (auto d = dyn_cast<AffineDimExpr>(expr); d && d.getPosition() == loop) {
          if (at)
            return fail(op, "an operand holds the channels in two dimensions");
          at = position;
        } else if (expr.isFunctionOfDim(loop)) {
          return fail(op, "it indexes the channel dimension by an expression");
        }
      }
      if (!at) {
        if (op.isDpsInit(&o))
          return fail(op, "its output does not hold the channels");
        continue; // broadcast along the channels
      }
      if (failed(labelOperand(o, *at)))
        return failure();
      if (op.isDpsInit(&o) && failed(label(op.getTiedOpResult(&o), *at, op)))
        return failure();
    }
    return success();
  }

  /// Where the channels of dimension `dim` of `from` lie after reshaping to
  /// `to`: the dimension with as many elements before it, whose size the
  /// units divide, with blocks of as many elements.
  FailureOr<int64_t> mapReshape(Operation *op, RankedTensorType from, int64_t dim,
                                RankedTensorType to) {
    ArrayRef<int64_t> s = from.getShape(), t = to.getShape();
    Product before = product(s.take_front(dim));
    Product block = product(s.drop_front(dim + 1));
    block.known *= s[dim] / units();
    std::optional<int64_t> refine;
    for (int64_t e = 0; e < int64_t(t.size()); ++e) {
      if (!(product(t.take_front(e)) == before) || t[e] == 1)
        continue;
      if (ShapedType::isDynamic(t[e]))
        return fail(op, "the reshaped channel dimension is dynamic");
      if (t[e] % units() != 0) {
        int64_t g = std::gcd(t[e], units());
        if (g > 1)
          refine = g;
        continue;
      }
      Product after = product(t.drop_front(e + 1));
      after.known *= t[e] / units();
      if (after == block)
        return e;
    }
    LogicalResult result = fail(op, "the reshape splits or merges the channels");
    if (refine && error)
      error->refine = refine;
    return result;
  }

  LogicalResult visitReshape(tensor::ReshapeOp reshape, Value result, OpOperand *operand,
                             int64_t dim) {
    Operation *op = reshape;
    auto sourceType = dyn_cast<RankedTensorType>(reshape.getSource().getType());
    auto resultType = dyn_cast<RankedTensorType>(reshape.getResult().getType());
    if (!sourceType || !resultType)
      return fail(op, "it reshapes an unranked tensor");
    if (operand && operand->getOperandNumber() != 0)
      return fail(op, "the channels reach a shape operand");
    int64_t resultDim, sourceDim;
    if (result) {
      resultDim = dim;
      FailureOr<int64_t> mapped = mapReshape(op, resultType, dim, sourceType);
      if (failed(mapped))
        return failure();
      sourceDim = *mapped;
    } else {
      sourceDim = dim;
      FailureOr<int64_t> mapped = mapReshape(op, sourceType, dim, resultType);
      if (failed(mapped))
        return failure();
      resultDim = *mapped;
    }
    // The shape's entry for the channels must be a constant we can replace.
    Value shape = reshape.getShape();
    std::optional<int64_t> entry;
    if (auto elements = shape.getDefiningOp<tensor::FromElementsOp>()) {
      APInt value;
      if (matchPattern(elements.getElements()[resultDim], m_ConstantInt(&value)))
        entry = value.getSExtValue();
    } else if (DenseIntElementsAttr attr; matchPattern(shape, m_Constant(&attr))) {
      entry = attr.getValues<APInt>()[resultDim].getSExtValue();
    }
    if (entry != resultType.getDimSize(resultDim))
      return fail(op, "its shape operand's entry for the channels is computed at run time");
    if (!llvm::any_of(plan.shapes, [&](const ShapeRewrite &s) { return s.op == reshape; }))
      plan.shapes.push_back({reshape, resultDim});
    if (failed(labelOperand(reshape.getSourceMutable(), sourceDim)))
      return failure();
    return label(reshape.getResult(), resultDim, op);
  }

  /// Slices must take the whole channel dimension.
  LogicalResult checkWholeDim(Operation *op, OffsetSizeAndStrideOpInterface slice, int64_t dim,
                              int64_t full) {
    if (slice.isDynamicOffset(dim) || slice.getStaticOffset(dim) != 0 || slice.isDynamicSize(dim) ||
        slice.getStaticSize(dim) != full || slice.isDynamicStride(dim) ||
        slice.getStaticStride(dim) != 1)
      return fail(op, "it takes part of the channel dimension");
    return success();
  }

  LogicalResult visitExtractSlice(tensor::ExtractSliceOp slice, int64_t dim) {
    Operation *op = slice;
    if (slice.getSourceType().getRank() != slice.getResultType().getRank())
      return fail(op, "it drops dimensions");
    if (failed(checkWholeDim(op, slice, dim, slice.getSourceType().getDimSize(dim))))
      return failure();
    plan.slices.insert(op);
    if (failed(labelOperand(slice.getSourceMutable(), dim)))
      return failure();
    return label(slice.getResult(), dim, op);
  }

  LogicalResult visitInsertSlice(tensor::InsertSliceOp slice, int64_t dim) {
    Operation *op = slice;
    if (slice.getSourceType().getRank() != slice.getDestType().getRank())
      return fail(op, "it inserts fewer dimensions");
    if (failed(checkWholeDim(op, slice, dim, slice.getDestType().getDimSize(dim))))
      return failure();
    plan.slices.insert(op);
    if (failed(labelOperand(slice.getSourceMutable(), dim)) ||
        failed(labelOperand(slice.getDestMutable(), dim)))
      return failure();
    return label(slice.getResult(), dim, op);
  }

  Plan &plan;
  SmallVector<Value> worklist;
  std::optional<Failure> error;
};

} // namespace

std::optional<Failure> propagate(Plan &plan, OpOperand &sinkInput, int64_t dim) {
  return Propagation(plan).run(sinkInput, dim);
}

} // namespace compress::structured
