// RUN: compress-opt %s --compress-cuda-lowering="format=isa" | FileCheck %s --check-prefix=PTX
// RUN: compress-opt %s --compress-cuda-lowering | FileCheck %s --check-prefix=CUBIN

// Tests the CUDA target's lowering of a small model (a lookup with its
// run-time index check, a product, an exp): host code launches outlined
// kernels through the runtime, calls its GEMM for the product and allocates
// device memory through it; the
// kernels become PTX for sm_90 (polynomial exp, no libdevice) and, with
// ptxas, a cubin. Each kernel opens with the grid dependency controls of a
// programmatic dependent launch.
// PTX-DAG: llvm.func @compress_cuda_contract_f32
// PTX-DAG: llvm.func @compress_cuda_index_status
// PTX-DAG: llvm.func @compress_cuda_alloc
// PTX-LABEL: llvm.func @main
// PTX: gpu.launch_func @main_kernel::@main_kernel
// PTX: llvm.call @compress_cuda_contract_f32
// PTX: llvm.call @compress_cuda_index_status
// PTX: gpu.binary @main_kernel {{.*}}#nvvm.target<O = 3, chip = "sm_90">
// PTX-SAME: .target sm_90
// PTX-SAME: .visible .entry main_kernel(
// PTX-SAME: griddepcontrol.wait
// PTX-SAME: griddepcontrol.launch_dependents
// PTX: atom.acq_rel.sys.global.cas.b64
// PTX-NOT: __nv_
// CUBIN: gpu.binary @main_kernel {{.*}}bin = "\7FELF
func.func @main(%ids: tensor<4xi64>, %table: tensor<10x8xf32>, %w: tensor<8x8xf32>)
    -> tensor<4x8xf32> {
  %rows = arith.constant 10 : index
  %init = tensor.empty() : tensor<4x8xf32>
  %gathered = linalg.generic {
      indexing_maps = [affine_map<(i, j) -> (i)>, affine_map<(i, j) -> (i, j)>],
      iterator_types = ["parallel", "parallel"]}
      ins(%ids : tensor<4xi64>) outs(%init : tensor<4x8xf32>) {
  ^bb0(%id: i64, %out: f32):
    %index = arith.index_cast %id : i64 to index
    %row = compress.check_index %index, %rows {site = "node 'embed' (Gather)"}
    %col = linalg.index 1 : index
    %v = tensor.extract %table[%row, %col] : tensor<10x8xf32>
    linalg.yield %v : f32
  } -> tensor<4x8xf32>
  %zero = arith.constant 0.0 : f32
  %acc = linalg.fill ins(%zero : f32) outs(%init : tensor<4x8xf32>) -> tensor<4x8xf32>
  %product = linalg.matmul ins(%gathered, %w : tensor<4x8xf32>, tensor<8x8xf32>)
                           outs(%acc : tensor<4x8xf32>) -> tensor<4x8xf32>
  %exp = linalg.generic {
      indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>],
      iterator_types = ["parallel", "parallel"]}
      ins(%product : tensor<4x8xf32>) outs(%init : tensor<4x8xf32>) {
  ^bb0(%x: f32, %out: f32):
    %e = math.exp %x : f32
    linalg.yield %e : f32
  } -> tensor<4x8xf32>
  return %exp : tensor<4x8xf32>
}
