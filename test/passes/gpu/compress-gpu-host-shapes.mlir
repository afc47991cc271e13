// RUN: compress-opt %s --split-input-file --pass-pipeline='builtin.module(func.func(compress-gpu-host-shapes{max-elements=8}))' | FileCheck %s

// Tests that a shape the host computes (stores of host values, read by a
// reshape and by loads) lives on the host stack, its dealloc gone.
// CHECK-LABEL: func.func @host_filled_shape
// CHECK: %[[SHAPE:.*]] = memref.alloca() : memref<2xindex>
// CHECK: memref.store %{{.*}}, %[[SHAPE]][%{{.*}}]
// CHECK: memref.reshape %{{.*}}(%[[SHAPE]])
// CHECK-NOT: memref.dealloc
func.func @host_filled_shape(%a: memref<?xf32>) -> memref<?x?xf32> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %n = memref.dim %a, %c0 : memref<?xf32>
  %half = arith.divui %n, %c2 : index
  %shape = memref.alloc() : memref<2xindex>
  memref.store %half, %shape[%c0] : memref<2xindex>
  memref.store %c2, %shape[%c1] : memref<2xindex>
  %r = memref.reshape %a(%shape) : (memref<?xf32>, memref<2xindex>) -> memref<?x?xf32>
  memref.dealloc %shape : memref<2xindex>
  return %r : memref<?x?xf32>
}

// -----

// Tests that the host's loads of a small input (a shape given as a graph
// input) read a host copy made on entry by the runtime, while a large input
// is left alone.
// CHECK: func.func private @compress_cuda_copy_to_host(i64, i64, i64)
// CHECK-LABEL: func.func @input_shape
// CHECK-SAME: (%[[BIG:.*]]: memref<16xi64>, %[[SHAPE:.*]]: memref<3xi64>)
// CHECK: %[[COPY:.*]] = memref.alloca() : memref<3xi64>
// CHECK: %[[TO:.*]] = memref.extract_aligned_pointer_as_index %[[COPY]]
// CHECK: %[[FROM:.*]] = memref.extract_aligned_pointer_as_index %[[SHAPE]]
// CHECK: %[[BYTES:.*]] = arith.constant 24 : i64
// CHECK: call @compress_cuda_copy_to_host(%{{.*}}, %{{.*}}, %[[BYTES]])
// CHECK: memref.load %[[COPY]]
// CHECK: memref.load %[[BIG]]
func.func @input_shape(%big: memref<16xi64>, %shape: memref<3xi64>) -> (i64, i64) {
  %c0 = arith.constant 0 : index
  %x = memref.load %shape[%c0] : memref<3xi64>
  %y = memref.load %big[%c0] : memref<16xi64>
  return %x, %y : i64, i64
}

// -----

// Tests that a scalar the host stores and reads back through a view (a
// Gather of a shape, reshaped to 1-D) stays on the host too.
// CHECK-LABEL: func.func @scalar_through_view
// CHECK: %[[DIMS:.*]] = memref.alloca() : memref<2xi64>
// CHECK: %[[SCALAR:.*]] = memref.alloca() : memref<i64>
// CHECK: %[[V:.*]] = memref.reshape %[[SCALAR]]
// CHECK: memref.load %[[V]]
memref.global "private" constant @one : memref<1xindex> = dense<1>
func.func @scalar_through_view(%a: memref<?x?xf32>) -> i64 {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %d0 = memref.dim %a, %c0 : memref<?x?xf32>
  %d1 = memref.dim %a, %c1 : memref<?x?xf32>
  %i0 = arith.index_cast %d0 : index to i64
  %i1 = arith.index_cast %d1 : index to i64
  %dims = memref.alloc() : memref<2xi64>
  memref.store %i0, %dims[%c0] : memref<2xi64>
  memref.store %i1, %dims[%c1] : memref<2xi64>
  %scalar = memref.alloc() : memref<i64>
  %x = memref.load %dims[%c1] : memref<2xi64>
  memref.store %x, %scalar[] : memref<i64>
  %shape = memref.get_global @one : memref<1xindex>
  %v = memref.reshape %scalar(%shape) : (memref<i64>, memref<1xindex>) -> memref<1xi64>
  %y = memref.load %v[%c0] : memref<1xi64>
  memref.dealloc %scalar : memref<i64>
  memref.dealloc %dims : memref<2xi64>
  return %y : i64
}

// -----

// Tests that one element a kernel wrote (the number of tokens a router kept)
// that sizes an allocation is read from a host copy of that element made
// just before the read, at its offset in the buffer, while a device value
// that host code does not need is left to the device.
// CHECK-LABEL: func.func @device_count
// CHECK-SAME: (%[[COUNTS:.*]]: memref<16xi32>, %[[OTHER:.*]]: memref<16xi32>)
// CHECK: %[[BASE:.*]], %[[OFFSET:.*]], %{{.*}}, %[[STRIDE:.*]] = memref.extract_strided_metadata %[[COUNTS]]
// CHECK: %[[SCALED:.*]] = arith.muli %c2, %[[STRIDE]]
// CHECK: %[[LINEAR:.*]] = arith.addi %[[OFFSET]], %[[SCALED]]
// CHECK: %[[BYTES:.*]] = arith.constant 4 : index
// CHECK: %[[FROM:.*]] = memref.extract_aligned_pointer_as_index %[[COUNTS]]
// CHECK: %[[COPY:.*]] = memref.alloca() : memref<i32>
// CHECK: call @compress_cuda_copy_to_host(
// CHECK: %[[N:.*]] = memref.load %[[COPY]][]
// CHECK: %[[ROWS:.*]] = arith.index_cast %[[N]]
// CHECK: memref.alloc(%[[ROWS]])
// CHECK: memref.load %[[OTHER]][%c2]
func.func @device_count(%counts: memref<16xi32>, %other: memref<16xi32>) -> memref<?xf32> {
  %c0 = arith.constant 0 : index
  %c2 = arith.constant 2 : index
  %n = memref.load %counts[%c2] : memref<16xi32>
  %rows = arith.index_cast %n : i32 to index
  %buffer = memref.alloc(%rows) : memref<?xf32>
  %m = memref.load %other[%c2] : memref<16xi32>
  memref.store %m, %other[%c0] : memref<16xi32>
  return %buffer : memref<?xf32>
}

// -----

// Tests that a boolean input the host branches on (an ONNX If's condition)
// is copied to the host whole: one byte per element, as numpy stores it.
// CHECK-LABEL: func.func @input_condition
// CHECK: %[[COPY:.*]] = memref.alloca() : memref<i1>
// CHECK: %[[ONE:.*]] = arith.constant 1 : i64
// CHECK: call @compress_cuda_copy_to_host(%{{.*}}, %{{.*}}, %[[ONE]])
// CHECK: %[[COND:.*]] = memref.load %[[COPY]][]
// CHECK: scf.if %[[COND]]
func.func @input_condition(%c: memref<i1>, %y: memref<f32>) {
  %cond = memref.load %c[] : memref<i1>
  scf.if %cond {
    %one = arith.constant 1.0 : f32
    memref.store %one, %y[] : memref<f32>
  }
  return
}

// -----

// Tests that a condition a kernel computed (ReduceSum > 0, from a buffer too
// large to copy whole) is read from a
// one-byte host copy made where the host branches, while the buffer the
// comparison is stored to stays on the device (it holds a value computed
// from device memory, so the host cannot fill it).
// CHECK-LABEL: func.func @computed_condition
// CHECK: %[[FLAG:.*]] = memref.alloc() : memref<i1>
// CHECK: memref.store %{{.*}}, %[[FLAG]][]
// CHECK: %[[BYTES:.*]] = arith.constant 1 : index
// CHECK: %[[COPY:.*]] = memref.alloca() : memref<i1>
// CHECK: call @compress_cuda_copy_to_host(
// CHECK: %[[COND:.*]] = memref.load %[[COPY]][]
// CHECK: scf.if %[[COND]]
func.func @computed_condition(%sums: memref<16xf32>, %y: memref<f32>) {
  %zero = arith.constant 0.0 : f32
  %c0 = arith.constant 0 : index
  %s = memref.load %sums[%c0] : memref<16xf32>
  %positive = arith.cmpf ogt, %s, %zero : f32
  %flag = memref.alloc() : memref<i1>
  memref.store %positive, %flag[] : memref<i1>
  %cond = memref.load %flag[] : memref<i1>
  scf.if %cond {
    memref.store %zero, %y[] : memref<f32>
  }
  memref.dealloc %flag : memref<i1>
  return
}
