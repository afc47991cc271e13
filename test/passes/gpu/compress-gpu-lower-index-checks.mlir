// RUN: compress-opt %s --split-input-file --compress-gpu-lower-index-checks --verify-diagnostics | FileCheck %s

// Tests that @main allocates and zeroes a three-word status buffer, that a
// failing check claims it with an atomic compare (site number + 1) and then
// writes its index and extent, that the index becomes 0, and that the
// buffer goes to the runtime and is freed before @main returns.
// CHECK: module attributes {compress.index_sites = ["node 'a' (Gather)", "node 'b' (Gather)"]}
// CHECK: func.func private @compress_cuda_index_status(memref<3xi64>)
// CHECK-LABEL: func.func @main
// CHECK-SAME: (%[[I:.*]]: index, %[[N:.*]]: index)
// CHECK: %[[STATUS:.*]] = memref.alloc() : memref<3xi64>
// CHECK: linalg.fill ins(%{{.*}} : i64) outs(%[[STATUS]] : memref<3xi64>)
// CHECK: %[[BAD:.*]] = arith.cmpi uge
// CHECK: scf.if %[[BAD]] {
// CHECK: %[[TAG:.*]] = arith.constant 1 : i64
// CHECK: %[[OLD:.*]] = memref.generic_atomic_rmw %[[STATUS]][%{{.*}}] : memref<3xi64> {
// CHECK: ^bb0(%[[CUR:.*]]: i64):
// CHECK: %[[FREE:.*]] = arith.cmpi eq, %[[CUR]]
// CHECK: %[[NEW:.*]] = arith.select %[[FREE]], %[[TAG]], %[[CUR]]
// CHECK: memref.atomic_yield %[[NEW]]
// CHECK: %[[WON:.*]] = arith.cmpi eq, %[[OLD]]
// CHECK: scf.if %[[WON]] {
// CHECK: memref.store %{{.*}}, %[[STATUS]][%{{.*}}]
// CHECK: memref.store %{{.*}}, %[[STATUS]][%{{.*}}]
// CHECK: arith.select %[[BAD]]
// CHECK: arith.constant 2 : i64
// CHECK: call @compress_cuda_index_status(%[[STATUS]])
// CHECK-NEXT: memref.dealloc %[[STATUS]]
// CHECK-NEXT: return
func.func @main(%i: index, %n: index) -> (index, index) {
  %0 = compress.check_index %i, %n {site = "node 'a' (Gather)"}
  %1 = compress.check_index %i, %n {site = "node 'b' (Gather)"}
  return %0, %1 : index, index
}

// -----

func.func @main(%i: index, %n: index) -> index {
  %0 = func.call @helper(%i, %n) : (index, index) -> index
  return %0 : index
}
func.func @helper(%i: index, %n: index) -> index {
  // expected-error @+1 {{index checks outside @main are not supported by the GPU lowering}}
  %0 = compress.check_index %i, %n {site = "node 'a' (Gather)"}
  return %0 : index
}

// -----

// Tests that a count check (host values) becomes the runtime call the CPU
// lowering makes, numbered after the index checks, and needs no status
// buffer of its own.
// CHECK: module attributes {compress.index_sites = ["node 'g' (Gather)", "node 'r' (Reshape)"]}
// CHECK-LABEL: func.func @main
// CHECK: memref.generic_atomic_rmw
// CHECK: %[[INDEX:.*]] = arith.select %{{.*}}, %c0, %{{.*}} : index
// CHECK-NEXT: %[[SITE:.*]] = arith.constant 1 : i64
// CHECK: %[[FITS:.*]] = call @compress_rt_check_count(%{{.*}}, %{{.*}}, %[[SITE]]) : (i64, i64, i64) -> i1
// CHECK: call @compress_cuda_index_status
// CHECK: return %[[INDEX]], %[[FITS]]
func.func @main(%i: index, %n: index, %asked: index, %total: index) -> (index, i1) {
  %0 = compress.check_index %i, %n {site = "node 'g' (Gather)"}
  %1 = compress.check_count %asked, %total {site = "node 'r' (Reshape)"}
  return %0, %1 : index, i1
}
