// Lowers compress.check_index for kernels: a compare, index 0 when out of
// range, and the first failure of a run (site, index, extent) written to a
// device status buffer that @main hands to the CUDA runtime before it
// returns. compress.check_count (host values) becomes the call the CPU
// lowering makes.
#include "passes/cpu/IndexChecks.h"
#include "passes/gpu/Passes.h"

#include "dialects/compress/IR/CompressOps.h"

namespace compress {
#define GEN_PASS_DEF_GPULOWERINDEXCHECKSPASS
#include "passes/gpu/Passes.h.inc"
} // namespace compress

using namespace mlir;

namespace {

constexpr llvm::StringLiteral kIndexStatusSymbol = "compress_cuda_index_status";

struct GpuLowerIndexChecksPass
    : compress::impl::GpuLowerIndexChecksPassBase<GpuLowerIndexChecksPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<compress::CheckIndexOp> checks;
    module.walk([&](compress::CheckIndexOp op) { checks.push_back(op); });
    // Numbered as compress-cpu-lower-index-checks numbers them.
    SmallVector<Attribute> sites;
    if (!checks.empty() && failed(lowerIndexChecks(module, checks, sites)))
      return signalPassFailure();
    compress::lowerCountChecks(module, sites);
    if (!sites.empty())
      module->setAttr(compress::kIndexSitesAttr, ArrayAttr::get(module.getContext(), sites));
  }

  LogicalResult lowerIndexChecks(ModuleOp module, MutableArrayRef<compress::CheckIndexOp> checks,
                                 SmallVectorImpl<Attribute> &sites) {
    auto main = module.lookupSymbol<func::FuncOp>("main");
    for (compress::CheckIndexOp op : checks)
      if (op->getParentOfType<func::FuncOp>() != main)
        return op.emitError("index checks outside @main are not supported by the GPU lowering");
    OpBuilder b(module.getContext());
    Type i64 = b.getI64Type();
    auto statusType = MemRefType::get({3}, i64);
    b.setInsertionPointToStart(module.getBody());
    auto callee = func::FuncOp::create(b, module.getLoc(), kIndexStatusSymbol,
                                       b.getFunctionType({statusType}, {}));
    callee.setPrivate();

    // Zeroed on entry; read back and freed before each return.
    b.setInsertionPointToStart(&main.getBody().front());
    Location entry = main.getLoc();
    Value status = memref::AllocOp::create(b, entry, statusType);
    linalg::FillOp::create(b, entry, ValueRange{arith::ConstantIntOp::create(b, entry, i64, 0)},
                           ValueRange{status});
    main.walk([&](func::ReturnOp ret) {
      b.setInsertionPoint(ret);
      func::CallOp::create(b, ret.getLoc(), callee, ValueRange{status});
      memref::DeallocOp::create(b, ret.getLoc(), status);
    });

    for (auto [number, op] : llvm::enumerate(checks)) {
      sites.push_back(op.getSiteAttr());
      b.setInsertionPoint(op);
      Location loc = op.getLoc();
      Value index = op.getIndex(), extent = op.getExtent();
      Value zero = arith::ConstantIndexOp::create(b, loc, 0);
      Value negative = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, index, zero);
      Value wrapped = arith::SelectOp::create(
          b, loc, negative, arith::AddIOp::create(b, loc, index, extent), index);
      // Unsigned: a negative index still negative after wrapping is huge.
      Value bad = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::uge, wrapped, extent);
      scf::IfOp::create(b, loc, bad, [&](OpBuilder &then, Location l) {
        Value c0 = arith::ConstantIndexOp::create(then, l, 0);
        Value none = arith::ConstantIntOp::create(then, l, i64, 0);
        Value tag = arith::ConstantIntOp::create(then, l, i64, int64_t(number) + 1);
        // The first failing check claims the buffer; later ones leave it.
        auto claim = memref::GenericAtomicRMWOp::create(then, l, status, ValueRange{c0});
        {
          OpBuilder body = OpBuilder::atBlockEnd(claim.getBody());
          Value current = claim.getCurrentValue();
          Value free = arith::CmpIOp::create(body, l, arith::CmpIPredicate::eq, current, none);
          memref::AtomicYieldOp::create(
              body, l, arith::SelectOp::create(body, l, free, tag, current).getResult());
        }
        Value won = arith::CmpIOp::create(then, l, arith::CmpIPredicate::eq, claim.getResult(), none);
        scf::IfOp::create(then, l, won, [&](OpBuilder &w, Location wl) {
          memref::StoreOp::create(w, wl, arith::IndexCastOp::create(w, wl, i64, index), status,
                                  ValueRange{arith::ConstantIndexOp::create(w, wl, 1)});
          memref::StoreOp::create(w, wl, arith::IndexCastOp::create(w, wl, i64, extent), status,
                                  ValueRange{arith::ConstantIndexOp::create(w, wl, 2)});
          scf::YieldOp::create(w, wl);
        });
        scf::YieldOp::create(then, l);
      });
      op.replaceAllUsesWith(arith::SelectOp::create(b, loc, bad, zero, wrapped).getResult());
      op.erase();
    }
    return success();
  }
};

} // namespace
