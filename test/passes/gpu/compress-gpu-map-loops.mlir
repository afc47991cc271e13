// RUN: compress-opt %s --split-input-file --pass-pipeline='builtin.module(func.func(compress-gpu-map-loops{block-size=128}))' --verify-diagnostics | FileCheck %s

// Tests that a 2-D parallel loop is collapsed to one dimension, tiled by the
// block size with a guard, and mapped to blocks and threads.
// CHECK-LABEL: func.func @two_dims
// CHECK: scf.parallel (%[[TILE:.*]]) = (%{{.*}}) to (%{{.*}}) step (%{{.*}}) {
// CHECK: scf.parallel (%[[LANE:.*]]) = (%{{.*}}) to (%{{.*}}) step (%{{.*}}) {
// CHECK: scf.if
// CHECK: memref.load
// CHECK: memref.store
// CHECK: } {mapping = [#gpu.loop_dim_map<processor = thread_x, map = (d0) -> (d0), bound = (d0) -> (d0)>]}
// CHECK: } {mapping = [#gpu.loop_dim_map<processor = block_x, map = (d0) -> (d0), bound = (d0) -> (d0)>]}
func.func @two_dims(%a: memref<6x70xf32>, %b: memref<6x70xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c6 = arith.constant 6 : index
  %c70 = arith.constant 70 : index
  scf.parallel (%i, %j) = (%c0, %c0) to (%c6, %c70) step (%c1, %c1) {
    %x = memref.load %a[%i, %j] : memref<6x70xf32>
    memref.store %x, %b[%i, %j] : memref<6x70xf32>
  }
  return
}

// -----

// Tests that a serial loop at the top level (a reduction to a scalar) runs
// as one thread of one block, and that the pure ops computing from what it
// loads go with it.
// CHECK-LABEL: func.func @serial
// CHECK: memref.alloc
// CHECK: scf.parallel (%{{.*}}) = (%{{.*}}) to (%{{.*}}) step (%{{.*}}) {
// CHECK:   scf.for
// CHECK:   memref.load
// CHECK:   arith.mulf
// CHECK:   memref.store
// CHECK: } {mapping = [#gpu.loop_dim_map<processor = block_x, map = (d0) -> (d0), bound = (d0) -> (d0)>]}
// CHECK: return
func.func @serial(%a: memref<16xf32>) -> memref<f32> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c16 = arith.constant 16 : index
  %s = memref.alloc() : memref<f32>
  scf.for %i = %c0 to %c16 step %c1 {
    %x = memref.load %a[%i] : memref<16xf32>
    %acc = memref.load %s[] : memref<f32>
    %sum = arith.addf %x, %acc : f32
    memref.store %sum, %s[] : memref<f32>
  }
  %v = memref.load %s[] : memref<f32>
  %w = arith.mulf %v, %v : f32
  memref.store %w, %s[] : memref<f32>
  return %s : memref<f32>
}

// -----

// Tests that a constant global read by a loop is named inside it, so that
// kernel outlining copies it into the device module.
// CHECK-LABEL: func.func @global_in_kernel
// CHECK: scf.parallel
// CHECK-NEXT: memref.get_global @table
// CHECK: } {mapping = [#gpu.loop_dim_map<processor = block_x
memref.global "private" constant @table : memref<4xf32> = dense<[1.0, 2.0, 3.0, 4.0]>
func.func @global_in_kernel(%b: memref<4xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %t = memref.get_global @table : memref<4xf32>
  scf.parallel (%i) = (%c0) to (%c4) step (%c1) {
    %x = memref.load %t[%i] : memref<4xf32>
    memref.store %x, %b[%i] : memref<4xf32>
  }
  return
}

// -----

// Tests that a view of a constant global (a reshape by a constant shape) is
// cloned into the kernel with the globals it names, and the host's copies go.
// CHECK-LABEL: func.func @view_of_global_in_kernel
// CHECK-NOT: memref.reshape
// CHECK: scf.parallel
// CHECK-DAG: %[[T:.*]] = memref.get_global @table2
// CHECK-DAG: %[[S:.*]] = memref.get_global @shape
// CHECK: %[[V:.*]] = memref.reshape %[[T]](%[[S]])
// CHECK: memref.load %[[V]]
memref.global "private" constant @table2 : memref<4xf32> = dense<[1.0, 2.0, 3.0, 4.0]>
memref.global "private" constant @shape : memref<2xindex> = dense<[2, 2]>
func.func @view_of_global_in_kernel(%b: memref<2x2xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %t = memref.get_global @table2 : memref<4xf32>
  %s = memref.get_global @shape : memref<2xindex>
  %v = memref.reshape %t(%s) : (memref<4xf32>, memref<2xindex>) -> memref<2x2xf32>
  scf.parallel (%i, %j) = (%c0, %c0) to (%c2, %c2) step (%c1, %c1) {
    %x = memref.load %v[%i, %j] : memref<2x2xf32>
    memref.store %x, %b[%i, %j] : memref<2x2xf32>
  }
  return
}

// -----

func.func @host_reads_device(%a: memref<4xindex>) -> memref<?xf32> {
  %c0 = arith.constant 0 : index
  %n = memref.load %a[%c0] : memref<4xindex>
  // expected-error @+1 {{compiled code would read device memory on the host here}}
  %b = memref.alloc(%n) : memref<?xf32>
  return %b : memref<?xf32>
}

// -----

// Tests that a kernel launched already (compress-gpu-block-reductions) is
// left as it is: not wrapped in a one-thread grid, its body not remapped.
// CHECK-LABEL: func.func @launched
// CHECK: gpu.launch blocks
// CHECK-NEXT: memref.store
// CHECK-NEXT: gpu.terminator
// CHECK-NOT: scf.parallel
func.func @launched(%b: memref<4xf32>) {
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %x = arith.constant 1.0 : f32
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c4, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c1, %sy = %c1, %sz = %c1) {
    memref.store %x, %b[%bx] : memref<4xf32>
    gpu.terminator
  }
  return
}

// -----

// Tests that an If on a condition the host reads stays host code: the loops
// of each branch become grids inside it.
// CHECK-LABEL: func.func @host_branch
// CHECK: %[[COND:.*]] = memref.load %{{.*}}[] : memref<i1>
// CHECK: scf.if %[[COND]]
// CHECK:   scf.parallel
// CHECK:   } {mapping = [#gpu.loop_dim_map<processor = block_x
// CHECK: } else {
// CHECK:   scf.parallel
// CHECK:   } {mapping = [#gpu.loop_dim_map<processor = block_x
func.func @host_branch(%x: memref<5xf32>, %y: memref<5xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c5 = arith.constant 5 : index
  %host = memref.alloca() : memref<i1>
  %cond = memref.load %host[] : memref<i1>
  scf.if %cond {
    scf.parallel (%i) = (%c0) to (%c5) step (%c1) {
      %v = memref.load %x[%i] : memref<5xf32>
      %d = arith.addf %v, %v : f32
      memref.store %d, %y[%i] : memref<5xf32>
    }
  } else {
    scf.parallel (%i) = (%c0) to (%c5) step (%c1) {
      %v = memref.load %x[%i] : memref<5xf32>
      %d = arith.mulf %v, %v : f32
      memref.store %d, %y[%i] : memref<5xf32>
    }
  }
  return
}

// -----

// Tests that a kernel reading one of two constants chosen by a host value
// (an If whose branches yield constants) gets the choice and both
// constants in its body, not the host's addresses.
memref.global "private" constant @ones : memref<5xf32> = dense<1.0>
memref.global "private" constant @twos : memref<5xf32> = dense<2.0>
// CHECK-LABEL: func.func @chosen_constant
// CHECK: %[[COND:.*]] = memref.load %{{.*}}[] : memref<i1>
// CHECK-NOT: memref.get_global
// CHECK: scf.parallel
// CHECK-DAG: %[[ONES:.*]] = memref.get_global @ones
// CHECK-DAG: %[[TWOS:.*]] = memref.get_global @twos
// CHECK: arith.select %[[COND]], %[[ONES]], %[[TWOS]]
func.func @chosen_constant(%y: memref<5xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c5 = arith.constant 5 : index
  %host = memref.alloca() : memref<i1>
  %cond = memref.load %host[] : memref<i1>
  %ones = memref.get_global @ones : memref<5xf32>
  %twos = memref.get_global @twos : memref<5xf32>
  %chosen = arith.select %cond, %ones, %twos : memref<5xf32>
  scf.parallel (%i) = (%c0) to (%c5) step (%c1) {
    %v = memref.load %chosen[%i] : memref<5xf32>
    memref.store %v, %y[%i] : memref<5xf32>
  }
  return
}
