// compress-find-blocks: annotates the repeated blocks of a model and reports
// their importance on calibration data.
#include "passes/compression/Passes.h"

#include "passes/compression/BlockImportance.h"
#include "passes/compression/Blocks.h"
#include "passes/compression/LayerWeights.h"

namespace compress {
#define GEN_PASS_DEF_FINDBLOCKSPASS
#include "passes/compression/Passes.h.inc"
} // namespace compress

using namespace mlir;
using namespace compress;

namespace {

struct FindBlocksPass : compress::impl::FindBlocksPassBase<FindBlocksPass> {
  using FindBlocksPassBase::FindBlocksPassBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    auto main = module.lookupSymbol<func::FuncOp>("main");
    if (!main) {
      module.emitError("compress-find-blocks: the module has no func.func @main");
      return signalPassFailure();
    }
    BlockStructure structure = findBlocks(main);
    llvm::json::Object doc{{"pass", "compress-find-blocks"}};
    if (structure.blocks.empty()) {
      main.emitWarning() << "compress-find-blocks: " << structure.reason << "; left as it is";
      doc["blocks"] = llvm::json::Array();
      doc["reason"] = structure.reason;
      return publish(std::move(doc));
    }
    Builder b(module.getContext());
    for (const RepeatedBlock &block : structure.blocks)
      for (Operation *op : block.ops)
        op->setAttr("compress.block", b.getI64IntegerAttr(block.index));

    llvm::json::Array blocks;
    for (const RepeatedBlock &block : structure.blocks)
      blocks.push_back(describeBlock(block));
    Calibration &calibration = getAnalysis<Calibration>();
    if (calibration.available()) {
      auto influence = blockInfluence(calibration, structure);
      if (!influence)
        return fail("measuring Block Influence failed: " + llvm::toString(influence.takeError()));
      for (auto [entry, value] : llvm::zip(blocks, *influence))
        (*entry.getAsObject())["influence"] = value;
      if (removal) {
        auto change = blockRemovalChange(module, calibration, structure);
        if (!change)
          return fail("measuring block removal failed: " + llvm::toString(change.takeError()));
        for (auto [entry, value] : llvm::zip(blocks, *change))
          (*entry.getAsObject())["removal"] = value;
      }
    } else if (removal) {
      return fail("removal=true needs calibration data (--calibration)");
    }
    doc["blocks"] = std::move(blocks);
    publish(std::move(doc));
  }

  void fail(const std::string &message) {
    getOperation().emitError() << "compress-find-blocks: " << message;
    signalPassFailure();
  }

  void publish(llvm::json::Object doc) {
    if (llvm::Error error = publishReport(&getContext(), report, std::move(doc)))
      fail(llvm::toString(std::move(error)));
  }
};

} // namespace
