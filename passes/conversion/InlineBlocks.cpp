// compress-inline-blocks: the inverse of compress-outline-blocks, and the
// first step of every target's lowering.
#include "passes/conversion/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/IRMapping.h"

namespace compress {
#define GEN_PASS_DEF_INLINEBLOCKSPASS
#include "passes/conversion/Passes.h.inc"
} // namespace compress

using namespace mlir;

namespace {

struct InlineBlocksPass : compress::impl::InlineBlocksPassBase<InlineBlocksPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SymbolTable symbols(module);
    SmallVector<func::CallOp> calls;
    module.walk([&](func::CallOp call) {
      auto callee = symbols.lookup<func::FuncOp>(call.getCallee());
      if (callee && callee->hasAttr("compress.block"))
        calls.push_back(call);
    });
    llvm::SetVector<func::FuncOp> callees;
    for (func::CallOp call : calls) {
      auto callee = symbols.lookup<func::FuncOp>(call.getCallee());
      if (callee.isExternal() || !llvm::hasSingleElement(callee.getBody())) {
        call.emitError("compress-inline-blocks: block function @")
            << callee.getSymName() << " is not a single-block function";
        return signalPassFailure();
      }
      callees.insert(callee);
      mlir::Block &body = callee.getBody().front();
      IRMapping mapping;
      mapping.map(body.getArguments(), call.getOperands());
      OpBuilder b(call);
      for (Operation &op : body.without_terminator()) {
        Operation *copy = b.clone(op, mapping);
        copy->setAttr("compress.block", call->getAttr("compress.block"));
      }
      for (auto [result, returned] :
           llvm::zip(call.getResults(), body.getTerminator()->getOperands()))
        result.replaceAllUsesWith(mapping.lookupOrDefault(returned));
      call.erase();
    }
    for (func::FuncOp callee : callees)
      if (callee.symbolKnownUseEmpty(module))
        callee.erase();
  }
};

} // namespace
