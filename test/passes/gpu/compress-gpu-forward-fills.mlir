// RUN: compress-opt %s --split-input-file --pass-pipeline='builtin.module(func.func(compress-gpu-forward-fills))' | FileCheck %s

// Tests that the copies of one filled buffer (a shared zero init, as
// bufferization leaves it) become fills of their destinations, that the
// fill moves down to the buffer's next use, and that the copies' readers
// are untouched.
// CHECK-LABEL: func.func @shared_zero
// CHECK-SAME: (%[[X:.*]]: memref<4xf32>, %[[Y:.*]]: memref<4xf32>)
// CHECK: %[[ZERO:.*]] = arith.constant 0.000000e+00 : f32
// CHECK: %[[SHARED:.*]] = memref.alloc() : memref<4xf32>
// CHECK: %[[A:.*]] = memref.alloc() : memref<4xf32>
// CHECK-NEXT: linalg.fill ins(%[[ZERO]] : f32) outs(%[[A]] : memref<4xf32>)
// CHECK-NEXT: linalg.add ins(%[[X]], %[[A]] : memref<4xf32>, memref<4xf32>) outs(%[[A]] : memref<4xf32>)
// CHECK: %[[B:.*]] = memref.alloc() : memref<4xf32>
// CHECK-NEXT: linalg.fill ins(%[[ZERO]] : f32) outs(%[[B]] : memref<4xf32>)
// CHECK-NEXT: linalg.add ins(%[[Y]], %[[B]] : memref<4xf32>, memref<4xf32>) outs(%[[B]] : memref<4xf32>)
// CHECK-NEXT: linalg.fill ins(%[[ZERO]] : f32) outs(%[[SHARED]] : memref<4xf32>)
// CHECK-NEXT: linalg.add ins(%[[A]], %[[SHARED]] : memref<4xf32>, memref<4xf32>) outs(%[[SHARED]] : memref<4xf32>)
// CHECK-NOT: memref.copy
func.func @shared_zero(%x: memref<4xf32>, %y: memref<4xf32>) -> (memref<4xf32>, memref<4xf32>) {
  %zero = arith.constant 0.0 : f32
  %shared = memref.alloc() : memref<4xf32>
  linalg.fill ins(%zero : f32) outs(%shared : memref<4xf32>)
  %a = memref.alloc() : memref<4xf32>
  memref.copy %shared, %a : memref<4xf32> to memref<4xf32>
  linalg.add ins(%x, %a : memref<4xf32>, memref<4xf32>) outs(%a : memref<4xf32>)
  %b = memref.alloc() : memref<4xf32>
  memref.copy %shared, %b : memref<4xf32> to memref<4xf32>
  linalg.add ins(%y, %b : memref<4xf32>, memref<4xf32>) outs(%b : memref<4xf32>)
  linalg.add ins(%a, %shared : memref<4xf32>, memref<4xf32>) outs(%shared : memref<4xf32>)
  memref.dealloc %a : memref<4xf32>
  return %shared, %b : memref<4xf32>, memref<4xf32>
}

// -----

// Tests that a fill whose buffer nothing reads once its copies are fills
// goes.
// CHECK-LABEL: func.func @only_copies
// CHECK: %[[SHARED:.*]] = memref.alloc() : memref<4xf32>
// CHECK-NOT: outs(%[[SHARED]]
// CHECK: linalg.fill ins(%{{.*}} : f32) outs(%{{.*}} : memref<4xf32>)
// CHECK-NOT: memref.copy
// CHECK: memref.dealloc %[[SHARED]]
func.func @only_copies(%out: memref<4xf32>) {
  %one = arith.constant 1.0 : f32
  %shared = memref.alloc() : memref<4xf32>
  linalg.fill ins(%one : f32) outs(%shared : memref<4xf32>)
  memref.copy %shared, %out : memref<4xf32> to memref<4xf32>
  memref.dealloc %shared : memref<4xf32>
  return
}

// -----

// Tests what stays: a copy after another write of the buffer (its values
// are no longer the fill's), and a buffer that is an argument.
// CHECK-LABEL: func.func @kept
// CHECK: linalg.fill
// CHECK-NEXT: linalg.add
// CHECK-NEXT: memref.copy
// CHECK: linalg.fill
// CHECK-NEXT: memref.copy
func.func @kept(%x: memref<4xf32>, %out: memref<4xf32>, %arg: memref<4xf32>, %out2: memref<4xf32>) {
  %zero = arith.constant 0.0 : f32
  %shared = memref.alloc() : memref<4xf32>
  linalg.fill ins(%zero : f32) outs(%shared : memref<4xf32>)
  linalg.add ins(%x, %x : memref<4xf32>, memref<4xf32>) outs(%shared : memref<4xf32>)
  memref.copy %shared, %out : memref<4xf32> to memref<4xf32>
  linalg.fill ins(%zero : f32) outs(%arg : memref<4xf32>)
  memref.copy %arg, %out2 : memref<4xf32> to memref<4xf32>
  memref.dealloc %shared : memref<4xf32>
  return
}
