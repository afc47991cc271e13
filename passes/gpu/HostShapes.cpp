// Small index buffers that host code reads stay in host memory: shapes the
// host computes, copies of small inputs the host loads from, and copies of
// single elements kernels computed that size the host's work.
#include "passes/cpu/RuntimeCalls.h"
#include "passes/gpu/HostBuffers.h"
#include "passes/gpu/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Interfaces/ViewLikeInterface.h"

namespace compress {
#define GEN_PASS_DEF_GPUHOSTSHAPESPASS
#include "passes/gpu/Passes.h.inc"
} // namespace compress

using namespace mlir;

namespace {

constexpr llvm::StringLiteral kCopyToHostSymbol = "compress_cuda_copy_to_host";

bool isTopLevel(Operation *op, Block &body) { return op->getBlock() == &body; }

/// Read by top-level loads only, directly or through views.
bool onlyReadByHost(Value view, Block &body) {
  return llvm::all_of(view.getUsers(), [&](Operation *user) {
    if (!isTopLevel(user, body))
      return false;
    if (auto nested = dyn_cast<ViewLikeOpInterface>(user))
      return onlyReadByHost(nested->getResult(0), body);
    return isa<memref::LoadOp>(user);
  });
}

/// An alloc the host fills and reads: every user a top-level store of a
/// value computed on the host, a load (directly or through views), a
/// reshape's shape, or its dealloc.
bool isHostFilled(memref::AllocOp alloc, Block &body) {
  for (OpOperand &use : alloc->getUses()) {
    Operation *user = use.getOwner();
    if (!isTopLevel(user, body))
      return false;
    if (auto store = dyn_cast<memref::StoreOp>(user)) {
      if (use.get() != store.getMemRef() || use.get() == store.getValue() ||
          !compress::isHostValue(store.getValue()))
        return false;
      continue;
    }
    if (auto reshape = dyn_cast<memref::ReshapeOp>(user); reshape && use.get() == reshape.getShape())
      continue;
    if (auto view = dyn_cast<ViewLikeOpInterface>(user);
        view && use.get() == view.getViewSource() && onlyReadByHost(view->getResult(0), body))
      continue;
    if (!isa<memref::LoadOp, memref::DeallocOp>(user))
      return false;
  }
  return true;
}

struct GpuHostShapesPass : compress::impl::GpuHostShapesPassBase<GpuHostShapesPass> {
  using Base::Base;

  void runOnOperation() override {
    func::FuncOp func = getOperation();
    if (func.isExternal())
      return;
    Block &body = func.getBody().front();
    // First: a shape computed from a small input's values is then computed
    // from the host copy, so the host can fill its buffer.
    for (BlockArgument argument : func.getArguments())
      copyReadInputToHost(func, argument);
    OpBuilder b(&getContext());
    for (auto alloc : llvm::make_early_inc_range(body.getOps<memref::AllocOp>())) {
      if (!isHostFilled(alloc, body))
        continue;
      for (Operation *user : llvm::make_early_inc_range(alloc->getUsers()))
        if (isa<memref::DeallocOp>(user))
          user->erase();
      b.setInsertionPoint(alloc);
      auto alloca = memref::AllocaOp::create(b, alloc.getLoc(), alloc.getType(),
                                             alloc.getDynamicSizes());
      alloc.replaceAllUsesWith(alloca.getResult());
      alloc.erase();
    }
    for (auto load : llvm::make_early_inc_range(body.getOps<memref::LoadOp>()))
      if (!compress::isHostBuffer(load.getMemRef()) && sizesHostWork(load.getResult(), body))
        readElementOnHost(func, load);
  }

  /// Whether host code uses `value` (through top-level pure ops): as an
  /// allocation's size, a loop's bounds, a view's sizes, a call's
  /// operand, or a branch's condition.
  static bool sizesHostWork(Value value, Block &body) {
    return llvm::any_of(value.getUsers(), [&](Operation *user) {
      if (!isTopLevel(user, body))
        return false;
      if (isa<memref::AllocOp, memref::AllocaOp, scf::ParallelOp, scf::ForOp, func::CallOp,
              ViewLikeOpInterface>(user))
        return true;
      if (auto branch = dyn_cast<scf::IfOp>(user))
        return branch.getCondition() == value;
      return isMemoryEffectFree(user) && user->getNumRegions() == 0 &&
             llvm::any_of(user->getResults(), [&](Value r) { return sizesHostWork(r, body); });
    });
  }

  /// A top-level load of device memory whose value host code needs (the
  /// number of tokens a router kept, which sizes the compacted rows) reads
  /// a host copy of its one element, made at that point (the copy waits for
  /// the kernels before it).
  void readElementOnHost(func::FuncOp func, memref::LoadOp load) {
    Type element = load.getType();
    unsigned bits = element.isIndex() ? 64 : element.getIntOrFloatBitWidth();
    if (bits != 1 && bits % 8 != 0)
      return; // left to compress-gpu-map-loops, which says where.
    bits = llvm::alignTo(bits, 8); // a boolean takes a byte
    ModuleOp module = func->getParentOfType<ModuleOp>();
    OpBuilder b(load);
    Type i64 = b.getI64Type();
    Location loc = load.getLoc();
    func::FuncOp callee = compress::declareRuntimeFunction(
        module, kCopyToHostSymbol, b.getFunctionType({i64, i64, i64}, {}));
    Value buffer = load.getMemRef();
    auto metadata = memref::ExtractStridedMetadataOp::create(b, loc, buffer);
    Value linear = metadata.getOffset();
    for (auto [index, stride] : llvm::zip(load.getIndices(), metadata.getStrides()))
      linear = arith::AddIOp::create(b, loc, linear, arith::MulIOp::create(b, loc, index, stride));
    Value bytes = arith::ConstantIndexOp::create(b, loc, bits / 8);
    Value base = memref::ExtractAlignedPointerAsIndexOp::create(b, loc, buffer);
    Value device = arith::AddIOp::create(b, loc, base, arith::MulIOp::create(b, loc, linear, bytes));
    Value copy = memref::AllocaOp::create(b, loc, MemRefType::get({}, element));
    Value host = memref::ExtractAlignedPointerAsIndexOp::create(b, loc, copy);
    auto toI64 = [&](Value index) { return arith::IndexCastOp::create(b, loc, i64, index).getResult(); };
    func::CallOp::create(b, loc, callee, ValueRange{toI64(host), toI64(device), toI64(bytes)});
    b.setInsertionPoint(load);
    auto hostLoad = memref::LoadOp::create(b, loc, copy, ValueRange{});
    load.getResult().replaceAllUsesWith(hostLoad.getResult());
    load.erase();
  }

  /// Host loads of a small input read a host copy made on entry.
  void copyReadInputToHost(func::FuncOp func, BlockArgument argument) {
    Block &body = func.getBody().front();
    auto type = dyn_cast<MemRefType>(argument.getType());
    if (!type || !type.hasStaticShape() || type.getNumElements() > maxElements ||
        !type.getLayout().isIdentity())
      return;
    SmallVector<memref::LoadOp> hostLoads;
    for (Operation *user : argument.getUsers())
      if (auto load = dyn_cast<memref::LoadOp>(user); load && isTopLevel(load, body))
        hostLoads.push_back(load);
    if (hostLoads.empty())
      return;
    ModuleOp module = func->getParentOfType<ModuleOp>();
    OpBuilder b(&getContext());
    Type i64 = b.getI64Type();
    func::FuncOp callee = compress::declareRuntimeFunction(
        module, kCopyToHostSymbol, b.getFunctionType({i64, i64, i64}, {}));
    b.setInsertionPointToStart(&body);
    Location loc = argument.getLoc();
    Value copy = memref::AllocaOp::create(b, loc, type);
    auto address = [&](Value buffer) {
      Value index = memref::ExtractAlignedPointerAsIndexOp::create(b, loc, buffer);
      return arith::IndexCastOp::create(b, loc, i64, index).getResult();
    };
    // A boolean takes a byte in memory (as numpy's).
    int64_t bytes = type.getNumElements() * llvm::divideCeil(type.getElementTypeBitWidth(), 8);
    func::CallOp::create(b, loc, callee,
                         ValueRange{address(copy), address(argument),
                                    arith::ConstantIntOp::create(b, loc, i64, bytes)});
    for (memref::LoadOp load : hostLoads)
      load.getMemrefMutable().assign(copy);
  }
};

} // namespace
