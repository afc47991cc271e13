// What the CUDA lowering keeps in host memory, shared by
// compress-gpu-host-shapes (which makes such buffers) and
// compress-gpu-map-loops (which leaves their loads and stores on the host).
#ifndef COMPRESS_PASSES_GPU_HOSTBUFFERS_H
#define COMPRESS_PASSES_GPU_HOSTBUFFERS_H

#include "mlir/Dialect/MemRef/IR/MemRef.h"
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

} // namespace compress

#endif
