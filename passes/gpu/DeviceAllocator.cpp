// Compiled host code of the CUDA target allocates through the CUDA runtime:
// the generic allocation functions of finalize-memref-to-llvm are renamed.
#include "passes/gpu/Passes.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/SymbolTable.h"

namespace compress {
#define GEN_PASS_DEF_GPUDEVICEALLOCATORPASS
#include "passes/gpu/Passes.h.inc"
} // namespace compress

using namespace mlir;

namespace {

struct GpuDeviceAllocatorPass
    : compress::impl::GpuDeviceAllocatorPassBase<GpuDeviceAllocatorPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    const std::pair<StringRef, StringRef> renames[] = {
        {"_mlir_memref_to_llvm_alloc", "compress_cuda_alloc"},
        {"_mlir_memref_to_llvm_aligned_alloc", "compress_cuda_aligned_alloc"},
        {"_mlir_memref_to_llvm_free", "compress_cuda_free"},
    };
    for (auto [from, to] : renames) {
      auto func = module.lookupSymbol<LLVM::LLVMFuncOp>(from);
      if (!func)
        continue;
      auto name = StringAttr::get(module.getContext(), to);
      if (failed(SymbolTable::replaceAllSymbolUses(func, name, module))) {
        func.emitError("cannot rename the allocation function ") << from;
        return signalPassFailure();
      }
      SymbolTable::setSymbolName(func, name);
    }
  }
};

} // namespace
