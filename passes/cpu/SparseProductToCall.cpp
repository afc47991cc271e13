// The marked loop of a sparse linear layer (SparseLinearLoop.h) becomes a
// call of the runtime's N:M or ELL microkernel when the activations and the
// result are dense row-major buffers; part of
// compress-cpu-contraction-to-microkernel.
#include "passes/conversion/SparseLinearLoop.h"
#include "passes/cpu/RuntimeCalls.h"

#include "lib/runtime/cpu/SparseLinear.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"

using namespace mlir;

namespace {

/// The buffer the loop gathers its input from: the one buffer its body
/// loads from that is not one of its operands.
Value gatheredInput(linalg::GenericOp op) {
  Value input;
  bool unique = true;
  op.getRegion().walk([&](memref::LoadOp load) {
    Value source = load.getMemRef();
    if (!op.getRegion().isAncestor(source.getParentRegion())) {
      if (input && input != source)
        unique = false;
      input = source;
    }
  });
  return unique ? input : Value();
}

struct SparseProductToCall : OpRewritePattern<linalg::GenericOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(linalg::GenericOp op, PatternRewriter &rewriter) const override {
    compress::SparseProductAttr product = compress::getSparseProduct(op);
    if (!product || !op.hasPureBufferSemantics())
      return failure();
    Value x = gatheredInput(op), out = op.getDpsInitOperand(0)->get();
    if (!x)
      return failure();
    auto xType = cast<MemRefType>(x.getType()), outType = cast<MemRefType>(out.getType());
    int64_t k = product.getInFeatures(), n = outType.getShape().back();
    if (!xType.getLayout().isIdentity() || !outType.getLayout().isIdentity() ||
        !xType.getElementType().isF32() || xType.getShape().back() != k ||
        ShapedType::isDynamic(n))
      return failure();
    Location loc = op.getLoc();
    auto constant = [&](int64_t v) -> Value {
      return arith::ConstantIndexOp::create(rewriter, loc, v);
    };
    auto address = [&](unsigned input, int64_t elementBytes) {
      return compress::bufferAddress(rewriter, loc, op.getDpsInputOperand(input)->get(),
                                     elementBytes);
    };
    // Rows: every dimension of x but the last.
    Value rows = constant(1);
    for (int64_t d = 0; d + 1 < xType.getRank(); ++d)
      rows = arith::MulIOp::create(rewriter, loc, rows,
                                   memref::DimOp::create(rewriter, loc, x, d));
    bool nm = product.getBlock() != 0, quantized = product.getBits() != 0;
    unsigned scalesInput = nm ? 2 : 3;
    unsigned shapeOperands = nm && product.getBits() == 4 ? 1 : 0;
    bool hasZeroPoints = quantized && op.getNumDpsInputs() == scalesInput + 2 + shapeOperands;
    Value scales = quantized ? address(scalesInput, 4) : constant(0);
    Value zeros = hasZeroPoints ? address(scalesInput + 1, 1) : constant(0);
    Value values = address(0, quantized ? 1 : 4);
    SmallVector<Value> args = {rows,       constant(n),
                               constant(k), compress::bufferAddress(rewriter, loc, x, 4),
                               constant(k), values};
    if (nm) {
      args.append({address(1, 1), scales, zeros, compress::bufferAddress(rewriter, loc, out, 4),
                   constant(n), constant(product.getKeep()), constant(product.getBlock())});
    } else {
      auto columns = cast<MemRefType>(op.getDpsInputOperand(1)->get().getType());
      args.append({address(1, product.getColumnBits() / 8), constant(product.getColumnBits()),
                   address(2, 4), constant(columns.getShape().back()), scales, zeros,
                   compress::bufferAddress(rewriter, loc, out, 4), constant(n)});
    }
    args.append({constant(product.getBits()), constant(product.getGroupSize()),
                 constant(product.getInt8Activations())});
    compress::replaceByRuntimeCall(rewriter, op, out,
                                   nm ? compress::kNmSparseLinearF32Symbol
                                      : compress::kEllSparseLinearF32Symbol,
                                   std::move(args));
    return success();
  }
};

} // namespace

void compress::populateSparseProductToCallPatterns(RewritePatternSet &patterns) {
  patterns.add<SparseProductToCall>(patterns.getContext());
}
