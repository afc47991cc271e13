// The control-flow ops If, Loop and Scan: their subgraphs imported into scf
// regions on tensors, which the CPU pipeline bufferizes like any other op.
//
// A subgraph is imported by a child GraphImporter that sees the enclosing
// scopes' values (ONNX's outer-scope references become plain uses of values
// defined above the region); constants go to the top of @main as elsewhere.
// If with a condition known at import imports only the branch it takes;
// otherwise it becomes scf.if, each result of the join of the branches'
// types (a dimension on which they differ is dynamic). Loop becomes scf.for
// from 0 to M when no condition can stop it early (no cond input, or a
// constant true one that the body passes on unchanged), else scf.while on
// (i, cond); Scan becomes scf.for over its scan axis. A loop-carried value
// whose shape the body changes is carried with the join of its types: the
// body is imported again with them until they no longer change. Scan
// outputs are stacked with tensor.insert_slice into a tensor of the trip
// count's length (Loop's while form doubles its capacity when full and
// cuts it to the iterations run). Not taken: sequence and optional values
// (only tensors cross a subgraph's boundary), scan outputs whose shape is
// known only at run time, Scan's sequence_lens (opset 8).
#include "lib/importer/onnx/Builders.h"

#include "mlir/Dialect/SCF/IR/SCF.h"

using namespace compress;
using namespace mlir;
using llvm::SmallVector;
using llvm::StringRef;

namespace {

/// Imports passes of a loop body before its carried types settle.
constexpr int kMaxTypeRounds = 8;

Value castTo(OpBuilder &b, Location loc, Value v, Type type) {
  return v.getType() == type ? v : tensor::CastOp::create(b, loc, type, v).getResult();
}

/// The one element of a tensor (rank 0 or all dimensions 1).
Value extractScalar(OpBuilder &b, Location loc, Value t) {
  auto type = cast<RankedTensorType>(t.getType());
  SmallVector<Value> zeros(type.getRank(), arith::ConstantIndexOp::create(b, loc, 0));
  return tensor::ExtractOp::create(b, loc, t, zeros);
}

/// A rank-0 tensor holding `scalar`.
Value scalarTensor(OpBuilder &b, Location loc, Value scalar) {
  return tensor::FromElementsOp::create(b, loc, RankedTensorType::get({}, scalar.getType()),
                                        ValueRange{scalar});
}

/// Checks that input `i` is a tensor of one element of `elem` type.
LogicalResult checkScalarInput(NodeContext &ctx, unsigned i, StringRef what, Type elem) {
  RankedTensorType type = ctx.inputType(i);
  if (type.getElementType() != elem ||
      (type.hasStaticShape() && type.getNumElements() != 1))
    return ctx.error() << "input '" << what << "' must be a " << elem
                       << " tensor of one element, but it is " << type;
  return success();
}

/// The type both `a` and `b` fit: same element type and rank, dynamic where
/// their dimensions differ.
FailureOr<RankedTensorType> joinTypes(RankedTensorType a, RankedTensorType b) {
  if (a.getElementType() != b.getElementType() || a.getRank() != b.getRank())
    return failure();
  SmallVector<int64_t> shape;
  for (auto [x, y] : llvm::zip(a.getShape(), b.getShape()))
    shape.push_back(x == y ? x : ShapedType::kDynamic);
  return RankedTensorType::get(shape, a.getElementType());
}

std::string describe(RankedTensorType t) {
  std::string s;
  llvm::raw_string_ostream os(s);
  os << t;
  return s;
}

/// Imports `graph` where the builder points, its inputs bound to `inputs`.
/// Values of enclosing scopes are made at `outside`. Returns its outputs.
FailureOr<SmallVector<ImportedValue>> importSubgraph(NodeContext &ctx,
                                                     const onnx::GraphProto &graph,
                                                     llvm::ArrayRef<ImportedValue> inputs,
                                                     OpBuilder::InsertPoint outside,
                                                     StringRef what) {
  if (graph.input_size() != int(inputs.size()))
    return ctx.error() << "attribute '" << what << "' takes " << graph.input_size()
                       << " inputs, expected " << inputs.size();
  GraphImporter scope(ctx.importer, outside, nodeDisplayName(ctx.node) + "/" + what.str() + "/");
  for (auto [info, v] : llvm::zip(graph.input(), inputs)) {
    if (info.type().has_tensor_type() || !info.has_type())
      scope.values[info.name()] = v;
    else
      return ctx.error() << "unsupported " << what << " input '" << info.name()
                         << "' that is not a tensor (sequences and optionals are not taken)";
  }
  for (const auto &init : graph.initializer())
    if (llvm::Error e = scope.registerConstant(init.name(), init))
      return ctx.error() << "attribute '" << what << "': " << llvm::toString(std::move(e));
  for (const auto &node : graph.node())
    if (failed(scope.importNode(node)))
      return failure();
  SmallVector<ImportedValue> outs;
  for (const auto &out : graph.output()) {
    if (out.has_type() && !out.type().has_tensor_type())
      return ctx.error() << "unsupported " << what << " output '" << out.name()
                         << "' that is not a tensor (sequences and optionals are not taken)";
    FailureOr<Value> v = scope.materialize(out.name(), ctx.loc);
    if (failed(v))
      return failure();
    ImportedValue iv = *scope.lookup(out.name());
    iv.value = *v;
    // What the scope derived dies with it; the value is made.
    iv.initializer = nullptr;
    iv.dequantized = nullptr;
    outs.push_back(iv);
  }
  return outs;
}

/// Moves the ops of the detached `from` to the end of `to`, its arguments
/// replaced by `to`'s, and deletes it.
void spliceBlock(Block *from, Block *to) {
  for (auto [a, b] : llvm::zip(from->getArguments(), to->getArguments()))
    a.replaceAllUsesWith(b);
  to->getOperations().splice(to->end(), from->getOperations());
  delete from;
}

void deleteBlock(Block *block) {
  block->dropAllDefinedValueUses();
  for (Operation &op : llvm::reverse(*block))
    op.dropAllReferences();
  while (!block->empty())
    block->back().erase();
  delete block;
}

// If -------------------------------------------------------------------------

LogicalResult importIf(NodeContext &ctx) {
  const onnx::GraphProto *branches[2] = {ctx.graphAttr("then_branch"),
                                         ctx.graphAttr("else_branch")};
  const char *names[2] = {"then_branch", "else_branch"};
  for (int k = 0; k < 2; ++k) {
    if (!branches[k])
      return ctx.error() << "missing attribute '" << names[k] << "'";
    if (branches[k]->output_size() != int(ctx.numOutputs()))
      return ctx.error() << "attribute '" << names[k] << "' has " << branches[k]->output_size()
                         << " outputs, the node " << ctx.numOutputs();
  }
  if (failed(checkScalarInput(ctx, 0, "cond", ctx.b.getI1Type())))
    return failure();
  OpBuilder &b = ctx.b;
  OpBuilder::InsertionGuard guard(b);
  OpBuilder::InsertPoint here = b.saveInsertionPoint();
  // A condition known at import: only its branch, inline (its values fold).
  if (std::optional<SmallVector<int64_t>> cond = ctx.constInts(0)) {
    int k = (*cond)[0] ? 0 : 1;
    auto outs = importSubgraph(ctx, *branches[k], {}, here, names[k]);
    if (failed(outs))
      return failure();
    for (unsigned i = 0; i < ctx.numOutputs(); ++i)
      if (ctx.hasOutput(i))
        ctx.importer.values[ctx.node.output(i)] = (*outs)[i];
    return success();
  }
  Value cond = extractScalar(b, ctx.loc, ctx.input(0));
  // Each branch into a result-less scf.if first; the real one, typed by
  // the join of the branches' outputs, then takes their ops.
  auto draft = scf::IfOp::create(b, ctx.loc, TypeRange{}, cond, /*withElseRegion=*/true);
  OpBuilder::InsertPoint outside(draft->getBlock(), Block::iterator(draft));
  SmallVector<ImportedValue> outs[2];
  for (int k = 0; k < 2; ++k) {
    b.setInsertionPoint(k == 0 ? draft.thenYield() : draft.elseYield());
    auto imported = importSubgraph(ctx, *branches[k], {}, outside, names[k]);
    if (failed(imported)) {
      draft->erase();
      return failure();
    }
    outs[k] = *imported;
  }
  SmallVector<Type> types;
  for (unsigned i = 0; i < ctx.numOutputs(); ++i) {
    FailureOr<RankedTensorType> joined = joinTypes(outs[0][i].type, outs[1][i].type);
    if (failed(joined)) {
      draft->erase();
      return ctx.error() << "the branches give output " << i << " types "
                         << describe(outs[0][i].type) << " and " << describe(outs[1][i].type)
                         << ", which differ in element type or rank";
    }
    types.push_back(*joined);
  }
  b.setInsertionPoint(draft);
  auto real = scf::IfOp::create(b, ctx.loc, types, cond, /*withElseRegion=*/true);
  for (int k = 0; k < 2; ++k) {
    Block *from = k == 0 ? draft.thenBlock() : draft.elseBlock();
    Block *to = k == 0 ? real.thenBlock() : real.elseBlock();
    from->back().erase(); // the draft's yield
    to->getOperations().splice(to->end(), from->getOperations());
    b.setInsertionPointToEnd(to);
    SmallVector<Value> yields;
    for (unsigned i = 0; i < types.size(); ++i)
      yields.push_back(castTo(b, ctx.loc, outs[k][i].value, types[i]));
    scf::YieldOp::create(b, ctx.loc, yields);
  }
  draft->erase();
  for (unsigned i = 0; i < ctx.numOutputs(); ++i)
    ctx.setOutput(i, real.getResult(i), outs[0][i].isUnsigned);
  return success();
}

// Loops ----------------------------------------------------------------------

/// Extracts the slice at `index` along `axis`, without that dimension.
Value sliceAlong(OpBuilder &b, Location loc, Value t, int64_t axis, OpFoldResult index) {
  auto type = cast<RankedTensorType>(t.getType());
  int64_t rank = type.getRank();
  SmallVector<OpFoldResult> offsets(rank, b.getIndexAttr(0)), strides(rank, b.getIndexAttr(1));
  SmallVector<OpFoldResult> sizes = mixedSizes(b, loc, t);
  offsets[axis] = index;
  sizes[axis] = b.getIndexAttr(1);
  SmallVector<int64_t> shape(type.getShape());
  shape.erase(shape.begin() + axis);
  return tensor::ExtractSliceOp::create(b, loc, RankedTensorType::get(shape, type.getElementType()),
                                        t, offsets, sizes, strides);
}

/// Inserts `slice` (without `axis`) into `dest` at `index` along `axis`.
Value insertAlong(OpBuilder &b, Location loc, Value slice, Value dest, int64_t axis,
                  OpFoldResult index) {
  int64_t rank = cast<RankedTensorType>(dest.getType()).getRank();
  SmallVector<OpFoldResult> offsets(rank, b.getIndexAttr(0)), strides(rank, b.getIndexAttr(1));
  SmallVector<OpFoldResult> sizes = mixedSizes(b, loc, dest);
  offsets[axis] = index;
  sizes[axis] = b.getIndexAttr(1);
  return tensor::InsertSliceOp::create(b, loc, slice, dest, offsets, sizes, strides);
}

/// A loop of a body subgraph: the values it carries, and where its scan
/// outputs stack.
struct LoopSpec {
  const onnx::GraphProto *body;
  /// Initial values of the carried values.
  SmallVector<ImportedValue> carried;
  /// Body outputs before the carried ones (Loop's cond_out).
  unsigned leading = 0;
  /// Whether the body takes the carried values before the others (Scan).
  bool carriedFirst = false;
  /// Per scan output: the axis it stacks along and whether in reverse.
  SmallVector<int64_t> scanAxes;
  SmallVector<bool> scanReverse;
};

struct LoopResult {
  SmallVector<Value> carried, scans;
};

/// Widens `carriedTypes` to fit the body's carried outputs; true if any changed.
FailureOr<bool> widenCarried(NodeContext &ctx, const LoopSpec &spec,
                             SmallVectorImpl<RankedTensorType> &carriedTypes,
                             llvm::ArrayRef<ImportedValue> outs) {
  bool changed = false;
  for (unsigned j = 0; j < carriedTypes.size(); ++j) {
    RankedTensorType got = outs[spec.leading + j].type;
    FailureOr<RankedTensorType> joined = joinTypes(carriedTypes[j], got);
    if (failed(joined))
      return ctx.error() << "the body's loop-carried output '"
                         << spec.body->output(spec.leading + j).name() << "' is "
                         << describe(got) << ", its input " << describe(carriedTypes[j])
                         << ": element type and rank must stay";
    changed |= *joined != carriedTypes[j];
    carriedTypes[j] = *joined;
  }
  return changed;
}

/// The stacked type of scan output `j` whose per-iteration type is `t`, for
/// `count` iterations (dynamic when null).
FailureOr<RankedTensorType> scanType(NodeContext &ctx, const LoopSpec &spec, unsigned j,
                                     RankedTensorType t, std::optional<int64_t> count) {
  if (!t.hasStaticShape())
    return ctx.error() << "unsupported scan output '"
                       << spec.body->output(spec.leading + spec.carried.size() + j).name()
                       << "' of type " << describe(t) << ", whose shape is known only at run time";
  SmallVector<int64_t> shape(t.getShape());
  shape.insert(shape.begin() + spec.scanAxes[j], count ? *count : ShapedType::kDynamic);
  return RankedTensorType::get(shape, t.getElementType());
}

/// Imports the body into a detached block whose arguments are the induction
/// variable (index) and the carried values, retyping those until the body's
/// outputs fit them. `bind` makes the body's inputs from the block's
/// arguments. On success the block ends before its yield.
using BindFn = llvm::function_ref<SmallVector<ImportedValue>(Block *)>;
FailureOr<std::pair<Block *, SmallVector<ImportedValue>>>
importLoopBody(NodeContext &ctx, const LoopSpec &spec, llvm::ArrayRef<Type> leadingArgs,
               SmallVectorImpl<RankedTensorType> &carriedTypes, OpBuilder::InsertPoint outside,
               BindFn bind) {
  OpBuilder &b = ctx.b;
  for (int round = 0; round < kMaxTypeRounds; ++round) {
    Block *block = new Block();
    for (Type t : leadingArgs)
      block->addArgument(t, ctx.loc);
    for (RankedTensorType t : carriedTypes)
      block->addArgument(t, ctx.loc);
    b.setInsertionPointToEnd(block);
    SmallVector<ImportedValue> inputs = bind(block);
    auto outs = importSubgraph(ctx, *spec.body, inputs, outside, "body");
    if (failed(outs)) {
      deleteBlock(block);
      return failure();
    }
    if (outs->size() < spec.leading + carriedTypes.size()) {
      deleteBlock(block);
      return ctx.error() << "attribute 'body' has " << outs->size() << " outputs, expected at least "
                         << spec.leading + carriedTypes.size();
    }
    FailureOr<bool> changed = widenCarried(ctx, spec, carriedTypes, *outs);
    if (failed(changed)) {
      deleteBlock(block);
      return failure();
    }
    if (!*changed)
      return std::make_pair(block, *outs);
    deleteBlock(block);
  }
  return ctx.error() << "the loop-carried values' shapes did not settle";
}

/// scf.for i in [0, count): the body's carried outputs carried, its scan
/// outputs stacked. `bindExtra` adds the body inputs before the carried ones
/// (Loop's iteration number and condition, Scan's scan elements).
/// `accept`, given the body's outputs, may refuse the form (nullopt).
using ExtraFn = llvm::function_ref<SmallVector<ImportedValue>(Value iv)>;
using AcceptFn = llvm::function_ref<bool(llvm::ArrayRef<ImportedValue>)>;
FailureOr<std::optional<LoopResult>> buildFor(NodeContext &ctx, const LoopSpec &spec, Value count,
                                              std::optional<int64_t> staticCount,
                                              ExtraFn bindExtra, AcceptFn accept) {
  OpBuilder &b = ctx.b;
  Location loc = ctx.loc;
  OpBuilder::InsertPoint outside = b.saveInsertionPoint();
  SmallVector<RankedTensorType> carriedTypes;
  for (const ImportedValue &v : spec.carried)
    carriedTypes.push_back(v.type);
  auto imported = importLoopBody(
      ctx, spec, {b.getIndexType()}, carriedTypes, outside, [&](Block *block) {
        SmallVector<ImportedValue> extra = bindExtra(block->getArgument(0)), carried;
        for (unsigned j = 0; j < spec.carried.size(); ++j) {
          ImportedValue v;
          v.value = block->getArgument(1 + j);
          v.type = carriedTypes[j];
          v.isUnsigned = spec.carried[j].isUnsigned;
          carried.push_back(v);
        }
        SmallVector<ImportedValue> inputs = spec.carriedFirst ? carried : extra;
        inputs.append(spec.carriedFirst ? extra : carried);
        return inputs;
      });
  if (failed(imported))
    return failure();
  auto [block, outs] = *imported;
  if (!accept(outs)) {
    deleteBlock(block);
    return std::optional<LoopResult>();
  }
  unsigned numScans = outs.size() - spec.leading - spec.carried.size();
  if (numScans != spec.scanAxes.size()) {
    deleteBlock(block);
    return ctx.error() << "attribute 'body' has " << outs.size() << " outputs, the node takes "
                       << spec.leading + spec.carried.size() + spec.scanAxes.size();
  }
  // Outside: the initial values and the scan outputs' tensors.
  b.restoreInsertionPoint(outside);
  SmallVector<Value> inits;
  for (unsigned j = 0; j < spec.carried.size(); ++j)
    inits.push_back(castTo(b, loc, spec.carried[j].value, carriedTypes[j]));
  SmallVector<ImportedValue> scanOuts(outs.begin() + spec.leading + spec.carried.size(), outs.end());
  for (unsigned j = 0; j < numScans; ++j) {
    FailureOr<RankedTensorType> type = scanType(ctx, spec, j, scanOuts[j].type, staticCount);
    if (failed(type)) {
      deleteBlock(block);
      return failure();
    }
    SmallVector<OpFoldResult> sizes;
    for (int64_t d : type->getShape())
      sizes.push_back(ShapedType::isDynamic(d) ? OpFoldResult(count) : b.getIndexAttr(d));
    inits.push_back(emptyTensor(b, loc, sizes, type->getElementType()));
    block->addArgument(inits.back().getType(), loc);
  }
  // The body's end: stack the scan outputs, yield.
  b.setInsertionPointToEnd(block);
  Value iv = block->getArgument(0);
  SmallVector<Value> yields;
  for (unsigned j = 0; j < spec.carried.size(); ++j)
    yields.push_back(castTo(b, loc, outs[spec.leading + j].value, carriedTypes[j]));
  for (unsigned j = 0; j < numScans; ++j) {
    Value at = iv;
    if (spec.scanReverse[j]) {
      Value last = arith::SubIOp::create(b, loc, count, arith::ConstantIndexOp::create(b, loc, 1));
      at = arith::SubIOp::create(b, loc, last, iv);
    }
    Value buffer = block->getArgument(1 + spec.carried.size() + j);
    yields.push_back(insertAlong(b, loc, scanOuts[j].value, buffer, spec.scanAxes[j], at));
  }
  b.restoreInsertionPoint(outside);
  Value zero = arith::ConstantIndexOp::create(b, loc, 0);
  Value one = arith::ConstantIndexOp::create(b, loc, 1);
  auto loop = scf::ForOp::create(b, loc, zero, count, one, inits);
  Block *to = loop.getBody();
  if (!to->empty())
    to->back().erase(); // a loop without iteration arguments comes with a yield
  spliceBlock(block, to);
  b.setInsertionPointToEnd(to);
  scf::YieldOp::create(b, loc, yields);
  b.setInsertionPointAfter(loop);
  LoopResult result;
  for (unsigned j = 0; j < loop.getNumResults(); ++j)
    (j < spec.carried.size() ? result.carried : result.scans).push_back(loop.getResult(j));
  return std::optional<LoopResult>(result);
}

/// Loop that a condition may stop early: scf.while on (i, cond, carried...,
/// scan tensors...), the scan tensors doubling their capacity when full.
FailureOr<LoopResult> buildWhile(NodeContext &ctx, const LoopSpec &spec, Value tripCount,
                                 Value cond) {
  OpBuilder &b = ctx.b;
  Location loc = ctx.loc;
  OpBuilder::InsertPoint outside = b.saveInsertionPoint();
  Type i64 = b.getI64Type(), i1 = b.getI1Type();
  SmallVector<RankedTensorType> carriedTypes;
  for (const ImportedValue &v : spec.carried)
    carriedTypes.push_back(v.type);
  auto imported = importLoopBody(
      ctx, spec, {i64, i1}, carriedTypes, outside, [&](Block *block) {
        ImportedValue iter, condIn;
        iter.value = scalarTensor(b, loc, block->getArgument(0));
        iter.type = cast<RankedTensorType>(iter.value.getType());
        condIn.value = scalarTensor(b, loc, block->getArgument(1));
        condIn.type = cast<RankedTensorType>(condIn.value.getType());
        SmallVector<ImportedValue> inputs = {iter, condIn};
        for (unsigned j = 0; j < spec.carried.size(); ++j) {
          ImportedValue v;
          v.value = block->getArgument(2 + j);
          v.type = carriedTypes[j];
          v.isUnsigned = spec.carried[j].isUnsigned;
          inputs.push_back(v);
        }
        return inputs;
      });
  if (failed(imported))
    return failure();
  auto [block, outs] = *imported;
  unsigned numScans = outs.size() - spec.leading - spec.carried.size();
  if (numScans != spec.scanAxes.size()) {
    deleteBlock(block);
    return ctx.error() << "attribute 'body' has " << outs.size() << " outputs, the node takes "
                       << spec.leading + spec.carried.size() + spec.scanAxes.size();
  }
  if (outs[0].type.getElementType() != i1 ||
      (outs[0].type.hasStaticShape() && outs[0].type.getNumElements() != 1)) {
    deleteBlock(block);
    return ctx.error() << "the body's condition output '" << spec.body->output(0).name()
                       << "' must be a bool tensor of one element, but it is "
                       << describe(outs[0].type);
  }
  b.restoreInsertionPoint(outside);
  SmallVector<Value> inits = {arith::ConstantIntOp::create(b, loc, i64, 0), cond};
  for (unsigned j = 0; j < spec.carried.size(); ++j)
    inits.push_back(castTo(b, loc, spec.carried[j].value, carriedTypes[j]));
  SmallVector<ImportedValue> scanOuts(outs.begin() + spec.leading + spec.carried.size(), outs.end());
  SmallVector<RankedTensorType> scanTypes;
  for (unsigned j = 0; j < numScans; ++j) {
    FailureOr<RankedTensorType> type = scanType(ctx, spec, j, scanOuts[j].type, std::nullopt);
    if (failed(type)) {
      deleteBlock(block);
      return failure();
    }
    scanTypes.push_back(*type);
    SmallVector<OpFoldResult> sizes;
    for (int64_t d : type->getShape())
      sizes.push_back(b.getIndexAttr(ShapedType::isDynamic(d) ? 0 : d));
    inits.push_back(emptyTensor(b, loc, sizes, type->getElementType()));
    block->addArgument(*type, loc);
  }
  b.setInsertionPointToEnd(block);
  Value i = block->getArgument(0);
  Value at = arith::IndexCastOp::create(b, loc, b.getIndexType(), i);
  SmallVector<Value> yields = {
      arith::AddIOp::create(b, loc, i, arith::ConstantIntOp::create(b, loc, i64, 1)),
      extractScalar(b, loc, outs[0].value)};
  for (unsigned j = 0; j < spec.carried.size(); ++j)
    yields.push_back(castTo(b, loc, outs[spec.leading + j].value, carriedTypes[j]));
  for (unsigned j = 0; j < numScans; ++j) {
    int64_t axis = spec.scanAxes[j];
    Value buffer = block->getArgument(2 + spec.carried.size() + j);
    Value capacity = tensor::DimOp::create(b, loc, buffer, axis);
    Value full = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sge, at, capacity);
    auto grow = scf::IfOp::create(b, loc, TypeRange{scanTypes[j]}, full, true);
    {
      OpBuilder::InsertionGuard g(b);
      b.setInsertionPointToStart(grow.thenBlock());
      Value twice = arith::MulIOp::create(b, loc, capacity, arith::ConstantIndexOp::create(b, loc, 2));
      Value grown = arith::MaxSIOp::create(b, loc, twice, arith::ConstantIndexOp::create(b, loc, 8));
      SmallVector<OpFoldResult> sizes = mixedSizes(b, loc, buffer);
      sizes[axis] = grown;
      Value bigger = emptyTensor(b, loc, sizes, scanTypes[j].getElementType());
      int64_t rank = scanTypes[j].getRank();
      SmallVector<OpFoldResult> offsets(rank, b.getIndexAttr(0)), strides(rank, b.getIndexAttr(1));
      Value copied = tensor::InsertSliceOp::create(b, loc, buffer, bigger, offsets,
                                                   mixedSizes(b, loc, buffer), strides);
      scf::YieldOp::create(b, loc, copied);
      b.setInsertionPointToStart(grow.elseBlock());
      scf::YieldOp::create(b, loc, buffer);
    }
    yields.push_back(insertAlong(b, loc, scanOuts[j].value, grow.getResult(0), axis, at));
  }
  b.restoreInsertionPoint(outside);
  SmallVector<Type> types;
  for (Value v : inits)
    types.push_back(v.getType());
  for (unsigned j = 0; j < numScans; ++j)
    types[2 + spec.carried.size() + j] = scanTypes[j];
  for (unsigned j = 0; j < numScans; ++j)
    inits[2 + spec.carried.size() + j] = castTo(b, loc, inits[2 + spec.carried.size() + j], scanTypes[j]);
  auto loop = scf::WhileOp::create(
      b, loc, types, inits,
      [&](OpBuilder &nb, Location l, ValueRange args) {
        Value go = args[1];
        if (tripCount) {
          Value below = arith::CmpIOp::create(nb, l, arith::CmpIPredicate::slt, args[0], tripCount);
          go = arith::AndIOp::create(nb, l, go, below);
        }
        scf::ConditionOp::create(nb, l, go, args);
      },
      [&](OpBuilder &, Location, ValueRange) {});
  Block *after = loop.getAfterBody();
  spliceBlock(block, after);
  b.setInsertionPointToEnd(after);
  scf::YieldOp::create(b, loc, yields);
  b.setInsertionPointAfter(loop);
  LoopResult result;
  Value iterations = arith::IndexCastOp::create(b, loc, b.getIndexType(), loop.getResult(0));
  for (unsigned j = 0; j < spec.carried.size(); ++j)
    result.carried.push_back(loop.getResult(2 + j));
  for (unsigned j = 0; j < numScans; ++j) {
    Value buffer = loop.getResult(2 + spec.carried.size() + j);
    int64_t rank = scanTypes[j].getRank();
    SmallVector<OpFoldResult> offsets(rank, b.getIndexAttr(0)), strides(rank, b.getIndexAttr(1));
    SmallVector<OpFoldResult> sizes = mixedSizes(b, loc, buffer);
    sizes[spec.scanAxes[j]] = iterations;
    result.scans.push_back(
        tensor::ExtractSliceOp::create(b, loc, scanTypes[j], buffer, offsets, sizes, strides));
  }
  return result;
}

LogicalResult importLoop(NodeContext &ctx) {
  const onnx::GraphProto *body = ctx.graphAttr("body");
  if (!body)
    return ctx.error() << "missing attribute 'body'";
  OpBuilder &b = ctx.b;
  OpBuilder::InsertionGuard guard(b);
  OpBuilder::InsertPoint start = b.saveInsertionPoint();
  Location loc = ctx.loc;
  unsigned numCarried = ctx.numInputs() - 2;
  if (body->input_size() != int(numCarried + 2))
    return ctx.error() << "attribute 'body' takes " << body->input_size() << " inputs, expected "
                       << numCarried + 2 << " (iteration number, condition, " << numCarried
                       << " loop-carried)";
  if (body->output_size() < int(numCarried + 1))
    return ctx.error() << "attribute 'body' has " << body->output_size()
                       << " outputs, expected at least " << numCarried + 1;
  unsigned numScans = body->output_size() - numCarried - 1;
  if (ctx.numOutputs() > numCarried + numScans)
    return ctx.error() << "has " << ctx.numOutputs() << " outputs, its body gives "
                       << numCarried + numScans;
  bool hasTrip = ctx.hasInput(0), hasCond = ctx.hasInput(1);
  if (hasTrip && failed(checkScalarInput(ctx, 0, "M", b.getI64Type())))
    return failure();
  if (hasCond && failed(checkScalarInput(ctx, 1, "cond", b.getI1Type())))
    return failure();
  if (!hasTrip && !hasCond)
    return ctx.error() << "has neither a trip count 'M' nor a condition 'cond': it would never end";
  LoopSpec spec;
  spec.body = body;
  spec.leading = 1;
  spec.scanAxes.assign(numScans, 0);
  spec.scanReverse.assign(numScans, false);
  for (unsigned j = 0; j < numCarried; ++j) {
    if (!ctx.hasInput(2 + j))
      return ctx.error() << "unsupported missing loop-carried input " << 2 + j;
    ImportedValue v = *ctx.importer.lookup(ctx.node.input(2 + j));
    v.value = ctx.input(2 + j);
    if (!v.value)
      return failure();
    v.ints.reset();
    v.floats.reset();
    spec.carried.push_back(v);
  }
  std::optional<SmallVector<int64_t>> condInts = hasCond ? ctx.constInts(1) : std::nullopt;
  std::optional<LoopResult> result;
  // No condition that can stop it: a for loop (the body's cond_out is
  // ignored without a cond input, and must stay true with a constant one).
  if (hasTrip && (!hasCond || (condInts && (*condInts)[0]))) {
    std::optional<SmallVector<int64_t>> tripInts = ctx.constInts(0);
    Value count = arith::IndexCastOp::create(b, loc, b.getIndexType(),
                                             extractScalar(b, loc, ctx.input(0)));
    if (tripInts)
      count = arith::ConstantIndexOp::create(b, loc, std::max<int64_t>(0, (*tripInts)[0]));
    else // a negative trip count runs no iteration
      count = arith::MaxSIOp::create(b, loc, count, arith::ConstantIndexOp::create(b, loc, 0));
    std::optional<int64_t> staticCount;
    if (tripInts)
      staticCount = std::max<int64_t>(0, (*tripInts)[0]);
    auto built = buildFor(
        ctx, spec, count, staticCount,
        [&](Value iv) {
          ImportedValue iter, condIn;
          iter.value = scalarTensor(b, loc, arith::IndexCastOp::create(b, loc, b.getI64Type(), iv));
          iter.type = cast<RankedTensorType>(iter.value.getType());
          condIn.ints = SmallVector<int64_t>{1};
          condIn.type = RankedTensorType::get({}, b.getI1Type());
          return SmallVector<ImportedValue>{iter, condIn};
        },
        [&](llvm::ArrayRef<ImportedValue> outs) {
          return !hasCond || (outs[0].ints && (*outs[0].ints)[0]);
        });
    if (failed(built))
      return failure();
    result = *built;
  }
  if (!result) {
    if (!hasCond)
      return failure();
    b.restoreInsertionPoint(start);
    Value trip = hasTrip ? extractScalar(b, loc, ctx.input(0)) : Value();
    auto built = buildWhile(ctx, spec, trip, extractScalar(b, loc, ctx.input(1)));
    if (failed(built))
      return failure();
    result = *built;
  }
  for (unsigned j = 0; j < numCarried; ++j)
    ctx.setOutput(j, result->carried[j], spec.carried[j].isUnsigned);
  for (unsigned j = 0; j < numScans && numCarried + j < ctx.numOutputs(); ++j)
    ctx.setOutput(numCarried + j, result->scans[j]);
  return success();
}

// Scan -----------------------------------------------------------------------

/// Per scan input or output: a non-negative axis and a direction.
FailureOr<SmallVector<int64_t>> axesAttr(NodeContext &ctx, StringRef name, unsigned count,
                                         llvm::ArrayRef<int64_t> ranks) {
  std::optional<SmallVector<int64_t>> given = ctx.intsAttr(name);
  SmallVector<int64_t> axes = given ? *given : SmallVector<int64_t>(count, 0);
  if (axes.size() != count)
    return ctx.error() << "attribute '" << name << "' has " << axes.size() << " values, expected "
                       << count;
  for (unsigned j = 0; j < count; ++j) {
    if (axes[j] < -ranks[j] || axes[j] >= ranks[j])
      return ctx.error() << "attribute '" << name << "' value " << axes[j]
                         << " is out of range for rank " << ranks[j];
    if (axes[j] < 0)
      axes[j] += ranks[j];
  }
  return axes;
}

FailureOr<SmallVector<bool>> directionsAttr(NodeContext &ctx, StringRef name, unsigned count) {
  std::optional<SmallVector<int64_t>> given = ctx.intsAttr(name);
  SmallVector<bool> out(count, false);
  if (!given)
    return out;
  if (given->size() != count)
    return ctx.error() << "attribute '" << name << "' has " << given->size()
                       << " values, expected " << count;
  for (unsigned j = 0; j < count; ++j) {
    if ((*given)[j] != 0 && (*given)[j] != 1)
      return ctx.error() << "attribute '" << name << "' value " << (*given)[j]
                         << " is not 0 (forward) or 1 (reverse)";
    out[j] = (*given)[j];
  }
  return out;
}

/// One scan over `states` and `scans` (axes and directions normalised).
FailureOr<LoopResult> scanOnce(NodeContext &ctx, const onnx::GraphProto *body,
                               llvm::ArrayRef<ImportedValue> states, llvm::ArrayRef<Value> scans,
                               llvm::ArrayRef<int64_t> inAxes, llvm::ArrayRef<bool> inReverse,
                               llvm::ArrayRef<int64_t> outAxes, llvm::ArrayRef<bool> outReverse) {
  OpBuilder &b = ctx.b;
  Location loc = ctx.loc;
  auto firstType = cast<RankedTensorType>(scans[0].getType());
  std::optional<int64_t> staticLength;
  Value length;
  if (!firstType.isDynamicDim(inAxes[0])) {
    staticLength = firstType.getDimSize(inAxes[0]);
    length = arith::ConstantIndexOp::create(b, loc, *staticLength);
  } else {
    length = tensor::DimOp::create(b, loc, scans[0], inAxes[0]);
  }
  for (unsigned j = 1; j < scans.size(); ++j) {
    auto t = cast<RankedTensorType>(scans[j].getType());
    if (staticLength && !t.isDynamicDim(inAxes[j]) && t.getDimSize(inAxes[j]) != *staticLength)
      return ctx.error() << "scan input " << j << " has " << t.getDimSize(inAxes[j])
                         << " elements along its scan axis, scan input 0 has " << *staticLength;
  }
  LoopSpec spec;
  spec.body = body;
  spec.carried.assign(states.begin(), states.end());
  spec.carriedFirst = true;
  spec.scanAxes.assign(outAxes.begin(), outAxes.end());
  spec.scanReverse.assign(outReverse.begin(), outReverse.end());
  auto built = buildFor(
      ctx, spec, length, staticLength,
      [&](Value iv) {
        SmallVector<ImportedValue> inputs;
        Value last = arith::SubIOp::create(b, loc, length, arith::ConstantIndexOp::create(b, loc, 1));
        for (unsigned j = 0; j < scans.size(); ++j) {
          Value at = inReverse[j] ? arith::SubIOp::create(b, loc, last, iv).getResult() : iv;
          ImportedValue v;
          v.value = sliceAlong(b, loc, scans[j], inAxes[j], at);
          v.type = cast<RankedTensorType>(v.value.getType());
          inputs.push_back(v);
        }
        return inputs;
      },
      [](llvm::ArrayRef<ImportedValue>) { return true; });
  if (failed(built))
    return failure();
  return **built;
}

LogicalResult importScan(NodeContext &ctx) {
  const onnx::GraphProto *body = ctx.graphAttr("body");
  if (!body)
    return ctx.error() << "missing attribute 'body'";
  int64_t numScanInputs = ctx.intAttr("num_scan_inputs", -1);
  bool batched = ctx.opset < 9; // opset 8: sequence_lens first, batch axis 0
  unsigned first = batched ? 1 : 0;
  if (batched && ctx.hasInput(0))
    return ctx.error() << "unsupported input 'sequence_lens'";
  if (numScanInputs < 1 || numScanInputs > int64_t(ctx.numInputs() - first))
    return ctx.error() << "attribute 'num_scan_inputs' is " << numScanInputs << ", expected 1 to "
                       << ctx.numInputs() - first;
  unsigned numStates = ctx.numInputs() - first - numScanInputs;
  if (body->input_size() != int(numStates + numScanInputs))
    return ctx.error() << "attribute 'body' takes " << body->input_size() << " inputs, expected "
                       << numStates + numScanInputs;
  if (body->output_size() < int(numStates) || int(ctx.numOutputs()) > body->output_size())
    return ctx.error() << "attribute 'body' has " << body->output_size() << " outputs for "
                       << numStates << " states and the node's " << ctx.numOutputs() << " outputs";
  unsigned numScanOutputs = body->output_size() - numStates;
  int64_t drop = batched ? 1 : 0;
  SmallVector<int64_t> inRanks, outRanks;
  for (unsigned j = 0; j < numScanInputs; ++j) {
    if (!ctx.hasInput(first + numStates + j))
      return ctx.error() << "scan input " << j << " is not given";
    inRanks.push_back(ctx.inputType(first + numStates + j).getRank() - drop);
    if (inRanks.back() < 1)
      return ctx.error() << "scan input " << j << " has no axis to scan";
  }
  // A scan output's rank is its per-iteration rank + 1: known once the body
  // is imported; the attribute is checked against the widest it may be.
  SmallVector<int64_t> inAxes, outAxes;
  SmallVector<bool> inReverse, outReverse;
  if (batched) {
    inAxes.assign(numScanInputs, 0);
    outAxes.assign(numScanOutputs, 0);
    outReverse.assign(numScanOutputs, false);
    auto dirs = directionsAttr(ctx, "directions", numScanInputs);
    if (failed(dirs))
      return failure();
    inReverse = *dirs;
  } else {
    auto a = axesAttr(ctx, "scan_input_axes", numScanInputs, inRanks);
    auto d = directionsAttr(ctx, "scan_input_directions", numScanInputs);
    auto od = directionsAttr(ctx, "scan_output_directions", numScanOutputs);
    if (failed(a) || failed(d) || failed(od))
      return failure();
    inAxes = *a;
    inReverse = *d;
    outReverse = *od;
    std::optional<SmallVector<int64_t>> oa = ctx.intsAttr("scan_output_axes");
    outAxes = oa ? *oa : SmallVector<int64_t>(numScanOutputs, 0);
    if (outAxes.size() != numScanOutputs)
      return ctx.error() << "attribute 'scan_output_axes' has " << outAxes.size()
                         << " values, expected " << numScanOutputs;
  }
  OpBuilder &b = ctx.b;
  OpBuilder::InsertionGuard guard(b);
  Location loc = ctx.loc;
  SmallVector<ImportedValue> states;
  for (unsigned j = 0; j < numStates; ++j) {
    ImportedValue v = *ctx.importer.lookup(ctx.node.input(first + j));
    v.value = ctx.input(first + j);
    if (!v.value)
      return failure();
    v.ints.reset();
    v.floats.reset();
    states.push_back(v);
  }
  SmallVector<Value> scans;
  for (unsigned j = 0; j < numScanInputs; ++j)
    scans.push_back(ctx.input(first + numStates + j));
  // Negative output axes count from the stacked rank, known from the body;
  // resolved after a first import (scanOnce's types), so normalise here
  // against each output's per-iteration rank taken from its declared type.
  for (unsigned j = 0; j < numScanOutputs; ++j) {
    const auto &info = body->output(numStates + j);
    int64_t rank = info.type().tensor_type().has_shape()
                       ? info.type().tensor_type().shape().dim_size() + 1
                       : -1;
    if (outAxes[j] < 0) {
      if (rank < 0)
        return ctx.error() << "unsupported negative scan_output_axes value for output '"
                           << info.name() << "' of undeclared rank";
      outAxes[j] += rank;
    }
    if (outAxes[j] < 0 || (rank >= 0 && outAxes[j] >= rank))
      return ctx.error() << "attribute 'scan_output_axes' value " << outAxes[j]
                         << " is out of range for output '" << info.name() << "'";
  }
  SmallVector<Value> outputs;
  if (!batched) {
    auto r = scanOnce(ctx, body, states, scans, inAxes, inReverse, outAxes, outReverse);
    if (failed(r))
      return failure();
    outputs.append(r->carried);
    outputs.append(r->scans);
  } else {
    // Opset 8: one scan per batch element, restacked along axis 0.
    auto firstType = cast<RankedTensorType>(scans[0].getType());
    if (firstType.isDynamicDim(0))
      return ctx.error() << "unsupported opset-8 Scan over a batch known only at run time";
    int64_t batch = firstType.getDimSize(0);
    SmallVector<SmallVector<Value>> perBatch;
    for (int64_t k = 0; k < batch; ++k) {
      SmallVector<ImportedValue> s = states;
      for (ImportedValue &v : s) {
        v.value = sliceAlong(b, loc, v.value, 0, b.getIndexAttr(k));
        v.type = cast<RankedTensorType>(v.value.getType());
      }
      SmallVector<Value> x;
      for (Value v : scans)
        x.push_back(sliceAlong(b, loc, v, 0, b.getIndexAttr(k)));
      auto r = scanOnce(ctx, body, s, x, inAxes, inReverse, outAxes, outReverse);
      if (failed(r))
        return failure();
      perBatch.emplace_back(r->carried);
      perBatch.back().append(r->scans);
    }
    for (unsigned j = 0; j < numStates + numScanOutputs && batch > 0; ++j) {
      auto t = cast<RankedTensorType>(perBatch[0][j].getType());
      SmallVector<OpFoldResult> sizes = mixedSizes(b, loc, perBatch[0][j]);
      sizes.insert(sizes.begin(), b.getIndexAttr(batch));
      Value out = emptyTensor(b, loc, sizes, t.getElementType());
      for (int64_t k = 0; k < batch; ++k)
        out = insertAlong(b, loc, perBatch[k][j], out, 0, b.getIndexAttr(k));
      outputs.push_back(out);
    }
  }
  for (unsigned j = 0; j < ctx.numOutputs() && j < outputs.size(); ++j)
    ctx.setOutput(j, outputs[j], j < numStates && states[j].isUnsigned);
  return success();
}

} // namespace

void compress::appendControlFlowOps(llvm::SmallVectorImpl<OpTableEntry> &table) {
  table.push_back({"If", 1, 21, importIf});
  // Loop and Scan import, but their scf.while / scf.for on tensors do not
  // bufferize yet ("Condition arg is not equivalent to the corresponding
  // iter bbArg"): kept out of the table until the CPU pipeline takes them.
  (void)importLoop;
  (void)importScan;
}
