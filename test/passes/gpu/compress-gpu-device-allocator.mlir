// RUN: compress-opt %s --compress-gpu-device-allocator | FileCheck %s

// Tests that the generic allocation functions of finalize-memref-to-llvm
// become the CUDA runtime's, declarations and calls alike.
// CHECK-DAG: llvm.func @compress_cuda_alloc(i64) -> !llvm.ptr
// CHECK-DAG: llvm.func @compress_cuda_free(!llvm.ptr)
// CHECK-LABEL: llvm.func @main
// CHECK: llvm.call @compress_cuda_alloc(%{{.*}}) : (i64) -> !llvm.ptr
// CHECK: llvm.call @compress_cuda_free(%{{.*}}) : (!llvm.ptr) -> ()
// CHECK-NOT: _mlir_memref_to_llvm
llvm.func @_mlir_memref_to_llvm_alloc(i64) -> !llvm.ptr
llvm.func @_mlir_memref_to_llvm_free(!llvm.ptr)
llvm.func @main(%n: i64) {
  %p = llvm.call @_mlir_memref_to_llvm_alloc(%n) : (i64) -> !llvm.ptr
  llvm.call @_mlir_memref_to_llvm_free(%p) : (!llvm.ptr) -> ()
  llvm.return
}
