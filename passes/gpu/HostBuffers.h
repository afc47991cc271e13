// What the CUDA lowering keeps in host memory, shared by
// compress-gpu-host-shapes (which makes such buffers) and
// compress-gpu-map-loops (which leaves their loads and stores on the host).
#ifndef COMPRESS_PASSES_GPU_HOSTBUFFERS_H
#define COMPRESS_PASSES_GPU_HOSTBUFFERS_H

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "mlir/Interfaces/ViewLikeInterface.h"

namespace compress {

/// A buffer in host memory, or a view of one: a constant global, or one
/// that compress-gpu-host-shapes put on the host stack.
inline bool isHostBuffer(mlir::Value buffer) {
  if (auto view = buffer.getDefiningOp<mlir::ViewLikeOpInterface>())
    return isHostBuffer(view.getViewSource());
  return buffer.getDefiningOp<mlir::memref::GetGlobalOp>() ||
         buffer.getDefiningOp<mlir::memref::AllocaOp>();
}

/// A scalar the host computes without reading device memory: an argument,
/// a load from a host buffer, or the result of a pure op or a runtime call
/// over such values (a shape, the condition of an If the host branches on).
inline bool isHostValue(mlir::Value value) {
  mlir::Operation *def = value.getDefiningOp();
  if (!def)
    return true;
  if (auto load = llvm::dyn_cast<mlir::memref::LoadOp>(def))
    return isHostBuffer(load.getMemRef());
  // Host code calls the runtime on the host (a count checked against a size).
  if (llvm::isa<mlir::func::CallOp>(def))
    return llvm::all_of(def->getOperands(), isHostValue);
  return mlir::isMemoryEffectFree(def) && def->getNumRegions() == 0 &&
         llvm::all_of(def->getOperands(), isHostValue);
}

} // namespace compress

#endif
