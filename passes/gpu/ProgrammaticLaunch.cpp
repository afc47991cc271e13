// Kernels for Hopper and later open with griddepcontrol.wait and
// griddepcontrol.launch_dependents, so that the runtime may launch each one
// as a programmatic dependent launch of the kernel before it.
#include "passes/gpu/Passes.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"

namespace compress {
#define GEN_PASS_DEF_GPUPROGRAMMATICLAUNCHPASS
#include "passes/gpu/Passes.h.inc"
} // namespace compress

using namespace mlir;

namespace {

/// The compute capability of `sm_90`, `sm_90a`, `sm_100`...; 0 when the name
/// is not of that form.
unsigned computeCapability(StringRef chip) {
  unsigned capability = 0;
  if (!chip.consume_front("sm_"))
    return 0;
  chip = chip.rtrim("af");
  return chip.getAsInteger(10, capability) ? 0 : capability;
}

bool targetsHopperOrLater(gpu::GPUModuleOp module) {
  ArrayAttr targets = module.getTargetsAttr();
  if (!targets || targets.empty())
    return false;
  for (Attribute target : targets) {
    auto nvvm = dyn_cast<NVVM::NVVMTargetAttr>(target);
    if (!nvvm || computeCapability(nvvm.getChip()) < 90)
      return false;
  }
  return true;
}

struct GpuProgrammaticLaunchPass
    : compress::impl::GpuProgrammaticLaunchPassBase<GpuProgrammaticLaunchPass> {
  void runOnOperation() override {
    gpu::GPUModuleOp module = getOperation();
    if (!targetsHopperOrLater(module))
      return;
    for (auto kernel : module.getOps<gpu::GPUFuncOp>()) {
      if (!kernel.isKernel() || kernel.isExternal())
        continue;
      OpBuilder builder(&kernel.getBody().front(), kernel.getBody().front().begin());
      builder.create<NVVM::GriddepcontrolOp>(kernel.getLoc(), NVVM::GridDepActionKind::wait);
      builder.create<NVVM::GriddepcontrolOp>(kernel.getLoc(),
                                             NVVM::GridDepActionKind::launch_dependents);
    }
  }
};

} // namespace
