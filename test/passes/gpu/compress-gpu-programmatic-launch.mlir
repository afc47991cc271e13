// RUN: compress-opt %s --split-input-file \
// RUN:   --pass-pipeline="builtin.module(gpu.module(compress-gpu-programmatic-launch))" | FileCheck %s

// Tests that kernels for Hopper open with the grid dependency controls of a
// programmatic dependent launch, before any memory access, and that device
// functions that are not kernels are left alone.
// CHECK-LABEL: gpu.module @hopper
// CHECK-LABEL: gpu.func @scale
// CHECK-NEXT:    nvvm.griddepcontrol{{ +}}wait
// CHECK-NEXT:    nvvm.griddepcontrol{{ +}}launch_dependents
// CHECK:         memref.load
// CHECK-LABEL: gpu.func @helper
// CHECK-NOT:     nvvm.griddepcontrol
// CHECK:         gpu.return
gpu.module @hopper [#nvvm.target<chip = "sm_90">] {
  gpu.func @scale(%buffer: memref<4xf32>) kernel {
    %c0 = arith.constant 0 : index
    %v = memref.load %buffer[%c0] : memref<4xf32>
    %twice = arith.addf %v, %v : f32
    memref.store %twice, %buffer[%c0] : memref<4xf32>
    gpu.return
  }
  gpu.func @helper(%x: f32) -> f32 {
    gpu.return %x : f32
  }
}

// -----

// Tests that sm_90a and later chips count as Hopper or later.
// CHECK-LABEL: gpu.module @hopper_arch_specific
// CHECK:         nvvm.griddepcontrol{{ +}}wait
gpu.module @hopper_arch_specific [#nvvm.target<chip = "sm_90a">] {
  gpu.func @empty() kernel {
    gpu.return
  }
}

// -----

// Tests that kernels for an Ampere chip, which has no grid dependency
// control, and kernels of a module without an NVVM target are left alone.
// CHECK-LABEL: gpu.module @ampere
// CHECK-NOT:     nvvm.griddepcontrol
// CHECK-LABEL: gpu.module @untargeted
// CHECK-NOT:     nvvm.griddepcontrol
gpu.module @ampere [#nvvm.target<chip = "sm_80">] {
  gpu.func @empty() kernel {
    gpu.return
  }
}
gpu.module @untargeted {
  gpu.func @empty() kernel {
    gpu.return
  }
}
