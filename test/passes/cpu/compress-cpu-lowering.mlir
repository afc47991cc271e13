// RUN: compress-opt %s --compress-cpu-lowering | FileCheck %s
// RUN: compress-opt %s --compress-cpu-lowering | FileCheck %s --check-prefix=ONLY-LLVM

// Tests that the CPU pipeline leaves only the LLVM dialect, with a C
// interface wrapper for the entry function, the product by a constant weight
// as a call of the packed-weight microkernel
// and math.erf approximated inline rather than called from libm.
// (The NOT checks run on their own, so that they cover the whole output.)
// ONLY-LLVM-NOT: linalg.
// ONLY-LLVM-NOT: compress.
// ONLY-LLVM-NOT: func.func
// ONLY-LLVM-NOT: {{= (arith|math|scf|memref|tensor|bufferization)\.}}
// ONLY-LLVM-NOT: @erff
// CHECK-DAG: llvm.func @compress_rt_contract_f32_constant_b(
// CHECK-DAG: llvm.func @main(
// CHECK-DAG: llvm.func @_mlir_ciface_main(
func.func @main(%x: tensor<2x8xf32>) -> tensor<2x4xf32> {
  %w = arith.constant dense<[[0.000, 0.125, 0.250, 0.375, 0.500, 0.625, 0.750, 0.875], [1.000, 1.125, 1.250, 1.375, 1.500, 1.625, 1.750, 1.875], [2.000, 2.125, 2.250, 2.375, 2.500, 2.625, 2.750, 2.875], [3.000, 3.125, 3.250, 3.375, 3.500, 3.625, 3.750, 3.875]]> : tensor<4x8xf32>
  %0 = compress.linear %x, %w : tensor<2x8xf32>, tensor<4x8xf32> -> tensor<2x4xf32>
  %1 = tensor.empty() : tensor<2x4xf32>
  %2 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%0 : tensor<2x4xf32>) outs(%1 : tensor<2x4xf32>) {
  ^bb0(%in: f32, %out: f32):
    %e = math.erf %in : f32
    linalg.yield %e : f32
  } -> tensor<2x4xf32>
  return %2 : tensor<2x4xf32>
}
