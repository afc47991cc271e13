// Lowers compress.check_index to a compare, a call of the runtime's
// compress_rt_index_out_of_range when the index is out of range, and a
// select of index 0 in that case, so that nothing reads out of bounds; and
// compress.check_count to a call of compress_rt_check_count.
#include "passes/cpu/IndexChecks.h"
#include "passes/cpu/Passes.h"
#include "passes/cpu/RuntimeCalls.h"

#include "dialects/compress/IR/CompressOps.h"
#include "lib/runtime/cpu/RunChecks.h"

namespace compress {
#define GEN_PASS_DEF_LOWERINDEXCHECKSPASS
#include "passes/cpu/Passes.h.inc"
} // namespace compress

using namespace mlir;

std::vector<std::string> compress::indexSitesOf(ModuleOp module) {
  std::vector<std::string> sites;
  if (auto names = module->getAttrOfType<ArrayAttr>(kIndexSitesAttr))
    for (Attribute name : names)
      sites.push_back(cast<StringAttr>(name).str());
  return sites;
}

void compress::lowerCountChecks(ModuleOp module, SmallVectorImpl<Attribute> &sites) {
  SmallVector<compress::CheckCountOp> checks;
  module.walk([&](compress::CheckCountOp op) { checks.push_back(op); });
  if (checks.empty())
    return;
  OpBuilder b(module.getContext());
  Type i64 = b.getI64Type();
  func::FuncOp callee = compress::declareRuntimeFunction(
      module, compress::kCheckCountSymbol, b.getFunctionType({i64, i64, i64}, {b.getI1Type()}));
  for (compress::CheckCountOp op : checks) {
    b.setInsertionPoint(op);
    Location loc = op.getLoc();
    Value site = arith::ConstantIntOp::create(b, loc, i64, int64_t(sites.size()));
    sites.push_back(op.getSiteAttr());
    auto call = func::CallOp::create(
        b, loc, callee,
        ValueRange{arith::IndexCastOp::create(b, loc, i64, op.getCount()),
                   arith::IndexCastOp::create(b, loc, i64, op.getExpected()), site});
    op.replaceAllUsesWith(call.getResult(0));
    op.erase();
  }
}

namespace {

struct LowerIndexChecksPass : compress::impl::LowerIndexChecksPassBase<LowerIndexChecksPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<compress::CheckIndexOp> checks;
    module.walk([&](compress::CheckIndexOp op) { checks.push_back(op); });
    // Sites are numbered in the module's order, index checks first; the
    // table travels with the module for the engine and the artifact's
    // descriptor.
    SmallVector<Attribute> sites;
    lowerIndexChecks(module, checks, sites);
    compress::lowerCountChecks(module, sites);
    if (!sites.empty())
      module->setAttr(compress::kIndexSitesAttr, ArrayAttr::get(module.getContext(), sites));
  }

  void lowerIndexChecks(ModuleOp module, MutableArrayRef<compress::CheckIndexOp> checks,
                        SmallVectorImpl<Attribute> &sites) {
    if (checks.empty())
      return;
    OpBuilder b(module.getContext());
    Type i64 = b.getI64Type();
    func::FuncOp callee = compress::declareRuntimeFunction(
        module, compress::kIndexOutOfRangeSymbol, b.getFunctionType({i64, i64, i64}, {}));
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
        func::CallOp::create(
            then, l, callee,
            ValueRange{arith::IndexCastOp::create(then, l, i64, index),
                       arith::IndexCastOp::create(then, l, i64, extent),
                       arith::ConstantIntOp::create(then, l, i64, int64_t(number))});
        scf::YieldOp::create(then, l);
      });
      op.replaceAllUsesWith(arith::SelectOp::create(b, loc, bad, zero, wrapped).getResult());
      op.erase();
    }
  }
};

} // namespace
