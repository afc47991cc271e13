// Every loop that touches memory becomes a GPU grid: parallel loops one
// thread per iteration, anything else one thread, so that host code only
// allocates, launches and frees.
#include "passes/gpu/HostBuffers.h"
#include "passes/gpu/Passes.h"

#include "mlir/Dialect/GPU/Transforms/ParallelLoopMapper.h"
#include "mlir/Dialect/SCF/Transforms/Transforms.h"
#include "mlir/Dialect/SCF/Utils/Utils.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "mlir/Interfaces/ViewLikeInterface.h"

#include <numeric>

namespace compress {
#define GEN_PASS_DEF_GPUMAPLOOPSPASS
#include "passes/gpu/Passes.h.inc"
} // namespace compress

using namespace mlir;

namespace {

gpu::ParallelLoopDimMappingAttr dimMapping(MLIRContext *ctx, gpu::Processor processor) {
  AffineMap identity = AffineMap::getMultiDimIdentityMap(1, ctx);
  return gpu::ParallelLoopDimMappingAttr::get(ctx, processor, identity, identity);
}

void mapAll(scf::ParallelOp loop, gpu::Processor processor) {
  SmallVector<gpu::ParallelLoopDimMappingAttr> mapping(
      loop.getNumLoops(), dimMapping(loop.getContext(), processor));
  (void)gpu::setMappingAttr(loop, mapping);
}

/// Host code may allocate, free, make views, call the runtime, launch
/// kernels made before (compress-gpu-block-reductions) and use host
/// buffers; anything else that touches memory runs on the device.
bool runsOnDevice(Operation *op) {
  if (auto branch = dyn_cast<scf::IfOp>(op))
    return !compress::isHostValue(branch.getCondition());
  if (isa<scf::ParallelOp, gpu::LaunchOp, memref::AllocOp, memref::AllocaOp, memref::DeallocOp,
          func::CallOp, func::ReturnOp, ViewLikeOpInterface>(op))
    return false;
  if (auto load = dyn_cast<memref::LoadOp>(op))
    return !compress::isHostBuffer(load.getMemRef());
  if (auto store = dyn_cast<memref::StoreOp>(op))
    return !compress::isHostBuffer(store.getMemRef());
  return !isMemoryEffectFree(op);
}

/// A reshape reads its shape operand on the host: only a host buffer will
/// do.
LogicalResult checkHostReads(Block &body) {
  for (auto reshape : body.getOps<memref::ReshapeOp>())
    if (!compress::isHostBuffer(reshape.getShape()))
      return reshape.emitError("a reshape to a shape computed at run time would read device "
                               "memory on the host");
  return success();
}

bool usesAnyOf(Operation *op, const llvm::SmallPtrSetImpl<Operation *> &group) {
  return llvm::any_of(op->getOperands(), [&](Value v) {
    Operation *def = v.getDefiningOp();
    return def && group.contains(def);
  });
}

struct GpuMapLoopsPass : compress::impl::GpuMapLoopsPassBase<GpuMapLoopsPass> {
  using Base::Base;

  void runOnOperation() override {
    func::FuncOp func = getOperation();
    if (func.isExternal())
      return;
    if (failed(mapBlock(func.getBody().front())))
      return signalPassFailure();
  }

  /// The host's code of `body` launches, allocates and branches; the
  /// branches of an scf.if on a host value (an ONNX If whose condition the
  /// host reads) are host code too, mapped the same way.
  LogicalResult mapBlock(Block &body) {
    if (failed(checkHostReads(body)) || failed(wrapHostMemoryAccesses(body)))
      return failure();
    SmallVector<scf::ParallelOp> loops(body.getOps<scf::ParallelOp>());
    for (scf::ParallelOp loop : loops)
      if (failed(mapToGrid(loop)))
        return failure();
    cloneGlobalsIntoKernels(body);
    for (auto branch : body.getOps<scf::IfOp>())
      for (Region &region : branch->getRegions())
        if (!region.empty() && failed(mapBlock(region.front())))
          return failure();
    return success();
  }

  /// Wraps each run of top-level ops that touch memory (with the pure ops
  /// computing from them) in a one-iteration parallel loop, placed after
  /// the run so that pure ops it skipped still come first.
  LogicalResult wrapHostMemoryAccesses(Block &body) {
    SmallVector<SmallVector<Operation *>> groups;
    SmallVector<Operation *> current;
    llvm::SmallPtrSet<Operation *, 16> inCurrent;
    auto close = [&] {
      while (!current.empty() && !runsOnDevice(current.back()))
        inCurrent.erase(current.pop_back_val());
      if (!current.empty())
        groups.push_back(current);
      current.clear();
      inCurrent.clear();
    };
    for (Operation &op : body) {
      if (runsOnDevice(&op)) {
        current.push_back(&op);
        inCurrent.insert(&op);
      } else if (!current.empty() && isMemoryEffectFree(&op) && op.getNumRegions() == 0 &&
                 usesAnyOf(&op, inCurrent)) {
        current.push_back(&op);
        inCurrent.insert(&op);
      } else if (!isMemoryEffectFree(&op) || op.getNumRegions() != 0) {
        close();
      }
    }
    close();
    for (ArrayRef<Operation *> group : groups) {
      llvm::SmallPtrSet<Operation *, 16> members(group.begin(), group.end());
      for (Operation *op : group)
        for (Operation *user : op->getUsers())
          if (!members.contains(user) &&
              !llvm::any_of(group, [&](Operation *m) { return m->isAncestor(user); }))
            return user->emitError("compiled code would read device memory on the host here "
                                   "(a value loaded by the GPU used by host code)");
      OpBuilder b(group.back()->getNextNode());
      Location loc = group.front()->getLoc();
      Value zero = arith::ConstantIndexOp::create(b, loc, 0);
      Value one = arith::ConstantIndexOp::create(b, loc, 1);
      auto wrapper = scf::ParallelOp::create(b, loc, ValueRange{zero}, ValueRange{one},
                                             ValueRange{one});
      Block *inner = wrapper.getBody();
      for (Operation *op : group)
        op->moveBefore(inner->getTerminator());
      mapAll(wrapper, gpu::Processor::BlockX);
    }
    return success();
  }

  /// One dimension (the last fastest), `blockSize` threads per block.
  LogicalResult mapToGrid(scf::ParallelOp loop) {
    if (loop->hasAttr(gpu::getMappingAttrName()))
      return success(); // a wrapper made above
    if (loop.getNumResults() != 0)
      return loop.emitError("a parallel loop with reductions cannot be mapped to the GPU");
    loop.walk([&](scf::ParallelOp nested) {
      if (nested != loop)
        mapAll(nested, gpu::Processor::Sequential);
    });
    if (loop.getNumLoops() > 1) {
      Operation *next = loop->getNextNode();
      IRRewriter rewriter(loop.getContext());
      std::vector<unsigned> all(loop.getNumLoops());
      std::iota(all.begin(), all.end(), 0);
      collapseParallelLoops(rewriter, loop, {all});
      loop = cast<scf::ParallelOp>(next->getPrevNode());
    }
    auto [blocks, threads] = scf::tileParallelLoop(loop, {blockSize}, /*noMinMaxBounds=*/true);
    mapAll(blocks, gpu::Processor::BlockX);
    mapAll(threads, gpu::Processor::ThreadX);
    return success();
  }

  /// A kernel reads a constant global from its own module: outlining copies
  /// the globals its body names. Views of a global (a reshape, a subview)
  /// are cloned into the kernel with it.
  void cloneGlobalsIntoKernels(Block &body) {
    for (auto loop : llvm::make_early_inc_range(body.getOps<scf::ParallelOp>())) {
      OpBuilder b(loop.getBody(), loop.getBody()->begin());
      IRMapping copies;
      loop.walk([&](Operation *op) {
        for (OpOperand &operand : op->getOpOperands())
          if (isGlobalView(operand.get()) && !loop->isAncestor(operand.get().getParentBlock()->getParentOp()))
            operand.set(cloneInto(operand.get(), b, copies));
      });
    }
    // What the host no longer reads goes (views only describe memory).
    for (Operation &op : llvm::make_early_inc_range(llvm::reverse(body)))
      if (isa<memref::GetGlobalOp, arith::SelectOp, ViewLikeOpInterface>(op) && op.use_empty())
        op.erase();
  }

  /// A constant global, a view of one, or a choice between two (an If
  /// whose branches yield constants).
  static bool isGlobalView(Value v) {
    Operation *def = v.getDefiningOp();
    if (!def || !isa<MemRefType>(v.getType()))
      return false;
    if (isa<memref::GetGlobalOp>(def))
      return true;
    if (auto select = dyn_cast<arith::SelectOp>(def))
      return isGlobalView(select.getTrueValue()) && isGlobalView(select.getFalseValue());
    return isa<ViewLikeOpInterface>(def) &&
           llvm::any_of(def->getOperands(), [](Value operand) { return isGlobalView(operand); });
  }

  static Value cloneInto(Value v, OpBuilder &b, IRMapping &copies) {
    if (copies.contains(v))
      return copies.lookup(v);
    Operation *def = v.getDefiningOp();
    for (Value operand : def->getOperands())
      if (isGlobalView(operand))
        cloneInto(operand, b, copies);
    b.clone(*def, copies);
    return copies.lookup(v);
  }
};

} // namespace
