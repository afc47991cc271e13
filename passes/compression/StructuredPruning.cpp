// Structured pruning: whole channels of MLPs and convolutions and whole
// groups of attention heads, removed from the layer producing them, the
// layer consuming them and every op in between (see StructuredPruning.h).
//
// A structure is found from its consumer (down_proj, o_proj, the next
// convolution) and then planned by propagating a *channel dimension* through
// the ops: every value the channels reach has one dimension holding `units`
// equal contiguous blocks (a channel each for MLPs and convolutions, a group
// of query heads, or a key/value head, for attention). Each op's rule says
// where the dimension lies in its other operands and results, or why it
// cannot be rewritten. Nothing is rewritten until every structure of the
// module is planned and measured; then each value's type loses the removed
// blocks, constants indexed by the channels are sliced, and the producers'
// rows and the consumer's columns are dropped.
#include "passes/compression/StructuredPruning.h"

#include "passes/compression/LayerWeights.h"

#include "dialects/compress/IR/CompressOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/Matchers.h"

#include "llvm/ADT/MapVector.h"
#include "llvm/ADT/SetVector.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/raw_ostream.h"

#include <cmath>
#include <numeric>

using namespace mlir;
using llvm::SmallVector;

namespace compress {
namespace {

enum class Kind { Mlp, Heads, Conv };

StringRef kindName(Kind kind) {
  switch (kind) {
  case Kind::Mlp:
    return "mlp";
  case Kind::Heads:
    return "heads";
  case Kind::Conv:
    return "conv";
  }
  llvm_unreachable("kind");
}

/// How a diagnostic names an op: its name and where it comes from (the
/// ONNX node, or the line of an .mlir file).
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

/// The constant operands a plan slices along their channel dimension.
struct ConstantSlice {
  OpOperand *operand;
  int64_t dim;
};

/// A tensor.reshape whose shape operand's entry `index` (the result's
/// channel dimension) is rewritten.
struct ShapeRewrite {
  tensor::ReshapeOp op;
  int64_t index;
};

/// One structure: its consumer layer, producers, and everything between.
struct Plan {
  Kind kind;
  Operation *sink = nullptr;
  int64_t units = 0;
  /// Values whose type loses channels, and where their channel dimension is.
  llvm::MapVector<Value, int64_t> dims;
  llvm::SetVector<Operation *> seeds;
  SmallVector<ConstantSlice> constants;
  SmallVector<ShapeRewrite> shapes;
  /// extract_slice / insert_slice ops whose static sizes follow the channels.
  llvm::SetVector<Operation *> slices;

  // Ranking and result.
  std::vector<double> importance;
  std::vector<int64_t> kept, removed;
};

/// Why a structure cannot be rewritten: one line naming the op.
struct Failure {
  std::string message;
  /// A smaller number of units that would let a reshape map the channels
  /// (the attention heads' groups are found this way).
  std::optional<int64_t> refine;
};

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
        fail(arg.getOwner()->getParentOp(),
             "reaches an argument of the function (argument " + std::to_string(arg.getArgNumber()) +
                 ")");
        return error;
      }
      if (failed(visit(v.getDefiningOp(), v, nullptr)))
        return error;
      for (OpOperand &use : v.getUses())
        if (failed(visit(use.getOwner(), Value(), &use)))
          return error;
    }
    if (plan.seeds.empty()) {
      fail(plan.sink, "is reached by no producing layer");
      return error;
    }
    return std::nullopt;
  }

private:
  LogicalResult fail(Operation *op, const Twine &why) {
    if (!error)
      error = Failure{"cannot propagate the pruned channels through " + describe(op) + ": " +
                            why.str(),
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
    if (ShapedType::isDynamic(size))
      return fail(at, "the channel dimension " + std::to_string(dim) + " of " +
                          llvm::formatv("{0}", type).str() + " is dynamic");
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
      if (!constantFloats(conv.getWeight()) ||
          (conv.getBias() && !constantFloats(conv.getBias())))
        return fail(op, "the producing layer's weight or bias is not a float32 constant");
      plan.seeds.insert(op);
      return success();
    }
    if (operand->getOperandNumber() != 0 || op != plan.sink)
      return fail(op, conv.getGroups() != 1
                          ? "the channels reach a grouped (depthwise) convolution '" +
                                layerName(op) + "'"
                          : "the channels reach a second consuming layer '" + layerName(op) +
                                "'");
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
      generic.getBody()->walk([&](linalg::IndexOp index) {
        readsIndex |= index.getDim() == loop;
      });
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
    if (slice.isDynamicOffset(dim) || slice.getStaticOffset(dim) != 0 ||
        slice.isDynamicSize(dim) || slice.getStaticSize(dim) != full ||
        slice.isDynamicStride(dim) || slice.getStaticStride(dim) != 1)
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

// ---------------------------------------------------------------------------
// Finding structures: which consumer layers to plan from.

/// True when `v` is computed from constants alone (a batch norm's vectors
/// reshaped for broadcasting, say).
bool computedFromConstants(Value v, int depth = 0) {
  Operation *def = v.getDefiningOp();
  if (!def || depth > 8 || isa<CompressibleLayer>(def))
    return false;
  if (isa<arith::ConstantOp>(def))
    return true;
  return llvm::all_of(def->getOperands(),
                      [&](Value operand) { return computedFromConstants(operand, depth + 1); });
}

/// Follows `v` back through all-parallel linalg ops (the operands that hold
/// the channels of `dim`) to the layers of type `LayerOp` producing it.
/// True when every path ends at such a layer (or a constant) and the layers
/// read one input: an MLP's gate and up projections, a convolution.
template <typename LayerOp>
bool producedElementwiseBy(Value v, int64_t dim) {
  SmallVector<std::pair<Value, int64_t>> stack{{v, dim}};
  llvm::DenseSet<Value> seen;
  Value layerInput;
  bool any = false;
  while (!stack.empty()) {
    auto [value, d] = stack.pop_back_val();
    if (!seen.insert(value).second)
      continue;
    Operation *def = value.getDefiningOp();
    if (!def)
      return false;
    if (auto layer = dyn_cast<LayerOp>(def)) {
      if (layerInput && layerInput != layer.getInput())
        return false;
      layerInput = layer.getInput();
      any = true;
      continue;
    }
    if (computedFromConstants(value))
      continue;
    auto generic = dyn_cast<linalg::GenericOp>(def);
    if (!generic || !generic.hasPureTensorSemantics() ||
        generic.getNumReductionLoops() != 0)
      return false;
    auto resultDim = dyn_cast<AffineDimExpr>(
        generic.getMatchingIndexingMap(
                   generic.getDpsInitOperand(cast<OpResult>(value).getResultNumber()))
            .getResult(d));
    if (!resultDim)
      return false;
    for (OpOperand *input : generic.getDpsInputOperands()) {
      AffineMap m = generic.getMatchingIndexingMap(input);
      for (auto [position, expr] : llvm::enumerate(m.getResults()))
        if (auto e = dyn_cast<AffineDimExpr>(expr); e && e == resultDim)
          stack.push_back({input->get(), int64_t(position)});
    }
  }
  return any;
}

/// True when a linear layer's input comes, through reshapes and transposes,
/// from a contraction (attention's probabilities times values): o_proj.
bool readsAttention(LinearOp linear) {
  Value v = linear.getInput();
  for (int steps = 0; steps < 16; ++steps) {
    Operation *def = v.getDefiningOp();
    if (!def)
      return false;
    if (auto reshape = dyn_cast<tensor::ReshapeOp>(def)) {
      v = reshape.getSource();
    } else if (auto transpose = dyn_cast<linalg::TransposeOp>(def)) {
      v = transpose.getInput();
    } else if (isa<tensor::CollapseShapeOp, tensor::ExpandShapeOp, tensor::CastOp>(def)) {
      v = def->getOperand(0);
    } else if (auto linalgOp = dyn_cast<linalg::LinalgOp>(def)) {
      return linalgOp.getNumReductionLoops() > 0 && linalgOp.getNumDpsInputs() == 2;
    } else {
      return false;
    }
  }
  return false;
}

// ---------------------------------------------------------------------------
// Rewriting.

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

/// The parameters a plan touches: layer weights and biases, and the
/// constants sliced along the channels (each once).
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
    auto dense = dyn_cast<DenseElementsAttr>(s.operand->get().getDefiningOp<arith::ConstantOp>().getValue());
    if (!dense || !dense.isSplat())
      add(s.operand->get());
  }
  return total;
}

void replaceOperandWithSlice(OpOperand &operand, int64_t dim, const Plan &plan, StringRef key,
                             llvm::SetVector<Operation *> &maybeDead) {
  Operation *owner = operand.getOwner();
  OpBuilder b(owner);
  Value old = operand.get();
  Value sliced = sliceConstant(b, old.getLoc(), old, dim, plan.units, plan.kept,
                               resourceKey(old, key));
  operand.set(sliced);
  if (Operation *def = old.getDefiningOp())
    maybeDead.insert(def);
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
      entries[s.index] =
          elementType.isIndex()
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

/// Minitron's ranking: the units with the smallest importance are removed
/// (ties: the lower index first).
void rank(Plan &plan, double sparsity) {
  int64_t units = plan.units;
  int64_t remove = std::llround(sparsity * double(units));
  remove = std::clamp<int64_t>(remove, 0, units - 1);
  std::vector<int64_t> order(units);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
    return plan.importance[a] < plan.importance[b];
  });
  plan.removed.assign(order.begin(), order.begin() + remove);
  llvm::sort(plan.removed);
  plan.kept.clear();
  for (int64_t u = 0; u < units; ++u)
    if (!llvm::is_contained(plan.removed, u))
      plan.kept.push_back(u);
}

} // namespace

llvm::Error pruneStructured(ModuleOp module, Calibration &calibration,
                            const StructuredPruneOptions &options, llvm::json::Array &layers) {
  auto wanted = [&](Kind kind) {
    return options.targets.empty() || llvm::is_contained(options.targets, kindName(kind).str());
  };
  auto main = module.lookupSymbol<func::FuncOp>("main");
  if (!main || main.isExternal())
    return llvm::createStringError("structured pruning needs a func.func @main");

  // Plan every structure, in the order of their consumers.
  std::vector<Plan> plans;
  for (Operation &op : main.getBody().getOps()) {
    std::optional<Kind> kind;
    OpOperand *input = nullptr;
    int64_t dim = 0, units = 0;
    if (auto linear = dyn_cast<LinearOp>(&op)) {
      auto inputType = linear.getInput().getType();
      dim = inputType.getRank() - 1;
      input = &linear->getOpOperand(0);
      units = linear.getWeight().getType().getDimSize(1);
      if (wanted(Kind::Heads) && readsAttention(linear))
        kind = Kind::Heads;
      else if (wanted(Kind::Mlp) && producedElementwiseBy<LinearOp>(linear.getInput(), dim))
        kind = Kind::Mlp;
    } else if (auto conv = dyn_cast<Conv2DOp>(&op)) {
      dim = 1;
      input = &conv->getOpOperand(0);
      units = conv.getWeight().getType().getDimSize(1) * conv.getGroups();
      if (wanted(Kind::Conv) && producedElementwiseBy<Conv2DOp>(conv.getInput(), dim))
        kind = Kind::Conv;
      if (kind && conv.getGroups() != 1)
        return llvm::createStringError(
            "conv structure of '" + layerName(&op) +
            "': the consumer is a grouped (depthwise) convolution; its input channels cannot "
            "be removed");
    }
    if (!kind)
      continue;
    if (ShapedType::isDynamic(units) || units < 2)
      return llvm::createStringError(kindName(*kind) + " structure of '" + layerName(&op) +
                                     "': the consumer's weight has no static channel dimension");
    // Heads: units start at one per feature and become the coarsest groups
    // the reshapes allow (key/value heads with the query heads reading them).
    while (true) {
      Plan plan;
      plan.kind = *kind;
      plan.sink = &op;
      plan.units = units;
      std::optional<Failure> failure = Propagation(plan).run(*input, dim);
      if (!failure) {
        plans.push_back(std::move(plan));
        break;
      }
      if (*kind == Kind::Heads && failure->refine && *failure->refine < units) {
        units = *failure->refine;
        continue;
      }
      return llvm::createStringError(kindName(*kind) + " structure of '" + layerName(&op) +
                                     "': " + failure->message);
    }
  }

  // Structures must not share values.
  llvm::DenseMap<Value, size_t> owner;
  for (auto [index, plan] : llvm::enumerate(plans))
    for (auto [value, dim] : plan.dims) {
      auto [it, inserted] = owner.insert({value, index});
      if (!inserted)
        return llvm::createStringError(
            kindName(plan.kind) + " structure of '" + layerName(plan.sink) +
            "': it shares values with the " + kindName(plans[it->second].kind) +
            " structure of '" + layerName(plans[it->second].sink) + "'");
    }

  // Importance, measured on the unpruned model.
  SmallVector<Value> convInputs;
  SmallVector<size_t> convPlans;
  for (auto [index, plan] : llvm::enumerate(plans)) {
    if (plan.kind == Kind::Conv) {
      convInputs.push_back(plan.sink->getOperand(0));
      convPlans.push_back(index);
      continue;
    }
    auto statistics = calibration->inputStatistics(cast<CompressibleLayer>(plan.sink));
    if (!statistics)
      return llvm::createStringError("calibration of layer '" + layerName(plan.sink) +
                                     "' failed: " + llvm::toString(statistics.takeError()));
    const std::vector<double> &norms = statistics->l2Norm;
    int64_t block = int64_t(norms.size()) / plan.units;
    plan.importance.assign(plan.units, 0);
    for (int64_t u = 0; u < plan.units; ++u) {
      double sum = 0;
      for (int64_t j = 0; j < block; ++j)
        sum += norms[u * block + j] * norms[u * block + j];
      plan.importance[u] = std::sqrt(sum);
    }
  }
  if (!convInputs.empty()) {
    std::vector<std::vector<double>> sums(convPlans.size());
    for (auto [i, index] : llvm::enumerate(convPlans))
      sums[i].assign(plans[index].units, 0);
    llvm::Error error = calibration->visitValues(
        convInputs, [&](size_t, ArrayRef<HostTensor> values) -> llvm::Error {
          for (auto [i, tensor] : llvm::enumerate(values)) {
            if (tensor.kind != ElementKind::F32 || tensor.shape.size() != 4)
              return llvm::createStringError("a convolution's input is not float32 NCHW");
            const float *data = reinterpret_cast<const float *>(tensor.data.data());
            int64_t n = tensor.shape[0], c = tensor.shape[1];
            int64_t hw = tensor.shape[2] * tensor.shape[3];
            if (c != int64_t(sums[i].size()))
              return llvm::createStringError("a convolution's input has an unexpected shape");
            for (int64_t b = 0; b < n; ++b)
              for (int64_t ch = 0; ch < c; ++ch) {
                const float *p = data + (b * c + ch) * hw;
                double s = 0;
                for (int64_t k = 0; k < hw; ++k)
                  s += double(p[k]) * double(p[k]);
                sums[i][ch] += s;
              }
          }
          return llvm::Error::success();
        });
    if (error)
      return llvm::createStringError("calibration of the convolutions' inputs failed: " +
                                     llvm::toString(std::move(error)));
    for (auto [i, index] : llvm::enumerate(convPlans)) {
      plans[index].importance = sums[i];
      for (double &v : plans[index].importance)
        v = std::sqrt(v);
    }
  }

  // Rewrite.
  llvm::SetVector<Operation *> maybeDead;
  for (auto [index, plan] : llvm::enumerate(plans)) {
    rank(plan, options.sparsity);
    int64_t before = parameters(plan);
    std::string name = layerName(plan.sink);
    if (!plan.removed.empty())
      apply(plan, maybeDead);
    int64_t after = parameters(plan);
    if (options.progress)
      llvm::errs() << "compress-prune: [" << index + 1 << "/" << plans.size() << "] "
                   << kindName(plan.kind) << " '" << name << "': " << plan.units << " -> "
                   << plan.kept.size() << (plan.kind == Kind::Heads ? " head groups" : " channels")
                   << ", parameters " << before << " -> " << after << "\n";
    llvm::json::Array removed, producers;
    for (int64_t u : plan.removed)
      removed.push_back(u);
    for (Operation *seed : plan.seeds)
      producers.push_back(layerName(seed));
    llvm::json::Object entry{{"name", name},
                             {"kind", kindName(plan.kind)},
                             {"consumer", name},
                             {"producers", std::move(producers)},
                             {"channels_before", plan.units},
                             {"channels_after", int64_t(plan.kept.size())},
                             {"removed", std::move(removed)},
                             {"parameters_before", before},
                             {"parameters_after", after}};
    if (plan.kind == Kind::Heads)
      entry.insert({"features_per_group",
                    cast<LinearOp>(plan.sink).getWeight().getType().getDimSize(1) /
                        int64_t(plan.kept.size())});
    layers.push_back(std::move(entry));
  }
  // Constants and shapes the rewrites replaced.
  for (bool changed = true; changed;) {
    changed = false;
    for (Operation *op : llvm::make_early_inc_range(maybeDead))
      if (op->use_empty() && isMemoryEffectFree(op)) {
        for (Value operand : op->getOperands())
          if (Operation *def = operand.getDefiningOp())
            maybeDead.insert(def);
        maybeDead.remove(op);
        op->erase();
        changed = true;
      }
  }
  return llvm::Error::success();
}

} // namespace compress
