// Replaces float32 linalg contractions on buffers by calls of the runtime's
// strided, batched matrix-product microkernel, and marked quantized and
// sparse products by calls of their microkernels.
#include "passes/conversion/QuantizedLinearLoop.h"
#include "passes/conversion/SparseLinearLoop.h"
#include "passes/cpu/Passes.h"
#include "passes/cpu/RuntimeCalls.h"

#include "lib/runtime/cpu/Contraction.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/IR/LinalgInterfaces.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace compress {
#define GEN_PASS_DEF_CONTRACTIONTOMICROKERNELPASS
#include "passes/cpu/Passes.h.inc"
} // namespace compress

using namespace mlir;
using llvm::SmallVector;

namespace {

constexpr int64_t kMaxBatchDims = 3;

/// The loops of a contraction in the order the microkernel takes them.
struct LoopRoles {
  SmallVector<unsigned> batch; // outer dimensions, at most kMaxBatchDims
  unsigned m, n, k;
};

FailureOr<LoopRoles> classifyLoops(linalg::LinalgOp op) {
  FailureOr<linalg::ContractionDimensions> dims = linalg::inferContractionDims(op);
  if (failed(dims) || dims->k.size() != 1 || dims->m.empty() || dims->n.empty())
    return failure();
  LoopRoles roles;
  // The innermost m and n are the matrix's; other m and n dimensions become
  // batch dimensions in which B (resp. A) does not move.
  roles.m = dims->m.back();
  roles.n = dims->n.back();
  roles.k = dims->k.front();
  SmallVector<unsigned> batch(dims->batch.begin(), dims->batch.end());
  batch.append(dims->m.begin(), dims->m.end() - 1);
  batch.append(dims->n.begin(), dims->n.end() - 1);
  llvm::sort(batch);
  if (int64_t(batch.size()) > kMaxBatchDims)
    return failure();
  roles.batch = batch;
  return roles;
}

/// Every indexing expression must be a loop dimension or the constant 0.
bool simpleMaps(linalg::LinalgOp op) {
  for (AffineMap map : op.getIndexingMapsArray())
    for (AffineExpr e : map.getResults()) {
      if (isa<AffineDimExpr>(e))
        continue;
      auto c = dyn_cast<AffineConstantExpr>(e);
      if (!c || c.getValue() != 0)
        return false;
    }
  return true;
}

/// The buffer `buffer` is a view of.
Value viewSource(Value buffer) {
  while (true) {
    if (auto view = buffer.getDefiningOp<ViewLikeOpInterface>()) {
      buffer = view.getViewSource();
      continue;
    }
    if (auto cast = buffer.getDefiningOp<memref::CastOp>()) {
      buffer = cast.getSource();
      continue;
    }
    return buffer;
  }
}

/// Whether a buffer is a view of constant data: a constant global, or the
/// weights buffer that compress-cpu-externalize-weights gives @main.
bool isConstantBuffer(Value buffer) {
  buffer = viewSource(buffer);
  if (auto global = buffer.getDefiningOp<memref::GetGlobalOp>()) {
    auto symbol = SymbolTable::lookupNearestSymbolFrom<memref::GlobalOp>(
        global, global.getNameAttr());
    return symbol && symbol.getConstant();
  }
  auto argument = dyn_cast<BlockArgument>(buffer);
  if (!argument)
    return false;
  auto func = dyn_cast<func::FuncOp>(argument.getOwner()->getParentOp());
  return func && argument.getOwner()->isEntryBlock() &&
         func.getArgAttr(argument.getArgNumber(), "compress.weights");
}

struct ContractionToCall : OpInterfaceRewritePattern<linalg::LinalgOp> {
  ContractionToCall(MLIRContext *ctx, StringRef symbol, StringRef constantBSymbol,
                    bool globalsOnHost)
      : OpInterfaceRewritePattern(ctx), symbol(symbol), constantBSymbol(constantBSymbol),
        globalsOnHost(globalsOnHost) {}
  StringRef symbol, constantBSymbol;
  bool globalsOnHost;

  LogicalResult matchAndRewrite(linalg::LinalgOp op,
                                PatternRewriter &rewriter) const override {
    if (!op.hasPureBufferSemantics() || op.getNumDpsInputs() != 2 ||
        op.getNumDpsInits() != 1 || !linalg::isaContractionOpInterface(op) ||
        !simpleMaps(op))
      return failure();
    for (OpOperand &operand : op->getOpOperands()) {
      auto type = dyn_cast<MemRefType>(operand.get().getType());
      if (!type || !type.getElementType().isF32())
        return failure();
      if (globalsOnHost && compress::isGlobalView(operand.get()))
        return failure();
    }
    FailureOr<LoopRoles> roles = classifyLoops(op);
    if (failed(roles))
      return failure();

    Location loc = op.getLoc();
    SmallVector<Range> ranges = op.createLoopRanges(rewriter, loc);
    auto index = [&](OpFoldResult v) {
      return getValueOrCreateConstantIndexOp(rewriter, loc, v);
    };
    Value zero = arith::ConstantIndexOp::create(rewriter, loc, 0);
    Value one = arith::ConstantIndexOp::create(rewriter, loc, 1);
    Value four = arith::ConstantIndexOp::create(rewriter, loc, 4);

    // Address and per-loop strides of one operand.
    auto describe = [&](OpOperand &operand, ArrayRef<unsigned> loops) {
      Value buffer = operand.get();
      auto meta = memref::ExtractStridedMetadataOp::create(rewriter, loc, buffer);
      Value pointer = memref::ExtractAlignedPointerAsIndexOp::create(rewriter, loc, buffer);
      Value address = arith::AddIOp::create(
          rewriter, loc, pointer,
          arith::MulIOp::create(rewriter, loc, meta.getOffset(), four));
      AffineMap map = op.getMatchingIndexingMap(&operand);
      SmallVector<Value> values = {address};
      for (unsigned loop : loops) {
        Value stride = zero;
        for (auto [pos, expr] : llvm::enumerate(map.getResults()))
          if (auto dim = dyn_cast<AffineDimExpr>(expr); dim && dim.getPosition() == loop)
            stride = arith::AddIOp::create(rewriter, loc, stride, meta.getStrides()[pos]);
        values.push_back(stride);
      }
      return values;
    };
    SmallVector<unsigned> batch(roles->batch);
    SmallVector<Value> batchSizes;
    for (unsigned d : batch)
      batchSizes.push_back(index(ranges[d].size));
    while (batchSizes.size() < size_t(kMaxBatchDims)) {
      batchSizes.insert(batchSizes.begin(), one);
      batch.insert(batch.begin(), ~0u); // a loop no operand uses: stride 0
    }
    // A weight operand lets the runtime pack it once and keep it packed. The
    // packing entry point takes the weight as B; a constant A (a convolution
    // filter after im2col) becomes B of the transposed product C^T = B^T A^T.
    OpOperand *a = op.getDpsInputOperand(0), *b = op.getDpsInputOperand(1);
    bool constantB = isConstantBuffer(b->get());
    bool swap = !constantB && isConstantBuffer(a->get());
    unsigned m = roles->m, n = roles->n, k = roles->k;
    if (swap) {
      std::swap(a, b);
      std::swap(m, n);
    }
    SmallVector<unsigned> aLoops(batch), bLoops(batch), cLoops(batch);
    aLoops.append({m, k});
    bLoops.append({k, n});
    cLoops.append({m, n});

    SmallVector<Value> args(batchSizes);
    args.append({index(ranges[m].size), index(ranges[n].size), index(ranges[k].size)});
    args.append(describe(*a, aLoops));
    args.append(describe(*b, bLoops));
    args.append(describe(*op.getDpsInitOperand(0), cLoops));

    compress::callRuntime(rewriter, loc, op, constantB || swap ? constantBSymbol : symbol, args);
    rewriter.eraseOp(op);
    return success();
  }
};

/// The marked loop of a quantized linear layer (see
/// ConvertCompressToLinalg.cpp) becomes a call of the quantized microkernel,
/// when the activations and the result are dense row-major buffers.
struct QuantizedLinearToCall : OpRewritePattern<linalg::GenericOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(linalg::GenericOp op,
                                PatternRewriter &rewriter) const override {
    compress::QuantizedProductAttr product = compress::getQuantizedProduct(op);
    if (!product || !compress::isRowMajorQuantizedProduct(op))
      return failure();
    compress::replaceByRuntimeCall(rewriter, op, op.getDpsInitOperand(0)->get(),
                                   product.getTiled() ? compress::kTiledQuantizedLinearF32Symbol
                                                      : compress::kQuantizedLinearF32Symbol,
                                   compress::quantizedLinearCallArgs(rewriter, op));
    return success();
  }
};

struct ContractionToMicrokernelPass
    : compress::impl::ContractionToMicrokernelPassBase<ContractionToMicrokernelPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    compress::populateContractionToCallPatterns(patterns, compress::kContractF32Symbol,
                                                compress::kContractF32ConstantBSymbol);
    patterns.add<QuantizedLinearToCall>(&getContext());
    compress::populateSparseProductToCallPatterns(patterns);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      return signalPassFailure();
    // The loop that remains computes in float: right for weight-only
    // layers, silently wrong for layers whose activations must be int8.
    WalkResult unlowered = getOperation()->walk([](linalg::GenericOp op) {
      compress::QuantizedProductAttr product = compress::getQuantizedProduct(op);
      compress::SparseProductAttr sparse = compress::getSparseProduct(op);
      if (!(product && product.getInt8Activations()) && !(sparse && sparse.getInt8Activations()))
        return WalkResult::advance();
      const char *kind = product ? "quantized" : "sparse";
      op.emitError() << "a " << kind << " linear layer with int8 activations needs the " << kind
                     << " microkernel, which takes only row-major float32 activations and results";
      return WalkResult::interrupt();
    });
    if (unlowered.wasInterrupted())
      signalPassFailure();
  }
};

} // namespace

void compress::populateContractionToCallPatterns(RewritePatternSet &patterns, StringRef symbol,
                                                 StringRef constantBSymbol, bool globalsOnHost) {
  patterns.add<ContractionToCall>(patterns.getContext(), symbol, constantBSymbol, globalsOnHost);
}

bool compress::isGlobalView(Value buffer) {
  return viewSource(buffer).getDefiningOp<memref::GetGlobalOp>() != nullptr;
}

Value compress::bufferAddress(OpBuilder &b, Location loc, Value buffer, int64_t elementBytes) {
  auto meta = memref::ExtractStridedMetadataOp::create(b, loc, buffer);
  Value pointer = memref::ExtractAlignedPointerAsIndexOp::create(b, loc, buffer);
  Value bytes = arith::ConstantIndexOp::create(b, loc, elementBytes);
  return arith::AddIOp::create(b, loc, pointer,
                               arith::MulIOp::create(b, loc, meta.getOffset(), bytes));
}

func::FuncOp compress::declareRuntimeFunction(ModuleOp module, StringRef symbol,
                                              FunctionType type) {
  if (auto callee = module.lookupSymbol<func::FuncOp>(symbol))
    return callee;
  OpBuilder b = OpBuilder::atBlockBegin(module.getBody());
  auto callee = func::FuncOp::create(b, module.getLoc(), symbol, type);
  callee.setPrivate();
  return callee;
}

void compress::callRuntime(OpBuilder &b, Location loc, Operation *inModule, StringRef symbol,
                           ValueRange args) {
  SmallVector<Type> argTypes(args.size(), b.getIndexType());
  func::CallOp::create(b, loc,
                       declareRuntimeFunction(inModule->getParentOfType<ModuleOp>(), symbol,
                                              b.getFunctionType(argTypes, {})),
                       args);
}

void compress::replaceByRuntimeCall(PatternRewriter &rewriter, Operation *op, Value out,
                                    StringRef symbol, SmallVector<Value> args) {
  // Into a zero-filled buffer (no bias), the kernel writes instead of adding.
  linalg::FillOp fill = zeroFillBefore(op, out);
  args.push_back(arith::ConstantIndexOp::create(rewriter, op->getLoc(), fill ? 0 : 1));
  if (fill)
    rewriter.eraseOp(fill);
  callRuntime(rewriter, op->getLoc(), op, symbol, args);
  rewriter.eraseOp(op);
}

linalg::FillOp compress::zeroFillBefore(Operation *op, Value out) {
  linalg::FillOp fill = fillBefore(op, out);
  return fill && matchPattern(fill.getInputs().front(), m_AnyZeroFloat()) ? fill
                                                                           : linalg::FillOp();
}

linalg::FillOp compress::fillBefore(Operation *op, Value out) {
  for (Operation *prev = op->getPrevNode(); prev; prev = prev->getPrevNode()) {
    if (auto fill = dyn_cast<linalg::FillOp>(prev)) {
      if (fill.getOutputs().front() != out || !fill.hasPureBufferSemantics())
        return {};
      return fill;
    }
    // A new allocation (a loop's shape operand) cannot touch `out`.
    if (!isMemoryEffectFree(prev) && !isa<memref::AllocOp>(prev))
      return {};
  }
  return {};
}

bool compress::isRowMajorQuantizedProduct(linalg::GenericOp op) {
  compress::QuantizedProductAttr product = compress::getQuantizedProduct(op);
  if (!product || !op.hasPureBufferSemantics())
    return false;
  auto xType = cast<MemRefType>(op.getDpsInputOperand(0)->get().getType());
  auto outType = cast<MemRefType>(op.getDpsInitOperand(0)->get().getType());
  return xType.getLayout().isIdentity() && outType.getLayout().isIdentity() &&
         xType.getElementType().isF32() && !ShapedType::isDynamic(product.getInFeatures()) &&
         !ShapedType::isDynamic(outType.getShape().back());
}

SmallVector<Value> compress::quantizedLinearCallArgs(OpBuilder &b, linalg::GenericOp op) {
  compress::QuantizedProductAttr product = compress::getQuantizedProduct(op);
  Location loc = op.getLoc();
  Value x = op.getDpsInputOperand(0)->get(), out = op.getDpsInitOperand(0)->get();
  auto xType = cast<MemRefType>(x.getType());
  bool hasZeroPoints = op.getNumDpsInputs() == 4;
  auto address = [&](Value buffer, int64_t elementBytes) {
    return compress::bufferAddress(b, loc, buffer, elementBytes);
  };
  auto constant = [&](int64_t v) { return arith::ConstantIndexOp::create(b, loc, v); };
  // Rows: every dimension of x but the last.
  Value rows = constant(1);
  for (int64_t d = 0; d + 1 < xType.getRank(); ++d)
    rows = arith::MulIOp::create(b, loc, rows, memref::DimOp::create(b, loc, x, d));
  int64_t k = product.getInFeatures();
  int64_t n = cast<MemRefType>(out.getType()).getShape().back();
  return {rows,
          constant(n),
          constant(k),
          address(x, 4),
          constant(k),
          address(op.getDpsInputOperand(1)->get(), 1),
          address(op.getDpsInputOperand(2)->get(), 4),
          hasZeroPoints ? address(op.getDpsInputOperand(3)->get(), 1) : constant(0).getResult(),
          address(out, 4),
          constant(n),
          constant(product.getBits()),
          constant(product.getGroupSize()),
          constant(product.getInt8Activations())};
}
