// compress-drop-blocks: removes whole repeated blocks, the least important
// on calibration data first, or those listed.
#include "passes/compression/Passes.h"

#include "passes/compression/BlockImportance.h"
#include "passes/compression/Blocks.h"
#include "passes/compression/LayerWeights.h"

#include <cmath>
#include <numeric>

namespace compress {
#define GEN_PASS_DEF_DROPBLOCKSPASS
#include "passes/compression/Passes.h.inc"
} // namespace compress

using namespace mlir;
using namespace compress;

namespace {

struct DropBlocksPass : compress::impl::DropBlocksPassBase<DropBlocksPass> {
  using DropBlocksPassBase::DropBlocksPassBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    int given = (count != 0) + (ratio != 0) + !blocks.empty();
    if (given != 1)
      return fail("give exactly one of count=, ratio= and blocks=");
    if (count < 0)
      return fail("count=" + std::to_string(count) + " is negative");
    if (ratio != 0 && !(ratio > 0 && ratio < 1))
      return fail("ratio=" + std::to_string(ratio) + " is outside (0, 1)");
    if (blocks.empty() && metric != "influence" && metric != "removal")
      return fail("metric='" + metric + "' is neither influence nor removal");
    FailureOr<BlockStructure> structure = requireBlocks(module, "compress-drop-blocks");
    if (failed(structure))
      return signalPassFailure();
    size_t n = structure->blocks.size();

    std::vector<unsigned> chosen;
    std::optional<std::vector<double>> importance;
    if (!blocks.empty()) {
      for (int64_t index : blocks) {
        if (index < 0 || index >= int64_t(n))
          return fail("block " + std::to_string(index) + " is out of range: the model has " +
                      std::to_string(n) + " blocks (0 to " + std::to_string(n - 1) + ")");
        if (llvm::is_contained(chosen, unsigned(index)))
          return fail("block " + std::to_string(index) + " is listed twice");
        chosen.push_back(unsigned(index));
      }
    } else {
      int64_t drop = count != 0 ? count : int64_t(std::lround(ratio * double(n)));
      if (drop >= int64_t(n))
        return fail("removing " + std::to_string(drop) + " blocks leaves none: the model has " +
                    std::to_string(n));
      if (drop == 0)
        return fail("ratio=" + std::to_string(ratio) + " of " + std::to_string(n) +
                    " blocks rounds to none");
      Calibration &calibration = getAnalysis<Calibration>();
      if (!calibration.available())
        return fail("metric=" + metric + " needs calibration data (--calibration); or list the "
                                         "blocks with blocks=");
      auto measured = metric == "influence"
                          ? blockInfluence(calibration, *structure)
                          : blockRemovalChange(module, calibration, *structure);
      if (!measured)
        return fail("measuring the blocks' " + metric +
                    " failed: " + llvm::toString(measured.takeError()));
      importance = std::move(*measured);
      std::vector<unsigned> order(n);
      std::iota(order.begin(), order.end(), 0u);
      std::stable_sort(order.begin(), order.end(),
                       [&](unsigned a, unsigned b) { return (*importance)[a] < (*importance)[b]; });
      chosen.assign(order.begin(), order.begin() + drop);
    }

    llvm::json::Array entries;
    for (const RepeatedBlock &block : structure->blocks) {
      llvm::json::Object entry = describeBlock(block);
      if (importance)
        entry[metric] = (*importance)[block.index];
      entry["dropped"] = llvm::is_contained(chosen, block.index);
      entries.push_back(std::move(entry));
    }
    llvm::json::Array remaining;
    for (unsigned b = 0; b < n; ++b)
      if (!llvm::is_contained(chosen, b))
        remaining.push_back(int64_t(b));
    auto main = module.lookupSymbol<func::FuncOp>("main");
    DroppedInterface dropped = dropBlocks(main, *structure, chosen);
    llvm::json::Object doc{{"pass", "compress-drop-blocks"},
                           {"metric", blocks.empty() ? llvm::json::Value(metric) : nullptr},
                           {"blocks", std::move(entries)},
                           {"remaining", std::move(remaining)},
                           {"removed_results", llvm::json::Array(dropped.results)},
                           {"removed_arguments", llvm::json::Array(dropped.arguments)}};
    if (llvm::Error error = publishReport(&getContext(), report, std::move(doc)))
      fail(llvm::toString(std::move(error)));
  }

  void fail(const std::string &message) {
    getOperation().emitError() << "compress-drop-blocks: " << message;
    signalPassFailure();
  }
};

} // namespace
