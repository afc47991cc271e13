// A reduction with few outputs and a long reduced dimension becomes a
// thread block per output element: each thread folds a strided share of the
// dimension, the block combines the shares (gpu.all_reduce), and its first
// thread writes the output. One thread per output (what
// convert-linalg-to-parallel-loops gives) would walk the whole dimension
// alone: a norm's 4096-element row one dependent load at a time.
#include "passes/cpu/RuntimeCalls.h"
#include "passes/gpu/Passes.h"

#include "mlir/Analysis/SliceAnalysis.h"
#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/Utils/Utils.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/PatternMatch.h"
#include "llvm/ADT/TypeSwitch.h"

#include <optional>

namespace compress {
#define GEN_PASS_DEF_GPUBLOCKREDUCTIONSPASS
#include "passes/gpu/Passes.h.inc"
} // namespace compress

using namespace mlir;

namespace {

/// How a combiner op folds across threads, and its identity.
struct Combiner {
  gpu::AllReduceOperation across;
  arith::AtomicRMWKind identity;
};

std::optional<Combiner> classify(Operation *op) {
  using G = gpu::AllReduceOperation;
  using K = arith::AtomicRMWKind;
  return llvm::TypeSwitch<Operation *, std::optional<Combiner>>(op)
      .Case([](arith::AddFOp) { return Combiner{G::ADD, K::addf}; })
      .Case([](arith::AddIOp) { return Combiner{G::ADD, K::addi}; })
      .Case([](arith::MulFOp) { return Combiner{G::MUL, K::mulf}; })
      .Case([](arith::MulIOp) { return Combiner{G::MUL, K::muli}; })
      .Case([](arith::MaximumFOp) { return Combiner{G::MAXIMUMF, K::maximumf}; })
      .Case([](arith::MinimumFOp) { return Combiner{G::MINIMUMF, K::minimumf}; })
      .Case([](arith::MaxNumFOp) { return Combiner{G::MAXNUMF, K::maxnumf}; })
      .Case([](arith::MinNumFOp) { return Combiner{G::MINNUMF, K::minnumf}; })
      .Case([](arith::MaxSIOp) { return Combiner{G::MAXSI, K::maxs}; })
      .Case([](arith::MinSIOp) { return Combiner{G::MINSI, K::mins}; })
      .Case([](arith::MaxUIOp) { return Combiner{G::MAXUI, K::maxu}; })
      .Case([](arith::MinUIOp) { return Combiner{G::MINUI, K::minu}; })
      .Case([](arith::AndIOp) { return Combiner{G::AND, K::andi}; })
      .Case([](arith::OrIOp) { return Combiner{G::OR, K::ori}; })
      .Default([](Operation *) { return std::nullopt; });
}

/// What a rewritable reduction is made of.
struct Match {
  Operation *combiner;
  Combiner kind;
  /// The value folded into the output (the payload without the combiner).
  Value folded;
};

/// A generic on buffers with one output, one reduction dimension (the last:
/// compress-gpu-prepare-loops put it there), and a payload that ends by
/// folding a value into the output with one of classify()'s ops.
std::optional<Match> matchBlockReduction(linalg::GenericOp op) {
  if (!op.hasPureBufferSemantics() || op.getNumDpsInits() != 1 || op.getNumReductionLoops() != 1)
    return std::nullopt;
  unsigned last = op.getNumLoops() - 1;
  if (!linalg::isReductionIterator(op.getIteratorTypesArray()[last]))
    return std::nullopt;
  if (op.getMatchingIndexingMap(op.getDpsInitOperand(0)).isFunctionOfDim(last))
    return std::nullopt;
  SmallVector<Operation *> combiners;
  Value folded = matchReduction(op.getRegionOutputArgs(), 0, combiners);
  if (!folded || combiners.size() != 1)
    return std::nullopt;
  std::optional<Combiner> kind = classify(combiners.front());
  if (!kind)
    return std::nullopt;
  return Match{combiners.front(), *kind, folded};
}

/// Threads of a block for `extent` reduced elements (unknown: 0): each
/// takes about four elements, a warp at least, 256 at most.
int64_t threadsFor(int64_t extent) {
  if (extent <= 0)
    return 256;
  int64_t threads = 32;
  while (threads < 256 && threads * 8 <= extent)
    threads *= 2;
  return threads;
}

/// The values of `map`'s results at `ivs` (a projection gives the iv itself).
SmallVector<Value> applyMap(OpBuilder &b, Location loc, AffineMap map, ValueRange ivs) {
  SmallVector<Value> indices;
  for (unsigned i = 0; i < map.getNumResults(); ++i)
    indices.push_back(getValueOrCreateConstantIndexOp(
        b, loc,
        affine::makeComposedFoldedAffineApply(b, loc, map.getSubMap({i}),
                                              getAsOpFoldResult(llvm::to_vector(ivs)))));
  return indices;
}

/// gpu.launch (a block per output, `threads` threads) {
///   share = fold of the thread's strided elements; total = all_reduce;
///   thread 0: out = combine(out, total) }
/// A launch, not a nest of mapped parallel loops: canonicalize would merge
/// such a nest into one loop, which the grid mapping then spreads over
/// threads of several outputs.
void rewrite(linalg::GenericOp op, const Match &match) {
  OpBuilder b(op);
  Location loc = op.getLoc();
  SmallVector<Range> ranges = cast<linalg::LinalgOp>(op.getOperation()).createLoopRanges(b, loc);
  unsigned last = op.getNumLoops() - 1;
  // The loops start at 0 with step 1 (linalg.generic's iteration domain).
  SmallVector<OpFoldResult> outputSizes;
  for (unsigned i = 0; i < last; ++i)
    outputSizes.push_back(ranges[i].size);
  Value extent = getValueOrCreateConstantIndexOp(b, loc, ranges[last].size);
  std::optional<int64_t> staticExtent = getConstantIntValue(ranges[last].size);
  int64_t threads = threadsFor(staticExtent.value_or(0));

  Value zero = arith::ConstantIndexOp::create(b, loc, 0);
  Value one = arith::ConstantIndexOp::create(b, loc, 1);
  // The output count: one constant when the sizes are static.
  std::optional<int64_t> staticOutputs = 1;
  for (OpFoldResult size : outputSizes) {
    std::optional<int64_t> bound = getConstantIntValue(size);
    staticOutputs = staticOutputs && bound ? std::optional(*staticOutputs * *bound) : std::nullopt;
  }
  Value outputs;
  if (staticOutputs) {
    outputs = arith::ConstantIndexOp::create(b, loc, *staticOutputs);
  } else {
    for (OpFoldResult size : outputSizes) {
      Value bound = getValueOrCreateConstantIndexOp(b, loc, size);
      outputs = outputs ? arith::MulIOp::create(b, loc, outputs, bound).getResult() : bound;
    }
  }
  // A fill just before that the reduction overwrites whole (its output map
  // names every parallel dimension) is its start value: no kernel of its own.
  OpOperand *init = op.getDpsInitOperand(0);
  AffineMap initMap = op.getMatchingIndexingMap(init);
  linalg::FillOp fill;
  if (initMap.isProjectedPermutation() && initMap.getNumResults() == last)
    fill = compress::fillBefore(op, init->get());
  Value threadCount = arith::ConstantIndexOp::create(b, loc, threads);
  auto launch = gpu::LaunchOp::create(b, loc, outputs, one, one, threadCount, one, one);
  b.setInsertionPointToStart(&launch.getBody().front());
  gpu::TerminatorOp::create(b, loc);
  b.setInsertionPointToStart(&launch.getBody().front());
  Value lane = launch.getThreadIds().x;
  SmallVector<Value> outputIvs;
  if (!outputSizes.empty())
    outputIvs = affine::AffineDelinearizeIndexOp::create(b, loc, launch.getBlockIds().x,
                                                         outputSizes, /*hasOuterBound=*/true)
                    .getResults();

  Type elementType = match.combiner->getResult(0).getType();
  Value identity = arith::getIdentityValue(match.kind.identity, elementType, b, loc);
  auto share = scf::ForOp::create(
      b, loc, lane, extent, threadCount, ValueRange{identity},
      [&](OpBuilder &nested, Location loc, Value k, ValueRange carried) {
        SmallVector<Value> ivs(outputIvs);
        ivs.push_back(k);
        IRMapping values;
        Block *payload = op.getBody();
        for (OpOperand *input : op.getDpsInputOperands()) {
          Value operand = input->get();
          Value element = operand;
          if (isa<MemRefType>(operand.getType()))
            element = memref::LoadOp::create(
                nested, loc, operand,
                applyMap(nested, loc, op.getMatchingIndexingMap(input), ivs));
          values.map(payload->getArgument(input->getOperandNumber()), element);
        }
        for (Operation &inner : payload->without_terminator()) {
          if (&inner == match.combiner)
            continue;
          if (auto index = dyn_cast<linalg::IndexOp>(inner)) {
            values.map(index.getResult(), ivs[index.getDim()]);
            continue;
          }
          nested.clone(inner, values);
        }
        Value element = values.lookupOrDefault(match.folded);
        IRMapping fold;
        fold.map(match.combiner->getOperands(),
                 match.combiner->getOperand(0) == match.folded
                     ? SmallVector<Value>{element, carried[0]}
                     : SmallVector<Value>{carried[0], element});
        Value next = nested.clone(*match.combiner, fold)->getResult(0);
        scf::YieldOp::create(nested, loc, next);
      });

  auto across = gpu::AllReduceOperationAttr::get(op.getContext(), match.kind.across);
  Value total =
      gpu::AllReduceOp::create(b, loc, share.getResult(0), across, /*uniform=*/true).getResult();
  Value first = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, lane, zero);
  auto store = scf::IfOp::create(b, loc, first, /*withElseRegion=*/false);
  b.setInsertionPointToStart(&store.getThenRegion().front());
  SmallVector<Value> outIndices =
      applyMap(b, loc, initMap, llvm::to_vector(llvm::concat<Value>(outputIvs, ValueRange{zero})));
  Value old = fill ? fill.getInputs().front()
                   : memref::LoadOp::create(b, loc, init->get(), outIndices).getResult();
  IRMapping fold;
  Value outArg = op.getRegionOutputArgs()[0];
  fold.map(match.combiner->getOperands(), match.combiner->getOperand(0) == outArg
                                              ? SmallVector<Value>{old, total}
                                              : SmallVector<Value>{total, old});
  Value combined = b.clone(*match.combiner, fold)->getResult(0);
  memref::StoreOp::create(b, loc, combined, init->get(), outIndices);
  if (fill)
    fill.erase();
  op.erase();
}

struct GpuBlockReductionsPass
    : compress::impl::GpuBlockReductionsPassBase<GpuBlockReductionsPass> {
  using Base::Base;

  void runOnOperation() override {
    SmallVector<std::pair<linalg::GenericOp, Match>> found;
    getOperation().walk([&](linalg::GenericOp op) {
      if (std::optional<Match> match = matchBlockReduction(op); match && worthIt(op))
        found.push_back({op, *match});
    });
    for (auto &[op, match] : found)
      rewrite(op, match);
  }

  /// Enough reduced elements to share, and outputs few enough that one
  /// thread each would leave most of the GPU idle or its loads uncoalesced
  /// (unknown counts: yes).
  bool worthIt(linalg::GenericOp op) {
    SmallVector<int64_t> bounds = op.getStaticLoopRanges();
    int64_t extent = bounds.back();
    if (!ShapedType::isDynamic(extent) && extent < minExtent)
      return false;
    int64_t outputs = 1;
    for (int64_t bound : ArrayRef(bounds).drop_back()) {
      if (ShapedType::isDynamic(bound))
        return true;
      outputs *= bound;
    }
    return outputs <= maxOutputs;
  }
};

} // namespace
