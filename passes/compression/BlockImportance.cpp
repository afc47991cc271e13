// Block importances (BlockImportance.h) from hidden states the calibration
// session hands over one set at a time.
#include "passes/compression/BlockImportance.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"

#include <cmath>

using namespace mlir;
using namespace compress;

namespace {

/// The tokens of a float32 hidden state [..., H]: H features each.
llvm::Expected<ArrayRef<float>> hiddenState(const HostTensor &tensor, StringRef what) {
  if (tensor.kind != ElementKind::F32 || tensor.shape.empty())
    return llvm::createStringError(what + " is not a float32 tensor");
  return ArrayRef<float>(reinterpret_cast<const float *>(tensor.data.data()),
                         size_t(tensor.numElements()));
}

/// Adds, over the tokens of `a` and `b` (same shape [..., H]), the cosine
/// similarity of each token's two vectors to `sum` and counts them.
llvm::Error accumulateCosine(const HostTensor &a, const HostTensor &b, double &sum,
                             int64_t &tokens) {
  if (a.shape != b.shape)
    return llvm::createStringError("hidden states of shapes " + a.shapeString() + " and " +
                                   b.shapeString() + " cannot be compared");
  auto x = hiddenState(a, "a block's hidden state");
  if (!x)
    return x.takeError();
  auto y = hiddenState(b, "a block's hidden state");
  if (!y)
    return y.takeError();
  int64_t width = a.shape.back();
  for (int64_t t = 0; width > 0 && t < a.numElements() / width; ++t) {
    double xy = 0, xx = 0, yy = 0;
    for (int64_t j = 0; j < width; ++j) {
      double u = (*x)[t * width + j], v = (*y)[t * width + j];
      xy += u * v, xx += u * u, yy += v * v;
    }
    // Two zero vectors are the same state; one zero vector shares nothing.
    sum += xx == 0 && yy == 0 ? 1.0 : xx == 0 || yy == 0 ? 0.0 : xy / std::sqrt(xx * yy);
    ++tokens;
  }
  return llvm::Error::success();
}

} // namespace

llvm::Expected<std::vector<double>> compress::blockInfluence(Calibration &calibration,
                                                            const BlockStructure &structure) {
  size_t n = structure.blocks.size();
  SmallVector<Value> boundaries{structure.blocks.front().input};
  for (const RepeatedBlock &block : structure.blocks)
    boundaries.push_back(block.output);
  std::vector<double> sums(n, 0);
  std::vector<int64_t> tokens(n, 0);
  if (llvm::Error error = calibration->visitValues(
          boundaries, [&](size_t, ArrayRef<HostTensor> states) -> llvm::Error {
            for (size_t b = 0; b < n; ++b)
              if (llvm::Error e = accumulateCosine(states[b], states[b + 1], sums[b], tokens[b]))
                return e;
            return llvm::Error::success();
          }))
    return std::move(error);
  std::vector<double> influence(n);
  for (size_t b = 0; b < n; ++b)
    influence[b] = tokens[b] ? 1.0 - sums[b] / double(tokens[b]) : 0.0;
  return influence;
}

llvm::Expected<std::vector<double>> compress::blockRemovalChange(ModuleOp module,
                                                                Calibration &calibration,
                                                                const BlockStructure &structure) {
  size_t n = structure.blocks.size();
  std::vector<HostTensor> reference;
  if (llvm::Error error = calibration->visitValues(
          {structure.blocks.back().output}, [&](size_t, ArrayRef<HostTensor> states) {
            reference.push_back(states.front());
            return llvm::Error::success();
          }))
    return std::move(error);
  std::vector<double> change(n);
  for (size_t b = 0; b < n; ++b) {
    OwningOpRef<ModuleOp> copy = module.clone();
    auto main = copy->lookupSymbol<func::FuncOp>("main");
    BlockStructure copied = findBlocks(main);
    if (copied.blocks.size() != n)
      return llvm::createStringError("a copy of the model has other blocks than the model");
    // Without the last block, the stack ends at its input.
    Value stackOutput = b + 1 == n ? copied.blocks.back().input : copied.blocks.back().output;
    dropBlocks(main, copied, {unsigned(b)});
    Calibration dropped(*copy);
    if (!dropped.available())
      return llvm::createStringError("no calibration data for a copy of the model");
    double sum = 0;
    int64_t tokens = 0;
    if (llvm::Error error = dropped->visitValues(
            {stackOutput}, [&](size_t set, ArrayRef<HostTensor> states) -> llvm::Error {
              if (set >= reference.size())
                return llvm::createStringError("calibration sets changed between runs");
              return accumulateCosine(reference[set], states.front(), sum, tokens);
            }))
      return std::move(error);
    change[b] = tokens ? 1.0 - sum / double(tokens) : 0.0;
  }
  return change;
}
