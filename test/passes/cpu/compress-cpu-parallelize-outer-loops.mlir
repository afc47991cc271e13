// RUN: compress-opt %s -split-input-file --compress-cpu-parallelize-outer-loops | FileCheck %s

// Tests that a large 2-D parallel nest keeps its outer dimension parallel
// and runs the inner one as a sequential (vectorisable) loop.
// CHECK-LABEL: func.func @outer_parallel
// CHECK: scf.parallel (%[[I:.*]]) = (%c0) to (%c512) step (%c1)
// CHECK: scf.for %[[J:.*]] = %c0 to %c1024 step %c1
// CHECK: memref.load %arg0[%[[I]], %[[J]]]
func.func @outer_parallel(%x: memref<512x1024xf32>, %y: memref<512x1024xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c512 = arith.constant 512 : index
  %c1024 = arith.constant 1024 : index
  scf.parallel (%i, %j) = (%c0, %c0) to (%c512, %c1024) step (%c1, %c1) {
    %v = memref.load %x[%i, %j] : memref<512x1024xf32>
    memref.store %v, %y[%i, %j] : memref<512x1024xf32>
    scf.reduce
  }
  return
}

// -----

// Tests that a small nest, not worth a fork and join, becomes sequential.
// CHECK-LABEL: func.func @small
// CHECK-NOT: scf.parallel
// CHECK: scf.for
// CHECK: scf.for
func.func @small(%x: memref<4x8xf32>, %y: memref<4x8xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %c8 = arith.constant 8 : index
  scf.parallel (%i, %j) = (%c0, %c0) to (%c4, %c8) step (%c1, %c1) {
    %v = memref.load %x[%i, %j] : memref<4x8xf32>
    memref.store %v, %y[%i, %j] : memref<4x8xf32>
    scf.reduce
  }
  return
}

// -----

// Tests that a long 1-D loop is shared by threads in chunks.
// CHECK-LABEL: func.func @chunks
// CHECK: %[[CHUNK:.*]] = arith.muli %c1, %c4096
// CHECK: scf.parallel (%[[START:.*]]) = (%c0) to (%c1000000) step (%[[CHUNK]])
// CHECK: %[[END:.*]] = arith.minsi
// CHECK: scf.for %{{.*}} = %[[START]] to %[[END]] step %c1
func.func @chunks(%x: memref<1000000xf32>, %y: memref<1000000xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %n = arith.constant 1000000 : index
  scf.parallel (%i) = (%c0) to (%n) step (%c1) {
    %v = memref.load %x[%i] : memref<1000000xf32>
    memref.store %v, %y[%i] : memref<1000000xf32>
    scf.reduce
  }
  return
}
