// Shapes parallel loop nests for the CPU: threads share the outer
// dimensions, the innermost stays a sequential loop that LLVM vectorises.
#include "passes/cpu/Passes.h"

#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/IR/IRMapping.h"

namespace compress {
#define GEN_PASS_DEF_PARALLELIZEOUTERLOOPSPASS
#include "passes/cpu/Passes.h.inc"
} // namespace compress

using namespace mlir;
using llvm::SmallVector;

namespace {

/// Clones the body of `loop` (without its terminator) at `b`'s insertion
/// point, its induction variables replaced by `ivs`.
void cloneBody(OpBuilder &b, scf::ParallelOp loop, ValueRange ivs) {
  IRMapping mapping;
  mapping.map(loop.getInductionVars(), ivs);
  for (Operation &op : loop.getBody()->without_terminator())
    b.clone(op, mapping);
}

/// Emits sequential loops over dimensions [from, to) of `loop` around its
/// body; `outer` holds the induction variables already defined.
void emitSequential(OpBuilder &b, Location loc, scf::ParallelOp loop, unsigned from,
                    unsigned to, SmallVector<Value> outer) {
  if (from == to) {
    cloneBody(b, loop, outer);
    return;
  }
  scf::ForOp::create(b, loc, loop.getLowerBound()[from], loop.getUpperBound()[from],
                     loop.getStep()[from], ValueRange{},
                     [&](OpBuilder &nb, Location l, Value iv, ValueRange) {
                       SmallVector<Value> ivs(outer);
                       ivs.push_back(iv);
                       emitSequential(nb, l, loop, from + 1, to, ivs);
                       scf::YieldOp::create(nb, l);
                     });
}

std::optional<int64_t> tripCount(scf::ParallelOp loop, unsigned dim) {
  auto lb = getConstantIntValue(loop.getLowerBound()[dim]);
  auto ub = getConstantIntValue(loop.getUpperBound()[dim]);
  auto step = getConstantIntValue(loop.getStep()[dim]);
  if (!lb || !ub || !step || *step <= 0)
    return std::nullopt;
  return std::max<int64_t>(0, (*ub - *lb + *step - 1) / *step);
}

/// Iterations of the sequential loops in `block`, the deepest nest's (an
/// unknown trip count is taken as large).
int64_t sequentialWork(Block &block) {
  int64_t work = 1;
  for (Operation &op : block) {
    auto loop = dyn_cast<scf::ForOp>(op);
    if (!loop)
      continue;
    auto lb = getConstantIntValue(loop.getLowerBound());
    auto ub = getConstantIntValue(loop.getUpperBound());
    auto step = getConstantIntValue(loop.getStep());
    int64_t trips = lb && ub && step && *step > 0 ? (*ub - *lb + *step - 1) / *step : 1024;
    work = std::max(work, std::max<int64_t>(trips, 1) * sequentialWork(*loop.getBody()));
  }
  return work;
}

struct ParallelizeOuterLoopsPass
    : compress::impl::ParallelizeOuterLoopsPassBase<ParallelizeOuterLoopsPass> {
  using Base::Base;

  void runOnOperation() override {
    SmallVector<scf::ParallelOp> loops;
    getOperation()->walk([&](scf::ParallelOp loop) {
      if (loop.getNumResults() == 0)
        loops.push_back(loop);
    });
    // Innermost first: a nested parallel loop becomes sequential before its
    // parent is reshaped (and cloned).
    for (scf::ParallelOp loop : loops) {
      bool nested = loop->getParentOfType<scf::ParallelOp>() != nullptr;
      reshape(loop, nested);
    }
  }

  void reshape(scf::ParallelOp loop, bool nested) {
    OpBuilder b(loop);
    Location loc = loop.getLoc();
    unsigned rank = loop.getNumLoops();
    std::optional<int64_t> total = sequentialWork(*loop.getBody());
    for (unsigned d = 0; d < rank && total; ++d) {
      std::optional<int64_t> n = tripCount(loop, d);
      total = n ? std::optional<int64_t>(*total * *n) : std::nullopt;
    }
    if (nested || (total && *total < minIterations)) {
      emitSequential(b, loc, loop, 0, rank, {});
      loop.erase();
      return;
    }
    if (rank >= 2) {
      // Threads over the outer dimensions, a vectorisable loop inside.
      scf::ParallelOp::create(
          b, loc, loop.getLowerBound().drop_back(), loop.getUpperBound().drop_back(),
          loop.getStep().drop_back(), [&](OpBuilder &nb, Location l, ValueRange ivs) {
            emitSequential(nb, l, loop, rank - 1, rank, SmallVector<Value>(ivs));
          });
      loop.erase();
      return;
    }
    // One dimension: threads over chunks, a sequential loop in each.
    Value lb = loop.getLowerBound()[0], ub = loop.getUpperBound()[0], step = loop.getStep()[0];
    Value chunkStep = arith::MulIOp::create(b, loc, step,
                                            arith::ConstantIndexOp::create(b, loc, chunk));
    scf::ParallelOp::create(
        b, loc, ValueRange{lb}, ValueRange{ub}, ValueRange{chunkStep},
        [&](OpBuilder &nb, Location l, ValueRange ivs) {
          Value end = arith::MinSIOp::create(nb, l, arith::AddIOp::create(nb, l, ivs[0], chunkStep),
                                             ub);
          scf::ForOp::create(nb, l, ivs[0], end, step, ValueRange{},
                             [&](OpBuilder &fb, Location fl, Value iv, ValueRange) {
                               cloneBody(fb, loop, ValueRange{iv});
                               scf::YieldOp::create(fb, fl);
                             });
        });
    loop.erase();
  }
};

} // namespace
